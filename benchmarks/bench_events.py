"""benchmarks/bench_events.py: event detection on simulated ground truth (miniML Fig. 3 protocol).

Each condition is a 120 s trace at 50 kHz with biexponential events (tau_rise 0.2 ms,
tau_decay ~ N(1.0, 0.25) ms, log-normal amplitudes, Poisson times >= 3 ms apart) in noise.
Every method runs on the same trace; one JSON line per (condition, method) with precision,
recall, F1 (one-to-one matching within --tolerance-ms) and wall seconds.

    python benchmarks/bench_events.py                          # baselines only
    python benchmarks/bench_events.py --keras GC_lstm_model.h5 # + a miniML Keras model
    python benchmarks/bench_events.py --checkpoint events.pt --conditions white_10pA
"""

from __future__ import annotations

import argparse
import json
import platform
import time

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


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration-s", type=float, default=120.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--conditions", nargs="+", default=list(CONDITIONS), choices=list(CONDITIONS))
    p.add_argument("--tolerance-ms", type=float, default=1.0)
    p.add_argument("--checkpoint", help="nwbsyn checkpoint (.pt) of an EventClassifier")
    p.add_argument("--keras", help="miniML Keras model (.h5 / .keras), or 'default' for miniML's GC model")
    p.add_argument("--no-baselines", action="store_true")
    p.add_argument("--stride", type=int, default=20)
    p.add_argument("--threshold", type=float, default=0.5)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    a = p.parse_args(argv)

    models = {}
    if a.checkpoint or a.keras:
        import torch

        from nwbsyn.events.model import load_model

        torch.set_num_threads(a.threads)
        for label, source in (("checkpoint", a.checkpoint), ("keras", a.keras)):
            if source:
                models[f"classifier:{label}"] = load_model(source, device=a.device)

    for ci, name in enumerate(a.conditions):
        sim = simulate_trace(duration_s=a.duration_s, sampling_rate_hz=FS, rng=np.random.default_rng([a.seed, ci]),
                             **CONDITIONS[name])
        runs = {}
        if not a.no_baselines:
            template = average_event_template(sim)
            for method, fn in BASELINES.items():
                kw = {} if method == "finite_threshold" else {"template": template}
                runs[method] = lambda fn=fn, kw=kw: fn(sim.trace_pA, sampling_rate_hz=FS, **kw)
        for method, model in models.items():
            runs[method] = lambda model=model: detect_events(
                sim.trace_pA, sampling_rate_hz=FS, model=model, stride_samples=a.stride, threshold=a.threshold,
                device=a.device, progress_bar=False)
        for method, run in runs.items():
            t0 = time.perf_counter()
            res = run()
            seconds = time.perf_counter() - t0
            m = match_events(sim.onset_times_s, res.onset_times_s, tolerance_s=a.tolerance_ms / 1e3)
            print(json.dumps({
                "bench": "events_detection", "condition": name, "method": method,
                "n_true": m.n_true, "n_detected": m.n_detected,
                "precision": round(m.precision, 4), "recall": round(m.recall, 4), "f1": round(m.f1, 4),
                "seconds": round(seconds, 3), "duration_s": a.duration_s, "tolerance_ms": a.tolerance_ms,
                "seed": a.seed, "settings": CONDITIONS[name], "python": platform.python_version(),
            }), flush=True)


if __name__ == "__main__":
    main()
