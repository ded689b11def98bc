"""``nwbsyn info`` and ``nwbsyn validate``, and the options every command shares (defined here once).

Shared options, one name per meaning: ``-o/--output`` (the file or folder written), ``--in-place``
(add the results to the input itself), ``--overwrite`` (replace an existing output or earlier
results), ``--device`` (torch device, ``auto`` by default), ``--quiet`` (no progress bars),
``--plot`` (also draw a figure), ``--no-weights`` (reference the weights instead of embedding them).
"""

from __future__ import annotations

import argparse

_DEFAULT_OUTPUT = "<input>_nwbsyn.nwb beside the input"


def add_output_arguments(parser: argparse.ArgumentParser, *, metavar: str = "OUT.nwb", in_place: bool = True,
                         required: bool = False, default: str | None = _DEFAULT_OUTPUT,
                         help: str = "write the result here", aliases: tuple[str, ...] = (),
                         overwrite: str | None = "replace an existing output file or earlier nwbsyn results") -> None:
    """``-o/--output`` (with ``--in-place`` beside it when ``in_place``) and ``--overwrite`` (unless None)."""
    text = f"{help} (default: {default})" if default and not required else help
    target = parser.add_mutually_exclusive_group() if in_place else parser
    target.add_argument("-o", "--output", *aliases, metavar=metavar, required=required, help=text)
    if in_place:
        target.add_argument("--in-place", action="store_true",
                            help="add the results to the input file itself (atomic: temporary copy, then rename)")
    if overwrite is not None:
        parser.add_argument("--overwrite", action="store_true", help=overwrite)


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    """``--device``: the torch device, ``auto`` (the GPU when one is visible) by default."""
    parser.add_argument("--device", default="auto", help="torch device: auto (GPU when present), cpu, cuda, ...")


def add_quiet_argument(parser: argparse.ArgumentParser, *, help: str = "no progress bars") -> None:
    """``--quiet``: no progress bars (the library's ``progress_bar=False``)."""
    parser.add_argument("--quiet", action="store_true", help=help)


def add_plot_argument(parser: argparse.ArgumentParser, *, help: str) -> None:
    """``--plot FILE.png``: also draw the analysis' figure (the format follows the suffix)."""
    parser.add_argument("--plot", metavar="FILE.png", help=help)


def add_weights_argument(parser: argparse.ArgumentParser, *, help: str) -> None:
    """``--no-weights``: the library's ``embed_weights=False``."""
    parser.add_argument("--no-weights", action="store_true", help=help)


def check_plot_path(path) -> None:
    """A ``--plot`` name matplotlib can write (its suffix), or InputError naming ``--plot``; None passes."""
    if path:
        from nwbsyn.events.plot import check_figure_path

        check_figure_path(path, option="--plot")


def claim_side_output(stack, path, *, option: str, what: str, others, inputs, overwrite: bool):
    """Check and claim a second output (figure, checkpoint) before the analysis; the claim, or None.

    ``others`` are ``(label, path)`` of the other outputs it may not be; ``inputs`` are never replaced.
    """
    from nwbsyn._shared import InputError
    from nwbsyn.io.output import claim_output, same_file

    if path is None:
        return None
    for label, other in others:
        if other is not None and same_file(path, other):
            raise InputError(f"The {what} {path} ({option}) is also given as {label}; give each output its own "
                             "name.")
    return stack.enter_context(claim_output(path, inputs=[i for i in inputs if i is not None], overwrite=overwrite,
                                            what=f"{what} ({option})"))


def add_parsers(subparsers) -> None:
    info = subparsers.add_parser(
        "info", help="list what nwbsyn can analyse in an NWB file",
        description="List the traces, ROI responses, Units and EM volumes in an NWB file that nwbsyn "
                    "can analyse, with the analyses that apply, and any nwbsyn results already present.",
        epilog="Example: nwbsyn info sub-01_ses-01.nwb",
    )
    info.add_argument("file", help="NWB file")
    info.set_defaults(handler=_cmd_info)

    validate = subparsers.add_parser(
        "validate", help="check a file against the NWB schema and DANDI best practices",
        description="Validate an NWB file with pynwb (schema, including the ndx-nwbsyn extension) and "
                    "nwbinspector (DANDI configuration). Exits with 1 when the schema is violated or a "
                    "message at or above --threshold is found, 0 otherwise.",
        epilog="Example: nwbsyn validate sub-01_ses-01_nwbsyn.nwb",
    )
    validate.add_argument("file", help="NWB file")
    validate.add_argument("--threshold", default="BEST_PRACTICE_VIOLATION",
                          choices=["CRITICAL", "BEST_PRACTICE_VIOLATION", "BEST_PRACTICE_SUGGESTION"],
                          help="lowest inspector importance that fails the file (default: %(default)s)")
    validate.set_defaults(handler=_cmd_validate)


