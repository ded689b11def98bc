"""Inference at the user's voxel size: resampling to the networks' grid and back, block by block."""

import numpy as np
import pytest

from nwbsyn.partners import detect_clefts, simulate_volume
from nwbsyn.partners.infer import predict_blockwise
from nwbsyn.partners.resample import Resampling, network_voxel_size_nm, resampling_for


def test_a_2x_reduction_is_the_mean_of_the_voxels_covered_and_labels_take_one_of_them():
    rs = Resampling(input_nm=(40, 4, 4), network_nm=(40, 8, 8), shape_in=(3, 10, 12))
    img = np.random.default_rng(0).integers(0, 255, (3, 10, 12)).astype(np.uint8)
    net = rs.read_net(img, rs.net_box(), order=1)
    assert net.shape == rs.shape_net == (3, 5, 6)
    blocks = img.reshape(3, 5, 2, 6, 2).astype(float).mean(axis=(2, 4))
    np.testing.assert_allclose(net, blocks, rtol=1e-5)
    labels = rs.read_net(img, rs.net_box(), order=0)
    assert labels.dtype == img.dtype and np.all(labels == img[:, 1::2, 1::2])


def test_linear_fields_come_back_exactly_from_a_coarser_and_a_finer_grid():
    z, y, x = np.mgrid[0:4, 0:32, 0:32].astype(np.float32)
    field = 3.0 * y + 2.0 * x + z
    for net_nm in ((40, 8, 8), (40, 2, 2)):
        rs = Resampling(input_nm=(40, 4, 4), network_nm=net_nm, shape_in=field.shape)
        full = rs.net_box()
        back = rs.to_input_grid(rs.read_net(field, full, order=1), full, tuple(slice(0, n) for n in field.shape))
        inner = (slice(None), slice(2, -2), slice(2, -2))  # edges are clamped
        np.testing.assert_allclose(back[inner], field[inner], atol=1e-3)


def test_blocks_see_the_same_grid_as_the_whole_volume():
    """Any input block maps to network voxels by the same global rule: no seams."""
    rs = Resampling(input_nm=(40, 16, 16), network_nm=(40, 8, 8), shape_in=(2, 40, 40))
    img = np.random.default_rng(1).random((2, 40, 40)).astype(np.float32)
    whole = rs.read_net(img, rs.net_box(), order=1)
    part_in = (slice(0, 2), slice(10, 30), slice(5, 25))
    box = rs.net_box(part_in)
    np.testing.assert_allclose(rs.read_net(img, box, order=1), whole[box], atol=1e-6)


def test_axes_within_the_tolerance_are_left_alone_and_far_inputs_get_a_note():
    assert Resampling(input_nm=(42, 8, 8), network_nm=(40, 8, 8), shape_in=(4, 8, 8)).identity
    assert Resampling(input_nm=(40, 4, 4), network_nm=(40, 8, 8), shape_in=(4, 8, 8)).note is None
    note = Resampling(input_nm=(40, 2, 2), network_nm=(40, 8, 8), shape_in=(4, 8, 8)).note
    assert "more than 2x" in note and "y 2 nm (trained 8 nm)" in note


def test_the_training_resolution_comes_from_the_model_card():
    from nwbsyn.partners.infer import load_network

    _, info = load_network("default", task="cleft")
    assert network_voxel_size_nm(info) == (40.0, 8.0, 8.0)
    assert resampling_for((4, 8, 8), None, info).identity


def test_blockwise_prediction_on_a_resampled_grid_matches_one_block():
    import torch

    from nwbsyn.partners.model import ResidualUNet3d

    torch.manual_seed(0)
    net = ResidualUNet3d(in_channels=1, out_channels=1, widths=(4, 6)).eval()
    raw = np.random.default_rng(2).integers(0, 255, (6, 64, 64)).astype(np.uint8)
    rs = Resampling(input_nm=(40, 4, 4), network_nm=(40, 8, 8), shape_in=raw.shape)
    one = predict_blockwise(net, raw, block_zyx=(6, 64, 64), resampling=rs)
    many = predict_blockwise(net, raw, block_zyx=(3, 24, 40), halo_zyx=(4, 24, 24), resampling=rs)
    assert one.shape == raw.shape
    assert np.abs(one.astype(int) - many.astype(int)).max() <= 1


@pytest.mark.parametrize("pixel_nm", [4.0, 16.0])
def test_detection_at_another_voxel_size_returns_labels_on_the_input_grid(pixel_nm):
    shape = (12, int(768 / pixel_nm), int(768 / pixel_nm))
    vol = simulate_volume(shape_zyx=shape, voxel_size_nm=(40, pixel_nm, pixel_nm), n_synapses=3, rng=4)
    found = detect_clefts(vol.raw, voxel_size_nm=vol.voxel_size_nm, device="cpu")
    assert found.labels.shape == vol.raw.shape and found.probability.shape == vol.raw.shape
    assert found.voxel_size_nm == vol.voxel_size_nm and found.notes == ()
    assert len(found) >= 1 and set(np.unique(found.labels)) == {0, *found.cleft_ids.tolist()}
    hit = [c for c in found.cleft_ids if np.any(vol.clefts[found.labels == c])]
    assert len(hit) >= 1
