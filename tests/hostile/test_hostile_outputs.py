"""Outputs never lose data: inputs refused as outputs, locks, symlinks, modes, signals, SIGKILL, paths.

The in-process cases go through ``nwbsyn.cli.main``; the signal cases run the real command in a
subprocess and kill it at several moments.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest

from nwbsyn._shared import InputError
from nwbsyn.io.output import claim_output, check_output
from nwbsyn.testing import mock_ecephys_nwbfile, mock_em_nwbfile, mock_icephys_nwbfile

from conftest import write_nwbfile
from hostile_harness import HostileCase, digest, stray_temporaries

ROOT = os.geteuid() == 0


@pytest.fixture
def cell(tmp_path):
    return write_nwbfile(mock_icephys_nwbfile(n_sweeps=1, duration_s=0.5), tmp_path / "cell.nwb")


# --- the output layer itself -----------------------------------------------------------------


def test_atomic_write_keeps_mode_and_follows_symlinks(tmp_path):
    real = tmp_path / "data" / "real.txt"
    real.parent.mkdir()
    real.write_text("old")
    os.chmod(real, 0o640)
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    with claim_output(link, in_place=True) as claim:
        with claim.temporary() as tmp:
            tmp.write_text("new")
    assert link.is_symlink() and real.read_text() == "new"
    assert (os.stat(real).st_mode & 0o777) == 0o640
    assert not stray_temporaries(tmp_path)


def test_a_new_file_gets_the_umask_mode(tmp_path):
    umask = os.umask(0o027)
    try:
        with claim_output(tmp_path / "new.txt") as claim:
            claim.write_bytes(b"x")
    finally:
        os.umask(umask)
    assert (os.stat(tmp_path / "new.txt").st_mode & 0o777) == 0o640


def test_failed_write_removes_the_temporary_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "keep.txt"
    target.write_text("precious")
    with claim_output(target, overwrite=True) as claim:
        with pytest.raises(InputError, match="No space left"):
            with claim.temporary() as tmp:
                tmp.write_text("half")
                raise OSError(28, "No space left on device")
    assert target.read_text() == "precious" and not stray_temporaries(tmp_path)


def test_a_second_writer_of_one_file_is_refused(tmp_path):
    with claim_output(tmp_path / "out.nwb"):
        with pytest.raises(InputError, match="Another nwbsyn process is writing"):
            claim_output(tmp_path / "out.nwb")
    with claim_output(tmp_path / "out.nwb"):  # released: free again
        pass


@pytest.mark.parametrize("make, message", [
    (lambda d: d, "folder"),
    (lambda d: d / ("x" * 240 + ".nwb"), "too long"),
    (lambda d: d / "missing" / "out.nwb", "does not exist"),
    (lambda d: Path("/proc/nwbsyn_out.nwb"), "Could not write"),
    (lambda d: Path("/proc/self/nwbsyn/out.nwb"), "does not exist"),
])
def test_impossible_outputs_are_one_sentence(tmp_path, make, message):
    with pytest.raises(InputError, match=message):
        check_output(make(tmp_path))
    assert not stray_temporaries(tmp_path)


def test_symlink_loop_and_input_through_a_link_are_refused(tmp_path, cell):
    loop = tmp_path / "loop.nwb"
    loop.symlink_to(loop)
    with pytest.raises(InputError, match="symlink loop"):
        check_output(loop)
    alias = tmp_path / "alias.nwb"
    alias.symlink_to(cell)
    with pytest.raises(InputError, match="is the input"):
        check_output(alias, inputs=[cell], overwrite=True)
    hard = tmp_path / "hard.nwb"
    os.link(cell, hard)
    with pytest.raises(InputError, match="is the input"):
        check_output(hard, inputs=[cell], overwrite=True)


@pytest.mark.skipif(ROOT, reason="root writes into read-only folders")
def test_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(InputError, match="Could not write"):
            check_output(folder / "out.nwb")
    finally:
        folder.chmod(0o755)


# --- through the command line ----------------------------------------------------------------


def _detect(cell, *extra):
    return ["events", "detect", cell, "--quiet", *extra]


def test_output_naming_the_input_is_refused_for_every_spelling(tmp_path, cell, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    link = tmp_path / "link.nwb"
    link.symlink_to(cell)
    spellings = [str(cell), "cell.nwb", "./cell.nwb", str(tmp_path / "." / "cell.nwb"), str(link)]
    for spelling in spellings:
        for flags in ([], ["--overwrite"]):
            HostileCase(_detect(cell, "-o", spelling, *flags), inputs=[cell, link], watch=[tmp_path],
                        message="input").check(capsys)


def test_report_onto_its_input_is_refused(tmp_path, cell, capsys):
    HostileCase(["report", cell, "-o", cell, "--overwrite"], inputs=[cell], watch=[tmp_path],
                message="input").check(capsys)
    HostileCase(["report", cell, "-o", tmp_path / "r.nwb"], inputs=[cell], watch=[tmp_path],
                message=".html").check(capsys)


def test_locked_output_refused_before_the_work(tmp_path, cell, capsys):
    with claim_output(cell, in_place=True):
        HostileCase(_detect(cell, "--in-place", "--overwrite"), inputs=[cell], watch=[tmp_path],
                    message="Another nwbsyn process").check(capsys)
    with claim_output(tmp_path / "out.nwb"):
        HostileCase(_detect(cell, "-o", tmp_path / "out.nwb"), inputs=[cell], watch=[tmp_path],
                    message="Another nwbsyn process").check(capsys)


def test_in_place_through_a_symlink_edits_the_target_and_keeps_link_and_mode(tmp_path, cell, capsys):
    os.chmod(cell, 0o640)
    link = tmp_path / "link.nwb"
    link.symlink_to(cell)
    assert HostileCase(_detect(link, "--in-place"), code=0).run(capsys)[0] == 0
    assert link.is_symlink() and (os.stat(cell).st_mode & 0o777) == 0o640
    with h5py.File(cell, "r") as f:
        assert "synaptic_events" in f["processing/icephys"]
    assert not stray_temporaries(tmp_path)


def test_broken_pipe_is_quiet(cell):
    proc = subprocess.run(f"{sys.executable} -m nwbsyn.cli info {cell} | head -c 10", shell=True,
                          capture_output=True, text=True, timeout=120)
    assert "Traceback" not in proc.stderr and "Broken pipe" not in proc.stderr


def test_missing_optional_extra_is_one_sentence_exit_2(monkeypatch, capsys):
    import importlib

    from nwbsyn._shared import MissingExtraError, require

    real = importlib.import_module

    def fake(name, *a, **k):
        if name.startswith("distributed"):
            raise ImportError("No module named 'distributed'")
        return real(name, *a, **k)

    monkeypatch.setattr(importlib, "import_module", fake)
    with pytest.raises(MissingExtraError, match=r"pip install 'nwbsyn\[dask\]'"):
        require("distributed")


def test_validation_needs_no_extra():
    """nwbinspector is a core dependency: the demo, validate and batch need it on a plain install."""
    import tomllib

    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]
    assert any(d.startswith("nwbinspector") for d in project["dependencies"])


# --- signals: real processes -----------------------------------------------------------------


def _spawn(argv, cwd):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "nwbsyn.cli", *map(str, argv)], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _inputs(tmp_path):
    cell = write_nwbfile(mock_icephys_nwbfile(n_sweeps=2, duration_s=3.0), tmp_path / "cell.nwb")
    units = write_nwbfile(mock_ecephys_nwbfile(n_units=6, duration_s=60.0), tmp_path / "units.nwb")
    em = write_nwbfile(mock_em_nwbfile(shape_zyx=(12, 160, 160)), tmp_path / "em.nwb")
    return {
        "partners": (em, ["partners", "assign", em, "-o", tmp_path / "out.nwb", "--quiet"]),
        "events": (cell, ["events", "detect", cell, "-o", tmp_path / "out.nwb", "--quiet"]),
        "connectivity": (units, ["connectivity", "fit", units, "-o", tmp_path / "out.nwb", "--quiet"]),
    }


def _complete_or_absent(path: Path) -> None:
    if path.exists():
        from nwbsyn.io import open_nwb

        with open_nwb(path) as nwbfile:
            assert nwbfile.processing


@pytest.mark.parametrize("analysis", ["events", "connectivity", "partners"])
def test_sigkill_during_a_run_leaves_input_intact_and_nothing_partial(tmp_path, analysis):
    source, argv = _inputs(tmp_path)[analysis]
    before = digest(source)
    for delay_s in (2.5, 4.0, 6.0):
        proc = _spawn(argv, tmp_path)
        time.sleep(delay_s)
        proc.kill()
        proc.communicate(timeout=60)
        assert digest(source) == before
        _complete_or_absent(tmp_path / "out.nwb")
        (tmp_path / "out.nwb").unlink(missing_ok=True)
        for stray in stray_temporaries(tmp_path):  # a killed process cannot clean up; the next run is unaffected
            os.unlink(stray)


def _wait_for(condition, timeout_s=90.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return False


@pytest.mark.parametrize("signum, moment", [(signal.SIGTERM, "analysis"), (signal.SIGTERM, "write"),
                                            (signal.SIGHUP, "write"), (signal.SIGINT, "analysis")])
def test_sigterm_sighup_sigint_clean_up(tmp_path, signum, moment):
    cell = write_nwbfile(mock_icephys_nwbfile(n_sweeps=2, duration_s=60.0), tmp_path / "cell.nwb")
    before = digest(cell)
    proc = _spawn(["events", "detect", cell, "-o", tmp_path / "out.nwb", "--device", "cpu"], tmp_path)
    if moment == "analysis":  # the per-window progress bar has started: the analysis is running
        seen = []
        assert _wait_for(lambda: seen.append(proc.stderr.read(1)) or "detect_events" in "".join(seen[-200:]))
        time.sleep(0.1)
    elif not _wait_for(lambda: stray_temporaries(tmp_path) or proc.poll() is not None):
        pytest.fail("the run neither wrote nor ended")
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert digest(cell) == before
    assert "Traceback" not in err
    if proc.returncode == -signum:  # it landed as Python shut down, after the output was complete
        _complete_or_absent(tmp_path / "out.nwb")
    elif proc.returncode != 0:  # stopped before it finished
        assert proc.returncode == 128 + signum, err
        assert not (tmp_path / "out.nwb").exists()
        assert "no output was written" in err
    else:
        _complete_or_absent(tmp_path / "out.nwb")
    assert not stray_temporaries(tmp_path)


def test_two_concurrent_in_place_runs_lose_no_update(tmp_path):
    cell = write_nwbfile(mock_icephys_nwbfile(n_sweeps=2, duration_s=20.0), tmp_path / "cell.nwb")
    first = _spawn(["events", "detect", cell, "--in-place", "--series", "sweep_0", "--quiet"], tmp_path)
    time.sleep(0.2)
    second = _spawn(["events", "detect", cell, "--in-place", "--series", "sweep_1", "--quiet"], tmp_path)
    _, err1 = first.communicate(timeout=300)
    _, err2 = second.communicate(timeout=300)
    # both import for seconds, then race for the lock: one analyses, the other is refused at once (or, if the
    # winner was already done, refused because the file now holds its results): never two silent successes
    assert sorted([first.returncode, second.returncode]) == [0, 2], (err1, err2)
    assert "Another nwbsyn process" in (err1 + err2) or "already holds nwbsyn event results" in (err1 + err2)
    with h5py.File(cell, "r") as f:
        assert "synaptic_events" in f["processing/icephys"]
    assert not stray_temporaries(tmp_path)


def test_a_stop_raised_where_python_cannot_raise_is_delivered_again():
    """A signal landing in a weakref callback (as during garbage collection) still stops the run, quietly."""
    import subprocess
    import sys

    script = (
        "import time, weakref\n"
        "import nwbsyn.cli as cli\n"
        "cli._install_signal_handlers()\n"
        "class A: pass\n"
        "a = A()\n"
        "def cb(_): raise cli.Stopped(15)\n"
        "r = weakref.ref(a, cb)\n"
        "try:\n"
        "    del a\n"
        "    for _ in range(500): time.sleep(0.01)\n"
        "    print('not stopped')\n"
        "except cli.Stopped as e:\n"
        "    print('stopped', e.signum)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "stopped 15"
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr
