"""Train a :class:`~nwbsyn.events.dense.DenseScorer` to reproduce a window classifier's scores.

The recipe (:func:`distillation_traces`): seeded simulated traces at 50 kHz that look like
recordings (events filtered by a 2-10 kHz Bessel, rise 0.1-1 ms and decay 0.5-15 ms time
constants, 0.5-30 Hz with overlap, white, 1/f or mixed noise, hum and drift), and, when
the real recordings in ``../shared/data/events`` are present, the same events added to noise
beds cut from their event-poor stretches. The classifier scores every window of every
trace (the faithful full scan); the scorer learns those scores (binary cross-entropy with
soft targets). No labels are needed, so the student is judged against its teacher.

    python -m nwbsyn.events.distil --seed 0 -o nwbsyn/events/models/nwbsyn_events_dense.pt

Examples
--------
>>> traces = distillation_traces(n_traces=2, duration_s=0.5, seed=0, beds=[])
>>> len(traces), traces[0].trace.shape
(2, (25000,))
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nwbsyn.events.beds import describe_beds, real_noise_beds
from nwbsyn.events.simulate import simulate_trace

__all__ = ["DistilTrace", "distillation_traces", "teacher_scores", "distil"]

FS = 50_000.0


@dataclass(frozen=True)
class DistilTrace:
    trace: np.ndarray  # events pointing down, at 50 kHz
    recipe: dict


def _log_uniform(rng, lo, hi):
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def distillation_traces(*, n_traces: int, duration_s: float, seed: int, beds: list[np.ndarray]) -> list[DistilTrace]:
    """Seeded traces of the recipe; a third use a real noise bed when ``beds`` is not empty."""
    rng = np.random.default_rng([seed, 7])
    out = []
    n = int(round(duration_s * FS))
    for i in range(n_traces):
        rise = _log_uniform(rng, 0.1, 1.0)
        decay = max(_log_uniform(rng, 0.5, 15.0), 2.5 * rise)
        rate = _log_uniform(rng, 0.5, 30.0)
        filt = None if rng.random() < 0.25 else float(rng.uniform(2000, 10000))
        recipe = dict(rise_ms=round(rise, 3), decay_ms=round(decay, 3), decay_sd_ms=round(0.25 * decay, 3),
                      rate_hz=round(rate, 2), filter_hz=filt, min_spacing_ms=3.0 if rate < 25 else 1.5)
        bed = None
        if beds and i % 3 == 2:
            src = beds[int(rng.integers(len(beds)))]
            start = int(rng.integers(0, max(1, src.size - n)))
            bed = np.resize(src[start : start + n], n)
            sd = 1.4826 * float(np.median(np.abs(bed - np.median(bed))))
            recipe.update(noise="real bed", noise_sd=round(sd, 3))
        else:
            sd = 1.5
            recipe.update(noise=str(rng.choice(["white", "pink", "mixed"], p=[0.3, 0.3, 0.4])),
                          hum_pA=float(rng.choice([0.0, 0.5])), drift_pA=float(rng.choice([0.0, 2.0])))
        amp = sd * _log_uniform(rng, 1.5, 20.0)
        recipe["amplitude"] = round(amp, 3)
        kw = {k: v for k, v in recipe.items() if k not in ("noise_sd", "amplitude")}
        if bed is not None:
            kw.pop("noise")
        sim = simulate_trace(duration_s=duration_s, sampling_rate_hz=FS, amplitude_pA=amp, amplitude_sigma=0.5,
                             noise_sd_pA=sd, noise_bed_pA=bed, rng=rng, **kw)
        out.append(DistilTrace(sim.trace_pA.astype(np.float32), recipe))
    return out


def teacher_scores(trace: np.ndarray, teacher, *, window_samples: int = 600, stride_samples: int = 20,
                   batch_size: int = 512) -> np.ndarray:
    """The classifier's score of every window (the full scan) of a trace whose events point down."""
    from nwbsyn.events.infer import _resolve_model, score_trace

    run = _resolve_model(teacher, "cpu")[0]
    return score_trace(trace, run, window_samples=window_samples, stride_samples=stride_samples,
                       batch_size=batch_size, progress_bar=False).astype(np.float32)


def _batches(inputs, targets, *, rng, batch: int, length: int, offset: int, halo_blocks: int):
    """Random crops: inputs of ``length`` samples and the teacher scores of their interior outputs."""
    import torch

    k = length // 20
    xs, ys = [], []
    for _ in range(batch):
        i = int(rng.integers(len(inputs)))
        n_out = inputs[i].size // 20
        o0 = int(rng.integers(0, n_out - k + 1))
        xs.append(inputs[i][o0 * 20 : o0 * 20 + length])
        j = np.arange(o0, o0 + k) - offset  # window index of each output
        y = np.full(k, np.nan, dtype=np.float32)
        ok = (j >= 0) & (j < targets[i].size)
        y[ok] = targets[i][j[ok]]
        y[:halo_blocks] = y[-halo_blocks:] = np.nan
        ys.append(y)
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys))


