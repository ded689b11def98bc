"""CREMI HDF5 reading and writing: round trip, the real crops in ../shared/data/em, bad files."""

from pathlib import Path

import h5py
import numpy as np
import pytest

from nwbsyn._shared import InputError
from nwbsyn.partners import (
    CREMI_NO_CLEFT,
    CremiAnnotations,
    CremiVolume,
    cremi_synapses,
    read_cremi,
    simulate_volume,
    write_cremi,
)

EM = Path(__file__).resolve().parents[4] / "shared" / "data" / "em"
REAL = EM / "cremi_sampleB_sec46-50_500x500_FAKE_annotations.hdf"
LABELS_ONLY = EM / "cremi_python_example_neuron_ids.h5"


@pytest.fixture(scope="module")
def sim():
    return simulate_volume(shape_zyx=(12, 128, 128), n_synapses=5, polyadic_fraction=0.5, rng=4)


def test_simulated_roundtrip(sim, tmp_path):
    path = write_cremi(tmp_path / "sim.hdf", sim)
    vol = read_cremi(path)
    np.testing.assert_array_equal(vol.raw, sim.raw)
    np.testing.assert_array_equal(vol.neuron_ids, sim.neuron_ids)
    np.testing.assert_array_equal(vol.clefts, sim.clefts)
    assert vol.resolution_nm == sim.voxel_size_nm
    assert vol.clefts.dtype == np.uint64 and vol.neuron_ids.dtype == np.uint64
    # the on-disk layout is CREMI's: background cleft is max uint64
    with h5py.File(path, "r") as f:
        assert np.array_equal(f["volumes/raw"].attrs["resolution"], [40, 8, 8])
        on_disk = f["volumes/labels/clefts"][...]
        assert np.all((on_disk == CREMI_NO_CLEFT) == (sim.clefts == 0))
        assert f["annotations/types"][0] == b"presynaptic_site"
    # the partner annotations point at the right segments
    ann = vol.annotations
    assert len(ann.partners) == len(sim.edges())
    seg = ann.segment_partners(vol.neuron_ids, vol.resolution_nm)
    assert sorted(map(tuple, seg.tolist())) == sorted(map(tuple, sim.edges()[:, 1:].tolist()))
    # write -> read -> write -> read is identical, annotations included
    again = read_cremi(write_cremi(tmp_path / "again.hdf", vol))
    np.testing.assert_array_equal(again.clefts, vol.clefts)
    np.testing.assert_array_equal(again.annotations.partners, ann.partners)
    np.testing.assert_array_equal(again.annotations.ids, ann.ids)
    np.testing.assert_allclose(again.annotations.locations_nm, ann.locations_nm)
    assert again.annotations.types == ann.types


def test_derived_synapse_table_matches_simulation(sim, tmp_path):
    vol = read_cremi(write_cremi(tmp_path / "sim.hdf", sim))
    assert len(vol.synapses) == len(sim.synapses) and any(s.is_polyadic for s in vol.synapses)
    for got, want in zip(vol.synapses, sim.synapses):
        assert (got.cleft_id, got.pre_id, got.post_ids, got.n_voxels) == (
            want.cleft_id, want.pre_id, want.post_ids, want.n_voxels)
        np.testing.assert_allclose(got.centroid_zyx, want.centroid_zyx)


def test_derived_table_finds_cleft_near_off_cleft_sites():
    # annotators put sites inside the segments, off the cleft: the cleft is found near their midpoint
    clefts = np.zeros((3, 20, 20), np.uint64)
    clefts[1, 8:12, 9:11] = 7
    nid = np.zeros_like(clefts)
    nid[:, :, :10] = 3
    nid[:, :, 10:] = 4
    nid[:, :3, 10:] = 5
    ann = CremiAnnotations(
        ids=np.array([1, 2, 3], np.uint64), types=("presynaptic_site", "postsynaptic_site", "postsynaptic_site"),
        locations_nm=np.array([[60.0, 40.0, 30.0], [60.0, 40.0, 50.0], [60.0, 0.0, 70.0]]),
        partners=np.array([[1, 2], [1, 3]], np.uint64))
    vol = CremiVolume(raw=np.zeros(clefts.shape, np.uint8), neuron_ids=nid, clefts=clefts,
                      resolution_nm=(40.0, 4.0, 4.0), annotations=ann)
    (syn,) = cremi_synapses(vol, search_radius_nm=16.0)
    assert (syn.cleft_id, syn.pre_id, syn.post_ids, syn.n_voxels) == (7, 3, (4, 5), 8)
    np.testing.assert_allclose(syn.centroid_zyx, (1.0, 9.5, 9.5))
    # with a small radius the far post site (segment 5) finds no cleft and is left out
    (syn,) = cremi_synapses(vol, search_radius_nm=4.0)
    assert syn.post_ids == (4,)


