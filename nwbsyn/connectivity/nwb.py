"""Between NWB and arrays for connectivity: bin Units or read ROI traces; write FunctionalConnectivity.

The model's convention ``weights[i, k]`` (post i, pre k) becomes the schema's
``weights[pre, post]`` here, and nowhere else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from nwbsyn._shared import InputError
from nwbsyn._shared.nwb import (
    find_object,
    get_or_create_module,
    list_analysable,
    make_provenance,
    put_result,
    series_rate_hz,
)

__all__ = ["ActivityInput", "load_inputs", "add_results", "run_on_nwbfile", "to_xarray", "RESULT_NAME"]

RESULT_NAME = "functional_connectivity"


@dataclass(frozen=True)
class ActivityInput:
    """Population activity ready for fitting: (T, N) on a regular time base."""

    activity: np.ndarray  # (T, N) spike counts per bin or fluorescence
    dt_s: float
    start_s: float
    table: object  # Units or PlaneSegmentation
    rows: list  # rows of ``table``, one per column of ``activity``
    kind: str  # "units" or "rois"
    source_series: object | None  # the RoiResponseSeries, or None for Units (binned here)
    behavior: np.ndarray | None  # (T, B)
    behavior_name: str | None = None

    @property
    def loss(self) -> str:
        return "poisson" if self.kind == "units" else "mse"


def _bin_units(units, bin_s: float):
    if len(units) < 2:
        raise InputError(f"The Units table has {len(units)} unit(s); connectivity needs at least 2 neurons.")
    trains = [np.asarray(units.get_unit_spike_times(i), dtype=float) for i in range(len(units))]
    empty = [str(units.id[i]) for i, t in enumerate(trains) if t.size == 0]
    if empty:
        raise InputError(f"Units {', '.join(empty)} have no spikes; remove them (or select others) before fitting.")
    start, stop = min(t.min() for t in trains), max(t.max() for t in trains)
    if stop - start < bin_s * 2:
        raise InputError(f"The recording spans {stop - start:.3g} s, shorter than two bins of {bin_s * 1e3:g} ms; "
                         "use a smaller --bin-ms.")
    edges = start + bin_s * np.arange(int(np.floor((stop - start) / bin_s)) + 2)
    counts = np.stack([np.histogram(t, bins=edges)[0] for t in trains], axis=1).astype(np.float32)
    return counts, float(start)


def _roi_series(nwbfile, source: str):
    from pynwb.ophys import RoiResponseSeries

    if source in ("rois", "auto"):
        items = [i for i in list_analysable(nwbfile) if i.kind == "roi_response"]
        if not items:
            raise InputError("The file holds no RoiResponseSeries; use --source units or name a series.")
        return find_object(nwbfile, items[0].path)
    obj = find_object(nwbfile, source, kinds=("roi_response", "trace"))
    if not isinstance(obj, RoiResponseSeries):
        raise InputError(f"'{source}' is a {obj.neurodata_type}, not a RoiResponseSeries; connectivity needs "
                         "traces tied to ROIs (or --source units).")
    return obj


def _rebin(data: np.ndarray, rate_hz: float, bin_s: float | None):
    if bin_s is None or abs(bin_s * rate_hz - 1.0) < 1e-6:
        return data, 1.0 / rate_hz
    factor = int(round(bin_s * rate_hz))
    if factor < 1 or abs(factor / rate_hz - bin_s) > 1e-3 * bin_s:
        raise InputError(f"--bin-ms {bin_s * 1e3:g} is not a whole multiple of the series' sampling period "
                         f"({1e3 / rate_hz:g} ms); choose a multiple.")
    n = data.shape[0] // factor
    if n < 2:
        raise InputError(f"--bin-ms {bin_s * 1e3:g} leaves fewer than 2 bins; use a smaller bin.")
    return data[: n * factor].reshape(n, factor, -1).mean(axis=1), factor / rate_hz


def _behavior(nwbfile, name: str, start_s: float, dt_s: float, n: int):
    series = find_object(nwbfile, name)
    data = np.asarray(series.data[:], dtype=float).reshape(len(series.data), -1)
    if series.timestamps is not None:
        times = np.asarray(series.timestamps[:], dtype=float)
    else:
        times = float(series.starting_time or 0.0) + np.arange(len(data)) / series_rate_hz(series)
    centers = start_s + dt_s * (np.arange(n) + 0.5)
    if times[0] > centers[0] + dt_s or times[-1] < centers[-1] - dt_s:
        raise InputError(f"Behaviour '{name}' covers {times[0]:.3g}-{times[-1]:.3g} s but the activity spans "
                         f"{centers[0]:.3g}-{centers[-1]:.3g} s; give a behaviour series over the whole recording.")
    if not np.isfinite(data).all():
        raise InputError(f"Behaviour '{name}' contains NaN or infinite values; clean it first.")
    return np.stack([np.interp(centers, times, column) for column in data.T], axis=1)


def load_inputs(nwbfile, *, source: str = "auto", bin_ms: float | None = None,
                behavior: str | None = None) -> ActivityInput:
    """Population activity of ``nwbfile``: binned ``Units`` spike counts or a RoiResponseSeries.

    Parameters
    ----------
    source : "auto", "units", "rois" or a series name
        ``"auto"`` takes Units when present, otherwise the first RoiResponseSeries.
    bin_ms : float, optional
        Bin size; default 20 ms for Units, the native sampling period for ROI traces.
    behavior : str, optional
        Name of a TimeSeries of behavioural covariates, resampled onto the bins.

    Example
    -------
    >>> from nwbsyn.testing import mock_ecephys_nwbfile
    >>> load_inputs(mock_ecephys_nwbfile(n_units=4), bin_ms=50).activity.shape[1]
    4
    """
    if bin_ms is not None and not bin_ms > 0:
        raise InputError(f"--bin-ms must be positive; got {bin_ms}.")
    use_units = source == "units" or (source == "auto" and nwbfile.units is not None and len(nwbfile.units) > 0)
    if use_units:
        if nwbfile.units is None:
            raise InputError("The file has no Units table; use --source rois or name a RoiResponseSeries.")
        counts, start = _bin_units(nwbfile.units, (bin_ms or 20.0) / 1e3)
        inp = dict(activity=counts, dt_s=(bin_ms or 20.0) / 1e3, start_s=start, table=nwbfile.units,
                   rows=list(range(len(nwbfile.units))), kind="units", source_series=None)
    else:
        series = _roi_series(nwbfile, source)
        data = np.asarray(series.data[:], dtype=np.float32)
        if data.ndim != 2 or data.shape[1] < 2:
            raise InputError(f"{series.name} has shape {data.shape}; connectivity needs (time, ≥ 2 ROIs).")
        if not np.isfinite(data).all():
            raise InputError(f"{series.name} contains NaN or infinite values; interpolate or drop those ROIs first.")
        rate = series_rate_hz(series)
        data, dt = _rebin(data, rate, None if bin_ms is None else bin_ms / 1e3)
        start = float(series.starting_time or 0.0) if series.timestamps is None else float(series.timestamps[0])
        inp = dict(activity=data.astype(np.float32), dt_s=dt, start_s=start, table=series.rois.table,
                   rows=[int(r) for r in series.rois.data[:]], kind="rois", source_series=series)
    beh = _behavior(nwbfile, behavior, inp["start_s"], inp["dt_s"], len(inp["activity"])) if behavior else None
    return ActivityInput(**inp, behavior=beh, behavior_name=behavior)


def add_results(nwbfile, inp: ActivityInput, result, *, provenance: dict, overwrite: bool = False):
    """Write the FunctionalConnectivity (and, for Units, the binned counts it was fitted on)."""
    from hdmf.common import DynamicTableRegion
    from pynwb import TimeSeries

    from nwbsyn.types import FunctionalConnectivity

    module = get_or_create_module(nwbfile, "ecephys" if inp.kind == "units" else "ophys")
    source = inp.source_series
    if inp.kind == "units":
        source = TimeSeries(name="binned_spike_counts", data=inp.activity, unit="spikes", rate=1.0 / inp.dt_s,
                            starting_time=inp.start_s, description="Units spike counts per bin (nwbsyn).")
        put_result(module, source, overwrite=overwrite)
    model = make_provenance(name=f"{RESULT_NAME}_model", **provenance)
    put_result(module, model, overwrite=overwrite)
    region = lambda name: DynamicTableRegion(  # noqa: E731
        name=name, data=list(inp.rows), table=inp.table, description=f"The {name} neurons.")
    connectivity = FunctionalConnectivity(
        name=RESULT_NAME, method="SynapsNet (nwbsyn)", weights=np.asarray(result.weights, dtype=float).T,
        presynaptic=region("presynaptic"), postsynaptic=region("postsynaptic"),
        embeddings=np.asarray(result.embeddings, dtype=float), bin_size_s=float(inp.dt_s),
        metrics=json.dumps(result.metrics, sort_keys=True, default=float), source_series=source, model=model,
        description=("Directed functional connectivity learned with SynapsNet: weights[j, i] is the influence "
                     "of presynaptic[j] on postsynaptic[i] (positive excitatory, negative inhibitory)."),
    )
    put_result(module, connectivity, overwrite=overwrite)
    return connectivity


def run_on_nwbfile(nwbfile, *, source: str = "auto", bin_ms: float | None = None, behavior: str | None = None,
                   seed: int = 0, device: str = "auto", overwrite: bool = False, progress_bar: bool = True,
                   **fit_kwargs):
    """Fit SynapsNet on the population activity of ``nwbfile`` and add the result to it.

    Returns ``(ActivityInput, ConnectivityResult)``.

    Example
    -------
    >>> from nwbsyn.testing import mock_ecephys_nwbfile
    >>> inp, res = run_on_nwbfile(mock_ecephys_nwbfile(), bin_ms=50, progress_bar=False)  # doctest: +SKIP
    """
    from nwbsyn.connectivity.infer import fit_connectivity

    inp = load_inputs(nwbfile, source=source, bin_ms=bin_ms, behavior=behavior)
    if module_has_result(nwbfile, inp) and not overwrite:
        raise InputError(f"The file already holds nwbsyn connectivity results ({RESULT_NAME}); pass --overwrite "
                         "to replace them.")
    result = fit_connectivity(inp.activity, behavior=inp.behavior, loss=inp.loss, seed=seed, device=device,
                              progress_bar=progress_bar, **fit_kwargs)
    params = dict(result.params, source=inp.kind, bin_s=inp.dt_s, behavior=inp.behavior_name,
                  n_neurons=int(inp.activity.shape[1]), n_steps=int(inp.activity.shape[0]))
    provenance = dict(
        model_name="SynapsNet", method="SynapsNet (per-session adjacency, neuron embeddings, shared decoder)",
        architecture="adjacency A (N x N, zero diagonal) + neuron embeddings + shared MLP decoder, monotone in "
                     "the input current", parameters=params,
        training_recipe=f"fitted on this file's {inp.kind} activity, seed {seed}",
    )
    add_results(nwbfile, inp, result, provenance=provenance, overwrite=overwrite)
    return inp, result


def module_has_result(nwbfile, inp: ActivityInput) -> bool:
    name = "ecephys" if inp.kind == "units" else "ophys"
    return name in nwbfile.processing and RESULT_NAME in nwbfile.processing[name].data_interfaces


def to_xarray(connectivity):
    """An ``xarray.Dataset`` view of a FunctionalConnectivity read from a file.

    ``weights`` has dims (presynaptic, postsynaptic) and ``embeddings`` (neuron, embedding_dim); the
    coordinates are the ids of the referenced Units / ROI rows.

    Example
    -------
    >>> ds = to_xarray(nwbfile.processing["ecephys"]["functional_connectivity"])   # doctest: +SKIP
    >>> ds.weights.sel(presynaptic=3, postsynaptic=7)                             # doctest: +SKIP
    """
    import xarray as xr

    def ids(region):
        return np.asarray(region.table.id[:])[np.asarray(region.data[:], dtype=int)]

    pre, post = ids(connectivity.presynaptic), ids(connectivity.postsynaptic)
    data = {"weights": (("presynaptic", "postsynaptic"), np.asarray(connectivity.weights[:]))}
    if connectivity.embeddings is not None:
        data["embeddings"] = (("presynaptic", "embedding_dim"), np.asarray(connectivity.embeddings[:]))
    attrs = {"method": connectivity.method, "bin_size_s": connectivity.bin_size_s,
             "metrics": connectivity.metrics or "{}"}
    return xr.Dataset(data, coords={"presynaptic": pre, "postsynaptic": post}, attrs=attrs)
