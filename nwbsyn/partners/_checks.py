"""Checks made before any partner work: memory estimates, volume shapes and dtypes, voxel sizes, seeds.

Every function raises :class:`~nwbsyn._shared.InputError` with one sentence naming the object,
the value and what to do; ``option`` arguments are spelled as the command line spells them
(``--shape``), so that the same check serves the CLI and Python callers.
"""

from __future__ import annotations

import math

import numpy as np

from nwbsyn._shared import InputError, available_memory_bytes
from nwbsyn._shared.dtypes import dtype_words

__all__ = ["available_memory_bytes", "format_bytes", "check_memory", "check_image_dtype", "check_label_dtype",
           "check_voxel_size", "check_volume_shape", "check_seed", "check_fraction", "SIMULATE_BYTES_PER_VOXEL",
           "ASSIGN_BYTES_PER_VOXEL", "MAX_SEED", "VOXEL_LIMITS_NM", "SIMULATE_VOXEL_LIMITS_NM"]

# peak memory per voxel, measured with tracemalloc (simulate_volume: 160-280 B/voxel at 0.1-0.6 M voxels)
SIMULATE_BYTES_PER_VOXEL = 200
# partner assignment: image + segmentation + cleft labels/probability + the CREMI -> NWB copies
ASSIGN_BYTES_PER_VOXEL = 40
MAX_SEED = 2**32 - 1


def format_bytes(n: float) -> str:
    """``1.6 PB``-style size (powers of 1024, GiB-style units)."""
    n = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if n < 1024 or unit == "EiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} EiB"  # pragma: no cover


def check_memory(needed_bytes: float, *, what: str, fix: str) -> None:
    """Refuse work whose estimated memory exceeds what is available, before allocating anything."""
    limit = available_memory_bytes()
    if needed_bytes > limit:
        raise InputError(f"{what} needs about {format_bytes(needed_bytes)} of memory, more than the "
                         f"{format_bytes(limit)} available here; {fix}.")


def check_volume_shape(shape, *, name: str) -> tuple[int, ...]:
    """A (z, y, x) shape with every size at least 1."""
    shape = tuple(int(n) for n in shape)
    if len(shape) != 3:
        raise InputError(f"{name} has shape {shape}; a 3-D (z, y, x) volume is needed.")
    if min(shape) < 1:
        raise InputError(f"{name} is empty (shape {shape}); a volume with at least one voxel along z, y and x "
                         "is needed.")
    return shape


def check_image_dtype(dtype, *, name: str) -> None:
    """An EM image holds integer grey levels (uint8, or integers that fit 0-255)."""
    dtype = np.dtype(dtype)
    if dtype.names or dtype.kind not in "ui":
        raise InputError(f"{name} holds {dtype_words(dtype)}; an EM image must hold uint8 grey levels (0-255) - "
                         "convert it to uint8.")


def check_image_values(data, *, name: str) -> None:
    """Integer grey levels outside 0-255 would wrap when converted to uint8."""
    data = np.asarray(data)
    if data.dtype != np.uint8 and data.size and (data.min() < 0 or data.max() > 255):
        raise InputError(f"{name} holds grey levels from {data.min()} to {data.max()}; an EM image must hold "
                         "0-255 - rescale it to uint8.")


def check_label_dtype(dtype, *, name: str) -> None:
    """A label volume holds integer ids."""
    dtype = np.dtype(dtype)
    if dtype.names or dtype.kind not in "ui":
        raise InputError(f"{name} holds {dtype_words(dtype)}; a label volume must hold integer ids (uint64, "
                         "0 = none) - relabel it.")


def check_label_values(data, *, name: str) -> None:
    data = np.asarray(data)
    if data.dtype.kind == "i" and data.size and data.min() < 0:
        raise InputError(f"{name} holds negative ids ({data.min()}); ids must be 0 (none) or positive - relabel it.")


# voxel sizes (nm) any volume may have (sub-nm to tens of µm), and those the simulator models in useful time:
# at 1 nm or 200 nm its membrane and vesicle kernels take minutes and gigabytes for a 8 x 64 x 64 volume
VOXEL_LIMITS_NM = ((1e-3, 1e7),) * 3
SIMULATE_VOXEL_LIMITS_NM = ((4.0, 100.0), (2.0, 50.0), (2.0, 50.0))


def check_voxel_size(values, *, name: str, limits_nm=VOXEL_LIMITS_NM, hint: str = "") -> tuple[float, float, float]:
    """Three finite, positive sizes in nm, each within ``limits_nm`` ((low, high) for z, y, x)."""
    try:
        sizes = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError):
        raise InputError(f"{name} is not a list of numbers; give three voxel sizes in nm (z, y, x).") from None
    if sizes.shape != (3,):
        raise InputError(f"{name} holds {sizes.size} value{'' if sizes.size == 1 else 's'}; give three voxel sizes "
                         "in nm (z, y, x).")
    if not np.all(np.isfinite(sizes)) or np.any(sizes <= 0):
        shown = ", ".join(f"{v:g}" for v in sizes)
        raise InputError(f"{name} is ({shown}); voxel sizes must be positive numbers of nm (z, y, x).")
    if any(not lo <= v <= hi for v, (lo, hi) in zip(sizes, limits_nm)):
        shown = ", ".join(f"{v:g}" for v in sizes)
        bounds = "; ".join(f"{axis} {lo:g}-{hi:g} nm" for axis, (lo, hi) in zip("zyx", limits_nm))
        raise InputError(f"{name} is ({shown}) nm, outside {hint or 'the sizes nwbsyn accepts'} ({bounds}); "
                         "check the units (nm).")
    return tuple(float(v) for v in sizes)


def check_seed(seed: int, *, option: str = "--seed") -> int:
    if not 0 <= int(seed) <= MAX_SEED:
        raise InputError(f"{option} {seed} must lie between 0 and {MAX_SEED}.")
    return int(seed)


def check_fraction(value: float, *, option: str) -> float:
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise InputError(f"{option} {value} must lie in [0, 1].")
    return float(value)
