"""Between NWB and arrays for event detection: read traces, write events, scores and provenance.

Units are converted here and nowhere else: currents to pA, voltages to mV on the way in;
back to amperes/volts (and coulombs, seconds) on the way out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import numpy as np

from nwbsyn._shared import InputError, available_memory_bytes
from nwbsyn._shared.dtypes import dtype_words, holds_real_numbers
from nwbsyn._shared.provenance import model_provenance
from nwbsyn._shared.run import SHARED_RUN_OPTIONS, RunResult
from nwbsyn._shared.units import display_scale
from nwbsyn._shared.nwb import (
    get_or_create_module,
    put_result,
    series_rate_hz,
)
from nwbsyn.events.select import select_series

__all__ = ["TraceInput", "check_detection_options", "check_memory", "load_inputs", "select_series", "add_results",
           "drop_command_transients", "run_on_nwbfile", "summarize", "RESULT_NAME", "MODULE", "RUN_OPTIONS"]

RESULT_NAME = "synaptic_events"
MODULE = "icephys"  # where the results go unless ``module`` says otherwise


@dataclass(frozen=True)
class TraceInput:
    """One trace ready for detection: values in pA (currents) or mV (voltages), read lazily."""

    series: object  # the pynwb TimeSeries
    trace: object  # 1-D array-like (sliceable; read chunk by chunk for long recordings)
    sampling_rate_hz: float
    unit: str  # "pA", "mV" or the series' own unit
    si_unit: str  # "amperes", "volts" or the series' own unit
    default_polarity: int
    command_steps_s: np.ndarray = field(default_factory=lambda: np.zeros(0))  # from the sweep start


def _default_polarity(series) -> int:
    from pynwb.icephys import CurrentClampSeries

    return 1 if isinstance(series, CurrentClampSeries) else -1  # EPSPs go up, EPSCs (inward) go down


def _command_steps_s(nwbfile, series) -> np.ndarray:
    """Times (s from the sweep start) where the sweep's command waveform jumps: capacitive transients."""
    table = nwbfile.intracellular_recordings
    if table is None or len(table) == 0 or "stimuli" not in table.category_tables:
        return np.zeros(0)
    responses, stimuli = table.category_tables["responses"]["response"], table.category_tables["stimuli"]["stimulus"]
    for row in range(len(table)):
        if responses[row].timeseries is not None and responses[row].timeseries.object_id == series.object_id:
            command = stimuli[row].timeseries
            return np.zeros(0) if command is None else _steps_of(command, series)
    return np.zeros(0)


def _steps_of(command, series) -> np.ndarray:
    """Step times of a command waveform; a command nwbsyn cannot read is left out (with a note)."""
    shape = tuple(getattr(command.data, "shape", np.shape(command.data)))
    try:
        rate = float(command.rate) if command.rate is not None else float("nan")
        ok = (len(shape) == 1 and np.dtype(command.data.dtype).kind in "iuf" and np.isfinite(rate) and rate > 0
              and shape[0] <= 4 * len(series.data) + 1)
    except (TypeError, ValueError, AttributeError):
        ok = False
    values = np.asarray(command.data[:], dtype=float) if ok else np.zeros(0)
    if not ok or not np.isfinite(values).all():
        logging.getLogger("nwbsyn").warning("The command waveform %s of %s cannot be read (shape, type, rate or NaN); "
                                            "capacitive transients are not dropped for it.", command.name, series.name)
        return np.zeros(0)
    if values.size < 2:
        return np.zeros(0)
    return _step_samples(values) / rate


def _step_samples(values: np.ndarray, *, half_width: int = 10) -> np.ndarray:
    """Samples where a command jumps: a change far larger than the changes around it (a ramp is no step).

    Example
    -------
    >>> v = np.r_[np.zeros(50), np.full(50, -10.0), np.linspace(-10, 0, 100), np.zeros(50)]
    >>> _step_samples(v).tolist()
    [50]
    """
    d = np.abs(np.diff(values))
    changed = np.flatnonzero(d > 1e-9 * max(1.0, np.abs(values).max()))
    if not changed.size:
        return changed
    padded = np.pad(d, half_width)
    around = np.lib.stride_tricks.sliding_window_view(padded, 2 * half_width + 1)[changed]
    return changed[d[changed] > 4 * np.median(around, axis=1)] + 1


