"""The miniML event classifier (CNN + bidirectional LSTM) in PyTorch, and its checkpoints.

The network reproduces miniML's Keras model layer for layer (O'Neill et al., eLife 2025;
``GC_lstm_model.h5``): four Conv1D → BatchNorm → LeakyReLU(0.3) blocks with average
pooling, a bidirectional LSTM whose two directions are summed, and a small dense head.
It scores one window of a trace (min-max scaled to [0, 1]) with P(window holds an event).

Checkpoints are plain ``torch.save`` dicts of tensors and Python values (``init``,
``state``, ``seed``, ``config``, ``card``) and are read with ``weights_only=True``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import nn

from nwbsyn._shared import InputError, pick_device, sha256_of_file

__all__ = [
    "EventClassifier",
    "load_model",
    "resolve_model_path",
    "save_model",
    "write_model_card",
    "find_miniml_model",
    "MINIML_MODELS",
    "CHECKPOINT_FORMAT",
]

CHECKPOINT_FORMAT = "nwbsyn.events.EventClassifier/1"

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
        if not len(filters) == len(kernel_sizes) == len(pool_sizes):
            raise InputError(
                f"filters, kernel_sizes and pool_sizes must have equal length; got "
                f"{len(filters)}, {len(kernel_sizes)} and {len(pool_sizes)}."
            )
        self.init_kwargs = dict(
            window_samples=int(window_samples),
            dropout=float(dropout),
            lstm_dropout=None if lstm_dropout is None else float(lstm_dropout),
            filters=[int(f) for f in filters],
            kernel_sizes=[int(k) for k in kernel_sizes],
            pool_sizes=[int(p) for p in pool_sizes],
            lstm_units=int(lstm_units),
            dense_units=int(dense_units),
            negative_slope=float(negative_slope),
        )
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
    path: str | Path,
    *,
    card: dict,
    seed: int | None = None,
    config: dict | None = None,
) -> Path:
    """Write a checkpoint (``init``, ``state``, ``seed``, ``config``, ``card``) and its card.

    Parameters
    ----------
    model : EventClassifier
    path : str or Path
        Checkpoint file, conventionally ``*.pt``.
    card : dict
        Model card (name, architecture, training data, metrics, ...); JSON-serialisable.
        Written into the checkpoint and, with the sha256 of the checkpoint added, next to
        it as ``<stem>.card.json`` (see :func:`write_model_card`).
    seed, config : optional
        Training seed and training configuration (a plain dict).

    Returns
    -------
    Path
        The checkpoint path.

    Examples
    --------
    >>> save_model(EventClassifier(), "events.pt", card={"name": "untrained"})  # doctest: +SKIP
    """
    path = Path(path)
    card = _plain(card)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    ckpt = {
        "format": CHECKPOINT_FORMAT,
        "init": dict(model.init_kwargs),
        "state": state,
        "seed": seed,
        "config": _plain(config) if config is not None else None,
        "card": card,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ckpt, path)
    write_model_card(card, path)
    return path


def write_model_card(card: dict, weights_path: str | Path) -> Path:
    """Write ``card`` as JSON next to ``weights_path``, adding the file's sha256.

    Returns the path of the JSON file (``<stem>.card.json``).
    """
    weights_path = Path(weights_path)
    if not weights_path.is_file():
        raise InputError(f"Weights file {str(weights_path)!r} does not exist; save the model before its card.")
    out = dict(_plain(card))
    out["weights_file"] = weights_path.name
    out["weights_sha256"] = sha256_of_file(weights_path)
    card_path = weights_path.with_name(weights_path.stem + ".card.json")
    card_path.write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")
    return card_path


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
    >>> model = load_model("events.pt", device="cpu")  # doctest: +SKIP
    """
    path = resolve_model_path(source)
    if path.suffix.lower() in (".h5", ".hdf5", ".keras"):
        from nwbsyn.events.keras import load_keras_model

        model = load_keras_model(path)
    else:
        model = _load_checkpoint(path)
    return model.to(pick_device(device)).eval()


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
    path = Path(source)
    if not path.is_file():
        raise InputError(f"Model file {str(path)!r} does not exist; pass a checkpoint (.pt) or a miniML model (.h5).")
    return path


def _load_checkpoint(path: Path) -> EventClassifier:
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle / zip errors: not a checkpoint we can read safely
        raise InputError(
            f"{str(path)!r} is not a readable nwbsyn events checkpoint ({type(err).__name__}); "
            "pass a file written by nwbsyn.events.train.fit or save_model."
        ) from err
    if not isinstance(ckpt, dict) or "init" not in ckpt or "state" not in ckpt:
        raise InputError(f"{str(path)!r} holds no 'init'/'state' entries; pass a file written by save_model.")
    model = EventClassifier(**ckpt["init"])
    model.load_state_dict(ckpt["state"])
    return model


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


def _plain(obj):
    """A copy of ``obj`` made only of dict/list/str/int/float/bool/None (JSON and weights_only safe)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
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
