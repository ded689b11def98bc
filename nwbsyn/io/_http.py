"""HTTP for streamed inputs: byte ranges with an overall deadline, checked lengths and retries.

``requests`` only bounds the wait for each packet, so a server that sends one byte a second
never times out. Here every request runs under a :class:`Watchdog`: when its deadline passes,
the sockets of that request are shut down, the blocked read returns and the request fails
with one sentence. Every answer is checked against what was asked for (status, Content-Range,
length) before any of it reaches h5py, and its body is never read past that length.

:func:`close_hdf5_at_exit` works around a crash: when h5py fails to open a file object (a
connection dropped while HDF5 read the superblock), HDF5 keeps a half-open file whose driver
calls back into Python at process exit, after the interpreter is gone (exit code -11). It
closes HDF5 from an ``atexit`` hook, while Python is still alive.
"""

from __future__ import annotations

import atexit
import socket
import threading
import time
import weakref

__all__ = ["Answer", "Watchdog", "RangeSession", "session_with_deadlines", "close_hdf5_at_exit"]

MIN_RATE_BYTES_PER_S = 256 * 1024  # a request for n bytes may take timeout_s + n / this
MAX_REDIRECTS = 10
TRANSIENT_STATUS = (429, 500, 502, 503, 504)
_READ_BLOCK = 64 * 1024


class Watchdog:
    """Shut down the sockets of the connections it tracks when a deadline passes.

    Example
    -------
    A server on 127.0.0.1 that sends one byte every 0.2 s is cut off after 0.5 s:

    >>> import os, tempfile
    >>> import requests
    >>> from nwbsyn.testing.servers import RangeFileServer
    >>> folder = tempfile.mkdtemp()
    >>> with open(os.path.join(folder, "blob.bin"), "wb") as f:
    ...     _ = f.write(bytes(100))
    >>> dog = Watchdog()
    >>> session = session_with_deadlines(dog)   # its adapter is ``dog.adapter()``
    >>> with RangeFileServer(folder) as server:
    ...     with dog.deadline(5.0):
    ...         print(session.get(server.url("blob.bin"), timeout=5).status_code, dog.fired)
    ...     _ = server.inject(kind="trickle", seconds=0.2)
    ...     with dog.deadline(0.5):
    ...         try:
    ...             session.get(server.url("blob.bin"), timeout=5).content
    ...         except requests.RequestException:
    ...             print("cut off:", dog.fired)
    200 False
    cut off: True
    """

    def __init__(self):
        self._sockets = weakref.WeakSet()  # a response keeps its socket after its connection lets go of it
        self._lock = threading.Lock()
        self.fired = False

    def track(self, sock) -> None:
        if sock is None:
            return
        with self._lock:
            self._sockets.add(sock)

    def _fire(self) -> None:
        self.fired = True
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            try:  # the plain socket call, also for TLS sockets: the blocked read returns at once
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except (OSError, TypeError):
                pass

    def deadline(self, seconds: float):
        """Context manager: run the body under a deadline; ``fired`` tells whether it passed."""
        return _Deadline(self, seconds)

    def adapter(self):
        """A requests adapter whose connections this watchdog tracks."""
        from requests.adapters import HTTPAdapter
        from urllib3.connection import HTTPConnection, HTTPSConnection
        from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

        dog = self

        class Http(HTTPConnection):
            def connect(self):
                super().connect()
                dog.track(self.sock)

        class Https(HTTPSConnection):
            def connect(self):
                super().connect()
                dog.track(self.sock)

        class HttpPool(HTTPConnectionPool):
            ConnectionCls = Http

        class HttpsPool(HTTPSConnectionPool):
            ConnectionCls = Https

        class Adapter(HTTPAdapter):
            def init_poolmanager(self, *args, **kwargs):
                super().init_poolmanager(*args, **kwargs)
                self.poolmanager.pool_classes_by_scheme = {"http": HttpPool, "https": HttpsPool}

        return Adapter()