class _ScaledData:
    """Lazy view of ``series.data`` in pA / mV: reads only the slices that are asked for."""

    def __init__(self, data, gain: float, offset: float, name: str = "the trace"):
        self._data, self._gain, self._offset, self._name = data, gain, offset, name
        self.shape, self.dtype, self.ndim = tuple(data.shape), np.dtype(np.float64), 1

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key):
        with np.errstate(over="ignore", invalid="ignore"):
            values = np.asarray(self._data[key], dtype=np.float64) * self._gain + self._offset
        if not np.isfinite(values).all():
            raise InputError(f"{self._name} contains NaN or infinite values (or values too large once converted to "
                             f"pA/mV); interpolate or cut them out first.")
        return values

    def __array__(self, dtype=None, copy=None):
        return self[:].astype(dtype or np.float64, copy=False)


#: The classifier reads 12 ms windows at 50 kHz: slower traces are upsampled to that rate.
MODEL_RATE_HZ = 50_000.0
MIN_RATE_HZ = 1_000.0  # a 12 ms window spans 12 samples
MAX_RATE_HZ = 10_000_000.0


def _check_dtype(series) -> None:
    dtype = getattr(series.data, "dtype", None)
    if dtype is None:
        dtype = np.asarray(series.data[:0]).dtype
    if not holds_real_numbers(dtype):
        raise InputError(f"{series.name} holds {dtype_words(dtype)}, not numbers; event detection needs a recorded "
                         "trace: choose another series with --series.")


def _check_scale(series) -> tuple[float, float]:
    conversion = getattr(series, "conversion", 1.0)
    offset = getattr(series, "offset", 0.0) or 0.0
    for name, value in (("conversion", conversion), ("offset", offset)):
        try:
            value = float(value)
        except (TypeError, ValueError):
            value = float("nan")
        if not np.isfinite(value) or (name == "conversion" and value == 0):
            raise InputError(f"{series.name} has {name} {value}; it must be a finite number (and a conversion "
                             "non-zero): fix the series' metadata.")
    return float(conversion), float(offset)


def _check_rate(series, n: int) -> float:
    """The sampling rate (from ``rate`` or ``timestamps``), checked so that resampling stays sane."""
    timestamps = getattr(series, "timestamps", None)
    if timestamps is not None:
        if len(timestamps) != n:
            raise InputError(f"{series.name} has {len(timestamps)} timestamps for {n} samples; they must have "
                             "equal length: fix the file.")
        t = np.asarray(timestamps[:], dtype=float)
        if not np.isfinite(t).all() or (n > 1 and not (np.diff(t) > 0).all()):
            raise InputError(f"{series.name} has timestamps that are not finite and strictly increasing; "
                             "fix the file.")
    start = getattr(series, "starting_time", None)
    if start is not None and not (isinstance(start, (int, float, np.number)) and np.isfinite(start)):
        raise InputError(f"{series.name} has a starting time of {start}; it must be a finite number of seconds: "
                         "fix the file.")
    rate = getattr(series, "rate", None)
    if rate is None:
        rate = series_rate_hz(series) if n > 1 else None
    try:
        rate = float(rate) if rate is not None else None
    except (TypeError, ValueError):
        rate = float("nan")
    if rate is None:
        raise InputError(f"{series.name} has no sampling rate or timestamps; it cannot be analysed.")
    if not np.isfinite(rate) or rate <= 0:
        raise InputError(f"{series.name} has a sampling rate of {rate:g} Hz; it must be a positive number: fix "
                         "the series' rate.")
    if not MIN_RATE_HZ <= rate <= MAX_RATE_HZ:
        raise InputError(f"{series.name} is sampled at {rate:g} Hz; event detection needs {MIN_RATE_HZ:g} Hz to "
                         f"{MAX_RATE_HZ:g} Hz (the classifier reads 12 ms windows at 50 kHz): check the series' rate.")
    return rate


