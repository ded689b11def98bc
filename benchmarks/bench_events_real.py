"""benchmarks/bench_events_real.py: event detection on the real ABF recordings in ../shared/data/events.

Each recording is converted with nwbsyn's own converter (``nwbsyn.io.abf.convert_abf``) into
a temporary folder, then every sweep of the channel nwbsyn analyses is run through
``detect_events`` (default model, fast mode) and the events in nwbsyn's exclusion windows
(command steps, the file's stimuli + the evoked window, action potentials) are dropped as
``nwbsyn events detect`` drops them. One JSON line per recording: events, frequency over
the analysed (not excluded) time,
duplicates (event pairs closer than --duplicate-ms), the reported amplitude against a plain
direct reading coded here independently (the median of |amplitude| / direct reading and the
share of events below half of it), how each amplitude was obtained, and the seconds taken
(rough: the machine is shared). The direct reading is what a user reads off the trace: the
peak of the trace low-passed at min(5 kHz, fs/8) (4th-order Bessel, zero phase) within
--peak-ms after the reported onset, minus the median of 1.5 ms of it ending at the lowest
point of the 2 ms before the onset.

The line also holds the agreement (F1, 2 ms) with the faithful miniML scan: miniML's GC
model through nwbsyn's importer, every window of 600 samples at a rate where the recording's
10 largest events decay as fast as the GC model's training events (miniML's "event length"
setting, chosen as its Auto Settings do; --reference-rate-hz), stride 20, threshold 0.5,
outside the same exclusion windows (cached in --cache; ~2-3 s per second of recording on 2
cores).

With --gallery DIR, one PNG per recording with 24 random events (fixed seed): raw and
low-passed trace, the reported onset (steepest rise, dashed), foot (dot), baseline (green)
and amplitude (red bar from baseline to peak); and pages with every disagreement with the
reference scan (40 ms of trace, nwbsyn's events blue, miniML's red).

    python benchmarks/bench_events_real.py --gallery /tmp/gallery
    python benchmarks/bench_events_real.py --recordings 18808025 --gallery /tmp/gallery
Skips with a message when ../shared/data/events is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.ndimage
import scipy.signal

DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "events"


def find_recordings(root: Path) -> list[Path]:
    return sorted(root.rglob("*.abf"))


def _traces(nwbfile):
    """The analysed channel's sweeps as nwbsyn picks them: its TraceInputs (trace in pA or mV)."""
    from nwbsyn.events.nwb import load_inputs

    inputs = load_inputs(nwbfile)
    prefix = inputs[0].series.name.rsplit("sweep_", 1)[0]  # of several channels, the first one
    inputs = [i for i in inputs if i.series.name.rsplit("sweep_", 1)[0] == prefix]
    kind = "current" if inputs[0].default_polarity == -1 else "voltage"
    return inputs, kind


def direct_reading(trace, onsets, *, fs, polarity, peak_ms=4.0):
    """Plain peak-minus-baseline reading at each onset (events up), coded apart from nwbsyn."""
    b, a = scipy.signal.bessel(4, min(5000.0, fs / 8.0), fs=fs, norm="mag")
    z = polarity * scipy.signal.filtfilt(b, a, trace)
    ms = fs / 1e3
    out = np.full(onsets.size, np.nan)
    for i, o in enumerate(onsets):
        lo = max(0, o - int(2 * ms))
        foot = lo + int(np.argmin(z[lo : o + 1]))
        base = z[max(0, foot - int(1.5 * ms)) : foot + 1]
        stop = min(z.size, o + int(peak_ms * ms))
        if i + 1 < onsets.size:
            stop = max(o + 1, min(stop, onsets[i + 1]))
        out[i] = z[o:stop].max() - np.median(base)
    return out


