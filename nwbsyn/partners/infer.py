"""Cleft detection and synaptic partner assignment (AVAN method) on arrays.

Arrays may be numpy arrays or lazy HDF5 datasets (``h5py.Dataset``): every function here
reads only the blocks and patches it needs, so volumes larger than memory work.

1. :func:`detect_clefts`: cleft probability block-wise with a halo → threshold →
   connected components (6-connectivity, ``connected-components-3d``) → size filter.
2. :func:`assign_partners`: for each cleft, a patch around its centroid (shifted to stay
   inside the volume) goes through the association network with the cleft's mask. The
   candidate segments are those touching the cleft (within 1 px in-plane; AVAN takes 5 px
   and one section, which lets in neighbours that never touch it) with at least
   ``min_contact_voxels`` voxels there (a neighbour whose corner grazes the cleft's rim is
   no partner; true partners share tens to hundreds of voxels), and a segment's score is
   the mean network output over its voxels within 5 px and one section of the cleft (AVAN
   averages over the whole patch; near the cleft is where the network is sure). All three
   choices scored better on validation volumes. The presynaptic segment is the
   argmax of the presynaptic channel; the postsynaptic segments are the argmax of the
   postsynaptic channel (dyadic) or every other candidate whose score reaches
   ``post_threshold`` (polyadic; the argmax when none does).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import product
from pathlib import Path

import numpy as np
from scipy import ndimage

from nwbsyn._shared import InputError, pick_device

__all__ = ["CleftDetection", "PartnerResult", "load_network", "predict_blockwise", "detect_clefts",
           "assign_partners", "DEFAULT_CLEFT_MODEL", "DEFAULT_ASSOCIATION_MODEL"]

_MODELS = Path(__file__).parent / "models"
DEFAULT_CLEFT_MODEL = _MODELS / "avan_cleft.pt"
DEFAULT_ASSOCIATION_MODEL = _MODELS / "avan_association.pt"
MIN_CLEFT_VOXELS = 70  # detected components smaller than this are dropped; so are those with a lower mean
MIN_CLEFT_SCORE = 0.74  # probability (both tuned on validation volumes: benchmarks/bench_partners.py --tune; a
# score of 0.8 did as well there but halved the clefts found on the real CREMI crop)
MASK_THRESHOLD = 0.0  # > 0: a detected cleft's attention mask is its core above this probability (0: the whole
# component, which scored best on validation volumes with the shipped cleft network)
MIN_CONTACT_VOXELS = 25  # candidates need this many voxels within 1 px of the cleft (see assign_partners)
POST_THRESHOLD = 0.4  # tuned with MIN_CONTACT_VOXELS for edge F1 on validation volumes (bench_partners.py --tune)


def default_models(task: str) -> list[Path]:
    """The shipped networks of ``task``: ``avan_<task>.pt`` and any ``avan_<task>_<N>nm.pt`` trained at another
    resolution."""
    base = {"cleft": DEFAULT_CLEFT_MODEL, "association": DEFAULT_ASSOCIATION_MODEL}[task]
    return [base, *sorted(p for p in _MODELS.glob(f"avan_{task}_*nm.pt") if p.is_file())]


def default_cleft_models() -> list[Path]:
    """The shipped cleft detectors (see :func:`default_models`)."""
    return default_models("cleft")


def _closest_default(task: str, voxel_size_nm) -> Path:
    """The shipped network of ``task`` trained nearest (log ratio, summed over axes) to ``voxel_size_nm``."""
    candidates = default_models(task)
    if voxel_size_nm is None:
        return candidates[0]
    from nwbsyn.partners.resample import network_voxel_size_nm

    vs = np.asarray(voxel_size_nm, float)
    best, best_d = candidates[0], np.inf
    for path in candidates:
        d = float(np.abs(np.log(vs / np.asarray(network_voxel_size_nm({"path": str(path)})))).sum())
        if d < best_d - 1e-9:
            best, best_d = path, d
    return best


def load_network(model, *, task: str, device: str = "auto", voxel_size_nm=None):
    """``(net, info)`` from ``"default"``, a checkpoint path or an already built network.

    ``"default"`` with ``voxel_size_nm``: the shipped network trained nearest that voxel size.
    ``device="auto"``: a GPU when there is one, else the CPU.
    """
    from nwbsyn.partners.model import load_checkpoint

    device = pick_device(device)
    if hasattr(model, "forward"):
        return model.to(device).eval(), {"init": getattr(model, "init_kwargs", {}), "task": task}
    path = _closest_default(task, voxel_size_nm) if model in (None, "default") else Path(model)
    net, info = load_checkpoint(path, task=task, device=device)
    info["path"] = str(path)
    return net, info


def _check_volume(raw, name: str = "raw") -> tuple[int, int, int]:
    shape = tuple(getattr(raw, "shape", ()))
    if len(shape) != 3 or min(shape) < 1:
        raise InputError(f"{name} must be a 3-D (z, y, x) volume; got shape {shape}.")
    return shape


def _padded(a: np.ndarray, shape, mode="reflect") -> np.ndarray:
    pad = [(0, max(0, s - n)) for n, s in zip(a.shape, shape)]
    if not any(p for _, p in pad):
        return a
    return np.pad(a, pad, mode=mode if all(n > 1 for n in a.shape) else "edge")


def _forward(net, x: np.ndarray, device: str) -> np.ndarray:
    """Sigmoid outputs of ``net`` on (batch, c, z, y, x), with y and x padded to its xy factor."""
    import torch

    f = net.xy_factor
    y, xx = x.shape[-2:]
    target = (*x.shape[:3], -(-y // f) * f, -(-xx // f) * f)
    x = _padded(x, target)
    with torch.no_grad():
        out = torch.sigmoid(net(torch.from_numpy(np.ascontiguousarray(x, np.float32)).to(device)))
    return out.cpu().numpy()[..., :y, :xx]


def predict_blockwise(net, raw, *, block_zyx=(32, 256, 256), halo_zyx=(4, 32, 32), device: str = "auto",
                      out=None, progress_bar: bool = True, resampling=None) -> np.ndarray:
    """Run a 1-input network over ``raw`` in overlapping blocks; returns uint8 probabilities (0-255).

    ``raw`` is read one block (plus halo) at a time; ``out`` may be any writable array of
    the volume's shape (e.g. an HDF5 dataset) to keep the result out of memory as well.
    ``resampling`` (:class:`~nwbsyn.partners.resample.Resampling`): each block is resampled to
    the network's grid, and the probabilities mapped back to the input grid (linear);
    ``block_zyx`` is in input voxels, ``halo_zyx`` in network voxels. ``device="auto"``: the
    network's own device.
    """
    from tqdm.auto import tqdm

    from nwbsyn.partners.resample import Resampling

    if device == "auto":
        first = next(iter(net.parameters()), None) if hasattr(net, "parameters") else None
        device = str(first.device) if first is not None else "cpu"
    shape = _check_volume(raw)
    rs = resampling or Resampling(input_nm=(1, 1, 1), network_nm=(1, 1, 1), shape_in=shape)
    out = np.zeros(shape, np.uint8) if out is None else out
    starts = [range(0, n, b) for n, b in zip(shape, block_zyx)]
    for corner in tqdm(list(product(*starts)), desc="cleft detection", unit="block", disable=not progress_bar):
        core = tuple(slice(c, min(c + b, n)) for c, b, n in zip(corner, block_zyx, shape))
        outer = rs.net_box(core, halo_zyx)
        block = rs.read_net(raw, outer, order=1)[None, None] / np.float32(255.0)
        prob = _forward(net, block, device)[0, 0]
        out[core] = np.round(np.clip(rs.to_input_grid(prob, outer, core, order=1), 0, 1) * 255).astype(np.uint8)
    return out


class _Equal:
    """A read-on-slice view ``labels == value`` (float32), for resampling one cleft's mask."""

    def __init__(self, labels, value):
        self.labels, self.value, self.shape = labels, value, tuple(labels.shape)

    def __getitem__(self, key):
        return (np.asarray(self.labels[key]) == self.value).astype(np.float32)


