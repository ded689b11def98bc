"""Remote NWB inputs: ``https://`` URLs and DANDI assets, streamed lazily (remfile + h5py).

A source is remote when it is a string of one of these forms:

* ``https://host/path/file.nwb`` (``http://`` too): any server that answers HTTP ``Range`` requests;
* ``DANDI:000123/sub-x/sub-x_ses-y.nwb``, optionally with a version: ``...nwb@0.230101.1200``
  or ``DANDI:000123@draft/sub-x/...``;
* ``dandi://DANDI/000123[@version]/sub-x/sub-x_ses-y.nwb`` (the ``dandi`` client's URL form).

**Version rule**: an explicit version is used as given (``draft`` included); without one, the
most recent *published* version of the dandiset is used if it has one, otherwise the draft
(the ``dandi`` client's own rule), so that an analysis of a published dandiset is reproducible.

**API URL**: the ``api_url`` keyword, else the ``NWBSYN_DANDI_API_URL`` environment variable,
else the instance named in a ``dandi://`` URL, else the ``dandi`` client's default
(``DANDI_INSTANCE``, normally https://api.dandiarchive.org/api).

Only the bytes that are read are fetched: a first ranged request checks that the file is HDF5,
then remfile fetches chunks on demand. Every request has an overall deadline, headers and body
together (``timeout_s``, default 30 s or ``NWBSYN_REMOTE_TIMEOUT_S``, plus one second per
256 KiB asked for), so a server that trickles bytes cannot stall a run; answers whose length
or range differs from what was asked for are refused. Requests are retried a few times on
dropped connections and 429/5xx answers; when that does not help, a :class:`RemoteError` says
what failed in one sentence and whether trying again later may help (``transient``). Asset
paths from the server are checked: no ``..``, no absolute paths, so outputs that mirror them
stay inside the output folder.

Example
-------
>>> src = parse_source("DANDI:000123/sub-1/sub-1_ses-1.nwb@draft")
>>> src.dandiset_id, src.asset_path, src.version
('000123', 'sub-1/sub-1_ses-1.nwb', 'draft')
"""

from __future__ import annotations

import math
import os
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

from nwbsyn._shared import InputError, require

__all__ = ["RemoteError", "RemoteSource", "is_remote", "parse_source", "sanitize_asset_path", "list_assets",
           "resolve_content_url", "open_remote", "ENV_API_URL", "ENV_TIMEOUT"]

ENV_API_URL = "NWBSYN_DANDI_API_URL"
ENV_TIMEOUT = "NWBSYN_REMOTE_TIMEOUT_S"
_ENV_TIMEOUT_OLD = "NWBSYN_TIMEOUT_S"  # the earlier name, still read
_LOOKUP_REQUESTS = 4  # a DANDI look-up (several API requests and their retries) may take this many timeouts
_REMOTE = re.compile(r"^(https?://|dandi://|dandi:\d)", re.IGNORECASE)
_DANDI_ID = re.compile(r"^DANDI:(\d{6})(?:@([^/]+))?(?:/(.*?))?(?:@([\w.\-]+))?$", re.IGNORECASE)
_DANDI_URL = re.compile(r"^dandi://([^/]+)/(\d{6})(?:@([^/]+))?(?:/(.*))?$", re.IGNORECASE)
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_TRANSIENT_STATUS = (429, 500, 502, 503, 504)


class RemoteError(InputError):
    """A remote input that cannot be read. ``transient`` is True when trying again later may help."""

    def __init__(self, message: str, *, transient: bool = False):
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class RemoteSource:
    """A parsed remote source: a plain URL, or a DANDI asset (id, path, version, API)."""

    text: str
    url: str | None = None
    dandiset_id: str | None = None
    asset_path: str | None = None
    version: str | None = None
    api_url: str | None = None

    @property
    def relpath(self) -> str:
        """Relative path that outputs mirror: the asset path, or the file name of a URL."""
        if self.asset_path:
            return sanitize_asset_path(self.asset_path)  # raises for unsafe server-given paths
        name = PurePosixPath(unquote(urlsplit(self.url or "").path)).name
        return sanitize_asset_path(name) if name else "remote.nwb"

    def __str__(self) -> str:
        if self.url:
            return self.url
        version = f"@{self.version}" if self.version else ""
        return f"DANDI:{self.dandiset_id}/{self.asset_path or ''}{version}"