def test_lazy_read(sim, tmp_path):
    path = write_cremi(tmp_path / "sim.hdf", sim)
    with read_cremi(path, lazy=True) as vol:
        assert vol.raw.shape == sim.raw.shape
        np.testing.assert_array_equal(vol.raw[2:4, :10], sim.raw[2:4, :10])
        np.testing.assert_array_equal(vol.clefts[3], sim.clefts[3])
        np.testing.assert_array_equal(np.asarray(vol.clefts), sim.clefts)
        assert vol.synapses == () and len(cremi_synapses(vol)) == len(sim.synapses)


@pytest.mark.skipif(not REAL.exists(), reason="real CREMI crop not in ../shared/data/em")
def test_real_cremi_crop():
    vol = read_cremi(REAL)
    assert vol.raw.shape == (5, 500, 500) and vol.raw.dtype == np.uint8
    assert vol.resolution_nm == (40.0, 4.0, 4.0)
    assert len(np.unique(vol.neuron_ids)) == 27 and vol.clefts is None
    ann = vol.annotations
    assert len(ann) == 10 and ann.types.count("presynaptic_site") == 5
    assert ann.partners.tolist() == [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10]]
    np.testing.assert_allclose(ann.locations_nm[0], [90.60619, 664.5963, 1656.6062], rtol=1e-5)
    assert ann.segment_partners(vol.neuron_ids, vol.resolution_nm).shape == (5, 2)
    assert vol.synapses == ()  # no clefts in this crop, so no per-cleft table


@pytest.mark.skipif(not LABELS_ONLY.exists(), reason="cremi_python example not in ../shared/data/em")
def test_file_without_raw_is_rejected():
    with pytest.raises(InputError, match="no /volumes/raw"):
        read_cremi(LABELS_ONLY)


def test_bad_files(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_cremi(tmp_path / "nope.hdf")
    (tmp_path / "text.hdf").write_text("not hdf5")
    with pytest.raises(InputError, match="not an HDF5"):
        read_cremi(tmp_path / "text.hdf")
    with h5py.File(tmp_path / "nores.hdf", "w") as f:
        f["volumes/raw"] = np.zeros((2, 4, 4), np.uint8)
    with pytest.raises(InputError, match="resolution"):
        read_cremi(tmp_path / "nores.hdf")
    with h5py.File(tmp_path / "shape.hdf", "w") as f:
        f["volumes/raw"] = np.zeros((2, 4, 4), np.uint8)
        f["volumes/raw"].attrs["resolution"] = (40.0, 4.0, 4.0)
        f["volumes/labels/neuron_ids"] = np.zeros((2, 4, 5), np.uint64)
    with pytest.raises(InputError, match="differ in shape"):
        read_cremi(tmp_path / "shape.hdf")
    bad = CremiVolume(raw=np.zeros((2, 4, 4), np.uint8), neuron_ids=np.zeros((2, 4, 5), np.uint64),
                      clefts=None, resolution_nm=(40.0, 4.0, 4.0))
    with pytest.raises(InputError, match="same shape"):
        write_cremi(tmp_path / "bad.hdf", bad)


def test_cli_simulate_writes_a_readable_cremi_file(tmp_path, capsys):
    from nwbsyn.cli import main
    from nwbsyn.partners import read_cremi

    out = tmp_path / "vol.hdf"
    assert main(["partners", "simulate", "-o", str(out), "--shape", "16", "128", "128", "--seed", "1"]) == 0
    assert "synapses" in capsys.readouterr().out
    volume = read_cremi(out)
    assert volume.raw.shape == (16, 128, 128) and volume.clefts.max() > 0
    assert main(["partners", "simulate", "-o", str(out)]) == 2
