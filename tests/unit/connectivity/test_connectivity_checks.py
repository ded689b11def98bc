"""Checks made before any large allocation: sizes, data types, time bases (no torch, no files)."""

import numpy as np
import pytest

from nwbsyn._shared import InputError
from nwbsyn.connectivity._checks import MAX_STEPS, check_numeric_dtype, check_size, check_time_base


def test_check_size_refuses_too_many_bins_with_an_estimate():
    check_size(1000, 10, what="x is", fix="use a larger --bin-ms")
    with pytest.raises(InputError, match=r"more than the 10,000,000.*GiB.*--bin-ms"):
        check_size(MAX_STEPS * 5, 3, what="The Units span 1e6 s, which is", fix="use a larger --bin-ms")


def test_check_size_refuses_more_than_half_the_free_memory(monkeypatch):
    monkeypatch.setattr("nwbsyn.connectivity._checks.available_memory_bytes", lambda: 1 << 30)
    with pytest.raises(InputError, match="GiB of memory while only 1 GiB is free"):
        check_size(1_000_000, 100, what="x has", fix="analyse less")


@pytest.mark.parametrize("dtype, word", [(bool, "boolean"), (np.complex64, "complex"), ("S4", "text"),
                                         (object, "text"), ([("a", "f4")], "compound")])
def test_non_numeric_data_is_named(dtype, word):
    with pytest.raises(InputError, match=word):
        check_numeric_dtype(np.dtype(dtype), what="The series")


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16, np.uint64])
def test_numeric_data_passes(dtype):
    check_numeric_dtype(np.dtype(dtype), what="The series")


@pytest.mark.parametrize("rate, timestamps, match", [
    (0.0, None, "rate"), (-1.0, None, "rate"), (float("nan"), None, "rate"), (None, None, "rate"),
    (None, np.arange(9.0), "9 timestamps for 10 samples"), (None, np.r_[0.0, 2.0, 1.0, np.arange(3.0, 10)], "increase"),
    (None, np.r_[np.nan, np.arange(1.0, 10)], "NaN"),
])
def test_bad_time_bases(rate, timestamps, match):
    with pytest.raises(InputError, match=match):
        check_time_base(n_samples=10, rate_hz=rate, timestamps=timestamps, starting_time=0.0, what="The series")


def test_good_time_bases():
    check_time_base(n_samples=10, rate_hz=1e-6, timestamps=None, starting_time=0.0, what="s")
    check_time_base(n_samples=10, rate_hz=None, timestamps=np.arange(10.0), starting_time=None, what="s")
