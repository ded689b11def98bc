"""nwbinspector checks for the ndx-nwbsyn types (registered when this module is imported).

Needs nwbinspector (``pip install 'ndx-nwbsyn[inspector]'``); ``import ndx_nwbsyn`` does not import it.

Example
-------
>>> import numpy as np
>>> import ndx_nwbsyn.checks
>>> from nwbinspector import inspect_nwbfile_object
>>> from pynwb.testing.mock.file import mock_NWBFile
>>> from ndx_nwbsyn.testing.mock import mock_SynapticEventScoreSeries
>>> nwbfile = mock_NWBFile()
>>> _ = mock_SynapticEventScoreSeries(data=np.array([0.2, 1.5], dtype=np.float32), nwbfile=nwbfile)
>>> [m.message for m in inspect_nwbfile_object(nwbfile) if m.check_function_name.startswith("check_event_scores")]
['SynapticEventScoreSeries values must lie in [0, 1].']
"""

from __future__ import annotations

import json

import numpy as np
from nwbinspector import Importance, InspectorMessage
from nwbinspector import register_check as _register_check
from nwbinspector._registration import available_checks

from ndx_nwbsyn.types import (
    EMImageVolume,
    EMLabelVolume,
    FunctionalConnectivity,
    ModelProvenance,
    SynapticEventScoreSeries,
    SynapticEventsTable,
)

__all__ = [
    "check_event_scores_in_unit_interval",
    "check_event_table_scores_in_unit_interval",
    "check_connectivity_shape",
    "check_connectivity_values_are_finite",
    "check_event_scores_are_finite",
    "check_event_table_times_and_scores_are_finite",
    "check_event_timestamps_have_resolution",
    "check_voxel_size_is_positive",
    "check_model_card_is_json",
]

_SAMPLE = 100_000  # values read per check, so that checks stay cheap on large files


def register_check(*, importance, neurodata_type):
    """nwbinspector's ``register_check``, once per check name (another copy may already have registered it)."""
    def decorate(function):
        if any(getattr(c, "__name__", None) == function.__name__ for c in available_checks):
            function.importance, function.neurodata_type = importance, neurodata_type
            return function
        return _register_check(importance=importance, neurodata_type=neurodata_type)(function)
    return decorate


def _outside_unit_interval(values) -> bool:
    values = np.asarray(values[:_SAMPLE], dtype=float)
    finite = values[np.isfinite(values)]
    return bool(finite.size and (finite.min() < 0.0 or finite.max() > 1.0))


def _not_finite(value) -> bool:
    try:
        return value is not None and not np.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _count_not_finite(values) -> int:
    values = np.asarray(values[:_SAMPLE])
    if values.dtype.kind not in "fc":
        return 0
    return int(np.count_nonzero(~np.isfinite(values)))


@register_check(importance=Importance.CRITICAL, neurodata_type=SynapticEventScoreSeries)
def check_event_scores_in_unit_interval(series):
    """Detector scores are probabilities: every value must lie in [0, 1]."""
    if _outside_unit_interval(series.data):
        return InspectorMessage(message="SynapticEventScoreSeries values must lie in [0, 1].")
    return None


@register_check(importance=Importance.CRITICAL, neurodata_type=SynapticEventsTable)
def check_event_table_scores_in_unit_interval(table):
    """The 'score' column of a SynapticEventsTable must lie in [0, 1]."""
    if len(table) and _outside_unit_interval(table["score"].data):
        return InspectorMessage(message="The 'score' column of a SynapticEventsTable must lie in [0, 1].")
    return None


@register_check(importance=Importance.CRITICAL, neurodata_type=FunctionalConnectivity)
def check_connectivity_shape(connectivity):
    """weights must be (len(presynaptic), len(postsynaptic)); embeddings must have one row per presynaptic."""
    n_pre, n_post = len(connectivity.presynaptic.data), len(connectivity.postsynaptic.data)
    if tuple(connectivity.weights.shape) != (n_pre, n_post):
        return InspectorMessage(message=f"weights has shape {tuple(connectivity.weights.shape)}; expected "
                                        f"({n_pre}, {n_post}) from the presynaptic/postsynaptic regions.")
    embeddings = connectivity.embeddings
    if embeddings is not None and embeddings.shape[0] != n_pre:
        return InspectorMessage(message=f"embeddings has {embeddings.shape[0]} rows; expected {n_pre}.")
    return None


