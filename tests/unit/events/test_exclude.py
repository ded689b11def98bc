"""nwbsyn.events.exclude: windows from options, stimuli, command steps and action potentials."""

from types import SimpleNamespace

import numpy as np
import pytest

from nwbsyn import InputError
from nwbsyn.events.exclude import (
    DEFAULT_EVOKED_WINDOW_MS,
    ExclusionWindow,
    FileExclusions,
    action_potential_windows,
    apply_exclusions,
    parse_windows,
    trace_windows,
)
from nwbsyn.events.nwb import _step_samples

FS = 20_000.0


def test_parse_windows():
    assert parse_windows("0:0.15, 1.5:2") == ((0.0, 0.15), (1.5, 2.0))
    assert parse_windows([(0, 1)]) == ((0.0, 1.0),)
    assert parse_windows(None) == ()


@pytest.mark.parametrize("text, message", [
    ("abc", "is not START:END"), ("1:2:3", "is not START:END"), ("", "is not START:END"),
    ("0.5:0.1", "ends before it starts"), ("1:1", "ends before it starts"), ("-1:2", "starts before 0"),
    ("nan:1", "finite"), ("0:inf", "finite"),
])
def test_parse_windows_refuses_malformed_windows(text, message):
    with pytest.raises(InputError, match=message):
        parse_windows(text, option="--exclude")


def test_a_ramp_is_no_step():
    command = np.r_[np.full(200, -70.0), np.full(400, -80.0), np.full(200, -70.0), np.linspace(-70, -80, 300),
                    np.linspace(-80, -70, 300), np.full(200, -70.0)]
    assert _step_samples(command).tolist() == [200, 600]


def test_a_one_sample_trigger_pulse_is_a_step():
    command = np.zeros(1000)
    command[500] = 5.0
    assert _step_samples(command).tolist() == [500, 501]


def _membrane(duration_s=1.0, rng=0):
    rng = np.random.default_rng(rng)
    n = int(duration_s * FS)
    v = -65 + 0.1 * rng.standard_normal(n)
    t = np.arange(n) / FS
    for onset in (0.1, 0.3, 0.7):  # sEPSPs: 2 mV, 1 ms rise, 20 ms decay
        s = t >= onset
        v[s] += 2.0 * (np.exp(-(t[s] - onset) / 0.02) - np.exp(-(t[s] - onset) / 0.001))
    return v


def _add_spike(v, at_s):
    i = int(at_s * FS)
    v[i:i + 10] = np.linspace(-50, 30, 10)  # 80 mV in 0.5 ms: ~160 V/s
    v[i + 10:i + 40] = np.linspace(30, -70, 30)
    return v


def test_action_potentials_found_and_sepsps_not():
    v = _membrane()
    assert action_potential_windows(v, sampling_rate_hz=FS) == []
    windows = action_potential_windows(_add_spike(v, 0.5), sampling_rate_hz=FS)
    assert len(windows) == 1
    start, stop = windows[0]
    assert 0.497 < start < 0.5 and 0.502 < stop < 0.52


def _input(duration_s=1.0, start_s=10.0, steps=(), unit="pA"):
    series = SimpleNamespace(starting_time=start_s, timestamps=None, name="sweep_0")
    return SimpleNamespace(series=series, trace=np.zeros(int(duration_s * FS)), sampling_rate_hz=FS,
                           command_steps_s=np.asarray(steps, float), unit=unit)


