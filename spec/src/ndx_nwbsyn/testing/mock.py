"""``mock_<Type>`` builders for every ndx-nwbsyn type, on the model of :mod:`pynwb.testing.mock`.

Every builder takes keyword-only arguments, all defaulted; ``name=None`` picks a unique name
(:func:`pynwb.testing.mock.utils.name_generator`); each builds what it needs
(``cleft_table or mock_SynapticCleftTable(nwbfile=nwbfile)``) and, when ``nwbfile`` is given,
adds the object to it: volumes to ``acquisition``, events to ``processing['icephys']``, the
rest to ``processing['misc']``. They compose: every type can go into one file.

Example
-------
>>> from pynwb.testing.mock.file import mock_NWBFile
>>> nwbfile = mock_NWBFile()
>>> partners = mock_SynapticPartnerTable(nwbfile=nwbfile)    # with its clefts, volumes and model
>>> clefts = mock_SynapticCleftTable(nwbfile=nwbfile)        # a second, independent cleft table
>>> len(partners), partners.cleft.table is clefts
(3, False)
"""

from __future__ import annotations

import numpy as np
from hdmf.common import DynamicTableRegion, VectorData
from pynwb import NWBFile, TimeSeries
from pynwb.base import TimeSeriesReferenceVectorData
from pynwb.event import DurationVectorData
from pynwb.testing.mock.icephys import mock_VoltageClampSeries
from pynwb.testing.mock.utils import name_generator

from ndx_nwbsyn.types import (
    EMImageVolume,
    EMLabelVolume,
    FunctionalConnectivity,
    ModelProvenance,
    QuantityVectorData,
    SynapticCleftTable,
    SynapticEventScoreSeries,
    SynapticEventsTable,
    SynapticPartnerTable,
)

__all__ = [
    "mock_QuantityVectorData",
    "mock_ModelProvenance",
    "mock_SynapticEventsTable",
    "mock_SynapticEventScoreSeries",
    "mock_EMImageVolume",
    "mock_EMLabelVolume",
    "mock_SynapticCleftTable",
    "mock_SynapticPartnerTable",
    "mock_FunctionalConnectivity",
    "MOCKS",
]

_RATE_HZ = 20_000.0
_VOXEL_SIZE_M = [40e-9, 8e-9, 8e-9]


def _add(nwbfile: NWBFile | None, obj, module: str | None):
    if nwbfile is None:
        return obj
    if module is None:
        nwbfile.add_acquisition(obj)
    else:
        if module not in nwbfile.processing:
            nwbfile.create_processing_module(name=module, description=f"Mock {module} results (ndx-nwbsyn).")
        nwbfile.processing[module].add(obj)
    return obj


def _or(value, default):
    return default if value is None else value


def mock_QuantityVectorData(*, name: str | None = None, description: str | None = None, unit: str | None = None,
                            data=None) -> QuantityVectorData:
    """A column of amplitudes in amperes (a column belongs to a table, so there is no ``nwbfile``)."""
    return QuantityVectorData(name=_or(name, name_generator("QuantityVectorData")),
                              description=_or(description, "Amplitudes."), unit=_or(unit, "amperes"),
                              data=_or(data, [-2e-11, -1.5e-11, -3e-11]))


def mock_ModelProvenance(*, name: str | None = None, model_name: str | None = None, architecture: str | None = None,
                         method: str | None = None, nwbsyn_version: str | None = None,
                         weights_sha256: str | None = None, weights_origin: str | None = None,
                         parameters: str | None = None, training_recipe: str | None = None,
                         model_card: str | dict | None = None, weights=None, weights_format: str | None = None,
                         nwbfile: NWBFile | None = None) -> ModelProvenance:
    """A model referenced by sha256 and origin (``weights=b"..."`` embeds bytes), in ``processing['misc']``."""
    provenance = ModelProvenance(
        name=_or(name, name_generator("ModelProvenance")), model_name=_or(model_name, "mock-model"),
        architecture=_or(architecture, "Conv1D x4 + BiLSTM(96) + Dense"), method=_or(method, "mock"),
        nwbsyn_version=_or(nwbsyn_version, "0.0.0"), weights_sha256=_or(weights_sha256, "0" * 64),
        weights_origin=_or(weights_origin, "mock: no file"), parameters=_or(parameters, '{"threshold": 0.5}'),
        training_recipe=training_recipe, model_card=_or(model_card, {"metrics": {"f1": 1.0}}), weights=weights,
        weights_format=weights_format if weights is None else _or(weights_format, "bytes"),
    )
    return _add(nwbfile, provenance, "misc")


def _trace(series, nwbfile):
    return series if series is not None else mock_VoltageClampSeries(
        data=np.zeros(2_000, np.float32), rate=_RATE_HZ, starting_time=0.0, nwbfile=nwbfile)


