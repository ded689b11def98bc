import numpy as np
import pytest

from nwbsyn._shared import InputError
from nwbsyn.connectivity import random_connectivity, simulate_network


def test_random_connectivity_sparsity_dale_and_radius():
    w = random_connectivity(200, density=0.1, frac_excitatory=0.8, spectral_radius=0.9, rng=1)
    assert np.all(np.diag(w) == 0)
    off = ~np.eye(200, dtype=bool)
    assert abs((w[off] != 0).mean() - 0.1) < 0.01
    # Dale's law: every column has one sign
    col_sign = [np.unique(np.sign(w[:, k][w[:, k] != 0])) for k in range(200)]
    assert all(len(s) <= 1 for s in col_sign)
    exc = np.mean([s[0] > 0 for s in col_sign if len(s)])
    assert 0.7 < exc < 0.9
    assert np.isclose(np.max(np.abs(np.linalg.eigvals(w))), 0.9)


@pytest.mark.parametrize("observation", ["poisson", "rate", "calcium"])
def test_simulate_network_shapes_and_stability(observation):
    sim = simulate_network(n_neurons=20, n_steps=3000, observation=observation, rng=0)
    assert sim.activity.shape == sim.rates.shape == (3000, 20)
    assert sim.behavior.shape == (3000, 2)
    assert np.all(np.isfinite(sim.activity))
    assert 0.5 < sim.rates.mean() < 2.0 and sim.rates.max() < 30  # stable, no run-away
    if observation == "poisson":
        assert np.all(sim.activity == np.round(sim.activity)) and sim.activity.min() >= 0
    if observation == "calcium":  # slow indicator: strong lag-1 autocorrelation
        x = sim.activity - sim.activity.mean(0)
        assert np.mean((x[1:] * x[:-1]).sum(0) / (x * x).sum(0)) > 0.8


def test_simulate_network_seeds_and_behavior_flag():
    a = simulate_network(n_neurons=10, n_steps=500, rng=0)
    b = simulate_network(n_neurons=10, n_steps=500, rng=1)
    c = simulate_network(n_neurons=10, n_steps=500, rng=0, behavior=False)
    assert not np.array_equal(a.weights, b.weights)
    np.testing.assert_array_equal(a.weights, simulate_network(n_neurons=10, n_steps=500, rng=0).weights)
    assert c.behavior is None
    assert a.params["coupling"] == "spikes"
    assert simulate_network(n_neurons=10, n_steps=50, observation="rate", rng=0).params["coupling"] == "rates"


def test_simulate_network_bad_input():
    with pytest.raises(InputError, match="observation"):
        simulate_network(observation="voltage")
    with pytest.raises(InputError, match="n_neurons"):
        simulate_network(n_neurons=1, n_steps=10)
