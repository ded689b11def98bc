"""Open NWB files for reading, and write results to a new file or atomically in place.

This is the only module that opens or writes NWB files. Inputs may be local files, URLs or
DANDI assets (streamed through :mod:`nwbsyn.io.remote`).

Example
-------
>>> import os, tempfile
>>> from nwbsyn.io.nwb import edit_nwb, open_nwb, write_new_nwb
>>> from nwbsyn.testing import mock_icephys_nwbfile, mock_SynapticEventsTable
>>> folder = tempfile.mkdtemp()
>>> source = write_new_nwb(mock_icephys_nwbfile(n_sweeps=1), os.path.join(folder, "in.nwb"))
>>> with edit_nwb(source, output=os.path.join(folder, "out.nwb")) as nwbfile:
...     table = mock_SynapticEventsTable(nwbfile=nwbfile)   # in place of events.run_on_nwbfile(nwbfile)
>>> with open_nwb(os.path.join(folder, "out.nwb")) as nwbfile:
...     len(nwbfile.processing["icephys"]["synaptic_events"])
5
>>> with open_nwb(source) as nwbfile:       # the input is untouched
...     "icephys" in nwbfile.processing
False
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path

import h5py

from nwbsyn._shared import InputError
from nwbsyn.io.output import OutputClaim, claim_output, same_file
from nwbsyn.io.remote import is_remote

__all__ = ["check_nwb_path", "open_nwb", "edit_nwb", "write_new_nwb", "default_output_path"]

log = logging.getLogger("nwbsyn")


def check_nwb_path(path) -> Path:
    """Return ``path`` as a Path if it names a readable HDF5 file, else raise InputError."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file; check the path.")
    if path.is_dir():
        raise InputError(f"{path} is a directory; give the path of an .nwb file.")
    try:
        is_hdf5 = h5py.is_hdf5(path)
    except OSError as err:
        raise InputError(f"{path} cannot be read ({err.strerror or err}); check its permissions.") from err
    if not is_hdf5:
        raise InputError(f"{path} is not an HDF5/NWB file; give an .nwb file written by pynwb or MatNWB.")
    return path


def _read_error(path, err: Exception) -> InputError:
    from nwbsyn.io.structure import describe_build_error

    lines = str(err).splitlines()
    reason = describe_build_error(err) or f"{type(err).__name__}: {lines[0][:200] if lines else ''}"
    return InputError(f"{path} could not be read as NWB ({reason}); the file may be truncated or not an NWB "
                      "file - check it with 'nwbsyn validate'.")


@contextmanager
def _nwb_reader(path, *, dandi_api_url: str | None = None):
    from pynwb import NWBHDF5IO

    import nwbsyn  # noqa: F401  (registers the ndx-nwbsyn types)

    if is_remote(path):
        with _remote_reader(path, dandi_api_url) as pair:
            yield pair
        return
    from nwbsyn.io.structure import scan_structure

    scan_structure(path)  # files that are not NWB at all (group cycles, plain HDF5) fail here in one sentence
    io = None
    try:
        io = NWBHDF5IO(str(path), mode="r", load_namespaces=True)
        nwbfile = io.read()
    except BaseException as err:
        if io is not None:
            try:
                io.close()
            except Exception:  # noqa: BLE001 - the read error is the one to report
                pass
        if isinstance(err, InputError) or not isinstance(err, Exception):
            raise
        raise _read_error(path, err) from err  # h5py/hdmf raise many types for damaged files
    try:
        yield io, nwbfile
    finally:
        io.close()


@contextmanager
def _remote_reader(source: str, dandi_api_url: str | None):
    """Stream a URL or DANDI asset; a network failure anywhere inside becomes one RemoteError."""
    from pynwb import NWBHDF5IO

    from nwbsyn.io.remote import open_remote

    with open_remote(source, api_url=dandi_api_url) as handle:
        try:
            io = NWBHDF5IO(file=handle.h5, mode="r", load_namespaces=True)
            nwbfile = io.read()
        except InputError:
            raise
        except Exception as err:
            raise (handle.failure() or _read_error(handle.source, err)) from err
        try:
            yield io, nwbfile
        except Exception as err:  # the analysis or the export read data that the network did not deliver
            failure = handle.failure()
            if failure is None:
                raise
            raise failure from err
        finally:
            io.close()


@contextmanager
def open_nwb(path, *, dandi_api_url: str | None = None):
    """Open an NWB file read-only and yield its ``NWBFile``.

    ``path`` is a local file, an ``https://`` URL or a DANDI asset (``DANDI:000123/sub-x/...nwb``,
    ``dandi://DANDI/000123/...``); remote files are streamed, only the bytes that are read are
    fetched (see :mod:`nwbsyn.io.remote` for the version rule and ``dandi_api_url``).

    Example
    -------
    >>> from pynwb import NWBHDF5IO
    >>> from pynwb.testing.mock.file import mock_NWBFile
    >>> with NWBHDF5IO("session.nwb", "w") as io:
    ...     io.write(mock_NWBFile(identifier="cell-1"))
    >>> with open_nwb("session.nwb") as nwbfile:
    ...     print(nwbfile.identifier)
    cell-1
    """
    path = path if is_remote(path) else check_nwb_path(path)
    with _nwb_reader(path, dandi_api_url=dandi_api_url) as (_, nwbfile):
        yield nwbfile


