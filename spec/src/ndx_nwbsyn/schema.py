"""Is an HDF5 file readable with the installed ndx-nwbsyn? (Before pynwb reads it.)

Example
-------
>>> import os, tempfile
>>> import h5py
>>> from pynwb import NWBHDF5IO
>>> from pynwb.testing.mock.file import mock_NWBFile
>>> from ndx_nwbsyn.testing.mock import mock_SynapticEventScoreSeries
>>> nwbfile = mock_NWBFile()
>>> _ = mock_SynapticEventScoreSeries(nwbfile=nwbfile)
>>> path = os.path.join(tempfile.mkdtemp(), "session.nwb")
>>> with NWBHDF5IO(path, "w") as io:
...     io.write(nwbfile)
>>> with h5py.File(path, "r") as f:
...     problem = check_cached_schema(f)
...     too_old = check_cached_schema(f, installed="0.0.1")
>>> problem is None
True
>>> too_old
"the file was written with ndx-nwbsyn ..., newer than the installed 0.0.1; upgrade it with: pip install -U ..."
"""

from __future__ import annotations

import re

__all__ = ["check_cached_schema", "cached_versions"]

_NAMESPACE = "ndx-nwbsyn"


def _version_tuple(text: str):
    found = re.match(r"^\s*(\d+)\.(\d+)\.(\d+)", str(text))
    return tuple(int(n) for n in found.groups()) if found else None


def cached_versions(h5file) -> list[str]:
    """Versions of ndx-nwbsyn cached in ``/specifications`` of an open h5py File (oldest first)."""
    group = h5file.get(f"specifications/{_NAMESPACE}")
    if group is None or not hasattr(group, "keys"):
        return []
    return sorted(group.keys(), key=lambda v: _version_tuple(v) or (0, 0, 0))


def _uses_namespace(h5file) -> bool:
    found = []

    def visit(name, obj):
        value = obj.attrs.get("namespace")
        if (value.decode() if isinstance(value, bytes) else value) == _NAMESPACE:
            found.append(name)
            return True
        return None

    h5file.visititems(visit)
    return bool(found)


def check_cached_schema(h5file, *, label: str = "the file", installed: str | None = None,
                        uses_namespace: bool | None = None) -> str | None:
    """One sentence saying what to install or upgrade, or None when the file reads with this package.

    A problem is a file whose cached ndx-nwbsyn is newer than the installed one, or a file with
    ndx-nwbsyn objects but no cached ndx-nwbsyn schema (its version cannot be known).
    ``uses_namespace``: whether the file holds ndx-nwbsyn objects, when the caller already knows
    (otherwise every object of a file without the cached schema is looked at).
    """
    if installed is None:
        from ndx_nwbsyn import SCHEMA_VERSION as installed
    versions = cached_versions(h5file)
    newest = versions[-1] if versions else None
    if newest is not None:
        have, want = _version_tuple(installed), _version_tuple(newest)
        if want is not None and have is not None and want[:2] > have[:2]:
            return (f"{label} was written with ndx-nwbsyn {newest}, newer than the installed {installed}; upgrade "
                    f"it with: pip install -U 'ndx-nwbsyn>={newest}'.")
        return None
    if uses_namespace if uses_namespace is not None else _uses_namespace(h5file):
        return (f"{label} holds ndx-nwbsyn objects but no cached ndx-nwbsyn schema, so the schema version that wrote "
                "it is unknown; install the ndx-nwbsyn version it was written with (pip install 'ndx-nwbsyn==X.Y') "
                "and write it again with the schema cached (pynwb's default).")
    return None
