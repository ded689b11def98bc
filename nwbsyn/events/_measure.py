"""How :func:`nwbsyn.events.stats.event_statistics` measures events: sizes, noise model, feet, peaks,
crossings, batched fits and the choice of reading (the public function and its result live in
``stats``)."""

from __future__ import annotations

import numpy as np
import scipy.fft
import scipy.linalg
import scipy.optimize
import scipy.signal

from nwbsyn._shared import InputError
from nwbsyn.events._shapefit import biexponential_kinetics, fit_biexponential, time_constants, unit_event

_FIT_MS = (1.0, 15.0)  # each event is fitted from 1 ms before its foot to 15 ms after it
_FIT_GRID_HZ = 16_000.0  # ... on a grid of at least this rate (every 3rd sample at 50 kHz; finer costs time, coarser accuracy)


def _sizes(fs, *, baseline_ms, baseline_gap_ms, peak_window_ms, decay_search_ms, snippet_ms, foot_search_ms,
           lowpass_hz) -> dict:
    """Window lengths in samples, the low-pass filter and its halo."""
    ms = fs / 1e3
    if isinstance(lowpass_hz, str):
        if lowpass_hz != "auto":
            raise InputError(f"lowpass_hz must be a frequency in Hz, 'auto' or None; got {lowpass_hz!r}.")
        lowpass_hz = min(5000.0, fs / 8.0)
    sz = dict(
        ms=ms, fs=fs, nb=max(2, int(round(baseline_ms * ms))), gap=int(round(baseline_gap_ms * ms)),
        n_level=max(2, int(round(0.5 * ms))), n_peak=max(1, int(round(peak_window_ms * ms))),
        n_peak_max=max(1, int(round(5 * peak_window_ms * ms))),
        n_decay=max(2, int(round(decay_search_ms * ms))), n_foot=max(2, int(round(foot_search_ms * ms))),
        pre=int(round(snippet_ms[0] * ms)), post=int(round(snippet_ms[1] * ms)),
        fit_pre=int(round(_FIT_MS[0] * ms)), fit_post=int(round(_FIT_MS[1] * ms)),
        fit_step=max(1, int(fs // _FIT_GRID_HZ)), sos=None, halo=0, lag=1,
    )
    if lowpass_hz is not None and 0 < float(lowpass_hz) < 0.45 * fs:
        sz["sos"] = scipy.signal.butter(4, float(lowpass_hz), fs=fs, output="sos")
        sz["halo"] = int(np.ceil(20 * fs / float(lowpass_hz)))
        sz["lag"] = max(1, int(np.ceil(fs / float(lowpass_hz))))
    return sz


def _lowpassed(reader, lo, hi, sos, halo, *, block: int = 2**14):
    """``trace[lo:hi]``, low-passed (zero phase) when ``sos`` is given.

    The filter runs on blocks of a grid fixed to the trace start (each read widened by
    ``halo``), so every sample comes out bit for bit the same whatever slice asks for it.
    """
    if sos is None:
        return reader.read(lo, hi)
    lo, hi = max(0, int(lo)), min(reader.size, int(hi))
    out = np.empty(max(0, hi - lo))
    for j in range(lo // block, -(-hi // block)):
        a, b = j * block, min(reader.size, (j + 1) * block)
        a0 = max(0, a - halo)
        seg = reader.read(a0, b + halo)
        if seg.size > 3 * (2 * len(sos) + 1):
            seg = scipy.signal.sosfiltfilt(sos, seg)
        s0, s1 = max(a, lo), min(b, hi)
        out[s0 - lo : s1 - lo] = seg[s0 - a0 : s1 - a0]
    return out


def _event_free(onsets, start, size, *, before, after) -> np.ndarray:
    """True where ``start + i`` lies outside every [onset - before, onset + after)."""
    near = onsets[(onsets >= start - after) & (onsets < start + size + before)] - start
    count = np.zeros(size + 1, dtype=np.int64)
    np.add.at(count, np.clip(near - before, 0, size), 1)
    np.add.at(count, np.clip(near + after, 0, size), -1)
    return np.cumsum(count[:-1]) == 0


def _robust_sd(x) -> float:
    return float(1.4826 * np.median(np.abs(x - np.median(x)))) if x.size else 0.0


def _noise_model(reader, onsets, sz, *, fit, max_samples: int = 2**19, piece_samples: int = 2**14):
    """(SD of the low-passed noise, inverse Cholesky factor of the noise covariance over one fit window or None).

    Both come from the first ``max_samples`` of the trace, read in pieces, with every event
    (onset - 1 ms to onset + 15 ms) left out. The SD is that of differences at the filter's
    correlation length (so slow drift does not count); the covariance, on the fit's sample
    grid, is what the generalised least squares of the fitted amplitudes whiten with.
    """
    pre, lags = sz["fit_pre"], sz["fit_pre"] + sz["fit_post"]
    n, step = min(reader.size, int(max_samples)), max(int(piece_samples), 4 * lags)
    acov, count, diffs, lag = np.zeros(lags), 0, [], sz["lag"]
    for start in range(0, n, step):
        stop = min(n, start + step)
        keep = _event_free(onsets, start, stop - start, before=pre, after=lags)
        if keep.sum() < 4 * lags:
            continue
        xf = _lowpassed(reader, start, stop, sz["sos"], sz["halo"])
        diffs.append((xf[lag:] - xf[:-lag])[keep[lag:] & keep[:-lag]])
        if fit:
            x = reader.read(start, stop)
            x = np.where(keep, x - x[keep].mean(), 0.0)
            size = scipy.fft.next_fast_len(x.size + lags, real=True)
            spec = scipy.fft.rfft(x, size)
            acov += scipy.fft.irfft(spec * spec.conj(), size)[:lags]
            count += int(keep.sum())
    if not diffs:  # no event-free stretch: all of the first piece
        xf = _lowpassed(reader, 0, min(n, step), sz["sos"], sz["halo"])
        diffs = [xf[lag:] - xf[:-lag]]
    sigma = _robust_sd(np.concatenate(diffs)) / np.sqrt(2.0)
    if not fit or count < 4 * lags:
        return sigma, None
    acov = acov[:: sz["fit_step"]] / count
    cov = scipy.linalg.toeplitz(acov) + 1e-6 * acov[0] * np.eye(acov.size)
    try:
        chol = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        return sigma, None
    return sigma, scipy.linalg.solve_triangular(chol, np.eye(acov.size), lower=True)


def _window_mean(z, start, stop, width):
    """Mean of ``z[start:stop]`` per row (at most ``width`` samples), summed in the same order in any slice."""
    idx = start[:, None] + np.arange(width)[None, :]
    ok = idx < stop[:, None]
    return np.where(ok, z[np.clip(idx, 0, z.size - 1)], 0.0).sum(axis=1) / np.maximum(stop - start, 1)


def _feet(zs, ol, bound, sz, *, sigma):
    """Foot of each event: walk back from ``ol`` while the low-passed trace keeps falling.

    The walk stops where the trace rises again by more than 2 x ``sigma`` (or at ``bound``);
    the foot is the lowest point passed.
    """
    cols = np.arange(sz["n_foot"] + 1)
    idx = ol[:, None] - cols[None, :]
    valid = idx >= bound[:, None]
    vals = np.where(valid, zs[np.clip(idx, 0, zs.size - 1)], np.inf)
    running = np.minimum.accumulate(vals, axis=1)
    stop = np.zeros(vals.shape, dtype=bool)
    stop[:, 1:] = (vals[:, 1:] > running[:, :-1] + 2.0 * sigma) | ~valid[:, 1:]
    first = np.where(stop.any(axis=1), np.argmax(stop, axis=1), cols.size)
    return ol - np.argmin(np.where(cols[None, :] < first[:, None], vals, np.inf), axis=1)


def _peaks(zf, foot, bound, bound_max, sz):
    """Extremum of ``zf`` from the foot to ``bound`` (the peak window), or further while still rising.

    An event still rising at the end of the window (slow EPSPs, NMJ currents) is followed
    until the trace falls 2 noise SDs below its running maximum, at most to ``bound_max``.
    """
    reach = sz["n_foot"] + sz["n_peak_max"]
    cols = np.arange(reach)[None, :]
    idx = foot[:, None] + cols
    end, end_max = np.maximum(bound, foot + 1) - foot, np.maximum(bound_max, foot + 1) - foot
    vals = np.where((cols < end_max[:, None]) & (idx < zf.size), zf[np.clip(idx, 0, zf.size - 1)], -np.inf)
    running = np.maximum.accumulate(vals, axis=1)
    stop = (cols >= end[:, None]) & ((vals < running - 2.0 * sz["sigma"]) | ~np.isfinite(vals))
    first = np.where(stop.any(axis=1), np.argmax(stop, axis=1), reach)
    return foot + np.argmax(np.where(cols < first[:, None], vals, -np.inf), axis=1)


def _crossings(zf, foot, peak, limit, bl, amp, sz):
    """Interpolated 10 %, 90 %, 50 % (rising) and 50 % (decay) crossings, in samples from each peak."""
    c0 = np.maximum(foot - 1, 0)
    width = sz["n_foot"] + sz["n_peak_max"] + sz["n_decay"] + 2
    cols = np.arange(width)[None, :]
    idx = c0[:, None] + cols
    with np.errstate(all="ignore"):
        rel = (zf[np.clip(idx, 0, zf.size - 1)] - bl[:, None]) / np.where(amp > 0, amp, np.nan)[:, None]
    rows = np.arange(foot.size)
    q = (peak - c0)[:, None]

    def backward(level):
        k = np.where((rel < level) & (cols < q), cols, -1).max(axis=1)
        k1 = np.clip(k, 0, width - 2)
        a, b = rel[rows, k1], rel[rows, k1 + 1]
        return np.where(k >= 0, (k1 - q[:, 0]) + (level - a) / (b - a), np.nan)

    down = (rel < 0.5) & (cols > q) & (idx < np.minimum(limit, peak + sz["n_decay"])[:, None])
    k = np.where(down.any(axis=1), np.argmax(down, axis=1), -1)
    k1 = np.clip(k, 1, width - 1)
    a, b = rel[rows, k1 - 1], rel[rows, k1]
    with np.errstate(all="ignore"):
        t50d = np.where(k > 0, (k1 - 1 - q[:, 0]) + (a - 0.5) / (a - b), np.nan)
        return backward(0.1), backward(0.9), backward(0.5), t50d


def _fit_shapes(zr, foot, limit, bl, amp, rise_ms, half_ms, sz):
    """Batched biexponential fits of the events (rows); (baseline, amplitude, rise, half-decay, half-width, ok)."""
    ms, step = sz["ms"], sz["fit_step"]
    width = -(-(sz["fit_pre"] + sz["fit_post"]) // step)
    a = np.maximum(foot - sz["fit_pre"], 0)
    b = np.minimum(np.minimum(limit, foot + sz["fit_post"]), zr.size)
    idx = a[:, None] + step * np.arange(width)[None, :]
    mask = idx < b[:, None]
    y = np.where(mask, zr[np.clip(idx, 0, zr.size - 1)], 0.0)
    t = (idx - foot[:, None]) / ms
    decay0 = np.clip(np.where(np.isfinite(half_ms), half_ms / np.log(2), 1.0), 0.1, 20.0)
    rise0 = np.minimum(np.clip(np.where(np.isfinite(rise_ms), rise_ms / 2.2, 0.2), 0.05, 5.0), decay0 / 3)
    p0 = np.column_stack([bl, amp, np.zeros_like(bl), np.log(rise0), np.log(decay0 - rise0)])
    params, _ = fit_biexponential(y, t, mask, p0)
    rise, decay = time_constants(params)
    b0, a_fit, t0 = params[:, 0], params[:, 1], params[:, 2]
    if sz["whiten"] is not None:  # GLS baseline and amplitude of the fitted shapes
        with np.errstate(all="ignore"):
            u = np.where(mask, unit_event(t - t0[:, None], rise[:, None], decay[:, None]), 0.0)
        design = np.matmul(sz["whiten"][:width, :width], np.stack([mask.astype(float), u, y], axis=2))
        design *= mask[:, :, None]  # the factor is lower-triangular: rows past a window's end are dropped
        normal = np.einsum("mli,mlj->mij", design[:, :, :2], design[:, :, :2]) + 1e-12 * np.eye(2)
        rhs = np.einsum("mli,ml->mi", design[:, :, :2], design[:, :, 2])
        with np.errstate(all="ignore"):
            b0, a_fit = np.linalg.solve(normal, rhs[..., None])[..., 0].T
    with np.errstate(all="ignore"):
        ok = (mask.sum(axis=1) >= 8) & np.isfinite(b0) & np.isfinite(a_fit) & (a_fit > 0) & (a_fit < 5 * amp) & \
            (np.abs(t0) < 1.5) & (rise > 0.005) & (rise < 50) & (decay < 200)
        kin = biexponential_kinetics(rise, decay)
    return b0, a_fit, *kin, ok & np.all(np.isfinite(kin), axis=0)


def _measure_group(reader, onsets, k0, k1, sz) -> dict:
    """Direct readings (and fits) of events ``k0..k1-1`` from one slice of the trace.

    Each event depends on the trace near it and on its neighbours' onsets, feet and peaks,
    which are computed here too (one event either side), so the result is the same whatever
    the grouping.
    """
    n = reader.size
    # a neighbour matters only within these reaches (bounds of the foot, peak, decay, fit and charge windows)
    back = sz["n_peak_max"] + sz["n_foot"] + sz["gap"] + sz["nb"] + 2
    ahead = sz["n_peak_max"] + 2 * sz["n_decay"] + sz["fit_post"] + sz["n_foot"] + 2
    e0 = k0 - 1 if k0 > 0 and onsets[k0] - onsets[k0 - 1] <= back else k0
    e1 = k1 + 1 if k1 < onsets.size and onsets[k1] - onsets[k1 - 1] <= ahead else k1
    lo = max(0, onsets[e0] - (sz["n_foot"] + sz["gap"] + sz["nb"] + sz["fit_pre"] + sz["pre"] + 4))
    hi = min(n, onsets[e1 - 1] + sz["n_peak_max"] + 2 * sz["n_decay"] + max(sz["post"], sz["fit_post"]) + 4)
    zf = sz["polarity"] * _lowpassed(reader, lo, hi, sz["sos"], sz["halo"])
    zr = zf if sz["sos"] is None else sz["polarity"] * reader.read(lo, hi)
    ol = onsets[e0:e1] - lo
    far = 1 << 40
    prev_on = np.r_[onsets[e0 - 1] - lo if e0 > 0 and onsets[e0] - onsets[e0 - 1] <= back else -far, ol[:-1]]
    bound = np.maximum(prev_on + 1, 0)
    foot = _feet(zf, ol, bound, sz, sigma=sz["sigma"])  # 2 noise SDs of slack
    # a noisy bump can stop the walk halfway up a rise (an onset placed late): with 3 SDs of
    # slack the walk goes on; that foot is kept where the trace falls by 2 more SDs to it
    further = _feet(zf, ol, bound, sz, sigma=1.5 * sz["sigma"])
    foot = np.where(zf[foot] - zf[further] > 2.0 * sz["sigma"], further, foot)
    next_foot = np.r_[foot[1:], onsets[e1] - lo if e1 < onsets.size and onsets[e1] - onsets[e1 - 1] <= ahead
                      else far]
    peak = _peaks(zf, foot, np.minimum(next_foot, ol + sz["n_peak"]), np.minimum(next_foot, ol + sz["n_peak_max"]),
                  sz)
    inner = slice(k0 - e0, k0 - e0 + (k1 - k0))
    prev_peak = np.r_[-far, peak[:-1]][inner]
    if k0 == e0:
        prev_peak[0] = -far
    foot, peak, nxt, ol = foot[inner], peak[inner], next_foot[inner], ol[inner]
    csum = np.r_[0.0, np.cumsum(zf)]
    end = np.clip(foot - sz["gap"], min(2, zf.size), zf.size)
    truncated = prev_peak + 1 > end - sz["nb"]
    start = np.maximum(end - sz["nb"], np.maximum(prev_peak + 1, 0))
    start = np.where(end - start < 2, np.maximum(end - 2, 0), start)
    lvl_start = np.maximum(end - sz["n_level"], np.maximum(prev_peak + 1, 0))
    lvl_start = np.where(end - lvl_start < 2, np.maximum(end - 2, 0), lvl_start)
    flat = _window_mean(zf, start, end, max(sz["nb"], 2))
    level = _window_mean(zf, lvl_start, end, max(sz["n_level"], 2))
    bl = np.where(truncated, level, flat)
    pk = zf[peak]
    amp = pk - bl
    t10, t90, t50r, t50d = _crossings(zf, foot, peak, nxt, bl, amp, sz)
    ms = sz["ms"]
    out = dict(foot=foot + lo, peak=peak + lo, truncated=truncated, flat=flat, level=level, bl=bl, amp=amp,
               since_prev_ms=(foot - prev_peak) / ms,
               level_age_ms=(peak - 0.5 * (lvl_start + end)) / ms,
               rise=(t90 - t10) / ms, half=t50d / ms, width=(t50d - t50r) / ms)
    c_end = np.minimum(np.minimum(nxt, zf.size), peak + np.minimum(np.round(4 * np.nan_to_num(t50d)).astype(np.int64)
                                                                   + 1, 2 * sz["n_decay"]))
    c_end = np.maximum(c_end, foot)
    out["charge"] = np.where(np.isfinite(t50d), (csum[c_end] - csum[foot] - bl * (c_end - foot)) / sz["fs"], np.nan)
    fit_names = ("fit_b", "fit_a", "fit_rise", "fit_half", "fit_width")
    out.update({k: np.full(foot.size, np.nan) for k in fit_names}, fit_ok=np.zeros(foot.size, dtype=bool))
    todo = np.flatnonzero(~truncated & (amp > 0)) if sz["fit"] else np.zeros(0, dtype=np.int64)
    if todo.size:
        fitted = _fit_shapes(zr, foot[todo], nxt[todo], bl[todo], amp[todo], out["rise"][todo], out["half"][todo], sz)
        for k, v in zip((*fit_names, "fit_ok"), fitted):
            out[k][todo] = v
    # average event: snippets of events with an undisturbed baseline (all events if none has one)
    ok = (ol - sz["pre"] >= 0) & (ol + sz["post"] <= zr.size) & (ol + lo + sz["post"] <= n)
    window = np.arange(-sz["pre"], sz["post"])
    out["snip_sums"] = {}
    for key, sel in (("clean", ok & ~truncated), ("all", ok)):
        snippets = zr[ol[sel, None] + window[None, :]] - bl[sel, None]
        out["snip_sums"][key] = (snippets.sum(axis=0), int(sel.sum()))
    return out


def _combine(groups, n_events, sz, *, fit_agreement) -> dict:
    """Per-event columns (events up) from the group readings: decay extrapolation and fit agreement."""
    if not groups:
        empty = np.zeros(0)
        return dict(peak_samples=np.zeros(0, dtype=np.int64), foot_samples=np.zeros(0, dtype=np.int64),
                    amplitude_method=np.zeros(0, dtype="<U15"), baseline=empty, amplitude=empty, rise=empty,
                    half=empty, width=empty, charge=empty)
    g = {k: np.concatenate([grp[k] for grp in groups]) for k in groups[0] if k != "snip_sums"}
    sigma, ms = sz["sigma"], sz["ms"]
    halves = g["half"][~g["truncated"] & np.isfinite(g["half"])]
    tau = float(np.median(halves)) / np.log(2) if halves.size else 5.0
    # resting level: flat baseline of the last event that followed no other within 5 decay time constants
    clean = g["since_prev_ms"] >= 5.0 * tau
    last_clean = np.maximum.accumulate(np.where(clean, np.arange(n_events), -1))
    rest = np.where(last_clean >= 0, g["flat"][np.maximum(last_clean, 0)], g["level"])
    on_decay = ~clean & (g["level"] - rest > 2.0 * sigma) & (last_clean >= 0)
    bl, amp = g["bl"].copy(), g["amp"].copy()
    bl[on_decay] = rest[on_decay] + (g["level"] - rest)[on_decay] * np.exp(-np.maximum(g["level_age_ms"][on_decay], 0)
                                                                           / max(tau, 1e-3))
    amp[on_decay] = (g["bl"] + g["amp"])[on_decay] - bl[on_decay]
    method = np.where(on_decay, "direct_on_decay", "direct").astype("<U15")
    rise, half, width = g["rise"].copy(), g["half"].copy(), g["width"].copy()
    with np.errstate(invalid="ignore"):
        agree = g["fit_ok"] & ~on_decay & ~g["truncated"] & (np.abs(g["fit_a"] - g["amp"]) <= np.maximum(fit_agreement * g["amp"],
                                                                                     3.0 * sigma))
    bl[agree], amp[agree], method[agree] = g["fit_b"][agree], g["fit_a"][agree], "fit"
    rise[agree], half[agree], width[agree] = g["fit_rise"][agree], g["fit_half"][agree], g["fit_width"][agree]
    rise = np.maximum(rise, 1.0 / ms)  # never below one sample interval
    return dict(peak_samples=g["peak"].astype(np.int64), foot_samples=g["foot"].astype(np.int64),
                amplitude_method=method, baseline=bl, amplitude=amp, rise=rise, half=half, width=width,
                charge=g["charge"])


def _average(groups, size) -> np.ndarray:
    """Average baseline-subtracted snippet (events up), over events with an undisturbed baseline if any."""
    for key in ("clean", "all"):
        total = sum(grp["snip_sums"][key][1] for grp in groups)
        if total:
            return sum(grp["snip_sums"][key][0] for grp in groups) / total
    return np.full(size, np.nan)


def _fit_decay(z_avg, t_ms) -> float:
    """Mono-exponential ``a * exp(-t / tau)`` fitted to the decay of the average event.

    The fit starts where the average has fallen to 80 % of its peak: at the rounded peak
    the rise still shapes the waveform and would lengthen tau (by ~10 % for 0.2/1 ms).
    """
    if not np.all(np.isfinite(z_avg)) or z_avg.max() <= 0:
        return float("nan")
    p = int(np.argmax(np.where(t_ms >= 0, z_avg, -np.inf)))
    after = np.flatnonzero(z_avg[p:] < 0.8 * z_avg[p])
    s = p + (int(after[0]) if after.size else 0)  # skip the rounded peak, where the rise still acts
    t, y = t_ms[s:] - t_ms[s], z_avg[s:]
    if t.size < 4:
        return float("nan")
    below = np.flatnonzero(y < 0.5 * y[0])
    tau0 = (t[below[0]] / np.log(2)) if below.size else t[-1]
    try:
        (a, tau), _ = scipy.optimize.curve_fit(
            lambda tt, a, tau: a * np.exp(-tt / tau), t, y, p0=(y[0], max(tau0, 1e-3)), maxfev=2000
        )
    except (RuntimeError, ValueError):
        return float("nan")
    return float(tau) if tau > 0 and np.isfinite(tau) else float("nan")
