"""Figures of event detection: the trace with detections and scores, and the average event."""

from __future__ import annotations

import numpy as np

from nwbsyn._shared import InputError

__all__ = ["plot_detections", "figure_formats", "check_figure_path", "save_figure", "decay_title"]


def figure_formats() -> dict[str, str]:
    """File suffixes matplotlib can write (without the dot) and what each one is."""
    from matplotlib.backend_bases import FigureCanvasBase

    return dict(FigureCanvasBase.get_supported_filetypes())


def check_figure_path(path, *, option: str = "--plot") -> str:
    """The format of a figure file named ``path`` (its suffix), or an InputError naming ``option``."""
    from pathlib import Path

    suffix = Path(path).suffix.lower().lstrip(".")
    formats = figure_formats()
    if suffix not in formats:
        raise InputError(f"The figure {path} ({option}) has {'suffix .' + suffix if suffix else 'no suffix'}, "
                         f"which matplotlib cannot write; end it in one of: {', '.join('.' + f for f in sorted(formats))}.")
    return suffix


def plot_detections(pairs, *, path=None, max_seconds: float = 10.0):
    """Draw the first trace (up to ``max_seconds``) with detections, its score, and the average event.

    ``pairs`` is what :func:`nwbsyn.events.run_on_nwbfile` returns: (TraceInput, EventDetectionResult).
    Returns the matplotlib Figure; saves it to ``path`` when given (a path, replaced atomically
    if it exists, or an :class:`~nwbsyn.io.output.OutputClaim` taken before the analysis); the
    format follows the suffix.

    Example
    -------
    >>> fig = plot_detections(run_on_nwbfile(nwbfile), path="events.png")   # doctest: +SKIP
    """
    from nwbsyn.report._html import new_figure  # off screen, not registered with pyplot: no backend switch

    inp, res = max(pairs, key=lambda pair: len(pair[1]))  # the trace with most events is the most telling
    fs = inp.sampling_rate_hz
    n = min(len(inp.trace), int(max_seconds * fs))
    t = np.arange(n) / fs
    fig = new_figure(figsize=(11, 6))
    grid = fig.add_gridspec(2, 3, height_ratios=[3, 1])
    ax_trace = fig.add_subplot(grid[0, :2])
    ax_score = fig.add_subplot(grid[1, :2], sharex=ax_trace)
    ax_avg = fig.add_subplot(grid[:, 2])
    shown = np.asarray(inp.trace[:n])
    ax_trace.plot(t, shown, lw=0.5, color="0.3")
    peaks = res.statistics.peak_samples[res.statistics.peak_samples < n].astype(int)
    ax_trace.plot(peaks / fs, shown[peaks], "o", ms=5, mfc="none", color="tab:red",
                  label=f"{len(res)} events detected (circles at peaks)")
    lo, hi = _robust_ylim(shown, fs)
    if peaks.size:  # the detected events are what the figure is for: their peaks stay inside the axes
        margin = 0.05 * (hi - lo)
        lo, hi = min(lo, float(shown[peaks].min()) - margin), max(hi, float(shown[peaks].max()) + margin)
    ax_trace.set_ylim(lo, hi)
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
        ax_avg.set(title=f"average event (n={len(res)})" + decay_title(st.decay_tau_ms),
                   xlabel="time from onset (ms)", ylabel=f"{inp.unit} (baseline subtracted)")
    else:
        ax_avg.text(0.5, 0.5, "no events", ha="center", va="center", transform=ax_avg.transAxes)
        ax_avg.set_axis_off()
    if path is not None:
        save_figure(fig, path)
    return fig


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


def save_figure(fig, path) -> None:
    """Save ``fig`` atomically to ``path`` (a file name, replaced if it exists, or an OutputClaim)."""
    from contextlib import nullcontext

    from nwbsyn.io.output import OutputClaim, claim_output

    claim_cm = nullcontext(path) if isinstance(path, OutputClaim) else claim_output(path, overwrite=True,
                                                                                   what="figure")
    with claim_cm as claim:
        fmt = check_figure_path(claim.path)
        with claim.temporary() as tmp:
            fig.savefig(tmp, dpi=120, format=fmt)