@dataclass
class CleftDetection:
    """Detected clefts: a label volume (0 = none) and one row per cleft (voxel coordinates)."""

    labels: np.ndarray
    cleft_ids: np.ndarray
    centroids_zyx: np.ndarray
    num_voxels: np.ndarray
    bounding_boxes: np.ndarray  # (n, 6) z0, y0, x0, z1, y1, x1 (stop exclusive)
    scores: np.ndarray
    probability: object = field(default=None, repr=False)  # uint8 cleft probability (detected clefts only)
    notes: tuple = ()  # sentences for the user (e.g. a voxel size far from the networks' training resolution)
    voxel_size_nm: tuple | None = None  # of the labels' grid (None: the network's own)
    settings: dict = field(default_factory=dict)  # assignment settings tuned for the detecting network (its card)

    def __len__(self) -> int:
        return len(self.cleft_ids)


def clefts_from_labels(labels, *, probability=None) -> CleftDetection:
    """Table of the clefts in a label volume (given clefts, or the output of detection)."""
    import cc3d

    labels = np.asarray(labels)
    compact, original = _compact_labels(labels)
    stats = cc3d.statistics(compact)
    counts = np.asarray(stats["voxel_counts"])
    ids = np.flatnonzero(counts)
    ids = ids[ids != 0]
    boxes = np.array([[s.start for s in stats["bounding_boxes"][i]] + [s.stop for s in stats["bounding_boxes"][i]]
                      for i in ids], np.int64).reshape(-1, 6)
    if probability is not None and len(ids):
        sums = ndimage.sum_labels(np.asarray(probability, np.float32), compact, ids) / 255.0
        scores = sums / counts[ids]
    else:
        scores = np.ones(len(ids))
    return CleftDetection(labels=labels, cleft_ids=original[ids].astype(np.uint64),
                          centroids_zyx=np.asarray(stats["centroids"], float)[ids].reshape(-1, 3),
                          num_voxels=counts[ids].astype(np.int64), bounding_boxes=boxes, scores=np.asarray(scores))


