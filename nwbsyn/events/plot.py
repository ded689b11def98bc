"""The figure of event detection, drawn from the NWB objects: the trace with detections and scores, the average
event. ``nwbsyn events detect --plot`` and the report (:mod:`nwbsyn.report.events`) both draw it."""

from __future__ import annotations

import numpy as np

from nwbsyn._shared import InputError

__all__ = ["plot_detections", "detections_figure", "figure_formats", "check_figure_path", "save_figure", "decay_title"]


def figure_formats() -> dict[str, str]:
    """File suffixes matplotlib can write (without the dot) and what each one is (:mod:`nwbsyn.report._html`)."""
    from nwbsyn.report._html import figure_formats as formats

    return formats()


def check_figure_path(path, *, option: str = "--plot") -> str:
    """The format of a figure file named ``path`` (its suffix), or an InputError naming ``option``.

    Example
    -------
    >>> check_figure_path("events.svg")
    'svg'
    """
    from nwbsyn.report._html import check_figure_path as check

    return check(path, option=option)


def save_figure(fig, path, *, dpi: int = 120) -> None:
    """Save ``fig`` atomically to ``path`` (a file name, replaced if it exists, or an OutputClaim)."""
    from nwbsyn.report._html import save_figure as save

    save(fig, path, dpi=dpi)


def plot_detections(source, *, path=None, max_seconds: float = 10.0):
    """Draw the trace with most events (up to ``max_seconds``): detections, score, and the average event.

    The figure is drawn from the NWB objects that :func:`nwbsyn.events.add_results` writes (the
    report shows the same figure). ``source`` is a ``SynapticEventsTable``, an ``NWBFile`` holding
    one, or what :func:`nwbsyn.events.run_on_nwbfile` returns ((TraceInput, EventDetectionResult)
    pairs): their results are looked up in the file of the traces, or written into a scratch
    in-memory file by ``add_results`` when they were never added. Returns the matplotlib Figure
    (off screen: pyplot and the backend are left alone); saves it to ``path`` when given (a path,
    replaced atomically if it exists, or an :class:`~nwbsyn.io.output.OutputClaim` taken before
    the analysis); the format follows the suffix.

    Example
    -------
    >>> from nwbsyn.testing import mock_SynapticEventsTable
    >>> fig = plot_detections(mock_SynapticEventsTable(n_events=8), path="events.png")
    >>> [ax.get_ylabel() for ax in fig.axes[:2]]
    ['pA', 'score']
    """
    table, scores, excluded = _nwb_objects(source)
    fig = detections_figure(table, scores, max_seconds=max_seconds, excluded=excluded)
    if path is not None:
        save_figure(fig, path)
    return fig


def _nwb_objects(source):
    """(events table or None, its score series, excluded windows by series name) of ``source``."""
    from nwbsyn.types import SynapticEventScoreSeries, SynapticEventsTable

    if isinstance(source, SynapticEventsTable):
        nwbfile = source.get_ancestor("NWBFile")
        table, scores = source, _scores_of(source, _all_scores(nwbfile, source))
    elif isinstance(source, SynapticEventScoreSeries):
        table, scores = None, [source]
    elif hasattr(source, "processing"):  # an NWBFile
        from nwbsyn.report._page import find_results

        found = find_results(source)
        table = found.events_tables[0] if found.events_tables else None
        scores = _scores_of(table, found.score_series) if table is not None else found.score_series
        if table is None and not scores:
            raise InputError(f"The NWB file {source.identifier} holds no synaptic events or score series; run "
                             "'nwbsyn events detect' (events.run_on_nwbfile) first.")
    else:
        table, scores = _from_pairs(list(source))
    return table, scores, excluded_windows(table, scores)


def _all_scores(nwbfile, holder) -> list:
    from nwbsyn.types import SynapticEventScoreSeries

    objects = nwbfile.all_children() if nwbfile is not None else getattr(holder.parent, "data_interfaces", {}).values()
    return [o for o in objects if isinstance(o, SynapticEventScoreSeries)]


def _scores_of(table, scores) -> list:
    """The score series of the traces ``table`` references."""
    ids = {ref[2].object_id for ref in table["trace"].data[:]} if "trace" in table.colnames else set()
    return [s for s in scores if s.source_series is not None and s.source_series.object_id in ids]


