"""Windows of a sweep where events are not counted, and the events dropped from them.

Sources, each with a ``reason``:

- ``"command step"``: steps of the sweep's command waveform (membrane tests; capacitive
  transients), 1 ms before to 10 ms after each step (``--keep-transients`` keeps them);
- ``"stimulus"``: the onset and offset of every row of a stimulus table in the NWB file
  (a ``TimeIntervals`` in ``intervals/`` whose name contains "stim", e.g. the
  ``intervals/stimuli`` that ``nwbsyn convert abf`` writes from digital outputs, trigger DACs
  and trigger channels), from 1 ms before to the evoked window after it
  (``--evoked-window MS``, default :data:`DEFAULT_EVOKED_WINDOW_MS`);
- ``"interval table"``: every row of ``invalid_times`` and of any ``TimeIntervals`` whose
  name contains "artifact", "artefact" or "exclu";
- ``"--exclude"``: windows in seconds from each sweep start; ``"--exclude-session"``:
  windows on the session clock;
- ``"action potential"``: in a voltage trace, from 2 ms before an action potential's
  threshold crossing until it has repolarised (:func:`action_potential_windows`).

An event whose onset or peak lies in a window is dropped. The windows' union is left out of
the analysed time, and the frequency is events / analysed seconds.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields, replace

import numpy as np

from nwbsyn._shared import InputError

__all__ = ["ExclusionWindow", "FileExclusions", "parse_windows", "file_exclusions", "check_exclusions",
           "trace_windows", "action_potential_windows", "apply_exclusions", "excluded_table",
           "DEFAULT_EVOKED_WINDOW_MS", "EXCLUDED_NAME", "REASONS"]

DEFAULT_EVOKED_WINDOW_MS = 150.0  # an evoked EPSC/EJC or a 5-pulse 50 Hz train and its decay (f1.abf: ~115 ms)
STIMULUS_PRE_MS = 1.0
TRANSIENT_WINDOW_MS = (1.0, 10.0)
EXCLUDED_NAME = "synaptic_events_excluded"
#: Reasons in the order a dropped event is attributed to them.
REASONS = ("action potential", "stimulus", "command step", "interval table", "--exclude", "--exclude-session")
_STIMULUS_TABLE = re.compile(r"stim", re.IGNORECASE)
_EXCLUSION_TABLE = re.compile(r"artifact|artefact|exclu", re.IGNORECASE)


@dataclass(frozen=True)
class ExclusionWindow:
    """A window of one sweep, seconds from its start, with why it is excluded."""

    start_s: float
    stop_s: float
    reason: str
    detail: str = ""


@dataclass(frozen=True)
class FileExclusions:
    """What the NWB file and the options say, before any trace is read (session-clock windows)."""

    stimuli_s: list = field(default_factory=list)  # (start, stop, detail)
    tables_s: list = field(default_factory=list)  # (start, stop, detail)
    sweep_windows_s: tuple = ()
    session_windows_s: tuple = ()
    evoked_window_ms: float = DEFAULT_EVOKED_WINDOW_MS
    keep_transients: bool = False
    drop_action_potentials: bool = True


def parse_windows(text, *, option: str = "--exclude") -> tuple[tuple[float, float], ...]:
    """``"START:END[,START:END...]"`` (seconds) or pairs as a tuple of (start, end), checked.

    Example
    -------
    >>> parse_windows("0:0.15,1.5:2")
    ((0.0, 0.15), (1.5, 2.0))
    """
    if text is None:
        return ()
    if isinstance(text, str):
        pieces = [p.strip() for p in text.split(",")]
        pairs = []
        for piece in pieces:
            parts = piece.split(":")
            try:
                if len(parts) != 2:
                    raise ValueError
                pairs.append((float(parts[0]), float(parts[1])))
            except ValueError:
                raise InputError(f"The window '{piece}' ({option}) is not START:END in seconds; write e.g. "
                                 f"{option} 0:0.15,1.5:2.") from None
    else:
        pairs = [tuple(p) for p in text]
    for pair in pairs:
        _check_pair(pair, option)
    return tuple((float(a), float(b)) for a, b in pairs)


def _check_pair(pair, option: str) -> None:
    if len(pair) != 2:
        raise InputError(f"The window {pair!r} ({option}) must be a start and an end in seconds.")
    start, end = pair
    if not all(isinstance(v, (int, float, np.number)) and math.isfinite(v) for v in (start, end)):
        raise InputError(f"The window {start}:{end} ({option}) must be two finite numbers of seconds.")
    if start < 0:
        raise InputError(f"The window {start:g}:{end:g} ({option}) starts before 0 s; times are seconds from "
                         f"{'each sweep start' if option == '--exclude' else 'the session start'}.")
    if end <= start:
        raise InputError(f"The window {start:g}:{end:g} ({option}) ends before it starts; write START:END with "
                         "END after START.")


def _rows(table, detail: str) -> list:
    start, stop = np.asarray(table["start_time"][:], float), np.asarray(table["stop_time"][:], float)
    return [(float(a), float(b), detail) for a, b in zip(start, stop) if np.isfinite(a) and np.isfinite(b)]


def file_exclusions(nwbfile) -> tuple[list, list]:
    """(stimuli, exclusion windows) from the file's TimeIntervals tables, on the session clock."""
    stimuli, tables = [], []
    intervals = dict(getattr(nwbfile, "intervals", None) or {})
    for name, table in intervals.items():
        if name in ("epochs", "trials"):
            continue
        if _STIMULUS_TABLE.search(name):
            sources = table["source"][:] if "source" in table.colnames else [f"intervals/{name}"] * len(table)
            stimuli += [(a, b, str(src)) for (a, b, _), src in zip(_rows(table, ""), sources)]
        elif _EXCLUSION_TABLE.search(name) or name == "invalid_times":
            tables += _rows(table, f"intervals/{name}")
    return stimuli, tables


