"""`nwbsyn convert abf`: each ADC channel by its unit and protocol, --channel, and the protocol's stimuli."""

import numpy as np
import pytest
from pynwb import NWBHDF5IO
from pynwb.icephys import CurrentClampSeries, VoltageClampSeries

from nwbsyn.cli import main
from nwbsyn.io.abf import convert_abf
from nwbsyn.io.validate import validate_nwb

from abf_synth import write_abf1
from conftest import SHARED

FS = 10_000.0
SUBJECT = {"subject_id": "m1", "species": "Drosophila melanogaster", "sex": "F", "age": "P5D"}
PULSE_S = (10_000 // 64 + 400) / FS  # the StimTrig epoch: after Clampex's 1/64-sweep pre-holding and 400 samples


def tevc_channels(n_sweeps=2, n_samples=10_000, rng=0):
    """A two-electrode clamp recording: Vm1 (mV) monitor, I2 (nA) current, Trig (V) with a TTL pulse."""
    rng = np.random.default_rng(rng)
    vm = rng.normal(-80.0, 0.1, (n_sweeps, n_samples))
    current = rng.normal(-2.0, 0.05, (n_sweeps, n_samples))
    trig = np.zeros((n_sweeps, n_samples))
    trig[:, 2000:2005] = 5.0
    return [("Vm1", "mV", vm), ("I2", "nA", current), ("Trig", "V", trig)]


@pytest.fixture
def tevc_abf(tmp_path):
    return write_abf1(tmp_path / "tevc.abf", tevc_channels(), sampling_rate_hz=FS,
                      dacs=(("StimTrig", "V"), ("Cmd 1", "mV")),
                      epochs={0: [(1, 0.0, 400), (1, 5.0, 2), (1, 0.0, 100)]}, digital=(0, [0, 4, 0]))


def test_tevc_converts_as_voltage_clamp_with_the_monitor_kept(tevc_abf, tmp_path):
    result = convert_abf(tevc_abf, output=tmp_path / "tevc.nwb", subject=SUBJECT)
    assert result.mode == "voltage clamp" and result.series == ["I2_sweep_000", "I2_sweep_001"]
    assert [c.split(": ")[1] for c in result.channels] == ["monitor, kept, not analysed", "analysed",
                                                          "trigger channel, kept"]
    with NWBHDF5IO(str(result.output), "r") as io:
        nwbfile = io.read()
        current = nwbfile.acquisition["I2_sweep_001"]
        assert isinstance(current, VoltageClampSeries) and current.unit == "amperes"
        assert abs(np.median(current.data[:] * current.conversion) - (-2e-9)) < 1e-11
        monitor = nwbfile.acquisition["Vm1_sweep_000"]
        assert type(monitor).__name__ == "TimeSeries" and monitor.unit == "volts"
        assert monitor.description.startswith("Membrane-potential monitor") and "not analysed" in monitor.description
        assert len(nwbfile.intracellular_recordings) == 2
        stimuli = nwbfile.intervals["stimuli"].to_dataframe()
    # the TTL channel's pulse at 0.2 s, and the StimTrig DAC + digital output 2 at the epoch pulse, per sweep
    assert len(stimuli) == 4
    np.testing.assert_allclose(stimuli["start_time"], [PULSE_S, 0.2, 1.0 + PULSE_S, 1.2], atol=1e-6)
    assert stimuli["source"].iloc[0] == "digital output 2, DAC 0 'StimTrig' (V)"
    assert stimuli["source"].iloc[1] == "ADC channel 'Trig' (V)"
    assert validate_nwb(result.output).ok


def test_channel_option_picks_the_analysed_channel(tevc_abf, tmp_path, capsys):
    out = tmp_path / "vm.nwb"
    assert main(["convert", "abf", str(tevc_abf), "-o", str(out), "--channel", "Vm1"]) == 0
    printed = capsys.readouterr().out
    assert "current clamp" in printed and "0 'Vm1' (mV): analysed" in printed
    with NWBHDF5IO(str(out), "r") as io:
        nwbfile = io.read()
        assert isinstance(nwbfile.acquisition["Vm1_sweep_000"], CurrentClampSeries)
        assert nwbfile.acquisition["I2_sweep_000"].description.startswith("Current monitor")
    assert main(["convert", "abf", str(tevc_abf), "-o", str(out), "--overwrite", "--channel", "1"]) == 0
    with NWBHDF5IO(str(out), "r") as io:
        assert isinstance(io.read().acquisition["I2_sweep_000"], VoltageClampSeries)


def test_one_channel_files_keep_their_names(tmp_path):
    from pyabf.abfWriter import writeABF1

    path = tmp_path / "one.abf"
    writeABF1(np.random.default_rng(0).normal(-20, 2, size=(2, 3000)).astype(np.float32), str(path), 10_000)
    result = convert_abf(path, output=tmp_path / "one.nwb")
    assert result.mode == "voltage clamp" and result.series == ["sweep_000", "sweep_001"] and result.n_stimuli == 0


# -- the real recordings (skipped where ../shared is absent) ----------------------------------

EVENTS = SHARED / "data" / "events"


def real(*parts):
    path = EVENTS.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (../shared is only beside the developers' checkouts)")
    return path


def test_real_nmj_tevc_converts_as_voltage_clamp_with_i2_analysed(tmp_path):
    result = convert_abf(real("nmj", "19911002-2.abf"), output=tmp_path / "nmj.nwb")
    assert result.mode == "voltage clamp" and result.series == ["I2_sweep_000"]
    assert result.channels == ["0 'Vm1' (mV): monitor, kept, not analysed", "1 'I2' (nA): analysed"]
    with NWBHDF5IO(str(result.output), "r") as io:
        nwbfile = io.read()
        assert isinstance(nwbfile.acquisition["I2_sweep_000"], VoltageClampSeries)
        assert "monitor" in nwbfile.acquisition["Vm1_sweep_000"].description


@pytest.mark.parametrize("parts, n_stimuli, onset_s, source", [
    (("nmj", "20112011-EJC test.abf"), 40, 0.0362, "DAC 0 'StimTrig' (V)"),
    (("abf", "pyabf_f1_evoked_epsc", "f1.abf"), 10, 0.16405, "digital outputs 0, 1, 2, 3"),
    (("abf", "pyabf_2019_05_02_DIC2_0011_cc_sepsp", "2019_05_02_DIC2_0011.abf"), 3, 1.15625, "digital output 3"),
], ids=["ejc", "f1", "dic2"])
def test_real_protocol_stimuli(tmp_path, parts, n_stimuli, onset_s, source):
    result = convert_abf(real(*parts), output=tmp_path / "out.nwb")
    assert result.n_stimuli == n_stimuli
    with NWBHDF5IO(str(result.output), "r") as io:
        stimuli = io.read().intervals["stimuli"].to_dataframe()
    assert stimuli["start_time"].iloc[0] == pytest.approx(onset_s, abs=1e-6) and stimuli["source"].iloc[0] == source


def test_real_single_channel_memtest_has_no_stimuli(tmp_path):
    result = convert_abf(real("abf", "pyabf_18808025_sepsc_memtest", "18808025.abf"), output=tmp_path / "m.nwb")
    assert result.mode == "voltage clamp" and result.n_stimuli == 0 and result.series[0] == "sweep_000"
