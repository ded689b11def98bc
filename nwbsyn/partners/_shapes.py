"""Geometry for the synthetic EM generator: neurite tubes, contacts between segments, synapse planting.

Private helpers of :mod:`nwbsyn.partners.simulate`. Coordinates are voxel indices (z, y, x)
unless a name ends in ``_nm``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

_MIN_POST_VOXELS = 12  # a postsynaptic partner needs this many cleft voxels
_MIN_CLEFT_VOXELS = 60

__all__ = [
    "Contacts", "Neurites", "Synapse", "SynapsePlanter",
    "find_contacts", "grow_neurites", "inplane_cross", "ring_kernel",
]


@dataclass(frozen=True)
class Neurites:
    """Dense labelled tubes: ``labels`` (uint64, 0 = extracellular) and per-neurite facts."""

    labels: np.ndarray  # (z, y, x) uint64
    is_axon: np.ndarray  # (n_neurites + 1,) bool, index = label
    brightness: np.ndarray  # (n_neurites + 1,) float, cytoplasm grey level per label


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _path(start_nm, direction, length_nm, step_nm, curl, rng) -> np.ndarray:
    """A smooth random 3D path through ``start_nm`` (n_steps, 3) in nm."""
    n = max(int(length_nm / step_nm), 2)
    noise = ndimage.gaussian_filter1d(rng.normal(size=(n, 3)), sigma=150.0 / step_nm, axis=0, mode="nearest")
    noise /= noise.std(axis=0, keepdims=True) + 1e-12
    dirs = _unit(direction[None, :] + curl * noise)
    pos = np.cumsum(dirs * step_nm, axis=0)
    return pos - pos[n // 2] + start_nm


def _axon_radius(n: int, r0: float, step_nm: float, rng) -> np.ndarray:
    """Thin shaft with boutons (Gaussian swellings) every ~0.6-1.2 um."""
    r = np.full(n, r0)
    s = np.arange(n) * step_nm
    at = rng.uniform(0, 900.0)
    while at < s[-1]:
        width = rng.uniform(90.0, 160.0)
        r += r0 * rng.uniform(0.9, 1.8) * np.exp(-0.5 * ((s - at) / width) ** 2)
        at += rng.uniform(600.0, 1200.0)
    return r


def grow_neurites(
    shape_zyx, voxel_size_nm, *, n_neurites: int, axon_fraction: float, fill: float = 1.45,
    rng: np.random.Generator,
) -> Neurites:
    """Rasterise ``n_neurites`` random tubes (axons with boutons, dendrites with spines).

    Each voxel belongs to the neurite whose skeleton is nearest (one Euclidean distance
    transform in nm), and is extracellular when that distance exceeds the local radius,
    so tubes squash against each other where they are crowded, as in neuropil.
    ``fill`` inflates every radius (more contact, less extracellular space).
    """
    vs = np.asarray(voxel_size_nm, float)
    pad = np.ceil(220.0 / vs).astype(int)
    grid = np.asarray(shape_zyx) + 2 * pad
    extent_nm = grid * vs
    step_nm = 0.5 * vs.min()
    length_nm = 1.2 * np.linalg.norm(extent_nm)
    pts, rad, lab = [], [], []
    is_axon = np.zeros(n_neurites + 1, bool)
    for k in range(1, n_neurites + 1):
        axon = rng.random() < axon_fraction
        is_axon[k] = axon
        start = rng.uniform(0, 1, 3) * extent_nm
        p = _path(start, _unit(rng.normal(size=3)), length_nm, step_nm, 0.35 if axon else 0.2, rng)
        if axon:
            r = _axon_radius(len(p), rng.uniform(60.0, 110.0), step_nm, rng)
        else:
            r0 = rng.uniform(150.0, 300.0)
            r = r0 * (1 + 0.15 * ndimage.gaussian_filter1d(rng.normal(size=len(p)), 300.0 / step_nm) * 8)
            r = np.clip(r, 0.6 * r0, 1.4 * r0)
            sp, sr = _spines(p, r, step_nm, rng)
            p, r = np.concatenate([p, sp]), np.concatenate([r, sr])
        pts.append(p)
        rad.append(r)
        lab.append(np.full(len(p), k))
    pts, rad, lab = np.concatenate(pts), np.concatenate(rad), np.concatenate(lab)
    idx = np.floor(pts / vs).astype(int)
    keep = np.all((idx >= 0) & (idx < grid), axis=1)
    idx, rad, lab = idx[keep], rad[keep], lab[keep]
    seed = np.full(tuple(grid), -1, np.int32)
    order = np.argsort(rad)  # thick points written last win a shared voxel
    seed[tuple(idx[order].T)] = order.astype(np.int32)
    dist, near = ndimage.distance_transform_edt(seed < 0, sampling=vs, return_indices=True)
    nearest = seed[near[0], near[1], near[2]]
    del near
    inside = dist <= fill * rad[nearest]
    labels = np.where(inside, lab[nearest], 0).astype(np.uint64)
    crop = tuple(slice(p_, p_ + s) for p_, s in zip(pad, shape_zyx))
    brightness = rng.uniform(0.58, 0.74, n_neurites + 1)
    return Neurites(labels=np.ascontiguousarray(labels[crop]), is_axon=is_axon, brightness=brightness)


def _spines(path_nm, radius_nm, step_nm, rng) -> tuple[np.ndarray, np.ndarray]:
    """Side branches (thin neck, round head) every ~0.5-1 um along a dendrite."""
    pts, rad = [], []
    n = len(path_nm)
    i = int(rng.uniform(0, 700.0) / step_nm)
    while i < n - 2:
        tangent = _unit(path_nm[min(i + 1, n - 1)] - path_nm[max(i - 1, 0)])
        side = _unit(np.cross(tangent, _unit(rng.normal(size=3))))
        neck = rng.uniform(350.0, 800.0) + radius_nm[i]
        s = np.arange(0.0, neck, step_nm)
        pts.append(path_nm[i] + s[:, None] * side)
        head = rng.uniform(110.0, 210.0)
        r = np.full(len(s), rng.uniform(35.0, 55.0))
        r[s > neck - head] = head
        rad.append(r)
        i += int(rng.uniform(500.0, 1000.0) / step_nm)
    if not pts:
        return np.zeros((0, 3)), np.zeros(0)
    return np.concatenate(pts), np.concatenate(rad)


@dataclass(frozen=True)
class Contacts:
    """In-plane boundary records: voxel ``pos`` of label ``own`` lies within 2 px of label ``other``."""

    pos: np.ndarray  # (n, 3) int
    own: np.ndarray  # (n,) uint64
    other: np.ndarray  # (n,) uint64

    def pairs(self) -> np.ndarray:
        """Unique unordered touching pairs (n_pairs, 2), smaller id first."""
        a, b = np.minimum(self.own, self.other), np.maximum(self.own, self.other)
        return np.unique(np.stack([a, b], axis=1), axis=0) if len(a) else np.zeros((0, 2), np.uint64)


def find_contacts(labels: np.ndarray) -> Contacts:
    """Voxels of one neurite that lie 1 or 2 px (in y or x) from a voxel of another neurite.

    A 2-px record is kept only when the voxel between belongs to one of the two neurites,
    so every record is a true contact on the shared membrane.
    """
    pos, own, other = [], [], []
    for axis in (1, 2):
        n = labels.shape[axis]
        for k in (1, 2):
            a = labels.take(np.arange(n - k), axis=axis)
            b = labels.take(np.arange(k, n), axis=axis)
            m = (a != b) & (a > 0) & (b > 0)
            if k == 2:
                mid = labels.take(np.arange(1, n - 1), axis=axis)
                m &= (mid == a) | (mid == b)
            where = np.argwhere(m)
            shifted = where.copy()
            shifted[:, axis] += k
            va, vb = a[m], b[m]
            pos += [where, shifted]
            own += [va, vb]
            other += [vb, va]
    return Contacts(pos=np.concatenate(pos), own=np.concatenate(own), other=np.concatenate(other))


def ring_kernel(radius_px: float, width_px: float = 0.9) -> np.ndarray:
    """2D (1, k, k) kernel of a dark ring (a vesicle membrane) with a faint core."""
    h = int(np.ceil(radius_px + 2 * width_px))
    yy, xx = np.mgrid[-h : h + 1, -h : h + 1]
    r = np.hypot(yy, xx)
    ring = np.exp(-0.5 * ((r - radius_px) / width_px) ** 2) + 0.25 * (r < radius_px)
    return (ring / ring.max())[None]


@dataclass(frozen=True)
class Synapse:
    """One synapse: a cleft id, its presynaptic segment and one or more postsynaptic segments."""

    cleft_id: int
    pre_id: int
    post_ids: tuple[int, ...]
    centroid_zyx: tuple[float, float, float]  # voxels
    n_voxels: int

    @property
    def is_polyadic(self) -> bool:
        return len(self.post_ids) > 1


class SynapsePlanter:
    """Places synapses on contacts between segments, one at a time, without overlaps."""

    def __init__(self, labels, contacts: Contacts, vs, rng):
        self.labels, self.vs, self.rng = labels, np.asarray(vs), rng
        order = np.argsort(contacts.own, kind="stable")
        self.pos, self.own, self.other = contacts.pos[order], contacts.own[order], contacts.other[order]
        self.ids, self.starts = np.unique(self.own, return_index=True)
        self.ends = np.append(self.starts[1:], len(self.own))
        self.clefts = np.zeros(labels.shape, np.uint64)
        self.sites_nm: list[np.ndarray] = []
        self.pairs = contacts.pairs()

    def _records(self, label):
        i = np.searchsorted(self.ids, label)
        if i >= len(self.ids) or self.ids[i] != label:
            return slice(0, 0)
        return slice(self.starts[i], self.ends[i])

    def free(self, site_nm, min_sep_nm) -> bool:
        return all(np.linalg.norm(site_nm - s) > min_sep_nm for s in self.sites_nm)

    def random_site(self, pre_pool, min_sep_nm):
        """A contact voxel of a neurite from ``pre_pool``, far from planted synapses."""
        if len(pre_pool) == 0:
            return None
        for _ in range(40):
            pre = self.rng.choice(pre_pool)
            rec = self._records(pre)
            if rec.stop - rec.start < 20:
                continue
            j = self.rng.integers(rec.start, rec.stop)
            site_nm = self.pos[j] * self.vs
            if self.free(site_nm, min_sep_nm):
                return pre, j, site_nm
        return None

    def plant(self, cleft_id, pre, j, site_nm, n_post, radius_nm) -> Synapse | None:
        rec = self._records(pre)
        near = rec.start + np.flatnonzero(
            np.linalg.norm(self.pos[rec] * self.vs - site_nm, axis=1) <= radius_nm
        )
        others, counts = np.unique(self.other[near], return_counts=True)
        first = self.other[j]
        candidates = [first] + [o for o in others[np.argsort(-counts)] if o != first]
        posts = [o for o in candidates if counts[others == o][0] >= 2 * _MIN_POST_VOXELS][:n_post]
        if not posts:
            return None
        mask_pre = near[np.isin(self.other[near], posts)]
        back = []
        for b in posts:
            rb = self._records(b)
            sel = rb.start + np.flatnonzero(self.other[rb] == pre)
            sel = sel[np.linalg.norm(self.pos[sel] * self.vs - site_nm, axis=1) <= radius_nm]
            back.append(sel)
        idx = np.concatenate([mask_pre, *back])
        pos = self.pos[idx]
        lo, hi = pos.min(0), pos.max(0) + 1
        local = np.zeros(tuple(hi - lo), bool)
        local[tuple((pos - lo).T)] = True
        box = tuple(slice(a, b) for a, b in zip(lo, hi))
        local &= self.clefts[box] == 0
        comp, n = ndimage.label(local)  # 6-connectivity, as cleft detection uses
        if n == 0:
            return None
        sizes = np.bincount(comp.ravel())[1:]
        keep = comp == (np.argmax(sizes) + 1)
        lab = self.labels[box]
        post_count = {b: int(np.count_nonzero(keep & (lab == b))) for b in posts}
        posts = [b for b in posts if post_count[b] >= _MIN_POST_VOXELS]
        keep &= (lab == pre) | np.isin(lab, posts)
        if not posts or keep.sum() < _MIN_CLEFT_VOXELS:
            return None
        # drop presynaptic voxels that only touched a dropped partner
        near_post = ndimage.binary_dilation(np.isin(lab, posts), structure=inplane_cross(2))
        keep &= (lab != pre) | near_post
        comp, n = ndimage.label(keep)
        if n > 1:  # rare: the filter split the cleft; keep one piece if it still holds every partner
            keep = comp == (np.argmax(np.bincount(comp.ravel())[1:]) + 1)
            if any(np.count_nonzero(keep & (lab == b)) < _MIN_POST_VOXELS for b in posts):
                return None
        if keep.sum() < _MIN_CLEFT_VOXELS:
            return None
        self.clefts[box][keep] = cleft_id
        self.sites_nm.append(site_nm)
        where = np.argwhere(keep) + lo
        return Synapse(
            cleft_id=int(cleft_id), pre_id=int(pre), post_ids=tuple(int(b) for b in posts),
            centroid_zyx=tuple(float(c) for c in where.mean(0)), n_voxels=int(len(where)),
        )


def inplane_cross(radius: int) -> np.ndarray:
    k = 2 * radius + 1
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return (np.abs(yy) + np.abs(xx) <= radius).reshape(1, k, k)
