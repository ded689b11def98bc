"""Hostile inputs for `nwbsyn events detect|train|transfer` and `nwbsyn convert abf`.

Every case must end cleanly (see hostile_harness.HostileCase): exit 2 with one sentence, no
traceback, inputs byte-identical and nothing (output, figure, temporary) left behind. The
files are generated here, small, with fixed seeds.
"""

from __future__ import annotations

import os
import pickle
import shutil
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from hostile_harness import HostileCase

torch = pytest.importorskip("torch")

from nwbsyn.events.model import EventClassifier, save_model  # noqa: E402
from nwbsyn.io.output import claim_output  # noqa: E402
from nwbsyn.testing.events import write_keras2_model, write_keras3_model  # noqa: E402

from conftest import write_nwbfile  # noqa: E402

SERIES = "acquisition/sweep_0"


# -- generated inputs ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    """Files shared by the cases (copied before a case may see them): an NWB file, a model, ABF, training data."""
    from pyabf.abfWriter import writeABF1

    from nwbsyn.testing import mock_icephys_nwbfile

    folder = tmp_path_factory.mktemp("assets")
    nwb = write_nwbfile(mock_icephys_nwbfile(n_sweeps=1, duration_s=0.3, n_events_per_sweep=3, rng=0),
                        folder / "cell.nwb")
    torch.manual_seed(0)
    model = EventClassifier().eval()
    pt = save_model(model, folder / "model.pt", card={"name": "hostile"}, seed=0)
    abf = folder / "cell.abf"
    writeABF1(np.random.default_rng(0).normal(-20, 2, size=(2, 2000)).astype(np.float32), str(abf), 10_000,
              units="pA")
    rng = np.random.default_rng(1)
    train = folder / "windows.h5"
    with h5py.File(train, "w") as f:
        f["events"] = rng.normal(size=(16, 600))
        f["scores"] = np.arange(16) % 2
    return {"nwb": nwb, "model": pt, "model_obj": model, "abf": abf, "train": train}


def copy(src: Path, folder: Path, name: str | None = None) -> Path:
    dst = folder / (name or src.name)
    shutil.copyfile(src, dst)
    return dst


def nwb_variant(assets, folder: Path, mutate) -> Path:
    """A copy of the NWB file whose sweep_0 has been changed by ``mutate(h5py group)``."""
    path = copy(assets["nwb"], folder, "hostile.nwb")
    with h5py.File(path, "r+") as f:
        mutate(f[SERIES])
    return path


def replace_data(group, data=None, **kwargs):
    attrs = dict(group["data"].attrs)
    del group["data"]
    ds = group.create_dataset("data", data=data, **kwargs)
    for key, value in attrs.items():
        ds.attrs[key] = value


def set_rate(group, rate):
    group["starting_time"].attrs["rate"] = rate


def use_timestamps(group, timestamps):
    del group["starting_time"]
    ds = group.create_dataset("timestamps", data=np.asarray(timestamps, dtype=float))
    ds.attrs["interval"] = 1
    ds.attrs["unit"] = "seconds"


def detect(path, *extra) -> list[str]:
    return ["events", "detect", str(path), "--quiet", "--no-weights", *map(str, extra)]


class _Case(HostileCase):
    """A HostileCase that also appends its error line to $NWBSYN_HOSTILE_LOG (to review the wording)."""

    def check(self, capsys) -> str:
        err = super().check(capsys)
        log = os.environ.get("NWBSYN_HOSTILE_LOG")
        if log:
            with open(log, "a") as f:
                f.write(" ".join(self.argv[:2]) + " | " + " ".join(err.strip().splitlines()[-1:]) + "\n")
        return err


def hostile(argv, inputs, folder, message=None, code=2, **kw) -> HostileCase:
    return _Case(argv=[str(a) for a in argv], inputs=[Path(p) for p in inputs], watch=[Path(folder)],
                 code=code, message=message, **kw)


# -- 1. never lose data ---------------------------------------------------------------------


