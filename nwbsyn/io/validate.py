"""Validate an NWB file: the NWB schema (pynwb) and best practices (nwbinspector, DANDI config).

Example
-------
>>> import os, tempfile
>>> from nwbsyn.io.nwb import write_new_nwb
>>> from nwbsyn.testing import mock_icephys_nwbfile, mock_SynapticEventsTable
>>> nwbfile = mock_icephys_nwbfile(n_sweeps=1)
>>> _ = mock_SynapticEventsTable(nwbfile=nwbfile)
>>> path = write_new_nwb(nwbfile, os.path.join(tempfile.mkdtemp(), "session_nwbsyn.nwb"))
>>> report = validate_nwb(path)
>>> report.ok, report.schema_errors, report.failures
(True, [], [])
>>> print(report.format())
/.../session_nwbsyn.nwb: OK
  NWB schema and file structure (pynwb, nwbsyn): 0 error(s)
  Best practices (nwbinspector, DANDI config): ... message(s)...
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nwbsyn._shared import require
from nwbsyn.io.nwb import check_nwb_path
from nwbsyn.io.remote import is_remote

__all__ = ["ValidationReport", "validate_nwb", "register_checks"]

_IMPORTANCE = ("ERROR", "PYNWB_VALIDATION", "CRITICAL", "BEST_PRACTICE_VIOLATION", "BEST_PRACTICE_SUGGESTION")


@dataclass(frozen=True)
class ValidationReport:
    """Schema errors and best-practice messages of one file."""

    path: str
    schema_errors: list[str] = field(default_factory=list)
    inspector_messages: list[dict] = field(default_factory=list)  # importance, check, location, message
    threshold: str = "BEST_PRACTICE_VIOLATION"

    @property
    def failures(self) -> list[dict]:
        """Inspector messages at or above ``threshold`` (a check that crashed, "ERROR", is not a failure)."""
        worst = _IMPORTANCE.index(self.threshold)
        return [m for m in self.inspector_messages
                if m["importance"] != "ERROR" and _IMPORTANCE.index(m["importance"]) <= worst]

    @property
    def ok(self) -> bool:
        return not self.schema_errors and not self.failures

    def format(self) -> str:
        """A readable report, one line per problem."""
        lines = [f"{self.path}: {'OK' if self.ok else 'PROBLEMS FOUND'}"]
        lines.append(f"  NWB schema and file structure (pynwb, nwbsyn): {len(self.schema_errors)} error(s)")
        lines += [f"    - {e}" for e in self.schema_errors]
        lines.append(f"  Best practices (nwbinspector, DANDI config): {len(self.inspector_messages)} message(s)")
        for m in self.inspector_messages:
            lines.append(f"    - [{m['importance']}] {m['location']}: {m['message']} ({m['check']})")
        return "\n".join(lines)


def register_checks() -> None:
    """Register the ndx-nwbsyn type checks (shipped with ndx-nwbsyn) and nwbsyn's own, each once (on import)."""
    from nwbsyn.io import checks  # noqa: F401  (imports ndx_nwbsyn.checks, then adds the TimeSeries rate check)


def _schema_errors(path) -> list[str]:
    from pynwb import validate

    import nwbsyn  # noqa: F401

    found = validate(path=str(path), use_cached_namespaces=True)  # all cached namespaces, ndx-nwbsyn included
    return [str(e) for e in (found[0] if isinstance(found, tuple) else found)]


def _guarded(what: str, run, problems: list[str], default):
    """``run()``, or ``default`` with one sentence in ``problems`` when it raises (a broken file breaks pynwb)."""
    from nwbsyn._shared import InputError

    try:
        return run()
    except (KeyboardInterrupt, MemoryError, InputError):  # InputError: not NWB at all, or the network failed
        raise
    except Exception as err:  # noqa: BLE001  (pynwb and hdmf raise many types for broken files)
        from nwbsyn.io.structure import describe_build_error

        lines = str(err).strip().splitlines()
        detail = describe_build_error(err) or f"{type(err).__name__}: {(lines[0] if lines else '')[:200]}"
        problems.append(f"{what} failed on this file ({detail}).")
        return default


def _read_locally(path) -> None:
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(path), mode="r", load_namespaces=True) as io:
        io.read()


