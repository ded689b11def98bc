"""`nwbsyn convert abf`: ABF recordings become valid icephys NWB files with the right units and sweeps."""

import numpy as np
import pytest

from nwbsyn import InputError
from nwbsyn.cli import main
from nwbsyn.io import list_analysable, open_nwb
from nwbsyn.io.abf import convert_abf
from nwbsyn.io.validate import validate_nwb

from conftest import SHARED

SUBJECT = {"subject_id": "m1", "species": "Mus musculus", "sex": "F", "age": "P30D"}


@pytest.fixture
def abf_file(tmp_path):
    from pyabf.abfWriter import writeABF1

    data_pA = np.random.default_rng(0).normal(-20.0, 2.0, size=(3, 5000)).astype(np.float32)
    path = tmp_path / "cell.abf"
    writeABF1(data_pA, str(path), 10_000, units="pA")
    return path, data_pA


def test_written_abf_converts_to_voltage_clamp(abf_file, tmp_path):
    path, data_pA = abf_file
    result = convert_abf(path, output=tmp_path / "cell.nwb", subject=SUBJECT)
    assert result.mode == "voltage clamp" and result.series == ["sweep_000", "sweep_001", "sweep_002"]
    assert result.missing_metadata == []
    with open_nwb(result.output) as nwbfile:
        series = nwbfile.acquisition["sweep_001"]
        assert type(series).__name__ == "VoltageClampSeries" and series.unit == "amperes"
        assert series.rate == 10_000.0
        np.testing.assert_allclose(series.data[:] * series.conversion, data_pA[1] * 1e-12, rtol=1e-3)
        assert len(nwbfile.intracellular_recordings) == 3
        assert [i.kind for i in list_analysable(nwbfile)] == ["patch_clamp"] * 3
    assert validate_nwb(result.output).ok


def test_cli_convert_reports_missing_subject(abf_file, capsys):
    path, _ = abf_file
    assert main(["convert", "abf", str(path)]) == 0
    out = capsys.readouterr().out
    assert "3 sweeps" in out and "subject_id" in out
    assert path.with_suffix(".nwb").exists()
    assert main(["convert", "abf", str(path)]) == 2  # exists: refused without --overwrite


def test_not_an_abf_file(tmp_path):
    bad = tmp_path / "bad.abf"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(InputError, match="not an ABF file"):
        convert_abf(bad, output=tmp_path / "bad.nwb")
    assert not (tmp_path / "bad.nwb").exists()


REAL = sorted((SHARED / "data" / "events" / "abf").glob("*/*.abf"))


@pytest.mark.skipif(not REAL, reason="the real ABF recordings in ../shared/data/events/abf are absent")
@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name)
def test_real_abf_files_convert_analyse_and_validate(tmp_path, path):
    result = convert_abf(path, output=tmp_path / "out.nwb", subject=SUBJECT)
    expected_mode = "current clamp" if "cc" in path.parent.name else "voltage clamp"
    assert result.mode == expected_mode and result.n_sweeps >= 3
    report = validate_nwb(result.output)
    assert report.ok, report.format()
    events = tmp_path / "events.nwb"
    assert main(["events", "detect", str(result.output), "-o", str(events), "--quiet",
                 "--plot", str(tmp_path / "events.png")]) == 0
    with open_nwb(events) as nwbfile:
        table = nwbfile.processing["icephys"]["synaptic_events"]
        n_sweeps = len(nwbfile.intracellular_recordings)
        duration_s = sum(len(s.data) / s.rate for s in nwbfile.acquisition.values()
                         if type(s).__name__.endswith("ClampSeries"))
        rate_hz = len(table) / duration_s
        # the READMEs of these recordings describe roughly 1-10 spontaneous events per second
        assert 0.3 <= rate_hz <= 30, (len(table), duration_s)
        assert len(set(table["recording"].data[:])) >= min(n_sweeps, 3)
    assert validate_nwb(events).ok
    assert (tmp_path / "events.png").stat().st_size > 10_000
