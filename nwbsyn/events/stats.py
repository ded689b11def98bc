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

from nwbsyn._shared import InputError
from nwbsyn.events._measure import _average, _combine, _fit_decay, _measure_group, _noise_model, _sizes
from nwbsyn.events.trace import TraceReader, check_trace

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
