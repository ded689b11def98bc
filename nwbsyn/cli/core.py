"""``nwbsyn info`` and ``nwbsyn validate``."""

from __future__ import annotations

import argparse


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


def add_subject_arguments(parser: argparse.ArgumentParser, *, when: str = "") -> None:
    """``--subject-id/--species/--sex/--age`` for commands that create a new NWB file."""
    for name in SUBJECT_FIELDS:
        parser.add_argument(f"--{name}", help=f"subject {name.replace('-', ' ')}{when} (DANDI requires it)")


def subject_from_arguments(args: argparse.Namespace) -> dict | None:
    """The ``pynwb.file.Subject`` fields given on the command line (None: none)."""
    subject = {name.replace("-", "_"): getattr(args, name.replace("-", "_")) for name in SUBJECT_FIELDS}
    return {k: v for k, v in subject.items() if v} or None


def _format_table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*header), fmt.format(*("-" * w for w in widths)),
                      *(fmt.format(*map(str, r)) for r in rows)])


def _cmd_info(args: argparse.Namespace) -> int:
    from nwbsyn.io import list_analysable, list_results, open_nwb

    with open_nwb(args.file) as nwbfile:
        items = list_analysable(nwbfile)
        results = list_results(nwbfile)
        print(f"{args.file}: {nwbfile.identifier} — {nwbfile.session_description}")
        if items:
            rows = [[i.path, i.neurodata_type, "x".join(map(str, i.shape)),
                     f"{i.rate_hz:g} Hz" if i.rate_hz else "-", i.unit or "-", ", ".join(i.analyses)]
                    for i in items]
            print(_format_table(rows, ["PATH", "TYPE", "SHAPE", "RATE", "UNIT", "ANALYSES"]))
        else:
            print("Nothing nwbsyn can analyse was found (no patch-clamp traces, ROI responses, Units or EM volumes).")
        if results:
            print("\nnwbsyn results already in the file:")
            print(_format_table([list(r) for r in results], ["PATH", "TYPE"]))
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from nwbsyn.io.validate import validate_nwb

    report = validate_nwb(args.file, threshold=args.threshold)
    print(report.format())
    return 0 if report.ok else 1
