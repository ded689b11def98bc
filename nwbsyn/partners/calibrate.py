"""Calibrated confidence for detected clefts and partner edges (Platt scaling on validation volumes).

* **Cleft confidence**: the probability that a detected cleft is a real cleft (it overlaps an
  annotated one), from a logistic model of its mean network probability (logit) and its
  size (log nm³).
* **Edge confidence**: the probability that an edge is right, the cleft's confidence times
  the probability that the edge of a real cleft is right, a logistic model of the
  presynaptic and postsynaptic scores (logit). Given clefts have confidence 1.

The coefficients are fitted on generated validation volumes at 4, 8 and 16 nm in-plane
(seeds the training recipe never uses) with the shipped networks and stored in
``models/avan_calibration.json`` together with the command that fitted them, the sha256 of
the networks they belong to and the reliability (Brier score, expected calibration error)
before and after on held-out volumes. Other networks get the uncalibrated scores and a note.

    python -m nwbsyn.partners.calibrate -o nwbsyn/partners/models/avan_calibration.json
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["Calibration", "DEFAULT_CALIBRATION", "LOW_CONFIDENCE", "load_calibration", "fit_platt",
           "confidences", "collect"]

DEFAULT_CALIBRATION = Path(__file__).parent / "models" / "avan_calibration.json"
LOW_CONFIDENCE = 0.5  # items below this calibrated probability are marked low confidence
_EPS = 1e-4


def _logit(p) -> np.ndarray:
    p = np.clip(np.asarray(p, float), _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def _sigmoid(x) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, float)))


def cleft_features(scores, sizes_nm3) -> np.ndarray:
    return np.column_stack([_logit(scores), np.log(np.maximum(np.asarray(sizes_nm3, float), 1.0) / 1e6)])


def edge_features(pre_scores, post_scores) -> np.ndarray:
    return np.column_stack([_logit(pre_scores), _logit(post_scores)])


def fit_platt(x, y, *, l2: float = 1e-3) -> list[float]:
    """Logistic regression ``P(y=1) = sigmoid(w·x + b)`` (weights then bias), lightly L2-regularised.

    Example
    -------
    >>> import numpy as np
    >>> x = np.r_[np.zeros(50), np.ones(50)][:, None]; y = np.r_[np.zeros(45), np.ones(5), np.ones(45), np.zeros(5)]
    >>> w = fit_platt(x, y, l2=0.0)
    >>> round(float(1 / (1 + np.exp(-(w[0] + w[1])))), 2)
    0.9
    """
    from scipy.optimize import minimize

    x, y = np.asarray(x, float).reshape(len(y), -1), np.asarray(y, float)
    xb = np.column_stack([x, np.ones(len(x))])

    def loss(w):
        z = xb @ w
        nll = np.sum(np.logaddexp(0, z) - y * z) / len(y) + l2 * np.sum(w[:-1] ** 2)
        grad = xb.T @ (_sigmoid(z) - y) / len(y)
        grad[:-1] += 2 * l2 * w[:-1]
        return nll, grad

    w = minimize(loss, np.zeros(xb.shape[1]), jac=True, method="L-BFGS-B").x
    return [float(v) for v in w]


@dataclass
class Calibration:
    """Coefficients of the two logistic models and the networks they belong to."""

    cleft: list
    edge: list
    networks: dict = field(default_factory=dict)  # {"cleft": [sha256, ...], "association": [sha256, ...]}
    low_confidence: float = LOW_CONFIDENCE
    record: dict = field(default_factory=dict)

    def cleft_confidence(self, scores, sizes_nm3) -> np.ndarray:
        w = np.asarray(self.cleft)
        return _sigmoid(cleft_features(scores, sizes_nm3) @ w[:-1] + w[-1])

    def edge_given_cleft(self, pre_scores, post_scores) -> np.ndarray:
        w = np.asarray(self.edge)
        return _sigmoid(edge_features(pre_scores, post_scores) @ w[:-1] + w[-1])

    def covers(self, *, cleft_sha256: str | None, association_sha256: str | None) -> bool:
        ok_c = cleft_sha256 is None or cleft_sha256 in self.networks.get("cleft", [])
        return ok_c and association_sha256 in self.networks.get("association", [])


def load_calibration(path=DEFAULT_CALIBRATION) -> Calibration | None:
    """The calibration stored at ``path`` (default: the shipped one), or None when there is none."""
    path = Path(path)
    if not path.is_file():
        return None
    d = json.loads(path.read_text())
    return Calibration(cleft=d["cleft"], edge=d["edge"], networks=d.get("networks", {}),
                       low_confidence=float(d.get("low_confidence", LOW_CONFIDENCE)), record=d)


@dataclass
class Confidence:
    """Calibrated probabilities of a result's clefts (cleft table order) and edges (``edges()`` order)."""

    clefts: np.ndarray
    edges: np.ndarray
    low_confidence: float
    calibrated: bool
    note: str | None = None

    @property
    def low_clefts(self) -> np.ndarray:
        return self.clefts < self.low_confidence

    @property
    def low_edges(self) -> np.ndarray:
        return self.edges < self.low_confidence


