"""Classical event detectors used as baselines in the miniML benchmark (written from scratch).

* :func:`template_matching`: optimally scaled template (Clements & Bekkers 1997).
* :func:`deconvolution`: deconvolution with the template (Pernía-Andrade et al. 2012).
* :func:`finite_threshold`: fixed amplitude threshold below a running baseline
  (Kudoh & Taguchi 2002).

All three return :class:`~nwbsyn.events.infer.EventDetectionResult`, whose
``score_trace`` is the method's detection trace.
"""

from __future__ import annotations

import numpy as np
import scipy.fft
import scipy.optimize
import scipy.signal

from nwbsyn._shared import InputError
from nwbsyn.events.infer import EventDetectionResult
from nwbsyn.events.simulate import biexponential_event
from nwbsyn.events.stats import check_trace, event_statistics

__all__ = ["event_template", "template_matching", "deconvolution", "finite_threshold"]


def event_template(
    *, sampling_rate_hz: float, rise_ms: float = 0.2, decay_ms: float = 1.0, duration_ms: float | None = None
) -> np.ndarray:
    """Positive unit-peak biexponential template whose first sample is the event onset.

    ``duration_ms`` defaults to ``max(3, 5 * decay_ms)``.

    Examples
    --------
    >>> t = event_template(sampling_rate_hz=50_000)
    >>> t.size, round(float(t.max()), 3)
    (250, 1.0)
    """
    duration_ms = max(3.0, 5.0 * decay_ms) if duration_ms is None else duration_ms
    n = max(3, int(round(duration_ms * sampling_rate_hz / 1e3)))
    shape = biexponential_event(np.arange(n) * 1e3 / sampling_rate_hz, rise_ms=rise_ms, decay_ms=decay_ms)
    return shape / shape.max()


def _unit_template(template, *, sampling_rate_hz, rise_ms, decay_ms, n_max):
    if template is None:
        t = event_template(sampling_rate_hz=sampling_rate_hz, rise_ms=rise_ms, decay_ms=decay_ms)
    else:
        t = np.asarray(template, dtype=float)
        if t.ndim != 1 or t.size < 3 or not np.all(np.isfinite(t)) or not np.any(t):
            raise InputError("template must be a finite, non-zero 1-D array of at least 3 samples (onset first).")
        t = t / t[np.argmax(np.abs(t))]  # unit peak, positive-going
    if t.size >= n_max:
        raise InputError(f"template has {t.size} samples but the trace only {n_max}; pass a longer trace.")
    return t


def _events_from_runs(score, threshold, min_gap, *, at="peak"):
    """One event per run of ``score > threshold`` (runs closer than ``min_gap`` merged)."""
    above = np.concatenate([[False], score > threshold, [False]])
    edges = np.flatnonzero(np.diff(above.astype(np.int8)))
    starts, stops = edges[::2], edges[1::2]
    if starts.size:
        keep = np.concatenate([[True], starts[1:] - stops[:-1] >= min_gap])
        group = np.cumsum(keep) - 1
        starts = starts[keep]
        stops = np.array([stops[group == g].max() for g in range(group[-1] + 1)])
    if at == "start":
        loc = starts
    else:
        loc = np.array([a + int(np.argmax(score[a:b])) for a, b in zip(starts, stops)], dtype=np.int64)
    peak = np.array([score[a:b].max() for a, b in zip(starts, stops)])
    return loc.astype(np.int64), peak


def _result(trace, onsets, peak_scores, score, fs, polarity, params):
    onsets = np.asarray(onsets, dtype=np.int64)
    stats = event_statistics(trace, onsets, sampling_rate_hz=fs, polarity=polarity)
    return EventDetectionResult(
        onset_samples=onsets,
        onset_times_s=onsets / fs,
        scores=np.asarray(peak_scores, dtype=float),
        score_trace=score.astype(np.float32),
        statistics=stats,
        sampling_rate_hz=fs,
        params=params,
    )


def _check_common(trace, sampling_rate_hz, polarity):
    trace = check_trace(trace, sampling_rate_hz=sampling_rate_hz, min_samples=8)
    if polarity not in (-1, 1):
        raise InputError(f"polarity must be -1 (negative-going events) or +1; got {polarity!r}.")
    return trace, float(sampling_rate_hz)


