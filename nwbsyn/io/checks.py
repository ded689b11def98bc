"""nwbinspector checks for ndx-nwbsyn types (registered when this module is imported)."""

from __future__ import annotations

import numpy as np
from nwbinspector import Importance, InspectorMessage, register_check
from pynwb import TimeSeries

from nwbsyn.types import FunctionalConnectivity, SynapticEventScoreSeries, SynapticEventsTable

_SAMPLE = 100_000  # values read per check, so that checks stay cheap on large files


def _outside_unit_interval(values) -> bool:
    values = np.asarray(values[:_SAMPLE], dtype=float)
    finite = values[np.isfinite(values)]
    return bool(finite.size and (finite.min() < 0.0 or finite.max() > 1.0))


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


@register_check(importance=Importance.CRITICAL, neurodata_type=TimeSeries)
def check_rate_and_starting_time_are_finite(series):
    """A TimeSeries' rate and starting_time must be finite numbers (NaN or infinity place no sample in time)."""
    bad = [name for name in ("rate", "starting_time") if _not_finite(getattr(series, name, None))]
    if bad:
        values = ", ".join(f"{name} = {getattr(series, name)}" for name in bad)
        return InspectorMessage(message=f"{series.name} has {values}; both must be finite numbers.")
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
