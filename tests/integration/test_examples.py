"""Every script in examples/ runs on small generated data (and the ABF example on a real recording)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import shared_path

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.py"))
# smaller than the scripts' defaults, to keep CI short
SMALL_ARGS = {"transfer_learn_events.py": ["--epochs", "3", "--n-windows", "240"],
              "fit_connectivity.py": ["--max-epochs", "20"],
              "assign_partners_cremi.py": ["--shape", "12", "128", "128"]}


def run_example(script: Path, *args, cwd) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")  # one thread: a shared CI machine
    return subprocess.run([sys.executable, str(script), *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env=env)


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(tmp_path, script):
    proc = run_example(script, *SMALL_ARGS.get(script.name, []), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "results:" in proc.stdout


def example(name: str) -> Path:
    path = next((p for p in EXAMPLES if p.name == name), None)
    if path is None:
        pytest.skip(f"examples/{name} is absent")
    return path


def test_abf_example_on_a_real_recording(tmp_path):
    abf = shared_path("data", "events", "abf", "pyabf_18808025_sepsc_memtest", "18808025.abf")
    proc = run_example(example("convert_abf_and_detect.py"), abf, "--out", tmp_path, "--subject-id", "m1",
                       "--species", "Mus musculus", "--sex", "U", "--age", "P30D", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "18808025_nwbsyn.nwb").is_file() and (tmp_path / "18808025_report.html").is_file()
    assert "40 sweeps" in proc.stdout


def test_enrich_example_on_a_given_file_and_series(tmp_path):
    from nwbsyn.io.nwb import write_new_nwb
    from nwbsyn.testing import mock_icephys_nwbfile

    source = write_new_nwb(mock_icephys_nwbfile(n_sweeps=3), tmp_path / "mine.nwb")
    proc = run_example(example("enrich_nwb_file.py"), source, "-o", tmp_path / "out.nwb", "--series", "sweep_1",
                       cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "sweep_1_event_scores" in proc.stdout and "sweep_0_event_scores" not in proc.stdout


def test_validate_example_fails_on_a_file_that_breaks_best_practice(tmp_path):
    from datetime import datetime, timezone

    from pynwb import NWBFile

    from nwbsyn.io.nwb import write_new_nwb

    nwbfile = NWBFile(session_description="no subject", identifier="no-subject",  # DANDI requires a subject
                      session_start_time=datetime(2026, 1, 1, tzinfo=timezone.utc))
    source = write_new_nwb(nwbfile, tmp_path / "no_subject.nwb")
    proc = run_example(example("validate_nwb_file.py"), source, cwd=tmp_path)
    assert proc.returncode == 1 and "NOT valid" in proc.stdout


def test_partners_example_reports_accuracy_against_the_annotations(tmp_path):
    proc = run_example(example("assign_partners_cremi.py"), "--shape", "12", "128", "128", "--clefts", "given",
                       cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    accuracy = float(proc.stdout.split("assignment accuracy vs annotations:")[1].split()[0])
    assert accuracy >= 0.5 and (tmp_path / "generated_nwbsyn.nwb").is_file() and (tmp_path / "synapses.png").is_file()
