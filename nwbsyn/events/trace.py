"""The lazy trace reader of the events analysis: slices of one sweep as float64, checked for NaN/inf.

Every step of detection and measurement reads the trace through :class:`TraceReader` (a numpy
array, ``numpy.memmap``, ``h5py.Dataset`` or zarr array), so a long recording is never loaded
whole; resampling to the classifier's rate wraps it with the
same two members, ``size`` and ``read(start, stop)``: :class:`ResampledReader`.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import scipy.signal

from nwbsyn._shared import InputError

__all__ = ["TraceReader", "ResampledReader", "check_trace"]


def check_trace(trace, *, sampling_rate_hz: float, min_samples: int = 2, name: str = "trace") -> np.ndarray:
    """Return ``trace`` as a 1-D float64 array, or raise InputError naming the problem."""
    trace = np.asarray(trace)
    if trace.ndim != 1:
        raise InputError(f"{name} must be 1-D (one sweep); got shape {trace.shape}. Pass one sweep at a time.")
    if not np.issubdtype(trace.dtype, np.number) or np.iscomplexobj(trace):
        raise InputError(f"{name} must hold real numbers; got dtype {trace.dtype}.")
    if not (np.isscalar(sampling_rate_hz) and np.isfinite(sampling_rate_hz) and sampling_rate_hz > 0):
        raise InputError(f"sampling_rate_hz must be a positive number; got {sampling_rate_hz!r}.")
    if trace.size < min_samples:
        raise InputError(f"{name} has {trace.size} samples; at least {min_samples} are needed. Pass a longer sweep.")
    trace = trace.astype(np.float64, copy=False)
    if not np.all(np.isfinite(trace)):
        raise InputError(f"{name} contains NaN or infinite values; interpolate or cut them out first.")
    return trace


class TraceReader:
    """Read slices of a 1-D trace as float64, checking each slice for NaN/inf.

    ``trace`` may be a numpy array (checked once, up front) or any lazy array-like with
    ``shape``, ``dtype`` and slicing, such as an ``h5py.Dataset``, a ``numpy.memmap`` or
    a zarr array: those are never loaded whole; each slice is checked when read.
    """

    def __init__(self, trace, *, sampling_rate_hz: float, min_samples: int = 2, name: str = "trace"):
        lazy = isinstance(trace, np.memmap) or (
            not isinstance(trace, np.ndarray) and all(hasattr(trace, a) for a in ("shape", "dtype", "__getitem__"))
        )
        if lazy:
            shape, dtype = tuple(trace.shape), np.dtype(trace.dtype)
            if len(shape) != 1:
                raise InputError(f"{name} must be 1-D (one sweep); got shape {shape}. Pass one sweep at a time.")
            if not np.issubdtype(dtype, np.number) or np.issubdtype(dtype, np.complexfloating):
                raise InputError(f"{name} must hold real numbers; got dtype {dtype}.")
            if not (np.isscalar(sampling_rate_hz) and np.isfinite(sampling_rate_hz) and sampling_rate_hz > 0):
                raise InputError(f"sampling_rate_hz must be a positive number; got {sampling_rate_hz!r}.")
            if shape[0] < min_samples:
                raise InputError(
                    f"{name} has {shape[0]} samples; at least {min_samples} are needed. Pass a longer sweep."
                )
            self._data, self.size = trace, int(shape[0])
        else:
            self._data = check_trace(trace, sampling_rate_hz=sampling_rate_hz, min_samples=min_samples, name=name)
            self.size = int(self._data.size)
        self.lazy, self.name = lazy, name

    def read(self, start: int, stop: int) -> np.ndarray:
        """``trace[start:stop]`` (clipped to the trace) as float64."""
        start, stop = max(0, int(start)), min(self.size, int(stop))
        if not self.lazy:
            return self._data[start:stop]
        seg = np.asarray(self._data[start:stop], dtype=np.float64)
        if not np.all(np.isfinite(seg)):
            raise InputError(f"{self.name} contains NaN or infinite values; interpolate or cut them out first.")
        return seg


class ResampledReader:
    """Slices of the trace resampled to the model rate and signed so events point down."""

    def __init__(self, reader: TraceReader, fs: float, model_rate_hz: float, sign: float):
        self.reader, self.sign = reader, sign
        if fs == model_rate_hz:
            self.up = self.down = 1
        else:
            ratio = Fraction(model_rate_hz / fs).limit_denominator(1000)
            self.up, self.down = ratio.numerator, ratio.denominator
        self.fs_m = fs * self.up / self.down
        self.size = -(-reader.size * self.up // self.down)
        self.margin = 10 * max(self.up, self.down) // self.up + 64  # FIR half-length + slack, input samples

    def read(self, a: int, b: int) -> np.ndarray:
        a, b = max(0, int(a)), min(self.size, int(b))
        if self.up == self.down == 1:
            return self.sign * self.reader.read(a, b)
        o0 = max(0, a * self.down // self.up - self.margin) // self.down * self.down
        o1 = min(self.reader.size, -(-b * self.down // self.up) + self.margin)
        y = scipy.signal.resample_poly(self.reader.read(o0, o1), self.up, self.down, padtype="line")
        j0 = o0 * self.up // self.down
        return self.sign * y[a - j0 : b - j0]