def is_remote(source) -> bool:
    """True for strings that name a URL or a DANDI asset (Path objects are always local)."""
    return isinstance(source, str) and bool(_REMOTE.match(source.strip()))


def sanitize_asset_path(path: str) -> str:
    """A server-given asset path as a safe relative POSIX path, or InputError.

    Example
    -------
    >>> sanitize_asset_path("./sub-1//sub-1_ses-1.nwb")
    'sub-1/sub-1_ses-1.nwb'
    """
    text = str(path)
    parts = [p for p in text.replace("\\", "/").split("/") if p not in ("", ".")]
    unsafe = (not parts or text.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", text) or "\x00" in text
              or "\\" in text or any(p == ".." for p in parts))
    if unsafe:
        raise InputError(f"The asset path {text!r} is unsafe (absolute, empty or with '..'); "
                         "it was not read or written - report it to the archive.")
    return "/".join(parts)


def _api_url(api_url: str | None, instance: str | None = None) -> str | None:
    if api_url or os.environ.get(ENV_API_URL):
        return (api_url or os.environ[ENV_API_URL]).rstrip("/")
    if instance:
        from dandi.consts import known_instances

        found = known_instances.get(instance.lower())
        if found is None:
            raise InputError(f"Unknown DANDI instance {instance!r}; use one of {', '.join(known_instances)} or "
                             f"give the API URL ({ENV_API_URL}, or --dandi-api of nwbsyn batch).")
        return found.api
    return None


def parse_source(source: str, *, api_url: str | None = None) -> RemoteSource:
    """Parse a URL, ``DANDI:000123/path[@version]`` or ``dandi://INSTANCE/000123[@version]/path``."""
    text = source.strip()
    if text.lower().startswith(("http://", "https://")):
        return RemoteSource(text=text, url=text)
    if (m := _DANDI_URL.match(text)) is not None:
        instance, dandiset_id, version, path = m.groups()
        version_from_path = None
    elif (m := _DANDI_ID.match(text)) is not None:
        dandiset_id, version, path, version_from_path = m.groups()
        instance = None
    else:
        raise InputError(f"{source!r} is not a DANDI asset; write DANDI:000123/sub-x/sub-x_ses-y.nwb[@version] "
                         "or dandi://DANDI/000123[@version]/sub-x/sub-x_ses-y.nwb.")
    if version and version_from_path and version != version_from_path:
        raise InputError(f"{source!r} names two versions; give the version once.")
    return RemoteSource(text=text, dandiset_id=dandiset_id, version=version or version_from_path,
                        asset_path=sanitize_asset_path(path) if path else None,
                        api_url=_api_url(api_url, instance if instance and instance.upper() != "DANDI" else None))


def _timeout(timeout_s: float | None) -> float:
    """``timeout_s``, else ``NWBSYN_REMOTE_TIMEOUT_S`` (or ``NWBSYN_TIMEOUT_S``), else 30 s."""
    if timeout_s is not None:
        return _positive_seconds(timeout_s, "timeout_s")
    for name in (ENV_TIMEOUT, _ENV_TIMEOUT_OLD):
        text = os.environ.get(name, "").strip()
        if text:
            return _positive_seconds(text, name)
    return 30.0


def _positive_seconds(value, name: str) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = float("nan")
    if not math.isfinite(seconds) or seconds <= 0:
        raise InputError(f"{name} must be a positive number of seconds (such as 30); got {value!r}.")
    return seconds