class _Deadline:
    def __init__(self, dog: Watchdog, seconds: float):
        self.dog, self.seconds = dog, seconds

    def __enter__(self):
        self.dog.fired = False
        self._timer = threading.Timer(self.seconds, self.dog._fire)
        self._timer.daemon = True
        self._timer.start()
        return self.dog

    def __exit__(self, *exc):
        self._timer.cancel()
        return False


def session_with_deadlines(dog: Watchdog):
    """A requests Session whose connections ``dog`` can cut, with a bounded number of redirects."""
    import requests

    session = requests.Session()
    adapter = dog.adapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.max_redirects = MAX_REDIRECTS
    return session


class Answer(Exception):
    """Why a request failed: ``problem`` ends a sentence that starts with the server; ``retry`` says whether
    trying again may help; ``kind`` is one of transient, slow, missing, denied, no_range, status, loop, bad."""

    def __init__(self, problem: str, *, retry: bool, kind: str = "bad", status: int | None = None):
        super().__init__(problem)
        self.problem, self.retry, self.kind, self.status = problem, retry, kind, status
        self.head: bytes | None = None  # the first bytes of a whole-file answer (is it HDF5 at all?)


class RangeSession:
    """Fetch byte ranges of one URL with an overall deadline per request and checked answers.

    ``fetch(start, stop)`` returns ``(bytes, file_size, final_url)`` or raises :class:`Answer`
    after the retries. ``get(url, headers=...)`` is the ``requests.Session.get`` that remfile
    calls; it returns a response whose ``content`` is already read and checked.
    """

    def __init__(self, *, timeout_s: float, retries: int = 3, backoff_s: float = 0.2, on_failure=None):
        self.timeout_s, self.retries, self.backoff_s = timeout_s, retries, backoff_s
        self.dog = Watchdog()
        self._session = session_with_deadlines(self.dog)
        self._on_failure = on_failure  # called with the Answer that ended a fetch
        self.size: int | None = None  # known after the first answer

    def deadline_s(self, n_bytes: int) -> float:
        return self.timeout_s + n_bytes / MIN_RATE_BYTES_PER_S

    def fetch(self, url: str, start: int, stop: int):
        answer = None
        for attempt in range(self.retries + 1):
            try:
                return self._fetch_once(url, start, stop)
            except Answer as err:
                answer = err
            if not answer.retry:
                break
            if attempt < self.retries:
                time.sleep(self.backoff_s * 2 ** attempt)
        if answer.retry:
            answer.problem += f" after {self.retries + 1} tries"
        if self._on_failure is not None:
            self._on_failure(answer)
        raise answer

    def _fetch_once(self, url: str, start: int, stop: int):
        import requests

        limit_s = self.deadline_s(stop - start + 1)
        with self.dog.deadline(limit_s) as dog:
            try:
                response = self._session.get(url, headers={"Range": f"bytes={start}-{stop}"}, stream=True,
                                             timeout=self.timeout_s)
                with response:
                    size = self._check_answer(response, start, stop)
                    body = _read_body(response, min(stop, size - 1) - start + 1)
            except Answer as err:
                if dog.fired:
                    raise Answer(f"did not send {stop - start + 1} bytes within {limit_s:.1f} s", retry=False,
                                 kind="slow") from err
                raise
            except requests.TooManyRedirects as err:
                raise Answer("redirects in a loop", retry=False, kind="loop") from err
            except Exception as err:  # requests, urllib3, http.client and socket errors
                if dog.fired:
                    raise Answer(f"did not send {stop - start + 1} bytes within {limit_s:.1f} s", retry=False,
                                 kind="slow") from err
                if isinstance(err, requests.Timeout):
                    raise Answer(f"did not answer within {self.timeout_s:g} s", retry=True, kind="slow") from err
                raise Answer(f"dropped the connection ({type(err).__name__})", retry=True, kind="transient") from err
        self.size = size
        return body, size, response.url

    def _check_answer(self, response, start: int, stop: int) -> int:
        """The file size from an answer to ``Range: bytes=start-stop``, or Answer."""
        status = response.status_code
        if status in TRANSIENT_STATUS:
            raise Answer(f"answered HTTP {status}", retry=True, kind="transient", status=status)
        if status in (404, 410):
            raise Answer(f"answered HTTP {status} (not found)", retry=False, kind="missing", status=status)
        if status in (401, 403):
            raise Answer(f"refused access (HTTP {status})", retry=False, kind="denied", status=status)
        if status == 200:
            answer = Answer("sent the whole file for a byte-range request (HTTP 200)", retry=False, kind="no_range",
                            status=status)
            answer.head = response.raw.read(2056, decode_content=False) if start == 0 else None
            raise answer
        if status != 206:
            raise Answer(f"answered HTTP {status}", retry=False, kind="status", status=status)
        first, last, size = _content_range(response.headers.get("Content-Range", ""))
        if size is None:
            raise Answer("sent no usable Content-Range", retry=False, kind="no_range", status=status)
        if self.size is not None and size != self.size:
            raise Answer(f"changed the file size from {self.size} to {size} bytes", retry=False, status=status)
        expected_last = min(stop, size - 1)
        if first != start or last != expected_last:
            raise Answer(f"sent bytes {first}-{last} for a request of bytes {start}-{expected_last}", retry=True,
                         kind="transient", status=status)
        length = response.headers.get("Content-Length")
        if length is not None and length.strip().isdigit() and int(length) != last - first + 1:
            raise Answer(f"announced {int(length)} bytes for a range of {last - first + 1}", retry=True,
                         kind="transient", status=status)
        return size

    def get(self, url, headers=None, **_kwargs):
        """``requests.Session.get`` for remfile: a checked, fully read response (or Answer)."""
        import requests

        start, stop = _range_header((headers or {}).get("Range", ""))
        body, _size, final_url = self.fetch(url, start, stop)
        response = requests.Response()
        response.status_code, response.reason, response.url = 206, "Partial Content", final_url
        response._content, response._content_consumed = body, True
        return response

    def close(self):
        self._session.close()


