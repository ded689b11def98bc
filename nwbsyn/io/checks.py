"""nwbinspector checks for ndx-nwbsyn types (registered when this module is imported)."""

from __future__ import annotations

import numpy as np
from nwbinspector import Importance, InspectorMessage, register_check

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