def validate_nwb(path, *, threshold: str = "BEST_PRACTICE_VIOLATION") -> ValidationReport:
    """Validate ``path`` against the NWB schema and nwbinspector's DANDI configuration.

    The HDF5 structure is checked first (:mod:`nwbsyn.io.structure`): dangling links and object
    references, unknown ``nwb_version`` or namespaces are problems (in ``schema_errors``), and so
    is any failure of pynwb to read or validate the file, so a broken file never passes.

    Parameters
    ----------
    path : str or Path
        A local NWB file, or a URL / DANDI asset (streamed: every dataset the checks look at is read).
    threshold : {"CRITICAL", "BEST_PRACTICE_VIOLATION", "BEST_PRACTICE_SUGGESTION"}
        Inspector messages at or above this importance make the report fail.

    Returns
    -------
    ValidationReport

    Raises
    ------
    InputError
        When the file is not NWB at all: missing, a folder, not HDF5, truncated, a group cycle.
    """
    import warnings

    from nwbsyn._shared import InputError
    from nwbsyn.io.structure import scan_structure

    if threshold not in _IMPORTANCE:
        raise InputError(f"threshold must be one of {', '.join(_IMPORTANCE)}; got {threshold!r}.")
    if is_remote(path):
        return _validate_remote(path, threshold)
    path = check_nwb_path(path)
    inspector = require("nwbinspector")
    register_checks()

    problems = scan_structure(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # broken links and odd values are reported as problems instead
        _guarded("Reading it with pynwb", lambda: _read_locally(path), problems, None)
        errors = _guarded("pynwb's schema validation", lambda: _schema_errors(path), problems, [])
        messages = _guarded("nwbinspector", lambda: list(inspector.inspect_nwbfile(
            nwbfile_path=str(path), config=inspector.load_config(filepath_or_keyword="dandi"),
            importance_threshold=inspector.Importance.BEST_PRACTICE_SUGGESTION)), problems, [])
    return _report(path, messages, problems + errors, threshold)


def _validate_remote(source: str, threshold: str) -> ValidationReport:
    import warnings

    from pynwb import NWBHDF5IO, validate
    from pynwb.validation import get_cached_namespaces_to_validate

    import nwbsyn  # noqa: F401
    from nwbsyn.io.remote import open_remote
    from nwbsyn.io.structure import scan_open_file

    inspector = require("nwbinspector")
    register_checks()
    with open_remote(source) as handle, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        h5 = handle.h5
        problems: list[str] = []
        problems += _guarded("Reading its structure", lambda: scan_open_file(h5, label=source), problems, [])
        if handle.failure() is not None:
            raise handle.failure()

        def schema():  # the streamed file's cached namespaces, as for local files
            manager = get_cached_namespaces_to_validate(io=NWBHDF5IO(file=h5, mode="r"))[1]
            return [str(e) for e in validate(io=NWBHDF5IO(file=h5, mode="r", manager=manager))]

        def inspect():
            io = NWBHDF5IO(file=h5, mode="r", load_namespaces=True)
            found = inspector.inspect_nwbfile_object(
                io.read(), config=inspector.load_config(filepath_or_keyword="dandi"),
                importance_threshold=inspector.Importance.BEST_PRACTICE_SUGGESTION)
            return [m for m in found if m.check_function_name != "check_file_extension"]  # no file name here

        errors = _guarded("pynwb's schema validation", schema, problems, [])
        messages = _guarded("Reading it with pynwb and nwbinspector", inspect, problems, [])
        if handle.failure() is not None:  # the network failed under a check: nothing can be said of the file
            raise handle.failure()
    return _report(source, messages, problems + errors, threshold)


def _short(message: str) -> str:
    """A crashed check's message: its last line, without pynwb's builder dump."""
    text = message.strip().splitlines()[-1].strip() if message.strip() else ""
    if "During io.read()" in message or "ConstructError" in text:
        return "pynwb could not read the file, so no best-practice check ran (see the problems above)."
    return text if len(text) <= 300 else text[:297] + "..."


def _report(path, messages, schema_errors: list[str], threshold: str) -> ValidationReport:
    found = [
        {"importance": m.importance.name,
         "check": m.check_function_name if len(m.check_function_name or "") <= 80 else "nwbinspector reading the file",
         "location": m.location or m.object_name,
         # a crashed check reports its traceback: keep its last line (nwbinspector's own problem, e.g. on empty tables)
         "message": _short(m.message) if m.importance.name == "ERROR" else m.message}
        for m in messages
    ]
    found.sort(key=lambda m: _IMPORTANCE.index(m["importance"]))
    return ValidationReport(path=str(path), schema_errors=schema_errors, inspector_messages=found,
                            threshold=threshold)