def distil(teacher, *, seed: int = 0, n_traces: int = 48, duration_s: float = 4.0, steps: int = 3000,
           batch: int = 24, learning_rate: float = 3e-3, beds: list[np.ndarray] | None = None,
           progress_bar: bool = True):
    """Train a DenseScorer on the recipe's traces scored by ``teacher``; returns (scorer, card dict)."""
    import torch
    from tqdm.auto import tqdm

    from nwbsyn.events.dense import DenseScorer, block_range_normalise

    torch.manual_seed(seed)
    rng = np.random.default_rng([seed, 11])
    beds = real_noise_beds() if beds is None else beds
    traces = distillation_traces(n_traces=n_traces, duration_s=duration_s, seed=seed, beds=beds)
    t0 = time.perf_counter()
    targets = [teacher_scores(t.trace, teacher) for t in tqdm(traces, desc="teacher scan", disable=not progress_bar)]
    scan_s = time.perf_counter() - t0
    inputs = [block_range_normalise(t.trace) for t in traces]
    n_val = max(1, n_traces // 8)
    scorer = DenseScorer()
    opt = torch.optim.Adam(scorer.parameters(), lr=learning_rate)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=learning_rate, total_steps=steps)
    loss_fn = torch.nn.BCEWithLogitsLoss(reduction="none")
    crop = dict(batch=batch, length=12_000, offset=scorer.window_offset, halo_blocks=40)
    history = []
    for step in tqdm(range(steps), desc="distil", disable=not progress_bar):
        x, y = _batches(inputs[n_val:], targets[n_val:], rng=rng, **crop)
        ok = torch.isfinite(y)
        loss = loss_fn(scorer(x)[ok], y[ok]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0 or step == steps - 1:
            history.append(round(float(loss.detach()), 5))
    scorer.eval()
    val = _validation(scorer, inputs[:n_val], targets[:n_val])
    card = {
        "architecture": "nwbsyn.events.dense.DenseScorer (fully convolutional, distilled)",
        "init_kwargs": scorer.init_kwargs,
        "seed": seed,
        "training_recipe": {
            "data": f"nwbsyn.events.distil.distillation_traces(n_traces={n_traces}, duration_s={duration_s}, "
                    f"seed={seed}, beds=real_noise_beds())",
            "real_noise_beds": describe_beds(beds),
            "traces": [t.recipe for t in traces],
            "validation_traces": n_val,
            "targets": "teacher full scan (every window, stride 20), soft binary cross-entropy",
            "steps": steps, "batch": batch, "crop_samples": crop["length"], "learning_rate": learning_rate,
            "teacher_scan_seconds": round(scan_s, 1),
        },
        "metrics": {"train_loss_every_100_steps": history, **val},
    }
    return scorer, card


def _validation(scorer, inputs, targets) -> dict:
    import torch

    err, peaks = [], []
    with torch.inference_mode():
        for x, y in zip(inputs, targets):
            p = torch.sigmoid(scorer(torch.from_numpy(x)[None]))[0].numpy()
            off = scorer.window_offset
            p = p[off : off + y.size]
            err.append(np.abs(p - y[: p.size]))
            peaks.append(np.mean((p > 0.5) == (y[: p.size] > 0.5)))
    e = np.concatenate(err)
    return {"validation_mean_abs_error": round(float(e.mean()), 4),
            "validation_p99_abs_error": round(float(np.quantile(e, 0.99)), 4),
            "validation_agreement_at_0.5": round(float(np.mean(peaks)), 5)}


def main(argv=None) -> int:
    """``python -m nwbsyn.events.distil``: the recorded command of the shipped dense scorer."""
    import argparse

    import torch

    from nwbsyn._shared import sha256_of_file
    from nwbsyn.events.dense import save_dense
    from nwbsyn.events.model import load_model, resolve_model_path

    p = argparse.ArgumentParser(prog="python -m nwbsyn.events.distil", description=__doc__.splitlines()[0])
    p.add_argument("-o", "--output", required=True, help="checkpoint to write (.pt; its card goes beside it)")
    p.add_argument("--teacher", default="default", help="classifier to reproduce (default: the shipped model)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--traces", type=int, default=40, help="simulated traces in the recipe")
    p.add_argument("--duration-s", type=float, default=3.0, help="length of each trace")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 makes the run bit-reproducible)")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    teacher = load_model(a.teacher, device="cpu")
    scorer, card = distil(teacher, seed=a.seed, n_traces=a.traces, duration_s=a.duration_s, steps=a.steps)
    card["name"] = Path(a.output).stem
    card["training_recipe"]["command"] = ("python -m nwbsyn.events.distil " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in (("teacher", a.teacher), ("seed", a.seed), ("traces", a.traces),
                                                    ("duration_s", a.duration_s), ("steps", a.steps),
                                                    ("threads", a.threads))) + f" -o {Path(a.output).name}")
    save_dense(scorer, a.output, card=card, teacher_sha256=sha256_of_file(resolve_model_path(a.teacher)))
    print(json.dumps(card["metrics"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
