"""``nwbsyn report``, ``nwbsyn export`` and ``nwbsyn demo``."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from nwbsyn.cli.core import add_output_arguments, add_quiet_argument

_REPORT_EPILOG = """\
examples:
  nwbsyn report cell1_nwbsyn.nwb                     -> cell1_nwbsyn_report.html beside the file
  nwbsyn report session_nwbsyn.nwb -o qc/session.html
  nwbsyn events detect cell1.nwb && nwbsyn report cell1_nwbsyn.nwb

What the page shows, for every nwbsyn result found in the file (by type, wherever it is stored):
  synaptic events     trace with detected onsets and the detector score, average event, amplitude /
                      rise / half-decay / score distributions, frequency over time, per-trace statistics
  connectivity        weight matrix, strongest connections (figure + table), neuron embeddings (PCA),
                      held-out fit metrics
  EM partners         slices through synapses with the cleft and the pre/post partners outlined,
                      dyadic/polyadic counts, a list of synapses
and a header with the session, the subject and the provenance of every model (name, method,
weights sha256, parameters). The page is one self-contained file: figures are embedded PNGs, the
style is inline, nothing is fetched from the network.
"""

_DEMO_EPILOG = """\
examples:
  nwbsyn demo                       everything in ./nwbsyn_demo (about 2-3 minutes on 2 CPU cores)
  nwbsyn demo -o /tmp/demo --quiet
  nwbsyn demo --quick               tiny datasets: a smoke test in well under a minute

Steps (each writes <name>.nwb, the enriched <name>_nwbsyn.nwb, validated, and <name>_report.html):
  1 events        3 sweeps x 30 s of simulated EPSCs -> shipped detector; F1 of onsets within 2 ms
  2 connectivity  40 units of a planted recurrent network (200 s) -> SynapsNet; AUROC, forecast r
  3 partners      EM volume (24 x 192 x 192) with dyadic and polyadic synapses -> clefts and partners;
                  edge F1 against the planted synapses
The last lines print a table of what was planted and what was found. Existing demo files in
the folder are replaced; nothing else is touched.
"""


def add_parsers(subparsers) -> None:
    report = subparsers.add_parser(
        "report", help="write a self-contained HTML QC report of the nwbsyn results in a file",
        description="Draw the nwbsyn results of an NWB file (synaptic events, functional connectivity, "
                    "EM synaptic partners) into one self-contained HTML page for quality control.",
        epilog=_REPORT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    report.add_argument("input", metavar="FILE.nwb", help="NWB file with nwbsyn results (see 'nwbsyn info')")
    add_output_arguments(report, metavar="REPORT.html", in_place=False, help="where to write the page",
                         default="<input stem>_report.html beside the input", overwrite="replace an existing report")
    report.set_defaults(handler=_cmd_report)

    export = subparsers.add_parser(
        "export", help="write the nwbsyn tables of a file as CSV (and Parquet)",
        description="Write every nwbsyn table of an NWB file into a folder, one CSV per table, in practical "
                    "units named in the headers: synaptic events (one row per event, onsets on the session "
                    "clock) and a per-trace summary, EM clefts and partners, connectivity edges by unit id "
                    "(strongest first, with robust z-scores). Parquet files too when pyarrow is installed.",
        epilog="examples:\n  nwbsyn export cell1_nwbsyn.nwb -o cell1_tables\n"
               "  nwbsyn export cell1_nwbsyn.nwb -o cell1_tables --overwrite --no-parquet",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    export.add_argument("input", metavar="FILE.nwb", help="NWB file with nwbsyn results")
    add_output_arguments(export, metavar="DIR", in_place=False, help="folder to create",
                         default="<input stem>_tables beside the input", overwrite="replace an existing folder's tables")
    export.add_argument("--no-parquet", action="store_true", help="CSV only, even when pyarrow is installed")
    export.set_defaults(handler=_cmd_export)

    demo = subparsers.add_parser(
        "demo", help="simulate data, run all three analyses, compare with the planted truth",
        description="Build example NWB files with nwbsyn's simulators (a patch-clamp recording with "
                    "spontaneous events, a population recording with a planted network, an EM volume with "
                    "dyadic and polyadic synapses), run every analysis with the shipped models, write and "
                    "validate the enriched files and their HTML reports, and print planted vs found.",
        epilog=_DEMO_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_output_arguments(demo, metavar="DIR", in_place=False, help="output folder", default="nwbsyn_demo",
                         aliases=("--out",), overwrite=None)
    demo.set_defaults(output="nwbsyn_demo")
    demo.add_argument("--quick", action="store_true", help="tiny datasets (seconds; noisier scores)")
    demo.add_argument("--seed", type=int, default=0, help="seed of every simulation and fit (default 0)")
    add_quiet_argument(demo, help="no progress bars or step messages")
    demo.set_defaults(handler=_cmd_demo)


def _cmd_report(args: argparse.Namespace) -> int:
    from nwbsyn.report import write_report

    path = write_report(args.input, output_path=args.output, overwrite=args.overwrite)
    print(f"{path} ({path.stat().st_size / 1e6:.1f} MB): open it in a web browser")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from nwbsyn.io.export import export_tables

    source = Path(args.input)
    out_dir = Path(args.output) if args.output else source.with_name(f"{source.stem}_tables")
    print(export_tables(source, out_dir=out_dir, overwrite=args.overwrite, parquet=not args.no_parquet).format())
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from nwbsyn.demo import run_demo

    logger = logging.getLogger("nwbsyn")
    level = logger.level
    if args.quiet:
        logger.setLevel(logging.WARNING)
    try:
        summary = run_demo(out_dir=args.output, progress_bar=not args.quiet, quick=args.quick, seed=args.seed)
    finally:
        logger.setLevel(level)
    print(summary.format())
    return 0 if summary.ok else 1
