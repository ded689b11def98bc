"""Hostile inputs for `nwbsyn partners assign|simulate|train`.

Every case must end cleanly (see hostile_harness.HostileCase): exit 2 with one sentence naming
the file or the option as the command line spells it, no traceback, inputs byte-identical and
nothing (output, figure, checkpoint, temporary) left behind. The files are generated here,
small, with fixed seeds; almost every case is refused before any analysis. Set HOSTILE_LOG=FILE
to collect every command and its message there (to read the messages side by side).
"""

from __future__ import annotations

import errno
import os
import pickle
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from hostile_harness import HostileCase

torch = pytest.importorskip("torch")

from nwbsyn.partners import add_em_volume, cremi_from_simulated, simulate_volume, write_cremi  # noqa: E402
from nwbsyn.partners.model import ResidualUNet3d, save_checkpoint  # noqa: E402
from nwbsyn.testing import mock_nwbfile  # noqa: E402

from conftest import write_nwbfile  # noqa: E402

CPU_ONLY = not torch.cuda.is_available()


# -- generated inputs ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    """Shared, never modified inputs: a CREMI volume, NWB EM files and a small association checkpoint."""
    folder = tmp_path_factory.mktemp("partners_assets")
    sim = simulate_volume(shape_zyx=(8, 64, 64), n_synapses=2, rng=0)
    cremi = write_cremi(folder / "v.hdf", cremi_from_simulated(sim))
    nwbfile = mock_nwbfile()
    add_em_volume(nwbfile, raw=sim.raw, neuron_ids=sim.neuron_ids, voxel_size_nm=sim.voxel_size_nm, clefts=sim.clefts)
    em = write_nwbfile(nwbfile, folder / "em.nwb")
    bare = mock_nwbfile()
    add_em_volume(bare, raw=sim.raw, neuron_ids=sim.neuron_ids, voxel_size_nm=sim.voxel_size_nm)
    noclefts = write_nwbfile(bare, folder / "noclefts.nwb")
    torch.manual_seed(0)
    assoc = save_checkpoint(ResidualUNet3d(in_channels=2, out_channels=2, widths=(4, 6)), folder / "assoc.pt",
                            task="association")
    return {"sim": sim, "cremi": cremi, "em": em, "noclefts": noclefts, "assoc": assoc}


def copy(src: Path, folder: Path, name: str | None = None) -> Path:
    dst = folder / (name or src.name)
    shutil.copyfile(src, dst)
    return dst


def write_h5(path: Path, datasets: dict, attrs: dict | None = None) -> Path:
    """An HDF5 file from ``{key: array or None (a group)}`` and ``{key: {attr: value}}``."""
    with h5py.File(path, "w") as f:
        for key, value in datasets.items():
            if value is None:
                f.create_group(key)
            elif isinstance(value, dict):  # a declared, never written (chunked) dataset: tiny file, huge shape
                f.create_dataset(key, **value)
            else:
                f.create_dataset(key, data=value)
        for key, values in (attrs or {}).items():
            for name, v in values.items():
                f[key].attrs[name] = v
    return path


def run(capsys, argv, *, inputs, folder, message=None, code=2, allow_new=()):
    err = HostileCase(argv=[str(a) for a in argv], inputs=list(inputs), watch=[folder], code=code, message=message,
                      allow_new=allow_new).check(capsys)
    if os.environ.get("HOSTILE_LOG"):
        with open(os.environ["HOSTILE_LOG"], "a") as log:
            command = " ".join(str(a) for a in argv).replace(str(folder), "T")
            log.write(f"{command}\n    {err.strip().replace(str(folder), 'T')}\n")
    return err


# -- 1. never lose data: outputs checked before the work, written atomically ---------------


def test_cremi_input_as_output_is_refused_even_with_overwrite(tmp_path, assets, capsys):
    src = copy(assets["cremi"], tmp_path)
    for extra in ([], ["--overwrite"]):
        run(capsys, ["partners", "assign", src, "-o", src, "--quiet", *extra], inputs=[src], folder=tmp_path,
            message="input")


def test_cremi_input_through_a_symlink_is_refused(tmp_path, assets, capsys):
    src = copy(assets["cremi"], tmp_path)
    link = tmp_path / "link.nwb"
    link.symlink_to(src)
    run(capsys, ["partners", "assign", src, "-o", link, "--overwrite", "--quiet"], inputs=[src, link],
        folder=tmp_path, message="input")


def test_cremi_in_place_is_refused(tmp_path, assets, capsys):
    src = copy(assets["cremi"], tmp_path)
    run(capsys, ["partners", "assign", src, "--in-place", "--overwrite"], inputs=[src], folder=tmp_path,
        message="-o OUT.nwb")


