"""Batched biexponential fits: every event of a group fitted at once (numpy, no per-event solver call).

The model of one event is ``b + A * u(t - t0; rise, decay)`` with ``u`` the unit-peak
biexponential; the parameters are ``(b, A, t0, log rise, log(decay - rise))`` so that
``decay > rise`` holds by construction. A Levenberg-Marquardt step is taken for all events
together (analytic Jacobian, one 5 x 5 solve per event in one batched call); each event keeps
its own damping and accepts a step only when its own cost falls, so an event's result does not
depend on which other events share the batch.
"""

from __future__ import annotations

import numpy as np

__all__ = ["unit_event", "fit_biexponential", "time_constants", "biexponential_kinetics"]

_LOG_LO, _LOG_HI = -12.0, 6.0
# bounds of (baseline, amplitude >= 0 (events point up), t0 ms, log rise ms, log(decay - rise) ms): t0 within 2 ms of the
# starting onset, rise 10 us..20 ms, decay - rise 20 us..400 ms
_LOWER = np.array([-np.inf, 0.0, -2.0, np.log(0.01), np.log(0.02)])
_UPPER = np.array([np.inf, np.inf, 2.0, np.log(20.0), np.log(400.0)])


def unit_event(t, rise, decay):
    """Biexponential with unit peak, zero before t = 0 (times in ms; arrays broadcast)."""
    t_peak = rise * decay / (decay - rise) * np.log(decay / rise)
    t = np.maximum(t, 0.0)
    return (np.exp(-t / decay) - np.exp(-t / rise)) / (np.exp(-t_peak / decay) - np.exp(-t_peak / rise))


def _time_constants(params):
    lr = np.clip(params[:, 3], _LOG_LO, _LOG_HI)
    e_ld = np.exp(np.clip(params[:, 4], _LOG_LO, _LOG_HI))
    rise = np.exp(lr)
    return rise, rise * (1 + 1e-6) + e_ld, e_ld


def _model(params, t):
    """Model curves (m, L) and their Jacobian (m, 5, L) for parameter rows ``params`` (m, 5)."""
    rise, decay, e_ld = (v[:, None] for v in _time_constants(params))
    amp, t0 = params[:, 1:2], params[:, 2:3]
    t_peak = rise * decay / (decay - rise) * np.log(decay / rise)
    e_pd, e_pr = np.exp(-t_peak / decay), np.exp(-t_peak / rise)
    norm = e_pd - e_pr
    tau = t - t0
    pos = tau > 0
    tp = np.where(pos, tau, 0.0)
    ed, er = np.exp(-tp / decay), np.exp(-tp / rise)
    g = np.where(pos, ed - er, 0.0) / norm
    # d norm / d rise and d decay at fixed t_peak (t_peak maximises the numerator)
    n_r, n_d = -e_pr * t_peak / rise**2, e_pd * t_peak / decay**2
    g_r = (np.where(pos, -er * tp / rise**2, 0.0) - g * n_r) / norm
    g_d = (np.where(pos, ed * tp / decay**2, 0.0) - g * n_d) / norm
    g_t = np.where(pos, -ed / decay + er / rise, 0.0) / norm  # d g / d tau
    jac = np.stack([np.ones_like(g), g, -amp * g_t, amp * (g_r + g_d) * rise, amp * g_d * e_ld], axis=1)
    return params[:, 0:1] + amp * g, jac


def fit_biexponential(y, t, mask, p0, *, iterations: int = 60, patience: int = 10):
    """Least-squares biexponential fits of the rows of ``y`` (m, L) where ``mask`` is true.

    ``t`` (m, L) are the sample times in ms, ``p0`` (m, 5) the starting parameters.
    An event stops once ``patience`` steps in a row lowered its cost by less than 1e-9 of it
    (each event's damping and stopping are its own). Returns the parameters (m, 5) and the
    residual sums of squares (m,).
    """
    p = np.clip(np.array(p0, dtype=np.float64), _LOWER, _UPPER)
    m = p.shape[0]
    w = mask.astype(np.float64)
    eye = np.eye(5)
    with np.errstate(all="ignore"):
        f, jac = _model(p, t)
        res = (f - y) * w
        cost = np.sum(res**2, axis=1)
        lam = np.full(m, 1e-3)
        still = np.zeros(m, dtype=np.int64)  # steps in a row without progress
        for _ in range(int(iterations)):
            act = np.flatnonzero(still < patience)
            if not act.size:
                break
            jm = jac[act] * w[act, None, :]
            hess = np.einsum("mil,mjl->mij", jm, jm)
            grad = np.einsum("mil,ml->mi", jm, res[act])
            diag = np.einsum("mii->mi", hess)
            damped = hess + (lam[act, None] * diag + 1e-12 * (diag.sum(axis=1, keepdims=True) + 1.0))[:, :, None] * eye
            damped = np.where(np.isfinite(damped), damped, 0.0) + 1e-300 * eye
            step = -np.linalg.solve(damped, np.where(np.isfinite(grad), grad, 0.0)[..., None])[..., 0]
            trial = np.clip(p[act] + step, _LOWER, _UPPER)  # projected onto the bounds
            f_new, jac_new = _model(trial, t[act])
            res_new = (f_new - y[act]) * w[act]
            cost_new = np.sum(res_new**2, axis=1)
            better = np.isfinite(cost_new) & (cost_new < cost[act])
            moved = better & (cost[act] - cost_new > 1e-9 * np.abs(cost[act]))
            up = act[better]
            p[up], jac[up], res[up], cost[up] = trial[better], jac_new[better], res_new[better], cost_new[better]
            lam[act] = np.clip(np.where(better, lam[act] / 3.0, lam[act] * 4.0), 1e-9, 1e9)
            still[act] = np.where(moved, 0, still[act] + 1)
    return p, cost


def time_constants(params):
    """(rise, decay) time constants in ms of fitted parameter rows."""
    rise, decay, _ = _time_constants(np.atleast_2d(params))
    return rise, decay


def biexponential_kinetics(rise, decay, *, iterations: int = 60):
    """10-90 % rise, peak-to-50 % decay and half-width (ms) of unit biexponentials (vectorised bisection)."""
    rise, decay = np.asarray(rise, dtype=float), np.asarray(decay, dtype=float)
    t_peak = rise * decay / (decay - rise) * np.log(decay / rise)

    def cross(level, lo, hi, rising):
        lo, hi = np.array(lo, dtype=float), np.array(hi, dtype=float)
        for _ in range(iterations):
            mid = 0.5 * (lo + hi)
            v = unit_event(mid, rise, decay)
            go = (v < level) if rising else (v > level)
            lo, hi = np.where(go, mid, lo), np.where(go, hi, mid)
        return 0.5 * (lo + hi)

    zero = np.zeros_like(t_peak)
    with np.errstate(all="ignore"):
        t10, t90, t50r = (cross(lvl, zero, t_peak, True) for lvl in (0.1, 0.9, 0.5))
        t50d = cross(0.5, t_peak, t_peak + 50.0 * decay, False)
    return t90 - t10, t50d - t_peak, t50d - t50r
