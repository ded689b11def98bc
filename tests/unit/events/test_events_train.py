"""Training: a tiny from-scratch run learns, transfer learning freezes the convolutions,
checkpoints round-trip, miniML training files are read."""

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nwbsyn._shared import InputError, sha256_of_file  # noqa: E402
from nwbsyn.events.model import EventClassifier, load_model  # noqa: E402
from nwbsyn.events.train import (  # noqa: E402
    TrainConfig,
    fit,
    load_training_windows,
    prepare_windows,
    save_training_windows,
)

EXAMPLE = (
    Path(__file__).resolve().parents[3].parent
    / "shared/data/events/miniml/training_data_examples/B_2020-06-09_002_example_training_data.h5"
)


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_torch_thread):
    yield


def easy_windows(n, *, seed, length=600):
    """Half the windows hold one downward biexponential event (4-10 x noise SD), half noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(length, dtype=float)
    labels = (np.arange(n) % 2).astype(np.int64)
    rng.shuffle(labels)
    x = rng.normal(size=(n, length))
    for i in np.flatnonzero(labels):
        onset = rng.uniform(0.1, 0.55) * length
        rise, decay = 10 * length / 600, rng.uniform(40, 80) * length / 600
        s = np.clip(t - onset, 0, None)
        shape = np.exp(-s / decay) - np.exp(-s / rise)
        x[i] -= rng.uniform(4, 10) * shape / shape.max()
    return x.astype(np.float32), labels


def accuracy(model, windows, labels):
    with torch.inference_mode():
        p = model(torch.from_numpy(prepare_windows(windows))).numpy()
    return float(np.mean((p > 0.5) == labels))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    x, y = easy_windows(320, seed=0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    res = fit(x, y, seed=0, config=TrainConfig(max_epochs=3, batch_size=32), checkpoint=path,
              data_description="test windows", progress_bar=False)
    return res, path


def test_tiny_training_beats_chance(trained):
    res, _ = trained
    x, y = easy_windows(200, seed=1)
    assert accuracy(res.model, x, y) > 0.8
    assert len(res.history) == 3 and res.best_epoch in (1, 2, 3)
    assert res.history[-1]["train_loss"] < res.history[0]["train_loss"]
    assert res.best_val_loss == min(h["val_loss"] for h in res.history)


def test_fit_checkpoint_and_card(trained):
    res, path = trained
    raw = torch.load(path, weights_only=True)
    assert raw["seed"] == 0 and raw["config"]["max_epochs"] == 3
    loaded = load_model(path, device="cpu")
    x = torch.from_numpy(prepare_windows(easy_windows(16, seed=5)[0]))
    with torch.inference_mode():
        assert torch.equal(loaded(x), res.model(x))
    card = json.loads(path.with_name("tiny.card.json").read_text())
    assert card["weights_sha256"] == sha256_of_file(path)
    assert card["seed"] == 0 and card["training_recipe"]["n_windows"] == 320
    assert card["metrics"]["best_val_accuracy"] == pytest.approx(res.best_val_accuracy)
    assert card["n_parameters_keras"] == 191_361


def test_freeze_conv_keeps_convolutions(trained):
    base = trained[0].model
    conv_before = {k: v.clone() for k, v in base.conv.state_dict().items()}
    lstm_before = base.lstm.weight_ih_l0.detach().clone()
    x, y = easy_windows(96, seed=2)
    res = fit(x, y, seed=1, init_from=base, freeze_conv=True, config=TrainConfig(max_epochs=2, batch_size=32, patience=5),
              progress_bar=False)
    model = res.model
    assert model.init_kwargs["dropout"] == 0.5
    for k, v in model.conv.state_dict().items():
        assert torch.equal(v, conv_before[k]), k  # weights and BatchNorm moving statistics
    assert not torch.equal(model.lstm.weight_ih_l0, lstm_before)
    assert all(torch.equal(v, conv_before[k]) for k, v in base.conv.state_dict().items())  # input untouched


def test_same_seed_same_result():
    x, y = easy_windows(48, seed=3)
    cfg = TrainConfig(max_epochs=1, batch_size=16)
    a = fit(x, y, seed=7, config=cfg, progress_bar=False)
    b = fit(x, y, seed=7, config=cfg, progress_bar=False)
    assert a.history == b.history


def test_fit_rejects_bad_labels():
    x, y = easy_windows(8, seed=0)
    with pytest.raises(InputError, match="labels"):
        fit(x, np.full(8, 2), seed=0, progress_bar=False)
    with pytest.raises(InputError, match="one 0/1 label per window"):
        fit(x, y[:5], seed=0, progress_bar=False)
    with pytest.raises(InputError, match="at least 2 of each"):
        fit(x, np.zeros(8, int), seed=0, progress_bar=False)
    with pytest.raises(InputError, match="learning_rate"):
        TrainConfig(learning_rate=0)


def test_prepare_windows_scales_and_resamples():
    t = np.arange(3000.0)
    s = np.clip(t - 900, 0, None)
    event = -(np.exp(-s / 300) - np.exp(-s / 50))  # trough at sample 900 + 107.5 = 1007.5
    x = np.stack([event, 3 * event + 2, np.full(3000, 5.0)])
    out = prepare_windows(x, window_samples=600)
    assert out.shape == (3, 600) and out.dtype == np.float32
    np.testing.assert_allclose(out[:2].min(axis=1), 0, atol=1e-6)
    np.testing.assert_allclose(out[:2].max(axis=1), 1, atol=1e-6)
    np.testing.assert_allclose(out[0], out[1], atol=1e-5)  # scaling removes gain and offset
    assert np.all(out[2] == 0)  # flat window
    assert abs(np.argmin(out[0]) - np.argmin(event) / 5) <= 1  # 5x downsampling keeps the timing
    with pytest.raises(InputError, match="2-D"):
        prepare_windows(np.zeros(600))
    with pytest.raises(InputError, match="NaN"):
        prepare_windows(np.full((1, 600), np.nan))


def test_training_file_roundtrip_and_unclear_labels(tmp_path):
    x, y = easy_windows(6, seed=0)
    path = save_training_windows(tmp_path / "train.h5", x, y)
    tw = load_training_windows(path)
    np.testing.assert_array_equal(tw.labels, y)
    np.testing.assert_allclose(tw.windows, x)
    with h5py.File(path, "a") as f:
        f["scores"][0] = 2
    with pytest.raises(InputError, match="'unclear'"):
        load_training_windows(path)
    assert len(load_training_windows(path, unclear="drop")) == 5
    with pytest.raises(InputError, match="no 'events'"):
        with h5py.File(tmp_path / "empty.h5", "w"):
            pass
        load_training_windows(tmp_path / "empty.h5")


@pytest.mark.skipif(not EXAMPLE.is_file(), reason=f"miniML example training file not found at {EXAMPLE}")
def test_reads_miniml_example_training_file():
    with pytest.raises(InputError, match="358 windows scored 2"):
        load_training_windows(EXAMPLE)
    tw = load_training_windows(EXAMPLE, unclear="drop")
    assert tw.windows.shape == (172, 600) and tw.n_unclear_dropped == 358
    assert np.bincount(tw.labels).tolist() == [86, 86]


def test_init_from_checks_window_length():
    x, y = easy_windows(8, seed=0, length=300)
    with pytest.raises(InputError, match="window_samples"):
        fit(x, y, seed=0, init_from=EventClassifier(window_samples=600), config=TrainConfig(window_samples=300),
            progress_bar=False)


def test_several_training_files_are_joined_and_positive_events_turned_down(tmp_path):
    from nwbsyn.io.miniml import read_training_files

    a = save_training_windows(tmp_path / "a.h5", np.full((2, 600), 2.0), np.array([0, 1]))
    b = save_training_windows(tmp_path / "b.h5", np.full((3, 600), 3.0), np.array([1, 1, 0]))
    joined = read_training_files([a, b], polarity="positive")
    assert joined.labels.tolist() == [0, 1, 1, 1, 0]
    assert joined.windows[:, 0].tolist() == [-2.0, -2.0, -3.0, -3.0, -3.0]
    assert read_training_files([a, b]).windows[0, 0] == 2.0
    short = save_training_windows(tmp_path / "short.h5", np.zeros((2, 300)), np.array([0, 1]))
    with pytest.raises(InputError, match="different lengths"):
        read_training_files([a, short])


def test_cli_refuses_polarity_for_simulated_windows(tmp_path, capsys):
    from nwbsyn.cli import main

    code = main(["events", "train", "--simulate", "10", "--polarity", "positive", "-o", str(tmp_path / "m.pt")])
    assert code == 2
    assert "--polarity describes the windows of --data files" in capsys.readouterr().err
    assert not (tmp_path / "m.pt").exists()