def command_line() -> str:
    """This process's ``nwbsyn ...`` command, shell-quoted (recorded in model cards)."""
    import shlex
    import sys

    return "nwbsyn " + " ".join(shlex.quote(a) for a in sys.argv[1:])


SUBJECT_FIELDS = ("subject-id", "species", "sex", "age")

# DANDI's rules (nwbinspector's check_subject_age / check_subject_species_form, DANDI's subject id rule)
_DURATION = (r"P(?!$)(\d+(?:\.\d+)?Y)?(\d+(?:\.\d+)?M)?(\d+(?:\.\d+)?W)?(\d+(?:\.\d+)?D)?"
             r"(T(?=\d)(\d+(?:\.\d+)?H)?(\d+(?:\.\d+)?M)?(\d+(?:\.\d+)?S)?)?")
_SPECIES = r"[A-Z][a-z]+ [a-z]+( [a-z]+)?|http://purl\.obolibrary\.org/obo/NCBITaxon_\d+"
_SEXES = {"M": "male", "F": "female", "U": "unknown", "O": "other"}
_SUBJECT_HELP = {
    "subject-id": "subject identifier, no slashes, e.g. mouse-12",
    "species": "Latin binomial or NCBI taxonomy URL, e.g. 'Mus musculus'",
    "sex": "M, F, U (unknown) or O (other), e.g. F",
    "age": "ISO 8601 duration, e.g. P30D (30 days) or a range P30D/P40D",
}


def add_subject_arguments(parser: argparse.ArgumentParser, *, when: str = "") -> None:
    """``--subject-id/--species/--sex/--age`` for commands that create a new NWB file."""
    for name in SUBJECT_FIELDS:
        parser.add_argument(f"--{name}", help=f"{_SUBJECT_HELP[name]}{when} (DANDI requires it)")


def _is_age(text: str) -> bool:
    import re

    if re.fullmatch(_DURATION, text):
        return True
    low, slash, high = text.partition("/")
    return bool(slash) and "/" not in high and (low or high) != "" and \
        all(part == "" or re.fullmatch(_DURATION, part) for part in (low, high))


def check_subject_field(name: str, value: str) -> str:
    """``value`` of ``--name`` checked the way DANDI checks it, or InputError naming the option with an example."""
    import re

    from nwbsyn._shared import InputError

    text = value.strip()
    if not text:
        raise InputError(f"--{name} is empty; give a value ({_SUBJECT_HELP[name]}) or leave --{name} out.")
    if name == "age" and not _is_age(text):
        raise InputError(f"--age {value!r} is not an ISO 8601 duration; write e.g. --age P30D (30 days), P8W, P1Y2M "
                         "or a range --age P30D/P40D.")
    if name == "sex" and text not in _SEXES:
        hint = f" (did you mean --sex {text[0].upper()}?)" if text[:1].upper() in _SEXES else ""
        raise InputError(f"--sex {value!r} is not one of M, F, U (unknown), O (other){hint}; e.g. --sex F.")
    if name == "species" and not re.fullmatch(_SPECIES, text):
        raise InputError(f"--species {value!r} is neither a Latin binomial nor an NCBI taxonomy URL; write e.g. "
                         "--species 'Mus musculus' or --species http://purl.obolibrary.org/obo/NCBITaxon_10090.")
    if name == "subject-id" and (re.search(r"[/\\]", text) or not text.isprintable()):
        raise InputError(f"--subject-id {value!r} may not contain slashes or control characters (DANDI uses it in "
                         "file names); write e.g. --subject-id mouse-12.")
    return text


