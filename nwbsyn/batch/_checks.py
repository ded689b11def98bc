"""Checks of a batch's options, sources and output folder, made before any task (or network wait) starts."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

from nwbsyn._shared import InputError

__all__ = ["check_run_options", "check_scheduler", "check_sources", "check_out_dir", "check_outputs_are_not_inputs",
           "MAX_RETRIES"]

MAX_RETRIES = 10  # the back-off doubles per attempt: 10 retries already wait about 17 minutes
_SCHEMES = ("tcp", "tls", "ucx", "ws", "wss")
_ADDRESS = re.compile(r"^(?:(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://)?(?P<host>\[[0-9A-Fa-f:.]+\]|[^:/\s\[\]]+)"
                      r"(?::(?P<port>[^/\s]*))?/?$")
_CONNECT_TIMEOUT_S = 5.0


def max_workers() -> int:
    return max(64, 4 * (os.cpu_count() or 1))


def check_run_options(*, retries, n_workers, scheduler, dandi_api_url) -> None:
    """Refuse retries, worker counts, scheduler addresses and API URLs that cannot work (CLI spellings)."""
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= MAX_RETRIES:
        raise InputError(f"--retries must be an integer from 0 to {MAX_RETRIES}; got {retries}.")
    if n_workers is not None:
        if isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 1:
            raise InputError(f"--workers must be at least 1; got {n_workers}.")
        if n_workers > max_workers():
            raise InputError(f"--workers {n_workers} is more than this machine can run ({os.cpu_count()} CPU "
                             f"cores); use at most {max_workers()}, or --scheduler for a cluster.")
    if isinstance(scheduler, str) and scheduler != "inline":
        check_scheduler(scheduler)
    if dandi_api_url is not None and not re.match(r"^https?://[^/\s]+", str(dandi_api_url).strip()):
        raise InputError(f"--dandi-api {dandi_api_url!r} is not an http(s) URL; give e.g. "
                         "https://api.dandiarchive.org/api.")


def check_scheduler(address: str) -> tuple[str, str, int]:
    """Parse ``tcp://HOST:PORT`` (or ``HOST:PORT``) and make sure something listens there, within 5 s."""
    how = "give the address the Dask scheduler prints, e.g. --scheduler tcp://10.0.0.5:8786"
    text = address.strip()
    match = _ADDRESS.match(text)
    if not text or match is None:
        raise InputError(f"--scheduler {address!r} is not a scheduler address; {how}.")
    scheme = (match.group("scheme") or "tcp").lower()
    if scheme not in _SCHEMES:
        raise InputError(f"--scheduler {address!r} uses the unknown protocol {scheme}://; use one of "
                         f"{', '.join(s + '://' for s in _SCHEMES)} ({how}).")
    host, port_text = match.group("host").strip("[]"), match.group("port")
    if not port_text or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise InputError(f"--scheduler {address!r} has no valid port (1-65535); {how}.")
    port = int(port_text)
    if scheme in ("tcp", "tls"):
        _probe(host, port, address, handshake=scheme == "tcp")  # under TLS the client speaks first
    return scheme, host, port


def _probe(host: str, port: int, address: str, *, handshake: bool = True) -> None:
    """Connect once, with a short deadline, so that a wrong address fails now and not after a long wait.

    A Dask scheduler speaks first (its handshake frame); a server that stays silent, trickles or
    sends something else is not one, and a Dask client would wait for it without end.
    """
    try:
        with socket.create_connection((host, port), timeout=_CONNECT_TIMEOUT_S) as conn:
            if handshake and not _sends_dask_handshake(conn):
                raise InputError(f"The server at --scheduler {address} answers, but not as a Dask scheduler; give "
                                 "the address the Dask scheduler prints (usually port 8786).")
    except socket.gaierror as err:
        raise InputError(f"The Dask scheduler host in --scheduler {address} is unknown ({err.strerror or err}); "
                         "check the address.") from err
    except (OSError, UnicodeError) as err:
        reason = "no answer within 5 s" if isinstance(err, TimeoutError) else (getattr(err, "strerror", None)
                                                                                   or str(err) or "unreachable")
        raise InputError(f"Could not reach the Dask scheduler at {address} ({reason}); check the address and that "
                         "the scheduler is running.") from err


def _sends_dask_handshake(conn: socket.socket, *, deadline_s: float = 3.0) -> bool:
    """True when the first 16 bytes, within ``deadline_s``, look like a Dask frame header (total
    length, then the number of frames, little-endian 64-bit)."""
    import time

    end = time.monotonic() + deadline_s
    head = b""
    while len(head) < 16:
        left = end - time.monotonic()
        if left <= 0:
            return False
        conn.settimeout(left)
        try:
            chunk = conn.recv(16 - len(head))
        except (socket.timeout, OSError):
            return False
        if not chunk:
            return False
        head += chunk
    total, n_frames = int.from_bytes(head[:8], "little"), int.from_bytes(head[8:16], "little")
    return 0 < total < (1 << 24) and 1 <= n_frames <= 64


def _is_named_remotely(text: str) -> bool:
    from nwbsyn.batch._sources import _dandiset
    from nwbsyn.io.remote import is_remote

    return _dandiset(text, None) is not None or is_remote(text)


def check_sources(sources) -> None:
    """Refuse no sources, empty ones, and local paths that do not exist (remote ones are listed later)."""
    items = [sources] if isinstance(sources, (str, Path)) else list(sources or [])
    if not items:
        raise InputError("No sources were given; name a dandiset, a DANDI asset, a URL, an .nwb file or a folder.")
    for item in items:
        text = str(item).strip()
        if not text or (isinstance(item, str) and not item.strip()):
            raise InputError("A source is empty; name a dandiset, a DANDI asset, a URL, an .nwb file or a folder.")
        if isinstance(item, str) and _is_named_remotely(text):
            continue
        if not Path(text).exists():
            raise InputError(f"{text}: no such file, folder, URL or dandiset; check the source.")


def check_out_dir(out_dir: Path, sources) -> None:
    """``--out`` must be a folder (or not exist yet) and must not be, or lie inside, a source folder."""
    text = str(out_dir).strip()
    if not text:
        raise InputError("--out is empty; give the folder for the results.")
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out {out_dir} is a file; give a folder for the results (it is created when missing).")
    real_out = Path(os.path.realpath(out_dir))
    items = [sources] if isinstance(sources, (str, Path)) else list(sources or [])
    for item in items:
        text = str(item).strip()
        if not text or (isinstance(item, str) and _is_named_remotely(text)):
            continue
        source = Path(os.path.realpath(text))
        if source.is_dir() and (real_out == source or source in real_out.parents):
            raise InputError(f"--out {out_dir} is inside the source folder {item}; its outputs would be read as "
                             "inputs next time - choose a folder outside it.")


def check_outputs_are_not_inputs(jobs, out_dir: Path) -> None:
    """No job may write over a local input (e.g. a source file that lies in --out)."""
    from nwbsyn.io.output import same_file
    from nwbsyn.io.remote import is_remote

    for job in jobs:
        if job.relpath is None or is_remote(job.source):
            continue
        if same_file(out_dir / job.relpath, job.source):
            raise InputError(f"The output of {job.asset} would be the input itself ({out_dir / job.relpath}); "
                             "choose another --out folder (inputs are never overwritten).")
