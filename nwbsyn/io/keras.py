"""Read miniML's Keras models (architecture and weights) without TensorFlow.

Two file formats are read with h5py (and zipfile) only:

* Keras 2 full-model HDF5 (``GC_lstm_model.h5``, ``transfer_learning/*/lstm_transfer.h5``):
  the architecture is the JSON attribute ``model_config`` and the weights live in the
  ``model_weights/<layer>/`` groups, listed by each group's ``weight_names`` attribute.
* Keras 3 ``.keras`` zip archives (``GC_model_keras3.keras``): ``config.json`` plus
  ``model.weights.h5``, whose groups are ``layers/<snake_case class name>[_k]/vars/<i>``.

Weight layouts converted: Conv1D kernels (k, in, out) → (out, in, k); Dense kernels
(in, out) → (out, in); LSTM kernels (in, 4u) and recurrent kernels (u, 4u) → transposed,
gate order (i, f, c, o) unchanged; the single Keras LSTM bias goes to ``bias_ih``.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nwbsyn._shared import InputError

__all__ = ["KerasModel", "read_keras_model", "read_keras_architecture"]

_CONV_BLOCK = ("Conv1D", "BatchNormalization", "LeakyReLU")


@dataclass(frozen=True)
class KerasModel:
    """What a miniML Keras file holds, in nwbsyn's terms (no TensorFlow, no torch)."""

    init_kwargs: dict  # arguments of nwbsyn.events.model.EventClassifier
    state: dict  # its state_dict as numpy arrays, in PyTorch layouts