def _to_trace(series, nwbfile=None) -> TraceInput:
    shape = tuple(getattr(series.data, "shape", np.shape(series.data)))
    if len(shape) != 1:
        raise InputError(f"{series.name} has shape {shape}; event detection needs a 1-D trace (one sweep).")
    _check_dtype(series)
    if shape[0] == 0:
        raise InputError(f"{series.name} holds no samples; choose another series with --series.")
    rate = _check_rate(series, shape[0])
    needed = int(np.ceil(600 * rate / MODEL_RATE_HZ)) + 1
    if shape[0] < needed:
        raise InputError(f"{series.name} has {shape[0]} samples; one 12 ms window needs {needed} at {rate:g} Hz: "
                         "analyse a longer sweep.")
    conversion, offset = _check_scale(series)
    scale, unit = display_scale(series.unit)  # SI → the unit the detector works in
    trace = _ScaledData(series.data, conversion * scale, offset * scale, series.name)  # NaN checked per chunk
    steps = _command_steps_s(nwbfile, series) if nwbfile is not None else np.zeros(0)
    return TraceInput(series=series, trace=trace, sampling_rate_hz=rate, unit=unit, si_unit=series.unit,
                      default_polarity=_default_polarity(series), command_steps_s=steps)


def check_memory(inputs: list[TraceInput], *, stride_samples: int) -> None:
    """Refuse, before any work, a trace whose detection would need more memory than is available.

    Per window start detection keeps a score, a candidate flag and a few int32/float32 arrays
    (about 24 bytes); per input sample the statistics keep about 16 bytes (chunked reads and
    the score trace written to the file are included).
    """
    available = available_memory_bytes()
    for inp in inputs:
        n = len(inp.trace)
        n_model = n * MODEL_RATE_HZ / inp.sampling_rate_hz
        need = 24 * n_model / stride_samples + 16 * n + 64 * 2**20
        if need > 0.8 * available:
            raise InputError(f"Detecting events in {inp.series.name} ({n:,} samples at {inp.sampling_rate_hz:g} Hz) "
                             f"needs about {need / 2**30:.1f} GiB of memory, more than the {available / 2**30:.1f} GiB "
                             "available; analyse a shorter series or raise --stride.")


def load_inputs(nwbfile, *, series: list[str] | None = None) -> list[TraceInput]:
    """The traces to analyse: the named series (names, paths or glob patterns such as ``I2_*``), or
    every patch-clamp series when ``series`` is None.

    Example
    -------
    >>> from nwbsyn.testing import mock_icephys_nwbfile
    >>> [t.series.name for t in load_inputs(mock_icephys_nwbfile(n_sweeps=2))]
    ['sweep_0', 'sweep_1']
    """
    return [_to_trace(obj, nwbfile) for obj in select_series(nwbfile, series=series)[0]]


def _times_s(series, samples: np.ndarray) -> np.ndarray:
    if series.timestamps is not None:
        return np.asarray(series.timestamps[:], dtype=float)[samples] if len(samples) else np.zeros(0)
    return float(series.starting_time or 0.0) + samples / float(series.rate)


def _recording_rows(nwbfile) -> dict:
    """Map series object_id → row of the IntracellularRecordingsTable whose response it is."""
    table = nwbfile.intracellular_recordings
    if table is None or len(table) == 0:
        return {}
    responses = table.category_tables.get("responses") if hasattr(table, "category_tables") else None
    column = responses["response"] if responses is not None else None
    if column is None:
        return {}
    refs = (column[row] for row in range(len(column)))
    return {ref.timeseries.object_id: row for row, ref in enumerate(refs) if ref.timeseries is not None}


