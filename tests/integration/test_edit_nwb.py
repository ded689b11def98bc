"""Writing results: new output file by default, atomic in-place writing, refusals and bad input."""

import hashlib
from pathlib import Path

import numpy as np
import pytest
from hdmf.data_utils import DataChunkIterator
from pynwb import NWBHDF5IO, TimeSeries

from nwbsyn import InputError
from nwbsyn._shared.nwb import get_or_create_module, make_provenance, put_result
from nwbsyn.io import edit_nwb, list_results, open_nwb


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _add_model(nwbfile, overwrite=False):
    provenance = make_provenance(name="model", model_name="m", architecture="a", method="m", parameters={})
    put_result(get_or_create_module(nwbfile, "icephys"), provenance, overwrite=overwrite)


def test_default_writes_a_new_file_and_leaves_the_input_alone(icephys_file):
    before = _digest(icephys_file)
    with edit_nwb(icephys_file) as nwbfile:
        _add_model(nwbfile)
    output = icephys_file.with_name("icephys_nwbsyn.nwb")
    assert _digest(icephys_file) == before
    with open_nwb(output) as nwbfile:
        assert ("processing/icephys/model", "ModelProvenance") in list_results(nwbfile)
        assert nwbfile.acquisition["sweep_0"].data.shape == (20000,)  # copied, not linked
    with NWBHDF5IO(str(output), "r") as io:
        assert not io.read().acquisition["sweep_0"].data.file.filename.endswith("icephys.nwb")


def test_in_place_replaces_the_input(icephys_file):
    with edit_nwb(icephys_file, in_place=True) as nwbfile:
        _add_model(nwbfile)
    with open_nwb(icephys_file) as nwbfile:
        assert "model" in nwbfile.processing["icephys"].data_interfaces
    assert sorted(p.name for p in icephys_file.parent.iterdir()) == ["icephys.nwb"]


def _failing_series():
    def chunks():
        for i in range(10):
            if i == 5:
                raise RuntimeError("simulated failure in the middle of writing")
            yield np.full(1000, float(i))

    return TimeSeries(name="failing", data=DataChunkIterator(data=chunks(), buffer_size=1), unit="a", rate=1.0)


@pytest.mark.parametrize("in_place", [True, False])
def test_a_failure_midway_leaves_no_partial_file(icephys_file, in_place):
    before = _digest(icephys_file)
    with pytest.raises(RuntimeError, match="simulated failure"):
        with edit_nwb(icephys_file, in_place=in_place) as nwbfile:
            get_or_create_module(nwbfile, "misc").add(_failing_series())
    assert _digest(icephys_file) == before
    assert sorted(p.name for p in icephys_file.parent.iterdir()) == ["icephys.nwb"]


def test_an_error_inside_the_block_writes_nothing(icephys_file):
    with pytest.raises(KeyError):
        with edit_nwb(icephys_file):
            raise KeyError("analysis failed")
    assert sorted(p.name for p in icephys_file.parent.iterdir()) == ["icephys.nwb"]


def test_rerun_refuses_existing_results_unless_overwrite(icephys_file):
    with edit_nwb(icephys_file, in_place=True) as nwbfile:
        _add_model(nwbfile)
    with pytest.raises(InputError, match="already exists.*overwrite"):
        with edit_nwb(icephys_file, in_place=True) as nwbfile:
            _add_model(nwbfile)
    with edit_nwb(icephys_file, in_place=True) as nwbfile:
        _add_model(nwbfile, overwrite=True)
    with open_nwb(icephys_file) as nwbfile:
        assert [p for p, _ in list_results(nwbfile)] == ["processing/icephys/model"]


def test_existing_output_and_output_equal_to_input_are_refused(icephys_file, tmp_path):
    (tmp_path / "taken.nwb").write_bytes(b"x")
    with pytest.raises(InputError, match="already exists"):
        with edit_nwb(icephys_file, output=tmp_path / "taken.nwb"):
            pass
    with pytest.raises(InputError, match="--in-place"):
        with edit_nwb(icephys_file, output=icephys_file):
            pass
    with pytest.raises(InputError, match="does not exist"):
        with edit_nwb(icephys_file, output=tmp_path / "missing_dir" / "out.nwb"):
            pass


def test_read_only_output_location_is_a_clear_error(icephys_file):
    with pytest.raises(InputError, match="Could not write"):
        with edit_nwb(icephys_file, output="/proc/nwbsyn_out.nwb") as nwbfile:
            _add_model(nwbfile)


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    (b"not an hdf5 file", "not an HDF5/NWB file"),
    ("truncated", "is truncated"),
])
def test_bad_inputs(tmp_path, icephys_file, content, message):
    path = tmp_path / "bad.nwb"
    if content == "truncated":
        path.write_bytes(icephys_file.read_bytes()[: 20_000])
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        with open_nwb(path):
            pass
