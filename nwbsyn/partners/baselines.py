"""The mask pruner baseline (Turner et al.'s comparison method), our own implementation.

Candidate pairs: ordered pairs of distinct segments that each overlap the cleft mask
dilated by 5 px in y, x and one section in z by more than 25 voxels. A small 3D CNN scores
each pair from 4 channels (image, cleft mask, candidate presynaptic mask, candidate
postsynaptic mask); the best pair per cleft is the assignment (dyadic). With
``polyadic=True`` every pair that shares the best pair's presynaptic segment and scores
at least 0.5 is kept as well.
"""

from __future__ import annotations

from itertools import permutations
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage
from torch import nn

from nwbsyn._shared import InputError, as_rng, pick_device

__all__ = ["MaskPrunerNet", "candidate_pairs", "fit_mask_pruner", "mask_pruner_assign", "DEFAULT_PRUNER_MODEL"]

MIN_OVERLAP_VOXELS = 25


DEFAULT_PRUNER_MODEL = Path(__file__).parent / "models" / "mask_pruner.pt"


class MaskPrunerNet(nn.Module):
    """4 channels (image, cleft, pre, post) → logit that (pre, post) is the cleft's partner pair."""

    def __init__(self, *, widths=(12, 16, 24, 32)):
        super().__init__()
        self.init_kwargs = dict(widths=list(widths))
        layers, cin = [], 4
        for i, w in enumerate(widths):
            k = (1, 3, 3) if i == 0 else (3, 3, 3)
            layers += [nn.Conv3d(cin, w, k, padding=tuple(s // 2 for s in k)), nn.BatchNorm3d(w), nn.ELU(),
                       nn.MaxPool3d((1, 2, 2))]
            cin = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(2 * cin, 1)

    def forward(self, x):
        f = self.features(x)
        return self.head(torch.cat([f.mean(dim=(2, 3, 4)), f.amax(dim=(2, 3, 4))], dim=1))[:, 0]


def candidate_pairs(seg: np.ndarray, cleft_mask: np.ndarray, *, dilation_zyx=(1, 5, 5)) -> list[tuple[int, int]]:
    """Ordered (pre, post) pairs of segments overlapping the dilated cleft by > 25 voxels."""
    near = ndimage.binary_dilation(cleft_mask, np.ones(tuple(2 * d + 1 for d in dilation_zyx), bool))
    ids, counts = np.unique(seg[near & (seg != 0)], return_counts=True)
    ids = ids[counts > MIN_OVERLAP_VOXELS]
    return list(permutations(ids.tolist(), 2))


def _pair_input(img, mask, seg, pre, post) -> np.ndarray:
    return np.stack([img, mask, seg == pre, seg == post]).astype(np.float32)


def _patches(vol, cid, patch, centre, rng=None):
    """Image, cleft mask and segments of the patch around ``centre`` (read one slice at a time)."""
    from nwbsyn.partners.infer import _padded, _patch_corner

    if rng is not None:
        centre = centre + rng.integers(-1, 2, 3) * np.array([1, patch[1] // 8, patch[2] // 8])
    corner = _patch_corner(centre, patch, vol.raw.shape)
    sl = tuple(slice(c, c + p) for c, p in zip(corner, patch))
    img = _padded(np.asarray(vol.raw[sl], np.float32) / 255.0, patch)
    mask = _padded(np.asarray(vol.clefts[sl]) == cid, patch, mode="constant")
    seg = _padded(np.asarray(vol.neuron_ids[sl]).astype(np.int64), patch, mode="constant")
    return img, mask, seg


def fit_mask_pruner(volumes, *, iterations: int = 600, batch_size: int = 8, patch_zyx=(8, 64, 64),
                    learning_rate: float = 1e-3, seed: int = 0, device: str = "auto", progress_bar: bool = True):
    """Train the pair classifier on labelled volumes (half positive, half negative pairs per batch)."""
    from tqdm.auto import tqdm

    usable = [v for v in volumes if v.partners]
    if not usable:
        raise InputError("the training volumes have no synapses with partner annotations.")
    dev = pick_device(device)
    torch.manual_seed(seed)
    rng = as_rng(seed)
    net = MaskPrunerNet().to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=learning_rate)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    for _ in tqdm(range(iterations), desc="train mask pruner", disable=not progress_bar):
        xs, ys = [], []
        while len(xs) < batch_size:
            vol = usable[rng.integers(len(usable))]
            cid = int(rng.choice(list(vol.partners)))
            pre, posts = vol.partners[cid]
            img, mask, seg = _patches(vol, cid, patch_zyx, np.argwhere(vol.clefts == cid).mean(axis=0), rng)
            pairs = candidate_pairs(seg, mask)
            true = {(pre, p) for p in posts}
            pos = [p for p in pairs if p in true]
            neg = [p for p in pairs if p not in true]
            positive = len(xs) % 2 == 0
            pool = pos if positive else neg
            if not pool:
                continue
            a, b = pool[rng.integers(len(pool))]
            x = _pair_input(img, mask, seg, a, b)
            for axis in (1, 2, 3):
                if rng.random() < 0.5:
                    x = np.flip(x, axis)
            xs.append(np.ascontiguousarray(x))
            ys.append(float(positive))
        net.train()
        loss = loss_fn(net(torch.from_numpy(np.stack(xs)).to(dev)), torch.tensor(ys, device=dev))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval().cpu()


def train_mask_pruner_and_save(output, *, volumes=None, iterations: int = 600, seed: int = 0,
                               data_description: str | None = None, device: str = "auto",
                               progress_bar: bool = True, overwrite: bool = False, inputs=()) -> Path:
    """Train the pair classifier (default data: the networks' generator recipe) and write OUT.pt + card.

    Both files are checked and locked before the training and written atomically.
    """
    import json

    from nwbsyn import __version__
    from nwbsyn.io.output import claim_output
    from nwbsyn.partners.model import save_checkpoint
    from nwbsyn.partners.train import DEFAULT_RECIPE, card_path, labelled_volumes

    if int(iterations) < 1:
        raise InputError(f"the mask pruner needs at least 1 training step, not {iterations}.")
    output = Path(output)
    with claim_output(output, inputs=inputs, overwrite=overwrite, what="model file") as model_claim, \
            claim_output(card_path(output), inputs=inputs, overwrite=overwrite, what="model card") as card_claim:
        pick_device(device)
        if volumes is None:
            volumes = labelled_volumes(n_volumes=DEFAULT_RECIPE["n_volumes"], seed=DEFAULT_RECIPE["seed"],
                                       options=DEFAULT_RECIPE["options"], progress_bar=progress_bar)
            data_description = f"generator recipe {json.dumps(DEFAULT_RECIPE)}"
        net = fit_mask_pruner(volumes, iterations=iterations, seed=seed, device=device, progress_bar=progress_bar)
        card = dict(name=output.stem, task="mask_pruner",
                    method="mask pruner baseline (pair classifier, 4 channels)", architecture=net.init_kwargs,
                    nwbsyn_version=__version__, training_data=data_description, iterations=iterations, seed=seed)
        save_checkpoint(net, model_claim, task="mask_pruner", card=card, seed=seed,
                        config=dict(iterations=iterations, seed=seed), card_path=card_claim)
    return output


def load_mask_pruner(model="default", device: str = "cpu"):
    """The pair classifier from ``"default"``, a checkpoint of ``nwbsyn partners train --task mask-pruner``
    or a network.

    A file that is not such a checkpoint (pickled objects, other settings, misshapen or NaN weights)
    raises :class:`InputError`.
    """
    from nwbsyn.partners.model import MASK_PRUNER_FORMAT, _check_state, _refuse, read_checkpoint

    path = DEFAULT_PRUNER_MODEL if model in (None, "default") else model
    if hasattr(path, "forward"):
        return path.to(device).eval()
    path = Path(path)
    ckpt = read_checkpoint(path, expected_format=MASK_PRUNER_FORMAT, device=device)
    init = ckpt.init
    try:
        widths = [int(w) for w in init.get("widths", ())]
    except (TypeError, ValueError, OverflowError):
        raise _refuse(path, "its widths are not whole numbers") from None
    if set(init) != {"widths"} or not 1 <= len(widths) <= 8 or not all(1 <= w <= 1024 for w in widths):
        raise _refuse(path, "it is not a mask pruner network")
    net = MaskPrunerNet(widths=widths)
    _check_state(net, ckpt.state, path)
    net.load_state_dict(ckpt.state)
    return net.to(device).eval()


def mask_pruner_assign(raw, neuron_ids, clefts, *, model="default", polyadic: bool = False, patch_zyx=(8, 64, 64),
                       device: str = "auto"):
    """Partners of each cleft by the mask pruner; returns a :class:`~nwbsyn.partners.infer.PartnerResult`."""
    from nwbsyn.partners.infer import CleftDetection, PartnerResult, clefts_from_labels
    from nwbsyn.partners.train import LabelledVolume

    dev = pick_device(device)
    net = load_mask_pruner(model, device=dev)
    table = clefts if isinstance(clefts, CleftDetection) else clefts_from_labels(clefts)
    vol = LabelledVolume(raw=raw, neuron_ids=neuron_ids, clefts=table.labels)
    rows = []
    for cid, centre in zip(table.cleft_ids.tolist(), table.centroids_zyx):  # centroids: no pass over the volume
        img, mask, seg = _patches(vol, cid, patch_zyx, centre)
        pairs = candidate_pairs(seg, mask)
        if not pairs:
            continue
        x = np.stack([_pair_input(img, mask, seg, a, b) for a, b in pairs])
        with torch.no_grad():
            scores = torch.sigmoid(torch.cat([net(torch.from_numpy(x[i:i + 16]).to(dev))
                                              for i in range(0, len(x), 16)])).cpu().numpy()
        best = int(np.argmax(scores))
        pre = pairs[best][0]
        keep = [(b, s) for (a, b), s in zip(pairs, scores) if a == pre and (s >= 0.5 and polyadic)]
        keep = sorted(set(keep) | {(pairs[best][1], float(scores[best]))})
        rows.append((cid, pre, float(scores[best]), tuple(b for b, _ in keep), tuple(float(s) for _, s in keep)))
    return PartnerResult(cleft_ids=np.array([r[0] for r in rows], np.uint64),
                         pre_ids=np.array([r[1] for r in rows], np.uint64),
                         pre_scores=np.array([r[2] for r in rows], float),
                         post_ids=tuple(r[3] for r in rows), post_scores=tuple(r[4] for r in rows))