def mock_SynapticEventsTable(*, name: str | None = None, description: str | None = None, timestamp=None,
                             amplitude=None, baseline=None, rise_time=None, half_decay_time=None, score=None,
                             trace=None, series: TimeSeries | None = None, model: ModelProvenance | None = None,
                             polarity: str | None = None, nwbfile: NWBFile | None = None) -> SynapticEventsTable:
    """Three events on ``series`` (a mock VoltageClampSeries at 20 kHz by default), in ``processing['icephys']``."""
    from ndx_nwbsyn.types import NAMESPACE  # noqa: F401  (the namespace is loaded)
    from pynwb.event import TimestampVectorData

    series = _trace(series, nwbfile)
    onsets = np.array([200, 700, 1500])
    rate = float(series.rate)
    n = len(onsets)
    model = model if model is not None else mock_ModelProvenance(nwbfile=nwbfile)
    columns = [
        TimestampVectorData(name="timestamp", description="Onsets.", resolution=1.0 / rate,
                            data=_or(timestamp, float(series.starting_time or 0.0) + onsets / rate)),
        mock_QuantityVectorData(name="amplitude", data=amplitude),
        mock_QuantityVectorData(name="baseline", description="Baseline.", data=_or(baseline, np.zeros(n))),
        DurationVectorData(name="rise_time", description="10-90 % rise.", data=_or(rise_time, [3e-4, 2e-4, 4e-4])),
        DurationVectorData(name="half_decay_time", description="Half decay.",
                           data=_or(half_decay_time, [2e-3, 3e-3, 2.5e-3])),
        VectorData(name="score", description="Score.", data=_or(score, [0.9, 0.8, 0.99])),
        TimeSeriesReferenceVectorData(name="trace", description="Event windows.",
                                      data=_or(trace, [(int(o), 240, series) for o in onsets])),
    ]
    table = SynapticEventsTable(name=_or(name, name_generator("SynapticEventsTable")),
                                description=_or(description, "Mock events."), columns=columns,
                                polarity=_or(polarity, "negative"), model=model)
    return _add(nwbfile, table, "icephys")


def mock_SynapticEventScoreSeries(*, name: str | None = None, data=None, rate: float | None = None,
                                  threshold: float | None = None, source_series: TimeSeries | None = None,
                                  nwbfile: NWBFile | None = None) -> SynapticEventScoreSeries:
    """Scores in [0, 1] at 1 kHz over ``source_series``, in ``processing['icephys']``."""
    source_series = _trace(source_series, nwbfile)
    scores = SynapticEventScoreSeries(
        name=_or(name, name_generator("SynapticEventScoreSeries")),
        data=_or(data, np.linspace(0.0, 1.0, 100, dtype=np.float32)), unit="n.a.", rate=_or(rate, 1_000.0),
        starting_time=float(source_series.starting_time or 0.0), threshold=_or(threshold, 0.5),
        source_series=source_series, description="Mock scores.")
    return _add(nwbfile, scores, "icephys")


def mock_EMImageVolume(*, name: str | None = None, description: str | None = None, data=None, voxel_size=None,
                       offset=None, nwbfile: NWBFile | None = None) -> EMImageVolume:
    """A 4 x 16 x 16 uint8 volume at 40 x 8 x 8 nm, in ``acquisition``."""
    data = _or(data, (np.arange(4 * 16 * 16) % 251).astype(np.uint8).reshape(4, 16, 16))
    volume = EMImageVolume(name=_or(name, name_generator("EMImageVolume")), description=_or(description, "Mock EM."),
                           data=data, voxel_size=_or(voxel_size, _VOXEL_SIZE_M), offset=_or(offset, [0.0, 0.0, 0.0]))
    return _add(nwbfile, volume, None)


