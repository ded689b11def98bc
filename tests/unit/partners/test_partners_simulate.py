"""Synthetic EM generator: shapes, determinism, exact ground truth, polyadic synapses, distractors."""

import numpy as np
import pytest
from scipy import ndimage

from nwbsyn._shared import InputError
from nwbsyn.partners import SimulatedVolume, simulate_dataset, simulate_volume

SHAPE = (24, 192, 192)


@pytest.fixture(scope="module")
def vol() -> SimulatedVolume:
    return simulate_volume(shape_zyx=SHAPE, n_synapses=10, polyadic_fraction=0.5, n_distractors=6, rng=3)


def test_shapes_and_dtypes(vol):
    assert vol.raw.shape == vol.neuron_ids.shape == vol.clefts.shape == SHAPE
    assert vol.raw.dtype == np.uint8
    assert vol.neuron_ids.dtype == np.uint64 and vol.clefts.dtype == np.uint64
    assert vol.voxel_size_nm == (40.0, 8.0, 8.0)
    assert vol.raw.std() > 10  # an image, not a constant
    ids = np.unique(vol.neuron_ids)
    assert ids[0] == 0 and len(ids) > 20  # extracellular space and many neurites
    assert 0.02 < np.mean(vol.neuron_ids == 0) < 0.4  # densely packed


def test_deterministic_with_seed():
    kw = dict(shape_zyx=(8, 64, 64), n_synapses=2, rng=11)
    a, b = simulate_volume(**kw), simulate_volume(**kw)
    np.testing.assert_array_equal(a.raw, b.raw)
    np.testing.assert_array_equal(a.neuron_ids, b.neuron_ids)
    np.testing.assert_array_equal(a.clefts, b.clefts)
    assert a.synapses == b.synapses
    c = simulate_volume(**{**kw, "rng": 12})
    assert not np.array_equal(a.raw, c.raw)


def test_ground_truth_is_exact(vol):
    assert len(vol.synapses) >= 8
    cleft_ids = set(np.unique(vol.clefts).tolist()) - {0}
    assert cleft_ids == {s.cleft_id for s in vol.synapses}
    near = np.ones((1, 5, 5), bool)  # within 2 voxels in y and x
    for s in vol.synapses:
        mask = vol.clefts == s.cleft_id
        assert mask.sum() == s.n_voxels
        assert s.pre_id != 0 and 0 not in s.post_ids and s.pre_id not in s.post_ids
        assert len(set(s.post_ids)) == len(s.post_ids)
        # every cleft voxel is in the pre or a post segment, and both sides are within 2 voxels
        assert np.all(np.isin(vol.neuron_ids[mask], (s.pre_id, *s.post_ids)))
        pre = ndimage.binary_dilation(vol.neuron_ids == s.pre_id, structure=near)
        assert np.all(pre[mask])
        for post in s.post_ids:  # each partner really lines the cleft
            assert np.count_nonzero(mask & (vol.neuron_ids == post)) >= 10
        posts = ndimage.binary_dilation(np.isin(vol.neuron_ids, s.post_ids), structure=near)
        assert np.all(posts[mask])
        assert ndimage.label(mask)[1] == 1  # one 6-connected piece
        centroid = np.argwhere(mask).mean(0)
        np.testing.assert_allclose(centroid, s.centroid_zyx)
    edges = vol.edges()
    assert edges.shape == (sum(len(s.post_ids) for s in vol.synapses), 3)
    assert vol.partners()[vol.synapses[0].cleft_id][0] == vol.synapses[0].pre_id


def test_polyadic_synapses_present(vol):
    n_post = [len(s.post_ids) for s in vol.synapses]
    assert sum(n > 1 for n in n_post) >= 2
    assert max(n_post) <= 5
    dyadic = simulate_volume(shape_zyx=(16, 128, 128), n_synapses=5, polyadic_fraction=0.0, rng=1)
    assert all(not s.is_polyadic for s in dyadic.synapses)


def test_distractors_present(vol):
    p = vol.params
    assert p["n_mitochondria"] >= 2
    assert p["n_vesicle_clouds_without_cleft"] >= 2
    assert p["n_touching_pairs_without_synapse"] > 5 * len(vol.synapses)