def _span(inp) -> tuple[float, float]:
    """(start on the session clock, duration) of a trace, seconds."""
    series = inp.series
    timestamps = getattr(series, "timestamps", None)
    start = float(timestamps[0]) if timestamps is not None else float(getattr(series, "starting_time", 0) or 0)
    return start, len(inp.trace) / float(inp.sampling_rate_hz)


def check_exclusions(nwbfile, inputs, *, exclude=None, exclude_session=None, evoked_window_ms=None,
                     keep_transients: bool = False, drop_action_potentials: bool = True,
                     source: str = "The file") -> FileExclusions:
    """Parse and check the exclusion options against the file and its traces (before any detection).

    Example
    -------
    >>> from nwbsyn.testing import mock_icephys_nwbfile
    >>> from nwbsyn.events.nwb import load_inputs
    >>> nwbfile = mock_icephys_nwbfile(n_sweeps=1)
    >>> check_exclusions(nwbfile, load_inputs(nwbfile), exclude="0:0.1").sweep_windows_s
    ((0.0, 0.1),)
    """
    sweep = parse_windows(exclude, option="--exclude")
    session = parse_windows(exclude_session, option="--exclude-session")
    stimuli, tables = file_exclusions(nwbfile)
    spans = [_span(inp) for inp in inputs]
    longest = max(d for _, d in spans)
    for a, b in sweep:
        if a >= longest:
            raise InputError(f"The window {a:g}:{b:g} (--exclude) starts after the end of every analysed sweep (the "
                             f"longest lasts {longest:g} s); give seconds from each sweep start, or use "
                             "--exclude-session for the session clock.")
    first, last = min(s for s, _ in spans), max(s + d for s, d in spans)
    for a, b in session:
        if not any(a < s + d and b > s for s, d in spans):
            raise InputError(f"The window {a:g}:{b:g} (--exclude-session) lies outside the analysed series (they "
                             f"span {first:g} s to {last:g} s on the session clock); give session-clock seconds, or "
                             "use --exclude for seconds from each sweep start.")
    if evoked_window_ms is not None:
        _check_evoked(evoked_window_ms, stimuli, source)
    return FileExclusions(stimuli_s=stimuli, tables_s=tables, sweep_windows_s=sweep, session_windows_s=session,
                          evoked_window_ms=DEFAULT_EVOKED_WINDOW_MS if evoked_window_ms is None
                          else float(evoked_window_ms),
                          keep_transients=keep_transients, drop_action_potentials=drop_action_potentials)


def _check_evoked(evoked_window_ms, stimuli, source: str) -> None:
    value = evoked_window_ms
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not math.isfinite(value) \
            or not 0 <= value <= 60_000:
        raise InputError(f"The evoked window (--evoked-window) must be a number of milliseconds from 0 to 60000; "
                         f"got {value}.")
    if not stimuli and value > 0:  # 0 keeps evoked events: nothing to refuse
        raise InputError(f"{source} holds no stimuli for --evoked-window: they come from a TimeIntervals table in "
                         "intervals/ whose name contains 'stim' ('nwbsyn convert abf' writes intervals/stimuli from "
                         "the ABF protocol); add one, or give the windows with --exclude.")


def _clip(windows, start: float, duration: float, reason: str):
    """Session-clock (a, b, detail) windows as sweep-relative ExclusionWindows that overlap the sweep."""
    out = []
    for a, b, detail in windows:
        a, b = max(0.0, a - start), min(duration, b - start)
        if b > a:
            out.append(ExclusionWindow(a, b, reason, detail))
    return out