def _from_pairs(pairs):
    """The NWB objects of in-memory (TraceInput, EventDetectionResult) pairs: those in the traces' file
    when the run added them, else written by ``add_results`` into a scratch in-memory file."""
    from nwbsyn.events.nwb import add_results
    from nwbsyn.report._page import find_results

    if not pairs:
        raise InputError("plot_detections got no (trace, result) pairs; pass what events.run_on_nwbfile returns "
                         "or a SynapticEventsTable.")
    wanted = {inp.series.object_id for inp, _ in pairs}
    nwbfile = pairs[0][0].series.get_ancestor("NWBFile")
    if nwbfile is not None:
        found = find_results(nwbfile)
        for table in found.events_tables:
            scores = _scores_of(table, found.score_series)
            if wanted <= {s.source_series.object_id for s in scores}:
                return table, scores
        scores = [s for s in found.score_series if s.source_series is not None
                  and s.source_series.object_id in wanted]
        if not sum(len(res) for _, res in pairs) and {s.source_series.object_id for s in scores} >= wanted:
            return None, scores
    from nwbsyn._shared.nwb import scratch_nwbfile

    scratch = scratch_nwbfile()
    table = add_results(scratch, [inp for inp, _ in pairs], [res for _, res in pairs],
                        provenance=dict(model_name="in-memory result", architecture="-", method="-", parameters={}))
    return table, _all_scores(scratch, None)


def detections_figure(table, score_series: list, *, max_seconds: float = 10.0, excluded: dict | None = None):
    """The events figure of an events table (None: a run that found none) and its score series.

    Left: the first ``max_seconds`` of the trace with most events on the session clock, circles at
    the detected peaks (kept inside the y-range, which the bulk of the trace sets: transients do
    not), excluded windows in grey, and the detector score below it; right: every event's snippet
    (grey) and their mean (red) with the fitted decay tau. Used by :func:`plot_detections` and the report.
    """
    from nwbsyn.report._html import new_figure  # off screen, not registered with pyplot: no backend switch

    cols = event_rows(table) if table is not None else None
    series_list = traces_of(cols, score_series)
    if not series_list:
        raise InputError("The events table references no trace and no score series has a source series; "
                         "nothing to draw.")
    ids = cols["series_id"] if cols else np.zeros(0, dtype=object)
    main = max(series_list, key=lambda s: int((ids == s.object_id).sum()))
    sel = ids == main.object_id
    onsets = np.sort(cols["onset"][sel]) if cols else np.zeros(0, int)
    scores = next((s for s in score_series if s.source_series is not None
                   and s.source_series.object_id == main.object_id), None)
    fig = new_figure(figsize=(12, 5.2))
    grid = fig.add_gridspec(2, 3, height_ratios=[3, 1])
    ax_trace = fig.add_subplot(grid[0, :2])
    ax_score = fig.add_subplot(grid[1, :2], sharex=ax_trace)
    t = _trace_panel(ax_trace, main, onsets, cols, sel, max_seconds=max_seconds,
                     excluded=(excluded or {}).get(main.name, []))
    _score_panel(ax_score, scores, t)
    _average_panel(fig.add_subplot(grid[:, 2]), main, onsets, window_s(cols) if cols else (0.003, 0.010),
                   polarity=float(np.sign(np.nanmedian(cols["amplitude"][sel]))) if sel.any() else -1.0)
    return fig


def _peaks(y: np.ndarray, onsets: np.ndarray, amplitude: np.ndarray, rise_s: np.ndarray, rate: float) -> np.ndarray:
    """The sample of each event's peak: its extreme (by the sign of its amplitude) after the onset,
    within 4 rise times (at least 1.5 ms)."""
    out = np.empty(onsets.size, dtype=int)
    for k, (o, amp, rise) in enumerate(zip(onsets, amplitude, rise_s)):
        reach = int(round(max(1.5e-3, 4 * rise if np.isfinite(rise) else 0.0) * rate))
        piece = y[o:min(y.size, o + reach + 1)]
        out[k] = o + int(np.argmax((1.0 if amp > 0 else -1.0) * piece)) if piece.size else o
    return out