def _events_table(nwbfile, inputs, results, *, model, polarity_text):
    from hdmf.common import DynamicTableRegion, VectorData
    from pynwb.base import TimeSeriesReferenceVectorData
    from pynwb.event import DurationVectorData, TimestampVectorData

    from nwbsyn.events.stats import AMPLITUDE_METHODS
    from nwbsyn.types import QuantityVectorData, SynapticEventsTable

    rows = _recording_rows(nwbfile)
    cols = {k: [] for k in ("t", "amp", "base", "rise", "decay", "width", "charge", "score", "ref", "rec", "how")}
    for inp, res in zip(inputs, results):
        scale = display_scale(inp.si_unit)[0]
        st = res.statistics
        cols["t"].append(_times_s(inp.series, res.onset_samples))
        cols["amp"].append(st.amplitude_pA / scale)
        cols["base"].append(st.baseline_pA / scale)
        cols["rise"].append(st.rise_time_ms / 1e3)
        cols["decay"].append(st.half_decay_ms / 1e3)
        cols["width"].append(st.half_width_ms / 1e3)
        cols["charge"].append(st.charge_pC / scale)  # pA·s → A·s (mV·s → V·s)
        cols["score"].append(np.clip(res.scores, 0.0, 1.0))
        window = int(round(0.012 * inp.sampling_rate_hz))  # the 12 ms classifier window
        cols["ref"] += [(int(s), int(min(window, len(inp.trace) - s)), inp.series) for s in res.onset_samples]
        cols["rec"] += [rows.get(inp.series.object_id, -1)] * len(res)
        cols["how"] += [str(m) for m in st.amplitude_method]
    cat = {k: np.concatenate(v) if k not in ("ref", "rec", "how") and v else v for k, v in cols.items()}
    order = np.argsort(cat["t"], kind="stable")
    pick = lambda key: np.asarray(cat[key], dtype=float)[order]  # noqa: E731
    si_unit = inputs[0].si_unit
    charge_unit = {"amperes": "coulombs", "volts": "volt-seconds"}.get(si_unit, f"{si_unit}*seconds")
    columns = [
        TimestampVectorData(name="timestamp", description="Event onset (steepest rise), seconds.", data=pick("t")),
        QuantityVectorData(name="amplitude", description="Peak minus baseline.", unit=si_unit, data=pick("amp")),
        QuantityVectorData(name="baseline", description="Trace before the onset.", unit=si_unit, data=pick("base")),
        DurationVectorData(name="rise_time", description="10-90 % rise time.", data=pick("rise")),
        DurationVectorData(name="half_decay_time", description="Peak to 50 % decay.", data=pick("decay")),
        DurationVectorData(name="half_width", description="Width at half amplitude.", data=pick("width")),
        QuantityVectorData(name="charge", description="Integral of the event.", unit=charge_unit,
                           data=pick("charge")),
        VectorData(name="score", description="Detector score in [0, 1].", data=pick("score")),
        VectorData(name="amplitude_method", description="How the amplitude was read: " + "; ".join(
            f"'{k}': {v}" for k, v in AMPLITUDE_METHODS.items()), data=[cat["how"][i] for i in order]),
        TimeSeriesReferenceVectorData(name="trace", description="Analysed trace: onset sample, window length.",
                                      data=[cat["ref"][i] for i in order]),
    ]
    recording = [cat["rec"][i] for i in order]
    if recording and min(recording) >= 0:
        columns.append(DynamicTableRegion(name="recording", description="Sweep of each event.",
                                          data=recording, table=nwbfile.intracellular_recordings))
    return SynapticEventsTable(
        name=RESULT_NAME, polarity=polarity_text, model=model, columns=columns,
        description=("Spontaneous synaptic events detected by nwbsyn (miniML method: CNN + BiLSTM window "
                     "classifier, sliding window, events located at the steepest rise)."),
        source_description="nwbsyn events detect",
    )


def _score_series(inp, res):
    from nwbsyn.types import SynapticEventScoreSeries

    series = inp.series
    start = float(series.starting_time or 0.0) if series.timestamps is None else float(series.timestamps[0])
    return SynapticEventScoreSeries(
        name=f"{series.name}_event_scores", data=np.clip(res.score_trace, 0, 1).astype(np.float32),
        unit="n.a.", rate=float(res.score_rate_hz), starting_time=start + float(res.score_start_s),
        threshold=res.params.get("threshold"), source_series=series,
        description="Detector score of the window starting at each time.",
    )


