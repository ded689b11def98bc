"""Mock NWB files and objects for tests, examples and demos (shipped with the package)."""

from nwbsyn.testing.mock_inputs import (
    mock_ecephys_nwbfile,
    mock_em_nwbfile,
    mock_icephys_nwbfile,
    mock_nwbfile,
    mock_ophys_nwbfile,
)
from nwbsyn.testing.mock_types import (
    MOCK_TYPE_BUILDERS,
    mock_EMImageVolume,
    mock_EMLabelVolume,
    mock_FunctionalConnectivity,
    mock_ModelProvenance,
    mock_SynapticCleftTable,
    mock_SynapticEventScoreSeries,
    mock_SynapticEventsTable,
    mock_SynapticPartnerTable,
)

__all__ = [
    "MOCK_TYPE_BUILDERS",
    "mock_EMImageVolume",
    "mock_EMLabelVolume",
    "mock_FunctionalConnectivity",
    "mock_ModelProvenance",
    "mock_SynapticCleftTable",
    "mock_SynapticEventScoreSeries",
    "mock_SynapticEventsTable",
    "mock_SynapticPartnerTable",
    "mock_ecephys_nwbfile",
    "mock_em_nwbfile",
    "mock_icephys_nwbfile",
    "mock_nwbfile",
    "mock_ophys_nwbfile",
]
