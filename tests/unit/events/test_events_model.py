"""EventClassifier: shape, Keras parameter count, Keras layer semantics, checkpoints."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nwbsyn._shared import InputError, sha256_of_file  # noqa: E402
from nwbsyn.events.model import EventClassifier, load_model, save_model  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_torch_thread):
    yield


def _randomise_bn(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)


def test_output_shape_and_range():
    torch.manual_seed(0)
    model = EventClassifier().eval()
    with torch.inference_mode():
        p = model(torch.rand(7, 600))
    assert p.shape == (7,)
    assert p.dtype == torch.float32
    assert torch.all((p >= 0) & (p <= 1))
    assert model.features(torch.rand(2, 600)).shape == (2, 80, 50)


def test_parameter_count_matches_keras():
    model = EventClassifier()
    assert model.keras_parameter_count() == 191_361
    # Keras: 448 non-trainable (BN moving stats); PyTorch's extra bias_hh is frozen at zero
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == 191_361 - 448
    assert model.init_kwargs["window_samples"] == 600 and model.init_kwargs["dropout"] == 0.2


def test_backward_reaches_every_trainable_parameter():
    torch.manual_seed(0)
    model = EventClassifier(window_samples=120).train()
    loss = torch.nn.functional.binary_cross_entropy(model(torch.rand(4, 120)), torch.tensor([0.0, 1, 0, 1]))
    loss.backward()
    for name, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
            assert p.grad.abs().sum() > 0, name
    assert model.lstm.bias_hh_l0.grad is None


def test_wrong_window_length_is_an_input_error():
    with pytest.raises(InputError, match="600"):
        EventClassifier()(torch.rand(2, 500))


def test_eval_path_equals_plain_layers():
    """The fused BN/pool eval path equals running the nn layers one after another."""
    torch.manual_seed(1)
    model = EventClassifier(window_samples=300).eval()
    _randomise_bn(model)
    x = torch.rand(3, 300)
    with torch.no_grad():
        ref = model.conv(x.unsqueeze(1))
        torch.testing.assert_close(model.features(x), ref, atol=1e-5, rtol=1e-5)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("k", [3, 4])
def test_same_padding_follows_tensorflow(k):
    """TF 'same': pad (k-1)//2 before and the rest after (the extra zero on the right)."""
    model = EventClassifier(window_samples=12, filters=(1,), kernel_sizes=(k,), pool_sizes=(1,)).eval()
    conv = model.conv[0][0]
    w = np.arange(1, k + 1, dtype=np.float32)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(w).view(1, 1, k))
        conv.bias.zero_()
    x = np.random.default_rng(0).normal(size=12).astype(np.float32)
    left = (k - 1) // 2
    xp = np.concatenate([np.zeros(left), x, np.zeros(k - 1 - left)])
    expected = np.array([xp[i : i + k] @ w for i in range(12)])  # cross-correlation, as Keras
    out = conv(torch.from_numpy(x).view(1, 1, 12))[0, 0].detach().numpy()
    np.testing.assert_allclose(out, expected, atol=1e-5)


def _keras_lstm_numpy(x, kernel, recurrent, bias, *, go_backwards):
    """Keras LSTM cell (gates i, f, c, o; one bias), returning the last output."""
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    units = recurrent.shape[0]
    h = np.zeros((x.shape[0], units))
    c = np.zeros_like(h)
    steps = range(x.shape[1] - 1, -1, -1) if go_backwards else range(x.shape[1])
    for t in steps:
        z = x[:, t] @ kernel + h @ recurrent + bias
        i, f, g, o = (z[:, j * units : (j + 1) * units] for j in range(4))
        c = sig(f) * c + sig(i) * np.tanh(g)
        h = sig(o) * np.tanh(c)
    return h


