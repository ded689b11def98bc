"""benchmarks/bench_events.py: event detection on simulated ground truth (miniML Fig. 3 protocol).

Each condition is a 120 s trace at 50 kHz with biexponential events (tau_rise 0.2 ms,
tau_decay ~ N(1.0, 0.25) ms, log-normal amplitudes, Poisson times >= 3 ms apart) in noise.
Every method runs on the same trace; one JSON line per (condition, seed, method) with
precision, recall, F1 (one-to-one matching within --tolerance-ms), wall seconds and the
errors of the event statistics on matched events (amplitude mean absolute error in % of
the mean true amplitude; median measured / median true - 1 for the 10-90 % rise time and
the half-decay time). Then one speed line per rate (1, 5 and 20 events/s, the last with
overlapping, filtered events, and 20 events/s on a noise bed cut from the real recordings
in ../shared): a 120 s trace at 50 kHz through ``nwbsyn events detect`` NWB in -> NWB
out, beside the faithful full scan of the same trace (timed on its first 12 s and scaled:
its cost does not depend on the events), with the ratio. Then a memory line (a 1 h
recording at 50 kHz read from an HDF5 dataset, peak RSS of a fresh process).

    python benchmarks/bench_events.py                                   # nwbsyn fast + baselines, 3 seeds
    python benchmarks/bench_events.py --model GC --full                 # also the full scan (slow)
    python benchmarks/bench_events.py --keras ../shared/data/events/miniml/models/GC_lstm_model.h5
    python benchmarks/bench_events.py --conditions white_10pA --seeds 0 --no-speed --no-memory
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from nwbsyn.events import (
    biexponential_event,
    deconvolution,
    detect_events,
    finite_threshold,
    match_events,
    simulate_trace,
    template_matching,
)

FS = 50_000.0
CONDITIONS = {
    "white_10pA": {},  # white noise SD 1.5 pA, mean amplitude 10 pA, 0.7 Hz
    "white_5pA": {"amplitude_pA": 5.0},
    "white_10pA_5Hz": {"rate_hz": 5.0},
    "pink_10pA": {"noise": "pink"},
    "slow_decay_4.5ms": {"decay_ms": 4.5, "decay_sd_ms": 1.125},
    "fast_decay_0.5ms": {"decay_ms": 0.5, "decay_sd_ms": 0.125},
}
BASELINES = {"template_matching": template_matching, "deconvolution": deconvolution,
             "finite_threshold": finite_threshold}


def average_event_template(sim) -> np.ndarray:
    """The average simulated event (unit peak, onset first), as in the paper."""
    n = int(round(max(3.0, 5.0 * float(np.mean(sim.decay_ms))) * FS / 1e3))
    t_ms = np.arange(n) * 1e3 / FS
    shapes = biexponential_event(t_ms[None, :], rise_ms=sim.rise_ms[:, None], decay_ms=sim.decay_ms[:, None])
    mean = shapes.mean(axis=0)
    return mean / mean.max()


def true_kinetics(rise_ms: np.ndarray, decay_ms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free 10-90 % rise and peak-to-50 % decay times (ms) of unit biexponential events."""
    t = np.arange(0.0, 60.0, 0.001)
    rise, half = np.empty(rise_ms.size), np.empty(rise_ms.size)
    for i, (r, d) in enumerate(zip(rise_ms, decay_ms)):
        w = biexponential_event(t[: int(12 * d / 0.001) + 2000], rise_ms=r, decay_ms=d)
        p = int(np.argmax(w))
        rise[i] = t[np.argmax(w >= 0.9)] - t[np.argmax(w >= 0.1)]
        half[i] = t[p + np.argmax(w[p:] <= 0.5)] - t[p]
    return rise, half


