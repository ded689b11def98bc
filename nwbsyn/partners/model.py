"""The residual symmetric 3D U-Net of the AVAN method, for anisotropic EM.

Used twice: as the cleft detector (1 input channel, 1 output) and as the association
network (image + the mask of ONE cleft in, presynaptic and postsynaptic masks out).
Architecture as in METHODS.md §2: residual conv modules (conv-BN-ELU-conv-BN-ELU-conv,
residual from the first conv, then BN-ELU), kernels (1,3,3) at the top level and (3,3,3)
below, (1,5,5) input and output convolutions, max-pooling (1,2,2), resize-convolution
upsampling (nearest x2 in y,x, then a conv) and skip connections that are *added*.
The widths are smaller than the paper's [28, 36, 48, 64, 80] by default so that training
on the generator is feasible on a CPU; pass ``widths`` to get the paper's network.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch import nn

__all__ = ["ResidualUNet3d", "DEFAULT_WIDTHS", "PAPER_WIDTHS", "save_checkpoint", "load_checkpoint",
           "read_checkpoint", "count_weights", "check_init", "MODEL_DIR", "UNET_FORMAT", "MASK_PRUNER_FORMAT"]

DEFAULT_WIDTHS = (12, 16, 24, 32)
PAPER_WIDTHS = (28, 36, 48, 64, 80)
MODEL_DIR = Path(__file__).parent / "models"


def _conv(cin: int, cout: int, kernel: tuple[int, int, int]) -> nn.Conv3d:
    return nn.Conv3d(cin, cout, kernel, padding=tuple(k // 2 for k in kernel))


class _ResidualModule(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: tuple[int, int, int]):
        super().__init__()
        self.first = _conv(cin, cout, kernel)
        self.body = nn.Sequential(nn.BatchNorm3d(cout), nn.ELU(inplace=True), _conv(cout, cout, kernel),
                                  nn.BatchNorm3d(cout), nn.ELU(inplace=True), _conv(cout, cout, kernel))
        self.out = nn.Sequential(nn.BatchNorm3d(cout), nn.ELU(inplace=True))

    def forward(self, x):
        first = self.first(x)
        return self.out(first + self.body(first))


class _ResizeConv(nn.Module):
    """Nearest-neighbour x2 in (y, x), then a (1,3,3) convolution to the finer level's width."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = _conv(cin, cout, (1, 3, 3))
        self.post = nn.Sequential(nn.BatchNorm3d(cout), nn.ELU(inplace=True))

    def forward(self, x):
        return self.post(self.conv(nn.functional.interpolate(x, scale_factor=(1, 2, 2), mode="nearest")))


class ResidualUNet3d(nn.Module):
    """Residual symmetric 3D U-Net with anisotropic pooling; returns logits.

    Input (batch, in_channels, z, y, x) with y and x divisible by ``2 ** (len(widths) - 1)``.

    Example
    -------
    >>> import torch
    >>> net = ResidualUNet3d(in_channels=2, out_channels=2, widths=(4, 6, 8))
    >>> net(torch.zeros(1, 2, 4, 32, 32)).shape
    torch.Size([1, 2, 4, 32, 32])
    """

    def __init__(self, *, in_channels: int = 1, out_channels: int = 1, widths=DEFAULT_WIDTHS):
        super().__init__()
        widths = tuple(int(w) for w in widths)
        if len(widths) < 2:
            raise ValueError(f"widths={widths} needs at least two levels")
        self.init_kwargs = dict(in_channels=in_channels, out_channels=out_channels, widths=list(widths))
        kernel = [(1, 3, 3)] + [(3, 3, 3)] * (len(widths) - 1)
        self.input = nn.Sequential(_conv(in_channels, widths[0], (1, 5, 5)), nn.BatchNorm3d(widths[0]),
                                   nn.ELU(inplace=True))
        self.down = nn.ModuleList(_ResidualModule(widths[i - 1] if i else widths[0], widths[i], kernel[i])
                                  for i in range(len(widths)))
        self.pool = nn.MaxPool3d((1, 2, 2))
        self.up = nn.ModuleList(_ResizeConv(widths[i + 1], widths[i]) for i in range(len(widths) - 1))
        self.merge = nn.ModuleList(_ResidualModule(widths[i], widths[i], kernel[i]) for i in range(len(widths) - 1))
        self.output = _conv(widths[0], out_channels, (1, 5, 5))

    @property
    def xy_factor(self) -> int:
        return 2 ** (len(self.down) - 1)

    def forward(self, x):
        if x.shape[-1] % self.xy_factor or x.shape[-2] % self.xy_factor:
            raise ValueError(f"y, x = {tuple(x.shape[-2:])} must be divisible by {self.xy_factor}")
        x = self.input(x)
        skips = []
        for level, module in enumerate(self.down):
            x = module(x)
            if level < len(self.down) - 1:
                skips.append(x)
                x = self.pool(x)
        for level in reversed(range(len(self.up))):
            x = self.merge[level](self.up[level](x) + skips[level])
        return self.output(x)