def template_matching(
    trace,
    *,
    sampling_rate_hz: float,
    template=None,
    rise_ms: float = 0.2,
    decay_ms: float = 1.0,
    threshold: float = 4.0,
    polarity: int = -1,
    min_interval_ms: float = 1.0,
) -> EventDetectionResult:
    """Sliding optimally-scaled template (Clements & Bekkers 1997).

    At each sample the template is fitted as ``scale * template + offset`` by least squares;
    the detection criterion is ``scale / standard_error``. Events are runs where the
    criterion goes beyond ``threshold`` in the event direction (the paper's -4 for
    negative events; give the magnitude, either sign is accepted), located at the
    criterion's extremum. ``score_trace`` and ``scores`` hold the criterion itself
    (negative for negative-going events).

    Parameters
    ----------
    trace : (n_samples,) array
    sampling_rate_hz : float
    template : (m,) array, optional
        Event waveform, onset first (any sign and scale). Default: biexponential from
        ``rise_ms`` and ``decay_ms`` (see :func:`event_template`).
    threshold : float, default: 4
    polarity : {-1, +1}, default: -1
    min_interval_ms : float, default: 1
        Supra-threshold runs closer than this are one event.

    Examples
    --------
    >>> from nwbsyn.events.simulate import simulate_trace
    >>> sim = simulate_trace(duration_s=5.0, rate_hz=4.0, rng=0)
    >>> res = template_matching(sim.trace_pA, sampling_rate_hz=50_000)
    >>> len(res) > 0
    True
    """
    trace, fs = _check_common(trace, sampling_rate_hz, polarity)
    t = _unit_template(template, sampling_rate_hz=fs, rise_ms=rise_ms, decay_ms=decay_ms, n_max=trace.size)
    x = trace - trace.mean()
    m = t.size
    c1 = np.concatenate([[0.0], np.cumsum(x)])
    c2 = np.concatenate([[0.0], np.cumsum(x * x)])
    s_d, s_dd = c1[m:] - c1[:-m], c2[m:] - c2[:-m]
    s_td = scipy.signal.correlate(x, t, mode="valid", method="fft")
    s_t, s_tt = t.sum(), (t * t).sum()
    scale = (s_td - s_t * s_d / m) / (s_tt - s_t**2 / m)
    offset = (s_d - scale * s_t) / m
    sse = s_dd + scale**2 * s_tt + m * offset**2 - 2 * (scale * s_td + offset * s_d - scale * offset * s_t)
    se = np.sqrt(np.maximum(sse, 0.0) / (m - 1))
    crit = polarity * scale / np.where(se > 0, se, np.inf)
    score = np.concatenate([crit, np.zeros(m - 1)])
    onsets, peaks = _events_from_runs(score, abs(threshold), max(1, int(round(min_interval_ms * fs / 1e3))))
    params = {"method": "template_matching", "threshold": -abs(threshold) if polarity < 0 else abs(threshold),
              "template_samples": int(m), "polarity": int(polarity)}
    return _result(trace, onsets, polarity * peaks, score * polarity, fs, polarity, params)


def _gaussian_sd(values: np.ndarray) -> tuple[float, float]:
    """Mean and SD of a Gaussian fitted to the all-points histogram of ``values``."""
    med = float(np.median(values))
    mad = 1.4826 * float(np.median(np.abs(values - med))) or float(values.std()) or 1.0
    counts, edges = np.histogram(values, bins=201, range=(med - 6 * mad, med + 6 * mad))
    centres = 0.5 * (edges[1:] + edges[:-1])
    try:
        (_, mu, sd), _ = scipy.optimize.curve_fit(
            lambda x, a, mu, sd: a * np.exp(-0.5 * ((x - mu) / sd) ** 2), centres, counts,
            p0=(counts.max(), med, mad), maxfev=2000,
        )
    except RuntimeError:
        return med, mad
    return float(mu), float(abs(sd))