def statistics_errors(sim, res, m, truth) -> dict:
    """Errors of amplitude, rise and half-decay on the matched events."""
    if m.true_positives == 0:
        return {"amp_mae_pct": None, "rise_median_rel_err": None, "half_decay_median_rel_err": None}
    ti, di = m.true_indices, m.detected_indices
    st = res.statistics
    amp_true, amp = np.abs(sim.amplitudes_pA[ti]), np.abs(st.amplitude_pA[di])
    ok = np.isfinite(amp)
    out = {"amp_mae_pct": round(float(np.mean(np.abs(amp[ok] - amp_true[ok])) / np.mean(amp_true[ok]) * 100), 2),
           "amp_abs_err_sum_pA": float(np.sum(np.abs(amp[ok] - amp_true[ok]))), "amp_true_sum_pA": float(np.sum(amp_true[ok]))}
    for key, measured, true in (("rise", st.rise_time_ms[di], truth[0][ti]),
                                ("half_decay", st.half_decay_ms[di], truth[1][ti])):
        ok = np.isfinite(measured)
        out[f"{key}_median_rel_err"] = (round(float(np.median(measured[ok]) / np.median(true[ok]) - 1), 4)
                                        if ok.any() else None)
    return out


def _load_models(a) -> dict:
    import torch

    from nwbsyn.events.model import load_model

    torch.set_num_threads(a.threads)
    models = {}
    if a.model:
        models["nwbsyn"] = (a.model, load_model(a.model, device=a.device))
    if a.keras:
        models["miniml_gc"] = (a.keras, load_model(a.keras, device=a.device))
    return models


def summarise(lines: list[dict]) -> None:
    """One line per (condition, method) over the seeds: mean F1, lowest precision, pooled amplitude MAE."""
    keys = sorted({(d["condition"], d["method"]) for d in lines}, key=lambda k: (list(CONDITIONS).index(k[0]), k[1]))
    for condition, method in keys:
        rows = [d for d in lines if d["condition"] == condition and d["method"] == method]
        err = sum(d.get("amp_abs_err_sum_pA") or 0.0 for d in rows)
        true = sum(d.get("amp_true_sum_pA") or 0.0 for d in rows)
        medians = {k: [d[k] for d in rows if d.get(k) is not None]
                   for k in ("rise_median_rel_err", "half_decay_median_rel_err")}
        print(json.dumps({
            "bench": "events_detection_summary", "condition": condition, "method": method,
            "seeds": [d["seed"] for d in rows], "f1_mean": round(float(np.mean([d["f1"] for d in rows])), 4),
            "f1_min": min(d["f1"] for d in rows), "precision_min": min(d["precision"] for d in rows),
            "amp_mae_pct_pooled": round(100 * err / true, 2) if true else None,
            **{f"{k}_max_abs": round(max(abs(v) for v in vals), 4) if vals else None for k, vals in medians.items()},
        }), flush=True)


def accuracy(a, models) -> None:
    lines = []
    for name in a.conditions:
        ci = list(CONDITIONS).index(name)  # the seed stream does not depend on which conditions run
        for seed in a.seeds:
            sim = simulate_trace(duration_s=a.duration_s, sampling_rate_hz=FS,
                                 rng=np.random.default_rng([seed, ci]), **CONDITIONS[name])
            truth = true_kinetics(sim.rise_ms, sim.decay_ms)
            runs = {}
            for label, (source, model) in models.items():
                runs[f"{label}_fast"] = (source, lambda model=model, sim=sim: detect_events(
                    sim.trace_pA, sampling_rate_hz=FS, model=model, stride_samples=a.stride,
                    threshold=a.threshold, device=a.device, progress_bar=False))
                if a.full and label == "nwbsyn":
                    runs[f"{label}_full"] = (source, lambda model=model, sim=sim: detect_events(
                        sim.trace_pA, sampling_rate_hz=FS, model=model, mode="full", stride_samples=a.stride,
                        threshold=a.threshold, device=a.device, progress_bar=False))
            if not a.no_baselines:
                template = average_event_template(sim)
                for method, fn in BASELINES.items():
                    kw = {} if method == "finite_threshold" else {"template": template}
                    runs[method] = (None, lambda fn=fn, kw=kw, sim=sim: fn(sim.trace_pA, sampling_rate_hz=FS, **kw))
            for method, (source, run) in runs.items():
                t0 = time.perf_counter()
                res = run()
                seconds = time.perf_counter() - t0
                m = match_events(sim.onset_times_s, res.onset_times_s, tolerance_s=a.tolerance_ms / 1e3)
                line = {
                    "bench": "events_detection", "condition": name, "seed": seed, "method": method,
                    "model": source, "n_true": m.n_true, "n_detected": m.n_detected,
                    "precision": round(m.precision, 4), "recall": round(m.recall, 4), "f1": round(m.f1, 4),
                    **statistics_errors(sim, res, m, truth),
                    "seconds": round(seconds, 3), "windows_scored": res.params.get("windows_scored"),
                    "duration_s": a.duration_s, "tolerance_ms": a.tolerance_ms, "settings": CONDITIONS[name],
                    "threads": a.threads, "load_avg_1min": round(os.getloadavg()[0], 2),
                    "python": platform.python_version(),
                }
                print(json.dumps(line), flush=True)
                lines.append(line)
    summarise(lines)


