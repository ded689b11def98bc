"""`nwbsyn info` and `nwbsyn validate`: readable output, exit codes, one-line errors for bad input."""

import subprocess
import sys

import pytest

from nwbsyn.cli import main
from nwbsyn.testing import mock_ecephys_nwbfile, mock_em_nwbfile, mock_ophys_nwbfile

from conftest import write_nwbfile


def test_info_lists_every_analysable_kind(tmp_path, capsys):
    from nwbsyn.testing import mock_icephys_nwbfile

    nwbfile = mock_icephys_nwbfile(n_sweeps=2)
    for builder in (mock_ophys_nwbfile, mock_ecephys_nwbfile, mock_em_nwbfile):
        builder(nwbfile=nwbfile)
    path = write_nwbfile(nwbfile, tmp_path / "all.nwb")
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    for expected in ("acquisition/sweep_1", "VoltageClampSeries", "RoiResponseSeries", "units", "Units",
                     "EMImageVolume", "EMLabelVolume", "partners", "connectivity", "20000 Hz"):
        assert expected in out


def test_validate_passes_a_good_file(icephys_file, capsys):
    assert main(["validate", str(icephys_file)]) == 0
    assert "OK" in capsys.readouterr().out


def test_validate_fails_on_a_best_practice_violation(tmp_path, capsys):
    from nwbsyn.testing import mock_nwbfile

    nwbfile = mock_nwbfile()
    nwbfile.subject.fields["species"] = "mouse"  # DANDI wants a Latin binomial or an NCBI taxonomy URI
    path = write_nwbfile(nwbfile, tmp_path / "bad_species.nwb")
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert "PROBLEMS FOUND" in out and "species" in out


@pytest.mark.parametrize("make", ["missing", "not_hdf5", "directory", "truncated"])
def test_bad_input_exits_2_with_one_sentence(tmp_path, icephys_file, make):
    path = tmp_path / "bad.nwb"
    if make == "not_hdf5":
        path.write_text("hello")
    elif make == "directory":
        path.mkdir()
    elif make == "truncated":
        path.write_bytes(icephys_file.read_bytes()[:30_000])
    proc = subprocess.run([sys.executable, "-m", "nwbsyn.cli", "info", str(path)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("nwbsyn: error:") and str(path) in lines[0]


def test_help_teaches(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "nwbsyn info" in out and "validate" in out


def test_subject_options_are_checked_and_kept(capsys):
    import argparse

    from nwbsyn._shared import InputError
    from nwbsyn.cli.core import subject_from_arguments

    given = argparse.Namespace(subject_id=" mouse-3 ", species="Mus musculus", sex="F", age="P30D/P40D")
    assert subject_from_arguments(given) == {"subject_id": "mouse-3", "species": "Mus musculus", "sex": "F",
                                             "age": "P30D/P40D"}
    assert subject_from_arguments(argparse.Namespace(subject_id=None, species=None, sex=None, age=None)) is None
    with pytest.raises(InputError, match="--age '30 days'.*e.g. --age P30D"):
        subject_from_arguments(argparse.Namespace(subject_id=None, species=None, sex=None, age="30 days"))


def test_validate_lists_structure_problems(tmp_path, icephys_file, capsys):
    import shutil

    import h5py

    path = tmp_path / "broken.nwb"
    shutil.copy(icephys_file, path)
    with h5py.File(path, "r+") as f:
        f["acquisition/ghost"] = h5py.SoftLink("/acquisition/nowhere")
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert "PROBLEMS FOUND" in out and "/acquisition/ghost links to /acquisition/nowhere" in out
