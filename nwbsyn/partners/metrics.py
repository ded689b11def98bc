"""Scores for synaptic partner assignment and for the combined cleft + partner system (numpy only).

Partners are given either as a mapping ``{cleft_id: (pre_id, post_ids)}`` (``post_ids`` an
int or a sequence, several for a polyadic synapse) or as an (n, 3) array of edges
``(cleft_id, pre_id, post_id)``; :func:`partner_edges` converts the first to the second.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from nwbsyn._shared import InputError

__all__ = [
    "AssignmentScore",
    "EdgeScore",
    "partner_edges",
    "assignment_accuracy",
    "edge_prf",
    "match_clefts",
    "synapse_edge_f1",
]


@dataclass(frozen=True)
class AssignmentScore:
    """Fraction of true clefts whose predicted partners are exactly right."""

    accuracy: float
    n_correct: int
    n_clefts: int
    wrong_cleft_ids: tuple[int, ...]


@dataclass(frozen=True)
class EdgeScore:
    """Precision, recall and F1 of synaptic edges matched as a multiset."""

    precision: float
    recall: float
    f1: float
    n_true_positive: int
    n_false_positive: int
    n_false_negative: int


def _partner_map(partners, name: str) -> dict[int, tuple[int, frozenset]]:
    if isinstance(partners, dict):
        out = {}
        for cleft, value in partners.items():
            try:
                pre, posts = value
            except (TypeError, ValueError) as err:
                raise InputError(f"{name}[{cleft}] must be (pre_id, post_ids); got {value!r}.") from err
            posts = [posts] if np.isscalar(posts) else list(posts)
            out[int(cleft)] = (int(pre), frozenset(int(p) for p in posts))
        return out
    edges = _edges(partners, name, 3)
    out: dict[int, tuple[int, frozenset]] = {}
    for cleft, pre, post in edges.tolist():
        if cleft in out and out[cleft][0] != pre:
            raise InputError(f"{name} gives cleft {cleft} two presynaptic ids ({out[cleft][0]}, {pre}); "
                             "a cleft has one presynaptic segment.")
        out[cleft] = (pre, out.get(cleft, (pre, frozenset()))[1] | {post})
    return out


def _edges(edges, name: str, width: int | None = None) -> np.ndarray:
    if isinstance(edges, dict):
        return partner_edges(edges)
    a = np.asarray(edges)
    if a.size == 0:
        return np.zeros((0, width or 3), np.int64)
    if a.ndim != 2 or (width is not None and a.shape[1] != width):
        want = f"(n, {width})" if width else "(n, k)"
        raise InputError(f"{name} has shape {a.shape}; pass an {want} array of edges.")
    return a.astype(np.int64) if a.dtype != np.uint64 else a.astype(object).astype(np.int64)


def partner_edges(partners: dict) -> np.ndarray:
    """(n, 3) int64 edges ``(cleft_id, pre_id, post_id)`` from ``{cleft_id: (pre_id, post_ids)}``.

    Examples
    --------
    >>> partner_edges({7: (1, (2, 3))}).tolist()
    [[7, 1, 2], [7, 1, 3]]
    """
    rows = []
    for cleft, value in partners.items():
        pre, posts = value
        posts = [posts] if np.isscalar(posts) else list(posts)
        rows += [(int(cleft), int(pre), int(p)) for p in sorted(posts)]
    return np.asarray(rows, np.int64).reshape(-1, 3)


def assignment_accuracy(pred_partners, true_partners) -> AssignmentScore:
    """Accuracy of partner assignment given the true clefts.

    A cleft counts as correct when its predicted presynaptic id and its set of
    postsynaptic ids both equal the truth; a true cleft without a prediction is wrong.
    Predictions for clefts absent from ``true_partners`` are ignored.

    Examples
    --------
    >>> truth = {1: (10, 11), 2: (12, (13, 14))}
    >>> assignment_accuracy({1: (10, 11), 2: (12, 13)}, truth).accuracy
    0.5
    """
    pred = _partner_map(pred_partners, "pred_partners")
    true = _partner_map(true_partners, "true_partners")
    wrong = tuple(sorted(c for c, v in true.items() if pred.get(c) != v))
    n = len(true)
    return AssignmentScore(accuracy=(n - len(wrong)) / n if n else float("nan"), n_correct=n - len(wrong),
                           n_clefts=n, wrong_cleft_ids=wrong)


def edge_prf(pred_edges, true_edges) -> EdgeScore:
    """Precision, recall and F1 of edges matched as a multiset (a duplicate prediction is a false positive).

    Rows may be (pre, post) pairs or (cleft, pre, post) triples; both inputs need the
    same width. With no predictions precision is 1 only when there is no truth either.

    Examples
    --------
    >>> s = edge_prf([(1, 2), (1, 2), (3, 4)], [(1, 2), (5, 6)])
    >>> s.n_true_positive, s.n_false_positive, s.n_false_negative
    (1, 2, 1)
    """
    pred, true = _edges(pred_edges, "pred_edges"), _edges(true_edges, "true_edges")
    if len(pred) and len(true) and pred.shape[1] != true.shape[1]:
        raise InputError(f"pred_edges rows have {pred.shape[1]} ids and true_edges rows {true.shape[1]}; "
                         "use the same form (pairs or triples) for both.")
    cp, ct = Counter(map(tuple, pred.tolist())), Counter(map(tuple, true.tolist()))
    tp = sum(min(n, ct[k]) for k, n in cp.items())
    fp, fn = len(pred) - tp, len(true) - tp
    precision = tp / len(pred) if len(pred) else float(len(true) == 0)
    recall = tp / len(true) if len(true) else float(len(pred) == 0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return EdgeScore(precision=precision, recall=recall, f1=f1, n_true_positive=tp,
                     n_false_positive=fp, n_false_negative=fn)


def match_clefts(pred_clefts: np.ndarray, true_clefts: np.ndarray) -> dict[int, int]:
    """Map each predicted cleft id to the true cleft id it overlaps most (0 = overlaps none).

    Ties go to the smaller true id. Labels are 0 = background in both volumes.

    Examples
    --------
    >>> import numpy as np
    >>> pred = np.array([[1, 1, 0, 2]]); true = np.array([[5, 0, 0, 0]])
    >>> match_clefts(pred, true)
    {1: 5, 2: 0}
    """
    pred, true = np.asarray(pred_clefts), np.asarray(true_clefts)
    if pred.shape != true.shape:
        raise InputError(f"pred_clefts {pred.shape} and true_clefts {true.shape} must have the same shape.")
    p, t = pred.ravel(), true.ravel()
    ids = np.unique(p[p != 0])
    both = (p != 0) & (t != 0)
    out = {int(i): 0 for i in ids}
    if both.any():
        pairs, counts = np.unique(np.stack([p[both], t[both]]), axis=1, return_counts=True)
        # sort by pred id, then overlap descending, then true id ascending; keep the first per pred id
        order = np.lexsort((pairs[1], -counts, pairs[0]))
        pairs = pairs[:, order]
        first = np.r_[True, pairs[0, 1:] != pairs[0, :-1]]
        out.update({int(a): int(b) for a, b in zip(pairs[0, first], pairs[1, first])})
    return out


def synapse_edge_f1(pred_clefts, pred_edges_per_cleft, true_clefts, true_edges_per_cleft) -> EdgeScore:
    """Edge precision/recall/F1 of the combined system (cleft detection + partner assignment).

    Each predicted cleft is mapped to the true cleft it overlaps most (:func:`match_clefts`);
    a predicted cleft that overlaps no true cleft maps to "none", so its edges are all
    false positives (the reference code mapped it to the first true id, which could
    credit it with a true edge). Triples ``(true cleft, pre, post)`` are then matched
    as a multiset, so two predicted clefts claiming the same true edge give one true
    positive and one false positive.

    Parameters
    ----------
    pred_clefts, true_clefts : (z, y, x) integer arrays, 0 = no cleft
    pred_edges_per_cleft, true_edges_per_cleft : dict or (n, 3) array
        ``{cleft_id: (pre_id, post_ids)}`` or rows ``(cleft_id, pre_id, post_id)``.

    Returns
    -------
    EdgeScore

    Examples
    --------
    >>> import numpy as np
    >>> true = np.array([[1, 1, 0, 0]]); pred = np.array([[3, 3, 0, 4]])
    >>> synapse_edge_f1(pred, {3: (10, 11), 4: (10, 11)}, true, {1: (10, 11)}).f1
    0.6666666666666666
    """
    mapping = match_clefts(pred_clefts, true_clefts)
    pred = _edges(pred_edges_per_cleft, "pred_edges_per_cleft", 3)
    true = _edges(true_edges_per_cleft, "true_edges_per_cleft", 3)
    if len(pred):
        cleft = np.array([mapping.get(int(c), 0) for c in pred[:, 0]], np.int64)
        keep = cleft != 0
        mapped = np.column_stack([cleft, pred[:, 1:]])
        # edges of unmatched clefts are false positives: give them a key no true edge has
        mapped = mapped[keep]
        n_unmatched = int((~keep).sum())
    else:
        mapped, n_unmatched = pred, 0
    s = edge_prf(mapped, true)
    n_pred = len(pred)
    tp = s.n_true_positive
    precision = tp / n_pred if n_pred else float(len(true) == 0)
    f1 = 2 * precision * s.recall / (precision + s.recall) if precision + s.recall > 0 else 0.0
    return EdgeScore(precision=precision, recall=s.recall, f1=f1, n_true_positive=tp,
                     n_false_positive=s.n_false_positive + n_unmatched, n_false_negative=s.n_false_negative)
