"""Test helpers shipped with ndx-nwbsyn: mock builders for every type (:mod:`ndx_nwbsyn.testing.mock`)."""

from ndx_nwbsyn.testing.mock import *  # noqa: F401,F403
from ndx_nwbsyn.testing.mock import __all__  # noqa: F401