MAX_WEIGHTS = 100_000_000  # 400 MB of float32: far above the paper's network (about 2 million)
TASK_CHANNELS = {"cleft": (1, 1), "association": (2, 2)}
MAX_PATCH_VOXELS = 2**24


def count_weights(*, in_channels: int, out_channels: int, widths) -> int:
    """Number of weights of ``ResidualUNet3d(in_channels, out_channels, widths)``, without building it."""
    w = [int(v) for v in widths]
    kernel = [9] + [27] * (len(w) - 1)

    def module(cin, cout, k):  # first conv, two body convs, three batch norms
        return cin * cout * k + cout + 2 * (cout * cout * k + cout) + 6 * cout

    total = in_channels * w[0] * 25 + w[0] + 2 * w[0] + w[0] * out_channels * 25 + out_channels
    total += sum(module(w[i - 1] if i else w[0], w[i], kernel[i]) for i in range(len(w)))
    total += sum(w[i + 1] * w[i] * 9 + 3 * w[i] + module(w[i], w[i], kernel[i]) for i in range(len(w) - 1))
    return total


#: The formats of partners checkpoints (:data:`nwbsyn._shared.checkpoint.FORMATS`).
UNET_FORMAT = "nwbsyn.partners.ResidualUNet3d/1"
MASK_PRUNER_FORMAT = "nwbsyn.partners.MaskPrunerNet/1"
_KIND = "nwbsyn partners checkpoint"
_HOW = "pass 'default' or a checkpoint written by 'nwbsyn partners train'"


def save_checkpoint(model: nn.Module, path, *, task: str, card: dict | None = None, config: dict | None = None,
                    seed: int | None = None, card_path=None, extra: dict | None = None) -> Path:
    """Write a partners network through :func:`nwbsyn._shared.checkpoint.save_checkpoint`.

    ``task`` is ``"cleft"``, ``"association"`` or ``"mask_pruner"`` (a :class:`MaskPrunerNet
    <nwbsyn.partners.baselines.MaskPrunerNet>`). Written atomically; with a ``card`` the card
    goes beside it as ``<stem>.card.json`` (``card_path``: a path or an OutputClaim).

    Example
    -------
    >>> net = ResidualUNet3d(widths=(4, 6))
    >>> path = save_checkpoint(net, "clefts.pt", task="cleft")
    >>> load_checkpoint(path, task="cleft")[1]["task"]
    'cleft'
    """
    from nwbsyn._shared.checkpoint import save_checkpoint as save

    fmt = MASK_PRUNER_FORMAT if task == "mask_pruner" else UNET_FORMAT
    return save(model, path, format=fmt, card=card, seed=seed, config=config, card_path=card_path,
                extra={**(extra or {}), "task": task})


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _refuse(path, why: str):
    from nwbsyn._shared.checkpoint import refusal

    return refusal(path, why, kind=_KIND, how=_HOW)


def read_checkpoint(path, *, expected_format: str = UNET_FORMAT, device="cpu"):
    """The :class:`~nwbsyn._shared.checkpoint.Checkpoint` of a partners file, read safely, not yet checked."""
    from nwbsyn._shared.checkpoint import load_checkpoint as load

    return load(path, expected_format=expected_format, legacy_format=expected_format, device=device, kind=_KIND,
                how=_HOW)