def analyse(path: Path, tmp: Path, *, model, duplicate_ms: float):
    """Convert, then detect in every sweep and drop what nwbsyn's exclusion windows hold (the CLI's defaults).

    Returns (name, trace, fs, polarity, result, windows) per sweep, the kind and the detection seconds.
    """
    from pynwb import NWBHDF5IO

    from nwbsyn.events import detect_events
    from nwbsyn.events import exclude as exclusion
    from nwbsyn.io.abf import convert_abf

    out = tmp / (path.stem.replace(" ", "_") + ".nwb")
    convert_abf(path, output=out, overwrite=True)
    with NWBHDF5IO(str(out), "r") as io:
        nwbfile = io.read()
        t0 = time.perf_counter()
        inputs, kind = _traces(nwbfile)
        spec = exclusion.check_exclusions(nwbfile, inputs)
        sweeps = []
        for inp in inputs:
            trace = np.asarray(inp.trace, dtype=np.float64)
            res = detect_events(trace, sampling_rate_hz=inp.sampling_rate_hz, model=model,
                                polarity=inp.default_polarity, progress_bar=False)
            res, windows = exclusion.apply_exclusions(inp, res, exclusion.trace_windows(inp, spec))
            sweeps.append((inp.series.name, trace, inp.sampling_rate_hz, inp.default_polarity, res,
                           [(w.start_s, w.stop_s) for w in windows]))
        seconds = time.perf_counter() - t0
    return sweeps, kind, seconds


GC_HALF_DECAY_MS = 0.6  # the 10 largest events of miniML's example GC training windows (50 kHz), by half_decay_ms


def largest_events_half_decay(sweeps, *, n: int = 10, lowpass_hz: float = 2000.0) -> float:
    """Half-decay (ms) of the average of the ``n`` largest events, read off the trace alone.

    What miniML's "Auto Settings" does from the 10 largest events, coded here apart from
    nwbsyn's detector: the ``n`` largest peaks in the event direction of the trace low-passed
    (4th-order Bessel, zero phase) with a 50 ms running median removed, at least 50 ms apart
    and outside the exclusion windows; the raw trace around them averaged, aligned at those
    peaks; the time from that average's peak to half of it (:func:`half_decay_ms`).
    """
    found = []
    for _, trace, fs, polarity, _, windows in sweeps:
        b, a = scipy.signal.bessel(4, min(lowpass_hz, fs / 8.0), fs=fs, norm="mag")
        raw = polarity * trace  # events up
        raw = raw - scipy.ndimage.median_filter(raw, size=int(0.05 * fs) | 1, mode="nearest")
        z = scipy.signal.filtfilt(b, a, raw)
        ms = fs / 1e3
        peaks, _ = scipy.signal.find_peaks(z, distance=int(50 * ms))
        peaks = peaks[(peaks > 10 * ms) & (peaks < z.size - 40 * ms)]
        peaks = peaks[~_inside(peaks / fs, windows) & ~_inside((peaks + 30 * ms) / fs, windows)]
        found += [(z[p], raw[p - int(10 * ms) : p + int(30 * ms)], fs) for p in peaks]
    found.sort(key=lambda f: -f[0])
    fs = found[0][2]
    return half_decay_ms([f[1] for f in found[:n] if f[2] == fs], fs=fs, peak_index=int(10 * fs / 1e3))


def half_decay_ms(snippets, *, fs: float, peak_index: int) -> float:
    """Peak to 50 % of the average of ``snippets`` (events up, baseline 0), its peak within 1 ms of ``peak_index``."""
    avg = np.convolve(np.mean(snippets, axis=0), np.ones(3) / 3, mode="same")
    ms = fs / 1e3
    lo = max(0, peak_index - int(ms))
    peak = lo + int(np.argmax(avg[lo : peak_index + int(ms) + 1]))
    return float(np.argmax(avg[peak:] < 0.5 * avg[peak]) / ms)


def reference_rate_hz(sweeps) -> float:
    """miniML's "event length" for these sweeps: the rate at which their events look like the GC model's."""
    return float(np.clip(50_000.0 * GC_HALF_DECAY_MS / largest_events_half_decay(sweeps), 2_000.0, 100_000.0))


