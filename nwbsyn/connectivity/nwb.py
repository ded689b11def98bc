"""Between NWB and arrays for connectivity: bin Units or read ROI traces; write FunctionalConnectivity.

The model's convention ``weights[i, k]`` (post i, pre k) becomes the schema's
``weights[pre, post]`` here, and nowhere else.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import numpy as np

from nwbsyn._shared import InputError
from nwbsyn._shared.nwb import (
    find_object,
    get_or_create_module,
    object_path,
    list_analysable,
    put_result,
    series_rate_hz,
)
from nwbsyn._shared.provenance import model_provenance
from nwbsyn._shared.run import SHARED_RUN_OPTIONS, RunResult
from nwbsyn.connectivity._checks import check_numeric_dtype, check_size, check_time_base

__all__ = ["ActivityInput", "load_inputs", "add_results", "run_on_nwbfile", "summarize", "to_xarray",
           "behavior_series", "RESULT_NAME", "EDGES_NAME", "RUN_OPTIONS"]

RESULT_NAME = "functional_connectivity"
log = logging.getLogger("nwbsyn")


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
    bin_choice: dict | None = None  # how the bin was chosen when no bin was given (see binning.choose_bin_ms)

    @property
    def loss(self) -> str:
        return "poisson" if self.kind == "units" else "mse"


def _spike_trains(units) -> list[np.ndarray]:
    trains = []
    for i in range(len(units)):
        try:
            train = np.asarray(units.get_unit_spike_times(i), dtype=float).ravel()
        except (TypeError, ValueError) as err:
            raise InputError(f"The spike times of unit {units.id[i]} are not numbers; fix the Units table.") from err
        trains.append(train)
    empty = [str(units.id[i]) for i, t in enumerate(trains) if t.size == 0]
    if empty:
        raise InputError(f"Units {', '.join(empty)} have no spikes; remove them (or select others) before fitting.")
    bad = [str(units.id[i]) for i, t in enumerate(trains) if not np.all(np.isfinite(t))]
    if bad:
        raise InputError(f"Units {', '.join(bad[:10])} have NaN or infinite spike times; remove those spikes "
                         "from the Units table first.")
    return trains


def _check_span(units, trains, bin_s: float):
    """``(start, stop, n_bins)`` of the spike trains at ``bin_s``, refusing spans too short or too long."""
    start, stop = min(t.min() for t in trains), max(t.max() for t in trains)
    if stop - start < bin_s * 2:
        raise InputError(f"The recording spans {stop - start:.3g} s, shorter than two bins of {bin_s * 1e3:g} ms; "
                         "use a smaller --bin-ms.")
    n_bins = np.floor((stop - start) / bin_s) + 1
    fix = "use a larger --bin-ms"
    if stop - start > 1e5:  # more than a day: likely a stray spike time (or times in the wrong unit)
        latest = int(np.argmax([t.max() for t in trains]))
        fix += f", or check the spike times of unit {units.id[latest]} (latest spike at {stop:.6g} s)"
    check_size(n_bins, len(trains), what=f"The Units span {stop - start:.6g} s, which at --bin-ms {bin_s * 1e3:g} is",
               fix=fix)
    return start, stop, n_bins


def _bin_units(units, bin_s: float):
    if len(units) < 2:
        raise InputError(f"The Units table has {len(units)} unit(s); connectivity needs at least 2 neurons.")
    trains = _spike_trains(units)
    start, stop, n_bins = _check_span(units, trains, bin_s)
    edges = start + bin_s * np.arange(int(n_bins) + 1)
    counts = np.empty((len(edges) - 1, len(trains)), dtype=np.float32)
    for column, train in enumerate(trains):
        counts[:, column] = np.histogram(train, bins=edges)[0]
    return counts, float(start)


def _roi_series(nwbfile, source: str):
    from pynwb.ophys import RoiResponseSeries

    if source in ("rois", "auto"):
        items = [i for i in list_analysable(nwbfile) if i.kind == "roi_response"]
        if not items:
            raise InputError("The file holds no RoiResponseSeries; use --source units or name a series.")
        cells = [i for i in items if "neuropil" not in i.path.lower()] or items  # neuropil traces are no neurons
        if len(cells) == 1 and len(items) > 1:
            log.warning("using the ROI series %s (the others are neuropil traces: %s); pass --source NAME to choose.",
                        cells[0].path, ", ".join(i.path for i in items if i is not cells[0]))
        if len(cells) > 1:
            raise InputError(f"The file holds {len(items)} ROI series ({', '.join(i.path for i in items)}); "
                             f"choose one with --source NAME, e.g. --source {cells[0].path.rsplit('/', 1)[-1]}.")
        return find_object(nwbfile, cells[0].path)
    obj = find_object(nwbfile, source, kinds=("roi_response", "trace"))
    if not isinstance(obj, RoiResponseSeries):
        raise InputError(f"'{source}' is a {obj.neurodata_type}, not a RoiResponseSeries; connectivity needs "
                         "traces tied to ROIs (or --source units).")
    return obj


def _series_data(series, *, what: str) -> np.ndarray:
    """The data of a TimeSeries as float32, after checking its type, time base and size."""
    data = series.data
    if data is None:
        raise InputError(f"{what} holds no data; name a series with data.")
    dtype = getattr(data, "dtype", None)
    check_numeric_dtype(np.asarray(data[:1]).dtype if dtype is None else dtype, what=what)
    shape = tuple(getattr(data, "shape", np.shape(data)))
    check_time_base(n_samples=shape[0] if shape else 0, rate_hz=getattr(series, "rate", None),
                    timestamps=series.timestamps, starting_time=getattr(series, "starting_time", None), what=what)
    n_columns = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    check_size(shape[0] if shape else 0, n_columns, what=f"{what} has", fix="analyse a shorter stretch of it")
    values = np.asarray(data[:])
    if not np.all(np.isfinite(values)):
        raise InputError(f"{what} contains NaN or infinite values; interpolate or drop those samples first.")
    largest = max(abs(float(values.max())), abs(float(values.min()))) if values.size else 0.0
    if largest > 1e30:
        raise InputError(f"{what} holds values up to {largest:.3g}, beyond what a fit can use; "
                         "store the traces in a sensible unit (use the series' conversion factor).")
    return values.astype(np.float32)


def _rate_hz(series) -> float:
    rate = series_rate_hz(series)
    if rate is None or not np.isfinite(rate) or rate <= 0:
        raise InputError(f"{series.name} has no usable sampling rate; set a positive rate or timestamps in the file.")
    return rate


def _rebin(data: np.ndarray, rate_hz: float, bin_s: float | None):
    if bin_s is None or abs(bin_s * rate_hz - 1.0) < 1e-6:
        return data, 1.0 / rate_hz
    factor = int(round(bin_s * rate_hz)) if bin_s * rate_hz < 2 ** 62 else 0
    if factor < 1 or abs(factor / rate_hz - bin_s) > 1e-3 * bin_s:
        raise InputError(f"--bin-ms {bin_s * 1e3:g} is not a whole multiple of the series' sampling period "
                         f"({1e3 / rate_hz:g} ms); choose a multiple.")
    n = data.shape[0] // factor
    if n < 2:
        raise InputError(f"--bin-ms {bin_s * 1e3:g} leaves fewer than 2 bins; use a smaller bin.")
    return data[: n * factor].reshape(n, factor, -1).mean(axis=1), factor / rate_hz


def _behavior(nwbfile, name: str, start_s: float, dt_s: float, n: int, series=None):
    from pynwb import TimeSeries

    series = series if series is not None else find_object(nwbfile, name, kinds=("trace", "patch_clamp",
                                                                                 "roi_response"))
    if not isinstance(series, TimeSeries):
        raise InputError(f"--behavior '{name}' is a {series.neurodata_type}, not a TimeSeries; name a TimeSeries.")
    what = f"The behaviour series '{name}'"
    data = _series_data(series, what=what).astype(float)
    if len(data) < 2:
        raise InputError(f"{what} has {len(data)} sample(s); give a behaviour series over the whole recording.")
    data = data.reshape(len(data), -1)
    if series.timestamps is not None:
        times = np.asarray(series.timestamps[:], dtype=float)
    else:
        times = float(series.starting_time or 0.0) + np.arange(len(data)) / _rate_hz(series)
    centers = start_s + dt_s * (np.arange(n) + 0.5)
    slack = max(dt_s, float(np.median(np.diff(times))))  # one bin or one behaviour sample at either end
    if times[0] > centers[0] + slack or times[-1] < centers[-1] - slack:
        raise InputError(f"Behaviour '{name}' covers {times[0]:.3g}-{times[-1]:.3g} s but the activity spans "
                         f"{centers[0]:.3g}-{centers[-1]:.3g} s; give a behaviour series over the whole recording "
                         "(or --no-behavior).")
    return np.stack([np.interp(centers, times, column) for column in data.T], axis=1)


def behavior_series(nwbfile, *, max_columns: int = 16) -> list:
    """The numeric TimeSeries in ``processing['behavior']`` (also inside containers such as Position or
    BehavioralTimeSeries), by path; series with more than ``max_columns`` columns (e.g. video) are skipped."""
    from pynwb import TimeSeries

    if "behavior" not in nwbfile.processing:
        return []
    found = []
    for obj in nwbfile.processing["behavior"].data_interfaces.values():
        inner = [obj] if isinstance(obj, TimeSeries) else [
            v for attr in ("time_series", "spatial_series") for v in (getattr(obj, attr, None) or {}).values()]
        for series in inner:
            shape = tuple(getattr(series.data, "shape", np.shape(series.data)))
            if isinstance(series, TimeSeries) and shape and int(np.prod(shape[1:])) <= max_columns:
                found.append(series)
    return sorted(found, key=object_path)


def _roi_input(nwbfile, source: str, bin_ms: float | None) -> dict:
    series = _roi_series(nwbfile, source)
    what = f"The ROI series '{series.name}'"
    data = _series_data(series, what=what)
    if data.ndim != 2 or data.shape[1] < 2 or data.shape[0] < 2:
        raise InputError(f"{what} has shape {data.shape}; connectivity needs (time, ROIs) data with at least 2 ROIs "
                         "and 2 samples.")
    rows = [int(r) for r in np.asarray(series.rois.data[:]).ravel()]
    n_table = len(series.rois.table)
    if len(rows) != data.shape[1]:
        raise InputError(f"{what} has {data.shape[1]} columns but references {len(rows)} ROIs; give one column "
                         "per referenced ROI.")
    if any(r < 0 or r >= n_table for r in rows):
        raise InputError(f"{what} references ROI rows outside its table of {n_table} ROIs; fix its rois region.")
    rate = _rate_hz(series)
    data, dt = _rebin(data, rate, None if bin_ms is None else bin_ms / 1e3)
    start = float(series.starting_time or 0.0) if series.timestamps is None else float(series.timestamps[0])
    return dict(activity=data.astype(np.float32), dt_s=dt, start_s=start, table=series.rois.table,
                rows=rows, kind="rois", source_series=series)


def load_inputs(nwbfile, *, source: str = "auto", bin_ms: float | None = None,
                behavior: str | None = "auto", min_bins: int | None = None) -> list[ActivityInput]:
    """Population activity of ``nwbfile``: binned ``Units`` spike counts or a RoiResponseSeries.

    Returns a list of one :class:`ActivityInput` (a list, as ``load_inputs`` of every analysis).

    Parameters
    ----------
    source : "auto", "units", "rois" or a series name
        ``"auto"`` takes Units when present, otherwise the RoiResponseSeries; when the file has
        several that are not neuropil traces, the choice is refused with the list of series.
    bin_ms : float, optional
        Bin size. Default for Units: chosen from the data by
        :func:`~nwbsyn.connectivity.binning.choose_bin_ms` (10, 20 or 50 ms; 5 ms when a
        recording is too short for those; recorded in ``bin_choice``); for ROI traces the
        native sampling period.
    behavior : "auto", str or None
        ``"auto"``: every TimeSeries in ``processing['behavior']`` (none if there is no such
        module); a name: that TimeSeries; ``None``: no behaviour. Resampled onto the bins.
    min_bins : int, optional
        When the bin is chosen, only bins that leave at least this many steps are candidates
        (default: what a fit with the default context needs).

    Example
    -------
    >>> from nwbsyn.testing import mock_ecephys_nwbfile
    >>> load_inputs(mock_ecephys_nwbfile(n_units=4), bin_ms=50)[0].activity.shape[1]
    4
    """
    return [_load_input(nwbfile, source=source, bin_ms=bin_ms, behavior=behavior, min_bins=min_bins)]


def _load_input(nwbfile, *, source, bin_ms, behavior, min_bins) -> ActivityInput:
    if bin_ms is not None and not (np.isfinite(bin_ms) and bin_ms > 0):
        raise InputError(f"--bin-ms must be a positive number of milliseconds; got {bin_ms}.")
    use_units = source == "units" or (source == "auto" and nwbfile.units is not None and len(nwbfile.units) > 0)
    choice = None
    if use_units:
        if nwbfile.units is None:
            raise InputError("The file has no Units table; use --source rois or name a RoiResponseSeries.")
        if bin_ms is None:
            from nwbsyn.connectivity.binning import choose_bin_ms

            if len(nwbfile.units) < 2:
                raise InputError(f"The Units table has {len(nwbfile.units)} unit(s); connectivity needs at least "
                                 "2 neurons.")
            from nwbsyn.connectivity.binning import CANDIDATE_BINS_MS, FALLBACK_BIN_MS

            trains = _spike_trains(nwbfile.units)
            _check_span(nwbfile.units, trains, max(CANDIDATE_BINS_MS) / 1e3)  # even the coarsest must fit
            if min_bins is None:
                from nwbsyn.connectivity.train import TrainConfig, min_steps

                min_bins = min_steps(TrainConfig())
            try:
                try:
                    choice = choose_bin_ms(trains, min_bins=min_bins).as_dict()
                except InputError:  # too short for the usual candidates: 5 ms, if that leaves enough
                    choice = choose_bin_ms(trains, candidates_ms=(FALLBACK_BIN_MS,), min_bins=min_bins).as_dict()
            except InputError as err:
                span = max(t.max() for t in trains) - min(t.min() for t in trains)
                finest = FALLBACK_BIN_MS
                raise InputError(f"The units span {span:.3g} s: even {finest:g} ms bins leave "
                                 f"{int(span / finest * 1e3) + 1} time bins, but a fit needs at least {min_bins}; "
                                 "give a smaller --bin-ms or a longer recording.") from err
        bin_used = float(bin_ms if bin_ms is not None else choice["bin_ms"])
        counts, start = _bin_units(nwbfile.units, bin_used / 1e3)
        inp = dict(activity=counts, dt_s=bin_used / 1e3, start_s=start, table=nwbfile.units,
                   rows=list(range(len(nwbfile.units))), kind="units", source_series=None)
    else:
        inp = _roi_input(nwbfile, source, bin_ms)
    beh, names = None, None
    if behavior == "auto":
        found = behavior_series(nwbfile)
        if found:
            names = [object_path(series) for series in found]
            beh = np.concatenate([_behavior(nwbfile, path, inp["start_s"], inp["dt_s"], len(inp["activity"]),
                                            series=series) for path, series in zip(names, found)], axis=1)
    elif behavior:
        beh = _behavior(nwbfile, behavior, inp["start_s"], inp["dt_s"], len(inp["activity"]))
        names = [behavior]
    return ActivityInput(**inp, behavior=beh, behavior_name=None if names is None else ", ".join(names),
                         bin_choice=choice)


def add_results(nwbfile, inputs: list, results: list, *, provenance: dict, module: str | None = None,
                overwrite: bool = False):
    """Write the FunctionalConnectivity (and, for Units, the binned counts it was fitted on).

    ``inputs`` and ``results``: one :class:`ActivityInput` and its ConnectivityResult.
    ``provenance`` holds the keyword arguments of :func:`nwbsyn._shared.provenance.model_provenance`
    except ``name``. ``module`` defaults to ``"ecephys"`` for Units and ``"ophys"`` for ROIs (the
    contract is the same in every analysis: :mod:`nwbsyn._shared.run`). Returns the
    FunctionalConnectivity.
    """
    from hdmf.common import DynamicTableRegion
    from pynwb import TimeSeries

    from nwbsyn.types import FunctionalConnectivity

    if len(inputs) != 1 or len(results) != 1:
        raise InputError(f"Connectivity results are written for one population at a time; got {len(inputs)} "
                         f"inputs and {len(results)} results.")
    (inp,), (result,) = inputs, results
    module = get_or_create_module(nwbfile, module or _module_name(inp))
    source = inp.source_series
    if inp.kind == "units":
        source = TimeSeries(name="binned_spike_counts", data=inp.activity, unit="spikes", rate=1.0 / inp.dt_s,
                            starting_time=inp.start_s, description="Units spike counts per bin (nwbsyn).")
        put_result(module, source, overwrite=overwrite)
    model = model_provenance(name=f"{RESULT_NAME}_model", **provenance)
    put_result(module, model, overwrite=overwrite)
    region = lambda name: DynamicTableRegion(  # noqa: E731
        name=name, data=list(inp.rows), table=inp.table, description=f"The {name} neurons.")
    connectivity = FunctionalConnectivity(
        name=RESULT_NAME, method="SynapsNet (nwbsyn)", weights=np.asarray(result.weights, dtype=float).T,
        presynaptic=region("presynaptic"), postsynaptic=region("postsynaptic"),
        embeddings=np.asarray(result.embeddings, dtype=float), bin_size=float(inp.dt_s),
        metrics=json.dumps(result.metrics, sort_keys=True, default=float), source_series=source, model=model,
        description=("Directed functional connectivity learned with SynapsNet: weights[j, i] is the influence "
                     "of presynaptic[j] on postsynaptic[i] (positive excitatory, negative inhibitory)."),
    )
    put_result(module, connectivity, overwrite=overwrite)
    if getattr(result, "significance", None) is not None:
        put_result(module, _edges_table(inp, result, region_table=inp.table), overwrite=overwrite)
    return connectivity


EDGES_NAME = f"{RESULT_NAME}_edges"


def _edges_table(inp: ActivityInput, result, *, region_table):
    """Every off-diagonal edge as a row: pre, post (rows of the Units / ROI table), weight, p-value, BH q-value, z."""
    from hdmf.common import DynamicTable, DynamicTableRegion, VectorData

    sig = result.significance
    n = result.weights.shape[0]
    post, pre = np.nonzero(~np.eye(n, dtype=bool))
    rows = np.asarray(inp.rows)
    columns = [
        DynamicTableRegion(name="presynaptic", data=rows[pre].tolist(), table=region_table,
                           description="The presynaptic neuron."),
        DynamicTableRegion(name="postsynaptic", data=rows[post].tolist(), table=region_table,
                           description="The postsynaptic neuron."),
        VectorData(name="weight", data=result.weights[post, pre].astype(float),
                   description="Learned weight (positive excitatory, negative inhibitory), as in "
                               f"{RESULT_NAME}."),
        VectorData(name="p_value", data=sig.p_values[post, pre].astype(float),
                   description=f"Significance of the edge; method: {sig.method}."),
        VectorData(name="q_value", data=sig.q_values[post, pre].astype(float),
                   description="p_value adjusted over all edges of this table (Benjamini-Hochberg false "
                               "discovery rate)."),
        VectorData(name="z", data=sig.z[post, pre].astype(float),
                   description="Mean loss increase under the shifts over its standard deviation."),
    ]
    return DynamicTable(name=EDGES_NAME, columns=columns,
                        description=f"Edges of {RESULT_NAME} with a surrogate significance ({sig.method}).")


def run_on_nwbfile(nwbfile, *, source: str = "auto", bin_ms: float | None = None, behavior: str | None = "auto",
                   seed: int = 0, device: str = "auto", module: str | None = None, embed_weights: bool = False,
                   overwrite: bool = False, progress_bar: bool = True, **fit_kwargs) -> RunResult:
    """Fit SynapsNet on the population activity of ``nwbfile`` and add the result to it.

    ``fit_kwargs`` go to :func:`~nwbsyn.connectivity.infer.fit_connectivity` (e.g. ``max_epochs``,
    ``checkpoint`` to also save the model, ``init_from`` to start from an earlier fit).
    ``device``, ``progress_bar``, ``overwrite``, ``module`` (default ``"ecephys"`` for Units,
    ``"ophys"`` for ROIs) and ``embed_weights`` are the run options shared by every analysis
    (:mod:`nwbsyn._shared.run`); ``embed_weights`` changes nothing here: the model is fitted on
    the file itself, so there is no weights file to embed (save it with ``checkpoint``).

    Returns a :class:`~nwbsyn._shared.run.RunResult` with one ActivityInput and its
    ConnectivityResult (``inp, res = run[0]``).

    Example
    -------
    >>> from nwbsyn.testing import mock_ecephys_nwbfile
    >>> nwbfile = mock_ecephys_nwbfile()          # 6 units, 30 s
    >>> run = run_on_nwbfile(nwbfile, bin_ms=50, max_epochs=3, progress_bar=False)
    >>> inp, res = run[0]
    >>> res.weights.shape
    (6, 6)
    >>> print(run.summary())
    6 units x 600 bins of 50 ms
    ...
    >>> "functional_connectivity" in nwbfile.processing["ecephys"].data_interfaces
    True
    """
    from nwbsyn.connectivity.infer import fit_connectivity

    from nwbsyn.connectivity.train import TrainConfig, min_steps

    start = fit_kwargs.get("init_from")
    context = (start["config"] if isinstance(start, dict) else fit_kwargs).get("context_steps", 10)
    (inp,) = load_inputs(nwbfile, source=source, bin_ms=bin_ms, behavior=behavior,
                         min_bins=min_steps(TrainConfig(context_steps=context)))
    if module_has_result(nwbfile, inp, module=module) and not overwrite:
        raise InputError(f"The file already holds nwbsyn connectivity results ({RESULT_NAME}); pass --overwrite "
                         "to replace them.")
    _check_length(inp, context_steps=context)
    result = fit_connectivity(inp.activity, behavior=inp.behavior, loss=inp.loss, seed=seed, device=device,
                              progress_bar=progress_bar, **fit_kwargs)
    if not (np.all(np.isfinite(result.weights)) and np.all(np.isfinite(result.embeddings))):
        raise InputError("The fit diverged (NaN or infinite weights), so nothing was written; check the activity "
                         "for outliers or try another --seed.")
    params = dict(result.params, source=inp.kind, bin_s=inp.dt_s, bin_choice=inp.bin_choice or "given",
                  behavior=inp.behavior_name,
                  n_neurons=int(inp.activity.shape[1]), n_steps=int(inp.activity.shape[0]))
    provenance = dict(
        model_name="SynapsNet", method="SynapsNet (per-session adjacency, neuron embeddings, shared decoder)",
        architecture="adjacency A (N x N, zero diagonal) + neuron embeddings + shared MLP decoder, monotone in "
                     "the input current", parameters=params,
        training_recipe=f"fitted on this file's {inp.kind} activity, seed {seed}",
    )
    add_results(nwbfile, [inp], [result], provenance=provenance, module=module, overwrite=overwrite)
    r = result.metrics.get("forecast_correlation", float("nan"))
    return RunResult(inputs=[inp], results=[result], analysis="connectivity",
                     stats={"n_inputs": 1, "n_neurons": int(inp.activity.shape[1]), "forecast_r": float(r)})


def _run_options() -> frozenset:
    from dataclasses import fields

    from nwbsyn.connectivity.train import TrainConfig

    fit = {"context_steps", "l1", "max_epochs", "checkpoint", "init_from", "significance"}
    return frozenset({"source", "bin_ms", "behavior", "seed", *fit, *(f.name for f in fields(TrainConfig)),
                      *SHARED_RUN_OPTIONS} - {"loss"})  # the loss follows the data (Units: poisson, ROIs: mse)


#: Every option :func:`run_on_nwbfile` takes, with the TrainConfig fields (checked by :mod:`nwbsyn.batch`).
RUN_OPTIONS = _run_options()


def summarize(run: RunResult, *, where=None) -> str:
    """The lines ``nwbsyn connectivity fit`` prints: data, bin, behaviour, held-out forecast, edges."""
    (inp, result), = run
    metrics = ", ".join(f"{k} {v:.3f}" for k, v in result.metrics.items() if isinstance(v, float))
    origin = "" if inp.source_series is None else f" of {object_path(inp.source_series)}"
    target = f" -> {where}" if where is not None else ""
    lines = [f"{inp.activity.shape[1]} {inp.kind}{origin} x {inp.activity.shape[0]} bins of {inp.dt_s * 1e3:g} ms"
             f"{target}"]
    if inp.bin_choice is not None:
        scores = ", ".join(f"{k} ms {v:.3f}" for k, v in inp.bin_choice["bits_per_spike"].items() if v is not None)
        lines.append(f"  bin {inp.dt_s * 1e3:g} ms chosen from the data (held-out forecast, bits/spike: {scores}); "
                     "--bin-ms to set it")
    lines.append(f"  behaviour: {inp.behavior_name or 'none'}")
    quality = result.metrics.get("fit_quality", {})
    base = quality.get("baseline_forecast_r")
    lines.append(f"  held-out: {metrics}" + ("" if base is None else f" ({quality['baseline']}: {base:.3f})"))
    sig = result.significance
    if sig is not None:
        n = result.n_neurons
        lines.append(f"  edges with p < 0.05: {int((sig.p_values < 0.05).sum())} of {n * (n - 1)} "
                     f"(held-out circular-shift surrogates, {sig.n_shifts} shifts; column p_value of "
                     "functional_connectivity_edges)")
    return "\n".join(lines)


def _check_length(inp: ActivityInput, *, context_steps: int) -> None:
    from nwbsyn.connectivity.train import TrainConfig, min_steps

    needed = min_steps(TrainConfig(context_steps=context_steps))
    n = len(inp.activity)
    if n < needed:
        fix = "use a smaller --bin-ms or a longer recording" if inp.kind == "units" else "use a longer recording"
        raise InputError(f"The {inp.kind} give {n} time bins of {inp.dt_s * 1e3:g} ms but a fit needs at least "
                         f"{needed}; {fix}.")


def _module_name(inp: ActivityInput) -> str:
    return "ecephys" if inp.kind == "units" else "ophys"


def module_has_result(nwbfile, inp: ActivityInput, *, module: str | None = None) -> bool:
    name = module or _module_name(inp)
    return name in nwbfile.processing and RESULT_NAME in nwbfile.processing[name].data_interfaces


def to_xarray(connectivity):
    """An ``xarray.Dataset`` view of a FunctionalConnectivity read from a file.

    ``weights`` has dims (presynaptic, postsynaptic) and ``embeddings`` (neuron, embedding_dim); the
    coordinates are the ids of the referenced Units / ROI rows.

    Example
    -------
    >>> from nwbsyn.testing import mock_ecephys_nwbfile
    >>> nwbfile = mock_ecephys_nwbfile()
    >>> inp, res = run_on_nwbfile(nwbfile, bin_ms=50, max_epochs=3, progress_bar=False)[0]
    >>> ds = to_xarray(nwbfile.processing["ecephys"]["functional_connectivity"])
    >>> dict(ds.weights.sizes)
    {'presynaptic': 6, 'postsynaptic': 6}
    >>> # res.weights is [post, pre]; the dataset is indexed by unit id
    >>> bool(abs(float(ds.weights.sel(presynaptic=3, postsynaptic=1)) - res.weights[1, 3]) < 1e-6)
    True
    """
    import xarray as xr

    def ids(region):
        return np.asarray(region.table.id[:])[np.asarray(region.data[:], dtype=int)]

    pre, post = ids(connectivity.presynaptic), ids(connectivity.postsynaptic)
    data = {"weights": (("presynaptic", "postsynaptic"), np.asarray(connectivity.weights[:]))}
    if connectivity.embeddings is not None:
        data["embeddings"] = (("presynaptic", "embedding_dim"), np.asarray(connectivity.embeddings[:]))
    attrs = {"method": connectivity.method, "bin_size_s": connectivity.bin_size,
             "metrics": connectivity.metrics or "{}"}
    return xr.Dataset(data, coords={"presynaptic": pre, "postsynaptic": post}, attrs=attrs)
