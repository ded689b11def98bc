"""``nwbsyn batch`` / ``nwbsyn.batch.run`` against a fake DANDI archive on 127.0.0.1 and a Dask
LocalCluster with 2 workers: failures are isolated, resume works, killed workers are survived,
malicious asset paths never escape the output folder, and the output folder passes `dandi validate`."""

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("dandi")
pytest.importorskip("remfile")
distributed = pytest.importorskip("distributed")
pytest.importorskip("pyarrow")

from nwbsyn import batch  # noqa: E402
from nwbsyn._shared import InputError  # noqa: E402
from nwbsyn.cli import main  # noqa: E402
from nwbsyn.testing import mock_icephys_nwbfile  # noqa: E402
from nwbsyn.testing.servers import FakeDandiArchive, Failure  # noqa: E402

GOOD = [f"sub-{i}/sub-{i}_ses-1_icephys.nwb" for i in (1, 2, 3)]
CORRUPT = "sub-4/sub-4_ses-1_icephys.nwb"
EVIL = "../../evil.nwb"
QUICK = dict(progress_bar=False, validate=False, mode="fast")


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("DANDI_NO_ET", "1")  # before the cluster starts: its workers inherit it
    root = tmp_path_factory.mktemp("archive")
    with FakeDandiArchive(root) as server:
        for i, path in enumerate(GOOD):
            server.add_asset("000123", path, mock_icephys_nwbfile(n_sweeps=1, duration_s=0.5, rng=i))
        healthy = (root / "blobs" / f"{server.dandisets['000123']['assets'][GOOD[0]]}.nwb").read_bytes()
        server.add_asset("000123", CORRUPT, healthy[:len(healthy) // 2])  # truncated
        server.add_asset("000123", EVIL, healthy)
        yield server
    mp.undo()


@pytest.fixture(scope="module")
def cluster(archive):
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as local:
        yield local


@pytest.fixture(autouse=True)
def _clean_server(archive):
    archive.files.clear_failures()
    archive.files.reset_counters()


def _by_output(summary):
    return {row["asset"].split("/", 1)[1].rsplit("@", 1)[0]: row for row in summary.to_dict("records")}


def test_dandiset_on_a_local_cluster(archive, cluster, tmp_path):
    out = tmp_path / "out"
    summary = batch.run(["DANDI:000123"], analysis="events", out_dir=out, dandi_api_url=archive.api_url,
                        scheduler=cluster.scheduler_address, progress_bar=False)
    rows = _by_output(summary)
    for path in GOOD:
        assert rows[path]["status"] == "ok" and rows[path]["valid"] and rows[path]["n_events"] > 0
        assert rows[path]["frequency_hz"] > 0 and rows[path]["seconds"] > 0 and (out / path).is_file()
    assert rows[CORRUPT]["status"] == "failed" and "truncated" in rows[CORRUPT]["error"]
    assert rows[EVIL]["status"] == "failed" and "unsafe" in rows[EVIL]["error"]
    assert not (tmp_path / "evil.nwb").exists() and not (out / "sub-4").exists()  # nothing partial
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.nwb")) == GOOD
    assert {"dandiset.yaml", "nwbsyn_batch_summary.csv", "nwbsyn_batch_summary.parquet"} <= {
        p.name for p in out.iterdir()}
    import pandas

    assert pandas.read_parquet(out / "nwbsyn_batch_summary.parquet")["status"].tolist() == summary["status"].tolist()
    if shutil.which("dandi"):
        proc = subprocess.run(["dandi", "validate", str(out)], capture_output=True, text=True, timeout=120,
                              env=dict(os.environ, DANDI_NO_ET="1"))
        assert proc.returncode == 0 and "No errors found" in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_resume_after_interruption(archive, tmp_path):
    out = tmp_path / "out"
    first = batch.run("000123", glob="sub-1/*", out_dir=out, dandi_api_url=archive.api_url, scheduler="inline",
                      **QUICK)  # the batch that was interrupted after one asset...
    assert first["status"].tolist() == ["ok"]
    stale = out / "sub-2" / ".sub-2_ses-1_icephys.nwbsyn-tmp-999.nwb"  # ...while a worker was writing another
    stale.parent.mkdir()
    stale.write_bytes(b"partial")
    archive.files.reset_counters()
    summary = batch.run("000123", glob="sub-[123]/*", out_dir=out, dandi_api_url=archive.api_url,
                        scheduler="inline", **QUICK)
    rows = _by_output(summary)
    assert rows[GOOD[0]]["status"] == "skipped" and rows[GOOD[0]]["n_events"] == first["n_events"][0]
    assert [rows[p]["status"] for p in GOOD[1:]] == ["ok", "ok"]
    assert not stale.exists()
    first_blob = archive.dandisets["000123"]["assets"][GOOD[0]]
    assert not any(first_blob in path for _, path, _ in archive.files.requests)  # the done asset was not read


def test_transient_errors_are_retried_and_permanent_ones_recorded(archive, tmp_path):
    blob = archive.dandisets["000123"]["assets"][GOOD[0]]
    archive.files.inject(Failure(pattern=f"*{blob}*", kind="status", status=503, times=5))
    summary = batch.run(f"DANDI:000123/{GOOD[0]}", out_dir=tmp_path / "a", dandi_api_url=archive.api_url,
                        scheduler="inline", retries=1, **QUICK)
    assert summary["status"][0] == "ok" and summary["attempts"][0] == 2
    archive.files.inject(Failure(pattern=f"*{blob}*", kind="status", status=500))
    summary = batch.run(archive.content_url(blob), out_dir=tmp_path / "b", scheduler="inline", retries=0, **QUICK)
    assert summary["output"][0] == f"{blob}.nwb"  # a URL's output is named after its file
    assert summary["status"][0] == "failed" and "HTTP 500" in summary["error"][0]
    assert not list((tmp_path / "b").rglob("*.nwb"))


def test_bad_sources_and_outputs(archive, tmp_path):
    with pytest.raises(InputError, match="DANDI:000999 does not exist"):
        batch.run("000999", out_dir=tmp_path / "x", dandi_api_url=archive.api_url, scheduler="inline")
    with pytest.raises(InputError, match="No NWB files"):
        batch.run("000123", glob="nothing/*", out_dir=tmp_path / "x", dandi_api_url=archive.api_url)
    with pytest.raises(InputError, match="analysis must be one of"):
        batch.run("000123", analysis="spikes", out_dir=tmp_path / "x")
    out = tmp_path / "blocked"
    out.mkdir()
    (out / "sub-1").write_text("a file where the output folder should go")
    summary = batch.run(f"DANDI:000123/{GOOD[0]}", out_dir=out, dandi_api_url=archive.api_url, scheduler="inline",
                        **QUICK)
    assert summary["status"][0] == "failed" and "Could not create the output folder" in summary["error"][0]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores file permissions")
def test_no_write_permission(archive, tmp_path):
    out = tmp_path / "readonly"
    out.mkdir()
    out.chmod(0o555)
    try:
        with pytest.raises(InputError, match="Cannot write to the output folder"):
            batch.run("000123", out_dir=out, dandi_api_url=archive.api_url, scheduler="inline")
    finally:
        out.chmod(0o755)


def test_cli_batch_prints_the_summary(archive, cluster, tmp_path, capsys):
    code = main(["batch", "000123", "--glob", "sub-[12]/*", "--out", str(tmp_path / "out"), "--dandi-api",
                 archive.api_url, "--scheduler", cluster.scheduler_address, "--quiet", "--no-validate"])
    out = capsys.readouterr().out
    assert code == 0 and "2 ok" in out and "sub-2_ses-1_icephys.nwb" in out and "n_events" in out
    code = main(["batch", "000123", "--out", str(tmp_path / "out"), "--dandi-api", archive.api_url, "--scheduler",
                 "inline", "--quiet", "--no-validate"])
    out = capsys.readouterr().out
    assert code == 1 and "2 skipped" in out and "unsafe" in out


def test_example_script_runs_against_the_fake_archive(archive, cluster, tmp_path):
    script = Path(__file__).resolve().parents[2] / "examples" / "analyse_dandiset.py"
    proc = subprocess.run([sys.executable, str(script), "000123", "--dandi-api", archive.api_url, "--glob",
                           "sub-[12]/*", "--out", "res", "--scheduler", cluster.scheduler_address],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, DANDI_NO_ET="1"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "results:" in proc.stdout and (tmp_path / "cells.png").stat().st_size > 1000


def test_local_folder_with_auto_analysis(tmp_path):
    from nwbsyn.testing import mock_ecephys_nwbfile

    from conftest import write_nwbfile

    (tmp_path / "src" / "sub-a").mkdir(parents=True)
    write_nwbfile(mock_icephys_nwbfile(n_sweeps=1, duration_s=0.5), tmp_path / "src" / "sub-a" / "cell.nwb")
    write_nwbfile(mock_ecephys_nwbfile(duration_s=20.0), tmp_path / "src" / "units.nwb")
    with pytest.raises(InputError, match="no option threshhold"):
        batch.run(tmp_path / "src", analysis="events", out_dir=tmp_path / "out", threshhold=0.3)
    summary = batch.run([tmp_path / "src"], analysis="auto", out_dir=tmp_path / "out", scheduler="inline",
                        progress_bar=False, validate=False, connectivity={"max_epochs": 2})
    rows = {row["output"]: row for row in summary.to_dict("records")}
    cell = "sub-mouse-1/sub-mouse-1_ses-session-0_desc-nwbsyn-cell.nwb"  # DANDI names; same subject and session,
    units = "sub-mouse-1/sub-mouse-1_ses-session-0_desc-nwbsyn-units.nwb"  # so the file stems tell them apart
    assert rows[cell]["analysis"] == "events" and rows[cell]["n_events"] > 0
    assert rows[units]["analysis"] == "connectivity" and rows[units]["n_neurons"] == 6
    assert rows[units]["status"] == "ok" and -1 <= rows[units]["forecast_r"] <= 1


def test_a_worker_killed_mid_batch(archive, cluster, tmp_path):
    """Runs last: it kills one of the shared cluster's workers (the nanny restarts it)."""
    client = distributed.Client(cluster)
    pids = list(client.run(os.getpid).values())
    archive.files.inject(Failure(kind="delay", seconds=0.3))  # every file request is slow: tasks overlap the kill
    result = {}
    thread = threading.Thread(target=lambda: result.update(summary=batch.run(
        "000123", glob="sub-[123]/*", out_dir=tmp_path / "out", dandi_api_url=archive.api_url, scheduler=client,
        **QUICK)))
    thread.start()
    deadline = time.time() + 60
    while not archive.files.requests and time.time() < deadline:
        time.sleep(0.05)
    os.kill(pids[0], signal.SIGKILL)
    thread.join(timeout=240)
    if thread.is_alive():  # fail, never hang the suite (seen once on a heavily loaded machine)
        client.close(timeout=10)
        pytest.fail("the batch did not finish within 240 s after a worker was killed")
    assert pids[0] not in client.run(os.getpid).values()  # the nanny started a new worker
    client.close()
    summary = result["summary"]
    assert summary["status"].tolist() == ["ok", "ok", "ok"], summary["error"].tolist()
    assert not list((tmp_path / "out").rglob(".*nwbsyn-tmp*"))


@pytest.mark.parametrize("address, message", [("tcp://", "not a scheduler address"), ("nonsense", "port"),
                                              ("tcp://host:99999", "port"), ("udp://127.0.0.1:8786", "protocol")])
def test_malformed_scheduler_addresses_fail_at_once(tmp_path, address, message):
    start = time.perf_counter()
    with pytest.raises(InputError, match=message):
        batch.run(tmp_path, out_dir=tmp_path / "out", scheduler=address)
    assert time.perf_counter() - start < 5 and not (tmp_path / "out").exists()


def test_retries_and_out_are_checked_before_any_work(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="--retries"):
        batch.run(tmp_path, out_dir=tmp_path / "out", retries=-1)
    with pytest.raises(InputError, match="is a file"):
        batch.run(tmp_path, out_dir=tmp_path / "file")
    assert not (tmp_path / "out").exists()