def check_results_free(nwbfile, inputs: list[TraceInput], *, module: str = MODULE, overwrite: bool = False):
    """Refuse (before any work) to replace earlier event results unless ``overwrite``."""
    if module not in nwbfile.processing:
        return
    mod = nwbfile.processing[module]
    from nwbsyn.events.exclude import EXCLUDED_NAME

    names = [RESULT_NAME, f"{RESULT_NAME}_model", EXCLUDED_NAME] + [f"{i.series.name}_event_scores" for i in inputs]
    taken = [n for n in names if n in mod.data_interfaces]
    if taken and not overwrite:
        raise InputError(f"processing/{module} already holds nwbsyn event results ({', '.join(taken)}); pass "
                         "--overwrite to replace them.")


def add_results(nwbfile, inputs: list, results: list, *, provenance: dict, module: str | None = None,
                overwrite: bool = False):
    """Write one SynapticEventsTable, one score series per trace and the model provenance.

    ``provenance`` holds the keyword arguments of :func:`nwbsyn._shared.provenance.model_provenance`
    except ``name`` (:func:`~nwbsyn._shared.provenance.card_provenance` makes them from a model
    card); ``module`` defaults to ``"icephys"`` (the contract is the same in every analysis:
    :mod:`nwbsyn._shared.run`). Returns the events table (None when no event was
    found: NWB best practice forbids empty tables, so only the scores and provenance are written).
    """
    module = module or MODULE
    check_results_free(nwbfile, inputs, module=module, overwrite=overwrite)
    mod = get_or_create_module(nwbfile, module)
    model = model_provenance(name=f"{RESULT_NAME}_model", **provenance)
    put_result(mod, model, overwrite=overwrite)
    polarity = {res.params.get("polarity", -1) for res in results}
    text = {frozenset({-1}): "negative", frozenset({1}): "positive", frozenset({0}): "both"}.get(frozenset(polarity),
                                                                                              "mixed")
    table = None
    if sum(len(res) for res in results):
        table = _events_table(nwbfile, inputs, results, model=model, polarity_text=text)
        put_result(mod, table, overwrite=overwrite)
    else:  # an empty table is a best-practice violation: the scores and provenance record the run
        logging.getLogger("nwbsyn").info("No events found; the score traces and provenance are written "
                                         "without an events table.")
    for inp, res in zip(inputs, results):
        put_result(mod, _score_series(inp, res), overwrite=overwrite)
    return table


def _model_provenance(model, params: dict, *, embed_weights: bool) -> dict:
    """:func:`~nwbsyn._shared.provenance.card_provenance` of the classifier that ran (its card, if it has one)."""
    from pathlib import Path

    from nwbsyn._shared.provenance import card_provenance
    from nwbsyn.events.model import resolve_model_path

    path = resolve_model_path(model) if isinstance(model, (str, Path)) else None
    return card_provenance(
        method="miniML (O'Neill et al., eLife 2025): window classifier, sliding window, steepest-rise location",
        parameters=params, weights_path=path, embed_weights=embed_weights,
        model_name=None if path is not None else type(model).__name__,
        architecture="miniML CNN + BiLSTM window classifier (600 samples)")


def drop_command_transients(inp: TraceInput, res, *, window_ms=(1.0, 10.0)):
    """Remove events starting within ``window_ms`` (before, after) of a step of the command waveform.

    Steps of the holding command (membrane tests, protocol steps) cause capacitive transients that
    look like events. Returns a new result with the statistics recomputed on the kept events
    (``params["dropped_command_transients"]``); :func:`run_on_nwbfile` does this and every
    other exclusion through :mod:`nwbsyn.events.exclude`.
    """
    from nwbsyn.events.exclude import ExclusionWindow, _keep_mask, _subset

    if not len(res) or not np.size(inp.command_steps_s):
        return res
    windows = [ExclusionWindow(max(0.0, t - window_ms[0] / 1e3), t + window_ms[1] / 1e3, "command step")
               for t in np.asarray(inp.command_steps_s, float)]
    keep, _ = _keep_mask(res, windows, inp.sampling_rate_hz)
    if keep.all():
        return res
    res = _subset(inp, res, keep)
    return replace(res, params=dict(res.params, dropped_command_transients=int((~keep).sum())))


