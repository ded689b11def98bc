"""The one checkpoint contract (nwbsyn._shared.checkpoint) for all five networks, the card and provenance."""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nwbsyn._shared import InputError, sha256_of_file  # noqa: E402
from nwbsyn._shared.checkpoint import (  # noqa: E402
    FORMATS,
    Checkpoint,
    card_path_for,
    load_checkpoint,
    read_model_card,
    save_checkpoint,
    weights_format_of,
)


def _events(tmp_path):
    from nwbsyn.events.model import EventClassifier, load_model, save_model

    net = EventClassifier(filters=(4, 4), kernel_sizes=(3, 3), pool_sizes=(2, 1), lstm_units=4, dense_units=4).eval()
    path = save_model(net, tmp_path / "events.pt", card={"name": "events"}, seed=1, config={"max_epochs": 1})
    return net, path, load_model(path, device="cpu"), torch.rand(2, 600)


def _dense(tmp_path):
    from nwbsyn.events.dense import DenseScorer, load_dense, save_dense

    net = DenseScorer(channels=4, dilations=(1, 2)).eval()
    path = save_dense(net, tmp_path / "dense.pt", card={"name": "dense"}, teacher_sha256="a" * 64)
    return net, path, load_dense(path), torch.rand(1, 400)


def _unet(tmp_path):
    from nwbsyn.partners.model import ResidualUNet3d, load_checkpoint, save_checkpoint

    net = ResidualUNet3d(in_channels=1, out_channels=1, widths=(4, 6)).eval()
    path = save_checkpoint(net, tmp_path / "unet.pt", task="cleft", card={"name": "unet"}, seed=2)
    return net, path, load_checkpoint(path, task="cleft")[0], torch.rand(1, 1, 2, 16, 16)


def _pruner(tmp_path):
    from nwbsyn.partners.baselines import MaskPrunerNet, load_mask_pruner
    from nwbsyn.partners.model import save_checkpoint

    net = MaskPrunerNet(widths=(4, 6)).eval()
    path = save_checkpoint(net, tmp_path / "pruner.pt", task="mask_pruner", card={"name": "pruner"})
    return net, path, load_mask_pruner(path), torch.rand(2, 4, 2, 16, 16)


def _synapsnet(tmp_path):
    from nwbsyn.connectivity.model import SynapsNet
    from nwbsyn.connectivity.train import PreparedSession, TrainConfig, TrainedModel, load_checkpoint, save_checkpoint

    torch.manual_seed(0)
    net = SynapsNet([3], n_behavior=0, context_steps=10).eval()
    sess = PreparedSession(x=np.zeros((40, 3), np.float32), y=np.zeros((40, 3), np.float32), behavior=None,
                           mean=np.zeros(3), scale=np.ones(3), bounds=(20, 30))
    path = save_checkpoint(TrainedModel(model=net, config=TrainConfig(), sessions=[sess], seed=4), tmp_path / "c.pt")
    model, config, norm = load_checkpoint(path, device="cpu")
    assert config == TrainConfig() and norm == [{"mean": [0.0] * 3, "scale": [1.0] * 3}]
    return net, path, _Session0(model), torch.rand(12, 3)


class _Session0:
    def __init__(self, model):
        self.model = model

    def __call__(self, x):
        return self.model(0, x)


NETWORKS = {"events_classifier": _events, "events_dense": _dense, "partners_unet": _unet,
            "partners_mask_pruner": _pruner, "connectivity": _synapsnet}


@pytest.mark.parametrize("network", NETWORKS)
def test_every_network_round_trips_through_the_shared_pair(tmp_path, network):
    net, path, loaded, x = NETWORKS[network](tmp_path)
    with torch.no_grad():
        expected = net(0, x) if network == "connectivity" else net(x)
        assert torch.equal(loaded(x), expected)
    from nwbsyn._shared.checkpoint import FORMATS_BY_NAME

    ckpt = load_checkpoint(path, expected_format=FORMATS_BY_NAME[network], device="cpu")
    assert isinstance(ckpt, Checkpoint) and ckpt.format == FORMATS_BY_NAME[network] and ckpt.format in FORMATS
    assert ckpt.init == json.loads(json.dumps(net.init_kwargs)) and set(ckpt.state) == set(net.state_dict())
    assert ckpt.card["name"]
    assert not [p.name for p in tmp_path.iterdir() if ".nwbsyn-tmp-" in p.name]
    with pytest.raises(dataclasses.FrozenInstanceError):
        ckpt.seed = 5


