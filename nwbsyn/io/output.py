"""Every file nwbsyn writes goes through here: checked before the work, locked, written atomically.

:func:`claim_output` checks an output path before any long work (not an input, not a folder,
its folder writable, not already there unless ``overwrite``) and locks it, so that a second
nwbsyn process writing the same file is refused instead of losing one run's results. The
content is then written to a temporary file beside the real target (symlinks are followed, so
an in-place edit through a link changes the linked file and keeps the link), flushed to disk
and renamed over the target, keeping an existing file's mode. A crash, a full disk or a signal
never leaves a half-written file at the output path, and temporary files are removed.

Example
-------
>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> with claim_output(folder / "result.txt") as out:
...     with out.temporary() as tmp:
...         _ = tmp.write_text("done")
>>> (folder / "result.txt").read_text()
'done'
"""

from __future__ import annotations

import atexit
import errno
import hashlib
import os
import secrets
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path

from nwbsyn._shared import InputError

__all__ = ["OutputClaim", "claim_output", "claim_or_replace", "check_output", "same_file", "remove_temporaries", "TMP_MARK"]

TMP_MARK = ".nwbsyn-tmp-"
_LIVE_TEMPORARIES: set[Path] = set()
_NAME_MAX = 255


def remove_temporaries() -> None:
    """Delete the temporary files of writes still in progress (signal handlers and exit call this)."""
    for tmp in list(_LIVE_TEMPORARIES):
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        _LIVE_TEMPORARIES.discard(tmp)


atexit.register(remove_temporaries)


def same_file(a, b) -> bool:
    """True when two paths name the same file after symlinks (or the same inode, e.g. hard links)."""
    try:
        if os.path.realpath(a) == os.path.realpath(b):
            return True
        return os.path.exists(a) and os.path.exists(b) and os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def _oserror_text(err: BaseException) -> str:
    lines = str(err).splitlines()
    return getattr(err, "strerror", None) or (lines[0][:200] if lines else type(err).__name__)


def _real_target(path: Path, what: str) -> Path:
    """The file a write to ``path`` must replace: the end of its symlink chain."""
    try:
        os.stat(path)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise InputError(f"The {what} {path} is a symlink loop; remove the link or choose another path.") from err
        if err.errno == errno.ENAMETOOLONG:
            raise InputError(f"The {what} path {str(path)[:80]}... is too long; choose a shorter name.") from err
    except ValueError as err:  # embedded NUL byte
        raise InputError(f"The {what} path {path!r} is not a valid file name; choose another.") from err
    return Path(os.path.realpath(path))


def check_output(path, *, inputs=(), overwrite: bool = False, in_place: bool = False,
                 what: str = "output") -> Path:
    """Check that ``path`` can be written as a new result; return the real file to write.

    Refused (one-sentence :class:`InputError`): an output naming any of ``inputs`` (whatever
    ``overwrite`` says, unless ``in_place``), a folder, an existing file without ``overwrite``,
    a missing or unwritable folder, a name that is too long, a symlink loop.
    """
    path = Path(path)
    if not str(path) or path.name in ("", ".", ".."):
        raise InputError(f"The {what} {str(path)!r} names no file; give a file name.")
    if len(os.fsencode(path.name)) > _NAME_MAX - 40:
        raise InputError(f"The {what} file name {path.name[:40]}... is too long; choose a name under 200 characters.")
    real = _real_target(path, what)
    if not in_place:
        for source in inputs:
            if source is not None and not _is_url(source) and same_file(path, source):
                raise InputError(f"The {what} {path} is the input {source}; choose another output path "
                                 "(inputs are never overwritten).")
    if real.is_dir():
        raise InputError(f"The {what} {path} is a folder; give a file name inside it.")
    if real.exists() and not real.is_file():
        raise InputError(f"The {what} {path} is not a regular file (a device, pipe or socket); choose a file path.")
    if real.exists() and not (overwrite or in_place):
        raise InputError(f"{path} already exists; pass --overwrite to replace it or choose another output path.")
    folder = real.parent
    if not folder.is_dir():
        raise InputError(f"The folder of the {what}, {path.parent}, does not exist; create it first.")
    _probe_folder(folder, path, what)
    return real


def _is_url(source) -> bool:
    return isinstance(source, str) and ("://" in source or source.upper().startswith("DANDI:"))