def check_detection_options(*, threshold, stride_samples, mode: str = "fast", polarity=None) -> None:
    """Refuse bad detection options before any file is read (messages name the CLI options)."""
    import numbers

    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not 0.0 <= float(threshold) <= 1.0:
        raise InputError(f"The threshold (--threshold) must be a score from 0 to 1; got {threshold}.")
    if isinstance(stride_samples, bool) or not isinstance(stride_samples, numbers.Integral) or stride_samples < 1:
        raise InputError(f"The stride (--stride) must be a whole number of samples, at least 1; got {stride_samples}.")
    if mode not in ("fast", "full"):
        raise InputError(f"The mode (--mode) must be 'fast' or 'full'; got {mode!r}.")
    if isinstance(polarity, bool) or polarity not in (None, -1, 1, 0, "both"):
        raise InputError(f"The polarity (--polarity) must be negative, positive or both; got {polarity!r}.")


def run_on_nwbfile(nwbfile, *, series: list[str] | None = None, model="default", threshold: float = 0.5,
                   mode: str = "fast",
                   polarity: int | None = None, stride_samples: int = 20, device: str = "auto",
                   module: str | None = None, embed_weights: bool = True, keep_transients: bool = False,
                   exclude=None, exclude_session=None, evoked_window_ms: float | None = None,
                   drop_action_potentials: bool = True, announce=None,
                   overwrite: bool = False, progress_bar: bool = True, network=None) -> RunResult:
    """Detect events in traces of ``nwbfile`` and add the results to ``processing[module]``.

    Parameters
    ----------
    series : list of str, optional
        Names, paths or glob patterns (``"I2_*"``) of the series; default every patch-clamp series.
    model : "default", str or Path
        The shipped model, a checkpoint or a miniML Keras file.
    mode : {"fast", "full"}
        ``"fast"`` scores only windows around candidate events; ``"full"`` every window (as miniML).
    polarity : {-1, +1, "both"}, optional
        Direction of the events; default from the series type (voltage clamp: -1, current clamp: +1);
        ``"both"`` (or 0) detects inward and outward events in one pass (each event signed).
    embed_weights : bool, default: True
        Store the model's weights in the file, so that the file alone reproduces the result.
    keep_transients : bool, default: False
        Keep events right after steps of the command waveform (capacitive transients are
        dropped by default).
    exclude, exclude_session : str or list of (start, end), optional
        Windows without events: seconds from each sweep start (``"0:0.15,1.5:2"``) or on the
        session clock (:mod:`nwbsyn.events.exclude`).
    evoked_window_ms : float, optional
        Events within this time after each stimulus of the file's stimulus tables are dropped
        (default :data:`nwbsyn.events.exclude.DEFAULT_EVOKED_WINDOW_MS` when the file has
        stimuli; given without any stimulus in the file it is an error).
    drop_action_potentials : bool, default: True
        In voltage traces, drop events on action potentials.
    announce : callable, optional
        Called once with a sentence naming the series analysed and why (the CLI prints it).
    network : EventClassifier, optional
        ``model`` already loaded (the CLI loads it before opening the input, so that a bad
        model file fails at once); ``model`` still names it in the provenance.

    device, progress_bar, overwrite, module
        The run options shared by every analysis (:mod:`nwbsyn._shared.run`); ``module``
        defaults to ``"icephys"``.

    Every excluded window goes to ``processing[module]['synaptic_events_excluded']`` and is
    left out of the analysed time; each result's ``params["exclusion"]`` counts the windows,
    the analysed seconds and the events dropped per reason.

    Returns
    -------
    RunResult
        ``inputs`` (TraceInput) and ``results`` (EventDetectionResult), one per trace;
        ``for inp, res in run`` gives the pairs.

    Example
    -------
    >>> from nwbsyn.testing import mock_icephys_nwbfile
    >>> nwbfile = mock_icephys_nwbfile(n_sweeps=1, duration_s=0.5, n_events_per_sweep=4)
    >>> run = run_on_nwbfile(nwbfile, exclude="0:0.1", progress_bar=False)
    >>> print("summary:", run.summary())
    summary: ... events in 1 trace(s) (processing/icephys/synaptic_events)
      sweep_0: ... events, ... Hz in 0.40 s analysed, mean amplitude ... pA...
    excluded 1 windows (0.10 s, processing/icephys/synaptic_events_excluded)...
    >>> inp, res = run[0]
    >>> bool(len(res) > 0 and (res.onset_times_s >= 0.1).all())   # none in the excluded first 0.1 s
    True
    """
    from pathlib import Path

    from tqdm.auto import tqdm

    from nwbsyn.events import exclude as exclusion
    from nwbsyn.events.infer import detect_events
    from nwbsyn.events.model import load_model

    module = module or MODULE
    check_detection_options(threshold=threshold, stride_samples=stride_samples, mode=mode, polarity=polarity)
    objects, why = select_series(nwbfile, series=series)
    inputs = [_to_trace(obj, nwbfile) for obj in objects]
    if len({i.si_unit for i in inputs}) > 1:
        raise InputError("The selected series mix units (" + ", ".join(sorted({i.si_unit for i in inputs})) +
                         "); analyse currents and voltages in separate runs with --series.")
    spec = exclusion.check_exclusions(nwbfile, inputs, exclude=exclude, exclude_session=exclude_session,
                                      evoked_window_ms=evoked_window_ms, keep_transients=keep_transients,
                                      drop_action_potentials=drop_action_potentials,
                                      source=_source_name(nwbfile))
    check_memory(inputs, stride_samples=int(stride_samples))
    check_results_free(nwbfile, inputs, module=module, overwrite=overwrite)
    if network is not None:
        net = network
    else:
        net = load_model(model, device=device) if isinstance(model, (str, Path)) else model
    window = getattr(net, "init_kwargs", {}).get("window_samples", 600)
    if stride_samples > window:
        raise InputError(f"The stride of {stride_samples} samples (--stride) is longer than the model's "
                         f"{window}-sample window; use a stride from 1 to {window}.")
    if announce is not None:
        announce(f"analysing {why}")
    results, windows = [], []
    for inp in tqdm(inputs, desc="detect events", unit="trace", disable=not progress_bar or len(inputs) < 2):
        res = detect_events(
            inp.trace, sampling_rate_hz=inp.sampling_rate_hz, model=net, threshold=threshold, mode=mode,
            stride_samples=stride_samples, polarity=inp.default_polarity if polarity is None else polarity,
            device=device,
            progress_bar=progress_bar,
        )
        res, kept = exclusion.apply_exclusions(inp, res, exclusion.trace_windows(inp, spec),
                                               drop_action_potentials=spec.drop_action_potentials)
        results.append(res)
        windows.append(kept)
    params = dict(results[0].params, model=str(model) if isinstance(model, (str, Path)) else results[0].params["model"],
                  series=[i.series.name for i in inputs], selection=why,
                  exclusion=_exclusion_params(results, spec))
    params.pop("polarity", None)
    params.pop("dropped_command_transients", None)
    params["polarity"] = sorted({r.params["polarity"] for r in results})
    add_results(nwbfile, inputs, results, module=module, overwrite=overwrite,
                provenance=_model_provenance(model, params, embed_weights=embed_weights))
    excluded = exclusion.excluded_table(inputs, windows)
    if excluded is not None:
        put_result(nwbfile.processing[module], excluded, overwrite=overwrite)
    return RunResult(inputs=inputs, results=results, analysis="events", stats=_stats(inputs, results))


