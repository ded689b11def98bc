"""``nwbsyn connectivity fit``."""

from __future__ import annotations

import argparse

from nwbsyn.cli.events import add_output_arguments

_EPILOG = """\
examples:
  nwbsyn connectivity fit session.nwb                      Units (20 ms bins) or ROI traces
  nwbsyn connectivity fit session.nwb --source rois --behavior running_speed --plot conn.png
  nwbsyn connectivity fit session.nwb --source units --bin-ms 10 -o out.nwb

Results go to processing['ecephys'] (Units) or processing['ophys'] (ROIs): 'functional_connectivity'
(FunctionalConnectivity: weights[pre, post] referencing the Units/ROI rows, neuron embeddings, forecast
metrics on held-out data), 'functional_connectivity_model' (ModelProvenance) and, for Units, the
'binned_spike_counts' it was fitted on. Positive weights are excitatory, negative inhibitory.
"""


def add_parsers(subparsers) -> None:
    group = subparsers.add_parser("connectivity", help="learn functional connectivity (SynapsNet method)",
                                  description="Learned functional connectivity from population activity with "
                                              "SynapsNet: a per-session adjacency matrix, neuron embeddings "
                                              "and a shared dynamical decoder.")
    sub = group.add_subparsers(dest="connectivity_command", metavar="COMMAND", required=True)
    fit = sub.add_parser("fit", help="fit connectivity on the Units or ROI traces of an NWB file",
                         description="Fit SynapsNet on binned Units spike counts (Poisson loss) or ROI traces "
                                     "(MSE loss) and write the directed connectivity back as NWB.",
                         epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    fit.add_argument("input", metavar="IN.nwb")
    fit.add_argument("--source", default="auto",
                     help="'units', 'rois' or the name of a RoiResponseSeries (default: Units if present)")
    fit.add_argument("--bin-ms", type=float, help="bin size (default 20 ms for Units, native rate for ROIs)")
    fit.add_argument("--behavior", metavar="NAME", help="TimeSeries of behavioural covariates to condition on")
    add_output_arguments(fit)
    fit.add_argument("--seed", type=int, default=0, help="seed of initialisation and batch order")
    fit.add_argument("--max-epochs", type=int, default=200, help="early stopping on a chronological validation block")
    fit.add_argument("--device", default="auto", help="torch device: auto, cpu, cuda, ...")
    fit.add_argument("--plot", metavar="FILE.png", help="also draw the weight matrix and strongest connections")
    fit.add_argument("--quiet", action="store_true", help="no progress bar")
    fit.set_defaults(handler=_cmd_fit)


def _cmd_fit(args: argparse.Namespace) -> int:
    from nwbsyn import connectivity, io

    with io.edit_nwb(args.input, output=args.output, in_place=args.in_place, overwrite=args.overwrite) as nwbfile:
        inp, result = connectivity.run_on_nwbfile(
            nwbfile, source=args.source, bin_ms=args.bin_ms, behavior=args.behavior, seed=args.seed,
            max_epochs=args.max_epochs, device=args.device, overwrite=args.overwrite, progress_bar=not args.quiet)
        if args.plot:
            connectivity.plot_connectivity(result, path=args.plot, labels=[str(r) for r in inp.rows])
    where = args.input if args.in_place else (args.output or io.default_output_path(args.input))
    metrics = ", ".join(f"{k} {v:.3f}" for k, v in result.metrics.items() if isinstance(v, float))
    print(f"{inp.activity.shape[1]} {inp.kind} x {inp.activity.shape[0]} bins of {inp.dt_s * 1e3:g} ms -> {where}")
    print(f"  held-out: {metrics}")
    return 0
