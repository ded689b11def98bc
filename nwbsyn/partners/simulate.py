"""Synthetic anisotropic EM volumes with exact synapse, cleft and partner ground truth.

The generator is the test bed and the training source of :mod:`nwbsyn.partners`: there is
no public EM volume with cleft and partner labels that can be reached offline.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from nwbsyn._shared import InputError, as_rng
from nwbsyn.partners._shapes import (
    Synapse,
    SynapsePlanter,
    find_contacts,
    grow_neurites,
    inplane_cross,
    ring_kernel,
)

__all__ = ["Synapse", "SimulatedVolume", "simulate_volume", "simulate_dataset", "paint_synapses"]



@dataclass(frozen=True)
class SimulatedVolume:
    """A simulated EM volume and its ground truth.

    ``raw`` is uint8 (z, y, x); ``neuron_ids`` is uint64 with 0 = extracellular space;
    ``clefts`` is uint64 with 0 = no cleft and one id per synapse (``Synapse.cleft_id``).
    Every cleft voxel belongs to its presynaptic segment or to one of its postsynaptic
    segments and lies within 2 voxels (in y or x) of both sides. Sections listed in
    ``missing_sections`` are blank in ``raw`` but keep their labels.
    """

    raw: np.ndarray
    neuron_ids: np.ndarray
    clefts: np.ndarray
    synapses: tuple[Synapse, ...]
    voxel_size_nm: tuple[float, float, float]
    missing_sections: tuple[int, ...] = ()
    params: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.raw.shape)

    def edges(self) -> np.ndarray:
        """(n_edges, 3) uint64 rows ``(cleft_id, pre_id, post_id)``, one per synaptic partner pair."""
        rows = [(s.cleft_id, s.pre_id, p) for s in self.synapses for p in s.post_ids]
        return np.asarray(rows, np.uint64).reshape(-1, 3)

    def partners(self) -> dict[int, tuple[int, tuple[int, ...]]]:
        """``{cleft_id: (pre_id, post_ids)}``."""
        return {s.cleft_id: (s.pre_id, s.post_ids) for s in self.synapses}


def _check(shape_zyx, voxel_size_nm, fractions: dict, max_partners: int) -> tuple:
    shape = tuple(int(s) for s in shape_zyx)
    if len(shape) != 3 or min(shape) < 4 or shape[1] < 32 or shape[2] < 32:
        raise InputError(f"shape_zyx={shape_zyx} is too small; pass three sizes, at least (4, 32, 32).")
    from nwbsyn.partners._checks import SIMULATE_VOXEL_LIMITS_NM, check_voxel_size

    vs = check_voxel_size(voxel_size_nm, name="voxel_size_nm", limits_nm=SIMULATE_VOXEL_LIMITS_NM,
                          hint="what the simulator models")
    for name, value in fractions.items():
        if not 0.0 <= value <= 1.0:
            raise InputError(f"{name}={value} must lie in [0, 1].")
    if max_partners < 2:
        raise InputError(f"max_partners={max_partners} must be at least 2 (one synapse, two partners).")
    return shape, vs


def _local_box(center, half, shape):
    c = np.round(center).astype(int)
    return tuple(slice(max(0, a - h), min(s, a + h + 1)) for a, h, s in zip(c, half, shape))


def _sample_vesicles(weights: np.ndarray, box, n: int, rng, vs, min_sep_nm: float = 42.0) -> np.ndarray:
    """Up to ``n`` vesicle centres drawn with probability ``weights`` in ``box``, at least
    ``min_sep_nm`` apart (vesicles do not overlap); voxel coordinates of the whole volume."""
    flat = weights.ravel()
    total = flat.sum()
    if total <= 0 or n <= 0:
        return np.zeros((0, 3), int)
    pick = rng.choice(flat.size, size=6 * n, p=flat / total)
    cand = np.stack(np.unravel_index(pick, weights.shape), 1)
    cand_nm = cand * np.asarray(vs)
    kept: list[int] = []
    for i in range(len(cand)):
        if len(kept) >= n:
            break
        if kept and np.min(np.sum((cand_nm[kept] - cand_nm[i]) ** 2, axis=1)) < min_sep_nm**2:
            continue
        kept.append(i)
    return cand[kept] + [s.start for s in box]


def _synapse_marks(syn: Synapse, labels, clefts, vs, rng, psd, pre_density, vesicles, n_vesicles):
    """Mark the postsynaptic density, presynaptic density and vesicle cloud of one synapse."""
    half = np.ceil(420.0 / np.asarray(vs)).astype(int)
    box = _local_box(syn.centroid_zyx, half, labels.shape)
    lab, cl = labels[box], clefts[box] == syn.cleft_id
    d_nm = ndimage.distance_transform_edt(~cl, sampling=vs)
    post = np.isin(lab, syn.post_ids)
    psd[box] |= post & ~cl & (d_nm <= 35.0)
    pre = lab == syn.pre_id
    pre_density[box] |= pre & ~cl & (d_nm <= 25.0)
    w = pre & (d_nm > 30.0) & (d_nm < 320.0) & _interior(lab, syn.pre_id, vs)
    vesicles.append(_sample_vesicles(w * np.exp(-d_nm / 140.0), box, n_vesicles, rng, vs))


def _interior(lab: np.ndarray, label: int, vs, margin_nm: float = 22.0) -> np.ndarray:
    """Voxels of ``label`` at least ``margin_nm`` (in-plane) from its membrane."""
    return ndimage.distance_transform_edt(lab == label, sampling=(1e6, vs[1], vs[2])) > margin_nm


def _mitochondria(labels, vs, n, rng, is_axon):
    """``n`` ellipsoids (random orientation), each inside one neurite; returns (mask, cristae phase)."""
    mask = np.zeros(labels.shape, bool)
    phase = np.zeros(labels.shape, np.float32)
    ids = np.flatnonzero(~is_axon[1:]) + 1
    ids = ids[np.isin(ids, np.unique(labels))]
    if len(ids) == 0 or n == 0:
        return mask, phase
    placed = 0
    for _ in range(20 * n):
        if placed >= n:
            break
        label = rng.choice(ids)
        where = np.flatnonzero(labels.ravel()[:: 97] == label) * 97
        if len(where) == 0:
            continue
        center = np.array(np.unravel_index(rng.choice(where), labels.shape))
        axes_nm = np.array([rng.uniform(180.0, 420.0), rng.uniform(55.0, 95.0), rng.uniform(55.0, 95.0)])
        rot, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        half = np.ceil(axes_nm.max() / np.asarray(vs)).astype(int) + 1
        box = _local_box(center, half, labels.shape)
        grid = np.stack(np.meshgrid(*[np.arange(s.start, s.stop) for s in box], indexing="ij"), -1)
        local = ((grid - center) * vs) @ rot  # coordinates along the ellipsoid axes, nm
        inside = ((local / axes_nm) ** 2).sum(-1) <= 1.0
        inside &= _interior(labels[box], label, vs, 20.0) & ~mask[box]
        if inside.sum() < 30:
            continue
        mask[box] |= inside
        phase[box] = np.where(inside, local[..., 0], phase[box])
        placed += 1
    return mask, phase


def _membranes(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """In-plane boundaries (2 px wide: both sides) and boundaries between sections."""
    inplane = np.zeros(labels.shape, bool)
    for axis in (1, 2):
        d = np.diff(labels, axis=axis) != 0
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis], hi[axis] = slice(0, -1), slice(1, None)
        inplane[tuple(lo)] |= d
        inplane[tuple(hi)] |= d
    across = np.zeros(labels.shape, bool)
    d = np.diff(labels, axis=0) != 0
    across[:-1] |= d
    across[1:] |= d
    return inplane, across


BAND_NM = 8.0  # membranes, clefts and mitochondrial edges are drawn this far from a boundary, each side


def _band(edge: np.ndarray, vs, inside=None) -> np.ndarray:
    """Darkness weight of a band ``BAND_NM`` wide on each side of a boundary, at any pixel size.

    ``edge`` marks the pixels next to the boundary (the generator's one-pixel-a-side masks). Ring
    ``k`` around it (in-plane; ``k = 0`` is ``edge`` itself) covers ``clip(BAND_NM / pixel - k, 0, 1)``
    of a pixel, so the band is 16 nm wide at every resolution, as in an image of it: at 8 nm
    exactly the one-pixel masks (the training volumes are unchanged), at 4 nm two pixels a side,
    at 16 nm each edge pixel half dark. ``inside`` restricts the rings (a mitochondrion's interior).
    """
    px = float(min(vs[1], vs[2]))
    reach = BAND_NM / px
    if reach == 1.0:
        return edge
    out = np.minimum(reach, 1.0) * edge.astype(np.float64)
    grown = edge
    for k in range(1, int(np.ceil(reach))):
        ring = ndimage.binary_dilation(grown, structure=inplane_cross(1)) & ~grown
        if inside is not None:
            ring &= inside
        out += float(np.clip(reach - k, 0.0, 1.0)) * ring
        grown = grown | ring
    return out


def _render(labels, brightness, vs, *, clefts, psd, pre_density, mito, mito_phase, vesicle_pos,
            vesicle_contrast, psd_asymmetry, rng) -> np.ndarray:
    """Grey levels in [0, 1] before section artefacts and noise."""
    img = np.where(labels > 0, brightness[np.minimum(labels, len(brightness) - 1).astype(np.intp)], 0.8)
    img = img.astype(np.float32)
    grain = ndimage.gaussian_filter(rng.normal(size=labels.shape).astype(np.float32),
                                    sigma=(0.3, 14.0 / vs[1], 14.0 / vs[2]))
    img += 0.06 * grain / (grain.std() + 1e-6)
    inplane, across = _membranes(labels)
    band = _band(inplane, vs)
    img -= 0.42 * band + 0.12 * (across & ~inplane)
    stripes = 0.5 + 0.5 * np.cos(2 * np.pi * mito_phase / 55.0)
    img = np.where(mito, 0.46 - 0.12 * stripes, img)
    mito_edge = mito & ~ndimage.binary_erosion(mito, structure=inplane_cross(1))
    img -= 0.18 * _band(mito_edge, vs, inside=mito)
    if len(vesicle_pos):
        img -= 0.5 * vesicle_contrast * _vesicle_rings(labels.shape, vesicle_pos, vs, rng)
    img -= 0.2 * _band(clefts > 0, vs)
    img -= 0.32 * psd + 0.32 * (1.0 - psd_asymmetry) * pre_density
    return img


def _vesicle_rings(shape, pos, vs, rng) -> np.ndarray:
    """Dark rings of 35-45 nm outer diameter, one per vesicle, drawn in its own section."""
    rings = np.zeros(shape, np.float32)
    diam_nm = rng.uniform(35.0, 45.0, len(pos))
    for lo, hi in ((35.0, 38.4), (38.4, 41.7), (41.7, 45.1)):
        sel = pos[(diam_nm >= lo) & (diam_nm < hi)]
        if not len(sel):
            continue
        # ring through the membrane centre (2.5 nm inside the outer edge), 5 nm membrane blurred by a pixel
        k = ring_kernel((0.5 * (lo + hi) / 2 - 2.5) / vs[1], max(0.45, 4.0 / vs[1]))[0]
        h = k.shape[0] // 2
        dy, dx = np.mgrid[-h : h + 1, -h : h + 1]
        z = np.repeat(sel[:, 0], k.size)
        y = (sel[:, 1:2] + dy.ravel()).ravel()
        x = (sel[:, 2:3] + dx.ravel()).ravel()
        ok = (y >= 0) & (y < shape[1]) & (x >= 0) & (x < shape[2])
        np.add.at(rings, (z[ok], y[ok], x[ok]), np.tile(k.ravel(), len(sel))[ok])
    return np.minimum(rings, 1.0)


def _artefacts(img, vs, *, noise_sd, missing_section_rate, brightness_jitter, blur_section_rate, rng):
    """Blur, section-wise brightness/contrast shifts and blurred or missing sections; uint8 out."""
    img = ndimage.gaussian_filter(img, sigma=(0.0, 5.0 / vs[1], 5.0 / vs[2]))
    nz = img.shape[0]
    for z in np.flatnonzero(rng.random(nz) < blur_section_rate):
        img[z] = ndimage.gaussian_filter(img[z], sigma=rng.uniform(1.5, 3.0))
    gain = 1.0 + rng.normal(0.0, 2 * brightness_jitter, nz)
    shift = rng.normal(0.0, brightness_jitter, nz)
    img = (img - 0.6) * gain[:, None, None] + 0.6 + shift[:, None, None]
    raw = img * 255.0 + rng.normal(0.0, noise_sd, img.shape).astype(np.float32)
    missing = np.flatnonzero(rng.random(nz) < missing_section_rate)
    raw[missing] = 0.0
    return np.clip(np.round(raw), 0, 255).astype(np.uint8), tuple(int(z) for z in missing)


def simulate_volume(
    *,
    shape_zyx: tuple[int, int, int] = (32, 256, 256),
    voxel_size_nm: tuple[float, float, float] = (40.0, 8.0, 8.0),
    n_neurites: int | None = None,
    n_synapses: int | None = None,
    polyadic_fraction: float = 0.3,
    max_partners: int = 5,
    n_distractors: int | None = None,
    vesicle_contrast: float = 1.0,
    psd_asymmetry: float = 0.8,
    noise_sd: float = 10.0,
    missing_section_rate: float = 0.02,
    brightness_jitter: float = 0.04,
    blur_section_rate: float = 0.05,
    axon_fraction: float = 0.6,
    rng: int | np.random.Generator | None = None,
) -> SimulatedVolume:
    """Simulate an anisotropic EM volume of neuropil with synapses and exact ground truth.

    Neurites are random smooth tubes (axons with boutons, dendrites with spines) packed
    densely enough to touch; their boundaries are dark membranes and their cytoplasm is
    textured. Synapses are planted on contacts: a thin cleft on the contact surface, a
    presynaptic vesicle cloud and a postsynaptic density. Polyadic synapses have one
    presynaptic and 2 to ``max_partners`` postsynaptic segments. Distractors: mitochondria,
    vesicle clouds without a cleft, and the many touching pairs that carry no synapse.

    Parameters
    ----------
    shape_zyx : tuple of int, default: (32, 256, 256)
    voxel_size_nm : tuple of float, default: (40, 8, 8)
        Section thickness and pixel size in nm, (z, y, x).
    n_neurites, n_synapses, n_distractors : int, optional
        ``n_neurites`` defaults to 4.1 per square micrometre of the box surface
        (dense packing, about 120 for the default shape); the others to 4 per cubic
        micrometre. ``n_synapses`` is a target: fewer are planted when the contacts run
        out (see ``len(result.synapses)``).
        Half of the distractors are mitochondria, half vesicle clouds without a cleft.
    polyadic_fraction : float, default: 0.3
        Fraction of synapses drawn as polyadic (2 to ``max_partners`` partners); one
        falls back to dyadic where the contact has only one partner nearby.
    vesicle_contrast : float, default: 1.0
        Darkness of presynaptic vesicles (0 = invisible); a difficulty knob.
    psd_asymmetry : float, default: 0.8
        1 = density on the postsynaptic side only, 0 = as dark on both sides.
    noise_sd : float, default: 10.0
        Gaussian noise, in grey levels (0-255).
    missing_section_rate, blur_section_rate : float
        Probability that a section is blank (0) or strongly blurred.
    brightness_jitter : float, default: 0.04
        SD of the per-section brightness shift (fraction of full scale; contrast SD is twice it).
    axon_fraction : float, default: 0.6
        Fraction of neurites that are thin axons with boutons (the rest are dendrites with spines).
    rng : int, Generator or None

    Returns
    -------
    SimulatedVolume

    Examples
    --------
    >>> from nwbsyn.partners import simulate_volume
    >>> vol = simulate_volume(shape_zyx=(16, 128, 128), rng=0)
    >>> vol.raw.dtype, vol.clefts.shape
    (dtype('uint8'), (16, 128, 128))
    >>> all(s.cleft_id in vol.clefts for s in vol.synapses)
    True
    """
    shape, vs = _check(shape_zyx, voxel_size_nm, {
        "polyadic_fraction": polyadic_fraction, "vesicle_contrast": vesicle_contrast,
        "psd_asymmetry": psd_asymmetry, "missing_section_rate": missing_section_rate,
        "blur_section_rate": blur_section_rate, "axon_fraction": axon_fraction}, max_partners)
    if noise_sd < 0 or brightness_jitter < 0:
        raise InputError(f"noise_sd={noise_sd} and brightness_jitter={brightness_jitter} must be >= 0.")
    rng = as_rng(rng)
    volume_um3 = float(np.prod(np.asarray(shape) * vs)) / 1e9
    # tubes are longer than the box, so the count that packs it scales with its (padded) surface
    ext_um = np.asarray(shape) * vs / 1000.0 + 0.44
    surface_um2 = 2 * (ext_um[0] * ext_um[1] + ext_um[0] * ext_um[2] + ext_um[1] * ext_um[2])
    n_neurites = max(4, round(4.1 * surface_um2)) if n_neurites is None else int(n_neurites)
    n_synapses = round(4 * volume_um3) if n_synapses is None else int(n_synapses)
    n_distractors = round(4 * volume_um3) if n_distractors is None else int(n_distractors)
    neur = grow_neurites(shape, vs, n_neurites=n_neurites, axon_fraction=axon_fraction, rng=rng)
    labels = neur.labels
    planter = SynapsePlanter(labels, find_contacts(labels), vs, rng)
    synapses = _plant_all(planter, neur.is_axon, n_synapses, polyadic_fraction, max_partners, rng)

    psd = np.zeros(shape, bool)
    pre_density = np.zeros(shape, bool)
    vesicles: list[np.ndarray] = []
    for syn in synapses:
        _synapse_marks(syn, labels, planter.clefts, vs, rng, psd, pre_density, vesicles,
                       int(rng.integers(80, 200)))
    n_clouds = n_distractors - n_distractors // 2
    clouds = _distractor_clouds(planter, labels, vs, n_clouds, rng, vesicles)
    mito, phase = _mitochondria(labels, vs, n_distractors // 2, rng, neur.is_axon)
    vesicle_pos = np.concatenate(vesicles) if vesicles else np.zeros((0, 3), int)
    img = _render(labels, neur.brightness, vs, clefts=planter.clefts, psd=psd, pre_density=pre_density,
                  mito=mito, mito_phase=phase, vesicle_pos=vesicle_pos, vesicle_contrast=vesicle_contrast,
                  psd_asymmetry=psd_asymmetry, rng=rng)
    raw, missing = _artefacts(img, vs, noise_sd=noise_sd, missing_section_rate=missing_section_rate,
                              brightness_jitter=brightness_jitter, blur_section_rate=blur_section_rate, rng=rng)
    syn_pairs = {(min(s.pre_id, b), max(s.pre_id, b)) for s in synapses for b in s.post_ids}
    n_pairs = len(planter.pairs)
    params = dict(
        n_neurites=n_neurites, n_synapses_requested=n_synapses, polyadic_fraction=polyadic_fraction,
        max_partners=max_partners, n_distractors=n_distractors, vesicle_contrast=vesicle_contrast,
        psd_asymmetry=psd_asymmetry, noise_sd=noise_sd, missing_section_rate=missing_section_rate,
        brightness_jitter=brightness_jitter, blur_section_rate=blur_section_rate, axon_fraction=axon_fraction,
        n_mitochondria=int(ndimage.label(mito)[1]), n_vesicle_clouds_without_cleft=clouds,
        n_touching_pairs=n_pairs, n_touching_pairs_without_synapse=n_pairs - len(syn_pairs),
    )
    return SimulatedVolume(raw=raw, neuron_ids=labels, clefts=planter.clefts, synapses=tuple(synapses),
                           voxel_size_nm=vs, missing_sections=missing, params=params)


def simulate_dataset(
    n_volumes: int,
    *,
    rng: int | np.random.Generator | None = None,
    progress_bar: bool = False,
    **options,
) -> tuple[SimulatedVolume, ...]:
    """Simulate ``n_volumes`` independent volumes (a training or validation set).

    Each volume gets its own random stream spawned from ``rng``, so volume ``k`` does not
    depend on how many volumes are drawn after it.

    Parameters
    ----------
    n_volumes : int
        Number of volumes, at least 1.
    rng : int, Generator or None
        Seed of the whole set.
    progress_bar : bool, default: False
    **options
        Passed to :func:`simulate_volume` (``shape_zyx``, ``n_synapses``, ...).

    Returns
    -------
    tuple of SimulatedVolume

    Examples
    --------
    >>> from nwbsyn.partners import simulate_dataset
    >>> vols = simulate_dataset(2, shape_zyx=(8, 64, 64), n_synapses=1, rng=0)
    >>> len(vols), vols[0].raw.shape
    (2, (8, 64, 64))
    """
    from tqdm.auto import tqdm

    if int(n_volumes) != n_volumes or n_volumes < 1:
        raise InputError(f"n_volumes={n_volumes} must be a positive integer.")
    if "rng" in options:
        raise InputError("pass rng once, as simulate_dataset(..., rng=seed).")
    if isinstance(rng, np.random.Generator):  # advance the caller's generator: a second call differs
        rng = int(rng.integers(0, 2**63))
    seeds = np.random.SeedSequence(rng).spawn(int(n_volumes))
    return tuple(simulate_volume(rng=np.random.default_rng(s), **options)
                 for s in tqdm(seeds, desc="simulate_dataset", unit="volume", disable=not progress_bar))


def paint_synapses(raw, neuron_ids, *, voxel_size_nm, n_synapses: int = 20, polyadic_fraction: float = 0.3,
                   max_partners: int = 4, rng=None) -> SimulatedVolume:
    """Paint synthetic synapses onto the real contacts of a real EM volume (a benchmark with known truth).

    Clefts, postsynaptic densities and presynaptic vesicle clouds are drawn the way
    :func:`simulate_volume` draws them, on contacts between segments of ``neuron_ids``,
    darkening the real image; the rest of the image is untouched.

    Example
    -------
    >>> from nwbsyn.partners import simulate_volume, paint_synapses
    >>> base = simulate_volume(shape_zyx=(8, 96, 96), n_synapses=0, rng=0)
    >>> painted = paint_synapses(base.raw, base.neuron_ids, voxel_size_nm=(40, 8, 8), n_synapses=2, rng=1)
    >>> len(painted.synapses) > 0
    True
    """
    rng = as_rng(rng)
    raw, labels = np.asarray(raw), np.asarray(neuron_ids).astype(np.uint64)
    if raw.shape != labels.shape or raw.ndim != 3:
        raise InputError(f"raw {raw.shape} and neuron_ids {labels.shape} must be 3-D volumes of the same shape.")
    vs = np.asarray(voxel_size_nm, float)
    planter = SynapsePlanter(labels, find_contacts(labels), vs, rng)
    is_axon = np.ones(int(labels.max()) + 1, bool)
    synapses = _plant_all(planter, is_axon, n_synapses, polyadic_fraction, max_partners, rng)
    psd, pre_density, vesicles = np.zeros(raw.shape, bool), np.zeros(raw.shape, bool), []
    for syn in synapses:
        _synapse_marks(syn, labels, planter.clefts, vs, rng, psd, pre_density, vesicles, int(rng.integers(80, 200)))
    dark = 0.2 * _band(planter.clefts > 0, vs) + 0.32 * psd + 0.06 * pre_density
    if vesicles:
        dark = dark + 0.5 * _vesicle_rings(raw.shape, np.concatenate(vesicles), vs, rng)
    dark = ndimage.gaussian_filter(dark.astype(np.float32), sigma=(0.0, 5.0 / vs[1], 5.0 / vs[2]))
    painted = np.clip(np.round(raw.astype(np.float32) * (1.0 - np.minimum(dark, 0.9))), 0, 255).astype(np.uint8)
    return SimulatedVolume(raw=painted, neuron_ids=labels, clefts=planter.clefts, synapses=tuple(synapses),
                           voxel_size_nm=tuple(float(v) for v in vs), params=dict(painted=True))


def _plant_all(planter: SynapsePlanter, is_axon, n_synapses, polyadic_fraction, max_partners, rng) -> list:
    present = planter.ids
    axons = present[is_axon[present.astype(np.intp)]]
    synapses: list[Synapse] = []
    failures = 0
    while len(synapses) < n_synapses and failures < 30 + 5 * n_synapses:
        polyadic = rng.random() < polyadic_fraction
        n_post = int(rng.integers(2, max_partners + 1)) if polyadic else 1
        radius_nm = rng.uniform(200.0, 300.0) if polyadic else rng.uniform(120.0, 220.0)
        pool = axons if len(axons) and rng.random() < 0.8 else present
        found = planter.random_site(pool, min_sep_nm=500.0)
        syn = None
        if found is not None:
            syn = planter.plant(len(synapses) + 1, *found, n_post, radius_nm)
            if syn is not None and polyadic and not syn.is_polyadic and failures < 20 + 5 * n_synapses:
                planter.clefts[planter.clefts == syn.cleft_id] = 0  # try again for a polyadic site
                planter.sites_nm.pop()
                syn = None
        if syn is None:
            failures += 1
        else:
            synapses.append(syn)
    return synapses


def _distractor_clouds(planter: SynapsePlanter, labels, vs, n, rng, vesicles) -> int:
    """Vesicle clouds at contacts that carry no cleft; returns how many were placed."""
    placed = 0
    for _ in range(10 * n):
        if placed >= n:
            break
        found = planter.random_site(planter.ids, min_sep_nm=450.0)
        if found is None:
            break
        label, j, site_nm = found
        planter.sites_nm.append(site_nm)
        half = np.ceil(350.0 / np.asarray(vs)).astype(int)
        box = _local_box(planter.pos[j], half, labels.shape)
        grid = np.stack(np.meshgrid(*[np.arange(s.start, s.stop) for s in box], indexing="ij"), -1)
        d_nm = np.linalg.norm(grid * vs - site_nm, axis=-1)
        w = (labels[box] == label) & (d_nm < 300.0) & _interior(labels[box], label, vs)
        vesicles.append(_sample_vesicles(w * np.exp(-d_nm / 150.0), box, int(rng.integers(30, 90)), rng, vs))
        placed += 1
    return placed
