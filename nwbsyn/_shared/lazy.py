"""The one way nwbsyn keeps torch (and other heavy imports) out of ``import nwbsyn``.

A package lists the names that need torch and the module that defines each; they are
imported on first access and then cached in the package. Modules that define networks import
torch at their top; every other module imports it inside the function that needs it.

Example
-------
>>> import types
>>> pkg = types.ModuleType("demo_pkg")
>>> pkg.__getattr__, pkg.__dir__ = lazy_exports(pkg, {"sqrt": "math"})
>>> pkg.sqrt(9.0), "sqrt" in dir(pkg)
(3.0, True)
"""

from __future__ import annotations

import importlib
import sys
import types

__all__ = ["lazy_exports"]


def lazy_exports(module, names: dict[str, str]):
    """``(__getattr__, __dir__)`` for ``module`` (a module or its name) that import ``names`` lazily.

    ``names`` maps an attribute to the module defining it. Use at the end of a package's
    ``__init__``: ``__getattr__, __dir__ = lazy_exports(__name__, {...})``.
    """

    def _module():
        return module if isinstance(module, types.ModuleType) else sys.modules[module]

    def __getattr__(name: str):
        if name not in names:
            raise AttributeError(f"module {_module().__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(names[name]), name)
        setattr(_module(), name, value)  # later lookups skip __getattr__
        return value

    def __dir__():
        return sorted(set(vars(_module())) | set(names))

    return __getattr__, __dir__
