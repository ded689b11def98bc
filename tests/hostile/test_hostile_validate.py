"""Hostile local files for `nwbsyn validate` and `nwbsyn info`, and hostile subject options.

Files that are not NWB at all (truncated, empty, plain HDF5, a group cycle, a folder) end in
exit 2 with one sentence for both commands; NWB files with broken parts (dangling links and
references, removed series, unknown versions and namespaces, NaN rates and weights) are
problems for `validate` (exit 1, never a pass) and one sentence or a clean listing for `info`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest

from hostile_harness import HostileCase

from conftest import write_nwbfile


@pytest.fixture(scope="module")
def rich_file(tmp_path_factory):
    """An icephys file with an events table, a score series and a functional connectivity (units)."""
    from nwbsyn.testing import mock_icephys_nwbfile
    from nwbsyn.testing.mock_types import (mock_FunctionalConnectivity, mock_SynapticEventScoreSeries,
                                           mock_SynapticEventsTable)

    nwbfile = mock_icephys_nwbfile(n_sweeps=1, duration_s=0.5, rng=7)
    mock_SynapticEventsTable(nwbfile=nwbfile)
    mock_SynapticEventScoreSeries(nwbfile=nwbfile)
    mock_FunctionalConnectivity(nwbfile=nwbfile)
    return write_nwbfile(nwbfile, tmp_path_factory.mktemp("rich") / "rich.nwb")


def _set_item(path, name, index, value):
    data = path[name][()]
    data[index] = value
    path[name][...] = data


# --- files that are not NWB: exit 2, one sentence ---------------------------------------------------------
def _not_nwb(kind: str, folder, rich):
    path = folder / f"{kind}.nwb"
    raw = rich.read_bytes()
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("session,rate\n1,20000\n")
    elif kind == "fake_signature":
        path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 8)
    elif kind.startswith("truncated_"):
        path.write_bytes(raw[: len(raw) * int(kind.split("_")[1]) // 100])
    elif kind == "plain_hdf5":
        with h5py.File(path, "w") as f:
            f["x"] = np.arange(3)
    elif kind == "directory":
        path.mkdir()
    elif kind.startswith("cycle"):
        shutil.copy(rich, path)
        with h5py.File(path, "r+") as f:
            where, target = {"cycle_root": ("acquisition/loop", "/"),
                             "cycle_parent": ("acquisition/sweep_0/loop", "acquisition"),
                             "cycle_deep": ("processing/icephys/event_scores/loop", "processing")}[kind]
            f[where] = f[target]
    return path


NOT_NWB = {
    "empty": "not an HDF5", "text": "not an HDF5", "fake_signature": "", "truncated_1": "truncated",
    "truncated_30": "truncated", "truncated_90": "truncated", "truncated_99": "truncated",
    "plain_hdf5": "not an NWB file", "directory": "directory", "cycle_root": "group cycle",
    "cycle_parent": "group cycle", "cycle_deep": "group cycle",
}


@pytest.mark.parametrize("command", ["validate", "info"])
@pytest.mark.parametrize("kind", sorted(NOT_NWB))
def test_not_nwb_is_one_sentence(kind, command, tmp_path, rich_file, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    path = _not_nwb(kind, folder, rich_file)
    HostileCase(argv=[command, path], inputs=[path], watch=[folder], code=2,
                message=NOT_NWB[kind] or str(path.name)).check(capsys)


# --- broken NWB files: problems for validate (exit 1), never a pass ----------------------------------------
def _broken(kind: str, folder, rich):
    path = folder / f"{kind}.nwb"
    shutil.copy(rich, path)
    with h5py.File(path, "r+") as f:
        if kind == "removed_series":
            del f["acquisition/sweep_0"]
        elif kind == "removed_units":
            del f["units"]
        elif kind == "removed_electrode":
            del f["general/intracellular_ephys/elec0"]
        elif kind == "version_future":
            f.attrs["nwb_version"] = "9.9.9"
        elif kind == "version_minor_future":
            f.attrs["nwb_version"] = "2.99.0"
        elif kind == "version_text":
            f.attrs["nwb_version"] = "banana"
        elif kind == "version_missing":
            del f.attrs["nwb_version"]
        elif kind == "unknown_namespace":
            g = f.create_group("acquisition/alien")
            g.attrs.update(neurodata_type="AlienSeries", namespace="ndx-alien",
                           object_id="6a1b0c3e-0000-4000-8000-000000000001")
        elif kind == "unknown_type_in_core":
            f["acquisition/sweep_0"].attrs["neurodata_type"] = "NoSuchSeries"
        elif kind == "namespace_renamed":
            f["acquisition/sweep_0"].attrs["namespace"] = "ndx-alien"
        elif kind == "nan_rate":
            f["acquisition/sweep_0/starting_time"].attrs["rate"] = np.nan
        elif kind == "inf_rate":
            f["acquisition/sweep_0/starting_time"].attrs["rate"] = np.inf
        elif kind == "nan_starting_time":
            f["acquisition/sweep_0/starting_time"][()] = np.nan
        elif kind == "nan_score_series_rate":
            f["processing/icephys/event_scores/starting_time"].attrs["rate"] = np.nan
        elif kind == "nan_binned_rate":
            f["processing/ecephys/binned_spike_counts/starting_time"].attrs["rate"] = np.nan
        elif kind == "nan_weights":
            _set_item(f, "processing/ecephys/functional_connectivity/weights", (0, 0), np.nan)
        elif kind == "inf_weights":
            _set_item(f, "processing/ecephys/functional_connectivity/weights", (1, 0), -np.inf)
        elif kind == "nan_scores":
            _set_item(f, "processing/icephys/event_scores/data", 0, np.nan)
        elif kind == "nan_threshold":
            f["processing/icephys/event_scores"].attrs["threshold"] = np.nan
        elif kind == "nan_event_score":
            _set_item(f, "processing/icephys/synaptic_events/score", 0, np.nan)
        elif kind == "nan_event_time":
            _set_item(f, "processing/icephys/synaptic_events/timestamp", 0, np.nan)
        elif kind == "negative_rate":
            f["acquisition/sweep_0/starting_time"].attrs["rate"] = -5.0
        elif kind == "dangling_soft_link":
            f["acquisition/ghost"] = h5py.SoftLink("/acquisition/nowhere")
        elif kind == "external_link_missing":
            f["acquisition/remote"] = h5py.ExternalLink("missing_raw.nwb", "/acquisition/x")
    return path


BROKEN = {  # kind: a substring of the report (the problem found)
    "removed_series": "dangling", "removed_units": "dangling reference", "removed_electrode": "dangling link",
    "version_future": "9.9.9", "version_minor_future": "2.99.0", "version_text": "banana",
    "version_missing": "nwb_version", "unknown_namespace": "ndx-alien", "unknown_type_in_core": "NoSuchSeries",
    "namespace_renamed": "ndx-alien", "nan_rate": "rate = nan", "inf_rate": "rate = inf",
    "nan_starting_time": "starting_time = nan", "nan_score_series_rate": "rate = nan",
    "nan_binned_rate": "rate = nan", "nan_weights": "weights has 1", "inf_weights": "weights has 1",
    "nan_scores": "NaN or infinite", "nan_threshold": "threshold is nan", "nan_event_score": "'score' column",
    "nan_event_time": "'timestamp' column", "negative_rate": "negative", "dangling_soft_link": "/acquisition/nowhere",
    "external_link_missing": "missing_raw.nwb",
}


def _problems(path) -> list[str]:
    """What validate finds, without its slow stages: the structure scan, then nwbsyn's inspector checks."""
    import warnings

    from nwbinspector import checks as core_checks
    from pynwb import NWBHDF5IO

    from nwbsyn.io import checks
    from nwbsyn.io.structure import scan_structure

    problems = scan_structure(path)
    if problems:
        return problems
    functions = [getattr(checks, n) for n in dir(checks) if n.startswith("check_")] + \
        [core_checks.check_rate_is_positive]
    with warnings.catch_warnings(), NWBHDF5IO(str(path), "r", load_namespaces=True) as io:
        warnings.simplefilter("ignore")
        for obj in io.read().objects.values():
            for check in functions:
                if isinstance(obj, check.neurodata_type) and (message := check(obj)) is not None:
                    problems.append(message.message)
    return problems


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_broken_nwb_has_problems(kind, tmp_path, rich_file):
    path = _broken(kind, tmp_path, rich_file)
    before = path.read_bytes()
    problems = _problems(path)
    assert any(BROKEN[kind] in p for p in problems), problems
    assert path.read_bytes() == before


