"""Scoring the windows of a trace with the window classifier (and with the distilled dense scorer).

:func:`score_trace` is miniML's full scan of an array. :func:`detect_events` uses the chunked
forms here: every window (``mode="full"``), a coarse grid of the candidate windows refined
where it matters (``mode="fast"``, :func:`_score_windows`), or the dense scorer's single pass
with the classifier on ambiguous bumps (``mode="dense"``). Each window is min-max scaled to
[0, 1] before the classifier sees it, as in training.
"""

from __future__ import annotations

import contextlib
import os
import sys

import numpy as np
import scipy.signal
from numpy.lib.stride_tricks import sliding_window_view
from tqdm.auto import tqdm

from nwbsyn._shared import InputError

__all__ = ["score_trace", "COARSE_STEP"]


def _paired_scorer(model, window: int):
    """The distilled dense scorer of this classifier, when nwbsyn ships one (see :mod:`nwbsyn.events.dense`)."""
    sha = getattr(model, "weights_sha256", None)
    if sha is not None:
        from nwbsyn.events.model import weights_fingerprint

        if getattr(model, "weights_fingerprint", None) != weights_fingerprint(model):
            sha = None  # trained further since it was loaded
    if isinstance(model, (str, os.PathLike)):
        from nwbsyn.events.model import resolve_model_path

        from nwbsyn._shared import sha256_of_file
        sha = sha256_of_file(resolve_model_path(model))
    if sha is None:
        return None
    from nwbsyn.events.dense import dense_for

    scorer = dense_for(sha)
    return scorer if scorer is not None and scorer.init_kwargs["window_samples"] == window else None


def _is_torch_module(model) -> bool:
    torch = sys.modules.get("torch")  # a Module can only exist once torch is imported
    return torch is not None and isinstance(model, torch.nn.Module)


def _model_id(model) -> str:
    if isinstance(model, str):
        return model
    return f"{type(model).__module__}.{type(model).__qualname__}"


