"""Loopback HTTP servers for offline tests of streaming and DANDI access.

* :class:`RangeFileServer` serves a directory with HTTP ``Range`` support (Python's
  ``http.server`` ignores ``Range``), counts the bytes it sends and can inject failures:
  error statuses, delays and dropped connections.
* :class:`FakeDandiArchive` answers the few routes of the DANDI REST API that the ``dandi``
  client uses to find an asset and its content URL, and serves the asset files through a
  :class:`RangeFileServer`. Asset paths are plain metadata here, so a test can publish a
  malicious one (``../../x.nwb``).

Both listen on 127.0.0.1 only and run in daemon threads.

Example
-------
>>> import tempfile
>>> from nwbsyn import io
>>> from nwbsyn.testing import mock_icephys_nwbfile
>>> with FakeDandiArchive(tempfile.mkdtemp()) as archive:
...     _ = archive.add_asset("000123", "sub-1/sub-1_ses-1.nwb", mock_icephys_nwbfile(n_sweeps=1))
...     with io.open_nwb("DANDI:000123/sub-1/sub-1_ses-1.nwb", dandi_api_url=archive.api_url) as nwbfile:
...         sorted(nwbfile.acquisition)
['sweep_0']
"""

from __future__ import annotations

import fnmatch
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["RangeFileServer", "FakeDandiArchive", "Failure"]

_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