def _trace_panel(ax, series, onsets, cols, sel, *, max_seconds: float, excluded) -> np.ndarray:
    rate = rate_hz(series)
    n = min(len(series.data), int(max_seconds * rate))
    gain, unit = display_scale(series)
    y = np.asarray(series.data[:n], dtype=float) * gain
    t = series_times(series, n)
    ax.plot(*envelope(t, y), lw=0.5, color="0.3")
    lo, hi = _robust_ylim(y, rate)
    shown = onsets < n
    if cols is not None and shown.any():
        order = np.argsort(cols["onset"][sel], kind="stable")
        amp = cols["amplitude"][sel][order][shown]
        peaks = _peaks(y, onsets[shown], amp, cols["rise_time"][sel][order][shown], rate)
        ax.plot(t[peaks], y[peaks], "o", ms=5, mfc="none", color="tab:red",
                label=f"{int(shown.sum())} of the {int(sel.sum())} events of this trace (circles at peaks)")
        margin = 0.05 * (hi - lo)  # the detected events are what the figure is for: their peaks stay inside
        lo, hi = min(lo, float(y[peaks].min()) - margin), max(hi, float(y[peaks].max()) + margin)
        ax.legend(loc="upper right", frameon=False, fontsize=8)
    ax.set_ylim(lo, hi)
    for a, b, *_ in excluded:
        if b >= t[0] and a <= t[-1]:
            ax.axvspan(max(a, t[0]), min(b, t[-1]), color="0.85", lw=0, zorder=0)
    ax.set(ylabel=unit, title=f"{series.name}: first {t[-1] - t[0]:.1f} s with detected events"
           + (" (grey: excluded windows)" if len(excluded) else ""))
    return t


def _score_panel(ax, scores, t: np.ndarray) -> None:
    if scores is not None:
        m = len(scores.data)
        ts = float(scores.starting_time or 0.0) + np.arange(m) / float(scores.rate)
        keep = np.flatnonzero(ts <= t[-1])
        ax.plot(*envelope(ts[keep], np.asarray(scores.data[: keep.size], dtype=float)), lw=0.6, color="tab:blue")
        if scores.threshold is not None:
            ax.axhline(scores.threshold, ls="--", color="0.5", lw=0.8)
    else:
        ax.text(0.5, 0.5, "no score series", ha="center", va="center", transform=ax.transAxes)
    ax.set(ylim=(-0.05, 1.05), xlabel="time (s, session clock)", ylabel="score")


_MAX_SNIPPETS = 500


