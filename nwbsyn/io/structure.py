"""Check the HDF5 structure of an NWB file before pynwb reads it.

pynwb trusts the file it reads: a hard-link cycle makes it recurse until Python gives up, a
dangling object reference or link breaks it deep inside, an unknown ``nwb_version`` or
namespace makes it fail with a Python error, and the best-practice checks that would see
such a file crash quietly. :func:`scan_structure` walks the groups once with h5py (no data
is read, apart from a sample of reference datasets) and returns

* a one-sentence :class:`~nwbsyn._shared.InputError` for files that are not NWB at all
  (truncated, damaged, plain HDF5, a group cycle), and
* a list of problems (one sentence each) for NWB files with broken parts.

Example
-------
>>> import os, tempfile
>>> import h5py
>>> from nwbsyn.io.nwb import write_new_nwb
>>> from nwbsyn.testing import mock_icephys_nwbfile
>>> path = write_new_nwb(mock_icephys_nwbfile(n_sweeps=1), os.path.join(tempfile.mkdtemp(), "session.nwb"))
>>> scan_structure(path)
[]
>>> with h5py.File(path, "a") as f:           # break the file: remove the electrode
...     del f["general/intracellular_ephys/elec0"]
>>> for problem in scan_structure(path):
...     print(problem)
/acquisition/sweep_0/electrode links to /general/intracellular_ephys/elec0, which does not exist (a dangling link).
/general/intracellular_ephys/intracellular_recordings/electrodes/electrode has 1 reference(s) to objects that ...
"""

from __future__ import annotations

import os
import re

import h5py
import numpy as np

from nwbsyn._shared import InputError

__all__ = ["open_hdf5", "scan_structure", "scan_open_file", "describe_build_error"]

_MAX_GROUPS = 200_000  # a file with more groups is walked this far (real NWB files have far fewer)
_REF_SAMPLE = 2_000  # references checked per dataset
_MAX_PROBLEMS = 50
_KNOWN_MAJOR = 2


def open_hdf5(path, *, label=None) -> h5py.File:
    """Open a local file with h5py, or InputError naming what is wrong (truncated, damaged)."""
    label = label or path
    try:
        return h5py.File(path, "r")
    except OSError as err:
        text = str(err)
        found = re.search(r"eof = (\d+).*stored_eof = (\d+)", text)
        if found:
            have, want = (int(n) for n in found.groups())
            raise InputError(f"{label} is truncated: it has {have} bytes but its HDF5 header says {want}; copy or "
                             "download it again.") from err
        detail = re.sub(r"^Unable to synchronously open file \((.*)\)$", r"\1", text.splitlines()[0] if text else "")
        raise InputError(f"{label} is a damaged HDF5 file ({detail[:150] or type(err).__name__}); copy or download "
                         "it again.") from err


def scan_structure(path) -> list[str]:
    """Problems of the local file ``path`` (see the module), or InputError when it is not NWB at all."""
    with open_hdf5(path) as f:
        return scan_open_file(f, label=str(path), folder=os.path.dirname(os.path.abspath(path)))


def scan_open_file(f: h5py.File, *, label: str, folder: str | None = None) -> list[str]:
    """:func:`scan_structure` for an open h5py File (local or streamed)."""
    problems = _version_problems(f, label)
    _check_ndx_nwbsyn_schema(f, label, uses_namespace=False)  # a newer cached ndx-nwbsyn: before the walk
    known, cached = _namespaces(f)
    walker = _Walker(f, label=label, folder=folder, known=known, cached=cached)
    walker.walk()
    _check_ndx_nwbsyn_schema(f, label, uses_namespace="ndx-nwbsyn" in walker.namespaces)
    problems += walker.problems
    if len(problems) > _MAX_PROBLEMS:
        problems = problems[:_MAX_PROBLEMS] + [f"... and {len(problems) - _MAX_PROBLEMS} more problems."]
    return problems


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.size == 1:
        return _text(value.reshape(-1)[0])
    return str(value)


def _core_version() -> str:
    from pynwb import get_type_map

    return get_type_map().namespace_catalog.get_namespace("core").get("version", "2.0.0")


def _version_tuple(text: str):
    found = re.match(r"^(\d+)\.(\d+)\.(\d+)", text.strip())
    return tuple(int(n) for n in found.groups()) if found else None