def test_bilstm_head_matches_keras_semantics():
    """Bidirectional(LSTM, merge_mode='sum', return_sequences=False) computed by hand."""
    rng = np.random.default_rng(3)
    model = EventClassifier(window_samples=24, filters=(3,), kernel_sizes=(3,), pool_sizes=(2,), lstm_units=4, dense_units=5)
    model.eval()
    keras = {}
    with torch.no_grad():
        for d, suffix in (("fw", ""), ("bw", "_reverse")):
            kernel, recurrent, bias = rng.normal(size=(3, 16)), rng.normal(size=(4, 16)), rng.normal(size=16)
            keras[d] = (kernel, recurrent, bias)
            getattr(model.lstm, f"weight_ih_l0{suffix}").copy_(torch.tensor(kernel.T))
            getattr(model.lstm, f"weight_hh_l0{suffix}").copy_(torch.tensor(recurrent.T))
            getattr(model.lstm, f"bias_ih_l0{suffix}").copy_(torch.tensor(bias))
    feats = rng.normal(size=(2, 3, 12)).astype(np.float32)  # (batch, channels, time)
    seq = feats.transpose(0, 2, 1).astype(np.float64)
    summed = _keras_lstm_numpy(seq, *keras["fw"], go_backwards=False) + _keras_lstm_numpy(seq, *keras["bw"], go_backwards=True)
    dense = summed @ model.dense.weight.detach().numpy().T.astype(np.float64) + model.dense.bias.detach().numpy()
    dense = np.where(dense > 0, dense, 0.3 * dense)
    expected = dense @ model.out.weight.detach().numpy().T[:, 0] + model.out.bias.item()
    with torch.no_grad():
        got = model.head_logits(torch.from_numpy(feats)).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_checkpoint_roundtrip(tmp_path):
    torch.manual_seed(0)
    model = EventClassifier(dropout=0.5).eval()
    _randomise_bn(model)
    path = save_model(model, tmp_path / "m.pt", card={"name": "test", "metrics": {"acc": np.float32(0.5)}}, seed=3)
    raw = torch.load(path, weights_only=True)
    assert set(raw) >= {"init", "state", "seed", "config", "card"}
    assert raw["seed"] == 3 and raw["init"]["dropout"] == 0.5
    loaded = load_model(path, device="cpu")
    assert not loaded.training and loaded.init_kwargs == model.init_kwargs
    x = torch.rand(5, 600)
    with torch.inference_mode():
        assert torch.equal(loaded(x), model(x))
    card = json.loads((tmp_path / "m.card.json").read_text())
    assert card["name"] == "test" and card["weights_sha256"] == sha256_of_file(path)


def test_load_model_rejects_other_files(tmp_path):
    bad = tmp_path / "notes.pt"
    bad.write_text("not a checkpoint")
    with pytest.raises(InputError, match="checkpoint"):
        load_model(bad, device="cpu")
    with pytest.raises(InputError, match="does not exist"):
        load_model(tmp_path / "missing.pt", device="cpu")
    with pytest.raises(InputError, match="Unknown miniML model|does not exist"):
        load_model("no-such-model", device="cpu")


def test_parameter_count_from_init_arguments_matches_the_network():
    from nwbsyn.events.model import parameter_count

    model = EventClassifier(filters=(8, 16), kernel_sizes=(5, 3), pool_sizes=(2, 1), lstm_units=12, dense_units=10)
    n = sum(p.numel() for p in model.parameters())
    n += sum(b.numel() for k, b in model.named_buffers() if k.endswith(("running_mean", "running_var")))
    assert parameter_count(model.init_kwargs) == n


@pytest.mark.parametrize("init, message", [
    ({"filters": [10**5] * 4, "lstm_units": 10**5, "dense_units": 10**5}, "parameters"),
    ({"window_samples": 10**12}, "window length"),
    ({"pool_sizes": [30, 20, 20, 1]}, "pools"),
    ({"kernel_sizes": [9, -7, 5, 3]}, "kernel sizes"),
    ({"filters": [True, True, True, True]}, "filters"),
    ({"dropout": float("nan")}, "dropout"),
    ({"n_heads": 8}, "unknown settings"),
])
def test_bad_init_arguments_are_refused_before_building(init, message):
    from nwbsyn.events.model import check_init_kwargs

    with pytest.raises(InputError, match=message):
        check_init_kwargs(init)


def test_checkpoints_are_written_atomically_with_their_card(tmp_path):
    path = save_model(EventClassifier(), tmp_path / "m.pt", card={"name": "t"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.card.json", "m.pt"]
    card = json.loads((tmp_path / "m.card.json").read_text())
    assert card["weights_sha256"] == sha256_of_file(path)
    assert load_model(path, device="cpu").init_kwargs == EventClassifier().init_kwargs
