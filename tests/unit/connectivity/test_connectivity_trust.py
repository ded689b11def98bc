import numpy as np
import pytest

pytest.importorskip("torch")

from nwbsyn.connectivity import TrainConfig, connectivity_auroc, fit, result_from_trained, simulate_network  # noqa: E402
from nwbsyn.connectivity.trust import edge_significance, fit_quality  # noqa: E402


@pytest.fixture(scope="module")
def trained():
    import torch

    torch.set_num_threads(1)
    sim = simulate_network(n_neurons=15, n_steps=6000, density=0.15, rng=2)
    return sim, fit(sim.activity, behavior=sim.behavior, config=TrainConfig(max_epochs=30), progress_bar=False)


def test_surrogate_p_values_separate_true_edges(trained):
    sim, tm = trained
    sig = edge_significance(tm, n_shifts=39, rng=0)
    off = ~np.eye(15, dtype=bool)
    assert sig.p_values.shape == (15, 15) and np.all(sig.p_values[~off] == 1)
    assert sig.p_values.min() == pytest.approx(1 / 40) and sig.p_values.max() <= 1
    edges, non = off & (sim.weights != 0), off & (sim.weights == 0)
    assert connectivity_auroc(sim.weights, 1 - sig.p_values) > 0.8
    assert (sig.p_values[edges] < 0.05).mean() > 0.5 > (sig.p_values[non] < 0.05).mean() * 3
    assert "circular-shift" in sig.method and "39 shifts" in sig.method
    np.testing.assert_array_equal(edge_significance(tm, n_shifts=39, rng=0).p_values, sig.p_values)
    q = sig.q_values
    assert np.all(q[off] >= sig.p_values[off]) and np.all(q <= 1) and np.all(q[~off] == 1)
    # BH keeps the order of the p-values
    order = np.argsort(sig.p_values[off], kind="stable")
    assert np.all(np.diff(q[off][order]) >= -1e-12)


def test_fit_quality_flags_bad_forecasts(trained):
    sim, tm = trained
    res = result_from_trained(tm)
    good = fit_quality(res, sim.activity, sim.behavior)
    assert good["ok"] and good["warning"] is None and good["baseline"] == "ridge VAR(3)"
    assert good["forecast_r"] > good["baseline_forecast_r"]
    bad = type(res)(**{**res.__dict__, "metrics": {"forecast_correlation": -0.05}})
    flagged = fit_quality(bad, sim.activity, sim.behavior)
    assert not flagged["ok"] and "-0.050" in flagged["warning"] and "ridge VAR(3)" in flagged["warning"]
