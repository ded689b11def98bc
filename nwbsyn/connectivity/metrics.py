"""Scores for connectivity estimates and one-step forecasts (numpy only, no torch)."""

from __future__ import annotations

import numpy as np

from nwbsyn._shared import InputError, as_rng

__all__ = [
    "forecast_correlation",
    "pc_forecast_correlation",
    "connectivity_auroc",
    "connectivity_auprc",
    "sign_accuracy",
    "current_activity_correlation",
]


def _pearson_columns(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    den = np.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (a * b).sum(axis=0) / np.where(den > 0, den, 1.0), np.nan)


def _same_shape(true: np.ndarray, pred: np.ndarray, names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    true, pred = np.asarray(true, float), np.asarray(pred, float)
    if true.shape != pred.shape:
        raise InputError(f"{names[0]} {true.shape} and {names[1]} {pred.shape} must have the same shape.")
    return true, pred


def forecast_correlation(true: np.ndarray, pred: np.ndarray) -> float:
    """Mean over neurons of the Pearson correlation between observed and predicted activity.

    Neurons that are constant in ``true`` or ``pred`` are skipped.

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=(100, 3))
    >>> forecast_correlation(x, 2 * x + 1)
    1.0
    """
    true, pred = _same_shape(true, pred, ("true", "pred"))
    r = _pearson_columns(true.reshape(len(true), -1), pred.reshape(len(pred), -1))
    return float(np.round(np.nanmean(r), 12)) if np.isfinite(r).any() else float("nan")


def pc_forecast_correlation(true: np.ndarray, pred: np.ndarray, *, n_components: int = 3) -> np.ndarray:
    """Correlation of the top principal components of ``true`` with the same projections of ``pred``.

    The components are fitted on ``true`` (centred); both arrays are projected on them.
    Returns one correlation per component.
    """
    true, pred = _same_shape(true, pred, ("true", "pred"))
    mean = true.mean(axis=0)
    _, _, vt = np.linalg.svd(true - mean, full_matrices=False)
    v = vt[: min(n_components, vt.shape[0])].T
    return _pearson_columns((true - mean) @ v, (pred - mean) @ v)


def _edge_scores(true_weights, weights) -> tuple[np.ndarray, np.ndarray]:
    true_weights, weights = _same_shape(true_weights, weights, ("true_weights", "weights"))
    if true_weights.ndim != 2 or true_weights.shape[0] != true_weights.shape[1]:
        raise InputError(f"weights must be square (N, N); got {true_weights.shape}.")
    off = ~np.eye(len(true_weights), dtype=bool)
    return (true_weights[off] != 0).astype(float), np.abs(weights[off])


def _auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    from scipy.stats import rankdata

    n_pos = labels.sum()
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[labels > 0].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def connectivity_auroc(true_weights: np.ndarray, weights: np.ndarray) -> float:
    """Area under the ROC curve for detecting true edges from ``|weights|`` (diagonal excluded).

    Examples
    --------
    >>> w = np.array([[0, 1.0], [0, 0]])
    >>> connectivity_auroc(w, np.array([[0, 0.9], [0.1, 0]]))
    1.0
    """
    return _auroc(*_edge_scores(true_weights, weights))


def connectivity_auprc(true_weights: np.ndarray, weights: np.ndarray) -> float:
    """Average precision for detecting true edges from ``|weights|`` (diagonal excluded).

    Chance level is the edge density.
    """
    labels, scores = _edge_scores(true_weights, weights)
    if labels.sum() == 0:
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    hits = labels[order]
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float((precision * hits).sum() / hits.sum())


def sign_accuracy(true_weights: np.ndarray, weights: np.ndarray) -> float:
    """Fraction of true (non-zero, off-diagonal) edges whose estimated sign is right."""
    true_weights, weights = _same_shape(true_weights, weights, ("true_weights", "weights"))
    off = ~np.eye(len(true_weights), dtype=bool)
    edges = off & (true_weights != 0)
    if not edges.any():
        return float("nan")
    return float(np.mean(np.sign(weights[edges]) == np.sign(true_weights[edges])))


def current_activity_correlation(
    activity: np.ndarray,
    weights: np.ndarray,
    *,
    max_lag: int = 5,
    n_shuffles: int = 5,
    rng: int | np.random.Generator | None = 0,
) -> dict:
    """Does the input current ``I = activity @ weights.T`` predict each neuron's activity?

    For lags 0..``max_lag`` returns the mean over neurons of corr(I_i(t - lag), x_i(t)),
    compared with two references: the same current built from pairwise Pearson
    correlations (diagonal zeroed), and from ``weights`` with the off-diagonal
    entries of each row randomly permuted (``n_shuffles`` times, averaged).

    Returns
    -------
    dict
        ``lags``, ``model``, ``pairwise_correlation`` and ``shuffled`` (lists of floats).
    """
    x = np.asarray(activity, float)
    weights = np.asarray(weights, float)
    n = x.shape[1]
    if weights.shape != (n, n):
        raise InputError(f"weights must be ({n}, {n}) to match activity; got {weights.shape}.")
    rng = as_rng(rng)
    off = ~np.eye(n, dtype=bool)
    corr = np.corrcoef(x.T)
    corr = np.where(off & np.isfinite(corr), corr, 0.0)

    def xcorr(w):
        cur = x @ w.T
        return [float(np.nanmean(_pearson_columns(cur[: len(x) - lag], x[lag:]))) for lag in range(max_lag + 1)]

    shuffled = []
    for _ in range(n_shuffles):
        ws = np.zeros_like(weights)
        for i in range(n):
            vals = weights[i, off[i]]
            ws[i, off[i]] = vals[rng.permutation(len(vals))]
        shuffled.append(xcorr(ws))
    return {
        "lags": list(range(max_lag + 1)),
        "model": xcorr(np.where(off, weights, 0.0)),
        "pairwise_correlation": xcorr(corr),
        "shuffled": np.mean(shuffled, axis=0).tolist(),
    }
