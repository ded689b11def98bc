"""``nwbsyn batch``: one analysis over many files or whole dandisets, on Dask."""

from __future__ import annotations

import argparse

from nwbsyn.cli.core import add_output_arguments, add_quiet_argument

_EPILOG = """\
examples:
  nwbsyn batch DANDI:000123 --analysis events -o results/          every NWB asset of a dandiset
  nwbsyn batch 000123 --glob 'sub-01/*icephys*.nwb' -o results/ --workers 4
  nwbsyn batch https://host/a.nwb cells/ --analysis auto -o results/   URLs and local folders
  nwbsyn batch DANDI:000123@0.230101.1200 -o results/ --scheduler tcp://10.0.0.5:8786

Outputs mirror the asset paths under -o (complete NWB files, validated) with a dandiset.yaml,
so 'dandi validate results/' passes and the folder can be uploaded as a derived dandiset. The
summary (asset, status, error, statistics, seconds) is printed and written to
results/nwbsyn_batch_summary.csv and .parquet. Run the same command again to resume: assets whose
output exists are skipped. Without a version, a dandiset's latest published version is used (the
draft if it has none). Exit code: 0 when every asset succeeded or was skipped, 1 when some failed,
2 for a bad command line or unreachable sources.
"""

_SHOWN = ["asset", "analysis", "status", "n_events", "mean_amplitude", "frequency_hz", "n_neurons", "forecast_r",
          "n_clefts", "n_edges", "seconds", "error"]


def add_parsers(subparsers) -> None:
    parser = subparsers.add_parser(
        "batch", help="run an analysis over many files or a whole dandiset (Dask)",
        description="Run one analysis over dandisets, DANDI assets, URLs and local NWB files in parallel on Dask "
                    "(a local cluster by default). Each asset is an isolated task: failures are recorded and the "
                    "others go on; remote files are streamed.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sources", nargs="+", metavar="SOURCE",
                        help="dandiset (000123, DANDI:000123[@version]), DANDI asset, URL, .nwb file or folder")
    parser.add_argument("--analysis", default="events", choices=["events", "connectivity", "partners", "auto"],
                        help="what to run (default: events; auto: chosen per file from its contents)")
    add_output_arguments(parser, metavar="DIR", in_place=False, required=True, aliases=("--out",),
                         help="output folder (mirrors the asset paths)",
                         overwrite="re-run assets whose output exists (no resume)")
    parser.add_argument("--glob", metavar="PATTERN", help="only assets whose path matches, e.g. 'sub-*/*.nwb'")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, metavar="N", help="local Dask workers (default: one per CPU core)")
    where.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                       help="use an existing Dask cluster ('inline': no Dask, one asset after another)")
    parser.add_argument("--dandi-api", metavar="URL",
                        help="DANDI API URL (default: $NWBSYN_DANDI_API_URL or the DANDI archive)")
    parser.add_argument("--retries", type=int, default=2,
                        help="retries after transient network errors (0 to 10, default 2)")
    parser.add_argument("--no-validate", action="store_true", help="skip pynwb/nwbinspector checks of the outputs")
    add_quiet_argument(parser, help="no progress bar")
    parser.set_defaults(handler=_cmd_batch)


def _cmd_batch(args: argparse.Namespace) -> int:
    from nwbsyn import batch

    summary = batch.run(args.sources, analysis=args.analysis, out_dir=args.output, glob=args.glob,
                        n_workers=args.workers, scheduler=args.scheduler, retries=args.retries,
                        overwrite=args.overwrite, validate=not args.no_validate, dandi_api_url=args.dandi_api,
                        progress_bar=not args.quiet)
    shown = summary[[c for c in _SHOWN if c in summary and summary[c].notna().any()]]
    print(shown.to_string(index=False, na_rep="-", float_format=lambda v: f"{v:.3g}"))
    counts = summary["status"].value_counts().to_dict()
    print(", ".join(f"{n} {status}" for status, n in counts.items()) +
          f" -> {args.output} (summary: {batch.SUMMARY_NAME}.csv, .parquet)")
    return 1 if counts.get("failed") else 0