def _version_problems(f: h5py.File, label: str) -> list[str]:
    if "nwb_version" not in f.attrs:
        if "acquisition" in f or "general" in f:
            return ["The root has no 'nwb_version' attribute; an NWB file must say which NWB version it follows."]
        raise InputError(f"{label} is an HDF5 file but not an NWB file (no 'nwb_version' at its root); give an "
                         ".nwb file written by pynwb or MatNWB.")
    text = _text(f.attrs["nwb_version"])
    version, core = _version_tuple(text), _core_version()
    if version is None:
        return [f"The root attribute nwb_version is {text!r}, which is not an NWB version (like {core}); pynwb cannot "
                "read the file as it is."]
    if version[0] != _KNOWN_MAJOR:
        return [f"The file says it follows NWB {text}; this pynwb reads NWB 2.x (up to {core}) - convert the file "
                "with the tools of its NWB version."]
    if version > _version_tuple(core):
        return [f"The file says it follows NWB {text}, newer than the NWB {core} this pynwb knows; upgrade pynwb "
                "(pip install -U pynwb) to validate it."]
    return []


def _check_ndx_nwbsyn_schema(f: h5py.File, label: str, *, uses_namespace: bool) -> None:
    """InputError (one sentence: what to install or upgrade) for a file this ndx-nwbsyn cannot read."""
    from ndx_nwbsyn import check_cached_schema

    problem = check_cached_schema(f, label=label, uses_namespace=uses_namespace)
    if problem:
        raise InputError(problem)


def _namespaces(f: h5py.File) -> tuple[set[str], set[str]]:
    """(namespaces pynwb or nwbsyn know, namespaces cached in the file)."""
    from pynwb import get_type_map

    import nwbsyn  # noqa: F401  (registers ndx-nwbsyn)

    known = set(get_type_map().namespace_catalog.namespaces)
    cached = set()
    specs = f.get("specifications")
    if isinstance(specs, h5py.Group):
        cached = {name for name in specs if isinstance(specs.get(name), h5py.Group)}
    return known, cached


