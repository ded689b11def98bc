"""The residual 3D U-Net, checkpoints, training steps and the mask pruner, on tiny sizes."""

import numpy as np
import pytest
import torch

from nwbsyn._shared import InputError
from nwbsyn.partners.baselines import MaskPrunerNet, candidate_pairs, fit_mask_pruner, mask_pruner_assign
from nwbsyn.partners.model import ResidualUNet3d, load_checkpoint, save_checkpoint
from nwbsyn.partners.train import LabelledVolume, TrainConfig, fit, labelled_volumes


@pytest.fixture(scope="module")
def vols():
    return labelled_volumes(n_volumes=2, seed=5, options=dict(shape_zyx=(8, 96, 96), n_synapses=3))


def test_unet_shape_backward_and_anisotropy():
    net = ResidualUNet3d(in_channels=2, out_channels=2, widths=(4, 6, 8))
    x = torch.randn(2, 2, 5, 32, 48, requires_grad=True)
    y = net(x)
    assert y.shape == (2, 2, 5, 32, 48)
    y.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    # pooling is (1, 2, 2): z is never halved, so an odd number of sections works
    assert net.xy_factor == 4
    with pytest.raises(ValueError, match="divisible by 4"):
        net(torch.zeros(1, 2, 5, 30, 32))


def test_paper_widths_build():
    net = ResidualUNet3d(in_channels=1, out_channels=1, widths=(28, 36, 48, 64, 80))
    assert net.xy_factor == 16 and net.init_kwargs["widths"] == [28, 36, 48, 64, 80]


def test_checkpoint_roundtrip_and_bad_files(tmp_path):
    net = ResidualUNet3d(in_channels=1, out_channels=1, widths=(4, 6)).eval()
    path = save_checkpoint(net, tmp_path / "c.pt", task="cleft")
    again, info = load_checkpoint(path, task="cleft")
    x = torch.randn(1, 1, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(net(x), again(x))
    with pytest.raises(InputError, match="'cleft' network, not a 'association'"):
        load_checkpoint(path, task="association")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="not a usable nwbsyn partners checkpoint"):
        load_checkpoint(junk)
    with pytest.raises(InputError, match="is not a file"):
        load_checkpoint(tmp_path / "missing.pt")


@pytest.mark.parametrize("task", ["cleft", "association"])
def test_training_lowers_validation_loss(vols, task):
    cfg = TrainConfig(task=task, widths=(4, 6), patch_zyx=(4, 32, 32), iterations=30, val_every=10, val_patches=8,
                      batch_size=2, seed=1)
    result = fit(vols, config=cfg, progress_bar=False)
    losses = [h["val_loss"] for h in result.history]
    assert len(losses) == 3 and result.best_val_loss == min(losses)
    assert losses[-1] < losses[0]


def test_training_is_reproducible(vols):
    cfg = TrainConfig(task="association", widths=(4, 6), patch_zyx=(6, 48, 48), iterations=3, val_every=3,
                      val_patches=2, batch_size=1, seed=3)
    a, b = (fit(vols, config=cfg, progress_bar=False).model.state_dict() for _ in range(2))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_training_rejects_bad_volumes(vols):
    with pytest.raises(InputError, match="smaller than the patch"):
        fit(vols, config=TrainConfig(patch_zyx=(16, 96, 96)), progress_bar=False)
    empty = [LabelledVolume(raw=v.raw, neuron_ids=v.neuron_ids, clefts=v.clefts) for v in vols]
    with pytest.raises(InputError, match="no synapses"):
        fit(empty, config=TrainConfig(patch_zyx=(6, 48, 48)), progress_bar=False)
    with pytest.raises(InputError, match="task="):
        fit(vols, config=TrainConfig(task="clefts"), progress_bar=False)


def test_candidate_pairs_are_ordered_and_need_overlap():
    seg = np.zeros((3, 20, 20), np.int64)
    seg[:, :, :10], seg[:, :, 10:] = 1, 2
    seg[1, 0, 0] = 3  # a sliver of a third segment far away
    mask = np.zeros(seg.shape, bool)
    mask[1, 8:12, 9:11] = True
    assert sorted(candidate_pairs(seg, mask)) == [(1, 2), (2, 1)]


def test_mask_pruner_trains_and_assigns(vols):
    net = fit_mask_pruner(vols, iterations=3, batch_size=2, patch_zyx=(6, 48, 48), progress_bar=False)
    assert isinstance(net, torch.nn.Module) and net.init_kwargs["widths"]
    v = vols[0]
    res = mask_pruner_assign(v.raw, v.neuron_ids, v.clefts, model=net, patch_zyx=(6, 48, 48), device="cpu")
    assert set(res.cleft_ids.tolist()) <= set(v.partners)
    assert all(len(p) == 1 for p in res.post_ids)  # dyadic: the best pair only
    assert MaskPrunerNet()(torch.zeros(2, 4, 4, 32, 32)).shape == (2,)


@pytest.mark.parametrize("widths, channels", [((4, 6), 1), ((12, 16, 24, 32), 2), ((28, 36, 48, 64, 80), 1)])
def test_weight_count_from_the_settings_matches_the_network(widths, channels):
    from nwbsyn.partners.model import count_weights

    net = ResidualUNet3d(in_channels=channels, out_channels=channels, widths=widths)
    real = sum(p.numel() for p in net.parameters())
    estimate = count_weights(in_channels=channels, out_channels=channels, widths=widths)
    assert abs(estimate - real) / real < 0.05
