"""One contract for the three analyses: run_on_nwbfile returns RunResult, add_results has one signature,
load_inputs returns a list, batch runs every analysis through one code path, CREMI is read from nwbsyn.io."""

import importlib
import inspect
import typing
from pathlib import Path

import numpy as np
import pytest

from nwbsyn._shared import InputError
from nwbsyn._shared.run import SHARED_RUN_OPTIONS, RunResult

ANALYSES = ["events", "partners", "connectivity"]


def _nwb(name):
    return importlib.import_module(f"nwbsyn.{name}.nwb")


@pytest.mark.parametrize("name", ANALYSES)
def test_run_on_nwbfile_is_annotated_with_run_result(name):
    func = importlib.import_module(f"nwbsyn.{name}").run_on_nwbfile
    assert typing.get_type_hints(func)["return"] is RunResult


@pytest.mark.parametrize("name", ANALYSES)
def test_load_inputs_returns_a_list(name):
    assert typing.get_origin(typing.get_type_hints(_nwb(name).load_inputs)["return"]) is list


def test_add_results_has_one_signature():
    signatures = {name: inspect.signature(_nwb(name).add_results) for name in ANALYSES}
    assert signatures["events"] == signatures["partners"] == signatures["connectivity"]
    params = signatures["events"].parameters
    assert list(params) == ["nwbfile", "inputs", "results", "provenance", "module", "overwrite"]
    assert params["module"].default is None and params["overwrite"].default is False


@pytest.mark.parametrize("name", ANALYSES)
def test_run_options_are_shared_and_listed(name):
    params = inspect.signature(_nwb(name).run_on_nwbfile).parameters
    assert params["device"].default == "auto" and params["progress_bar"].default is True
    assert params["module"].default is None and params["overwrite"].default is False
    named = {k for k, p in params.items() if p.kind is p.KEYWORD_ONLY}
    assert set(SHARED_RUN_OPTIONS) <= named
    assert named <= _nwb(name).RUN_OPTIONS  # batch checks options against this list, not the signature


def test_run_result_pairs_and_summary():
    run = RunResult(inputs=["a", "b"], results=[1, 2], analysis="nothing", stats={"n_inputs": 2})
    assert list(run) == [("a", 1), ("b", 2)] and run[1] == ("b", 2) and len(run) == 2
    assert run.summary(where="out.nwb") == "nothing: 2 input(s) -> out.nwb; n_inputs 2"
    with pytest.raises(ValueError, match="one result per input"):
        RunResult(inputs=["a"], results=[], analysis="events")


@pytest.mark.parametrize("name", ANALYSES)
def test_batch_runs_every_analysis_through_one_path(monkeypatch, name):
    from nwbsyn.batch import _task

    calls = []

    def fake_run(nwbfile, **options):
        calls.append(options)
        return RunResult(inputs=["x"], results=["y"], analysis=name, stats={"n_inputs": 1, "not_a_column": 3})

    monkeypatch.setattr(_task, "runner_function", lambda _: fake_run)
    row = _task.run_analysis(name, object(), {"device": "cpu", "progress_bar": True})
    assert row == {"n_inputs": 1}
    assert calls == [{"embed_weights": False, "device": "cpu", "progress_bar": False}]


def test_batch_has_no_adapter_and_no_signature_routing():
    from nwbsyn.batch import _task

    source = inspect.getsource(_task)
    assert "inspect" not in source and "_RUNNERS" not in source


def test_batch_options_go_where_they_are_taken():
    from nwbsyn.batch._task import check_options, options_for

    options = {"threshold": 0.6, "max_epochs": 3, "connectivity": {"seed": 2}}
    assert options_for("events", options) == {"embed_weights": False, "threshold": 0.6, "progress_bar": False}
    assert options_for("connectivity", options) == {"embed_weights": False, "max_epochs": 3, "seed": 2,
                                                    "progress_bar": False}
    check_options("auto", options)
    with pytest.raises(InputError, match="no option threshhold"):
        check_options("events", {"threshhold": 0.6})
    with pytest.raises(InputError, match="connectivity analysis has no option nope"):
        check_options("auto", {"connectivity": {"nope": 1}})


# --- CREMI: the format lives in nwbsyn.io ------------------------------------------------------


@pytest.fixture(scope="module")
def cremi_file(tmp_path_factory):
    from nwbsyn.io.cremi import write_cremi
    from nwbsyn.partners import simulate_volume

    sim = simulate_volume(shape_zyx=(8, 64, 64), n_synapses=2, rng=1)
    return write_cremi(tmp_path_factory.mktemp("cremi") / "v.hdf", sim), sim


def test_cremi_is_read_from_nwbsyn_io(cremi_file):
    from nwbsyn.io import cremi
    from nwbsyn.partners import cremi as old

    path, sim = cremi_file
    vol = cremi.read_cremi(path)
    np.testing.assert_array_equal(vol.neuron_ids, sim.neuron_ids)
    assert cremi.is_cremi(path) and cremi.is_cremi_input(path) and not cremi.is_cremi_input(Path(path).parent)
    assert old.read_cremi is cremi.read_cremi and old.write_cremi is cremi.write_cremi  # the old names stay


def test_cremi_file_to_nwbfile_checks_the_layout(cremi_file, tmp_path):
    import h5py

    from nwbsyn.io.cremi import check_cremi_layout, check_em_input, nwbfile_from_cremi_file

    path, sim = cremi_file
    nwbfile = nwbfile_from_cremi_file(path, subject={"subject_id": "m1"}, clefts="given")
    assert nwbfile.subject.subject_id == "m1" and nwbfile.acquisition["em_raw"].data.shape == sim.raw.shape
    bare = tmp_path / "bare.hdf"
    with h5py.File(bare, "w") as f:
        f["volumes/raw"] = sim.raw
        f["volumes/raw"].attrs["resolution"] = [40.0, 8.0, 8.0]
        f["volumes/labels/neuron_ids"] = sim.neuron_ids
        f["volumes/labels/neuron_ids"].attrs["resolution"] = [40.0, 8.0, 8.0]
    check_cremi_layout(bare)
    with pytest.raises(InputError, match="--clefts given"):
        check_cremi_layout(bare, clefts="given")
    (tmp_path / "plain.txt").write_text("no hdf5")
    with pytest.raises(InputError, match="neither an NWB file nor a CREMI"):
        check_em_input(tmp_path / "plain.txt")
    with pytest.raises(InputError, match="is a folder"):
        check_em_input(tmp_path)


# --- the CLI: shared options defined once --------------------------------------------------------


def _options(parser):
    return {s for action in parser._actions for s in action.option_strings}


def test_shared_options_keep_one_name_per_meaning():
    from nwbsyn.cli import build_parser

    parser = build_parser()
    commands = {}

    def walk(p, prefix):
        for action in p._actions:
            if hasattr(action, "choices") and isinstance(action.choices, dict):
                for name, sub in action.choices.items():
                    commands[f"{prefix} {name}".strip()] = sub
                    walk(sub, f"{prefix} {name}")

    walk(parser, "")
    for name in ("events detect", "partners assign", "connectivity fit"):
        assert {"-o", "--output", "--in-place", "--overwrite", "--device", "--quiet", "--plot"} <= _options(
            commands[name]), name
    for name in ("batch", "demo"):
        assert {"-o", "--output", "--out"} <= _options(commands[name]), name  # --out still works
    assert {"--max-epochs", "--epochs"} <= _options(commands["events train"])
