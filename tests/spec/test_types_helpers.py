"""nwbsyn.types helpers for writers and readers of schema 0.2, and the 0.1 keywords kept as aliases."""

import warnings

import numpy as np
import pytest

from nwbsyn.types import (
    EMImageVolume,
    FunctionalConnectivity,
    cleft_centroids_nm,
    event_timestamps,
    smallest_unsigned,
)


def test_event_timestamps_carry_the_coarsest_resolution():
    column = event_timestamps([0.5, 1.0], sampling_rates_hz=[50_000.0, 10_000.0])
    assert column.resolution == pytest.approx(1e-4) and column.unit == "seconds"
    with pytest.raises(ValueError, match="sampling_rates_hz"):
        event_timestamps([0.5], sampling_rates_hz=[0.0])


def test_smallest_unsigned():
    assert smallest_unsigned(np.array([0, 255])).dtype == np.uint8
    assert smallest_unsigned(np.array([0, 2**40], dtype=np.int64)).dtype == np.uint64
    with pytest.raises(ValueError, match="negative"):
        smallest_unsigned(np.array([-1, 2]))


def test_cleft_centroids_in_nm():
    from ndx_nwbsyn.testing.mock import mock_SynapticCleftTable

    table = mock_SynapticCleftTable()
    np.testing.assert_allclose(cleft_centroids_nm(table), np.asarray(table.centroid[:]) * [40, 8, 8])


def test_0_1_keywords_still_work_with_a_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        volume = EMImageVolume(name="v", description="d", voxel_size_nm=[40, 8, 8], offset_nm=[0, 0, 0],
                               data=np.zeros((1, 2, 2), np.uint8))
    assert any(issubclass(w.category, DeprecationWarning) for w in caught)
    np.testing.assert_allclose(volume.voxel_size, [40e-9, 8e-9, 8e-9])
    np.testing.assert_allclose(volume.voxel_size_nm, [40, 8, 8])
    with pytest.raises(ValueError, match="both"):
        EMImageVolume(name="v", description="d", voxel_size_nm=[40, 8, 8], voxel_size=[4e-8, 8e-9, 8e-9],
                      data=np.zeros((1, 2, 2), np.uint8))
    with pytest.raises(ValueError, match="voxel_size"):
        EMImageVolume(name="v", description="d", data=np.zeros((1, 2, 2), np.uint8))
    assert FunctionalConnectivity.bin_size_s.__doc__.startswith("'bin_size'")


def test_model_provenance_references_weights_by_default(tmp_path):
    from nwbsyn._shared.provenance import model_provenance

    weights = tmp_path / "w.pt"
    weights.write_bytes(b"0123456789")
    prov = model_provenance(name="m", model_name="x", architecture="a", method="m", parameters={"t": 1},
                            weights_path=weights, model_card={"history": [{"stage": i} for i in range(5000)]})
    assert prov.weights is None and prov.weights_origin == str(weights.resolve()) and len(prov.weights_sha256) == 64
    assert len(prov.model_card) > 64 * 1024  # a card past HDF5's attribute limit: a dataset holds it
    embedded = model_provenance(name="m", model_name="x", architecture="a", method="m", parameters={},
                                weights_path=weights, embed_weights=True)
    assert bytes(embedded.weights) == b"0123456789" and embedded.weights_format == "torch-state-dict"


def test_a_large_model_card_writes(tmp_path):
    from pynwb import NWBHDF5IO
    from pynwb.testing.mock.file import mock_NWBFile

    from ndx_nwbsyn.testing.mock import mock_ModelProvenance

    nwbfile = mock_NWBFile()
    card = {"history": [{"stage": i, "notes": "x" * 40} for i in range(3000)]}
    mock_ModelProvenance(name="big", model_card=card, nwbfile=nwbfile)
    path = tmp_path / "card.nwb"
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    with NWBHDF5IO(str(path), "r") as io:
        assert io.read().processing["misc"]["big"].card() == card
