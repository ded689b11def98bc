"""The training data of the event classifier: simulated labelled windows and the recipe of the shipped model.

:func:`default_training_windows` is what ``nwbsyn events train`` trains on by default (the
recipe is written into the model card); :func:`make_training_windows` is one simulated part.
"""

from __future__ import annotations

import numpy as np

from nwbsyn.io.miniml import TrainingWindows

__all__ = ["make_training_windows", "DEFAULT_RECIPE", "N_BED_WINDOWS", "default_training_windows"]


def make_training_windows(n_windows: int, *, rng=None, **simulate_kwargs) -> TrainingWindows:
    """Simulated labelled windows for training (wraps :func:`nwbsyn.events.simulate.simulate_windows`).

    Parameters
    ----------
    n_windows : int
    rng : int, Generator or None
    **simulate_kwargs
        Passed to ``simulate_windows`` (kinetics, SNR range, noise, ``window_samples``, ...).
        With ``polarity=+1`` the windows are inverted, because the classifier is trained
        on downward events, as in miniML.

    Returns
    -------
    TrainingWindows
        ``source`` records the recipe, for the model card.

    Examples
    --------
    >>> tw = make_training_windows(64, rng=0)
    >>> tw.windows.shape
    (64, 600)
    """
    from nwbsyn.events.simulate import simulate_windows

    seed_note = rng if isinstance(rng, (int, np.integer)) or rng is None else "Generator"
    sim = simulate_windows(int(n_windows), rng=rng, **simulate_kwargs)
    windows = sim.windows if simulate_kwargs.get("polarity", -1) == -1 else -sim.windows
    args = ", ".join(f"{k}={v!r}" for k, v in sorted(simulate_kwargs.items()))
    recipe = f"nwbsyn.events.simulate.simulate_windows(n={int(n_windows)}, rng={seed_note!r}{', ' + args if args else ''})"
    return TrainingWindows(windows.astype(np.float32), sim.labels.astype(np.int8), 0, recipe)


# The data recipe of the model nwbsyn ships (nwbsyn/events/models/nwbsyn_events_default.pt):
# three kinetic regimes so that one model covers fast, GC-like and slow events; a third of
# the windows are cut from long 1/f traces (slow swings that look like events, and events
# on them), the rest are white, 1/f within the window, mixed or filtered noise. Then the
# windows recordings look like: filtered, slower events with overlap, and windows cut from
# the noise of real recordings (nwbsyn.events.beds) with events drawn in samples, and the
# real noise alone as negatives (synthetic filtered and 1/f noise where ../shared is absent).
_COLOURS = {"white": 1.0, "pink": 1.0, "mixed": 1.0, "filtered": 1.0, "pink_trace": 2.0}
DEFAULT_RECIPE = (
    {"n_windows": 16_000, "rise_ms": 0.2, "rise_sd_ms": 0.05, "decay_ms": 1.0, "decay_sd_ms": 0.25,
     "noise_colours": _COLOURS},
    {"n_windows": 8_000, "rise_ms": 0.1, "rise_sd_ms": 0.03, "decay_ms": 0.5, "decay_sd_ms": 0.15,
     "noise_colours": _COLOURS},
    {"n_windows": 8_000, "rise_ms": 0.4, "rise_sd_ms": 0.1, "decay_ms": 3.5, "decay_sd_ms": 1.25,
     "noise_colours": _COLOURS},
    {"n_windows": 8_000, "rise_ms": 0.3, "rise_sd_ms": 0.15, "decay_ms": 2.5, "decay_sd_ms": 1.5,
     "noise_colours": {"filtered": 2.0, "pink_trace": 1.0, "mixed": 1.0}},
)
#: Windows cut from real noise beds (or, without ../shared, synthetic ones of the last recipe part).
N_BED_WINDOWS = 12_000


def default_training_windows(*, seed: int = 0, beds: list | None = None, realistic: bool = True) -> TrainingWindows:
    """The windows the shipped model is trained on (:data:`DEFAULT_RECIPE` + real noise beds, one seed).

    ``beds`` defaults to :func:`nwbsyn.events.beds.real_noise_beds` (empty without ../shared).
    ``realistic=False`` gives the first three (simulated) parts only: the recipe of the
    first training stage of the shipped model (``--recipe simulated``).

    Examples
    --------
    >>> default_training_windows(seed=0, realistic=False).windows.shape  # the simulated parts
    (32000, 600)
    """
    from nwbsyn.events.beds import bed_windows, describe_beds, real_noise_beds

    beds = (real_noise_beds() if realistic else []) if beds is None else beds
    streams = np.random.SeedSequence(seed).spawn(len(DEFAULT_RECIPE) + 1)  # children do not depend on the count
    recipe = DEFAULT_RECIPE if realistic else DEFAULT_RECIPE[:3]
    parts = [make_training_windows(rng=np.random.default_rng(stream), **part)
             for part, stream in zip(recipe, streams)]
    if realistic and beds:
        w = bed_windows(N_BED_WINDOWS, beds=beds, rng=np.random.default_rng(streams[-1]))
        parts.append(TrainingWindows(w.windows, w.labels.astype(np.int8), 0,
                                     f"nwbsyn.events.beds.bed_windows(n={N_BED_WINDOWS}) on {describe_beds(beds)}"))
    elif realistic:
        extra = dict(DEFAULT_RECIPE[-1], n_windows=N_BED_WINDOWS)
        part = make_training_windows(rng=np.random.default_rng(streams[-1]), **extra)
        parts.append(TrainingWindows(part.windows, part.labels, 0, part.source + f" (no real noise beds: "
                                                                                f"{describe_beds(beds)})"))
    source = f"{'default' if realistic else 'simulated'} recipe, seed {seed}: " + " + ".join(p.source for p in parts)
    return TrainingWindows(np.concatenate([p.windows for p in parts]), np.concatenate([p.labels for p in parts]),
                           0, source)