@dataclass
class Failure:
    """An injected failure for requests whose path matches ``pattern`` (fnmatch).

    ``kind`` is one of

    * ``"status"``: answer ``status``;
    * ``"delay"``: sleep ``seconds``, then answer normally;
    * ``"drop"``: send the headers and half the body, then close the connection;
    * ``"short"``: send half the body with a Content-Length that matches it (a short range);
    * ``"long_length"``: announce a Content-Length larger than the body, send the body, close;
    * ``"trickle"``: send the body one byte every ``seconds``;
    * ``"trickle_headers"``: send the status line and headers one byte every ``seconds``;
    * ``"redirect_loop"``: answer 302 pointing at the same URL;
    * ``"html"``: answer 200 with an HTML page instead of the file;
    * ``"no_range"``: ignore ``Range`` and send the whole file with 200;
    * ``"wrong_total"``: answer the range, but claim a total size ``status`` times larger in Content-Range;
    * ``"reset"``: close the connection without answering.

    ``after`` lets that many matching requests through first; ``times`` limits how many
    requests it hits after that (None: all).
    """

    pattern: str = "*"
    kind: str = "status"
    status: int = 500
    seconds: float = 0.0
    times: int | None = None
    after: int = 0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):  # clients that hang up early are normal here
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class _Base:
    """Start/stop, failure injection and request bookkeeping shared by both servers."""

    def __init__(self):
        self._lock = threading.Lock()
        self.failures: list[Failure] = []
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status)
        self.bytes_served = 0
        self._httpd = _Server(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def inject(self, failure: Failure | None = None, **kwargs) -> Failure:
        """Add a failure rule (a :class:`Failure` or its fields as keywords); returns it."""
        failure = failure or Failure(**kwargs)
        with self._lock:
            self.failures.append(failure)
        return failure

    def clear_failures(self) -> None:
        with self._lock:
            self.failures.clear()

    def reset_counters(self) -> None:
        with self._lock:
            self.requests.clear()
            self.bytes_served = 0

    def _take_failure(self, path: str) -> Failure | None:
        with self._lock:
            for failure in self.failures:
                if fnmatch.fnmatchcase(path, failure.pattern) and (failure.times is None or failure.times > 0):
                    if failure.after > 0:
                        failure.after -= 1
                        return None
                    if failure.times is not None:
                        failure.times -= 1
                    return failure
        return None

    def _record(self, method: str, path: str, status: int, n_bytes: int) -> None:
        with self._lock:
            self.requests.append((method, path, status))
            self.bytes_served += n_bytes

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _handler_class(self):
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                self._dispatch(head=False)

            def do_HEAD(self):
                self._dispatch(head=True)

            def _dispatch(self, head: bool):
                path = urlsplit(self.path).path
                failure = owner._take_failure(path)
                self.failure = None  # one handler serves several requests on a kept-alive connection
                if failure is not None and failure.kind == "delay":
                    time.sleep(failure.seconds)
                    failure = None
                if failure is not None and failure.kind == "status":
                    self.send_bytes(b"injected failure", status=failure.status, head=head)
                    return
                if failure is not None and failure.kind in _ANSWERS:
                    _ANSWERS[failure.kind](self, failure, head)
                    return
                self.failure = failure
                owner._respond(self, head=head, drop=failure is not None and failure.kind == "drop")

            def send_bytes(self, body: bytes, *, status: int = 200, head: bool = False, headers=None,
                           drop: bool = False, content_type: str = "application/octet-stream"):
                failure = getattr(self, "failure", None)
                kind = failure.kind if failure is not None else "drop" if drop else None
                headers = dict(headers or {})
                if kind == "wrong_total" and "Content-Range" in headers:
                    span, total = headers["Content-Range"].rsplit("/", 1)
                    headers["Content-Range"] = f"{span}/{int(total) * max(2, failure.status)}"
                if kind == "no_range" and status == 206:  # a server that ignores Range (body: the range)
                    status, headers = 200, {}
                length = {"short": len(body) // 2, "long_length": len(body) + 1000}.get(kind, len(body))
                part = body[: len(body) // 2] if kind in ("drop", "short") else body
                closing = kind in ("drop", "short", "long_length", "trickle")
                if kind == "trickle_headers":
                    self._trickle(f"HTTP/1.1 {status} OK\r\nContent-Length: {len(body)}\r\n\r\n".encode(),
                                  failure.seconds)
                    self.close_connection = True
                    return
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(length))
                for key, value in headers.items():
                    self.send_header(key, value)
                if closing:
                    self.send_header("Connection", "close")
                self.end_headers()
                sent = 0
                if not head:
                    try:
                        if kind == "trickle":
                            sent = self._trickle(part, failure.seconds)
                        else:
                            self.wfile.write(part)
                            sent = len(part)
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                if closing:
                    self.close_connection = True
                owner._record(self.command, self.path, status, sent)

            def _trickle(self, data: bytes, seconds: float) -> int:
                """Send ``data`` one byte every ``seconds`` (stops when the client hangs up)."""
                sent = 0
                try:
                    for i in range(len(data)):
                        self.wfile.write(data[i:i + 1])
                        self.wfile.flush()
                        sent += 1
                        time.sleep(seconds)
                except (BrokenPipeError, ConnectionResetError, OSError):
                    pass
                return sent

        return Handler


def _redirect_loop(handler, failure, head):
    handler.failure = None
    handler.send_bytes(b"", status=302, head=head, headers={"Location": handler.path})


def _html(handler, failure, head):
    handler.failure = None
    handler.send_bytes(b"<!DOCTYPE html><html><body>Please log in</body></html>" * 40, head=head,
                       content_type="text/html")


def _reset(handler, failure, head):
    handler.close_connection = True
    handler.wfile.flush()
    try:
        handler.connection.shutdown(2)
    except OSError:
        pass


_ANSWERS = {"redirect_loop": _redirect_loop, "html": _html, "reset": _reset}


class RangeFileServer(_Base):
    """Serve the files under ``directory`` at ``base_url`` with byte-range support.

    Example
    -------
    >>> import os, tempfile
    >>> import requests
    >>> folder = tempfile.mkdtemp()
    >>> with open(os.path.join(folder, "session.nwb"), "wb") as f:
    ...     _ = f.write(bytes(range(100)))
    >>> with RangeFileServer(folder) as server:
    ...     answer = requests.get(server.url("session.nwb"), headers={"Range": "bytes=10-19"}, timeout=5)
    ...     print(answer.status_code, list(answer.content), server.bytes_served)
    ...     _ = server.inject(kind="status", status=503, times=1)   # the next request fails once
    ...     print([requests.get(server.url("session.nwb"), timeout=5).status_code for _ in range(2)])
    206 [10, 11, 12, 13, 14, 15, 16, 17, 18, 19] 10
    [503, 200]
    """

    def __init__(self, directory):
        self.directory = Path(directory).resolve()
        super().__init__()

    def url(self, relpath: str) -> str:
        return f"{self.base_url}/{relpath.lstrip('/')}"

    def _respond(self, handler, *, head: bool, drop: bool) -> None:
        rel = unquote(urlsplit(handler.path).path).lstrip("/")
        target = (self.directory / rel).resolve()
        if not target.is_file() or self.directory not in target.parents:
            handler.send_bytes(b"not found", status=404, head=head)
            return
        size = target.stat().st_size
        spec = handler.headers.get("Range")
        if spec is None:
            handler.send_bytes(target.read_bytes(), head=head, drop=drop, headers={"Accept-Ranges": "bytes"})
            return
        match = _RANGE.match(spec.strip())
        if not match or not any(match.groups()):
            handler.send_bytes(b"bad range", status=416, head=head)
            return
        first, last = match.groups()
        if first == "":  # suffix range: the last N bytes
            start, stop = max(0, size - int(last)), size - 1
        else:
            start, stop = int(first), min(int(last) if last else size - 1, size - 1)
        if start >= size or start > stop:
            handler.send_bytes(b"", status=416, head=head, headers={"Content-Range": f"bytes */{size}"})
            return
        with open(target, "rb") as f:  # read only the range: files may be large
            f.seek(start)
            body = f.read(stop - start + 1)
        handler.send_bytes(body, status=206, head=head, drop=drop,
                           headers={"Content-Range": f"bytes {start}-{stop}/{size}", "Accept-Ranges": "bytes"})


_T0 = "2026-01-01T12:00:00.000000Z"


class FakeDandiArchive(_Base):
    """A DANDI API on 127.0.0.1 (``api_url``) with its own :class:`RangeFileServer` for the blobs.

    Parameters
    ----------
    directory : str or Path
        Where the asset files are stored (``blobs/<asset_id>.nwb``).

    Routes: ``/server-info``, ``/api/info/``, ``/api/dandisets/{id}/``,
    ``/api/dandisets/{id}/versions/{v}/info/``, ``/api/dandisets/{id}/versions/{v}/assets/``
    (``?path=`` prefix, ``?glob=``), ``/api/dandisets/{id}/versions/{v}/assets/{asset}/``,
    ``/api/assets/{asset}/`` and ``/api/assets/{asset}/download/`` (302 to the file server).
    """

    def __init__(self, directory):
        self.directory = Path(directory)
        (self.directory / "blobs").mkdir(parents=True, exist_ok=True)
        self.files = RangeFileServer(self.directory)
        self.dandisets: dict[str, dict] = {}  # id → {"published": str | None, "assets": {path: asset_id}}
        self.assets: dict[str, dict] = {}  # asset_id → {"path", "size", "blob"}
        super().__init__()

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api"

    def close(self) -> None:
        super().close()
        self.files.close()

    def add_dandiset(self, dandiset_id: str, *, published_version: str | None = None) -> None:
        self.dandisets.setdefault(dandiset_id, {"published": None, "assets": {}})
        if published_version:
            self.dandisets[dandiset_id]["published"] = published_version

    def add_asset(self, dandiset_id: str, asset_path: str, content) -> str:
        """Publish ``content`` (an NWBFile, bytes or a file path) at ``asset_path``; returns the asset id."""
        self.add_dandiset(dandiset_id)
        asset_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{dandiset_id}/{asset_path}"))
        blob = self.directory / "blobs" / f"{asset_id}.nwb"
        if isinstance(content, (bytes, bytearray)):
            blob.write_bytes(content)
        elif isinstance(content, (str, Path)):
            blob.write_bytes(Path(content).read_bytes())
        else:
            from pynwb import NWBHDF5IO

            with NWBHDF5IO(str(blob), "w") as io:
                io.write(content)
        self.dandisets[dandiset_id]["assets"][asset_path] = asset_id
        self.assets[asset_id] = {"path": asset_path, "size": blob.stat().st_size, "blob": f"blobs/{asset_id}.nwb"}
        return asset_id

    def content_url(self, asset_id: str) -> str:
        return self.files.url(self.assets[asset_id]["blob"])

    # --- the API ---------------------------------------------------------------------------
    def _version(self, dandiset_id: str, version: str) -> dict:
        info = self.dandisets[dandiset_id]
        size = sum(self.assets[a]["size"] for a in info["assets"].values())
        return {"version": version, "name": f"Dandiset {dandiset_id}", "asset_count": len(info["assets"]),
                "size": size, "created": _T0, "modified": _T0,
                "status": "Published" if version != "draft" else "Valid"}

    def _asset(self, asset_id: str) -> dict:
        a = self.assets[asset_id]
        return {"asset_id": asset_id, "blob": asset_id, "path": a["path"], "size": a["size"],
                "created": _T0, "modified": _T0}

    def _metadata(self, asset_id: str) -> dict:
        a = self.assets[asset_id]
        return {"id": f"dandiasset:{asset_id}", "identifier": asset_id, "path": a["path"],
                "contentSize": a["size"], "encodingFormat": "application/x-nwb",
                "contentUrl": [f"{self.api_url}/assets/{asset_id}/download/", self.content_url(asset_id)],
                "digest": {"dandi:dandi-etag": "0" * 32 + "-1"}}

    def _route(self, path: str, query: dict):
        """(status, json body or redirect location) for an API path."""
        if path in ("/server-info", "/api/info/"):
            return 200, {"version": "0.0.0", "cli-minimal-version": "0.0.1", "cli-bad-versions": [],
                         "services": {"api": {"url": self.api_url}, "webui": {"url": self.base_url}}}
        parts = [p for p in path.split("/") if p]
        if parts[:2] == ["api", "assets"] and len(parts) >= 3 and parts[2] in self.assets:
            if parts[3:] == ["download"]:
                return 302, self.content_url(parts[2])
            if len(parts) == 3:
                return 200, self._metadata(parts[2])
        if parts[:2] != ["api", "dandisets"] or len(parts) < 3 or parts[2] not in self.dandisets:
            return 404, {"detail": "Not found."}
        dandiset_id, info = parts[2], self.dandisets[parts[2]]
        versions = ["draft"] + ([info["published"]] if info["published"] else [])
        if len(parts) == 3:
            published = self._version(dandiset_id, info["published"]) if info["published"] else None
            return 200, {"identifier": dandiset_id, "created": _T0, "modified": _T0, "contact_person": "Doe, Jane",
                         "embargo_status": "OPEN", "most_recent_published_version": published,
                         "draft_version": self._version(dandiset_id, "draft")}
        if parts[3] != "versions" or len(parts) < 5 or parts[4] not in versions:
            return 404, {"detail": "Not found."}
        version, rest = parts[4], parts[5:]
        if rest == ["info"]:
            return 200, dict(self._version(dandiset_id, version), asset_validation_errors=[],
                             version_validation_errors=[])
        if rest == ["assets"]:
            prefix, glob = query.get("path", [""])[0], query.get("glob", [None])[0]
            found = [self._asset(a) for p, a in sorted(info["assets"].items())
                     if p.startswith(prefix) and (glob is None or fnmatch.fnmatchcase(p, glob))]
            return 200, {"count": len(found), "next": None, "previous": None, "results": found}
        if len(rest) >= 2 and rest[0] == "assets" and rest[1] in info["assets"].values():
            return 200, self._metadata(rest[1]) if rest[2:] != ["info"] else dict(
                self._asset(rest[1]), metadata=self._metadata(rest[1]))
        return 404, {"detail": "Not found."}

    def _respond(self, handler, *, head: bool, drop: bool) -> None:
        split = urlsplit(handler.path)
        status, body = self._route(split.path, parse_qs(split.query))
        if status == 302:
            handler.send_bytes(b"", status=302, head=head, headers={"Location": body})
            return
        handler.send_bytes(json.dumps(body).encode(), status=status, head=head, drop=drop,
                           content_type="application/json")
