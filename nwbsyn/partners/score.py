"""CREMI-style evaluation of a partner result against annotated clefts and partners.

Cleft detection, as the CREMI challenge scores it (cremi.org, "Synaptic clefts"):

* **ADGT**: the average distance (nm, voxel size as sampling) of every ground-truth cleft
  voxel to the closest detected cleft voxel; **ADF**: the average distance of every detected
  cleft voxel to the closest ground-truth cleft voxel; the CREMI score is their mean. The
  counts of voxels farther than ``distance_threshold_nm`` (200 nm in CREMI) are the voxel
  false negatives and false positives.
* **Per cleft**: a detected cleft is correct when it overlaps a ground-truth cleft
  (precision); a ground-truth cleft is found when a detected cleft overlaps it (recall).

Partner edges (CREMI "synaptic partner identification"): every (presynaptic segment,
postsynaptic segment) edge of the result is matched to at most one ground-truth edge with
the same two segment ids whose location lies within ``match_distance_nm`` (one-to-one,
closest first). A result edge's location is its cleft's centroid; a ground-truth edge's is
its cleft's centroid when the file has cleft labels, else the midpoint of its two
annotated sites. Segment ids are compared as they are, so the result must have been
computed on the segmentation of the annotated file.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from nwbsyn._shared import InputError

__all__ = ["PartnerScore", "ScoredResult", "Truth", "cleft_distances", "match_edges", "score_result",
           "read_truth", "read_result", "score_files"]

DISTANCE_THRESHOLD_NM = 200.0  # CREMI's voxel FP/FN distance
MATCH_DISTANCE_NM = 400.0  # result edge <-> annotated edge, same segment ids


@dataclass(frozen=True)
class PartnerScore:
    """CREMI-style scores; ``None`` where the ground truth cannot say (no cleft labels, no partners)."""

    adgt_nm: float | None
    adf_nm: float | None
    cremi_score_nm: float | None
    voxel_false_negatives: int | None
    voxel_false_positives: int | None
    cleft_precision: float | None
    cleft_recall: float | None
    n_detected_clefts: int
    n_true_clefts: int | None
    edge_precision: float | None
    edge_recall: float | None
    edge_f1: float | None
    n_true_positive_edges: int | None
    n_false_positive_edges: int | None
    n_false_negative_edges: int | None

    def as_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}

    def json_line(self) -> str:
        return json.dumps(self.as_dict())

    def lines(self) -> list[str]:
        """Human-readable summary lines."""
        out = []
        if self.adgt_nm is not None:
            out.append(f"clefts: ADGT {_f(self.adgt_nm)} nm, ADF {_f(self.adf_nm)} nm, CREMI score "
                       f"{_f(self.cremi_score_nm)} nm; voxels beyond {DISTANCE_THRESHOLD_NM:g} nm: "
                       f"{self.voxel_false_negatives} missed, {self.voxel_false_positives} false")
            out.append(f"clefts: precision {_f(self.cleft_precision, 3)}, recall {_f(self.cleft_recall, 3)} "
                       f"({self.n_detected_clefts} detected, {self.n_true_clefts} annotated)")
        if self.edge_f1 is not None:
            out.append(f"partner edges: precision {_f(self.edge_precision, 3)}, recall {_f(self.edge_recall, 3)}, "
                       f"F1 {_f(self.edge_f1, 3)} ({self.n_true_positive_edges} correct, "
                       f"{self.n_false_positive_edges} false, {self.n_false_negative_edges} missed)")
        return out


def _f(v, digits: int = 1) -> str:
    return "n/a" if v is None or not np.isfinite(v) else f"{v:.{digits}f}"


def cleft_distances(pred_labels, true_labels, *, voxel_size_nm, threshold_nm: float = DISTANCE_THRESHOLD_NM):
    """``(ADGT, ADF, n_fn_voxels, n_fp_voxels)`` in nm; a side with no voxels gives ``inf`` distances.

    Example
    -------
    >>> import numpy as np
    >>> true = np.zeros((1, 1, 10), int); true[0, 0, 2] = 1
    >>> pred = np.zeros((1, 1, 10), int); pred[0, 0, 5] = 1
    >>> cleft_distances(pred, true, voxel_size_nm=(40, 4, 4))
    (12.0, 12.0, 0, 0)
    """
    p, t = np.asarray(pred_labels) != 0, np.asarray(true_labels) != 0
    if p.shape != t.shape:
        raise InputError(f"the detected clefts {p.shape} and the annotated clefts {t.shape} differ in shape.")
    vs = tuple(float(v) for v in voxel_size_nm)
    inf = float("inf")
    to_pred = ndimage.distance_transform_edt(~p, sampling=vs)[t] if p.any() else np.full(int(t.sum()), inf)
    to_true = ndimage.distance_transform_edt(~t, sampling=vs)[p] if t.any() else np.full(int(p.sum()), inf)
    adgt = float(to_pred.mean()) if to_pred.size else 0.0
    adf = float(to_true.mean()) if to_true.size else 0.0
    return adgt, adf, int((to_pred > threshold_nm).sum()), int((to_true > threshold_nm).sum())


def match_edges(pred_pairs, pred_nm, true_pairs, true_nm, *, max_distance_nm: float = MATCH_DISTANCE_NM):
    """``(tp, fp, fn)``: edges with the same (pre, post) ids matched one-to-one within ``max_distance_nm``.

    Example
    -------
    >>> match_edges([(1, 2), (1, 2), (3, 4)], [(0, 0, 0), (0, 0, 900), (0, 0, 0)],
    ...             [(1, 2), (5, 6)], [(0, 0, 100), (0, 0, 0)])
    (1, 2, 1)
    """
    from scipy.optimize import linear_sum_assignment

    pred_pairs, true_pairs = np.asarray(pred_pairs, np.uint64).reshape(-1, 2), np.asarray(true_pairs, np.uint64).reshape(-1, 2)
    pred_nm, true_nm = np.asarray(pred_nm, float).reshape(-1, 3), np.asarray(true_nm, float).reshape(-1, 3)
    tp = 0
    groups: dict[tuple, tuple[list, list]] = {}
    for k, pair in enumerate(map(tuple, pred_pairs.tolist())):
        groups.setdefault(pair, ([], []))[0].append(k)
    for k, pair in enumerate(map(tuple, true_pairs.tolist())):
        if pair in groups:
            groups[pair][1].append(k)
    for ps, ts in groups.values():
        if not ts:
            continue
        d = np.linalg.norm(pred_nm[ps][:, None] - true_nm[ts][None], axis=-1)
        cost = np.where(d <= max_distance_nm, d, 1e12)
        rows, cols = linear_sum_assignment(cost)
        tp += int((cost[rows, cols] < 1e12).sum())
    return tp, len(pred_pairs) - tp, len(true_pairs) - tp


@dataclass
class Truth:
    """Ground truth: cleft labels (or None) and edges ``(pre, post)`` with a location in nm each."""

    clefts: object | None
    pairs: np.ndarray
    locations_nm: np.ndarray
    voxel_size_nm: tuple
    has_partners: bool
    source: str


@dataclass
class ScoredResult:
    """What ``score_result`` needs from a result: cleft labels, edges and their locations in nm."""

    labels: object
    cleft_ids: np.ndarray
    pairs: np.ndarray
    locations_nm: np.ndarray
    voxel_size_nm: tuple
    source: str


def score_result(result: ScoredResult, truth: Truth, *, distance_threshold_nm: float = DISTANCE_THRESHOLD_NM,
                 match_distance_nm: float = MATCH_DISTANCE_NM) -> PartnerScore:
    """CREMI-style scores of ``result`` against ``truth`` (see the module docstring).

    Example
    -------
    >>> import numpy as np
    >>> lab = np.zeros((2, 8, 8), np.uint8); lab[0, 2:4, 2:4] = 1
    >>> t = Truth(clefts=lab, pairs=np.array([[5, 6]]), locations_nm=np.array([[20., 12., 12.]]),
    ...           voxel_size_nm=(40, 4, 4), has_partners=True, source="truth")
    >>> r = ScoredResult(labels=lab, cleft_ids=np.array([1]), pairs=np.array([[5, 6]]),
    ...                  locations_nm=np.array([[20., 12., 12.]]), voxel_size_nm=(40, 4, 4), source="result")
    >>> s = score_result(r, t)
    >>> s.adgt_nm, s.cleft_precision, s.edge_f1
    (0.0, 1.0, 1.0)
    """
    if tuple(np.round(result.voxel_size_nm, 6)) != tuple(np.round(truth.voxel_size_nm, 6)):
        raise InputError(f"{result.source} is at {_vs(result.voxel_size_nm)} nm but {truth.source} at "
                         f"{_vs(truth.voxel_size_nm)} nm; score a result computed on that volume.")
    adgt = adf = cremi = vfn = vfp = cp = cr = None
    n_true_clefts = None
    if truth.clefts is not None:
        pred = np.asarray(result.labels)
        true = np.asarray(truth.clefts)
        if pred.shape != true.shape:
            raise InputError(f"the clefts of {result.source} have shape {pred.shape} but those of {truth.source} "
                             f"{true.shape}; score a result computed on that volume.")
        adgt, adf, vfn, vfp = cleft_distances(pred, true, voxel_size_nm=truth.voxel_size_nm,
                                              threshold_nm=distance_threshold_nm)
        cremi = (adgt + adf) / 2
        both = (pred != 0) & (true != 0)
        hit_pred = set(np.unique(pred[both]).tolist())
        hit_true = set(np.unique(true[both]).tolist())
        ids_true = np.unique(true[true != 0])
        n_true_clefts = len(ids_true)
        n_pred = len(result.cleft_ids)
        cp = sum(int(c) in hit_pred for c in result.cleft_ids) / n_pred if n_pred else float(n_true_clefts == 0)
        cr = len(hit_true) / n_true_clefts if n_true_clefts else float(n_pred == 0)
    ep = er = ef = tp = fp = fn = None
    if truth.has_partners:
        tp, fp, fn = match_edges(result.pairs, result.locations_nm, truth.pairs, truth.locations_nm,
                                 max_distance_nm=match_distance_nm)
        ep = tp / (tp + fp) if tp + fp else float(fn == 0)
        er = tp / (tp + fn) if tp + fn else float(fp == 0)
        ef = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0
    return PartnerScore(adgt_nm=adgt, adf_nm=adf, cremi_score_nm=cremi, voxel_false_negatives=vfn,
                        voxel_false_positives=vfp, cleft_precision=cp, cleft_recall=cr,
                        n_detected_clefts=len(result.cleft_ids), n_true_clefts=n_true_clefts, edge_precision=ep,
                        edge_recall=er, edge_f1=ef, n_true_positive_edges=tp, n_false_positive_edges=fp,
                        n_false_negative_edges=fn)


def _vs(v) -> str:
    return " x ".join(f"{float(x):g}" for x in v)


def read_truth(path) -> Truth:
    """Ground truth from a CREMI file (cleft labels and/or partner annotations) or an NWB file holding
    nwbsyn partner tables (e.g. curated ones). Refused with one sentence when it holds neither."""
    from pathlib import Path

    from nwbsyn.partners.cremi import is_cremi, read_cremi

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path} is not a file; give the CREMI (or NWB) file with the annotations.")
    if is_cremi(path):
        with read_cremi(path, lazy=True) as peek:
            if peek.clefts is None and not len(peek.annotations.partners):
                raise InputError(f"{path} has no cleft labels (/volumes/labels/clefts) and no partner annotations "
                                 "(/annotations/presynaptic_site/partners); score needs a file with annotations.")
        vol = read_cremi(path)
        res = np.asarray(vol.resolution_nm, float)
        has_partners = len(vol.annotations.partners) > 0 and vol.neuron_ids is not None
        if vol.clefts is not None and vol.synapses:
            pairs = [(s.pre_id, p) for s in vol.synapses for p in s.post_ids]
            locs = [np.asarray(s.centroid_zyx) * res for s in vol.synapses for _ in s.post_ids]
        elif has_partners:
            ann = vol.annotations
            segs = ann.segment_partners(vol.neuron_ids, res)
            where = {int(i): k for k, i in enumerate(ann.ids)}
            mids = [(ann.locations_nm[where[int(a)]] + ann.locations_nm[where[int(b)]]) / 2 + ann.offset_nm
                    for a, b in ann.partners]
            pairs, locs = _distinct(segs, np.asarray(mids, float).reshape(-1, 3))
        else:
            pairs, locs = [], []
        return Truth(clefts=vol.clefts, pairs=np.asarray(pairs, np.uint64).reshape(-1, 2),
                     locations_nm=np.asarray(locs, float).reshape(-1, 3), voxel_size_nm=tuple(res),
                     has_partners=has_partners, source=str(path))
    r = read_result(path, what="annotations")
    return Truth(clefts=r.labels, pairs=r.pairs, locations_nm=r.locations_nm, voxel_size_nm=r.voxel_size_nm,
                 has_partners=True, source=str(path))


def _distinct(pairs, locs, within_nm: float = MATCH_DISTANCE_NM):
    """Annotated pairs with the same segments within ``within_nm`` of each other describe one edge."""
    keep_pairs, keep_locs = [], []
    for pair, loc in zip(map(tuple, np.asarray(pairs).tolist()), locs):
        if any(p == pair and np.linalg.norm(q - loc) <= within_nm for p, q in zip(keep_pairs, keep_locs)):
            continue
        keep_pairs.append(pair)
        keep_locs.append(loc)
    return keep_pairs, keep_locs


def read_result(path, *, what: str = "results") -> ScoredResult:
    """Cleft labels, edges and edge locations of an NWB file written by ``nwbsyn partners assign``."""
    from nwbsyn.io import open_nwb
    from nwbsyn.partners.nwb import result_tables

    with open_nwb(path) as nwbfile:
        table, edges = result_tables(nwbfile, path, what=what)
        volume = table.cleft_volume
        if volume is None:
            raise InputError(f"the cleft table of {path} links no cleft label volume; it cannot be scored.")
        vs = tuple(float(v) for v in volume.voxel_size_nm)
        offset = np.zeros(3) if volume.offset_nm is None else np.asarray(volume.offset_nm, float)
        labels = np.asarray(volume.data[:])
        ids = np.asarray(table["cleft_id"].data[:], np.uint64)
        centres_nm = np.asarray(table["centroid"].data[:], float).reshape(-1, 3) * np.asarray(vs) + offset
        if edges is not None:
            rows = np.asarray(edges["cleft"].data[:], np.intp)
            pairs = np.stack([np.asarray(edges["presynaptic_id"].data[:], np.uint64),
                              np.asarray(edges["postsynaptic_id"].data[:], np.uint64)], 1)
            locs = centres_nm[rows]
        else:
            pairs, locs = np.zeros((0, 2), np.uint64), np.zeros((0, 3))
    return ScoredResult(labels=labels, cleft_ids=ids, pairs=pairs, locations_nm=locs, voxel_size_nm=vs,
                        source=str(path))


def score_files(volume, result, **options) -> PartnerScore:
    """``nwbsyn partners score VOLUME RESULT.nwb``: the CREMI-style scores of a result file.

    Example
    -------
    A result file (here a mock partner table) scored against itself is perfect:

    >>> import os, tempfile
    >>> from nwbsyn.io.nwb import write_new_nwb
    >>> from nwbsyn.testing import mock_em_nwbfile, mock_SynapticPartnerTable
    >>> nwbfile = mock_em_nwbfile()
    >>> _ = mock_SynapticPartnerTable(nwbfile=nwbfile)
    >>> path = write_new_nwb(nwbfile, os.path.join(tempfile.mkdtemp(), "sample_A.nwb"))
    >>> score = score_files(path, path)
    >>> score.edge_f1, score.n_true_positive_edges, score.adgt_nm
    (1.0, 3, 0.0)
    """
    truth = read_truth(volume)
    return score_result(read_result(result), truth, **options)
