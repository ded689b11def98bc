"""Files this ndx-nwbsyn cannot read: a newer cached schema, or ndx-nwbsyn objects without a cached schema.

Each is refused by every reading command in one sentence saying what to install or upgrade (exit 2).
Files written by schema 0.1.0 (the committed back-compat fixture) still read and validate.
"""

import lzma
import shutil
from pathlib import Path

import h5py
import pytest

from nwbsyn.testing import mock_nwbfile, mock_SynapticPartnerTable

from conftest import write_nwbfile
from hostile_harness import HostileCase

FIXTURE = Path(__file__).resolve().parents[2] / "spec" / "tests" / "back_compat" / "ndx_nwbsyn_0.1.0.nwb.xz"


@pytest.fixture
def good(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    nwbfile = mock_nwbfile()
    mock_SynapticPartnerTable(nwbfile=nwbfile)
    return write_nwbfile(nwbfile, folder / "partners.nwb")


def _newer(path):
    with h5py.File(path, "a") as f:
        group = f["specifications/ndx-nwbsyn"]
        (version,) = list(group)
        group.move(version, "9.1.0")
    return path


def _uncached(path):
    with h5py.File(path, "a") as f:
        del f["specifications/ndx-nwbsyn"]
    return path


@pytest.mark.parametrize("command", [["info"], ["validate"], ["partners", "assign", "--clefts", "given"]])
def test_newer_schema_says_upgrade(good, command, capsys):
    path = _newer(good)
    HostileCase(argv=[*command[:1], *command[1:2], str(path), *command[2:]], inputs=[path], watch=[path.parent],
                code=2, message="written with ndx-nwbsyn 9.1.0, newer than the installed").check(capsys)


@pytest.mark.parametrize("command", [["info"], ["validate"]])
def test_missing_cached_schema_says_what_to_install(good, command, capsys):
    path = _uncached(good)
    HostileCase(argv=[*command, str(path)], inputs=[path], watch=[path.parent], code=2,
                message="no cached ndx-nwbsyn schema").check(capsys)


def test_message_is_one_sentence_naming_pip(good, capsys):
    path = _newer(good)
    err = HostileCase(argv=["info", str(path)], inputs=[path], watch=[path.parent], code=2,
                      message="pip install -U").check(capsys)
    assert err.count(". ") == 0  # one sentence


def test_a_file_without_subject_is_refused_by_batch(tmp_path, capsys):
    pytest.importorskip("pandas")
    from nwbsyn.testing import mock_icephys_nwbfile

    folder = tmp_path / "in"
    folder.mkdir()
    from pynwb.testing.mock.file import mock_NWBFile

    nwbfile = mock_NWBFile()  # no Subject
    path = write_nwbfile(mock_icephys_nwbfile(n_sweeps=1, duration_s=0.5, nwbfile=nwbfile), folder / "anon.nwb")
    HostileCase(argv=["batch", str(folder), "--out", str(tmp_path / "out"), "--scheduler", "inline", "--quiet"],
                inputs=[path], watch=[folder, tmp_path], code=2,
                message="has no Subject with a subject_id").check(capsys)


def test_schema_0_1_file_still_reads_and_validates(tmp_path, capsys):
    from nwbsyn.cli import main

    path = tmp_path / "old.nwb"
    with lzma.open(FIXTURE) as src, open(path, "wb") as dst:
        shutil.copyfileobj(src, dst)
    assert main(["info", str(path)]) == 0
    assert main(["validate", str(path)]) == 0, capsys.readouterr().out
