"""Between the user's voxel grid and the networks' training grid, block by block.

The networks were trained at one voxel size (``voxel_size_nm`` in their model cards, 40 x 8 x 8
nm for the shipped ones). A volume at another size is resampled to that grid for inference,
one block or patch at a time (only the input voxels a block needs are read, so lazy HDF5
volumes stay lazy), and the results are mapped back to the input grid: probabilities by
linear interpolation, labels by nearest neighbour.

Voxel centres define the mapping: input voxel ``i`` (centre at ``(i + 0.5) * v_in`` nm) sits
at network coordinate ``(i + 0.5) * r - 0.5`` with ``r = v_in / v_net``, so every block maps
the same way and block seams vanish. Images are interpolated linearly (for a 2x reduction
that is the mean of the two voxels each network voxel covers) after a Gaussian low-pass
when the reduction is larger than 2x; labels take the nearest voxel. An axis whose size is
within ``TOLERANCE`` of the network's is left as it is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

__all__ = ["Resampling", "network_voxel_size_nm", "resampling_for", "TRAINED_VOXEL_SIZE_NM", "TOLERANCE",
           "FAR_FACTOR"]

TRAINED_VOXEL_SIZE_NM = (40.0, 8.0, 8.0)  # the generator recipe of the shipped networks
TOLERANCE = 1.1  # axes within this factor of the network's voxel size are not resampled
FAR_FACTOR = 2.0  # beyond this factor on any axis the results carry a note


def network_voxel_size_nm(info: dict | None) -> tuple[float, float, float]:
    """The voxel size (z, y, x) nm a network was trained at: its checkpoint config, its model card, else 40 x 8 x 8.

    Example
    -------
    >>> network_voxel_size_nm({"config": {"voxel_size_nm": [40, 4, 4]}})
    (40.0, 4.0, 4.0)
    """
    info = info or {}
    for source in (info.get("config") or {}, _card(info.get("path"))):
        vs = source.get("voxel_size_nm") if isinstance(source, dict) else None
        if vs is not None:
            try:
                vs = tuple(float(v) for v in vs)
            except (TypeError, ValueError):
                continue
            if len(vs) == 3 and all(np.isfinite(vs)) and min(vs) > 0:
                return vs
    return TRAINED_VOXEL_SIZE_NM


def _card(path) -> dict:
    if not path:
        return {}
    card = Path(path).with_suffix(".card.json")
    try:
        return json.loads(card.read_text()) if card.is_file() else {}
    except (OSError, ValueError):
        return {}


def _interp_axis(a: np.ndarray, axis: int, coords: np.ndarray, order: int) -> np.ndarray:
    """``a`` sampled at fractional indices ``coords`` along ``axis`` (edges repeat)."""
    n = a.shape[axis]
    if order == 0:
        return np.take(a, np.clip(np.floor(coords + 0.5).astype(np.intp), 0, n - 1), axis=axis)
    x = np.clip(coords, 0, n - 1)
    i0 = np.floor(x).astype(np.intp)
    i1 = np.minimum(i0 + 1, n - 1)
    shape = [1] * a.ndim
    shape[axis] = -1
    w = (x - i0).astype(np.float32).reshape(shape)
    return np.take(a, i0, axis=axis) * (1 - w) + np.take(a, i1, axis=axis) * w


@dataclass(frozen=True)
class Resampling:
    """Mapping of one volume's grid onto a network's grid (per axis ratio ``r = v_in / v_net``; 1 = untouched).

    Example
    -------
    >>> import numpy as np
    >>> rs = Resampling(input_nm=(40, 4, 4), network_nm=(40, 8, 8), shape_in=(2, 8, 8))
    >>> rs.shape_net
    (2, 4, 4)
    >>> img = np.arange(2 * 8 * 8, dtype=np.uint8).reshape(2, 8, 8)
    >>> bool(rs.read_net(img, rs.net_box(), order=1)[0, 0, 0] == img[0, :2, :2].mean())
    True
    """

    input_nm: tuple
    network_nm: tuple
    shape_in: tuple

    @property
    def ratio(self) -> tuple[float, ...]:
        out = []
        for a, b in zip(self.input_nm, self.network_nm):
            r = float(a) / float(b)
            out.append(1.0 if 1 / TOLERANCE <= r <= TOLERANCE else r)
        return tuple(out)

    @property
    def identity(self) -> bool:
        return all(r == 1.0 for r in self.ratio)

    @property
    def shape_net(self) -> tuple[int, ...]:
        return tuple(max(1, int(round(n * r))) for n, r in zip(self.shape_in, self.ratio))

    @property
    def note(self) -> str | None:
        """A sentence when the input is more than ``FAR_FACTOR`` times away from the trained voxel size."""
        far = [(ax, a, b) for ax, a, b in zip("zyx", self.input_nm, self.network_nm)
               if max(float(a) / float(b), float(b) / float(a)) > FAR_FACTOR]
        if not far:
            return None
        what = ", ".join(f"{ax} {float(a):g} nm (trained {float(b):g} nm)" for ax, a, b in far)
        return (f"the volume's voxel size is more than {FAR_FACTOR:g}x away from the networks' training resolution "
                f"({what}); it was resampled for inference, but expect weaker results - train networks at this "
                "resolution with 'nwbsyn partners train --voxel-size-nm'.")

    def to_net(self, axis: int, i):
        return (np.asarray(i, float) + 0.5) * self.ratio[axis] - 0.5

    def to_input(self, axis: int, t):
        return (np.asarray(t, float) + 0.5) / self.ratio[axis] - 0.5

    def net_box(self, box_in=None, halo_net=(0, 0, 0)) -> tuple[slice, ...]:
        """Network-grid slices covering the input slices ``box_in`` (default: all) plus ``halo_net`` voxels."""
        box_in = box_in or tuple(slice(0, n) for n in self.shape_in)
        out = []
        for ax, (s, h, n) in enumerate(zip(box_in, halo_net, self.shape_net)):
            if self.ratio[ax] == 1.0:
                out.append(slice(max(0, s.start - h), min(n, s.stop + h)))
                continue
            lo = int(np.floor(self.to_net(ax, s.start))) - h
            hi = int(np.ceil(self.to_net(ax, s.stop - 1))) + 1 + h
            out.append(slice(max(0, lo), min(n, hi)))
        return tuple(out)

    def read_net(self, array, box_net, *, order: int) -> np.ndarray:
        """``array`` (input grid, lazy or not) on the network-grid slices ``box_net``.

        ``order`` 1: linear (float32, low-pass first when reducing more than 2x); 0: nearest (labels, dtype kept).
        """
        reads, coords, sigmas = [], [], []
        for ax, s in enumerate(box_net):
            if self.ratio[ax] == 1.0:
                reads.append(slice(s.start, s.stop))
                coords.append(None)
                sigmas.append(0.0)
                continue
            x = self.to_input(ax, np.arange(s.start, s.stop))
            reduce = 1.0 / self.ratio[ax]
            sigma = 0.5 * np.sqrt(reduce**2 - 4.0) if order and reduce > 2.0 else 0.0
            pad = int(np.ceil(3 * sigma)) + 1
            lo = max(0, int(np.floor(x.min())) - pad)
            hi = min(self.shape_in[ax], int(np.ceil(x.max())) + 2 + pad)
            reads.append(slice(lo, hi))
            coords.append(x - lo)
            sigmas.append(sigma)
        a = np.asarray(array[tuple(reads)])
        if order:
            a = a.astype(np.float32)
            if any(sigmas):
                a = ndimage.gaussian_filter(a, sigma=sigmas, mode="nearest")
        for ax, c in enumerate(coords):
            if c is not None:
                a = _interp_axis(a, ax, c, order)
        return a

    def to_input_grid(self, values, box_net, box_in, *, order: int = 1) -> np.ndarray:
        """Network-grid ``values`` on ``box_net`` sampled at the input-grid voxels ``box_in``."""
        a = np.asarray(values)
        if order:
            a = a.astype(np.float32)
        for ax, (sn, si) in enumerate(zip(box_net, box_in)):
            if self.ratio[ax] == 1.0:
                a = np.take(a, np.arange(si.start - sn.start, si.stop - sn.start), axis=ax)
                continue
            a = _interp_axis(a, ax, self.to_net(ax, np.arange(si.start, si.stop)) - sn.start, order)
        return a


def resampling_for(shape_in, voxel_size_nm, info) -> Resampling:
    """The :class:`Resampling` of a volume of ``shape_in`` at ``voxel_size_nm`` (None: the network's own) for a network."""
    net = network_voxel_size_nm(info)
    vs = net if voxel_size_nm is None else tuple(float(v) for v in voxel_size_nm)
    return Resampling(input_nm=vs, network_nm=net, shape_in=tuple(int(n) for n in shape_in))
