"""One checkpoint contract for every nwbsyn network: a save/load pair, the model card, one vocabulary.

A checkpoint is a torch zip archive (``torch.save``) of one dict of plain values and tensors:

==========  =====================================================================================
``format``  one of :data:`FORMATS`, e.g. ``"nwbsyn.events.EventClassifier/1"``
``init``    the network's constructor arguments (its ``init_kwargs``)
``state``   its weights, name → tensor, on the CPU
``seed``    the training seed, or None
``config``  the training settings (the fields of the analysis's ``TrainConfig``), or None
``card``    the model card (:data:`CARD_KEYS`), or None
...         entries of one analysis (partners: ``task``; connectivity: ``normalization``)
==========  =====================================================================================

:func:`save_checkpoint` writes it atomically (a temporary file renamed over the target, through
:mod:`nwbsyn.io.output`) with the card as ``<stem>.card.json`` beside it; :func:`load_checkpoint`
reads it with ``torch.load(weights_only=True)`` only (no pickled code ever runs), after checking
the file's size, that it is a zip archive and how much it unpacks to, and returns a
:class:`Checkpoint`. Every refusal is one :class:`~nwbsyn._shared.InputError` sentence,
``"<path> is not a usable <kind> (<why>); <what to pass>."``. Files written before the
``format`` entry existed are read as the format the caller names as ``legacy_format``.

Example
-------
>>> from torch import nn
>>> net = nn.Linear(2, 1)
>>> net.init_kwargs = {"in_features": 2, "out_features": 1}
>>> path = save_checkpoint(net, "linear.pt", format=FORMATS_BY_NAME["test"], card={"name": "demo"})
>>> ckpt = load_checkpoint(path, expected_format=FORMATS_BY_NAME["test"], device="cpu")
>>> ckpt.init, sorted(ckpt.state), ckpt.card["name"]
({'in_features': 2, 'out_features': 1}, ['bias', 'weight'], 'demo')
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from nwbsyn._shared import InputError, sha256_of_file

__all__ = ["Checkpoint", "save_checkpoint", "load_checkpoint", "check_state", "refusal", "FORMATS",
           "FORMATS_BY_NAME", "WEIGHTS_FORMATS", "weights_format_of", "CARD_KEYS", "card_path_for",
           "write_model_card", "read_model_card", "plain", "MAX_FILE_BYTES"]

#: Every checkpoint format nwbsyn writes, → what it holds (used in messages).
FORMATS = {
    "nwbsyn.events.EventClassifier/1": "an events window classifier",
    "nwbsyn.events.DenseScorer/1": "an events dense scorer",
    "nwbsyn.partners.ResidualUNet3d/1": "a partners U-Net",
    "nwbsyn.partners.MaskPrunerNet/1": "a partners mask pruner",
    "nwbsyn.connectivity.SynapsNet/1": "a connectivity SynapsNet",
    "nwbsyn.test/1": "a test network",
}
#: Short names of :data:`FORMATS`.
FORMATS_BY_NAME = {"events_classifier": "nwbsyn.events.EventClassifier/1",
                   "events_dense": "nwbsyn.events.DenseScorer/1",
                   "partners_unet": "nwbsyn.partners.ResidualUNet3d/1",
                   "partners_mask_pruner": "nwbsyn.partners.MaskPrunerNet/1",
                   "connectivity": "nwbsyn.connectivity.SynapsNet/1",
                   "test": "nwbsyn.test/1"}
#: Names older releases wrote in ``format`` → today's name.
_FORMAT_ALIASES = {"nwbsyn-events-dense-1": "nwbsyn.events.DenseScorer/1"}

#: The one ``weights_format`` vocabulary (model cards and ModelProvenance), by file suffix: an nwbsyn
#: checkpoint (a ``torch.save`` zip read with ``weights_only=True``), a Keras 2 HDF5 or a Keras 3 file.
WEIGHTS_FORMATS = {".pt": "torch-state-dict", ".h5": "keras-h5", ".hdf5": "keras-h5", ".keras": "keras-v3"}

#: The model card: one JSON object, written into the checkpoint and beside it as ``<stem>.card.json``.
#: Every key is optional but ``name``; an analysis may add its own (documented where it writes them).
CARD_KEYS = {
    "name": "the model's name (the checkpoint's stem by default)",
    "task": "what the network does (partners: cleft, association, mask_pruner)",
    "method": "the method, with its reference",
    "architecture": "the network, in words or as its constructor arguments",
    "init_kwargs": "the constructor arguments",
    "training_recipe": "how it was trained: command, data recipe, seed (dict or text)",
    "training_data": "the data it was trained on (text)",
    "config": "the training settings (TrainConfig fields)",
    "seed": "the training seed",
    "metrics": "measured quality, name → number",
    "nwbsyn_version": "the nwbsyn that trained it",
    "weights_file": "the checkpoint's file name (added on writing)",
    "weights_sha256": "the checkpoint's sha256 (added on writing)",
    "weights_format": "one of WEIGHTS_FORMATS (added on writing)",
}
#: Keys of older cards → the key they mean today (read by :func:`read_model_card`).
_CARD_ALIASES = {"sha256": "weights_sha256", "model": "weights_file"}
#: ``weights_format`` values of older cards → today's.
_WEIGHTS_FORMAT_ALIASES = {"torch.save state_dict (weights_only=True)": "torch-state-dict"}

MAX_FILE_BYTES = 4 << 30  # a 10,000-neuron connectivity session is 400 MB; anything far larger is not ours
_STANDARD = ("format", "init", "state", "seed", "config", "card")


@dataclass(frozen=True)
class Checkpoint:
    """What :func:`load_checkpoint` read: the entries of the file, not yet checked by the analysis."""

    format: str
    init: dict
    state: dict
    card: dict | None = None
    seed: int | None = None
    config: dict | None = None
    extra: dict = field(default_factory=dict)  # the analysis's own entries (task, normalization, ...)
    path: Path | None = None


def weights_format_of(path) -> str:
    """The ``weights_format`` of a weights file, from its suffix (:data:`WEIGHTS_FORMATS`).

    >>> weights_format_of("model.pt"), weights_format_of("GC_lstm_model.h5")
    ('torch-state-dict', 'keras-h5')
    """
    suffix = Path(path).suffix.lower()
    return WEIGHTS_FORMATS.get(suffix, suffix.lstrip(".") or "unknown")


def plain(obj):
    """A copy of ``obj`` made only of dict/list/str/int/float/bool/None (JSON and weights_only safe).

    >>> import numpy as np
    >>> plain({"acc": np.float32(0.5), "shape": (2, 3)})
    {'acc': 0.5, 'shape': [2, 3]}
    """
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if obj is None:
        return None
    for kind in (bool, str, int, float):  # also turns subclasses (np.float64, TorchVersion) into builtins
        if isinstance(obj, kind):
            return kind(obj)
    if hasattr(obj, "item") and getattr(obj, "ndim", 1) == 0:  # numpy / torch scalars
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise InputError(f"Model card/config value {obj!r} is not JSON-serialisable; use plain numbers, strings and lists.")


def card_path_for(weights_path) -> Path:
    """``<stem>.card.json`` beside a weights file.

    >>> card_path_for("models/m.pt").as_posix()
    'models/m.card.json'
    """
    weights_path = Path(weights_path)
    return weights_path.with_name(weights_path.stem + ".card.json")


def write_model_card(card: dict, weights_path, *, card_path=None) -> Path:
    """Write ``card`` as JSON beside ``weights_path``, adding ``weights_file``, ``weights_sha256`` and
    ``weights_format``; ``card_path`` (a path or an OutputClaim) overrides ``<stem>.card.json``."""
    from nwbsyn.io.output import claim_or_replace

    weights_path = Path(weights_path)
    if not weights_path.is_file():
        raise InputError(f"Weights file {str(weights_path)!r} does not exist; save the model before its card.")
    out = dict(plain(card), weights_file=weights_path.name, weights_sha256=sha256_of_file(weights_path),
               weights_format=weights_format_of(weights_path))
    target = card_path if card_path is not None else card_path_for(weights_path)
    with claim_or_replace(target, what="model card") as claim:
        claim.write_bytes((json.dumps(out, indent=2, sort_keys=True) + "\n").encode())
    return Path(claim.path)


def read_model_card(weights_path) -> dict:
    """The card beside a weights file with today's keys (``sha256`` → ``weights_sha256``, ...); ``{}``
    when there is none. A damaged card is left out with a warning, never an error."""
    card_file = card_path_for(weights_path)
    if not card_file.is_file():
        return {}
    try:
        if card_file.stat().st_size > 16 << 20:
            raise ValueError("too large")
        card = json.loads(card_file.read_text())
        json.dumps(card, allow_nan=False)
    except (OSError, ValueError, UnicodeDecodeError, RecursionError):
        card = None
    if not isinstance(card, dict):
        logging.getLogger("nwbsyn").warning("%s is not a valid model card; the provenance is written without it.",
                                            card_file)
        return {}
    for old, new in _CARD_ALIASES.items():
        if old in card and new not in card:
            card[new] = card[old]
    if isinstance(card.get("weights_format"), str):
        card["weights_format"] = _WEIGHTS_FORMAT_ALIASES.get(card["weights_format"], card["weights_format"])
    return card


def save_checkpoint(model_or_state, path, *, format: str, card: dict | None = None, init: dict | None = None,
                    seed: int | None = None, config: dict | None = None, extra: dict | None = None,
                    card_path=None, write_card: bool | None = None) -> Path:
    """Write a checkpoint (see the module docstring) atomically, and its card beside it.

    Parameters
    ----------
    model_or_state : nn.Module or dict
        A network with ``init_kwargs``, or its ``state_dict`` (then pass ``init``).
    path : str, Path or OutputClaim
        The checkpoint, conventionally ``*.pt``; a path is replaced if it exists, an
        :class:`~nwbsyn.io.output.OutputClaim` (taken by the CLI before training) is written.
    format : str
        One of :data:`FORMATS`.
    card : dict, optional
        The model card (:data:`CARD_KEYS`); written into the checkpoint and, unless
        ``write_card=False``, beside it with ``weights_sha256`` added.
    seed, config, extra : optional
        The training seed, the training settings and the analysis's own entries (plain values).
    card_path : str, Path or OutputClaim, optional
        Where the card goes (default ``<stem>.card.json``).

    Returns
    -------
    Path
        The checkpoint path.
    """
    import torch

    from nwbsyn.io.output import claim_or_replace

    if format not in FORMATS:
        raise ValueError(f"format={format!r} is not one of nwbsyn's checkpoint formats {sorted(FORMATS)}.")
    if isinstance(model_or_state, dict):
        state, init = model_or_state, init
    else:
        state, init = model_or_state.state_dict(), init if init is not None else model_or_state.init_kwargs
    if init is None:
        raise ValueError("save_checkpoint needs init (the network's constructor arguments) with a bare state_dict.")
    card = plain(card) if card is not None else None
    payload = {**plain(extra or {}), "format": format, "init": plain(dict(init)),
               "state": {k: v.detach().cpu().clone() for k, v in state.items()}, "seed": plain(seed),
               "config": plain(config), "card": card}
    with claim_or_replace(path, what="checkpoint") as claim:
        with claim.temporary(suffix=".pt") as tmp:
            torch.save(payload, tmp)
        if card is not None and write_card is not False:
            write_model_card(card, claim.path, card_path=card_path)
    return Path(claim.path)


def refusal(path, why: str, *, kind: str, how: str) -> InputError:
    """The one sentence a refused model file gets: ``"<path> is not a usable <kind> (<why>); <how>."``."""
    return InputError(f"{path} is not a usable {kind} ({why}); {how}.")


def load_checkpoint(path, *, expected_format: str | tuple, device: str = "auto", legacy_format: str | None = None,
                    kind: str = "nwbsyn checkpoint", how: str = "pass a checkpoint written by nwbsyn",
                    max_bytes: int = MAX_FILE_BYTES) -> Checkpoint:
    """Read a checkpoint of :func:`save_checkpoint` safely; its entries are for the analysis to check.

    Parameters
    ----------
    expected_format : str or tuple of str
        The format(s) the caller can build; a file of another format is refused.
    device : str, default: "auto"
        Where the tensors are mapped (``"auto"``: CUDA when available).
    legacy_format : str, optional
        The format of files with no ``format`` entry (written by older releases); None refuses them.
    kind, how : str
        The refusal's wording: what the file should have been and what to pass instead.
    max_bytes : int
        Largest file, and largest unpacked archive, that is read.

    Refused with one sentence (:func:`refusal`): a missing path or a folder, an empty, over-large
    or foreign file, an archive that is damaged or unpacks to more than ``max_bytes``, pickled
    Python objects, anything but a dict with ``init`` and ``state``, and another format.
    """
    import warnings

    import torch

    from nwbsyn._shared import pick_device

    path = Path(path)
    if path.is_dir():
        raise InputError(f"The model {path} is a folder, not a file; {how}.")
    if not path.is_file():
        raise InputError(f"The model {path} is not a file (it does not exist); {how}.")
    expected = (expected_format,) if isinstance(expected_format, str) else tuple(expected_format)
    _check_archive(path, max_bytes=max_bytes, kind=kind, how=how)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = torch.load(path, map_location=pick_device(device), weights_only=True)
    except Exception as err:  # noqa: BLE001 - pickles with code, truncated or foreign files all end here
        raise refusal(path, _why_unreadable(err), kind=kind, how=how) from None
    if not isinstance(raw, dict):
        raise refusal(path, f"it holds a {type(raw).__name__}, not a checkpoint", kind=kind, how=how)
    missing = [k for k in ("init", "state") if k not in raw]
    if missing:
        raise refusal(path, f"it has no {' or '.join(repr(m) for m in missing)} entry", kind=kind, how=how)
    if not isinstance(raw["init"], dict) or not isinstance(raw["state"], dict):
        raise refusal(path, "it lacks the network settings and weights", kind=kind, how=how)
    fmt = raw.get("format", legacy_format)
    fmt = _FORMAT_ALIASES.get(fmt, fmt) if isinstance(fmt, str) else fmt
    if fmt not in expected:
        found = FORMATS.get(fmt, "no network nwbsyn knows") if isinstance(fmt, str) else "no format entry"
        raise refusal(path, f"it holds {found}, not {FORMATS.get(expected[0], expected[0])}", kind=kind, how=how)
    card, config = raw.get("card"), raw.get("config")
    return Checkpoint(format=fmt, init=raw["init"], state=raw["state"], card=card if isinstance(card, dict) else None,
                      seed=raw.get("seed"), config=config, path=path,
                      extra={k: v for k, v in raw.items() if k not in _STANDARD})


def _check_archive(path: Path, *, max_bytes: int, kind: str, how: str) -> None:
    """Only torch's zip format is read: other files are refused unread, and the unpacked size is bounded."""
    import zipfile

    size = path.stat().st_size
    if size == 0:
        raise refusal(path, "it is empty", kind=kind, how=how)
    if size > max_bytes:
        raise refusal(path, f"it is {size / 2**30:.3g} GiB, far larger than such a network", kind=kind, how=how)
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as f:
            head = f.read(8)
        why = ("it is an HDF5 file, not a torch checkpoint" if head.startswith(b"\x89HDF") else
               "it holds pickled Python objects, which nwbsyn never runs" if head.startswith(b"\x80") else
               "it is not a torch zip archive, so it cannot be read safely")
        raise refusal(path, why, kind=kind, how=how)
    try:
        with zipfile.ZipFile(path) as z:
            unpacked = sum(info.file_size for info in z.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        raise refusal(path, "it is a damaged archive", kind=kind, how=how) from None
    if unpacked > max_bytes:
        raise refusal(path, f"it unpacks to {unpacked / 2**30:,.1f} GiB, far more than such a network",
                      kind=kind, how=how)


def _why_unreadable(err: Exception) -> str:
    text = str(err)
    if "weights_only" in text or type(err).__name__ == "UnpicklingError":
        return "it holds pickled Python objects, which nwbsyn never runs"
    lines = text.strip().splitlines()
    return "it cannot be read as a torch checkpoint" + (f": {lines[0][:80]}" if lines else "")


def check_state(state, expected: dict, *, refuse) -> None:
    """Check weights against the network they are for, before loading them.

    ``expected`` is the network's ``state_dict()`` (meta-device tensors will do); ``refuse(why)``
    returns the error to raise. Refused: anything but a table of tensors, missing or extra names,
    other shapes, integer weights where the network has real ones (or complex ones anywhere), NaN
    or infinite values.
    """
    import torch

    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise refuse("it has no table of weight tensors")
    missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing:
        raise refuse(f"it lacks the weights {', '.join(missing[:2])}" + (f" and {len(missing) - 2} more"
                                                                         if len(missing) > 2 else ""))
    if extra:
        raise refuse(f"it has the extra weights {', '.join(extra[:2])}")
    for name, ref in expected.items():
        tensor = state[name]
        if tuple(tensor.shape) != tuple(ref.shape):
            raise refuse(f"the weights {name} have shape {tuple(tensor.shape)} where the network needs "
                         f"{tuple(ref.shape)}")
        if tensor.is_complex() or tensor.is_floating_point() != ref.is_floating_point() or tensor.dtype == torch.bool:
            raise refuse(f"the weights {name} are of type {tensor.dtype}; weights must be real numbers")
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise refuse(f"the weights {name} hold NaN or infinite values; the model is broken - train it again")