#: Every option :func:`run_on_nwbfile` takes (checked by :mod:`nwbsyn.batch`).
RUN_OPTIONS = frozenset({"series", "model", "threshold", "mode", "polarity", "stride_samples", "keep_transients",
                         "exclude", "exclude_session", "evoked_window_ms", "drop_action_potentials", "announce",
                         "network", *SHARED_RUN_OPTIONS})


def _stats(inputs, results) -> dict:
    """The numbers of a run for tables: events, mean amplitude (weighted by events), frequency."""
    import math

    n_events = sum(len(r) for r in results)
    duration_s = sum(r.statistics.duration_s for r in results)
    amplitudes = [(len(r), r.statistics.summary()["mean_amplitude_pA"]) for r in results if len(r)]
    return {"n_inputs": len(inputs), "n_events": n_events,
            "mean_amplitude": sum(n * a for n, a in amplitudes) / n_events if n_events else math.nan,
            "amplitude_unit": "/".join(sorted({inp.unit for inp in inputs})),
            "frequency_hz": n_events / duration_s if duration_s else math.nan}


def summarize(run: RunResult, *, where=None) -> str:
    """The lines ``nwbsyn events detect`` prints: events per trace, and what was excluded."""
    total = sum(len(r) for r in run.results)
    table = "processing/icephys/synaptic_events" if total else "score traces only"
    target = f" -> {where}" if where is not None else ""
    lines = [f"{total} events in {len(run)} trace(s){target} ({table})"]
    for inp, res in run:
        s = res.statistics.summary()
        amplitude = f", mean amplitude {s['mean_amplitude_pA']:.2f} {inp.unit}" if len(res) else ""
        ex = res.params.get("exclusion", {})
        dropped = "".join(f", {n} dropped ({reason})" for reason, n in ex.get("dropped", {}).items())
        lines.append(f"  {inp.series.name}: {len(res)} events, {s['frequency_hz']:.2f} Hz in "
                     f"{ex.get('analysed_s', 0):.2f} s analysed{amplitude}{dropped}")
    excluded = _exclusion_line(run.results)
    return "\n".join(lines + ([excluded] if excluded else []))


