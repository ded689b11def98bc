"""Training of :class:`~nwbsyn.connectivity.model.SynapsNet` on one or more sessions."""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from nwbsyn._shared import InputError, pick_device
from nwbsyn.connectivity._checks import check_activity, check_behavior

__all__ = ["TrainConfig", "PreparedSession", "TrainedModel", "prepare_session", "fit", "save_checkpoint",
           "load_checkpoint", "read_checkpoint", "build_model", "min_steps", "check_fit_options", "CHECKPOINT_FORMAT"]

LOSSES = ("poisson", "mse")


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of a SynapsNet fit (saved in the checkpoint).

    ``l1`` is the Laplace-prior weight on ``A``: the objective is the mean loss per
    sample plus ``l1 / n_train_steps * mean_i sum_k |A[i, k]|``, so its strength does
    not depend on the recording length. ``loss="poisson"`` expects counts (``link``
    softplus, input centred, targets raw counts); ``"mse"`` centres and scales the
    activity (``link`` identity). ``scaling``: ``"global"`` divides every neuron by the
    same number (the mean standard deviation, keeps weights comparable across neurons,
    default for MSE), ``"neuron"`` z-scores each neuron, ``"none"`` (default for Poisson).
    ``deconvolve=True`` builds the input current from ``x(t) - gamma x(t-1)`` with a
    learned ``gamma`` (for slow indicators such as calcium; see the model docstring).
    An "epoch" (one validation check for early stopping and the learning-rate decay)
    is one pass over the training chunks or ``samples_per_epoch`` (time x neuron)
    predictions, whichever is fewer, so large recordings are checked often enough.
    ``learning_rate`` is the Adam step of the decoder and embeddings, ``learning_rate_adjacency``
    that of ``A``; ``learning_rate``, ``max_epochs`` and ``device`` mean what they mean in the other
    analyses, as ``seed`` does. Files written before these names (``lr``, ``lr_adjacency``) are read
    with them renamed.
    """

    loss: str = "poisson"
    context_steps: int = 10
    embedding_dim: int = 8
    hidden_dim: int = 32
    n_layers: int = 2
    link: str = "auto"
    scaling: str = "auto"
    deconvolve: bool = False
    l1: float = 10.0
    learning_rate: float = 3e-3
    learning_rate_adjacency: float = 1e-2
    chunk_steps: int = 256
    max_epochs: int = 200
    patience: int = 6
    min_rel_improvement: float = 1e-4
    samples_per_epoch: int = 2_000_000
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    max_time_s: float | None = None
    device: str = "auto"  # used where fit() is given no device
    seed: int = 0  # used where fit() is given no seed

    def resolved_link(self) -> str:
        if self.link != "auto":
            return self.link
        return "softplus" if self.loss == "poisson" else "identity"


@dataclass(frozen=True)
class PreparedSession:
    """One session, normalised and split chronologically into train / val / test.

    ``x`` is the normalised model input ``(activity - mean) / scale``; ``y`` the target
    (raw counts for the Poisson loss, ``x`` for MSE). ``bounds = (n_train, n_train_val)``:
    targets ``[0, n_train)`` train, ``[n_train, n_train_val)`` validate, the rest test.
    """

    x: np.ndarray
    y: np.ndarray
    behavior: np.ndarray | None
    mean: np.ndarray
    scale: np.ndarray
    bounds: tuple[int, int]
    target_offset: np.ndarray | None = None  # y = (activity - target_offset) / scale for MSE


@dataclass
class TrainedModel:
    """A fitted model with what is needed to use it again."""

    model: object  # SynapsNet
    config: TrainConfig
    sessions: list[PreparedSession]
    history: dict = field(default_factory=dict)
    seed: int = 0


def prepare_session(activity, behavior=None, *, config: TrainConfig = TrainConfig()) -> PreparedSession:
    """Check, normalise and split one session (see :class:`PreparedSession`)."""
    if config.loss not in LOSSES:
        raise InputError(f"loss must be one of {LOSSES}; got {config.loss!r}.")
    x = check_activity(activity, min_steps=1)
    x = check_activity(x, min_steps=min_steps(config))
    b = check_behavior(behavior, len(x))
    if config.loss == "poisson" and np.any(x < 0):
        raise InputError("activity has negative values but loss='poisson' expects spike counts; use loss='mse'.")
    n = len(x)
    n_train = int(round(n * (1 - config.val_fraction - config.test_fraction)))
    n_val = int(round(n * (1 - config.test_fraction)))
    mean = x[:n_train].mean(axis=0)  # normalisation from the training split only
    scaling = config.scaling if config.scaling != "auto" else "none" if config.loss == "poisson" else "global"
    sd = x[:n_train].std(axis=0)
    if scaling == "neuron":
        scale = np.where(sd > 0, sd, 1.0)
    elif scaling == "global":
        scale = np.full_like(mean, sd.mean() if sd.mean() > 0 else 1.0)
    elif scaling == "none":
        scale = np.ones_like(mean)
    else:
        raise InputError(f"scaling must be 'auto', 'global', 'neuron' or 'none'; got {config.scaling!r}.")
    # targets: raw counts (Poisson); for MSE scaled, and centred unless the link is positive (softplus/exp)
    offset = mean if config.loss == "mse" and config.resolved_link() == "identity" else np.zeros_like(mean)
    y = x if config.loss == "poisson" else (x - offset) / scale
    xn = (x - mean) / scale
    if b is not None:
        b_sd = b[:n_train].std(axis=0)
        b = (b - b[:n_train].mean(axis=0)) / np.where(b_sd > 0, b_sd, 1.0)
    return PreparedSession(xn.astype(np.float32), y.astype(np.float32),
                           None if b is None else b.astype(np.float32), mean, scale, (n_train, n_val), offset)


def min_steps(config: TrainConfig) -> int:
    """Fewest time steps a session needs for the context window and the chronological split."""
    c = config.context_steps
    n_min = int(np.ceil((c + 10) / max(min(config.val_fraction, config.test_fraction, 1 - config.val_fraction
                                           - config.test_fraction), 1e-3)))
    return max(n_min, 3 * c + 30)


def check_fit_options(config: TrainConfig, *, seed) -> None:
    """Refuse a seed or epoch count that cannot run (CLI spellings in the messages)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < 2 ** 32:
        raise InputError(f"The seed must be an integer from 0 to 4294967295 (CLI: --seed); got {seed}.")
    if isinstance(config.max_epochs, bool) or not isinstance(config.max_epochs, (int, np.integer)) \
            or config.max_epochs < 1:
        raise InputError(f"max_epochs must be at least 1 (CLI: --max-epochs); got {config.max_epochs}.")


