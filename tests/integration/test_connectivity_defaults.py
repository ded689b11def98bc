"""`nwbsyn connectivity fit` with default options: bin chosen from the data, behaviour found in
processing['behavior'], an edge table with surrogate p-values, a fit-quality warning; bad input refused."""

import json

import numpy as np
import pytest
from pynwb import NWBHDF5IO, TimeSeries

from nwbsyn.cli import main
from nwbsyn.connectivity import simulate_network
from nwbsyn.connectivity.simulate import simulate_rate_network, to_nwbfile

from conftest import write_nwbfile

QUICK = ["--max-epochs", "3", "--quiet"]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def hidden_rate_file(tmp_path_factory):
    sim = simulate_rate_network(n_neurons=8, n_steps=6000, bin_ms=20, rng=2)
    return write_nwbfile(to_nwbfile(sim, rng=0), tmp_path_factory.mktemp("hr") / "in.nwb"), sim


def test_defaults_choose_bin_use_behaviour_and_write_edge_significance(tmp_path, capsys, hidden_rate_file):
    path, sim = hidden_rate_file
    out = tmp_path / "out.nwb"
    assert main(["connectivity", "fit", str(path), "-o", str(out), *QUICK]) == 0
    printed = capsys.readouterr().out
    assert "chosen from the data" in printed and "behaviour: processing/behavior/speed" in printed
    assert "edges with p < 0.05" in printed
    with NWBHDF5IO(str(out), "r") as io:
        nwbfile = io.read()
        module = nwbfile.processing["ecephys"]
        params = json.loads(module["functional_connectivity_model"].parameters)
        assert params["behavior"] == "processing/behavior/speed"
        assert params["bin_choice"]["bin_ms"] in (10.0, 20.0, 50.0)
        assert "forecast likelihood" in params["bin_choice"]["method"]
        assert module["functional_connectivity"].bin_size == pytest.approx(params["bin_choice"]["bin_ms"] / 1e3)
        metrics = json.loads(module["functional_connectivity"].metrics)
        assert set(metrics["fit_quality"]) >= {"forecast_r", "baseline", "baseline_forecast_r", "ok", "warning"}
        edges = module["functional_connectivity_edges"]
        assert len(edges) == 8 * 7
        p = np.asarray(edges["p_value"].data[:])
        assert np.all((p > 0) & (p <= 1)) and "circular-shift" in edges["p_value"].description
        assert np.all(np.asarray(edges["q_value"].data[:]) >= p) and "Benjamini" in edges["q_value"].description
        pre, post = np.asarray(edges["presynaptic"].data[:]), np.asarray(edges["postsynaptic"].data[:])
        assert np.all(pre != post) and edges["presynaptic"].table.object_id == nwbfile.units.object_id
        w = module["functional_connectivity"].weights[:]
        np.testing.assert_allclose(np.asarray(edges["weight"].data[:]), w[pre, post])


def test_no_behavior_and_named_behavior(tmp_path, capsys, hidden_rate_file):
    path, _ = hidden_rate_file
    assert main(["connectivity", "fit", str(path), "-o", str(tmp_path / "a.nwb"), "--bin-ms", "20",
                 "--no-behavior", *QUICK]) == 0
    printed = capsys.readouterr().out
    assert "behaviour: none" in printed and "chosen from the data" not in printed
    assert main(["connectivity", "fit", str(path), "-o", str(tmp_path / "b.nwb"), "--bin-ms", "20",
                 "--behavior", "speed", *QUICK]) == 0
    assert "behaviour: speed" in capsys.readouterr().out


def test_a_useless_fit_is_flagged(tmp_path, capsys, monkeypatch):
    from nwbsyn.connectivity import trust
    from nwbsyn.testing import mock_ecephys_nwbfile

    real = trust.fit_quality
    # independent Poisson trains: the held-out r is near 0 either way; pretend it is the real file's -0.053
    monkeypatch.setattr(trust, "fit_quality", lambda result, *a, **k: real(
        type(result)(**{**result.__dict__, "metrics": {**result.metrics, "forecast_correlation": -0.053}}), *a, **k))
    path = write_nwbfile(mock_ecephys_nwbfile(n_units=4, duration_s=200.0, rate_hz=5.0, rng=3), tmp_path / "in.nwb")
    assert main(["connectivity", "fit", str(path), "-o", str(tmp_path / "o.nwb"), "--bin-ms", "50", *QUICK]) == 0
    captured = capsys.readouterr()
    assert "warning: The connectivity fit is not trustworthy" in captured.err and "-0.053" in captured.err
    with NWBHDF5IO(str(tmp_path / "o.nwb"), "r") as io:
        quality = json.loads(io.read().processing["ecephys"]["functional_connectivity"].metrics)["fit_quality"]
    assert quality["ok"] is False and "-0.053" in quality["warning"]