def test_existing_output_is_checked_before_the_models_for_cremi(tmp_path, assets, capsys):
    src = copy(assets["cremi"], tmp_path)
    existing = tmp_path / "v_nwbsyn.nwb"
    existing.write_bytes(b"earlier results")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model")
    run(capsys, ["partners", "assign", src, "--association-model", junk], inputs=[src, existing, junk],
        folder=tmp_path, message="already exists")


def test_nwb_input_as_output_is_refused(tmp_path, assets, capsys):
    src = copy(assets["em"], tmp_path)
    run(capsys, ["partners", "assign", src, "-o", src, "--overwrite"], inputs=[src], folder=tmp_path,
        message="input")


@pytest.mark.parametrize("kind", ["cremi", "em"])
@pytest.mark.parametrize("where", ["folder", "missing_folder", "proc", "file_as_folder"])
def test_unwritable_outputs(tmp_path, assets, capsys, kind, where):
    src = copy(assets[kind], tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "plain.txt").write_text("x")
    out = {"folder": tmp_path / "sub", "missing_folder": tmp_path / "nope" / "o.nwb",
           "proc": Path("/proc/nwbsyn_o.nwb"), "file_as_folder": tmp_path / "plain.txt" / "o.nwb"}[where]
    run(capsys, ["partners", "assign", src, "-o", out, "--quiet"], inputs=[src, tmp_path / "plain.txt"],
        folder=tmp_path)


@pytest.mark.parametrize("plot, message", [
    ("synapses.xyz", "--plot"),
    ("v.hdf", "--plot"),  # the input: no figure suffix either
    ("link.png", "input"),  # a link to the input
    ("out.nwb", "--plot"),
    ("nope/s.png", "does not exist"),
    ("/proc/nwbsyn_s.png", "could not write"),
    ("sub", "--plot"),  # a folder: no figure suffix
    ("figures.png", "folder"),  # a folder with a figure suffix
])
def test_bad_plot_paths_are_refused_before_the_analysis(tmp_path, assets, capsys, plot, message):
    src = copy(assets["cremi"], tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.png").symlink_to(src)
    (tmp_path / "figures.png").mkdir()
    plot = plot if plot.startswith("/") else tmp_path / plot
    run(capsys, ["partners", "assign", src, "-o", tmp_path / "out.nwb", "--plot", plot, "--quiet"], inputs=[src],
        folder=tmp_path, message=message)


def test_plot_naming_the_output_is_refused(tmp_path, assets, capsys):
    src = copy(assets["cremi"], tmp_path)
    out = tmp_path / "result.png"
    run(capsys, ["partners", "assign", src, "-o", out, "--plot", out, "--quiet"], inputs=[src], folder=tmp_path,
        message="own name")


@pytest.mark.parametrize("kind", ["em", "cremi"])
@pytest.mark.parametrize("target", ["output", "plot"])
def test_output_or_plot_naming_a_model_file_is_refused(tmp_path, assets, capsys, kind, target):
    src = copy(assets[kind], tmp_path)
    model = copy(assets["assoc"], tmp_path, "assoc.png")
    where = ["-o", model] if target == "output" else ["-o", tmp_path / "out.nwb", "--plot", model]
    run(capsys, ["partners", "assign", src, "--association-model", model, "--overwrite", "--quiet", *where],
        inputs=[src, model], folder=tmp_path, message="--association-model")


def test_existing_plot_needs_overwrite(tmp_path, assets, capsys):
    src = copy(assets["em"], tmp_path)
    fig = tmp_path / "s.png"
    fig.write_bytes(b"an earlier figure")
    run(capsys, ["partners", "assign", src, "--plot", fig], inputs=[src, fig], folder=tmp_path,
        message="already exists")


def test_simulate_refuses_existing_output_folder_and_proc(tmp_path, capsys):
    existing = tmp_path / "old.hdf"
    existing.write_bytes(b"keep me")
    (tmp_path / "sub").mkdir()
    for out, message in [(existing, "already exists"), (tmp_path / "sub", "folder"),
                         ("/proc/nwbsyn_v.hdf", "could not write"), (tmp_path / "no" / "v.hdf", "does not exist")]:
        run(capsys, ["partners", "simulate", "-o", out, "--shape", "4", "32", "32"], inputs=[existing],
            folder=tmp_path, message=message)


@pytest.mark.parametrize("existing", [False, True])
def test_simulate_on_a_full_disk_leaves_nothing(tmp_path, capsys, monkeypatch, existing):
    import nwbsyn.partners

    out = tmp_path / "v.hdf"
    if existing:
        out.write_bytes(b"the previous volume")

    def full_disk(path, volume, **kw):
        Path(path).write_bytes(b"\x89HDF half a file")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(nwbsyn.partners, "write_cremi", full_disk)
    run(capsys, ["partners", "simulate", "-o", out, "--shape", "4", "32", "32", "--overwrite"],
        inputs=[out] if existing else [], folder=tmp_path, message="no space left")
    assert out.exists() == existing


@pytest.mark.parametrize("command", ["simulate", "assign", "train"])
def test_a_second_writer_of_the_same_output_is_refused(tmp_path, assets, capsys, command):
    from nwbsyn.io.output import claim_output

    src = copy(assets["cremi"], tmp_path)
    out = tmp_path / ("m.pt" if command == "train" else "out.nwb")
    argv = {"simulate": ["partners", "simulate", "-o", out, "--shape", "4", "32", "32"],
            "assign": ["partners", "assign", src, "-o", out, "--quiet"],
            "train": ["partners", "train", "--task", "cleft", "-o", out, "--quiet"]}[command]
    with claim_output(out):  # another nwbsyn process is writing it
        run(capsys, argv, inputs=[src], folder=tmp_path, message="another nwbsyn process")


def _tiny_fit(volumes, *, config, **kw):
    from nwbsyn.partners.train import FitResult

    return FitResult(model=_net(config.task), config=config, history=[], best_val_loss=0.5, seconds=0.0)


@pytest.mark.parametrize("existing", [False, True])
def test_train_on_a_full_disk_leaves_nothing(tmp_path, capsys, monkeypatch, existing):
    import nwbsyn.partners.model
    import nwbsyn.partners.train

    out = tmp_path / "m.pt"
    if existing:
        out.write_bytes(b"the previous model")
        out.with_suffix(".card.json").write_text("{}")

    def full_disk(model, claim, *a, **kw):  # the disk fills up half-way through the checkpoint
        with claim.temporary(suffix=".pt") as tmp:
            tmp.write_bytes(b"PK half a checkpoint")
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(nwbsyn.partners.train, "labelled_volumes", lambda **kw: [])
    monkeypatch.setattr(nwbsyn.partners.train, "fit", _tiny_fit)
    monkeypatch.setattr(nwbsyn.partners.model, "save_checkpoint", full_disk)
    previous = [out, out.with_suffix(".card.json")] if existing else []
    run(capsys, ["partners", "train", "--task", "cleft", "-o", out, "--overwrite", "--quiet"], inputs=previous,
        folder=tmp_path, message="no space left")


def test_train_writes_model_and_card_together(tmp_path, capsys, monkeypatch):
    import json

    import nwbsyn.partners.train
    from nwbsyn._shared import sha256_of_file
    from nwbsyn.partners.model import load_checkpoint

    monkeypatch.setattr(nwbsyn.partners.train, "labelled_volumes", lambda **kw: [])
    monkeypatch.setattr(nwbsyn.partners.train, "fit", _tiny_fit)
    out = tmp_path / "m.pt"
    run(capsys, ["partners", "train", "--task", "cleft", "-o", out, "--quiet"], inputs=[], folder=tmp_path, code=0,
        allow_new=("m.pt", "m.card.json"))
    card = json.loads(out.with_suffix(".card.json").read_text())
    assert card["weights_sha256"] == sha256_of_file(out) and card["weights_file"] == "m.pt"
    load_checkpoint(out, task="cleft")


def test_assign_on_a_full_disk_leaves_nothing(tmp_path, assets, capsys, monkeypatch):
    import pynwb

    src = copy(assets["cremi"], tmp_path)

    def full_disk(self, *a, **kw):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pynwb.NWBHDF5IO, "write", full_disk)
    run(capsys, ["partners", "assign", src, "-o", tmp_path / "out.nwb", "--clefts", "given", "--no-weights",
                 "--plot", tmp_path / "s.png", "--quiet"], inputs=[src], folder=tmp_path, message="no space left")


