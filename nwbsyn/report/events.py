"""Report section for synaptic events: trace with detections and scores, average event, distributions,
frequency over time and per-recording statistics."""

from __future__ import annotations

import html

import numpy as np

from nwbsyn.report._html import Section, new_figure, table_html
from nwbsyn.report._viewer import envelope_bin, gallery_html, sweep_envelope, trace_viewer_html

__all__ = ["events_section"]

_DISPLAY = {"amperes": (1e12, "pA"), "volts": (1e3, "mV")}
_MAX_SNIPPETS = 500


def _series_times(series, n: int, first: int = 0) -> np.ndarray:
    if series.timestamps is not None:
        return np.asarray(series.timestamps[first:first + n], dtype=float)
    return float(series.starting_time or 0.0) + (first + np.arange(n)) / float(series.rate)


def _scale(series) -> tuple[float, str]:
    factor, unit = _DISPLAY.get(series.unit, (1.0, series.unit))
    return float(series.conversion) * factor, unit


def _envelope(t: np.ndarray, y: np.ndarray, n_columns: int = 3000):
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


def _event_rows(table) -> dict:
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


def _excluded_windows(table, score_series) -> dict:
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


def _excluded_note(excluded: dict) -> str:
    if not excluded:
        return ""
    windows = [w for ws in excluded.values() for w in ws]
    seconds = sum(float(np.sum(np.diff(_merged(ws), axis=1))) for ws in excluded.values())
    reasons = sorted({html.escape(w[2]) for w in windows})
    return (f" {len(windows)} excluded windows ({seconds:.2f} s; {', '.join(reasons)}) are shaded grey and left "
            "out of the analysed time: frequencies are events per analysed second.")


def _merged(windows) -> np.ndarray:
    """(k, 2) non-overlapping spans of (start, stop, ...) rows."""
    spans: list[list[float]] = []
    for a, b, *_ in sorted(windows):
        if spans and a <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], b)
        else:
            spans.append([a, b])
    return np.asarray(spans, dtype=float).reshape(-1, 2)


def _overlap_s(spans: np.ndarray, lo, hi) -> np.ndarray:
    """Seconds of ``spans`` inside each [lo, hi) (arrays of bin edges)."""
    lo, hi = np.atleast_1d(np.asarray(lo, float)), np.atleast_1d(np.asarray(hi, float))
    total = np.zeros(lo.shape)
    for a, b in spans:
        total += np.clip(np.minimum(hi, b) - np.maximum(lo, a), 0, None)
    return total


def _trace_figure(series, onsets: np.ndarray, scores, *, max_seconds: float = 10.0, excluded=()):
    rate = _rate_hz(series)
    n = min(len(series.data), int(max_seconds * rate))
    gain, unit = _scale(series)
    y = np.asarray(series.data[:n], dtype=float) * gain
    t = _series_times(series, n)
    fig = new_figure(figsize=(11, 4.6))
    grid = fig.add_gridspec(2, 1, height_ratios=[3, 1])
    ax = fig.add_subplot(grid[0])
    ax.plot(*_envelope(t, y), lw=0.5, color="0.3")
    shown = onsets[onsets < n]
    lo, hi = sweep_envelope(y, k=envelope_bin(rate, n), gain=1.0, rate_hz=rate)["y"]  # transients excluded
    ax.set_ylim(lo, hi + 0.1 * (hi - lo))
    if shown.size:
        ax.plot(t[shown], np.full(shown.size, hi + 0.05 * (hi - lo)), "v", color="tab:red", ms=5,
                label=f"{shown.size} detected onsets")
        ax.legend(loc="upper right", frameon=False, fontsize=8)
    for a, b, *_ in excluded:
        if b >= t[0] and a <= t[-1]:
            ax.axvspan(max(a, t[0]), min(b, t[-1]), color="0.85", lw=0, zorder=0)
    ax.set(ylabel=unit, title=f"{series.name}: first {t[-1] - t[0]:.1f} s with detected events"
           + (" (grey: excluded windows)" if len(excluded) else ""))
    ax_s = fig.add_subplot(grid[1], sharex=ax)
    if scores is not None:
        m = len(scores.data)
        ts = float(scores.starting_time or 0.0) + np.arange(m) / float(scores.rate)
        keep = np.flatnonzero(ts <= t[-1])
        ax_s.plot(*_envelope(ts[keep], np.asarray(scores.data[: keep.size], dtype=float)), lw=0.6,
                  color="tab:blue")
        if scores.threshold is not None:
            ax_s.axhline(scores.threshold, ls="--", color="0.5", lw=0.8)
    else:
        ax_s.text(0.5, 0.5, "no score series", ha="center", va="center", transform=ax_s.transAxes)
    ax_s.set(ylim=(-0.05, 1.05), xlabel="time (s, session clock)", ylabel="score")
    return fig