def subject_from_arguments(args: argparse.Namespace) -> dict | None:
    """The ``pynwb.file.Subject`` fields given on the command line (None: none), each checked as DANDI does.

    Call it while checking arguments, before any work: a bad value raises InputError naming the option.
    """
    subject = {}
    for name in SUBJECT_FIELDS:
        value = getattr(args, name.replace("-", "_"), None)
        if value is not None:
            subject[name.replace("-", "_")] = check_subject_field(name, value)
    return subject or None


def _format_table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*header), fmt.format(*("-" * w for w in widths)),
                      *(fmt.format(*map(str, r)) for r in rows)])


def _cmd_info(args: argparse.Namespace) -> int:
    import warnings

    from nwbsyn.io import list_analysable, list_results, open_nwb

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with _explained_read_errors(args.file), open_nwb(args.file) as nwbfile:
            items = list_analysable(nwbfile)
            results = list_results(nwbfile)
            print(f"{args.file}: {nwbfile.identifier} — {nwbfile.session_description}")
            if items:
                rows = [[i.path, i.neurodata_type, "x".join(map(str, i.shape)),
                         f"{i.rate_hz:g} Hz" if i.rate_hz else "-", i.unit or "-", ", ".join(i.analyses)]
                        for i in items]
                print(_format_table(rows, ["PATH", "TYPE", "SHAPE", "RATE", "UNIT", "ANALYSES"]))
            else:
                print("Nothing nwbsyn can analyse was found (no patch-clamp traces, ROI responses, Units or EM "
                      "volumes).")
            if results:
                print("\nnwbsyn results already in the file:")
                print(_format_table([list(r) for r in results], ["PATH", "TYPE"]))
    _print_notes(caught, args.file)
    return 0


def _print_notes(caught, path) -> None:
    """What pynwb warned about while reading, one line each (``nwbsyn validate`` says more)."""
    import sys

    notes = list(dict.fromkeys(str(w.message).strip().splitlines()[0] for w in caught if str(w.message).strip()))
    for note in notes[:5]:
        print(f"nwbsyn: note: {note[:200]}", file=sys.stderr)
    if notes:
        print(f"nwbsyn: note: run 'nwbsyn validate {path}' for a full check.", file=sys.stderr)


class _explained_read_errors:
    """Check a local file's structure before pynwb reads it; when the read fails, say what is broken."""

    def __init__(self, path):
        from nwbsyn.io.remote import is_remote

        self.path, self.problems = path, []
        if not is_remote(path):
            from nwbsyn.io.nwb import check_nwb_path
            from nwbsyn.io.structure import scan_structure

            self.problems = scan_structure(check_nwb_path(path))  # InputError: truncated, not NWB, a cycle

    def __enter__(self):
        return self

    def __exit__(self, kind, err, _tb):
        from nwbsyn._shared import InputError
        from nwbsyn.io.remote import RemoteError, is_remote

        if err is None or not isinstance(err, InputError):
            return False
        if is_remote(self.path) and not isinstance(err, RemoteError):  # streamed: scan only once it failed
            self.problems = _remote_problems(self.path, err)
        if not self.problems:
            from nwbsyn.io.structure import describe_build_error

            built = describe_build_error(err)
            if built is None:
                return False
            self.problems = [built]
        first = self.problems[0].rstrip(".")
        raise InputError(f"{self.path} cannot be read as NWB ({len(self.problems)} problem(s), listed by 'nwbsyn "
                         f"validate'); the first: {first}.") from err


def _remote_problems(source: str, err: BaseException) -> list[str]:
    """The structure problems of a streamed file that pynwb could not read (InputError: not NWB at all)."""
    from nwbsyn._shared import InputError
    from nwbsyn.io.remote import open_remote
    from nwbsyn.io.structure import scan_open_file

    try:
        with open_remote(source) as handle:
            return scan_open_file(handle.h5, label=source)
    except InputError as again:  # a group cycle, or the network failed now
        raise again from err
    except Exception:  # noqa: BLE001  (the scan could not run: keep pynwb's own sentence)
        return []


def _cmd_validate(args: argparse.Namespace) -> int:
    from nwbsyn.io.validate import validate_nwb

    report = validate_nwb(args.file, threshold=args.threshold)
    print(report.format())
    return 0 if report.ok else 1
