"""Stand-ins for event-detection tests: a template-matching scorer in place of the classifier."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nwbsyn._shared import as_rng

__all__ = ["TemplateScorer", "trace_with_events", "write_keras2_model", "write_keras3_model"]


class TemplateScorer:
    """Stand-in classifier: sigmoid of the best template fit with the onset at 10-55 % of the window.

    Fits ``scale * template + offset`` at onsets across the (min-max scaled) window and
    squashes the best ``scale / residual SD`` through a sigmoid centred on ``crit``. Counts
    its calls and the windows it scored, so tests can check batching and gating.
    """

    def __init__(self, *, window_samples: int = 600, sampling_rate_hz: float = 50_000.0, crit: float = 4.0):
        from nwbsyn.events.simulate import biexponential_event

        self.template = -biexponential_event(np.arange(150) * 1e3 / sampling_rate_hz, rise_ms=0.2, decay_ms=1.0)
        self.offsets = np.arange(int(0.1 * window_samples), int(0.55 * window_samples) + 1, 10)
        self.crit = crit
        self.calls = 0
        self.n_windows = 0

    def __call__(self, windows: np.ndarray) -> np.ndarray:
        self.calls += 1
        self.n_windows += len(windows)
        t = self.template - self.template.mean()
        segs = np.stack([windows[:, k: k + t.size] for k in self.offsets], axis=1)
        dc = segs - segs.mean(axis=2, keepdims=True)
        scale = dc @ t / (t @ t)
        sd = np.sqrt(((dc - scale[..., None] * t) ** 2).sum(axis=2) / (t.size - 1)) + 1e-12
        return 1.0 / (1.0 + np.exp(-((scale / sd).max(axis=1) - self.crit)))


def trace_with_events(times_s, amplitudes_pA, *, duration_s: float, sampling_rate_hz: float = 50_000.0,
                      noise_sd_pA: float = 0.8, rng=0) -> np.ndarray:
    """White noise plus 0.2/1 ms biexponential events at ``times_s`` (the same events at any rate)."""
    from nwbsyn.events.simulate import biexponential_event

    n = int(round(duration_s * sampling_rate_hz))
    trace = as_rng(rng).normal(0.0, noise_sd_pA, n)
    t_ms = np.arange(n) * 1e3 / sampling_rate_hz
    for t0, a in zip(times_s, amplitudes_pA):
        trace += biexponential_event(t_ms - t0 * 1e3, rise_ms=0.2, decay_ms=1.0, amplitude_pA=a)
    return trace


def _keras_layers(init: dict) -> list[dict]:
    """miniML's Sequential layer list (Keras 2 spelling) for an EventClassifier's init arguments."""
    layers = [{"class_name": "InputLayer", "config": {"batch_input_shape": [None, init["window_samples"], 1],
                                                      "name": "input"}}]
    for i, (f, k, p) in enumerate(zip(init["filters"], init["kernel_sizes"], init["pool_sizes"])):
        sfx = f"_{i}" if i else ""
        layers += [
            {"class_name": "Conv1D", "config": {"name": f"conv1d{sfx}", "filters": f, "kernel_size": [k],
                                                "strides": [1], "padding": "same", "dilation_rate": [1]}},
            {"class_name": "BatchNormalization", "config": {"name": f"batch_normalization{sfx}"}},
            {"class_name": "LeakyReLU", "config": {"name": f"leaky_re_lu{sfx}", "alpha": init["negative_slope"]}},
        ]
        if p > 1:
            layers.append({"class_name": "AveragePooling1D", "config": {"name": f"average_pooling1d{sfx}",
                                                                        "pool_size": [p]}})
    lstm_dropout = init["lstm_dropout"] if init["lstm_dropout"] is not None else init["dropout"]
    layers += [
        {"class_name": "Bidirectional", "config": {"name": "bidirectional", "merge_mode": "sum", "layer": {
            "class_name": "LSTM", "config": {"units": init["lstm_units"], "dropout": lstm_dropout,
                                             "return_sequences": False}}}},
        {"class_name": "Dense", "config": {"name": "dense", "units": init["dense_units"], "activation": "linear"}},
        {"class_name": "Dropout", "config": {"name": "dropout", "rate": init["dropout"]}},
        {"class_name": "Dense", "config": {"name": "dense_1", "units": 1, "activation": "sigmoid"}},
    ]
    return layers


def _keras_weights(model) -> dict[str, dict[str, np.ndarray]]:
    """{layer name: {role: array}} in Keras layouts, the inverse of ``nwbsyn.io.keras``."""
    sd = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    out = {}
    for i in range(len(model.init_kwargs["filters"])):
        sfx = f"_{i}" if i else ""
        out[f"conv1d{sfx}"] = {"kernel": sd[f"conv.{i}.0.weight"].transpose(2, 1, 0), "bias": sd[f"conv.{i}.0.bias"]}
        out[f"batch_normalization{sfx}"] = {"gamma": sd[f"conv.{i}.1.weight"], "beta": sd[f"conv.{i}.1.bias"],
                                            "moving_mean": sd[f"conv.{i}.1.running_mean"],
                                            "moving_variance": sd[f"conv.{i}.1.running_var"]}
    lstm = {}
    for direction, suffix in (("forward", ""), ("backward", "_reverse")):
        lstm[f"{direction}_kernel"] = sd[f"lstm.weight_ih_l0{suffix}"].T
        lstm[f"{direction}_recurrent_kernel"] = sd[f"lstm.weight_hh_l0{suffix}"].T
        lstm[f"{direction}_bias"] = sd[f"lstm.bias_ih_l0{suffix}"]
    out["bidirectional"] = lstm
    out["dense"] = {"kernel": sd["dense.weight"].T, "bias": sd["dense.bias"]}
    out["dense_1"] = {"kernel": sd["out.weight"].T, "bias": sd["out.bias"]}
    return out


def write_keras2_model(path, *, model=None, config: dict | None = None) -> "Path":
    """Write an EventClassifier as a Keras 2 full-model HDF5 file (``model_config`` + ``model_weights``).

    ``config`` replaces the architecture JSON (to write deliberately broken files in tests).
    """
    import json
    from pathlib import Path

    import h5py

    from nwbsyn.events.model import EventClassifier

    model = model if model is not None else EventClassifier().eval()
    config = config if config is not None else {"class_name": "Sequential",
                                                "config": {"layers": _keras_layers(model.init_kwargs)}}
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(config)
        group = f.create_group("model_weights")
        for layer, roles in _keras_weights(model).items():
            g = group.create_group(layer)
            names = []
            for role, array in roles.items():
                if layer == "bidirectional":
                    direction, _, rest = role.partition("_")
                    name = f"{layer}/{direction}_lstm/lstm_cell/{rest}:0"
                else:
                    name = f"{layer}/{role}:0"
                g.create_dataset(name, data=array)
                names.append(name.encode())
            g.attrs["weight_names"] = names
    return Path(path)


def write_keras3_model(path, *, model=None, config: dict | None = None, weights: bytes | None = None) -> "Path":
    """Write an EventClassifier as a Keras 3 ``.keras`` zip (``config.json`` + ``model.weights.h5``).

    ``config`` or ``weights`` (raw bytes of ``model.weights.h5``) replace the real ones.
    """
    import io
    import json
    import zipfile
    from pathlib import Path

    import h5py

    from nwbsyn.events.model import EventClassifier

    model = model if model is not None else EventClassifier().eval()
    config = config if config is not None else {"class_name": "Sequential",
                                                "config": {"layers": _keras_layers(model.init_kwargs)}}
    if weights is None:
        buffer = io.BytesIO()
        with h5py.File(buffer, "w") as f:
            order = {"conv1d": "kernel bias", "batch_normalization": "gamma beta moving_mean moving_variance",
                     "dense": "kernel bias"}
            for layer, roles in _keras_weights(model).items():
                if layer == "bidirectional":
                    for direction in ("forward", "backward"):
                        for i, role in enumerate(("kernel", "recurrent_kernel", "bias")):
                            f[f"layers/bidirectional/{direction}_layer/cell/vars/{i}"] = roles[f"{direction}_{role}"]
                    continue
                for i, role in enumerate(order[layer.rsplit("_", 1)[0] if layer[-1].isdigit() else layer].split()):
                    f[f"layers/{layer}/vars/{i}"] = roles[role]
        weights = buffer.getvalue()
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.json", json.dumps(config))
        z.writestr("model.weights.h5", weights)
    return Path(path)
