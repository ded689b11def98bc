"""Scoring detected events against ground truth (numpy only, usable for any detector)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nwbsyn._shared import InputError

__all__ = ["EventMatch", "match_events", "precision_recall_f1"]


@dataclass(frozen=True)
class EventMatch:
    """One-to-one matching of true to detected events.

    ``true_indices[k]`` and ``detected_indices[k]`` index the inputs (in their given
    order) of the k-th matched pair. ``precision`` is 1 when nothing was detected and
    ``recall`` is 1 when there was nothing to detect; ``f1`` is 0 when either is 0.
    """

    true_indices: np.ndarray
    detected_indices: np.ndarray
    n_true: int
    n_detected: int

    @property
    def true_positives(self) -> int:
        return int(self.true_indices.size)

    @property
    def false_positives(self) -> int:
        return self.n_detected - self.true_positives

    @property
    def false_negatives(self) -> int:
        return self.n_true - self.true_positives

    @property
    def precision(self) -> float:
        return self.true_positives / self.n_detected if self.n_detected else 1.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.n_true if self.n_true else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r > 0 else 0.0


def _times(values, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise InputError(f"{name} must be a 1-D array of event times; got shape {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{name} contains NaN or infinite times; remove them first.")
    return arr


def match_events(true_s, detected_s, *, tolerance_s: float) -> EventMatch:
    """Match detected to true event times one-to-one within ``tolerance_s``.

    Both lists are sorted and swept together; each true event takes the earliest
    unmatched detection within the tolerance. Because all tolerance intervals have the
    same length, this greedy sweep finds a maximum one-to-one matching; a duplicated
    detection can match only one true event (the copy is a false positive).

    Parameters
    ----------
    true_s, detected_s : (n,) and (m,) arrays of float
        Event times in seconds (or any unit shared with ``tolerance_s``), in any order.
    tolerance_s : float
        Largest allowed ``|detected - true|``.

    Returns
    -------
    EventMatch

    Examples
    --------
    >>> m = match_events([1.0, 2.0, 3.0], [1.0005, 2.0, 2.0, 5.0], tolerance_s=0.001)
    >>> m.true_positives, m.false_positives, m.false_negatives
    (2, 2, 1)
    """
    t, d = _times(true_s, "true_s"), _times(detected_s, "detected_s")
    if not (np.isscalar(tolerance_s) and np.isfinite(tolerance_s) and tolerance_s >= 0):
        raise InputError(f"tolerance_s must be a finite number >= 0; got {tolerance_s!r}.")
    ti, di = np.argsort(t, kind="stable"), np.argsort(d, kind="stable")
    ts, ds = t[ti], d[di]
    pairs_t, pairs_d = [], []
    j = 0
    for i, x in enumerate(ts):
        while j < ds.size and ds[j] < x - tolerance_s:
            j += 1  # too early for this and every later true event
        if j < ds.size and ds[j] <= x + tolerance_s:
            pairs_t.append(ti[i])
            pairs_d.append(di[j])
            j += 1
    return EventMatch(
        true_indices=np.asarray(pairs_t, dtype=np.int64),
        detected_indices=np.asarray(pairs_d, dtype=np.int64),
        n_true=int(t.size),
        n_detected=int(d.size),
    )


def precision_recall_f1(true_s, detected_s, *, tolerance_s: float) -> tuple[float, float, float]:
    """Precision, recall and F1 of detected event times (see :func:`match_events`).

    Examples
    --------
    >>> precision_recall_f1([1.0, 2.0], [1.0, 3.0], tolerance_s=0.01)
    (0.5, 0.5, 0.5)
    """
    m = match_events(true_s, detected_s, tolerance_s=tolerance_s)
    return m.precision, m.recall, m.f1
