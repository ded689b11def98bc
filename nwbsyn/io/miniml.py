"""miniML's training files: labelled windows in HDF5 (datasets ``events`` (n, n_samples), ``scores`` (n,)).

Scores are 0 (no event), 1 (event) and 2 (unclear, not yet scored), as miniML's
training-data notebooks write them. :func:`load_training_windows` reads one file,
:func:`read_training_files` several (checked, concatenated, events turned downwards) and
:func:`save_training_windows` writes one atomically.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nwbsyn._shared import InputError
from nwbsyn.io.output import claim_or_replace

__all__ = ["TrainingWindows", "load_training_windows", "read_training_files", "save_training_windows",
           "MAX_TRAINING_BYTES"]


@dataclass(frozen=True)
class TrainingWindows:
    """Labelled windows read by :func:`load_training_windows`."""

    windows: np.ndarray  # (n, n_samples) float32, as stored (not yet scaled)
    labels: np.ndarray  # (n,) int8, 0 or 1
    n_unclear_dropped: int = 0
    source: str = ""  # file path or simulation recipe (goes into the model card)

    def __len__(self) -> int:
        return len(self.labels)


def load_training_windows(path: str | Path, *, unclear: str = "raise") -> TrainingWindows:
    """Read labelled windows from a miniML training file (HDF5: ``events``, ``scores``).

    Parameters
    ----------
    path : str or Path
        File written by miniML's training-data notebooks (or :func:`save_training_windows`):
        dataset ``events`` (n, n_samples) and ``scores`` (n,) with 0 = no event, 1 = event,
        2 = unclear (not yet scored).
    unclear : {"raise", "drop"}, default: "raise"
        What to do with windows scored 2.

    Returns
    -------
    TrainingWindows

    Examples
    --------
    >>> import numpy as np
    >>> path = save_training_windows("train.h5", np.zeros((4, 600)), np.array([0, 1, 0, 1]))
    >>> tw = load_training_windows(path)
    >>> len(tw), tw.windows.shape
    (4, (4, 600))
    """
    import h5py

    if unclear not in ("raise", "drop"):
        raise InputError(f"{unclear!r} is not a choice for windows scored 2; use --unclear raise or --unclear drop.")
    path = Path(path)
    if path.is_dir():
        raise InputError(f"Training file {str(path)!r} is a folder; pass a miniML training file (.h5).")
    if path.exists() and not path.is_file():
        raise InputError(f"Training file {str(path)!r} is not a regular file; pass a miniML training file (.h5).")
    if not path.is_file():
        raise InputError(f"Training file {str(path)!r} does not exist; check the path given to --data.")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise InputError(f"{str(path)!r} is not an HDF5 file; pass a miniML training file (datasets 'events' "
                         "and 'scores').") from err
    with f:
        events, scores = (_training_dataset(f, name, path) for name in ("events", "scores"))
        if len(events.shape) != 2 or events.shape[0] == 0 or events.shape[1] < 2 or scores.shape != events.shape[:1]:
            raise InputError(f"{str(path)!r} has events of shape {events.shape} and scores of shape {scores.shape}; "
                             "expected (n, n_samples) and (n,) with n >= 1 and at least 2 samples per window.")
        _check_training_size(events, path)
        windows = np.asarray(events, dtype=np.float32)
        scores = np.asarray(scores, dtype=np.float64)
    if not np.isfinite(windows).all():
        raise InputError(f"{str(path)!r} has NaN or infinite values in 'events'; drop or repair those windows.")
    if not np.isin(scores, (0, 1, 2)).all():
        raise InputError(f"{str(path)!r} has scores other than 0, 1 and 2 (or NaN); fix its 'scores' dataset.")
    is_unclear = scores == 2
    if is_unclear.any() and unclear == "raise":
        raise InputError(
            f"{str(path)!r} has {int(is_unclear.sum())} windows scored 2 ('unclear'); re-score them to 0/1 "
            "(miniML's scoring notebook) or leave them out with --unclear drop."
        )
    keep = ~is_unclear
    return TrainingWindows(windows[keep], scores[keep].astype(np.int8), int(is_unclear.sum()), str(path))


#: Largest training set read (windows as float32); ~1 million 600-sample windows.
MAX_TRAINING_BYTES = 4 << 30


def _training_dataset(f, name: str, path: Path):
    import h5py

    obj = f.get(name)
    if obj is None:
        raise InputError(f"{str(path)!r} has no '{name}' dataset; a miniML training file holds 'events' "
                         "(n, n_samples) and 'scores' (n,).")
    if not isinstance(obj, h5py.Dataset):
        raise InputError(f"{str(path)!r} holds '{name}' as a group, not a dataset; it is not a miniML training file.")
    kind = obj.dtype.kind
    if obj.dtype.names is not None or kind not in ("fiub" if name == "scores" else "fiu"):
        raise InputError(f"{str(path)!r} has '{name}' of type {obj.dtype}; it must hold real numbers.")
    return obj


def _check_training_size(events, path: Path) -> None:
    need = int(np.prod(events.shape, dtype=np.float64)) * 4
    if need > MAX_TRAINING_BYTES:
        raise InputError(f"{str(path)!r} holds {events.shape[0]:,} windows of {events.shape[1]:,} samples "
                         f"({need / 2**30:.1f} GiB); nwbsyn reads at most {MAX_TRAINING_BYTES / 2**30:.0f} GiB of "
                         "training windows: pass a smaller file.")


def save_training_windows(path, windows: np.ndarray, labels: np.ndarray) -> Path:
    """Write windows and 0/1 labels in miniML's training-file layout (``events``, ``scores``).

    ``path`` is a file name (replaced atomically if it exists) or an
    :class:`~nwbsyn.io.output.OutputClaim`.
    """
    import h5py

    windows, labels = np.asarray(windows), np.asarray(labels)
    if windows.ndim != 2 or labels.shape != (len(windows),):
        raise InputError(f"windows {windows.shape} and labels {labels.shape} must be (n, n_samples) and (n,).")
    with claim_or_replace(path, what="training file") as claim:
        with claim.temporary(suffix=".h5") as tmp:
            with h5py.File(tmp, "w") as f:
                f.create_dataset("events", data=windows.astype(np.float64))
                f.create_dataset("scores", data=labels.astype(np.int64))
    return Path(claim.path)


def read_training_files(paths, *, unclear: str = "raise", polarity: str = "negative") -> TrainingWindows:
    """The windows of several miniML training files, concatenated, with events pointing down.

    All files must hold windows of one length. ``polarity="positive"`` says the files' events
    point up (EPSPs, outward currents): the windows are inverted, as training expects
    negative-going events.

    Examples
    --------
    >>> import numpy as np
    >>> a = save_training_windows("a.h5", np.ones((2, 600)), np.array([0, 1]))
    >>> b = save_training_windows("b.h5", np.ones((3, 600)), np.array([1, 1, 0]))
    >>> both = read_training_files([a, b], polarity="positive")
    >>> len(both), float(both.windows[0, 0])
    (5, -1.0)
    """
    if polarity not in ("negative", "positive"):
        raise InputError(f"polarity must be 'negative' or 'positive' (the direction of the events in the windows); "
                         f"got {polarity!r}.")
    parts = [load_training_windows(path, unclear=unclear) for path in paths]
    if not parts:
        raise InputError("No training files given; pass at least one miniML training file.")
    lengths = sorted({p.windows.shape[1] for p in parts})
    if len(lengths) > 1:
        raise InputError(f"The training files hold windows of different lengths ({', '.join(map(str, lengths))} "
                         "samples); train on files with one window length.")
    windows = np.concatenate([p.windows for p in parts])
    return TrainingWindows(windows if polarity == "negative" else -windows, np.concatenate([p.labels for p in parts]),
                           sum(p.n_unclear_dropped for p in parts), " + ".join(p.source for p in parts))
