"""How far to trust a connectivity fit: a forecast check against a baseline, and a surrogate test per edge."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nwbsyn._shared import as_rng

__all__ = ["EdgeSignificance", "edge_significance", "fit_quality", "SIGNIFICANCE_METHOD"]

SIGNIFICANCE_METHOD = (
    "held-out circular-shift surrogates: with the fitted model fixed, the presynaptic signal of each edge is "
    "shifted circularly in time on the test split ({n} shifts); p = (1 + shifts whose loss is no worse than "
    "the aligned one) / (1 + shifts), loss change to second order in the edge's contribution")


@dataclass(frozen=True)
class EdgeSignificance:
    """Per-edge surrogate test; arrays are ``[post, pre]`` like ``ConnectivityResult.weights``.

    ``p_values[i, k]`` is small when the aligned presynaptic signal of ``k`` predicts ``i``'s
    held-out activity better than time-shifted copies of it do; 1 where the weight is zero
    and on the diagonal. ``z[i, k]``: mean loss increase under the shifts over its SD.
    A significant edge is a reliable *predictive* (Granger-like) link; common input from
    unrecorded neurons can also make one.
    """

    p_values: np.ndarray
    z: np.ndarray
    n_shifts: int
    method: str

    @property
    def q_values(self) -> np.ndarray:
        """Benjamini-Hochberg adjusted p-values over the off-diagonal edges (false discovery rate)."""
        n = len(self.p_values)
        off = ~np.eye(n, dtype=bool)
        p = self.p_values[off]
        order = np.argsort(p, kind="stable")
        ranked = p[order] * len(p) / np.arange(1, len(p) + 1)
        q = np.empty_like(p)
        q[order] = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
        q = np.maximum(q, p)  # p * m / m can round below p
        out = np.ones((n, n))
        out[off] = q
        return out


def _loss_derivatives(eta: np.ndarray, y: np.ndarray, *, loss: str, link: str):
    """First and second derivative of the per-step loss with respect to the pre-activation."""
    if loss == "mse":
        if link == "identity":
            return 2.0 * (eta - y), np.full_like(eta, 2.0)
        mu = np.logaddexp(0.0, eta)
        sig = 1.0 / (1.0 + np.exp(-eta))
        return 2 * (mu - y) * sig, 2 * sig * sig + 2 * (mu - y) * sig * (1 - sig)
    if link == "exp":
        mu = np.exp(np.minimum(eta, 20.0))
        return mu - y, mu
    mu = np.logaddexp(0.0, eta) + 1e-6
    sig = 1.0 / (1.0 + np.exp(-eta))
    ratio = y / mu
    return (1 - ratio) * sig, ratio / mu * sig * sig + (1 - ratio) * sig * (1 - sig)


def edge_significance(trained, *, session: int = 0, n_shifts: int | None = None, max_steps: int = 5000,
                      rng: int | np.random.Generator | None = 0) -> EdgeSignificance:
    """Surrogate p-value of every edge of a fitted model, on its held-out test split.

    For a circular shift ``s`` of the presynaptic signal ``z_k`` (the kernel-smoothed activity that
    ``A`` multiplies), the loss of neuron ``i`` changes by
    ``sum_t g_i(t) d(t) + h_i(t) d(t)^2 / 2`` with ``d(t) = A[i, k] (z_k(t + s) - z_k(t))`` and
    ``g``, ``h`` the loss derivatives at the fitted pre-activation: two matrix products per shift
    for all edges. Default ``n_shifts``: 99 up to 200 neurons, else 19 (p >= 1 / (1 + n_shifts)).

    Example
    -------
    >>> import numpy as np
    >>> from nwbsyn.connectivity import simulate_network
    >>> from nwbsyn.connectivity.train import TrainConfig, fit
    >>> sim = simulate_network(n_neurons=8, n_steps=2000, rng=0)
    >>> trained = fit(sim.activity, config=TrainConfig(max_epochs=3), progress_bar=False)
    >>> sig = edge_significance(trained, n_shifts=19)
    >>> sig.p_values.shape, bool(sig.p_values.min() >= 1 / 20), np.diag(sig.p_values).tolist() == [1.0] * 8
    ((8, 8), True, True)
    """
    import torch

    model, sess, config = trained.model, trained.sessions[session], trained.config
    n = sess.x.shape[1]
    n_shifts = int(n_shifts if n_shifts is not None else (99 if n <= 200 else 19))
    c = model.context_steps
    lo, hi = sess.bounds[1], len(sess.x)
    lo = max(lo, hi - max_steps, c)
    empty = EdgeSignificance(np.ones((n, n)), np.zeros((n, n)), n_shifts, SIGNIFICANCE_METHOD.format(n=n_shifts))
    if hi - lo < 20:
        return empty
    dev = next(model.parameters()).device
    x = torch.as_tensor(sess.x[lo - c: hi - 1], device=dev)
    b = None if sess.behavior is None else torch.as_tensor(sess.behavior[lo - c: hi - 1], device=dev)
    with torch.inference_mode():
        eta = model.preactivation(session, x, b).double().cpu().numpy()
        z = model.presynaptic_signal(x).double().cpu().numpy()
        a = model.masked_adjacency(session).double().cpu().numpy()
    y = sess.y[lo:hi].astype(np.float64)
    g, h = _loss_derivatives(eta, y, loss=config.loss, link=config.resolved_link())
    rng = as_rng(rng)
    t = len(z)
    shifts = rng.integers(max(1, t // 10), max(2, t - t // 10), size=n_shifts)
    deltas = np.empty((n_shifts, n, n))
    for j, s in enumerate(shifts):
        dz = np.roll(z, int(s), axis=0) - z  # (T, N_pre)
        deltas[j] = a * (g.T @ dz) + 0.5 * a * a * (h.T @ (dz * dz))  # [post, pre]
    p = (1.0 + (deltas <= 0).sum(axis=0)) / (1.0 + n_shifts)
    sd = deltas.std(axis=0)
    zscore = np.where(sd > 0, deltas.mean(axis=0) / np.where(sd > 0, sd, 1.0), 0.0)
    off = ~np.eye(n, dtype=bool)
    p = np.where(off & (a != 0), p, 1.0)
    zscore = np.where(off, zscore, 0.0)
    return EdgeSignificance(p, zscore, n_shifts, SIGNIFICANCE_METHOD.format(n=n_shifts))


def fit_quality(result, activity: np.ndarray, behavior: np.ndarray | None = None, *, n_lags: int | None = None
                ) -> dict:
    """Held-out forecast of the fit beside a ridge VAR fitted on the same train + validation steps.

    Returns a plain dict: ``forecast_r``, ``baseline`` (its name), ``baseline_forecast_r``, ``ok``
    (the fit forecasts better than the baseline and with r > 0) and ``warning`` (a sentence, or None).
    ``n_lags``: 3 up to 300 neurons, else 1 (cost).

    Example
    -------
    >>> from nwbsyn.connectivity import simulate_network
    >>> from nwbsyn.connectivity.infer import fit_connectivity
    >>> sim = simulate_network(n_neurons=8, n_steps=2000, rng=0)
    >>> result = fit_connectivity(sim.activity, max_epochs=3, significance=False, progress_bar=False)
    >>> quality = fit_quality(result, sim.activity)
    >>> sorted(quality), quality["baseline"]
    (['baseline', 'baseline_forecast_r', 'forecast_r', 'ok', 'warning'], 'ridge VAR(3)')
    >>> quality["ok"] == (quality["forecast_r"] > max(quality["baseline_forecast_r"], 0.0))
    True
    >>> quality["ok"] or quality["warning"].startswith("The connectivity fit is not trustworthy")
    True
    """
    from nwbsyn.connectivity.baselines import ridge_var
    from nwbsyn.connectivity.metrics import forecast_correlation

    x = np.asarray(activity, dtype=np.float64)
    n_lags = n_lags or (3 if x.shape[1] <= 300 else 1)
    n_tv = int(result.params["bounds"][1])
    r = float(result.metrics.get("forecast_correlation", float("nan")))
    out = {"forecast_r": round(r, 4), "baseline": f"ridge VAR({n_lags})", "baseline_forecast_r": None,
           "ok": False, "warning": None}
    try:
        beh = None if behavior is None else np.asarray(behavior, dtype=np.float64).reshape(len(x), -1)
        var = ridge_var(x[:n_tv], n_lags=n_lags, behavior=None if beh is None else beh[:n_tv])
        pred = var.predict(x[n_tv - n_lags:], None if beh is None else beh[n_tv - n_lags:])
        base = float(forecast_correlation(x[n_tv:], pred))
    except ValueError:  # too short or degenerate for the baseline: judge r alone
        base = float("nan")
    out["baseline_forecast_r"] = None if not np.isfinite(base) else round(base, 4)
    problems = []
    if not np.isfinite(r) or r <= 0:
        problems.append(f"its held-out forecast correlation is {r:.3f} (no better than chance)")
    if np.isfinite(base) and np.isfinite(r) and r < base:
        problems.append(f"it forecasts held-out activity worse than a {out['baseline']} (r {r:.3f} vs {base:.3f})")
    out["ok"] = not problems
    if problems:
        out["warning"] = ("The connectivity fit is not trustworthy: " + " and ".join(problems)
                          + "; read its weights with care (try another --bin-ms, --behavior or a longer recording).")
    return out