def reference_scan(path, sweeps, *, reference, cache: Path | None, rate_hz: float | None = None):
    """The faithful miniML scan of every sweep, cached by content.

    miniML's settings: every window (``mode="full"``), 600 samples, stride 20, threshold
    0.5, the data inverted for positive-going events. The window's duration is miniML's
    "event length" setting, which its documentation says to adjust when the kinetics differ
    from the training data: by default (``rate_hz=None``) the trace is resampled so that its
    largest events decay as fast, in window samples, as the GC model's training events
    (:func:`reference_rate_hz`). Scanning every recording at its own rate (30 ms windows at
    20 kHz) misses fast events and events beside a membrane-test transient, and at 50 kHz the
    slow events of 171116sh_0020 (half-decay ~3.5 ms, 5x the GC model's).
    """
    import hashlib

    from nwbsyn.events import detect_events
    from nwbsyn.events.model import load_model, resolve_model_path

    rate_hz = rate_hz or reference_rate_hz(sweeps)
    model_file = resolve_model_path(reference)
    tag = hashlib.sha256(model_file.read_bytes()).hexdigest()[:12]
    model, out = None, []
    for _, trace, fs, polarity, *_ in sweeps:
        text = f"{fs}{polarity}{tag}{rate_hz:.0f}".encode()
        key = hashlib.sha256(np.ascontiguousarray(trace).tobytes() + text).hexdigest()[:20]
        hit = cache / f"{key}.npy" if cache else None
        if hit is not None and hit.is_file():
            out.append(np.load(hit))
            continue
        model = model or load_model(reference, device="cpu")
        res = detect_events(trace, sampling_rate_hz=fs, model=model, polarity=polarity, mode="full",
                            model_rate_hz=rate_hz, progress_bar=False)
        out.append(res.onset_samples)
        if hit is not None:
            cache.mkdir(parents=True, exist_ok=True)
            np.save(hit, res.onset_samples)
    return out


def agreement(sweeps, reference_onsets, *, tolerance_ms: float = 2.0) -> dict:
    """F1 of the reported events against the reference scan outside nwbsyn's exclusion windows (both sides)."""
    from nwbsyn.events import match_events

    tp = n_ours = n_ref = 0
    for (_, _, fs, _, res, windows), ref in zip(sweeps, reference_onsets):
        ref = ref[~_inside(ref / fs, windows)]
        ours = res.onset_samples
        m = match_events(ref / fs, ours / fs, tolerance_s=tolerance_ms / 1e3)
        tp, n_ours, n_ref = tp + m.true_positives, n_ours + len(ours), n_ref + len(ref)
    f1 = 2 * tp / (n_ours + n_ref) if n_ours + n_ref else 1.0
    return {"agreement_f1": round(f1, 4), "agreement_tp": tp, "only_ours": n_ours - tp, "only_reference": n_ref - tp,
            "agreement_tolerance_ms": tolerance_ms}


def _inside(times_s, windows) -> np.ndarray:
    out = np.zeros(np.size(times_s), dtype=bool)
    for a, b in windows:
        out |= (times_s >= a) & (times_s < b)
    return out


def summarise(path, sweeps, kind, seconds, *, duplicate_ms):
    amps, direct, methods, gaps, pairs = [], [], [], [], []
    duration = 0.0
    for name, trace, fs, polarity, res, _ in sweeps:
        st = res.statistics
        duration += trace.size / fs
        amps.append(st.abs_amplitude_pA)
        direct.append(direct_reading(trace, res.onset_samples, fs=fs, polarity=polarity))
        methods.append(getattr(st, "amplitude_method", None) if getattr(st, "amplitude_method", None) is not None
                       else np.full(len(st), "unrecorded"))
        gaps.append(np.diff(res.onset_samples) / fs * 1e3)
        close = np.flatnonzero(gaps[-1] < duplicate_ms)
        pairs += [(name, round(res.onset_samples[i] / fs, 5), round(res.onset_samples[i + 1] / fs, 5)) for i in close]
    amps, direct, methods, gaps = (np.concatenate(x) if x else np.zeros(0) for x in (amps, direct, methods, gaps))
    analysed = sum(s[4].params["exclusion"]["analysed_s"] for s in sweeps)
    dropped: dict = {}
    for s in sweeps:
        for reason, count in s[4].params["exclusion"]["dropped"].items():
            dropped[reason] = dropped.get(reason, 0) + count
    with np.errstate(all="ignore"):
        ratio = amps / direct
    ok = np.isfinite(ratio) & (direct > 0)
    return {
        "bench": "events_real", "recording": path.name, "analysed": kind, "sweeps": len(sweeps),
        "duration_s": round(duration, 3), "n_events": int(amps.size),
        "analysed_s": round(analysed, 3), "excluded_by_reason": dropped,
        "frequency_hz": round(amps.size / analysed, 3) if analysed else None,
        "duplicates_lt_ms": duplicate_ms, "duplicates": int(np.sum(gaps < duplicate_ms)),
        "duplicate_pairs_s": pairs,
        "median_abs_amplitude": round(float(np.median(amps)), 3) if amps.size else None,
        "median_direct_reading": round(float(np.median(direct)), 3) if direct.size else None,
        "median_ratio_to_direct": round(float(np.median(ratio[ok])), 4) if ok.any() else None,
        "share_below_half_direct": round(float(np.mean(ratio[ok] < 0.5)), 4) if ok.any() else None,
        "amplitude_methods": {m: int(np.sum(methods == m)) for m in sorted(set(methods.tolist()))},
        "seconds": round(seconds, 2), "seconds_per_recording_second": round(seconds / duration, 3) if duration else None,
        "timing_note": "rough: shared CPU", "load_avg_1min": round(os.getloadavg()[0], 2),
    }


