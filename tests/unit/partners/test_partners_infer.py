"""Cleft detection and partner assignment logic, with oracle networks that read the truth from the image."""

import h5py
import numpy as np
import pytest
import torch

from nwbsyn._shared import InputError
from nwbsyn.partners import assign_partners, assignment_accuracy, detect_clefts, simulate_volume, synapse_edge_f1
from nwbsyn.partners.infer import clefts_from_labels, predict_blockwise


class Oracle(torch.nn.Module):
    """Logits from grey levels: cleft net fires on 0; association net: 255 = pre, 128 = post."""

    xy_factor = 1

    def __init__(self, task):
        super().__init__()
        self.task = task

    def forward(self, x):
        img = x[:, :1]
        if self.task == "cleft":
            return (img < 0.02).float() * 20 - 10
        return torch.cat([(img > 0.98).float() * 20 - 10, ((img - 128 / 255).abs() < 0.01).float() * 20 - 10], 1)


@pytest.fixture(scope="module")
def vol():
    return simulate_volume(shape_zyx=(12, 128, 128), n_synapses=6, polyadic_fraction=0.5, rng=11)


def _painted(vol, syn) -> np.ndarray:
    """An image in which the synapse's pre segment is 255 and its post segments 128."""
    raw = np.full(vol.shape, 60, np.uint8)
    raw[vol.neuron_ids == syn.pre_id] = 255
    raw[np.isin(vol.neuron_ids, syn.post_ids)] = 128
    return raw


def test_detect_clefts_finds_each_component_and_drops_small_ones(vol):
    raw = np.full(vol.shape, 200, np.uint8)
    raw[vol.clefts > 0] = 0
    raw[5, 3, 3] = 0  # one dark voxel: dust
    found = detect_clefts(raw, model=Oracle("cleft"), min_voxels=20, device="cpu")
    sizes = np.bincount(vol.clefts.ravel().astype(np.int64))[1:]
    assert len(found) == (sizes >= 20).sum()
    assert found.labels[5, 3, 3] == 0 and np.all(found.scores > 0.99)
    assert synapse_edge_f1(found.labels, {int(c): (1, 2) for c in found.cleft_ids},
                           vol.clefts, {s.cleft_id: (1, 2) for s in vol.synapses if s.n_voxels >= 20}).f1 == 1.0


def test_blockwise_prediction_reads_and_writes_hdf5(tmp_path, vol):
    with h5py.File(tmp_path / "v.h5", "w") as f:
        f["raw"] = vol.raw
        out = f.create_dataset("prob", shape=vol.shape, dtype=np.uint8)
        predict_blockwise(Oracle("cleft"), f["raw"], block_zyx=(5, 40, 50), out=out)
        whole = predict_blockwise(Oracle("cleft"), vol.raw, block_zyx=vol.shape)
        assert np.array_equal(out[...], whole)
    assert np.array_equal(whole > 127, vol.raw < 6)


@pytest.mark.parametrize("polyadic", [True, False])
def test_assignment_with_true_clefts(vol, polyadic):
    found = {}
    for syn in vol.synapses:  # one cleft at a time: the oracle reads this synapse's partners from the image
        only = np.where(vol.clefts == syn.cleft_id, vol.clefts, 0)
        res = assign_partners(_painted(vol, syn), vol.neuron_ids, only, model=Oracle("association"),
                              patch_zyx=(8, 64, 64), polyadic=polyadic, device="cpu")
        assert res.edges().dtype == np.uint64 and res.edge_scores().shape == (len(res.edges()), 2)
        found.update(res.partners())
    truth = vol.partners()
    assert any(len(p) > 1 for _, p in truth.values())
    if polyadic:
        assert assignment_accuracy(found, truth).accuracy == 1.0
    else:
        assert all(len(p) == 1 for _, p in found.values())
        assert all(found[c][0] == truth[c][0] and set(found[c][1]) <= set(truth[c][1]) for c in truth)


def test_assignment_near_the_border_and_with_a_tiny_volume(vol):
    small = tuple(slice(0, n) for n in (5, 40, 40))
    labels = np.zeros((5, 40, 40), np.int64)
    labels[2, 0:3, 0:4] = 7  # a cleft in the corner: the patch is shifted and padded
    seg = np.ones((5, 40, 40), np.int64)
    seg[:, 2:, :] = 2
    raw = np.where(seg == 1, 255, 128).astype(np.uint8)
    res = assign_partners(raw, seg, labels, model=Oracle("association"), patch_zyx=(8, 64, 64), device="cpu")
    assert res.partners() == {7: (1, (2,))}
    assert vol.raw[small].shape == raw.shape