class TestNeverLoseData:
    def test_detect_output_is_input(self, assets, tmp_path, capsys):
        nwb = copy(assets["nwb"], tmp_path)
        hostile(detect(nwb, "-o", nwb), [nwb], tmp_path, "input").check(capsys)

    def test_detect_output_is_input_with_overwrite(self, assets, tmp_path, capsys):
        nwb = copy(assets["nwb"], tmp_path)
        hostile(detect(nwb, "-o", nwb, "--overwrite"), [nwb], tmp_path, "input").check(capsys)

    def test_detect_output_is_a_link_to_the_input(self, assets, tmp_path, capsys):
        nwb = copy(assets["nwb"], tmp_path)
        link = tmp_path / "link.nwb"
        link.symlink_to(nwb)
        hostile(detect(nwb, "-o", link, "--overwrite"), [nwb, link], tmp_path, "input").check(capsys)

    def test_detect_output_exists(self, assets, tmp_path, capsys):
        nwb, out = copy(assets["nwb"], tmp_path), tmp_path / "out.nwb"
        out.write_bytes(b"keep me")
        hostile(detect(nwb, "-o", out), [nwb, out], tmp_path, "--overwrite").check(capsys)

    def test_detect_output_is_a_folder(self, assets, tmp_path, capsys):
        nwb = copy(assets["nwb"], tmp_path)
        (tmp_path / "sub").mkdir()
        hostile(detect(nwb, "-o", tmp_path / "sub", "--overwrite"), [nwb], tmp_path, "folder").check(capsys)

    @pytest.mark.parametrize("which", ["input", "input-link", "model", "output"])
    def test_plot_names_a_file_of_the_run(self, assets, tmp_path, capsys, which):
        nwb, model = copy(assets["nwb"], tmp_path), copy(assets["model"], tmp_path)
        out = tmp_path / "out.png"
        if which == "input-link":
            (tmp_path / "in.png").symlink_to(nwb)
        plot = {"input": nwb, "input-link": tmp_path / "in.png", "model": model, "output": out}[which]
        argv = detect(nwb, "-o", out, "--plot", plot, "--model", model, "--overwrite")
        hostile(argv, [nwb, model, plot], tmp_path, "--plot" if which == "output" else None).check(capsys)

    @pytest.mark.parametrize("name", ["events.xyz", "events", "events.png.bak", "events.nwb", "events.h5"])
    def test_plot_with_an_unknown_suffix(self, assets, tmp_path, capsys, name):
        nwb = copy(assets["nwb"], tmp_path)
        hostile(detect(nwb, "--plot", tmp_path / name), [nwb], tmp_path, "--plot").check(capsys)

    @pytest.mark.parametrize("where", ["missing/events.png", "/proc/nwbsyn-events.png", "folder"])
    def test_plot_into_a_missing_or_unwritable_place(self, assets, tmp_path, capsys, where):
        nwb = copy(assets["nwb"], tmp_path)
        if where == "folder":
            (tmp_path / "fig.png").mkdir()
            where = "fig.png"
        plot = where if where.startswith("/") else tmp_path / where
        hostile(detect(nwb, "--plot", plot), [nwb], tmp_path).check(capsys)

    def test_plot_exists(self, assets, tmp_path, capsys):
        nwb, plot = copy(assets["nwb"], tmp_path), tmp_path / "events.png"
        plot.write_bytes(b"an older figure")
        hostile(detect(nwb, "--plot", plot), [nwb, plot], tmp_path, "--overwrite").check(capsys)

    def test_concurrent_detect_is_refused(self, assets, tmp_path, capsys):
        nwb, out = copy(assets["nwb"], tmp_path), tmp_path / "out.nwb"
        with claim_output(out):
            hostile(detect(nwb, "-o", out), [nwb], tmp_path, "another nwbsyn process").check(capsys)

    def test_concurrent_plot_is_refused(self, assets, tmp_path, capsys):
        nwb, plot = copy(assets["nwb"], tmp_path), tmp_path / "events.png"
        with claim_output(plot):
            hostile(detect(nwb, "--plot", plot), [nwb], tmp_path, "another nwbsyn process").check(capsys)

    @pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
    def test_convert_abf_output_is_input(self, assets, tmp_path, capsys, overwrite):
        abf = copy(assets["abf"], tmp_path)
        hostile(["convert", "abf", abf, "-o", abf, *overwrite], [abf], tmp_path, "input").check(capsys)

    def test_convert_abf_output_is_a_link_to_the_input(self, assets, tmp_path, capsys):
        abf = copy(assets["abf"], tmp_path)
        (tmp_path / "out.nwb").symlink_to(abf)
        hostile(["convert", "abf", abf, "-o", tmp_path / "out.nwb", "--overwrite"], [abf], tmp_path,
                "input").check(capsys)

    def test_convert_abf_named_nwb_default_output_is_input(self, assets, tmp_path, capsys):
        abf = copy(assets["abf"], tmp_path, "cell.nwb")
        hostile(["convert", "abf", abf, "--overwrite"], [abf], tmp_path, "input").check(capsys)

    def test_convert_abf_concurrent(self, assets, tmp_path, capsys):
        abf, out = copy(assets["abf"], tmp_path), tmp_path / "cell.nwb"
        with claim_output(out):
            hostile(["convert", "abf", abf], [abf], tmp_path, "another nwbsyn process").check(capsys)

    def test_convert_abf_output_missing_folder(self, assets, tmp_path, capsys):
        abf = copy(assets["abf"], tmp_path)
        hostile(["convert", "abf", abf, "-o", tmp_path / "no" / "x.nwb"], [abf], tmp_path, "does not exist").check(
            capsys)

    @pytest.mark.parametrize("name", ["windows.h5", "windows.pt"])
    def test_train_output_is_the_data(self, assets, tmp_path, capsys, name):
        data = copy(assets["train"], tmp_path, name)
        hostile(["events", "train", "--data", data, "-o", data, "--epochs", "1"], [data], tmp_path,
                "input").check(capsys)

    def test_train_output_is_the_second_data_file(self, assets, tmp_path, capsys):
        a, b = copy(assets["train"], tmp_path, "a.h5"), copy(assets["train"], tmp_path, "b.pt")
        hostile(["events", "train", "--data", a, b, "-o", b, "--overwrite"], [a, b], tmp_path, "input").check(capsys)

    def test_train_card_is_the_data(self, assets, tmp_path, capsys):
        data = copy(assets["train"], tmp_path, "m.card.json")
        hostile(["events", "train", "--data", data, "-o", tmp_path / "m.pt", "--overwrite"], [data], tmp_path,
                "input").check(capsys)

    def test_transfer_output_is_the_base(self, assets, tmp_path, capsys):
        data, base = copy(assets["train"], tmp_path), copy(assets["model"], tmp_path)
        hostile(["events", "transfer", "--data", data, "--base", base, "-o", base, "--overwrite"], [data, base],
                tmp_path, "input").check(capsys)

    def test_train_output_exists(self, assets, tmp_path, capsys):
        data, out = copy(assets["train"], tmp_path), tmp_path / "m.pt"
        out.write_bytes(b"an older model")
        hostile(["events", "train", "--data", data, "-o", out], [data, out], tmp_path, "--overwrite").check(capsys)

    def test_train_card_exists(self, assets, tmp_path, capsys):
        data, card = copy(assets["train"], tmp_path), tmp_path / "m.card.json"
        card.write_text("{}")
        hostile(["events", "train", "--data", data, "-o", tmp_path / "m.pt"], [data, card], tmp_path,
                "--overwrite").check(capsys)

    def test_plot_naming_the_input_in_place(self, assets, tmp_path, capsys):
        nwb = copy(assets["nwb"], tmp_path, "cell.png")  # an NWB file named like a figure
        hostile(detect(nwb, "--in-place", "--overwrite", "--plot", nwb), [nwb], tmp_path, "input").check(capsys)

    @pytest.mark.parametrize("out", ["no/m.pt", "/proc/m.pt", "m.h5", "m.keras", "folder.pt"])
    def test_train_output_unusable(self, assets, tmp_path, capsys, out):
        data = copy(assets["train"], tmp_path)
        (tmp_path / "folder.pt").mkdir()
        target = out if out.startswith("/") else tmp_path / out
        hostile(["events", "train", "--data", data, "-o", target], [data], tmp_path).check(capsys)

    def test_train_concurrent(self, assets, tmp_path, capsys):
        data, out = copy(assets["train"], tmp_path), tmp_path / "m.pt"
        with claim_output(out):
            hostile(["events", "train", "--data", data, "-o", out], [data], tmp_path,
                    "another nwbsyn process").check(capsys)


