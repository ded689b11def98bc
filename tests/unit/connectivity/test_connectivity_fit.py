import dataclasses

import numpy as np
import pytest

pytest.importorskip("torch")

from nwbsyn._shared import InputError  # noqa: E402
from nwbsyn.connectivity import (  # noqa: E402
    TrainConfig,
    connectivity_auroc,
    fit,
    fit_connectivity,
    load_checkpoint,
    pairwise_correlation,
    sign_accuracy,
    simulate_network,
)


@pytest.fixture(scope="module")
def rate_sim():
    return simulate_network(n_neurons=20, n_steps=5000, density=0.15, observation="rate", rng=3)


@pytest.fixture(scope="module")
def rate_fit(rate_sim):
    import torch

    torch.set_num_threads(1)
    return fit_connectivity(rate_sim.activity, behavior=rate_sim.behavior, loss="mse", seed=0, progress_bar=False)


def test_small_fit_recovers_connectivity(rate_sim, rate_fit):
    auroc = connectivity_auroc(rate_sim.weights, rate_fit.weights)
    assert auroc > 0.9
    assert auroc > connectivity_auroc(rate_sim.weights, pairwise_correlation(rate_sim.activity)) + 0.2
    assert sign_accuracy(rate_sim.weights, rate_fit.weights) > 0.85
    assert rate_fit.metrics["forecast_correlation"] > 0.5
    assert rate_fit.test_prediction.shape == rate_fit.test_target.shape == (1000, 20)
    assert np.all(np.diag(rate_fit.weights) == 0)
    assert rate_fit.embeddings.shape == (20, 8)


def test_fit_is_reproducible_and_checkpoint_roundtrips(tmp_path):
    sim = simulate_network(n_neurons=6, n_steps=1500, observation="poisson", rng=0)
    cfg = TrainConfig(max_epochs=2, chunk_steps=128)
    a = fit(sim.activity, behavior=sim.behavior, config=cfg, seed=5, progress_bar=False,
            checkpoint=tmp_path / "c.pt")
    b = fit(sim.activity, behavior=sim.behavior, config=cfg, seed=5, progress_bar=False)
    wa = a.model.masked_adjacency(0).detach().numpy()
    np.testing.assert_array_equal(wa, b.model.masked_adjacency(0).detach().numpy())
    model, config, norm = load_checkpoint(tmp_path / "c.pt", device="cpu")
    np.testing.assert_array_equal(model.masked_adjacency(0).detach().numpy(), wa)
    assert config == dataclasses.replace(cfg, seed=5) and len(norm[0]["mean"]) == 6  # the seed used is recorded


def test_multi_session_fit():
    s1 = simulate_network(n_neurons=5, n_steps=1200, observation="poisson", rng=1)
    s2 = simulate_network(n_neurons=7, n_steps=1500, observation="poisson", rng=2)
    tm = fit([s1.activity, s2.activity], behavior=[s1.behavior, s2.behavior],
             config=TrainConfig(max_epochs=1, chunk_steps=128), progress_bar=False)
    assert [a.shape for a in tm.model.adjacency] == [(5, 5), (7, 7)]
    assert [e.shape[0] for e in tm.model.embeddings] == [5, 7]


@pytest.mark.parametrize(
    "activity, behavior, match",
    [
        (np.ones((2000, 1)), None, "at least 2"),
        (np.full((2000, 3), np.nan), None, "NaN"),
        (np.zeros((2000, 3)), None, "all zeros"),
        (np.ones((2000, 3)), np.ones(1999), "time steps"),
        (np.ones((50, 3)), None, "context_steps"),
        (-np.ones((2000, 3)), None, "negative"),
    ],
)
def test_bad_input(activity, behavior, match):
    with pytest.raises(InputError, match=match):
        fit_connectivity(activity, behavior=behavior, progress_bar=False)


def test_mse_softplus_link_predicts_in_original_units():
    sim = simulate_network(n_neurons=5, n_steps=1500, observation="rate", rng=4)
    res = fit_connectivity(sim.activity, behavior=sim.behavior, loss="mse", link="softplus", max_epochs=20,
                           chunk_steps=64, progress_bar=False)
    assert res.test_prediction.min() >= 0
    np.testing.assert_allclose(res.test_target, sim.activity[1200:], rtol=1e-5, atol=1e-6)
    assert abs(res.test_prediction.mean() - res.test_target.mean()) < 0.5 * res.test_target.std()


def test_init_from_copies_the_shared_decoder(tmp_path):
    from nwbsyn.connectivity import read_checkpoint

    sim = simulate_network(n_neurons=5, n_steps=1200, observation="poisson", rng=4)
    first = fit(sim.activity, config=TrainConfig(max_epochs=1, chunk_steps=128), progress_bar=False,
                checkpoint=tmp_path / "a.pt")
    ckpt = read_checkpoint(tmp_path / "a.pt")
    assert ckpt["init"]["n_neurons"] == [5] and ckpt["n_parameters"] > 25
    other = simulate_network(n_neurons=7, n_steps=1200, observation="poisson", rng=5)
    frozen = TrainConfig(max_epochs=1, chunk_steps=128, learning_rate=0.0, learning_rate_adjacency=0.0)
    second = fit(other.activity, config=frozen, progress_bar=False, init_from=tmp_path / "a.pt")
    for name, value in first.model.decoder.state_dict().items():
        np.testing.assert_array_equal(second.model.decoder.state_dict()[name].numpy(), value.numpy())
    assert second.model.adjacency[0].shape == (7, 7)


def test_fit_options_are_checked():
    sim = simulate_network(n_neurons=4, n_steps=1200, observation="poisson", rng=0)
    with pytest.raises(InputError, match="--max-epochs"):
        fit(sim.activity, config=TrainConfig(max_epochs=0), progress_bar=False)
    with pytest.raises(InputError, match="--seed"):
        fit(sim.activity, config=TrainConfig(max_epochs=1), seed=-1, progress_bar=False)
