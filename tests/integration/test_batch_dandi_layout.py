"""``nwbsyn batch`` on local files writes a DANDI layout (sub-<id>/sub-<id>_ses-<id>_desc-<analysis>.nwb)
that ``dandi validate`` accepts, and refuses a file without a subject in one sentence before any work."""

import os
import shutil
import subprocess

import pytest

pytest.importorskip("pandas")

from nwbsyn import batch  # noqa: E402
from nwbsyn._shared import InputError  # noqa: E402
from nwbsyn.batch._dandi_layout import dandi_name, is_dandi_path, label  # noqa: E402
from nwbsyn.testing import mock_icephys_nwbfile  # noqa: E402

from conftest import write_nwbfile  # noqa: E402

QUICK = dict(scheduler="inline", progress_bar=False, mode="fast")


def _cell(path, *, subject_id="m 1", session_id="2026.01.01", rng=0):
    from datetime import datetime, timezone

    from pynwb import NWBFile
    from pynwb.file import Subject

    nwbfile = NWBFile(session_description="cell", identifier=f"cell-{rng}", session_id=session_id,
                      session_start_time=datetime(2026, 1, 1, tzinfo=timezone.utc), institution="lab",
                      experimenter=["Doe, Jane"], experiment_description="test", keywords=["synapse"], lab="lab",
                      subject=Subject(subject_id=subject_id, species="Mus musculus", sex="F", age="P60D",
                                      description="A mouse."))
    return write_nwbfile(mock_icephys_nwbfile(n_sweeps=1, duration_s=0.5, rng=rng, nwbfile=nwbfile), path)


def test_names():
    assert label("m_1/x.y") == "m-1-x-y"
    assert dandi_name(subject_id="m1", session_id=None, desc="events") == "sub-m1/sub-m1_desc-events.nwb"
    assert is_dandi_path("sub-m1/sub-m1_ses-a_desc-events.nwb")
    assert not is_dandi_path("cells/cell1.nwb") and not is_dandi_path("sub-m1/cell1.nwb")


def test_local_batch_is_dandi_valid(tmp_path):
    src = tmp_path / "cells"
    src.mkdir()
    _cell(src / "cell1.nwb", rng=0)
    _cell(src / "cell2.nwb", subject_id="m2", rng=1)
    out = tmp_path / "results"
    summary = batch.run(src, analysis="events", out_dir=out, **QUICK)
    assert summary["status"].tolist() == ["ok", "ok"], summary["error"].tolist()
    found = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.nwb"))
    assert found == ["sub-m-1/sub-m-1_ses-2026-01-01_desc-events.nwb", "sub-m2/sub-m2_ses-2026-01-01_desc-events.nwb"]
    assert all(is_dandi_path(p) for p in found) and (out / "dandiset.yaml").is_file()
    if shutil.which("dandi"):
        proc = subprocess.run(["dandi", "validate", str(out)], capture_output=True, text=True, timeout=300,
                              env=dict(os.environ, DANDI_NO_ET="1"))
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_file_without_subject_is_refused_before_any_work(tmp_path):
    src = tmp_path / "cells"
    src.mkdir()
    from pynwb.testing.mock.file import mock_NWBFile

    nwbfile = mock_NWBFile()  # no Subject
    write_nwbfile(mock_icephys_nwbfile(n_sweeps=1, duration_s=0.5, nwbfile=nwbfile), src / "anon.nwb")
    with pytest.raises(InputError, match="has no Subject with a subject_id"):
        batch.run(src, analysis="events", out_dir=tmp_path / "out", **QUICK)
    assert not (tmp_path / "out").exists()