@pytest.mark.parametrize("kind", ["missing", "folder", "empty", "text", "fifo"])
def test_assign_inputs_that_are_no_volume(tmp_path, capsys, kind):
    src = tmp_path / "v.hdf"
    if kind == "folder":
        src.mkdir()
    elif kind == "fifo":  # reading a pipe nobody writes to would wait forever
        os.mkfifo(src)
    elif kind == "empty":
        src.write_bytes(b"")
    elif kind == "text":
        src.write_text("raw neuron_ids clefts\n")
    run(capsys, ["partners", "assign", src, "--quiet"], inputs=[src] if kind not in ("missing", "fifo") else [],
        folder=tmp_path, message="v.hdf")


def test_simulate_writes_a_complete_file(tmp_path, capsys):
    out = tmp_path / "v.hdf"
    run(capsys, ["partners", "simulate", "-o", out, "--shape", "4", "32", "32"], inputs=[], folder=tmp_path,
        code=0, allow_new=("v.hdf",))
    with h5py.File(out, "r") as f:
        assert f["volumes/raw"].shape == (4, 32, 32)


def test_train_output_never_an_input(tmp_path, assets, capsys):
    data = copy(assets["cremi"], tmp_path)
    init = copy(assets["assoc"], tmp_path)
    existing = tmp_path / "old.pt"
    existing.write_bytes(b"an earlier model")
    (tmp_path / "sub").mkdir()
    cases = [
        (["--data", data, "-o", data, "--overwrite"], "input"),
        (["--init", init, "-o", init, "--overwrite"], "input"),
        (["-o", existing], "already exists"),
        (["-o", tmp_path / "sub"], "folder"),
        (["-o", tmp_path / "no" / "m.pt"], "does not exist"),
    ]
    for extra, message in cases:
        run(capsys, ["partners", "train", "--task", "association", "--iterations", "1", "--quiet", *extra],
            inputs=[data, init, existing], folder=tmp_path, message=message)