def gallery(path, sweeps, folder: Path, *, n: int = 24, seed: int = 0) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    events = [(k, i) for k, s in enumerate(sweeps) for i in range(len(s[4]))]
    if not events:
        return None
    rng = np.random.default_rng(seed)
    pick = sorted(rng.choice(len(events), size=min(n, len(events)), replace=False))
    fig, axes = plt.subplots(4, 6, figsize=(18, 10), squeeze=False)
    for ax in axes.flat[len(pick):]:
        ax.axis("off")
    for ax, j in zip(axes.flat, pick):
        k, i = events[j]
        name, trace, fs, polarity, res, _ = sweeps[k]
        st = res.statistics
        ms = fs / 1e3
        feet = getattr(st, "foot_samples", None)
        o, p = int(res.onset_samples[i]), int(st.peak_samples[i])
        foot = int(feet[i]) if feet is not None else o
        method = st.amplitude_method[i] if getattr(st, "amplitude_method", None) is not None else "?"
        lo, hi = max(0, foot - int(6 * ms)), min(trace.size, p + int(15 * ms))
        t = (np.arange(lo, hi) - o) / ms
        b, a = scipy.signal.butter(4, min(5000.0, fs / 8.0), fs=fs)
        ax.plot(t, trace[lo:hi], color="0.75", lw=0.6)
        ax.plot(t, scipy.signal.filtfilt(b, a, trace)[lo:hi], color="k", lw=0.8)
        ax.axvline(0.0, color="tab:blue", ls="--", lw=0.8)
        ax.plot([(foot - o) / ms], [trace[foot]], "o", color="tab:blue", ms=3)
        ax.hlines(st.baseline_pA[i], (foot - o) / ms - 1.2, (p - o) / ms, color="tab:green", lw=1.2)
        ax.vlines((p - o) / ms, st.baseline_pA[i], st.peak_pA[i], color="tab:red", lw=1.5)
        ax.set_title(f"{name} {res.onset_times_s[i]:.4f}s\n{st.amplitude_pA[i]:.1f} ({method})",
                     fontsize=7)
        ax.tick_params(labelsize=6)
    fig.suptitle(f"{path.name}: 24 random events (grey raw, black low-passed, dashed onset, dot foot, "
                 "green baseline, red amplitude); x in ms from onset", fontsize=9)
    fig.tight_layout()
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"gallery_{path.stem.replace(' ', '_')}.png"
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def disagreements(sweeps, reference_onsets, *, tolerance_ms: float = 2.0):
    """(sweep index, sample, who) of every event found by one side only; who is "ours" or "reference"."""
    from nwbsyn.events import match_events

    out = []
    for k, ((_, _, fs, _, res, windows), ref) in enumerate(zip(sweeps, reference_onsets)):
        ref = ref[~_inside(ref / fs, windows)]
        m = match_events(ref / fs, res.onset_samples / fs, tolerance_s=tolerance_ms / 1e3)
        out += [(k, int(o), "ours") for o in np.delete(res.onset_samples, m.detected_indices)]
        out += [(k, int(o), "reference") for o in np.delete(ref, m.true_indices)]
    return sorted(out)