def check_init(init: dict, *, path, task: str | None) -> dict:
    """Refuse unknown settings, channels that do not fit ``task`` and absurd sizes, before building."""
    unknown = sorted(set(init) - {"in_channels", "out_channels", "widths"})
    if unknown:
        raise _refuse(path, f"unknown network settings {', '.join(map(str, unknown))}")
    try:
        cin, cout = int(init.get("in_channels", 1)), int(init.get("out_channels", 1))
        widths = [int(v) for v in init.get("widths", DEFAULT_WIDTHS)]
    except (TypeError, ValueError, OverflowError):
        raise _refuse(path, "its channel counts and widths are not whole numbers") from None
    if not 2 <= len(widths) <= 8 or min(widths) < 1 or min(cin, cout) < 1:
        raise _refuse(path, f"a network of {len(widths)} levels with widths {widths} cannot be built")
    if task in TASK_CHANNELS and (cin, cout) != TASK_CHANNELS[task]:
        want = TASK_CHANNELS[task]
        raise _refuse(path, f"{_article(task)} {task} network takes {want[0]} input and gives {want[1]} output "
                            f"channels, this one {cin} and {cout}")
    n = count_weights(in_channels=cin, out_channels=cout, widths=widths)
    if n > MAX_WEIGHTS:
        raise _refuse(path, f"its settings ask for {n:.3g} weights ({n * 4 / 2**30:.3g} GiB), more than the "
                            f"{MAX_WEIGHTS:,} nwbsyn accepts")
    return dict(in_channels=cin, out_channels=cout, widths=widths)


def _check_state(net: nn.Module, state: dict, path) -> None:
    from nwbsyn._shared.checkpoint import check_state

    check_state(state, net.state_dict(), refuse=lambda why: _refuse(path, why))


def check_patch(config, *, path) -> tuple[int, int, int] | None:
    """The training patch recorded in a checkpoint's config (three sizes, not absurd), or None."""
    if config is None:
        return None
    patch = config.get("patch_zyx") if isinstance(config, dict) else "?"
    if patch is None:
        return None
    try:
        patch = tuple(int(v) for v in patch)
    except (TypeError, ValueError, OverflowError):
        raise _refuse(path, "its training patch is not three whole numbers") from None
    if len(patch) != 3 or min(patch) < 1 or float(np.prod(patch, dtype=float)) > MAX_PATCH_VOXELS:
        raise _refuse(path, f"its training patch {' x '.join(map(str, patch))} is not a usable size")
    return patch


def load_checkpoint(path, *, task: str | None = None, device="cpu") -> tuple[ResidualUNet3d, dict]:
    """Rebuild a network from a checkpoint of :func:`save_checkpoint`; never unpickles arbitrary objects.

    Returns ``(net, info)``: the network in eval mode and the file's other entries (``format``,
    ``init``, ``task``, ``config``, ``seed``, ``card`` where present). Refused with one sentence
    before building anything: a missing file or a folder, pickled objects, an empty or foreign
    file, a network for another task, unknown or absurd settings (sizes are counted from the
    settings first); after building: missing, extra or misshapen weights and NaN or infinite weights.
    """
    from nwbsyn._shared import InputError

    ckpt = read_checkpoint(path, device=device)
    found = ckpt.extra.get("task")
    if task is not None and found != task:
        raise InputError(f"{path} holds {_article(str(found))} '{found}' network, not a '{task}' network; pass "
                         f"{_article(task)} {task} checkpoint.")
    init = check_init(ckpt.init, path=path, task=task)
    check_patch(ckpt.config, path=path)
    net = ResidualUNet3d(**init)
    _check_state(net, ckpt.state, path)
    try:
        net.load_state_dict(ckpt.state)
    except (RuntimeError, ValueError, TypeError) as err:
        raise _refuse(path, f"its weights do not fit its settings: {str(err).splitlines()[0][:80]}") from None
    info = dict(format=ckpt.format, init=ckpt.init, config=ckpt.config, seed=ckpt.seed, card=ckpt.card, **ckpt.extra)
    return net.to(device).eval(), {k: v for k, v in info.items() if v is not None}
