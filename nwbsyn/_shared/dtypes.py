"""One vocabulary for what a dataset holds, so that every analysis refuses bad data in the same words.

Example
-------
>>> import numpy as np
>>> dtype_words(np.dtype(bool)), dtype_words("S4"), dtype_words([("a", "f4")]), dtype_words(np.float32)
('true/false (boolean) values', 'text', 'compound records', 'floats (float32)')
>>> holds_real_numbers(np.int16), holds_real_numbers(np.complex64)
(True, False)
"""

from __future__ import annotations

import numpy as np

__all__ = ["dtype_words", "holds_real_numbers"]

_WORDS = {"b": "true/false (boolean) values", "c": "complex numbers", "S": "text", "U": "text",
          "O": "text or objects", "V": "compound records", "M": "dates", "m": "time spans"}


def _as_dtype(dtype):
    if isinstance(dtype, (list, tuple)):  # hdmf describes compound datasets as lists of fields
        return np.dtype("V8")
    try:
        return np.dtype(dtype)
    except TypeError:
        return None


def dtype_words(dtype) -> str:
    """What values of ``dtype`` are, in words (numpy dtypes, type names, hdmf's compound field lists)."""
    dt = _as_dtype(dtype)
    if dt is None:
        return f"values of type {dtype}"
    if dt.names:
        return "compound records"
    if dt.kind == "f":
        return f"floats ({dt})"
    if dt.kind in "iu":
        return f"integers ({dt})"
    return _WORDS.get(dt.kind, str(dt))


def holds_real_numbers(dtype) -> bool:
    """True for integer and float dtypes (what a trace, a count or a grey level can be)."""
    dt = _as_dtype(dtype)
    return dt is not None and not dt.names and dt.kind in "iuf"
