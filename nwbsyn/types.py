"""The ndx-nwbsyn classes, re-exported from the ``ndx_nwbsyn`` package (which defines them).

The schema and its classes live in the separate distribution ``ndx-nwbsyn`` (``spec/`` in this
repository; it needs only pynwb and hdmf). This module keeps ``from nwbsyn.types import ...``
working and adds the small helpers nwbsyn's writers share.

Example
-------
>>> from nwbsyn.types import SynapticEventsTable
>>> table = SynapticEventsTable(name="events", description="demo", amplitude_unit="amperes")
>>> table.amplitude.unit
'amperes'
"""

from __future__ import annotations

import numpy as np
from ndx_nwbsyn import types as _ndx_types
from ndx_nwbsyn.types import *  # noqa: F401,F403 (the extension's classes, defined by ndx-nwbsyn)

__all__ = [
    *_ndx_types.__all__,
    "event_timestamps",
    "smallest_unsigned",
    "cleft_centroids_nm",
]


def event_timestamps(onsets_s, *, sampling_rates_hz, description: str = "Event onset (steepest rise), seconds."):
    """The ``timestamp`` column of a SynapticEventsTable, with its ``resolution`` (schema 0.2).

    ``resolution`` is the coarsest sampling period among the analysed traces (1 / the lowest rate).

    Example
    -------
    >>> column = event_timestamps([0.1, 0.25], sampling_rates_hz=[20_000.0])
    >>> column.resolution
    5e-05
    """
    from pynwb.event import TimestampVectorData

    rates = np.asarray(sampling_rates_hz, float).reshape(-1)
    if not rates.size or not np.all(np.isfinite(rates) & (rates > 0)):
        raise ValueError(f"sampling_rates_hz must be positive finite numbers; got {sampling_rates_hz!r}.")
    return TimestampVectorData(name="timestamp", description=description, data=np.asarray(onsets_s, float),
                               resolution=float(1.0 / rates.min()))


def smallest_unsigned(labels) -> np.ndarray:
    """``labels`` as the smallest unsigned integer type that holds its largest id (schema 0.2 label volumes).

    Example
    -------
    >>> smallest_unsigned(np.array([0, 3, 70_000])).dtype
    dtype('uint32')
    """
    labels = np.asarray(labels)
    if labels.size and labels.dtype.kind in "iu" and labels.min() < 0:
        raise ValueError("label ids must be >= 0 (0 = background); got negative ids.")
    top = int(labels.max()) if labels.size else 0
    dtype = next(t for t in (np.uint8, np.uint16, np.uint32, np.uint64) if top <= np.iinfo(t).max)
    return labels.astype(dtype, copy=False)


def cleft_centroids_nm(table) -> np.ndarray:
    """(n, 3) centroids (z, y, x) of a SynapticCleftTable in nm on the volume's coordinates.

    Schema 0.2 stores centroids in voxels of ``table.cleft_volume``; this applies its voxel size
    and offset (a 0.1 table whose centroids kept their ``unit`` is converted from that unit).

    Example
    -------
    >>> from ndx_nwbsyn.testing.mock import mock_SynapticCleftTable
    >>> cleft_centroids_nm(mock_SynapticCleftTable())[0].tolist()   # voxels (1.5, 3.5, 3.5) at 40 x 8 x 8 nm
    [60.0, 28.0, 28.0]
    """
    from ndx_nwbsyn.types import METERS_PER

    column = table["centroid"]
    centroids = np.asarray(column.data[:], float).reshape(len(table), -1)
    unit = getattr(column, "unit", None)
    if unit in METERS_PER:
        return centroids * METERS_PER[unit] / 1e-9
    volume = table.cleft_volume
    if volume is None:
        raise ValueError(f"{table.name} has no cleft_volume, so its voxel centroids have no size in nm.")
    offset = volume.offset_nm
    return centroids * np.asarray(volume.voxel_size_nm, float) + (0.0 if offset is None else np.asarray(offset))
