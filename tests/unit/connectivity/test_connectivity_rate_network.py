import numpy as np
import pytest

from nwbsyn._shared import InputError
from nwbsyn.connectivity.simulate import simulate_rate_network, to_nwbfile


@pytest.mark.parametrize("observation", ["poisson", "calcium"])
def test_hidden_rate_network_shapes_dale_behaviour(observation):
    sim = simulate_rate_network(n_neurons=20, n_steps=2000, bin_ms=20, native_ms=5, observation=observation, rng=0)
    assert sim.activity.shape == sim.rates.shape == (2000, 20) and sim.behavior.shape == (2000, 2)
    assert sim.dt_s == 0.02 and sim.params["coupling"] == "hidden_rates"
    signs = [np.unique(np.sign(c[c != 0])) for c in sim.weights.T]
    assert all(len(s) <= 1 for s in signs)  # Dale's law
    assert 0 < len(sim.params["behavior_driven"]) < 20
    assert np.all(np.isfinite(sim.activity)) and sim.rates.max() < 50
    if observation == "poisson":
        assert np.array_equal(sim.activity, np.round(sim.activity))
        assert sim.params["spikes_native"].reshape(2000, 4, 20).sum(axis=1).sum() == sim.activity.sum()
        # 50 Hz default at 20 ms bins: about one spike per bin
        assert 0.5 < sim.activity.mean() < 2.0


def test_hidden_rates_are_not_the_spikes():
    """The network couples rates: spikes are a noisy read-out, so counts correlate with rates well below 1."""
    sim = simulate_rate_network(n_neurons=10, n_steps=4000, rng=1)
    r = [np.corrcoef(sim.activity[:, k], sim.rates[:, k])[0, 1] for k in range(10)]
    assert 0.2 < np.mean(r) < 0.9


def test_bad_input_and_nwb_export():
    with pytest.raises(InputError, match="whole multiple"):
        simulate_rate_network(bin_ms=12, native_ms=5)
    with pytest.raises(InputError, match="observation"):
        simulate_rate_network(observation="rate")
    sim = simulate_rate_network(n_neurons=3, n_steps=300, bin_ms=10, native_ms=5, rng=0)
    nwb = to_nwbfile(sim, rng=0)
    assert len(nwb.units) == 3
    times = nwb.units.get_unit_spike_times(0)
    assert len(times) == sim.activity[:, 0].sum() and np.all(np.diff(times) >= 0) and times.max() < 3.0
    assert nwb.processing["behavior"]["speed"].data.shape == (300, 2)
    with pytest.raises(InputError, match="spike trains"):
        to_nwbfile(simulate_rate_network(n_neurons=3, n_steps=50, observation="calcium", rng=0))


def test_true_hidden_rates_hold_the_edges():
    """The defaults keep the coupling visible in the hidden rates (issue 18: a regression on them
    recovers the network), while the spike counts are a noisy read-out of it."""
    from nwbsyn.connectivity import baselines, connectivity_auroc

    sim = simulate_rate_network(n_neurons=20, n_steps=8000, rng=3)
    from_rates = baselines.ridge_var(sim.rates, n_lags=1, behavior=sim.behavior).weights
    from_counts = baselines.ridge_var(sim.activity, n_lags=3, behavior=sim.behavior).weights
    assert connectivity_auroc(sim.weights, from_rates) > 0.9
    assert connectivity_auroc(sim.weights, from_counts) < connectivity_auroc(sim.weights, from_rates)
    assert sim.params["gain_hz"].shape == (20,)