def _compact_labels(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels renumbered 0..n when their ids are sparse (cc3d allocates per id up to the largest),
    and the original id of each new one."""
    labels = labels.astype(np.uint64) if labels.dtype.kind != "u" else labels
    top = int(labels.max()) if labels.size else 0
    if top <= 2 * labels.size + 1024:
        return labels, np.arange(top + 1, dtype=np.uint64)
    original, inverse = np.unique(labels, return_inverse=True)
    if original[0] != 0:
        original = np.concatenate([[np.uint64(0)], original])
        inverse = inverse + 1
    return inverse.reshape(labels.shape).astype(np.uint32 if len(original) < 2**32 else np.uint64), original


def detect_clefts(raw, *, model="default", threshold: float = 0.5, min_voxels: int | None = None,
                  min_score: float | None = None, block_zyx=(32, 256, 256), workspace=None, device: str = "auto",
                  progress_bar: bool = True, voxel_size_nm=None) -> CleftDetection:
    """Detect synaptic clefts in an EM volume, block by block.

    Parameters
    ----------
    raw : (z, y, x) uint8 array or HDF5 dataset
    model : "default", path or network
        The cleft detector (shipped: ``models/avan_cleft.pt``).
    threshold : float, default: 0.5
        Probability above which a voxel is cleft.
    min_voxels : int, optional
        Components smaller than this are dropped, counted in voxels of the network's training grid
        (70 voxels of 40 x 8 x 8 nm = 280 voxels of 40 x 4 x 4 nm). Default: the value tuned for
        the network (its card's ``inference``), else 70.
    min_score : float, optional (default: the network's tuned value, else 0.74)
        Components whose mean probability is lower are dropped (tuned on validation volumes:
        contacts without a synapse give weak, patchy responses).
    block_zyx : tuple, default: (32, 256, 256)
        Block in voxels of the network's grid (the input block covers the same extent).
    workspace : str or Path, optional
        An HDF5 file for the probability and label volumes, for volumes larger than memory;
        ``result.labels`` is then a dataset of that file (keep it until you are done).
    voxel_size_nm : (z, y, x), optional
        The volume's voxel size. When it differs from the network's training resolution (its
        model card) each block is resampled to that resolution for inference and the
        probabilities mapped back (linear), so labels and table are on the input grid. None:
        the volume is at the training resolution.

    Example
    -------
    >>> from nwbsyn.partners import simulate_volume, detect_clefts
    >>> vol = simulate_volume(shape_zyx=(8, 96, 96), rng=1)
    >>> found = detect_clefts(vol.raw, voxel_size_nm=vol.voxel_size_nm, progress_bar=False)
    >>> len(found), len(vol.synapses)
    (1, 1)
    """
    from nwbsyn.partners._blockwise import label_blockwise
    from nwbsyn.partners.resample import resampling_for

    if not 0 < threshold < 1:
        raise InputError(f"threshold={threshold} must lie in (0, 1).")
    shape = _check_volume(raw)
    dev = pick_device(device)
    net, info = load_network(model, task="cleft", device=dev, voxel_size_nm=voxel_size_nm)
    from nwbsyn.partners.resample import _card

    tuned = _card(info.get("path")).get("inference", {}) if isinstance(model, (str, Path)) or model is None else {}
    tuned = dict(tuned) if isinstance(tuned, dict) else {}
    min_voxels = int(tuned.get("min_voxels", MIN_CLEFT_VOXELS) if min_voxels is None else min_voxels)
    min_score = float(tuned.get("min_score", MIN_CLEFT_SCORE) if min_score is None else min_score)
    rs = resampling_for(shape, voxel_size_nm, info)
    block_in = tuple(max(4, int(round(b / r))) for b, r in zip(block_zyx, rs.ratio))
    min_voxels_in = int(np.ceil(min_voxels / float(np.prod(rs.ratio))))
    if workspace is None:
        prob, labels = np.zeros(shape, np.uint8), np.zeros(shape, np.uint32)
    else:
        import h5py

        ws = h5py.File(workspace, "w")
        chunks = tuple(min(n, c) for n, c in zip(shape, (8, 128, 128)))
        prob = ws.create_dataset("cleft_probability", shape=shape, dtype=np.uint8, chunks=chunks)
        labels = ws.create_dataset("cleft_labels", shape=shape, dtype=np.uint32, chunks=chunks)
    predict_blockwise(net, raw, block_zyx=block_in, device=dev, out=prob, progress_bar=progress_bar,
                      resampling=None if rs.identity else rs)
    stats = label_blockwise(prob, threshold_u8=int(round(threshold * 255)), min_voxels=min_voxels_in,
                            min_score=float(min_score), block_zyx=block_in, out=labels)
    return CleftDetection(labels=labels, probability=prob, notes=tuple(n for n in [rs.note] if n),
                          voxel_size_nm=rs.input_nm, settings={**tuned, "min_voxels": min_voxels, "min_score": min_score},
                          **stats)


@dataclass
class PartnerResult:
    """Partners of each cleft: one presynaptic segment, one or more postsynaptic segments."""

    cleft_ids: np.ndarray
    pre_ids: np.ndarray
    post_ids: tuple
    pre_scores: np.ndarray
    post_scores: tuple
    candidates: list = field(default_factory=list, repr=False)  # per cleft: {segment: (pre, post)}
    clefts: CleftDetection | None = field(default=None, repr=False)  # the clefts the partners belong to
    notes: tuple = ()  # sentences for the user (see CleftDetection.notes)
    confidence: object = field(default=None, repr=False)  # calibrate.Confidence, set by run_on_nwbfile

    def __len__(self) -> int:
        return len(self.cleft_ids)

    def low_confidence_counts(self) -> tuple[int | None, int | None]:
        """Clefts and edges below the low-confidence line (None without confidences)."""
        if self.confidence is None:
            return None, None
        return int(self.confidence.low_clefts.sum()), int(self.confidence.low_edges.sum())

    def partners(self) -> dict:
        """``{cleft_id: (pre_id, post_ids)}``."""
        return {int(c): (int(p), tuple(int(q) for q in posts))
                for c, p, posts in zip(self.cleft_ids, self.pre_ids, self.post_ids)}

    def edges(self) -> np.ndarray:
        """(n, 3) uint64 rows ``(cleft_id, pre_id, post_id)``."""
        rows = [(c, p, q) for c, p, posts in zip(self.cleft_ids, self.pre_ids, self.post_ids) for q in posts]
        return np.asarray(rows, np.uint64).reshape(-1, 3)

    def edge_scores(self) -> np.ndarray:
        """(n, 2) presynaptic and postsynaptic scores of each row of :meth:`edges`."""
        rows = [(p, q) for p, qs in zip(self.pre_scores, self.post_scores) for q in qs]
        return np.asarray(rows, float).reshape(-1, 2)


def summary_line(result: PartnerResult, *, clefts: str, where) -> str:
    """What ``partners assign`` prints; every count is one of the written tables' (clefts: rows of the
    cleft table; with partners: clefts with at least one edge; edges: rows of the partner table).

    Example
    -------
    >>> import numpy as np
    >>> det = CleftDetection(labels=np.zeros((1, 1, 1)), cleft_ids=np.array([1, 2, 3]), centroids_zyx=np.zeros((3, 3)),
    ...                      num_voxels=np.ones(3), bounding_boxes=np.zeros((3, 6)), scores=np.ones(3))
    >>> res = PartnerResult(cleft_ids=np.array([1, 2]), pre_ids=np.array([5, 6]), post_ids=((7, 8), ()),
    ...                     pre_scores=np.ones(2), post_scores=((1.0, 1.0), ()), clefts=det)
    >>> summary_line(res, clefts="detect", where="out.nwb")
    '3 clefts (detect), 1 with partners (1 polyadic), 2 edges -> out.nwb (processing/misc/synaptic_partners)'
    """
    edges = result.edges()
    ids, per = np.unique(edges[:, 0], return_counts=True)
    n_clefts = len(result.clefts) if result.clefts is not None else len(result)
    line = (f"{n_clefts} clefts ({clefts}), {len(ids)} with partners ({int((per > 1).sum())} polyadic), "
            f"{len(edges)} edges")
    low = getattr(result, "low_confidence_counts", None)
    if callable(low):
        n_low_clefts, n_low_edges = low()
        if n_low_clefts is not None:
            line += f"; low confidence: {n_low_clefts} clefts, {n_low_edges} edges"
    return f"{line} -> {where} (processing/misc/synaptic_partners)"


def assignment_settings(table, *, post_threshold=None, mask_threshold=None, min_contact_voxels=None):
    """``(post_threshold, mask_threshold, min_contact_voxels)``: given values, else those the detecting
    network's card tunes (``table.settings``), else the module defaults."""
    tuned = dict(getattr(table, "settings", None) or {})
    pick = lambda given, key, default: given if given is not None else tuned.get(key, default)  # noqa: E731
    return (float(pick(post_threshold, "post_threshold", POST_THRESHOLD)),
            float(pick(mask_threshold, "mask_threshold", MASK_THRESHOLD)),
            int(pick(min_contact_voxels, "min_contact_voxels", MIN_CONTACT_VOXELS)))


def check_assignment_options(*, post_threshold: float, min_contact_voxels: int) -> None:
    """Raise :class:`InputError` for a post threshold outside [0, 1] or a negative contact."""
    if not 0 <= post_threshold <= 1:
        raise InputError(f"post_threshold={post_threshold} must lie in [0, 1].")
    if min_contact_voxels < 0:
        raise InputError(f"min_contact_voxels={min_contact_voxels} must be 0 or more.")


def _patch_corner(centre, patch, shape) -> tuple[int, ...]:
    return tuple(int(np.clip(round(c) - p // 2, 0, max(0, n - p))) for c, p, n in zip(centre, patch, shape))


def _choose(cands: dict, *, polyadic: bool, post_threshold: float) -> tuple[int, float, tuple, tuple]:
    segs = list(cands)
    pre = max(segs, key=lambda s: cands[s][0])
    others = [s for s in segs if s != pre]
    if not others:
        return pre, cands[pre][0], (), ()
    best = max(others, key=lambda s: cands[s][1])
    posts = [s for s in others if cands[s][1] >= post_threshold] if polyadic else []
    posts = sorted(posts or [best])
    return pre, cands[pre][0], tuple(posts), tuple(cands[s][1] for s in posts)


def assign_partners(raw, neuron_ids, clefts, *, model="default", polyadic: bool = True,
                    post_threshold: float | None = None, mask_threshold: float | None = None,
                    patch_zyx=None, candidate_dilation_zyx=(0, 1, 1), score_dilation_zyx=(1, 5, 5),
                    min_contact_voxels: int | None = None,
                    batch_size: int = 8, device: str = "auto", progress_bar: bool = True,
                    voxel_size_nm=None) -> PartnerResult:
    """Assign presynaptic and postsynaptic segments to each cleft.

    Parameters
    ----------
    raw, neuron_ids : (z, y, x) arrays or HDF5 datasets
        EM image (uint8) and segmentation (0 = no segment).
    clefts : CleftDetection or (z, y, x) label array (0 = no cleft)
        Detected clefts, or given ones.
    polyadic : bool, default: True
        Allow several postsynaptic partners (score ≥ ``post_threshold``); False takes the argmax.
    patch_zyx : tuple, optional
        Network input per cleft; default the training patch of the model.
    post_threshold, mask_threshold, min_contact_voxels : optional
        Default: the settings tuned for the cleft network that detected ``clefts`` (its model card's
        ``inference``, e.g. the 16 nm network's), else 0.4, 0, 25 (tuned at 8 nm).
    min_contact_voxels : int, default: 25
        Candidates need this many voxels within 1 px (in-plane) of the cleft; when none has,
        all touching segments stay candidates (voxels and pixels of the network's training grid).
    voxel_size_nm : (z, y, x), optional
        The volume's voxel size (default: that of ``clefts`` when it is a detection, else the
        network's own). Each patch is resampled to the network's training resolution (image
        linear, segmentation and cleft by nearest), so scores and candidates are found there.

    Example
    -------
    >>> from nwbsyn.partners import simulate_volume, assign_partners, assignment_accuracy
    >>> vol = simulate_volume(shape_zyx=(8, 96, 96), rng=1)
    >>> res = assign_partners(vol.raw, vol.neuron_ids, vol.clefts, progress_bar=False)
    >>> assignment_accuracy(res.partners(), vol.partners()).accuracy
    1.0
    """
    from tqdm.auto import tqdm

    from nwbsyn.partners.resample import resampling_for

    shape = _check_volume(raw)
    table = clefts if isinstance(clefts, CleftDetection) else None
    post_threshold, mask_threshold, min_contact_voxels = assignment_settings(
        table, post_threshold=post_threshold, mask_threshold=mask_threshold, min_contact_voxels=min_contact_voxels)
    check_assignment_options(post_threshold=post_threshold, min_contact_voxels=min_contact_voxels)
    if tuple(neuron_ids.shape) != shape:
        raise InputError(f"the segmentation has shape {tuple(neuron_ids.shape)} but the image {shape}; they must match.")
    table = clefts if isinstance(clefts, CleftDetection) else clefts_from_labels(clefts)
    if tuple(table.labels.shape) != shape:
        raise InputError(f"the cleft labels have shape {tuple(table.labels.shape)} but the image {shape}.")
    dev = pick_device(device)
    vs_in = voxel_size_nm if voxel_size_nm is not None else table.voxel_size_nm
    net, info = load_network(model, task="association", device=dev, voxel_size_nm=vs_in)
    rs = resampling_for(shape, vs_in, info)
    # a cleft mask reduced to a coarser grid keeps every network voxel it touches (thin clefts stay whole)
    mask_cut = 0.5 if min(rs.ratio) >= 1 else 1e-3
    patch = tuple(patch_zyx or info.get("config", {}).get("patch_zyx", (8, 64, 64)))
    touching = np.ones(tuple(2 * d + 1 for d in candidate_dilation_zyx), bool)
    scored = np.ones(tuple(2 * d + 1 for d in score_dilation_zyx), bool)
    jobs = list(zip(table.cleft_ids.tolist(), table.centroids_zyx))
    per_cleft = []
    for start in tqdm(range(0, len(jobs), batch_size), desc="partner assignment", unit="batch",
                      disable=not progress_bar):
        chunk = jobs[start:start + batch_size]
        inputs, segs, masks, fulls = [], [], [], []
        for cid, centre in chunk:
            centre_net = [rs.to_net(ax, c) for ax, c in enumerate(centre)]
            corner = _patch_corner(centre_net, patch, rs.shape_net)
            sl = tuple(slice(c, min(c + p, n)) for c, p, n in zip(corner, patch, rs.shape_net))
            img = _padded(rs.read_net(raw, sl, order=1) / np.float32(255.0), patch)
            if rs.identity:
                full = np.asarray(table.labels[sl]) == cid
            else:
                full = rs.read_net(_Equal(table.labels, cid), sl, order=1) >= mask_cut
            mask = full
            if table.probability is not None and mask_threshold:  # the cleft's core, as thin as the training masks
                core = full & (rs.read_net(table.probability, sl, order=1) >= round(mask_threshold * 255))
                mask = core if core.any() else full
            mask, full = _padded(mask, patch, mode="constant"), _padded(full, patch, mode="constant")
            seg = _padded(rs.read_net(neuron_ids, sl, order=0).astype(np.uint64), patch, mode="constant")
            inputs.append(np.stack([img, mask.astype(np.float32)]))
            segs.append(seg)
            masks.append(mask)
            fulls.append(full)
        out = _forward(net, np.stack(inputs), dev)
        for mask, full, seg, prob in zip(masks, fulls, segs, out):
            local = np.where(ndimage.binary_dilation(mask, scored), seg, 0)
            near = np.where(ndimage.binary_dilation(full, touching), seg, 0)
            cand, contact = np.unique(near[near != 0], return_counts=True)
            if (contact >= min_contact_voxels).any():  # a corner touching the cleft is no partner
                cand = cand[contact >= min_contact_voxels]
            pre_mean = ndimage.mean(prob[0], local, cand) if len(cand) else []
            post_mean = ndimage.mean(prob[1], local, cand) if len(cand) else []
            per_cleft.append({int(s): (float(a), float(b)) for s, a, b in zip(cand, pre_mean, post_mean)})
    rows = [(cid, *_choose(c, polyadic=polyadic, post_threshold=post_threshold))
            for (cid, _), c in zip(jobs, per_cleft) if c]
    kept = [c for c in per_cleft if c]
    return PartnerResult(clefts=table, cleft_ids=np.array([r[0] for r in rows], np.uint64),
                         pre_ids=np.array([r[1] for r in rows], np.uint64),
                         pre_scores=np.array([r[2] for r in rows], float),
                         post_ids=tuple(r[3] for r in rows), post_scores=tuple(r[4] for r in rows), candidates=kept,
                         notes=tuple(dict.fromkeys([*table.notes, *([rs.note] if rs.note else [])])))
