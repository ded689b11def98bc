"""Python classes for the ndx-nwbsyn types.

Every type comes from :func:`pynwb.get_class`; a subclass is registered only where a
constructor has to do something:

* :class:`SynapticEventsTable` makes its unit-carrying required columns (``amplitude``,
  ``baseline``) with a unit, which a plain ``VectorData`` column cannot be given;
* :class:`ModelProvenance` takes the model card as a dict or JSON text and the weights as bytes;
* :class:`EMImageVolume`, :class:`EMLabelVolume` and :class:`FunctionalConnectivity` still
  accept the 0.1 keywords (``voxel_size_nm``, ``offset_nm``, ``bin_size_s``, with a
  DeprecationWarning) and offer them as read-only properties, so that code written for 0.1
  keeps working.

Example
-------
>>> from ndx_nwbsyn import EMImageVolume
>>> import numpy as np
>>> volume = EMImageVolume(name="em", description="EM", voxel_size=[40e-9, 8e-9, 8e-9],
...                        data=np.zeros((2, 4, 4), np.uint8))
>>> volume.unit, [round(v) for v in volume.voxel_size_nm]
('meters', [40, 8, 8])
"""

from __future__ import annotations

import json
import warnings

import numpy as np
from hdmf.utils import docval, get_docval, popargs
from pynwb import get_class, register_class

NAMESPACE = "ndx-nwbsyn"

__all__ = [
    "QuantityVectorData",
    "SynapticEventsTable",
    "SynapticEventScoreSeries",
    "ModelProvenance",
    "EMImageVolume",
    "EMLabelVolume",
    "SynapticCleftTable",
    "SynapticPartnerTable",
    "FunctionalConnectivity",
    "METERS_PER",
]

#: meters per unit, for the units a length attribute may be given in
METERS_PER = {"meters": 1.0, "m": 1.0, "millimeters": 1e-3, "micrometers": 1e-6, "micrometer": 1e-6,
              "um": 1e-6, "nanometers": 1e-9, "nanometer": 1e-9, "nm": 1e-9}

QuantityVectorData = get_class("QuantityVectorData", NAMESPACE)
SynapticEventScoreSeries = get_class("SynapticEventScoreSeries", NAMESPACE)
SynapticPartnerTable = get_class("SynapticPartnerTable", NAMESPACE)


def _subclass(name: str, base: type, init, extra: dict | None = None) -> type:
    attrs = {"__init__": init, "__doc__": base.__doc__, "__module__": __name__, **(extra or {})}
    return register_class(name, NAMESPACE)(type(name, (base,), attrs))


def _optional(args: list[dict], names: tuple[str, ...]) -> list[dict]:
    """docval arguments with ``names`` made optional (default None) and moved after the required ones."""
    changed = [dict(a, default=a.get("default")) if a["name"] in names else a for a in args]
    return [a for a in changed if "default" not in a] + [a for a in changed if "default" in a]


# --- events ---------------------------------------------------------------------------------------------------
def _events_table():
    base = get_class("SynapticEventsTable", NAMESPACE)
    units = {"amplitude": "amperes", "baseline": "amperes"}
    unit_args = [{"name": f"{col}_unit", "type": str, "default": unit, "doc": f"SI unit of the '{col}' column."}
                 for col, unit in units.items()]

    @docval(*get_docval(base.__init__), *unit_args)
    def __init__(self, **kwargs):
        given = {col: popargs(f"{col}_unit", kwargs) for col in units}
        columns = list(kwargs.get("columns") or [])
        if not columns:  # a new, empty table: make the unit-carrying required columns
            spec = {c["name"]: c for c in base.__columns__}
            columns = [QuantityVectorData(name=col, description=spec[col]["description"], unit=unit, data=[])
                       for col, unit in given.items()]
            kwargs["columns"] = columns
        base.__init__(self, **kwargs)

    return _subclass("SynapticEventsTable", base, __init__)


SynapticEventsTable = _events_table()


