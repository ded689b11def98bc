"""Fast (candidate) mode, chunked processing and lazy inputs of detect_events, with a stand-in scorer."""

import numpy as np
import pytest
import scipy.signal

from nwbsyn._shared import InputError
from nwbsyn.events import biexponential_event, detect_events, event_statistics, precision_recall_f1, simulate_trace
from nwbsyn.events.infer import candidate_trace
from nwbsyn.testing.events import TemplateScorer, trace_with_events

FS = 50_000.0


class CountingDataset:
    """A lazy 1-D array-like (like h5py.Dataset) that records every slice read from it."""

    def __init__(self, data):
        self._data, self.shape, self.dtype = data, data.shape, data.dtype
        self.reads = []

    def __getitem__(self, key):
        if not isinstance(key, slice):
            raise TypeError("only slices are supported")
        start, stop, _ = key.indices(self.shape[0])
        self.reads.append(stop - start)
        return np.array(self._data[key])


def _trace(times_s, amps_pA, *, duration_s, noise_sd_pA=0.8, fs=FS, rng=0):
    return trace_with_events(times_s, amps_pA, duration_s=duration_s, sampling_rate_hz=fs,
                             noise_sd_pA=noise_sd_pA, rng=rng)


def _detect(trace, **kw):
    kw = {"sampling_rate_hz": FS, "model": TemplateScorer(), "progress_bar": False, **kw}
    return detect_events(trace, **kw)


@pytest.fixture(scope="module")
def sim():
    return simulate_trace(duration_s=3.0, rate_hz=8.0, amplitude_pA=15.0, noise_sd_pA=1.0, rng=11)


def test_fast_mode_finds_the_same_events_as_full_mode(sim):
    fast_scorer, full_scorer = TemplateScorer(), TemplateScorer()
    fast = _detect(sim.trace_pA, model=fast_scorer)
    full = _detect(sim.trace_pA, model=full_scorer, mode="full")
    assert len(sim) > 15
    assert precision_recall_f1(sim.onset_times_s, full.onset_times_s, tolerance_s=0.5e-3)[2] > 0.9
    np.testing.assert_array_equal(fast.onset_samples, full.onset_samples)
    np.testing.assert_allclose(fast.amplitudes_pA, full.amplitudes_pA)
    assert full_scorer.n_windows == full.params["windows_total"] == full.score_trace.size
    assert fast_scorer.n_windows == fast.params["windows_scored"] < full_scorer.n_windows / 3
    # candidate windows hold the full-mode score or one interpolated between scored neighbours; the rest are 0
    scored = fast.score_trace > 0
    assert np.mean((fast.score_trace[scored] > 0.5) == (full.score_trace[scored] > 0.5)) > 0.9
    assert (full.score_trace[~scored] > 0.5).mean() < 0.01  # fast mode skips almost no high-scoring window


def test_fast_mode_scores_a_coarse_grid_of_candidate_windows_and_refines_ambiguous_bumps(sim, monkeypatch):
    from nwbsyn.events import score, trace

    with monkeypatch.context() as m:
        m.setattr(score, "COARSE_STEP", 1)  # every candidate window
        every = _detect(sim.trace_pA, model=TemplateScorer(), threshold=0.5)
    coarse = TemplateScorer()
    res = _detect(sim.trace_pA, model=coarse, threshold=0.5)
    n_candidates = int((every.score_trace > 0).sum())
    assert res.params["windows_scored"] == coarse.n_windows < n_candidates / 2
    np.testing.assert_array_equal(res.onset_samples, every.onset_samples)
    # a bump of the interpolated trace near the threshold has every window around its peak scored
    mask = every.score_trace > 0
    xr = trace.ResampledReader(trace.TraceReader(sim.trace_pA, sampling_rate_hz=FS), FS, FS, sign=1.0)
    run = score._resolve_model(TemplateScorer(), "cpu")[0]
    kw = dict(stride=20, window=600, n_win=mask.size, batch_size=512, progress_bar=False)
    low, n_low = score._score_windows(xr, [(0, xr.size)], run, mask, threshold=0.99, **kw)
    high, n_high = score._score_windows(xr, [(0, xr.size)], run, mask, threshold=2.0, **kw)  # no bump is near 2
    assert n_low > n_high
    assert np.abs(low - every.score_trace).max() <= np.abs(high - every.score_trace).max()