def _dandi_errors(src: RemoteSource, what: str):
    """Map a dandi/requests exception raised while resolving ``src`` to a RemoteError."""
    import requests
    from dandi.exceptions import NotFoundError

    where = src.api_url or "the DANDI API"
    dandiset = f"DANDI:{src.dandiset_id}"

    def translate(err: BaseException) -> RemoteError:
        text = str(err)
        if isinstance(err, RemoteError):
            return err
        if isinstance(err, requests.TooManyRedirects):
            return RemoteError(f"{where} redirects in a loop while looking up {dandiset}; check the API URL.")
        if isinstance(err, NotFoundError):
            if "No such Dandiset" in text:
                return RemoteError(f"{dandiset} does not exist on {where}; check the dandiset id.")
            if "No such version" in text:
                return RemoteError(f"{dandiset} has no version {src.version!r}; leave the version out to use "
                                   "the latest published one (or the draft).")
            return RemoteError(f"{dandiset} has no asset {what}; list its assets with 'dandi ls {dandiset}'.")
        if isinstance(err, requests.Timeout):
            return RemoteError(f"{where} did not answer within the timeout while looking up {dandiset}; "
                               f"try again later or raise {ENV_TIMEOUT}.", transient=True)
        if isinstance(err, requests.ConnectionError):
            return RemoteError(f"Could not connect to {where} to look up {dandiset}; check the API URL and "
                               "your network.", transient=True)
        if isinstance(err, requests.HTTPError) and err.response is not None:
            status = err.response.status_code
            if status in (401, 403):
                return RemoteError(f"{where} refused access to {dandiset} (HTTP {status}); embargoed dandisets "
                                   "need DANDI_API_KEY.")
            return RemoteError(f"{where} answered HTTP {status} while looking up {dandiset}; try again later.",
                               transient=status in _TRANSIENT_STATUS)
        if isinstance(err, RuntimeError) and "server info" in text:
            return RemoteError(f"No DANDI API answers at {where}; check {ENV_API_URL} (or --dandi-api of "
                               "nwbsyn batch).", transient=True)
        return RemoteError(f"Looking up {dandiset} on {where} failed ({type(err).__name__}: "
                           f"{text.splitlines()[0][:200] if text else ''}).")

    return translate


@contextmanager
def _quiet_dandi():
    """The dandi client logs every 404 as an error; we raise our own one-sentence error instead."""
    import logging

    logger = logging.getLogger("dandi")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _client(api_url: str | None, timeout_s: float):
    """A dandi API client whose every request has an overall deadline, and the whole look-up too.

    The instance is given to the client, so that it does not ask the server for it (a request
    without a timeout). The dandi client retries connection errors and 5xx answers up to 12
    times; a request that cannot connect or passes its deadline, or any request once the
    look-up has used ``_LOOKUP_REQUESTS`` timeouts, raises a RemoteError instead, which it does
    not retry.
    """
    import requests

    from nwbsyn.io._http import MAX_REDIRECTS, Watchdog

    dandiapi = require("dandi.dandiapi")
    from dandi.consts import DandiInstance, known_instances

    if api_url:
        instance = DandiInstance(name=api_url, gui=None, api=api_url)
    else:
        instance = known_instances.get(os.environ.get("DANDI_INSTANCE", "dandi"), known_instances["dandi"])
    client = dandiapi.DandiAPIClient(dandi_instance=instance)
    dog, session = Watchdog(), client.session
    adapter = dog.adapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.max_redirects = MAX_REDIRECTS
    request = session.request
    ends_at = time.monotonic() + _LOOKUP_REQUESTS * timeout_s
    where = api_url or instance.api

    def slow() -> RemoteError:
        return RemoteError(f"{where} did not answer within {timeout_s:g} s; try again later or raise "
                           f"{ENV_TIMEOUT}.", transient=True)

    def with_deadline(method, url, **kwargs):
        left_s = ends_at - time.monotonic()
        if left_s <= 0:
            raise slow()
        kwargs.setdefault("timeout", timeout_s)  # the dandi client sets no timeout of its own
        with dog.deadline(min(timeout_s, left_s)):
            try:
                response = request(method, url, **kwargs)
                if not kwargs.get("stream"):
                    response.content  # noqa: B018  (read the body under the deadline)
                return response
            except Exception as err:
                if dog.fired or isinstance(err, requests.Timeout):
                    raise slow() from err
                if isinstance(err, requests.ConnectionError):
                    raise RemoteError(f"Could not connect to {where}; check the API URL ({ENV_API_URL}, or "
                                      "--dandi-api of nwbsyn batch) and your network.", transient=True) from err
                raise

    session.request = with_deadline
    return client


def _dandiset(client, src: RemoteSource):
    return client.get_dandiset(src.dandiset_id, src.version, lazy=False)


