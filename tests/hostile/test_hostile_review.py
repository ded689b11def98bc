"""Hostile `nwbsyn events review`: a file without events, bad ports, outputs already there.

Each case ends cleanly before any server starts (hostile_harness.HostileCase): exit 2 with one
sentence, no traceback, the input untouched and nothing written. A port that is merely in use is
no error: another free one is taken and named (tests/integration/test_review.py).
"""

from __future__ import annotations

import shutil

import pytest
from hostile_harness import HostileCase

from conftest import write_nwbfile


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    from nwbsyn.testing import mock_icephys_nwbfile, mock_SynapticEventsTable

    folder = tmp_path_factory.mktemp("review_assets")
    bare = write_nwbfile(mock_icephys_nwbfile(n_sweeps=1, duration_s=0.5, n_events_per_sweep=3, rng=0),
                         folder / "raw.nwb")
    table = mock_SynapticEventsTable(n_events=6)
    events = write_nwbfile(table.get_ancestor("NWBFile"), folder / "ev.nwb")
    return {"bare": bare, "events": events}


def _copy(src, folder):
    dst = folder / src.name
    shutil.copyfile(src, dst)
    return dst


def test_file_without_events_says_run_detect(assets, tmp_path, capsys):
    nwb = _copy(assets["bare"], tmp_path)
    HostileCase(argv=["events", "review", nwb], inputs=[nwb], watch=[tmp_path],
                message="run 'nwbsyn events detect").check(capsys)


@pytest.mark.parametrize("port", ["70000", "-1"])
def test_port_out_of_range(assets, tmp_path, capsys, port):
    nwb = _copy(assets["events"], tmp_path)
    HostileCase(argv=["events", "review", nwb, f"--port={port}"], inputs=[nwb], watch=[tmp_path],
                message="--port must be from 0 to 65535").check(capsys)


def test_existing_output_needs_overwrite(assets, tmp_path, capsys):
    nwb = _copy(assets["events"], tmp_path)
    out = tmp_path / "out.nwb"
    out.write_bytes(b"keep")
    HostileCase(argv=["events", "review", nwb, "-o", out], inputs=[nwb, out], watch=[tmp_path],
                message="--overwrite").check(capsys)


def test_existing_windows_file_needs_overwrite(assets, tmp_path, capsys):
    nwb = _copy(assets["events"], tmp_path)
    windows = tmp_path / "w.h5"
    windows.write_bytes(b"keep")
    HostileCase(argv=["events", "review", nwb, "-o", tmp_path / "o.nwb", "--windows", windows],
                inputs=[nwb, windows], watch=[tmp_path], message="--overwrite").check(capsys)


def test_not_an_nwb_file(tmp_path, capsys):
    bad = tmp_path / "x.nwb"
    bad.write_text("not hdf5")
    HostileCase(argv=["events", "review", bad], inputs=[bad], watch=[tmp_path], message="not an HDF5").check(capsys)
