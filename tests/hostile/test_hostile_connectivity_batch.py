"""Hostile inputs for ``nwbsyn connectivity fit`` and ``nwbsyn batch``.

Every case ends with exit 2 and one sentence (or, for the few that must work, exit 0), the inputs
byte-identical and nothing new (no output, no ``.nwbsyn-tmp-*``) in the watched folders. Classes:
never lose data, model files (``--init``), data, options; batch options, sources and outputs.
All inputs are generated here, small, with fixed seeds.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from hostile_harness import HostileCase, digest

from nwbsyn.testing import mock_ecephys_nwbfile, mock_nwbfile, mock_ophys_nwbfile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import write_nwbfile  # noqa: E402

torch = pytest.importorskip("torch")

ROI = "processing/ophys/Fluorescence/RoiResponseSeries"
FIT = ["connectivity", "fit"]
QUICK = ["--max-epochs", "1", "--quiet"]


# --- inputs -------------------------------------------------------------------------------------

@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    """Each input written once; tests get a copy (writing NWB files is the slow part)."""
    folder = tmp_path_factory.mktemp("originals")
    return {"units": write_nwbfile(mock_ecephys_nwbfile(n_units=3, duration_s=20.0, rng=1), folder / "units.nwb"),
            "rois": write_nwbfile(mock_ophys_nwbfile(n_rois=3, n_frames=300, rng=2), folder / "rois.nwb"),
            "behavior": write_nwbfile(_with_behavior(), folder / "behavior.nwb")}


def _with_behavior():
    from pynwb import TimeSeries

    nwbfile = mock_ecephys_nwbfile(n_units=3, duration_s=20.0, rng=4)
    speed = np.abs(np.random.default_rng(4).standard_normal(1000)).cumsum() % 5
    nwbfile.add_acquisition(TimeSeries(name="speed", data=speed, unit="m/s", rate=50.0, description="running"))
    return nwbfile


def _copy(originals, name, dest: Path) -> Path:
    shutil.copyfile(originals[name], dest)
    return dest


@pytest.fixture
def units_file(tmp_path, originals):
    return _copy(originals, "units", tmp_path / "units.nwb")


@pytest.fixture
def rois_file(tmp_path, originals):
    return _copy(originals, "rois", tmp_path / "rois.nwb")


def _units(tmp_path, trains, name="units.nwb"):
    from pynwb.misc import Units

    nwbfile = mock_nwbfile()
    nwbfile.units = Units(name="units", description="hostile units", resolution=1e-4)
    for train in trains:
        nwbfile.add_unit(spike_times=np.asarray(train, dtype=float))
    return write_nwbfile(nwbfile, tmp_path / name)


def _good_train(seed, duration_s=20.0):
    return np.sort(np.random.default_rng(seed).uniform(0, duration_s, 100))


def _edit_rois(path: Path, edit) -> Path:
    """Change the written RoiResponseSeries with h5py (pynwb would refuse to write some of these)."""
    with h5py.File(path, "r+") as f:
        edit(f[ROI])
    return path


def _replace(group, name, data, attrs=None):
    old = dict(group[name].attrs) if name in group else {}
    if name in group:
        del group[name]
    dset = group.create_dataset(name, data=data)
    for key, value in {**old, **(attrs or {})}.items():
        dset.attrs[key] = value


def _timestamps(group, values):
    del group["starting_time"]
    dset = group.create_dataset("timestamps", data=np.asarray(values, dtype=float))
    dset.attrs["interval"] = 1
    dset.attrs["unit"] = "seconds"


def check(capsys, argv, inputs, watch, message=None, code=2, allow_new=()):
    return HostileCase(argv=argv, inputs=inputs, watch=watch, message=message, code=code,
                       allow_new=allow_new).check(capsys)


# --- class 1: never lose data -----------------------------------------------------------------

@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_output_naming_the_input_is_refused(tmp_path, capsys, units_file, overwrite):
    check(capsys, FIT + [units_file, "-o", units_file, *overwrite, *QUICK], [units_file], [tmp_path], "input")


def test_output_through_a_symlink_to_the_input_is_refused(tmp_path, capsys, units_file):
    link = tmp_path / "link.nwb"
    link.symlink_to(units_file)
    check(capsys, FIT + [units_file, "-o", link, "--overwrite", *QUICK], [units_file, link], [tmp_path], "input")


@pytest.mark.parametrize("where, message", [("folder", "folder"), ("exists", "--overwrite"),
                                            ("missing-folder", "does not exist"), ("proc", "Could not write")])
def test_bad_nwb_output(tmp_path, capsys, units_file, where, message):
    out = {"folder": tmp_path, "exists": tmp_path / "old.nwb", "missing-folder": tmp_path / "no" / "o.nwb",
           "proc": Path("/proc/nwbsyn-out.nwb")}[where]
    if where == "exists":
        out.write_bytes(b"an earlier result")
    inputs = [units_file] + ([out] if where == "exists" else [])
    check(capsys, FIT + [units_file, "-o", out, *QUICK], inputs, [tmp_path], message)


@pytest.mark.parametrize("option", ["--plot", "--checkpoint"])
def test_side_output_naming_the_input_is_refused(tmp_path, capsys, units_file, option):
    link = tmp_path / "input.png"  # a figure name that is the input through a link
    link.symlink_to(units_file)
    target = link if option == "--plot" else units_file
    check(capsys, FIT + [units_file, option, target, "--overwrite", "-o", tmp_path / "o.nwb", *QUICK],
          [units_file, link], [tmp_path], "input")


@pytest.mark.parametrize("name, message", [("figure.xyz", "suffix"), ("figure", "suffix"), ("figure.nwb", "suffix")])
def test_plot_with_an_unknown_suffix_is_refused_before_the_fit(tmp_path, capsys, units_file, name, message):
    check(capsys, FIT + [units_file, "--plot", tmp_path / name, *QUICK], [units_file], [tmp_path], message)


@pytest.mark.parametrize("option", ["--plot", "--checkpoint"])
def test_side_output_in_a_missing_folder_is_refused(tmp_path, capsys, units_file, option):
    name = "fig.png" if option == "--plot" else "model.pt"
    check(capsys, FIT + [units_file, option, tmp_path / "missing" / name, *QUICK], [units_file], [tmp_path],
          "does not exist")


@pytest.mark.parametrize("option", ["--plot", "--checkpoint"])
def test_side_output_naming_a_folder_is_refused(tmp_path, capsys, units_file, option):
    folder = tmp_path / ("fig.png" if option == "--plot" else "model.pt")
    folder.mkdir()
    check(capsys, FIT + [units_file, option, folder, *QUICK], [units_file], [tmp_path], "folder")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores file permissions")
@pytest.mark.parametrize("option", ["--plot", "--checkpoint"])
def test_side_output_in_a_read_only_folder_is_refused(tmp_path, capsys, units_file, option):
    folder = tmp_path / "readonly"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        check(capsys, FIT + [units_file, option, folder / "x.png", *QUICK], [units_file], [tmp_path],
              "Could not write")
    finally:
        folder.chmod(0o755)


def test_existing_checkpoint_needs_overwrite(tmp_path, capsys, units_file):
    old = tmp_path / "model.pt"
    old.write_bytes(b"an earlier model")
    check(capsys, FIT + [units_file, "--checkpoint", old, *QUICK], [units_file, old], [tmp_path], "--overwrite")


@pytest.mark.parametrize("clash", ["plot-is-output", "checkpoint-is-plot"])
def test_two_outputs_naming_one_file_are_refused(tmp_path, capsys, units_file, clash):
    same = tmp_path / "same.png"
    extra = ["-o", same, "--plot", same] if clash == "plot-is-output" else ["--plot", same, "--checkpoint", same]
    check(capsys, FIT + [units_file, *extra, *QUICK], [units_file], [tmp_path], "also given as")


def test_a_second_writer_of_the_same_output_is_refused(tmp_path, capsys, units_file):
    from nwbsyn.io.output import claim_output

    out = tmp_path / "out.nwb"
    with claim_output(out):  # another run holds the output
        check(capsys, FIT + [units_file, "-o", out, *QUICK], [units_file], [tmp_path], "Another nwbsyn process")


def test_outputs_are_written_atomically_and_the_input_is_kept(tmp_path, capsys, units_file):
    out, fig, ckpt = tmp_path / "out.nwb", tmp_path / "fig.svg", tmp_path / "model.pt"
    check(capsys, FIT + [units_file, "-o", out, "--plot", fig, "--checkpoint", ckpt, "--bin-ms", "50", *QUICK],
          [units_file], [tmp_path], code=0, allow_new=("out.nwb", "fig.svg", "model.pt"))
    from nwbsyn.connectivity import load_checkpoint

    model, config, _ = load_checkpoint(ckpt, device="cpu")
    assert config.max_epochs == 1 and fig.read_text().lstrip().startswith("<?xml")
    # the model starts a second fit; a failing second fit leaves nothing behind
    out2 = tmp_path / "out2.nwb"
    check(capsys, FIT + [units_file, "-o", out2, "--init", ckpt, "--bin-ms", "50", *QUICK], [units_file, ckpt],
          [tmp_path], code=0, allow_new=("out2.nwb",))


# --- class 2: model files (--init) ------------------------------------------------------------

def _checkpoint(**changes):
    from nwbsyn.connectivity.model import SynapsNet
    from nwbsyn.connectivity.train import TrainConfig

    torch.manual_seed(0)
    model = SynapsNet([3], n_behavior=0, context_steps=10)
    ckpt = {"init": dict(model.init_kwargs), "state": dict(model.state_dict()), "seed": 0,
            "config": dataclasses.asdict(TrainConfig()), "normalization": [{"mean": [0.0] * 3, "scale": [1.0] * 3}]}
    for key, value in changes.items():
        section, _, field = key.partition("__")
        if field:
            ckpt[section][field] = value
        elif value is None:
            ckpt.pop(section)
        else:
            ckpt[section] = value
    return ckpt


class _Evil:
    marker: Path

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _model_file(tmp_path, kind) -> Path:
    path = tmp_path / "model.pt"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("not a model at all\n")
    elif kind == "folder":
        path.mkdir()
    elif kind == "hdf5":
        with h5py.File(path, "w") as f:
            f["data"] = np.zeros(3)
    elif kind == "pickle":
        evil = _Evil()
        evil.marker = tmp_path / "pwned"
        torch.save({"init": evil}, path)
    elif kind == "tensor":
        torch.save(torch.zeros(3), path)
    else:
        torch.save(_checkpoint(**kind), path)
    return path


@pytest.mark.parametrize("kind, message", [
    ("empty", "empty"),
    ("text", "cannot be read safely"),
    ("folder", "folder"),
    ("hdf5", "HDF5"),
    ("pickle", "pickled"),
    ("tensor", "not a checkpoint"),
    ({"state": None}, "'state'"),
    ({"init__n_hidden": 5}, "n_hidden"),
    ({"config__warmup": 3}, "warmup"),
    ({"config__loss": "hinge"}, "loss"),
    ({"config__learning_rate": -1.0}, "learning_rate"),
    ({"config__learning_rate": "fast"}, "learning_rate"),
    ({"config__val_fraction": 1.5}, "val_fraction"),
    ({"config__test_fraction": 0.85}, "too little"),
    ({"config__hidden_dim": 64}, "training settings"),
    ({"config__max_time_s": float("nan")}, "max_time_s"),
    ({"init__n_neurons": [10 ** 7]}, "far larger"),
    ({"init__n_neurons": []}, "neuron counts"),
    ({"init__n_layers": 10 ** 6}, "n_layers"),
    ({"init__hidden_dim": "32"}, "hidden_dim"),
    ({"init__link": "relu"}, "link"),
    ({"state__adjacency.0": torch.zeros(3, 4)}, "shape"),
    ({"state__adjacency.0": torch.full((3, 3), float("nan"))}, "NaN"),
    ({"state__decoder.9.weight": torch.zeros(1)}, "extra"),
    ({"state__adjacency.0": torch.zeros(3, 3, dtype=torch.int64)}, "type"),
])
def test_bad_model_files_are_refused_before_the_data_is_read(tmp_path, capsys, units_file, kind, message):
    model = _model_file(tmp_path, kind)
    check(capsys, FIT + [units_file, "--init", model, "-o", tmp_path / "o.nwb", *QUICK], [units_file, model],
          [tmp_path], message)
    assert not (tmp_path / "pwned").exists()


def test_output_naming_the_starting_model_is_refused(tmp_path, capsys, units_file):
    model = _model_file(tmp_path, {})
    check(capsys, FIT + [units_file, "--init", model, "-o", model, "--overwrite", *QUICK], [units_file, model],
          [tmp_path], "--init")


def test_missing_model_file(tmp_path, capsys, units_file):
    check(capsys, FIT + [units_file, "--init", tmp_path / "nope.pt", *QUICK], [units_file], [tmp_path],
          "does not exist")


def test_model_of_another_kind_of_data(tmp_path, capsys, rois_file):
    model = _model_file(tmp_path, {})  # a Units (Poisson) model for ROI traces
    check(capsys, FIT + [rois_file, "--init", model, *QUICK], [rois_file, model], [tmp_path], "same kind of data")


def test_read_checkpoint_refuses_in_one_sentence(tmp_path):
    from nwbsyn._shared import InputError
    from nwbsyn.connectivity import load_checkpoint

    with pytest.raises(InputError, match="NaN"):
        load_checkpoint(_model_file(tmp_path, {"state__kernel_logits": torch.full((10,), float("inf"))}))


# --- class 3: data ----------------------------------------------------------------------------

@pytest.mark.parametrize("problem, extra, message", [
    ("span-1e6-s", [], "10,000,000"),
    ("tiny-bins", ["--bin-ms", "1e-6"], "--bin-ms"),
    ("no-spikes", [], "no spikes"),
    ("nan-spikes", [], "NaN"),
    ("inf-spikes", [], "infinite"),
    ("one-unit", [], "at least 2"),
    ("short", [], "a fit needs at least"),
])
def test_hostile_units(tmp_path, capsys, problem, extra, message):
    trains = [_good_train(1), _good_train(2), _good_train(3)]
    if problem == "span-1e6-s":
        trains[1] = np.append(trains[1], 1e6)
    elif problem == "no-spikes":
        trains[2] = []
    elif problem == "nan-spikes":
        trains[0] = np.append(trains[0], np.nan)
    elif problem == "inf-spikes":
        trains[0] = np.append(trains[0], np.inf)
    elif problem == "one-unit":
        trains = trains[:1]
    elif problem == "short":
        trains = [t[t < 1.0] for t in trains]
    path = _units(tmp_path, trains)
    start = time.perf_counter()
    check(capsys, FIT + [path, *extra, *QUICK], [path], [tmp_path], message)
    assert time.perf_counter() - start < 20  # refused before any large allocation


def test_unsorted_spike_times_are_binned(tmp_path, capsys):
    trains = [np.random.default_rng(s).permutation(_good_train(s)) for s in (1, 2, 3)]
    path = _units(tmp_path, trains)
    check(capsys, FIT + [path, "-o", tmp_path / "o.nwb", "--bin-ms", "50", *QUICK], [path], [tmp_path], code=0,
          allow_new=("o.nwb",))


@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf", "-inf"])
def test_bad_bin_size(tmp_path, capsys, units_file, value):
    check(capsys, FIT + [units_file, f"--bin-ms={value}", *QUICK], [units_file], [tmp_path], "--bin-ms")


def _roi_problem(problem):
    def edit(g):
        data = g["data"][:]
        if problem == "bool":
            _replace(g, "data", data > 1)
        elif problem == "text":
            _replace(g, "data", data.astype("S8"))
        elif problem == "complex":
            _replace(g, "data", data.astype(np.complex64))
        elif problem == "compound":
            _replace(g, "data", np.zeros(len(data), dtype=[("a", "f4"), ("b", "f4")]))
        elif problem == "no-frames":
            _replace(g, "data", data[:0])
            _timestamps(g, [])
        elif problem == "1-D":
            _replace(g, "data", data[:, 0])
        elif problem == "3-D":
            _replace(g, "data", np.stack([data, data], axis=2))
        elif problem == "columns":
            _replace(g, "data", np.concatenate([data, data], axis=1))
        elif problem == "short-timestamps":
            _timestamps(g, np.arange(len(data) - 10) * 0.1)
        elif problem == "non-monotonic":
            t = np.arange(len(data)) * 0.1
            t[50], t[51] = t[51], t[50]
            _timestamps(g, t)
        elif problem == "nan-timestamp":
            t = np.arange(len(data)) * 0.1
            t[7] = np.nan
            _timestamps(g, t)
        elif problem in ("rate-0", "rate-negative", "rate-nan"):
            g["starting_time"].attrs["rate"] = {"rate-0": 0.0, "rate-negative": -10.0, "rate-nan": np.nan}[problem]
        elif problem == "rate-huge-with-bins":
            g["starting_time"].attrs["rate"] = 1e12
        elif problem == "nan-data":
            data[3, 1] = np.nan
            _replace(g, "data", data)
        elif problem == "huge-values":
            data[0, 0] = 1e35
            _replace(g, "data", data)
        elif problem == "dangling-rois":
            _replace(g, "rois", np.array([0, 1, 99]))
    return edit


@pytest.mark.parametrize("problem, extra, message", [
    ("bool", [], "boolean"),
    ("text", [], "text"),
    ("complex", [], "complex"),
    ("compound", [], "compound"),
    ("1-D", [], "shape"),
    ("no-frames", [], "shape"),
    ("3-D", [], "could not be read"),
    ("columns", [], "columns"),
    ("short-timestamps", [], "timestamps"),
    ("non-monotonic", [], "do not increase"),
    ("nan-timestamp", [], "timestamps"),
    ("rate-0", [], "rate"),
    ("rate-negative", [], "rate"),
    ("rate-nan", [], "rate"),
    ("rate-huge-with-bins", ["--bin-ms", "100"], "--bin-ms"),
    ("nan-data", [], "NaN"),
    ("dangling-rois", [], "outside"),
    ("huge-values", [], "beyond"),
])
def test_hostile_roi_series(tmp_path, capsys, rois_file, problem, extra, message):
    _edit_rois(rois_file, _roi_problem(problem))
    check(capsys, FIT + [rois_file, "--source", "rois", *extra, *QUICK], [rois_file], [tmp_path], message)


def test_tiny_rate_is_fitted(tmp_path, capsys, rois_file):
    _edit_rois(rois_file, lambda g: g["starting_time"].attrs.__setitem__("rate", 1e-6))
    check(capsys, FIT + [rois_file, "-o", tmp_path / "o.nwb", *QUICK], [rois_file], [tmp_path], code=0,
          allow_new=("o.nwb",))


def test_several_roi_series_say_which_one_is_used(tmp_path, capsys, caplog):
    nwbfile = mock_ophys_nwbfile(n_rois=3, n_frames=300, rng=3)
    fluorescence = nwbfile.processing["ophys"]["Fluorescence"]
    first = fluorescence["RoiResponseSeries"]
    plane = nwbfile.processing["ophys"]["ImageSegmentation"]["PlaneSegmentation"]
    rois = plane.create_roi_table_region(region=[0, 1, 2], description="the same ROIs")
    fluorescence.create_roi_response_series(name="Neuropil", data=np.asarray(first.data) + 1.0, rois=rois,
                                            unit="n.a.", rate=10.0, description="second series")
    path = write_nwbfile(nwbfile, tmp_path / "two.nwb")
    with caplog.at_level("WARNING", logger="nwbsyn"):
        case = HostileCase(argv=FIT + [path, "--source", "rois", "-o", tmp_path / "o.nwb", *QUICK], inputs=[path],
                           watch=[tmp_path], code=0, allow_new=("o.nwb",))
        code, out, _ = case.run(capsys)
    assert code == 0 and "rois of processing/ophys/Fluorescence/RoiResponseSeries" in out  # not the neuropil
    assert "using the ROI series" in caplog.text and "--source" in caplog.text


@pytest.mark.parametrize("source, message", [("nothing", "not found"), ("units", "no Units table"),
                                             ("", "--source")])
def test_bad_source(tmp_path, capsys, rois_file, source, message):
    check(capsys, FIT + [rois_file, "--source", source, *QUICK], [rois_file], [tmp_path], message)


def _behavior_problem(problem):
    def edit(g):
        data = g["data"][:]
        if problem == "text":
            _replace(g, "data", data.astype("S8"))
        elif problem == "nan":
            data[10] = np.nan
            _replace(g, "data", data)
        elif problem == "huge":
            data[10] = 1e300
            _replace(g, "data", data)
        elif problem == "one-sample":
            _replace(g, "data", data[:1])
        elif problem == "too-short":
            g["starting_time"].attrs["rate"] = 500.0
        elif problem == "rate-0":
            g["starting_time"].attrs["rate"] = 0.0
        elif problem == "short-timestamps":
            _timestamps(g, np.arange(len(data) - 5) * 0.02)
        elif problem == "non-monotonic":
            t = np.arange(len(data)) * 0.02
            t[[3, 4]] = t[[4, 3]]
            _timestamps(g, t)
    return edit


@pytest.mark.parametrize("problem, message", [
    ("text", "text"), ("nan", "NaN"), ("huge", "beyond"), ("one-sample", "sample"), ("too-short", "covers"),
    ("rate-0", "rate"), ("short-timestamps", "timestamps"), ("non-monotonic", "do not increase"),
])
def test_hostile_behavior_series(tmp_path, capsys, originals, problem, message):
    path = _copy(originals, "behavior", tmp_path / "behavior.nwb")
    with h5py.File(path, "r+") as f:
        _behavior_problem(problem)(f["acquisition/speed"])
    check(capsys, FIT + [path, "--behavior", "speed", *QUICK], [path], [tmp_path], message)


def test_behavior_is_used(tmp_path, capsys, originals):
    path = _copy(originals, "behavior", tmp_path / "behavior.nwb")
    check(capsys, FIT + [path, "--behavior", "speed", "--bin-ms", "50", "-o", tmp_path / "o.nwb", *QUICK], [path],
          [tmp_path], code=0, allow_new=("o.nwb",))


@pytest.mark.parametrize("behavior, message", [("missing", "not found"), ("units", "not found"), ("  ", "empty")])
def test_bad_behavior(tmp_path, capsys, units_file, behavior, message):
    check(capsys, FIT + [units_file, "--behavior", behavior, *QUICK], [units_file], [tmp_path], message)


# --- class 4: options -------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["--max-epochs", "0"], "--max-epochs"),
    (["--max-epochs", "-1"], "--max-epochs"),
    (["--seed", "-1"], "--seed"),
    (["--seed", str(2 ** 40)], "--seed"),
])
def test_bad_options_are_refused_before_the_file_is_read(tmp_path, capsys, units_file, args, message):
    check(capsys, FIT + [units_file, *args, "--quiet"], [units_file], [tmp_path], message)


@pytest.mark.parametrize("device", ["cuda", "gpu", "tpu9", "cuda:7"])
def test_unavailable_device(tmp_path, capsys, units_file, device):
    from nwbsyn._shared import available_devices

    if device in available_devices():
        pytest.skip(f"{device} exists on this machine")
    check(capsys, FIT + [units_file, "--device", device, *QUICK], [units_file], [tmp_path], "--device")


def test_missing_and_broken_inputs(tmp_path, capsys):
    junk = tmp_path / "junk.nwb"
    junk.write_text("not hdf5")
    check(capsys, FIT + [junk, *QUICK], [junk], [tmp_path], "not an HDF5")
    check(capsys, FIT + [tmp_path / "nope.nwb", *QUICK], [], [tmp_path], "no such file")
    check(capsys, FIT + [tmp_path, *QUICK], [], [tmp_path], "directory")


# --- SIGKILL during a fit ---------------------------------------------------------------------

@pytest.mark.slow
def test_sigkill_during_fit_leaves_nothing_at_the_output(tmp_path, units_file):
    out = tmp_path / "out.nwb"
    before = digest(units_file)
    proc = subprocess.Popen([sys.executable, "-m", "nwbsyn.cli", *FIT, str(units_file), "-o", str(out), "--quiet",
                             "--bin-ms", "50", "--max-epochs", "5", "--checkpoint", str(tmp_path / "m.pt")],
                            env=dict(os.environ, OMP_NUM_THREADS="1"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    def writing():  # a temporary output exists (not a folder probe): the checkpoint or the NWB file is written
        return [p for p in tmp_path.glob(".*nwbsyn-tmp-*") if not p.name.startswith(".nwbsyn-tmp-probe")]

    while time.time() < deadline and proc.poll() is None and not writing():
        time.sleep(0.005)
    proc.kill()
    proc.wait()
    assert digest(units_file) == before
    if proc.returncode != 0:  # killed: nothing (or nothing half-written) at the final paths
        assert not out.exists() and not (tmp_path / "m.pt").exists()


# --- batch ------------------------------------------------------------------------------------

def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def src(tmp_path, originals):
    folder = tmp_path / "src"
    folder.mkdir()
    _copy(originals, "units", folder / "units.nwb")
    return folder


@pytest.mark.parametrize("args, message", [
    (["--retries", "-1"], "--retries"),
    (["--retries", "1000"], "--retries"),
    (["--workers", "0"], "--workers"),
    (["--workers", "1000000"], "--workers"),
    (["--scheduler", "tcp://"], "--scheduler"),
    (["--scheduler", "nonsense"], "--scheduler"),
    (["--scheduler", "tcp://host:99999"], "port"),
    (["--scheduler", "tcp://127.0.0.1:0"], "port"),
    (["--scheduler", "ftp://127.0.0.1:8786"], "protocol"),
    (["--scheduler", "tcp://[::1"], "--scheduler"),
    (["--scheduler", ""], "--scheduler"),
    (["--scheduler", "tcp://no-such-host.invalid:8786"], "unknown"),
    (["--scheduler", "CLOSED"], "Could not reach"),
    (["--dandi-api", "nonsense"], "--dandi-api"),
])
def test_batch_options_are_refused_quickly(tmp_path, capsys, src, args, message):
    args = [a.replace("CLOSED", f"tcp://127.0.0.1:{_closed_port()}") for a in args]
    start = time.perf_counter()
    check(capsys, ["batch", src, "--out", tmp_path / "out", *args, "--quiet"], [src / "units.nwb"], [tmp_path],
          message)
    assert time.perf_counter() - start < 8  # no long connection wait


@pytest.mark.parametrize("kind", ["silent", "http", "trickle"])
def test_batch_scheduler_that_is_not_dask_is_refused_quickly(tmp_path, capsys, src, kind):
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    stop = threading.Event()

    def serve():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                if kind == "http":
                    conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
                while kind == "trickle" and not stop.is_set():
                    conn.sendall(b"\x10")
                    time.sleep(1.0)
                stop.wait(5)

    thread = threading.Thread(target=serve, daemon=True)
    if kind != "silent":
        thread.start()
    try:
        start = time.perf_counter()
        check(capsys, ["batch", src, "--out", tmp_path / "out", "--scheduler",
                       f"tcp://127.0.0.1:{server.getsockname()[1]}", "--quiet"], [src / "units.nwb"], [tmp_path],
              "not as a Dask scheduler")
        assert time.perf_counter() - start < 8
    finally:
        stop.set()
        server.close()


@pytest.mark.parametrize("sources, message", [([""], "empty"), (["   "], "empty"), (["no/such/file.nwb"], "no such"),
                                              (["EMPTY"], "No NWB files")])
def test_batch_bad_sources(tmp_path, capsys, sources, message):
    if sources == ["EMPTY"]:
        pytest.importorskip("pandas")
    (tmp_path / "emptydir").mkdir()
    sources = [str(tmp_path / "emptydir") if s == "EMPTY" else s for s in sources]
    check(capsys, ["batch", *sources, "--out", tmp_path / "out", "--scheduler", "inline", "--quiet"], [],
          [tmp_path], message)


@pytest.mark.parametrize("where, message", [("file", "is a file"), ("source", "inside the source folder"),
                                            ("inside", "inside the source folder"), ("empty", "--out")])
def test_batch_bad_out(tmp_path, capsys, src, where, message):
    out = {"file": src / "units.nwb", "source": src, "inside": src / "results", "empty": ""}[where]
    check(capsys, ["batch", src, "--out", out, "--scheduler", "inline", "--quiet"], [src / "units.nwb"],
          [tmp_path], message)


def test_batch_output_over_its_own_input_is_refused(tmp_path, capsys, originals):
    pytest.importorskip("pandas")
    folder = tmp_path / "out"
    (folder / "sub-mouse-1").mkdir(parents=True)  # the input sits where its DANDI-named output would go
    source = _copy(originals, "units", folder / "sub-mouse-1" / "sub-mouse-1_ses-session-0_desc-connectivity.nwb")
    check(capsys, ["batch", source, "--analysis", "connectivity", "--out", folder, "--scheduler", "inline",
                   "--quiet"], [source], [tmp_path], "input itself")


def test_a_second_batch_into_the_same_folder_is_refused(tmp_path, capsys, src):
    pytest.importorskip("pandas")
    from nwbsyn.io.output import claim_output

    out = tmp_path / "out"
    out.mkdir()
    with claim_output(out / "nwbsyn_batch_summary.csv", overwrite=True):
        check(capsys, ["batch", src, "--out", out, "--scheduler", "inline", "--quiet"], [src / "units.nwb"],
              [tmp_path], "Another nwbsyn process")


def test_batch_lists_failures_resumes_and_cleans_up(tmp_path, src):
    pandas = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    from nwbsyn import batch
    from nwbsyn.io.output import claim_output

    (src / "broken.nwb").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    out = tmp_path / "out"
    options = dict(analysis="connectivity", out_dir=out, scheduler="inline", progress_bar=False, validate=False,
                   connectivity={"max_epochs": 1, "bin_ms": 50.0})
    first = batch.run(src, **options)
    rows = {Path(r["asset"]).name: r for r in first.to_dict("records")}
    assert rows["units.nwb"]["status"] == "ok" and rows["broken.nwb"]["status"] == "failed"
    assert rows["units.nwb"]["output"] == "sub-mouse-1/sub-mouse-1_ses-session-0_desc-connectivity.nwb"  # DANDI
    assert "broken.nwb" in rows["broken.nwb"]["error"]  # cannot be opened, so it has no DANDI name either
    stale = out / ".gone.nwb.nwbsyn-tmp-999999-abc.nwb"  # a killed writer's temporary
    stale.write_bytes(b"partial")
    busy = out / ".busy.nwb.nwbsyn-tmp-1-abc.nwb"  # another process is still writing busy.nwb
    busy.write_bytes(b"partial")
    with claim_output(out / "busy.nwb", overwrite=True):
        second = batch.run(src, **options)
    assert dict(zip([Path(a).name for a in second["asset"]], second["status"])) == {
        "broken.nwb": "failed", "units.nwb": "skipped"}
    assert not stale.exists() and busy.exists()
    busy.unlink()
    assert pandas.read_csv(out / "nwbsyn_batch_summary.csv")["status"].tolist() == second["status"].tolist()
    assert not list(out.rglob("*nwbsyn-tmp*")) and (out / "dandiset.yaml").is_file()