def read_keras_model(path: str | Path) -> KerasModel:
    """Read a miniML Keras model (Keras 2 HDF5 or Keras 3 ``.keras``) into arrays.

    :func:`nwbsyn.events.model.load_keras_model` turns the result into a classifier.
    Raises :class:`~nwbsyn._shared.InputError` for a missing, empty or malformed file.

    Examples
    --------
    >>> read_keras_model("missing.h5")
    Traceback (most recent call last):
    ...
    nwbsyn._shared.InputError: Keras model file 'missing.h5' does not exist; pass the path of a miniML .h5 or .keras file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"Keras model file {str(path)!r} does not exist; pass the path of a miniML .h5 or .keras file.")
    if path.stat().st_size == 0:
        raise InputError(f"Keras model file {str(path)!r} is empty; pass a miniML .h5 or .keras file.")
    try:
        layers, weights = _read_keras_file(path)
        init_kwargs = _init_kwargs(layers, path)
        state = _to_state_dict(weights, path)
    except InputError:
        raise
    except (KeyError, TypeError, IndexError, AttributeError, ValueError, OSError, RuntimeError,
            zipfile.BadZipFile) as err:
        raise InputError(f"{str(path)!r} is not a readable miniML Keras model (its configuration or weights are "
                         f"malformed: {type(err).__name__}); pass a model saved by miniML.") from err
    return KerasModel(init_kwargs=init_kwargs, state=state)


#: Largest weight array and archive member read from a Keras file.
_MAX_WEIGHT_ELEMENTS = 20_000_000
_MAX_MEMBER_BYTES = 256 << 20


def _read_keras_file(path: Path):
    """(layer list, weights by layer) from a Keras 3 archive or a Keras 2 HDF5 file."""
    import h5py

    if zipfile.is_zipfile(path):
        config, weights_bytes = _read_keras3_archive(path)
        layers = _layer_list(config, path)
        try:
            f = h5py.File(io.BytesIO(weights_bytes), "r")
        except OSError as err:
            raise InputError(f"{str(path)!r} holds a model.weights.h5 that is not HDF5; the .keras archive is "
                             "damaged.") from err
        with f:
            return layers, _keras3_weights(f, layers, path)
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise InputError(f"{str(path)!r} is neither an HDF5 file nor a .keras archive; pass a miniML Keras model.") from err
    with f:
        if "model_config" not in f.attrs or "model_weights" not in f:
            raise InputError(
                f"{str(path)!r} is not a Keras full-model HDF5 file (no 'model_config' attribute or "
                "'model_weights' group); pass a model saved with model.save('*.h5')."
            )
        layers = _layer_list(_json(f.attrs["model_config"], path), path)
        return layers, _keras2_weights(f["model_weights"], layers, path)


def _json(value, path: Path) -> dict:
    try:
        config = json.loads(_as_str(value))
    except (ValueError, UnicodeDecodeError, RecursionError) as err:
        raise InputError(f"{str(path)!r} has a model configuration that is not valid JSON; the file is damaged.") \
            from err
    if not isinstance(config, dict) or not isinstance(config.get("config"), dict):
        raise InputError(f"{str(path)!r} has a model configuration without a 'config' entry; it is not a Keras "
                         "model saved by miniML.")
    return config


def _weight(dataset, path: Path) -> np.ndarray:
    """One weight array, checked for size and type before it is read."""
    import h5py

    if not isinstance(dataset, h5py.Dataset):
        raise InputError(f"{str(path)!r} has a group where a weight array should be; the file is damaged.")
    if dataset.dtype.kind not in "fiu" or dataset.size > _MAX_WEIGHT_ELEMENTS:
        raise InputError(f"{str(path)!r} holds a weight {dataset.name} of type {dataset.dtype} and shape "
                         f"{dataset.shape}; weights must be real numbers of a sensible size.")
    return np.asarray(dataset, dtype=np.float32)


def read_keras_architecture(path: str | Path) -> list[dict]:
    """The layer list (class name + config) of a Keras 2 ``.h5`` or Keras 3 ``.keras`` model."""
    import h5py

    path = Path(path)
    if zipfile.is_zipfile(path):
        return _layer_list(_read_keras3_archive(path)[0], path)
    with h5py.File(path, "r") as f:
        if "model_config" not in f.attrs:
            raise InputError(f"{str(path)!r} has no 'model_config' attribute; it is not a Keras full-model file.")
        return _layer_list(_json(f.attrs["model_config"], path), path)


# -- architecture -------------------------------------------------------------------------


def _as_str(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _read_keras3_archive(path: Path):
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            if not {"config.json", "model.weights.h5"} <= names:
                raise InputError(f"{str(path)!r} is a zip without config.json and model.weights.h5; it is not a "
                                 ".keras model.")
            for name in ("config.json", "model.weights.h5"):
                if z.getinfo(name).file_size > _MAX_MEMBER_BYTES:
                    raise InputError(f"{str(path)!r} holds a {name} of {z.getinfo(name).file_size:,} bytes, far more "
                                     "than a miniML model; the archive is damaged.")
            return _json(z.read("config.json"), path), z.read("model.weights.h5")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as err:
        raise InputError(f"{str(path)!r} is a damaged .keras archive ({type(err).__name__}); pass a model saved by "
                         "miniML.") from err


def _layer_list(config: dict, path: Path) -> list[dict]:
    """Flatten a Sequential config into [{'class_name', 'config'}], merging a separate
    LeakyReLU that follows a Dense layer (Keras 3 style) into the Dense activation."""
    if config.get("class_name") != "Sequential":
        raise InputError(f"{str(path)!r} holds a {config.get('class_name')!r} model; only miniML's Sequential classifier "
                         "can be imported.")
    layers = [dict(layer) for layer in config["config"]["layers"] if layer["class_name"] != "InputLayer"]
    merged = []
    for layer in layers:
        if layer["class_name"] == "LeakyReLU" and merged and merged[-1]["class_name"] == "Dense":
            merged[-1] = {**merged[-1], "config": {**merged[-1]["config"], "activation": "leaky_relu", "_slope": _slope(layer)}}
            continue
        merged.append(layer)
    _check_architecture(merged, path)
    first = config["config"]["layers"][0]["config"]
    shape = first.get("batch_input_shape") or first.get("batch_shape")
    merged[0] = {**merged[0], "_window_samples": shape[1] if shape else None}
    return merged


def _slope(layer: dict) -> float:
    cfg = layer["config"] if "config" in layer else layer
    return round(float(cfg.get("negative_slope", cfg.get("alpha", 0.3))), 6)  # Keras stores float32 0.3


def _check_architecture(layers: list[dict], path: Path) -> None:
    classes = [layer["class_name"] for layer in layers]
    expected = []
    i = 0
    while i < len(classes) and classes[i] == "Conv1D":
        block = classes[i : i + 3]
        expected += list(_CONV_BLOCK)
        i += 3
        if i < len(classes) and classes[i] == "AveragePooling1D":
            expected.append("AveragePooling1D")
            i += 1
        if block != list(_CONV_BLOCK):
            break
    expected += ["Bidirectional", "Dense", "Dropout", "Dense"]
    if classes != expected or len(classes) < 8:
        raise InputError(
            f"{str(path)!r} is not miniML's CNN-BiLSTM classifier (layers: {', '.join(classes)}); "
            "only models with Conv1D/BatchNorm/LeakyReLU blocks, a Bidirectional LSTM and two Dense layers can be imported."
        )
    bidir = next(layer for layer in layers if layer["class_name"] == "Bidirectional")["config"]
    inner = bidir["layer"]["class_name"], bidir.get("merge_mode"), bidir["layer"]["config"].get("return_sequences")
    if inner != ("LSTM", "sum", False):
        raise InputError(
            f"{str(path)!r} has a Bidirectional layer of {inner[0]} with merge_mode={inner[1]!r}; "
            "only an LSTM with merge_mode='sum' and return_sequences=False is supported."
        )


def _init_kwargs(layers: list[dict], path: Path) -> dict:
    convs = [layer["config"] for layer in layers if layer["class_name"] == "Conv1D"]
    pools = []
    for i, layer in enumerate(layers):
        if layer["class_name"] == "LeakyReLU":
            nxt = layers[i + 1] if i + 1 < len(layers) else None
            pools.append(int(nxt["config"]["pool_size"][0]) if nxt and nxt["class_name"] == "AveragePooling1D" else 1)
    for c in convs:
        if c.get("padding") != "same" or c["strides"][0] != 1 or c["dilation_rate"][0] != 1:
            raise InputError(f"{str(path)!r} has a Conv1D layer with padding/stride/dilation other than 'same'/1/1; it "
                             "cannot be imported.")
    slopes = {_slope(layer) for layer in layers if layer["class_name"] == "LeakyReLU"}
    if len(slopes) != 1:
        raise InputError(f"{str(path)!r} uses different LeakyReLU slopes {sorted(slopes)}; it cannot be imported.")
    lstm = next(layer for layer in layers if layer["class_name"] == "Bidirectional")["config"]["layer"]["config"]
    dense, _, out = layers[-3]["config"], layers[-2]["config"], layers[-1]["config"]
    if int(out["units"]) != 1 or out.get("activation") != "sigmoid":
        raise InputError(f"{str(path)!r} does not end in Dense(1, sigmoid); it is not a miniML event classifier.")
    return dict(
        window_samples=int(layers[0].get("_window_samples") or 600),
        dropout=float(layers[-2]["config"]["rate"]),
        lstm_dropout=float(lstm.get("dropout", 0.0)),
        filters=[int(c["filters"]) for c in convs],
        kernel_sizes=[int(c["kernel_size"][0]) for c in convs],
        pool_sizes=pools,
        lstm_units=int(lstm["units"]),
        dense_units=int(dense["units"]),
        negative_slope=slopes.pop(),
    )


# -- weights ------------------------------------------------------------------------------


def _keras2_weights(group, layers: list[dict], path: Path) -> dict[str, dict[str, np.ndarray]]:
    """{layer name: {weight role: array}} from a Keras 2 ``model_weights`` group."""
    out = {}
    for layer in layers:
        name = layer["config"]["name"]
        if layer["class_name"] not in ("Conv1D", "BatchNormalization", "Bidirectional", "Dense"):
            continue
        if name not in group:
            raise InputError(f"{str(path)!r} lacks weights for layer {name!r}; the file is incomplete or not a Keras model.")
        g = group[name]
        roles = {}
        for wname in g.attrs["weight_names"]:
            wname = _as_str(wname)
            role = re.sub(r":\d+$", "", wname.rsplit("/", 1)[-1])
            if layer["class_name"] == "Bidirectional":
                role = ("backward_" if "/backward_" in wname else "forward_") + role
            roles[role] = _weight(g[wname], path)
        out[name] = roles
    return out


_KERAS3_ROLES = {
    "Conv1D": ("kernel", "bias"),
    "Dense": ("kernel", "bias"),
    "BatchNormalization": ("gamma", "beta", "moving_mean", "moving_variance"),
    "LSTM": ("kernel", "recurrent_kernel", "bias"),
}


def _keras3_weights(f, layers: list[dict], path: Path) -> dict[str, dict[str, np.ndarray]]:
    """Same as :func:`_keras2_weights` for a Keras 3 ``model.weights.h5``; layers are named
    after their class in snake case, numbered per class in model order."""
    out, counts = {}, {}
    snake = {"Conv1D": "conv1d", "BatchNormalization": "batch_normalization", "Bidirectional": "bidirectional", "Dense": "dense"}
    try:
        for layer in layers:
            cls = layer["class_name"]
            if cls not in snake:
                continue
            k = counts.get(cls, 0)
            counts[cls] = k + 1
            key = f"layers/{snake[cls]}" + (f"_{k}" if k else "")
            roles = {}
            if cls == "Bidirectional":
                for direction in ("forward", "backward"):
                    vars_ = f[f"{key}/{direction}_layer/cell/vars"]
                    for i, role in enumerate(_KERAS3_ROLES["LSTM"]):
                        roles[f"{direction}_{role}"] = _weight(vars_[str(i)], path)
            else:
                for i, role in enumerate(_KERAS3_ROLES[cls]):
                    roles[role] = _weight(f[f"{key}/vars/{i}"], path)
            out[layer["config"]["name"]] = roles
    except KeyError as err:
        raise InputError(f"{str(path)!r} lacks an expected weight ({err}); the .keras archive does not match its "
                         "config.") from err
    return out


def _to_state_dict(weights: dict, path: Path) -> dict[str, np.ndarray]:
    conv_layers = [n for n in weights if "kernel" in weights[n] and weights[n]["kernel"].ndim == 3]
    bn_layers = [n for n in weights if "moving_mean" in weights[n]]
    dense_layers = [n for n in weights if "kernel" in weights[n] and weights[n]["kernel"].ndim == 2]
    lstm_layers = [n for n in weights if "forward_kernel" in weights[n]]
    state = {}
    for i, (conv, bn) in enumerate(zip(conv_layers, bn_layers)):
        state[f"conv.{i}.0.weight"] = weights[conv]["kernel"].transpose(2, 1, 0)
        state[f"conv.{i}.0.bias"] = weights[conv]["bias"]
        w = weights[bn]
        state[f"conv.{i}.1.weight"] = w["gamma"]
        state[f"conv.{i}.1.bias"] = w["beta"]
        state[f"conv.{i}.1.running_mean"] = w["moving_mean"]
        state[f"conv.{i}.1.running_var"] = w["moving_variance"]
        state[f"conv.{i}.1.num_batches_tracked"] = np.array(0, dtype=np.int64)
    if len(lstm_layers) != 1 or not conv_layers or len(conv_layers) != len(bn_layers) or len(dense_layers) != 2:
        raise InputError(f"{str(path)!r} has weights for {len(conv_layers)} convolutions, {len(lstm_layers)} LSTMs and "
                         f"{len(dense_layers)} dense layers; miniML's classifier has one LSTM and two dense layers.")
    (lstm,) = lstm_layers
    for direction, suffix in (("forward", ""), ("backward", "_reverse")):
        w = weights[lstm]
        state[f"lstm.weight_ih_l0{suffix}"] = w[f"{direction}_kernel"].T
        state[f"lstm.weight_hh_l0{suffix}"] = w[f"{direction}_recurrent_kernel"].T
        state[f"lstm.bias_ih_l0{suffix}"] = w[f"{direction}_bias"]
        state[f"lstm.bias_hh_l0{suffix}"] = np.zeros_like(w[f"{direction}_bias"])
    for prefix, layer in zip(("dense", "out"), dense_layers):
        state[f"{prefix}.weight"] = weights[layer]["kernel"].T
        state[f"{prefix}.bias"] = weights[layer]["bias"]
    return {k: np.ascontiguousarray(v) if np.ndim(v) else np.asarray(v) for k, v in state.items()}