# -- 2. model files -------------------------------------------------------------------------


def _pt(path: Path, ckpt) -> Path:
    torch.save(ckpt, path)
    return path


def _ckpt(model, **changes):
    ckpt = {"format": "nwbsyn.events.EventClassifier/1", "init": dict(model.init_kwargs),
            "state": {k: v.clone() for k, v in model.state_dict().items()}, "seed": 0, "config": None, "card": {}}
    for key, value in changes.items():
        if key.startswith("init_"):
            ckpt["init"][key[5:]] = value
        else:
            ckpt[key] = value
    return ckpt


def _state_with(model, name, tensor):
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state[name] = tensor
    return state


class _Touch:
    """Unpickling this would create a file: proves that no pickled code runs."""

    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return (Path(self.target).touch, ())


def _make_model_file(kind: str, folder: Path, model) -> Path:
    bad = float("nan")
    if kind == "pt-unknown-init":
        return _pt(folder / "m.pt", _ckpt(model, init_n_heads=8))
    if kind == "pt-wrong-shape":
        return _pt(folder / "m.pt", _ckpt(model, state=_state_with(model, "dense.weight", torch.zeros(3, 3))))
    if kind == "pt-missing-tensor":
        state = _state_with(model, "dense.weight", torch.zeros(1))
        del state["dense.weight"]
        return _pt(folder / "m.pt", _ckpt(model, state=state))
    if kind == "pt-petabyte":  # 1.6 PB of parameters if it were built
        return _pt(folder / "m.pt", _ckpt(model, init_filters=[100_000] * 4, init_lstm_units=100_000,
                                          init_dense_units=100_000))
    if kind == "pt-huge-window":
        return _pt(folder / "m.pt", _ckpt(model, init_window_samples=10**12))
    if kind == "pt-nan-weights":
        return _pt(folder / "m.pt", _ckpt(model, state=_state_with(model, "out.bias", torch.tensor([bad]))))
    if kind == "pt-inf-weights":
        return _pt(folder / "m.pt", _ckpt(model, state=_state_with(model, "conv.0.1.running_var",
                                                                  torch.full((32,), float("inf")))))
    if kind == "pt-complex-weights":
        return _pt(folder / "m.pt", _ckpt(model, state=_state_with(model, "out.bias", torch.zeros(1) * 1j)))
    if kind == "pt-init-not-dict":
        return _pt(folder / "m.pt", _ckpt(model, init=[1, 2, 3]))
    if kind == "pt-state-not-dict":
        return _pt(folder / "m.pt", _ckpt(model, state="weights"))
    if kind == "pt-no-state":
        ckpt = _ckpt(model)
        del ckpt["state"]
        return _pt(folder / "m.pt", ckpt)
    if kind == "pt-bool-filters":
        return _pt(folder / "m.pt", _ckpt(model, init_filters=[True, True, True, True]))
    if kind == "pt-negative-kernel":
        return _pt(folder / "m.pt", _ckpt(model, init_kernel_sizes=[9, -7, 5, 3]))
    if kind == "pt-zero-pool":
        return _pt(folder / "m.pt", _ckpt(model, init_pool_sizes=[3, 0, 2, 1]))
    if kind == "pt-pools-eat-window":
        return _pt(folder / "m.pt", _ckpt(model, init_pool_sizes=[30, 20, 20, 1]))
    if kind == "pt-unequal-lists":
        return _pt(folder / "m.pt", _ckpt(model, init_filters=[32, 48]))
    if kind == "pt-nan-dropout":
        return _pt(folder / "m.pt", _ckpt(model, init_dropout=bad))
    if kind == "pt-a-list":
        return _pt(folder / "m.pt", [1, 2, 3])
    if kind == "torch-legacy-format":
        path = folder / "m.pt"
        torch.save(_ckpt(model), path, _use_new_zipfile_serialization=False)
        return path
    if kind == "pickle-code":
        path = folder / "m.pt"
        path.write_bytes(pickle.dumps({"init": {}, "state": _Touch(folder / "PWNED")}))
        return path
    if kind == "torch-pickle-code":
        return _pt(folder / "m.pt", {"init": {}, "state": _Touch(folder / "PWNED")})
    if kind in ("empty-pt", "empty-h5", "empty-keras"):
        path = folder / f"m.{kind.split('-')[1]}"
        path.write_bytes(b"")
        return path
    if kind == "text-pt":
        path = folder / "m.pt"
        path.write_text("this is not a checkpoint\n" * 50)
        return path
    if kind == "folder":
        path = folder / "m.pt"
        path.mkdir()
        return path
    if kind == "missing":
        return folder / "nothing.pt"
    if kind.startswith("h5-"):
        return _make_keras2(kind, folder, model)
    return _make_keras3(kind, folder, model)