def test_a_segment_grazing_the_cleft_rim_is_no_candidate():
    seg = np.ones((5, 40, 40), np.int64)
    seg[:, 20:, :] = 2
    seg[:, 20:, 30:] = 3  # touches the cleft's end with 2 voxels
    raw = np.where(seg == 1, 255, 128).astype(np.uint8)  # the oracle calls both 2 and 3 postsynaptic
    labels = np.zeros(seg.shape, np.int64)
    labels[2, 19:21, 5:30] = 4
    kw = dict(model=Oracle("association"), patch_zyx=(8, 64, 64), device="cpu")
    assert assign_partners(raw, seg, labels, **kw).partners() == {4: (1, (2,))}
    assert assign_partners(raw, seg, labels, min_contact_voxels=0, **kw).partners() == {4: (1, (2, 3))}


def test_cleft_table_from_labels():
    labels = np.zeros((4, 10, 10), np.uint64)
    labels[1, 2:4, 2:6] = 5
    t = clefts_from_labels(labels)
    assert t.cleft_ids.tolist() == [5] and t.num_voxels.tolist() == [8]
    assert t.bounding_boxes.tolist() == [[1, 2, 2, 2, 4, 6]] and np.allclose(t.centroids_zyx, [[1, 2.5, 3.5]])


def test_sparse_huge_ids_need_no_huge_tables():
    """Cleft ids up to 2**64 - 2 and segment ids above 2**63 (cc3d would allocate per id otherwise)."""
    big = np.uint64(2**64 - 2)
    labels = np.zeros((5, 40, 40), np.uint64)
    labels[2, 19:21, 5:30] = big
    labels[2, 5:7, 5:30] = 3
    t = clefts_from_labels(labels)
    assert t.cleft_ids.tolist() == [3, int(big)] and t.num_voxels.tolist() == [50, 50]
    seg = np.full((5, 40, 40), 2**63 + 1, np.uint64)
    seg[:, 20:, :] = 2**63 + 2
    raw = np.where(seg == 2**63 + 1, 255, 128).astype(np.uint8)
    res = assign_partners(raw, seg, np.where(labels == big, labels, 0), model=Oracle("association"),
                          patch_zyx=(8, 64, 64), device="cpu")
    assert res.partners() == {int(big): (2**63 + 1, (2**63 + 2,))}


def test_bad_inputs(vol):
    with pytest.raises(InputError, match="3-D"):
        detect_clefts(np.zeros((10, 10), np.uint8), model=Oracle("cleft"))
    with pytest.raises(InputError, match="threshold"):
        detect_clefts(vol.raw, model=Oracle("cleft"), threshold=1.5)
    with pytest.raises(InputError, match="segmentation has shape"):
        assign_partners(vol.raw, vol.neuron_ids[:2], vol.clefts, model=Oracle("association"))


def test_blockwise_labels_equal_whole_volume_labels():
    import cc3d
    from scipy import ndimage as ndi

    from nwbsyn.partners._blockwise import label_blockwise

    rng = np.random.default_rng(0)
    prob = (ndi.gaussian_filter(rng.random((20, 90, 110)), 2) > 0.52).astype(np.uint8) * 255
    out = np.zeros(prob.shape, np.uint32)
    stats = label_blockwise(prob, threshold_u8=127, min_voxels=30, block_zyx=(7, 31, 40), out=out)
    ref = cc3d.dust(cc3d.connected_components(prob > 127, connectivity=6), threshold=30, connectivity=6)
    ref = cc3d.connected_components(ref > 0, connectivity=6)
    assert len(stats["cleft_ids"]) == ref.max() > 10
    pairs = np.unique(np.stack([out.ravel(), ref.ravel()]), axis=1)  # the same partition, other numbers
    assert len(pairs[0]) == len(np.unique(pairs[0])) == len(np.unique(pairs[1]))
    whole = clefts_from_labels(out, probability=prob)
    assert np.allclose(whole.centroids_zyx, stats["centroids_zyx"])
    assert np.array_equal(whole.bounding_boxes, stats["bounding_boxes"])
    assert np.array_equal(whole.num_voxels, stats["num_voxels"])


def test_detect_clefts_in_a_workspace_file(tmp_path, vol):
    raw = np.full(vol.shape, 200, np.uint8)
    raw[vol.clefts > 0] = 0
    found = detect_clefts(raw, model=Oracle("cleft"), min_voxels=20, block_zyx=(5, 64, 64),
                          workspace=tmp_path / "ws.h5", device="cpu")
    in_memory = detect_clefts(raw, model=Oracle("cleft"), min_voxels=20, device="cpu")
    assert np.array_equal(found.labels[...] > 0, in_memory.labels > 0) and len(found) == len(in_memory) > 3
    assert sorted(found.num_voxels.tolist()) == sorted(in_memory.num_voxels.tolist())
