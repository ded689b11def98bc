"""locate_events: one detection per rising phase, compound events kept, onset at the steepest rise."""

import numpy as np

from nwbsyn.events import biexponential_event
from nwbsyn.events.locate import _locate, locate_events
from nwbsyn.events.trace import TraceReader

FS = 50_000.0


def _sigmoid_rise(t_ms, centre_ms, width_ms):
    return 1.0 / (1.0 + np.exp(-(t_ms - centre_ms) / width_ms))


def _trace(parts, *, duration_ms=60.0, noise_sd=0.2, rng=0):
    """Negative-going trace (events down) from ``parts`` (callables of t_ms giving upward deflections)."""
    t = np.arange(int(duration_ms * FS / 1e3)) * 1e3 / FS
    z = sum(p(t) for p in parts)
    return -z + np.random.default_rng(rng).normal(0.0, noise_sd, t.size), t


def _regions(*spans_ms):
    return np.array([[int(a * FS / 1e3), int(b * FS / 1e3)] for a, b in spans_ms])


def _decay(t, start_ms, tau_ms):
    return np.where(t > start_ms, np.exp(-(t - start_ms) / tau_ms), 1.0)


def test_two_slope_peaks_on_one_rise_are_one_event():
    # a rise in two steps 1.8 ms apart that never stops rising, then a slow decay
    def event(t):
        return 20.0 * (_sigmoid_rise(t, 30.0, 0.4) + _sigmoid_rise(t, 31.8, 0.4)) * _decay(t, 33.0, 8.0)

    x, _ = _trace([event])
    regions = _regions((27.0, 36.0))
    pos, _ = locate_events(x, regions, sampling_rate_hz=FS)
    unmerged, _ = _locate(TraceReader(x, sampling_rate_hz=FS), regions, [(0, x.size)], fs=FS, halo=0, sd_block=x.size, sd_every=1,
                          merge_ms=0.0, min_separation_samples=6, relative_prominence=0.25, sd_factor=4.0)
    assert unmerged.size == 2  # without the merge these are the duplicates the issue reports
    assert pos.size == 1
    assert abs(pos[0] / FS * 1e3 - 30.0) < 2.0


def test_second_rise_on_a_decay_stays_a_second_event():
    def first(t):
        return 25.0 * biexponential_event(t - 20.0, rise_ms=0.3, decay_ms=2.0) * (t >= 20.0)

    def second(t):
        return 15.0 * biexponential_event(t - 23.0, rise_ms=0.3, decay_ms=2.0) * (t >= 23.0)

    x, _ = _trace([first, second])
    pos, _ = locate_events(x, _regions((18.0, 30.0)), sampling_rate_hz=FS)
    assert pos.size == 2
    np.testing.assert_allclose(pos / FS * 1e3, [20.2, 23.2], atol=0.4)


def test_rise_after_a_plateau_stays_a_second_event():
    def staircase(t):
        return 15.0 * (_sigmoid_rise(t, 30.0, 0.15) + _sigmoid_rise(t, 33.0, 0.15)) * _decay(t, 35.0, 5.0)

    x, _ = _trace([staircase])
    pos, _ = locate_events(x, _regions((27.0, 38.0)), sampling_rate_hz=FS)
    assert pos.size == 2
    np.testing.assert_allclose(pos / FS * 1e3, [30.0, 33.0], atol=0.3)


def test_dip_within_the_noise_between_two_detections_is_one_event():
    # a small inward step, a bounce back by less than the noise, then the main rise 1.2 ms later
    def bounced(t):
        dip = 0.25 * np.exp(-(((t - 30.7) / 0.15) ** 2))
        return (6.0 * _sigmoid_rise(t, 30.0, 0.08) - dip + 25.0 * _sigmoid_rise(t, 31.2, 0.12)) * _decay(t, 32.5, 6.0)

    x, _ = _trace([bounced])
    regions = _regions((27.0, 36.0))
    unmerged, _ = _locate(TraceReader(x, sampling_rate_hz=FS), regions, [(0, x.size)], fs=FS, halo=0, sd_block=x.size, sd_every=1,
                          merge_ms=0.0, min_separation_samples=6, relative_prominence=0.0, sd_factor=4.0)
    pos, _ = locate_events(x, regions, sampling_rate_hz=FS, relative_prominence=0.0)
    assert unmerged.size == 2 and pos.size == 1
    assert abs(pos[0] / FS * 1e3 - 31.2) < 0.3


def test_compound_event_1_8_ms_apart_with_a_decay_between_stays_two_events():
    def first(t):
        return 25.0 * biexponential_event(t - 20.0, rise_ms=0.15, decay_ms=0.8) * (t >= 20.0)

    def second(t):
        return 20.0 * biexponential_event(t - 21.8, rise_ms=0.15, decay_ms=0.8) * (t >= 21.8)

    x, _ = _trace([first, second])
    pos, _ = locate_events(x, _regions((18.0, 30.0)), sampling_rate_hz=FS)
    assert pos.size == 2


def test_a_small_slow_event_is_placed_on_its_rise_not_on_noise_at_its_trough():
    """No slope peak stands out of the noise: the onset comes from the trace smoothed over 2 ms."""
    errors = []
    for seed in range(6):
        event = lambda t: 3.0 * biexponential_event(np.maximum(t - 20.0, 0.0), rise_ms=2.0, decay_ms=8.0)  # noqa: E731
        x, _ = _trace([event], noise_sd=1.0, rng=seed)
        pos, _ = locate_events(x, _regions((14.0, 40.0)), sampling_rate_hz=FS)
        assert pos.size == 1
        errors.append(pos[0] / FS * 1e3 - 20.0)
    # the peak is at ~25 ms; the steepest rise at 20-23 ms
    assert all(-1.5 <= e <= 4.0 for e in errors), errors


def test_the_slow_candidate_filter_sees_small_slow_events_the_fast_one_misses():
    from nwbsyn.events.locate import CANDIDATE_SHAPES, candidate_trace

    rng = np.random.default_rng(3)
    t = np.arange(int(0.4 * FS)) * 1e3 / FS
    x = rng.normal(0.0, 1.0, t.size) - 1.2 * biexponential_event(np.maximum(t - 200.0, 0.0), rise_ms=1.5, decay_ms=8.0)

    def z_at_event(shape):
        d = candidate_trace(x, sampling_rate_hz=FS, shape=shape)
        d = d[np.isfinite(d)]
        med, sd = np.median(d), 1.4826 * np.median(np.abs(d - np.median(d)))
        full = candidate_trace(x, sampling_rate_hz=FS, shape=shape)
        return (full[int(195 * FS / 1e3) : int(210 * FS / 1e3)].max() - med) / sd

    fast, slow = (z_at_event(s) for s in CANDIDATE_SHAPES)
    assert fast < 4.5 < slow, (fast, slow)
