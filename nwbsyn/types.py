"""Python classes for the ndx-nwbsyn extension types.

Every type comes from :func:`pynwb.get_class` except :class:`SynapticEventsTable` and
:class:`SynapticCleftTable`, whose required columns carry a unit and therefore need
constructor logic (a plain ``VectorData`` column cannot be given a ``unit``).

Example
-------
>>> import numpy as np
>>> from nwbsyn.types import SynapticEventsTable
>>> table = SynapticEventsTable(name="events", description="demo", amplitude_unit="amperes")
>>> table.amplitude.unit
'amperes'
"""

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
]

QuantityVectorData = get_class("QuantityVectorData", NAMESPACE)
SynapticEventScoreSeries = get_class("SynapticEventScoreSeries", NAMESPACE)
ModelProvenance = get_class("ModelProvenance", NAMESPACE)
EMImageVolume = get_class("EMImageVolume", NAMESPACE)
EMLabelVolume = get_class("EMLabelVolume", NAMESPACE)
SynapticPartnerTable = get_class("SynapticPartnerTable", NAMESPACE)
FunctionalConnectivity = get_class("FunctionalConnectivity", NAMESPACE)


def _with_quantity_columns(cls_name: str, base: type, units: dict):
    """Subclass ``base`` so that its required QuantityVectorData columns are made with a unit."""

    unit_args = [
        {"name": f"{col}_unit", "type": str, "default": default, "doc": f"SI unit of the '{col}' column."}
        for col, default in units.items()
    ]

    @docval(*get_docval(base.__init__), *unit_args)
    def __init__(self, **kwargs):
        given = {col: popargs(f"{col}_unit", kwargs) for col in units}
        columns = list(kwargs.get("columns") or [])
        if not columns:  # a new, empty table: make the unit-carrying required columns
            spec = {c["name"]: c for c in base.__columns__}
            for col, unit in given.items():
                if spec[col].get("required"):
                    columns.append(QuantityVectorData(name=col, description=spec[col]["description"],
                                                      unit=unit, data=[]))
            kwargs["columns"] = columns or None
        base.__init__(self, **kwargs)

    return type(cls_name, (base,), {"__init__": __init__, "__doc__": base.__doc__, "__module__": __name__})


SynapticEventsTable = register_class("SynapticEventsTable", NAMESPACE)(
    _with_quantity_columns(
        "SynapticEventsTable",
        get_class("SynapticEventsTable", NAMESPACE),
        {"amplitude": "amperes", "baseline": "amperes"},
    )
)
SynapticCleftTable = register_class("SynapticCleftTable", NAMESPACE)(
    _with_quantity_columns(
        "SynapticCleftTable", get_class("SynapticCleftTable", NAMESPACE), {"centroid": "nanometers"}
    )
)