# -- 2. model files ------------------------------------------------------------------------


class Evil:
    def __reduce__(self):
        return (os.system, ("touch PWNED_BY_PARTNERS_CHECKPOINT",))


def _net(task="association", widths=(4, 6)):
    channels = 1 if task == "cleft" else 2
    torch.manual_seed(0)
    return ResidualUNet3d(in_channels=channels, out_channels=channels, widths=widths)


def _model(kind: str, path: Path, task: str = "association") -> Path:
    """A hostile checkpoint (or not-a-checkpoint) of the given kind, for ``task``."""
    net = _net(task)
    good = {"init": net.init_kwargs, "state": net.state_dict(), "task": task}
    if kind == "folder":
        path.mkdir()
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("weights, honestly\n")
    elif kind == "pickle":
        path.write_bytes(pickle.dumps({"init": {}, "state": {}, "task": Evil()}))
    elif kind == "torch_pickle":
        torch.save({"init": net.init_kwargs, "state": net.state_dict(), "task": "association", "x": Evil()}, path)
    elif kind == "tensor":
        torch.save(torch.zeros(3), path)
    else:
        payload = dict(good)
        if kind == "unknown_init":
            payload["init"] = {**net.init_kwargs, "dropout": 0.5}
        elif kind == "absurd_widths":
            payload["init"] = {**net.init_kwargs, "widths": [10**6] * 5}  # petabytes of weights
        elif kind == "zero_widths":
            payload["init"] = {**net.init_kwargs, "widths": [0, 6]}
        elif kind == "string_widths":
            payload["init"] = {**net.init_kwargs, "widths": "wide"}
        elif kind == "wrong_channels":
            other = ResidualUNet3d(in_channels=3, out_channels=3, widths=(4, 6))
            payload.update(init=other.init_kwargs, state=other.state_dict())
        elif kind == "wrong_shapes":
            payload["state"] = _net(task, widths=(4, 8)).state_dict()
        elif kind == "missing_weights":
            payload["state"] = dict(list(net.state_dict().items())[:3])
        elif kind in ("nan", "inf"):
            state = {k: v.clone() for k, v in net.state_dict().items()}
            first = next(k for k, v in state.items() if v.is_floating_point())
            state[first].view(-1)[0] = float(kind)
            payload["state"] = state
        elif kind == "other_task":
            payload.update(task="cleft" if task != "cleft" else "association")
        elif kind == "absurd_patch":
            payload["config"] = {"patch_zyx": [10**5, 10**5, 10**5]}
        elif kind == "no_state":
            payload.pop("state")
        else:  # pragma: no cover
            raise AssertionError(kind)
        torch.save(payload, path)
    return path


MODEL_KINDS = ["folder", "empty", "text", "pickle", "torch_pickle", "tensor", "unknown_init", "absurd_widths",
               "zero_widths", "string_widths", "wrong_channels", "wrong_shapes", "missing_weights", "nan", "inf",
               "other_task", "absurd_patch", "no_state"]


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_hostile_association_model_is_refused_before_the_analysis(tmp_path, assets, capsys, kind):
    src = copy(assets["cremi"], tmp_path)
    model = _model(kind, tmp_path / "model.pt")
    err = run(capsys, ["partners", "assign", src, "--clefts", "given", "--association-model", model, "--quiet"],
              inputs=[src, model], folder=tmp_path, message="model.pt")
    assert not Path("PWNED_BY_PARTNERS_CHECKPOINT").exists() and "detection" not in err


@pytest.mark.parametrize("kind", ["pickle", "absurd_widths", "nan", "unknown_init", "wrong_channels", "other_task"])
def test_hostile_cleft_model_is_refused_on_nwb_input(tmp_path, assets, capsys, kind):
    src = copy(assets["em"], tmp_path)
    model = _model(kind, tmp_path / "model.pt", task="cleft")
    run(capsys, ["partners", "assign", src, "--cleft-model", model, "--quiet"], inputs=[src, model],
        folder=tmp_path, message="model.pt")


@pytest.mark.parametrize("kind", ["absurd_widths", "nan", "pickle", "other_task", "folder"])
def test_hostile_init_checkpoint_is_refused_before_training(tmp_path, capsys, kind):
    model = _model(kind, tmp_path / "model.pt")
    run(capsys, ["partners", "train", "--task", "association", "--init", model, "-o", tmp_path / "new.pt",
                 "--iterations", "1", "--quiet"], inputs=[model], folder=tmp_path, message="model.pt")