def _make_keras2(kind: str, folder: Path, model) -> Path:
    path = write_keras2_model(folder / "m.h5", model=model)
    with h5py.File(path, "r+") as f:
        if kind == "h5-json-bomb":
            f.attrs["model_config"] = "[" * 200_000 + "]" * 200_000
        elif kind == "h5-malformed-json":
            f.attrs["model_config"] = '{"class_name": "Sequential", "config": {"layers": [{'
        elif kind == "h5-no-config":
            f.attrs["model_config"] = '{"class_name": "Sequential"}'
        elif kind == "h5-config-not-object":
            f.attrs["model_config"] = "[1, 2, 3]"
        elif kind == "h5-no-layers":
            f.attrs["model_config"] = '{"class_name": "Sequential", "config": {"name": "x"}}'
        elif kind == "h5-layers-garbage":
            f.attrs["model_config"] = '{"class_name": "Sequential", "config": {"layers": [1, "two", null]}}'
        elif kind == "h5-functional":
            f.attrs["model_config"] = '{"class_name": "Functional", "config": {"layers": []}}'
        elif kind == "h5-no-weights":
            del f["model_weights"]
        elif kind == "h5-nan-weights":
            ds = f["model_weights/dense/dense/kernel:0"]
            ds[0, 0] = np.nan
        elif kind == "h5-wrong-shape":
            del f["model_weights/dense/dense/kernel:0"]
            f["model_weights/dense/dense/kernel:0"] = np.zeros((5, 5), np.float32)
        elif kind == "h5-missing-layer":
            del f["model_weights/dense_1"]
        elif kind == "h5-string-weights":
            del f["model_weights/dense/dense/bias:0"]
            f["model_weights/dense/dense/bias:0"] = np.array([b"x"] * 128)
        elif kind == "h5-absurd-weight":  # declared 4 TB, stored as nothing (chunked, never written)
            del f["model_weights/dense/dense/kernel:0"]
            f.create_dataset("model_weights/dense/dense/kernel:0", shape=(10**6, 10**6), dtype=np.float32,
                             chunks=(1, 1024))
        elif kind == "h5-petabyte-config":
            config = f.attrs["model_config"].replace('"filters": 32', '"filters": 100000000')
            f.attrs["model_config"] = config
        elif kind == "h5-weight-is-group":
            del f["model_weights/dense/dense/bias:0"]
            f.create_group("model_weights/dense/dense/bias:0")
    return path


def _make_keras3(kind: str, folder: Path, model) -> Path:
    path = folder / "m.keras"
    if kind == "keras-not-zip":
        path.write_text("PK? no, just text\n" * 20)
    elif kind == "keras-broken-weights":
        write_keras3_model(path, model=model, weights=b"\x89HDF not really" * 30)
    elif kind == "keras-empty-weights":
        import io

        buffer = io.BytesIO()
        with h5py.File(buffer, "w"):
            pass
        write_keras3_model(path, model=model, weights=buffer.getvalue())
    elif kind == "keras-malformed-config":
        write_keras3_model(path, model=model)
        with zipfile.ZipFile(path, "a") as z:
            z.writestr("config.json", "{not json")
    elif kind == "keras-no-members":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("readme.txt", "hello")
    elif kind == "keras-truncated":
        write_keras3_model(path, model=model)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "keras-nan-weights":
        bad = EventClassifier().eval()
        bad.load_state_dict(model.state_dict())
        with torch.no_grad():
            bad.lstm.weight_ih_l0[0, 0] = float("nan")
        write_keras3_model(path, model=bad)
    return path


MODEL_KINDS = [
    "pt-unknown-init", "pt-wrong-shape", "pt-missing-tensor", "pt-petabyte", "pt-huge-window", "pt-nan-weights",
    "pt-inf-weights", "pt-complex-weights", "pt-init-not-dict", "pt-state-not-dict", "pt-no-state",
    "pt-bool-filters", "pt-negative-kernel", "pt-zero-pool", "pt-pools-eat-window", "pt-unequal-lists",
    "pt-nan-dropout", "pt-a-list", "torch-legacy-format", "pickle-code", "torch-pickle-code", "empty-pt", "empty-h5",
    "empty-keras",
    "text-pt", "folder", "missing",
    "h5-json-bomb", "h5-malformed-json", "h5-no-config", "h5-config-not-object", "h5-no-layers", "h5-layers-garbage",
    "h5-functional", "h5-no-weights", "h5-nan-weights", "h5-wrong-shape", "h5-missing-layer", "h5-string-weights",
    "h5-absurd-weight", "h5-petabyte-config", "h5-weight-is-group",
    "keras-not-zip", "keras-broken-weights", "keras-empty-weights", "keras-malformed-config", "keras-no-members",
    "keras-truncated", "keras-nan-weights",
]


class TestModelFiles:
    @pytest.mark.parametrize("kind", MODEL_KINDS)
    def test_detect_refuses_a_bad_model(self, assets, tmp_path, capsys, kind):
        nwb = copy(assets["nwb"], tmp_path)
        model = _make_model_file(kind, tmp_path, assets["model_obj"])
        inputs = [nwb] + ([model] if model.is_file() else [])
        hostile(detect(nwb, "--model", model), inputs, tmp_path).check(capsys)
        assert not (tmp_path / "PWNED").exists(), "pickled code ran"

    def test_checkpoint_that_unpacks_to_too_much(self, assets, tmp_path, capsys, monkeypatch):
        import nwbsyn.events.model as model_module

        monkeypatch.setattr(model_module, "MAX_MODEL_FILE_BYTES", 1 << 20)
        nwb, path = copy(assets["nwb"], tmp_path), tmp_path / "bomb.pt"
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
            z.writestr("bomb/data.pkl", b"\0" * (4 << 20))
        hostile(detect(nwb, "--model", path), [nwb, path], tmp_path, "unpacks").check(capsys)

    @pytest.mark.parametrize("kind", ["pt-petabyte", "h5-malformed-json", "keras-broken-weights", "pickle-code"])
    def test_transfer_refuses_a_bad_base(self, assets, tmp_path, capsys, kind):
        data = copy(assets["train"], tmp_path)
        base = _make_model_file(kind, tmp_path, assets["model_obj"])
        hostile(["events", "transfer", "--data", data, "--base", base, "-o", tmp_path / "out.pt", "--epochs", "1"],
                [data, base], tmp_path).check(capsys)
        assert not (tmp_path / "PWNED").exists(), "pickled code ran"

    @pytest.mark.parametrize("writer", [write_keras2_model, write_keras3_model])
    def test_generated_keras_files_load(self, assets, tmp_path, writer):
        from nwbsyn.events.model import load_model

        path = writer(tmp_path / ("m.h5" if writer is write_keras2_model else "m.keras"), model=assets["model_obj"])
        x = torch.rand(2, 600)
        with torch.inference_mode():
            assert torch.allclose(load_model(path, device="cpu")(x), assets["model_obj"](x))


# -- 3. data --------------------------------------------------------------------------------


DATA_CASES = {
    "bool": (lambda g: replace_data(g, np.zeros(6000, bool)), "true/false"),
    "fixed-strings": (lambda g: replace_data(g, np.array([b"1.0"] * 6000)), "not numbers"),
    "vlen-strings": (lambda g: replace_data(g, np.array(["1.0"] * 6000, dtype=h5py.string_dtype())), "not numbers"),
    "complex": (lambda g: replace_data(g, np.ones(6000, np.complex64)), "complex"),
    "compound": (lambda g: replace_data(g, np.zeros(6000, dtype=[("a", "f4"), ("b", "i4")])), "compound"),
    "empty": (lambda g: replace_data(g, np.zeros(0, np.float32)), "no samples"),
    "too-short": (lambda g: replace_data(g, np.zeros(5, np.float32)), "window"),
    "nan-values": (lambda g: g["data"].__setitem__(slice(100, 200), np.nan), "sweep_0 contains nan"),
    "inf-values": (lambda g: g["data"].__setitem__(slice(100, 200), np.inf), "sweep_0 contains nan"),
    "rate-tiny": (lambda g: set_rate(g, 1e-6), "hz"),
    "rate-zero": (lambda g: set_rate(g, 0.0), None),
    "rate-negative": (lambda g: set_rate(g, -20_000.0), "hz"),
    "rate-nan": (lambda g: set_rate(g, np.nan), "hz"),
    "rate-inf": (lambda g: set_rate(g, np.inf), "hz"),
    "rate-huge": (lambda g: set_rate(g, 1e15), "hz"),
    "rate-low": (lambda g: set_rate(g, 100.0), "hz"),
    "timestamps-short": (lambda g: use_timestamps(g, np.arange(100) / 20_000), "timestamps"),
    "timestamps-nan": (lambda g: use_timestamps(g, np.full(6000, np.nan)), "timestamps"),
    "timestamps-backwards": (lambda g: use_timestamps(g, np.arange(6000)[::-1] / 20_000), "timestamps"),
    "timestamps-constant": (lambda g: use_timestamps(g, np.zeros(6000)), "timestamps"),
    "conversion-nan": (lambda g: g["data"].attrs.__setitem__("conversion", np.nan), "conversion"),
    "conversion-zero": (lambda g: g["data"].attrs.__setitem__("conversion", 0.0), "conversion"),
    "conversion-huge": (lambda g: g["data"].attrs.__setitem__("conversion", 1e300), "too large"),
    "offset-inf": (lambda g: g["data"].attrs.__setitem__("offset", np.inf), "offset"),
    "declared-terabyte": (lambda g: replace_data(g, shape=(10**12,), dtype=np.float32, chunks=(4096,)), "memory"),
    "starting-time-nan": (lambda g: g["starting_time"].__setitem__((), np.nan), "starting time"),
}


