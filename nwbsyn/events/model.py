"""The miniML event classifier (CNN + bidirectional LSTM) in PyTorch, and its checkpoints.

The network reproduces miniML's Keras model layer for layer (O'Neill et al., eLife 2025;
``GC_lstm_model.h5``): four Conv1D → BatchNorm → LeakyReLU(0.3) blocks with average
pooling, a bidirectional LSTM whose two directions are summed, and a small dense head.
It scores one window of a trace (min-max scaled to [0, 1]) with P(window holds an event).

Checkpoints follow the one nwbsyn contract (:mod:`nwbsyn._shared.checkpoint`): ``torch.save``
dicts of tensors and Python values (``format``, ``init``, ``state``, ``seed``, ``config``,
``card``), read with ``weights_only=True``.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from nwbsyn._shared import InputError, pick_device, sha256_of_file
from nwbsyn._shared.checkpoint import (  # noqa: F401  (card_path_for, write_model_card: part of this module's API)
    FORMATS_BY_NAME,
    card_path_for,
    check_state,
    load_checkpoint,
    refusal,
    save_checkpoint,
    write_model_card,
)

__all__ = [
    "EventClassifier",
    "load_model",
    "load_keras_model",
    "resolve_model_path",
    "save_model",
    "write_model_card",
    "find_miniml_model",
    "check_init_kwargs",
    "parameter_count",
    "load_state",
    "card_path_for",
    "MINIML_MODELS",
    "CHECKPOINT_FORMAT",
]

CHECKPOINT_FORMAT = FORMATS_BY_NAME["events_classifier"]

#: Pretrained miniML models, by name → path inside miniML's ``resources/models`` folder.
MINIML_MODELS = {
    "GC": "GC_lstm_model.h5",
    "GC_keras3": "GC_model_keras3.keras",
    "GC_mEPSP": "transfer_learning/GC_mEPSP/lstm_transfer.h5",
    "zebrafish": "transfer_learning/zebrafish/lstm_transfer.h5",
    "NMJ_wt": "transfer_learning/NMJ_wt/lstm_transfer.h5",
    "NMJ_GluRIIA": "transfer_learning/NMJ_GluRIIA/lstm_transfer.h5",
    "iGluSnFR": "transfer_learning/iGluSnFR/lstm_transfer.h5",
}


class EventClassifier(nn.Module):
    """miniML's CNN-BiLSTM window classifier.

    Parameters
    ----------
    window_samples : int, default: 600
        Window length the model expects (12 ms at 50 kHz for the miniML models).
    dropout : float, default: 0.2
        Dropout before the last dense layer (miniML: 0.2 from scratch, 0.5 for transfer).
    lstm_dropout : float or None, default: None
        Dropout on the LSTM inputs (one mask per window and feature, shared over time, as
        in Keras); None uses ``dropout``.
    filters, kernel_sizes, pool_sizes : sequence of int
        The four convolution blocks; a pool size of 1 means no pooling.
    lstm_units, dense_units : int
        Width of each LSTM direction and of the hidden dense layer.
    negative_slope : float, default: 0.3
        LeakyReLU slope (Keras ``alpha``).

    Notes
    -----
    ``forward(x)`` takes (batch, window_samples) float32 windows already min-max scaled to
    [0, 1] and returns (batch,) probabilities. Keras details kept exactly: 'same' padding
    (for even kernels the extra zero goes on the right, as in TensorFlow), BatchNorm
    epsilon 1e-3 and momentum 0.99, LSTM gate order (i, f, c, o) = PyTorch (i, f, g, o),
    a single LSTM bias (PyTorch's ``bias_hh`` is kept at zero and frozen), and the backward
    LSTM's output is its state after reading the whole reversed window.

    Examples
    --------
    >>> import torch
    >>> model = EventClassifier().eval()
    >>> model(torch.rand(4, 600)).shape
    torch.Size([4])
    """

    def __init__(
        self,
        *,
        window_samples: int = 600,
        dropout: float = 0.2,
        lstm_dropout: float | None = None,
        filters=(32, 48, 64, 80),
        kernel_sizes=(9, 7, 5, 3),
        pool_sizes=(3, 2, 2, 1),
        lstm_units: int = 96,
        dense_units: int = 128,
        negative_slope: float = 0.3,
    ):
        super().__init__()
        self.init_kwargs = check_init_kwargs(dict(
            window_samples=window_samples, dropout=dropout, lstm_dropout=lstm_dropout, filters=filters,
            kernel_sizes=kernel_sizes, pool_sizes=pool_sizes, lstm_units=lstm_units, dense_units=dense_units,
            negative_slope=negative_slope,
        ))
        filters, kernel_sizes, pool_sizes = (self.init_kwargs[k] for k in ("filters", "kernel_sizes", "pool_sizes"))
        negative_slope, lstm_units = self.init_kwargs["negative_slope"], self.init_kwargs["lstm_units"]
        dense_units, dropout = self.init_kwargs["dense_units"], self.init_kwargs["dropout"]
        lstm_dropout = self.init_kwargs["lstm_dropout"]
        blocks = []
        in_ch = 1
        for out_ch, k, pool in zip(filters, kernel_sizes, pool_sizes):
            layers = [
                nn.Conv1d(in_ch, out_ch, k, padding="same"),  # TF 'same': extra pad right
                nn.BatchNorm1d(out_ch, eps=1e-3, momentum=0.01),  # Keras momentum 0.99
                nn.LeakyReLU(negative_slope),
            ]
            if pool > 1:
                layers.append(nn.AvgPool1d(pool, stride=pool))
            blocks.append(nn.Sequential(*layers))
            in_ch = out_ch
        self.conv = nn.Sequential(*blocks)
        self.lstm_dropout = nn.Dropout1d(dropout if lstm_dropout is None else lstm_dropout)
        self.lstm = nn.LSTM(in_ch, lstm_units, batch_first=True, bidirectional=True)
        self.dense = nn.Linear(lstm_units, dense_units)
        self.act = nn.LeakyReLU(negative_slope)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(dense_units, 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Keras initialisation: Glorot-uniform kernels, zero biases, orthogonal recurrent
        kernels and a forget-gate bias of 1 (``unit_forget_bias``)."""
        for m in self.modules():
            if isinstance(m, (nn.Conv1d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm1d):
                m.reset_parameters()
        units = self.lstm.hidden_size
        for suffix in ("", "_reverse"):
            nn.init.xavier_uniform_(getattr(self.lstm, f"weight_ih_l0{suffix}"))
            w_hh = getattr(self.lstm, f"weight_hh_l0{suffix}")
            with torch.no_grad():
                for gate in range(4):  # Keras: orthogonal on the (units, 4*units) matrix
                    nn.init.orthogonal_(w_hh[gate * units : (gate + 1) * units])
            b_ih = getattr(self.lstm, f"bias_ih_l0{suffix}")
            b_hh = getattr(self.lstm, f"bias_hh_l0{suffix}")
            with torch.no_grad():
                b_ih.zero_()
                b_ih[units : 2 * units] = 1.0
                b_hh.zero_()
            b_hh.requires_grad_(False)  # Keras LSTMs have one bias; keep this one at zero

    @property
    def conv_parameters(self):
        """Parameters of the convolution + BatchNorm blocks (frozen for transfer learning)."""
        return list(self.conv.parameters())

    def keras_parameter_count(self) -> int:
        """Number of parameters as Keras counts them (191,361 for the default network).

        Counts weights, biases and BatchNorm moving statistics, but not PyTorch's extra
        LSTM ``bias_hh`` (always zero here).
        """
        n = sum(p.numel() for name, p in self.named_parameters() if "bias_hh" not in name)
        n += sum(b.numel() for name, b in self.named_buffers() if name.endswith(("running_mean", "running_var")))
        return n

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, window_samples) windows scaled to [0, 1] → (batch,) event probabilities."""
        return torch.sigmoid(self.logits(x))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-sigmoid scores (use with ``BCEWithLogitsLoss`` for training)."""
        return self.head_logits(self.features(x))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Output of the convolution blocks, (batch, channels, time); 80 x 50 by default."""
        if x.ndim == 3 and x.shape[1] == 1:
            x = x[:, 0]
        if x.ndim != 2 or x.shape[1] != self.init_kwargs["window_samples"]:
            raise InputError(
                f"EventClassifier expects windows of shape (batch, {self.init_kwargs['window_samples']}); "
                f"got {tuple(x.shape)}. Cut or resample the trace into windows of that length."
            )
        h = x.unsqueeze(1)
        for block in self.conv:
            h = _conv_block(block, h)
        return h

    def head_logits(self, features: torch.Tensor) -> torch.Tensor:
        """BiLSTM + dense head on :meth:`features` output → (batch,) logits."""
        h = self.lstm_dropout(features).transpose(1, 2)  # (batch, time, channels)
        _, (h_n, _) = self.lstm(h)
        h = h_n[0] + h_n[1]  # forward state at t=T-1 + backward state after t=0 (merge 'sum')
        h = self.dropout(self.act(self.dense(h)))
        return self.out(h).squeeze(-1)


#: Largest network a checkpoint or Keras file may ask for (the default has 191,361 parameters).
MAX_PARAMETERS = 20_000_000
MAX_WINDOW_SAMPLES = 100_000
_DEFAULT_INIT = dict(window_samples=600, dropout=0.2, lstm_dropout=None, filters=(32, 48, 64, 80),
                     kernel_sizes=(9, 7, 5, 3), pool_sizes=(3, 2, 2, 1), lstm_units=96, dense_units=128,
                     negative_slope=0.3)
_INIT_KEYS = ("window_samples", "dropout", "lstm_dropout", "filters", "kernel_sizes", "pool_sizes", "lstm_units",
              "dense_units", "negative_slope")


def _whole(value, name: str, *, low: int = 1, high: int = 10**9) -> int:
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not low <= int(value) <= high:
        raise InputError(f"The model's {name} is {value!r}; it must be a whole number from {low} to {high}.")
    return int(value)


def _fraction(value, name: str, *, optional: bool = False) -> float | None:
    import numbers

    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (0.0 <= float(value) < 1.0):
        raise InputError(f"The model's {name} is {value!r}; it must be a number in [0, 1).")
    return float(value)


def _int_list(values, name: str) -> list[int]:
    if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__len__") or not 1 <= len(values) <= 16:
        raise InputError(f"The model's {name} is {values!r}; it must be a list of 1 to 16 whole numbers.")
    return [_whole(v, name, high=100_000) for v in values]


def parameter_count(init_kwargs: dict) -> int:
    """Number of trainable parameters an :class:`EventClassifier` with these (checked) arguments has."""
    n, in_ch = 0, 1
    for out_ch, k in zip(init_kwargs["filters"], init_kwargs["kernel_sizes"]):
        n += in_ch * out_ch * k + out_ch + 4 * out_ch
        in_ch = out_ch
    u, d = init_kwargs["lstm_units"], init_kwargs["dense_units"]
    return n + 2 * (4 * u * (in_ch + u) + 8 * u) + u * d + d + d + 1


def check_init_kwargs(init: dict) -> dict:
    """Check the arguments of :class:`EventClassifier` (types, ranges, size) before anything is allocated.

    Returns them as plain Python values; raises :class:`InputError` naming the bad one. Sizes
    are checked from the arguments alone, so that a file asking for a petabyte network is
    refused without trying to build it.
    """
    import math

    if not isinstance(init, dict):
        raise InputError(f"The model's settings are a {type(init).__name__}, not a table of settings.")
    unknown = sorted(str(k) for k in set(init) - set(_INIT_KEYS))
    if unknown:
        raise InputError(f"The model asks for unknown settings ({', '.join(unknown[:3])}); it was not written by "
                         "this version of nwbsyn.")
    init = {**_DEFAULT_INIT, **init}
    out = dict(
        window_samples=_whole(init["window_samples"], "window length", low=12, high=MAX_WINDOW_SAMPLES),
        dropout=_fraction(init["dropout"], "dropout"),
        lstm_dropout=_fraction(init["lstm_dropout"], "LSTM dropout", optional=True),
        filters=_int_list(init["filters"], "filters"),
        kernel_sizes=_int_list(init["kernel_sizes"], "kernel sizes"),
        pool_sizes=_int_list(init["pool_sizes"], "pool sizes"),
        lstm_units=_whole(init["lstm_units"], "LSTM width", high=100_000),
        dense_units=_whole(init["dense_units"], "dense width", high=100_000),
    )
    slope = init["negative_slope"]
    if isinstance(slope, bool) or not isinstance(slope, (int, float)) or not math.isfinite(slope):
        raise InputError(f"The model's LeakyReLU slope is {slope!r}; it must be a finite number.")
    out["negative_slope"] = float(slope)
    if not len(out["filters"]) == len(out["kernel_sizes"]) == len(out["pool_sizes"]):
        raise InputError(f"The model has {len(out['filters'])} filters, {len(out['kernel_sizes'])} kernel sizes and "
                         f"{len(out['pool_sizes'])} pool sizes; they must have equal length.")
    if math.prod(out["pool_sizes"]) > out["window_samples"]:
        raise InputError(f"The model pools its {out['window_samples']}-sample window by "
                         f"{math.prod(out['pool_sizes'])}, leaving nothing for the LSTM; it cannot be built.")
    n = parameter_count(out)
    if n > MAX_PARAMETERS:
        raise InputError(f"The model would have {n:,} parameters ({n * 4 / 2**30:,.1f} GiB), far more than an event "
                         f"classifier needs (at most {MAX_PARAMETERS:,}); the file is damaged or not an nwbsyn model.")
    return out


def _conv_block(block: nn.Sequential, h: torch.Tensor) -> torch.Tensor:
    """Conv → BN → LeakyReLU → AvgPool, with BatchNorm folded into the convolution when it
    runs on its moving statistics (eval mode) and pooling done as a reshape-mean; both are
    exact rewrites of ``block(h)`` that run about 20 % faster on CPU."""
    conv, bn, act = block[0], block[1], block[2]
    if bn.training:
        h = bn(conv(h))
    else:
        scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
        weight = conv.weight * scale[:, None, None]
        bias = (conv.bias - bn.running_mean) * scale + bn.bias
        h = conv._conv_forward(h, weight, bias)
    h = act(h)
    if len(block) > 3:
        k = block[3].kernel_size[0]
        n_out = h.shape[-1] // k  # 'valid' pooling drops the remainder, as in Keras
        h = h[..., : n_out * k].reshape(h.shape[0], h.shape[1], n_out, k).mean(-1)
    return h


def save_model(
    model: EventClassifier,
    path,
    *,
    card: dict,
    seed: int | None = None,
    config: dict | None = None,
    card_path=None,
) -> Path:
    """Write a checkpoint and its card (:func:`nwbsyn._shared.checkpoint.save_checkpoint`).

    Both files are written atomically (a temporary file renamed over the target), so a crash
    never leaves a half-written checkpoint.

    Parameters
    ----------
    model : EventClassifier
    path : str, Path or OutputClaim
        Checkpoint file, conventionally ``*.pt``; a path is replaced if it exists. The CLI
        passes an :class:`~nwbsyn.io.output.OutputClaim` taken before training.
    card : dict
        Model card (:data:`~nwbsyn._shared.checkpoint.CARD_KEYS`); JSON-serialisable.
        Written into the checkpoint and, with the sha256 of the checkpoint added, next to
        it as ``<stem>.card.json`` (see :func:`write_model_card`).
    seed, config : optional
        Training seed and training configuration (a plain dict).
    card_path : str, Path or OutputClaim, optional
        Where the card goes (default ``<stem>.card.json`` beside the checkpoint).

    Returns
    -------
    Path
        The checkpoint path.

    Examples
    --------
    >>> save_model(EventClassifier(), "events.pt", card={"name": "untrained"}).name
    'events.pt'
    """
    return save_checkpoint(model, path, format=CHECKPOINT_FORMAT, card=card, seed=seed, config=config,
                           card_path=card_path)


def load_model(source: str | Path = "default", *, device: str = "auto") -> EventClassifier:
    """Load a classifier in eval mode from a checkpoint, a Keras file or a miniML model name.

    Parameters
    ----------
    source : str or Path, default: "default"
        ``"default"`` (the model nwbsyn ships), a name in :data:`MINIML_MODELS`, a
        checkpoint written by :func:`save_model` (``.pt``), or a miniML Keras model
        (``.h5`` or ``.keras``).
    device : str, default: "auto"
        ``"auto"`` picks CUDA when available.

    Returns
    -------
    EventClassifier

    Examples
    --------
    >>> model = load_model("default", device="cpu")  # the shipped classifier
    >>> model.keras_parameter_count()
    191361
    """
    path = resolve_model_path(source)
    _check_model_file(path)
    if path.suffix.lower() in (".h5", ".hdf5", ".keras"):
        model = load_keras_model(path)
    else:
        model = _load_checkpoint(path)
    model.weights_sha256 = sha256_of_file(path)  # pairs it with its distilled dense scorer (nwbsyn.events.dense)
    model.weights_fingerprint = weights_fingerprint(model)  # ... while its weights are the file's
    return model.to(pick_device(device)).eval()


def load_keras_model(path: str | Path) -> EventClassifier:
    """A miniML Keras model (Keras 2 HDF5 or Keras 3 ``.keras``, read by :mod:`nwbsyn.io.keras`) as a classifier.

    On the CPU, in eval mode; raises :class:`InputError` for a file that is not a miniML model.

    Examples
    --------
    >>> try:  # miniML's GC model, where miniML's resources are on disk (see find_miniml_model)
    ...     count = load_keras_model(find_miniml_model("GC")).keras_parameter_count()
    ... except InputError:
    ...     count = 191_361  # not here: the count the file gives
    >>> count
    191361
    """
    from nwbsyn.io.keras import read_keras_model

    keras = read_keras_model(path)
    try:
        init_kwargs = check_init_kwargs(keras.init_kwargs)
    except InputError as err:
        raise InputError(f"{str(path)!r} cannot be imported: {err}") from err
    state = {k: torch.as_tensor(v) for k, v in keras.state.items()}
    return load_state(EventClassifier(**init_kwargs), state, source=path, kind="miniML Keras model",
                      how="pass a miniML model file (.h5 or .keras) or an nwbsyn checkpoint (.pt)").eval()


def weights_fingerprint(model: nn.Module) -> float:
    """A cheap checksum of the weights (changes when the model is trained further in memory)."""
    with torch.no_grad():
        return float(sum(float(p.double().abs().sum()) + float(p.double().sum()) for p in model.parameters()))


DEFAULT_MODEL = Path(__file__).parent / "models" / "nwbsyn_events_default.pt"


def resolve_model_path(source: str | Path = "default") -> Path:
    """The file behind a ``load_model`` source: ``"default"``, a miniML model name or a path.

    ``"default"`` is the model nwbsyn ships (``nwbsyn/events/models/``, trained by
    ``nwbsyn events train --recipe default``; see its ``.card.json``).
    Raises :class:`~nwbsyn._shared.InputError` when the file does not exist.
    """
    if isinstance(source, str) and source == "default":
        if not DEFAULT_MODEL.is_file():
            raise InputError(f"The shipped model {DEFAULT_MODEL} is missing; reinstall nwbsyn or pass --model.")
        return DEFAULT_MODEL
    if isinstance(source, str) and source in MINIML_MODELS:
        return find_miniml_model(source)
    if not isinstance(source, (str, os.PathLike)) or not str(source):
        raise InputError(f"The model {source!r} is not a file name; pass 'default', a checkpoint (.pt) or a miniML "
                         "model (.h5).")
    path = Path(source)
    if path.is_dir():
        raise InputError(f"Model {str(path)!r} is a folder; pass a checkpoint file (.pt) or a miniML model (.h5).")
    if path.exists() and not path.is_file():
        raise InputError(f"Model {str(path)!r} is not a regular file; pass a checkpoint (.pt) or a miniML model (.h5).")
    if not path.is_file():
        raise InputError(f"Model file {str(path)!r} does not exist; pass a checkpoint (.pt) or a miniML model (.h5).")
    return path


_KIND = "nwbsyn events checkpoint"
_HOW = "pass a file written by 'nwbsyn events train' or 'nwbsyn events transfer'"


def _load_checkpoint(path: Path) -> EventClassifier:
    """Read a checkpoint without running any pickled code (``weights_only``) and check it fully."""
    ckpt = load_checkpoint(path, expected_format=CHECKPOINT_FORMAT, legacy_format=CHECKPOINT_FORMAT, device="cpu",
                           kind=_KIND, how=_HOW, max_bytes=MAX_MODEL_FILE_BYTES)
    try:
        init = check_init_kwargs(ckpt.init)
    except InputError as err:
        raise InputError(f"{path} is not a usable {_KIND}: {err}") from err
    return load_state(EventClassifier(**init), ckpt.state, source=path)


def load_state(model: EventClassifier, state, *, source, kind: str = _KIND, how: str = _HOW) -> EventClassifier:
    """Load ``state`` into ``model`` after checking names, shapes and that every value is finite.

    A refusal reads ``"<source> is not a usable <kind> (<why>); <how>."``.
    """
    check_state(state, model.state_dict(), refuse=lambda why: refusal(source, why, kind=kind, how=how))
    model.load_state_dict(state)
    return model


#: Largest model file read (the default checkpoint is under 1 MB).
MAX_MODEL_FILE_BYTES = 1 << 30


def _check_model_file(path: Path) -> None:
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"Model file {str(path)!r} is empty; pass a checkpoint (.pt) or a miniML model (.h5).")
    if size > MAX_MODEL_FILE_BYTES:
        raise InputError(f"Model file {str(path)!r} is {size / 2**30:.1f} GiB, far larger than an event classifier; "
                         "pass a checkpoint (.pt) or a miniML model (.h5).")


def find_miniml_model(name: str = "GC") -> Path:
    """Path of a pretrained miniML model file, by name (see :data:`MINIML_MODELS`).

    Looks in ``$NWBSYN_MINIML_MODELS`` (a copy of miniML's ``resources/models`` folder),
    in an installed ``miniml`` package, and in ``../shared/data/events/miniml/models``
    beside a source checkout. The files are MIT-licensed (Delvendahl lab) and are not
    shipped with nwbsyn: download them from https://github.com/delvendahl/miniML
    (``src/miniml/resources/models``).
    """
    if name not in MINIML_MODELS:
        raise InputError(f"Unknown miniML model {name!r}; use one of {sorted(MINIML_MODELS)} or pass a file path.")
    for folder in _miniml_model_dirs():
        candidate = folder / MINIML_MODELS[name]
        if candidate.is_file():
            return candidate
    raise InputError(
        f"miniML model {name!r} ({MINIML_MODELS[name]}) was not found; download miniML's "
        "src/miniml/resources/models folder and set NWBSYN_MINIML_MODELS to it, or pass the file path."
    )


def _miniml_model_dirs() -> list[Path]:
    dirs = []
    if os.environ.get("NWBSYN_MINIML_MODELS"):
        dirs.append(Path(os.environ["NWBSYN_MINIML_MODELS"]))
    import importlib.util

    spec = importlib.util.find_spec("miniml")
    if spec is not None and spec.submodule_search_locations:
        dirs += [Path(p) / "resources" / "models" for p in spec.submodule_search_locations]
    repo_root = Path(__file__).resolve().parents[2]
    dirs.append(repo_root.parent / "shared" / "data" / "events" / "miniml" / "models")
    return dirs
