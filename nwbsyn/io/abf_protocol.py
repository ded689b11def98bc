"""What an ABF file says about its channels and its stimuli (read with pyabf, nothing written here).

Each ADC channel gets a role from its unit, its name and the protocol: the clamp mode comes
from the unit of the command DAC (mV: voltage clamp, pA/nA: current clamp; a DAC in V is a
trigger, not a command), else from the first channel. In voltage clamp (also two-electrode
clamp) the current channels are analysed and a voltage beside them is the membrane-potential
monitor; in current clamp the reverse. Channels named like triggers (stim, trig, TTL, sync)
are trigger channels.

Stimuli are the output pulses the protocol itself records: digital outputs of the epoch table
(bits high in an epoch but not at holding), DACs that are not the command of an analysed
channel and change within a sweep (e.g. a 'StimTrig' DAC), and pulses on trigger ADC channels.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np

from nwbsyn._shared import InputError

__all__ = ["Channel", "Stimulus", "channel_roles", "protocol_stimuli", "CURRENT_UNITS", "VOLTAGE_UNITS"]

CURRENT_UNITS = ("pA", "nA")
VOLTAGE_UNITS = ("mV", "V")
_TRIGGER_NAME = re.compile(r"stim|trig|ttl|sync|digital|marker", re.IGNORECASE)


@dataclass(frozen=True)
class Channel:
    """One ADC channel: index, name, unit, kind ("current", "voltage", "other") and role.

    Roles: "analysed" (a clamp series), "monitor" (the other quantity recorded beside it),
    "trigger" (stimulus pulses) and "auxiliary" (anything else).
    """

    index: int
    name: str
    unit: str
    kind: str
    role: str

    def describe(self) -> str:
        return f"{self.index} '{self.name}' ({self.unit or 'no unit'})"


@dataclass(frozen=True)
class Stimulus:
    """One output pulse of the protocol; times in seconds from the sweep start."""

    sweep: int
    start_s: float
    stop_s: float
    source: str


def _clean(text) -> str:
    return str(text).replace("\x00", "").strip()


def _kind(unit: str) -> str:
    return "current" if unit in CURRENT_UNITS else "voltage" if unit in VOLTAGE_UNITS else "other"


def adc_channels(abf) -> list[tuple[int, str, str]]:
    """(index, name, unit) of every ADC channel."""
    return [(i, _clean(n) or f"ch{i}", _clean(u)) for i, (n, u) in enumerate(zip(abf.adcNames, abf.adcUnits))]


def command_mode(abf) -> str | None:
    """"voltage" or "current" from the first DAC in mV or pA/nA (a DAC in V is a trigger); None if none."""
    for unit in (_clean(u) for u in getattr(abf, "dacUnits", []) or []):
        if unit == "mV":
            return "voltage"
        if unit in CURRENT_UNITS:
            return "current"
    return None


def _resolve(spec: str, channels, path) -> int:
    text = str(spec).strip()
    for index, name, _ in channels:
        if text == name or text.lower() == name.lower():
            return index
    if text.isdigit() and int(text) < len(channels):
        return int(text)
    listing = ", ".join(f"{i} '{n}' ({u or 'no unit'})" for i, n, u in channels)
    raise InputError(f"{path} has no channel '{text}' (--channel); its channels are {listing}.")


def channel_roles(abf, path, *, clamp_mode: str | None = None, channels: list | None = None) -> list[Channel]:
    """The role of every ADC channel (see the module docstring); ``channels`` names or indexes the analysed ones.

    Example
    -------
    A two-electrode clamp header (a stand-in for ``pyabf.ABF(path)``, which has the same fields):
    the current is analysed, the voltage beside it is its monitor, 'Trig' is a trigger channel.

    >>> from types import SimpleNamespace
    >>> abf = SimpleNamespace(adcNames=["Vm1", "I2", "Trig"], adcUnits=["mV", "nA", "V"], dacUnits=["V", "mV"])
    >>> [c.role for c in channel_roles(abf, "tevc.abf")]
    ['monitor', 'analysed', 'trigger']
    >>> [c.role for c in channel_roles(abf, "tevc.abf", channels=["Vm1"])]
    ['analysed', 'monitor', 'trigger']

    A file written by pyabf (one current channel):

    >>> import os, tempfile
    >>> import numpy as np
    >>> import pyabf
    >>> from pyabf.abfWriter import writeABF1
    >>> path = os.path.join(tempfile.mkdtemp(), "cell.abf")
    >>> writeABF1(np.zeros((2, 1000), np.float32), path, 10_000, units="pA")
    >>> [(c.name, c.unit, c.role) for c in channel_roles(pyabf.ABF(path), path)]
    [('...', 'pA', 'analysed')]
    """
    table = adc_channels(abf)
    if channels:
        chosen = sorted({_resolve(spec, table, path) for spec in channels})
        for index in chosen:
            _check_chosen(table[index], path, clamp_mode)
    else:
        chosen = _default_analysed(table, path, clamp_mode or command_mode(abf))
    kinds = {_kind(table[i][2]) for i in chosen}
    out = []
    for index, name, unit in table:
        kind = _kind(unit)
        if index in chosen:
            role = "analysed"
        elif _TRIGGER_NAME.search(name):
            role = "trigger"
        elif kind in ("current", "voltage") and kind not in kinds:
            role = "monitor"
        else:
            role = "auxiliary"
        out.append(Channel(index=index, name=name, unit=unit, kind=kind, role=role))
    return out


def _check_chosen(channel, path, clamp_mode) -> None:
    index, name, unit = channel
    kind = _kind(unit)
    if kind == "other":
        raise InputError(f"Channel {index} '{name}' of {path} (--channel) is in '{unit}'; nwbsyn analyses channels "
                         "in pA, nA, mV or V.")
    wanted = {"voltage": "current", "current": "voltage"}.get(clamp_mode)
    if wanted is not None and kind != wanted:
        raise InputError(f"Channel {index} '{name}' of {path} (--channel) records a {kind} ({unit}), but in "
                         f"{clamp_mode} clamp (--clamp-mode) the recorded signal is a {wanted}; drop --clamp-mode "
                         "or choose another channel.")


def _default_analysed(table, path, mode: str | None) -> list[int]:
    candidates = [(i, n, u) for i, n, u in table if not _TRIGGER_NAME.search(n)] or table
    if mode is None:
        first = _kind(candidates[0][2])
        if first == "other":
            raise InputError(f"{path}: cannot tell voltage from current clamp (first channel in "
                             f"'{candidates[0][2]}'); pass --clamp-mode voltage or --clamp-mode current, or "
                             "--channel.")
        mode = "voltage" if first == "current" else "current"
    signal = "current" if mode == "voltage" else "voltage"
    chosen = [i for i, _, u in candidates if _kind(u) == signal]
    if not chosen:
        other = [i for i, _, u in candidates if _kind(u) in ("current", "voltage")]
        if not other:
            listing = ", ".join(f"{i} '{n}' ({u or 'no unit'})" for i, n, u in table)
            raise InputError(f"{path} has no channel in pA, nA, mV or V to analyse (its channels are {listing}).")
        chosen = [i for i in other if _kind(table[i][2]) == _kind(table[other[0]][2])]
    return chosen


def protocol_stimuli(abf, *, roles: list[Channel], command_dacs: set[int]) -> list[Stimulus]:
    """Every output pulse the file records (digital outputs, trigger DACs, trigger ADC channels), merged.

    Pulses at the same times from several outputs are one stimulus (their sources joined).
    """
    found = []
    for sweep in range(int(abf.sweepCount)):
        found += _digital_pulses(abf, sweep)
        for dac in _trigger_dacs(abf, command_dacs):
            found += _dac_pulses(abf, sweep, dac)
        for channel in (c for c in roles if c.role == "trigger"):
            found += _adc_pulses(abf, sweep, channel)
    merged: dict[tuple, list[str]] = {}
    for s in found:
        merged.setdefault((s.sweep, round(s.start_s, 7), round(s.stop_s, 7)), []).append(s.source)
    return [Stimulus(sweep=k[0], start_s=k[1], stop_s=k[2], source=_join(v)) for k, v in sorted(merged.items())]


def _join(sources: list[str]) -> str:
    """"digital outputs 0, 1, DAC 0 'StimTrig' (V)" from the sources of one pulse."""
    sources = list(dict.fromkeys(sources))
    bits = [s.rsplit(" ", 1)[1] for s in sources if s.startswith("digital output ")]
    rest = [s for s in sources if not s.startswith("digital output ")]
    digital = [f"digital output{'s' if len(bits) > 1 else ''} {', '.join(bits)}"] if bits else []
    return ", ".join(digital + rest)


def _runs(active: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) sample indices of the True runs of ``active``."""
    edges = np.diff(np.concatenate([[0], active.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def _epochs_abf1(abf, sweep: int, dac: int) -> list[tuple[int, int, int]]:
    """(p1, p2, digital pattern) of the ABF1 epochs of ``dac`` in ``sweep`` (pyabf leaves ABF1 digital out)."""
    h = abf._headerV1
    position = int(abf.sweepPointCount) // 64  # Clampex's pre-sweep holding: 1/64 of the sweep
    out = []
    for slot in range(10):
        i = dac * 10 + slot
        if h.nEpochType[i] == 0:
            continue
        duration = int(h.lEpochInitDuration[i] + h.lEpochDurationInc[i] * sweep)
        out.append((position, position + duration, int(h.nDigitalValue[slot]) if dac == h.nActiveDACChannel else 0))
        position += duration
    return out


def _digital_epochs(abf, sweep: int):
    """(epochs as (p1, p2, pattern), holding pattern), or None when the file has no digital outputs."""
    if abf.abfVersion["major"] == 1:
        h = abf._headerV1
        if not h.nDigitalEnable:
            return None
        return _epochs_abf1(abf, sweep, int(h.nActiveDACChannel)), int(h.nDigitalHolding)
    p = abf._protocolSection
    if not p.nDigitalEnable:
        return None
    import pyabf.waveform

    table = pyabf.waveform.EpochTable(abf, int(p.nActiveDACChannel))
    wave = table.epochWaveformsBySweep[sweep]
    patterns = [sum(int(b) << k for k, b in enumerate(bits)) for bits in wave.digitalStates]
    return list(zip(wave.p1s, wave.p2s, patterns)), int(p.nDigitalHolding)


def _digital_pulses(abf, sweep: int) -> list[Stimulus]:
    try:
        found = _digital_epochs(abf, sweep)
    except (AttributeError, IndexError, KeyError, ValueError, TypeError):
        return []
    if not found:
        return []
    epochs, holding = found
    n = int(abf.sweepPointCount)
    rate = float(abf.sampleRate)
    out = []
    for bit in range(8):
        if holding >> bit & 1:
            continue  # held high: not a pulse of this sweep
        active = np.zeros(n, bool)
        for p1, p2, pattern in epochs:
            if pattern >> bit & 1:
                active[max(0, p1):min(n, p2)] = True
        out += [Stimulus(sweep, a / rate, b / rate, f"digital output {bit}") for a, b in _runs(active)]
    return out


def _trigger_dacs(abf, command_dacs: set[int]) -> list[int]:
    n = len(getattr(abf, "dacUnits", []) or [])
    if abf.abfVersion["major"] == 1:
        n = min(n, 2)  # ABF1 holds epoch waveforms for two DACs
    return [d for d in range(n) if d not in command_dacs]


def _dac_pulses(abf, sweep: int, dac: int) -> list[Stimulus]:
    import pyabf.stimulus

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wave = np.asarray(pyabf.stimulus.Stimulus(abf, dac).stimulusWaveform(sweep), dtype=float)
    except Exception:  # pyabf fails in many ways on DACs it cannot synthesise; such a DAC is left out
        return []
    if wave.size < 2 or not np.isfinite(wave).all():
        return []
    levels, counts = np.unique(wave, return_counts=True)
    holding = float(levels[np.argmax(counts)])  # the resting level (pyabf's ABF1 holding levels are epoch levels)
    delta = np.abs(wave - holding)
    if delta.max() <= 1e-9 * max(1.0, abs(holding)):
        return []
    name, unit = _clean(abf.dacNames[dac]), _clean(abf.dacUnits[dac])
    rate = float(abf.sampleRate)
    return [Stimulus(sweep, a / rate, b / rate, f"DAC {dac} '{name}' ({unit})")
            for a, b in _runs(delta > 0.5 * delta.max())]


def _adc_pulses(abf, sweep: int, channel: Channel) -> list[Stimulus]:
    abf.setSweep(sweep, channel=channel.index)
    y = np.asarray(abf.sweepY, dtype=float)
    if y.size < 2 or not np.isfinite(y).all():
        return []
    spread = 1.4826 * np.median(np.abs(y - np.median(y)))
    if y.max() - y.min() <= max(20 * spread, 1e-12):
        return []  # no pulses above the channel's own noise
    middle = 0.5 * (y.min() + y.max())
    active = y > middle if np.median(y) < middle else y < middle
    runs = _runs(active)
    if not runs or len(runs) > 10_000 or active.mean() > 0.5:
        return []
    rate = float(abf.sampleRate)
    return [Stimulus(sweep, a / rate, b / rate, f"ADC channel '{channel.name}' ({channel.unit})") for a, b in runs]
