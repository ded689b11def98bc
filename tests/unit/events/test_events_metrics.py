"""One-to-one matching of event times, precision, recall and F1."""

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from nwbsyn._shared import InputError
from nwbsyn.events import match_events, precision_recall_f1


def test_perfect_and_shifted():
    t = np.array([0.1, 0.5, 0.9])
    assert precision_recall_f1(t, t + 0.0009, tolerance_s=1e-3) == (1.0, 1.0, 1.0)
    assert precision_recall_f1(t, t + 0.0011, tolerance_s=1e-3) == (0.0, 0.0, 0.0)


def test_empty_lists():
    assert precision_recall_f1([], [], tolerance_s=1e-3) == (1.0, 1.0, 1.0)
    assert precision_recall_f1([1.0], [], tolerance_s=1e-3) == (1.0, 0.0, 0.0)
    assert precision_recall_f1([], [1.0], tolerance_s=1e-3) == (0.0, 1.0, 0.0)
    m = match_events([], [], tolerance_s=1e-3)
    assert m.true_positives == m.false_positives == m.false_negatives == 0


def test_duplicates_match_once():
    m = match_events([1.0], [1.0, 1.0, 1.0], tolerance_s=1e-3)
    assert (m.true_positives, m.false_positives, m.false_negatives) == (1, 2, 0)
    m = match_events([1.0, 1.0], [1.0], tolerance_s=1e-3)
    assert (m.true_positives, m.false_positives, m.false_negatives) == (1, 0, 1)


def test_greedy_nearest_would_fail_but_matching_is_maximal():
    # detection 1.0008 is nearest to true 1.001, but taking it leaves true 1.0 unmatched
    m = match_events([1.0, 1.0015], [1.0008, 1.0023], tolerance_s=1e-3)
    assert m.true_positives == 2


def test_indices_refer_to_unsorted_inputs():
    true = np.array([3.0, 1.0, 2.0])
    det = np.array([2.0005, 5.0, 0.9995])
    m = match_events(true, det, tolerance_s=1e-3)
    pairs = sorted(zip(m.true_indices.tolist(), m.detected_indices.tolist()))
    assert pairs == [(1, 2), (2, 0)]
    assert np.all(np.abs(true[m.true_indices] - det[m.detected_indices]) <= 1e-3)


def _optimal_max(true, det, tol):
    """Maximum one-to-one matching by the Hungarian algorithm (scipy), for reference."""
    if len(true) == 0 or len(det) == 0:
        return 0
    ok = np.abs(true[:, None] - det[None, :]) <= tol
    rows, cols = linear_sum_assignment(-ok.astype(float))
    return int(ok[rows, cols].sum())


def test_matches_hungarian_maximum():
    rng = np.random.default_rng(0)
    for _ in range(200):
        true = rng.uniform(0, 10, rng.integers(0, 12))
        det = rng.uniform(0, 10, rng.integers(0, 12))
        m = match_events(true, det, tolerance_s=1.0)
        assert m.true_positives == _optimal_max(true, det, 1.0)
        assert len(set(m.true_indices.tolist())) == len(m.true_indices)
        assert len(set(m.detected_indices.tolist())) == len(m.detected_indices)


def test_bad_input():
    with pytest.raises(InputError):
        match_events([[1.0]], [1.0], tolerance_s=1e-3)
    with pytest.raises(InputError):
        match_events([np.nan], [1.0], tolerance_s=1e-3)
    with pytest.raises(InputError):
        match_events([1.0], [1.0], tolerance_s=-1.0)


def test_metrics_do_not_import_torch():
    import subprocess
    import sys

    code = "import sys, nwbsyn.events.metrics, nwbsyn.events; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
