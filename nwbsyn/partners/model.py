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

import torch
from torch import nn

__all__ = ["ResidualUNet3d", "DEFAULT_WIDTHS", "PAPER_WIDTHS", "save_checkpoint", "load_checkpoint",
           "MODEL_DIR"]

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


def save_checkpoint(path, model: ResidualUNet3d, *, task: str, extra: dict | None = None) -> Path:
    """Write ``{"init", "state", "task", ...}`` with ``torch.save`` (loadable with ``weights_only=True``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"init": model.init_kwargs, "state": model.state_dict(), "task": task, **(extra or {})}
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    return path


def load_checkpoint(path, *, task: str | None = None, device="cpu") -> tuple[ResidualUNet3d, dict]:
    """Rebuild a network from a checkpoint of :func:`save_checkpoint`; never unpickles arbitrary objects."""
    from nwbsyn._shared import InputError

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path} is not a model file; pass 'default' or the path of a checkpoint from "
                         "'nwbsyn partners train'.")
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
        net = ResidualUNet3d(**payload["init"])
        net.load_state_dict(payload["state"])
    except Exception as err:  # noqa: BLE001 - any failure means: not one of our checkpoints
        raise InputError(f"{path} is not an nwbsyn partners checkpoint ({type(err).__name__}); train one with "
                         "'nwbsyn partners train'.") from None
    if task is not None and payload.get("task") != task:
        raise InputError(f"{path} holds a '{payload.get('task')}' network, not a '{task}' network.")
    return net.to(device).eval(), {k: v for k, v in payload.items() if k not in ("state",)}
