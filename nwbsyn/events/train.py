"""Training of the miniML event classifier: from scratch or by transfer learning.

miniML trains its classifier on labelled 600-sample windows (1 = the window holds an
event, 0 = it does not), min-max scaled per window, with binary cross-entropy, Adam with
AMSGrad, batch 128 and early stopping on a 25 % validation split. Transfer learning
freezes the convolution + BatchNorm blocks and retrains the BiLSTM and dense layers with
dropout 0.5. The training data (simulated windows, the shipped model's recipe) is made in
:mod:`nwbsyn.events.training_data`.
"""

from __future__ import annotations

import copy
import platform
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from nwbsyn._shared import InputError, pick_device
from nwbsyn.io.miniml import (  # noqa: F401  (part of this module's API)
    MAX_TRAINING_BYTES,
    TrainingWindows,
    load_training_windows,
    read_training_files,
    save_training_windows,
)
from nwbsyn.events.training_data import (  # noqa: F401  (part of this module's API)
    DEFAULT_RECIPE,
    N_BED_WINDOWS,
    default_training_windows,
    make_training_windows,
)

__all__ = [
    "TrainConfig",
    "TrainResult",
    "fit",
    "prepare_windows",
    "load_training_windows",
    "read_training_files",
    "save_training_windows",
    "TrainingWindows",
    "make_training_windows",
    "DEFAULT_RECIPE",
    "default_training_windows",
]


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of :func:`fit` (saved in the checkpoint).

    Parameters
    ----------
    learning_rate : float, default: 1e-3
        Adam step size. miniML uses 2e-5 (with ~30,000 windows and many epochs). Measured
        here from scratch on 3,000 simulated windows (``make_training_windows``, rng 1),
        12 epochs, batch 128, accuracy on 1,000 held-out windows: 2e-5 → 0.908 (still
        rising), 2e-4 → 0.984, 1e-3 → 0.985 (settled by epoch 3-4), 3e-3 → 0.980 (noisier
        validation loss). Transfer learning from the GC model (``freeze_conv``) on 400
        simulated slow events (rise 0.5 ms, decay 4.5 ms; GC model alone: 0.607): 2e-5 →
        0.926 after 30 epochs, 2e-4 → 0.969, 1e-3 → 0.971 (best epoch 4). Pass 2e-5 to
        reproduce miniML exactly.
    amsgrad : bool, default: True
        AMSGrad variant of Adam, as in miniML.
    batch_size : int, default: 128
    max_epochs : int, default: 100
    patience : int, default: 8
        Early stopping: epochs without a lower validation loss before training stops.
        The weights of the best epoch are kept.
    validation_fraction : float, default: 0.25
        Stratified hold-out share used for early stopping.
    dropout : float or None, default: None
        Dropout of the LSTM inputs and of the dense layer; None: 0.2 when training from
        scratch, 0.5 with ``freeze_conv`` (miniML's transfer-learning setting).
    window_samples : int, default: 600
        Windows of another length are resampled to this length.
    recalibrate_bn : bool, default: True
        Before each validation, recompute the BatchNorm moving statistics as the exact
        mean over up to ``recalibration_windows`` training windows. Keras (and miniML)
        keep an exponential average with momentum 0.99, which needs hundreds of batches
        to settle: on a few hundred windows it leaves validation at chance level.
    recalibration_windows : int, default: 4096
    device : str, default: "auto"
    seed : int, default: 0
        Seeds the validation split, the batch order, the initial weights and dropout; the
        ``seed`` argument of :func:`fit` overrides it. ``learning_rate``, ``max_epochs``,
        ``seed`` and ``device`` mean the same in the partners and connectivity ``TrainConfig``.
    """

    learning_rate: float = 1e-3
    amsgrad: bool = True
    batch_size: int = 128
    max_epochs: int = 100
    patience: int = 8
    validation_fraction: float = 0.25
    dropout: float | None = None
    window_samples: int = 600
    recalibrate_bn: bool = True
    recalibration_windows: int = 4096
    device: str = "auto"
    seed: int = 0

    def __post_init__(self):
        checks = {
            "learning_rate": self.learning_rate > 0,
            "batch_size": self.batch_size >= 2,
            "max_epochs": self.max_epochs >= 1,
            "patience": self.patience >= 1,
            "validation_fraction": 0 < self.validation_fraction < 1,
            "dropout": self.dropout is None or 0 <= self.dropout < 1,
            "window_samples": self.window_samples >= 12,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise InputError(f"TrainConfig has invalid {bad[0]}={getattr(self, bad[0])!r}; see the TrainConfig "
                             "docstring for valid ranges.")


@dataclass(frozen=True)
class TrainResult:
    """Outcome of :func:`fit`: the best model (eval mode, on CPU) and its history."""

    model: object  # EventClassifier (torch is imported lazily)
    history: tuple  # one dict per epoch: epoch, train_loss, train_accuracy, val_loss, val_accuracy
    best_epoch: int
    best_val_loss: float
    best_val_accuracy: float
    seed: int
    config: TrainConfig
    card: dict = field(default_factory=dict)
    checkpoint: Path | None = None


def fit(
    windows: np.ndarray,
    labels: np.ndarray,
    *,
    config: TrainConfig | None = None,
    seed: int | None = None,
    init_from=None,
    freeze_conv: bool = False,
    checkpoint=None,
    card_path=None,
    name: str = "events-classifier",
    data_description: str = "",
    command: str | None = None,
    progress_bar: bool = True,
) -> TrainResult:
    """Train an :class:`~nwbsyn.events.model.EventClassifier` on labelled windows.

    Parameters
    ----------
    windows : (n_windows, n_samples) array
        Trace snippets with events going downward (invert positive-going data first).
        Each is min-max scaled, and resampled when ``n_samples != config.window_samples``.
    labels : (n_windows,) array of 0/1
        1 when the window holds an event.
    config : TrainConfig, optional
    seed : int, optional
        Seeds the validation split, the batch order, the initial weights and dropout
        (default: ``config.seed``); recorded in the returned config.
    init_from : None, str, Path or EventClassifier
        Start from these weights ("default", a miniML model name, a checkpoint or a Keras
        file; see :func:`~nwbsyn.events.model.load_model`) instead of a random network.
    freeze_conv : bool, default: False
        Transfer learning: keep the convolution + BatchNorm blocks (weights and moving
        statistics) fixed and train only the BiLSTM and dense layers.
    checkpoint : str, Path or OutputClaim, optional
        Where to save the best model (plus ``<stem>.card.json``); the CLI passes a claim
        taken before training, so that a bad output path fails at once.
    card_path : str, Path or OutputClaim, optional
        Where the model card goes (default ``<stem>.card.json`` beside the checkpoint).
    name, data_description, command : str
        Recorded in the model card.
    progress_bar : bool, default: True

    Returns
    -------
    TrainResult

    Examples
    --------
    >>> import os, tempfile
    >>> from nwbsyn.events.simulate import simulate_windows
    >>> tw = simulate_windows(256, rng=0)  # or load_training_windows("scored_windows.h5"), miniML's format
    >>> res = fit(tw.windows, tw.labels, config=TrainConfig(max_epochs=1), seed=0, init_from="default",
    ...           freeze_conv=True, checkpoint=os.path.join(tempfile.mkdtemp(), "my_cells.pt"), progress_bar=False)
    >>> res.best_val_accuracy > 0.9, res.checkpoint.name
    (True, 'my_cells.pt')
    """
    import torch

    config = config or TrainConfig()
    seed = config.seed if seed is None else seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise InputError(f"The seed (--seed) must be a whole number from 0 to 4294967295; got {seed!r}.")
    seed = int(seed)
    config = replace(config, seed=seed)
    x, y = _check_data(windows, labels, config)
    rng = np.random.default_rng(seed)
    train_idx, val_idx = _split(y, config.validation_fraction, rng)
    recal_idx = np.sort(rng.permutation(train_idx)[: config.recalibration_windows])
    torch.manual_seed(seed)
    device = pick_device(config.device)
    dropout = config.dropout if config.dropout is not None else (0.5 if freeze_conv else 0.2)
    model = _initial_model(init_from, dropout=dropout, window_samples=config.window_samples).to(device)
    if freeze_conv:
        for p in model.conv.parameters():
            p.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=config.learning_rate, amsgrad=config.amsgrad)
    x_t, y_t = torch.as_tensor(x), torch.as_tensor(y, dtype=torch.float32)
    if freeze_conv:  # the frozen blocks are deterministic: compute their output once
        model.conv.eval()
        x_t = _batched(model.features, x_t, device, 512)
    step = model.head_logits if freeze_conv else model.logits
    gen = torch.Generator().manual_seed(seed)
    history, best_state, best, wait = [], None, (np.inf, 0.0, 0), 0
    bar = tqdm(range(1, config.max_epochs + 1), desc="fit", unit="epoch", disable=not progress_bar)
    for epoch in bar:
        model.train()
        if freeze_conv:
            model.conv.eval()  # BatchNorm keeps its moving statistics
        order = torch.as_tensor(train_idx)[torch.randperm(len(train_idx), generator=gen)]
        train_loss, train_acc = _train_epoch(step, opt, x_t, y_t, order, config.batch_size, device, not freeze_conv)
        if config.recalibrate_bn and not freeze_conv:
            _recalibrate_bn(model, x_t[recal_idx], device)
        val_loss, val_acc = _evaluate(model, step, x_t[val_idx], y_t[val_idx], device)
        history.append(dict(epoch=epoch, train_loss=train_loss, train_accuracy=train_acc, val_loss=val_loss,
                            val_accuracy=val_acc))
        bar.set_postfix(val_loss=f"{val_loss:.4f}", val_acc=f"{val_acc:.3f}")
        if val_loss < best[0]:
            best, wait = (val_loss, val_acc, epoch), 0
            best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
        else:
            wait += 1
            if wait >= config.patience:
                break
    model = model.cpu()
    if best_state is None:  # validation loss was never finite
        raise InputError("Validation loss was not finite in any epoch; check the windows for NaN/inf or lower the "
                         "learning rate (--learning-rate).")
    model.load_state_dict(best_state)
    model.eval()
    card = _card(name, model, config, seed, init_from, freeze_conv, dropout, y, train_idx, val_idx, best, history,
                 data_description, command)
    ckpt_path = None
    if checkpoint is not None:
        from nwbsyn.events.model import save_model

        ckpt_path = save_model(model, checkpoint, card=card, seed=seed, config=asdict(config), card_path=card_path)
    return TrainResult(
        model=model, history=tuple(history), best_epoch=best[2], best_val_loss=float(best[0]),
        best_val_accuracy=float(best[1]), seed=seed, config=config, card=card, checkpoint=ckpt_path,
    )


def _train_epoch(step, opt, x, y, order, batch_size: int, device, needs_pairs: bool) -> tuple[float, float]:
    """One pass over ``order``; returns the mean training loss and accuracy."""
    import torch

    tot_loss, tot_correct, n_seen = 0.0, 0, 0
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        if len(idx) < 2 and needs_pairs:
            continue  # BatchNorm in training mode needs two windows
        xb, yb = x[idx].to(device), y[idx].to(device)
        logits = step(xb)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        tot_loss += loss.item() * len(idx)
        tot_correct += int(((logits > 0) == (yb > 0.5)).sum())
        n_seen += len(idx)
    return tot_loss / max(n_seen, 1), tot_correct / max(n_seen, 1)


def _check_data(windows, labels, config: TrainConfig):
    x = prepare_windows(windows, window_samples=config.window_samples)
    y = np.asarray(labels)
    if y.shape != (len(x),):
        raise InputError(f"labels has shape {y.shape}; it needs one 0/1 label per window, i.e. shape ({len(x)},).")
    if not np.isin(y, (0, 1)).all():
        bad = sorted(set(np.unique(y).tolist()) - {0, 1})
        raise InputError(f"labels holds values {bad[:5]}; use 1 for 'event' and 0 for 'no event' (re-score or drop label 2).")
    counts = np.bincount(y.astype(int), minlength=2)
    if counts.min() < 2:
        raise InputError(f"The training windows hold {counts[1]} labelled 'event' and {counts[0]} 'no event'; training "
                         "needs at least 2 of each.")
    return x, y.astype(np.float32)


def _split(y: np.ndarray, fraction: float, rng: np.random.Generator):
    """Stratified random split: the same share of each class goes to validation."""
    train, val = [], []
    for cls in (0, 1):
        idx = rng.permutation(np.flatnonzero(y == cls))
        n_val = min(max(1, int(round(fraction * len(idx)))), len(idx) - 1)
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def _initial_model(init_from, *, dropout: float, window_samples: int):
    from nwbsyn.events.model import EventClassifier, load_model

    if init_from is None:
        return EventClassifier(window_samples=window_samples, dropout=dropout)
    source = init_from if isinstance(init_from, EventClassifier) else load_model(init_from, device="cpu")
    if source.init_kwargs["window_samples"] != window_samples:
        raise InputError(
            f"init_from expects {source.init_kwargs['window_samples']}-sample windows but config.window_samples is "
            f"{window_samples}; set TrainConfig(window_samples={source.init_kwargs['window_samples']})."
        )
    model = EventClassifier(**{**source.init_kwargs, "dropout": dropout, "lstm_dropout": dropout})
    model.load_state_dict(source.state_dict())
    return model


def _recalibrate_bn(model, x, device) -> None:
    """Recompute the BatchNorm moving statistics for the current weights (exact average
    over ``x``), instead of the slow exponential average (Keras momentum 0.99)."""
    import torch

    bns = [m for m in model.conv.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average
    model.conv.train()
    with torch.no_grad():
        for i in range(0, len(x), 256):
            model.features(x[i : i + 256].to(device))
    for bn in bns:
        bn.momentum = 0.01


def _batched(fn, x, device, batch_size: int):
    import torch

    with torch.no_grad():
        return torch.cat([fn(x[i : i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)])


def _evaluate(model, step, x, y, device) -> tuple[float, float]:
    import torch

    model.eval()
    logits = _batched(step, x, device, 512)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y).item()
    return float(loss), float(((logits > 0) == (y > 0.5)).float().mean())


def _card(name, model, config, seed, init_from, freeze_conv, dropout, y, train_idx, val_idx, best, history, description,
          command):
    import torch

    init_name, init_sha = None, None
    if isinstance(init_from, (str, Path)):
        from nwbsyn._shared import sha256_of_file
        from nwbsyn.events.model import resolve_model_path

        init_name, init_sha = str(init_from), sha256_of_file(resolve_model_path(init_from))
    elif init_from is not None:
        init_name = "EventClassifier instance"
    return {
        "name": name,
        "architecture": "miniML CNN-BiLSTM window classifier (nwbsyn.events.model.EventClassifier)",
        "init_kwargs": dict(model.init_kwargs),
        "n_parameters_keras": model.keras_parameter_count(),
        "training_recipe": {
            "command": command,
            "data_description": description,
            "n_windows": int(len(y)),
            "n_events": int(y.sum()),
            "n_train": int(len(train_idx)),
            "n_validation": int(len(val_idx)),
            "preprocessing": f"min-max scaled per window; resampled to {config.window_samples} samples if needed",
            "init_from": init_name,
            "init_from_sha256": init_sha,
            "freeze_conv": bool(freeze_conv),
            "dropout": float(dropout),
            "config": asdict(config),
        },
        "metrics": {
            "best_epoch": int(best[2]),
            "best_val_loss": float(best[0]),
            "best_val_accuracy": float(best[1]),
            "epochs_run": len(history),
        },
        "seed": int(seed),
        "software": {"torch": torch.__version__, "python": platform.python_version()},
    }


# -- training windows ---------------------------------------------------------------------


def prepare_windows(windows: np.ndarray, *, window_samples: int = 600) -> np.ndarray:
    """Resample windows to ``window_samples`` and min-max scale each one to [0, 1].

    Resampling uses a polyphase anti-aliasing filter (:func:`scipy.signal.resample_poly`,
    edges padded by a fitted line), so a 3000-sample window at 250 kHz becomes the 600
    samples the model expects. Flat windows become all zeros.

    Returns
    -------
    (n_windows, window_samples) float32 array
    """
    x = np.asarray(windows, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] < 2:
        raise InputError(f"windows has shape {x.shape}; pass a 2-D array (n_windows, n_samples) with at least one window.")
    if not np.isfinite(x).all():
        raise InputError("windows contains NaN or inf; drop or repair those windows first.")
    if x.shape[1] != window_samples:
        from math import gcd

        from scipy.signal import resample_poly

        g = gcd(window_samples, x.shape[1])
        x = resample_poly(x, window_samples // g, x.shape[1] // g, axis=1, padtype="line")
    lo = x.min(axis=1, keepdims=True)
    span = x.max(axis=1, keepdims=True) - lo
    return ((x - lo) / np.where(span > 0, span, 1.0)).astype(np.float32)
