"""Convert Axon Binary Format (ABF 1 and 2) recordings to icephys NWB files with pyabf.

The recording mode comes from the units of the first input channel: pA → voltage clamp
(``VoltageClampSeries``, command in mV), mV → current clamp (``CurrentClampSeries``,
command in pA). Every sweep of every channel with that unit becomes one series registered
in the ``IntracellularRecordingsTable`` together with its command waveform; channels in
other units are kept as plain ``TimeSeries`` in ``acquisition``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timezone
from pathlib import Path

import numpy as np

from nwbsyn._shared import InputError, available_memory_bytes

__all__ = ["convert_abf", "AbfConversion"]

_SI = {"pA": ("amperes", 1e-12), "nA": ("amperes", 1e-9), "mV": ("volts", 1e-3), "V": ("volts", 1.0)}


@dataclass(frozen=True)
class AbfConversion:
    """What :func:`convert_abf` wrote."""

    output: Path
    mode: str  # "voltage clamp" or "current clamp"
    n_sweeps: int
    series: list[str]
    missing_metadata: list[str]  # DANDI metadata the ABF file does not hold


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
                clamp_mode: str | None = None) -> AbfConversion:
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
        Override the mode guessed from the first channel's unit.

    Returns
    -------
    AbfConversion

    Example
    -------
    >>> convert_abf("cell1.abf", output="cell1.nwb",
    ...             subject={"subject_id": "m1", "species": "Mus musculus", "sex": "M", "age": "P30D"})  # doctest: +SKIP
    """
    from nwbsyn.io.nwb import write_new_nwb
    from nwbsyn.io.output import claim_output

    path = Path(path)
    if clamp_mode not in (None, "voltage", "current"):
        raise InputError(f"The clamp mode {clamp_mode!r} (--clamp-mode) must be 'voltage' or 'current'.")
    _check_abf_file(path)
    with claim_output(output, inputs=[path], overwrite=overwrite) as claim:
        abf = _read_abf(path)
        nwbfile, mode, names = _to_nwbfile(abf, path, subject, clamp_mode)
        write_new_nwb(nwbfile, output, claim=claim)
    missing = [k for k in ("subject_id", "species", "sex", "age") if not (subject or {}).get(k)]
    return AbfConversion(output=Path(output), mode=f"{mode} clamp", n_sweeps=abf.sweepCount, series=names,
                         missing_metadata=missing)


def _to_nwbfile(abf, path: Path, subject: dict | None, clamp_mode: str | None):
    units = list(abf.adcUnits)
    mode = clamp_mode or ("voltage" if units[0] in ("pA", "nA") else "current" if units[0] in ("mV", "V") else None)
    if mode not in ("voltage", "current"):
        raise InputError(f"{path}: cannot tell voltage from current clamp (first channel in '{units[0]}'); "
                         "pass --clamp-mode voltage or --clamp-mode current.")
    nwbfile = _build_nwbfile(abf, path, subject)
    names = _add_sweeps(nwbfile, abf, mode)
    return nwbfile, mode, names


def _add_sweeps(nwbfile, abf, mode: str) -> list[str]:
    from pynwb import TimeSeries
    from pynwb.icephys import (
        CurrentClampSeries,
        CurrentClampStimulusSeries,
        VoltageClampSeries,
        VoltageClampStimulusSeries,
    )

    response_cls, stimulus_cls = ((VoltageClampSeries, VoltageClampStimulusSeries) if mode == "voltage"
                                  else (CurrentClampSeries, CurrentClampStimulusSeries))
    primary_unit = abf.adcUnits[0]
    expected_command = "volts" if mode == "voltage" else "amperes"
    device = nwbfile.create_device(name="Amplifier", description=f"Axon amplifier (ABF {abf.abfVersionString}).")
    single = sum(u == primary_unit for u in abf.adcUnits) == 1
    names, sweep_starts = [], getattr(abf, "sweepTimesSec", None)
    adc_names = [str(n).replace("\x00", "").strip() or f"ch{i}" for i, n in enumerate(abf.adcNames)]
    for channel, unit in enumerate(abf.adcUnits):
        if unit not in _SI:
            raise InputError(f"Channel {channel} of the ABF file is in '{unit}', which nwbsyn cannot convert.")
        si_unit, conversion = _SI[unit]
        prefix = "" if single and unit == primary_unit else f"{_safe(adc_names[channel])}_"
        electrode = None
        if unit == primary_unit:
            electrode = nwbfile.create_icephys_electrode(
                name=f"electrode_{channel}", device=device, cell_id=f"{abf.abfID}_ch{channel}",
                description=f"Electrode of ABF channel {channel} ({adc_names[channel]}).")
        for sweep in range(abf.sweepCount):
            abf.setSweep(sweep, channel=channel)
            start = float(sweep_starts[sweep]) if sweep_starts is not None else sweep * abf.sweepIntervalSec
            common = dict(rate=float(abf.sampleRate), starting_time=start, conversion=conversion)
            name = f"{prefix}sweep_{sweep:03d}"
            data = np.asarray(abf.sweepY, dtype=np.float32)
            if electrode is None:
                nwbfile.add_acquisition(TimeSeries(name=name, data=data, unit=si_unit, **common,
                                                   description=f"Auxiliary ABF channel {adc_names[channel]}."))
                continue
            response = response_cls(name=name, data=data, electrode=electrode, gain=1.0, sweep_number=np.uint32(sweep),
                                    description=f"ABF channel {adc_names[channel]}, sweep {sweep}.", **common)
            nwbfile.add_acquisition(response)
            command = np.asarray(abf.sweepC, np.float32)
            stimulus = None
            if _SI.get(str(abf.sweepUnitsC).strip("\x00"), ("",))[0] == expected_command and np.isfinite(command).all():
                stimulus = stimulus_cls(name=f"{prefix}command_{sweep:03d}", data=command, electrode=electrode,
                                        gain=1.0, sweep_number=np.uint32(sweep), rate=float(abf.sampleRate),
                                        starting_time=start, conversion=_SI[abf.sweepUnitsC][1],
                                        description=f"Command waveform, protocol '{abf.protocol}'.")
                nwbfile.add_stimulus(stimulus)
            nwbfile.add_intracellular_recording(electrode=electrode, stimulus=stimulus, response=response)
            names.append(name)
    return names
