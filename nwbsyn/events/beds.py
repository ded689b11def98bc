"""Noise beds from real recordings: event-poor stretches, and labelled training windows cut from them.

Detection runs on 600-sample windows at the recording's own rate (as miniML does), so
beds stay at their own rate and events are drawn in samples. Nothing from the recordings
is stored: beds are cut at training time, and the model card says which files were used.
When ``../shared/data/events`` is absent, :func:`real_noise_beds` returns an empty list
and the recipes fall back to synthetic noise, saying so in the card.

Examples
--------
>>> rng = np.random.default_rng(0)
>>> w = bed_windows(8, beds=[rng.normal(size=50_000)], rng=rng)
>>> w.windows.shape, sorted(set(w.labels.tolist()))
((8, 600), [0, 1])
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nwbsyn.events.simulate import SimulatedWindows, biexponential_event

__all__ = ["SHARED_EVENTS", "real_noise_beds", "bed_windows", "describe_beds"]

SHARED_EVENTS = Path(__file__).resolve().parents[3] / "shared" / "data" / "events"


def real_noise_beds(root: Path | None = None, *, min_stretch_s: float = 0.05) -> list[np.ndarray]:
    """Event-poor stretches of the voltage-clamp ABFs under ``root``, at their own rate, one array per file.

    A stretch is event-poor when its 2 kHz low-passed, detrended current stays within 3.5
    robust SDs for at least ``min_stretch_s`` (20 ms cut at each side). Empty when absent.
    """
    import scipy.ndimage
    import scipy.signal

    root = SHARED_EVENTS / "abf" if root is None else Path(root)
    if not root.is_dir():
        return []
    import pyabf

    beds = []
    for path in sorted(root.rglob("*.abf")):
        abf = pyabf.ABF(str(path))
        if abf.adcUnits[0] != "pA":
            continue
        fs = float(abf.sampleRate)
        pieces = []
        for k in range(abf.sweepCount):
            abf.setSweep(k, channel=0)
            x = np.asarray(abf.sweepY, dtype=float)
            x = x - scipy.ndimage.median_filter(x, size=int(0.05 * fs) | 1, mode="nearest")
            sos = scipy.signal.butter(2, min(2000.0, fs / 4), fs=fs, output="sos")
            z = scipy.signal.sosfiltfilt(sos, x)
            sd = 1.4826 * np.median(np.abs(z - np.median(z)))
            bad = scipy.ndimage.binary_dilation(np.abs(z) > 3.5 * sd, iterations=int(0.02 * fs))
            for lab in scipy.ndimage.find_objects(scipy.ndimage.label(~bad)[0]):
                a, b = lab[0].start, lab[0].stop
                if (b - a) / fs >= min_stretch_s:
                    pieces.append(x[a:b] - x[a:b].mean())
        if pieces:
            beds.append(np.concatenate(pieces).astype(np.float32))
    return beds



def describe_beds(beds: list[np.ndarray]) -> str:
    """One line for a model card: what the beds were."""
    if not beds:
        return "none: ../shared/data/events was absent, synthetic noise only"
    return (f"{len(beds)} files, {sum(b.size for b in beds)} samples of event-poor stretches of the voltage-clamp "
            "ABFs in ../shared/data/events/abf (own rate)")


def _log_uniform(rng, lo, hi, n):
    return np.exp(rng.uniform(np.log(lo), np.log(hi), n))


def bed_windows(n: int, *, beds: list[np.ndarray], rng, window_samples: int = 600, positive_fraction: float = 0.5,
                snr_range=(2.5, 20.0)) -> SimulatedWindows:
    """Labelled windows cut from real noise beds, events drawn in samples (events point down).

    Positives (label 1): one event with its onset at 10-55 % of the window, a quarter with a
    second one 6-200 samples later; rise time constants 2-20 samples, decay 15-250 samples
    (0.1-1 and 0.75-12.5 ms at 20 kHz), amplitudes ``snr`` x the bed's robust SD. Negatives:
    the bed alone (60 %), an event cut by the window edge (20 %), an outward event (20 %).
    """
    L, n = int(window_samples), int(n)
    pos = rng.random(n) < positive_fraction
    kind = np.where(pos, "event", rng.choice(["noise", "edge", "artifact"], size=n, p=[0.6, 0.2, 0.2]))
    which = rng.integers(len(beds), size=n)
    windows = np.empty((n, L))
    for i in range(n):
        bed = beds[which[i]]
        s = int(rng.integers(0, bed.size - L))
        windows[i] = bed[s : s + L] - np.median(bed[s : s + L])
    sd = np.array([1.4826 * np.median(np.abs(w - np.median(w))) for w in windows])
    t = np.arange(L) / 50.0  # samples in units of 20 us, so the waveform's ms arguments are samples / 50
    rise = _log_uniform(rng, 2, 20, n) / 50
    decay = np.maximum(_log_uniform(rng, 15, 250, n) / 50, 3 * rise)
    amp = sd * _log_uniform(rng, *snr_range, n)
    onset = np.where(kind == "edge", np.where(rng.random(n) < 0.5, rng.uniform(0.85, 1.0, n), rng.uniform(-0.6, -0.1, n)),
                     rng.uniform(0.1, 0.55, n)) * L
    sign = np.where(kind == "artifact", 1.0, -1.0)
    has = kind != "noise"
    windows[has] += sign[has, None] * biexponential_event(t[None, :] - onset[has, None] / 50, rise_ms=rise[has, None],
                                                          decay_ms=decay[has, None], amplitude_pA=amp[has, None])
    two = pos & (rng.random(n) < 0.25)
    second = onset[two] + rng.uniform(6, 200, two.sum())
    windows[two] -= biexponential_event(t[None, :] - second[:, None] / 50, rise_ms=rise[two, None],
                                        decay_ms=decay[two, None],
                                        amplitude_pA=(amp[two] * rng.uniform(0.3, 1.5, two.sum()))[:, None])
    onsets = np.where(pos, np.round(onset), -1).astype(np.int64)
    return SimulatedWindows(windows=windows.astype(np.float32), labels=pos.astype(np.int64), onset_samples=onsets,
                            kinds=np.where(two, "overlap", kind).astype(str), sampling_rate_hz=float("nan"))