def test_score_trace_is_one_value_per_window(sim):
    res = _detect(sim.trace_pA, mode="full", stride_samples=25)
    assert res.score_rate_hz == FS / 25 and res.score_start_s == 0.0
    assert res.score_trace.size == (sim.trace_pA.size - 600) // 25 + 1
    np.testing.assert_allclose(res.score_times_s[:3], [0.0, 0.5e-3, 1e-3])
    per_sample = res.score_per_sample()
    assert per_sample.shape == sim.trace_pA.shape and per_sample.dtype == np.float32
    np.testing.assert_allclose(per_sample[::25][: res.score_trace.size], res.score_trace, rtol=1e-6)
    assert per_sample[sim.onset_samples - 150].mean() > 0.8  # windows starting 3 ms before an onset


@pytest.mark.parametrize("mode", ["fast", "full"])
def test_chunked_equals_unchunked_with_events_on_chunk_edges(mode):
    chunk = 2600  # chunk_s = 0.052 s -> 2600 samples (a multiple of the 20-sample stride)
    edges = np.arange(1, 8) * chunk
    # events on the edges, 2-3 ms before or after them, and where the windows straddle an edge
    onsets = np.sort(np.r_[edges, edges[::2] - 130, edges[1::2] + 110, edges[:3] + 330, edges[3:6] - 310]) / FS
    trace = _trace(onsets, np.full(onsets.size, -14.0), duration_s=0.45, rng=3)
    whole = _detect(trace, mode=mode, chunk_s=None)
    parts = _detect(trace, mode=mode, chunk_s=chunk / FS)
    assert precision_recall_f1(onsets, whole.onset_times_s, tolerance_s=0.3e-3)[2] > 0.95
    np.testing.assert_array_equal(parts.onset_samples, whole.onset_samples)
    np.testing.assert_allclose(parts.scores, whole.scores, rtol=1e-6)
    np.testing.assert_allclose(parts.score_trace, whole.score_trace, rtol=1e-6, atol=1e-7)
    for name, values in whole.statistics.table().items():
        np.testing.assert_allclose(getattr(parts.statistics, name), values, rtol=1e-9, equal_nan=True)
    np.testing.assert_allclose(parts.statistics.average_event_pA, whole.statistics.average_event_pA, rtol=1e-9)


def test_chunked_resampled_trace_matches_unchunked():
    onsets = np.array([0.031, 0.104, 0.1041 + 0.052, 0.2, 0.2602, 0.33])
    trace = _trace(onsets, np.full(onsets.size, -15.0), duration_s=0.4, fs=20_000.0, rng=4)
    whole = _detect(trace, sampling_rate_hz=20_000.0, chunk_s=None)
    parts = _detect(trace, sampling_rate_hz=20_000.0, chunk_s=0.05)
    assert precision_recall_f1(onsets, whole.onset_times_s, tolerance_s=0.3e-3)[2] == 1.0
    np.testing.assert_array_equal(parts.onset_samples, whole.onset_samples)
    np.testing.assert_allclose(parts.score_trace, whole.score_trace, atol=1e-5)


def test_lazy_dataset_is_read_in_slices(sim):
    data = CountingDataset(sim.trace_pA.astype(np.float32))
    lazy = _detect(data, chunk_s=0.3)
    eager = _detect(sim.trace_pA.astype(np.float32), chunk_s=0.3)
    np.testing.assert_array_equal(lazy.onset_samples, eager.onset_samples)
    np.testing.assert_allclose(lazy.amplitudes_pA, eager.amplitudes_pA)
    # one chunk + halo (the statistics look up to 4 x 50 ms past an event), never the whole trace
    assert data.reads and max(data.reads) <= 0.3 * FS + 11_000
    assert max(data.reads) < data.shape[0] / 4


def test_h5py_dataset_input(tmp_path, sim):
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "trace.h5", "w") as f:
        f.create_dataset("trace", data=sim.trace_pA, chunks=(10_000,))
    with h5py.File(tmp_path / "trace.h5", "r") as f:
        res = _detect(f["trace"], chunk_s=1.0)
        stats = event_statistics(f["trace"], res.onset_samples, sampling_rate_hz=FS, chunk_samples=20_000)
    ref = _detect(sim.trace_pA, chunk_s=1.0)
    np.testing.assert_array_equal(res.onset_samples, ref.onset_samples)
    np.testing.assert_allclose(stats.amplitude_pA, ref.statistics.amplitude_pA)
    np.testing.assert_allclose(stats.average_event_pA, ref.statistics.average_event_pA)