def test_the_card_beside_a_checkpoint_has_one_schema(tmp_path):
    _, path, _, _ = _unet(tmp_path)
    card = json.loads(card_path_for(path).read_text())
    assert card["name"] == "unet" and card["weights_file"] == "unet.pt"
    assert card["weights_sha256"] == sha256_of_file(path)
    assert card["weights_format"] == weights_format_of(path) == "torch-state-dict"


def test_older_cards_are_read_with_todays_keys(tmp_path):
    weights = tmp_path / "old.pt"
    weights.write_bytes(b"x")
    card_path_for(weights).write_text(json.dumps({"model": "old.pt", "sha256": "abc",
                                                  "weights_format": "torch.save state_dict (weights_only=True)"}))
    card = read_model_card(weights)
    assert card["weights_sha256"] == "abc" and card["weights_file"] == "old.pt"
    assert card["weights_format"] == "torch-state-dict"
    card_path_for(weights).write_text("{damaged")
    assert read_model_card(weights) == {}


def test_a_file_of_another_network_is_refused_in_one_sentence(tmp_path):
    from nwbsyn.partners.model import load_checkpoint as load_partners

    _, path, _, _ = _events(tmp_path)
    with pytest.raises(InputError) as err:
        load_partners(path)
    message = str(err.value)
    assert "not a usable nwbsyn partners checkpoint" in message and "events window classifier" in message
    assert message.endswith(".") and ". " not in message.rstrip(".")


@pytest.mark.parametrize("kind", ["events", "partners", "connectivity"])
def test_pickled_code_is_never_run(tmp_path, kind):
    marker = tmp_path / "PWNED"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pt"
    torch.save({"init": {}, "state": {}, "task": Evil()}, path)
    if kind == "events":
        from nwbsyn.events.model import load_model as load
    elif kind == "partners":
        from nwbsyn.partners.model import load_checkpoint as load
    else:
        from nwbsyn.connectivity.train import load_checkpoint as load
    with pytest.raises(InputError, match="pickled Python objects"):
        load(path)
    assert not marker.exists()


@pytest.mark.parametrize("content", [b"", b"plain text", b"\x89HDF\r\n\x1a\n"])
def test_damaged_or_foreign_files_are_refused(tmp_path, content):
    path = tmp_path / "m.pt"
    path.write_bytes(content)
    with pytest.raises(InputError, match="m.pt is not a usable"):
        load_checkpoint(path, expected_format="nwbsyn.test/1", device="cpu")
    with pytest.raises(InputError, match="folder"):
        load_checkpoint(tmp_path, expected_format="nwbsyn.test/1", device="cpu")
    with pytest.raises(InputError, match="does not exist"):
        load_checkpoint(tmp_path / "none.pt", expected_format="nwbsyn.test/1", device="cpu")


