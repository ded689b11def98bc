import numpy as np
import pytest

from nwbsyn._shared import InputError
from nwbsyn.connectivity import metrics as M


def test_auroc_auprc_known_cases():
    true = np.array([[0, 1.0, 0], [0, 0, -2.0], [0, 0, 0]])
    perfect = np.array([[9, 0.8, 0.1], [0.2, 9, -0.9], [0.0, 0.3, 9]])  # diagonal ignored
    assert M.connectivity_auroc(true, perfect) == 1.0
    assert M.connectivity_auprc(true, perfect) == 1.0
    assert M.connectivity_auroc(true, -np.abs(perfect) + 1) == 0.0
    assert M.connectivity_auroc(true, np.ones((3, 3))) == 0.5  # ties
    assert M.sign_accuracy(true, np.array([[0, 1, 0], [0, 0, 1.0], [0, 0, 0]])) == 0.5
    with pytest.raises(InputError):
        M.connectivity_auroc(true, np.ones((2, 2)))


def test_forecast_correlation_and_pcs():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 6)) @ rng.normal(size=(6, 6))
    assert M.forecast_correlation(x, x) == pytest.approx(1.0)
    noisy = x + rng.normal(size=x.shape) * 10
    assert M.forecast_correlation(x, noisy) < 0.5
    pcs = M.pc_forecast_correlation(x, 3 * x + 1, n_components=3)
    np.testing.assert_allclose(pcs, 1.0)


def test_current_activity_correlation_beats_shuffle():
    rng = np.random.default_rng(0)
    n, t = 10, 4000
    w = np.zeros((n, n))
    w[np.arange(1, n), np.arange(n - 1)] = 0.8  # chain 0 -> 1 -> 2 ...
    x = np.zeros((t, n))
    for i in range(1, t):
        x[i] = w @ x[i - 1] + rng.normal(size=n)
    out = M.current_activity_correlation(x, w, max_lag=2)
    assert out["model"][1] > 0.4  # the current predicts the next step
    assert out["model"][1] > out["shuffled"][1] + 0.2