def list_assets(dandiset_id: str, *, version: str | None = None, glob: str | None = None,
                api_url: str | None = None, timeout_s: float | None = None) -> list[RemoteSource]:
    """The NWB assets of a dandiset (those matching ``glob`` when given), sorted by path.

    The sources carry the resolved version (latest published, else draft, unless ``version``).

    Example
    -------
    A local stand-in for the DANDI archive (:class:`nwbsyn.testing.servers.FakeDandiArchive`):

    >>> import tempfile
    >>> from nwbsyn.testing import mock_icephys_nwbfile
    >>> from nwbsyn.testing.servers import FakeDandiArchive
    >>> with FakeDandiArchive(tempfile.mkdtemp()) as archive:
    ...     _ = archive.add_asset("000123", "sub-1/sub-1_ses-1.nwb", mock_icephys_nwbfile(n_sweeps=1))
    ...     [str(a) for a in list_assets("000123", api_url=archive.api_url)]
    ['DANDI:000123/sub-1/sub-1_ses-1.nwb@draft']
    """
    import fnmatch

    dandiset_id = dandiset_id.split(":")[-1]
    src = RemoteSource(text=f"DANDI:{dandiset_id}", dandiset_id=dandiset_id, version=version,
                       api_url=_api_url(api_url))
    translate = _dandi_errors(src, "")
    try:
        with _quiet_dandi():
            dandiset = _dandiset(_client(src.api_url, _timeout(timeout_s)), src)
            found = [(a.path, a) for a in dandiset.get_assets(order="path")]
    except Exception as err:
        raise translate(err) from err
    paths = [p for p, _ in found if p.lower().endswith(".nwb") and (glob is None or fnmatch.fnmatchcase(p, glob))]
    # unsafe paths (``..``, absolute) are kept as they are: using them (``relpath``, opening) raises InputError,
    # so a batch records them as failed instead of silently skipping them
    return [RemoteSource(text=f"DANDI:{dandiset_id}/{p}@{dandiset.version_id}", dandiset_id=dandiset_id,
                         asset_path=p, version=dandiset.version_id, api_url=src.api_url) for p in paths]


def resolve_content_url(source, *, api_url: str | None = None, timeout_s: float | None = None) -> str:
    """The URL to stream ``source`` from (for DANDI assets: the asset's content URL)."""
    src = source if isinstance(source, RemoteSource) else parse_source(source, api_url=api_url)
    if src.url:
        return src.url
    if not src.asset_path:
        raise InputError(f"{src.text} names a dandiset, not a file; give an asset path "
                         "(DANDI:000123/sub-x/sub-x_ses-y.nwb) or use 'nwbsyn batch' for whole dandisets.")
    sanitize_asset_path(src.asset_path)
    translate = _dandi_errors(src, src.asset_path)
    try:
        with _quiet_dandi():
            asset = _dandiset(_client(src.api_url, _timeout(timeout_s)), src).get_asset_by_path(src.asset_path)
            return asset.get_content_url(follow_redirects=1, strip_query=True)
    except Exception as err:
        raise translate(err) from err


def _give_up_class():
    """remfile stops retrying on its 'permanent' error; we have already retried by then."""
    try:
        from remfile.RemFile import _PermanentHTTPError as base
    except ImportError:  # pragma: no cover (remfile internals changed: it retries a little longer)
        base = Exception

    class GiveUp(base):
        pass

    return GiveUp


def _is_hdf5_head(head: bytes) -> bool:
    return any(head[offset:offset + 8] == _HDF5_SIGNATURE for offset in (0, 512, 1024, 2048))


def _remote_error(label: str, answer, timeout_s: float) -> RemoteError:
    """One sentence for a failed request of ``label`` (an :class:`nwbsyn.io._http.Answer`)."""
    kind, problem = answer.kind, answer.problem
    if kind == "missing":
        return RemoteError(f"{label} was not found on its server (HTTP {answer.status}); check the URL.")
    if kind == "denied":
        return RemoteError(f"{label}: access denied (HTTP {answer.status}); check the URL or your credentials.")
    if kind == "no_range" and answer.head is not None and not _is_hdf5_head(answer.head):
        return RemoteError(f"{label} is not an HDF5/NWB file (its server sent something else); give the URL of "
                           "an .nwb file.")
    if kind == "no_range":
        return RemoteError(f"The server of {label} does not answer byte-range requests (it {problem}), so it "
                           "cannot be streamed; download the file and give its local path.")
    if kind == "loop":
        return RemoteError(f"{label} redirects in a loop; check the URL.")
    if kind == "slow":
        return RemoteError(f"The server of {label} {problem}; try again later or raise {ENV_TIMEOUT} "
                           f"(now {timeout_s:g} s).", transient=True)
    if kind == "transient":
        return RemoteError(f"The server of {label} {problem}; try again later.", transient=True)
    if answer.status == 416:
        return RemoteError(f"{label} is empty on its server (HTTP 416 for its first bytes); check the URL.")
    return RemoteError(f"The server of {label} {problem}; check the URL.")


