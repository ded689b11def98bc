import numpy as np
import pytest

from nwbsyn._shared import InputError
from nwbsyn.connectivity import simulate_network
from nwbsyn.connectivity.binning import bin_spike_trains, choose_bin_ms


def _trains(counts, step_s, rng):
    out = []
    for k in range(counts.shape[1]):
        steps = np.repeat(np.arange(len(counts)), counts[:, k].astype(int))
        out.append(np.sort((steps + rng.random(steps.size)) * step_s))
    return out


@pytest.mark.parametrize("dt_ms", [10.0, 20.0])
def test_the_native_bin_of_a_network_is_chosen(dt_ms):
    sim = simulate_network(n_neurons=20, n_steps=12_000, dt_s=dt_ms / 1e3, rng=0)
    choice = choose_bin_ms(_trains(sim.activity, dt_ms / 1e3, np.random.default_rng(0)))
    assert choice.bin_ms == dt_ms
    scores = choice.bits_per_spike
    assert set(scores) == {"10", "20", "50"} and scores[f"{dt_ms:g}"] > scores["50"]
    assert choice.as_dict()["method"].startswith("held-out")


def test_finer_candidates_can_be_offered():
    sim = simulate_network(n_neurons=10, n_steps=6000, dt_s=0.01, rng=1)
    choice = choose_bin_ms(_trains(sim.activity, 0.01, np.random.default_rng(0)), candidates_ms=(5, 10, 20))
    assert set(choice.bits_per_spike) == {"5", "10", "20"} and choice.bin_ms in (5.0, 10.0, 20.0)


def test_binning_and_refusals():
    counts = bin_spike_trains([np.array([0.0, 0.01, 0.019, 0.5])], bin_s=0.01, start_s=0.0, n_bins=3)
    assert counts[:, 0].tolist() == [1, 2, 0]
    with pytest.raises(InputError, match="too short to choose a bin"):
        choose_bin_ms([np.array([0.0, 0.1, 0.2]), np.array([0.05, 0.3])])
    with pytest.raises(InputError, match="whole multiples"):
        choose_bin_ms([np.arange(100.0), np.arange(100.0)], candidates_ms=(5, 7))
