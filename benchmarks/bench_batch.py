"""Streaming and batch benchmarks against loopback servers (offline). One JSON line per measurement.

    python benchmarks/bench_batch.py                 # both
    python benchmarks/bench_batch.py --only stream   # bytes read when streaming one series
    python benchmarks/bench_batch.py --only scaling --files 8 --duration-s 60

* ``stream_one_series``: bytes the server sends when one series of a multi-series remote file is
  read (and when events are detected in it), against that series' own bytes.
  Target: <= 1.5 x series bytes + 1 MB.
* ``batch_scaling``: the same events batch of N files (one ~60 s voltage-clamp trace each, streamed
  from a fake DANDI archive, outputs validated) on 1 and on 2 Dask workers, each on a warmed-up
  LocalCluster (cluster start-up is reported separately). Target: 2 workers >= 1.7 x faster.
  Needs 2 otherwise idle cores to reach it; ``concurrency`` (task-seconds / wall-seconds) shows
  whether the workers were kept busy, and ``mean_task_s`` whether the cores were shared.
"""

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("DANDI_NO_ET", "1")


def _write(nwbfile, path: Path) -> Path:
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return path


def bench_stream(root: Path) -> None:
    import torch

    from nwbsyn import events
    from nwbsyn.io import open_nwb
    from nwbsyn.testing import mock_icephys_nwbfile
    from nwbsyn.testing.servers import RangeFileServer

    torch.set_num_threads(1)
    path = _write(mock_icephys_nwbfile(n_sweeps=6, duration_s=30.0, rng=0), root / "six_sweeps.nwb")
    with RangeFileServer(root) as server:
        for what in ("read", "detect_events"):
            server.reset_counters()
            start = time.perf_counter()
            with open_nwb(server.url(path.name)) as nwbfile:
                series = nwbfile.acquisition["sweep_3"]
                series_bytes = int(series.data.dtype.itemsize * series.data.shape[0])
                if what == "read":
                    series.data[:]
                else:
                    events.run_on_nwbfile(nwbfile, series=["sweep_3"], progress_bar=False, embed_weights=False)
            limit = 1.5 * series_bytes + 1_000_000
            print(json.dumps({
                "benchmark": "stream_one_series", "what": what, "file_bytes": path.stat().st_size,
                "series_bytes": series_bytes, "bytes_served": server.bytes_served,
                "ratio_to_series": round(server.bytes_served / series_bytes, 3), "limit_bytes": int(limit),
                "requests": len(server.requests), "seconds": round(time.perf_counter() - start, 3),
                "meets_target": server.bytes_served <= limit}), flush=True)


def bench_scaling(root: Path, n_files: int, duration_s: float) -> None:
    import distributed

    from nwbsyn import batch
    from nwbsyn.testing import mock_icephys_nwbfile
    from nwbsyn.testing.servers import FakeDandiArchive

    seconds = {}
    with FakeDandiArchive(root / "archive") as archive:
        for i in range(n_files):
            archive.add_asset("000321", f"sub-{i:02d}/sub-{i:02d}_ses-1_icephys.nwb",
                              mock_icephys_nwbfile(n_sweeps=1, duration_s=duration_s,
                                                   n_events_per_sweep=int(2 * duration_s), rng=i))
        for n_workers in (1, 2):
            start = time.perf_counter()
            with distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                          dashboard_address=None, silence_logs=40) as cluster, \
                    distributed.Client(cluster) as client:
                client.run(_warm_up)  # imports torch, pynwb, the model: paid once per worker
                startup_s = time.perf_counter() - start
                start = time.perf_counter()
                summary = batch.run("000321", out_dir=root / f"out_{n_workers}", dandi_api_url=archive.api_url,
                                    scheduler=client, progress_bar=False)
                seconds[n_workers] = time.perf_counter() - start
            print(json.dumps({
                "benchmark": "batch_scaling", "n_workers": n_workers, "n_files": n_files, "duration_s": duration_s,
                "seconds": round(seconds[n_workers], 2), "cluster_startup_s": round(startup_s, 2),
                "ok": int((summary["status"] == "ok").sum()),
                "mean_task_s": round(float(summary["seconds"].mean()), 2),
                # tasks running at once on average: ~n_workers means the workers never idle
                "concurrency": round(float(summary["seconds"].sum()) / seconds[n_workers], 2),
                "cpu_count": os.cpu_count(),
                "load_avg_1min": round(os.getloadavg()[0], 2)}), flush=True)
    speedup = seconds[1] / seconds[2]
    print(json.dumps({"benchmark": "batch_speedup", "n_files": n_files, "speedup_2_vs_1": round(speedup, 2),
                      "target": 1.7, "meets_target": speedup >= 1.7}), flush=True)


def _warm_up():
    import torch

    from nwbsyn import events
    from nwbsyn.testing import mock_icephys_nwbfile

    torch.set_num_threads(1)
    events.run_on_nwbfile(mock_icephys_nwbfile(n_sweeps=1, duration_s=0.5), progress_bar=False)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["stream", "scaling"])
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--duration-s", type=float, default=60.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nwbsyn-bench-") as tmp:
        if args.only in (None, "stream"):
            bench_stream(Path(tmp))
        if args.only in (None, "scaling"):
            bench_scaling(Path(tmp), args.files, args.duration_s)


if __name__ == "__main__":
    main()
