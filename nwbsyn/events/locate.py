"""Candidate events and event placement on a trace (the steps of detection that need no network).

``candidate_trace`` is the cheap, permissive matched filter that fast mode uses to choose
which windows the classifier scores; ``locate_events`` places events at the steepest rise
inside the regions the classifier accepted, chunk by chunk with a halo, one event per
rising phase.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.ndimage
import scipy.signal

from nwbsyn.events.trace import TraceReader

__all__ = ["candidate_trace", "candidate_windows", "locate_events"]


#: The candidate filters' events, (rise ms, decay ms, ms of it kept, ms of baseline before): a fast one
#: (granule-cell mEPSCs) and a slow one (filtered or dendritic events, slow synapses), whose response to
#: small slow events the fast one misses.
CANDIDATE_SHAPES = ((0.2, 1.0, 1.5, 1.0), (1.0, 5.0, 5.0, 2.0))


def _candidate_kernel(sampling_rate_hz: float, shape: tuple = CANDIDATE_SHAPES[0]) -> tuple[np.ndarray, int]:
    """Zero-sum kernel: a flat baseline (negative) then the start of a biexponential event.

    Returns the kernel and the number of baseline samples (the onset's index in it).
    """
    from nwbsyn.events.simulate import biexponential_event

    rise_ms, decay_ms, keep_ms, pre_ms = shape
    ms = sampling_rate_hz / 1e3
    n_pre, n_post = max(1, int(round(pre_ms * ms))), max(3, int(round(keep_ms * ms)))
    event = biexponential_event(np.arange(n_post) / ms, rise_ms=rise_ms, decay_ms=decay_ms)
    return np.concatenate([np.full(n_pre, -event.sum() / n_pre), event]), n_pre


def candidate_trace(trace_neg, *, sampling_rate_hz: float, shape: tuple = CANDIDATE_SHAPES[0]) -> np.ndarray:
    """Cheap matched-filter detection trace of negative-going events (fast mode's first stage).

    Value ``i`` is the correlation of the inverted trace with a zero-sum kernel (by default
    1 ms of baseline, then the first 1.5 ms of a 0.2/1 ms biexponential event starting at
    ``i``; ``shape`` is one of :data:`CANDIDATE_SHAPES`); the baseline part makes it
    insensitive to slow noise. Undefined ends (kernel past the trace) are -inf.

    Examples
    --------
    >>> x = np.zeros(2000); x[1000:1100] = -5.0  # a step down at sample 1000
    >>> int(np.argmax(candidate_trace(x, sampling_rate_hz=50_000)))  # peaks one sample before it
    999
    """
    x = np.asarray(trace_neg, dtype=float)
    kernel, n_pre = _candidate_kernel(float(sampling_rate_hz), shape)
    out = np.full(x.size, -np.inf)
    if x.size >= kernel.size:
        out[n_pre : n_pre + x.size - kernel.size + 1] = -scipy.signal.oaconvolve(x, kernel[::-1], mode="valid")
    return out


@functools.lru_cache(maxsize=8)
def _slope_filters(fs: float) -> tuple[np.ndarray, np.ndarray]:
    hann = scipy.signal.windows.hann(25)
    return scipy.signal.butter(4, fs / 30.0, fs=fs, output="sos"), hann / hann.sum()


def _slope(x_neg, fs: float) -> np.ndarray:
    """Falling slope of the low-passed trace (Butterworth fs/30, zero phase), Hann-smoothed."""
    sos, hann = _slope_filters(float(fs))
    return -scipy.signal.oaconvolve(np.gradient(scipy.signal.sosfiltfilt(sos, x_neg)), hann, mode="same")


def _slow_slope(x_neg, fs: float, *, width_ms: float = 2.0) -> np.ndarray:
    """Falling slope of the trace smoothed over ``width_ms`` (Hann): the rise of small slow events above noise."""
    hann = scipy.signal.windows.hann(max(3, int(round(width_ms * fs / 1e3))))
    return -np.gradient(scipy.signal.oaconvolve(x_neg, hann / hann.sum(), mode="same"))


def _select_events(found, sd, *, sd_factor, relative_prominence, min_separation_samples):
    """Events from per-region slope peaks once the slope SD is known (see :func:`locate_events`)."""
    cand_pos, cand_val, cand_reg = [], [], []
    for r, item in enumerate(found):
        if item is None:
            continue
        pk, height, prom, arg, arg_val = item
        ok = height >= sd_factor * sd
        if ok.any():
            pk, height, prom = pk[ok], height[ok], prom[ok]
            good = prom >= relative_prominence * prom.max()
            pk, height = pk[good], height[good]
        else:  # no rise stands out of the noise: the steepest rise of the smoothed trace (a small slow event)
            pk, height = np.array([arg]), np.array([arg_val])
        cand_pos.extend(pk)
        cand_val.extend(height)
        cand_reg.extend([r] * len(pk))
    if not cand_pos:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
    order = np.argsort(cand_pos, kind="stable")
    pos, val, reg = np.asarray(cand_pos)[order], np.asarray(cand_val)[order], np.asarray(cand_reg)[order]
    keep: list[int] = []
    for i in range(pos.size):
        if keep and pos[i] - pos[keep[-1]] < min_separation_samples:
            if val[i] > val[keep[-1]]:
                keep[-1] = i
            continue
        keep.append(i)
    return pos[keep].astype(np.int64), reg[keep].astype(np.int64), val[keep]


#: Over 2 ms, the low-passed, smoothed trace of pure noise falls back from its running maximum by
#: 25 (median), 40-50 (90th percentile) and 50-65 (99th percentile) robust SDs of its slope (white and 1/f
#: noise at 50 kHz).
_NOISE_DROP_SD = 60.0


def _merge_rises(pos, reg, val, slope_between, sd, *, max_gap_samples, short_gap_samples, min_fraction):
    """Merge detections on one rising phase, keeping the steepest.

    Two neighbouring detections closer than ``max_gap_samples`` are one event when the
    slope between them never falls below ``min_fraction`` x the smaller of their two
    slopes nor below one robust SD of the slope: the trace keeps rising from one to the
    other. Closer than ``short_gap_samples`` a pause or a dip within the noise is allowed
    too: the trace between them never falls back by more than pure noise does over 2 ms
    (:data:`_NOISE_DROP_SD`). A second rise after a real decay or a longer plateau (a
    compound event) stays a second event.
    """
    keep: list[int] = []
    for i in range(pos.size):
        gap = pos[i] - pos[keep[-1]] if keep else max_gap_samples + 1
        if gap <= max_gap_samples:
            j = keep[-1]
            between = slope_between(int(pos[j]), int(pos[i]), int(reg[j]), int(reg[i]))
            lowest = between.min() if between.size else -np.inf
            level = np.cumsum(between)  # the smoothed trace between them (events up)
            drop = float(np.max(np.maximum.accumulate(level) - level)) if between.size else np.inf
            if lowest > max(min_fraction * min(val[i], val[j]), sd) or (gap <= short_gap_samples and
                                                                        drop <= _NOISE_DROP_SD * sd):
                if val[i] > val[j]:
                    keep[-1] = i
                continue
        keep.append(i)
    return pos[keep], reg[keep]


def _merge_spans(spans, halo, n):
    """Sorted, merged ``(start, stop)`` spans widened by ``halo`` (clipped to [0, n))."""
    merged: list[list[int]] = []
    for lo, hi in sorted((max(0, a - halo), min(n, b + halo)) for a, b in spans):
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return merged


def _locate(xr, regions, chunks, *, fs, halo, sd_block, sd_every, merge_ms=10.0, merge_short_ms=2.0, merge_fraction=0.1,
            **select):
    """Chunked :func:`locate_events`.

    The slope is computed (with a halo) only inside regions and in every ``sd_every``-th
    block of ``sd_block`` samples (blocks on a grid fixed to the trace start), where its
    robust SD outside the regions is gathered; both are independent of the chunks.
    """
    found: list = [None] * len(regions)
    segments: dict = {}
    outside, everywhere, n_outside = [], [], 0
    starts = regions[:, 0] if len(regions) else np.zeros(0, dtype=np.int64)
    for a, b in chunks:
        mine = np.flatnonzero((starts >= a) & (starts < b))
        blocks = [(max(a, j * sd_block), min(b, (j + 1) * sd_block))
                  for j in range(a // sd_block, -(-b // sd_block)) if j % sd_every == 0]
        spans = [tuple(regions[r]) for r in mine] + blocks
        for lo, hi in _merge_spans(spans, halo, xr.size):
            raw = xr.read(lo, hi)
            slope, slow = _slope(raw, fs), None
            for p0, p1 in blocks:
                if p1 <= lo or p0 >= hi:
                    continue
                core = slope[p0 - lo : p1 - lo]
                inside = np.zeros(core.size, dtype=bool)
                if len(regions):
                    for ra, rb in regions[(regions[:, 0] < p1) & (regions[:, 1] > p0)]:
                        inside[max(ra, p0) - p0 : min(rb, p1) - p0] = True
                n_outside += int((~inside).sum())
                everywhere.append(core)
                outside.append(core[~inside])
            for r in mine:
                ra, rb = regions[r]
                if not (lo <= ra and rb <= hi):
                    continue
                seg = slope[ra - lo : rb - lo]
                if seg.size < 3:
                    continue
                pk, props = scipy.signal.find_peaks(seg, prominence=0.0)
                slow = _slow_slope(raw, fs) if slow is None else slow
                arg = int(np.argmax(slow[ra - lo : rb - lo]))
                found[r] = (ra + pk, seg[pk], props["prominences"], ra + arg, seg[arg])
                segments[r] = seg
    ref = np.concatenate(outside) if n_outside > 100 else np.concatenate(everywhere or [np.zeros(0)])
    sd = 1.4826 * np.median(np.abs(ref - np.median(ref))) if ref.size else 0.0
    pos, reg, val = _select_events(found, sd, **select)

    def slope_between(a, b, ra, rb):
        for r in (ra, rb):
            lo, hi = regions[r]
            if segments.get(r) is not None and lo <= a and b < hi:
                return segments[r][a - lo : b - lo + 1]
        lo = max(0, a - halo_merge)
        return _slope(xr.read(lo, b + halo_merge + 1), fs)[a - lo : b - lo + 1]

    halo_merge = max(halo, int(round(2e-3 * fs)))
    return _merge_rises(pos, reg, val, slope_between, sd, max_gap_samples=int(round(merge_ms * 1e-3 * fs)),
                        short_gap_samples=int(round(min(merge_ms, merge_short_ms) * 1e-3 * fs)),
                        min_fraction=merge_fraction)


def locate_events(
    trace_neg,
    regions: np.ndarray,
    *,
    sampling_rate_hz: float,
    min_separation_samples: int = 6,
    relative_prominence: float = 0.25,
    sd_factor: float = 4.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Steepest-rise positions of negative-going events inside ``regions``.

    The trace is low-passed (4th-order Butterworth at fs/30, zero phase), differentiated
    and smoothed with a 25-sample Hann window. In each region, peaks of the falling slope
    above ``sd_factor`` x the robust SD of the slope outside all regions are events;
    several peaks with prominence >= ``relative_prominence`` x the largest are
    overlapping events. A region with no such peak keeps its single steepest point, found on
    the trace smoothed over 2 ms (a small slow event's rise, not a noise spike on it).
    Events closer than ``min_separation_samples`` keep the steeper one, and so do
    neighbours on one rising phase (the slope between them stays above a tenth of theirs and
    above its noise SD, or, closer than 2 ms, never falls back by more than noise does); a
    second rise after a decay or a plateau stays a second event.

    Returns
    -------
    positions : (n,) int64 and region_index : (n,) int64
    """
    x = TraceReader(np.asarray(trace_neg, dtype=float), sampling_rate_hz=sampling_rate_hz, min_samples=1)
    regions = np.asarray(regions, dtype=np.int64).reshape(-1, 2)
    return _locate(x, regions, [(0, x.size)], fs=float(sampling_rate_hz), halo=0,
                   sd_block=max(1, x.size), sd_every=1, min_separation_samples=min_separation_samples,
                   relative_prominence=relative_prominence, sd_factor=sd_factor)


#: Fast mode scores the windows that put a candidate onset at these fractions of the window.
CANDIDATE_POSITIONS = (0.1, 0.55)


def candidate_windows(xr, chunks, *, stride, window, n_win, threshold_sd) -> np.ndarray:
    """Boolean mask of the windows fast mode scores (see :data:`CANDIDATE_POSITIONS`).

    A position is a candidate where any of the candidate filters (:data:`CANDIDATE_SHAPES`)
    exceeds ``threshold_sd`` robust SDs of its own response.
    """
    n_blocks = -(-xr.size // stride)
    hit = np.zeros(n_blocks, dtype=bool)
    for shape in CANDIDATE_SHAPES:
        hit |= _candidate_blocks(xr, chunks, stride=stride, threshold_sd=threshold_sd, shape=shape, n_blocks=n_blocks)
    blocks = np.flatnonzero(hit)
    lo_f, hi_f = CANDIDATE_POSITIONS
    first = np.clip(-((hi_f * window - blocks * stride) // stride), 0, n_win)  # ceil((c*stride - hi*W)/stride)
    last = np.clip(((blocks + 1) * stride - 1 - lo_f * window) // stride + 1, 0, n_win)
    diff = np.zeros(n_win + 1, dtype=np.int32)
    np.add.at(diff, first.astype(np.int64), 1)
    np.add.at(diff, last.astype(np.int64), -1)
    return np.cumsum(diff[:-1]) > 0


def _candidate_blocks(xr, chunks, *, stride, threshold_sd, shape, n_blocks) -> np.ndarray:
    """Which stride blocks hold a response of one candidate filter above ``threshold_sd`` robust SDs."""
    kernel, n_pre = _candidate_kernel(xr.fs_m, shape)
    block_max = np.full(n_blocks, -np.inf, dtype=np.float32)
    sd_step = max(1, xr.size // 2_000_000)
    sub = []
    for a, b in chunks:  # a is a multiple of stride
        lo = max(0, a - n_pre)
        d = candidate_trace(xr.read(lo, b - n_pre + kernel.size - 1), sampling_rate_hz=xr.fs_m, shape=shape)[a - lo :]
        d = d[: b - a]
        pad = np.full(-(-d.size // stride) * stride, -np.inf)
        pad[: d.size] = d
        block_max[a // stride : a // stride + pad.size // stride] = pad.reshape(-1, stride).max(axis=1)
        s = d[np.arange(-a % sd_step, d.size, sd_step)]
        sub.append(s[np.isfinite(s)].astype(np.float32))
    sub = np.concatenate(sub)
    if sub.size == 0:
        return np.zeros(n_blocks, dtype=bool)
    med = float(np.median(sub))
    sd = 1.4826 * float(np.median(np.abs(sub - med)))
    return block_max > med + threshold_sd * sd