def _read_body(response, n_bytes: int) -> bytes:
    """Exactly ``n_bytes`` of the body (never more); a shorter body is a dropped connection."""
    parts, got = [], 0
    while got < n_bytes:
        block = response.raw.read(min(_READ_BLOCK, n_bytes - got), decode_content=False)
        if not block:
            break
        parts.append(block)
        got += len(block)
    if got != n_bytes:
        raise Answer(f"sent {got} of {n_bytes} bytes and closed the connection", retry=True, kind="transient")
    return b"".join(parts)


def _content_range(text: str) -> tuple[int | None, int | None, int | None]:
    """``bytes 0-99/1000`` -> (0, 99, 1000); (None, None, None) when unusable."""
    try:
        unit, _, rest = text.strip().partition(" ")
        span, _, total = rest.partition("/")
        first, _, last = span.partition("-")
        first, last, total = int(first), int(last), int(total)
    except ValueError:
        return None, None, None
    if unit.lower() != "bytes" or not 0 <= first <= last < total:
        return None, None, None
    return first, last, total


def _range_header(text: str) -> tuple[int, int]:
    unit, _, span = text.partition("=")
    first, _, last = span.partition("-")
    if unit.strip() != "bytes" or not first.strip().isdigit() or not last.strip().isdigit():
        raise Answer(f"was asked for an unsupported range {text!r}", retry=False)
    return int(first), int(last)


_EXIT_HOOK = []


def close_hdf5_at_exit() -> None:
    """Close every HDF5 object from an ``atexit`` hook (once), while the interpreter still runs."""
    if _EXIT_HOOK:
        return
    _EXIT_HOOK.append(True)
    atexit.register(_close_hdf5)


def _hdf5_library():
    import ctypes
    import os

    try:
        with open("/proc/self/maps") as maps:
            paths = sorted({line.split()[-1] for line in maps if "/libhdf5" in line})
    except OSError:  # not Linux: the hook does nothing there
        return None
    paths = [p for p in paths if not os.path.basename(p).startswith("libhdf5_")]  # not _hl, _cpp
    return ctypes.CDLL(paths[0]) if paths else None


def _close_hdf5() -> None:
    try:
        from h5py._objects import phil

        library = _hdf5_library()
        if library is not None:
            with phil:
                library.H5close()
    except Exception:  # pragma: no cover (best effort at exit)
        pass
