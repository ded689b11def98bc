"""check_cached_schema: one sentence for a newer cached ndx-nwbsyn or for ndx-nwbsyn objects without a cache."""

import h5py
from pynwb.testing.mock.file import mock_NWBFile

from ndx_nwbsyn import SCHEMA_VERSION, check_cached_schema
from ndx_nwbsyn.testing.mock import mock_EMImageVolume

from ndx_helpers import write


def _file(tmp_path):
    nwbfile = mock_NWBFile()
    mock_EMImageVolume(nwbfile=nwbfile)
    return write(nwbfile, tmp_path / "em.nwb")


def test_a_file_of_this_version_passes(tmp_path):
    with h5py.File(_file(tmp_path), "r") as f:
        assert check_cached_schema(f) is None


def test_a_newer_minor_version_says_upgrade(tmp_path):
    path = _file(tmp_path)
    with h5py.File(path, "a") as f:
        f["specifications/ndx-nwbsyn"].move(SCHEMA_VERSION, "0.9.0")
    with h5py.File(path, "r") as f:
        message = check_cached_schema(f, label="em.nwb")
        assert check_cached_schema(f, installed="0.9.1") is None  # a patch release reads it
    assert message.startswith("em.nwb was written with ndx-nwbsyn 0.9.0") and "pip install -U" in message
    assert message.count(". ") == 0 and message.endswith(".")


def test_objects_without_a_cached_schema(tmp_path):
    path = _file(tmp_path)
    with h5py.File(path, "a") as f:
        del f["specifications/ndx-nwbsyn"]
    with h5py.File(path, "r") as f:
        assert "no cached ndx-nwbsyn schema" in check_cached_schema(f)


def test_a_file_without_ndx_nwbsyn_passes(tmp_path):
    path = write(mock_NWBFile(), tmp_path / "plain.nwb")
    with h5py.File(path, "r") as f:
        assert check_cached_schema(f) is None
