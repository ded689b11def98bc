"""`nwbsyn connectivity fit`: simulated network → NWB (Units / ROIs) → fit → read back → planted edges found."""

import json

import numpy as np
import pytest
from pynwb import NWBHDF5IO

from nwbsyn.cli import main
from nwbsyn.connectivity import connectivity_auroc, simulate_network, to_xarray
from nwbsyn.io.validate import validate_nwb
from nwbsyn.testing import mock_nwbfile

from conftest import write_nwbfile

N, T, DT = 12, 4000, 0.02
ORDER = np.random.default_rng(5).permutation(N)  # table row r holds simulated neuron ORDER[r]


@pytest.fixture(scope="module")
def network():
    return simulate_network(n_neurons=N, n_steps=T, observation="poisson", behavior=False, dt_s=DT, rng=1)


def _units_file(sim, path):
    from pynwb.misc import Units

    nwbfile = mock_nwbfile()
    nwbfile.units = Units(name="units", description="simulated", resolution=1e-4)
    rng = np.random.default_rng(0)
    for neuron in ORDER:
        counts = sim.activity[:, neuron].astype(int)
        bins = np.repeat(np.arange(T), counts)
        nwbfile.add_unit(spike_times=np.sort((bins + rng.uniform(0.01, 0.99, bins.size)) * DT))
    return write_nwbfile(nwbfile, path)


def _rois_file(sim, path):
    from nwbsyn.testing import mock_ophys_nwbfile

    nwbfile = mock_ophys_nwbfile(n_rois=N, n_frames=T, rate_hz=1 / DT)
    series = nwbfile.processing["ophys"]["Fluorescence"]["RoiResponseSeries"]
    series.fields["data"] = sim.activity[:, ORDER].astype(np.float32)
    return write_nwbfile(nwbfile, path)


def _truth_in_table_order(sim):
    """True weights as [pre row, post row] of the neuron table (the schema's layout)."""
    return sim.weights[np.ix_(ORDER, ORDER)].T


@pytest.mark.parametrize("variant", ["units", "rois"])
def test_fit_recovers_planted_connections(tmp_path, network, variant):
    path = (_units_file if variant == "units" else _rois_file)(network, tmp_path / f"{variant}.nwb")
    out = tmp_path / "out.nwb"
    bin_args = ["--bin-ms", str(DT * 1e3)] if variant == "units" else []
    assert main(["connectivity", "fit", str(path), "--source", variant, *bin_args, "-o", str(out), "--quiet",
                 "--max-epochs", "40", "--plot", str(tmp_path / "conn.png")]) == 0
    module = "ecephys" if variant == "units" else "ophys"
    with NWBHDF5IO(str(out), "r") as io:
        nwbfile = io.read()
        fc = nwbfile.processing[module]["functional_connectivity"]
        table = nwbfile.units if variant == "units" else fc.presynaptic.table
        assert fc.presynaptic.table.object_id == table.object_id
        assert list(fc.presynaptic.data[:]) == list(range(N)) == list(fc.postsynaptic.data[:])
        weights = fc.weights[:]
        truth = _truth_in_table_order(network)
        # connectivity_auroc takes [post, pre] matrices: transpose both back
        assert connectivity_auroc(truth.T, weights.T) > 0.8
        strongest = np.abs(truth) >= np.quantile(np.abs(truth[truth != 0]), 0.75)
        assert np.mean(np.sign(weights[strongest]) == np.sign(truth[strongest])) >= 0.9
        assert fc.embeddings.shape[0] == N and "forecast" in " ".join(json.loads(fc.metrics))
        ds = to_xarray(fc)
        assert ds.weights.dims == ("presynaptic", "postsynaptic") and ds.sizes["presynaptic"] == N
        if variant == "units":
            assert fc.source_series.name == "binned_spike_counts" and fc.bin_size == pytest.approx(DT)
    assert validate_nwb(out).ok
    assert (tmp_path / "conn.png").stat().st_size > 10_000


@pytest.mark.parametrize("problem, args, message", [
    ("one_unit", [], "at least 2 neurons"),
    ("empty_unit", [], "have no spikes"),
    ("long_bin", ["--bin-ms", "100000"], "shorter than two bins"),
    ("nan_rois", ["--source", "rois"], "NaN"),
])
def test_bad_inputs_exit_2_and_write_nothing(tmp_path, capsys, problem, args, message):
    from nwbsyn.testing import mock_ecephys_nwbfile, mock_ophys_nwbfile

    if problem == "nan_rois":
        nwbfile = mock_ophys_nwbfile()
        nwbfile.processing["ophys"]["Fluorescence"]["RoiResponseSeries"].data[5, 2] = np.nan
    else:
        nwbfile = mock_ecephys_nwbfile(n_units=1 if problem == "one_unit" else 3)
        if problem == "empty_unit":
            nwbfile.add_unit(spike_times=[])
    path = write_nwbfile(nwbfile, tmp_path / "in.nwb")
    assert main(["connectivity", "fit", str(path), *args, "--quiet"]) == 2
    assert message in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.nwb"]