def _side_darkness(v):
    """Mean grey level on the pre side minus the post side, 60-300 nm from each cleft."""
    diffs = []
    for s in v.synapses:
        d = ndimage.distance_transform_edt(v.clefts != s.cleft_id, sampling=v.voxel_size_nm)
        ring = (d > 60) & (d < 300)
        pre = ring & (v.neuron_ids == s.pre_id)
        post = ring & np.isin(v.neuron_ids, s.post_ids)
        if pre.sum() > 50 and post.sum() > 50:
            diffs.append(v.raw[pre].mean() - v.raw[post].mean())
    return float(np.mean(diffs))


def test_vesicle_clouds_darken_presynaptic_side():
    kw = dict(shape_zyx=(16, 128, 128), n_synapses=6, n_distractors=0, missing_section_rate=0.0, rng=5)
    with_vesicles = _side_darkness(simulate_volume(**kw))
    without = _side_darkness(simulate_volume(**kw, vesicle_contrast=0.0))
    assert with_vesicles < -5  # pre side darker than post side
    assert with_vesicles < without - 5  # and the vesicles make the difference


def test_missing_sections_blank_but_labelled():
    v = simulate_volume(shape_zyx=(12, 64, 64), n_synapses=1, missing_section_rate=0.5, rng=2)
    assert len(v.missing_sections) > 0
    for z in v.missing_sections:
        assert np.all(v.raw[z] == 0) and np.any(v.neuron_ids[z] > 0)
    others = [z for z in range(12) if z not in v.missing_sections]
    assert all(v.raw[z].std() > 5 for z in others)


@pytest.mark.parametrize("kw", [dict(shape_zyx=(4, 8, 8)), dict(voxel_size_nm=(40, 0, 8)),
                                dict(polyadic_fraction=1.5), dict(max_partners=1), dict(noise_sd=-1)])
def test_bad_options_raise(kw):
    with pytest.raises(InputError):
        simulate_volume(**kw)


def test_simulate_dataset_independent_and_reproducible():
    kw = dict(shape_zyx=(8, 64, 64), n_synapses=1)
    a = simulate_dataset(2, rng=7, **kw)
    b = simulate_dataset(3, rng=7, **kw)
    assert len(a) == 2 and len(b) == 3
    np.testing.assert_array_equal(a[1].raw, b[1].raw)  # volume k does not depend on n_volumes
    assert not np.array_equal(a[0].raw, a[1].raw)
    gen = np.random.default_rng(1)
    assert not np.array_equal(simulate_dataset(1, rng=gen, **kw)[0].raw, simulate_dataset(1, rng=gen, **kw)[0].raw)
    with pytest.raises(InputError):
        simulate_dataset(0, **kw)


def test_vesicles_are_separate_small_rings():
    """Vesicle centres do not overlap (>= 42 nm apart) and each ring is about 35-45 nm across."""
    from nwbsyn.partners.simulate import _sample_vesicles, _vesicle_rings

    rng = np.random.default_rng(0)
    w = np.ones((3, 40, 40))
    box = (slice(0, 3), slice(10, 50), slice(0, 40))
    pos = _sample_vesicles(w, box, 60, rng, (40.0, 8.0, 8.0))
    assert 10 < len(pos) <= 60 and np.all(pos[:, 1] >= 10)
    d = np.linalg.norm((pos[:, None] - pos[None]) * [40.0, 8.0, 8.0], axis=-1)
    assert d[np.triu_indices(len(pos), 1)].min() >= 42.0
    one = _vesicle_rings((1, 21, 21), np.array([[0, 10, 10]]), (40.0, 8.0, 8.0), rng)[0]
    dark = np.argwhere(one > 0.5)
    width_nm = (dark[:, 1].max() - dark[:, 1].min() + 1) * 8.0
    assert 30.0 <= width_nm <= 50.0
    assert one[10, 10] < 0.5 < one[10, 12]  # a ring: lighter centre, dark membrane


def test_import_does_not_load_torch():
    import subprocess
    import sys

    code = "import sys, nwbsyn.partners; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