def _start_from(model, init_from) -> None:
    """Copy the shared decoder and kernel of a checkpoint into ``model`` (architectures must match)."""
    ckpt = read_checkpoint(init_from) if not isinstance(init_from, dict) else init_from
    ours = {k: v for k, v in model.state_dict().items() if not k.startswith(("adjacency.", "embeddings."))}
    theirs = {k: v for k, v in ckpt["state"].items() if not k.startswith(("adjacency.", "embeddings."))}
    mismatch = sorted(k for k in set(ours) | set(theirs)
                      if k not in ours or k not in theirs or tuple(ours[k].shape) != tuple(theirs[k].shape))
    if mismatch:
        raise InputError(f"The starting model's decoder does not fit this data ({mismatch[0]} differs: another "
                         "number of behaviour features or another architecture); start from a model fitted "
                         "with the same --behavior, or fit without it (--no-behavior).")
    model.load_state_dict(theirs, strict=False)


def _chunks(lo: int, hi: int, c: int, chunk: int) -> list[tuple[int, int]]:
    """Input slices [s, e) whose predictions target steps s + c .. e (all in [lo, hi))."""
    out = []
    first = max(lo, c)
    for t0 in range(first, hi, chunk):
        t1 = min(t0 + chunk, hi)
        out.append((t0 - c, t1 - 1))  # input rows; predictions target t0 .. t1 - 1
    return out