class TestData:
    @pytest.mark.parametrize("case", sorted(DATA_CASES))
    def test_detect_refuses_bad_data(self, assets, tmp_path, capsys, case):
        mutate, message = DATA_CASES[case]
        path = nwb_variant(assets, tmp_path, mutate)
        hostile(detect(path), [path], tmp_path, message).check(capsys)

    @pytest.mark.parametrize("series", ["sweep_9", "acquisition/sweep_00", ""])
    def test_unknown_series_lists_the_choices(self, assets, tmp_path, capsys, series):
        nwb = copy(assets["nwb"], tmp_path)
        hostile(detect(nwb, "--series", series), [nwb], tmp_path, "sweep_0").check(capsys)

    def test_series_named_twice(self, assets, tmp_path, capsys):
        nwb = copy(assets["nwb"], tmp_path)
        hostile(detect(nwb, "--series", "sweep_0", "acquisition/sweep_0"), [nwb], tmp_path, "once").check(capsys)

    def test_earlier_results_are_kept_without_overwrite(self, tmp_path, capsys):
        from pynwb import TimeSeries

        from nwbsyn.testing import mock_icephys_nwbfile

        nwbfile = mock_icephys_nwbfile(n_sweeps=1, duration_s=0.3)
        module = nwbfile.create_processing_module("icephys", "Earlier nwbsyn results.")
        module.add(TimeSeries(name="sweep_0_event_scores", data=np.zeros(10), unit="n.a.", rate=10.0))
        path = write_nwbfile(nwbfile, tmp_path / "done.nwb")
        hostile(detect(path, "--in-place"), [path], tmp_path, "--overwrite").check(capsys)

    @pytest.mark.parametrize("shape", [(3000, 2), (10, 10, 60)])
    @pytest.mark.parametrize("named", [True, False])
    def test_series_that_is_not_1d(self, tmp_path, capsys, shape, named):
        from pynwb import TimeSeries

        from nwbsyn.testing import mock_nwbfile

        nwbfile = mock_nwbfile()
        nwbfile.add_acquisition(TimeSeries(name="multi", data=np.zeros(shape, np.float32), unit="amperes",
                                           rate=20_000.0))
        path = write_nwbfile(nwbfile, tmp_path / "multi.nwb")
        argv = detect(path, *(["--series", "multi"] if named else []))
        hostile(argv, [path], tmp_path, "1-D").check(capsys)

    def test_int16_data_is_converted_and_a_broken_card_is_skipped(self, assets, tmp_path, capsys):
        """Integers become floats; a damaged model card beside a good model is only metadata."""
        data = np.random.default_rng(0).integers(-200, 200, 6000).astype(np.int16)
        path = nwb_variant(assets, tmp_path, lambda g: replace_data(g, data))
        model = copy(assets["model"], tmp_path)
        (tmp_path / "model.card.json").write_text("{broken")
        argv = detect(path, "-o", tmp_path / "out.nwb", "--model", model, "--plot", tmp_path / "ev.png")
        hostile(argv, [path, model], tmp_path, code=0, allow_new=("out.nwb", "ev.png")).check(capsys)
        assert (tmp_path / "out.nwb").is_file() and os.path.getsize(tmp_path / "ev.png") > 1000

    def test_int64_max_data_is_converted(self, assets, tmp_path, capsys):
        path = nwb_variant(assets, tmp_path, lambda g: replace_data(g, np.full(6000, np.iinfo(np.int64).max)))
        hostile(detect(path, "-o", tmp_path / "out.nwb"), [path], tmp_path, code=0,
                allow_new=("out.nwb",)).check(capsys)
        assert (tmp_path / "out.nwb").is_file()


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """A voltage-clamp sweep registered with its command waveform (a VoltageClampStimulusSeries)."""
    from pynwb.icephys import VoltageClampSeries, VoltageClampStimulusSeries

    from nwbsyn.testing import mock_nwbfile

    nwbfile = mock_nwbfile()
    device = nwbfile.create_device(name="Amplifier", description="Simulated amplifier.")
    electrode = nwbfile.create_icephys_electrode(name="elec0", description="Pipette.", device=device)
    data = (np.random.default_rng(0).normal(-20, 2, 6000) * 1e-12).astype(np.float32)
    response = VoltageClampSeries(name="sweep_000", data=data, electrode=electrode, gain=1.0, rate=20_000.0)
    command = np.full(6000, -0.07, np.float32)
    command[2000:3000] = -0.08
    stimulus = VoltageClampStimulusSeries(name="command_000", data=command, electrode=electrode, gain=1.0,
                                          rate=20_000.0)
    nwbfile.add_acquisition(response)
    nwbfile.add_stimulus(stimulus)
    nwbfile.add_intracellular_recording(electrode=electrode, stimulus=stimulus, response=response)
    return write_nwbfile(nwbfile, tmp_path_factory.mktemp("converted") / "cell.nwb")