@pytest.mark.parametrize("kind", ["removed_series", "version_text", "nan_weights"])
def test_broken_nwb_never_passes_validate(kind, tmp_path, rich_file, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    path = _broken(kind, folder, rich_file)
    case = HostileCase(argv=["validate", path], inputs=[path], watch=[folder], code=1)
    code, out, err = case.run(capsys)
    after, before, _ = case._after
    assert code == 1 and "PROBLEMS FOUND" in out and BROKEN[kind] in out, out + err
    assert "Traceback" not in err and after == before


@pytest.mark.parametrize("kind", ["removed_units", "removed_electrode", "version_text", "unknown_namespace",
                                  "namespace_renamed", "version_missing"])
def test_info_on_unreadable_nwb_names_the_problem(kind, tmp_path, rich_file, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    path = _broken(kind, folder, rich_file)
    HostileCase(argv=["info", path], inputs=[path], watch=[folder], code=2,
                message="cannot be read as NWB").check(capsys)


@pytest.mark.parametrize("kind", ["nan_weights", "version_future", "negative_rate", "removed_series",
                                  "dangling_soft_link", "nan_rate"])
def test_info_lists_odd_but_readable_files(kind, tmp_path, rich_file, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    path = _broken(kind, folder, rich_file)
    HostileCase(argv=["info", path], inputs=[path], watch=[folder], code=0).check(capsys)


# --- subject options: checked the way DANDI checks them, before any work ----------------------------------
BAD_SUBJECT = [
    ("--age", "30"), ("--age", "30 days"), ("--age", "P"), ("--age", "p30d"), ("--age", "P30D/P40D/P50D"),
    ("--age", "/"), ("--age", ""), ("--sex", "male"), ("--sex", "m"), ("--sex", "X"), ("--sex", " "),
    ("--species", "mouse"), ("--species", "mus musculus"), ("--species", "Mus"), ("--species", "MUS MUSCULUS"),
    ("--species", "https://example.org/mouse"), ("--subject-id", "a/b"), ("--subject-id", "..\\x"),
    ("--subject-id", ""), ("--subject-id", "bad\tid"),
]


@pytest.mark.parametrize("option, value", BAD_SUBJECT)
def test_bad_subject_fields_name_the_option(option, value, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    abf = folder / "cell.abf"
    abf.write_bytes(b"ABF2" + bytes(512))  # never read: the options are checked first
    err = HostileCase(argv=["convert", "abf", abf, f"{option}={value}"], inputs=[abf], watch=[folder], code=2,
                      message=option).check(capsys)
    assert "e.g." in err


@pytest.mark.parametrize("name, value", [("age", "P30D"), ("age", "P1Y2M"), ("age", "P30D/P40D"), ("age", "P90Y/"),
                                         ("age", "PT12H"), ("sex", "M"), ("sex", "O"), ("species", "Mus musculus"),
                                         ("species", "Homo sapiens"),
                                         ("species", "http://purl.obolibrary.org/obo/NCBITaxon_10090"),
                                         ("subject-id", "mouse-12")])
def test_good_subject_fields_pass(name, value):
    from nwbsyn.cli.core import check_subject_field

    assert check_subject_field(name, value) == value


# --- the command line itself --------------------------------------------------------------------------------
def test_no_arguments_prints_the_overview():
    proc = subprocess.run([sys.executable, "-m", "nwbsyn.cli"], capture_output=True, text=True, timeout=120)
    assert "nwbsyn validate FILE.nwb" in proc.stdout and "Traceback" not in proc.stderr
    assert proc.returncode in (0, 2)


def test_a_closed_pipe_is_quiet(rich_file):
    proc = subprocess.Popen([sys.executable, "-m", "nwbsyn.cli", "info", str(rich_file)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader left before the first line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0 and err == "", err
    piped = subprocess.run(f"{sys.executable} -m nwbsyn.cli validate {rich_file} | head -1", shell=True,
                           capture_output=True, text=True, timeout=120)
    assert piped.stdout.count("\n") == 1 and piped.stderr == "", piped.stderr


# --- odd data in a series: info lists it or names what cannot be built; validate never passes ---------------
def _odd(kind: str, folder, rich):
    path = folder / f"{kind}.nwb"
    shutil.copy(rich, path)
    data = {"strings": np.array([b"a", b"b"] * 10), "scalar": np.float64(3.0), "empty": np.zeros(0),
            "compound": np.zeros(5, dtype=[("a", "f4"), ("b", "i4")]), "complex": np.zeros(5, dtype=complex),
            "three_d": np.zeros((2, 2, 2)), "rate_text": None}[kind]
    with h5py.File(path, "r+") as f:
        series = f["acquisition/sweep_0"]
        if data is None:
            series["starting_time"].attrs["rate"] = "fast"
        else:
            attrs = dict(series["data"].attrs)
            del series["data"]
            series["data"] = data
            series["data"].attrs.update(attrs)
    return path


@pytest.mark.parametrize("kind, code", [("strings", 0), ("empty", 0), ("compound", 0), ("complex", 0),
                                        ("scalar", 2), ("three_d", 2), ("rate_text", 2)])
def test_info_on_odd_series_data(kind, code, tmp_path, rich_file, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    path = _odd(kind, folder, rich_file)
    HostileCase(argv=["info", path], inputs=[path], watch=[folder], code=code,
                message="cannot be built" if code == 2 else None).check(capsys)