def _resolve_model(model, device: str):
    """Return (callable on float32 (batch, L) numpy, device name or None, model id)."""
    if isinstance(model, str) or hasattr(model, "__fspath__"):
        from nwbsyn.events.model import load_model

        return _resolve_model(load_model(model, device=device), device)[:2] + (str(model),)
    if _is_torch_module(model):
        import torch

        from nwbsyn._shared import pick_device

        if device in (None, "auto"):
            first = next(model.parameters(), None)
            dev = first.device if first is not None else torch.device(pick_device("auto"))
        else:
            dev = torch.device(device)
        model = model.to(dev).eval()

        def run(batch: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return model(torch.from_numpy(batch).to(dev)).float().cpu().numpy()

        return run, str(dev), _model_id(model)
    if callable(model):
        return (lambda batch: np.asarray(model(batch), dtype=float)), None, _model_id(model)
    raise InputError(f"model must be 'default', a checkpoint path, an nn.Module or a callable; got {type(model).__name__}.")


def _score_batches(segment, offsets, run, *, window_samples, batch_size, bar=None) -> np.ndarray:
    """Scores of the windows ``segment[o : o + window_samples]`` for each o in ``offsets``."""
    views = sliding_window_view(segment, int(window_samples))
    out = np.empty(len(offsets), dtype=np.float32)
    for a in range(0, len(offsets), int(batch_size)):
        out[a : a + batch_size] = _score_windows_array(views[offsets[a : a + batch_size]], run)
        if bar is not None:
            bar.update(min(batch_size, len(offsets) - a))
    return out


def _score_windows_array(w, run) -> np.ndarray:
    """Min-max scale each row of ``w`` (batch, window) and score it."""
    lo, hi = w.min(axis=1, keepdims=True), w.max(axis=1, keepdims=True)
    scaled = ((w - lo) / np.where(hi > lo, hi - lo, 1.0)).astype(np.float32)
    scores = np.asarray(run(scaled)).reshape(-1)
    if scores.size != len(w):
        raise InputError(f"The model returned {scores.size} scores for {len(w)} windows; it must return (batch,).")
    return scores


def score_trace(
    trace,
    model,
    *,
    window_samples: int = 600,
    stride_samples: int = 20,
    batch_size: int = 64,
    progress_bar: bool = True,
) -> np.ndarray:
    """Classifier score of every window ``trace[i*stride : i*stride + window]`` (miniML's full scan).

    ``model`` is a callable taking float32 (batch, window_samples) windows, each min-max
    scaled to [0, 1], and returning (batch,) probabilities (see :func:`detect_events`).

    Examples
    --------
    >>> s = score_trace(np.random.default_rng(0).normal(size=2000), lambda w: w.mean(axis=1),
    ...                 window_samples=600, stride_samples=100, progress_bar=False)
    >>> s.shape
    (15,)
    """
    trace = np.asarray(trace)
    n_win = (trace.size - int(window_samples)) // int(stride_samples) + 1
    offsets = np.arange(max(0, n_win)) * int(stride_samples)
    with tqdm(total=offsets.size, desc="detect_events", unit="window", disable=not progress_bar) as bar:
        return _score_batches(trace, offsets, model, window_samples=window_samples, batch_size=batch_size,
                              bar=bar).astype(np.float64)


#: Fast mode's classifier scores every COARSE_STEP-th candidate window first (see :func:`_score_windows`).
COARSE_STEP = 4


#: Below this many windows in one call, torch runs on one CPU thread (see :func:`_few_threads`).
SMALL_CALL_WINDOWS = 512


@contextlib.contextmanager
def _few_threads(n_windows: int):
    """One torch CPU thread while a call scores few windows, then the setting as it was.

    On a short sweep (tens of windows) a second thread costs more in synchronisation than it
    gives, and its spinning slows the numpy work between calls: 40 sweeps of 0.6 s took
    4.2 s with one thread and 5.2 s with two (2 cores), while 120 s at 20 Hz took 10.3 and 8.2 s.
    """
    torch = sys.modules.get("torch")
    if torch is None or n_windows >= SMALL_CALL_WINDOWS or torch.get_num_threads() == 1:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _score_at(xr, chunks, run, sel, *, stride, window, batch_size, bar=None) -> np.ndarray:
    """Classifier scores of the windows with indices ``sel`` (sorted), read chunk by chunk."""
    out = np.empty(sel.size, dtype=np.float32)
    with _few_threads(sel.size):
        for a, b in chunks:
            i0, i1 = np.searchsorted(sel, [a // stride, -(-b // stride)])
            if i1 > i0:
                part = sel[i0:i1]
                seg = xr.read(part[0] * stride, part[-1] * stride + window)
                out[i0:i1] = _score_batches(seg, (part - part[0]) * stride, run, window_samples=window,
                                            batch_size=batch_size, bar=bar)
    return out


def _score_windows(xr, chunks, run, mask, *, stride, window, n_win, batch_size, progress_bar, threshold=0.5,
                   coarse_step: int | None = None, band: float = 0.25) -> tuple[np.ndarray, int]:
    """Score trace (one value per window start) and the number of windows the classifier scored.

    ``mask=None`` scores every window (the faithful scan). Otherwise only windows in
    ``mask`` are considered and the rest score 0: the classifier scores every
    ``coarse_step``-th window of each run of candidate windows and both ends of the run, the
    windows between are interpolated, and around every bump of that trace whose height is
    within ``band`` of ``threshold`` (where interpolation could decide whether it is an
    event) all windows are scored. A candidate's windows score alike over the ~14 positions
    that hold its onset, so the events are those of scoring every candidate window, at a
    quarter of the cost.
    """
    if mask is None:
        sel = np.arange(n_win)
        with tqdm(total=n_win, desc="detect_events", unit="window", disable=not progress_bar) as bar:
            return _score_at(xr, chunks, run, sel, stride=stride, window=window, batch_size=batch_size, bar=bar), n_win
    coarse_step = COARSE_STEP if coarse_step is None else coarse_step
    idx = np.flatnonzero(mask)
    scores = np.zeros(n_win, dtype=np.float32)
    if not idx.size:
        return scores, 0
    run_id = np.concatenate([[0], np.cumsum(np.diff(idx) > 1)])
    first = np.concatenate([[True], run_id[1:] != run_id[:-1]])
    last = np.concatenate([run_id[1:] != run_id[:-1], [True]])
    rank = np.arange(idx.size) - np.flatnonzero(first)[run_id]
    known = first | last | (rank % coarse_step == 0)
    with tqdm(total=int(known.sum()), desc="detect_events", unit="window", disable=not progress_bar) as bar:
        values = np.zeros(idx.size, dtype=np.float32)
        values[known] = _score_at(xr, chunks, run, idx[known], stride=stride, window=window,
                                  batch_size=batch_size, bar=bar)
        for _ in range(2):
            est = _interpolate_runs(idx, values, known, run_id)
            scores[idx] = est
            peaks, props = scipy.signal.find_peaks(np.concatenate([[0.0], scores, [0.0]]),
                                                   height=threshold - band)
            peaks = peaks[props["peak_heights"] < threshold + band] - 1
            near = np.zeros(idx.size, dtype=bool)
            for off in range(-coarse_step, coarse_step + 1):
                j = np.searchsorted(idx, peaks + off)
                ok = (j < idx.size) & (idx[np.minimum(j, idx.size - 1)] == peaks + off)
                near[j[ok]] = True
            todo = near & ~known
            if not todo.any():
                break
            bar.total += int(todo.sum())
            values[todo] = _score_at(xr, chunks, run, idx[todo], stride=stride, window=window,
                                     batch_size=batch_size, bar=bar)
            known |= todo
        scores[idx] = _interpolate_runs(idx, values, known, run_id)
    return scores, int(known.sum())


def _interpolate_runs(idx, values, known, run_id) -> np.ndarray:
    """``values`` where ``known``, linearly interpolated in between within each run of ``idx``."""
    # runs are separated by gaps of 2+ windows, so one interpolation over a coordinate that
    # jumps by more than the window count between runs keeps runs from mixing
    coord = idx + run_id * (idx.size + 2)
    return np.interp(coord, coord[known], values[known]).astype(np.float32)


def _dense_scores(xr, chunks, scorer, *, n_win, stride, window, device) -> np.ndarray:
    """Score of every window from the distilled scorer, chunk by chunk (one pass each)."""
    import torch

    from nwbsyn.events.dense import HALO_SAMPLES, block_range_normalise

    step = scorer.init_kwargs["stride_samples"]
    n_grid = -(-xr.size // step)
    grid = np.zeros(n_grid, dtype=np.float32)  # score of the window starting at step * j
    h = HALO_SAMPLES
    off = scorer.window_offset + h // step
    scorer = scorer.to(device)
    for a, b in chunks:  # a is a multiple of the stride grid
        lo, hi = a - h, b + h
        x = xr.read(max(0, lo), min(xr.size, hi))
        x = np.pad(x, (max(0, -lo), max(0, hi - xr.size)), mode="edge")
        x = block_range_normalise(x, window_samples=window, stride_samples=step)
        with torch.inference_mode():
            out = torch.sigmoid(scorer(torch.from_numpy(x).to(device)[None]))[0].float().cpu().numpy()
        j0, j1 = a // step, min(n_grid, -(-b // step))
        grid[j0:j1] = out[off : off + j1 - j0]
    if stride == step:
        return grid[:n_win]
    return np.interp(np.arange(n_win) * stride, np.arange(n_grid) * step, grid).astype(np.float32)


def _refine(xr, scores, run, *, threshold, band, stride, window, batch_size, half_width: int = 3) -> int:
    """Rescore with the classifier the peaks of the dense score within ``band`` of the threshold.

    Where the dense scorer is unsure whether a bump crosses the threshold, the classifier
    scores the ``2 * half_width + 1`` windows around its peak and its scores replace the
    dense ones there; confident bumps (and the region edges) keep the dense scores.
    Returns the number of windows the classifier scored.
    """
    peaks, props = scipy.signal.find_peaks(scores.astype(np.float64), height=max(0.0, threshold - band),
                                           distance=2 * half_width + 1)
    todo = peaks[props["peak_heights"] < threshold + band]
    if not todo.size:
        return 0
    sel = np.unique(np.clip(todo[:, None] + np.arange(-half_width, half_width + 1)[None, :], 0, scores.size - 1))
    parts = np.split(sel, np.flatnonzero(np.diff(sel) > 1) + 1)
    windows = np.concatenate([sliding_window_view(xr.read(q[0] * stride, q[-1] * stride + window), window)[::stride]
                              for q in parts])
    for a in range(0, sel.size, batch_size):
        scores[sel[a : a + batch_size]] = _score_windows_array(windows[a : a + batch_size], run)
    return int(sel.size)
