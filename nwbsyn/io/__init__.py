"""File access: the only place that opens or writes NWB files (local now; remote later)."""

from nwbsyn._shared.nwb import AnalysableItem, list_analysable, list_results
from nwbsyn.io.nwb import check_nwb_path, default_output_path, edit_nwb, open_nwb

__all__ = [
    "AnalysableItem",
    "check_nwb_path",
    "default_output_path",
    "edit_nwb",
    "list_analysable",
    "list_results",
    "open_nwb",
]
