"""Report section for synaptic events: trace with detections and scores, average event, distributions,
frequency over time and per-recording statistics."""

from __future__ import annotations

import html

import numpy as np

from nwbsyn.events.plot import _DISPLAY, detections_figure, display_scale, event_rows, excluded_windows, rate_hz, \
    series_times, traces_of, window_s
from nwbsyn.report._html import Section, new_figure, table_html
from nwbsyn.report._viewer import envelope_bin, gallery_html, sweep_envelope, trace_viewer_html

__all__ = ["events_section"]

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
        t = series_times(s, 1)[0]
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
    t0 = series_times(series, 1)[0]
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
        rate, (gain, unit) = rate_hz(s), display_scale(s)
        k = envelope_bin(rate, total)
        env = sweep_envelope(s.data, k=k, gain=gain, rate_hz=rate)
        sel = cols["series_id"] == s.object_id \
            if cols else np.zeros(0, bool)
        scores = scores_of.get(s.object_id)
        score_env = _score_envelope(scores, n_bins=env["hi"].size, t0_s=series_times(s, 1)[0], dt_s=k / rate) \
            if scores is not None and scores.rate else None
        sweeps.append({"name": s.name, "t0_s": series_times(s, 1)[0], "dt_s": k / rate, "unit": unit, **env,
                       "onsets_s": cols["timestamp"][sel] if cols else [], "scores": score_env,
                       "threshold": getattr(scores, "threshold", None),
                       "excluded": (excluded or {}).get(s.name, [])})
    return trace_viewer_html(f"{section_id}-viewer", sweeps)


def _gallery(section_id: str, cols, window, amp_scale: float, amp_unit: str) -> str:
    events = []
    for i, (series, onset) in enumerate(zip(cols["series"], cols["onset"])):
        if series is None:
            continue
        rate, (gain, _) = rate_hz(series), display_scale(series)
        pre, post = int(round(window[0] * rate)), int(round(window[1] * rate))
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
    cols = event_rows(table) if table is not None else None
    series_list = traces_of(cols, score_series)
    if not series_list:
        section.add('<p class="note">The events table references no trace; nothing to draw.</p>')
        return section
    scores_of = {sc.source_series.object_id: sc for sc in score_series if sc.source_series is not None}
    excluded = excluded_windows(table, score_series)
    n_events = len(table) if table is not None else 0
    section.add(f"<p>{n_events} events in {len(series_list)} trace(s)."
                + (f" Polarity: {table.polarity}." if table is not None and table.polarity else "")
                + _excluded_note(excluded) + "</p>")
    ids = cols["series_id"] if cols else np.zeros(0, dtype=object)
    main = max(series_list, key=lambda s: int((ids == s.object_id).sum()))
    section.add_figure(detections_figure(table, score_series, excluded=excluded),
                       f"Trace '{main.name}' (the one with most events): detected events (red circles at their "
                       "peaks), the detector score (blue; dashed: threshold) and the average event (grey: individual "
                       "events, red: their mean; window set by the kinetics). The figure of 'nwbsyn events detect "
                       "--plot'.")
    section.add("<h3>Every sweep</h3>" + _viewer(section_id, series_list, cols, scores_of, excluded))
    if not n_events:
        section.add('<p class="note">No events were found; only the score traces were written.</p>')
        return section
    amp_scale, amp_unit = _DISPLAY.get(cols["amplitude_unit"], (1.0, cols["amplitude_unit"]))
    section.add("<h3>Every event</h3>" + _gallery(section_id, cols, window_s(cols), amp_scale, amp_unit))
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