def confidences(result, *, voxel_size_nm, given: bool, calibration: Calibration | None,
                cleft_sha256: str | None, association_sha256: str | None) -> Confidence:
    """Calibrated confidence of every cleft and edge of a :class:`~nwbsyn.partners.PartnerResult`.

    Uncalibrated networks (``calibration`` None or for other weights): the mean cleft probability
    and ``pre * post`` scores, with a note saying so.
    """
    det = result.clefts
    vox_nm3 = float(np.prod(np.asarray(voxel_size_nm, float)))
    sizes = np.asarray(det.num_voxels, float) * vox_nm3
    edges = result.edges()
    scores = result.edge_scores()
    row = {int(c): i for i, c in enumerate(det.cleft_ids)}
    ok = calibration is not None and calibration.covers(cleft_sha256=None if given else cleft_sha256,
                                                        association_sha256=association_sha256)
    if ok:
        cleft = np.ones(len(det)) if given else calibration.cleft_confidence(det.scores, sizes)
        given_cleft = calibration.edge_given_cleft(scores[:, 0], scores[:, 1]) if len(edges) else np.zeros(0)
        low, note = calibration.low_confidence, None
    else:
        cleft = np.ones(len(det)) if given else np.asarray(det.scores, float)
        given_cleft = scores[:, 0] * scores[:, 1] if len(edges) else np.zeros(0)
        low = LOW_CONFIDENCE
        note = ("the confidence columns are not calibrated: no calibration belongs to these networks (run "
                "'python -m nwbsyn.partners.calibrate' for them); they hold the raw network scores.")
    edge = np.array([cleft[row[int(c)]] for c in edges[:, 0]]) * given_cleft if len(edges) else np.zeros(0)
    return Confidence(clefts=np.asarray(cleft, float), edges=np.asarray(edge, float), low_confidence=low,
                      calibrated=ok, note=note)


# -- fitting ----------------------------------------------------------------------------------


def collect(volumes, *, progress: bool = True) -> dict:
    """Features and labels of detected clefts and of the edges of real ones, on labelled volumes."""
    from nwbsyn.partners import assign_partners, detect_clefts, match_clefts

    rows = {"cleft_x": [], "cleft_y": [], "edge_x": [], "edge_y": [], "group": [], "edge_group": []}
    for k, v in enumerate(volumes):
        t = time.perf_counter()
        found = detect_clefts(v.raw, device="cpu", voxel_size_nm=v.voxel_size_nm)
        res = assign_partners(v.raw, v.neuron_ids, found, device="cpu", voxel_size_nm=v.voxel_size_nm)
        mapping = match_clefts(np.asarray(found.labels), v.clefts)
        sizes = found.num_voxels * float(np.prod(v.voxel_size_nm))
        rows["cleft_x"].append(cleft_features(found.scores, sizes))
        rows["cleft_y"].append([mapping.get(int(c), 0) != 0 for c in found.cleft_ids])
        rows["group"] += [v.voxel_size_nm[1]] * len(found)
        truth = {(c, pre, post) for c, (pre, posts) in v.partners().items() for post in posts}
        edges, scores = res.edges(), res.edge_scores()
        real = [mapping.get(int(c), 0) for c in edges[:, 0]]
        keep = np.array([m != 0 for m in real], bool)
        if len(edges):
            rows["edge_x"].append(edge_features(scores[keep, 0], scores[keep, 1]))
            rows["edge_y"].append([(m, int(e[1]), int(e[2])) in truth for m, e in zip(real, edges) if m])
            rows["edge_group"] += [v.voxel_size_nm[1]] * int(keep.sum())
        if progress:
            print(f"volume {k + 1}/{len(volumes)} at {v.voxel_size_nm[1]:g} nm: {len(found)} clefts, "
                  f"{len(edges)} edges ({time.perf_counter() - t:.0f} s)", flush=True)
    return {"cleft_x": np.concatenate(rows["cleft_x"]), "cleft_y": np.concatenate(rows["cleft_y"]).astype(float),
            "edge_x": np.concatenate(rows["edge_x"]), "edge_y": np.concatenate(rows["edge_y"]).astype(float),
            "group": np.asarray(rows["group"]), "edge_group": np.asarray(rows["edge_group"])}


