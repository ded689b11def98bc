"""event_statistics recovers the simulator's ground truth."""

import numpy as np
import pytest
import scipy.optimize
import scipy.signal

from nwbsyn._shared import InputError
from nwbsyn.events import biexponential_event, event_statistics, simulate_trace
from nwbsyn.events.stats import AMPLITUDE_METHODS

FS = 50_000.0


def _isolated(onsets, gap_ms):
    """Events with no other event within ``gap_ms`` before or after (their baseline is flat)."""
    gaps = np.diff(onsets) * 1e3 / FS
    return np.r_[True, gaps > gap_ms] & np.r_[gaps > gap_ms, True]


def _truth(rise_ms, decay_ms):
    """10-90 % rise, half-decay and half-width of the noiseless biexponential (fine grid)."""
    t = np.arange(0, 30, 1e-4)
    y = biexponential_event(t, rise_ms=rise_ms, decay_ms=decay_ms)
    p = int(np.argmax(y))
    up = lambda lvl: t[np.searchsorted(y[:p], lvl)]  # noqa: E731
    down = t[p + np.argmax(y[p:] < 0.5)]
    return up(0.9) - up(0.1), down - t[p], down - up(0.5)


@pytest.fixture(scope="module")
def clean():
    sim = simulate_trace(duration_s=20.0, rate_hz=4.0, noise_sd_pA=0.05, decay_sd_ms=0.0, rng=11)
    return sim, event_statistics(sim.trace_pA, sim.onset_samples, sampling_rate_hz=FS)


def test_amplitudes_match_ground_truth(clean):
    sim, st = clean
    assert len(st) == len(sim) > 50
    iso = _isolated(sim.onset_samples, 15.0)
    assert iso.sum() > 50
    np.testing.assert_allclose(st.amplitude_pA[iso], sim.amplitudes_pA[iso], rtol=0.03, atol=0.1)
    np.testing.assert_allclose(st.abs_amplitude_pA, np.abs(st.amplitude_pA))
    np.testing.assert_allclose(st.baseline_pA[iso], 0.0, atol=0.1)
    np.testing.assert_allclose(st.peak_pA - st.baseline_pA, st.amplitude_pA)


def test_kinetics_match_ground_truth(clean):
    _, st = clean
    rise, half_decay, half_width = _truth(0.2, 1.0)
    assert np.median(st.rise_time_ms) == pytest.approx(rise, rel=0.05)
    assert np.median(st.half_decay_ms) == pytest.approx(half_decay, rel=0.05)
    assert np.median(st.half_width_ms) == pytest.approx(half_width, rel=0.05)
    assert st.decay_tau_ms == pytest.approx(1.0, rel=0.05)


def test_charge_frequency_intervals_average(clean):
    sim, st = clean
    # integral of the biexponential from 0 to peak + 4 half-decays, times the amplitude
    t = np.arange(0, 30, 1e-3)
    y = biexponential_event(t, rise_ms=0.2, decay_ms=1.0)
    p = int(np.argmax(y))
    _, hd, _ = _truth(0.2, 1.0)
    unit_charge_pC = y[: p + int(round(4 * hd / 1e-3))].sum() * 1e-3 * 1e-3  # pA*ms -> pC
    isolated = _isolated(sim.onset_samples, 15.0)
    np.testing.assert_allclose(st.charge_pC[isolated], sim.amplitudes_pA[isolated] * unit_charge_pC, rtol=0.05)
    assert st.frequency_hz == pytest.approx(len(sim) / 20.0)
    np.testing.assert_allclose(st.intervals_s, np.diff(sim.onset_times_s))
    assert st.average_event_pA.shape == st.average_event_time_ms.shape
    assert st.average_event_pA.min() == pytest.approx(sim.amplitudes_pA.mean(), rel=0.05)
    s = st.summary()
    assert s["n_events"] == len(sim) and s["median_amplitude_pA"] == pytest.approx(np.median(st.amplitude_pA))
    assert set(st.table()) >= {"onset_samples", "amplitude_pA", "rise_time_ms", "charge_pC"}


def test_noisy_amplitudes_are_unbiased():
    sim = simulate_trace(duration_s=30.0, rate_hz=4.0, amplitude_pA=20.0, noise_sd_pA=1.0, rng=12)
    st = event_statistics(sim.trace_pA, sim.onset_samples, sampling_rate_hz=FS)
    ratio = st.amplitude_pA / sim.amplitudes_pA
    assert np.median(ratio) == pytest.approx(1.0, abs=0.05)


