"""Reference connectivity estimators: correlation, partial correlation, ridge VAR, Poisson GLM.

All return ``(N, N)`` matrices with the convention ``weights[i, k]`` = influence of
neuron ``k`` (pre) on neuron ``i`` (post) and a zero diagonal. No torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nwbsyn._shared import InputError
from nwbsyn.connectivity._checks import check_activity, check_behavior

__all__ = [
    "LaggedModel",
    "pairwise_correlation",
    "partial_correlation",
    "ridge_var",
    "poisson_glm",
]


def pairwise_correlation(activity: np.ndarray) -> np.ndarray:
    """Pearson correlation between neurons (symmetric, diagonal zeroed).

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=(200, 4))
    >>> pairwise_correlation(x).shape
    (4, 4)
    """
    x = check_activity(activity)
    c = np.corrcoef(x.T)
    c = np.where(np.isfinite(c), c, 0.0)
    np.fill_diagonal(c, 0.0)
    return c


def partial_correlation(activity: np.ndarray, *, shrinkage: float = 1e-3) -> np.ndarray:
    """Partial correlation from the (ridge-regularised) precision matrix, diagonal zeroed."""
    x = check_activity(activity)
    cov = np.cov(x.T)
    cov += shrinkage * np.trace(cov) / len(cov) * np.eye(len(cov))
    p = np.linalg.inv(cov)
    d = np.sqrt(np.diag(p))
    pc = -p / np.outer(d, d)
    np.fill_diagonal(pc, 0.0)
    return pc


@dataclass(frozen=True)
class LaggedModel:
    """A fitted lagged linear (VAR) or Poisson GLM model.

    ``coefficients[l, i, k]`` is the effect of ``x_k(t - 1 - l)`` on neuron ``i`` at ``t``;
    ``weights`` is their sum over lags with the diagonal zeroed.
    """

    weights: np.ndarray  # (N, N)
    coefficients: np.ndarray  # (n_lags, N, N)
    intercept: np.ndarray  # (N,)
    behavior_coefficients: np.ndarray | None  # (N, B)
    link: str  # "identity" or "exp"
    params: dict = field(default_factory=dict)

    @property
    def n_lags(self) -> int:
        return self.coefficients.shape[0]

    def predict(self, activity: np.ndarray, behavior: np.ndarray | None = None) -> np.ndarray:
        """One-step forecasts: row ``j`` predicts ``activity[n_lags + j]``; shape (T - n_lags, N)."""
        x = check_activity(activity, min_steps=self.n_lags + 1)
        z = _lagged_design(x, self.n_lags, check_behavior(behavior, len(x)))
        n = x.shape[1]
        beta = self.coefficients.transpose(0, 2, 1).reshape(self.n_lags * n, n)
        if self.behavior_coefficients is not None:
            beta = np.vstack([beta, self.behavior_coefficients.T])
        eta = z @ beta + self.intercept
        return np.exp(np.clip(eta, -20, 20)) if self.link == "exp" else eta


def _lagged_design(x: np.ndarray, n_lags: int, behavior: np.ndarray | None) -> np.ndarray:
    """Rows t = n_lags..T-1: [x(t-1), ..., x(t-n_lags), beh(t-1)]."""
    t = len(x)
    cols = [x[n_lags - 1 - lag: t - 1 - lag] for lag in range(n_lags)]
    if behavior is not None:
        cols.append(behavior[n_lags - 1: t - 1])
    return np.hstack(cols)


def _unpack(beta: np.ndarray, n_lags: int, n: int, has_beh: bool):
    coef = beta[: n_lags * n].reshape(n_lags, n, n).transpose(0, 2, 1)
    beh = beta[n_lags * n:].T if has_beh else None
    w = coef.sum(axis=0)
    np.fill_diagonal(w, 0.0)
    return w, coef, beh


def ridge_var(
    activity: np.ndarray,
    *,
    n_lags: int = 10,
    alpha: float | str = "auto",
    behavior: np.ndarray | None = None,
    val_fraction: float = 0.2,
) -> LaggedModel:
    """Ridge-regularised vector autoregression of order ``n_lags``.

    With ``alpha="auto"`` the ridge penalty is chosen on the last ``val_fraction`` of the
    (chronological) data from a log grid, then the model is refitted on all of it.

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=(500, 5))
    >>> ridge_var(x, n_lags=2).weights.shape
    (5, 5)
    """
    x = check_activity(activity, min_steps=n_lags + 10)
    b = check_behavior(behavior, len(x))
    z = _lagged_design(x, n_lags, b)
    y = x[n_lags:]
    zm, ym = z.mean(axis=0), y.mean(axis=0)
    zc, yc = z - zm, y - ym

    def solve(zz, zy, a):
        return np.linalg.solve(zz + a * np.eye(len(zz)), zy)

    if alpha == "auto":
        n_fit = int(len(z) * (1 - val_fraction))
        zf, yf = zc[:n_fit], yc[:n_fit]
        zz, zy = zf.T @ zf, zf.T @ yf
        scale = np.trace(zz) / len(zz)
        grid = scale * np.logspace(-4, 2, 13)
        errs = [np.mean((zc[n_fit:] @ solve(zz, zy, a) - yc[n_fit:]) ** 2) for a in grid]
        alpha_value = float(grid[int(np.argmin(errs))] * len(z) / max(n_fit, 1))
    else:
        alpha_value = float(alpha)
    beta = solve(zc.T @ zc, zc.T @ yc, alpha_value)
    w, coef, beh = _unpack(beta, n_lags, x.shape[1], b is not None)
    intercept = ym - zm @ beta
    return LaggedModel(w, coef, intercept, beh, "identity", {"n_lags": n_lags, "alpha": alpha_value})


def poisson_glm(
    counts: np.ndarray,
    *,
    n_lags: int = 3,
    l2: float = 1.0,
    behavior: np.ndarray | None = None,
    max_iter: int = 500,
) -> LaggedModel:
    """Poisson GLM with exponential link and coupling terms, fitted for all neurons at once.

    ``log E[y_i(t)] = c_i + sum_l sum_k B[l, i, k] y_k(t - 1 - l) + d_i . beh(t - 1)``,
    maximised with L-BFGS (scipy) under an L2 penalty ``l2 * ||B||^2 / 2``.
    """
    from scipy.optimize import minimize

    y_all = check_activity(counts, name="counts", min_steps=n_lags + 10)
    if np.any(y_all < 0):
        raise InputError("counts must be non-negative spike counts; use ridge_var for other signals.")
    b = check_behavior(behavior, len(y_all))
    z = _lagged_design(y_all, n_lags, b)
    y = y_all[n_lags:]
    zm, zs = z.mean(axis=0), z.std(axis=0) + 1e-8
    zn = (z - zm) / zs
    n_feat, n = zn.shape[1], y.shape[1]
    m = len(y)
    log_mean = np.log(y.mean(axis=0) + 1e-6)

    def fun(theta):
        beta = theta[: n_feat * n].reshape(n_feat, n)
        c = theta[n_feat * n:]
        eta = np.clip(zn @ beta + c, -30, 30)
        mu = np.exp(eta)
        loss = (mu - y * eta).sum() / m + 0.5 * l2 / m * (beta**2).sum()
        g = (mu - y) / m
        gbeta = zn.T @ g + l2 / m * beta
        return loss, np.concatenate([gbeta.ravel(), g.sum(axis=0)])

    theta0 = np.concatenate([np.zeros(n_feat * n), log_mean])
    res = minimize(fun, theta0, jac=True, method="L-BFGS-B", options={"maxiter": max_iter})
    beta_n = res.x[: n_feat * n].reshape(n_feat, n)
    beta = beta_n / zs[:, None]
    intercept = res.x[n_feat * n:] - zm @ beta
    w, coef, beh = _unpack(beta, n_lags, n, b is not None)
    return LaggedModel(w, coef, intercept, beh, "exp",
                       {"n_lags": n_lags, "l2": l2, "converged": bool(res.success), "n_iter": int(res.nit)})