#: Speed conditions (120 s at 50 kHz): events per second and spacing; "real_bed" adds them to real noise.
SPEED_CONDITIONS = {
    "1Hz": {"rate_hz": 1.0},
    "5Hz": {"rate_hz": 5.0},
    "20Hz_overlapping": {"rate_hz": 20.0, "min_spacing_ms": 1.5, "decay_ms": 4.0, "decay_sd_ms": 1.0,
                         "rise_ms": 0.4, "filter_hz": 5000.0},
    "real_bed_20Hz": {"rate_hz": 20.0, "min_spacing_ms": 1.5, "decay_ms": 3.0, "decay_sd_ms": 0.75,
                      "rise_ms": 0.3, "filter_hz": 5000.0},
}


def _speed_trace(name: str):
    """The condition's 120 s trace (None when it needs the real noise beds and they are absent)."""
    kw = dict(SPEED_CONDITIONS[name])
    rng = np.random.default_rng([5, list(SPEED_CONDITIONS).index(name)])
    if name.startswith("real_bed"):
        from nwbsyn.events.distil import real_noise_beds

        beds = real_noise_beds()
        if not beds:
            return None
        bed = np.resize(np.concatenate(beds), int(120 * FS))
        sd = 1.4826 * float(np.median(np.abs(bed - np.median(bed))))
        kw.update(noise_bed_pA=bed, amplitude_pA=6 * sd)
    return simulate_trace(duration_s=120.0, sampling_rate_hz=FS, rng=rng, **kw)


def _write_nwb(path: Path, trace_pA: np.ndarray) -> None:
    from pynwb import NWBHDF5IO
    from pynwb.icephys import VoltageClampSeries

    from nwbsyn.testing import mock_nwbfile

    nwbfile = mock_nwbfile(rng=0)
    device = nwbfile.create_device(name="Amplifier", description="Simulated amplifier.")
    electrode = nwbfile.create_icephys_electrode(name="elec0", description="Pipette.", device=device)
    nwbfile.add_acquisition(VoltageClampSeries(
        name="sweep_0", data=(trace_pA * 1e-12).astype(np.float32), gain=1.0, electrode=electrode, rate=FS,
        starting_time=0.0, description="Simulated sEPSCs."))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)


