"""Import of miniML's Keras models without TensorFlow, checked against TensorFlow's outputs."""

from pathlib import Path

import h5py
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nwbsyn._shared import InputError  # noqa: E402
from nwbsyn.events.model import load_keras_model  # noqa: E402
from nwbsyn.io.keras import read_keras_architecture  # noqa: E402
from nwbsyn.events.model import load_model, resolve_model_path  # noqa: E402

MINIML = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "events" / "miniml"
MODELS = MINIML / "models"
needs_data = pytest.mark.skipif(not MODELS.is_dir(), reason=f"miniML models not found at {MODELS}")
TRANSFER = ["GC_mEPSP", "zebrafish", "NMJ_wt", "NMJ_GluRIIA", "iGluSnFR"]


@pytest.fixture(scope="module")
def reference():
    return np.load(MINIML / "reference_scores.npz")


def _scores(model, windows):
    torch.set_num_threads(1)
    with torch.inference_mode():
        return model(torch.from_numpy(windows)).numpy()


@needs_data
@pytest.mark.parametrize(
    "relpath, key",
    [("GC_lstm_model.h5", "GC_lstm_model"), ("transfer_learning/GC_mEPSP/lstm_transfer.h5", "GC_mEPSP_lstm_transfer")],
)
def test_reproduces_tensorflow_scores(reference, relpath, key):
    model = load_keras_model(MODELS / relpath)
    got = _scores(model, reference["windows_minmax"])
    assert np.abs(got - reference[key]).max() <= 1e-4
    assert model.keras_parameter_count() == 191_361


@needs_data
@pytest.mark.parametrize("name", TRANSFER)
def test_transfer_models_load(reference, name):
    model = load_keras_model(MODELS / "transfer_learning" / name / "lstm_transfer.h5")
    assert model.init_kwargs["dropout"] == 0.5 and model.init_kwargs["lstm_dropout"] == 0.5
    assert not model.training
    scores = _scores(model, reference["windows_minmax"][:64])
    assert np.isfinite(scores).all() and scores.min() < 0.2 and scores.max() > 0.8


@needs_data
def test_transfer_models_share_the_frozen_gc_convolutions():
    base = load_keras_model(MODELS / "GC_lstm_model.h5")
    epsp = load_keras_model(MODELS / "transfer_learning" / "GC_mEPSP" / "lstm_transfer.h5")
    assert torch.equal(base.conv[0][0].weight, epsp.conv[0][0].weight)
    assert not torch.equal(base.lstm.weight_ih_l0, epsp.lstm.weight_ih_l0)


@needs_data
def test_keras3_archive_loads_and_agrees_with_gc_model(reference):
    """GC_model_keras3.keras is a retrained GC model (other weights): decisions mostly agree."""
    layers = read_keras_architecture(MODELS / "GC_model_keras3.keras")
    assert [layer["class_name"] for layer in layers][-3:] == ["Dense", "Dropout", "Dense"]
    model = load_keras_model(MODELS / "GC_model_keras3.keras")
    got = _scores(model, reference["windows_minmax"])
    agree = np.mean((got > 0.5) == (reference["GC_lstm_model"] > 0.5))
    assert agree > 0.95
    assert np.corrcoef(got, reference["GC_lstm_model"])[0, 1] > 0.95


@needs_data
def test_load_model_by_miniml_name(reference):
    assert resolve_model_path("GC").name == "GC_lstm_model.h5"
    assert resolve_model_path("GC_mEPSP").parent.name == "GC_mEPSP"
    model = load_model("GC", device="cpu")
    got = _scores(model, reference["windows_minmax"][:32])
    np.testing.assert_allclose(got, reference["GC_lstm_model"][:32], atol=1e-4)


def test_non_model_files_are_input_errors(tmp_path):
    h5 = tmp_path / "data.h5"
    with h5py.File(h5, "w") as f:
        f["events"] = np.zeros((2, 600))
    with pytest.raises(InputError, match="not a Keras full-model"):
        load_keras_model(h5)
    txt = tmp_path / "model.h5"
    txt.write_text("hello")
    with pytest.raises(InputError, match="neither an HDF5"):
        load_keras_model(txt)
    with pytest.raises(InputError, match="does not exist"):
        load_keras_model(tmp_path / "missing.h5")


def test_other_keras_architecture_is_rejected(tmp_path):
    import json

    config = {"class_name": "Sequential", "config": {"layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 600, 1]}},
        {"class_name": "Dense", "config": {"name": "dense", "units": 1, "activation": "sigmoid"}},
    ]}}
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(config)
        f.create_group("model_weights")
    with pytest.raises(InputError, match="not miniML's CNN-BiLSTM"):
        load_keras_model(path)