# --- clefts -----------------------------------------------------------------------------------------------
def _cleft_table():
    base = get_class("SynapticCleftTable", NAMESPACE)

    @docval(*get_docval(base.__init__), {"name": "centroid_unit", "type": str, "default": None,
                                          "doc": "Deprecated (schema 0.1, centroids in nm); ignored."})
    def __init__(self, **kwargs):
        if popargs("centroid_unit", kwargs) is not None:
            warnings.warn("centroid_unit is deprecated since ndx-nwbsyn 0.2: centroids are in voxels of the cleft "
                          "volume, like bounding_box; pass voxel coordinates.", DeprecationWarning, stacklevel=3)
        base.__init__(self, **kwargs)

    return _subclass("SynapticCleftTable", base, __init__)


SynapticCleftTable = _cleft_table()


# --- provenance -----------------------------------------------------------------------------------------------
def _provenance():
    base = get_class("ModelProvenance", NAMESPACE)
    args = [dict(a, type=(str, dict)) if a["name"] == "model_card" else
            {k: v for k, v in a.items() if k != "shape"} | {"type": ("array_data", "data", bytes)}
            if a["name"] == "weights" else a
            for a in get_docval(base.__init__)]

    @docval(*args)
    def __init__(self, **kwargs):
        card, weights = kwargs.get("model_card"), kwargs.get("weights")
        if isinstance(card, dict):
            kwargs["model_card"] = json.dumps(card, sort_keys=True, default=str)
        if isinstance(weights, bytes):
            kwargs["weights"] = np.frombuffer(weights, dtype=np.uint8)
        base.__init__(self, **kwargs)

    def card(self) -> dict:
        """The model card as a dict ({} when there is none)."""
        return json.loads(self.model_card) if self.model_card else {}

    return _subclass("ModelProvenance", base, __init__, {"card": card})


ModelProvenance = _provenance()


# --- 0.1 keywords kept as aliases -----------------------------------------------------------------------------
def _with_aliases(name: str, aliases: dict[str, tuple[str, float]]) -> type:
    """Register ``name`` accepting each old keyword ``old -> (new, new units per old unit)`` and exposing it."""
    base = get_class(name, NAMESPACE)
    args = _optional(list(get_docval(base.__init__)), tuple(new for new, _ in aliases.values()))
    old_args = [{"name": old, "type": ("array_data", "data", float, int), "default": None,
                 "doc": f"Deprecated (schema 0.1): use '{new}'."} for old, (new, _) in aliases.items()]

    @docval(*args, *old_args)
    def __init__(self, **kwargs):
        for old, (new, factor) in aliases.items():
            value = kwargs.pop(old)
            if value is None:
                continue
            if kwargs.get(new) is not None:
                raise ValueError(f"Cannot specify both '{old}' and '{new}'; use '{new}' only.")
            warnings.warn(f"'{old}' is deprecated since ndx-nwbsyn 0.2; pass '{new}' (SI units) instead.",
                          DeprecationWarning, stacklevel=3)
            kwargs[new] = (np.asarray(value, float) * factor).tolist() if np.ndim(value) else float(value) * factor
        required = [new for new, _ in aliases.values() if _is_required(base, new) and kwargs.get(new) is None]
        if required:
            raise ValueError(f"{name} needs '{required[0]}'.")
        base.__init__(self, **kwargs)

    extra = {old: property(_alias_getter(new, factor), doc=f"'{new}' in the 0.1 unit (read-only).")
             for old, (new, factor) in aliases.items()}
    return _subclass(name, base, __init__, extra)


def _is_required(base, field: str) -> bool:
    return any(a["name"] == field and "default" not in a for a in get_docval(base.__init__))


def _alias_getter(new: str, factor: float):
    def getter(self):
        value = getattr(self, new)
        if value is None:
            return None
        scale = METERS_PER.get(str(getattr(self, "unit", "meters") or "meters"), 1.0) if factor != 1.0 else 1.0
        return np.asarray(value, float) * scale / factor if np.ndim(value) else float(value) * scale / factor
    return getter


_LENGTHS = {"voxel_size_nm": ("voxel_size", 1e-9), "offset_nm": ("offset", 1e-9)}
EMImageVolume = _with_aliases("EMImageVolume", _LENGTHS)
EMLabelVolume = _with_aliases("EMLabelVolume", _LENGTHS)
FunctionalConnectivity = _with_aliases("FunctionalConnectivity", {"bin_size_s": ("bin_size", 1.0)})