def mock_EMLabelVolume(*, name: str | None = None, description: str | None = None, data=None,
                       image_volume: EMImageVolume | None = None, nwbfile: NWBFile | None = None) -> EMLabelVolume:
    """Four uint32 segments (stripes along x) over ``image_volume``, in ``acquisition``."""
    image_volume = image_volume if image_volume is not None else mock_EMImageVolume(nwbfile=nwbfile)
    shape = tuple(image_volume.data.shape)
    if data is None:
        data = np.broadcast_to((np.arange(shape[2]) * 4 // shape[2] + 1).astype(np.uint32), shape).copy()
    labels = EMLabelVolume(name=_or(name, name_generator("EMLabelVolume")), description=_or(description, "Segments."),
                           data=data, image_volume=image_volume, voxel_size=list(image_volume.voxel_size),
                           offset=None if image_volume.offset is None else list(image_volume.offset))
    return _add(nwbfile, labels, None)


def _cleft_labels(image_volume: EMImageVolume) -> np.ndarray:
    labels = np.zeros(tuple(image_volume.data.shape), np.uint8)
    labels[1:3, 2:6, 3:5] = 1
    labels[1:3, 8:12, 7:9] = 2
    return labels


def mock_SynapticCleftTable(*, name: str | None = None, description: str | None = None,
                            cleft_volume: EMLabelVolume | None = None, model: ModelProvenance | None = None,
                            nwbfile: NWBFile | None = None) -> SynapticCleftTable:
    """Two clefts of a cleft label volume (made when not given), positions in voxels, in ``processing['misc']``."""
    if cleft_volume is None:
        image = mock_EMImageVolume(nwbfile=nwbfile)
        cleft_volume = mock_EMLabelVolume(description="Mock clefts.", data=_cleft_labels(image), image_volume=image,
                                          nwbfile=nwbfile)
    labels = np.asarray(cleft_volume.data[:])
    table = SynapticCleftTable(name=_or(name, name_generator("SynapticCleftTable")),
                               description=_or(description, "Mock clefts; positions in voxels."),
                               cleft_volume=cleft_volume,
                               model=model if model is not None else mock_ModelProvenance(nwbfile=nwbfile))
    for cleft_id in [int(v) for v in np.unique(labels) if v]:
        where = np.argwhere(labels == cleft_id)
        table.add_row(cleft_id=np.uint64(cleft_id), centroid=where.mean(axis=0).tolist(), num_voxels=len(where),
                      bounding_box=[*where.min(axis=0).tolist(), *(where.max(axis=0) + 1).tolist()], score=0.9)
    return _add(nwbfile, table, "misc")


def mock_SynapticPartnerTable(*, name: str | None = None, description: str | None = None,
                              cleft_table: SynapticCleftTable | None = None,
                              segmentation: EMLabelVolume | None = None, model: ModelProvenance | None = None,
                              nwbfile: NWBFile | None = None) -> SynapticPartnerTable:
    """One dyadic and one polyadic (two partners) synapse over ``cleft_table``, in ``processing['misc']``."""
    cleft_table = cleft_table if cleft_table is not None else mock_SynapticCleftTable(nwbfile=nwbfile)
    if segmentation is None:
        segmentation = mock_EMLabelVolume(image_volume=cleft_table.cleft_volume.image_volume, nwbfile=nwbfile)
    table = SynapticPartnerTable(name=_or(name, name_generator("SynapticPartnerTable")),
                                 description=_or(description, "Mock partners."), segmentation=segmentation,
                                 target_tables={"cleft": cleft_table},
                                 model=model if model is not None else mock_ModelProvenance(nwbfile=nwbfile))
    for row, pre, post in [(0, 1, 2), (len(cleft_table) - 1, 3, 2), (len(cleft_table) - 1, 3, 4)]:
        table.add_row(cleft=row, presynaptic_id=np.uint64(pre), postsynaptic_id=np.uint64(post),
                      presynaptic_score=0.9, postsynaptic_score=0.8)
    return _add(nwbfile, table, "misc")


def _units(nwbfile: NWBFile | None, n_units: int):
    from pynwb.misc import Units

    if nwbfile is not None and nwbfile.units is not None:
        return nwbfile.units
    units = Units(name="units", description="Mock units.")
    for k in range(n_units):
        units.add_unit(spike_times=np.sort(np.random.default_rng(k).uniform(0.0, 10.0, 20)))
    if nwbfile is not None:
        nwbfile.units = units
    return units


def mock_FunctionalConnectivity(*, name: str | None = None, description: str | None = None, method: str | None = None,
                                weights=None, neurons=None, embeddings=None, bin_size: float | None = None,
                                metrics: str | None = None, source_series: TimeSeries | None = None,
                                model: ModelProvenance | None = None,
                                nwbfile: NWBFile | None = None) -> FunctionalConnectivity:
    """A connectivity over ``neurons`` (the file's Units, or 4 mock units) and their binned counts."""
    neurons = neurons if neurons is not None else _units(nwbfile, 4)
    n = len(neurons)
    bin_size = _or(bin_size, 0.1)
    if source_series is None:
        source_series = _add(nwbfile, TimeSeries(
            name=name_generator("binned_spike_counts"), data=np.ones((50, n)), unit="spikes", rate=1.0 / bin_size,
            description="Spike counts per bin."), "misc")
    region = lambda label: DynamicTableRegion(name=label, data=list(range(n)), table=neurons,  # noqa: E731
                                              description=f"The {label} neurons.")
    connectivity = FunctionalConnectivity(
        name=_or(name, name_generator("FunctionalConnectivity")), description=_or(description, "Mock connectivity."),
        method=_or(method, "mock"), weights=_or(weights, np.eye(n)), presynaptic=region("presynaptic"),
        postsynaptic=region("postsynaptic"), embeddings=_or(embeddings, np.zeros((n, 2))), bin_size=bin_size,
        metrics=_or(metrics, '{"forecast_r": 0.5}'), source_series=source_series,
        model=model if model is not None else mock_ModelProvenance(nwbfile=nwbfile))
    return _add(nwbfile, connectivity, "misc")


#: neurodata type -> mock builder, for every type of the namespace
MOCKS = {
    "QuantityVectorData": mock_QuantityVectorData,
    "ModelProvenance": mock_ModelProvenance,
    "SynapticEventsTable": mock_SynapticEventsTable,
    "SynapticEventScoreSeries": mock_SynapticEventScoreSeries,
    "EMImageVolume": mock_EMImageVolume,
    "EMLabelVolume": mock_EMLabelVolume,
    "SynapticCleftTable": mock_SynapticCleftTable,
    "SynapticPartnerTable": mock_SynapticPartnerTable,
    "FunctionalConnectivity": mock_FunctionalConnectivity,
}