def _loss_fn(loss: str):
    import torch

    if loss == "poisson":
        return lambda pred, y: (pred - y * torch.log(pred + 1e-6)).mean()
    return lambda pred, y: ((pred - y) ** 2).mean()


def _evaluate(model, sessions, tensors, which: int, loss_fn, c: int, chunk: int) -> float:
    import torch

    total, count = 0.0, 0
    with torch.no_grad():
        for s, (sess, (x, y, b)) in enumerate(zip(sessions, tensors)):
            lo, hi = (0, sess.bounds[0]) if which == 0 else (sess.bounds[0], sess.bounds[1])
            for i0, i1 in _chunks(lo, hi, c, chunk * 4):
                pred = model(s, x[i0:i1], None if b is None else b[i0:i1])
                n_el = pred.numel()
                total += float(loss_fn(pred, y[i0 + c: i1 + 1])) * n_el
                count += n_el
    return total / max(count, 1)


def fit(
    activity: list[np.ndarray] | np.ndarray,
    *,
    behavior: list[np.ndarray | None] | np.ndarray | None = None,
    config: TrainConfig = TrainConfig(),
    seed: int | None = None,
    device: str | None = None,
    checkpoint: str | Path | None = None,
    init_from: str | Path | dict | None = None,
    progress_bar: bool = True,
) -> TrainedModel:
    """Train one SynapsNet on one or more sessions (each its own ``A`` and embeddings).

    Parameters
    ----------
    activity : (T, N) array or list of them
        One array per session (time, neurons); sessions may differ in T and N.
    behavior : (T, B) array, list of them, or None
        Behaviour per session; B must be the same for every session.
    config : TrainConfig
    seed : int, optional
        Seeds torch and the chunk order; the same seed gives the same fit (default: ``config.seed``).
    device : str, optional
        Torch device (default: ``config.device``, ``"auto"``).
    checkpoint : str or Path, optional
        Where to save the best model (see :func:`save_checkpoint`).
    init_from : str, Path or dict, optional
        A checkpoint of an earlier fit (or its dict from :func:`read_checkpoint`): the shared
        decoder and temporal kernel start from its weights (transfer to a new session); each
        session still gets its own adjacency and embeddings. Its architecture is used.

    Returns
    -------
    TrainedModel

    Examples
    --------
    >>> from nwbsyn.connectivity import simulate_network
    >>> sim = simulate_network(n_neurons=8, n_steps=2000, observation="rate", rng=0)
    >>> tm = fit(sim.activity, config=TrainConfig(loss="mse", max_epochs=2), progress_bar=False)
    >>> tuple(tm.model.adjacency[0].shape), tm.config.max_epochs  # one adjacency per session
    ((8, 8), 2)
    """
    import torch

    from nwbsyn.connectivity.model import SynapsNet

    acts = [activity] if isinstance(activity, np.ndarray) else list(activity)
    if not acts:
        raise InputError("activity is an empty list; pass at least one (time, neurons) array.")
    behs = behavior if isinstance(behavior, list) else [behavior] * len(acts) if behavior is None else [behavior]
    if len(behs) != len(acts):
        raise InputError(f"behavior has {len(behs)} sessions but activity has {len(acts)}; pass one per session.")
    sessions = [prepare_session(a, b, config=config) for a, b in zip(acts, behs)]
    n_beh = {0 if s.behavior is None else s.behavior.shape[1] for s in sessions}
    if len(n_beh) > 1:
        raise InputError(f"behavior must have the same number of features in every session; got {sorted(n_beh)}.")
    seed = config.seed if seed is None else seed
    check_fit_options(config, seed=seed)
    config = replace(config, seed=int(seed))
    device = pick_device(config.device if device is None else device)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    c = config.context_steps
    model = SynapsNet([s.x.shape[1] for s in sessions], n_behavior=n_beh.pop(), context_steps=c,
                      embedding_dim=config.embedding_dim, hidden_dim=config.hidden_dim,
                      n_layers=config.n_layers, link=config.resolved_link(),
                      deconvolve=config.deconvolve)
    if init_from is not None:
        _start_from(model, init_from)
    model = model.to(device)
    tensors = [(torch.as_tensor(s.x, device=device), torch.as_tensor(s.y, device=device),
                None if s.behavior is None else torch.as_tensor(s.behavior, device=device)) for s in sessions]
    adj = list(model.adjacency.parameters())
    others = [p for n, p in model.named_parameters() if not n.startswith("adjacency")]
    opt = torch.optim.Adam([{"params": others, "lr": config.learning_rate},
                            {"params": adj, "lr": config.learning_rate_adjacency}])
    loss_fn = _loss_fn(config.loss)
    jobs = [(s, ch) for s, sess in enumerate(sessions) for ch in _chunks(0, sess.bounds[0], c, config.chunk_steps)]
    l1_w = [config.l1 / max(sess.bounds[0] - c, 1) / sess.x.shape[1] for sess in sessions]
    samples_per_job = np.mean([(ch[1] - ch[0] - c + 1) * sessions[si].x.shape[1] for si, ch in jobs])
    steps_per_round = int(min(len(jobs), max(1, round(config.samples_per_epoch / samples_per_job))))
    order: list[int] = []
    history = {"train_loss": [], "val_loss": [], "epoch_s": []}
    best, best_state, bad, t_start = np.inf, None, 0, time.perf_counter()
    bar = tqdm(range(config.max_epochs), desc="SynapsNet", unit="epoch", disable=not progress_bar)
    for _epoch in bar:
        t0 = time.perf_counter()
        model.train()
        run = 0.0
        for _ in range(steps_per_round):
            if not order:
                order = list(rng.permutation(len(jobs)))
            s, (i0, i1) = jobs[order.pop()]
            x, y, b = tensors[s]
            pred = model(s, x[i0:i1], None if b is None else b[i0:i1])
            loss = loss_fn(pred, y[i0 + c: i1 + 1])
            penalty = l1_w[s] * model.masked_adjacency(s).abs().sum()
            opt.zero_grad(set_to_none=True)
            (loss + penalty).backward()
            opt.step()
            run += float(loss.detach())
        model.eval()
        val = _evaluate(model, sessions, tensors, 1, loss_fn, c, config.chunk_steps)
        history["train_loss"].append(run / steps_per_round)
        history["val_loss"].append(val)
        history["epoch_s"].append(time.perf_counter() - t0)
        bar.set_postfix(train=f"{run / steps_per_round:.4f}", val=f"{val:.4f}")
        if not np.isfinite(best) or val < best - config.min_rel_improvement * abs(best):
            best, bad = val, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            bad += 1
            if bad == config.patience // 2:
                for g in opt.param_groups:
                    g["lr"] *= 0.3
            if bad >= config.patience:
                break
        if config.max_time_s is not None and time.perf_counter() - t_start > config.max_time_s:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    history["best_val_loss"] = float(best)
    history["n_epochs"] = len(history["val_loss"])
    history["train_s"] = time.perf_counter() - t_start
    trained = TrainedModel(model=model.eval(), config=config, sessions=sessions, history=history, seed=seed)
    if checkpoint is not None:
        save_checkpoint(trained, checkpoint)
    return trained


