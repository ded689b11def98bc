"""Validate an NWB file against the NWB schema (with the ndx-nwbsyn extension) and DANDI best practices.

    python examples/validate_nwb_file.py session_nwbsyn.nwb
    python examples/validate_nwb_file.py                     # a file holding every ndx-nwbsyn type

Same check as `nwbsyn validate FILE.nwb`: pynwb's schema validation (the extension's schema is
cached in files written by nwbsyn) and nwbinspector with the DANDI configuration.
"""

import argparse
import sys

from nwbsyn.io.nwb import write_new_nwb
from nwbsyn.io.validate import validate_nwb
from nwbsyn.testing import MOCK_TYPE_BUILDERS, mock_nwbfile


def file_with_every_type(path: str) -> str:
    """One small file with a mock of every ndx-nwbsyn type (events, EM volumes and tables, connectivity)."""
    nwbfile = mock_nwbfile()
    for name in ("SynapticEventsTable", "SynapticEventScoreSeries", "SynapticPartnerTable",
                 "FunctionalConnectivity"):  # these build the other types they need
        MOCK_TYPE_BUILDERS[name](nwbfile=nwbfile)
    write_new_nwb(nwbfile, path, overwrite=True)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", nargs="?", help="NWB file (default: a generated one with every nwbsyn type)")
    parser.add_argument("--threshold", default="BEST_PRACTICE_VIOLATION",
                        choices=["CRITICAL", "BEST_PRACTICE_VIOLATION", "BEST_PRACTICE_SUGGESTION"],
                        help="lowest best-practice importance that fails the file")
    args = parser.parse_args()

    path = args.file or file_with_every_type("every_nwbsyn_type.nwb")
    report = validate_nwb(path, threshold=args.threshold)
    print(report.format())
    print(f"results: {path} is {'valid' if report.ok else 'NOT valid'}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
