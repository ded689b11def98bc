"""nwbsyn: synaptic physiology as a first-class citizen of NWB.

``import nwbsyn`` loads the ``ndx-nwbsyn`` namespace and registers a Python class for
every extension type (see :mod:`nwbsyn.types`). It does not import torch, dask or dandi.

Example
-------
>>> import nwbsyn
>>> nwbsyn.NAMESPACE
'ndx-nwbsyn'
"""

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from pynwb import load_namespaces

try:
    __version__ = version("nwbsyn")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

NAMESPACE = "ndx-nwbsyn"

_installed = Path(__file__).parent / "spec" / f"{NAMESPACE}.namespace.yaml"
_source_tree = Path(__file__).resolve().parents[1] / "spec" / f"{NAMESPACE}.namespace.yaml"
NAMESPACE_PATH = _installed if _installed.exists() else _source_tree
load_namespaces(str(NAMESPACE_PATH))

from nwbsyn._shared import InputError  # noqa: E402
from nwbsyn.types import *  # noqa: E402,F401,F403
from nwbsyn.types import __all__ as _types_all  # noqa: E402

__all__ = ["__version__", "NAMESPACE", "NAMESPACE_PATH", "InputError", *_types_all]