class _Session:
    """Byte ranges of one source for remfile and the probe; the failure that ended reading is kept."""

    def __init__(self, label: str, timeout_s: float, retries: int = 3, backoff_s: float = 0.2):
        from nwbsyn.io._http import RangeSession

        self.label, self.timeout_s = label, timeout_s
        self.failure: RemoteError | None = None
        self._ranges = RangeSession(timeout_s=timeout_s, retries=retries, backoff_s=backoff_s,
                                    on_failure=self._failed)
        self._give_up = _give_up_class()

    def _failed(self, answer) -> None:
        self.failure = _remote_error(self.label, answer, self.timeout_s)

    def fetch(self, url: str, start: int, stop: int):
        """(bytes, file size, final URL) or RemoteError."""
        from nwbsyn.io._http import Answer

        try:
            return self._ranges.fetch(url, start, stop)
        except Answer as err:
            raise self.failure from err

    def get(self, url, headers=None, **kwargs):
        """What remfile calls: a checked response, or remfile's 'permanent' error (we retried already)."""
        from nwbsyn.io._http import Answer

        try:
            return self._ranges.get(url, headers=headers)
        except Answer as err:
            if self.failure is None:  # an answer that ended before the retries (an odd Range header)
                self._failed(err)
            raise self._give_up(str(self.failure)) from err

    def close(self):
        self._ranges.close()


def _probe(session: _Session, url: str, label: str) -> tuple[str, int]:
    """Check with one ranged request that ``url`` is an HDF5 file; return (final URL, size)."""
    head, size, final_url = session.fetch(url, 0, 2055)
    if not _is_hdf5_head(head):
        raise RemoteError(f"{label} is not an HDF5/NWB file; give the URL of an .nwb file.")
    return final_url, size


@dataclass
class RemoteHandle:
    """An open streamed file: the h5py File, its source and the session (``failure()`` after errors)."""

    h5: object
    source: RemoteSource
    url: str
    session: _Session

    def failure(self) -> RemoteError | None:
        return self.session.failure


@contextmanager
def open_remote(source, *, api_url: str | None = None, timeout_s: float | None = None):
    """Stream a remote NWB/HDF5 file lazily; yields a :class:`RemoteHandle` (``.h5`` is an h5py File).

    Example
    -------
    A file served with byte ranges on 127.0.0.1 (:class:`nwbsyn.testing.servers.RangeFileServer`)
    stands in for ``https://.../session.nwb`` here:

    >>> import os, tempfile
    >>> from nwbsyn.io.nwb import write_new_nwb
    >>> from nwbsyn.testing import mock_icephys_nwbfile
    >>> from nwbsyn.testing.servers import RangeFileServer
    >>> folder = tempfile.mkdtemp()
    >>> _ = write_new_nwb(mock_icephys_nwbfile(n_sweeps=1), os.path.join(folder, "session.nwb"))
    >>> with RangeFileServer(folder) as server:
    ...     with open_remote(server.url("session.nwb")) as handle:
    ...         print(list(handle.h5["acquisition"]))
    ...     print({status for _, _, status in server.requests})   # byte ranges only
    ['sweep_0']
    {206}
    """
    remfile = require("remfile")
    src = source if isinstance(source, RemoteSource) else parse_source(source, api_url=api_url)
    timeout_s = _timeout(timeout_s)
    url = resolve_content_url(src, timeout_s=timeout_s)
    session = _Session(str(src), timeout_s)
    try:
        url, size = _probe(session, url, str(src))
        try:
            rfile = remfile.File(url, _size=size)  # our probe gave the size: skip remfile's own (no timeout)
        except TypeError:  # pragma: no cover (an older remfile)
            rfile = remfile.File(url)
        rfile.session = session
        h5 = _open_h5(rfile, src, session)
        try:
            yield RemoteHandle(h5=h5, source=src, url=url, session=session)
        finally:
            h5.close()
            rfile.close()
    finally:
        session.close()


def _open_h5(rfile, src: RemoteSource, session: _Session):
    import h5py

    from nwbsyn.io._http import close_hdf5_at_exit

    close_hdf5_at_exit()  # a failed open leaves HDF5 a half-open file that would crash the process at exit
    try:
        return h5py.File(rfile, "r")
    except Exception as err:
        detail = str(err).splitlines()[0][:150] if str(err) else type(err).__name__
        raise (session.failure or RemoteError(
            f"{src} is not a readable HDF5/NWB file ({detail}); it may be truncated - check it with "
            "'nwbsyn validate'.")) from err