def _probe_folder(folder: Path, path: Path, what: str) -> None:
    """Create and delete a small file where the temporary will go: read-only folders, /proc and
    full disks are found before the work, not after it."""
    probe = folder / f"{TMP_MARK}probe-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, b"\0" * 4096)
        finally:
            os.close(fd)
    except OSError as err:
        raise InputError(f"Could not write the {what} {path} ({_oserror_text(err)}); choose a writable location.") \
            from err
    finally:
        try:
            probe.unlink(missing_ok=True)
        except OSError:
            pass


class OutputClaim:
    """A checked, locked output path; :meth:`temporary` writes it atomically.

    Made by :func:`claim_output`; ``path`` is what the user named, ``target`` the real file.
    """

    def __init__(self, path: Path, target: Path, lock_fd: int | None, what: str):
        self.path, self.target, self._lock_fd, self.what = path, target, lock_fd, what

    @contextmanager
    def temporary(self, *, suffix: str | None = None):
        """Yield a temporary path beside the target; on success it is synced and renamed over it.

        On any failure the temporary file is removed (a failing removal never hides the error)
        and an ``OSError`` (full disk, permissions) becomes a one-sentence :class:`InputError`.
        """
        suffix = self.target.suffix if suffix is None else suffix
        stem = self.target.name[:120]
        tmp = self.target.with_name(f".{stem}{TMP_MARK}{os.getpid()}-{secrets.token_hex(3)}{suffix}")
        _LIVE_TEMPORARIES.add(tmp)
        try:
            yield tmp
            _fsync(tmp)
            _copy_mode(self.target, tmp)
            os.replace(tmp, self.target)
            _fsync_folder(self.target.parent)
        except BaseException as err:
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass
            if isinstance(err, OSError):
                raise InputError(f"Could not write {self.path} ({_oserror_text(err)}); nothing was written - "
                                 "free some space or choose a writable output location.") from err
            raise
        finally:
            _LIVE_TEMPORARIES.discard(tmp)

    def write_bytes(self, data: bytes) -> Path:
        """Write ``data`` atomically to the target; returns the path the user named."""
        with self.temporary() as tmp:
            tmp.write_bytes(data)
        return self.path

    def release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor drops the flock
            self._lock_fd = None

    def __enter__(self) -> "OutputClaim":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _lock_folder() -> Path:
    folder = Path(tempfile.gettempdir()) / f"nwbsyn-locks-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def _lock(target: Path, path: Path) -> int | None:
    """An exclusive, non-blocking flock keyed by the real target path (None where locks are unavailable)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return None
    key = hashlib.sha256(os.fsencode(target)).hexdigest()[:32]
    try:
        fd = os.open(_lock_folder() / f"{key}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        os.close(fd)
        raise InputError(f"Another nwbsyn process is writing {path}; wait for it to finish or choose another "
                         "output path.") from err
    return fd


def claim_output(path, *, inputs=(), overwrite: bool = False, in_place: bool = False,
                 what: str = "output") -> OutputClaim:
    """Check ``path`` (see :func:`check_output`) and lock it against other nwbsyn processes.

    Use it as a context manager around the whole run, and write with ``claim.temporary()``.
    """
    path = Path(path)
    target = check_output(path, inputs=inputs, overwrite=overwrite, in_place=in_place, what=what)
    return OutputClaim(path, target, _lock(target, path), what)


def _fsync(path: Path) -> None:
    if path.is_file():
        with open(path, "rb+") as f:
            os.fsync(f.fileno())


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _copy_mode(target: Path, tmp: Path) -> None:
    """Keep the mode (and where allowed the owner) of the file being replaced; new files get the umask's."""
    try:
        st = os.stat(target)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        return
    os.chmod(tmp, stat.S_IMODE(st.st_mode))
    try:
        os.chown(tmp, st.st_uid, st.st_gid)
    except OSError:
        pass


def claim_or_replace(path, *, what: str):
    """An :class:`OutputClaim` as given, or one taken now for a plain path, replacing the file.

    What library functions that write one file use: the CLI claims its outputs (refusing an
    existing one without ``--overwrite``) and passes the claim; a Python caller passes a path,
    whose folder is made and whose file is replaced atomically.
    """
    from contextlib import nullcontext

    if isinstance(path, OutputClaim):
        return nullcontext(path)
    path = Path(path)
    if path.parent != Path("") and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    return claim_output(path, overwrite=True, what=what)

