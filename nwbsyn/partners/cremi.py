"""The CREMI file format moved to :mod:`nwbsyn.io.cremi` (file formats live under ``io``); these names stay."""

from nwbsyn.io.cremi import (  # noqa: F401
    CREMI_NO_CLEFT,
    CremiAnnotations,
    CremiVolume,
    cremi_from_simulated,
    cremi_synapses,
    is_cremi,
    read_cremi,
    write_cremi,
)

__all__ = ["CremiAnnotations", "CremiVolume", "read_cremi", "write_cremi", "cremi_from_simulated",
           "cremi_synapses", "is_cremi", "CREMI_NO_CLEFT"]