def trace_windows(inp, spec: FileExclusions) -> list[ExclusionWindow]:
    """The exclusion windows of one trace that need no reading of it (everything but action potentials)."""
    start, duration = _span(inp)
    pre, post = STIMULUS_PRE_MS / 1e3, spec.evoked_window_ms / 1e3
    edges = []
    for a, b, detail in (spec.stimuli_s if spec.evoked_window_ms > 0 else []):
        # a pulse longer than the evoked window: its offset is a stimulus too
        edges.append((a - pre, a + post, detail))
        if b - a > post:
            edges.append((b - pre, b + post, f"{detail} (offset)"))
    windows = _clip(edges, start, duration, "stimulus")
    if not spec.keep_transients:
        before, after = TRANSIENT_WINDOW_MS[0] / 1e3, TRANSIENT_WINDOW_MS[1] / 1e3
        steps = np.asarray(getattr(inp, "command_steps_s", np.zeros(0)), float)
        windows += _clip([(start + t - before, start + t + after, "command waveform") for t in steps],
                         start, duration, "command step")
    windows += _clip(spec.tables_s, start, duration, "interval table")
    text = lambda a, b: f"{a:g}:{b:g}"  # noqa: E731
    windows += _clip([(start + a, start + b, text(a, b)) for a, b in spec.sweep_windows_s], start, duration,
                     "--exclude")
    windows += _clip([(a, b, text(a, b)) for a, b in spec.session_windows_s], start, duration, "--exclude-session")
    return windows


def action_potential_windows(trace_mV, *, sampling_rate_hz: float, dvdt_threshold_v_per_s: float = 20.0,
                             min_height_mV: float = 20.0, pre_ms: float = 2.0, max_ms: float = 50.0,
                             chunk_samples: int = 2**20) -> list[tuple[float, float]]:
    """(start, stop) seconds of each action potential of a voltage trace.

    An action potential is a rise faster than ``dvdt_threshold_v_per_s`` (sEPSPs rise at
    1-3 V/s) that climbs at least ``min_height_mV`` within 2 ms. Its window runs from
    ``pre_ms`` before the threshold crossing until the voltage is back below the threshold
    level (at most ``max_ms`` after the crossing), plus 2 ms.

    Example
    -------
    >>> import numpy as np
    >>> v = np.full(20_000, -65.0); v[10_000:10_020] = np.linspace(-50, 20, 20); v[10_020:10_060] = -60
    >>> [(round(a, 3), round(b, 3)) for a, b in action_potential_windows(v, sampling_rate_hz=20_000)]
    [(0.498, 0.505)]
    """
    fs = float(sampling_rate_hz)
    n = len(trace_mV)
    width = max(1, int(round(1e-4 * fs)))  # 0.1 ms running mean against sample noise
    reach, limit, pre = int(round(2e-3 * fs)), int(round(max_ms * 1e-3 * fs)), int(round(pre_ms * 1e-3 * fs))
    windows, start = [], 0
    while start < n:
        lo, hi = max(0, start - limit), min(n, start + chunk_samples + 2 * limit)
        v = np.asarray(trace_mV[lo:hi], dtype=float)
        smooth = np.convolve(v, np.ones(width) / width, mode="same")
        dvdt = np.diff(smooth) * fs / 1e3  # mV/ms = V/s
        crossings = np.flatnonzero((dvdt[1:] >= dvdt_threshold_v_per_s) & (dvdt[:-1] < dvdt_threshold_v_per_s)) + 1
        for c in crossings:
            if not start <= lo + c < start + chunk_samples:
                continue
            level = smooth[c]
            if smooth[c:c + reach + 1].max() - level < min_height_mV:
                continue
            peak = c + int(np.argmax(smooth[c:c + reach + 1]))
            back = np.flatnonzero(smooth[peak:c + limit] <= level)
            end = peak + (int(back[0]) if back.size else len(smooth[peak:c + limit]))
            windows.append(((lo + c - pre) / fs, min(n, lo + end + int(round(2e-3 * fs))) / fs))
        start += chunk_samples
    return _merge([(max(0.0, float(a)), float(b)) for a, b in windows])


