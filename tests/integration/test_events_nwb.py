"""`nwbsyn events detect`: NWB in → events, scores and provenance out, read back and validated."""

import json

import numpy as np
import pytest
from pynwb import NWBHDF5IO
from pynwb.icephys import CurrentClampSeries, VoltageClampSeries

from nwbsyn.cli import main
from nwbsyn.events import load_inputs, precision_recall_f1, simulate_trace
from nwbsyn.events.model import DEFAULT_MODEL
from nwbsyn.io.validate import validate_nwb
from nwbsyn.testing import mock_nwbfile

from conftest import write_nwbfile

FS = 20_000.0
STARTS = (0.0, 10.0)  # sweep start times on the session clock


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """Two voltage-clamp sweeps of simulated EPSCs with known onsets (session clock)."""
    nwbfile = mock_nwbfile()
    device = nwbfile.create_device(name="amp", description="simulated")
    electrode = nwbfile.create_icephys_electrode(name="e0", description="pipette", device=device, cell_id="c1")
    truth = []
    for k, start in enumerate(STARTS):
        sim = simulate_trace(duration_s=3.0, sampling_rate_hz=FS, rate_hz=4.0, amplitude_pA=15.0,
                             noise_sd_pA=1.0, rng=10 + k)
        series = VoltageClampSeries(name=f"sweep_{k}", data=sim.trace_pA * 1e-12, electrode=electrode, gain=1.0,
                                    rate=FS, starting_time=start, sweep_number=np.uint32(k))
        nwbfile.add_acquisition(series)
        nwbfile.add_intracellular_recording(electrode=electrode, response=series)
        truth.append(start + sim.onset_times_s)
    path = write_nwbfile(nwbfile, tmp_path_factory.mktemp("events") / "cell.nwb")
    return path, np.concatenate(truth)


@pytest.fixture(scope="module")
def detected(recording):
    path, _ = recording
    out = path.with_name("cell_events.nwb")
    assert main(["events", "detect", str(path), "-o", str(out), "--quiet", "--plot",
                 str(path.with_name("events.png"))]) == 0
    return out


def test_events_match_the_planted_ones_on_the_session_clock(recording, detected):
    _, truth = recording
    with NWBHDF5IO(str(detected), "r") as io:
        table = io.read().processing["icephys"]["synaptic_events"]
        times = table["timestamp"].data[:]
        p, r, f1 = precision_recall_f1(truth, times, tolerance_s=1e-3)
        assert f1 >= 0.9, (p, r, f1)
        amplitudes = table["amplitude"].data[:]
        assert table["amplitude"].unit == "amperes" and np.median(amplitudes) < -5e-12
        assert np.all((table["score"].data[:] >= 0.5) & (table["score"].data[:] <= 1))
        refs = table["trace"].data[:]
        assert {ref[2].name for ref in refs} == {"sweep_0", "sweep_1"}
        assert set(table["recording"].data[:]) == {0, 1}


def test_scores_and_provenance_are_written(detected):
    with NWBHDF5IO(str(detected), "r") as io:
        module = io.read().processing["icephys"]
        scores = module["sweep_1_event_scores"]
        assert scores.source_series.name == "sweep_1" and scores.starting_time == STARTS[1]
        assert 0.0 <= scores.data[:].min() and scores.data[:].max() <= 1.0
        model = module["synaptic_events_model"]
        assert model.weights_sha256 == __import__("hashlib").sha256(DEFAULT_MODEL.read_bytes()).hexdigest()
        assert bytes(model.weights[:]) == DEFAULT_MODEL.read_bytes()
        assert json.loads(model.parameters)["threshold"] == 0.5
        assert module["synaptic_events"].model.object_id == model.object_id


def test_output_validates_and_figure_exists(detected):
    assert validate_nwb(detected).ok
    assert detected.with_name("events.png").stat().st_size > 10_000


def test_rerun_is_refused_unless_overwrite(detected, capsys):
    assert main(["events", "detect", str(detected), "--in-place", "--quiet"]) == 2
    assert "already holds nwbsyn event results" in capsys.readouterr().err
    assert main(["events", "detect", str(detected), "--in-place", "--overwrite", "--quiet",
                 "--series", "sweep_0"]) == 0


def test_nan_in_a_trace_is_a_clear_error(tmp_path, capsys):
    nwbfile = mock_nwbfile()
    device = nwbfile.create_device(name="amp", description="d")
    electrode = nwbfile.create_icephys_electrode(name="e", description="d", device=device, cell_id="c")
    data = np.zeros(20_000)
    data[500] = np.nan
    nwbfile.add_acquisition(VoltageClampSeries(name="bad", data=data, electrode=electrode, rate=20_000.0, gain=1.0))
    path = write_nwbfile(nwbfile, tmp_path / "nan.nwb")
    assert main(["events", "detect", str(path), "--quiet"]) == 2
    assert "NaN" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nan.nwb"]


def test_unknown_series_is_a_clear_error(recording, capsys):
    path, _ = recording
    assert main(["events", "detect", str(path), "--series", "sweep_9", "-o", str(path.with_name("x.nwb"))]) == 2
    err = capsys.readouterr().err
    assert "'sweep_9' was not found" in err and "acquisition/sweep_0" in err
    assert not path.with_name("x.nwb").exists()


def test_load_inputs_converts_units_and_polarity():
    nwbfile = mock_nwbfile()
    device = nwbfile.create_device(name="amp", description="d")
    electrode = nwbfile.create_icephys_electrode(name="e", description="d", device=device, cell_id="c")
    nwbfile.add_acquisition(CurrentClampSeries(name="cc", data=np.full(100, -65.0), conversion=1e-3,
                                               electrode=electrode, rate=1000.0, gain=1.0))
    nwbfile.add_acquisition(VoltageClampSeries(name="vc", data=np.full(100, -2.0), conversion=1e-11,
                                               electrode=electrode, rate=1000.0, gain=1.0))
    cc, vc = load_inputs(nwbfile, series=["cc", "vc"])
    assert cc.unit == "mV" and np.allclose(cc.trace[:], -65.0) and cc.default_polarity == 1
    assert vc.unit == "pA" and np.allclose(vc.trace[:], -20.0) and vc.default_polarity == -1


def test_a_trace_without_events_validates(tmp_path, capsys):
    from nwbsyn.testing import mock_icephys_nwbfile

    path = write_nwbfile(mock_icephys_nwbfile(n_sweeps=1, n_events_per_sweep=0, noise_pA=0.5), tmp_path / "q.nwb")
    assert main(["events", "detect", str(path), "--quiet"]) == 0
    assert "0 events" in capsys.readouterr().out
    output = tmp_path / "q_nwbsyn.nwb"
    with NWBHDF5IO(str(output), "r") as io:
        module = io.read().processing["icephys"]
        assert "synaptic_events" not in module.data_interfaces  # empty tables violate best practice
        assert "sweep_0_event_scores" in module.data_interfaces
    assert validate_nwb(output).ok
