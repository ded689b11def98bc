"""Statistics of the simulator: rate, spacing, amplitudes, kinetics, noise colour, windows."""

import numpy as np
import pytest
import scipy.signal

from nwbsyn._shared import InputError
from nwbsyn.events import biexponential_event, colored_noise, simulate_trace, simulate_windows


@pytest.fixture(scope="module")
def busy():
    return simulate_trace(duration_s=60.0, rate_hz=20.0, min_spacing_ms=3.0, noise_sd_pA=0.0, rng=0)


def test_biexponential_peak_is_the_amplitude():
    t = np.arange(0, 20, 0.001)
    for rise, decay in [(0.2, 1.0), (0.1, 0.5), (0.5, 4.5)]:
        y = biexponential_event(t, rise_ms=rise, decay_ms=decay, amplitude_pA=-7.0)
        assert y.min() == pytest.approx(-7.0, rel=1e-4)
        assert y[0] == 0.0 and np.all(biexponential_event(-t[1:], rise_ms=rise, decay_ms=decay) == 0)


def test_rate_spacing_and_margin(busy):
    n_expected = 20.0 * (60.0 - 0.02)
    assert abs(len(busy) - n_expected) < 4 * np.sqrt(n_expected)
    gaps = np.diff(busy.onset_times_s)
    assert gaps.min() >= 3e-3 - 1 / 50_000
    assert gaps.mean() == pytest.approx(1 / 20.0, rel=0.05)
    assert busy.onset_times_s.min() >= 0.01 and busy.onset_times_s.max() <= 59.99
    np.testing.assert_allclose(busy.onset_times_s, busy.onset_samples / 50_000)


def test_amplitude_and_decay_distributions(busy):
    a = -busy.amplitudes_pA
    assert np.all(a > 0)
    assert a.mean() == pytest.approx(10.0, rel=0.06)
    assert np.log(a).std() == pytest.approx(0.4, rel=0.1)
    assert busy.decay_ms.mean() == pytest.approx(1.0, abs=0.03)
    assert busy.decay_ms.std() == pytest.approx(0.25, rel=0.15)
    assert np.all(busy.rise_ms == 0.2)


def test_noise_free_trace_is_the_sum_of_events():
    sim = simulate_trace(duration_s=2.0, rate_hz=3.0, noise_sd_pA=0.0, rng=4)
    assert len(sim) > 0
    t_ms = np.arange(sim.trace_pA.size) * 1e3 / sim.sampling_rate_hz
    expected = sum(
        biexponential_event(t_ms - on * 1e3 / sim.sampling_rate_hz, rise_ms=r, decay_ms=d, amplitude_pA=a)
        for on, a, r, d in zip(sim.onset_samples, sim.amplitudes_pA, sim.rise_ms, sim.decay_ms)
    )
    np.testing.assert_allclose(sim.trace_pA, expected, atol=1e-4)


def test_positive_polarity():
    sim = simulate_trace(duration_s=2.0, rate_hz=5.0, noise_sd_pA=0.0, polarity=1, rng=1)
    assert np.all(sim.amplitudes_pA > 0) and sim.trace_pA.max() > 0 and sim.trace_pA.min() >= 0


@pytest.mark.parametrize("noise", ["white", "pink", "mixed"])
def test_noise_sd(noise):
    sim = simulate_trace(duration_s=2.0, rate_hz=0.0, noise=noise, noise_sd_pA=1.5, rng=2)
    assert len(sim) == 0
    assert sim.trace_pA.std() == pytest.approx(1.5, rel=0.02)


def _psd_slope(x, fs):
    f, p = scipy.signal.welch(x, fs=fs, nperseg=2**14)
    band = (f > 20) & (f < 5000)
    return np.polyfit(np.log(f[band]), np.log(p[band]), 1)[0]


def test_noise_colour_slopes():
    fs = 50_000.0
    white = simulate_trace(duration_s=4.0, rate_hz=0.0, noise="white", rng=3).trace_pA
    pink = simulate_trace(duration_s=4.0, rate_hz=0.0, noise="pink", rng=3).trace_pA
    assert abs(_psd_slope(white, fs)) < 0.1
    assert _psd_slope(pink, fs) == pytest.approx(-1.0, abs=0.1)
    assert _psd_slope(colored_noise(200_000, exponent=2.0, rng=0), fs) == pytest.approx(-2.0, abs=0.15)


