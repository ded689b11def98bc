"""Read and write CREMI-format HDF5 files (cremi.org): EM volume, labels and synaptic partner annotations.

Layout::

    /volumes/raw                              uint8 (z, y, x), attr resolution (z, y, x) nm
    /volumes/labels/neuron_ids                uint64 (z, y, x), attr resolution
    /volumes/labels/clefts                    uint64 (z, y, x), attr resolution; max uint64 = no cleft
    /annotations/ids                          uint64 (n,)
    /annotations/types                        bytes (n,): "presynaptic_site" | "postsynaptic_site"
    /annotations/locations                    float (n, 3) nm (z, y, x); attr offset on /annotations
    /annotations/presynaptic_site/partners    uint64 (m, 2): (pre annotation id, post annotation id)

In memory, clefts use 0 = no cleft (as :class:`~nwbsyn.partners.SimulatedVolume`);
:func:`read_cremi` and :func:`write_cremi` convert the CREMI background value
(``2**64 - 1``) to and from 0. Cleft id 0 therefore cannot be written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nwbsyn._shared import InputError

__all__ = ["CremiAnnotations", "CremiVolume", "read_cremi", "write_cremi", "cremi_from_simulated",
           "cremi_synapses", "is_cremi", "is_cremi_input", "check_em_input", "check_cremi_layout",
           "nwbfile_from_cremi_file", "CREMI_NO_CLEFT"]

CREMI_NO_CLEFT = np.uint64(np.iinfo(np.uint64).max)
PRE, POST = "presynaptic_site", "postsynaptic_site"


@dataclass(frozen=True)
class CremiAnnotations:
    """Synaptic site annotations: one row per site; ``partners`` pairs site ids (pre, post)."""

    ids: np.ndarray  # (n,) uint64
    types: tuple[str, ...]  # PRE or POST per id
    locations_nm: np.ndarray  # (n, 3) float, (z, y, x)
    partners: np.ndarray  # (m, 2) uint64 annotation ids (pre, post)
    offset_nm: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def __len__(self) -> int:
        return len(self.ids)

    def segment_partners(self, neuron_ids, resolution_nm) -> np.ndarray:
        """(m, 2) uint64 segment ids (pre, post) under each partner pair's site locations."""
        where = {int(i): k for k, i in enumerate(self.ids)}
        res = np.asarray(resolution_nm, float)
        out = np.zeros((len(self.partners), 2), np.uint64)
        for row, pair in enumerate(self.partners):
            for col, site in enumerate(pair):
                if int(site) not in where:
                    raise InputError(f"partner site id {int(site)} is not in /annotations/ids; fix the file.")
                loc = (self.locations_nm[where[int(site)]] + self.offset_nm) / res
                idx = tuple(int(np.clip(np.floor(v), 0, s - 1)) for v, s in zip(loc, neuron_ids.shape))
                out[row, col] = neuron_ids[idx]
        return out


def _empty_annotations() -> CremiAnnotations:
    return CremiAnnotations(ids=np.zeros(0, np.uint64), types=(), locations_nm=np.zeros((0, 3)),
                            partners=np.zeros((0, 2), np.uint64))


@dataclass(frozen=True)
class CremiVolume:
    """A CREMI volume. With ``lazy=True`` the arrays are read-on-slice views; call :meth:`close`."""

    raw: object  # ndarray or h5py.Dataset, uint8 (z, y, x)
    neuron_ids: object | None
    clefts: object | None  # 0 = no cleft
    resolution_nm: tuple[float, float, float]
    annotations: CremiAnnotations = field(default_factory=_empty_annotations)
    synapses: tuple = ()  # per-cleft table derived by cremi_synapses (filled by read_cremi, lazy=False)
    _file: object | None = field(default=None, repr=False, compare=False)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _LazyClefts:
    """A read-on-slice view of a CREMI cleft dataset that maps ``2**64 - 1`` to 0."""

    def __init__(self, dataset):
        self._d = dataset
        self.shape, self.dtype, self.ndim = dataset.shape, np.dtype(np.uint64), dataset.ndim

    def __getitem__(self, key):
        return _clefts_from_cremi(np.asarray(self._d[key]))

    def __array__(self, dtype=None, copy=None):
        out = self[...]
        return out if dtype is None else out.astype(dtype)


