"""Files written by ndx-nwbsyn 0.1.0 (back_compat/, made by generate_data_0.1.0.py) read with 0.2."""

import warnings

import numpy as np
import pytest
from pynwb import NWBHDF5IO, validate

import ndx_nwbsyn
from ndx_helpers import file_0_1_0  # noqa: F401,F811  (a fixture)


def _read(path):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Ignoring the following cached namespace")
        io = NWBHDF5IO(str(path), "r", load_namespaces=True)
        return io, io.read()


def test_validates_against_its_cached_schema(file_0_1_0):  # noqa: F811
    assert list(validate(path=str(file_0_1_0), use_cached_namespaces=True)) == []


def test_reads_as_schema_0_2_objects(file_0_1_0):  # noqa: F811
    io, nwbfile = _read(file_0_1_0)
    with io:
        image = nwbfile.acquisition["em_raw"]
        assert isinstance(image, ndx_nwbsyn.EMImageVolume) and image.unit == "meters"
        np.testing.assert_allclose(image.voxel_size, [40e-9, 8e-9, 8e-9])
        np.testing.assert_allclose(image.voxel_size_nm, [40, 8, 8])  # the 0.1 spelling, read-only
        clefts = nwbfile.processing["misc"]["synaptic_clefts"]
        centroids, boxes = np.asarray(clefts.centroid[:]), np.asarray(clefts.bounding_box[:])
        assert np.all((boxes[:, :3] <= centroids) & (centroids <= boxes[:, 3:]))  # nm -> voxels, one frame
        connectivity = nwbfile.processing["ecephys"]["functional_connectivity"]
        assert connectivity.bin_size == pytest.approx(0.1)
        model = nwbfile.processing["icephys"]["model"]
        assert model.card() == {"metrics": {"f1": 1.0}} and len(model.weights) == 64
        events = nwbfile.processing["icephys"]["synaptic_events"]
        assert events["amplitude"].unit == "amperes" and len(events) == 3


def test_export_upgrades_to_0_2_and_validates(file_0_1_0, tmp_path):  # noqa: F811
    out = tmp_path / "upgraded.nwb"
    io, nwbfile = _read(file_0_1_0)
    with io, NWBHDF5IO(str(out), "w") as dest:
        dest.export(src_io=io, nwbfile=nwbfile, write_args={"link_data": False})
    assert list(validate(path=str(out), use_cached_namespaces=True)) == []
    import h5py

    with h5py.File(out, "r") as f:
        assert list(f["specifications/ndx-nwbsyn"]) == [ndx_nwbsyn.SCHEMA_VERSION]
        assert "voxel_size" in f["acquisition/em_raw"].attrs and "voxel_size_nm" not in f["acquisition/em_raw"].attrs
        assert "model_card" in f["processing/icephys/model"]  # a dataset now
