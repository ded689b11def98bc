"""Stand-ins for event-detection tests: a template-matching scorer in place of the classifier."""

from __future__ import annotations

import numpy as np

from nwbsyn._shared import as_rng

__all__ = ["TemplateScorer", "trace_with_events"]


class TemplateScorer:
    """Stand-in classifier: sigmoid of the best template fit with the onset at 10-55 % of the window.

    Fits ``scale * template + offset`` at onsets across the (min-max scaled) window and
    squashes the best ``scale / residual SD`` through a sigmoid centred on ``crit``. Counts
    its calls and the windows it scored, so tests can check batching and gating.
    """

    def __init__(self, *, window_samples: int = 600, sampling_rate_hz: float = 50_000.0, crit: float = 4.0):
        from nwbsyn.events.simulate import biexponential_event

        self.template = -biexponential_event(np.arange(150) * 1e3 / sampling_rate_hz, rise_ms=0.2, decay_ms=1.0)
        self.offsets = np.arange(int(0.1 * window_samples), int(0.55 * window_samples) + 1, 10)
        self.crit = crit
        self.calls = 0
        self.n_windows = 0

    def __call__(self, windows: np.ndarray) -> np.ndarray:
        self.calls += 1
        self.n_windows += len(windows)
        t = self.template - self.template.mean()
        segs = np.stack([windows[:, k: k + t.size] for k in self.offsets], axis=1)
        dc = segs - segs.mean(axis=2, keepdims=True)
        scale = dc @ t / (t @ t)
        sd = np.sqrt(((dc - scale[..., None] * t) ** 2).sum(axis=2) / (t.size - 1)) + 1e-12
        return 1.0 / (1.0 + np.exp(-((scale / sd).max(axis=1) - self.crit)))


def trace_with_events(times_s, amplitudes_pA, *, duration_s: float, sampling_rate_hz: float = 50_000.0,
                      noise_sd_pA: float = 0.8, rng=0) -> np.ndarray:
    """White noise plus 0.2/1 ms biexponential events at ``times_s`` (the same events at any rate)."""
    from nwbsyn.events.simulate import biexponential_event

    n = int(round(duration_s * sampling_rate_hz))
    trace = as_rng(rng).normal(0.0, noise_sd_pA, n)
    t_ms = np.arange(n) * 1e3 / sampling_rate_hz
    for t0, a in zip(times_s, amplitudes_pA):
        trace += biexponential_event(t_ms - t0 * 1e3, rise_ms=0.2, decay_ms=1.0, amplitude_pA=a)
    return trace
