"""Per-event and per-recording statistics of detected synaptic events.

Amplitude is read directly, as miniML, MiniAnalysis and Eventer users read it: the peak of
the lightly low-passed event (4th-order Butterworth, zero phase; default min(5 kHz, fs/8))
minus a local baseline just before the event's foot (the start of its rise, found by walking
back from the steepest rise). An event that starts on the decay of the previous one is
measured from its own foot against that decay extrapolated to its peak. With
``kinetics="fit"`` (default) a biexponential fitted to each isolated event (baseline and
amplitude by generalised least squares with the noise autocovariance of the recording)
refines the reading where it agrees with it; ``amplitude_method`` says, per event, which
reading was kept. All events of a slice are measured at once (vectorised numpy, one batched
Levenberg-Marquardt fit), never one solver call per event. Lazy inputs (``h5py.Dataset``,
``numpy.memmap``) are read in slices around the events.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import scipy.fft
import scipy.linalg
import scipy.optimize
import scipy.signal

from nwbsyn._shared import InputError
from nwbsyn.events._shapefit import biexponential_kinetics, fit_biexponential, time_constants, unit_event

__all__ = ["EventStatistics", "TraceReader", "event_statistics", "check_trace", "AMPLITUDE_METHODS"]

_PER_EVENT = (
    "baseline_pA",
    "peak_pA",
    "amplitude_pA",
    "abs_amplitude_pA",
    "rise_time_ms",
    "half_decay_ms",
    "half_width_ms",
    "charge_pC",
)

#: Values of ``EventStatistics.amplitude_method``.
AMPLITUDE_METHODS = {
    "direct": "peak of the low-passed event minus the mean of the baseline before its foot",
    "direct_on_decay": "peak minus the previous event's decay extrapolated from this event's foot to its peak",
    "fit": "biexponential fit (GLS baseline and amplitude) agreeing with the direct reading",
}


@dataclass(frozen=True)
class EventStatistics:
    """Statistics of the events of one sweep.

    Per event (arrays of length n, NaN where a quantity could not be measured):
    ``baseline_pA``, ``peak_pA``, ``amplitude_pA`` (peak - baseline, signed as in the
    data), ``abs_amplitude_pA``, ``rise_time_ms`` (10-90 %, never below one sample
    interval), ``half_decay_ms`` (peak to 50 % decay), ``half_width_ms``, ``charge_pC``
    (signed), ``onset_samples`` (steepest rise), ``peak_samples``, ``foot_samples`` (start
    of the rise, where the baseline ends) and ``amplitude_method`` (one of
    :data:`AMPLITUDE_METHODS`). Per recording: ``frequency_hz``, ``intervals_s`` (n - 1),
    ``average_event_pA`` (baseline-subtracted, on ``average_event_time_ms`` relative to
    onset) and ``decay_tau_ms`` (mono-exponential fit to the average event).
    """

    onset_samples: np.ndarray
    peak_samples: np.ndarray
    baseline_pA: np.ndarray
    peak_pA: np.ndarray
    amplitude_pA: np.ndarray
    abs_amplitude_pA: np.ndarray
    rise_time_ms: np.ndarray
    half_decay_ms: np.ndarray
    half_width_ms: np.ndarray
    charge_pC: np.ndarray
    intervals_s: np.ndarray
    frequency_hz: float
    average_event_pA: np.ndarray
    average_event_time_ms: np.ndarray
    decay_tau_ms: float
    duration_s: float
    sampling_rate_hz: float
    polarity: int
    foot_samples: np.ndarray | None = None
    amplitude_method: np.ndarray | None = None

    def __post_init__(self):
        n = len(self.onset_samples)
        if self.foot_samples is None:
            object.__setattr__(self, "foot_samples", np.asarray(self.onset_samples).copy())
        if self.amplitude_method is None:
            object.__setattr__(self, "amplitude_method", np.full(n, "direct", dtype="<U15"))

    def __len__(self) -> int:
        return len(self.onset_samples)

    def summary(self) -> dict[str, float]:
        """Mean and median of each per-event statistic, plus frequency, mean interval and decay tau."""
        out: dict[str, float] = {"n_events": float(len(self)), "frequency_hz": self.frequency_hz}
        for name in _PER_EVENT:
            values = getattr(self, name)
            finite = values[np.isfinite(values)]
            out[f"mean_{name}"] = float(finite.mean()) if finite.size else float("nan")
            out[f"median_{name}"] = float(np.median(finite)) if finite.size else float("nan")
        out["mean_interval_s"] = float(self.intervals_s.mean()) if self.intervals_s.size else float("nan")
        out["decay_tau_ms"] = self.decay_tau_ms
        for method in AMPLITUDE_METHODS:
            out[f"n_amplitude_{method}"] = float(np.sum(self.amplitude_method == method))
        return out

    def table(self) -> dict[str, np.ndarray]:
        """Per-event numeric columns (onset, foot, peak and every per-event statistic) as a dict of arrays.

        ``amplitude_method`` (strings) is left out; read it from the attribute.
        """
        names = ("onset_samples", "foot_samples", "peak_samples", *_PER_EVENT)
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name in names}


def check_trace(trace, *, sampling_rate_hz: float, min_samples: int = 2, name: str = "trace") -> np.ndarray:
    """Return ``trace`` as a 1-D float64 array, or raise InputError naming the problem."""
    trace = np.asarray(trace)
    if trace.ndim != 1:
        raise InputError(f"{name} must be 1-D (one sweep); got shape {trace.shape}. Pass one sweep at a time.")
    if not np.issubdtype(trace.dtype, np.number) or np.iscomplexobj(trace):
        raise InputError(f"{name} must hold real numbers; got dtype {trace.dtype}.")
    if not (np.isscalar(sampling_rate_hz) and np.isfinite(sampling_rate_hz) and sampling_rate_hz > 0):
        raise InputError(f"sampling_rate_hz must be a positive number; got {sampling_rate_hz!r}.")
    if trace.size < min_samples:
        raise InputError(f"{name} has {trace.size} samples; at least {min_samples} are needed. Pass a longer sweep.")
    trace = trace.astype(np.float64, copy=False)
    if not np.all(np.isfinite(trace)):
        raise InputError(f"{name} contains NaN or infinite values; interpolate or cut them out first.")
    return trace


class TraceReader:
    """Read slices of a 1-D trace as float64, checking each slice for NaN/inf.

    ``trace`` may be a numpy array (checked once, up front) or any lazy array-like with
    ``shape``, ``dtype`` and slicing, such as an ``h5py.Dataset``, a ``numpy.memmap`` or
    a zarr array: those are never loaded whole; each slice is checked when read.
    """

    def __init__(self, trace, *, sampling_rate_hz: float, min_samples: int = 2, name: str = "trace"):
        lazy = isinstance(trace, np.memmap) or (
            not isinstance(trace, np.ndarray) and all(hasattr(trace, a) for a in ("shape", "dtype", "__getitem__"))
        )
        if lazy:
            shape, dtype = tuple(trace.shape), np.dtype(trace.dtype)
            if len(shape) != 1:
                raise InputError(f"{name} must be 1-D (one sweep); got shape {shape}. Pass one sweep at a time.")
            if not np.issubdtype(dtype, np.number) or np.issubdtype(dtype, np.complexfloating):
                raise InputError(f"{name} must hold real numbers; got dtype {dtype}.")
            if not (np.isscalar(sampling_rate_hz) and np.isfinite(sampling_rate_hz) and sampling_rate_hz > 0):
                raise InputError(f"sampling_rate_hz must be a positive number; got {sampling_rate_hz!r}.")
            if shape[0] < min_samples:
                raise InputError(
                    f"{name} has {shape[0]} samples; at least {min_samples} are needed. Pass a longer sweep."
                )
            self._data, self.size = trace, int(shape[0])
        else:
            self._data = check_trace(trace, sampling_rate_hz=sampling_rate_hz, min_samples=min_samples, name=name)
            self.size = int(self._data.size)
        self.lazy, self.name = lazy, name

    def read(self, start: int, stop: int) -> np.ndarray:
        """``trace[start:stop]`` (clipped to the trace) as float64."""
        start, stop = max(0, int(start)), min(self.size, int(stop))
        if not self.lazy:
            return self._data[start:stop]
        seg = np.asarray(self._data[start:stop], dtype=np.float64)
        if not np.all(np.isfinite(seg)):
            raise InputError(f"{self.name} contains NaN or infinite values; interpolate or cut them out first.")
        return seg


def event_statistics(
    trace,
    onsets,
    *,
    sampling_rate_hz: float,
    polarity: int = -1,
    baseline_ms: float = 1.2,
    baseline_gap_ms: float = 0.1,
    peak_window_ms: float = 4.0,
    decay_search_ms: float = 50.0,
    snippet_ms: tuple[float, float] = (2.0, 10.0),
    kinetics: str = "fit",
    lowpass_hz: float | str | None = "auto",
    foot_search_ms: float = 3.0,
    fit_agreement: float = 0.25,
    chunk_samples: int = 2**21,
) -> EventStatistics:
    """Measure every event of a sweep and summarise the recording.

    Parameters
    ----------
    trace : (n_samples,) array or array-like
        Current in pA. A lazy array-like (``h5py.Dataset``, ``numpy.memmap``) is read in
        slices around the events, never whole.
    onsets : (n_events,) array of int
        Event positions in samples (the steepest rise, as detection gives them, or the
        onsets); sorted here.
    sampling_rate_hz : float
    polarity : {-1, +1}, default: -1
        Direction of the events in ``trace``.
    baseline_ms, baseline_gap_ms : float
        The baseline is the mean of ``baseline_ms`` of the low-passed trace ending
        ``baseline_gap_ms`` before the event's foot, shortened so that it starts after the
        previous event's peak. The foot is found by walking back from ``onsets`` (at most
        ``foot_search_ms``, never before the previous onset) while the low-passed trace keeps
        falling away from the event (within 2 noise SDs, or 3 where that reaches 2 SDs lower).
    peak_window_ms : float, default: 4
        The peak is the extremum of the low-passed trace within this time after the onset
        (and before the next event's foot).
    decay_search_ms : float, default: 50
        How far after the peak the 50 % decay crossing is searched.
    snippet_ms : (float, float), default: (2, 10)
        Time before and after onset kept for the average event (events with an
        undisturbed baseline only).
    kinetics : {"fit", "crossing"}, default: "fit"
        ``"crossing"``: amplitude, rise (10-90 %, interpolated), half-decay and half-width
        read directly on the low-passed trace. ``"fit"`` (default) also fits
        ``baseline + A * biexponential(t - t0; tau_rise, tau_decay)`` to every event whose
        baseline is undisturbed (1 ms before the foot to 15 ms after it or the next foot),
        all events of a slice in one batched fit, with baseline and amplitude re-estimated
        by generalised least squares (noise autocovariance from the first ~10 s of the
        trace, events masked). The fitted amplitude and kinetics replace the direct reading
        only where the amplitudes agree within ``fit_agreement`` (or 3 noise SDs); in noise
        they are less biased than threshold crossings.
    lowpass_hz : float, "auto" or None, default: "auto"
        The light low-pass (4th-order Butterworth, zero phase) of the direct reading;
        "auto" = min(5 kHz, fs / 8); None reads the raw trace.
    foot_search_ms : float, default: 3
    fit_agreement : float, default: 0.25
        Largest relative difference between the fitted and the direct amplitude for the fit
        to be kept.
    chunk_samples : int, default: 2**21
        Events are measured in groups spanning about this many samples (one slice read
        per group); the result does not depend on it.

    Returns
    -------
    EventStatistics
        ``amplitude_method`` says, per event, which reading gave the amplitude
        (:data:`AMPLITUDE_METHODS`).

    Examples
    --------
    >>> from nwbsyn.events.simulate import simulate_trace
    >>> sim = simulate_trace(duration_s=5.0, rate_hz=4.0, noise_sd_pA=0.2, rng=1)
    >>> st = event_statistics(sim.trace_pA, sim.onset_samples, sampling_rate_hz=sim.sampling_rate_hz)
    >>> bool(np.allclose(st.amplitude_pA, sim.amplitudes_pA, rtol=0.1, atol=0.6))
    True
    """
    reader = trace if isinstance(trace, TraceReader) else TraceReader(trace, sampling_rate_hz=sampling_rate_hz)
    if polarity not in (-1, 1):
        raise InputError(f"polarity must be -1 (negative-going events) or +1; got {polarity!r}.")
    if kinetics not in ("fit", "crossing"):
        raise InputError(f"kinetics must be 'fit' or 'crossing'; got {kinetics!r}.")
    onsets = np.asarray(onsets)
    if onsets.ndim != 1 or (onsets.size and not np.issubdtype(onsets.dtype, np.integer)):
        raise InputError("onsets must be a 1-D array of integer sample indices.")
    onsets = np.sort(onsets.astype(np.int64))
    n, fs = reader.size, float(sampling_rate_hz)
    if onsets.size and (onsets[0] < 0 or onsets[-1] >= n):
        raise InputError(f"onsets must lie in [0, {n}); got {onsets.min()}..{onsets.max()}.")
    sz = _sizes(fs, baseline_ms=baseline_ms, baseline_gap_ms=baseline_gap_ms, peak_window_ms=peak_window_ms,
                decay_search_ms=decay_search_ms, snippet_ms=snippet_ms, foot_search_ms=foot_search_ms,
                lowpass_hz=lowpass_hz)
    sigma, whiten = _noise_model(reader, onsets, sz, fit=kinetics == "fit")
    sz.update(sigma=sigma, whiten=whiten, fit=kinetics == "fit", polarity=int(polarity))
    groups, k0 = [], 0
    while k0 < onsets.size:
        k1 = max(k0 + 1, int(np.searchsorted(onsets, onsets[k0] + max(1, int(chunk_samples)), side="left")))
        groups.append(_measure_group(reader, onsets, k0, k1, sz))
        k0 = k1
    cols = _combine(groups, onsets.size, sz, fit_agreement=float(fit_agreement))
    t_ms = np.arange(-sz["pre"], sz["post"]) * 1e3 / fs
    avg = _average(groups, t_ms.size) * polarity
    duration_s = n / fs
    return EventStatistics(
        onset_samples=onsets,
        peak_samples=cols.pop("peak_samples"),
        foot_samples=cols.pop("foot_samples"),
        amplitude_method=cols.pop("amplitude_method"),
        baseline_pA=polarity * cols["baseline"],
        peak_pA=polarity * (cols["baseline"] + cols["amplitude"]),
        amplitude_pA=polarity * cols["amplitude"],
        abs_amplitude_pA=np.abs(cols["amplitude"]),
        rise_time_ms=cols["rise"],
        half_decay_ms=cols["half"],
        half_width_ms=cols["width"],
        charge_pC=polarity * cols["charge"],
        intervals_s=np.diff(onsets) / fs,
        frequency_hz=onsets.size / duration_s,
        average_event_pA=avg,
        average_event_time_ms=t_ms,
        decay_tau_ms=_fit_decay(polarity * avg, t_ms),
        duration_s=duration_s,
        sampling_rate_hz=fs,
        polarity=int(polarity),
    )


_FIT_MS = (1.0, 15.0)  # each event is fitted from 1 ms before its foot to 15 ms after it
_FIT_GRID_HZ = 16_000.0  # ... on a grid of at least this rate (every 3rd sample at 50 kHz; finer costs time, coarser accuracy)


def _sizes(fs, *, baseline_ms, baseline_gap_ms, peak_window_ms, decay_search_ms, snippet_ms, foot_search_ms,
           lowpass_hz) -> dict:
    """Window lengths in samples, the low-pass filter and its halo."""
    ms = fs / 1e3
    if isinstance(lowpass_hz, str):
        if lowpass_hz != "auto":
            raise InputError(f"lowpass_hz must be a frequency in Hz, 'auto' or None; got {lowpass_hz!r}.")
        lowpass_hz = min(5000.0, fs / 8.0)
    sz = dict(
        ms=ms, fs=fs, nb=max(2, int(round(baseline_ms * ms))), gap=int(round(baseline_gap_ms * ms)),
        n_level=max(2, int(round(0.5 * ms))), n_peak=max(1, int(round(peak_window_ms * ms))),
        n_peak_max=max(1, int(round(5 * peak_window_ms * ms))),
        n_decay=max(2, int(round(decay_search_ms * ms))), n_foot=max(2, int(round(foot_search_ms * ms))),
        pre=int(round(snippet_ms[0] * ms)), post=int(round(snippet_ms[1] * ms)),
        fit_pre=int(round(_FIT_MS[0] * ms)), fit_post=int(round(_FIT_MS[1] * ms)),
        fit_step=max(1, int(fs // _FIT_GRID_HZ)), sos=None, halo=0, lag=1,
    )
    if lowpass_hz is not None and 0 < float(lowpass_hz) < 0.45 * fs:
        sz["sos"] = scipy.signal.butter(4, float(lowpass_hz), fs=fs, output="sos")
        sz["halo"] = int(np.ceil(20 * fs / float(lowpass_hz)))
        sz["lag"] = max(1, int(np.ceil(fs / float(lowpass_hz))))
    return sz


def _lowpassed(reader, lo, hi, sos, halo, *, block: int = 2**14):
    """``trace[lo:hi]``, low-passed (zero phase) when ``sos`` is given.

    The filter runs on blocks of a grid fixed to the trace start (each read widened by
    ``halo``), so every sample comes out bit for bit the same whatever slice asks for it.
    """
    if sos is None:
        return reader.read(lo, hi)
    lo, hi = max(0, int(lo)), min(reader.size, int(hi))
    out = np.empty(max(0, hi - lo))
    for j in range(lo // block, -(-hi // block)):
        a, b = j * block, min(reader.size, (j + 1) * block)
        a0 = max(0, a - halo)
        seg = reader.read(a0, b + halo)
        if seg.size > 3 * (2 * len(sos) + 1):
            seg = scipy.signal.sosfiltfilt(sos, seg)
        s0, s1 = max(a, lo), min(b, hi)
        out[s0 - lo : s1 - lo] = seg[s0 - a0 : s1 - a0]
    return out


def _event_free(onsets, start, size, *, before, after) -> np.ndarray:
    """True where ``start + i`` lies outside every [onset - before, onset + after)."""
    near = onsets[(onsets >= start - after) & (onsets < start + size + before)] - start
    count = np.zeros(size + 1, dtype=np.int64)
    np.add.at(count, np.clip(near - before, 0, size), 1)
    np.add.at(count, np.clip(near + after, 0, size), -1)
    return np.cumsum(count[:-1]) == 0


def _robust_sd(x) -> float:
    return float(1.4826 * np.median(np.abs(x - np.median(x)))) if x.size else 0.0


def _noise_model(reader, onsets, sz, *, fit, max_samples: int = 2**19, piece_samples: int = 2**14):
    """(SD of the low-passed noise, inverse Cholesky factor of the noise covariance over one fit window or None).

    Both come from the first ``max_samples`` of the trace, read in pieces, with every event
    (onset - 1 ms to onset + 15 ms) left out. The SD is that of differences at the filter's
    correlation length (so slow drift does not count); the covariance, on the fit's sample
    grid, is what the generalised least squares of the fitted amplitudes whiten with.
    """
    pre, lags = sz["fit_pre"], sz["fit_pre"] + sz["fit_post"]
    n, step = min(reader.size, int(max_samples)), max(int(piece_samples), 4 * lags)
    acov, count, diffs, lag = np.zeros(lags), 0, [], sz["lag"]
    for start in range(0, n, step):
        stop = min(n, start + step)
        keep = _event_free(onsets, start, stop - start, before=pre, after=lags)
        if keep.sum() < 4 * lags:
            continue
        xf = _lowpassed(reader, start, stop, sz["sos"], sz["halo"])
        diffs.append((xf[lag:] - xf[:-lag])[keep[lag:] & keep[:-lag]])
        if fit:
            x = reader.read(start, stop)
            x = np.where(keep, x - x[keep].mean(), 0.0)
            size = scipy.fft.next_fast_len(x.size + lags, real=True)
            spec = scipy.fft.rfft(x, size)
            acov += scipy.fft.irfft(spec * spec.conj(), size)[:lags]
            count += int(keep.sum())
    if not diffs:  # no event-free stretch: all of the first piece
        xf = _lowpassed(reader, 0, min(n, step), sz["sos"], sz["halo"])
        diffs = [xf[lag:] - xf[:-lag]]
    sigma = _robust_sd(np.concatenate(diffs)) / np.sqrt(2.0)
    if not fit or count < 4 * lags:
        return sigma, None
    acov = acov[:: sz["fit_step"]] / count
    cov = scipy.linalg.toeplitz(acov) + 1e-6 * acov[0] * np.eye(acov.size)
    try:
        chol = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        return sigma, None
    return sigma, scipy.linalg.solve_triangular(chol, np.eye(acov.size), lower=True)


def _window_mean(z, start, stop, width):
    """Mean of ``z[start:stop]`` per row (at most ``width`` samples), summed in the same order in any slice."""
    idx = start[:, None] + np.arange(width)[None, :]
    ok = idx < stop[:, None]
    return np.where(ok, z[np.clip(idx, 0, z.size - 1)], 0.0).sum(axis=1) / np.maximum(stop - start, 1)


def _feet(zs, ol, bound, sz, *, sigma):
    """Foot of each event: walk back from ``ol`` while the low-passed trace keeps falling.

    The walk stops where the trace rises again by more than 2 x ``sigma`` (or at ``bound``);
    the foot is the lowest point passed.
    """
    cols = np.arange(sz["n_foot"] + 1)
    idx = ol[:, None] - cols[None, :]
    valid = idx >= bound[:, None]
    vals = np.where(valid, zs[np.clip(idx, 0, zs.size - 1)], np.inf)
    running = np.minimum.accumulate(vals, axis=1)
    stop = np.zeros(vals.shape, dtype=bool)
    stop[:, 1:] = (vals[:, 1:] > running[:, :-1] + 2.0 * sigma) | ~valid[:, 1:]
    first = np.where(stop.any(axis=1), np.argmax(stop, axis=1), cols.size)
    return ol - np.argmin(np.where(cols[None, :] < first[:, None], vals, np.inf), axis=1)


def _peaks(zf, foot, bound, bound_max, sz):
    """Extremum of ``zf`` from the foot to ``bound`` (the peak window), or further while still rising.

    An event still rising at the end of the window (slow EPSPs, NMJ currents) is followed
    until the trace falls 2 noise SDs below its running maximum, at most to ``bound_max``.
    """
    reach = sz["n_foot"] + sz["n_peak_max"]
    cols = np.arange(reach)[None, :]
    idx = foot[:, None] + cols
    end, end_max = np.maximum(bound, foot + 1) - foot, np.maximum(bound_max, foot + 1) - foot
    vals = np.where((cols < end_max[:, None]) & (idx < zf.size), zf[np.clip(idx, 0, zf.size - 1)], -np.inf)
    running = np.maximum.accumulate(vals, axis=1)
    stop = (cols >= end[:, None]) & ((vals < running - 2.0 * sz["sigma"]) | ~np.isfinite(vals))
    first = np.where(stop.any(axis=1), np.argmax(stop, axis=1), reach)
    return foot + np.argmax(np.where(cols < first[:, None], vals, -np.inf), axis=1)


def _crossings(zf, foot, peak, limit, bl, amp, sz):
    """Interpolated 10 %, 90 %, 50 % (rising) and 50 % (decay) crossings, in samples from each peak."""
    c0 = np.maximum(foot - 1, 0)
    width = sz["n_foot"] + sz["n_peak_max"] + sz["n_decay"] + 2
    cols = np.arange(width)[None, :]
    idx = c0[:, None] + cols
    with np.errstate(all="ignore"):
        rel = (zf[np.clip(idx, 0, zf.size - 1)] - bl[:, None]) / np.where(amp > 0, amp, np.nan)[:, None]
    rows = np.arange(foot.size)
    q = (peak - c0)[:, None]

    def backward(level):
        k = np.where((rel < level) & (cols < q), cols, -1).max(axis=1)
        k1 = np.clip(k, 0, width - 2)
        a, b = rel[rows, k1], rel[rows, k1 + 1]
        return np.where(k >= 0, (k1 - q[:, 0]) + (level - a) / (b - a), np.nan)

    down = (rel < 0.5) & (cols > q) & (idx < np.minimum(limit, peak + sz["n_decay"])[:, None])
    k = np.where(down.any(axis=1), np.argmax(down, axis=1), -1)
    k1 = np.clip(k, 1, width - 1)
    a, b = rel[rows, k1 - 1], rel[rows, k1]
    with np.errstate(all="ignore"):
        t50d = np.where(k > 0, (k1 - 1 - q[:, 0]) + (a - 0.5) / (a - b), np.nan)
        return backward(0.1), backward(0.9), backward(0.5), t50d


def _fit_shapes(zr, foot, limit, bl, amp, rise_ms, half_ms, sz):
    """Batched biexponential fits of the events (rows); (baseline, amplitude, rise, half-decay, half-width, ok)."""
    ms, step = sz["ms"], sz["fit_step"]
    width = -(-(sz["fit_pre"] + sz["fit_post"]) // step)
    a = np.maximum(foot - sz["fit_pre"], 0)
    b = np.minimum(np.minimum(limit, foot + sz["fit_post"]), zr.size)
    idx = a[:, None] + step * np.arange(width)[None, :]
    mask = idx < b[:, None]
    y = np.where(mask, zr[np.clip(idx, 0, zr.size - 1)], 0.0)
    t = (idx - foot[:, None]) / ms
    decay0 = np.clip(np.where(np.isfinite(half_ms), half_ms / np.log(2), 1.0), 0.1, 20.0)
    rise0 = np.minimum(np.clip(np.where(np.isfinite(rise_ms), rise_ms / 2.2, 0.2), 0.05, 5.0), decay0 / 3)
    p0 = np.column_stack([bl, amp, np.zeros_like(bl), np.log(rise0), np.log(decay0 - rise0)])
    params, _ = fit_biexponential(y, t, mask, p0)
    rise, decay = time_constants(params)
    b0, a_fit, t0 = params[:, 0], params[:, 1], params[:, 2]
    if sz["whiten"] is not None:  # GLS baseline and amplitude of the fitted shapes
        with np.errstate(all="ignore"):
            u = np.where(mask, unit_event(t - t0[:, None], rise[:, None], decay[:, None]), 0.0)
        design = np.matmul(sz["whiten"][:width, :width], np.stack([mask.astype(float), u, y], axis=2))
        design *= mask[:, :, None]  # the factor is lower-triangular: rows past a window's end are dropped
        normal = np.einsum("mli,mlj->mij", design[:, :, :2], design[:, :, :2]) + 1e-12 * np.eye(2)
        rhs = np.einsum("mli,ml->mi", design[:, :, :2], design[:, :, 2])
        with np.errstate(all="ignore"):
            b0, a_fit = np.linalg.solve(normal, rhs[..., None])[..., 0].T
    with np.errstate(all="ignore"):
        ok = (mask.sum(axis=1) >= 8) & np.isfinite(b0) & np.isfinite(a_fit) & (a_fit > 0) & (a_fit < 5 * amp) & \
            (np.abs(t0) < 1.5) & (rise > 0.005) & (rise < 50) & (decay < 200)
        kin = biexponential_kinetics(rise, decay)
    return b0, a_fit, *kin, ok & np.all(np.isfinite(kin), axis=0)


def _measure_group(reader, onsets, k0, k1, sz) -> dict:
    """Direct readings (and fits) of events ``k0..k1-1`` from one slice of the trace.

    Each event depends on the trace near it and on its neighbours' onsets, feet and peaks,
    which are computed here too (one event either side), so the result is the same whatever
    the grouping.
    """
    n = reader.size
    # a neighbour matters only within these reaches (bounds of the foot, peak, decay, fit and charge windows)
    back = sz["n_peak_max"] + sz["n_foot"] + sz["gap"] + sz["nb"] + 2
    ahead = sz["n_peak_max"] + 2 * sz["n_decay"] + sz["fit_post"] + sz["n_foot"] + 2
    e0 = k0 - 1 if k0 > 0 and onsets[k0] - onsets[k0 - 1] <= back else k0
    e1 = k1 + 1 if k1 < onsets.size and onsets[k1] - onsets[k1 - 1] <= ahead else k1
    lo = max(0, onsets[e0] - (sz["n_foot"] + sz["gap"] + sz["nb"] + sz["fit_pre"] + sz["pre"] + 4))
    hi = min(n, onsets[e1 - 1] + sz["n_peak_max"] + 2 * sz["n_decay"] + max(sz["post"], sz["fit_post"]) + 4)
    zf = sz["polarity"] * _lowpassed(reader, lo, hi, sz["sos"], sz["halo"])
    zr = zf if sz["sos"] is None else sz["polarity"] * reader.read(lo, hi)
    ol = onsets[e0:e1] - lo
    far = 1 << 40
    prev_on = np.r_[onsets[e0 - 1] - lo if e0 > 0 and onsets[e0] - onsets[e0 - 1] <= back else -far, ol[:-1]]
    bound = np.maximum(prev_on + 1, 0)
    foot = _feet(zf, ol, bound, sz, sigma=sz["sigma"])  # 2 noise SDs of slack
    # a noisy bump can stop the walk halfway up a rise (an onset placed late): with 3 SDs of
    # slack the walk goes on; that foot is kept where the trace falls by 2 more SDs to it
    further = _feet(zf, ol, bound, sz, sigma=1.5 * sz["sigma"])
    foot = np.where(zf[foot] - zf[further] > 2.0 * sz["sigma"], further, foot)
    next_foot = np.r_[foot[1:], onsets[e1] - lo if e1 < onsets.size and onsets[e1] - onsets[e1 - 1] <= ahead
                      else far]
    peak = _peaks(zf, foot, np.minimum(next_foot, ol + sz["n_peak"]), np.minimum(next_foot, ol + sz["n_peak_max"]),
                  sz)
    inner = slice(k0 - e0, k0 - e0 + (k1 - k0))
    prev_peak = np.r_[-far, peak[:-1]][inner]
    if k0 == e0:
        prev_peak[0] = -far
    foot, peak, nxt, ol = foot[inner], peak[inner], next_foot[inner], ol[inner]
    csum = np.r_[0.0, np.cumsum(zf)]
    end = np.clip(foot - sz["gap"], min(2, zf.size), zf.size)
    truncated = prev_peak + 1 > end - sz["nb"]
    start = np.maximum(end - sz["nb"], np.maximum(prev_peak + 1, 0))
    start = np.where(end - start < 2, np.maximum(end - 2, 0), start)
    lvl_start = np.maximum(end - sz["n_level"], np.maximum(prev_peak + 1, 0))
    lvl_start = np.where(end - lvl_start < 2, np.maximum(end - 2, 0), lvl_start)
    flat = _window_mean(zf, start, end, max(sz["nb"], 2))
    level = _window_mean(zf, lvl_start, end, max(sz["n_level"], 2))
    bl = np.where(truncated, level, flat)
    pk = zf[peak]
    amp = pk - bl
    t10, t90, t50r, t50d = _crossings(zf, foot, peak, nxt, bl, amp, sz)
    ms = sz["ms"]
    out = dict(foot=foot + lo, peak=peak + lo, truncated=truncated, flat=flat, level=level, bl=bl, amp=amp,
               since_prev_ms=(foot - prev_peak) / ms,
               level_age_ms=(peak - 0.5 * (lvl_start + end)) / ms,
               rise=(t90 - t10) / ms, half=t50d / ms, width=(t50d - t50r) / ms)
    c_end = np.minimum(np.minimum(nxt, zf.size), peak + np.minimum(np.round(4 * np.nan_to_num(t50d)).astype(np.int64)
                                                                   + 1, 2 * sz["n_decay"]))
    c_end = np.maximum(c_end, foot)
    out["charge"] = np.where(np.isfinite(t50d), (csum[c_end] - csum[foot] - bl * (c_end - foot)) / sz["fs"], np.nan)
    fit_names = ("fit_b", "fit_a", "fit_rise", "fit_half", "fit_width")
    out.update({k: np.full(foot.size, np.nan) for k in fit_names}, fit_ok=np.zeros(foot.size, dtype=bool))
    todo = np.flatnonzero(~truncated & (amp > 0)) if sz["fit"] else np.zeros(0, dtype=np.int64)
    if todo.size:
        fitted = _fit_shapes(zr, foot[todo], nxt[todo], bl[todo], amp[todo], out["rise"][todo], out["half"][todo], sz)
        for k, v in zip((*fit_names, "fit_ok"), fitted):
            out[k][todo] = v
    # average event: snippets of events with an undisturbed baseline (all events if none has one)
    ok = (ol - sz["pre"] >= 0) & (ol + sz["post"] <= zr.size) & (ol + lo + sz["post"] <= n)
    window = np.arange(-sz["pre"], sz["post"])
    out["snip_sums"] = {}
    for key, sel in (("clean", ok & ~truncated), ("all", ok)):
        snippets = zr[ol[sel, None] + window[None, :]] - bl[sel, None]
        out["snip_sums"][key] = (snippets.sum(axis=0), int(sel.sum()))
    return out


def _combine(groups, n_events, sz, *, fit_agreement) -> dict:
    """Per-event columns (events up) from the group readings: decay extrapolation and fit agreement."""
    if not groups:
        empty = np.zeros(0)
        return dict(peak_samples=np.zeros(0, dtype=np.int64), foot_samples=np.zeros(0, dtype=np.int64),
                    amplitude_method=np.zeros(0, dtype="<U15"), baseline=empty, amplitude=empty, rise=empty,
                    half=empty, width=empty, charge=empty)
    g = {k: np.concatenate([grp[k] for grp in groups]) for k in groups[0] if k != "snip_sums"}
    sigma, ms = sz["sigma"], sz["ms"]
    halves = g["half"][~g["truncated"] & np.isfinite(g["half"])]
    tau = float(np.median(halves)) / np.log(2) if halves.size else 5.0
    # resting level: flat baseline of the last event that followed no other within 5 decay time constants
    clean = g["since_prev_ms"] >= 5.0 * tau
    last_clean = np.maximum.accumulate(np.where(clean, np.arange(n_events), -1))
    rest = np.where(last_clean >= 0, g["flat"][np.maximum(last_clean, 0)], g["level"])
    on_decay = ~clean & (g["level"] - rest > 2.0 * sigma) & (last_clean >= 0)
    bl, amp = g["bl"].copy(), g["amp"].copy()
    bl[on_decay] = rest[on_decay] + (g["level"] - rest)[on_decay] * np.exp(-np.maximum(g["level_age_ms"][on_decay], 0)
                                                                           / max(tau, 1e-3))
    amp[on_decay] = (g["bl"] + g["amp"])[on_decay] - bl[on_decay]
    method = np.where(on_decay, "direct_on_decay", "direct").astype("<U15")
    rise, half, width = g["rise"].copy(), g["half"].copy(), g["width"].copy()
    with np.errstate(invalid="ignore"):
        agree = g["fit_ok"] & ~on_decay & ~g["truncated"] & (np.abs(g["fit_a"] - g["amp"]) <= np.maximum(fit_agreement * g["amp"],
                                                                                     3.0 * sigma))
    bl[agree], amp[agree], method[agree] = g["fit_b"][agree], g["fit_a"][agree], "fit"
    rise[agree], half[agree], width[agree] = g["fit_rise"][agree], g["fit_half"][agree], g["fit_width"][agree]
    rise = np.maximum(rise, 1.0 / ms)  # never below one sample interval
    return dict(peak_samples=g["peak"].astype(np.int64), foot_samples=g["foot"].astype(np.int64),
                amplitude_method=method, baseline=bl, amplitude=amp, rise=rise, half=half, width=width,
                charge=g["charge"])


def _average(groups, size) -> np.ndarray:
    """Average baseline-subtracted snippet (events up), over events with an undisturbed baseline if any."""
    for key in ("clean", "all"):
        total = sum(grp["snip_sums"][key][1] for grp in groups)
        if total:
            return sum(grp["snip_sums"][key][0] for grp in groups) / total
    return np.full(size, np.nan)


def _fit_decay(z_avg, t_ms) -> float:
    """Mono-exponential ``a * exp(-t / tau)`` fitted to the decay of the average event.

    The fit starts where the average has fallen to 80 % of its peak: at the rounded peak
    the rise still shapes the waveform and would lengthen tau (by ~10 % for 0.2/1 ms).
    """
    if not np.all(np.isfinite(z_avg)) or z_avg.max() <= 0:
        return float("nan")
    p = int(np.argmax(np.where(t_ms >= 0, z_avg, -np.inf)))
    after = np.flatnonzero(z_avg[p:] < 0.8 * z_avg[p])
    s = p + (int(after[0]) if after.size else 0)  # skip the rounded peak, where the rise still acts
    t, y = t_ms[s:] - t_ms[s], z_avg[s:]
    if t.size < 4:
        return float("nan")
    below = np.flatnonzero(y < 0.5 * y[0])
    tau0 = (t[below[0]] / np.log(2)) if below.size else t[-1]
    try:
        (a, tau), _ = scipy.optimize.curve_fit(
            lambda tt, a, tau: a * np.exp(-tt / tau), t, y, p0=(y[0], max(tau0, 1e-3)), maxfev=2000
        )
    except (RuntimeError, ValueError):
        return float("nan")
    return float(tau) if tau > 0 and np.isfinite(tau) else float("nan")


def merge_statistics(parts) -> EventStatistics:
    """Statistics of the events of several one-direction detections of one sweep (``polarity="both"``).

    ``parts`` is a sequence of (EventStatistics, keep mask). Per-event arrays are joined in
    onset order; frequency and intervals are those of all kept events; the average event
    and its decay are those of the direction with more events. ``polarity`` is 0.
    """
    kept = [(st, np.asarray(keep, dtype=bool)) for st, keep in parts]
    onsets = np.concatenate([st.onset_samples[k] for st, k in kept])
    order = np.argsort(onsets, kind="stable")
    fields = ("onset_samples", "peak_samples", "foot_samples", "amplitude_method") + _PER_EVENT
    joined = {f: np.concatenate([getattr(st, f)[k] for st, k in kept])[order] for f in fields}
    main = max(kept, key=lambda p: int(p[1].sum()))[0]
    fs = main.sampling_rate_hz
    return EventStatistics(
        **joined,
        intervals_s=np.diff(joined["onset_samples"]) / fs,
        frequency_hz=len(onsets) / main.duration_s if main.duration_s else float("nan"),
        average_event_pA=main.average_event_pA, average_event_time_ms=main.average_event_time_ms,
        decay_tau_ms=main.decay_tau_ms, duration_s=main.duration_s, sampling_rate_hz=fs, polarity=0,
    )