def disagreement_gallery(path, sweeps, reference_onsets, folder: Path, *, per_page: int = 48) -> list[str]:
    """PNG pages with every disagreement: 40 ms of trace, our events (blue) and the reference's (red)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    items = disagreements(sweeps, reference_onsets)
    pages = []
    for page, start in enumerate(range(0, len(items), per_page)):
        chunk = items[start : start + per_page]
        fig, axes = plt.subplots(6, 8, figsize=(24, 13), squeeze=False)
        for ax in axes.flat[len(chunk):]:
            ax.axis("off")
        for ax, (k, o, who) in zip(axes.flat, chunk):
            name, trace, fs, _, res, _ = sweeps[k]
            ms = fs / 1e3
            lo, hi = max(0, o - int(10 * ms)), min(trace.size, o + int(30 * ms))
            t = (np.arange(lo, hi) - o) / ms
            ax.plot(t, trace[lo:hi], color="k", lw=0.6)
            y = trace[lo:hi].min()
            for marks, colour, dy in ((res.onset_samples, "tab:blue", 0.0), (reference_onsets[k], "tab:red", 0.08)):
                inside = marks[(marks >= lo) & (marks < hi)]
                ax.plot((inside - o) / ms, np.full(inside.size, y - dy * np.ptp(trace[lo:hi])), "^", color=colour,
                        ms=4)
            ax.set_title(f"only {who}: {name} {o / fs:.4f} s", fontsize=7, color="tab:blue" if who == "ours" else
                         "tab:red")
            ax.tick_params(labelsize=6)
        fig.suptitle(f"{path.name}: disagreements with the faithful miniML scan, page {page + 1} "
                     f"(blue: nwbsyn, red: miniML GC; x in ms from the event)", fontsize=9)
        fig.tight_layout()
        folder.mkdir(parents=True, exist_ok=True)
        out = folder / f"disagreements_{path.stem.replace(' ', '_')}_{page + 1}.png"
        fig.savefig(out, dpi=70)
        plt.close(fig)
        pages.append(str(out))
    return pages


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="folder searched for .abf files")
    p.add_argument("--recordings", nargs="+", help="only recordings whose file name contains one of these")
    p.add_argument("--model", default="default")
    p.add_argument("--duplicate-ms", type=float, default=2.0)
    p.add_argument("--gallery", type=Path, help="folder for the gallery PNGs (one per recording)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--reference", default="GC", help="miniML model for the faithful reference scan ('' to skip)")
    p.add_argument("--reference-rate-hz", type=float, default=0.0,
                   help="rate the reference scan runs at (miniML's event length); 0: matched to the recording's "
                        "largest events (reference_rate_hz)")
    p.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "nwbsyn-bench-reference",
                   help="where the reference scans are cached (they take ~1 s per second of recording)")
    a = p.parse_args(argv)
    if not a.root.is_dir():
        print(f"bench_events_real: {a.root} not found; skipping (the real recordings live in ../shared).")
        return 0
    import torch

    from nwbsyn.events.model import load_model

    torch.set_num_threads(a.threads)
    model = load_model(a.model, device="cpu")
    paths = [q for q in find_recordings(a.root) if not a.recordings or any(r in q.name for r in a.recordings)]
    with tempfile.TemporaryDirectory() as tmp:
        for path in paths:
            sweeps, kind, seconds = analyse(path, Path(tmp), model=model, duplicate_ms=a.duplicate_ms)
            line = summarise(path, sweeps, kind, seconds, duplicate_ms=a.duplicate_ms)
            if a.reference:
                ref = reference_scan(path, sweeps, reference=a.reference, cache=a.cache,
                                     rate_hz=a.reference_rate_hz or None)
                line.update(agreement(sweeps, ref))
                line["agreement_f1_5ms"] = agreement(sweeps, ref, tolerance_ms=5.0)["agreement_f1"]  # placement apart
                line["reference_rate_hz"] = round(a.reference_rate_hz or reference_rate_hz(sweeps))
                line["largest_events_half_decay_ms"] = round(largest_events_half_decay(sweeps), 3)
                if a.gallery:
                    line["disagreement_pages"] = disagreement_gallery(path, sweeps, ref, a.gallery)
            if a.gallery:
                line["gallery"] = str(gallery(path, sweeps, a.gallery))
            print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