#: The format of a connectivity checkpoint (:data:`nwbsyn._shared.checkpoint.FORMATS`).
CHECKPOINT_FORMAT = "nwbsyn.connectivity.SynapsNet/1"
#: Training settings of older files → today's names.
_LEGACY_CONFIG = {"lr": "learning_rate", "lr_adjacency": "learning_rate_adjacency"}


def save_checkpoint(trained: TrainedModel, path: str | Path) -> Path:
    """Save a fit through :func:`nwbsyn._shared.checkpoint.save_checkpoint`: ``init``, ``state``,
    ``seed``, ``config``, a model card and the per-session ``normalization`` (plain types).

    Written atomically: a temporary file beside ``path`` is renamed over it, so a crash never leaves
    a half-written checkpoint (the CLI also checks and locks ``path`` before the fit). The card
    stays inside the checkpoint (no ``.card.json`` is written beside it).
    """
    from nwbsyn import __version__
    from nwbsyn._shared.checkpoint import save_checkpoint as save

    norm = [{"mean": s.mean.tolist(), "scale": s.scale.tolist()} for s in trained.sessions]
    card = dict(name=Path(path).stem if isinstance(path, (str, Path)) else "SynapsNet",
                method="SynapsNet (per-session adjacency, neuron embeddings, shared decoder)",
                architecture=trained.model.init_kwargs, seed=trained.seed, nwbsyn_version=__version__,
                metrics={"best_val_loss": trained.history.get("best_val_loss")})
    return save(trained.model, path, format=CHECKPOINT_FORMAT, card=card, seed=trained.seed,
                config=asdict(trained.config), extra={"normalization": norm}, write_card=False)


