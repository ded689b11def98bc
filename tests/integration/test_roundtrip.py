"""Every extension type: write → read → equal, and the file passes pynwb validation and nwbinspector (DANDI)."""

import numpy as np
import pytest
from hdmf.testing import TestCase
from pynwb import NWBHDF5IO

from nwbsyn.io.validate import validate_nwb
from nwbsyn.testing import MOCK_TYPE_BUILDERS, mock_nwbfile

_CASE = TestCase()


@pytest.mark.parametrize("type_name", sorted(MOCK_TYPE_BUILDERS))
def test_type_roundtrip_and_validates(tmp_path, type_name):
    nwbfile = mock_nwbfile()
    written = MOCK_TYPE_BUILDERS[type_name](nwbfile=nwbfile)
    path = tmp_path / f"{type_name}.nwb"
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    with NWBHDF5IO(str(path), "r") as io:
        read = io.read().objects[written.object_id]
        assert type(read) is type(written)
        _CASE.assertContainerEqual(read, written, ignore_hdmf_attrs=True)
    report = validate_nwb(path)
    assert report.ok, report.format()


def test_quantity_columns_keep_their_units(tmp_path):
    from nwbsyn.testing import mock_SynapticEventsTable

    nwbfile = mock_nwbfile()
    table = mock_SynapticEventsTable(n_events=7, nwbfile=nwbfile)
    path = tmp_path / "events.nwb"
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    with NWBHDF5IO(str(path), "r") as io:
        read = io.read().processing["icephys"]["synaptic_events"]
        assert read["amplitude"].unit == "amperes" and read["charge"].unit == "coulombs"
        np.testing.assert_allclose(read["timestamp"].data[:], table["timestamp"].data)
        assert read["trace"][0].timeseries.name == "sweep_0"
        assert read.model.model_name == "mock-model"
        assert bytes(read.model.weights[:]) == bytes(range(64))


def test_inspector_check_catches_scores_outside_unit_interval(tmp_path):
    from nwbsyn.testing import mock_SynapticEventScoreSeries

    nwbfile = mock_nwbfile()
    scores = mock_SynapticEventScoreSeries(nwbfile=nwbfile)
    scores.fields["data"] = scores.data * 3.0
    path = tmp_path / "bad_scores.nwb"
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    report = validate_nwb(path)
    assert not report.ok
    assert any(m["check"] == "check_event_scores_in_unit_interval" for m in report.failures)
