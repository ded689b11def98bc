"""`nwbsyn events detect` leaves out stimuli, interval tables, --exclude windows and action potentials.

NWB (or ABF) in -> NWB out, read back: the excluded windows are a TimeIntervals table in
processing/icephys, no event lies in them, and the frequency is events / analysed seconds.
"""

import json

import numpy as np
import pytest
from pynwb import NWBHDF5IO

from nwbsyn.cli import main
from nwbsyn.events import run_on_nwbfile, simulate_trace
from nwbsyn.events.exclude import EXCLUDED_NAME
from nwbsyn.io.abf import convert_abf
from nwbsyn.testing import mock_icephys_nwbfile, mock_nwbfile

from abf_synth import write_abf1
from conftest import SHARED, write_nwbfile

FS = 10_000.0
N_SWEEPS, SWEEP_S = 3, 1.5
PULSE_S = (int(SWEEP_S * FS) // 64 + 400) / FS  # the StimTrig pulse (after Clampex's 1/64-sweep pre-holding)


@pytest.fixture(scope="module")
def ejc_abf(tmp_path_factory):
    """Two-electrode clamp, like the NMJ EJC recordings: minis in I2 (nA) and a large evoked EJC per stimulus."""
    n = int(SWEEP_S * FS)
    t = np.arange(n) / FS
    current = []
    for k in range(N_SWEEPS):
        sim = simulate_trace(duration_s=SWEEP_S, sampling_rate_hz=FS, rate_hz=5.0, amplitude_pA=800.0,
                             rise_ms=0.8, decay_ms=6.0, noise_sd_pA=40.0, rng=20 + k)
        onset = PULSE_S + 0.003
        late = t >= onset
        evoked = np.zeros(n)
        evoked[late] = -12_000.0 * (np.exp(-(t[late] - onset) / 0.008) - np.exp(-(t[late] - onset) / 0.001))
        current.append((sim.trace_pA + evoked) / 1e3)  # pA -> nA
    vm = np.random.default_rng(0).normal(-80.0, 0.1, (N_SWEEPS, n))
    return write_abf1(tmp_path_factory.mktemp("ejc") / "ejc.abf", [("Vm1", "mV", vm), ("I2", "nA", np.array(current))],
                      sampling_rate_hz=FS, dacs=(("StimTrig", "V"), ("Cmd 1", "mV")),
                      epochs={0: [(1, 0.0, 400), (1, 5.0, 2), (1, 0.0, 100)]})


def _read(path):
    with NWBHDF5IO(str(path), "r") as io:
        nwbfile = io.read()
        module = nwbfile.processing["icephys"]
        times = module["synaptic_events"]["timestamp"].data[:] if "synaptic_events" in module.data_interfaces \
            else np.zeros(0)
        excluded = module[EXCLUDED_NAME].to_dataframe() if EXCLUDED_NAME in module.data_interfaces else None
        params = json.loads(module["synaptic_events_model"].parameters)
        stimuli = nwbfile.intervals["stimuli"]["start_time"].data[:] if "stimuli" in nwbfile.intervals else None
    return times, excluded, params, stimuli


def _after_stimulus_s(times, stimuli):
    """Delay of each event after the latest stimulus before it (inf when none)."""
    delay = times[:, None] - stimuli[None, :]
    return np.where(delay >= -0.001, delay, np.inf).min(axis=1)


def test_evoked_responses_are_left_out_with_the_files_own_stimuli(ejc_abf, tmp_path, capsys):
    nwb = convert_abf(ejc_abf, output=tmp_path / "ejc.nwb").output
    out = tmp_path / "ejc_events.nwb"
    assert main(["events", "detect", str(nwb), "-o", str(out), "--quiet", "--no-weights"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("analysing 3 series (I2_sweep_000, I2_sweep_001, I2_sweep_002): every patch-clamp")
    assert "Vm1_sweep_*: membrane-potential monitor" in printed and "(stimulus)" in printed
    times, excluded, params, stimuli = _read(out)
    assert len(stimuli) == N_SWEEPS and times.size >= 3
    assert _after_stimulus_s(times, stimuli).min() > 0.150
    assert list(excluded["reason"]) == ["stimulus"] * N_SWEEPS and set(excluded["series"]) == {
        "I2_sweep_000", "I2_sweep_001", "I2_sweep_002"}
    np.testing.assert_allclose(excluded["stop_time"] - excluded["start_time"], 0.151, atol=1e-6)
    ex = params["exclusion"]
    assert ex["dropped"]["stimulus"] >= N_SWEEPS and ex["stimuli"] == N_SWEEPS and ex["evoked_window_ms"] == 150
    assert ex["analysed_s"] == pytest.approx(N_SWEEPS * (SWEEP_S - 0.151), abs=1e-4)
    # the evoked EJCs were there: with --evoked-window 0 they are in the table
    kept = tmp_path / "ejc_kept.nwb"
    assert main(["events", "detect", str(nwb), "-o", str(kept), "--quiet", "--no-weights", "--evoked-window", "0",
                 "--series", "I2_*"]) == 0
    assert "matched by --series 'I2_*'" in capsys.readouterr().out
    times0, excluded0, _, _ = _read(kept)
    assert np.sum(_after_stimulus_s(times0, stimuli) < 0.01) >= 1 and excluded0 is None


def test_interval_tables_and_exclude_options(tmp_path):
    nwbfile = mock_icephys_nwbfile(n_sweeps=2, duration_s=2.0, n_events_per_sweep=16, rng=3)
    nwbfile.add_invalid_time_interval(start_time=0.2, stop_time=0.6)  # sweep 0 starts at 0, sweep 1 at 3 s
    nwbfile.add_time_intervals(_table("artifacts", [(3.0, 3.3)]))
    nwbfile.add_time_intervals(_table("trials", [(0.0, 5.0)]))  # not an exclusion
    src = write_nwbfile(nwbfile, tmp_path / "in.nwb")
    with NWBHDF5IO(str(src), "r") as io:
        read = io.read()
        pairs = run_on_nwbfile(read, exclude="1.0:1.2", exclude_session="4.5:4.9", progress_bar=False,
                               embed_weights=False)
        io2_path = tmp_path / "out.nwb"
        with NWBHDF5IO(str(io2_path), "w") as out:
            out.export(src_io=io, nwbfile=read)
    times, excluded, params, _ = _read(io2_path)
    reasons = sorted(zip(excluded["series"], excluded["reason"], excluded["start_time"].round(3)))
    assert reasons == [("sweep_0", "--exclude", 1.0), ("sweep_0", "interval table", 0.2),
                       ("sweep_1", "--exclude", 4.0), ("sweep_1", "--exclude-session", 4.5),
                       ("sweep_1", "interval table", 3.0)]
    for a, b in zip(excluded["start_time"], excluded["stop_time"]):
        assert not np.any((times >= a) & (times < b))
    ex0, ex1 = (res.params["exclusion"] for _, res in pairs)
    assert ex0["analysed_s"] == pytest.approx(2.0 - 0.4 - 0.2) and ex1["analysed_s"] == pytest.approx(2.0 - 0.3 - 0.6)
    assert pairs[0][1].statistics.frequency_hz == pytest.approx(len(pairs[0][1]) / 1.4)
    assert params["exclusion"]["windows"] == 5 and sum(params["exclusion"]["dropped"].values()) >= 3


def _table(name, rows):
    from pynwb.epoch import TimeIntervals

    table = TimeIntervals(name=name, description=f"{name} of the test")
    for a, b in rows:
        table.add_row(start_time=a, stop_time=b)
    return table


def _current_clamp_file(path, *, spike_s=1.2):
    from pynwb.icephys import CurrentClampSeries

    rng = np.random.default_rng(5)
    n = int(3.0 * 20_000)
    t = np.arange(n) / 20_000
    v = -65 + 0.1 * rng.standard_normal(n)
    for onset in np.arange(0.2, 2.9, 0.25):  # sEPSPs: 2 mV, 1 ms rise, 15 ms decay
        late = t >= onset
        v[late] += 2.0 * (np.exp(-(t[late] - onset) / 0.015) - np.exp(-(t[late] - onset) / 0.001))
    i = int(spike_s * 20_000)  # an action potential riding on an EPSP
    v[i - 40:i] += np.linspace(0, 12, 40)
    v[i:i + 10] = np.linspace(-50, 30, 10)
    v[i + 10:i + 50] = np.linspace(30, -72, 40)
    v[i + 50:i + 400] += np.linspace(-7, 0, 350)
    nwbfile = mock_nwbfile()
    device = nwbfile.create_device(name="amp", description="simulated")
    electrode = nwbfile.create_icephys_electrode(name="e0", description="pipette", device=device, cell_id="c1")
    series = CurrentClampSeries(name="cc_0", data=v * 1e-3, electrode=electrode, gain=1.0, rate=20_000.0,
                                starting_time=0.0, sweep_number=np.uint32(0))
    nwbfile.add_acquisition(series)
    nwbfile.add_intracellular_recording(electrode=electrode, response=series)
    return write_nwbfile(nwbfile, path)


def test_action_potentials_are_not_sepsps(tmp_path, capsys):
    src = _current_clamp_file(tmp_path / "cc.nwb")
    out = tmp_path / "cc_events.nwb"
    assert main(["events", "detect", str(src), "-o", str(out), "--quiet", "--no-weights"]) == 0
    printed = capsys.readouterr().out
    assert "1 action potential found" in printed
    times, excluded, params, _ = _read(out)
    assert list(excluded["reason"]) == ["action potential"]
    a, b = excluded["start_time"].iloc[0], excluded["stop_time"].iloc[0]
    assert 1.197 < a < 1.2 and 1.202 < b < 1.25
    assert not np.any((times > a - 0.004) & (times < b)) and times.size >= 5
    assert params["exclusion"]["action_potentials"] == 1
    kept = tmp_path / "cc_kept.nwb"
    assert main(["events", "detect", str(src), "-o", str(kept), "--quiet", "--no-weights",
                 "--keep-action-potentials"]) == 0
    with NWBHDF5IO(str(kept), "r") as io:
        module = io.read().processing["icephys"]
        assert EXCLUDED_NAME not in module.data_interfaces


# -- the real recordings (skipped where ../shared is absent) ----------------------------------


def _real(tmp_path, *parts):
    path = SHARED.joinpath("data", "events", *parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (../shared is only beside the developers' checkouts)")
    return convert_abf(path, output=tmp_path / "real.nwb").output


@pytest.mark.parametrize("parts, series", [
    (("nmj", "20112011-EJC test.abf"), "I2_sweep_00[0-3]"),
    (("abf", "pyabf_f1_evoked_epsc", "f1.abf"), "CH1_sweep_00[0-1]"),
], ids=["ejc", "f1"])
def test_real_evoked_responses_are_not_in_the_table(tmp_path, parts, series):
    nwb = _real(tmp_path, *parts)
    out = tmp_path / "events.nwb"
    assert main(["events", "detect", str(nwb), "-o", str(out), "--quiet", "--no-weights", "--series", series]) == 0
    times, excluded, params, stimuli = _read(out)
    assert times.size > 0 and _after_stimulus_s(times, stimuli).min() > 0.150
    assert params["exclusion"]["windows"] >= 4 and params["exclusion"]["stimuli"] > 0


def test_real_current_clamp_has_no_action_potential_in_the_table(tmp_path):
    nwb = _real(tmp_path, "abf", "pyabf_2019_05_02_DIC2_0011_cc_sepsp", "2019_05_02_DIC2_0011.abf")
    out = tmp_path / "events.nwb"
    assert main(["events", "detect", str(nwb), "-o", str(out), "--quiet", "--no-weights",
                 "--series", "IN_0_sweep_002"]) == 0
    with NWBHDF5IO(str(out), "r") as io:
        module = io.read().processing["icephys"]
        amplitudes_mV = module["synaptic_events"]["amplitude"].data[:] * 1e3
        reasons = list(module[EXCLUDED_NAME].to_dataframe()["reason"])
    assert amplitudes_mV.max() < 10 and reasons.count("action potential") == 1