def _window_s(cols) -> tuple[float, float]:
    """Snippet window around onsets from the kinetics: 3 ms before, 5 half decays after (10-150 ms)."""
    decay = np.nanmedian(cols["half_decay_time"]) if np.isfinite(cols["half_decay_time"]).any() else 0.002
    return 0.003, float(np.clip(5.0 * decay, 0.010, 0.150))


def _average_figure(series, onsets: np.ndarray, window_s: tuple[float, float]):
    rate = _rate_hz(series)
    gain, unit = _scale(series)
    pre, post = int(round(window_s[0] * rate)), int(round(window_s[1] * rate))
    ok = onsets[(onsets - pre >= 0) & (onsets + post <= len(series.data))]
    if ok.size > _MAX_SNIPPETS:
        ok = ok[np.linspace(0, ok.size - 1, _MAX_SNIPPETS).astype(int)]
    snippets = np.stack([np.asarray(series.data[o - pre:o + post], dtype=float) * gain for o in ok]) \
        if ok.size else np.zeros((0, pre + post))
    snippets = snippets - snippets[:, : max(1, pre - int(round(0.0003 * rate)))].mean(axis=1, keepdims=True)
    t_ms = np.arange(-pre, post) * 1e3 / rate
    fig = new_figure(figsize=(5.5, 4))
    ax = fig.add_subplot()
    for s in snippets[:: max(1, len(snippets) // 40)]:
        ax.plot(t_ms, s, color="0.75", lw=0.5)
    if len(snippets):
        ax.plot(t_ms, snippets.mean(axis=0), color="tab:red", lw=2, label=f"mean of {len(snippets)} events")
        ax.legend(frameon=False, fontsize=8)
    ax.axvline(0, color="0.5", lw=0.6, ls=":")
    ax.set(title=f"{series.name}: average event", xlabel="time from onset (ms)",
           ylabel=f"{unit} (baseline subtracted)")
    return fig


def _intervals_s(cols) -> np.ndarray:
    """Inter-event intervals within each trace (never across traces)."""
    out = []
    ids = cols["series_id"]
    for sid in np.unique(ids):
        t = np.sort(cols["timestamp"][ids == sid])
        out.append(np.diff(t))
    return np.concatenate(out) if out else np.zeros(0)


def _histograms_figure(cols, amp_scale: float, amp_unit: str):
    fig = new_figure(figsize=(12, 5.6))
    panels = [
        (np.abs(cols["amplitude"] * amp_scale), f"|amplitude| ({amp_unit})"),
        (cols["rise_time"] * 1e3, "10-90 % rise time (ms)"),
        (cols["half_decay_time"] * 1e3, "half decay time (ms)"),
        (_intervals_s(cols) * 1e3, "inter-event interval (ms)"),
        (cols["score"], "detector score"),
    ]
    for k, (values, label) in enumerate(panels):
        ax = fig.add_subplot(2, 3, k + 1)
        finite = values[np.isfinite(values)]
        if finite.size:
            span = (0.0, 1.0) if label == "detector score" else tuple(np.percentile(finite, [0, 99.5]))
            if span[1] <= span[0]:
                span = (span[0] - 0.5, span[0] + 0.5)
            ax.hist(finite, bins=min(50, max(5, finite.size // 5)), range=span, color="tab:blue", alpha=0.75,
                    log=label == "detector score")  # scores pile up near 1: a log count shows the rest
            ax.axvline(np.median(finite), color="tab:red", lw=1, label=f"median {np.median(finite):.3g}")
            ax.legend(frameon=False, fontsize=7, loc="center right")
            cum = ax.twinx()
            ordered = np.sort(finite)
            cum.plot(ordered, np.arange(1, ordered.size + 1) / ordered.size, color="k", lw=1)
            cum.set(ylim=(0, 1.02), xlim=span)
            cum.set_ylabel("cumulative fraction", fontsize=8)
        ax.set(xlabel=label, ylabel="events")
    return fig


def _frequency_figure(series_list, cols, excluded=None):
    """Events per second over the session, bins of equal width; time outside the sweeps and excluded
    windows are not counted."""
    excluded = excluded or {}
    spans = []
    for s in series_list:
        t = _series_times(s, 1)[0]
        rate = float(s.rate) if s.rate else None
        end = t + len(s.data) / rate if rate else float(s.timestamps[-1])
        spans.append((t, end))
    lo, hi = min(a for a, _ in spans), max(b for _, b in spans)
    raw_width = max((hi - lo) / 30.0, 0.05)
    width = min(m * 10.0 ** np.floor(np.log10(raw_width)) for m in (1, 2, 5, 10)
                if m * 10.0 ** np.floor(np.log10(raw_width)) >= raw_width)
    edges = lo + width * np.arange(int(np.ceil((hi - lo) / width)) + 1)
    if edges.size < 2:
        edges = np.array([lo, lo + width])
    fig = new_figure(figsize=(11, 3.2))
    ax = fig.add_subplot()
    for s, (a, b) in zip(series_list, spans):
        sel = cols["series_id"] == s.object_id
        counts = np.histogram(cols["timestamp"][sel], bins=edges)[0]
        covered = np.clip(np.minimum(edges[1:], b) - np.maximum(edges[:-1], a), 0, None)
        gone = _merged([w for w in excluded.get(s.name, []) if w[1] > a and w[0] < b])
        covered = np.clip(covered - _overlap_s(np.clip(gone, a, b), edges[:-1], edges[1:]), 0, None)
        freq = np.where(covered > 0.05 * width, counts / np.maximum(covered, 1e-12), np.nan)
        ax.stairs(freq, edges, label=s.name, lw=1.2)
    if len(series_list) <= 10:
        ax.legend(frameon=False, fontsize=8, ncol=min(5, len(series_list)))
    ax.set(xlabel="time (s, session clock)", ylabel="events / analysed s" if excluded else "events / s",
           title=f"event frequency over time ({width:g} s bins" + (", excluded windows not counted)" if excluded
                                                                   else ")"))
    return fig


def _analysed_s(series, duration: float, excluded: dict) -> float:
    """The sweep's duration less its excluded windows (merged, clipped to the sweep)."""
    t0 = _series_times(series, 1)[0]
    gone = np.clip(_merged(excluded.get(series.name, [])), t0, t0 + duration)
    return max(duration - float(np.sum(gone[:, 1] - gone[:, 0])), 0.0)


def _stats_rows(series_list, cols, amp_scale: float, excluded=None):
    rows = []
    for s in series_list:
        sel = cols["series_id"] == s.object_id
        rate = float(s.rate) if s.rate else None
        duration = len(s.data) / rate if rate else float(s.timestamps[-1] - s.timestamps[0])
        analysed = _analysed_s(s, duration, excluded or {})
        med = lambda key, f=1e3, sel=sel: float(np.nanmedian(cols[key][sel]) * f) if sel.any() else float("nan")  # noqa: E731
        amps = cols["amplitude"][sel] * amp_scale
        rows.append([s.name, round(duration, 3), round(analysed, 3), int(sel.sum()),
                     float(sel.sum() / analysed) if analysed else float("nan"),
                     float(np.nanmean(amps)) if sel.any() else float("nan"),
                     float(np.nanmedian(amps)) if sel.any() else float("nan"), med("rise_time"),
                     med("half_decay_time"), med("half_width"), med("score", 1.0)])
    return rows


def _rate_hz(series) -> float:
    return float(series.rate) if series.rate else 1.0 / float(np.median(np.diff(series.timestamps[:1000])))


def _score_envelope(scores, *, n_bins: int, t0_s: float, dt_s: float) -> np.ndarray:
    """The score's maximum in each display bin of the trace (the score may run at another rate)."""
    rate = float(scores.rate)
    k = max(1, int(round(dt_s * rate)))
    high = sweep_envelope(scores.data, k=k, gain=1.0, rate_hz=rate)["hi"]
    start = float(scores.starting_time or 0.0)
    centres = t0_s + (np.arange(n_bins) + 0.5) * dt_s
    return np.interp(centres, start + (np.arange(high.size) + 0.5) * k / rate, high, left=np.nan, right=np.nan)


def _viewer(section_id: str, series_list, cols, scores_of, excluded=None) -> str:
    total = sum(len(s.data) for s in series_list)
    sweeps = []
    for s in series_list:
        rate, (gain, unit) = _rate_hz(s), _scale(s)
        k = envelope_bin(rate, total)
        env = sweep_envelope(s.data, k=k, gain=gain, rate_hz=rate)
        sel = cols["series_id"] == s.object_id \
            if cols else np.zeros(0, bool)
        scores = scores_of.get(s.object_id)
        score_env = _score_envelope(scores, n_bins=env["hi"].size, t0_s=_series_times(s, 1)[0], dt_s=k / rate) \
            if scores is not None and scores.rate else None
        sweeps.append({"name": s.name, "t0_s": _series_times(s, 1)[0], "dt_s": k / rate, "unit": unit, **env,
                       "onsets_s": cols["timestamp"][sel] if cols else [], "scores": score_env,
                       "threshold": getattr(scores, "threshold", None),
                       "excluded": (excluded or {}).get(s.name, [])})
    return trace_viewer_html(f"{section_id}-viewer", sweeps)


def _gallery(section_id: str, cols, window_s, amp_scale: float, amp_unit: str) -> str:
    events = []
    for i, (series, onset) in enumerate(zip(cols["series"], cols["onset"])):
        if series is None:
            continue
        rate, (gain, _) = _rate_hz(series), _scale(series)
        pre, post = int(round(window_s[0] * rate)), int(round(window_s[1] * rate))
        a, b = max(0, int(onset) - pre), min(len(series.data), int(onset) + post)
        y = np.asarray(series.data[a:b], dtype=float) * gain
        k = max(1, y.size // 150)
        y = y[: y.size // k * k].reshape(-1, k).mean(axis=1)
        t_ms = ((a - int(onset)) + k * np.arange(y.size) + (k - 1) / 2) * 1e3 / rate
        amp, base = cols["amplitude"][i] * amp_scale, cols["baseline"][i] * amp_scale
        rise_ms = cols["rise_time"][i] * 1e3 if np.isfinite(cols["rise_time"][i]) else 1.0
        after = (t_ms >= 0) & (t_ms <= max(1.5, 4.0 * rise_ms))  # the peak follows the rise
        peak_ms = float(t_ms[after][np.argmax(np.sign(amp or -1) * (y[after] - base))]) if after.any() else 0.0
        events.append({"label": f"#{i} {series.name} {cols['timestamp'][i]:.4f} s", "t_ms": t_ms, "y": y,
                       "baseline": base, "amplitude": amp, "peak_ms": peak_ms,
                       "method": cols["amplitude_method"][i] if cols.get("amplitude_method") is not None else ""})
    return gallery_html(f"{section_id}-gallery", events, unit=amp_unit)


def _overall_row(rows, cols, amp_scale: float) -> list:
    """All traces together: total and analysed time, events, pooled statistics."""
    duration, analysed, n = sum(r[1] for r in rows), sum(r[2] for r in rows), sum(r[3] for r in rows)
    amps = cols["amplitude"] * amp_scale
    med = lambda key, f=1e3: float(np.nanmedian(cols[key]) * f) if n else float("nan")  # noqa: E731
    return [f"all {len(rows)} traces", round(duration, 3), round(analysed, 3), n,
            n / analysed if analysed else float("nan"), float(np.nanmean(amps)) if n else float("nan"),
            float(np.nanmedian(amps)) if n else float("nan"), med("rise_time"), med("half_decay_time"),
            med("half_width"), med("score", 1.0)]


def events_section(section_id: str, table, score_series: list) -> Section:
    """Section for one SynapticEventsTable (or, when no event was found, only its score series)."""
    name = table.name if table is not None else "synaptic events"
    section = Section(section_id, f"Synaptic events ({name})")
    cols = _event_rows(table) if table is not None else None
    by_id = {}
    for ref in (cols["series"] if cols else []):
        if ref is not None:
            by_id.setdefault(ref.object_id, ref)
    for sc in score_series:
        if sc.source_series is not None:
            by_id.setdefault(sc.source_series.object_id, sc.source_series)
    series_list = list(by_id.values())
    if not series_list:
        section.add('<p class="note">The events table references no trace; nothing to draw.</p>')
        return section
    scores_of = {sc.source_series.object_id: sc for sc in score_series if sc.source_series is not None}
    excluded = _excluded_windows(table, score_series)
    n_events = len(table) if table is not None else 0
    section.add(f"<p>{n_events} events in {len(series_list)} trace(s)."
                + (f" Polarity: {table.polarity}." if table is not None and table.polarity else "")
                + _excluded_note(excluded) + "</p>")
    ids = cols["series_id"] if cols else np.zeros(0, dtype=object)
    main = max(series_list, key=lambda s: int((ids == s.object_id).sum()))
    onsets = cols["onset"][ids == main.object_id] if cols else np.zeros(0, int)
    section.add_figure(_trace_figure(main, np.sort(onsets), scores_of.get(main.object_id),
                                     excluded=excluded.get(main.name, [])),
                       f"Trace '{main.name}' (the one with most events) with detected onsets (red) and the "
                       "detector score (blue; dashed: threshold).")
    section.add("<h3>Every sweep</h3>" + _viewer(section_id, series_list, cols, scores_of, excluded))
    if not n_events:
        section.add('<p class="note">No events were found; only the score traces were written.</p>')
        return section
    amp_scale, amp_unit = _DISPLAY.get(cols["amplitude_unit"], (1.0, cols["amplitude_unit"]))
    window_s = _window_s(cols)
    section.add("<h3>Every event</h3>" + _gallery(section_id, cols, window_s, amp_scale, amp_unit))
    section.add_figure(_average_figure(main, onsets, window_s),
                       f"Average event of '{main.name}' (grey: individual events), over a window set by the "
                       f"kinetics ({window_s[0] * 1e3:.0f} ms before to {window_s[1] * 1e3:.0f} ms after the onset).")
    section.add_figure(_histograms_figure(cols, amp_scale, amp_unit),
                       "Distributions (bars) and cumulative fractions (black) of amplitude, 10-90 % rise time, "
                       "half decay time, inter-event interval (within each trace) and score over all events.")
    section.add_figure(_frequency_figure(series_list, cols, excluded),
                       "Event frequency over time, per trace" + (" (per analysed second: excluded windows are "
                                                                 "not counted)." if excluded else "."))
    header = ["trace", "duration (s)", "analysed (s)", "events", "frequency (Hz, per analysed s)", f"mean amplitude ({amp_unit})",
              f"median amplitude ({amp_unit})", "median rise (ms)", "median half decay (ms)",
              "median half width (ms)", "median score"]
    rows = _stats_rows(series_list, cols, amp_scale, excluded)
    section.add("<h3>Per-recording statistics</h3>" + table_html([_overall_row(rows, cols, amp_scale), *rows], header))
    return section
