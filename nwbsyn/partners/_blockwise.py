"""Connected components of a thresholded volume, block by block (volumes larger than memory).

Each block is labelled with ``connected-components-3d`` (6-connectivity); components that
touch across a block face are joined with a graph's connected components (scipy); small
components are dropped and the rest renumbered 1..n. Per-component statistics (size,
centroid, bounding box, mean probability) are merged on the way, so the whole volume is
never held in memory: only one block and one face plane at a time.
"""

from __future__ import annotations

from itertools import product

import numpy as np
from scipy import ndimage, sparse


def _blocks(shape, block):
    for corner in product(*[range(0, n, b) for n, b in zip(shape, block)]):
        yield tuple(slice(c, min(c + b, n)) for c, b, n in zip(corner, block, shape))


def label_blockwise(prob, *, threshold_u8: int, min_voxels: int, block_zyx, out, min_score: float = 0.0) -> dict:
    """Label ``prob > threshold_u8`` into ``out``; returns the cleft table's columns.

    Components smaller than ``min_voxels`` or with a mean probability under ``min_score`` are dropped.
    """
    import cc3d

    shape = tuple(prob.shape)
    rows, offset = [], 0
    for core in _blocks(shape, block_zyx):
        p = np.asarray(prob[core])
        lab, n = cc3d.connected_components(p > threshold_u8, connectivity=6, return_N=True)
        if n == 0:
            out[core] = 0
            continue
        st = cc3d.statistics(lab)
        ids = np.arange(1, n + 1)
        count = np.asarray(st["voxel_counts"])[1:]
        lo = np.array([[s.start + c.start for s, c in zip(st["bounding_boxes"][i], core)] for i in ids])
        hi = np.array([[s.stop + c.start for s, c in zip(st["bounding_boxes"][i], core)] for i in ids])
        centre = np.asarray(st["centroids"])[1:] + [c.start for c in core]
        psum = ndimage.sum_labels(p.astype(np.float64), lab, ids) / 255.0
        rows.append((count, centre * count[:, None], lo, hi, psum))
        out[core] = np.where(lab > 0, lab.astype(np.int64) + offset, 0).astype(out.dtype)
        offset += n
    edges = _face_pairs(out, shape, block_zyx)
    graph = sparse.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(offset + 1, offset + 1))
    _, root = sparse.csgraph.connected_components(graph, directed=False)
    empty = dict(cleft_ids=np.zeros(0, np.uint64), centroids_zyx=np.zeros((0, 3)), num_voxels=np.zeros(0, np.int64),
                 bounding_boxes=np.zeros((0, 6), np.int64), scores=np.zeros(0))
    if not rows:
        return empty
    count, wsum, lo, hi, psum = (np.concatenate(c) for c in zip(*rows))
    r = root[1:]  # component k (1-based) -> its root
    uniq, inv = np.unique(r, return_inverse=True)
    tot = np.bincount(inv, count)
    score = np.bincount(inv, psum) / tot
    keep = (tot >= min_voxels) & (score >= min_score)
    lut = np.zeros(offset + 1, out.dtype)
    new_id = np.cumsum(keep) * keep  # 1..n for kept roots, 0 for dropped
    lut[1:] = new_id[inv]
    for core in _blocks(shape, block_zyx):
        out[core] = lut[np.asarray(out[core])]
    if not keep.any():
        return empty
    agg = lambda values, fn: np.stack([fn(values[inv == k], axis=0) for k in np.flatnonzero(keep)])  # noqa: E731
    centroid = np.stack([np.bincount(inv, wsum[:, d]) for d in range(3)], 1)[keep] / tot[keep, None]
    return dict(cleft_ids=np.arange(1, keep.sum() + 1, dtype=np.uint64), centroids_zyx=centroid,
                num_voxels=tot[keep].astype(np.int64),
                bounding_boxes=np.concatenate([agg(lo, np.min), agg(hi, np.max)], 1).astype(np.int64),
                scores=score[keep])


def _face_pairs(labels, shape, block) -> np.ndarray:
    """Pairs of provisional ids that touch across a block face."""
    pairs = [np.zeros((0, 2), np.int64)]
    for axis in range(3):
        for pos in range(block[axis], shape[axis], block[axis]):
            a = np.asarray(labels[tuple(slice(pos - 1, pos) if d == axis else slice(None) for d in range(3))])
            b = np.asarray(labels[tuple(slice(pos, pos + 1) if d == axis else slice(None) for d in range(3))])
            both = (a > 0) & (b > 0)
            if both.any():
                pairs.append(np.unique(np.stack([a[both], b[both]], 1).astype(np.int64), axis=0))
    return np.concatenate(pairs)