def test_hum_and_drift():
    fs = 50_000.0
    sim = simulate_trace(duration_s=4.0, rate_hz=0.0, noise_sd_pA=0.1, hum_pA=2.0, drift_pA=3.0, rng=5)
    f, p = scipy.signal.periodogram(sim.trace_pA, fs=fs)
    assert f[np.argmax(p[f > 10]) + np.sum(f <= 10)] == pytest.approx(50.0, abs=0.5)
    slow = scipy.signal.sosfiltfilt(scipy.signal.butter(2, 5.0, fs=fs, output="sos"), sim.trace_pA)
    assert slow.std() == pytest.approx(3.0, rel=0.1)


def test_reproducible_with_seed():
    a = simulate_trace(duration_s=1.0, rate_hz=5.0, rng=7)
    b = simulate_trace(duration_s=1.0, rate_hz=5.0, rng=7)
    np.testing.assert_array_equal(a.trace_pA, b.trace_pA)
    np.testing.assert_array_equal(a.onset_samples, b.onset_samples)


def test_windows_shapes_labels_and_positions():
    sim = simulate_windows(400, rng=0)
    windows, labels = sim
    assert windows.shape == (400, 600) and windows.dtype == np.float32 and labels.dtype == np.int64
    assert abs(labels.mean() - 0.5) < 0.01
    assert set(np.unique(sim.kinds)) == {"event", "overlap", "noise", "drift", "edge", "artifact"}
    assert np.all(np.isin(sim.kinds[labels == 1], ["event", "overlap"]))
    pos = sim.onset_samples[labels == 1]
    assert pos.min() >= 60 and pos.max() <= 330
    assert np.all(sim.onset_samples[labels == 0] == -1)
    # negative-going events: the window minimum follows the labelled onset
    ev = np.flatnonzero(sim.kinds == "event")
    late = np.argmin(windows[ev], axis=1) >= sim.onset_samples[ev] - 5
    assert late.mean() > 0.9


def test_windows_positive_polarity_and_reproducibility():
    a = simulate_windows(50, polarity=1, positive_fraction=1.0, overlap_fraction=0.0, snr_range=(20, 30), rng=1)
    b = simulate_windows(50, polarity=1, positive_fraction=1.0, overlap_fraction=0.0, snr_range=(20, 30), rng=1)
    np.testing.assert_array_equal(a.windows, b.windows)
    assert np.all(a.labels == 1)
    rows = np.arange(50)
    assert np.mean(a.windows.max(axis=1) - np.median(a.windows, axis=1) >
                   np.median(a.windows, axis=1) - a.windows.min(axis=1)) > 0.9
    assert np.all(np.argmax(a.windows, axis=1)[rows] >= a.onset_samples - 5)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"duration_s": -1.0},
        {"duration_s": 1.0, "polarity": 0},
        {"duration_s": 1.0, "noise": "brown"},
        {"duration_s": 1.0, "rate_hz": 500.0},
        {"duration_s": 1.0, "decay_ms": 0.1},
    ],
)
def test_bad_simulation_input(kwargs):
    with pytest.raises(InputError):
        simulate_trace(**kwargs)


def test_window_noise_colours():
    """``pink_trace`` windows are cut from long 1/f traces: slow swings dominate the fast noise."""
    kw = dict(positive_fraction=0.0, hum_probability=0.0, noise_sd_range_pA=(1.0, 1.0), rng=3)
    white = simulate_windows(200, noise_colours={"white": 1.0}, **kw)
    long_pink = simulate_windows(200, noise_colours={"pink_trace": 1.0}, **kw)
    noise = long_pink.kinds == "noise"
    fast = lambda w: np.median(np.std(np.diff(w[noise], axis=1), axis=1))  # noqa: E731
    assert fast(long_pink.windows) < 0.5 * fast(white.windows)
    with pytest.raises(InputError):
        simulate_windows(10, noise_colours={"purple": 1.0}, rng=0)