@register_check(importance=Importance.CRITICAL, neurodata_type=FunctionalConnectivity)
def check_connectivity_values_are_finite(connectivity):
    """weights (and embeddings) of a FunctionalConnectivity must be finite."""
    for name in ("weights", "embeddings"):
        values = getattr(connectivity, name, None)
        if values is not None and (n := _count_not_finite(values)):
            return InspectorMessage(message=f"{name} has {n} value(s) that are NaN or infinite; every value must be "
                                            "finite.")
    return None


@register_check(importance=Importance.CRITICAL, neurodata_type=SynapticEventScoreSeries)
def check_event_scores_are_finite(series):
    """Scores and the threshold of a SynapticEventScoreSeries must be finite (NaN is no probability)."""
    if _not_finite(series.threshold):
        return InspectorMessage(message=f"threshold is {series.threshold}; it must be a number in [0, 1].")
    if n := _count_not_finite(series.data):
        return InspectorMessage(message=f"{n} score(s) are NaN or infinite; scores must lie in [0, 1].")
    return None


@register_check(importance=Importance.CRITICAL, neurodata_type=SynapticEventsTable)
def check_event_table_times_and_scores_are_finite(table):
    """The 'score' and 'timestamp' columns of a SynapticEventsTable must be finite."""
    if not len(table):
        return None
    for name in ("score", "timestamp"):
        if name in table.colnames and (n := _count_not_finite(table[name].data)):
            return InspectorMessage(message=f"The {name!r} column has {n} NaN or infinite value(s).")
    return None


@register_check(importance=Importance.BEST_PRACTICE_SUGGESTION, neurodata_type=SynapticEventsTable)
def check_event_timestamps_have_resolution(table):
    """The 'timestamp' column should say its resolution (the sampling period of the analysed traces)."""
    column = table["timestamp"] if "timestamp" in table.colnames else None
    if column is not None and getattr(column, "resolution", None) is None:
        return InspectorMessage(message="The 'timestamp' column has no 'resolution'; set it to the sampling period "
                                        "(1 / rate) of the analysed traces.")
    return None


def _voxel_size_problem(volume) -> str | None:
    size = np.asarray(volume.voxel_size, float).reshape(-1)
    if size.size != 3 or not np.all(np.isfinite(size) & (size > 0)):
        return f"voxel_size is {size.tolist()}; it must be three positive finite lengths in {volume.unit}."
    if volume.unit == "meters" and np.any(size > 1e-3):
        return f"voxel_size is {size.tolist()} meters (over 1 mm); was it given in nanometres? Store meters."
    return None


@register_check(importance=Importance.CRITICAL, neurodata_type=EMImageVolume)
def check_voxel_size_is_positive(volume):
    """voxel_size must be three positive lengths, in meters (a value over 1 mm is a unit mistake)."""
    problem = _voxel_size_problem(volume)
    return InspectorMessage(message=problem) if problem else None


@register_check(importance=Importance.CRITICAL, neurodata_type=EMLabelVolume)
def check_label_voxel_size_is_positive(volume):
    """As :func:`check_voxel_size_is_positive`, for label volumes."""
    problem = _voxel_size_problem(volume)
    return InspectorMessage(message=problem) if problem else None


@register_check(importance=Importance.BEST_PRACTICE_VIOLATION, neurodata_type=ModelProvenance)
def check_model_card_is_json(provenance):
    """model_card and parameters must be JSON, so that tools can read them."""
    for name in ("model_card", "parameters"):
        text = getattr(provenance, name, None)
        if text:
            try:
                json.loads(text)
            except (TypeError, ValueError):
                return InspectorMessage(message=f"{name} is not valid JSON; store it with json.dumps.")
    return None
