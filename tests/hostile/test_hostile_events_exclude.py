"""Hostile exclusion and channel options: --exclude, --exclude-session, --evoked-window, --series globs, --channel.

Each case ends cleanly (hostile_harness.HostileCase): exit 2 with one sentence naming the
option, no traceback, the input untouched and nothing written.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from hostile_harness import HostileCase

from abf_synth import write_abf1
from conftest import write_nwbfile


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    """A one-sweep voltage-clamp NWB file (0.5 s, no stimuli) and a two-channel ABF (Vm1 mV, I2 nA)."""
    from nwbsyn.testing import mock_icephys_nwbfile

    folder = tmp_path_factory.mktemp("assets")
    nwb = write_nwbfile(mock_icephys_nwbfile(n_sweeps=1, duration_s=0.5, n_events_per_sweep=3, rng=0),
                        folder / "cell.nwb")
    rng = np.random.default_rng(0)
    abf = write_abf1(folder / "tevc.abf", [("Vm1", "mV", rng.normal(-80, 0.1, (1, 4000))),
                                           ("I2", "nA", rng.normal(-2, 0.05, (1, 4000)))], sampling_rate_hz=10_000)
    return {"nwb": nwb, "abf": abf}


def _copy(src: Path, folder: Path) -> Path:
    dst = folder / src.name
    shutil.copyfile(src, dst)
    return dst


def _detect(assets, tmp_path, capsys, *extra, message):
    nwb = _copy(assets["nwb"], tmp_path)
    argv = ["events", "detect", str(nwb), "--quiet", "--no-weights", *map(str, extra)]
    HostileCase(argv=argv, inputs=[nwb], watch=[tmp_path], message=message).check(capsys)


@pytest.mark.parametrize("window, message", [
    ("abc", "--exclude"), ("0.1", "START:END"), ("0:0.1:0.2", "START:END"), ("0.3:0.1", "ends before it starts"),
    ("0.1:0.1", "ends before it starts"), ("nan:1", "finite"), ("0:inf", "finite"), ("0:0.1,", "START:END"),
    ("0,1", "START:END"),
])
def test_malformed_exclude_windows(assets, tmp_path, capsys, window, message):
    _detect(assets, tmp_path, capsys, f"--exclude={window}", message=message)


def test_negative_exclude_window(assets, tmp_path, capsys):
    _detect(assets, tmp_path, capsys, "--exclude=-1:0.2", message="starts before 0")


def test_malformed_session_window(assets, tmp_path, capsys):
    _detect(assets, tmp_path, capsys, "--exclude-session", "1-2", message="--exclude-session")


def test_exclude_window_after_every_sweep(assets, tmp_path, capsys):
    _detect(assets, tmp_path, capsys, "--exclude", "0.6:0.8", message="after the end of every analysed sweep")


def test_session_window_outside_the_recording(assets, tmp_path, capsys):
    _detect(assets, tmp_path, capsys, "--exclude-session", "100:200", message="outside the analysed series")


def test_evoked_window_without_stimuli(assets, tmp_path, capsys):
    _detect(assets, tmp_path, capsys, "--evoked-window", "50", message="intervals/stimuli")


@pytest.mark.parametrize("value", ["-5", "nan", "inf", "1e9"])
def test_evoked_window_out_of_range(assets, tmp_path, capsys, value):
    _detect(assets, tmp_path, capsys, f"--evoked-window={value}", message="--evoked-window")


def test_series_glob_matching_nothing(assets, tmp_path, capsys):
    _detect(assets, tmp_path, capsys, "--series", "I2_*", message="matches no series")


@pytest.mark.parametrize("channel", ["I3", "7", "-1", "Vm"])
def test_unknown_channel_lists_the_channels(assets, tmp_path, capsys, channel):
    abf = _copy(assets["abf"], tmp_path)
    argv = ["convert", "abf", str(abf), "-o", str(tmp_path / "out.nwb"), "--channel", channel]
    err = HostileCase(argv=argv, inputs=[abf], watch=[tmp_path], message="--channel").check(capsys)
    assert "0 'Vm1' (mV), 1 'I2' (nA)" in err


def test_channel_against_the_clamp_mode(assets, tmp_path, capsys):
    abf = _copy(assets["abf"], tmp_path)
    argv = ["convert", "abf", str(abf), "-o", str(tmp_path / "out.nwb"), "--channel", "I2", "--clamp-mode", "current"]
    HostileCase(argv=argv, inputs=[abf], watch=[tmp_path], message="--clamp-mode").check(capsys)
