"""Hostile servers for remote inputs (URLs and DANDI assets), served on 127.0.0.1.

Every failure (a connection dropped mid-body, a short body, a wrong Content-Length, a trickle of
one byte at a time, redirect loops, HTML instead of the file, HTTP errors, damaged files) ends
in exit 2 with one sentence, within the deadline, with nothing written, and never a crash at
interpreter exit (checked in a subprocess: exit 2, not -11).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

pytest.importorskip("remfile")
pytest.importorskip("dandi")

from hostile_harness import HostileCase  # noqa: E402

from conftest import write_nwbfile  # noqa: E402
from nwbsyn.testing.servers import FakeDandiArchive, Failure, RangeFileServer  # noqa: E402

TIMEOUT_S = "1"
ASSET = "sub-1/sub-1_ses-1.nwb"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from nwbsyn.testing import mock_icephys_nwbfile

    root = tmp_path_factory.mktemp("served")
    good = write_nwbfile(mock_icephys_nwbfile(n_sweeps=2, duration_s=2.0, rng=5), root / "good.nwb")
    raw = good.read_bytes()
    (root / "truncated.nwb").write_bytes(raw[: len(raw) // 2])
    (root / "text.nwb").write_text("this is not an NWB file\n" * 200)
    (root / "empty.nwb").write_bytes(b"")
    (root / "tiny.nwb").write_bytes(b"\x89HDF")
    _broken_copies(good, root)
    with RangeFileServer(root) as server:
        yield server


@pytest.fixture(autouse=True)
def _short_timeout(monkeypatch, served):
    monkeypatch.setenv("NWBSYN_REMOTE_TIMEOUT_S", TIMEOUT_S)
    monkeypatch.setenv("DANDI_NO_ET", "1")
    served.clear_failures()
    yield
    served.clear_failures()


def _broken_copies(good, root) -> None:
    import shutil

    import h5py
    import numpy as np

    for name in ("cycle", "dangling_link", "nan_rate", "unknown_namespace"):
        path = shutil.copy(good, root / f"{name}.nwb")
        with h5py.File(path, "r+") as f:
            if name == "cycle":
                f["acquisition/loop"] = f["/"]
            elif name == "dangling_link":
                del f["general/intracellular_ephys/elec0"]
            elif name == "nan_rate":
                f["acquisition/sweep_0/starting_time"].attrs["rate"] = np.nan
            else:
                f["acquisition/sweep_1"].attrs["namespace"] = "ndx-alien"


FAILURES = {  # name: (Failure fields, a substring of the message)
    "drop_probe": (dict(kind="drop"), "dropped the connection"),
    "drop_body": (dict(kind="drop", after=1), "dropped the connection"),
    "drop_later": (dict(kind="drop", after=3), "dropped the connection"),
    "short_body": (dict(kind="short", after=1), "announced"),
    "long_length": (dict(kind="long_length", after=1), "announced"),
    "trickle_body": (dict(kind="trickle", seconds=0.5, after=1), "within"),
    "trickle_probe": (dict(kind="trickle", seconds=0.5), "within"),
    "trickle_headers": (dict(kind="trickle_headers", seconds=0.5), "within"),
    "redirect_loop": (dict(kind="redirect_loop"), "redirects in a loop"),
    "html_page": (dict(kind="html"), "not an HDF5/NWB file"),
    "no_range": (dict(kind="no_range"), "byte-range"),
    "wrong_total": (dict(kind="wrong_total", status=3, after=1), "changed the file size"),
    "reset": (dict(kind="reset", after=1), "dropped the connection"),
    "http_503": (dict(kind="status", status=503), "HTTP 503"),
    "http_404": (dict(kind="status", status=404), "not found"),
    "http_403": (dict(kind="status", status=403), "access denied"),
    "http_500_later": (dict(kind="status", status=500, after=2), "HTTP 500"),
}


@pytest.mark.parametrize("command", ["info", "validate"])
@pytest.mark.parametrize("name", sorted(FAILURES))
def test_a_failing_server_is_one_sentence(name, command, served, tmp_path, capsys):
    fields, message = FAILURES[name]
    served.inject(Failure(**fields))
    url = served.url("good.nwb")
    started = time.monotonic()
    HostileCase(argv=[command, url], watch=[tmp_path], code=2, message=message).check(capsys)
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("name", ["drop_body", "trickle_body", "short_body", "redirect_loop"])
def test_events_detect_from_a_failing_server_writes_nothing(name, served, tmp_path, monkeypatch, capsys):
    fields, message = FAILURES[name]
    served.inject(Failure(**fields))
    monkeypatch.chdir(tmp_path)
    HostileCase(argv=["events", "detect", served.url("good.nwb"), "-o", tmp_path / "out.nwb", "--quiet"],
                watch=[tmp_path], code=2, message=message).check(capsys)


DAMAGED = {"truncated.nwb": "truncated", "text.nwb": "not an HDF5/NWB file", "empty.nwb": "empty",
           "tiny.nwb": "not an HDF5/NWB file", "missing.nwb": "not found"}


@pytest.mark.parametrize("command", ["info", "validate"])
@pytest.mark.parametrize("name", sorted(DAMAGED))
def test_a_damaged_remote_file_is_one_sentence(name, command, served, tmp_path, capsys):
    HostileCase(argv=[command, served.url(name)], watch=[tmp_path], code=2, message=DAMAGED[name]).check(capsys)


@pytest.mark.parametrize("name, info_code, info_message", [
    ("cycle", 2, "group cycle"), ("dangling_link", 2, "dangling link"), ("unknown_namespace", 2, "ndx-alien"),
    ("nan_rate", 0, None)])
def test_a_broken_remote_nwb_file(name, info_code, info_message, served, tmp_path, capsys):
    url = served.url(f"{name}.nwb")
    HostileCase(argv=["info", url], watch=[tmp_path], code=info_code, message=info_message).check(capsys)
    case = HostileCase(argv=["validate", url], watch=[tmp_path], code=2 if name == "cycle" else 1,
                       message="group cycle" if name == "cycle" else None)
    if name == "cycle":
        case.check(capsys)
    else:  # problems, never a pass
        code, out, err = case.run(capsys)
        assert code == 1 and "PROBLEMS FOUND" in out and "Traceback" not in err, out + err


def test_a_trickle_ends_within_the_deadline(served, tmp_path, capsys):
    served.inject(Failure(kind="trickle", seconds=1.0, after=1))  # one byte a second, as the server
    started = time.monotonic()
    HostileCase(argv=["info", served.url("good.nwb")], watch=[tmp_path], code=2, message="within").check(capsys)
    assert time.monotonic() - started < 3 * float(TIMEOUT_S) + 3


def test_a_bad_timeout_setting_is_one_sentence(served, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NWBSYN_REMOTE_TIMEOUT_S", "soon")
    HostileCase(argv=["info", served.url("good.nwb")], watch=[tmp_path], code=2,
                message="NWBSYN_REMOTE_TIMEOUT_S").check(capsys)


def test_the_good_file_still_streams(served, tmp_path, capsys):
    HostileCase(argv=["info", served.url("good.nwb")], watch=[tmp_path], code=0).check(capsys)
    served.inject(Failure(kind="drop", after=1, times=2))  # two drops are retried away
    HostileCase(argv=["info", served.url("good.nwb")], watch=[tmp_path], code=0).check(capsys)


# --- DANDI: the API itself misbehaves ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def archive(tmp_path_factory, served):
    root = tmp_path_factory.mktemp("archive")
    with FakeDandiArchive(root) as server:
        server.add_asset("000123", ASSET, served.directory / "good.nwb")
        yield server


API_FAILURES = {
    "api_500": (dict(pattern="/api/dandisets/*", kind="status", status=500), "did not answer"),
    "api_trickle": (dict(pattern="/api/dandisets/*", kind="trickle", seconds=0.5), "did not answer"),
    "api_loop": (dict(pattern="/api/dandisets/*", kind="redirect_loop"), "redirects in a loop"),
    "api_403": (dict(pattern="/api/dandisets/*", kind="status", status=403), "refused access"),
    "api_drop": (dict(pattern="/api/dandisets/*", kind="drop"), "DANDI:000123"),
    "blob_drop": (dict(pattern="/blobs/*", kind="drop", after=1), "dropped the connection"),
}


@pytest.mark.parametrize("name", sorted(API_FAILURES))
def test_a_failing_dandi_api_is_one_sentence(name, archive, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NWBSYN_DANDI_API_URL", archive.api_url)
    fields, message = API_FAILURES[name]
    (archive.files if fields["pattern"].startswith("/blobs") else archive).inject(Failure(**fields))
    try:
        HostileCase(argv=["info", f"DANDI:000123/{ASSET}"], watch=[tmp_path], code=2, message=message).check(capsys)
    finally:
        archive.clear_failures()
        archive.files.clear_failures()


# --- the process itself: no crash at interpreter exit --------------------------------------------------------
def _cli(*argv, env_extra=None):
    env = dict(os.environ, NWBSYN_REMOTE_TIMEOUT_S=TIMEOUT_S, **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "nwbsyn.cli", *map(str, argv)], capture_output=True, text=True,
                          timeout=300, env=env)


def _one_error_line(proc) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("nwbsyn: error:"), proc.stderr
    return lines[0]


def test_a_dropped_connection_does_not_crash_the_interpreter(served):
    served.inject(Failure(kind="drop", after=1))  # HDF5 is left a half-open file: it crashed at exit (-11)
    proc = _cli("info", served.url("good.nwb"))
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "dropped the connection" in _one_error_line(proc)