class _Walker:
    """One depth-first walk over the groups: cycles, links, references, neurodata types."""

    def __init__(self, f, *, label, folder, known, cached):
        self.f, self.label, self.folder = f, label, folder
        self.known, self.cached = known, cached
        self.problems: list[str] = []
        self.namespaces: set[str] = set()  # of the neurodata types seen
        self._types = _registered_types()

    def walk(self) -> None:
        root = self.f["/"]
        on_path, done = {_key(root)}, set()
        stack = [("", root, iter(sorted(root.keys())))]
        n_groups = 0
        while stack and n_groups < _MAX_GROUPS:
            path, group, names = stack[-1]
            name = next(names, None)
            if name is None:
                stack.pop()
                on_path.discard(_key(group))
                done.add(_key(group))
                continue
            child_path = f"{path}/{name}"
            child = self._child(group, name, child_path)
            if child is None:
                continue
            if isinstance(child, h5py.Dataset):
                self._check_object(child, child_path)
                self._check_reference_data(child, child_path)
                continue
            key = _key(child)
            if key in on_path:
                target = next((p for p, g, _ in stack if _key(g) == key), "") or "/"
                raise InputError(f"{self.label} has a group cycle: {child_path} links back to {target}, so it "
                                 "cannot be read (NWB files are trees); rewrite the file without that link.")
            if key in done:
                continue
            n_groups += 1
            self._check_object(child, child_path)
            on_path.add(key)
            stack.append((child_path, child, iter(sorted(child.keys()))))

    def _child(self, group, name, path):
        try:
            link = group.get(name, getlink=True)
        except Exception as err:  # noqa: BLE001  (damaged link tables raise many types)
            raise InputError(f"{self.label} is damaged: the link {path} cannot be read ({_first(err)}); copy or "
                             "download the file again.") from err
        if isinstance(link, h5py.SoftLink):
            return self._soft(group, name, path, link.path)
        if isinstance(link, h5py.ExternalLink):
            self._external(path, link)
            return None
        try:
            return group[name]
        except Exception as err:  # noqa: BLE001
            raise InputError(f"{self.label} is damaged: {path} cannot be opened ({_first(err)}); copy or download "
                             "the file again.") from err

    def _soft(self, group, name, path, target):
        try:
            exists = target in self.f
        except Exception:  # noqa: BLE001  (a loop of soft links)
            exists = False
        if not exists:
            self._problem(f"{path} links to {target}, which does not exist (a dangling link).")
        return None  # the target is walked where it lives

    def _external(self, path, link) -> None:
        where = link.filename if os.path.isabs(link.filename) or self.folder is None else \
            os.path.join(self.folder, link.filename)
        if self.folder is not None and not os.path.exists(where):
            self._problem(f"{path} links to {link.path} in {link.filename}, a file that does not exist.")

    def _check_object(self, obj, path) -> None:
        try:
            attrs = dict(obj.attrs)
        except Exception as err:  # noqa: BLE001
            self._problem(f"The attributes of {path} cannot be read ({_first(err)}).")
            return
        for name, value in attrs.items():
            if isinstance(value, h5py.Reference) and value and not self._resolves(value):
                self._problem(f"The attribute {name!r} of {path} refers to an object that no longer exists "
                              "(a dangling reference).")
        if "neurodata_type" in attrs:
            self._check_type(path, _text(attrs["neurodata_type"]), _text(attrs.get("namespace", "")))

    def _check_type(self, path, neurodata_type, namespace) -> None:
        self.namespaces.add(namespace)
        if not namespace:
            self._problem(f"{path} has neurodata type {neurodata_type} but no 'namespace' attribute.")
        elif namespace not in self.known and namespace not in self.cached:
            self._problem(f"{path} has type {neurodata_type} of namespace {namespace!r}, which the file does not "
                          "cache and pynwb does not know (write the file with that namespace cached).")
        elif namespace in self._types and neurodata_type not in self._types[namespace]:
            self._problem(f"{path} has neurodata type {neurodata_type}, which namespace {namespace!r} does not "
                          "define.")

    def _check_reference_data(self, dataset, path) -> None:
        fields = _reference_fields(dataset.dtype)
        if not fields or dataset.ndim != 1 or not dataset.shape[0]:
            return
        try:
            sample = dataset[:_REF_SAMPLE]
        except Exception as err:  # noqa: BLE001
            self._problem(f"The references in {path} cannot be read ({_first(err)}).")
            return
        for field in fields:
            values = sample if field is None else sample[field]
            bad = sum(1 for ref in values if ref and not self._resolves(ref))
            if bad:
                column = "" if field is None else f" (field {field!r})"
                self._problem(f"{path}{column} has {bad} reference(s) to objects that no longer exist (dangling "
                              "references), e.g. to a removed series or table.")

    def _resolves(self, ref) -> bool:
        """A reference resolves when its object is still linked into the file (an unlinked one has no name)."""
        try:
            return self.f[ref].name is not None
        except Exception:  # noqa: BLE001
            return False

    def _problem(self, text: str) -> None:
        if text not in self.problems:
            self.problems.append(text)


def _key(obj) -> tuple[int, int]:
    info = h5py.h5o.get_info(obj.id)
    return info.fileno, info.addr


def _first(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__)[:150]


def _reference_fields(dtype) -> list:
    """[None] for a dataset of object references, the field names of a compound's reference fields, else []."""
    if h5py.check_dtype(ref=dtype) is h5py.Reference:
        return [None]
    if dtype.names:
        return [name for name in dtype.names if h5py.check_dtype(ref=dtype.fields[name][0]) is h5py.Reference]
    return []


def _registered_types() -> dict[str, set[str]]:
    from pynwb import get_type_map

    catalog = get_type_map().namespace_catalog
    found = {}
    for name in catalog.namespaces:
        try:
            found[name] = set(catalog.get_namespace(name).get_registered_types())
        except Exception:  # noqa: BLE001  (an odd namespace: do not judge its types)
            continue
    return found


def describe_build_error(err: BaseException) -> str | None:
    """pynwb's ConstructError (a builder dump) as "/path (Type) has ...", or None for other errors."""
    seen = set()
    while err is not None and type(err).__name__ != "ConstructError" and id(err) not in seen:
        seen.add(id(err))  # a re-raised error can make the chain of causes a loop
        err = err.__cause__ or err.__context__
    if err is None or type(err).__name__ != "ConstructError":
        return None
    text = str(err)
    where = re.match(r"^\(root/?(\S*) \w*Builder", text)
    why = re.search(r"Could not construct (\w+) object due to: (?:\w+\.__init__: )?(.*?)[\"']?\)?$", text, re.S)
    if not why:
        return None
    reason = re.sub(r", expected .*$", ")", why.group(2).strip()) if "(got " in why.group(2) else why.group(2)
    path = "/" + (where.group(1) if where else "")
    return f"{path} ({why.group(1)}) cannot be built: {reason.strip()[:160]}"