def default_output_path(path) -> Path:
    """``session.nwb`` → ``session_nwbsyn.nwb`` beside it; a remote input → its asset path (or URL
    file name) under the current folder, e.g. ``DANDI:000123/sub-1/sub-1_ses-1.nwb`` →
    ``sub-1/sub-1_ses-1.nwb``."""
    if is_remote(path):
        from nwbsyn.io.remote import parse_source

        return Path(parse_source(path).relpath)
    path = Path(path)
    return path.with_name(f"{path.stem}_nwbsyn.nwb")


def _claim_destination(src, output, in_place: bool, overwrite: bool) -> OutputClaim:
    """Check and lock where the result goes, before any work."""
    if in_place:
        if is_remote(src):
            raise InputError(f"{src} is remote and cannot be changed in place; give a local output file (-o OUT.nwb).")
        if output is not None and not same_file(output, src):
            raise InputError("Give either an output file or in-place writing (--in-place), not both.")
        return claim_output(src, in_place=True)
    dest = Path(output) if output is not None else default_output_path(src)
    if not is_remote(src) and same_file(dest, src):
        raise InputError(f"The output {dest} is the input file; choose another output path, or pass --in-place "
                         "to add the results to the input itself.")
    if is_remote(src) and output is None and not dest.parent.is_dir():
        _make_folders(dest.parent)  # a remote input's default output mirrors its asset path
    return claim_output(dest, inputs=[src], overwrite=overwrite)


def _make_folders(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"Could not create {folder} ({err.strerror or err}); choose a writable output location.") \
            from err


@contextmanager
def edit_nwb(path, *, output=None, in_place: bool = False, overwrite: bool = False,
             dandi_api_url: str | None = None):
    """Read an NWB file, yield its ``NWBFile`` for additions, then write the result.

    By default the result goes to a new file (``output``, or ``<stem>_nwbsyn.nwb`` beside the
    input) and the input is never touched. With ``in_place=True`` the input is replaced
    atomically: the new content is written to a temporary file in the same folder, which
    is then renamed over the input. A remote input (URL or DANDI asset, streamed) is written
    to ``output`` or, by default, to its asset path under the current folder (never in place),
    and the output holds all data (no links to the remote file). If anything fails, no partial file is left behind and
    the input is unchanged. The written file is complete (no links into the input) and
    carries the ndx-nwbsyn namespace, so plain pynwb can read it.

    Parameters
    ----------
    path : str or Path
        The input NWB file.
    output : str or Path, optional
        Where to write; must not exist unless ``overwrite``.
    in_place : bool, default: False
        Replace the input instead of writing a new file.
    overwrite : bool, default: False
        Allow replacing an existing output file.
    dandi_api_url : str, optional
        DANDI API for ``DANDI:`` inputs (default: ``NWBSYN_DANDI_API_URL`` or the DANDI archive).

    Example
    -------
    >>> from pynwb import NWBHDF5IO
    >>> from pynwb.testing.mock.base import mock_TimeSeries
    >>> from pynwb.testing.mock.file import mock_NWBFile
    >>> with NWBHDF5IO("in.nwb", "w") as io:
    ...     io.write(mock_NWBFile())
    >>> with edit_nwb("in.nwb", output="out.nwb") as nwbfile:
    ...     nwbfile.add_acquisition(mock_TimeSeries(name="added"))
    >>> with open_nwb("out.nwb") as nwbfile:
    ...     sorted(nwbfile.acquisition)
    ['added']
    """
    src = path.strip() if is_remote(path) else check_nwb_path(path)
    with _claim_destination(src, output, in_place, overwrite) as claim, \
            _nwb_reader(src, dandi_api_url=dandi_api_url) as (src_io, nwbfile):
        old_version = src_io.nwb_version[0]
        yield nwbfile
        _atomic_write(claim, lambda out: out.export(src_io=src_io, nwbfile=nwbfile, write_args={"link_data": False}))
    dest = claim.target
    new_version = _written_version(dest)
    if old_version and new_version and old_version != new_version:
        log.info("%s was NWB %s; %s is written as NWB %s.", getattr(src, "name", src), old_version, dest.name,
                 new_version)


def write_new_nwb(nwbfile, output, *, overwrite: bool = False, inputs=(), claim: OutputClaim | None = None) -> Path:
    """Write an in-memory ``NWBFile`` to ``output`` atomically (never a half-written file).

    ``inputs`` are files the result was made from; naming one of them as ``output`` is refused.
    ``claim``: an output already claimed before the work (:func:`nwbsyn.io.output.claim_output`);
    then ``output`` is only its name.
    """
    if claim is not None:
        _atomic_write(claim, lambda out: out.write(nwbfile))
        return claim.path
    with claim_output(output, inputs=inputs, overwrite=overwrite) as claim:
        _atomic_write(claim, lambda out: out.write(nwbfile))
    return Path(output)


def _atomic_write(claim: OutputClaim, write) -> None:
    """Call ``write(NWBHDF5IO)`` on a temporary file beside the claimed target, then rename it."""
    from pynwb import NWBHDF5IO

    from hdmf.build import BuildError

    with claim.temporary(suffix=".nwb") as tmp:
        try:
            with NWBHDF5IO(str(tmp), mode="w") as out:
                write(out)
        except BuildError as err:  # the file's content breaks the schema (often an input that already did)
            raise InputError(f"{claim.path} could not be written: its content breaks the NWB schema "
                             f"({str(err).splitlines()[0][:200]}); check the input with 'nwbsyn validate'.") from err


def _written_version(path: Path) -> str | None:
    with h5py.File(path, "r") as f:
        version = f.attrs.get("nwb_version")
    return version.decode() if isinstance(version, bytes) else version