@pytest.mark.parametrize("existing", [False, True])
def test_an_interrupted_write_leaves_no_partial_file(tmp_path, monkeypatch, existing):
    from nwbsyn.partners.model import ResidualUNet3d, save_checkpoint as save_partners

    path = tmp_path / "m.pt"
    if existing:
        path.write_bytes(b"the previous model")

    def interrupted(obj, f, *a, **kw):
        with open(f, "wb") as out:
            out.write(b"PK half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_partners(ResidualUNet3d(widths=(4, 6)), path, task="cleft", card={"name": "m"})
    assert sorted(p.name for p in tmp_path.iterdir()) == (["m.pt"] if existing else [])
    assert not existing or path.read_bytes() == b"the previous model"


def test_state_checks_refuse_nan_and_misshapen_weights(tmp_path):
    from nwbsyn.partners.model import ResidualUNet3d, load_checkpoint as load_partners

    net = ResidualUNet3d(widths=(4, 6))
    state = {k: v.clone() for k, v in net.state_dict().items()}
    first = next(k for k, v in state.items() if v.is_floating_point())
    state[first].view(-1)[0] = float("nan")
    path = save_checkpoint(state, tmp_path / "nan.pt", format="nwbsyn.partners.ResidualUNet3d/1", init=net.init_kwargs,
                           extra={"task": "cleft"})
    with pytest.raises(InputError, match="NaN"):
        load_partners(path)
    state[first] = torch.zeros(1)
    save_checkpoint(state, path, format="nwbsyn.partners.ResidualUNet3d/1", init=net.init_kwargs,
                    extra={"task": "cleft"})
    with pytest.raises(InputError, match="shape"):
        load_partners(path)


def test_shipped_weights_still_load():
    from nwbsyn.events.dense import DEFAULT_DENSE, load_dense
    from nwbsyn.events.model import load_model
    from nwbsyn.partners.baselines import load_mask_pruner
    from nwbsyn.partners.model import MODEL_DIR, load_checkpoint as load_partners

    assert load_model("default", device="cpu").keras_parameter_count() == 191_361
    assert len(load_dense(DEFAULT_DENSE).teacher_sha256) == 64
    for name, task in (("avan_cleft", "cleft"), ("avan_cleft_16nm", "cleft"), ("avan_association", "association")):
        _, info = load_partners(MODEL_DIR / f"{name}.pt", task=task)
        assert info["task"] == task and info["format"] == "nwbsyn.partners.ResidualUNet3d/1"
    assert load_mask_pruner("default").init_kwargs == {"widths": [12, 16, 24, 32]}


def test_an_older_connectivity_file_is_read_with_todays_setting_names(tmp_path):
    from nwbsyn.connectivity.model import SynapsNet
    from nwbsyn.connectivity.train import TrainConfig, load_checkpoint as load_connectivity

    net = SynapsNet([3], n_behavior=0, context_steps=10)
    config = dataclasses.asdict(TrainConfig())
    config["lr"], config["lr_adjacency"] = config.pop("learning_rate"), config.pop("learning_rate_adjacency")
    config.pop("device")
    path = tmp_path / "old.pt"  # written as releases before the shared contract did: no format entry
    torch.save({"init": net.init_kwargs, "state": net.state_dict(), "seed": 0, "config": config,
                "normalization": [{"mean": [0.0] * 3, "scale": [1.0] * 3}]}, path)
    _, loaded, _ = load_connectivity(path, device="cpu")
    assert loaded == TrainConfig()


def test_the_three_train_configs_share_names():
    from nwbsyn.connectivity.train import TrainConfig as Connectivity
    from nwbsyn.events.train import TrainConfig as Events
    from nwbsyn.partners.train import TrainConfig as Partners

    for config in (Events(), Partners(), Connectivity()):
        names = {f.name for f in dataclasses.fields(config)}
        assert {"learning_rate", "seed", "device"} <= names and "lr" not in names and config.device == "auto"
        with pytest.raises(dataclasses.FrozenInstanceError):
            config.learning_rate = 1.0
    assert "max_epochs" in {f.name for f in dataclasses.fields(Events)} & {f.name for f in dataclasses.fields(Connectivity)}


def test_fit_records_the_seed_it_used_in_its_config():
    from nwbsyn.connectivity import simulate_network
    from nwbsyn.connectivity.train import TrainConfig, fit

    sim = simulate_network(n_neurons=4, n_steps=400, observation="rate", rng=0)
    config = TrainConfig(loss="mse", max_epochs=1, chunk_steps=128, seed=3)
    a = fit(sim.activity, config=config, progress_bar=False, device="cpu")
    b = fit(sim.activity, config=dataclasses.replace(config, seed=0), seed=3, progress_bar=False, device="cpu")
    assert a.seed == b.seed == a.config.seed == b.config.seed == 3
    assert all(torch.equal(v, b.model.state_dict()[k]) for k, v in a.model.state_dict().items())


def test_provenance_from_a_card(tmp_path):
    from nwbsyn._shared.provenance import provenance_from_card

    _, path, _, _ = _unet(tmp_path)
    prov = provenance_from_card(name="cleft_model", method="AVAN", parameters={"t": 1}, weights_path=path,
                                architecture="U-Net")
    assert prov.model_name == "unet" and prov.weights_sha256 == sha256_of_file(path)
    assert json.loads(prov.model_card)["weights_file"] == "unet.pt" and prov.architecture == "U-Net"
    embedded = provenance_from_card(name="m", method="AVAN", parameters={}, weights_path=path, embed_weights=True)
    assert embedded.weights_format == "torch-state-dict"


def test_card_provenance_of_the_shipped_networks():
    from nwbsyn._shared.provenance import card_provenance
    from nwbsyn.events.model import DEFAULT_MODEL
    from nwbsyn.partners.model import MODEL_DIR

    kw = card_provenance(method="AVAN", parameters={}, weights_path=MODEL_DIR / "avan_cleft.pt", architecture="{}")
    assert kw["model_name"] == "avan_cleft" and kw["training_recipe"].startswith("generator recipe")
    assert "history" not in kw["model_card"] and kw["model_card"]["weights_format"] == "torch-state-dict"
    kw = card_provenance(method="miniML", parameters={}, weights_path=DEFAULT_MODEL, architecture="CNN")
    assert kw["model_name"] == "nwbsyn_events_default" and kw["architecture"].startswith("miniML CNN-BiLSTM")
    assert json.loads(kw["training_recipe"]) == kw["model_card"]["training_recipe"]