COMMAND_CASES = {
    "rate-zero": lambda g: g["starting_time"].attrs.__setitem__("rate", 0.0),
    "rate-nan": lambda g: g["starting_time"].attrs.__setitem__("rate", np.nan),
    "nan-values": lambda g: g["data"].__setitem__(slice(0, 10), np.nan),
    "strings": lambda g: replace_data(g, np.array([b"0"] * 2000)),
    "2-D": lambda g: replace_data(g, np.zeros((1000, 2), np.float32)),
}


@pytest.mark.parametrize("case", sorted(COMMAND_CASES))
def test_unreadable_command_waveform_is_left_out(converted, tmp_path, capsys, case):
    """A broken command waveform (only used to drop capacitive transients) never stops the analysis."""
    path = copy(converted, tmp_path, "conv.nwb")
    with h5py.File(path, "r+") as f:
        COMMAND_CASES[case](f["stimulus/presentation/command_000"])
    argv = detect(path, "--series", "sweep_000", "-o", tmp_path / "out.nwb")
    if case in ("strings", "2-D"):  # the file breaks the schema: it cannot be read or written back
        hostile(argv, [path], tmp_path, {"strings": "schema", "2-D": "could not be read"}[case]).check(capsys)
    else:
        hostile(argv, [path], tmp_path, code=0, allow_new=("out.nwb",)).check(capsys)


def _abf_variant(kind: str, assets, folder: Path) -> Path:
    path = folder / "bad.abf"
    if kind == "text":
        path.write_text("time,current\n0,1\n" * 200)
    elif kind == "zero-bytes":
        path.write_bytes(b"")
    elif kind == "sparse-8GB-text":  # sparse: takes no disk space, must never be read
        with open(path, "wb") as f:
            f.write(b"hello")
            f.truncate(8 << 30)
    elif kind == "abf2-magic-garbage":
        path.write_bytes(b"ABF2" + bytes(range(256)) * 8)
    elif kind == "abf1-magic-garbage":
        path.write_bytes(b"ABF " + b"\xff" * 4000)
    elif kind == "truncated":
        data = assets["abf"].read_bytes()
        path.write_bytes(data[: len(data) - 3000])
    elif kind in ("billion-sweeps", "billion-samples"):
        import struct

        data = bytearray(assets["abf"].read_bytes())
        struct.pack_into("<i", data, 16 if kind == "billion-sweeps" else 10, 2**31 - 1)
        path.write_bytes(bytes(data))
    elif kind == "header-only":
        path.write_bytes(assets["abf"].read_bytes()[:2048])
    elif kind == "folder":
        path.mkdir()
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "missing":
        pass
    return path


class TestAbf:
    @pytest.mark.parametrize("kind", ["text", "zero-bytes", "sparse-8GB-text", "abf2-magic-garbage",
                                      "abf1-magic-garbage", "truncated", "header-only", "billion-sweeps", "billion-samples",
                                      "folder", "dev-zero",
                                      "missing"])
    def test_convert_refuses_a_bad_abf(self, assets, tmp_path, capsys, kind):
        path = _abf_variant(kind, assets, tmp_path)
        inputs = [path] if path.is_file() and path.stat().st_size < 1 << 20 else []
        hostile(["convert", "abf", path, "-o", tmp_path / "out.nwb"], inputs, tmp_path).check(capsys)


# -- 4. options -----------------------------------------------------------------------------


class TestOptions:
    @pytest.mark.parametrize("args, option", [
        (["--stride", "0"], "--stride"), (["--stride", "-5"], "--stride"), (["--stride", "601"], "--stride"),
        (["--threshold", "-0.1"], "--threshold"), (["--threshold", "1.5"], "--threshold"),
        (["--threshold", "nan"], "--threshold"), (["--threshold", "inf"], "--threshold"),
        (["--device", "gpu"], "--device"), (["--device", "tpu9"], "--device"), (["--device", "cuda"], "--device"),
        (["--device", "cuda:7"], "--device"),
    ])
    def test_detect_options(self, assets, tmp_path, capsys, args, option):
        if args[1].startswith("cuda") and torch.cuda.is_available() and args[1] != "cuda:7":
            pytest.skip("a GPU is present: cuda is a valid device here")
        nwb = copy(assets["nwb"], tmp_path)
        hostile(detect(nwb, *args), [nwb], tmp_path, option).check(capsys)

    @pytest.mark.parametrize("args, option", [
        (["--epochs", "0"], "--epochs"), (["--epochs", "-1"], "--epochs"),
        (["--seed", "-1"], "--seed"), (["--seed", str(2**32)], "--seed"),
        (["--learning-rate", "0"], "--learning-rate"), (["--learning-rate=-1e-3"], "--learning-rate"),
        (["--learning-rate", "nan"], "--learning-rate"), (["--learning-rate", "inf"], "--learning-rate"),
        (["--learning-rate", "5"], "--learning-rate"),
        (["--device", "gpu"], "--device"), (["--device", "tpu9"], "--device"),
    ])
    @pytest.mark.parametrize("command", ["train", "transfer"])
    def test_training_options(self, assets, tmp_path, capsys, args, option, command):
        data = copy(assets["train"], tmp_path)
        argv = ["events", command, "--data", data, "-o", tmp_path / "out.pt", *args]
        hostile(argv, [data], tmp_path, option).check(capsys)

    @pytest.mark.parametrize("n", ["0", "-5", "1000000000"])
    def test_simulate_count(self, tmp_path, capsys, n):
        hostile(["events", "train", "--simulate", n, "-o", tmp_path / "out.pt"], [], tmp_path,
                "--simulate").check(capsys)

    def test_unclear_message_names_the_cli_option(self, tmp_path, capsys):
        data = tmp_path / "w.h5"
        with h5py.File(data, "w") as f:
            f["events"] = np.random.default_rng(0).normal(size=(8, 600))
            f["scores"] = np.array([0, 1, 2, 0, 1, 2, 0, 1])
        err = hostile(["events", "train", "--data", data, "-o", tmp_path / "o.pt"], [data], tmp_path,
                      "--unclear drop").check(capsys)
        assert "unclear=" not in err