def _clefts_from_cremi(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a).astype(np.uint64, copy=True)
    a[a == CREMI_NO_CLEFT] = 0
    return a


def _labels(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype.kind == "i" and a.size and a.min() < 0:
        raise InputError("neuron_ids holds negative ids; CREMI segment ids are unsigned, relabel them.")
    return a.astype(np.uint64, copy=False)


def read_cremi(path: str | Path, *, lazy: bool = False) -> CremiVolume:
    """Read a CREMI HDF5 file.

    Parameters
    ----------
    path : str or Path
    lazy : bool, default: False
        Keep the file open and return views that read only the slices asked for
        (``neuron_ids`` is then the raw h5py dataset, in the file's dtype).

    Returns
    -------
    CremiVolume
        ``clefts`` uses 0 = no cleft; ``neuron_ids``/``clefts`` are None when absent.

    Examples
    --------
    >>> import os, tempfile
    >>> from nwbsyn.partners import simulate_volume
    >>> sim = simulate_volume(shape_zyx=(8, 64, 64), n_synapses=2, rng=0)
    >>> vol = read_cremi(write_cremi(os.path.join(tempfile.mkdtemp(), "sample_A.hdf"), sim))
    >>> vol.raw.shape, vol.resolution_nm
    ((8, 64, 64), (40.0, 8.0, 8.0))
    >>> bool((vol.clefts == sim.clefts).all() and (vol.neuron_ids == sim.neuron_ids).all())
    True
    """
    import h5py

    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a folder; pass a CREMI .hdf/.h5 file.")
    if path.exists() and not path.is_file():
        raise InputError(f"{path} is not a regular file (a pipe or a device); pass a CREMI .hdf/.h5 file.")
    if not path.is_file():
        raise InputError(f"CREMI file {str(path)!r} does not exist; check the path.")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise InputError(f"{str(path)!r} is not an HDF5 file; pass a CREMI .hdf/.h5 file.") from err
    try:
        vol = _read_open(f, path, lazy)
    except BaseException:
        f.close()
        raise
    if not lazy:
        f.close()
    return vol


def is_cremi(path) -> bool:
    """True for an HDF5 file in the CREMI layout (a ``/volumes`` group, no NWB version): cheap, reads no data."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return "volumes" in f and "nwb_version" not in f.attrs
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _dataset(f, key: str, path: Path, *, required: bool = False):
    """The dataset at ``key`` (None when absent and not required); a group or broken link there is refused."""
    import h5py

    try:
        obj = f.get(key)
    except (KeyError, OSError, ValueError, TypeError) as err:
        raise InputError(f"/{key} in {path} cannot be read ({_reason(err)}); the file may be damaged.") from None
    if obj is None:
        if required:
            raise InputError(f"{path} has no /{key} dataset; it is not a CREMI volume file.")
        return None
    if not isinstance(obj, h5py.Dataset):
        raise InputError(f"/{key} in {path} is a group, not a dataset; a CREMI volume needs a (z, y, x) dataset "
                         "there.")
    return obj


def _reason(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0][:120] if lines else type(err).__name__


def _read_array(d, key: str, path: Path) -> np.ndarray:
    try:
        return np.asarray(d[...])
    except (OSError, ValueError, TypeError, RuntimeError) as err:
        raise InputError(f"/{key} in {path} cannot be read ({_reason(err)}); the file may be truncated or "
                         "damaged.") from None


def _read_open(f, path: Path, lazy: bool) -> CremiVolume:
    from nwbsyn.partners._checks import (ASSIGN_BYTES_PER_VOXEL, check_image_dtype, check_image_values,
                                         check_label_dtype, check_label_values, check_memory, check_volume_shape,
                                         check_voxel_size)

    raw = _dataset(f, "volumes/raw", path, required=True)
    shape = check_volume_shape(raw.shape, name=f"/volumes/raw in {path}")
    check_image_dtype(raw.dtype, name=f"/volumes/raw in {path}")
    if "resolution" not in raw.attrs:
        raise InputError(f"/volumes/raw in {path} has no 'resolution' attribute; add it in nm (z, y, x).")
    try:
        resolution = raw.attrs["resolution"]
    except (OSError, TypeError, ValueError) as err:
        raise InputError(f"the resolution of /volumes/raw in {path} cannot be read ({_reason(err)}).") from None
    res = check_voxel_size(resolution, name=f"the resolution of /volumes/raw in {path}")
    labels = {}
    for name in ("neuron_ids", "clefts"):
        key = f"volumes/labels/{name}"
        d = _dataset(f, key, path)
        if d is not None and tuple(d.shape) != shape:
            raise InputError(f"/{key} {tuple(d.shape)} and /volumes/raw {shape} differ in shape in {path}; they "
                             "must match voxel for voxel.")
        if d is not None:
            check_label_dtype(d.dtype, name=f"/{key} in {path}")
        labels[name] = d
    ann = _read_annotations(f, path)
    if lazy:
        cl = labels["clefts"]
        return CremiVolume(raw=raw, neuron_ids=labels["neuron_ids"], clefts=None if cl is None else _LazyClefts(cl),
                           resolution_nm=res, annotations=ann, _file=f)
    check_memory(float(np.prod(shape, dtype=float)) * ASSIGN_BYTES_PER_VOXEL,
                 what=f"The CREMI volume {path} ({' x '.join(map(str, shape))} voxels)",
                 fix="crop it, or use a machine with more memory")
    image = _read_array(raw, "volumes/raw", path)
    check_image_values(image, name=f"/volumes/raw in {path}")
    arrays = {}
    for name, d in labels.items():
        if d is not None:
            arrays[name] = _read_array(d, f"volumes/labels/{name}", path)
            check_label_values(arrays[name] if name == "neuron_ids" else _cremi_signed(arrays[name]),
                               name=f"/volumes/labels/{name} in {path}")
    nid, cl = arrays.get("neuron_ids"), arrays.get("clefts")
    vol = CremiVolume(raw=image.astype(np.uint8, copy=False), neuron_ids=None if nid is None else _labels(nid),
                      clefts=None if cl is None else _clefts_from_cremi(cl), resolution_nm=res, annotations=ann)
    if vol.clefts is None or vol.neuron_ids is None or not len(ann.partners):
        return vol
    return CremiVolume(raw=vol.raw, neuron_ids=vol.neuron_ids, clefts=vol.clefts, resolution_nm=res,
                       annotations=ann, synapses=cremi_synapses(vol))


def _cremi_signed(a: np.ndarray) -> np.ndarray:
    """Signed cleft ids with -1 as the CREMI background (a signed copy of max uint64) are fine; others are not."""
    return a[a != -1] if a.dtype.kind == "i" else a


def _read_annotations(f, path: Path) -> CremiAnnotations:
    import h5py

    if "annotations" not in f:
        return _empty_annotations()
    g = f["annotations"]
    if not isinstance(g, h5py.Group):
        raise InputError(f"/annotations in {path} is a dataset, not a group; a CREMI annotation group holds ids, "
                         "types and locations.")
    missing = [k for k in ("ids", "types", "locations") if k not in g]
    if missing:
        raise InputError(f"/annotations in {path} lacks {', '.join(missing)}; "
                         "a CREMI annotation group needs ids, types and locations.")
    try:
        ann = _parse_annotations(g)
    except (TypeError, ValueError, KeyError, AttributeError, OSError, UnicodeDecodeError) as err:
        raise InputError(f"/annotations in {path} is malformed ({_reason(err)}); it needs ids (uint64), types "
                         "(strings), locations (n x 3 nm) and presynaptic_site/partners (m x 2 ids).") from None
    if not len(ann.ids) == len(ann.types) == len(ann.locations_nm):
        raise InputError(f"/annotations in {path}: ids, types and locations differ in length.")
    if not np.all(np.isfinite(ann.locations_nm)) or not np.all(np.isfinite(ann.offset_nm)):
        raise InputError(f"/annotations in {path} holds locations that are not finite numbers; fix the file.")
    return ann


def _parse_annotations(g) -> CremiAnnotations:
    ids = np.asarray(g["ids"][...])
    if ids.dtype.kind not in "ui" or (ids.dtype.kind == "i" and ids.size and ids.min() < 0):
        raise ValueError("ids must be non-negative integers")
    loc = np.asarray(g["locations"][...], float)
    if loc.size % 3:
        raise ValueError(f"locations hold {loc.size} numbers, not n x 3")
    types = tuple(t.decode() if isinstance(t, bytes) else str(t) for t in np.asarray(g["types"][...]).ravel())
    key = "presynaptic_site/partners"
    partners = np.zeros((0, 2), np.uint64)
    if key in g:
        pairs = np.asarray(g[key][...])
        negative = pairs.dtype.kind == "i" and pairs.size and pairs.min() < 0
        if pairs.dtype.kind not in "ui" or pairs.size % 2 or negative:
            raise ValueError("partners must be m x 2 non-negative site ids")
        partners = pairs.astype(np.uint64).reshape(-1, 2)
    offset = np.asarray(g.attrs.get("offset", (0.0, 0.0, 0.0)), float).ravel()
    if offset.shape != (3,):
        raise ValueError(f"the offset holds {offset.size} values, not 3")
    return CremiAnnotations(ids=ids.astype(np.uint64).ravel(), types=types, locations_nm=loc.reshape(-1, 3),
                            partners=partners, offset_nm=tuple(float(v) for v in offset))


def write_cremi(path: str | Path, volume, *, compression: str | None = "gzip") -> Path:
    """Write a :class:`CremiVolume` (or a :class:`~nwbsyn.partners.SimulatedVolume`) as CREMI HDF5.

    An existing file is replaced (write to a temporary path and rename it for an atomic write, as
    ``nwbsyn partners simulate`` does). Cleft 0 (no cleft) is written as ``2**64 - 1``.

    Examples
    --------
    >>> import os, tempfile
    >>> import h5py
    >>> from nwbsyn.partners import simulate_volume
    >>> path = write_cremi(os.path.join(tempfile.mkdtemp(), "vol.hdf"), simulate_volume(shape_zyx=(8, 64, 64), rng=0))
    >>> with h5py.File(path, "r") as f:
    ...     print(f["volumes/raw"].shape, f["volumes/raw"].attrs["resolution"].tolist())
    ...     print(int(f["volumes/labels/clefts"][0, 0, 0]) == 2**64 - 1)   # no cleft
    (8, 64, 64) [40.0, 8.0, 8.0]
    True
    """
    import h5py

    if not isinstance(volume, CremiVolume):
        volume = cremi_from_simulated(volume)
    raw = np.asarray(volume.raw)
    if raw.ndim != 3:
        raise InputError(f"raw has shape {raw.shape}; a (z, y, x) volume is needed.")
    from nwbsyn.partners._checks import check_voxel_size

    res = np.asarray(check_voxel_size(volume.resolution_nm, name="the resolution"), float)
    arrays = {"volumes/raw": raw.astype(np.uint8, copy=False)}
    if volume.neuron_ids is not None:
        arrays["volumes/labels/neuron_ids"] = _labels(volume.neuron_ids)
    if volume.clefts is not None:
        cl = np.asarray(volume.clefts).astype(np.uint64, copy=True)
        cl[cl == 0] = CREMI_NO_CLEFT
        arrays["volumes/labels/clefts"] = cl
    for key, a in arrays.items():
        if a.shape != raw.shape:
            raise InputError(f"{key} {a.shape} and raw {raw.shape} must have the same shape.")
    path = Path(path)
    with h5py.File(path, "w") as f:
        for key, a in arrays.items():
            d = f.create_dataset(key, data=a, compression=compression)
            d.attrs["resolution"] = res
        ann = volume.annotations
        g = f.create_group("annotations")
        g.attrs["offset"] = np.asarray(ann.offset_nm, float)
        g.create_dataset("ids", data=np.asarray(ann.ids, np.uint64))
        g.create_dataset("types", data=np.asarray([t.encode() for t in ann.types], dtype="S17"))
        g.create_dataset("locations", data=np.asarray(ann.locations_nm, np.float32).reshape(-1, 3))
        g.create_dataset("presynaptic_site/partners", data=np.asarray(ann.partners, np.uint64).reshape(-1, 2))
        g.create_dataset("comments/target_ids", data=np.zeros(0, np.uint64))
        g.create_dataset("comments/comments", data=np.zeros(0, "S1"))
    return path


def cremi_from_simulated(sim) -> CremiVolume:
    """CREMI annotations for a :class:`~nwbsyn.partners.SimulatedVolume`.

    Each synapse gets one presynaptic site (the cleft voxel of the presynaptic segment
    nearest the cleft centroid) and one postsynaptic site per partner, likewise; site
    locations are voxel centres in nm, so they fall inside their segments.
    """
    vs = np.asarray(sim.voxel_size_nm, float)
    ids, types, locs, partners = [], [], [], []
    for syn in sim.synapses:
        where = np.argwhere(sim.clefts == syn.cleft_id)
        seg = sim.neuron_ids[tuple(where.T)]
        d = np.linalg.norm((where - np.asarray(syn.centroid_zyx)) * vs, axis=1)

        def site(label, kind, seg=seg, where=where, d=d):
            k = np.flatnonzero(seg == label)
            ids.append(len(ids) + 1)
            types.append(kind)
            locs.append((where[k[np.argmin(d[k])]] + 0.5) * vs)
            return ids[-1]

        pre = site(syn.pre_id, PRE)
        partners += [(pre, site(post, POST)) for post in syn.post_ids]
    ann = CremiAnnotations(ids=np.asarray(ids, np.uint64), types=tuple(types),
                           locations_nm=np.asarray(locs, float).reshape(-1, 3),
                           partners=np.asarray(partners, np.uint64).reshape(-1, 2))
    return CremiVolume(raw=sim.raw, neuron_ids=sim.neuron_ids, clefts=sim.clefts,
                       resolution_nm=tuple(float(v) for v in vs), annotations=ann)


def cremi_synapses(volume: CremiVolume, *, search_radius_nm: float = 200.0) -> tuple:
    """Per-cleft synapse table from CREMI partner annotations, clefts and neuron ids.

    Each annotated partner pair gives (cleft, pre segment, post segment): the segments
    are the ``neuron_ids`` under the pre and post site locations; the cleft is the cleft
    label under the presynaptic site, else under the postsynaptic site, else the most
    common cleft label within ``search_radius_nm`` (in y, x; one section either way) of
    the midpoint of the two sites. Pairs with no cleft nearby are left out. Pairs are
    then grouped by cleft: the presynaptic id is the most frequent one of the cleft's
    pairs (CREMI allows several; the table keeps one), the postsynaptic ids are the
    distinct post segments in annotation order.

    Parameters
    ----------
    volume : CremiVolume
        Needs ``clefts``, ``neuron_ids`` and annotations with partners (lazy volumes work;
        the cleft volume is then read once to compute the centroids).
    search_radius_nm : float, default: 200.0

    Returns
    -------
    tuple of Synapse
        Sorted by cleft id; ``centroid_zyx`` and ``n_voxels`` come from the cleft voxels.

    Examples
    --------
    >>> from nwbsyn.partners import simulate_volume
    >>> sim = simulate_volume(shape_zyx=(8, 64, 64), n_synapses=1, rng=0)
    >>> [s.cleft_id for s in cremi_synapses(cremi_from_simulated(sim))] == [s.cleft_id for s in sim.synapses]
    True
    """
    from nwbsyn.partners._shapes import Synapse

    if volume.clefts is None or volume.neuron_ids is None:
        raise InputError("cremi_synapses needs a volume with clefts and neuron_ids; this one lacks one of them.")
    ann = volume.annotations
    res = np.asarray(volume.resolution_nm, float)
    nid, cl = volume.neuron_ids, volume.clefts
    shape = tuple(nid.shape)
    where = {int(i): k for k, i in enumerate(ann.ids)}
    half = np.maximum(np.ceil(search_radius_nm / res), [1, 0, 0]).astype(int)
    half[0] = 1
    pre_of: dict[int, list[int]] = {}
    posts_of: dict[int, list[int]] = {}
    for pre_site, post_site in ann.partners.tolist():
        idx = []
        for site in (pre_site, post_site):
            if site not in where:
                raise InputError(f"partner site id {site} is not in /annotations/ids; fix the file.")
            loc = (ann.locations_nm[where[site]] + ann.offset_nm) / res
            idx.append(np.clip(np.floor(loc).astype(int), 0, np.asarray(shape) - 1))
        cleft = _cleft_near(cl, idx, half, shape)
        if cleft == 0:
            continue
        pre_of.setdefault(cleft, []).append(int(nid[tuple(idx[0])]))
        post = int(nid[tuple(idx[1])])
        if post not in posts_of.setdefault(cleft, []):
            posts_of[cleft].append(post)
    if not pre_of:
        return ()
    ids = np.asarray(sorted(pre_of), np.uint64)
    centroids, counts = _cleft_centroids(np.asarray(cl), ids)
    out = []
    for k, cleft in enumerate(ids.tolist()):
        values, n = np.unique(pre_of[cleft], return_counts=True)
        pre = int(values[np.argmax(n)])
        out.append(Synapse(cleft_id=int(cleft), pre_id=pre,
                           post_ids=tuple(p for p in posts_of[cleft] if p != pre),
                           centroid_zyx=tuple(float(c) for c in centroids[k]), n_voxels=int(counts[k])))
    return tuple(out)


def _cleft_near(cl, idx, half, shape) -> int:
    for i in idx:
        v = int(cl[tuple(i)])
        if v:
            return v
    mid = np.round((idx[0] + idx[1]) / 2).astype(int)
    box = tuple(slice(max(0, m - h), min(s, m + h + 1)) for m, h, s in zip(mid, half, shape))
    patch = np.asarray(cl[box]).ravel()
    patch = patch[patch != 0]
    if not patch.size:
        return 0
    values, n = np.unique(patch, return_counts=True)
    return int(values[np.argmax(n)])


def _cleft_centroids(cl: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centroid (voxels) and size of each cleft in ``ids`` (sorted), in one pass."""
    nz = np.nonzero(cl)
    lab = cl[nz]
    k = np.searchsorted(ids, lab)
    k = np.minimum(k, len(ids) - 1)
    hit = ids[k] == lab
    counts = np.bincount(k[hit], minlength=len(ids)).astype(float)
    sums = np.stack([np.bincount(k[hit], weights=c[hit], minlength=len(ids)) for c in nz], 1)
    return sums / np.maximum(counts, 1)[:, None], counts.astype(int)


def is_cremi_input(source) -> bool:
    """True when ``source`` is a local regular file in the CREMI layout (URLs and NWB files: False).

    Example
    -------
    >>> is_cremi_input("https://example.org/volume.nwb")
    False
    """
    from nwbsyn.io.remote import is_remote

    return not is_remote(source) and Path(source).is_file() and is_cremi(source)


def check_em_input(path) -> None:
    """Refuse a local input of partner assignment that is a folder, a pipe or no HDF5 file at all."""
    import h5py

    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a folder; give an NWB file with an EM volume or a CREMI .hdf file.")
    if path.exists() and not path.is_file():  # a pipe or a device would block the first read
        raise InputError(f"{path} is not a regular file; give an NWB file with an EM volume or a CREMI .hdf file.")
    if path.is_file():
        try:
            hdf5 = h5py.is_hdf5(path)
        except OSError:
            return  # the NWB reader says why it cannot be read
        if not hdf5:
            raise InputError(f"{path} is neither an NWB file nor a CREMI HDF5 file; give an NWB file with an EM "
                             "volume or a CREMI .hdf file.")


def check_cremi_layout(path, *, clefts: str = "detect") -> None:
    """What partner assignment with ``clefts`` ("detect" or "given") needs of a CREMI file, from its layout
    alone (no volume is read): a segmentation, and for given clefts their labels."""
    with read_cremi(path, lazy=True) as peek:
        if peek.neuron_ids is None:
            raise InputError(f"{path} has no /volumes/labels/neuron_ids; partner assignment needs a "
                             "segmentation.")
        if clefts == "given" and peek.clefts is None:
            raise InputError(f"{path} has no /volumes/labels/clefts; --clefts given needs the file's cleft "
                             "labels there, so use --clefts detect.")


def nwbfile_from_cremi_file(path, *, subject: dict | None = None, clefts: str = "detect"):
    """A new in-memory NWBFile holding the CREMI volume at ``path`` (layout checked first, then read).

    ``subject`` holds ``pynwb.file.Subject`` fields (CREMI files carry none; DANDI requires them).
    """
    from nwbsyn.partners.nwb import nwbfile_from_cremi

    check_cremi_layout(path, clefts=clefts)
    return nwbfile_from_cremi(read_cremi(path), source=str(path), subject=subject)
