"""Detect synaptic events in a whole trace with a window classifier (the miniML procedure).

1. Resample the trace to the classifier's rate (50 kHz; ``model_rate_hz=None`` keeps the
   recording's own rate, as miniML does); invert it if events are positive-going.
2. Score windows (600 samples) on a grid with a stride; each window is min-max scaled.
   ``mode="full"`` scores every window with the classifier (miniML, the faithful path).
   ``mode="fast"`` (default) first finds candidate events with a cheap, permissive matched
   filter and scores only the windows that hold a candidate where the classifier was
   trained to see events (10-55 % into the window); every other window scores 0.
   ``mode="dense"`` (experimental) scores every window in one fully convolutional pass with
   the scorer distilled from the shipped classifier (:mod:`nwbsyn.events.dense`) and lets
   the classifier rescore only the peaks within 0.2 of the threshold: its cost hardly grows
   with the number of events, and it matches the full scan on simulated traces, but on real
   recordings it does not reproduce the classifier yet (it finds far more events), so it is
   not the default.
3. Maximum-filter the score trace and find peaks above the threshold; each peak gives a
   region of the trace.
4. Inside each region, place events at the steepest rise (peaks of the smoothed
   derivative of the low-passed trace); several strong peaks are overlapping events.

Long recordings are processed in chunks with a halo, reading the input (numpy array,
``numpy.memmap``, ``h5py.Dataset``) one slice at a time; every step is local or uses a
statistic gathered over the whole trace, so the events do not depend on the chunk size.
Unlike the reference code, events are always placed at the steepest rise (never at the
window start), and a region the classifier accepts always yields at least one event.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import scipy.ndimage
import scipy.signal

from nwbsyn._shared import InputError
from nwbsyn.events.locate import _locate, candidate_trace, candidate_windows, locate_events
from nwbsyn.events.score import _dense_scores, _paired_scorer, _refine, _resolve_model, _score_windows, score_trace
from nwbsyn.events.stats import EventStatistics, event_statistics
from nwbsyn.events.trace import ResampledReader, TraceReader

__all__ = ["EventDetectionResult", "detect_events", "score_trace", "locate_events", "candidate_trace"]


@dataclass(frozen=True)
class EventDetectionResult:
    """Events detected in one sweep; sample indices and times are from the sweep start.

    ``onset_samples`` / ``onset_times_s`` mark the steepest rise of each event, ``scores``
    the detection score of each event, ``statistics`` the per-event and per-recording
    measures, and ``params`` the settings used (method, threshold, stride, model id, ...).

    ``score_trace`` is the detection trace, sampled at ``score_rate_hz`` from
    ``score_start_s`` (seconds from the sweep start): for the classifier one value per
    window, the probability of the window *starting* at that time (rate = model rate /
    stride, e.g. 2.5 kHz); for the baselines one value per input sample.
    :meth:`score_per_sample` interpolates it onto the input samples.
    """

    onset_samples: np.ndarray
    onset_times_s: np.ndarray
    scores: np.ndarray
    score_trace: np.ndarray
    statistics: EventStatistics
    sampling_rate_hz: float
    params: dict = field(default_factory=dict)
    score_rate_hz: float | None = None
    score_start_s: float = 0.0

    def __post_init__(self):
        if not len(self.onset_samples) == len(self.onset_times_s) == len(self.scores) == len(self.statistics):
            raise ValueError("onset_samples, onset_times_s, scores and statistics must have equal length.")
        if self.score_rate_hz is None:
            object.__setattr__(self, "score_rate_hz", float(self.sampling_rate_hz))

    def __len__(self) -> int:
        return len(self.onset_samples)

    @property
    def amplitudes_pA(self) -> np.ndarray:
        """Signed event amplitudes (peak - baseline) in pA."""
        return self.statistics.amplitude_pA

    @property
    def score_times_s(self) -> np.ndarray:
        """Time of each ``score_trace`` value, seconds from the sweep start."""
        return self.score_start_s + np.arange(len(self.score_trace)) / self.score_rate_hz

    def score_per_sample(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """``score_trace`` linearly interpolated onto input samples ``start..stop-1`` (float32).

        Past the last window the last score is held, as in miniML.
        """
        n = int(round(self.statistics.duration_s * self.sampling_rate_hz))
        stop = n if stop is None else min(int(stop), n)
        t = np.arange(int(start), stop) / self.sampling_rate_hz
        return np.interp(t, self.score_times_s, self.score_trace).astype(np.float32)


def _chunks(n: int, chunk: int) -> list[tuple[int, int]]:
    return [(a, min(n, a + chunk)) for a in range(0, n, chunk)]


def _regions(scores, *, threshold, stride, window, n):
    """Peaks of the maximum-filtered score trace and the trace region each one covers."""
    filt = scipy.ndimage.maximum_filter1d(scores.astype(np.float64), size=5)
    peaks, props = scipy.signal.find_peaks(filt, height=threshold, prominence=threshold, width=5)
    if not peaks.size:
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0)
    left = np.clip(np.floor(props["left_ips"] * stride).astype(np.int64) + window // 4, 0, n)
    right = np.clip(np.ceil(props["right_ips"] * stride).astype(np.int64) + window // 2, 0, n)
    return np.stack([left, right], axis=1), props["peak_heights"]


def detect_events(
    trace,
    *,
    sampling_rate_hz: float,
    model="default",
    threshold: float = 0.5,
    mode: str = "fast",
    candidate_threshold_sd: float = 4.5,
    stride_samples: int = 20,
    window_samples: int = 600,
    model_rate_hz: float | None = 50_000.0,
    polarity: int = -1,
    chunk_s: float | None = 60.0,
    batch_size: int | None = None,
    device: str = "auto",
    progress_bar: bool = True,
) -> EventDetectionResult:
    """Detect spontaneous synaptic events in one sweep with a window classifier.

    Parameters
    ----------
    trace : (n_samples,) array or array-like
        Membrane current (pA) or voltage (mV) of one sweep: a numpy array, or a lazy
        array-like with ``shape``, ``dtype`` and slicing (``h5py.Dataset``,
        ``numpy.memmap``, zarr), which is read one chunk at a time, never whole.
    sampling_rate_hz : float
        Sampling rate of ``trace``; any rate works (see ``model_rate_hz``).
    model : "default", str or Path, nn.Module or callable, default: "default"
        A name or file for :func:`nwbsyn.events.model.load_model` (``"default"`` is
        the model nwbsyn ships), a loaded classifier, or any callable mapping float32
        (batch, window_samples) min-max scaled windows to (batch,) probabilities.
    threshold : float, default: 0.5
        Minimum peak of the score trace, in [0, 1].
    mode : {"fast", "full", "dense"}, default: "fast"
        ``"full"`` scores every window, as miniML does (~300k windows per 2 minutes at
        50 kHz). ``"fast"`` scores only the windows around candidate events from a
        permissive matched filter (:func:`candidate_trace` above ``candidate_threshold_sd``
        robust SDs), typically 50-200 times fewer; other windows score 0. ``"dense"``
        (experimental, shipped model only): the distilled scorer gives every window's score
        in one pass and the classifier rescores the ambiguous peaks
        (``params["windows_scored"]`` counts them); see the module notes.
    candidate_threshold_sd : float, default: 4.5
        Fast mode's candidate threshold, in robust SDs of the matched-filter trace. Lower
        finds weaker candidates at the cost of more windows to score.
    stride_samples : int, default: 20
        Step between windows, in samples at ``model_rate_hz``.
    window_samples : int, default: 600
        Classifier input length.
    model_rate_hz : float or None, default: 50 kHz
        Rate the classifier was trained at (window = 12 ms at 50 kHz); the trace is
        resampled to it. None keeps the recording's own rate, as miniML does (600 samples =
        30 ms at 20 kHz).
    chunk_s : float or None, default: 60
        Process the trace in chunks of this duration (with a halo), so that memory stays
        bounded for long recordings; None processes it in one piece. The events do not
        depend on it (up to floating-point rounding).
    batch_size : int or None, default: None
        Windows per classifier call; None: 64 on CPU (a batch whose activations stay in the
        cache runs ~1.6x faster than 512) and 4096 on a GPU.
    device : str, default: "auto"
        Torch device for an nn.Module (``"auto"``: the module's own device).
    progress_bar : bool, default: True

    Returns
    -------
    EventDetectionResult
        ``score_trace`` holds one score per window (rate ``model_rate_hz / stride_samples``,
        ``score_rate_hz`` in the result), not one per input sample.

    Examples
    --------
    >>> from nwbsyn.events import simulate_trace
    >>> sim = simulate_trace(duration_s=10.0, rng=0)
    >>> res = detect_events(sim.trace_pA, sampling_rate_hz=50_000, progress_bar=False)
    >>> abs(len(res) - len(sim.onset_times_s)) <= 2  # the planted events, found
    True
    """
    if not (np.isscalar(threshold) and 0.0 <= float(threshold) <= 1.0):
        raise InputError(f"threshold must be a probability in [0, 1]; got {threshold!r}.")
    if isinstance(polarity, str) and polarity == "both" or (not isinstance(polarity, str) and polarity == 0):
        options = dict(sampling_rate_hz=sampling_rate_hz, threshold=threshold, mode=mode,
                       candidate_threshold_sd=candidate_threshold_sd, stride_samples=stride_samples,
                       window_samples=window_samples, model_rate_hz=model_rate_hz, chunk_s=chunk_s,
                       batch_size=batch_size, device=device, progress_bar=progress_bar)
        return _both_directions(trace, model, **options)
    if isinstance(polarity, str) or polarity not in (-1, 1):
        raise InputError(f"polarity must be -1 (negative-going events), +1 or 'both'; got {polarity!r}.")
    if mode not in ("fast", "full", "dense"):
        raise InputError(f"mode must be 'fast' (candidate windows only), 'full' (every window) or 'dense' (the "
                         f"distilled scorer); got {mode!r}.")
    if not (np.isscalar(candidate_threshold_sd) and candidate_threshold_sd > 0):
        raise InputError(f"candidate_threshold_sd must be a positive number; got {candidate_threshold_sd!r}.")
    for name, value in (("stride_samples", stride_samples), ("window_samples", window_samples),
                        ("batch_size", 1 if batch_size is None else batch_size)):
        if not (isinstance(value, (int, np.integer)) and value >= 1):
            raise InputError(f"{name} must be a positive integer; got {value!r}.")
    if stride_samples > window_samples:
        raise InputError(f"stride_samples={stride_samples} exceeds window_samples={window_samples}; lower the stride.")
    if model_rate_hz is not None and not (np.isscalar(model_rate_hz) and model_rate_hz > 0):
        raise InputError(f"model_rate_hz must be a positive number or None; got {model_rate_hz!r}.")
    if chunk_s is not None and not (np.isscalar(chunk_s) and chunk_s > 0):
        raise InputError(f"chunk_s must be a positive duration in seconds or None; got {chunk_s!r}.")
    reader = TraceReader(trace, sampling_rate_hz=sampling_rate_hz, min_samples=2)
    fs = float(sampling_rate_hz)
    model_rate_hz = fs if model_rate_hz is None else float(model_rate_hz)
    needed = int(np.ceil(window_samples * fs / model_rate_hz)) + 1
    if reader.size < needed:
        raise InputError(
            f"trace has {reader.size} samples; one {window_samples}-sample window at {model_rate_hz:g} Hz needs "
            f"{needed} at {fs:g} Hz. Pass a longer sweep."
        )
    run, dev, model_id = _resolve_model(model, device)
    if batch_size is None:
        batch_size = 4096 if dev is not None and dev.startswith("cuda") else 64
    xr = ResampledReader(reader, fs, float(model_rate_hz), sign=-polarity)  # events point down, as in training
    fs_m, n_m, stride, window = xr.fs_m, xr.size, int(stride_samples), int(window_samples)
    n_win = max(1, (n_m - window) // stride + 1)
    grid = stride * xr.up // math.gcd(stride, xr.up)  # chunk starts map to whole input samples and windows
    size = n_m if chunk_s is None else max(4 * window, int(round(chunk_s * fs_m)))
    chunks = _chunks(n_m, -(-size // grid) * grid)
    mask, scorer = None, None
    if mode == "dense":
        scorer = _paired_scorer(model, window)
        if scorer is None:
            raise InputError(f"nwbsyn ships no distilled scorer for the model {model_id}; use mode 'fast' or 'full'.")
    if scorer is not None:
        scores = _dense_scores(xr, chunks, scorer, n_win=n_win, stride=stride, window=window, device=dev or "cpu")
        n_scored = _refine(xr, scores, run, threshold=float(threshold), band=0.2, stride=stride, window=window,
                           batch_size=batch_size)
    else:
        if mode == "fast":
            mask = candidate_windows(xr, chunks, stride=stride, window=window, n_win=n_win,
                                      threshold_sd=float(candidate_threshold_sd))
        scores, n_scored = _score_windows(xr, chunks, run, mask, stride=stride, window=window, n_win=n_win,
                                          batch_size=batch_size, progress_bar=progress_bar, threshold=float(threshold))
    regions, heights = _regions(scores, threshold=float(threshold), stride=stride, window=window, n=n_m)
    pos_m, reg = _locate(xr, regions, chunks, fs=fs_m, halo=2 * window, sd_block=2**15,
                         sd_every=max(1, n_m // 2**20),
                         min_separation_samples=6, relative_prominence=0.25, sd_factor=4.0)
    mapped = np.clip(np.round(pos_m * fs / fs_m).astype(np.int64), 0, reader.size - 1)
    onsets, first = np.unique(mapped, return_index=True)  # two events may fall on one sample after downsampling
    event_scores = heights[reg[first]] if regions.size else np.zeros(0)
    stats = event_statistics(reader, onsets, sampling_rate_hz=fs, polarity=polarity,
                             chunk_samples=max(1, int(size * fs / fs_m)))
    params = {
        "method": "classifier",
        "mode": mode,
        "model": model_id,
        "threshold": float(threshold),
        "stride_samples": stride,
        "window_samples": window,
        "model_rate_hz": float(model_rate_hz),
        "resampled_rate_hz": float(fs_m),
        "polarity": int(polarity),
        "device": dev,
        "windows_scored": n_scored,
        "windows_total": int(n_win),
    }
    if scorer is not None:
        params["scorer"] = "dense (distilled), classifier on ambiguous bumps"
    elif mode == "fast":
        params["scorer"] = "classifier on candidate windows"
        params["candidate_threshold_sd"] = float(candidate_threshold_sd)
    else:
        params["scorer"] = "classifier on every window"
    return EventDetectionResult(
        onset_samples=onsets,
        onset_times_s=onsets / fs,
        scores=np.asarray(event_scores, dtype=float),
        score_trace=scores,
        statistics=stats,
        sampling_rate_hz=fs,
        params=params,
        score_rate_hz=fs_m / stride,
        score_start_s=0.0,
    )


def _both_directions(trace, model, *, sampling_rate_hz, merge_ms: float = 3.0, **options) -> EventDetectionResult:
    """Inward and outward events of one sweep in one result (``polarity="both"``).

    Each direction is detected on its own; where an inward and an outward event start less
    than ``merge_ms`` apart (the rebound of a large event, a biphasic artefact), only the one
    with the higher score, then the larger amplitude, is kept. ``score_trace`` is the larger
    of the two directions' scores at each window; ``params["polarity"]`` is 0.
    """
    from nwbsyn.events.stats import merge_statistics

    if isinstance(model, str) or hasattr(model, "__fspath__"):
        from nwbsyn.events.model import load_model

        model = load_model(model, device=options.get("device", "auto"))
    neg, pos = (detect_events(trace, sampling_rate_hz=sampling_rate_hz, model=model, polarity=sign, **options)
                for sign in (-1, 1))
    keep_neg, keep_pos = np.ones(len(neg), dtype=bool), np.ones(len(pos), dtype=bool)
    gap = merge_ms * 1e-3 * float(sampling_rate_hz)
    for i, j in zip(*np.nonzero(np.abs(neg.onset_samples[:, None] - pos.onset_samples[None, :]) < gap)):
        key_n = (neg.scores[i], abs(neg.statistics.amplitude_pA[i]))
        key_p = (pos.scores[j], abs(pos.statistics.amplitude_pA[j]))
        if key_n >= key_p:
            keep_pos[j] = False
        else:
            keep_neg[i] = False
    stats = merge_statistics([(neg.statistics, keep_neg), (pos.statistics, keep_pos)])
    onsets = np.concatenate([neg.onset_samples[keep_neg], pos.onset_samples[keep_pos]])
    scores = np.concatenate([neg.scores[keep_neg], pos.scores[keep_pos]])
    order = np.argsort(onsets, kind="stable")
    params = dict(neg.params, polarity=0, n_negative=int(keep_neg.sum()), n_positive=int(keep_pos.sum()),
                  windows_scored=neg.params["windows_scored"] + pos.params["windows_scored"])
    return replace(neg, onset_samples=onsets[order], onset_times_s=onsets[order] / float(sampling_rate_hz),
                   scores=scores[order], statistics=stats, params=params,
                   score_trace=np.maximum(neg.score_trace, pos.score_trace))
