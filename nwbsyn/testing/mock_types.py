"""nwbsyn-flavoured ``mock_<Type>`` builders: fixed result names, placed where nwbsyn puts its results.

Each adds itself (and what it needs) to a file, and returns the existing object when the file
already holds it, so that they compose. For pynwb-style builders with unique names and every
field settable, use :mod:`ndx_nwbsyn.testing.mock` (shipped with ndx-nwbsyn).
"""

from __future__ import annotations

import numpy as np

from nwbsyn._shared import as_rng
from nwbsyn._shared.nwb import get_or_create_module, make_provenance
from nwbsyn.testing.mock_inputs import (
    mock_ecephys_nwbfile,
    mock_em_nwbfile,
    mock_icephys_nwbfile,
    mock_nwbfile,
    mock_ophys_nwbfile,
)

__all__ = [
    "mock_ModelProvenance",
    "mock_SynapticEventsTable",
    "mock_SynapticEventScoreSeries",
    "mock_EMImageVolume",
    "mock_EMLabelVolume",
    "mock_SynapticCleftTable",
    "mock_SynapticPartnerTable",
    "mock_FunctionalConnectivity",
    "MOCK_TYPE_BUILDERS",
]


def mock_ModelProvenance(*, name: str = "model", module: str = "misc", with_weights: bool = True, nwbfile=None):
    """A ModelProvenance in ``processing[module]`` (with 64 bytes of weights by default); reused when present."""
    nwbfile = nwbfile if nwbfile is not None else mock_nwbfile()
    existing = nwbfile.processing[module].data_interfaces.get(name) if module in nwbfile.processing else None
    if existing is not None:
        return existing
    provenance = make_provenance(
        name=name, model_name="mock-model", architecture="Conv1D x4 + BiLSTM(96) + Dense", method="mock",
        parameters={"threshold": 0.5, "stride_samples": 20}, weights_sha256="0" * 64,
        training_recipe="none", model_card={"metrics": {"f1": 1.0}},
        weights=bytes(range(64)) if with_weights else None, weights_format="torch-state-dict" if with_weights else None,
    )
    get_or_create_module(nwbfile, module).add(provenance)
    return provenance


def _sweep(nwbfile):
    if "sweep_0" not in nwbfile.acquisition:
        mock_icephys_nwbfile(n_sweeps=1, nwbfile=nwbfile)
    return nwbfile.acquisition["sweep_0"]


def mock_SynapticEventsTable(*, n_events: int = 5, rng=0, nwbfile=None):
    """A SynapticEventsTable in ``processing['icephys']`` over the file's first sweep (reused when present)."""
    from hdmf.common import VectorData
    from pynwb.base import TimeSeriesReferenceVectorData
    from pynwb.event import DurationVectorData, TimestampVectorData

    from nwbsyn.types import QuantityVectorData, SynapticEventsTable

    rng = as_rng(rng)
    nwbfile = nwbfile if nwbfile is not None else mock_nwbfile()
    if "icephys" in nwbfile.processing and "synaptic_events" in nwbfile.processing["icephys"].data_interfaces:
        return nwbfile.processing["icephys"]["synaptic_events"]
    series = _sweep(nwbfile)
    onsets = np.sort(rng.choice(len(series.data) - 400, size=n_events, replace=False))
    window = 240
    duration = lambda name, doc, values: DurationVectorData(name=name, description=doc, data=values)  # noqa: E731
    table = SynapticEventsTable(
        name="synaptic_events", description="Mock events.", polarity="negative",
        model=mock_ModelProvenance(module="icephys", nwbfile=nwbfile),
        columns=[
            TimestampVectorData(name="timestamp", description="Onset (s).", resolution=1.0 / series.rate,
                                data=series.starting_time + onsets / series.rate),
            QuantityVectorData(name="amplitude", description="Amplitude.", unit="amperes",
                               data=-rng.uniform(5e-12, 3e-11, n_events)),
            QuantityVectorData(name="baseline", description="Baseline.", unit="amperes", data=np.zeros(n_events)),
            duration("rise_time", "10-90 % rise.", rng.uniform(1e-4, 5e-4, n_events)),
            duration("half_decay_time", "Half decay.", rng.uniform(1e-3, 3e-3, n_events)),
            duration("half_width", "Half width.", rng.uniform(1e-3, 3e-3, n_events)),
            QuantityVectorData(name="charge", description="Charge.", unit="coulombs",
                               data=-rng.uniform(1e-14, 1e-13, n_events)),
            VectorData(name="score", description="Score.", data=rng.uniform(0.5, 1.0, n_events)),
            TimeSeriesReferenceVectorData(name="trace", description="Trace.",
                                          data=[(int(o), window, series) for o in onsets]),
        ],
    )
    get_or_create_module(nwbfile, "icephys").add(table)
    return table


