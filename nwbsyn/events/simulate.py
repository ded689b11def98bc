"""Synthetic patch-clamp traces and labelled training windows with known synaptic events.

Events follow the biexponential waveform of the miniML benchmark (O'Neill et al. 2025):
``I(t) = A * (exp(-t/tau_decay) - exp(-t/tau_rise))`` normalised so that its extremum is
``A``. Event times are Poisson with a dead time (minimum spacing); amplitudes are
log-normal; decay time constants are normal. Noise is white, 1/f ("pink") or a mix, with
optional mains hum and slow baseline drift.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.signal

from nwbsyn._shared import InputError, as_rng

__all__ = [
    "SimulatedTrace",
    "SimulatedWindows",
    "biexponential_event",
    "colored_noise",
    "simulate_trace",
    "simulate_windows",
]

NOISE_KINDS = ("white", "pink", "mixed")
WINDOW_COLOURS = (*NOISE_KINDS, "filtered", "pink_trace")  # noise colours of simulate_windows


@dataclass(frozen=True)
class SimulatedTrace:
    """A simulated current trace and its ground-truth events (times from the trace start).

    ``amplitudes_pA`` are signed as in the trace (negative for inward currents);
    ``rise_ms`` and ``decay_ms`` are the per-event time constants.
    """

    trace_pA: np.ndarray
    sampling_rate_hz: float
    onset_samples: np.ndarray
    onset_times_s: np.ndarray
    amplitudes_pA: np.ndarray
    rise_ms: np.ndarray
    decay_ms: np.ndarray
    polarity: int

    def __len__(self) -> int:
        return len(self.onset_samples)


@dataclass(frozen=True)
class SimulatedWindows:
    """Labelled windows for training a window classifier.

    ``windows`` is (n, window_samples) float32 in pA, ``labels`` (n,) int64 in {0, 1},
    ``onset_samples`` (n,) the onset of the labelled event inside the window (-1 when
    the window has no complete event) and ``kinds`` (n,) the recipe of each window
    (``"event"``, ``"overlap"``, ``"noise"``, ``"drift"``, ``"edge"``, ``"artifact"``).
    Unpacks as ``windows, labels = simulate_windows(...)``.
    """

    windows: np.ndarray
    labels: np.ndarray
    onset_samples: np.ndarray
    kinds: np.ndarray
    sampling_rate_hz: float

    def __iter__(self):
        return iter((self.windows, self.labels))

    def __len__(self) -> int:
        return len(self.labels)


def biexponential_event(t_ms, *, rise_ms: float, decay_ms: float, amplitude_pA: float = 1.0) -> np.ndarray:
    """Biexponential event normalised to a peak of ``amplitude_pA``; zero for ``t_ms < 0``.

    ``rise_ms``, ``decay_ms`` and ``amplitude_pA`` may be arrays broadcasting with ``t_ms``.

    Examples
    --------
    >>> t = np.arange(0, 10, 0.02)
    >>> float(biexponential_event(t, rise_ms=0.2, decay_ms=1.0, amplitude_pA=-10).min())  # doctest: +ELLIPSIS
    -9.99...
    """
    t = np.asarray(t_ms, dtype=float)
    tr = np.asarray(rise_ms, dtype=float)
    td = np.asarray(decay_ms, dtype=float)
    if np.any(tr <= 0) or np.any(td <= tr):
        raise InputError(f"biexponential_event needs 0 < rise_ms < decay_ms; got rise {rise_ms}, decay {decay_ms}.")
    t_peak = np.log(td / tr) * tr * td / (td - tr)
    norm = np.exp(-t_peak / td) - np.exp(-t_peak / tr)
    tc = np.clip(t, 0.0, None)
    shape = (np.exp(-tc / td) - np.exp(-tc / tr)) / norm
    return np.where(t >= 0, shape, 0.0) * amplitude_pA


def colored_noise(
    n_samples: int,
    *,
    exponent: float = 1.0,
    sampling_rate_hz: float = 50_000.0,
    max_freq_hz: float | None = None,
    size: int | None = None,
    rng=None,
) -> np.ndarray:
    """Gaussian noise with power spectral density ~ 1/f**exponent, zero mean, unit SD.

    ``exponent=0`` is white, 1 pink (1/f), 2 brown. ``max_freq_hz`` removes power above
    that frequency (used for slow drift). ``size`` draws that many independent rows.

    Examples
    --------
    >>> x = colored_noise(10_000, exponent=1.0, rng=0)
    >>> round(float(x.std()), 6)
    1.0
    """
    rng = as_rng(rng)
    shape = (n_samples,) if size is None else (size, n_samples)
    freqs = np.fft.rfftfreq(n_samples, d=1.0 / sampling_rate_hz)
    gain = np.zeros_like(freqs)
    gain[1:] = freqs[1:] ** (-exponent / 2.0)
    if max_freq_hz is not None:
        gain[freqs > max_freq_hz] = 0.0
    if not np.any(gain):
        gain[min(1, len(gain) - 1)] = 1.0
    spec = rng.standard_normal(shape[:-1] + freqs.shape) + 1j * rng.standard_normal(shape[:-1] + freqs.shape)
    x = np.fft.irfft(spec * gain, n=n_samples, axis=-1)
    x -= x.mean(axis=-1, keepdims=True)
    sd = x.std(axis=-1, keepdims=True)
    return x / np.where(sd > 0, sd, 1.0)


def _noise(n, kind, *, sampling_rate_hz, size=None, rng):
    if kind == "white":
        return rng.standard_normal(n if size is None else (size, n))
    pink = colored_noise(n, exponent=1.0, sampling_rate_hz=sampling_rate_hz, size=size, rng=rng)
    if kind == "pink":
        return pink
    mixed = rng.standard_normal(pink.shape) + pink  # equal power white + 1/f
    return mixed / mixed.std(axis=-1, keepdims=True)


def _bessel(x, *, filter_hz: float, sampling_rate_hz: float) -> np.ndarray:
    """4-pole Bessel low-pass (causal, as an amplifier filters), -3 dB at ``filter_hz``."""
    if not 0 < filter_hz < sampling_rate_hz / 2:
        raise InputError(f"filter_hz must lie between 0 and half the sampling rate; got {filter_hz!r}.")
    sos = scipy.signal.bessel(4, filter_hz, fs=sampling_rate_hz, norm="mag", output="sos")
    return scipy.signal.sosfilt(sos, x)


def _noise_bed(n, bed, *, noise, noise_sd_pA, filter_hz, fs, rng) -> np.ndarray:
    if bed is not None:
        bed = np.asarray(bed, dtype=float)
        if bed.shape != (n,):
            raise InputError(f"noise_bed_pA must have shape ({n},) to match the trace; got {bed.shape}.")
        return bed
    if noise_sd_pA <= 0:
        return np.zeros(n)
    x = _noise(n, noise, sampling_rate_hz=fs, rng=rng)
    if filter_hz is not None:
        x = _bessel(x, filter_hz=filter_hz, sampling_rate_hz=fs)
        x /= max(float(x.std()), 1e-12)
    return noise_sd_pA * x


def _check_kinetics(rise_ms, decay_ms, decay_sd_ms):
    if not (rise_ms > 0 and decay_ms > rise_ms and decay_sd_ms >= 0):
        raise InputError(
            f"Event kinetics need 0 < rise_ms < decay_ms and decay_sd_ms >= 0; got rise_ms={rise_ms}, "
            f"decay_ms={decay_ms}, decay_sd_ms={decay_sd_ms}."
        )


def _draw_decays(n, decay_ms, decay_sd_ms, rise_ms, rng):
    """Normal decay constants, redrawn where they fall below 1.5 x rise (kept physical)."""
    out = rng.normal(decay_ms, decay_sd_ms, n)
    for _ in range(100):
        bad = out < 1.5 * rise_ms
        if not bad.any():
            break
        out[bad] = rng.normal(decay_ms, decay_sd_ms, bad.sum())
    return np.maximum(out, 1.5 * rise_ms)


def _lognormal(n, mean, sigma, rng):
    """Log-normal draws with arithmetic mean ``mean`` and log-space SD ``sigma``."""
    return rng.lognormal(np.log(mean) - sigma**2 / 2.0, sigma, n)


def _poisson_onsets(duration_s, rate_hz, min_spacing_s, margin_s, rng):
    """Poisson process with dead time: intervals = min_spacing + exponential, mean 1/rate."""
    if rate_hz == 0:
        return np.zeros(0)
    free = 1.0 / rate_hz - min_spacing_s
    if free <= 0:
        raise InputError(
            f"rate_hz={rate_hz} is impossible with min_spacing_ms={min_spacing_s * 1e3}; "
            "lower the rate or the spacing."
        )
    span = duration_s - 2 * margin_s
    if span <= 0:
        return np.zeros(0)
    n_draw = int(rate_hz * span * 1.5 + 10 * np.sqrt(rate_hz * span + 1) + 10)
    intervals = min_spacing_s + rng.exponential(free, n_draw)
    times = margin_s + rng.uniform(0, 1.0 / rate_hz) + np.cumsum(intervals) - intervals[0]
    return times[times < duration_s - margin_s]


def simulate_trace(
    *,
    duration_s: float,
    sampling_rate_hz: float = 50_000.0,
    rate_hz: float = 0.7,
    min_spacing_ms: float = 3.0,
    amplitude_pA: float = 10.0,
    amplitude_sigma: float = 0.4,
    rise_ms: float = 0.2,
    decay_ms: float = 1.0,
    decay_sd_ms: float = 0.25,
    polarity: int = -1,
    noise: str = "white",
    noise_sd_pA: float = 1.5,
    line_hum_hz: float = 50.0,
    hum_pA: float = 0.0,
    drift_pA: float = 0.0,
    margin_ms: float = 10.0,
    filter_hz: float | None = None,
    noise_bed_pA=None,
    rng=None,
) -> SimulatedTrace:
    """Simulate a voltage-clamp trace with spontaneous synaptic events of known timing.

    Parameters
    ----------
    duration_s : float
        Length of the trace.
    sampling_rate_hz : float, default: 50 kHz
    rate_hz : float, default: 0.7
        Mean event frequency (Poisson with a dead time of ``min_spacing_ms``).
    min_spacing_ms : float, default: 3
    amplitude_pA : float, default: 10
        Mean absolute amplitude; amplitudes are log-normal with log-space SD ``amplitude_sigma``.
    amplitude_sigma : float, default: 0.4
    rise_ms, decay_ms, decay_sd_ms : float
        Rise time constant, and mean and SD of the (normal) decay time constant.
    polarity : {-1, +1}, default: -1
        -1 for inward (negative-going) currents.
    noise : {"white", "pink", "mixed"}, default: "white"
        Noise colour; "mixed" is equal power of white and 1/f noise.
    noise_sd_pA : float, default: 1.5
        SD of the noise (before hum and drift).
    line_hum_hz, hum_pA : float
        Mains hum frequency and amplitude (sine, random phase); 0 pA disables it.
    drift_pA : float, default: 0
        SD of a slow (< 1 Hz) random baseline drift.
    margin_ms : float, default: 10
        No event starts within this time of either end of the trace.
    filter_hz : float or None, default: None
        Low-pass the events as the amplifier does (4-pole Bessel, -3 dB at this frequency;
        real recordings: 2-10 kHz). The synthetic noise is filtered too and rescaled to
        ``noise_sd_pA``.
    noise_bed_pA : (n_samples,) array or None
        Recorded noise (e.g. an event-poor stretch of a real recording) used instead of
        synthetic noise; ``noise_sd_pA`` is then ignored and the bed is added as it is.
    rng : int, Generator or None

    Returns
    -------
    SimulatedTrace

    Examples
    --------
    >>> sim = simulate_trace(duration_s=2.0, rate_hz=5.0, rng=0)
    >>> sim.trace_pA.shape, len(sim) > 0
    ((100000,), True)
    """
    rng = as_rng(rng)
    if not duration_s > 0 or not sampling_rate_hz > 0:
        raise InputError(f"duration_s and sampling_rate_hz must be > 0; got {duration_s} and {sampling_rate_hz}.")
    if polarity not in (-1, 1):
        raise InputError(f"polarity must be -1 (inward) or +1 (outward); got {polarity!r}.")
    if noise not in NOISE_KINDS:
        raise InputError(f"noise must be one of {NOISE_KINDS}; got {noise!r}.")
    if rate_hz < 0 or amplitude_pA <= 0 or noise_sd_pA < 0 or amplitude_sigma < 0:
        raise InputError("rate_hz, noise_sd_pA and amplitude_sigma must be >= 0 and amplitude_pA > 0.")
    _check_kinetics(rise_ms, decay_ms, decay_sd_ms)
    fs = float(sampling_rate_hz)
    n = int(round(duration_s * fs))
    times = _poisson_onsets(n / fs, rate_hz, min_spacing_ms / 1e3, margin_ms / 1e3, rng)
    onsets = np.round(times * fs).astype(np.int64)
    n_ev = len(onsets)
    amps = polarity * _lognormal(n_ev, amplitude_pA, amplitude_sigma, rng)
    rises = np.full(n_ev, float(rise_ms))
    decays = _draw_decays(n_ev, decay_ms, decay_sd_ms, rise_ms, rng)

    trace = np.zeros(n)
    for on, a, tr, td in zip(onsets, amps, rises, decays):
        length = min(n - on, int(np.ceil(20 * td * fs / 1e3)) + 1)
        trace[on : on + length] += biexponential_event(
            np.arange(length) * 1e3 / fs, rise_ms=tr, decay_ms=td, amplitude_pA=a
        )
    if filter_hz is not None:
        trace = _bessel(trace, filter_hz=filter_hz, sampling_rate_hz=fs)
    trace += _noise_bed(n, noise_bed_pA, noise=noise, noise_sd_pA=noise_sd_pA, filter_hz=filter_hz, fs=fs, rng=rng)
    t = np.arange(n) / fs
    if hum_pA:
        trace += hum_pA * np.sin(2 * np.pi * line_hum_hz * t + rng.uniform(0, 2 * np.pi))
    if drift_pA:
        trace += drift_pA * colored_noise(n, exponent=2.0, sampling_rate_hz=fs, max_freq_hz=1.0, rng=rng)
    return SimulatedTrace(
        trace_pA=trace,
        sampling_rate_hz=fs,
        onset_samples=onsets,
        onset_times_s=onsets / fs,
        amplitudes_pA=amps,
        rise_ms=rises,
        decay_ms=decays,
        polarity=int(polarity),
    )


_POSITIVE_KINDS = ("event", "overlap")
_NEGATIVE_KINDS = ("noise", "drift", "edge", "artifact")
_NEGATIVE_MIX = (0.35, 0.2, 0.3, 0.15)  # noise, drift, edge, artifact


def simulate_windows(
    n: int,
    *,
    window_samples: int = 600,
    sampling_rate_hz: float = 50_000.0,
    positive_fraction: float = 0.5,
    overlap_fraction: float = 0.25,
    onset_range: tuple[float, float] = (0.1, 0.55),
    snr_range: tuple[float, float] = (2.5, 30.0),
    noise_sd_range_pA: tuple[float, float] = (0.5, 3.0),
    rise_ms: float = 0.2,
    rise_sd_ms: float = 0.05,
    decay_ms: float = 1.0,
    decay_sd_ms: float = 0.25,
    polarity: int = -1,
    hum_probability: float = 0.2,
    noise_colours: dict[str, float] | None = None,
    rng=None,
) -> SimulatedWindows:
    """Labelled windows (events vs. hard negatives) for training a window classifier.

    Positive windows (label 1) hold one complete event whose onset lies in
    ``onset_range`` (fractions of the window); a share ``overlap_fraction`` of them hold a
    second event 0.3-4 ms later (overlapping events). Negative windows (label 0) are, in
    proportions 35/20/30/15 %: pure noise; noise on a slow drift (ramp, slow symmetric
    bump or slow oscillation); partial events cut by the window edge (onset in the last
    15 % of the window, or only the decaying tail of an event that began 0.1-0.6 windows
    earlier); and artifacts (fast symmetric transients of either sign, or events of the
    opposite polarity). Every window draws its own noise SD, noise colour (see
    ``noise_colours``) and, with ``hum_probability``, 50/60 Hz hum; a fifth of the
    positives also sit on a drift.
    Event amplitudes are ``snr * noise_sd`` with ``snr`` log-uniform in ``snr_range``.

    Parameters
    ----------
    n : int
        Number of windows.
    window_samples : int, default: 600
        Samples per window (600 at 50 kHz = 12 ms, as miniML).
    sampling_rate_hz : float, default: 50 kHz
    positive_fraction, overlap_fraction : float
    onset_range : (float, float), default: (0.1, 0.55)
        Where positive onsets fall, as fractions of the window. :func:`detect_events`
        assumes the default.
    snr_range, noise_sd_range_pA : (float, float)
    rise_ms, rise_sd_ms, decay_ms, decay_sd_ms : float
        Normal distributions of the time constants.
    polarity : {-1, +1}, default: -1
    hum_probability : float, default: 0.2
    noise_colours : dict, optional
        Relative weights of the noise colours: ``"white"``; ``"pink"`` (1/f within the
        window); ``"mixed"`` (equal power white and 1/f); ``"filtered"`` (white low-passed
        at 2-6 kHz like an amplifier filter); ``"pink_trace"`` (windows cut from 42 s
        long 1/f traces of unit SD, so that slow swings dominate and the fast noise is
        small, as in a real recording with 1/f noise). Default: the first four, equally.
    rng : int, Generator or None

    Returns
    -------
    SimulatedWindows
        ``windows`` (n, window_samples) float32 in pA and ``labels`` (n,) int64.

    Examples
    --------
    >>> windows, labels = simulate_windows(64, rng=0)
    >>> windows.shape, windows.dtype.name, sorted(set(labels.tolist()))
    ((64, 600), 'float32', [0, 1])
    """
    rng = as_rng(rng)
    if int(n) < 1 or int(window_samples) < 16:
        raise InputError(f"simulate_windows needs n >= 1 and window_samples >= 16; got {n} and {window_samples}.")
    if polarity not in (-1, 1):
        raise InputError(f"polarity must be -1 or +1; got {polarity!r}.")
    if not (0 <= positive_fraction <= 1 and 0 <= overlap_fraction <= 1 and 0 <= onset_range[0] < onset_range[1] <= 1):
        raise InputError("positive_fraction and overlap_fraction must be in [0, 1] and onset_range within [0, 1].")
    _check_kinetics(rise_ms, decay_ms, decay_sd_ms)
    n, L, fs = int(n), int(window_samples), float(sampling_rate_hz)
    n_pos = int(round(n * positive_fraction))
    kinds = np.empty(n, dtype=object)
    kinds[:n_pos] = np.where(rng.random(n_pos) < overlap_fraction, "overlap", "event")
    kinds[n_pos:] = rng.choice(_NEGATIVE_KINDS, size=n - n_pos, p=_NEGATIVE_MIX)
    kinds = kinds[rng.permutation(n)].astype(str)

    sd = rng.uniform(*noise_sd_range_pA, n)
    snr = np.exp(rng.uniform(np.log(snr_range[0]), np.log(snr_range[1]), n))
    t_ms = np.arange(L) * 1e3 / fs
    noise = _window_noise(n, L, fs, rng, noise_colours or dict.fromkeys(WINDOW_COLOURS[:4], 1.0))
    signal = np.zeros((n, L))
    onsets = np.full(n, -1, dtype=np.int64)

    def add_event(rows, onset_samples, amp):
        rise = np.clip(rng.normal(rise_ms, rise_sd_ms, len(rows)), 0.3 * rise_ms, None)
        decay = np.maximum(rng.normal(decay_ms, decay_sd_ms, len(rows)), 1.5 * rise)
        t = t_ms[None, :] - (onset_samples * 1e3 / fs)[:, None]
        signal[rows] += biexponential_event(t, rise_ms=rise[:, None], decay_ms=decay[:, None], amplitude_pA=amp[:, None])

    pos = np.flatnonzero(np.isin(kinds, _POSITIVE_KINDS))
    on = rng.uniform(onset_range[0] * L, onset_range[1] * L, len(pos))
    add_event(pos, on, snr[pos] * sd[pos])
    onsets[pos] = np.round(on).astype(np.int64)
    ov = np.flatnonzero(kinds == "overlap")
    second = np.round(onsets[ov] + rng.uniform(0.3, 4.0, len(ov)) * fs / 1e3)
    add_event(ov, second, snr[ov] * sd[ov] * rng.uniform(0.3, 1.5, len(ov)))

    edge = np.flatnonzero(kinds == "edge")
    late = rng.random(len(edge)) < 0.5
    edge_on = np.where(late, rng.uniform(0.85 * L, L, len(edge)), rng.uniform(-0.6 * L, -0.1 * L, len(edge)))
    add_event(edge, edge_on, snr[edge] * sd[edge])

    drift_rows = np.flatnonzero((kinds == "drift") | (np.isin(kinds, _POSITIVE_KINDS) & (rng.random(n) < 0.2)))
    signal[drift_rows] += _slow_drift(len(drift_rows), t_ms, rng) * sd[drift_rows, None] * np.where(
        kinds[drift_rows] == "drift", 1.0, 0.5
    )[:, None]

    art = np.flatnonzero(kinds == "artifact")
    wrong_sign = rng.random(len(art)) < 0.5
    fast = art[~wrong_sign]
    width = rng.uniform(0.02, 0.1, len(fast))[:, None]
    centre = rng.uniform(0.05 * L, 0.95 * L, len(fast))[:, None] * 1e3 / fs
    size = rng.choice([-1.0, 1.0], len(fast)) * rng.uniform(3, 15, len(fast)) * sd[fast]
    signal[fast] += size[:, None] * np.exp(-0.5 * ((t_ms[None, :] - centre) / width) ** 2)
    flip = art[wrong_sign]
    add_event(flip, rng.uniform(onset_range[0] * L, onset_range[1] * L, len(flip)), -snr[flip] * sd[flip])

    hum = np.flatnonzero(rng.random(n) < hum_probability)
    f_hum = rng.choice([50.0, 60.0], len(hum))[:, None]
    phase = rng.uniform(0, 2 * np.pi, len(hum))[:, None]
    signal[hum] += rng.uniform(0.2, 1.0, len(hum))[:, None] * sd[hum, None] * np.sin(
        2 * np.pi * f_hum * t_ms[None, :] / 1e3 + phase
    )
    windows = (polarity * signal + noise * sd[:, None]).astype(np.float32)
    labels = np.isin(kinds, _POSITIVE_KINDS).astype(np.int64)
    return SimulatedWindows(windows=windows, labels=labels, onset_samples=onsets, kinds=kinds, sampling_rate_hz=fs)


def _window_noise(n, L, fs, rng, colours: dict[str, float]):
    """Unit-SD noise rows (``n``, ``L``) whose colours are drawn with the weights ``colours``."""
    unknown = set(colours) - set(WINDOW_COLOURS)
    weights = np.array([max(0.0, float(colours.get(c, 0.0))) for c in WINDOW_COLOURS])
    if unknown or weights.sum() <= 0:
        raise InputError(f"noise_colours must weight some of {WINDOW_COLOURS}; got {colours!r}.")
    colour = rng.choice(len(WINDOW_COLOURS), size=n, p=weights / weights.sum())
    out = np.empty((n, L))
    for k, kind in enumerate(NOISE_KINDS):
        rows = np.flatnonzero(colour == k)
        if len(rows):
            out[rows] = _noise(L, kind, sampling_rate_hz=fs, size=len(rows), rng=rng)
    rows = np.flatnonzero(colour == 3)
    cutoffs = rng.choice([2000.0, 3000.0, 4500.0, 6000.0], len(rows))
    pad = 64
    for cutoff in np.unique(cutoffs):
        sub = rows[cutoffs == cutoff]
        x = rng.standard_normal((len(sub), L + 2 * pad))
        if cutoff < 0.45 * fs:
            sos = scipy.signal.butter(4, cutoff, fs=fs, output="sos")
            x = scipy.signal.sosfiltfilt(sos, x, axis=1)
        x = x[:, pad:-pad]
        out[sub] = x / x.std(axis=1, keepdims=True)
    rows = np.flatnonzero(colour == 4)
    trace_samples = 2**21  # 42 s at 50 kHz; one long trace per 1,000 windows
    for part in np.array_split(rows, max(1, int(np.ceil(len(rows) / 1000)))):
        if len(part):
            long = colored_noise(trace_samples, exponent=1.0, sampling_rate_hz=fs, rng=rng)
            starts = rng.integers(0, trace_samples - L, len(part))
            out[part] = long[starts[:, None] + np.arange(L)[None, :]]
    return out


def _slow_drift(n, t_ms, rng):
    """Slow components in units of noise SD: ramp, symmetric bump or slow oscillation."""
    kind = rng.integers(0, 3, n)
    span = t_ms[-1] - t_ms[0]
    tt = t_ms[None, :]
    ramp = rng.uniform(-5, 5, n)[:, None] * (tt / span - 0.5)
    centre = rng.uniform(-0.2, 1.2, n)[:, None] * span
    width = rng.uniform(1.5, 6.0, n)[:, None]
    bump = rng.choice([-1.0, 1.0], n)[:, None] * rng.uniform(1.0, 4.0, n)[:, None] * np.exp(
        -0.5 * ((tt - centre) / width) ** 2
    )
    period = rng.uniform(8.0, 40.0, n)[:, None]
    osc = rng.uniform(1.0, 3.0, n)[:, None] * np.sin(2 * np.pi * tt / period + rng.uniform(0, 2 * np.pi, n)[:, None])
    return np.choose(kind[:, None], [ramp, bump, osc])
