"""Input checks shared by the connectivity fitters and baselines (no torch)."""

from __future__ import annotations

import numpy as np

from nwbsyn._shared import InputError

__all__ = ["check_activity", "check_behavior"]


def check_activity(activity, *, name: str = "activity", min_steps: int = 2) -> np.ndarray:
    """Return ``activity`` as a float (T, N) array, or raise :class:`InputError`."""
    try:
        x = np.asarray(activity, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InputError(f"{name} must be a numeric (time, neurons) array.") from err
    if x.ndim != 2:
        raise InputError(f"{name} must be 2-D (time, neurons); got shape {x.shape}.")
    if x.shape[1] < 2:
        raise InputError(f"{name} has {x.shape[1]} neuron(s); connectivity needs at least 2 columns.")
    if not np.all(np.isfinite(x)):
        raise InputError(f"{name} contains NaN or infinite values; interpolate or drop those time bins first.")
    if x.shape[0] < min_steps:
        raise InputError(
            f"{name} has {x.shape[0]} time steps but at least {min_steps} are needed for this context "
            "and split; pass a longer recording or lower context_steps."
        )
    if not np.any(x):
        raise InputError(f"{name} is all zeros; pass a recording with activity.")
    return x


def check_behavior(behavior, n_steps: int, *, name: str = "behavior") -> np.ndarray | None:
    """Return ``behavior`` as a float (T, B) array (or None), or raise :class:`InputError`."""
    if behavior is None:
        return None
    b = np.asarray(behavior, dtype=np.float64)
    if b.ndim == 1:
        b = b[:, None]
    if b.ndim != 2:
        raise InputError(f"{name} must be (time,) or (time, features); got shape {b.shape}.")
    if b.shape[0] != n_steps:
        raise InputError(
            f"{name} has {b.shape[0]} time steps but activity has {n_steps}; bin both on the same time base."
        )
    if not np.all(np.isfinite(b)):
        raise InputError(f"{name} contains NaN or infinite values; interpolate them first.")
    return b