def mock_SynapticEventScoreSeries(*, rng=0, nwbfile=None):
    """A SynapticEventScoreSeries over the file's first sweep, in ``processing['icephys']``."""
    from nwbsyn.types import SynapticEventScoreSeries

    nwbfile = nwbfile if nwbfile is not None else mock_nwbfile()
    if "icephys" in nwbfile.processing and "event_scores" in nwbfile.processing["icephys"].data_interfaces:
        return nwbfile.processing["icephys"]["event_scores"]
    series = _sweep(nwbfile)
    n = len(series.data) // 20
    scores = SynapticEventScoreSeries(
        name="event_scores", data=as_rng(rng).uniform(0, 1, n).astype(np.float32), unit="n.a.",
        rate=series.rate / 20, starting_time=series.starting_time, threshold=0.5, source_series=series,
        description="Mock scores.",
    )
    get_or_create_module(nwbfile, "icephys").add(scores)
    return scores


def mock_EMImageVolume(*, nwbfile=None):
    """The EMImageVolume of :func:`mock_em_nwbfile`."""
    nwbfile = nwbfile if nwbfile is not None else mock_nwbfile()
    if "em_raw" not in nwbfile.acquisition:
        mock_em_nwbfile(nwbfile=nwbfile)
    return nwbfile.acquisition["em_raw"]


def mock_EMLabelVolume(*, nwbfile=None):
    """The EMLabelVolume of :func:`mock_em_nwbfile`."""
    nwbfile = nwbfile if nwbfile is not None else mock_nwbfile()
    mock_EMImageVolume(nwbfile=nwbfile)
    return nwbfile.acquisition["em_segmentation"]


def mock_SynapticCleftTable(*, n_clefts: int = 3, rng=0, nwbfile=None):
    """A SynapticCleftTable (positions in voxels) in ``processing['misc']`` with its cleft label volume.

    A file that already holds ``synaptic_clefts`` gets it back (so that the builders compose).
    """
    from nwbsyn.types import EMLabelVolume, SynapticCleftTable

    rng = as_rng(rng)
    nwbfile = nwbfile if nwbfile is not None else mock_nwbfile()
    module = get_or_create_module(nwbfile, "misc")
    if "synaptic_clefts" in module.data_interfaces:
        return module["synaptic_clefts"]
    segmentation = mock_EMLabelVolume(nwbfile=nwbfile)
    z, y, x = segmentation.data.shape
    labels = np.zeros((z, y, x), dtype=np.uint8)
    cleft_volume = EMLabelVolume(name="cleft_labels", description="Mock clefts.",
                                 voxel_size=list(segmentation.voxel_size), data=labels,
                                 image_volume=segmentation.image_volume)
    module.add(cleft_volume)
    table = SynapticCleftTable(name="synaptic_clefts", description="Mock clefts; positions in voxels.",
                               cleft_volume=cleft_volume)
    for i in range(n_clefts):
        z0, y0, x0 = rng.integers(0, max(1, z - 1)), rng.integers(0, max(1, y - 3)), rng.integers(0, max(1, x - 1))
        labels[z0:z0 + 2, y0:y0 + 4, x0:x0 + 2] = i + 1
        table.add_row(cleft_id=np.uint64(i + 1), centroid=[z0 + 0.5, y0 + 1.5, x0 + 0.5],
                      num_voxels=16, bounding_box=[z0, y0, x0, z0 + 2, y0 + 4, x0 + 2], score=0.9)
    module.add(table)
    return table