def test_init_with_other_widths_is_refused(tmp_path, assets, capsys):
    init = copy(assets["assoc"], tmp_path)
    run(capsys, ["partners", "train", "--task", "association", "--init", init, "-o", tmp_path / "new.pt",
                 "--iterations", "1", "--quiet"], inputs=[init], folder=tmp_path, message="widths")


# -- 3. data: CREMI and NWB volumes, simulated shapes --------------------------------------


def _cremi_variant(kind: str, sim, path: Path) -> tuple[Path, list[str]]:
    """A damaged CREMI file and the extra options of the case."""
    raw, nid, cl = sim.raw, sim.neuron_ids, np.where(sim.clefts == 0, np.iinfo(np.uint64).max, sim.clefts)
    res = {"volumes/raw": {"resolution": (40.0, 8.0, 8.0)}}
    data = {"volumes/raw": raw, "volumes/labels/neuron_ids": nid, "volumes/labels/clefts": cl}
    extra: list[str] = []
    if kind in ("raw_bool", "raw_float", "raw_complex", "raw_string", "raw_compound"):
        dtype = kind[4:]
        data["volumes/raw"] = {"bool": raw > 100, "float": raw.astype(np.float32), "complex": raw.astype(np.complex64),
                               "string": np.full(raw.shape, b"ab"), "compound": np.zeros(raw.shape, "u1,u1")}[dtype]
    elif kind == "raw_group":
        pass
    elif kind in ("raw_2d", "raw_4d", "raw_empty"):
        data["volumes/raw"] = {"raw_2d": raw[0], "raw_4d": raw[None], "raw_empty": raw[:0]}[kind]
        data.pop("volumes/labels/neuron_ids"), data.pop("volumes/labels/clefts")
        if kind == "raw_2d":
            data["volumes/labels/neuron_ids"] = nid[0]
    elif kind == "no_raw":
        data.pop("volumes/raw")
        res = {}
    elif kind == "res_missing":
        res = {}
    elif kind.startswith("res_"):
        res["volumes/raw"]["resolution"] = {"res_zero": (0.0, 8.0, 8.0), "res_negative": (40.0, -8.0, 8.0),
                                            "res_nan": (np.nan, 8.0, 8.0), "res_inf": (40.0, np.inf, 8.0),
                                            "res_two": (8.0, 8.0), "res_scalar": 8.0,
                                            "res_text": "forty by eight", "res_tiny": (1e-300, 8.0, 8.0),
                                            "res_huge": (40.0, 1e300, 8.0)}[kind]
    elif kind.startswith("seg_"):
        data["volumes/labels/neuron_ids"] = {"seg_float": nid.astype(np.float32), "seg_bool": nid > 0,
                                             "seg_string": np.full(nid.shape, b"n"),
                                             "seg_negative": -nid.astype(np.int64),
                                             "seg_shape": nid[:, :32]}[kind]
    elif kind == "no_seg":
        data.pop("volumes/labels/neuron_ids")
    elif kind == "clefts_complex":
        data["volumes/labels/clefts"] = cl.astype(np.complex128)
        extra = ["--clefts", "given"]
    elif kind == "clefts_negative":
        data["volumes/labels/clefts"] = -np.where(sim.clefts > 0, 5, 1).astype(np.int64)
        extra = ["--clefts", "given"]
    elif kind == "no_clefts_given":
        data.pop("volumes/labels/clefts")
        extra = ["--clefts", "given"]
    elif kind == "annotations_locations":
        data.update({"annotations/ids": np.arange(2, dtype=np.uint64), "annotations/types": np.array([b"a", b"b"]),
                     "annotations/locations": np.zeros((2, 4))})
    elif kind == "annotations_ids_text":
        data.update({"annotations/ids": np.array([b"one", b"two"]), "annotations/types": np.array([b"a", b"b"]),
                     "annotations/locations": np.zeros((2, 3))})
    elif kind == "annotations_nan":
        data.update({"annotations/ids": np.arange(1, dtype=np.uint64), "annotations/types": np.array([b"a"]),
                     "annotations/locations": np.full((1, 3), np.nan)})
    elif kind == "huge_declared":
        data = {"volumes/raw": dict(shape=(4096, 4096, 4096), dtype=np.uint8, chunks=(1, 64, 64)),
                "volumes/labels/neuron_ids": dict(shape=(4096, 4096, 4096), dtype=np.uint64, chunks=(1, 64, 64))}
    else:  # pragma: no cover
        raise AssertionError(kind)
    if kind == "raw_group":
        data["volumes/raw"] = None
        res = {}
    return write_h5(path, data, res), extra


