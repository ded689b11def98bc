"""Self-contained HTML QC reports of the nwbsyn results in an NWB file.

``write_report(path, output_path=...)`` finds results by type (synaptic events, functional
connectivity, EM synaptic partners) and writes one HTML page with embedded figures.
Importing this package does not import matplotlib; drawing does.
"""

from nwbsyn.report._page import ReportContents, build_report, default_report_path, find_results, write_report

__all__ = ["ReportContents", "build_report", "default_report_path", "find_results", "write_report"]
