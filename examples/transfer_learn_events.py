"""Adapt the event detector to your cells from a few hundred labelled windows (transfer learning).

    python examples/transfer_learn_events.py my_windows.h5             # miniML training file
    python examples/transfer_learn_events.py                           # simulated slow events (EPSP-like)

The training file is miniML's format: HDF5 with 'events' (n_windows, n_samples) and
'scores' (n_windows,) holding 1 = event, 0 = no event. The convolution blocks of the shipped
model stay fixed; the BiLSTM and dense layers are retrained (same as
`nwbsyn events transfer --data my_windows.h5 --base default -o my_cells.pt`).
The new model is used with `nwbsyn events detect cell.nwb --model my_cells.pt`.
"""

import argparse

import numpy as np

from nwbsyn.events import train


# slow events (rise 2 ms, decay 15 ms), far slower than anything the shipped model was trained on
SLOW = dict(rise_ms=2.0, rise_sd_ms=0.3, decay_ms=15.0, decay_sd_ms=3.0)


def simulated_windows(path: str, n_windows: int, seed: int) -> str:
    """Labelled windows of slow events, written in miniML's training-file format."""
    data = train.make_training_windows(n_windows, rng=seed, **SLOW)
    train.save_training_windows(path, data.windows, data.labels)
    return path


def accuracy(model, windows: np.ndarray, labels: np.ndarray) -> float:
    import torch

    with torch.no_grad():
        x = torch.as_tensor(train.prepare_windows(windows))
        scores = torch.sigmoid(model.logits(x)).numpy().ravel()
    return float(((scores > 0.5) == (labels == 1)).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", nargs="?", help="labelled windows, miniML HDF5 (default: 400 simulated ones)")
    parser.add_argument("-o", "--output", default="my_cells.pt", help="checkpoint to write (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=6, help="maximum epochs (default 6; early stopping)")
    parser.add_argument("--n-windows", type=int, default=400, help="simulated windows when no file is given")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(min(2, torch.get_num_threads()))
    path = args.data or simulated_windows("simulated_windows.h5", args.n_windows, args.seed)
    data = train.load_training_windows(path, unclear="drop")
    print(f"{path}: {len(data)} windows, {int(data.labels.sum())} with an event")
    result = train.fit(data.windows, data.labels, seed=args.seed, init_from="default", freeze_conv=True,
                       config=train.TrainConfig(max_epochs=args.epochs), checkpoint=args.output,
                       name="my-cells", data_description=str(path), progress_bar=False)
    print(f"transfer learning: best epoch {result.best_epoch}, validation accuracy {result.best_val_accuracy:.3f}")
    if args.data is None:  # fresh simulated windows: the shipped model vs the adapted one
        from nwbsyn.events.model import load_model

        test = train.make_training_windows(300, rng=args.seed + 1, **SLOW)
        before = accuracy(load_model("default", device="cpu"), test.windows, test.labels)
        after = accuracy(result.model, test.windows, test.labels)
        print(f"held-out accuracy on slow events: shipped model {before:.3f}, adapted model {after:.3f}")
    print(f"results: {result.checkpoint} (use: nwbsyn events detect cell.nwb --model {result.checkpoint})")


if __name__ == "__main__":
    main()