CREMI_KINDS = ["raw_bool", "raw_float", "raw_complex", "raw_string", "raw_compound", "raw_group", "raw_2d", "raw_4d",
               "raw_empty", "no_raw", "res_zero", "res_negative", "res_nan", "res_inf", "res_two", "res_scalar",
               "res_text", "res_tiny", "res_huge", "res_missing", "seg_float", "seg_bool", "seg_string", "seg_negative",
               "seg_shape",
               "no_seg", "clefts_complex", "clefts_negative", "no_clefts_given", "annotations_locations",
               "annotations_ids_text", "annotations_nan", "huge_declared"]


@pytest.mark.parametrize("kind", CREMI_KINDS)
def test_damaged_cremi_files(tmp_path, assets, capsys, kind):
    src, extra = _cremi_variant(kind, assets["sim"], tmp_path / "bad.hdf")
    err = run(capsys, ["partners", "assign", src, "--quiet", *extra], inputs=[src], folder=tmp_path)
    assert "--cleft-volume" not in err
    if kind == "huge_declared":
        assert "available" in err and "TiB" in err


def test_truncated_cremi_file(tmp_path, assets, capsys):
    src = tmp_path / "cut.hdf"
    src.write_bytes(assets["cremi"].read_bytes()[:3000])
    run(capsys, ["partners", "assign", src, "--quiet"], inputs=[src], folder=tmp_path)


def _nwb_variant(kind: str, src: Path) -> list[str]:
    """Damage an NWB EM file in place (h5py); returns the extra options of the case."""
    with h5py.File(src, "r+") as f:
        image = f["acquisition/em_raw"]
        seg = f["acquisition/em_raw_segmentation"]
        if kind in ("image_bool", "image_float", "image_complex"):
            data = image["data"][...]
            del image["data"]
            image["data"] = {"image_bool": data > 100, "image_float": data.astype(np.float64),
                             "image_complex": data.astype(np.complex64)}[kind]
        elif kind.startswith("voxel_"):
            value = {"voxel_zero": [0.0, 8.0, 8.0], "voxel_negative": [40.0, -8.0, 8.0],
                     "voxel_nan": [np.nan, 8.0, 8.0]}[kind]
            image.attrs["voxel_size"] = np.asarray(value) * 1e-9  # schema 0.2: meters
        elif kind in ("image_2d", "image_empty", "image_huge"):
            for group in (image, seg, f["acquisition/em_raw_clefts"]):
                data = group["data"][...]
                del group["data"]
                if kind == "image_huge":  # declared, never written: a tiny file of 2.5 TiB of voxels
                    group.create_dataset("data", shape=(4096, 4096, 4096), dtype=data.dtype, chunks=(1, 64, 64))
                else:
                    group["data"] = data[0] if kind == "image_2d" else data[:0]
        elif kind == "offset_nan":
            image.attrs["offset"] = [np.nan, 0.0, 0.0]
        elif kind in ("clefts_float", "clefts_negative"):
            clefts = f["acquisition/em_raw_clefts"]
            data = clefts["data"][...]
            del clefts["data"]
            clefts["data"] = data.astype(np.float32) if kind == "clefts_float" else -data.astype(np.int64)
        elif kind == "image_is_labels":
            return ["--image", "em_raw_segmentation"]
        elif kind == "seg_float":
            data = seg["data"][...]
            del seg["data"]
            seg["data"] = data.astype(np.float32)
        elif kind == "seg_empty":
            seg["data"][...] = 0
    return []


@pytest.mark.parametrize("kind", ["image_bool", "image_float", "image_complex", "image_2d", "image_empty",
                                  "image_huge", "image_is_labels", "voxel_zero", "voxel_negative", "voxel_nan",
                                  "offset_nan", "clefts_float", "clefts_negative", "seg_float", "seg_empty"])
def test_damaged_nwb_em_volumes(tmp_path, assets, capsys, kind):
    src = copy(assets["em"], tmp_path)
    extra = _nwb_variant(kind, src)
    run(capsys, ["partners", "assign", src, "--clefts", "given", "--quiet", *extra], inputs=[src], folder=tmp_path)


@pytest.mark.parametrize("kind", ["em", "cremi"])
def test_clefts_given_without_cleft_labels_names_no_missing_option(tmp_path, assets, capsys, kind):
    if kind == "em":
        src = copy(assets["noclefts"], tmp_path)
    else:
        src, _ = _cremi_variant("no_clefts_given", assets["sim"], tmp_path / "noclefts.hdf")
    err = run(capsys, ["partners", "assign", src, "--clefts", "given", "--quiet"], inputs=[src], folder=tmp_path,
              message="--clefts detect")
    assert "--cleft-volume" not in err


@pytest.mark.parametrize("options, message", [
    (["--image", "nope"], "nope"),
    (["--segmentation", "nope"], "nope"),
])
def test_unknown_volume_names(tmp_path, assets, capsys, options, message):
    src = copy(assets["em"], tmp_path)
    run(capsys, ["partners", "assign", src, "--clefts", "given", "--quiet", *options], inputs=[src],
        folder=tmp_path, message=message)