# -- 5. training data files -----------------------------------------------------------------


def _training_file(kind: str, folder: Path) -> Path:
    path = folder / "w.h5"
    rng = np.random.default_rng(0)
    if kind == "text":
        path.write_text("events,scores\n" * 100)
        return path
    if kind == "empty-file":
        path.write_bytes(b"")
        return path
    if kind == "folder":
        path.mkdir()
        return path
    if kind == "missing":
        return path
    with h5py.File(path, "w") as f:
        events, scores = rng.normal(size=(16, 600)), np.arange(16) % 2
        if kind == "no-events":
            f["scores"] = scores
        elif kind == "no-scores":
            f["events"] = events
        elif kind == "events-group":
            f.create_group("events")
            f["scores"] = scores
        elif kind == "mismatched":
            f["events"], f["scores"] = events, scores[:10]
        elif kind == "nan-labels":
            f["events"], f["scores"] = events, np.where(scores == 1, np.nan, 0.0)
        elif kind == "labels-5":
            f["events"], f["scores"] = events, scores * 5
        elif kind == "string-labels":
            f["events"], f["scores"] = events, np.array([b"yes", b"no"] * 8)
        elif kind == "string-events":
            f["events"], f["scores"] = np.array([[b"1"] * 600] * 16), scores
        elif kind == "complex-events":
            f["events"], f["scores"] = events.astype(np.complex64), scores
        elif kind == "compound-events":
            f["events"] = np.zeros((16, 600), dtype=[("a", "f4"), ("b", "f4")])
            f["scores"] = scores
        elif kind == "1-D-events":
            f["events"], f["scores"] = events[:, 0], scores
        elif kind == "one-sample-windows":
            f["events"], f["scores"] = events[:, :1], scores
        elif kind == "no-windows":
            f["events"], f["scores"] = np.zeros((0, 600)), np.zeros(0)
        elif kind == "nan-events":
            events[3, 10] = np.nan
            f["events"], f["scores"] = events, scores
        elif kind == "one-class":
            f["events"], f["scores"] = events, np.ones(16)
        elif kind == "declared-terabyte":
            f.create_dataset("events", shape=(10**6, 10**6), dtype=np.float32, chunks=(1, 4096))
            f["scores"] = np.zeros(10**6)
    return path


class TestTrainingData:
    @pytest.mark.parametrize("kind", [
        "text", "empty-file", "folder", "missing", "no-events", "no-scores", "events-group", "mismatched",
        "nan-labels", "labels-5", "string-labels", "string-events", "complex-events", "compound-events",
        "1-D-events", "one-sample-windows", "no-windows", "nan-events", "one-class", "declared-terabyte",
    ])
    def test_train_refuses_bad_data(self, tmp_path, capsys, kind):
        data = _training_file(kind, tmp_path)
        inputs = [data] if data.is_file() else []
        hostile(["events", "train", "--data", data, "-o", tmp_path / "out.pt", "--epochs", "1"], inputs,
                tmp_path).check(capsys)

    def test_files_with_different_window_lengths(self, tmp_path, capsys):
        rng = np.random.default_rng(0)
        paths = []
        for n in (600, 300):
            path = tmp_path / f"w{n}.h5"
            with h5py.File(path, "w") as f:
                f["events"], f["scores"] = rng.normal(size=(8, n)), np.arange(8) % 2
            paths.append(path)
        hostile(["events", "train", "--data", *paths, "-o", tmp_path / "out.pt", "--epochs", "1"], paths,
                tmp_path, "lengths").check(capsys)

    def test_tiny_training_run_writes_checkpoint_and_card(self, assets, tmp_path, capsys):
        data = copy(assets["train"], tmp_path)
        hostile(["events", "train", "--data", data, "-o", tmp_path / "m.pt", "--epochs", "1", "--quiet"], [data],
                tmp_path, code=0, allow_new=("m.pt", "m.card.json")).check(capsys)
        assert (tmp_path / "m.pt").is_file() and (tmp_path / "m.card.json").is_file()
