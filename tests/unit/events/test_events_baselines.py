"""Classical detectors (template matching, deconvolution, finite threshold) on simulated traces."""

import numpy as np
import pytest

from nwbsyn._shared import InputError
from nwbsyn.events import (
    deconvolution,
    event_template,
    finite_threshold,
    precision_recall_f1,
    simulate_trace,
    template_matching,
)

FS = 50_000.0
METHODS = [template_matching, deconvolution, finite_threshold]


@pytest.fixture(scope="module")
def easy():
    return simulate_trace(duration_s=20.0, rate_hz=3.0, amplitude_pA=20.0, noise_sd_pA=1.0, rng=21)


@pytest.mark.parametrize("method", METHODS)
def test_easy_trace_f1(method, easy):
    res = method(easy.trace_pA, sampling_rate_hz=FS)
    p, r, f1 = precision_recall_f1(easy.onset_times_s, res.onset_times_s, tolerance_s=1e-3)
    assert f1 > 0.8, (method.__name__, p, r, f1)
    assert res.score_trace.shape == easy.trace_pA.shape
    assert len(res.statistics) == len(res) and res.params["method"] == method.__name__
    assert np.median(res.amplitudes_pA) == pytest.approx(np.median(easy.amplitudes_pA), rel=0.15)


@pytest.mark.parametrize("method", METHODS)
def test_positive_polarity(method, easy):
    down = method(easy.trace_pA, sampling_rate_hz=FS)
    up = method(-easy.trace_pA, sampling_rate_hz=FS, polarity=1)
    np.testing.assert_array_equal(up.onset_samples, down.onset_samples)
    wrong = method(-easy.trace_pA, sampling_rate_hz=FS)
    assert precision_recall_f1(easy.onset_times_s, wrong.onset_times_s, tolerance_s=1e-3)[2] < 0.5


def test_noise_only_gives_few_events():
    sim = simulate_trace(duration_s=10.0, rate_hz=0.0, noise_sd_pA=1.0, rng=22)
    assert len(template_matching(sim.trace_pA, sampling_rate_hz=FS)) <= 2
    assert len(deconvolution(sim.trace_pA, sampling_rate_hz=FS)) <= 3
    assert len(finite_threshold(sim.trace_pA, sampling_rate_hz=FS)) == 0


def test_template_matching_criterion_scales_with_snr():
    t = event_template(sampling_rate_hz=FS)
    trace = np.random.default_rng(0).normal(0, 1.0, 20_000)
    trace[5000 : 5000 + t.size] -= 10 * t
    res = template_matching(trace, sampling_rate_hz=FS, template=-t)  # any template sign works
    assert len(res) == 1 and abs(res.onset_samples[0] - 5000) <= 2
    assert res.scores[0] < -4 and res.params["threshold"] == -4.0
    assert res.score_trace[5000] == pytest.approx(-10, rel=0.25)  # scale / SE ~ amplitude / noise SD


def test_deconvolution_threshold_from_histogram_fit():
    trace = np.random.default_rng(1).normal(0, 1.0, 100_000)
    res = deconvolution(trace, sampling_rate_hz=FS)
    sd = np.std(res.score_trace)
    assert res.params["threshold"] == pytest.approx(5 * sd, rel=0.1)


@pytest.mark.parametrize("method", METHODS)
def test_bad_input(method):
    with pytest.raises(InputError):
        method(np.zeros((2, 1000)), sampling_rate_hz=FS)
    with pytest.raises(InputError):
        method(np.r_[np.zeros(1000), np.nan], sampling_rate_hz=FS)
    with pytest.raises(InputError):
        method(np.zeros(1000), sampling_rate_hz=FS, polarity=0)


def test_bad_template():
    with pytest.raises(InputError):
        template_matching(np.zeros(1000), sampling_rate_hz=FS, template=np.zeros(50))
    with pytest.raises(InputError):
        deconvolution(np.zeros(100), sampling_rate_hz=FS)  # template longer than trace
