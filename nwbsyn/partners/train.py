"""Training of the cleft detector and the association network on labelled volumes.

Labelled volumes come from the generator (:func:`nwbsyn.partners.simulate_volume`) or
from CREMI files with cleft labels and partner annotations. Patches are drawn at random
(half of them centred near a cleft for the cleft detector; around one chosen, not centred,
cleft for the association network), augmented with flips, 90° turns, brightness/contrast
changes and blank sections, and the best state on a fixed validation set is kept.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from nwbsyn._shared import InputError, as_rng, pick_device

__all__ = ["TrainConfig", "LabelledVolume", "DEFAULT_RECIPE", "labelled_volumes", "fit", "train_and_save",
           "check_config", "check_init_from", "card_path", "estimate_memory_bytes"]

TASKS = ("cleft", "association")

# the data recipe of the shipped networks (recorded in their model cards)
DEFAULT_RECIPE = dict(n_volumes=32, seed=1000, n_val_volumes=4, val_seed=2000,
                      options=dict(shape_zyx=(24, 192, 192), polyadic_fraction=0.4))


@dataclass(frozen=True)
class TrainConfig:
    """Options of :func:`fit`; the defaults train the shipped networks.

    ``learning_rate``, ``seed`` and ``device`` mean what they mean in the other analyses'
    ``TrainConfig``; training runs ``iterations`` steps of ``batch_size`` patches (there are
    no epochs over a generator). Use :func:`dataclasses.replace` to change a field.
    """

    task: str = "association"
    widths: tuple = (12, 16, 24, 32)
    patch_zyx: tuple = (8, 64, 64)
    batch_size: int = 4
    iterations: int = 1200
    learning_rate: float = 1e-3
    cleft_pos_weight: float = 3.0
    val_patches: int = 48
    val_every: int = 100
    seed: int = 0
    init_from: str | None = None  # a checkpoint to continue from (its card is kept in the new card)
    mask_dilation_prob: float = 0.0  # association: how often the cleft mask is dilated 1-2 px in-plane,
    # so that the network also sees masks as thick as detected clefts
    voxel_size_nm: tuple = (40.0, 8.0, 8.0)  # of the training volumes; inference resamples other volumes to it
    device: str = "auto"  # used where fit() is given no device


@dataclass
class LabelledVolume:
    """Arrays one training volume needs; ``partners`` is ``{cleft_id: (pre_id, post_ids)}``."""

    raw: np.ndarray
    neuron_ids: np.ndarray
    clefts: np.ndarray
    partners: dict = field(default_factory=dict)

    @classmethod
    def from_simulated(cls, sim) -> "LabelledVolume":
        return cls(raw=sim.raw, neuron_ids=sim.neuron_ids.astype(np.int32), clefts=sim.clefts.astype(np.int32),
                   partners=sim.partners())

    @classmethod
    def from_cremi(cls, path) -> "LabelledVolume":
        """A CREMI file with raw, neuron ids, clefts and partner annotations."""
        from nwbsyn.partners.cremi import read_cremi

        vol = read_cremi(path)
        if vol.neuron_ids is None or vol.clefts is None or not vol.synapses:
            raise InputError(f"{path} lacks neuron_ids, clefts or partner annotations; training needs all three.")
        return cls(raw=vol.raw, neuron_ids=vol.neuron_ids.astype(np.int64), clefts=vol.clefts.astype(np.int64),
                   partners={s.cleft_id: (s.pre_id, s.post_ids) for s in vol.synapses if s.post_ids})


def labelled_volumes(*, n_volumes: int, seed: int, options: dict | None = None,
                     progress_bar: bool = False) -> list[LabelledVolume]:
    """Generate ``n_volumes`` labelled volumes (the training recipe's data)."""
    from nwbsyn.partners.simulate import simulate_dataset

    sims = simulate_dataset(n_volumes, rng=seed, progress_bar=progress_bar, **(options or {}))
    return [LabelledVolume.from_simulated(s) for s in sims]


def _corner(shape, patch, centre, rng, jitter) -> tuple[int, ...]:
    out = []
    for n, p, c, j in zip(shape, patch, centre, jitter):
        c = c + (int(rng.integers(-j, j + 1)) if j else 0)
        out.append(int(np.clip(c - p // 2, 0, n - p)))
    return tuple(out)


def _crop(a: np.ndarray, corner, patch) -> np.ndarray:
    return a[tuple(slice(c, c + p) for c, p in zip(corner, patch))]


def _sample(vol: LabelledVolume, task: str, patch, rng, mask_dilation_prob: float = 0.0
            ) -> tuple[np.ndarray, np.ndarray]:
    """One (input channels, target channels) pair, float32, before augmentation."""
    if task == "cleft":
        if rng.random() < 0.5 and vol.partners:
            cid = int(rng.choice(list(vol.partners)))
            zyx = np.argwhere(vol.clefts == cid)
            centre = zyx[rng.integers(len(zyx))]
            corner = _corner(vol.raw.shape, patch, centre, rng, (2, patch[1] // 3, patch[2] // 3))
        else:
            corner = tuple(int(rng.integers(0, n - p + 1)) for n, p in zip(vol.raw.shape, patch))
        x = _crop(vol.raw, corner, patch)[None] / np.float32(255)
        return x.astype(np.float32), (_crop(vol.clefts, corner, patch) > 0)[None].astype(np.float32)
    cid = int(rng.choice(list(vol.partners)))
    pre, posts = vol.partners[cid]
    mask = vol.clefts == cid
    centre = np.round(np.argwhere(mask).mean(axis=0)).astype(int)
    corner = _corner(vol.raw.shape, patch, centre, rng, (2, patch[1] // 4, patch[2] // 4))
    seg = _crop(vol.neuron_ids, corner, patch)
    mask = _crop(mask, corner, patch)
    if mask_dilation_prob and rng.random() < mask_dilation_prob:  # no draw at 0: older recipes replay exactly
        from scipy import ndimage

        cross = ndimage.generate_binary_structure(2, 1)[None]
        mask = ndimage.binary_dilation(mask, cross, iterations=int(rng.integers(1, 3)))
    x = np.stack([_crop(vol.raw, corner, patch) / np.float32(255), mask])
    y = np.stack([seg == pre, np.isin(seg, posts)])
    return x.astype(np.float32), y.astype(np.float32)


def _augment(x: np.ndarray, y: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    for axis in (1, 2, 3):
        if rng.random() < 0.5:
            x, y = np.flip(x, axis), np.flip(y, axis)
    if x.shape[2] == x.shape[3] and rng.random() < 0.5:
        x, y = x.swapaxes(2, 3), y.swapaxes(2, 3)
    x = x.copy()
    x[0] = np.clip((x[0] - 0.5) * rng.uniform(0.8, 1.2) + 0.5 + rng.normal(0, 0.05), 0, 1)
    if rng.random() < 0.15:
        x[0, rng.integers(x.shape[1])] = 0.0  # a missing section
    return x, np.ascontiguousarray(y)


def _batch(vols, task, patch, n, rng, augment=True, mask_dilation_prob=0.0):
    usable = [v for v in vols if v.partners] if task == "association" else vols
    pairs = [_sample(usable[rng.integers(len(usable))], task, patch, rng, mask_dilation_prob) for _ in range(n)]
    if augment:
        pairs = [_augment(x, y, rng) for x, y in pairs]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def _check(volumes, task, patch) -> None:
    if task not in TASKS:
        raise InputError(f"task='{task}' is not one of {TASKS}.")
    if not volumes:
        raise InputError("no training volumes were given.")
    for v in volumes:
        if any(n < p for n, p in zip(v.raw.shape, patch)):
            raise InputError(f"a training volume of {' x '.join(map(str, v.raw.shape))} voxels is smaller than the "
                             f"patch trained on ({' x '.join(map(str, patch))}); use larger volumes.")
    if task == "association" and not any(v.partners for v in volumes):
        raise InputError("the training volumes have no synapses with partner annotations.")


def check_config(cfg: TrainConfig) -> None:
    """Refuse settings that cannot train (no steps, a learning rate that is not a positive number, ...)."""
    if cfg.task not in TASKS:
        raise InputError(f"task='{cfg.task}' is not one of {', '.join(TASKS)}.")
    for name in ("iterations", "batch_size", "val_patches", "val_every"):
        value = getattr(cfg, name)
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise InputError(f"the training setting {name} is {value}; it must be a whole number, 1 or more.")
    if not (np.isfinite(cfg.learning_rate) and cfg.learning_rate > 0):
        raise InputError(f"the learning rate {cfg.learning_rate} must be a positive number.")
    if not (np.isfinite(cfg.mask_dilation_prob) and 0 <= cfg.mask_dilation_prob <= 1):
        raise InputError(f"the mask dilation share {cfg.mask_dilation_prob} must lie in [0, 1].")
    if not 0 <= int(cfg.seed) < 2**32:
        raise InputError(f"the seed {cfg.seed} must lie between 0 and {2**32 - 1}.")


def check_init_from(cfg: TrainConfig) -> dict | None:
    """The settings of the checkpoint training continues from (checked: task and widths), or None."""
    if not cfg.init_from:
        return None
    from nwbsyn.partners.model import load_checkpoint

    _, info = load_checkpoint(cfg.init_from, task=cfg.task)
    widths = [int(w) for w in info["init"].get("widths", ())]
    if widths != [int(w) for w in cfg.widths]:
        raise InputError(f"{cfg.init_from} has widths {widths}, this training {list(cfg.widths)}; a continued "
                         "network must keep its widths.")
    return info


@dataclass
class FitResult:
    model: object
    config: TrainConfig
    history: list
    best_val_loss: float
    seconds: float


def fit(volumes, *, config: TrainConfig | None = None, val_volumes=None, device: str | None = None,
        progress_bar: bool = True) -> FitResult:
    """Train a cleft detector or an association network; keeps the best validation state.

    Example
    -------
    >>> from nwbsyn.partners.train import TrainConfig, fit, labelled_volumes
    >>> vols = labelled_volumes(n_volumes=1, seed=0, options=dict(shape_zyx=(8, 64, 64)))
    >>> cfg = TrainConfig(task="cleft", widths=(4, 6), patch_zyx=(4, 32, 32), iterations=2, val_every=1,
    ...                   val_patches=2, batch_size=1)
    >>> fit(vols, config=cfg, progress_bar=False).model.init_kwargs["out_channels"]
    1
    """
    import torch
    from tqdm.auto import tqdm

    from nwbsyn.partners.model import ResidualUNet3d

    cfg = config or TrainConfig()
    check_config(cfg)
    _check(volumes, cfg.task, cfg.patch_zyx)
    dev = pick_device(cfg.device if device is None else device)
    check_init_from(cfg)
    torch.manual_seed(cfg.seed)
    rng = as_rng(cfg.seed)
    n_out = 1 if cfg.task == "cleft" else 2
    net = ResidualUNet3d(in_channels=n_out, out_channels=n_out, widths=cfg.widths).to(dev)
    if cfg.init_from:
        from nwbsyn.partners.model import load_checkpoint

        base, _ = load_checkpoint(cfg.init_from, task=cfg.task)
        net.load_state_dict(base.state_dict())
    opt = torch.optim.Adam(net.parameters(), lr=cfg.learning_rate)
    pos_weight = torch.tensor(cfg.cleft_pos_weight if cfg.task == "cleft" else 1.0, device=dev)
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    val_x, val_y = _batch(val_volumes or volumes, cfg.task, cfg.patch_zyx, cfg.val_patches, as_rng(cfg.seed + 1),
                          augment=False)
    best, best_state, history, start = np.inf, None, [], time.perf_counter()
    bar = tqdm(range(1, cfg.iterations + 1), desc=f"train {cfg.task}", disable=not progress_bar)
    for it in bar:
        net.train()
        x, y = _batch(volumes, cfg.task, cfg.patch_zyx, cfg.batch_size, rng,
                      mask_dilation_prob=cfg.mask_dilation_prob)
        loss = loss_fn(net(torch.from_numpy(x).to(dev)), torch.from_numpy(y).to(dev))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if it % cfg.val_every == 0 or it == cfg.iterations:
            val = _val_loss(net, loss_fn, val_x, val_y, dev)
            history.append(dict(iteration=it, train_loss=float(loss.detach()), val_loss=val))
            bar.set_postfix(val_loss=f"{val:.4f}")
            if val < best:
                best, best_state = val, {k: v.detach().clone() for k, v in net.state_dict().items()}
    if best_state is None:
        raise InputError(f"training diverged: the validation loss was never a finite number in {cfg.iterations} "
                         "steps; lower the learning rate.")
    net.load_state_dict(best_state)
    return FitResult(model=net.eval().cpu(), config=cfg, history=history, best_val_loss=float(best),
                     seconds=time.perf_counter() - start)


def _val_loss(net, loss_fn, x, y, dev) -> float:
    import torch

    net.eval()
    with torch.no_grad():
        losses = [float(loss_fn(net(torch.from_numpy(x[i:i + 8]).to(dev)), torch.from_numpy(y[i:i + 8]).to(dev)))
                  * len(x[i:i + 8]) for i in range(0, len(x), 8)]
    return sum(losses) / len(x)


def card_path(output) -> Path:
    """The model card written beside a checkpoint: ``MODEL.pt`` -> ``MODEL.card.json``."""
    from nwbsyn._shared.checkpoint import card_path_for

    return card_path_for(output)


def estimate_memory_bytes(recipe: dict) -> float:
    """Peak memory of generating a recipe's volumes (the simulator's peak plus the volumes kept)."""
    from nwbsyn.partners._checks import SIMULATE_BYTES_PER_VOXEL

    voxels = float(np.prod(recipe["options"].get("shape_zyx", (32, 256, 256)), dtype=float))
    kept = 26 * voxels * (int(recipe["n_volumes"]) + int(recipe.get("n_val_volumes", 0)))
    return kept + SIMULATE_BYTES_PER_VOXEL * voxels


def train_and_save(output, *, config: TrainConfig, recipe: dict | None = None, volumes=None, val_volumes=None,
                   data_description: str | None = None, command: str | None = None, device: str = "auto",
                   progress_bar: bool = True, overwrite: bool = False, inputs=()) -> Path:
    """Train on ``volumes`` (default: the generator with ``recipe``) and write OUT.pt + OUT.card.json.

    Both outputs are checked and locked before the training (never one of ``inputs`` or the
    ``init_from`` checkpoint; an existing file only with ``overwrite``) and written atomically.
    """
    from nwbsyn.io.output import claim_output

    recipe = recipe or DEFAULT_RECIPE
    check_config(config)
    output = Path(output)
    sources = [*inputs, *([config.init_from, card_path(config.init_from)] if config.init_from else [])]
    with claim_output(output, inputs=sources, overwrite=overwrite, what="model file") as model_claim, \
            claim_output(card_path(output), inputs=sources, overwrite=overwrite, what="model card") as card_claim:
        pick_device(device)
        check_init_from(config)
        if volumes is None:
            volumes = labelled_volumes(n_volumes=recipe["n_volumes"], seed=recipe["seed"],
                                       options=recipe["options"], progress_bar=progress_bar)
            val_volumes = labelled_volumes(n_volumes=recipe["n_val_volumes"], seed=recipe["val_seed"],
                                           options=recipe["options"])
            data_description = data_description or f"generator recipe {json.dumps(recipe)}"
        result = fit(volumes, config=config, val_volumes=val_volumes, device=device, progress_bar=progress_bar)
        card = _card(result, config, output=output, command=command, data_description=data_description)
        from nwbsyn.partners.model import save_checkpoint

        save_checkpoint(result.model, model_claim, task=config.task, card=card, config=_jsonable(asdict(config)),
                        seed=config.seed, card_path=card_claim)
    return output


def _card(result: FitResult, config: TrainConfig, *, output: Path, command, data_description) -> dict:
    from nwbsyn import __version__

    previous = card_path(config.init_from) if config.init_from else None
    try:
        continued = json.loads(previous.read_text()) if previous and previous.is_file() else None
    except (OSError, ValueError):
        continued = None  # a damaged card of the starting checkpoint is not worth losing a training run for
    return dict(
        name=output.stem, continued_from=continued, task=config.task, command=command,
        method="AVAN (Turner et al.): residual symmetric 3D U-Net", architecture=result.model.init_kwargs,
        nwbsyn_version=__version__, training_data=data_description, config=_jsonable(asdict(config)),
        best_val_loss=result.best_val_loss, history=result.history, train_seconds=round(result.seconds, 1),
        seed=config.seed, voxel_size_nm=[float(v) for v in config.voxel_size_nm],
    )


def _jsonable(d: dict) -> dict:
    return json.loads(json.dumps(d, default=lambda o: list(o) if isinstance(o, tuple) else str(o)))
