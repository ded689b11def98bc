"""Input checks shared by the connectivity fitters and baselines (no torch)."""

from __future__ import annotations

import numpy as np

from nwbsyn._shared import InputError, available_memory_bytes

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


# --- limits checked before any large allocation -------------------------------------------------

MAX_STEPS = 10_000_000  # time bins a fit takes (a longer recording needs a larger bin)
BYTES_PER_CELL = 48  # peak bytes per (bin, neuron) while binning, checking and normalising


def gib(n_bytes: float) -> str:
    return f"{n_bytes / 2 ** 30:.3g} GiB"


def check_size(n_steps: float, n_neurons: int, *, what: str, fix: str) -> None:
    """Refuse a (time, neuron) array too long for a fit or too large for memory, before it is made.

    ``what`` describes the array (e.g. "The Units span 1e+06 s, which at --bin-ms 20 is"), ``fix``
    says what to do (e.g. "use a larger --bin-ms").
    """
    estimate = float(n_steps) * max(int(n_neurons), 1) * BYTES_PER_CELL
    if n_steps > MAX_STEPS:
        raise InputError(f"{what} {n_steps:,.0f} bins, more than the {MAX_STEPS:,} a fit takes (about "
                         f"{gib(estimate)} of memory); {fix}.")
    if estimate > 0.5 * available_memory_bytes():
        raise InputError(f"{what} {n_steps:,.0f} bins x {n_neurons} neurons, about {gib(estimate)} of memory "
                         f"while only {gib(available_memory_bytes())} is free; {fix}.")


def check_numeric_dtype(dtype, *, what: str) -> None:
    """Refuse boolean, complex, text and compound data (``what`` names the object)."""
    from nwbsyn._shared.dtypes import dtype_words, holds_real_numbers

    if dtype is None or not holds_real_numbers(dtype):
        words = "text or objects" if dtype is None else dtype_words(dtype)
        raise InputError(f"{what} holds {words}; connectivity needs real numbers "
                         "(store the traces as float or integer data).")


def check_time_base(*, n_samples: int, rate_hz, timestamps, starting_time, what: str) -> None:
    """Refuse a sampling rate that is missing, zero, negative or not finite, and timestamps that do not
    match the data (length, NaN, not increasing)."""
    import math

    import numpy as np

    if timestamps is not None:
        t = np.asarray(timestamps[:], dtype=np.float64) if len(timestamps) <= 50_000_000 else None
        if len(timestamps) != n_samples:
            raise InputError(f"{what} has {len(timestamps)} timestamps for {n_samples} samples; "
                             "give one timestamp per sample.")
        if t is not None and not np.all(np.isfinite(t)):
            raise InputError(f"{what} has NaN or infinite timestamps; fix the timestamps of the file.")
        if t is not None and t.size > 1 and not np.all(np.diff(t) > 0):
            raise InputError(f"{what} has timestamps that do not increase; sort or fix them.")
        return
    if rate_hz is None or isinstance(rate_hz, bool) or not math.isfinite(float(rate_hz)) or float(rate_hz) <= 0:
        raise InputError(f"{what} has no usable sampling rate (rate {rate_hz}); set a positive rate or "
                         "timestamps in the file.")
    if starting_time is not None and not math.isfinite(float(starting_time)):
        raise InputError(f"{what} has starting_time {starting_time}; set a finite starting time in the file.")
