"""Small helpers shared by every nwbsyn module: errors, random generators, units, optional imports, and the
one checkpoint contract (:func:`save_checkpoint`, :func:`load_checkpoint`; see :mod:`nwbsyn._shared.checkpoint`)."""

from __future__ import annotations

import importlib

import numpy as np

from nwbsyn._shared.run import RunResult as RunResult  # the return type of every run_on_nwbfile

__all__ = ["InputError", "MissingExtraError", "available_memory_bytes", "as_rng", "require", "ms_to_samples",
           "sha256_of_file", "pick_device", "Checkpoint", "save_checkpoint", "load_checkpoint"]

_CHECKPOINT_NAMES = ("Checkpoint", "save_checkpoint", "load_checkpoint")


def __getattr__(name: str):
    """The checkpoint contract (:mod:`nwbsyn._shared.checkpoint`), imported on first use."""
    if name in _CHECKPOINT_NAMES:
        from nwbsyn._shared import checkpoint

        return getattr(checkpoint, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class InputError(ValueError):
    """A user mistake (bad file, bad name, bad value).

    The CLI prints the message as one sentence and exits with code 2, without a traceback.
    The message names the object and says what to do.
    """


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message names the ``pip install`` that adds it.

    The CLI prints it as one sentence and exits with code 2.
    """


def as_rng(rng: int | np.random.Generator | None) -> np.random.Generator:
    """Return a numpy Generator from a seed, a Generator or None."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


_EXTRA = {"dask": "dask", "distributed": "dask", "pandas": "dask", "pyarrow": "dask", "dandi": "dandi", "remfile": "dandi",
          "pytest": "test"}


def require(module: str):
    """Import an optional module, or fail with the pip command that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        top = module.partition(".")[0]
        extra = _EXTRA.get(top)
        how = f"pip install 'nwbsyn[{extra}]'" if extra else f"pip install {top}"
        raise MissingExtraError(f"The optional package {top!r} is needed for this; install it with: {how}.") from err


def ms_to_samples(duration_ms: float, sampling_rate_hz: float) -> int:
    """Number of samples in ``duration_ms`` at ``sampling_rate_hz`` (rounded)."""
    return int(round(duration_ms * sampling_rate_hz / 1000.0))


def sha256_of_file(path) -> str:
    """Hex sha256 of a file's bytes."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def available_memory_bytes() -> int:
    """Memory this process may still use: Linux ``MemAvailable`` (page cache counts), else free
    physical pages, else 16 GiB. Used to refuse work that would not fit, before allocating it."""
    import os

    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return 16 << 30


def available_devices() -> list[str]:
    """The torch devices this machine and this torch build offer, e.g. ``["cpu", "cuda", "cuda:0"]``."""
    import torch

    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append("mps")
    return devices


def pick_device(device: str | None = "auto") -> str:
    """``"auto"``/None → ``"cuda"`` when a GPU is visible, else ``"cpu"``; other values are checked.

    A device that does not exist or is not built into this torch raises :class:`InputError`
    naming the devices available.

    Example
    -------
    >>> pick_device("cpu")
    'cpu'
    """
    if device in (None, "auto"):
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    name = str(device).strip().lower()
    available = available_devices()
    if name not in available:
        raise InputError(f"The device {device!r} is not available here; use --device with one of: auto, "
                         f"{', '.join(available)}.")
    return name
