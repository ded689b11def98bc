"""Write, validate, read and compare each type with pynwb's NWBH5IOFlexMixin."""

from pynwb.testing import NWBH5IOFlexMixin, TestCase

from ndx_nwbsyn.testing.mock import MOCKS


def _case(type_name: str):
    def getContainerType(self):
        return type_name

    def addContainer(self):
        self.container_name = MOCKS[type_name](nwbfile=self.nwbfile).name

    def getContainer(self, nwbfile):
        return next(o for o in nwbfile.objects.values()
                    if getattr(o, "neurodata_type", None) == type_name and o.name == self.container_name)

    return type(f"TestRoundtrip{type_name}", (NWBH5IOFlexMixin, TestCase),
                {"getContainerType": getContainerType, "addContainer": addContainer, "getContainer": getContainer})


for _name in MOCKS:
    if _name != "QuantityVectorData":  # a column: covered by the SynapticEventsTable roundtrip
        globals()[f"TestRoundtrip{_name}"] = _case(_name)