def test_positive_events_and_slow_kinetics():
    sim = simulate_trace(duration_s=20.0, rate_hz=2.0, polarity=1, decay_ms=4.5, decay_sd_ms=0.0,
                         noise_sd_pA=0.05, rng=13)
    st = event_statistics(sim.trace_pA, sim.onset_samples, sampling_rate_hz=FS, polarity=1, snippet_ms=(2, 30))
    assert np.all(st.amplitude_pA > 0)
    iso = _isolated(sim.onset_samples, 40.0)
    np.testing.assert_allclose(st.amplitude_pA[iso], sim.amplitudes_pA[iso], rtol=0.03, atol=0.1)
    assert np.median(st.half_decay_ms) == pytest.approx(_truth(0.2, 4.5)[1], rel=0.05)
    assert st.decay_tau_ms == pytest.approx(4.5, rel=0.05)
    assert np.all(st.charge_pC > 0)


def test_other_sampling_rate():
    fs = 20_000.0
    sim = simulate_trace(duration_s=20.0, sampling_rate_hz=fs, rate_hz=3.0, noise_sd_pA=0.05, decay_sd_ms=0.0, rng=14)
    st = event_statistics(sim.trace_pA, sim.onset_samples, sampling_rate_hz=fs)
    iso = _isolated(sim.onset_samples * 2.5, 15.0)  # _isolated counts in 50 kHz samples
    np.testing.assert_allclose(st.amplitude_pA[iso], sim.amplitudes_pA[iso], rtol=0.05, atol=0.1)
    assert np.median(st.rise_time_ms) == pytest.approx(_truth(0.2, 1.0)[0], rel=0.15)


def test_no_events():
    st = event_statistics(np.zeros(1000), np.zeros(0, dtype=int), sampling_rate_hz=FS)
    assert len(st) == 0 and st.frequency_hz == 0.0 and np.isnan(st.decay_tau_ms)
    assert np.isnan(st.summary()["mean_amplitude_pA"])


@pytest.mark.parametrize(
    "trace, onsets, kwargs",
    [
        (np.zeros((3, 100)), [10], {}),
        (np.r_[np.zeros(99), np.inf], [10], {}),
        (np.zeros(100), [150], {}),
        (np.zeros(100), [1.5], {}),
        (np.zeros(100), [10], {"polarity": 2}),
    ],
)
def test_bad_input(trace, onsets, kwargs):
    with pytest.raises(InputError):
        event_statistics(trace, np.asarray(onsets), sampling_rate_hz=FS, **kwargs)


def test_amplitudes_in_1_over_f_noise_use_generalised_least_squares(monkeypatch):
    """With 1/f noise the whitened (GLS) amplitude is closer to the truth than plain least squares."""
    from nwbsyn.events import stats

    sim = simulate_trace(duration_s=60.0, rate_hz=3.0, noise="pink", noise_sd_pA=1.5, rng=13)

    def mae():
        st = event_statistics(sim.trace_pA, sim.onset_samples, sampling_rate_hz=FS)
        return np.nanmean(np.abs(st.amplitude_pA - sim.amplitudes_pA)) / np.mean(np.abs(sim.amplitudes_pA))

    gls = mae()
    noise_model = stats._noise_model
    monkeypatch.setattr(stats, "_noise_model", lambda *args, **kwargs: (noise_model(*args, **kwargs)[0], None))
    ols = mae()
    assert gls < 0.9 * ols and gls < 0.06


def _filtered_events(onsets_ms, amps_pA, *, fs=20_000.0, duration_s=2.0, rise_ms=0.5, decay_ms=5.0,
                     bessel_hz=2_000.0, noise_sd_pA=1.5, rng=0):
    """Negative events as recorded: biexponential, Bessel-filtered, in white noise; (trace, clean trace)."""
    n = int(duration_s * fs)
    clean = np.zeros(n)
    t_ms = np.arange(n) * 1e3 / fs
    for o, a in zip(onsets_ms, amps_pA):
        clean -= a * biexponential_event(t_ms - o, rise_ms=rise_ms, decay_ms=decay_ms) * (t_ms >= o)
    b, a_ = scipy.signal.bessel(4, bessel_hz, fs=fs, norm="mag")
    clean = scipy.signal.lfilter(b, a_, clean)
    return clean + np.random.default_rng(rng).normal(0.0, noise_sd_pA, n), clean