def _merge(windows) -> list[tuple[float, float]]:
    out = []
    for a, b in sorted(windows):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def apply_exclusions(inp, res, windows: list[ExclusionWindow], *, drop_action_potentials: bool = True):
    """``res`` without the events in ``windows`` (and on action potentials), with the exclusion in its params.

    ``params["exclusion"]`` holds the windows' count, the excluded and analysed seconds, the
    events dropped per reason and the number of action potentials; the statistics'
    ``frequency_hz`` becomes events / analysed seconds.
    """
    windows = list(windows)
    n_ap = 0
    if drop_action_potentials and getattr(inp, "unit", "") == "mV":
        aps = action_potential_windows(inp.trace, sampling_rate_hz=inp.sampling_rate_hz)
        n_ap = len(aps)
        windows += [ExclusionWindow(a, b, "action potential", "dV/dt and height") for a, b in aps]
    duration = len(inp.trace) / float(inp.sampling_rate_hz)
    excluded = sum(b - a for a, b in _merge([(w.start_s, w.stop_s) for w in windows]))
    keep, dropped = _keep_mask(res, windows, inp.sampling_rate_hz)
    res = _subset(inp, res, keep) if not keep.all() else res
    analysed = max(duration - excluded, 0.0)
    stats = replace(res.statistics, frequency_hz=len(res) / analysed if analysed > 0 else float("nan"))
    exclusion = dict(windows=len(windows), excluded_s=round(excluded, 6), analysed_s=round(analysed, 6),
                     dropped={k: v for k, v in dropped.items() if v}, action_potentials=n_ap)
    params = dict(res.params, exclusion=exclusion)
    if dropped.get("command step"):
        params["dropped_command_transients"] = dropped["command step"]
    return replace(res, statistics=stats, params=params), windows


def _keep_mask(res, windows, fs: float):
    """(events kept, events dropped per reason): an event goes when its onset or its peak is in a window."""
    onsets = np.asarray(res.onset_samples, float) / fs
    peaks = getattr(res.statistics, "peak_samples", None)
    peaks = np.asarray(peaks, float) / fs if peaks is not None and len(peaks) == len(onsets) else onsets
    keep = np.ones(len(onsets), bool)
    dropped = dict.fromkeys(REASONS, 0)
    for reason in REASONS:
        merged = _merge([(w.start_s, w.stop_s) for w in windows if w.reason == reason])
        if not merged:
            continue
        starts, stops = np.array(merged).T
        inside = keep & (_inside(onsets, starts, stops) | _inside(peaks, starts, stops))
        dropped[reason] += int(inside.sum())
        keep &= ~inside
    return keep, dropped


def _inside(times, starts, stops) -> np.ndarray:
    """Which ``times`` fall in one of the sorted, disjoint windows [start, stop)."""
    i = np.searchsorted(starts, times, side="right") - 1
    ok = i >= 0
    out = np.zeros(times.size, bool)
    out[ok] = times[ok] < stops[i[ok]]
    return out


def _subset(inp, res, keep):
    """The kept events, their statistics measured again without the dropped ones (one direction), or
    the kept events' own measures (both directions: ``polarity`` 0)."""
    from nwbsyn.events.stats import event_statistics

    polarity = res.params.get("polarity", -1)
    if polarity in (-1, 1):
        stats = event_statistics(inp.trace, res.onset_samples[keep], sampling_rate_hz=inp.sampling_rate_hz,
                                 polarity=polarity)
    else:
        stats = _kept_statistics(res.statistics, keep)
    return replace(res, onset_samples=res.onset_samples[keep], onset_times_s=res.onset_times_s[keep],
                   scores=res.scores[keep], statistics=stats)


def _kept_statistics(stats, keep):
    """``stats`` restricted to the kept events: every per-event array, the intervals between them."""
    n = len(stats)
    whole = ("intervals_s", "average_event_pA", "average_event_time_ms")
    per_event = {f.name: np.asarray(getattr(stats, f.name))[keep] for f in fields(stats)
                 if f.name not in whole and isinstance(getattr(stats, f.name), np.ndarray)
                 and getattr(stats, f.name).shape[:1] == (n,)}
    return replace(stats, **per_event, intervals_s=np.diff(per_event["onset_samples"]) / stats.sampling_rate_hz)


def excluded_table(inputs, windows_per_trace):
    """A ``TimeIntervals`` of every excluded window (session clock), or None when there is none."""
    from pynwb.epoch import TimeIntervals

    rows = []
    for inp, windows in zip(inputs, windows_per_trace):
        start, _ = _span(inp)
        rows += [(start + w.start_s, start + w.stop_s, inp.series.name, w.reason, w.detail) for w in windows]
    if not rows:
        return None
    table = TimeIntervals(name=EXCLUDED_NAME, description=(
        "Windows where nwbsyn events detect did not count events (left out of the analysed time): command steps, "
        "stimuli with their evoked window, interval tables of the file, --exclude / --exclude-session windows "
        "and action potentials."))
    table.add_column(name="series", description="Analysed series the window belongs to.")
    table.add_column(name="reason", description="Why: " + ", ".join(REASONS) + ".")
    table.add_column(name="detail", description="Where the window came from (stimulus source, option value, ...).")
    for a, b, name, reason, detail in sorted(rows):
        table.add_row(start_time=a, stop_time=b, series=name, reason=reason, detail=detail)
    return table