def test_trace_windows_by_source():
    spec = FileExclusions(stimuli_s=[(10.2, 10.2002, "DAC 0"), (10.5, 10.9, "digital output 3"), (30.0, 30.1, "x")],
                          tables_s=[(10.95, 11.5, "invalid_times")], sweep_windows_s=((0.0, 0.05),),
                          session_windows_s=((10.6, 10.61),), evoked_window_ms=100.0)
    windows = trace_windows(_input(steps=[0.3]), spec)
    got = {(w.reason, w.detail): (round(w.start_s, 4), round(w.stop_s, 4)) for w in windows}
    assert got == {
        ("stimulus", "DAC 0"): (0.199, 0.3),
        ("stimulus", "digital output 3"): (0.499, 0.6),  # a pulse longer than the window: onset ...
        ("stimulus", "digital output 3 (offset)"): (0.899, 1.0),  # ... and offset (clipped to the sweep)
        ("command step", "command waveform"): (0.299, 0.31),
        ("interval table", "invalid_times"): (0.95, 1.0),
        ("--exclude", "0:0.05"): (0.0, 0.05),
        ("--exclude-session", "10.6:10.61"): (0.6, 0.61),
    }
    assert not trace_windows(_input(), FileExclusions(stimuli_s=[(10.2, 10.3, "x")], evoked_window_ms=0.0))
    assert not [w for w in trace_windows(_input(steps=[0.3]), FileExclusions(keep_transients=True))]


def _result(onsets_s, trace):
    from nwbsyn.events.infer import EventDetectionResult
    from nwbsyn.events.stats import event_statistics

    onsets = np.round(np.asarray(onsets_s) * FS).astype(int)
    stats = event_statistics(trace, onsets, sampling_rate_hz=FS, polarity=-1)
    return EventDetectionResult(onset_samples=onsets, onset_times_s=onsets / FS, scores=np.ones(onsets.size),
                                score_trace=np.zeros(10), statistics=stats, sampling_rate_hz=FS,
                                params={"polarity": -1})


def test_apply_exclusions_drops_counts_and_sets_the_analysed_frequency():
    rng = np.random.default_rng(1)
    trace = rng.normal(0, 1, int(2 * FS))
    t = np.arange(trace.size) / FS
    onsets = [0.1, 0.5, 0.52, 1.2, 1.8]
    for onset in onsets:
        s = t >= onset
        trace[s] -= 20 * (np.exp(-(t[s] - onset) / 0.005) - np.exp(-(t[s] - onset) / 0.0005))
    inp = _input(duration_s=2.0)
    inp.trace = trace
    windows = [ExclusionWindow(0.45, 0.6, "stimulus", "DAC 0"), ExclusionWindow(1.1, 1.3, "--exclude", "1.1:1.3"),
               ExclusionWindow(1.15, 1.35, "interval table", "invalid_times")]
    res, kept = apply_exclusions(inp, _result(onsets, trace), windows)
    np.testing.assert_allclose(res.onset_times_s, [0.1, 1.8])
    ex = res.params["exclusion"]
    assert ex["dropped"] == {"stimulus": 2, "interval table": 1}  # attributed in REASONS order
    assert ex["excluded_s"] == pytest.approx(0.15 + 0.25) and ex["analysed_s"] == pytest.approx(1.6)
    assert res.statistics.frequency_hz == pytest.approx(2 / 1.6)
    assert len(kept) == 3 and ex["action_potentials"] == 0


def test_default_evoked_window_is_what_the_cli_says():
    from nwbsyn.cli import events as cli_events

    assert cli_events._EVOKED_DEFAULT_MS == DEFAULT_EVOKED_WINDOW_MS


def test_both_directions_keep_their_own_measures():
    from dataclasses import replace

    rng = np.random.default_rng(2)
    trace = rng.normal(0, 1, int(1 * FS))
    res = _result([0.1, 0.4, 0.8], trace)
    res = replace(res, params={"polarity": 0})
    inp = _input(duration_s=1.0)
    inp.trace = trace
    out, _ = apply_exclusions(inp, res, [ExclusionWindow(0.35, 0.45, "--exclude", "0.35:0.45")])
    np.testing.assert_allclose(out.onset_times_s, [0.1, 0.8])
    np.testing.assert_allclose(out.statistics.amplitude_pA, res.statistics.amplitude_pA[[0, 2]])
    np.testing.assert_allclose(out.statistics.intervals_s, [0.7])