def load_checkpoint(path: str | Path, *, device: str = "auto"):
    """Rebuild ``(model, config, normalization)`` from :func:`save_checkpoint` (``weights_only=True``).

    The file is checked first (see :func:`read_checkpoint`): anything else is refused with an
    :class:`~nwbsyn._shared.InputError` before a model is built.
    """
    ckpt = read_checkpoint(path) if not isinstance(path, dict) else path
    model = build_model(ckpt, device=pick_device(device))
    return model, TrainConfig(**ckpt["config"]), ckpt["normalization"]


def build_model(ckpt: dict, *, device: str = "cpu"):
    """The SynapsNet of a checked checkpoint (from :func:`read_checkpoint`) with its weights."""
    from nwbsyn.connectivity.model import SynapsNet

    model = SynapsNet(**ckpt["init"])
    model.load_state_dict(ckpt["state"])
    return model.to(device).eval()


def read_checkpoint(path: str | Path) -> dict:
    """Load a connectivity checkpoint safely and check it; return its dict.

    Refused in one sentence (:class:`~nwbsyn._shared.InputError`): a missing, empty or
    over-large file, a folder, anything ``torch.load(weights_only=True)`` cannot read (pickled
    code, other formats), unknown or missing ``init``/``config`` entries, a model too large to
    build, weights whose names or shapes do not match, and NaN or infinite weights.
    """
    from nwbsyn._shared.checkpoint import load_checkpoint as load
    from nwbsyn.connectivity._checkpoint import HOW, KIND, MAX_FILE_BYTES, check_checkpoint

    path = Path(path)
    ckpt = load(path, expected_format=CHECKPOINT_FORMAT, legacy_format=CHECKPOINT_FORMAT, device="cpu", kind=KIND,
                how=HOW, max_bytes=MAX_FILE_BYTES)
    raw = dict(ckpt.extra, format=ckpt.format, init=ckpt.init, state=ckpt.state, seed=ckpt.seed, card=ckpt.card)
    if ckpt.config is not None:
        raw["config"] = _renamed_settings(ckpt.config)
    return check_checkpoint(raw, path)


def _renamed_settings(config):
    """Training settings with the names of older files (``lr``) renamed (``learning_rate``)."""
    if not isinstance(config, dict):
        return config
    out = {}
    for key, value in config.items():
        new = _LEGACY_CONFIG.get(key)
        out[new if new and new not in config else key] = value
    return out
