"""Write small multi-channel ABF1 files for tests (pyabf's own writer makes one channel only).

Only the header fields that pyabf and nwbsyn read are filled: channels (names, units,
scaling, interleaved 16-bit data), DAC names and units, the epoch table of two DACs and the
digital outputs of the active DAC.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np


def write_abf1(path, channels, *, sampling_rate_hz: float, dacs=(("Cmd 0", "mV"), ("Cmd 1", "mV")),
               epochs=None, digital=None) -> Path:
    """Write ``channels`` [(name, unit, data (sweeps, samples))] as an episodic ABF1 file.

    ``epochs``: {dac: [(type, level, duration_samples), ...]} (type 1 = step), up to 10 per DAC.
    ``digital``: (holding pattern, [pattern per epoch of DAC 0]) for the digital outputs.
    """
    data = [np.asarray(d, dtype=float) for _, _, d in channels]
    n_sweeps, n_samples = data[0].shape
    k = len(channels)
    total = n_sweeps * n_samples * k
    header_blocks = 6
    raw = bytearray(header_blocks * 512 + total * 2 + 512)
    struct.pack_into("4s", raw, 0, b"ABF ")
    struct.pack_into("f", raw, 4, 1.83)
    struct.pack_into("h", raw, 8, 5)  # episodic
    struct.pack_into("i", raw, 10, total)
    struct.pack_into("i", raw, 16, n_sweeps)
    struct.pack_into("i", raw, 40, header_blocks)
    struct.pack_into("h", raw, 100, 0)  # int16 data
    struct.pack_into("h", raw, 120, k)
    struct.pack_into("f", raw, 122, 1e6 / sampling_rate_hz / k)
    struct.pack_into("i", raw, 138, n_samples * k)
    struct.pack_into("f", raw, 244, 10.0)  # fADCRange
    struct.pack_into("i", raw, 252, 2**15)  # lADCResolution
    struct.pack_into("16h", raw, 378, *range(16))
    struct.pack_into("16h", raw, 410, *(list(range(k)) + [-1] * (16 - k)))
    scales = []
    for i, (name, unit, values) in enumerate(channels):
        peak = max(float(np.abs(values).max()), 1e-9)
        scale = 32000 / peak  # counts per unit
        scales.append(scale)
        struct.pack_into("10s", raw, 442 + 10 * i, name.ljust(10).encode())
        struct.pack_into("8s", raw, 602 + 8 * i, unit.ljust(8).encode())
        struct.pack_into("f", raw, 730 + 4 * i, 1.0)
        struct.pack_into("f", raw, 922 + 4 * i, scale * 10.0 / 2**15)  # fInstrumentScaleFactor
        struct.pack_into("f", raw, 1050 + 4 * i, 1.0)
    for d, (name, unit) in enumerate(dacs[:4]):
        struct.pack_into("10s", raw, 1306 + 10 * d, name.ljust(10).encode())
        struct.pack_into("8s", raw, 1346 + 8 * d, unit.ljust(8).encode())
    for dac, rows in (epochs or {}).items():
        struct.pack_into("h", raw, 2296 + 2 * dac, 1)  # nWaveformEnable
        struct.pack_into("h", raw, 2300 + 2 * dac, 1)  # nWaveformSource: epochs
        for slot, (kind, level, duration) in enumerate(rows):
            i = dac * 10 + slot
            struct.pack_into("h", raw, 2308 + 2 * i, kind)
            struct.pack_into("f", raw, 2348 + 4 * i, level)
            struct.pack_into("i", raw, 2508 + 4 * i, duration)
    if digital is not None:
        holding, patterns = digital
        struct.pack_into("h", raw, 1436, 1)  # nDigitalEnable
        struct.pack_into("h", raw, 1440, 0)  # nActiveDACChannel
        struct.pack_into("h", raw, 1584, holding)
        struct.pack_into("10h", raw, 1588, *(list(patterns) + [0] * (10 - len(patterns))))
    block = np.stack(data, axis=-1) * np.asarray(scales)  # (sweeps, samples, channels), interleaved
    raw[header_blocks * 512: header_blocks * 512 + total * 2] = np.round(block).astype("<i2").tobytes()
    Path(path).write_bytes(bytes(raw))
    return Path(path)
