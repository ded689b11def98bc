"""Between NWB and arrays for partner assignment: EM volumes in, cleft and partner tables out.

Inputs are an :class:`~nwbsyn.types.EMImageVolume` and an :class:`~nwbsyn.types.EMLabelVolume`
(the segmentation, linked to the image), read lazily. Results go to ``processing['misc']``:
``cleft_labels`` (EMLabelVolume, the smallest unsigned integer type that holds the ids),
``synaptic_clefts`` (SynapticCleftTable, centroids and bounding boxes in voxels of the cleft
volume), ``synaptic_partners`` (SynapticPartnerTable, one row per edge) and the two
networks' ``ModelProvenance`` (weights referenced by sha256 + origin; embedded on request).
Lengths are stored in meters (schema 0.2); the Python API keeps ``*_nm`` arguments and this
module converts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nwbsyn._shared import InputError
from nwbsyn._shared.nwb import find_object, get_or_create_module, list_analysable, put_result
from nwbsyn._shared.provenance import card_provenance, model_provenance
from nwbsyn._shared.run import SHARED_RUN_OPTIONS, RunResult
from nwbsyn.partners.infer import MIN_CLEFT_VOXELS, MIN_CONTACT_VOXELS, POST_THRESHOLD

__all__ = ["PartnerInput", "add_em_volume", "nwbfile_from_cremi", "load_inputs", "add_results", "run_on_nwbfile",
           "summarize", "MODULE", "RESULT_NAMES", "RUN_OPTIONS"]

MODULE = "misc"
RESULT_NAMES = ("cleft_labels", "synaptic_clefts", "synaptic_partners", "cleft_model", "association_model")


@dataclass
class PartnerInput:
    """The image, segmentation and (optionally) given cleft label volumes of a file; arrays are lazy."""

    image: object
    segmentation: object
    cleft_volume: object | None = None

    @property
    def raw(self):
        return self.image.data

    @property
    def neuron_ids(self):
        return self.segmentation.data

    @property
    def voxel_size_nm(self) -> np.ndarray:
        return np.asarray(self.image.voxel_size_nm, float)

    @property
    def offset_nm(self) -> np.ndarray:
        off = self.image.offset_nm
        return np.zeros(3) if off is None else np.asarray(off, float)


def _lengths_m(voxel_size_nm, offset_nm) -> dict:
    """``voxel_size`` and ``offset`` in meters (schema 0.2) from nanometres."""
    return dict(voxel_size=[float(v) * 1e-9 for v in voxel_size_nm], offset=[float(v) * 1e-9 for v in offset_nm])


def _compressed(data):
    from hdmf.backends.hdf5 import H5DataIO

    chunks = tuple(min(n, c) for n, c in zip(data.shape, (8, 128, 128)))
    return H5DataIO(np.ascontiguousarray(data), compression="gzip", compression_opts=4, chunks=chunks)


def add_em_volume(nwbfile, *, raw, neuron_ids, voxel_size_nm, offset_nm=(0.0, 0.0, 0.0), clefts=None,
                  name: str = "em_raw"):
    """Add an EM image (uint8) and its segmentation (and given clefts) to ``nwbfile.acquisition``.

    Volumes are stored gzip-compressed in (8, 128, 128) chunks. Returns the image volume.

    Example
    -------
    >>> from nwbsyn.partners import simulate_volume, add_em_volume
    >>> from nwbsyn.testing import mock_nwbfile
    >>> vol = simulate_volume(shape_zyx=(8, 64, 64), n_synapses=1, rng=0)
    >>> image = add_em_volume(mock_nwbfile(), raw=vol.raw, neuron_ids=vol.neuron_ids, voxel_size_nm=(40, 8, 8))
    >>> image.name
    'em_raw'
    """
    from nwbsyn.types import EMImageVolume, EMLabelVolume, smallest_unsigned

    raw, neuron_ids = np.asarray(raw), np.asarray(neuron_ids)
    if raw.ndim != 3 or raw.shape != neuron_ids.shape:
        raise InputError(f"raw {raw.shape} and neuron_ids {neuron_ids.shape} must be 3-D volumes of the same shape.")
    if not neuron_ids.any():
        raise InputError("the segmentation (neuron_ids) is empty (all 0); partner assignment needs segment ids.")
    common = _lengths_m(voxel_size_nm, offset_nm)
    image = EMImageVolume(name=name, description="Electron microscopy image volume, axes (z, y, x).",
                          data=_compressed(raw.astype(np.uint8)), **common)
    nwbfile.add_acquisition(image)
    nwbfile.add_acquisition(EMLabelVolume(name=f"{name}_segmentation", description="Neurite segmentation.",
                                          data=_compressed(smallest_unsigned(neuron_ids)), image_volume=image,
                                          **common))
    if clefts is not None:
        nwbfile.add_acquisition(EMLabelVolume(name=f"{name}_clefts", description="Annotated synaptic clefts.",
                                              data=_compressed(smallest_unsigned(clefts)),
                                              image_volume=image, **common))
    return image


def nwbfile_from_cremi(volume, *, source: str = "a CREMI file", subject: dict | None = None):
    """A new NWBFile holding a CREMI volume (raw, neuron ids and clefts when present).

    ``subject`` holds ``pynwb.file.Subject`` fields (subject_id, species, sex, age, ...);
    CREMI files carry none, and DANDI requires them.
    """
    from datetime import datetime, timezone
    from uuid import uuid4

    from pynwb import NWBFile
    from pynwb.file import Subject

    if volume.neuron_ids is None:
        raise InputError(f"{source} has no /volumes/labels/neuron_ids; partner assignment needs a segmentation.")
    nwbfile = NWBFile(session_description=f"EM volume imported from {source} by nwbsyn.", identifier=str(uuid4()),
                      session_start_time=datetime(1970, 1, 1, tzinfo=timezone.utc),
                      subject=Subject(**subject) if subject else None)
    add_em_volume(nwbfile, raw=volume.raw, neuron_ids=volume.neuron_ids, voxel_size_nm=volume.resolution_nm,
                  clefts=volume.clefts)
    return nwbfile


def result_tables(nwbfile, path, *, what: str = "results"):
    """(cleft table, partner table or None) of an ``nwbsyn partners assign`` result; InputError if absent."""
    mod = nwbfile.processing.get(MODULE)
    names = set(mod.data_interfaces) if mod is not None else set()
    if "synaptic_clefts" not in names:
        raise InputError(f"{path} holds no nwbsyn partner {what} (processing/{MODULE}/synaptic_clefts); run "
                         "'nwbsyn partners assign' on it first.")
    return mod["synaptic_clefts"], mod["synaptic_partners"] if "synaptic_partners" in names else None


def _objects(nwbfile, kind: str) -> list[tuple[str, object]]:
    return [(i.path, find_object(nwbfile, i.path)) for i in list_analysable(nwbfile) if i.kind == kind]


def load_inputs(nwbfile, *, image: str | None = None, segmentation: str | None = None,
                cleft_volume: str | None = None) -> list[PartnerInput]:
    """The EM image, its segmentation and (when named or unambiguous) a given cleft label volume.

    Returns a list of one :class:`PartnerInput` (a list, as ``load_inputs`` of every analysis).
    """
    return [_load_input(nwbfile, image=image, segmentation=segmentation, cleft_volume=cleft_volume)]


def _load_input(nwbfile, *, image, segmentation, cleft_volume) -> PartnerInput:
    images = _objects(nwbfile, "em_volume")
    if image is not None:
        img = find_object(nwbfile, image, kinds=("em_volume",))
    elif len(images) == 1:
        img = images[0][1]
    else:
        choices = ", ".join(path for path, _ in images)
        raise InputError("the file holds no EMImageVolume; add one (nwbsyn.partners.add_em_volume) or convert a "
                         "CREMI file." if not images else f"the file holds several EM volumes ({choices}); pick one "
                         "with --image.")
    labels = [v for path, v in _objects(nwbfile, "em_labels") if not path.startswith("processing/")
              and v.image_volume in (img, None) and tuple(v.data.shape) == tuple(img.data.shape)]
    seg = find_object(nwbfile, segmentation, kinds=("em_labels",)) if segmentation else \
        next((v for v in labels if "cleft" not in v.name.lower()), None)
    if seg is None:
        raise InputError(f"no segmentation (EMLabelVolume linked to '{img.name}') was found; name one with "
                         "--segmentation.")
    clefts = find_object(nwbfile, cleft_volume, kinds=("em_labels",)) if cleft_volume else \
        next((v for v in labels if "cleft" in v.name.lower()), None)
    _check_volumes(img, seg, clefts)
    step = max(1, seg.data.shape[0] // 4)
    if not np.any(seg.data[::step]):
        raise InputError(f"the segmentation '{seg.name}' is empty (all 0); partner assignment needs segment ids.")
    return PartnerInput(image=img, segmentation=seg, cleft_volume=clefts)


def _check_volumes(img, seg, clefts) -> None:
    """Shapes, dtypes and voxel sizes of the image and its label volumes, before any data is read."""
    from nwbsyn.partners._checks import check_image_dtype, check_label_dtype, check_volume_shape, check_voxel_size

    shape = check_volume_shape(img.data.shape, name=f"the EM image '{img.name}'")
    check_image_dtype(img.data.dtype, name=f"the EM image '{img.name}'")
    check_voxel_size(img.voxel_size_nm, name=f"the voxel size of '{img.name}'")
    offset = img.offset_nm
    if offset is not None and not np.all(np.isfinite(np.asarray(offset, float))):
        raise InputError(f"the offset of '{img.name}' is not three finite numbers of nm; fix or remove it.")
    for vol in (seg, clefts):
        if vol is not None and tuple(vol.data.shape) != shape:
            raise InputError(f"'{vol.name}' has shape {tuple(vol.data.shape)} but '{img.name}' "
                             f"{shape}; they must match voxel for voxel.")
    check_label_dtype(seg.data.dtype, name=f"the segmentation '{seg.name}'")
    _check_memory(img)


_METHOD = "AVAN (Turner et al.): cleft mask as attention, residual symmetric 3D U-Net"


def _provenance(info: dict, params: dict, *, embed_weights: bool) -> dict:
    """The keyword arguments of :func:`model_provenance` (except ``name``) for one network, from its card."""
    return card_provenance(method=_METHOD, parameters=params, embed_weights=embed_weights,
                           weights_path=Path(info["path"]) if info.get("path") else None,
                           architecture=json.dumps(info.get("init", {})))


def add_results(nwbfile, inputs: list, results: list, *, provenance: dict, module: str | None = None,
                overwrite: bool = False):
    """Write cleft labels, the cleft table, the partner table and provenance into ``processing[module]``.

    ``inputs`` and ``results``: one :class:`PartnerInput` and its ``PartnerResult``.
    ``provenance`` maps each network that ran (``"cleft"``, ``"association"``) to the keyword
    arguments of :func:`nwbsyn._shared.provenance.model_provenance` except ``name``; when their
    ``parameters`` say ``clefts="given"``, the file's cleft volume is referenced instead of
    writing ``cleft_labels``. ``module`` defaults to ``"misc"`` (the contract is the same in
    every analysis: :mod:`nwbsyn._shared.run`). Returns the cleft and partner tables.
    """
    from nwbsyn.types import EMLabelVolume, SynapticCleftTable, SynapticPartnerTable, smallest_unsigned

    if len(inputs) != 1 or len(results) != 1:
        raise InputError(f"Partner results are written for one EM volume at a time; got {len(inputs)} inputs and "
                         f"{len(results)} results.")
    (inp,), (result,), module = inputs, results, module or MODULE
    mod = get_or_create_module(nwbfile, module)
    taken = [n for n in RESULT_NAMES if n in mod.data_interfaces]
    if taken and not overwrite:
        raise InputError(f"processing/{module} already holds nwbsyn partner results ({', '.join(taken)}); pass "
                         "--overwrite to replace them.")
    prov = {k: model_provenance(name=f"{k}_model", **kwargs) for k, kwargs in provenance.items()}
    for p in prov.values():
        put_result(mod, p, overwrite=overwrite)
    given = any((kwargs.get("parameters") or {}).get("clefts") == "given" for kwargs in provenance.values())
    det = result.clefts
    common = dict(_lengths_m(inp.voxel_size_nm, inp.offset_nm), image_volume=inp.image)
    if inp.cleft_volume is not None and given:
        cleft_volume = inp.cleft_volume
    else:
        cleft_volume = EMLabelVolume(name="cleft_labels", description="Synaptic clefts detected by nwbsyn.",
                                     data=_compressed(smallest_unsigned(det.labels)), **common)
        put_result(mod, cleft_volume, overwrite=overwrite)
    table = SynapticCleftTable(name="synaptic_clefts", description="Synaptic clefts; centroids and bounding boxes "
                               "in voxels of cleft_volume.", cleft_volume=cleft_volume, model=prov.get("cleft"))
    conf = getattr(result, "confidence", None)
    if conf is not None:
        how = "calibrated on validation volumes" if conf.calibrated else "NOT calibrated (raw network scores)"
        table.add_column(name="confidence", description=f"Probability that the cleft is real, {how}.")
        table.add_column(name="low_confidence", description=f"confidence below {conf.low_confidence:g}.")
    for i in range(len(det)):
        extra = dict(confidence=float(conf.clefts[i]), low_confidence=bool(conf.low_clefts[i])) if conf else {}
        table.add_row(cleft_id=np.uint64(det.cleft_ids[i]), centroid=np.asarray(det.centroids_zyx[i], float).tolist(),
                      num_voxels=int(det.num_voxels[i]), bounding_box=det.bounding_boxes[i].tolist(),
                      score=float(det.scores[i]), **extra)
    partners = SynapticPartnerTable(name="synaptic_partners", description="Synaptic partner edges (pre, post) "
                                    "per cleft; polyadic synapses have several rows.", segmentation=inp.segmentation,
                                    model=prov.get("association"), target_tables={"cleft": table})
    row_of = {int(c): i for i, c in enumerate(det.cleft_ids)}
    if conf is not None:
        partners.add_column(name="confidence", description=f"Probability that the edge is right (its cleft real and "
                            f"these partners), {how}.")
        partners.add_column(name="low_confidence", description=f"confidence below {conf.low_confidence:g}.")
    for k, ((cid, pre, post), (s_pre, s_post)) in enumerate(zip(result.edges().tolist(),
                                                                result.edge_scores().tolist())):
        extra = dict(confidence=float(conf.edges[k]), low_confidence=bool(conf.low_edges[k])) if conf else {}
        partners.add_row(cleft=row_of[int(cid)], presynaptic_id=np.uint64(pre), postsynaptic_id=np.uint64(post),
                         presynaptic_score=float(s_pre), postsynaptic_score=float(s_post), **extra)
    if len(det):  # an empty table is a best-practice violation: provenance alone records the run
        put_result(mod, table, overwrite=overwrite)
    if len(partners):
        put_result(mod, partners, overwrite=overwrite)
    return table, partners


def _check_memory(image) -> None:
    from nwbsyn.partners._checks import ASSIGN_BYTES_PER_VOXEL, check_memory

    shape = tuple(image.data.shape)
    check_memory(float(np.prod(shape, dtype=float)) * ASSIGN_BYTES_PER_VOXEL,
                 what=f"Partner assignment on '{image.name}' ({' x '.join(map(str, shape))} voxels)",
                 fix="crop the volume, or use a machine with more memory")


def _cleft_labels(volume) -> np.ndarray:
    from nwbsyn.partners._checks import check_label_dtype, check_label_values

    check_label_dtype(volume.data.dtype, name=f"the cleft label volume '{volume.name}'")
    labels = np.asarray(volume.data[:])
    check_label_values(labels, name=f"the cleft label volume '{volume.name}'")
    return labels


def _confidence(result, inp: PartnerInput, models: dict, *, given: bool):
    """Calibrated confidences for the networks that ran (see :mod:`nwbsyn.partners.calibrate`)."""
    from nwbsyn._shared import sha256_of_file
    from nwbsyn.partners.calibrate import confidences, load_calibration

    def sha(task):
        path = models.get(task, {}).get("path")
        return sha256_of_file(path) if path else None

    return confidences(result, voxel_size_nm=inp.voxel_size_nm, given=given, calibration=load_calibration(),
                       cleft_sha256=sha("cleft"), association_sha256=sha("association"))


def run_on_nwbfile(nwbfile, *, image: str | None = None, segmentation: str | None = None, clefts: str = "detect",
                   cleft_volume: str | None = None, polyadic: bool = True, threshold: float = 0.5,
                   min_voxels: int | None = None, post_threshold: float | None = None,
                   min_contact_voxels: int | None = None, cleft_model="default", association_model="default",
                   device: str = "auto", module: str | None = None, embed_weights: bool = False,
                   overwrite: bool = False, progress_bar: bool = True) -> RunResult:
    """Detect clefts (or take the given ones), assign partners and add the results to ``nwbfile``.

    ``device``, ``progress_bar``, ``overwrite``, ``module`` (default ``"misc"``) and
    ``embed_weights`` are the run options shared by every analysis (:mod:`nwbsyn._shared.run`).

    Returns a :class:`~nwbsyn._shared.run.RunResult` with one PartnerInput and its
    PartnerResult (``inp, result = run[0]``); ``result.clefts`` is the cleft table used.

    Example
    -------
    >>> from nwbsyn.partners import simulate_volume, add_em_volume, run_on_nwbfile
    >>> from nwbsyn.testing import mock_nwbfile
    >>> vol = simulate_volume(shape_zyx=(8, 64, 64), n_synapses=3, rng=0)
    >>> nwbfile = mock_nwbfile()
    >>> _ = add_em_volume(nwbfile, raw=vol.raw, neuron_ids=vol.neuron_ids, voxel_size_nm=vol.voxel_size_nm,
    ...                   clefts=vol.clefts)
    >>> inp, result = run_on_nwbfile(nwbfile, clefts="given", progress_bar=False)[0]
    >>> result.edges().tolist() == vol.edges().tolist()  # (cleft, pre, post): the planted partners
    True
    >>> sorted(nwbfile.processing["misc"].data_interfaces)
    [...'synaptic_clefts', 'synaptic_partners']
    """
    from nwbsyn.partners.infer import (assign_partners, check_assignment_options, clefts_from_labels, detect_clefts,
                                       load_network)

    if clefts not in ("detect", "given"):
        raise InputError(f"clefts='{clefts}' must be 'detect' or 'given'.")
    check_assignment_options(post_threshold=POST_THRESHOLD if post_threshold is None else post_threshold,
                             min_contact_voxels=MIN_CONTACT_VOXELS if min_contact_voxels is None
                             else min_contact_voxels)  # before detection
    module = module or MODULE
    (inp,) = load_inputs(nwbfile, image=image, segmentation=segmentation, cleft_volume=cleft_volume)
    mod = nwbfile.processing.get(module)
    if mod is not None and not overwrite and any(n in mod.data_interfaces for n in RESULT_NAMES):
        raise InputError(f"processing/{module} already holds nwbsyn partner results; pass --overwrite to replace them.")
    models = {"association": load_network(association_model, task="association",
                                          voxel_size_nm=tuple(inp.voxel_size_nm))[1]}
    if clefts == "given":
        if inp.cleft_volume is None:
            raise InputError(f"--clefts given needs a cleft label volume in the file (an EMLabelVolume of the shape "
                             f"of '{inp.image.name}' whose name contains 'cleft'); there is none, so use --clefts "
                             "detect.")
        table = clefts_from_labels(_cleft_labels(inp.cleft_volume))
    else:
        models["cleft"] = load_network(cleft_model, task="cleft", voxel_size_nm=tuple(inp.voxel_size_nm))[1]
        table = detect_clefts(inp.raw, model=cleft_model, threshold=threshold, min_voxels=min_voxels,
                              device=device, progress_bar=progress_bar, voxel_size_nm=tuple(inp.voxel_size_nm))
    result = assign_partners(inp.raw, inp.neuron_ids, table, model=association_model, polyadic=polyadic,
                             post_threshold=post_threshold, min_contact_voxels=min_contact_voxels, device=device,
                             progress_bar=progress_bar, voxel_size_nm=tuple(inp.voxel_size_nm))
    from nwbsyn.partners.infer import assignment_settings

    post_threshold, mask_threshold, min_contact_voxels = assignment_settings(
        table, post_threshold=post_threshold, min_contact_voxels=min_contact_voxels)
    if clefts != "given":
        min_voxels = int(table.settings.get("min_voxels", MIN_CLEFT_VOXELS))
    result.confidence = _confidence(result, inp, models, given=clefts == "given")
    if result.confidence.note:
        result.notes = (*result.notes, result.confidence.note)
    params = dict(clefts=clefts, polyadic=polyadic, threshold=threshold, min_voxels=min_voxels,
                  min_score=None if clefts == "given" else float(table.settings.get("min_score", 0.74)),
                  post_threshold=post_threshold, min_contact_voxels=min_contact_voxels, mask_threshold=mask_threshold,
                  image=inp.image.name, segmentation=inp.segmentation.name,
                  voxel_size_nm=[float(v) for v in inp.voxel_size_nm],
                  calibrated_confidence=bool(result.confidence.calibrated),
                  low_confidence_below=float(result.confidence.low_confidence))
    provenance = {task: _provenance(info, params, embed_weights=embed_weights) for task, info in models.items()}
    add_results(nwbfile, [inp], [result], provenance=provenance, module=module, overwrite=overwrite)
    edges = np.asarray(result.edges()).reshape(-1, 3)
    return RunResult(inputs=[inp], results=[result], analysis="partners",
                     stats={"n_inputs": 1, "n_clefts": int(len(result)), "n_edges": int(len(edges)),
                            "clefts": clefts})


#: Every option :func:`run_on_nwbfile` takes (checked by :mod:`nwbsyn.batch`).
RUN_OPTIONS = frozenset({"image", "segmentation", "clefts", "cleft_volume", "polyadic", "threshold", "min_voxels",
                         "post_threshold", "min_contact_voxels", "cleft_model", "association_model",
                         *SHARED_RUN_OPTIONS})


def summarize(run: RunResult, *, where=None) -> str:
    """The line ``nwbsyn partners assign`` prints: clefts, edges, dyadic/polyadic counts."""
    from nwbsyn.partners.infer import summary_line

    (_, result), = run
    return summary_line(result, clefts=run.stats.get("clefts", "detect"), where="the file" if where is None else where)
