"""Every mock builds alone and writes; all of them compose into ONE file that reads back and validates."""

import pytest
from pynwb import NWBHDF5IO, validate
from pynwb.testing.mock.file import mock_NWBFile

from ndx_nwbsyn.testing.mock import MOCKS

from ndx_helpers import write

FILE_MOCKS = {name: mock for name, mock in MOCKS.items() if name != "QuantityVectorData"}


@pytest.mark.parametrize("mock", MOCKS.values(), ids=list(MOCKS))
def test_mock_builds_alone(mock):
    obj = mock()
    assert obj.neurodata_type in MOCKS


@pytest.mark.parametrize("name", FILE_MOCKS)
def test_mock_in_a_file_writes_and_validates(name, tmp_path):
    nwbfile = mock_NWBFile()
    FILE_MOCKS[name](nwbfile=nwbfile)
    path = write(nwbfile, tmp_path / "one.nwb")
    assert list(validate(path=str(path))) == []


def test_every_type_into_one_file(tmp_path):
    nwbfile = mock_NWBFile()
    for mock in FILE_MOCKS.values():
        mock(nwbfile=nwbfile)
    path = write(nwbfile, tmp_path / "all.nwb")
    assert list(validate(path=str(path))) == []
    with NWBHDF5IO(str(path), "r") as io:
        found = {obj.neurodata_type for obj in io.read().objects.values() if obj.namespace == "ndx-nwbsyn"}
    assert found == set(MOCKS)  # QuantityVectorData: the events table's amplitude and baseline


def test_mocks_compose_on_shared_prerequisites(tmp_path):
    from ndx_nwbsyn.testing.mock import mock_SynapticCleftTable, mock_SynapticPartnerTable

    nwbfile = mock_NWBFile()
    clefts = mock_SynapticCleftTable(nwbfile=nwbfile)
    partners = mock_SynapticPartnerTable(cleft_table=clefts, nwbfile=nwbfile)  # the issue: this used to fail
    second = mock_SynapticPartnerTable(nwbfile=nwbfile)  # and a second, independent one
    assert partners.cleft.table is clefts and second.cleft.table is not clefts
    write(nwbfile, tmp_path / "composed.nwb")


def test_inspector_finds_nothing_critical(tmp_path):
    inspector = pytest.importorskip("nwbinspector")
    import ndx_nwbsyn.checks  # noqa: F401

    nwbfile = mock_NWBFile()
    for mock in FILE_MOCKS.values():
        mock(nwbfile=nwbfile)
    path = write(nwbfile, tmp_path / "all.nwb")
    messages = [m for m in inspector.inspect_nwbfile(nwbfile_path=str(path),
                                                     importance_threshold=inspector.Importance.BEST_PRACTICE_VIOLATION)
                if m.object_type in MOCKS]  # the bare mock NWBFile lacks a Subject: not ours to judge
    assert messages == [], messages
