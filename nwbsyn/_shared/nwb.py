"""In-memory NWB helpers shared by the analyses: find inputs, place results, record provenance.

Nothing here opens or writes a file (that is :mod:`nwbsyn.io`), so analyses may use it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from nwbsyn._shared import InputError

__all__ = [
    "scratch_nwbfile",
    "AnalysableItem",
    "list_analysable",
    "find_object",
    "get_or_create_module",
    "put_result",
    "list_results",
    "make_provenance",
    "object_path",
    "series_rate_hz",
]

_MODULE_DESCRIPTIONS = {
    "icephys": "Intracellular electrophysiology results (nwbsyn).",
    "ophys": "Optical physiology results (nwbsyn).",
    "ecephys": "Extracellular electrophysiology results (nwbsyn).",
    "misc": "Results of nwbsyn analyses.",
}


@dataclass(frozen=True)
class AnalysableItem:
    """Something in an NWB file that an nwbsyn analysis can use."""

    path: str  # e.g. "acquisition/sweep_0"
    neurodata_type: str
    kind: str  # "patch_clamp", "trace", "roi_response", "units", "em_volume", "em_labels"
    shape: tuple
    rate_hz: float | None
    unit: str | None
    analyses: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


def object_path(obj) -> str:
    """Path of a container inside its file, e.g. ``processing/ophys/Fluorescence/RoiResponseSeries``."""
    parts = []
    while obj.parent is not None:
        parts.append(obj.name)
        if obj.parent.parent is None:  # a direct child of the NWBFile: add its top-level group
            parts.extend(g for g in ("acquisition", "stimulus", "processing", "analysis", "scratch")
                         if (getattr(obj.parent, g, None) or {}).get(obj.name) is obj)
        obj = obj.parent
    return "/".join(reversed(parts))


def _classify(obj) -> tuple[str, tuple[str, ...]] | None:
    from pynwb import TimeSeries
    from pynwb.icephys import CurrentClampStimulusSeries, PatchClampSeries, VoltageClampStimulusSeries
    from pynwb.misc import Units
    from pynwb.ophys import RoiResponseSeries

    from nwbsyn.types import EMImageVolume, EMLabelVolume, SynapticEventScoreSeries

    if isinstance(obj, (SynapticEventScoreSeries, VoltageClampStimulusSeries, CurrentClampStimulusSeries)):
        return None  # our own output, or a command waveform
    if isinstance(obj, PatchClampSeries):
        return "patch_clamp", ("events",)
    if isinstance(obj, RoiResponseSeries):
        return "roi_response", ("connectivity", "events")
    if isinstance(obj, Units):
        return "units", ("connectivity",)
    if isinstance(obj, EMImageVolume):
        return "em_volume", ("partners",)
    if isinstance(obj, EMLabelVolume):
        return "em_labels", ("partners",)
    if isinstance(obj, TimeSeries) and obj.data is not None and 1 <= np.ndim(obj.data) <= 2:
        return "trace", ("events",) if np.ndim(obj.data) == 1 else ("connectivity",)
    return None


def series_rate_hz(obj) -> float | None:
    """Sampling rate of a TimeSeries in Hz, from ``rate`` or the median timestamp step; None if unknown.

    A rate or timestamps that are not numbers give NaN (callers refuse non-finite or non-positive
    rates with a sentence of their own); this never raises, so that listing a damaged file works.
    """
    rate = getattr(obj, "rate", None)
    if rate is not None and not (isinstance(rate, (int, float, np.number)) and rate == 0):
        try:
            return float(rate)
        except (TypeError, ValueError):
            return float("nan")
    timestamps = getattr(obj, "timestamps", None)
    try:
        if timestamps is None or len(timestamps) < 2:
            return None
        steps = np.diff(np.asarray(timestamps[: min(len(timestamps), 10_000)], dtype=float).reshape(-1))
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(1.0 / np.median(steps))
    except (TypeError, ValueError, OSError):
        return float("nan")


def list_analysable(nwbfile) -> list[AnalysableItem]:
    """Everything in ``nwbfile`` that nwbsyn can analyse, sorted by path.

    Example
    -------
    >>> from nwbsyn.testing import mock_icephys_nwbfile
    >>> [item.path for item in list_analysable(mock_icephys_nwbfile(n_sweeps=1))]
    ['acquisition/sweep_0']
    """
    items = []
    for obj in nwbfile.objects.values():
        found = _classify(obj)
        if found is None:
            continue
        kind, analyses = found
        if kind == "units":
            shape = (len(obj),)
            unit = "spikes"
        else:
            shape = tuple(obj.data.shape) if hasattr(obj.data, "shape") else np.shape(obj.data)
            unit = getattr(obj, "unit", None)
        items.append(AnalysableItem(path=object_path(obj), neurodata_type=obj.neurodata_type, kind=kind,
                                    shape=shape, rate_hz=series_rate_hz(obj), unit=unit, analyses=analyses))
    return sorted(items, key=lambda item: item.path)


def find_object(nwbfile, name: str, *, kinds: tuple[str, ...] | None = None):
    """The analysable object called ``name`` (a name or a path), or an InputError listing the choices."""
    items = [i for i in list_analysable(nwbfile) if kinds is None or i.kind in kinds]
    matches = [i for i in items if name in (i.path, i.name)]
    if len(matches) != 1:
        choices = ", ".join(i.path for i in items) or "none"
        problem = "is ambiguous" if matches else "was not found"
        raise InputError(f"'{name}' {problem} in the file; choose one of: {choices}.")
    path = matches[0].path
    for obj in nwbfile.objects.values():
        if object_path(obj) == path:
            return obj
    raise InputError(f"'{name}' could not be resolved in the file.")  # pragma: no cover


def get_or_create_module(nwbfile, name: str, description: str | None = None):
    """``nwbfile.processing[name]``, created with a standard description when absent."""
    if name in nwbfile.processing:
        return nwbfile.processing[name]
    return nwbfile.create_processing_module(name=name, description=description or _MODULE_DESCRIPTIONS.get(
        name, "Results of nwbsyn analyses."))


def put_result(module, obj, *, overwrite: bool = False) -> None:
    """Add ``obj`` to a processing module, refusing to replace an existing object unless ``overwrite``."""
    if obj.name in module.data_interfaces:
        if not overwrite:
            raise InputError(
                f"processing/{module.name}/{obj.name} already exists in this file; pass overwrite=True "
                "(CLI: --overwrite) to replace it, or choose another result name."
            )
        module.data_interfaces.pop(obj.name)
    module.add(obj)


def list_results(nwbfile) -> list[tuple[str, str]]:
    """(path, neurodata_type) of every ndx-nwbsyn result (outside ``acquisition``) in the file."""
    from nwbsyn import NAMESPACE

    found = []
    for obj in nwbfile.objects.values():
        if getattr(obj, "namespace", None) == NAMESPACE and obj.neurodata_type != "QuantityVectorData":
            path = object_path(obj)
            if not path.startswith("acquisition/"):
                found.append((path, obj.neurodata_type))
    return sorted(found)


def make_provenance(*, name: str, model_name: str, architecture: str, method: str, parameters: dict,
                    weights_sha256: str = "", training_recipe: str | None = None,
                    model_card: dict | None = None, weights: bytes | None = None,
                    weights_format: str | None = None):
    """A :class:`~nwbsyn.types.ModelProvenance` with the running nwbsyn version and JSON parameters."""
    from nwbsyn import __version__
    from nwbsyn.types import ModelProvenance

    return ModelProvenance(
        name=name, model_name=model_name, architecture=architecture, method=method,
        nwbsyn_version=__version__, weights_sha256=weights_sha256,
        parameters=json.dumps(parameters, sort_keys=True, default=str),
        training_recipe=training_recipe,
        model_card=None if model_card is None else json.dumps(model_card, sort_keys=True, default=str),
        weights=None if weights is None else np.frombuffer(weights, dtype=np.uint8),
        weights_format=weights_format,
    )


def scratch_nwbfile():
    """An empty in-memory NWBFile to write results into that are in no file yet (e.g. to draw them).

    >>> scratch_nwbfile().identifier
    'nwbsyn-scratch'
    """
    from datetime import datetime, timezone

    from pynwb import NWBFile

    return NWBFile(session_description="in-memory results (not saved)", identifier="nwbsyn-scratch",
                   session_start_time=datetime.now(timezone.utc))