def speed(a, threads: int) -> None:
    """Per condition: 120 s NWB in -> NWB out with the CLI (fast), the dense mode, and the faithful full scan.

    The full scan's cost does not depend on the events (every window is scored), so it is
    timed on the first ``--full-sample-s`` seconds and scaled to 120 s (said in the line).
    """
    import contextlib
    import io as _io

    import torch

    from nwbsyn.cli import main as cli
    from nwbsyn.events.model import load_model

    torch.set_num_threads(threads)
    model = load_model(a.model, device="cpu")
    for name in a.speed_conditions:
        sim = _speed_trace(name)
        if sim is None:
            print(json.dumps({"bench": "events_speed", "condition": name, "skipped": "no real noise beds"}))
            continue
        with tempfile.TemporaryDirectory() as tmp:
            src, dst = Path(tmp) / "in.nwb", Path(tmp) / "out.nwb"
            _write_nwb(src, sim.trace_pA)
            times = []
            for _ in range(a.repeats):
                dst.unlink(missing_ok=True)
                load = os.getloadavg()[0]
                t0 = time.perf_counter()
                with contextlib.redirect_stdout(_io.StringIO()):
                    code = cli(["events", "detect", str(src), "-o", str(dst), "--quiet", "--model", a.model,
                                "--device", "cpu"])
                times.append(time.perf_counter() - t0)
                if code:
                    raise SystemExit(f"nwbsyn events detect failed with code {code}")
        fast = detect_events(sim.trace_pA, sampling_rate_hz=FS, model=model, progress_bar=False)
        t0 = time.perf_counter()
        dense = detect_events(sim.trace_pA, sampling_rate_hz=FS, model=model, mode="dense", progress_bar=False)
        dense_s = time.perf_counter() - t0
        n_full = int(a.full_sample_s * FS)
        t0 = time.perf_counter()
        full_part = detect_events(sim.trace_pA[:n_full], sampling_rate_hz=FS, model=model, mode="full",
                                  progress_bar=False)
        full_s = (time.perf_counter() - t0) * 120.0 / a.full_sample_s
        cut = sim.onset_times_s[sim.onset_times_s < a.full_sample_s - 0.02]
        fast_part = fast.onset_times_s[fast.onset_times_s < a.full_sample_s - 0.02]
        m_fast = match_events(sim.onset_times_s, fast.onset_times_s, tolerance_s=1e-3)
        print(json.dumps({
            "bench": "events_speed", "condition": name, "duration_s": 120.0, "n_events": len(sim),
            "seconds_nwb_in_out": round(min(times), 3), "seconds_all": [round(t, 3) for t in times],
            "target_s": 3.0, "faithful_scan_seconds": round(full_s, 1),
            "faithful_scan_note": f"every window of the first {a.full_sample_s:g} s, scaled to 120 s",
            "speedup_vs_faithful": round(full_s / min(times), 1), "target_speedup": 30.0,
            "f1_fast": round(m_fast.f1, 4),
            "seconds_dense_detect": round(dense_s, 3), "speedup_dense_vs_faithful": round(full_s / dense_s, 1),
            "f1_dense": round(match_events(sim.onset_times_s, dense.onset_times_s, tolerance_s=1e-3).f1, 4),
            "dense_classifier_windows": dense.params["windows_scored"],
            "f1_fast_first_part": round(match_events(cut, fast_part, tolerance_s=1e-3).f1, 4),
            "f1_faithful_first_part": round(match_events(cut, full_part.onset_times_s[
                full_part.onset_times_s < a.full_sample_s - 0.02], tolerance_s=1e-3).f1, 4),
            "classifier_windows": fast.params["windows_scored"],
            "windows_total": fast.params["windows_total"], "threads": threads,
            "load_avg_1min_before": round(load, 2), "cpu_count": os.cpu_count(),
            "note": "seconds_nwb_in_out: CLI in-process (fast mode: NWB read, detect, statistics, NWB write); "
                    "seconds_dense_detect: detect_events(mode='dense') on the array",
        }), flush=True)


def _write_long_recording(path: Path, duration_s: float, dtype) -> np.ndarray:
    """Simulate ``duration_s`` of white-noise recording in 60 s pieces into an HDF5 dataset."""
    import h5py

    piece = int(60 * FS)
    n = int(duration_s * FS)
    onsets = []
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("trace", shape=(n,), dtype=dtype, chunks=(2**18,))
        for k, start in enumerate(range(0, n, piece)):
            length = min(piece, n - start)
            sim = simulate_trace(duration_s=length / FS, sampling_rate_hz=FS, rng=np.random.default_rng([99, k]))
            ds[start : start + length] = sim.trace_pA[:length]
            onsets.append(sim.onset_times_s + start / FS)
    return np.concatenate(onsets)


_MEMORY_CHILD = r"""
import json, resource, sys, time
import h5py, numpy as np, torch
from nwbsyn.events import detect_events, match_events
torch.set_num_threads(int(sys.argv[3]))
rss_imports = float(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) / 1024
t0 = time.perf_counter()
with h5py.File(sys.argv[1], "r") as f:
    res = detect_events(f["trace"], sampling_rate_hz=50_000.0, model=sys.argv[2], progress_bar=False)
seconds = time.perf_counter() - t0
truth = np.load(sys.argv[4])
m = match_events(truth, res.onset_times_s, tolerance_s=1e-3)
def vm_hwm_mb():  # peak RSS of this process image (ru_maxrss can include the parent's RSS from before exec)
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
print(json.dumps({"seconds": seconds, "peak_rss_mb": vm_hwm_mb() or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "rss_after_imports_mb": rss_imports, "n_events": len(res), "n_true": int(truth.size),
                  "f1": m.f1, "windows_scored": res.params["windows_scored"],
                  "score_trace_values": int(res.score_trace.size)}))
"""


