"""benchmarks/bench_events_nwb.py: one 120 s, 50 kHz trace end to end through NWB (read, detect, statistics, write).

Prints one JSON line per mode (fast = default candidate-gated scoring, full = every window as miniML).
"""

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np


def _write_input(path: Path, duration_s: float, rng: int) -> np.ndarray:
    from pynwb import NWBHDF5IO
    from pynwb.icephys import VoltageClampSeries

    from nwbsyn.events import simulate_trace
    from nwbsyn.testing import mock_nwbfile

    sim = simulate_trace(duration_s=duration_s, rng=rng)
    nwbfile = mock_nwbfile()
    device = nwbfile.create_device(name="amp", description="simulated")
    electrode = nwbfile.create_icephys_electrode(name="e0", description="pipette", device=device, cell_id="c1")
    series = VoltageClampSeries(name="sweep_0", data=(sim.trace_pA * 1e-12).astype(np.float32), electrode=electrode,
                                gain=1.0, rate=50_000.0)
    nwbfile.add_acquisition(series)
    nwbfile.add_intracellular_recording(electrode=electrode, response=series)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return sim.onset_times_s


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--duration-s", type=float, default=120.0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--full", action="store_true", help="also time the full scan (about a minute)")
    a = p.parse_args(argv)
    import torch

    from nwbsyn import events, io

    torch.set_num_threads(a.threads)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.nwb"
        truth = _write_input(src, a.duration_s, rng=0)
        events.load_model("default")  # warm-up: import and load once, as a batch job would
        for mode in ["fast"] + (["full"] if a.full else []):
            out = Path(tmp) / f"out_{mode}.nwb"
            t0 = time.perf_counter()
            with io.edit_nwb(src, output=out) as nwbfile:
                pairs = events.run_on_nwbfile(nwbfile, mode=mode, progress_bar=False)
            seconds = time.perf_counter() - t0
            found = pairs[0][1].onset_times_s
            f1 = events.precision_recall_f1(truth, found, tolerance_s=1e-3)[2]
            print(json.dumps({"bench": "events_nwb_end_to_end", "mode": mode, "duration_s": a.duration_s,
                              "sampling_rate_hz": 50_000, "seconds": round(seconds, 3), "n_events": len(found),
                              "f1": round(f1, 4), "threads": a.threads, "load_avg_1min": os.getloadavg()[0],
                              "python": platform.python_version(), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