@pytest.mark.parametrize("options, message", [
    (["--shape", "4096", "4096", "4096"], "available"),
    (["--shape", "100000", "100000", "100000"], "available"),
    (["--shape", "0", "0", "0"], "--shape"),
    (["--shape", "-4", "32", "32"], "--shape"),
    (["--shape", "4", "16", "16"], "--shape"),
    (["--voxel-size-nm", "0", "8", "8"], "--voxel-size-nm"),
    (["--voxel-size-nm", "nan", "8", "8"], "--voxel-size-nm"),
    (["--voxel-size-nm", "40", "-8", "8"], "--voxel-size-nm"),
    (["--voxel-size-nm", "40", "inf", "8"], "--voxel-size-nm"),
    (["--voxel-size-nm", "1e-9", "1e-9", "1e-9"], "--voxel-size-nm"),  # used to run out of memory
    (["--voxel-size-nm", "1e300", "8", "8"], "--voxel-size-nm"),  # used to end in a ValueError
    (["--voxel-size-nm", "1", "1", "1"], "what the simulator models"),  # used to run for minutes
    (["--voxel-size-nm", "0.001", "8", "8"], "--voxel-size-nm"),  # used to ignore SIGTERM for minutes
    (["--polyadic-fraction", "1.5"], "--polyadic-fraction"),
    (["--polyadic-fraction", "nan"], "--polyadic-fraction"),
    (["--seed", "-1"], "--seed"),
])
def test_simulate_refuses_before_allocating(tmp_path, capsys, options, message):
    err = run(capsys, ["partners", "simulate", "-o", tmp_path / "v.hdf", *options], inputs=[], folder=tmp_path,
              message=message)
    if message == "available":
        assert "needs about" in err


# -- 4. options ------------------------------------------------------------------------------

ASSIGN_OPTIONS = [
    (["--min-voxels", "-1"], "--min-voxels"),
    (["--min-contact", "-1"], "--min-contact"),
    (["--threshold", "0"], "--threshold"),
    (["--threshold", "1"], "--threshold"),
    (["--threshold", "1.5"], "--threshold"),
    (["--threshold", "nan"], "--threshold"),
    (["--threshold", "-0.5"], "--threshold"),
    (["--post-threshold", "1.5"], "--post-threshold"),
    (["--post-threshold", "-0.1"], "--post-threshold"),
    (["--post-threshold", "nan"], "--post-threshold"),
    (["--device", "gpu"], "--device"),
    (["--device", "tpu9"], "--device"),
    pytest.param(["--device", "cuda"], "--device", marks=pytest.mark.skipif(not CPU_ONLY, reason="a GPU is here")),
]


@pytest.mark.parametrize("kind", ["cremi", "em"])
@pytest.mark.parametrize("options, message", ASSIGN_OPTIONS)
def test_assign_options(tmp_path, assets, capsys, kind, options, message):
    src = copy(assets[kind], tmp_path)
    run(capsys, ["partners", "assign", src, "--quiet", *options], inputs=[src], folder=tmp_path, message=message)


@pytest.mark.parametrize("options, message", [
    (["--iterations", "0"], "--iterations"),
    (["--iterations", "-5"], "--iterations"),
    (["--learning-rate", "0"], "--learning-rate"),
    (["--learning-rate", "nan"], "--learning-rate"),
    (["--learning-rate=-1e-3"], "--learning-rate"),
    (["--mask-dilation", "1.5"], "--mask-dilation"),
    (["--volumes", "0"], "--volumes"),
    (["--volumes", "1000000000"], "available"),
    (["--seed", "-1"], "--seed"),
    (["--data-seed", "-1"], "--data-seed"),
    (["--device", "tpu9"], "--device"),
])
def test_train_options(tmp_path, capsys, options, message):
    run(capsys, ["partners", "train", "--task", "association", "-o", tmp_path / "m.pt", "--quiet", *options],
        inputs=[], folder=tmp_path, message=message)


def test_train_init_with_mask_pruner_is_refused(tmp_path, assets, capsys):
    init = copy(assets["assoc"], tmp_path)
    run(capsys, ["partners", "train", "--task", "mask-pruner", "--init", init, "-o", tmp_path / "m.pt"],
        inputs=[init], folder=tmp_path, message="--init")


@pytest.mark.parametrize("kind", ["missing", "text", "no_clefts", "folder", "fifo"])
def test_train_bad_data_files(tmp_path, assets, capsys, kind):
    path = tmp_path / "d.hdf"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "text":
        path.write_text("raw, neuron ids, clefts\n")
    elif kind == "no_clefts":
        _cremi_variant("no_clefts_given", assets["sim"], path)
    elif kind == "folder":
        path.mkdir()
    run(capsys, ["partners", "train", "--task", "cleft", "--data", path, "-o", tmp_path / "m.pt", "--quiet"],
        inputs=[path] if kind not in ("missing", "fifo") else [], folder=tmp_path, message="d.hdf")