def memory(a) -> None:
    """A long recording from an HDF5 dataset, in a fresh process; its peak RSS."""
    dtype = np.dtype(a.memory_dtype)
    with tempfile.TemporaryDirectory(dir=a.tmp_dir) as tmp:
        path = Path(tmp) / "long.h5"
        t0 = time.perf_counter()
        onsets = _write_long_recording(path, a.memory_duration_s, dtype)
        np.save(Path(tmp) / "onsets.npy", onsets)
        write_s = time.perf_counter() - t0
        out = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, str(path), a.model, str(a.speed_threads[-1]),
                              str(Path(tmp) / "onsets.npy")], capture_output=True, text=True, check=True)
        child = json.loads(out.stdout.strip().splitlines()[-1])
    n = int(a.memory_duration_s * FS)
    print(json.dumps({
        "bench": "events_memory", "duration_s": a.memory_duration_s, "sampling_rate_hz": FS, "samples": n,
        "input": f"h5py dataset, {dtype.name}", "input_bytes_as_float64": n * 8,
        "peak_rss_mb": round(child["peak_rss_mb"], 1), "rss_after_imports_mb": round(child["rss_after_imports_mb"], 1),
        "ru_maxrss_mb": round(child["ru_maxrss_mb"], 1),
        "target_mb": 2048, "seconds": round(child["seconds"], 1), "write_seconds": round(write_s, 1),
        "n_true": child["n_true"], "n_detected": child["n_events"], "f1": round(child["f1"], 4),
        "windows_scored": child["windows_scored"], "score_trace_values": child["score_trace_values"],
        "model": a.model, "threads": a.speed_threads[-1],
        "peak_rss_source": "VmHWM of the child process (Linux)",
    }), flush=True)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration-s", type=float, default=120.0)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--conditions", nargs="+", default=list(CONDITIONS), choices=list(CONDITIONS))
    p.add_argument("--tolerance-ms", type=float, default=1.0)
    p.add_argument("--model", default="default", help="nwbsyn model: 'default', a miniML name (GC) or a file; "
                                                      "'' to skip")
    p.add_argument("--keras", help="miniML Keras model (.h5 / .keras) run through nwbsyn's importer, fast mode")
    p.add_argument("--full", action="store_true", help="also run the full scan (every window; ~100 s per trace)")
    p.add_argument("--no-baselines", action="store_true")
    p.add_argument("--no-accuracy", action="store_true")
    p.add_argument("--no-speed", action="store_true")
    p.add_argument("--no-memory", action="store_true")
    p.add_argument("--stride", type=int, default=20)
    p.add_argument("--threshold", type=float, default=0.5)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads for the accuracy runs")
    p.add_argument("--speed-threads", type=int, nargs="+", default=[2],
                   help="torch CPU threads for the speed lines (one line each); the memory line uses the last")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats of the speed line (minimum reported)")
    p.add_argument("--speed-conditions", nargs="+", default=list(SPEED_CONDITIONS), choices=list(SPEED_CONDITIONS))
    p.add_argument("--full-sample-s", type=float, default=12.0,
                   help="seconds of each speed trace scanned in full to time the faithful scan")
    p.add_argument("--memory-duration-s", type=float, default=3600.0)
    p.add_argument("--memory-dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--tmp-dir", default=None, help="where the long HDF5 recording is written (deleted after)")
    a = p.parse_args(argv)
    if not a.no_accuracy:
        accuracy(a, _load_models(a) if (a.model or a.keras) else {})
    if a.model and not a.no_speed:
        for threads in a.speed_threads:
            speed(a, threads)
    if a.model and not a.no_memory:
        memory(a)


if __name__ == "__main__":
    main()