def reliability(p, y, bins: int = 10) -> dict:
    """Brier score and expected calibration error (equal-width bins) of probabilities ``p`` for labels ``y``."""
    p, y = np.asarray(p, float), np.asarray(y, float)
    if not len(p):
        return {"n": 0}
    idx = np.minimum((p * bins).astype(int), bins - 1)
    ece = sum(abs(p[idx == b].mean() - y[idx == b].mean()) * (idx == b).sum() for b in range(bins) if (idx == b).any())
    return {"n": int(len(p)), "positives": int(y.sum()), "brier": round(float(np.mean((p - y) ** 2)), 4),
            "ece": round(float(ece / len(p)), 4)}


def _volumes(pixels_nm, n, seed, extent_nm=(1280.0, 2048.0, 2048.0)):
    from nwbsyn.partners import simulate_volume

    out = []
    for j, px in enumerate(pixels_nm):
        voxel = (40.0, float(px), float(px))
        shape = tuple(int(round(e / v)) for e, v in zip(extent_nm, voxel))
        out += [simulate_volume(shape_zyx=shape, voxel_size_nm=voxel, rng=seed + 100 * j + k) for k in range(n)]
    return out


def main(argv=None) -> None:
    import sys

    import torch

    from nwbsyn._shared import sha256_of_file
    from nwbsyn.partners.infer import default_models

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--output", default=str(DEFAULT_CALIBRATION))
    ap.add_argument("--pixels-nm", type=float, nargs="+", default=[4.0, 8.0, 16.0])
    ap.add_argument("--volumes", type=int, default=3, help="fitting volumes per pixel size")
    ap.add_argument("--held-out", type=int, default=2, help="held-out volumes per pixel size (reliability only)")
    ap.add_argument("--seed", type=int, default=7000, help="fitting seeds (held-out: seed + 50)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    t = time.perf_counter()
    fit = collect(_volumes(args.pixels_nm, args.volumes, args.seed))
    held = collect(_volumes(args.pixels_nm, args.held_out, args.seed + 50))
    cleft_w = fit_platt(fit["cleft_x"], fit["cleft_y"])
    edge_w = fit_platt(fit["edge_x"], fit["edge_y"])

    def report(data) -> dict:
        raw_c = _sigmoid(data["cleft_x"][:, 0])
        raw_e = _sigmoid(data["edge_x"][:, 0]) * _sigmoid(data["edge_x"][:, 1])
        pc = _sigmoid(data["cleft_x"] @ np.asarray(cleft_w[:-1]) + cleft_w[-1])
        pe = _sigmoid(data["edge_x"] @ np.asarray(edge_w[:-1]) + edge_w[-1])
        out = {"clefts_raw_score": reliability(raw_c, data["cleft_y"]), "clefts_calibrated": reliability(pc, data["cleft_y"]),
               "edges_raw_pre_x_post": reliability(raw_e, data["edge_y"]),
               "edges_calibrated": reliability(pe, data["edge_y"])}
        for px in args.pixels_nm:
            g, ge = data["group"] == px, data["edge_group"] == px
            out[f"clefts_calibrated_{px:g}nm"] = reliability(pc[g], data["cleft_y"][g])
            out[f"edges_calibrated_{px:g}nm"] = reliability(pe[ge], data["edge_y"][ge])
        return out

    cleft_models = [str(p) for p in default_models("cleft")]
    association_models = [str(p) for p in default_models("association")]
    record = {
        "method": "Platt scaling (logistic regression). cleft: [logit(mean cleft probability), log(size nm^3 / 1e6)] "
                  "-> P(detected cleft overlaps an annotated cleft); edge: [logit(pre score), logit(post score)] -> "
                  "P(edge right | its cleft real); edge confidence = cleft confidence x that",
        "cleft": cleft_w, "edge": edge_w, "low_confidence": LOW_CONFIDENCE,
        "networks": {"cleft": [sha256_of_file(p) for p in cleft_models],
                     "association": [sha256_of_file(p) for p in association_models]},
        "network_files": {"cleft": [Path(p).name for p in cleft_models],
                          "association": [Path(p).name for p in association_models]},
        "command": ("python -m nwbsyn.partners.calibrate " + " ".join(sys.argv[1:] if argv is None else argv)).strip()
        + "  (nice, OMP_NUM_THREADS=1)",
        "data": {"generator": "nwbsyn.partners.simulate_volume, z 40 nm, extent 1280 x 2048 x 2048 nm",
                 "pixels_nm": args.pixels_nm, "fit_volumes_per_pixel_size": args.volumes,
                 "fit_seeds": f"{args.seed} + 100 * pixel index + k",
                 "held_out_volumes_per_pixel_size": args.held_out, "held_out_seeds": f"{args.seed + 50} + 100 * i + k"},
        "fit": report(fit), "held_out": report(held), "seconds": round(time.perf_counter() - t, 1),
    }
    from nwbsyn.io.output import claim_output

    with claim_output(args.output, overwrite=True, what="calibration") as claim, \
            claim.temporary(suffix=".json") as tmp:
        Path(tmp).write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps({"held_out": record["held_out"]}))


if __name__ == "__main__":
    main()