def _steepest(clean, onsets_ms, fs):
    """Steepest-rise sample of each event (what detection reports), from the noiseless trace."""
    slope = -np.gradient(clean)
    starts = (np.asarray(onsets_ms) * fs / 1e3).astype(int)
    return np.array([s + int(np.argmax(slope[s : s + int(3e-3 * fs)])) for s in starts])


def test_amplitude_from_steepest_rise_onsets_on_filtered_slow_events():
    """Detections sit at the steepest rise: the baseline must end at the foot, not halfway up the rise."""
    fs = 20_000.0
    rng = np.random.default_rng(5)
    onsets = np.arange(30.0, 1950.0, 40.0) + rng.uniform(0, 10, 48)
    amps = rng.uniform(8.0, 50.0, onsets.size)
    trace, clean = _filtered_events(onsets, amps, fs=fs, rng=6)
    st = event_statistics(trace, _steepest(clean, onsets, fs), sampling_rate_hz=fs)
    true_peak = np.array([-clean[int(o * fs / 1e3) : int((o + 8) * fs / 1e3)].min() for o in onsets])
    ratio = st.abs_amplitude_pA / true_peak
    assert np.median(ratio) == pytest.approx(1.0, abs=0.08)
    assert np.all(ratio > 0.6)
    assert set(st.amplitude_method) <= set(AMPLITUDE_METHODS)
    assert np.all(st.foot_samples <= st.onset_samples) and np.all(st.peak_samples >= st.onset_samples)


def test_event_on_the_decay_of_the_previous_one_is_measured_against_the_extrapolated_decay():
    fs = 20_000.0
    onsets = np.array([100.0, 106.0, 300.0, 307.0, 500.0, 505.0, 700.0, 708.0])
    amps = np.array([40.0, 20.0, 30.0, 25.0, 50.0, 15.0, 35.0, 30.0])
    trace, clean = _filtered_events(onsets, amps, fs=fs, noise_sd_pA=0.3, rng=7, duration_s=1.0)
    st = event_statistics(trace, _steepest(clean, onsets, fs), sampling_rate_hz=fs)
    second = np.arange(1, onsets.size, 2)
    assert np.all(st.amplitude_method[second] == "direct_on_decay")
    # the true amplitude of a second event: its own peak above the first one's decay at that time
    np.testing.assert_allclose(st.abs_amplitude_pA[second], amps[second] * 0.9, rtol=0.2)
    np.testing.assert_allclose(st.abs_amplitude_pA[second - 1], amps[second - 1] * 0.9, rtol=0.15)


def test_rise_time_never_below_one_sample():
    fs = 10_000.0
    sim = simulate_trace(duration_s=10.0, sampling_rate_hz=fs, rate_hz=3.0, rise_ms=0.02, decay_ms=0.5,
                         decay_sd_ms=0.0, noise_sd_pA=0.5, rng=15)
    for kinetics in ("fit", "crossing"):
        st = event_statistics(sim.trace_pA, sim.onset_samples, sampling_rate_hz=fs, kinetics=kinetics)
        rise = st.rise_time_ms[np.isfinite(st.rise_time_ms)]
        assert rise.size and rise.min() >= 1e3 / fs - 1e-12


def test_all_events_measured_without_a_solver_call_per_event(monkeypatch):
    """Statistics are batched: no scipy least_squares / root finding per event."""
    def refuse(*args, **kwargs):
        raise AssertionError("per-event solver call")

    monkeypatch.setattr(scipy.optimize, "least_squares", refuse)
    monkeypatch.setattr(scipy.optimize, "brentq", refuse)
    sim = simulate_trace(duration_s=20.0, rate_hz=5.0, noise_sd_pA=1.0, rng=16)
    st = event_statistics(sim.trace_pA, sim.onset_samples, sampling_rate_hz=FS)
    assert len(st) > 50 and np.sum(st.amplitude_method == "fit") > 0.8 * len(st)
    ratio = st.amplitude_pA / sim.amplitudes_pA
    assert np.median(ratio) == pytest.approx(1.0, abs=0.05)
    s = st.summary()
    assert sum(s[f"n_amplitude_{m}"] for m in AMPLITUDE_METHODS) == len(st)
