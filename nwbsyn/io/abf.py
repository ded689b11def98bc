"""Convert Axon Binary Format (ABF 1 and 2) recordings to icephys NWB files with pyabf.

Each ADC channel is converted by its unit and the protocol (:mod:`nwbsyn.io.abf_protocol`):
an analysed current channel (voltage clamp, two-electrode clamp) becomes one
``VoltageClampSeries`` per sweep, an analysed voltage channel (current clamp) one
``CurrentClampSeries``, each registered in the ``IntracellularRecordingsTable`` with its
command waveform. The other channels are kept as plain ``TimeSeries`` whose description says
what they are (the membrane-potential monitor beside a clamp current, a trigger channel, an
auxiliary input); they are not analysed by default. Series are named ``sweep_NNN`` in a
one-channel file and ``<channel>_sweep_NNN`` otherwise. The protocol's output pulses
(digital outputs, trigger DACs, trigger channels) go to ``intervals/stimuli``
(:data:`STIMULI_TABLE`), where ``nwbsyn events detect`` finds them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timezone
from pathlib import Path

import numpy as np

from nwbsyn._shared import InputError, available_memory_bytes
from nwbsyn.io.abf_protocol import channel_roles, protocol_stimuli

__all__ = ["convert_abf", "AbfConversion", "STIMULI_TABLE"]

STIMULI_TABLE = "stimuli"

_SI = {"pA": ("amperes", 1e-12), "nA": ("amperes", 1e-9), "mV": ("volts", 1e-3), "V": ("volts", 1.0)}


@dataclass(frozen=True)
class AbfConversion:
    """What :func:`convert_abf` wrote."""

    output: Path
    mode: str  # "voltage clamp", "current clamp" or "voltage and current clamp"
    n_sweeps: int
    series: list[str]
    missing_metadata: list[str]  # DANDI metadata the ABF file does not hold
    channels: list[str] = ()  # one line per ADC channel: index, name, unit and role
    n_stimuli: int = 0  # rows written to intervals/stimuli


_MAGIC = (b"ABF ", b"ABF2")


def _check_abf_file(path: Path) -> None:
    """A regular, non-empty file that starts like an ABF file; nothing else is read."""
    if not path.exists():
        raise InputError(f"{path}: no such file; check the path.")
    if path.is_dir():
        raise InputError(f"{path} is a folder; give an Axon .abf recording.")
    if not path.is_file():
        raise InputError(f"{path} is not a regular file; give an Axon .abf recording.")
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as err:
        raise InputError(f"{path} cannot be read ({err.strerror or err}); check its permissions.") from err
    if not magic:
        raise InputError(f"{path} is empty; give an Axon .abf recording.")
    if magic not in _MAGIC:
        raise InputError(f"{path} is not an ABF file (it does not start with 'ABF ' or 'ABF2'); give an Axon .abf "
                         "recording.")


def _raw_sizes(path: Path) -> tuple[int, int, int, int]:
    """(samples, bytes per sample, first data byte, sweeps) read straight from the first header bytes.

    pyabf builds per-sweep lists from the header before anything is checked, so a damaged
    header announcing billions of sweeps must be caught here first.
    """
    import struct

    with open(path, "rb") as f:
        head = f.read(512)
    if len(head) < 512:
        raise InputError(f"{path} is truncated ({len(head)} bytes, less than an ABF header); copy the recording again.")
    if head[:4] == b"ABF ":
        (samples,), (episodes,), (block,) = (struct.unpack_from("<i", head, o) for o in (10, 16, 40))
        (fmt,), (channels,) = struct.unpack_from("<h", head, 100), struct.unpack_from("<h", head, 120)
        width = 4 if fmt == 1 else 2
    else:
        (episodes,) = struct.unpack_from("<I", head, 12)
        block, width, samples = struct.unpack_from("<IIi", head, 236)
        (channels,) = struct.unpack_from("<i", head, 92 + 8)
    if samples < 1 or not 1 <= channels <= 64 or width not in (2, 4):
        raise InputError(f"{path} has an ABF header announcing {samples:,} samples in {channels:,} channels; the file "
                         "is damaged or holds no recording.")
    if episodes > samples:
        raise InputError(f"{path} announces {episodes:,} sweeps for {samples:,} samples; its header is damaged.")
    return samples, width, block * 512, episodes


def _check_raw_sizes(path: Path) -> None:
    samples, width, start, _ = _raw_sizes(path)
    size = path.stat().st_size
    if start + samples * width > size:
        raise InputError(f"{path} is truncated: its header announces {samples:,} samples "
                         f"({start + samples * width:,} bytes) but the file has {size:,} bytes; copy the recording "
                         "again.")


def _read_abf(path: Path):
    """Read the header, check it against the file size and the memory, then read the data."""
    import pyabf

    _check_abf_file(path)
    _check_raw_sizes(path)
    try:
        header = pyabf.ABF(str(path), loadData=False)
    except Exception as err:  # pyabf raises many types for damaged headers
        raise InputError(f"{path} could not be read as an ABF file (its header is damaged); "
                         "give an Axon .abf recording.") from err
    _check_header(header, path)
    try:
        return pyabf.ABF(str(path))
    except MemoryError:
        raise
    except Exception as err:
        raise InputError(f"{path} could not be read as an ABF file ({type(err).__name__}); "
                         "the file may be truncated.") from err


def _check_header(abf, path: Path) -> None:
    try:
        channels, sweeps, points = int(abf.channelCount), int(abf.sweepCount), int(abf.dataPointCount)
        rate, start = float(abf.sampleRate), int(abf.dataByteStart)
        width = int(abf.dataPointByteSize)
    except (AttributeError, TypeError, ValueError, OverflowError) as err:
        raise InputError(f"{path} has an ABF header without channel, sweep or data sizes; the file is damaged.") \
            from err
    if channels < 1 or sweeps < 1 or points < 1:
        raise InputError(f"{path} holds {channels} channels, {sweeps} sweeps and {points} samples; there is "
                         "nothing to convert.")
    if not (np.isfinite(rate) and rate > 0):
        raise InputError(f"{path} has a sampling rate of {rate:g} Hz in its header; the file is damaged.")
    size = path.stat().st_size
    needed = start + points * width
    if start < 0 or needed > size:
        raise InputError(f"{path} is truncated: its header announces {points:,} samples ({needed:,} bytes) but the "
                         f"file has {size:,} bytes; copy the recording again.")
    memory = points * (4 + 4 + 2 * 4)  # pyabf's float32 copy, one sweep at a time as float32 + NWB buffers
    if memory > 0.8 * available_memory_bytes():
        raise InputError(f"{path} holds {points:,} samples, too many to convert in the memory available; split the "
                         "recording.")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_") or "channel"


def _build_nwbfile(abf, path: Path, subject: dict | None):
    from pynwb import NWBFile
    from pynwb.file import Subject

    start = abf.abfDateTime
    start = start.replace(tzinfo=timezone.utc) if start.tzinfo is None else start
    return NWBFile(
        session_description=f"ABF recording {path.name}, protocol '{str(abf.protocol).strip(chr(0))}'.",
        identifier=f"{path.stem}-{abf.fileGUID}" if getattr(abf, "fileGUID", "") else path.stem,
        session_start_time=start, session_id=_safe(path.stem),
        source_script="nwbsyn convert abf", source_script_file_name="nwbsyn/io/abf.py",
        subject=Subject(**subject) if subject else None,
    )


def convert_abf(path, *, output, overwrite: bool = False, subject: dict | None = None,
                clamp_mode: str | None = None, channels: list | None = None) -> AbfConversion:
    """Write an Axon ABF recording as an icephys NWB file.

    Parameters
    ----------
    path : str or Path
        The ``.abf`` file.
    output : str or Path
        The NWB file to write (must not exist unless ``overwrite``).
    subject : dict, optional
        ``pynwb.file.Subject`` fields (subject_id, species, sex, age, ...), which ABF files
        do not hold but DANDI requires.
    clamp_mode : {"voltage", "current"}, optional
        Override the mode read from the command DAC's unit (or the first channel's).
    channels : list of str or int, optional
        The ADC channels to analyse, by name or index (CLI ``--channel``); default: the
        current channels in voltage clamp, the voltage channels in current clamp.

    Returns
    -------
    AbfConversion

    Example
    -------
    A small recording written with pyabf (3 sweeps of 0.5 s in pA) stands in for a real ``.abf``:

    >>> import os, tempfile
    >>> import numpy as np
    >>> from pyabf.abfWriter import writeABF1
    >>> folder = tempfile.mkdtemp()
    >>> data_pA = np.random.default_rng(0).normal(-20.0, 2.0, size=(3, 5000)).astype(np.float32)
    >>> writeABF1(data_pA, os.path.join(folder, "cell.abf"), 10_000, units="pA")
    >>> result = convert_abf(os.path.join(folder, "cell.abf"), output=os.path.join(folder, "cell.nwb"),
    ...                      subject={"subject_id": "m1", "species": "Mus musculus", "sex": "M", "age": "P30D"})
    >>> result.mode, result.n_sweeps, result.series, result.missing_metadata
    ('voltage clamp', 3, ['sweep_000', 'sweep_001', 'sweep_002'], [])
    """
    from nwbsyn.io.nwb import write_new_nwb
    from nwbsyn.io.output import claim_output

    path = Path(path)
    if clamp_mode not in (None, "voltage", "current"):
        raise InputError(f"The clamp mode {clamp_mode!r} (--clamp-mode) must be 'voltage' or 'current'.")
    _check_abf_file(path)
    with claim_output(output, inputs=[path], overwrite=overwrite) as claim:
        abf = _read_abf(path)
        roles = channel_roles(abf, path, clamp_mode=clamp_mode, channels=channels)
        nwbfile = _build_nwbfile(abf, path, subject)
        names, commands = _add_sweeps(nwbfile, abf, roles)
        stimuli = protocol_stimuli(abf, roles=roles, command_dacs=commands)
        _add_stimuli(nwbfile, abf, stimuli)
        write_new_nwb(nwbfile, output, claim=claim)
    missing = [k for k in ("subject_id", "species", "sex", "age") if not (subject or {}).get(k)]
    kinds = {c.kind for c in roles if c.role == "analysed"}
    mode = {"current": "voltage clamp", "voltage": "current clamp"}.get(*kinds) if len(kinds) == 1 \
        else "voltage and current clamp"
    return AbfConversion(output=Path(output), mode=mode, n_sweeps=abf.sweepCount, series=names,
                         missing_metadata=missing, channels=[f"{c.describe()}: {_ROLE_TEXT[c.role]}" for c in roles],
                         n_stimuli=len(stimuli))


_ROLE_TEXT = {"analysed": "analysed", "monitor": "monitor, kept, not analysed",
              "trigger": "trigger channel, kept", "auxiliary": "auxiliary, kept"}


def _sweep_start_s(abf, sweep: int) -> float:
    starts = getattr(abf, "sweepTimesSec", None)
    return float(starts[sweep]) if starts is not None else sweep * float(abf.sweepIntervalSec)


def _plain_description(channel, roles) -> str:
    analysed = ", ".join(c.name for c in roles if c.role == "analysed")
    what = {"monitor": (f"{'Membrane-potential' if channel.kind == 'voltage' else 'Current'} monitor recorded "
                        f"beside the clamp {'current' if channel.kind == 'voltage' else 'voltage'} ({analysed})"),
            "trigger": "Trigger channel (its pulses are listed in intervals/stimuli)",
            "auxiliary": "Auxiliary input"}[channel.role]
    return (f"{what}: ABF channel {channel.index} '{channel.name}' ({channel.unit}); kept, not analysed by default "
            "(name it with --series to analyse it).")


def _add_sweeps(nwbfile, abf, roles) -> tuple[list[str], set[int]]:
    """Every channel's sweeps; returns the analysed series' names and the DACs used as their commands."""
    from pynwb import TimeSeries

    device = nwbfile.create_device(name="Amplifier", description=f"Axon amplifier (ABF {abf.abfVersionString}).")
    names, commands = [], set()
    for channel in roles:
        if channel.unit not in _SI:
            raise InputError(f"Channel {channel.index} '{channel.name}' of the ABF file is in '{channel.unit}', which "
                             "nwbsyn cannot convert.")
        prefix = "" if len(roles) == 1 else f"{_safe(channel.name)}_"
        if channel.role != "analysed":
            description = _plain_description(channel, roles)
            for sweep in range(abf.sweepCount):
                abf.setSweep(sweep, channel=channel.index)
                nwbfile.add_acquisition(TimeSeries(
                    name=f"{prefix}sweep_{sweep:03d}", data=np.asarray(abf.sweepY, dtype=np.float32),
                    unit=_SI[channel.unit][0], conversion=_SI[channel.unit][1], rate=float(abf.sampleRate),
                    starting_time=_sweep_start_s(abf, sweep), description=description))
            continue
        electrode = nwbfile.create_icephys_electrode(
            name=f"electrode_{channel.index}", device=device, cell_id=f"{abf.abfID}_ch{channel.index}",
            description=f"Electrode of ABF channel {channel.index} ({channel.name}).")
        for sweep in range(abf.sweepCount):
            has_command = _add_clamp_sweep(nwbfile, abf, channel, sweep, electrode, f"{prefix}sweep_{sweep:03d}",
                                           prefix)
            if has_command:
                commands.add(_dac_of(abf, channel.index))
            names.append(f"{prefix}sweep_{sweep:03d}")
    return names, commands


def _dac_of(abf, channel: int) -> int:
    """The DAC pyabf reads as the command of ADC ``channel`` (ABF1 has two: higher channels use DAC 0)."""
    return 0 if abf.abfVersion["major"] == 1 and channel > 1 else channel


def _add_clamp_sweep(nwbfile, abf, channel, sweep: int, electrode, name: str, prefix: str) -> bool:
    """One clamp sweep with its command; True when the command waveform was written."""
    from pynwb.icephys import (
        CurrentClampSeries,
        CurrentClampStimulusSeries,
        VoltageClampSeries,
        VoltageClampStimulusSeries,
    )

    voltage_clamp = channel.kind == "current"
    response_cls, stimulus_cls = ((VoltageClampSeries, VoltageClampStimulusSeries) if voltage_clamp
                                  else (CurrentClampSeries, CurrentClampStimulusSeries))
    abf.setSweep(sweep, channel=channel.index)
    start = _sweep_start_s(abf, sweep)
    common = dict(rate=float(abf.sampleRate), starting_time=start, conversion=_SI[channel.unit][1])
    response = response_cls(name=name, data=np.asarray(abf.sweepY, dtype=np.float32), electrode=electrode, gain=1.0,
                            sweep_number=np.uint32(sweep), **common,
                            description=f"ABF channel {channel.name} ({channel.unit}), sweep {sweep}.")
    nwbfile.add_acquisition(response)
    stimulus = None
    command = _command(abf, "volts" if voltage_clamp else "amperes")
    if command is not None:
        values, unit = command
        stimulus = stimulus_cls(name=f"{prefix}command_{sweep:03d}", data=values, electrode=electrode,
                                gain=1.0, sweep_number=np.uint32(sweep), rate=float(abf.sampleRate),
                                starting_time=start, conversion=_SI[unit][1],
                                description=f"Command waveform, protocol '{_clean(abf.protocol)}'.")
        nwbfile.add_stimulus(stimulus)
    nwbfile.add_intracellular_recording(electrode=electrode, stimulus=stimulus, response=response)
    return stimulus is not None


def _clean(text) -> str:
    return str(text).replace("\x00", "").strip()


def _command(abf, expected_si: str):
    """(values, unit) of the current sweep's command waveform when it is in ``expected_si``; else None."""
    unit = _clean(abf.sweepUnitsC)
    if _SI.get(unit, ("",))[0] != expected_si:
        return None
    try:
        values = np.asarray(abf.sweepC, np.float32)
    except (IndexError, KeyError, ValueError, AttributeError):  # pyabf cannot synthesise every DAC
        return None
    return (values, unit) if values.size and np.isfinite(values).all() else None


def _add_stimuli(nwbfile, abf, stimuli) -> None:
    """``intervals/stimuli``: one row per output pulse of the protocol, on the session clock."""
    from pynwb.epoch import TimeIntervals

    if not stimuli:
        return
    table = TimeIntervals(name=STIMULI_TABLE, description=(
        "Stimuli of the ABF protocol: output pulses of digital outputs, trigger DACs and trigger channels "
        "(start_time: onset, stop_time: end of the pulse). nwbsyn events detect drops events within its evoked "
        "window (--evoked-window) after each onset and offset."))
    table.add_column(name="source", description="Output that carried the pulse.")
    for s in stimuli:  # no sweep-number column: nwbinspector takes a 0/1 column (two sweeps) for a boolean
        start = _sweep_start_s(abf, s.sweep)
        table.add_row(start_time=start + s.start_s, stop_time=start + s.stop_s, source=s.source)
    nwbfile.add_time_intervals(table)