def _average_panel(ax, series, onsets: np.ndarray, window: tuple[float, float], *, polarity: float) -> None:
    from nwbsyn.events._measure import _fit_decay

    rate = rate_hz(series)
    gain, unit = display_scale(series)
    pre, post = int(round(window[0] * rate)), int(round(window[1] * rate))
    ok = onsets[(onsets - pre >= 0) & (onsets + post <= len(series.data))]
    if not ok.size:
        ax.text(0.5, 0.5, "no events", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    if ok.size > _MAX_SNIPPETS:
        ok = ok[np.linspace(0, ok.size - 1, _MAX_SNIPPETS).astype(int)]
    snippets = np.stack([np.asarray(series.data[o - pre:o + post], dtype=float) * gain for o in ok])
    snippets = snippets - snippets[:, : max(1, pre - int(round(0.0003 * rate)))].mean(axis=1, keepdims=True)
    t_ms = np.arange(-pre, post) * 1e3 / rate
    for s in snippets[:: max(1, len(snippets) // 40)]:
        ax.plot(t_ms, s, color="0.75", lw=0.5)
    mean = snippets.mean(axis=0)
    ax.plot(t_ms, mean, color="tab:red", lw=2, label=f"mean of {len(snippets)} events")
    ax.legend(frameon=False, fontsize=8)
    ax.axvline(0, color="0.5", lw=0.6, ls=":")
    ax.set(title=f"average event (n={len(snippets)})" + decay_title(_fit_decay((polarity or -1.0) * mean, t_ms)),
           xlabel="time from onset (ms)", ylabel=f"{unit} (baseline subtracted)")


def decay_title(tau_ms: float, *, max_ms: float = 1000.0) -> str:
    """``"\\ndecay tau 4.21 ms"`` when the fitted tau is finite and plausible (0 < tau < 1 s), else ``""``.

    Example
    -------
    >>> decay_title(4.2071), decay_title(183273820.82), decay_title(float("nan"))
    ('\\ndecay tau 4.21 ms', '', '')
    """
    tau = float(tau_ms)
    return f"\ndecay tau {tau:.2f} ms" if np.isfinite(tau) and 0 < tau < max_ms else ""


def _robust_ylim(y: np.ndarray, rate_hz: float) -> tuple[float, float]:
    """A y-range set by the bulk of the trace: capacitive transients and artefacts do not set it."""
    from nwbsyn.report._viewer import envelope_bin, sweep_envelope

    lo, hi = sweep_envelope(y, k=envelope_bin(rate_hz, y.size), gain=1.0, rate_hz=rate_hz)["y"]
    return lo, hi + 0.05 * (hi - lo)


# Reading the events results back from NWB objects (shared with the report's events section).

_DISPLAY = {"amperes": (1e12, "pA"), "volts": (1e3, "mV")}


def series_times(series, n: int, first: int = 0) -> np.ndarray:
    """Session-clock times (s) of samples ``first .. first + n`` of ``series``."""
    if series.timestamps is not None:
        return np.asarray(series.timestamps[first:first + n], dtype=float)
    return float(series.starting_time or 0.0) + (first + np.arange(n)) / float(series.rate)


def display_scale(series) -> tuple[float, str]:
    """Gain from stored values to display units (pA, mV) and that unit."""
    factor, unit = _DISPLAY.get(series.unit, (1.0, series.unit))
    return float(series.conversion) * factor, unit


def rate_hz(series) -> float:
    return float(series.rate) if series.rate else 1.0 / float(np.median(np.diff(series.timestamps[:1000])))


def envelope(t: np.ndarray, y: np.ndarray, n_columns: int = 3000):
    """Min/max per column so that a long trace draws fast and keeps its peaks."""
    if y.size <= 2 * n_columns:
        return t, y
    k = -(-y.size // n_columns)
    n_blocks = -(-y.size // k)
    pad = n_blocks * k - y.size
    blocks = np.pad(y, (0, pad), mode="edge").reshape(n_blocks, k)
    tt = np.pad(t, (0, pad), mode="edge").reshape(n_blocks, k)[:, [0, -1]].ravel()
    yy = np.stack([blocks.min(axis=1), blocks.max(axis=1)], axis=1).ravel()
    return tt, yy


def event_rows(table) -> dict:
    """Columns of the table as arrays, plus each event's series and onset sample."""
    n = len(table)
    refs = table["trace"].data[:] if "trace" in table.colnames else []
    cols = {name: np.asarray(table[name].data[:], dtype=float) if name in table.colnames else np.full(n, np.nan)
            for name in ("timestamp", "amplitude", "baseline", "rise_time", "half_decay_time", "half_width", "score")}
    cols["amplitude_method"] = (np.asarray(table["amplitude_method"].data[:]).astype(str)
                                if "amplitude_method" in table.colnames else None)
    cols["series"] = [ref[2] for ref in refs] if len(refs) else [None] * n
    cols["series_id"] = np.array([x.object_id if x is not None else "" for x in cols["series"]], dtype=object)
    cols["onset"] = np.asarray([int(ref[0]) for ref in refs], dtype=np.int64) if len(refs) else np.zeros(n, int)
    cols["amplitude_unit"] = getattr(table["amplitude"], "unit", "") if "amplitude" in table.colnames else ""
    return cols


def traces_of(cols, score_series: list) -> list:
    """The traces behind the events (``cols``, None without events) and the score series, once each."""
    by_id = {}
    for ref in (cols["series"] if cols else []):
        if ref is not None:
            by_id.setdefault(ref.object_id, ref)
    for sc in score_series:
        if sc.source_series is not None:
            by_id.setdefault(sc.source_series.object_id, sc.source_series)
    return list(by_id.values())


def window_s(cols) -> tuple[float, float]:
    """Snippet window around onsets from the kinetics: 3 ms before, 5 half decays after (10-150 ms)."""
    decay = np.nanmedian(cols["half_decay_time"]) if np.isfinite(cols["half_decay_time"]).any() else 0.002
    return 0.003, float(np.clip(5.0 * decay, 0.010, 0.150))


def excluded_windows(table, score_series) -> dict:
    """Excluded windows per series name (``synaptic_events_excluded`` beside the events table), merged,
    as (start_s, stop_s, reason) rows on the session clock; {} when the file has none."""
    holder = table if table is not None else (score_series[0] if score_series else None)
    module = getattr(holder, "parent", None)
    excluded = getattr(module, "data_interfaces", {}).get("synaptic_events_excluded") if module is not None else None
    if excluded is None or not len(excluded) or "series" not in excluded.colnames:
        return {}
    start, stop = np.asarray(excluded["start_time"].data[:], float), np.asarray(excluded["stop_time"].data[:], float)
    names = np.asarray(excluded["series"].data[:]).astype(str)
    reasons = np.asarray(excluded["reason"].data[:]).astype(str) if "reason" in excluded.colnames else \
        np.full(len(names), "")
    out: dict = {}
    for a, b, name, why in sorted(zip(start, stop, names, reasons)):
        out.setdefault(name, []).append((float(a), float(b), why))
    return out
