"""Fit functional connectivity on the Units of an NWB file and list the strongest connections.

    python examples/fit_connectivity.py session.nwb      # your file with a Units table
    python examples/fit_connectivity.py                  # a simulated network with known connectivity
"""

import sys
from pathlib import Path

import numpy as np
from pynwb import NWBHDF5IO
from pynwb.misc import Units

from nwbsyn import connectivity, io
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


def main(path: str | None = None) -> None:
    sim = None
    if path is None:
        path = Path("simulated_network.nwb")
        sim = simulated_file(path)
    output = io.default_output_path(path)
    with io.edit_nwb(path, output=output, overwrite=True) as nwbfile:
        inp, result = connectivity.run_on_nwbfile(nwbfile, source="units", bin_ms=20, max_epochs=40,
                                                  overwrite=True, progress_bar=False)
    with io.open_nwb(output) as nwbfile:
        ds = connectivity.to_xarray(nwbfile.processing["ecephys"]["functional_connectivity"])
    strongest = ds.weights.stack(edge=("presynaptic", "postsynaptic")).to_series().abs().nlargest(5)
    for (pre, post), weight in strongest.items():
        print(f"unit {pre} -> unit {post}: |w| = {weight:.3f}")
    if sim is not None:
        print(f"AUROC vs the planted network: {connectivity.connectivity_auroc(sim.weights, result.weights):.3f}")
    print(f"held-out forecast r: {result.metrics.get('forecast_correlation', float('nan')):.3f}; results: {output}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
