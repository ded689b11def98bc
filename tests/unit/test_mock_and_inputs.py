"""Mock input files validate; list_analysable and find_object see what the analyses need."""

import pytest

from nwbsyn import InputError
from nwbsyn._shared.nwb import find_object, list_analysable
from nwbsyn.io.validate import validate_nwb
from nwbsyn.testing import (
    mock_ecephys_nwbfile,
    mock_em_nwbfile,
    mock_icephys_nwbfile,
    mock_ophys_nwbfile,
)

from conftest import write_nwbfile

BUILDERS = [mock_icephys_nwbfile, mock_ophys_nwbfile, mock_ecephys_nwbfile, mock_em_nwbfile]


@pytest.mark.parametrize("builder", BUILDERS, ids=lambda b: b.__name__)
def test_mock_file_validates(tmp_path, builder):
    path = write_nwbfile(builder(), tmp_path / f"{builder.__name__}.nwb")
    report = validate_nwb(path)
    assert report.ok, report.format()


@pytest.mark.parametrize("builder, kind, analysis", [
    (mock_icephys_nwbfile, "patch_clamp", "events"),
    (mock_ophys_nwbfile, "roi_response", "connectivity"),
    (mock_ecephys_nwbfile, "units", "connectivity"),
    (mock_em_nwbfile, "em_volume", "partners"),
])
def test_list_analysable_finds_each_kind(builder, kind, analysis):
    items = [i for i in list_analysable(builder()) if i.kind == kind]
    assert len(items) >= 1 and analysis in items[0].analyses


def test_icephys_mock_registers_sweeps_in_the_recordings_table():
    nwbfile = mock_icephys_nwbfile(n_sweeps=3, sampling_rate_hz=10_000, duration_s=0.5)
    assert len(nwbfile.intracellular_recordings) == 3
    assert [i.path for i in list_analysable(nwbfile)] == [f"acquisition/sweep_{k}" for k in range(3)]
    assert nwbfile.acquisition["sweep_2"].data.shape == (5000,)


def test_find_object_by_name_or_path_and_clear_error():
    nwbfile = mock_icephys_nwbfile(n_sweeps=2)
    assert find_object(nwbfile, "sweep_1").name == "sweep_1"
    assert find_object(nwbfile, "acquisition/sweep_0").name == "sweep_0"
    with pytest.raises(InputError, match="'sweep_9' was not found.*acquisition/sweep_0, acquisition/sweep_1"):
        find_object(nwbfile, "sweep_9")
