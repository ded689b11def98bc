"""The distilled dense scorer: exact normalisation, alignment, pairing, chunking and agreement with the full scan."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nwbsyn._shared import InputError  # noqa: E402
from nwbsyn.events import detect_events, match_events, simulate_trace  # noqa: E402
from nwbsyn.events.dense import DEFAULT_DENSE, DenseScorer, block_range_normalise, dense_for  # noqa: E402
from nwbsyn.events.distil import distillation_traces  # noqa: E402
from nwbsyn.events.model import load_model  # noqa: E402

needs_shipped = pytest.mark.skipif(not DEFAULT_DENSE.is_file(), reason="no shipped dense scorer")


def test_block_scaling_is_the_window_scaling_of_the_window_centred_on_the_block():
    x = np.random.default_rng(0).normal(size=20_000).astype(np.float32)
    y = block_range_normalise(x)
    for j in (0, 57, 900):
        w = x[20 * j : 20 * j + 600]
        o = j + 15
        np.testing.assert_allclose(y[20 * o : 20 * o + 20], (x[20 * o : 20 * o + 20] - w.min()) / np.ptp(w), rtol=1e-5)


def test_output_is_on_the_stride_grid():
    torch.manual_seed(0)
    scorer = DenseScorer().eval()
    x = torch.rand(1, 8000)
    with torch.inference_mode():
        a, b = scorer(x)[0], scorer(torch.roll(x, 20, dims=1))[0]
    assert a.shape == (400,)
    torch.testing.assert_close(b[60:340], a[59:339])  # shifting the input by one stride shifts the output by one


def test_recipe_is_reproducible_and_varied():
    a = distillation_traces(n_traces=4, duration_s=0.3, seed=3, beds=[])
    b = distillation_traces(n_traces=4, duration_s=0.3, seed=3, beds=[])
    assert all(np.array_equal(p.trace, q.trace) for p, q in zip(a, b))
    assert len({p.recipe["decay_ms"] for p in a}) == 4


@needs_shipped
def test_shipped_scorer_pairs_only_with_the_unchanged_default_model():
    model = load_model("default", device="cpu")
    assert dense_for(model.weights_sha256) is not None
    sim = simulate_trace(duration_s=1.0, rate_hz=5.0, rng=0)
    assert detect_events(sim.trace_pA, sampling_rate_hz=50_000, model=model, mode="dense",
                         progress_bar=False).params["scorer"].startswith("dense")
    assert detect_events(sim.trace_pA, sampling_rate_hz=50_000, model=model,
                         progress_bar=False).params["scorer"] == "classifier on candidate windows"  # not the default
    with torch.no_grad():
        model.out.bias += 0.1  # trained further in memory: the scorer no longer reproduces it
    with pytest.raises(InputError, match="no distilled scorer"):
        detect_events(sim.trace_pA, sampling_rate_hz=50_000, model=model, mode="dense", progress_bar=False)


@needs_shipped
def test_dense_mode_does_not_depend_on_chunks():
    sim = simulate_trace(duration_s=6.0, rate_hz=10.0, decay_ms=3.0, decay_sd_ms=0.5, filter_hz=5000.0, rng=1)
    one = detect_events(sim.trace_pA, sampling_rate_hz=50_000, mode="dense", chunk_s=None, progress_bar=False)
    many = detect_events(sim.trace_pA, sampling_rate_hz=50_000, mode="dense", chunk_s=0.5, progress_bar=False)
    np.testing.assert_array_equal(one.onset_samples, many.onset_samples)
    np.testing.assert_allclose(one.score_trace, many.score_trace, atol=1e-5)


@needs_shipped
@pytest.mark.parametrize("kw", [dict(rate_hz=5.0), dict(rate_hz=20.0, min_spacing_ms=1.5, decay_ms=4.0,
                                                        decay_sd_ms=1.0, rise_ms=0.4, filter_hz=5000.0)])
def test_dense_mode_finds_what_the_full_scan_finds(kw):
    sim = simulate_trace(duration_s=4.0, rng=2, **kw)
    model = load_model("default", device="cpu")
    fast = detect_events(sim.trace_pA, sampling_rate_hz=50_000, model=model, mode="dense", progress_bar=False)
    full = detect_events(sim.trace_pA, sampling_rate_hz=50_000, model=model, mode="full", progress_bar=False)
    f_fast = match_events(sim.onset_times_s, fast.onset_times_s, tolerance_s=1e-3).f1
    f_full = match_events(sim.onset_times_s, full.onset_times_s, tolerance_s=1e-3).f1
    assert f_fast >= f_full - 0.03
    assert match_events(full.onset_times_s, fast.onset_times_s, tolerance_s=1e-3).f1 > 0.95
    assert fast.params["windows_scored"] < fast.params["windows_total"] / 10
