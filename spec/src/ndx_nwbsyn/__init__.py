"""ndx-nwbsyn: NWB types for synaptic events, EM synaptic partners and functional connectivity.

``import ndx_nwbsyn`` loads the namespace (from the installed package, or from the
repository's ``spec/`` folder in an editable install), registers a Python class and an object
mapper for every type and imports nothing but pynwb and hdmf.

Example
-------
>>> import ndx_nwbsyn
>>> ndx_nwbsyn.NAMESPACE, ndx_nwbsyn.SCHEMA_VERSION
('ndx-nwbsyn', '0.2.0')
"""

import re
import warnings
from pathlib import Path

from pynwb import get_type_map, load_namespaces

NAMESPACE = "ndx-nwbsyn"

_installed = Path(__file__).parent / "spec" / f"{NAMESPACE}.namespace.yaml"
_source_tree = Path(__file__).resolve().parents[2] / f"{NAMESPACE}.namespace.yaml"
NAMESPACE_PATH = _installed if _installed.exists() else _source_tree

if NAMESPACE not in get_type_map().namespace_catalog.namespaces:  # nwbsyn may have loaded the same YAML
    load_namespaces(str(NAMESPACE_PATH))

#: Version of the schema this package writes; also the version of the distribution (one source: the YAML).
SCHEMA_VERSION = re.search(r"(?m)^  version: (\S+)$", NAMESPACE_PATH.read_text()).group(1)
__version__ = SCHEMA_VERSION

_loaded = str(get_type_map().namespace_catalog.get_namespace(NAMESPACE)["version"])
if _loaded != SCHEMA_VERSION:  # a file's cached schema was loaded before this package was imported
    warnings.warn(f"ndx-nwbsyn {_loaded} (cached in a file read earlier) is loaded instead of the installed "
                  f"{SCHEMA_VERSION}; import ndx_nwbsyn before reading files.", stacklevel=2)

from ndx_nwbsyn.types import *  # noqa: E402,F401,F403
from ndx_nwbsyn.types import __all__ as _types_all  # noqa: E402
from ndx_nwbsyn import io as _io  # noqa: E402,F401  (registers the object mappers)
from ndx_nwbsyn.schema import check_cached_schema  # noqa: E402

__all__ = ["NAMESPACE", "NAMESPACE_PATH", "SCHEMA_VERSION", "__version__", "check_cached_schema", *_types_all]
