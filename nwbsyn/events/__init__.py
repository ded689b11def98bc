"""Synaptic event detection in patch-clamp traces (miniML method) and classical baselines.

``import nwbsyn.events`` does not import torch: the classifier (``EventClassifier``,
``load_model``, ``save_model``) and training (``fit``, ``TrainConfig``) are loaded on first
access, from :mod:`nwbsyn.events.model` and :mod:`nwbsyn.events.train`.

Examples
--------
>>> from nwbsyn.events import simulate_trace, template_matching, precision_recall_f1
>>> sim = simulate_trace(duration_s=5.0, rate_hz=4.0, amplitude_pA=20.0, rng=0)
>>> res = template_matching(sim.trace_pA, sampling_rate_hz=sim.sampling_rate_hz)
>>> p, r, f1 = precision_recall_f1(sim.onset_times_s, res.onset_times_s, tolerance_s=1e-3)
>>> f1 > 0.8
True
"""

from __future__ import annotations

from nwbsyn._shared.lazy import lazy_exports
from nwbsyn.events.baselines import deconvolution, event_template, finite_threshold, template_matching
from nwbsyn.events.infer import EventDetectionResult, detect_events, locate_events, score_trace
from nwbsyn.events.metrics import EventMatch, match_events, precision_recall_f1
from nwbsyn.events.nwb import TraceInput, add_results, load_inputs, run_on_nwbfile
from nwbsyn.events.plot import plot_detections
from nwbsyn.events.simulate import (
    SimulatedTrace,
    SimulatedWindows,
    biexponential_event,
    colored_noise,
    simulate_trace,
    simulate_windows,
)
from nwbsyn.events.stats import EventStatistics, event_statistics

__all__ = [
    "EventDetectionResult",
    "EventMatch",
    "EventStatistics",
    "SimulatedTrace",
    "SimulatedWindows",
    "TraceInput",
    "add_results",
    "load_inputs",
    "plot_detections",
    "run_on_nwbfile",
    "biexponential_event",
    "colored_noise",
    "deconvolution",
    "detect_events",
    "event_statistics",
    "event_template",
    "finite_threshold",
    "locate_events",
    "match_events",
    "precision_recall_f1",
    "score_trace",
    "simulate_trace",
    "simulate_windows",
    "template_matching",
]

# Names that need torch: imported on first access only (kept out of __all__ so that
# ``from nwbsyn.events import *`` stays torch-free).
_LAZY = {
    "EventClassifier": "nwbsyn.events.model",
    "load_model": "nwbsyn.events.model",
    "save_model": "nwbsyn.events.model",
    "fit": "nwbsyn.events.train",
    "TrainConfig": "nwbsyn.events.train",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