def test_a_clean_run_still_writes_output_and_figure(tmp_path, assets, capsys):
    src = copy(assets["cremi"], tmp_path)
    run(capsys, ["partners", "assign", src, "-o", tmp_path / "out.nwb", "--clefts", "given", "--no-weights",
                 "--plot", tmp_path / "s.png", "--quiet"], inputs=[src], folder=tmp_path, code=0,
        allow_new=("out.nwb", "s.png"))


# -- partners score / export ----------------------------------------------------------------


def _bare_cremi(path, *, resolution=True):
    raw = np.zeros((4, 32, 32), np.uint8)
    return write_h5(path, {"volumes/raw": raw, "volumes/labels/neuron_ids": np.ones((4, 32, 32), np.uint64)},
                    {"volumes/raw": {"resolution": [40.0, 8.0, 8.0]}} if resolution else None)


def test_score_against_a_file_without_annotations(tmp_path, assets, capsys):
    bare = _bare_cremi(tmp_path / "bare.hdf")
    result = copy(assets["em"], tmp_path)
    run(capsys, ["partners", "score", bare, result], inputs=[bare, result], folder=tmp_path,
        message="no cleft labels")


def test_score_needs_a_volume_with_a_resolution(tmp_path, assets, capsys):
    bare = _bare_cremi(tmp_path / "nores.hdf", resolution=False)
    result = copy(assets["em"], tmp_path)
    run(capsys, ["partners", "score", bare, result], inputs=[bare, result], folder=tmp_path, message="resolution")


def test_score_of_a_file_without_results(tmp_path, assets, capsys):
    truth = copy(assets["cremi"], tmp_path)
    result = copy(assets["em"], tmp_path)
    run(capsys, ["partners", "score", truth, result], inputs=[truth, result], folder=tmp_path,
        message="partners assign")


def test_assign_on_a_volume_without_a_resolution(tmp_path, capsys):
    bare = _bare_cremi(tmp_path / "nores.hdf", resolution=False)
    run(capsys, ["partners", "assign", bare, "-o", tmp_path / "out.nwb", "--quiet"], inputs=[bare],
        folder=tmp_path, message="resolution")


def test_export_to_an_existing_target_is_refused(tmp_path, assets, capsys):
    src = copy(assets["em"], tmp_path)
    target = tmp_path / "ng"
    target.write_text("keep me")
    run(capsys, ["partners", "export", src, "-o", target], inputs=[src, target], folder=tmp_path,
        message="already exists")


def test_export_of_a_file_without_results(tmp_path, assets, capsys):
    pytest.importorskip("tensorstore", reason="the neuroglancer extra (tensorstore) is not installed")
    src = copy(assets["em"], tmp_path)
    run(capsys, ["partners", "export", src, "-o", tmp_path / "ng"], inputs=[src], folder=tmp_path,
        message="partners assign")


@pytest.mark.parametrize("option", ["--match-distance-nm", "--distance-threshold-nm"])
@pytest.mark.parametrize("value", ["0", "-5", "nan"])
def test_score_distances_must_be_positive(tmp_path, assets, capsys, option, value):
    truth = copy(assets["cremi"], tmp_path)
    result = copy(assets["em"], tmp_path)
    run(capsys, ["partners", "score", truth, result, option, value], inputs=[truth, result], folder=tmp_path,
        message=option)


def test_train_at_another_voxel_size_records_it(tmp_path, capsys, monkeypatch):
    import json

    import nwbsyn.partners.train
    from nwbsyn.partners.model import load_checkpoint
    from nwbsyn.partners.resample import network_voxel_size_nm

    seen = []
    monkeypatch.setattr(nwbsyn.partners.train, "labelled_volumes", lambda **kw: seen.append(kw) or [])
    monkeypatch.setattr(nwbsyn.partners.train, "fit", _tiny_fit)
    out = tmp_path / "m16.pt"
    run(capsys, ["partners", "train", "--task", "cleft", "-o", out, "--voxel-size-nm", "40", "16", "16", "--quiet"],
        inputs=[], folder=tmp_path, code=0, allow_new=("m16.pt", "m16.card.json"))
    assert all(kw["options"]["voxel_size_nm"] == (40.0, 16.0, 16.0) for kw in seen) and seen
    card = json.loads(out.with_suffix(".card.json").read_text())
    assert card["voxel_size_nm"] == [40.0, 16.0, 16.0] and card["config"]["voxel_size_nm"] == [40.0, 16.0, 16.0]
    _, info = load_checkpoint(out, task="cleft")
    info["path"] = str(out)
    assert network_voxel_size_nm(info) == (40.0, 16.0, 16.0)


def test_train_voxel_size_outside_the_simulator(tmp_path, capsys):
    run(capsys, ["partners", "train", "--task", "cleft", "-o", tmp_path / "m.pt", "--voxel-size-nm", "40", "1", "1"],
        inputs=[], folder=tmp_path, message="--voxel-size-nm")
