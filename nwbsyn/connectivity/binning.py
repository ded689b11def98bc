"""Choosing the bin of spike trains from the data: cross-validated forecast likelihood over candidate bins."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nwbsyn._shared import InputError

__all__ = ["BinChoice", "choose_bin_ms", "bin_spike_trains", "CANDIDATE_BINS_MS", "FALLBACK_BIN_MS"]

# 5 ms is left out of the automatic choice: a forecast always gains from the most recent spikes, so the
# finest bin tends to win on forecast alone, while 10 lags of 5 ms see only 50 ms of history (on the
# hidden-rate networks 5 ms bins lowered the connectivity AUROC, 0.918 vs 0.937 at 100k steps); give
# --bin-ms 5 to use it
CANDIDATE_BINS_MS = (10.0, 20.0, 50.0)
FALLBACK_BIN_MS = 5.0  # used by load_inputs only when the candidates leave too few steps for a fit
METHOD = ("held-out one-step forecast likelihood of a ridge VAR over the candidate bins, scored on the finest "
          "candidate grid (bits per spike over a constant rate); the coarsest bin within one standard error of "
          "the best")


@dataclass(frozen=True)
class BinChoice:
    """The chosen bin and the score of every candidate (``None`` where a candidate could not be used)."""

    bin_ms: float
    bits_per_spike: dict = field(default_factory=dict)  # candidate (ms, as text) -> score or None
    method: str = METHOD
    n_lags: int = 10

    def as_dict(self) -> dict:
        return {"bin_ms": self.bin_ms, "method": self.method, "n_lags": self.n_lags,
                "bits_per_spike": dict(self.bits_per_spike)}


def bin_spike_trains(trains: list[np.ndarray], *, bin_s: float, start_s: float, n_bins: int) -> np.ndarray:
    """(n_bins, n_trains) float32 counts in bins ``[start_s + j bin_s, start_s + (j + 1) bin_s)``."""
    counts = np.zeros((n_bins, len(trains)), dtype=np.float32)
    for column, train in enumerate(trains):
        index = np.floor((np.asarray(train, dtype=np.float64) - start_s) / bin_s).astype(np.int64)
        index = index[(index >= 0) & (index < n_bins)]
        counts[:, column] = np.bincount(index, minlength=n_bins)[:n_bins]
    return counts


def _score(counts: np.ndarray, factor: int, n_lags: int, test_fraction: float):
    """Held-out log-likelihood gain (nats) per test bin over a constant rate, on the finest grid (the
    intensity flat within a bin), with the finest-grid index where each test bin starts; None if unusable."""
    from nwbsyn.connectivity.baselines import ridge_var

    n = len(counts) // factor
    x = counts[: n * factor].reshape(n, factor, -1).sum(axis=1).astype(np.float64)
    n_train = int(round(n * (1 - test_fraction)))
    if n_train < 5 * n_lags + 20 or n - n_train < n_lags + 5:
        return None
    train, test = x[:n_train], x[n_train:]
    keep = train.std(axis=0) > 0
    if keep.sum() < 2 or not test[:, keep].any():
        return None
    try:
        var = ridge_var(train[:, keep], n_lags=n_lags)
        pred = var.predict(x[n_train - n_lags:, keep])
    except ValueError:  # degenerate candidate (e.g. silent stretches): not usable
        return None
    y = test[:, keep]
    floor = 1e-3 * max(float(train[:, keep].mean()), 1e-6)
    mu = np.maximum(pred, floor)
    rate0 = np.maximum(train[:, keep].mean(axis=0) / factor, 1e-9)  # spikes per finest bin
    gain = (y * np.log(mu / factor) - mu).sum(axis=1) - (y * np.log(rate0) - rate0 * factor).sum(axis=1)
    return gain, (n_train + np.arange(len(y))) * factor, float(y.sum())


def _pick(results: dict, n_fine: int, n_blocks: int = 10) -> tuple[str, dict]:
    """Bits per spike of each candidate on the common held-out span, and the coarsest candidate within one
    standard error (over time blocks) of the best: the one-standard-error rule of cross-validation."""
    common = max(r[1][0] for r in results.values())
    edges = np.linspace(common, n_fine, n_blocks + 1)
    blocks, scores = {}, {}
    for key, (gain, start, _) in results.items():
        keep = start >= common
        which = np.clip(np.searchsorted(edges, start[keep], side="right") - 1, 0, n_blocks - 1)
        blocks[key] = np.bincount(which, weights=gain[keep], minlength=n_blocks)
    spikes = max(r[2] for r in results.values())
    for key in results:
        scores[key] = float(blocks[key].sum() / (spikes * np.log(2)))
    best = max(scores, key=scores.get)
    chosen = best
    for key in sorted(results, key=float):
        diff = blocks[best] - blocks[key]
        if float(key) > float(chosen) and diff.sum() <= np.sqrt(n_blocks) * diff.std(ddof=1):
            chosen = key
    return chosen, scores


def choose_bin_ms(
    trains: list[np.ndarray],
    *,
    candidates_ms: tuple[float, ...] = CANDIDATE_BINS_MS,
    min_bins: int = 100,
    max_neurons: int = 50,
    max_fine_bins: int = 100_000,
    n_lags: int = 10,
    test_fraction: float = 0.2,
) -> BinChoice:
    """Pick the bin whose one-step forecasts predict held-out spikes best.

    For each candidate bin, the spike counts of (at most ``max_neurons``, the most active)
    neurons are forecast one bin ahead by a ridge VAR with ``n_lags`` lags (the model's
    context) fitted on the first 80 % of the recording. Every candidate is scored on the
    same held-out spikes at the resolution of the finest candidate (a coarse forecast is
    spread evenly over its bin): the log-likelihood gain over a constant rate, in bits
    per spike. A finer bin resolves faster structure, a coarser one sees further back with
    the same number of lags and counts more spikes per bin; the data decide. The coarsest
    candidate whose score is within one standard error of the best (over 10 blocks of the
    held-out time) is taken, cross-validation's one-standard-error rule: as good a forecast,
    fewer steps, cheaper fits. Candidates
    that leave fewer than ``min_bins`` bins are skipped. Only the first
    ``max_fine_bins`` finest bins are used, to bound the cost.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> trains = [np.sort(rng.uniform(0, 200, 2000)) for _ in range(4)]
    >>> choose_bin_ms(trains).bin_ms in CANDIDATE_BINS_MS
    True
    """
    candidates = sorted(float(c) for c in candidates_ms)
    finest = candidates[0]
    factors = [int(round(c / finest)) for c in candidates]
    if any(abs(f * finest - c) > 1e-6 * c for f, c in zip(factors, candidates)):
        raise InputError(f"candidate bins {candidates} must be whole multiples of the finest ({finest:g} ms).")
    trains = [np.asarray(t, dtype=np.float64).ravel() for t in trains]
    nonempty = [t for t in trains if t.size]
    if len(nonempty) < 2:
        raise InputError("Choosing a bin needs at least 2 spike trains with spikes.")
    start = min(t.min() for t in nonempty)
    stop = max(t.max() for t in nonempty)
    bin_s = finest / 1e3
    n_fine = int(min(np.floor((stop - start) / bin_s) + 1, max_fine_bins))
    order = np.argsort([-t.size for t in trains])[:max_neurons]
    counts = bin_spike_trains([trains[i] for i in order], bin_s=bin_s, start_s=start, n_bins=n_fine)
    results: dict = {}
    for c, f in zip(candidates, factors):
        if n_fine // f >= max(min_bins, 5 * n_lags + 20):
            scored = _score(counts, f, n_lags, test_fraction)
            if scored is not None and np.all(np.isfinite(scored[0])):
                results[f"{c:g}"] = scored
    if not results:
        longest = max(candidates)
        raise InputError(f"The spike trains span {stop - start:.3g} s, too short to choose a bin (even "
                         f"{longest:g} ms bins leave too few steps); give --bin-ms or a longer recording.")
    best, scores = _pick(results, n_fine)
    rounded = {f"{c:g}": (round(scores[f"{c:g}"], 5) if f"{c:g}" in scores else None) for c in candidates}
    return BinChoice(bin_ms=float(best), bits_per_spike=rounded, n_lags=n_lags)
