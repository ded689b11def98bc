"""Checks of connectivity checkpoints: every entry checked before a model is built.

A checkpoint follows the one nwbsyn contract (:mod:`nwbsyn._shared.checkpoint`, which reads it
with ``weights_only=True``): ``init`` (the :class:`SynapsNet` arguments), ``state`` (its weights),
``config`` (:class:`TrainConfig` fields), ``seed``, ``card`` and ``normalization``. Here its sizes
are bounded before anything is allocated, and the weights must have the names and shapes the
arguments imply and be finite.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from nwbsyn._shared import InputError

__all__ = ["check_checkpoint", "MAX_FILE_BYTES", "MAX_PARAMETERS", "KIND", "HOW"]

MAX_FILE_BYTES = 4 << 30  # a 10,000-neuron session is 400 MB; anything far larger is not ours
MAX_PARAMETERS = 1_000_000_000
_INT_LIMITS = {"n_behavior": (0, 10_000), "context_steps": (1, 10_000), "embedding_dim": (1, 4096),
               "hidden_dim": (1, 65_536), "n_layers": (1, 64)}
_LINKS = ("softplus", "exp", "identity")
HOW = "pass a file written by 'nwbsyn connectivity fit --checkpoint' or nwbsyn.connectivity.save_checkpoint"
KIND = "nwbsyn connectivity checkpoint"
_HOW = HOW


def check_checkpoint(ckpt: dict, path: Path) -> dict:
    """Check every entry of a loaded checkpoint; return it with a complete ``init``."""
    missing = [k for k in ("init", "state", "config") if k not in ckpt]
    if missing:
        raise InputError(f"The model file {path} has no {', '.join(repr(m) for m in missing)} entry; {_HOW}.")
    init = _check_init(ckpt["init"], path)
    _check_config(ckpt["config"], init, path)
    n_params = _check_state(ckpt["state"], init, path)
    norm = ckpt.get("normalization", [])
    if not isinstance(norm, list):
        raise InputError(f"The model file {path} has a malformed 'normalization' entry; {_HOW}.")
    return dict(ckpt, init=init, n_parameters=n_params, normalization=norm)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_init(init, path: Path) -> dict:
    import inspect

    from nwbsyn.connectivity.model import SynapsNet

    if not isinstance(init, dict):
        raise InputError(f"The model file {path} has a malformed 'init' entry; {_HOW}.")
    known = set(inspect.signature(SynapsNet).parameters)
    unknown = sorted(str(k) for k in init if k not in known)
    if unknown:
        raise InputError(f"The model file {path} asks for model arguments nwbsyn does not know "
                         f"({', '.join(unknown[:5])}); it was written by another program or version - {_HOW}.")
    neurons = init.get("n_neurons")
    if not isinstance(neurons, (list, tuple)) or not neurons or not all(_is_int(n) and n >= 1 for n in neurons) \
            or len(neurons) > 10_000:
        raise InputError(f"The model file {path} has no valid neuron counts per session; {_HOW}.")
    for name, (lo, hi) in _INT_LIMITS.items():
        value = init.get(name)
        if value is not None and (not _is_int(value) or not lo <= value <= hi):
            raise InputError(f"The model file {path} has {name} {value!r} (expected an integer from {lo} to {hi}); "
                             f"{_HOW}.")
    if init.get("link", "softplus") not in _LINKS:
        raise InputError(f"The model file {path} has an unknown link {init.get('link')!r}; {_HOW}.")
    if not isinstance(init.get("deconvolve", False), bool):
        raise InputError(f"The model file {path} has a malformed 'deconvolve' entry; {_HOW}.")
    return dict(init, n_neurons=list(neurons))


def _check_config(config, init: dict, path: Path) -> None:
    from nwbsyn.connectivity.train import LOSSES, TrainConfig

    if not isinstance(config, dict):
        raise InputError(f"The model file {path} has a malformed 'config' entry; {_HOW}.")
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(str(k) for k in config if k not in fields)
    if unknown:
        raise InputError(f"The model file {path} has training settings nwbsyn does not know "
                         f"({', '.join(unknown[:5])}); it was written by another program or version - {_HOW}.")
    if config.get("loss", "poisson") not in LOSSES:
        raise InputError(f"The model file {path} has an unknown loss {config.get('loss')!r}; {_HOW}.")
    defaults = TrainConfig()
    for name, value in config.items():
        if not _plausible(name, value, getattr(defaults, name)):
            raise InputError(f"The model file {path} has the training setting {name} = {value!r}, which cannot "
                             f"be used; {_HOW}.")
    held_out = config.get("val_fraction", defaults.val_fraction) + config.get("test_fraction", defaults.test_fraction)
    if held_out >= 0.9:
        raise InputError(f"The model file {path} holds out {held_out:.0%} of the data for validation and test, "
                         f"leaving too little to train on; {_HOW}.")
    for name in ("context_steps", "embedding_dim", "hidden_dim", "n_layers", "deconvolve"):
        if name in config and name in init and config[name] != init[name]:
            raise InputError(f"The model file {path} has {name} {init[name]!r} in its model but {config[name]!r} in "
                             f"its training settings; {_HOW}.")


_CHOICES = {"link": ("auto", *_LINKS), "scaling": ("auto", "global", "neuron", "none")}
_POSITIVE = ("context_steps", "embedding_dim", "hidden_dim", "n_layers", "chunk_steps", "samples_per_epoch",
             "max_epochs")


def _plausible(name: str, value, default) -> bool:
    """A training setting of the right type and in a usable range."""
    if name in _CHOICES:
        return value in _CHOICES[name]
    if isinstance(default, bool):
        return isinstance(value, bool)
    if default is None:  # max_time_s: None or a positive number
        return value is None or (_is_number(value) and value > 0)
    if isinstance(default, int):
        return _is_int(value) and value >= (1 if name in _POSITIVE else 0)
    if isinstance(default, float):
        if not _is_number(value) or value < 0:
            return False
        return 0 < value < 1 if name.endswith("_fraction") else True
    return isinstance(value, type(default))


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _expected_shapes(init: dict, path: Path) -> dict:
    """The model's weights on the meta device (names, shapes, types; nothing allocated)."""
    import torch

    from nwbsyn.connectivity.model import SynapsNet

    n = init["n_neurons"]
    e, h = init.get("embedding_dim", 8), init.get("hidden_dim", 32)
    c, b = init.get("context_steps", 10), init.get("n_behavior", 0)
    estimate = sum(k * k + k * e for k in n) + c * (h + 1) + h * (e + 1) + 2 * c * b * (h + e) \
        + init.get("n_layers", 2) * (h * h + h)
    if estimate > MAX_PARAMETERS:
        raise InputError(f"The model file {path} describes a model of {estimate:,} weights (about "
                         f"{estimate * 4 / 2 ** 30:.3g} GiB), far larger than nwbsyn builds; {_HOW}.")
    try:
        with torch.device("meta"):
            model = SynapsNet(**init)
    except (TypeError, ValueError) as err:
        raise InputError(f"The model file {path} has model arguments that do not fit together; {_HOW}.") from err
    return model.state_dict()


def _check_state(state, init: dict, path: Path) -> int:
    from nwbsyn._shared.checkpoint import check_state, refusal

    expected = _expected_shapes(init, path)
    check_state(state, expected, refuse=lambda why: refusal(path, why, kind=KIND, how=HOW))
    return sum(int(math.prod(v.shape)) for v in expected.values())