def test_lazy_input_with_nan_raises():
    data = np.random.default_rng(0).normal(size=20_000)
    data[15_000] = np.nan
    with pytest.raises(InputError, match="NaN"):
        _detect(CountingDataset(data), chunk_s=0.1)


def test_candidate_trace_peaks_at_onsets_despite_drift():
    onsets = np.array([0.02, 0.05, 0.08])
    trace = _trace(onsets, [-8.0, -8.0, -8.0], duration_s=0.1, noise_sd_pA=0.3, rng=5)
    trace += 20.0 * np.sin(2 * np.pi * 3.0 * np.arange(trace.size) / FS)  # 20 pA, 3 Hz drift
    d = candidate_trace(trace, sampling_rate_hz=FS)
    assert np.isneginf(d[0]) and np.isneginf(d[-1]) and d.size == trace.size
    finite = d[np.isfinite(d)]
    sd = 1.4826 * np.median(np.abs(finite - np.median(finite)))
    peaks, _ = scipy.signal.find_peaks(np.where(np.isfinite(d), d, np.median(finite)), distance=500)
    top = np.sort(peaks[np.argsort(d[peaks])[-3:]])
    np.testing.assert_allclose(top, onsets * FS, atol=10)
    assert d[top].min() > np.median(finite) + 8 * sd


@pytest.mark.parametrize("kwargs", [{"mode": "quick"}, {"chunk_s": 0.0}, {"candidate_threshold_sd": -1.0}])
def test_bad_options_raise_input_error(kwargs):
    with pytest.raises(InputError):
        _detect(np.zeros(5000), **kwargs)


def test_model_returning_wrong_shape_raises_in_full_mode():
    with pytest.raises(InputError, match="scores"):
        detect_events(np.zeros(5000), sampling_rate_hz=FS, model=lambda w: np.zeros(3), mode="full",
                      progress_bar=False)


def test_fitted_kinetics_are_unbiased_in_noise():
    sim = simulate_trace(duration_s=8.0, rate_hz=6.0, amplitude_pA=10.0, noise_sd_pA=1.5, rng=21)
    t = np.arange(0.0, 30.0, 0.001)
    rise, half = [], []
    for r, d in zip(sim.rise_ms, sim.decay_ms):
        w = biexponential_event(t, rise_ms=r, decay_ms=d)
        p = int(np.argmax(w))
        rise.append(t[np.argmax(w >= 0.9)] - t[np.argmax(w >= 0.1)])
        half.append(t[p + np.argmax(w[p:] <= 0.5)] - t[p])
    fit = event_statistics(sim.trace_pA, sim.onset_samples, sampling_rate_hz=FS)
    cross = event_statistics(sim.trace_pA, sim.onset_samples, sampling_rate_hz=FS, kinetics="crossing")
    assert len(sim) > 30
    err = lambda st, key, true: abs(np.nanmedian(getattr(st, key)) / np.median(true) - 1)  # noqa: E731
    assert err(fit, "rise_time_ms", rise) < 0.1 and err(fit, "half_decay_ms", half) < 0.1
    assert err(cross, "half_decay_ms", half) > 2 * err(fit, "half_decay_ms", half)
    amp_err = np.abs(np.abs(fit.amplitude_pA) - np.abs(sim.amplitudes_pA)).mean() / np.abs(sim.amplitudes_pA).mean()
    assert amp_err < 0.06


def test_a_call_scoring_few_windows_runs_on_one_torch_thread_and_restores_the_setting():
    torch = pytest.importorskip("torch")
    from nwbsyn.events.score import SMALL_CALL_WINDOWS, _few_threads

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with _few_threads(SMALL_CALL_WINDOWS - 1):
            inside_small = torch.get_num_threads()
        with _few_threads(SMALL_CALL_WINDOWS):
            inside_large = torch.get_num_threads()
        assert (inside_small, inside_large, torch.get_num_threads()) == (1, 2, 2)
    finally:
        torch.set_num_threads(before)
