"""Fit functional connectivity on the Units of an NWB file and list the strongest connections.

    python examples/fit_connectivity.py session.nwb                    # your file with a Units table
    python examples/fit_connectivity.py session.nwb --bin-ms 10 --max-epochs 200
    python examples/fit_connectivity.py                                # a simulated network with known connectivity

Writes <input>_nwbsyn.nwb (the input is not touched), connectivity.png and <input>_report.html.
"""

import argparse
from pathlib import Path

import numpy as np
from pynwb import NWBHDF5IO
from pynwb.misc import Units

from nwbsyn import connectivity, io
from nwbsyn.report import write_report
from nwbsyn.testing import mock_nwbfile


def simulated_file(path: Path, *, n_neurons: int = 10, n_steps: int = 3000, dt_s: float = 0.02):
    """Units whose spikes come from a simulated network (ground truth returned)."""
    sim = connectivity.simulate_network(n_neurons=n_neurons, n_steps=n_steps, behavior=False, dt_s=dt_s, rng=0)
    nwbfile = mock_nwbfile()
    nwbfile.units = Units(name="units", description="simulated network", resolution=1e-4)
    rng = np.random.default_rng(0)
    for neuron in range(n_neurons):
        bins = np.repeat(np.arange(n_steps), sim.activity[:, neuron].astype(int))
        nwbfile.add_unit(spike_times=np.sort((bins + rng.uniform(0, 1, bins.size)) * dt_s))
    with NWBHDF5IO(str(path), "w") as nwb_io:
        nwb_io.write(nwbfile)
    return sim


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", nargs="?", help="NWB file with a Units table (default: a simulated network)")
    parser.add_argument("--bin-ms", type=float, default=20.0, help="bin size of the spike counts (default 20)")
    parser.add_argument("--max-epochs", type=int, default=40, help="training epochs at most (early stopping)")
    parser.add_argument("--n-strongest", type=int, default=5, help="connections to list")
    args = parser.parse_args()

    sim = None
    path = Path(args.input) if args.input else Path("simulated_network.nwb")
    if args.input is None:
        sim = simulated_file(path)
    output = io.default_output_path(path)
    with io.edit_nwb(path, output=output, overwrite=True) as nwbfile:
        run = connectivity.run_on_nwbfile(nwbfile, source="units", bin_ms=args.bin_ms,
                                          max_epochs=args.max_epochs, overwrite=True, progress_bar=False)
        inp, result = run[0]
        connectivity.plot_connectivity(result, path="connectivity.png", labels=[str(r) for r in inp.rows])
    with io.open_nwb(output) as nwbfile:
        ds = connectivity.to_xarray(nwbfile.processing["ecephys"]["functional_connectivity"])
    strongest = ds.weights.stack(edge=("presynaptic", "postsynaptic")).to_series().abs().nlargest(args.n_strongest)
    for (pre, post), weight in strongest.items():
        print(f"unit {pre} -> unit {post}: |w| = {weight:.3f}")
    if sim is not None:
        print(f"AUROC vs the planted network: {connectivity.connectivity_auroc(sim.weights, result.weights):.3f}")
    report = write_report(output, output_path=path.with_name(f"{path.stem}_report.html"))
    print(f"held-out forecast r: {result.metrics.get('forecast_correlation', float('nan')):.3f}; "
          f"results: {output}, connectivity.png, {report}")


if __name__ == "__main__":
    main()
