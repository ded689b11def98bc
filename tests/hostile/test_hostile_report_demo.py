"""`nwbsyn report` and `nwbsyn demo` with hostile inputs and outputs: one sentence, exit 2, nothing written."""

import os

import h5py
import pytest

from nwbsyn.testing import mock_icephys_nwbfile

from conftest import write_nwbfile
from hostile_harness import HostileCase


@pytest.fixture
def files(tmp_path):
    good = write_nwbfile(mock_icephys_nwbfile(n_sweeps=1, duration_s=0.2), tmp_path / "good.nwb")
    text = tmp_path / "notes.nwb"
    text.write_text("not an NWB file\n")
    empty = tmp_path / "empty.nwb"
    empty.write_bytes(b"")
    truncated = tmp_path / "truncated.nwb"
    truncated.write_bytes(good.read_bytes()[:3000])
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f["x"] = [1, 2, 3]
    folder = tmp_path / "folder.nwb"
    folder.mkdir()
    loop = tmp_path / "loop.nwb"
    loop.symlink_to(loop)
    return dict(good=good, text=text, empty=empty, truncated=truncated, plain=plain, folder=folder, loop=loop,
                missing=tmp_path / "missing.nwb")


@pytest.mark.parametrize("name", ["text", "empty", "truncated", "plain", "folder", "loop", "missing"])
def test_report_of_a_bad_input(tmp_path, files, capsys, name):
    HostileCase(["report", files[name], "-o", tmp_path / "r.html"], inputs=[files["good"], files["text"]],
                watch=[tmp_path]).check(capsys)


@pytest.mark.parametrize("output, message", [
    ("good.nwb", "input"), ("folder.nwb", "folder"), ("r.h5", ".html"), ("missing/r.html", "does not exist"),
    ("x" * 250 + ".html", "too long"), ("/proc/r.html", "Could not write"), ("loop.nwb", "symlink loop"),
    ("notes.nwb", "notes.nwb"),
])
def test_report_to_a_bad_output(tmp_path, files, capsys, output, message):
    target = output if output.startswith("/") else tmp_path / output
    for flags in ([], ["--overwrite"]):
        HostileCase(["report", files["good"], "-o", target, *flags], inputs=[files["good"], files["text"]],
                    watch=[tmp_path], message=message).check(capsys)


def test_report_refuses_an_existing_page_without_overwrite(tmp_path, files, capsys):
    page = tmp_path / "r.html"
    page.write_text("keep me")
    HostileCase(["report", files["good"], "-o", page], inputs=[files["good"], page], watch=[tmp_path],
                message="--overwrite").check(capsys)


@pytest.mark.parametrize("out", ["/proc/nwbsyn_demo", "/dev/null", "file.txt", "/proc/self/status"])
def test_demo_into_a_bad_folder(tmp_path, capsys, out):
    (tmp_path / "file.txt").write_text("x")
    target = out if out.startswith("/") else tmp_path / out
    HostileCase(["demo", "--quick", "--out", target], inputs=[tmp_path / "file.txt"], watch=[tmp_path]).check(capsys)


@pytest.mark.parametrize("argv", [
    ["nonsense"], ["events"], ["events", "detect"], ["report"], ["demo", "--seed", "x"], ["--no-such-flag"],
    ["validate"], ["partners"], ["connectivity"], ["batch"],
])
def test_malformed_command_lines_exit_2_without_traceback(tmp_path, capsys, argv):
    case = HostileCase(argv, watch=[tmp_path])
    code, out, err = case.run(capsys)
    assert code == 2 and "Traceback" not in err


def test_no_arguments_print_the_overview(capsys):
    code, out, _ = HostileCase([]).run(capsys)
    assert "nwbsyn events detect" in out and code in (0, 2)


def test_debug_shows_the_traceback_for_user_mistakes(tmp_path, files):
    from nwbsyn._shared import InputError
    from nwbsyn.cli import main

    with pytest.raises(InputError):
        main(["--debug", "report", str(files["text"])])
    assert not os.path.exists(tmp_path / "notes_report.html")


@pytest.mark.parametrize("name", ["text", "empty", "truncated", "plain", "folder", "loop", "missing", "good"])
def test_export_of_a_bad_input(tmp_path, files, capsys, name):
    """'good' has no nwbsyn tables: refused too, with what to run first."""
    HostileCase(["export", files[name], "-o", tmp_path / "tables"], inputs=[files["good"], files["text"]],
                watch=[tmp_path]).check(capsys)


@pytest.mark.parametrize("output, message", [
    ("good.nwb", "input"), ("notes.nwb", "is a file"), ("folder.nwb", "already exists"),
    ("missing/tables", "does not exist"), ("/proc/tables", "Could not write"),
])
def test_export_to_a_bad_output(tmp_path, files, capsys, output, message):
    from nwbsyn.testing import mock_SynapticEventsTable

    events = write_nwbfile(mock_SynapticEventsTable().get_ancestor("NWBFile"), tmp_path / "events.nwb")
    target = output if output.startswith("/") else tmp_path / output
    source = files["good"] if output == "good.nwb" else events
    HostileCase(["export", source, "-o", target], inputs=[files["good"], files["text"], events],
                watch=[tmp_path], message=message).check(capsys)