def _two_cell_series_file(tmp_path):
    from nwbsyn.testing import mock_ophys_nwbfile

    nwbfile = mock_ophys_nwbfile(n_rois=4, n_frames=500)
    fluorescence = nwbfile.processing["ophys"]["Fluorescence"]
    first = fluorescence["RoiResponseSeries"]
    fluorescence.create_roi_response_series(name="Deconvolved", data=np.asarray(first.data) * 0.5, rois=first.rois,
                                            unit="n.a.", rate=10.0, description="second series")
    return write_nwbfile(nwbfile, tmp_path / "two.nwb")


def _behaviour_elsewhere_file(tmp_path):
    sim = simulate_network(n_neurons=4, n_steps=3000, observation="poisson", rng=0)
    nwbfile = to_nwbfile(sim)
    nwbfile.processing["behavior"].data_interfaces.pop("speed")
    nwbfile.processing["behavior"].add(TimeSeries(name="speed", data=np.ones(100), unit="m/s", rate=10.0,
                                                  starting_time=5000.0, description="another session"))
    return write_nwbfile(nwbfile, tmp_path / "beh.nwb")


def _no_frames_file(tmp_path):
    from nwbsyn.testing import mock_ophys_nwbfile

    nwbfile = mock_ophys_nwbfile(n_rois=4, n_frames=400)
    nwbfile.processing["ophys"]["Fluorescence"]["RoiResponseSeries"].fields["data"] = np.zeros((0, 4), np.float32)
    return write_nwbfile(nwbfile, tmp_path / "empty.nwb")


def _short_units_file(tmp_path):
    from nwbsyn.testing import mock_ecephys_nwbfile

    return write_nwbfile(mock_ecephys_nwbfile(n_units=3, duration_s=30.0), tmp_path / "short.nwb")


def _very_short_units_file(tmp_path):
    from nwbsyn.testing import mock_ecephys_nwbfile

    return write_nwbfile(mock_ecephys_nwbfile(n_units=3, duration_s=0.6, rate_hz=50.0), tmp_path / "tiny.nwb")


def test_a_short_recording_falls_back_to_5_ms(tmp_path, capsys):
    """1.7 s: 10 ms bins leave 170 steps (a fit needs 200); 5 ms leaves 340, so it is used."""
    from nwbsyn.testing import mock_ecephys_nwbfile

    path = write_nwbfile(mock_ecephys_nwbfile(n_units=4, duration_s=1.7, rate_hz=40.0, rng=2), tmp_path / "s.nwb")
    assert main(["connectivity", "fit", str(path), "-o", str(tmp_path / "o.nwb"), *QUICK]) == 0
    assert "bins of 5 ms" in capsys.readouterr().out


def test_the_chosen_bin_leaves_enough_steps_for_a_fit(tmp_path, capsys):
    """3 s of spikes: 20 ms bins leave 150 steps (a fit needs 200), so 10 ms is chosen, not refused."""
    from nwbsyn.testing import mock_ecephys_nwbfile

    path = write_nwbfile(mock_ecephys_nwbfile(n_units=5, duration_s=3.0, rate_hz=40.0, rng=1), tmp_path / "s.nwb")
    assert main(["connectivity", "fit", str(path), "-o", str(tmp_path / "o.nwb"), *QUICK]) == 0
    out = capsys.readouterr().out
    assert "bins of 10 ms" in out and "20 ms" not in out.split("bits/spike:")[1]


@pytest.mark.parametrize("make, args, message", [
    (_very_short_units_file, [], "even 5 ms bins leave"),
    (_two_cell_series_file, [], "choose one with --source"),
    (_two_cell_series_file, ["--source", "rois"], "Deconvolved"),
    (_behaviour_elsewhere_file, [], "--no-behavior"),
    (_no_frames_file, [], "connectivity needs"),
    (_short_units_file, ["--bin-ms", "500"], "a fit needs at least"),
])
def test_bad_defaults_input_exit_2_in_one_sentence(tmp_path, capsys, make, args, message):
    path = make(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["connectivity", "fit", str(path), *args, *QUICK]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and "Traceback" not in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_max_epochs_zero_is_refused(tmp_path, capsys, hidden_rate_file):
    path, _ = hidden_rate_file
    assert main(["connectivity", "fit", str(path), "--max-epochs", "0", "--quiet"]) == 2
    assert "--max-epochs must be at least 1" in capsys.readouterr().err
