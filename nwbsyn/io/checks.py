"""nwbinspector checks: the ndx-nwbsyn type checks (shipped with ndx-nwbsyn) and nwbsyn's own for any TimeSeries.

Importing this module registers both; the type checks are registered once, by ``ndx_nwbsyn.checks``.
"""

from __future__ import annotations

import numpy as np
from ndx_nwbsyn.checks import *  # noqa: F401,F403  (the type checks, registered by their own module)
from nwbinspector import Importance, InspectorMessage, register_check
from pynwb import TimeSeries


def _not_finite(value) -> bool:
    try:
        return value is not None and not np.isfinite(float(value))
    except (TypeError, ValueError):
        return False


@register_check(importance=Importance.CRITICAL, neurodata_type=TimeSeries)
def check_rate_and_starting_time_are_finite(series):
    """A TimeSeries' rate and starting_time must be finite numbers (NaN or infinity place no sample in time)."""
    bad = [name for name in ("rate", "starting_time") if _not_finite(getattr(series, name, None))]
    if bad:
        values = ", ".join(f"{name} = {getattr(series, name)}" for name in bad)
        return InspectorMessage(message=f"{series.name} has {values}; both must be finite numbers.")
    return None
