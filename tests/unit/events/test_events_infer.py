"""detect_events with a stand-in classifier (a matched filter), independent of the trained model."""

import numpy as np
import pytest

from nwbsyn._shared import InputError
from nwbsyn.events import detect_events, precision_recall_f1, simulate_trace
from nwbsyn.testing.events import TemplateScorer, trace_with_events

FS = 50_000.0


def _trace_at(fs, times_s, amps_pA, *, duration_s, noise_sd_pA, rng):
    """Same continuous-time events sampled at ``fs`` (for resampling tests)."""
    return trace_with_events(times_s, amps_pA, duration_s=duration_s, sampling_rate_hz=fs,
                             noise_sd_pA=noise_sd_pA, rng=rng)


@pytest.fixture(scope="module")
def easy():
    sim = simulate_trace(duration_s=6.0, rate_hz=6.0, amplitude_pA=20.0, noise_sd_pA=1.0, rng=3)
    res = detect_events(sim.trace_pA, sampling_rate_hz=FS, model=TemplateScorer(), progress_bar=False)
    return sim, res


def test_recovers_simulated_events(easy):
    sim, res = easy
    assert len(sim) > 20
    p, r, f1 = precision_recall_f1(sim.onset_times_s, res.onset_times_s, tolerance_s=0.5e-3)
    assert f1 > 0.9, (p, r, f1)


def test_events_sit_at_the_steepest_rise_not_the_window_start(easy):
    sim, res = easy
    d = res.onset_samples[:, None] - sim.onset_samples[None, :]
    nearest = d[np.arange(len(d)), np.abs(d).argmin(axis=1)]
    assert np.median(np.abs(nearest)) <= 10  # within 0.2 ms


def test_result_fields(easy):
    sim, res = easy
    assert res.score_trace.size == res.params["windows_total"] and res.score_rate_hz == FS / 20
    assert res.score_per_sample().shape == sim.trace_pA.shape
    assert np.all((res.score_trace >= 0) & (res.score_trace <= 1))
    assert np.all(res.scores >= 0.5) and len(res.scores) == len(res)
    np.testing.assert_allclose(res.onset_times_s, res.onset_samples / FS)
    assert len(res.statistics) == len(res)
    assert np.all(res.amplitudes_pA < 0)
    assert res.params["threshold"] == 0.5 and res.params["stride_samples"] == 20
    # score trace is high shortly before events (window start precedes the onset)
    assert res.score_per_sample()[sim.onset_samples - 150].mean() > 0.8


def test_overlapping_events_are_counted():
    times = np.array([0.05, 0.052, 0.15, 0.1525, 0.25, 0.2515])
    trace = _trace_at(FS, times, np.full(times.size, -20.0), duration_s=0.3, noise_sd_pA=0.3, rng=0)
    res = detect_events(trace, sampling_rate_hz=FS, model=TemplateScorer(), progress_bar=False)
    p, r, f1 = precision_recall_f1(times, res.onset_times_s, tolerance_s=0.3e-3)
    assert len(res) == 6 and f1 == 1.0, res.onset_times_s


def test_positive_polarity_gives_the_same_events(easy):
    sim, res = easy
    up = detect_events(-sim.trace_pA, sampling_rate_hz=FS, model=TemplateScorer(), polarity=1,
                       progress_bar=False)
    np.testing.assert_array_equal(up.onset_samples, res.onset_samples)
    assert np.all(up.amplitudes_pA > 0)
    wrong = detect_events(-sim.trace_pA, sampling_rate_hz=FS, model=TemplateScorer(), progress_bar=False)
    assert precision_recall_f1(sim.onset_times_s, wrong.onset_times_s, tolerance_s=0.5e-3)[2] < 0.5


@pytest.mark.parametrize("fs", [20_000.0, 100_000.0])
def test_other_sampling_rates_give_the_same_events(fs):
    rng = np.random.default_rng(5)
    times = np.sort(rng.uniform(0.02, 1.98, 10))
    times = times[np.concatenate([[True], np.diff(times) > 0.01])]
    amps = -rng.uniform(12, 25, times.size)
    found = {}
    for rate in (FS, fs):
        trace = _trace_at(rate, times, amps, duration_s=2.0, noise_sd_pA=0.8, rng=1)
        res = detect_events(trace, sampling_rate_hz=rate, model=TemplateScorer(), progress_bar=False)
        assert res.score_per_sample().size == trace.size
        found[rate] = res.onset_times_s
    assert precision_recall_f1(times, found[fs], tolerance_s=0.5e-3)[2] > 0.9
    assert precision_recall_f1(found[FS], found[fs], tolerance_s=0.3e-3)[2] > 0.9


def test_torch_module_model():
    torch = pytest.importorskip("torch")

    class Wrapped(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.scorer = TemplateScorer()
            self.dummy = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x):
            assert x.dtype == torch.float32 and x.shape[1] == 600
            assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
            return torch.as_tensor(self.scorer(x.numpy()), dtype=torch.float32)

    times = np.array([0.05, 0.12, 0.2])
    trace = _trace_at(FS, times, [-15.0, -20.0, -10.0], duration_s=0.3, noise_sd_pA=0.5, rng=2)
    res = detect_events(trace, sampling_rate_hz=FS, model=Wrapped(), device="cpu", batch_size=64,
                        progress_bar=False)
    assert precision_recall_f1(times, res.onset_times_s, tolerance_s=0.3e-3)[2] == 1.0
    assert res.params["device"] == "cpu" and res.params["model"].endswith("Wrapped")


def test_batches_cover_every_window():
    scorer = TemplateScorer()
    trace = np.random.default_rng(0).normal(size=30_000)
    res = detect_events(trace, sampling_rate_hz=FS, model=scorer, batch_size=100, mode="full", progress_bar=False)
    n_windows = (30_000 - 600) // 20 + 1
    assert scorer.calls == -(-n_windows // 100)
    assert len(res) == 0  # pure noise: nothing found


@pytest.mark.parametrize(
    "trace, kwargs",
    [
        (np.zeros((2, 5000)), {}),
        (np.r_[np.zeros(5000), np.nan], {}),
        (np.zeros(300), {}),
        (np.zeros(5000), {"threshold": 1.5}),
        (np.zeros(5000), {"threshold": -0.1}),
        (np.zeros(5000), {"polarity": 2}),
        (np.zeros(5000), {"stride_samples": 0}),
        (np.zeros(5000), {"sampling_rate_hz": -1.0}),
    ],
)
def test_bad_input_raises_input_error(trace, kwargs):
    kw = {"sampling_rate_hz": FS, "model": TemplateScorer(), "progress_bar": False, **kwargs}
    with pytest.raises(InputError):
        detect_events(trace, **kw)


def test_model_returning_wrong_shape_raises():
    with pytest.raises(InputError, match="scores"):
        detect_events(np.zeros(5000), sampling_rate_hz=FS, model=lambda w: np.zeros(3), mode="full",
                      progress_bar=False)