def _exclusion_line(results) -> str | None:
    """One line: the excluded windows by reason, the events dropped and the action potentials."""
    ex = [res.params.get("exclusion", {}) for res in results]
    n_windows, excluded = sum(e.get("windows", 0) for e in ex), sum(e.get("excluded_s", 0.0) for e in ex)
    if not n_windows:
        return None
    dropped: dict[str, int] = {}
    for e in ex:
        for reason, n in e.get("dropped", {}).items():
            dropped[reason] = dropped.get(reason, 0) + n
    aps = sum(e.get("action_potentials", 0) for e in ex)
    text = f"excluded {n_windows} windows ({excluded:.2f} s, processing/icephys/synaptic_events_excluded)"
    text += "; dropped " + (", ".join(f"{n} events ({r})" for r, n in dropped.items()) if dropped else "no event")
    if aps:
        text += f"; {aps} action potential{'s' if aps > 1 else ''} found"
    return text


def _source_name(nwbfile) -> str:
    """The input's path for messages (not the temporary copy an in-place run edits)."""
    source = str(getattr(nwbfile, "container_source", "") or "")
    return source if source and ".nwbsyn-tmp-" not in source else "The file"


def _exclusion_params(results, spec) -> dict:
    """The exclusion summed over the traces, with the options that made it (for the provenance)."""
    per = [r.params.get("exclusion", {}) for r in results]
    dropped: dict[str, int] = {}
    for p in per:
        for reason, n in p.get("dropped", {}).items():
            dropped[reason] = dropped.get(reason, 0) + n
    return dict(windows=sum(p.get("windows", 0) for p in per),
                excluded_s=round(sum(p.get("excluded_s", 0.0) for p in per), 6),
                analysed_s=round(sum(p.get("analysed_s", 0.0) for p in per), 6), dropped=dropped,
                action_potentials=sum(p.get("action_potentials", 0) for p in per),
                stimuli=len(spec.stimuli_s), evoked_window_ms=spec.evoked_window_ms,
                exclude=[list(w) for w in spec.sweep_windows_s],
                exclude_session=[list(w) for w in spec.session_windows_s],
                keep_transients=spec.keep_transients, drop_action_potentials=spec.drop_action_potentials)
