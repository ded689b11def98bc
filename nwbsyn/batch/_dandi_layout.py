"""DANDI names for batch outputs of local files: ``sub-<subject>/sub-<subject>[_ses-<session>]_desc-<desc>.nwb``.

``dandi validate`` wants every NWB file in a folder named after its subject, with a BIDS-like
name (``dandi.organize.ORGANIZED_FILENAME_REGEX``). The subject and session come from the file
(``/general/subject/subject_id``, ``/general/session_id``), read with h5py before any work.

Example
-------
>>> dandi_name(subject_id="mouse 1", session_id="2024.01.02", desc="events")
'sub-mouse-1/sub-mouse-1_ses-2024-01-02_desc-events.nwb'
"""

from __future__ import annotations

import re
from pathlib import Path

from nwbsyn._shared import InputError

__all__ = ["dandi_name", "dandi_relpaths", "is_dandi_path", "label"]

_LABEL = r"[^_*\\/<>:|\"'?%@;.]+"
_FILENAME = re.compile(rf"sub-{_LABEL}(_ses-{_LABEL})?(_(tis|slice|cell|desc|probe|obj)-{_LABEL})*"
                       r"(_[a-z]+(\+[a-z]+)*)?\.nwb")


def label(value: str) -> str:
    """``value`` as a DANDI label: characters DANDI does not allow become '-' (as ``dandi organize`` does)."""
    return re.sub(r"-+", "-", re.sub(r"[_*\\/<>:|\"'?%@;,.\s]", "-", str(value).strip())).strip("-")


def is_dandi_path(relpath: str) -> bool:
    """Whether ``relpath`` is ``sub-<x>/<DANDI file name>`` (what ``dandi validate`` accepts)."""
    parts = Path(relpath).parts
    return len(parts) == 2 and re.fullmatch(rf"sub-{_LABEL}", parts[0]) is not None \
        and _FILENAME.fullmatch(parts[1]) is not None


def dandi_name(*, subject_id: str, session_id: str | None, desc: str) -> str:
    """The DANDI path of one output (see the module)."""
    sub = label(subject_id)
    ses = f"_ses-{label(session_id)}" if session_id and label(session_id) else ""
    return f"sub-{sub}/sub-{sub}{ses}_desc-{label(desc)}.nwb"


def _text(value) -> str | None:
    if value is None:
        return None
    if hasattr(value, "shape") and not getattr(value, "shape", None) and hasattr(value, "__getitem__"):
        value = value[()]
    value = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return value.strip() or None


def subject_and_session(path) -> tuple[str, str | None]:
    """(subject_id, session_id) of a local NWB file, or InputError saying what to add."""
    from nwbsyn.io.structure import open_hdf5

    with open_hdf5(str(path)) as f:
        subject = _text(f.get("general/subject/subject_id"))
        session = _text(f.get("general/session_id"))
    if not subject or not label(subject):
        raise InputError(f"{path} has no Subject with a subject_id, which the DANDI file names of batch outputs "
                         "(sub-<id>/...) need; add a Subject with its id to the file (for ABF recordings: nwbsyn "
                         "convert abf --subject-id ID).")
    return subject, session


def dandi_relpaths(paths: list, *, desc: str) -> list[tuple[str | None, str | None]]:
    """(DANDI output path, None) for each local path, or (None, why) for a file that cannot be opened.

    Files sharing subject and session get their file stem in ``desc``. A file that opens but has
    no subject_id raises InputError (the batch is refused before any work).
    """
    names = []
    for path in paths:
        try:
            subject, session = subject_and_session(path)
        except InputError as err:
            if "subject_id" in str(err):
                raise
            names.append((None, str(err), Path(path).stem))  # damaged: a failed row, the others go on
            continue
        names.append((subject, session, Path(path).stem))
    plain = [dandi_name(subject_id=s, session_id=ses, desc=desc) if s else None for s, ses, _ in names]
    out = []
    for p, (s, ses, stem) in zip(plain, names):
        if p is None:
            out.append((None, ses))
        else:
            twin = plain.count(p) > 1
            out.append((dandi_name(subject_id=s, session_id=ses, desc=f"{desc}-{stem}") if twin else p, None))
    return out