def deconvolution(
    trace,
    *,
    sampling_rate_hz: float,
    template=None,
    rise_ms: float = 0.2,
    decay_ms: float = 1.0,
    threshold_sd: float = 5.0,
    lowpass_hz: float = 500.0,
    regularization: float = 1e-3,
    polarity: int = -1,
    min_interval_ms: float = 1.0,
) -> EventDetectionResult:
    """Deconvolution with the event template (Pernía-Andrade et al. 2012).

    The detection trace is ``IFFT(X * conj(T) / (|T|**2 + eps) * G)``: a Wiener-like
    deconvolution (``eps = regularization * max|T|**2``) followed by a Gaussian low-pass
    ``G`` at ``lowpass_hz``; each event becomes a peak at its onset. The threshold is
    ``threshold_sd`` x the SD of a Gaussian fitted to the all-points histogram of that
    trace (above its fitted mean).

    Examples
    --------
    >>> from nwbsyn.events.simulate import simulate_trace
    >>> sim = simulate_trace(duration_s=5.0, rate_hz=4.0, rng=0)
    >>> res = deconvolution(sim.trace_pA, sampling_rate_hz=50_000)
    >>> len(res) > 0
    True
    """
    trace, fs = _check_common(trace, sampling_rate_hz, polarity)
    t = polarity * _unit_template(template, sampling_rate_hz=fs, rise_ms=rise_ms, decay_ms=decay_ms, n_max=trace.size)
    if not lowpass_hz > 0 or not regularization > 0:
        raise InputError(f"lowpass_hz and regularization must be > 0; got {lowpass_hz} and {regularization}.")
    n = trace.size
    pad = t.size
    nfft = scipy.fft.next_fast_len(n + 2 * pad, real=True)
    x = np.pad(trace - np.median(trace), (pad, nfft - n - pad), mode="edge")
    tf = scipy.fft.rfft(t, nfft)
    freqs = scipy.fft.rfftfreq(nfft, 1.0 / fs)
    gain = np.conj(tf) / (np.abs(tf) ** 2 + regularization * np.max(np.abs(tf)) ** 2)
    gain *= np.exp(-0.5 * (freqs / lowpass_hz) ** 2)
    score = scipy.fft.irfft(scipy.fft.rfft(x) * gain, nfft)[pad : pad + n]
    mu, sd = _gaussian_sd(score)
    level = mu + threshold_sd * sd
    onsets, peaks = _events_from_runs(score, level, max(1, int(round(min_interval_ms * fs / 1e3))))
    params = {"method": "deconvolution", "threshold_sd": float(threshold_sd), "threshold": float(level),
              "lowpass_hz": float(lowpass_hz), "template_samples": int(t.size), "polarity": int(polarity)}
    return _result(trace, onsets, peaks, score, fs, polarity, params)


def finite_threshold(
    trace,
    *,
    sampling_rate_hz: float,
    threshold_pA: float = 4.0,
    lowpass_hz: float = 1000.0,
    baseline_ms: float = 10.0,
    baseline_gap_ms: float = 1.0,
    polarity: int = -1,
    min_interval_ms: float = 2.0,
) -> EventDetectionResult:
    """Fixed threshold below a running baseline (Kudoh & Taguchi 2002).

    The trace is low-passed (4th-order Butterworth, zero phase) and compared with a running
    baseline, the mean of the ``baseline_ms`` ending ``baseline_gap_ms`` before each
    sample. An event starts where the difference passes ``threshold_pA`` in the event
    direction (the paper's -4 pA for inward currents; give the magnitude).
    ``score_trace`` is the baseline-subtracted trace, signed so events are positive.

    Examples
    --------
    >>> from nwbsyn.events.simulate import simulate_trace
    >>> sim = simulate_trace(duration_s=5.0, rate_hz=4.0, rng=0)
    >>> res = finite_threshold(sim.trace_pA, sampling_rate_hz=50_000)
    >>> len(res) > 0
    True
    """
    trace, fs = _check_common(trace, sampling_rate_hz, polarity)
    if lowpass_hz is not None and lowpass_hz < fs / 2:
        sos = scipy.signal.butter(4, lowpass_hz, fs=fs, output="sos")
        xf = scipy.signal.sosfiltfilt(sos, trace)
    else:
        xf = trace
    w = max(1, int(round(baseline_ms * fs / 1e3)))
    g = max(0, int(round(baseline_gap_ms * fs / 1e3)))
    c = np.concatenate([[0.0], np.cumsum(xf - xf[0])])
    idx = np.arange(xf.size)
    hi = np.maximum(idx - g, 1)
    lo = np.maximum(hi - w, 0)
    baseline = (c[hi] - c[lo]) / (hi - lo) + xf[0]
    score = polarity * (xf - baseline)
    onsets, peaks = _events_from_runs(score, abs(threshold_pA), max(1, int(round(min_interval_ms * fs / 1e3))),
                                      at="start")
    params = {"method": "finite_threshold", "threshold_pA": -abs(threshold_pA) if polarity < 0 else abs(threshold_pA),
              "lowpass_hz": lowpass_hz, "baseline_ms": float(baseline_ms), "polarity": int(polarity)}
    return _result(trace, onsets, peaks, score, fs, polarity, params)
