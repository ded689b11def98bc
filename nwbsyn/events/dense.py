"""A fully convolutional scorer distilled from the window classifier: every window in one pass.

The classifier (:class:`~nwbsyn.events.model.EventClassifier`) scores one min-max scaled
600-sample window at a time; overlapping windows share no work, and its BiLSTM is most of
the arithmetic. :class:`DenseScorer` gives the score of *every* window on the stride grid
from one strided convolution over the whole trace, trained (:mod:`nwbsyn.events.distil`)
to reproduce the classifier's scores.

The per-window min-max scaling becomes a scaling per block of ``stride`` samples: block
*b* is scaled by the minimum and maximum of the 600 samples centred on it, which is
exactly the scaling of the classifier's window centred on that block. Output *o* of the
network is centred on input sample ``stride * o``, so the score of the window starting at
``stride * j`` is output ``j + window / (2 * stride)``.

Examples
--------
>>> import numpy as np, torch
>>> scorer = DenseScorer().eval()
>>> x = block_range_normalise(np.random.default_rng(0).normal(size=4000))
>>> scorer(torch.from_numpy(x)[None]).shape
torch.Size([1, 200])
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.ndimage
import torch
from torch import nn

__all__ = ["DenseScorer", "block_range_normalise", "save_dense", "load_dense", "dense_for", "HALO_SAMPLES"]

#: Input samples each side of an output that reach it (receptive field + normalisation), rounded up.
HALO_SAMPLES = 1_400


class DenseScorer(nn.Module):
    """Strided 1-D convolutions, then dilated residual convolutions on the stride grid.

    Parameters
    ----------
    channels : int, default: 24
    dilations : sequence of int, default: (1, 2, 4, 8, 16)
        Dilations of the 3-tap convolutions at the stride rate (receptive field ~25 ms at 50 kHz).
    stride_samples : int, default: 20
        Output spacing in input samples; must be 20 (5 x 2 x 2).
    window_samples : int, default: 600
        Window length of the classifier it reproduces.
    """

    def __init__(self, *, channels: int = 24, dilations=(1, 2, 4, 8, 16), stride_samples: int = 20,
                 window_samples: int = 600):
        super().__init__()
        if stride_samples != 20:
            raise ValueError("DenseScorer has a fixed output spacing of 20 samples.")
        self.init_kwargs = dict(channels=int(channels), dilations=[int(d) for d in dilations],
                                stride_samples=int(stride_samples), window_samples=int(window_samples))
        c = int(channels)
        self.front = nn.Sequential(
            nn.Conv1d(1, 16, 9, stride=5, padding=4), nn.LeakyReLU(0.1, inplace=True),
            nn.Conv1d(16, c, 5, stride=2, padding=2), nn.LeakyReLU(0.1, inplace=True),
            nn.Conv1d(c, c, 5, stride=2, padding=2), nn.LeakyReLU(0.1, inplace=True),
        )
        self.body = nn.ModuleList(nn.Conv1d(c, c, 3, dilation=d, padding=d) for d in dilations)
        self.act = nn.LeakyReLU(0.1)
        self.out = nn.Conv1d(c, 1, 1)

    @property
    def window_offset(self) -> int:
        """Output index of the window starting at input sample 0."""
        return self.init_kwargs["window_samples"] // (2 * self.init_kwargs["stride_samples"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, n) block-normalised trace → (batch, ceil(n / 20)) logits, output o centred on sample 20 o."""
        h = self.front(x.unsqueeze(1))
        for conv in self.body:
            h = h + self.act(conv(h))
        return self.out(h)[:, 0]


def block_range_normalise(x, *, window_samples: int = 600, stride_samples: int = 20) -> np.ndarray:
    """Scale each block of ``stride_samples`` to [0, 1] by the range of the window centred on it (float32).

    ``len(x)`` is cut to a multiple of ``stride_samples``.
    """
    x = np.asarray(x, dtype=np.float32)
    s = int(stride_samples)
    blocks = x[: x.size // s * s].reshape(-1, s)
    k = int(window_samples) // s
    # block b is scaled by blocks [b - k//2, b - k//2 + k): the window that starts k//2 blocks earlier
    lo = scipy.ndimage.minimum_filter1d(blocks.min(axis=1), k, mode="nearest")
    hi = scipy.ndimage.maximum_filter1d(blocks.max(axis=1), k, mode="nearest")
    span = np.where(hi > lo, hi - lo, 1.0).astype(np.float32)
    return ((blocks - lo[:, None]) / span[:, None]).reshape(-1)


DEFAULT_DENSE = Path(__file__).parent / "models" / "nwbsyn_events_dense.pt"


#: The format of a scorer checkpoint (:data:`nwbsyn._shared.checkpoint.FORMATS`).
DENSE_FORMAT = "nwbsyn.events.DenseScorer/1"


def save_dense(scorer: DenseScorer, path, *, card: dict, teacher_sha256: str) -> Path:
    """Write the scorer through the shared checkpoint contract (card beside it).

    ``teacher_sha256`` is the checkpoint of the classifier it reproduces; :func:`dense_for`
    only pairs the scorer with that classifier.

    Examples
    --------
    >>> path = save_dense(DenseScorer(), "dense.pt", card={"name": "untrained"}, teacher_sha256="0" * 64)
    >>> load_dense(path).teacher_sha256 == "0" * 64
    True
    """
    from nwbsyn._shared.checkpoint import save_checkpoint

    return save_checkpoint(scorer, path, format=DENSE_FORMAT, card=dict(card, teacher_sha256=teacher_sha256))


def load_dense(path, *, device: str = "cpu") -> DenseScorer:
    """Read a scorer written by :func:`save_dense` (``weights_only``: no pickled code runs), checked."""
    from nwbsyn._shared.checkpoint import check_state, load_checkpoint, refusal

    kind, how = "nwbsyn events dense scorer", "pass a file written by 'python -m nwbsyn.events.distil'"
    ckpt = load_checkpoint(path, expected_format=DENSE_FORMAT, device="cpu", kind=kind, how=how)
    init = ckpt.init
    try:
        scorer = DenseScorer(channels=int(init["channels"]), dilations=[int(d) for d in init["dilations"]],
                             stride_samples=int(init["stride_samples"]), window_samples=int(init["window_samples"]))
        teacher = str((ckpt.card or {})["teacher_sha256"])
    except (KeyError, TypeError, ValueError):
        raise refusal(path, "its settings or its teacher are missing or malformed", kind=kind, how=how) from None
    check_state(ckpt.state, scorer.state_dict(), refuse=lambda why: refusal(path, why, kind=kind, how=how))
    scorer.load_state_dict(ckpt.state)
    scorer.teacher_sha256 = teacher
    return scorer.to(device).eval()


def dense_for(teacher_sha256: str | None) -> DenseScorer | None:
    """The shipped scorer distilled from the classifier with this checkpoint sha256, or None."""
    if teacher_sha256 is None or not DEFAULT_DENSE.is_file():
        return None
    scorer = _cached_default()
    return scorer if scorer.teacher_sha256 == teacher_sha256 else None


_CACHE: dict = {}


def _cached_default() -> DenseScorer:
    if "default" not in _CACHE:
        _CACHE["default"] = load_dense(DEFAULT_DENSE)
    return _CACHE["default"]
