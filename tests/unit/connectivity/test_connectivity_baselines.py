import numpy as np
import pytest

from nwbsyn._shared import InputError
from nwbsyn.connectivity import (
    connectivity_auroc,
    pairwise_correlation,
    partial_correlation,
    poisson_glm,
    ridge_var,
    sign_accuracy,
)


def _linear_var(n=8, t=6000, seed=0):
    rng = np.random.default_rng(seed)
    w = np.zeros((n, n))
    w[rng.random((n, n)) < 0.2] = 0.3
    np.fill_diagonal(w, 0)
    w[:, ::2] *= -1
    x = np.zeros((t, n))
    for i in range(1, t):
        x[i] = w @ x[i - 1] + rng.normal(size=n)
    return w, x


def test_ridge_var_recovers_linear_system():
    w, x = _linear_var()
    var = ridge_var(x, n_lags=1)
    assert np.abs(var.coefficients[0] - w).max() < 0.1
    assert connectivity_auroc(w, var.weights) == 1.0
    pred = var.predict(x)
    assert pred.shape == (len(x) - 1, x.shape[1])


def test_correlations_shapes():
    w, x = _linear_var()
    c = pairwise_correlation(x)
    np.testing.assert_allclose(c, c.T)
    assert np.all(np.diag(c) == 0) and np.all(np.diag(partial_correlation(x)) == 0)


def test_poisson_glm_recovers_coupling():
    rng = np.random.default_rng(1)
    n, t = 6, 8000
    w = np.zeros((n, n))
    w[1, 0], w[2, 1], w[4, 3], w[5, 4] = 0.6, -0.8, 0.6, -0.8
    y = np.zeros((t, n))
    for i in range(1, t):
        y[i] = rng.poisson(np.exp(-0.3 + w @ np.minimum(y[i - 1], 5)))
    glm = poisson_glm(y, n_lags=1, l2=0.1)
    assert connectivity_auroc(w, glm.weights) > 0.95
    assert sign_accuracy(w, glm.weights) == 1.0
    assert glm.predict(y).min() > 0
    with pytest.raises(InputError, match="counts"):
        poisson_glm(-y - 1)
