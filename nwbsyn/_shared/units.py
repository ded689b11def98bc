"""The one table from the SI units NWB stores to the units nwbsyn works and shows in (pA, mV, ms, ...).

Example
-------
>>> display_scale("amperes"), display_scale("volts"), display_scale("lux")
((1000000000000.0, 'pA'), (1000.0, 'mV'), (1.0, 'lux'))
"""

from __future__ import annotations

__all__ = ["DISPLAY_UNITS", "display_scale"]

#: SI unit → (factor, unit): a value in the SI unit times the factor is in the display unit.
DISPLAY_UNITS = {"amperes": (1e12, "pA"), "volts": (1e3, "mV"), "coulombs": (1e15, "fC"), "seconds": (1e3, "ms"),
                 "nanometers": (1.0, "nm")}


def display_scale(unit: str | None) -> tuple[float, str | None]:
    """(factor, display unit) for values stored in ``unit``; an unknown unit is shown as it is."""
    return DISPLAY_UNITS.get(unit, (1.0, unit))