def mock_SynapticPartnerTable(*, rng=0, nwbfile=None):
    """A SynapticPartnerTable with one dyadic and one polyadic (2 partners) synapse.

    It uses the file's ``synaptic_clefts`` when there is one (made with 2 clefts otherwise).
    """
    from nwbsyn.types import SynapticPartnerTable

    nwbfile = nwbfile if nwbfile is not None else mock_nwbfile()
    if "misc" in nwbfile.processing and "synaptic_partners" in nwbfile.processing["misc"].data_interfaces:
        return nwbfile.processing["misc"]["synaptic_partners"]
    clefts = mock_SynapticCleftTable(n_clefts=2, rng=rng, nwbfile=nwbfile)
    table = SynapticPartnerTable(name="synaptic_partners", description="Mock partners.",
                                 segmentation=nwbfile.acquisition["em_segmentation"],
                                 target_tables={"cleft": clefts})
    last = len(clefts) - 1
    for cleft, pre, post in [(0, 1, 2), (last, 3, 2), (last, 3, 4)]:
        table.add_row(cleft=cleft, presynaptic_id=np.uint64(pre), postsynaptic_id=np.uint64(post), presynaptic_score=0.9,
                      postsynaptic_score=0.8)
    nwbfile.processing["misc"].add(table)
    return table


def mock_FunctionalConnectivity(*, source: str = "units", rng=0, nwbfile=None):
    """A FunctionalConnectivity over the file's Units (``source="units"``) or ROIs (``"rois"``)."""
    from hdmf.common import DynamicTableRegion
    from pynwb import TimeSeries

    from nwbsyn.types import FunctionalConnectivity

    rng = as_rng(rng)
    nwbfile = nwbfile if nwbfile is not None else mock_nwbfile()
    same = nwbfile.processing.get("ecephys" if source == "units" else "ophys")
    if same is not None and "functional_connectivity" in same.data_interfaces:
        return same["functional_connectivity"]
    if source == "units":
        if nwbfile.units is None:
            mock_ecephys_nwbfile(nwbfile=nwbfile)
        table, module_name = nwbfile.units, "ecephys"
        activity = TimeSeries(name="binned_spike_counts", data=rng.poisson(1.0, (100, len(table))).astype(float),
                              unit="spikes", rate=10.0, description="Spike counts in 100 ms bins.")
        get_or_create_module(nwbfile, module_name).add(activity)
    else:
        if "ophys" not in nwbfile.processing:
            mock_ophys_nwbfile(nwbfile=nwbfile)
        table = nwbfile.processing["ophys"]["ImageSegmentation"]["PlaneSegmentation"]
        activity, module_name = nwbfile.processing["ophys"]["Fluorescence"]["RoiResponseSeries"], "ophys"
    n = len(table)
    region = lambda name: DynamicTableRegion(name=name, data=list(range(n)), table=table,  # noqa: E731
                                             description=f"{name} neurons")
    connectivity = FunctionalConnectivity(
        name="functional_connectivity", description="Mock connectivity.", method="mock",
        weights=rng.normal(0, 1, (n, n)), presynaptic=region("presynaptic"), postsynaptic=region("postsynaptic"),
        embeddings=rng.normal(0, 1, (n, 4)), metrics='{"forecast_r": 0.5}', bin_size=0.1,
        source_series=activity,
    )
    get_or_create_module(nwbfile, module_name).add(connectivity)
    return connectivity


MOCK_TYPE_BUILDERS = {
    "ModelProvenance": mock_ModelProvenance,
    "SynapticEventsTable": mock_SynapticEventsTable,
    "SynapticEventScoreSeries": mock_SynapticEventScoreSeries,
    "EMImageVolume": mock_EMImageVolume,
    "EMLabelVolume": mock_EMLabelVolume,
    "SynapticCleftTable": mock_SynapticCleftTable,
    "SynapticPartnerTable": mock_SynapticPartnerTable,
    "FunctionalConnectivity": mock_FunctionalConnectivity,
}
