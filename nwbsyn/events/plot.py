"""Figures of event detection: the trace with detections and scores, and the average event."""

from __future__ import annotations

import numpy as np

__all__ = ["plot_detections"]


def plot_detections(pairs, *, path=None, max_seconds: float = 10.0):
    """Draw the first trace (up to ``max_seconds``) with detections, its score, and the average event.

    ``pairs`` is what :func:`nwbsyn.events.run_on_nwbfile` returns: (TraceInput, EventDetectionResult).
    Returns the matplotlib Figure; saves it to ``path`` when given.

    Example
    -------
    >>> fig = plot_detections(run_on_nwbfile(nwbfile), path="events.png")   # doctest: +SKIP
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    inp, res = max(pairs, key=lambda pair: len(pair[1]))  # the trace with most events is the most telling
    fs = inp.sampling_rate_hz
    n = min(len(inp.trace), int(max_seconds * fs))
    t = np.arange(n) / fs
    fig = plt.figure(figsize=(11, 6), constrained_layout=True)
    grid = fig.add_gridspec(2, 3, height_ratios=[3, 1])
    ax_trace = fig.add_subplot(grid[0, :2])
    ax_score = fig.add_subplot(grid[1, :2], sharex=ax_trace)
    ax_avg = fig.add_subplot(grid[:, 2])
    shown = np.asarray(inp.trace[:n])
    ax_trace.plot(t, shown, lw=0.5, color="0.3")
    peaks = res.statistics.peak_samples[res.statistics.peak_samples < n].astype(int)
    ax_trace.plot(peaks / fs, shown[peaks], "o", ms=5, mfc="none", color="tab:red",
                  label=f"{len(res)} events detected (circles at peaks)")
    ax_trace.set(ylabel=inp.unit, title=f"{inp.series.name}: detected events")
    ax_trace.legend(loc="upper right", frameon=False)
    t_score = res.score_start_s + np.arange(len(res.score_trace)) / res.score_rate_hz
    keep = t_score <= t[-1]
    ax_score.plot(t_score[keep], res.score_trace[keep], lw=0.7, color="tab:blue")
    ax_score.axhline(res.params.get("threshold", 0.5), ls="--", color="0.5", lw=0.8)
    ax_score.set(ylim=(-0.05, 1.05), xlabel="time in trace (s)", ylabel="score")
    st = res.statistics
    if len(res) and st.average_event_pA.size:
        ax_avg.plot(st.average_event_time_ms, st.average_event_pA, color="tab:red")
        ax_avg.set(title=f"average event (n={len(res)})\ndecay tau {st.decay_tau_ms:.2f} ms",
                   xlabel="time from onset (ms)", ylabel=f"{inp.unit} (baseline subtracted)")
    else:
        ax_avg.text(0.5, 0.5, "no events", ha="center", va="center", transform=ax_avg.transAxes)
        ax_avg.set_axis_off()
    if path is not None:
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig
