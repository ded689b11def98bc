"""``nwbsyn connectivity fit``."""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack
from pathlib import Path

from nwbsyn.cli import core

_EPILOG = """\
examples:
  nwbsyn connectivity fit session.nwb                      Units (bin chosen from the data) or ROI traces
  nwbsyn connectivity fit session.nwb --source Deconvolved --behavior running_speed --plot conn.png
  nwbsyn connectivity fit session.nwb --no-behavior        leave processing['behavior'] out
  nwbsyn connectivity fit session.nwb --source units --bin-ms 10 -o out.nwb
  nwbsyn connectivity fit day1.nwb --checkpoint day1.pt; nwbsyn connectivity fit day2.nwb --init day1.pt

Results go to processing['ecephys'] (Units) or processing['ophys'] (ROIs): 'functional_connectivity'
(FunctionalConnectivity: weights[pre, post] referencing the Units/ROI rows, neuron embeddings, forecast
metrics and a fit_quality record on held-out data), 'functional_connectivity_edges' (one row per edge:
pre, post, weight, p_value from held-out circular-shift surrogates, z), 'functional_connectivity_model'
(ModelProvenance: bin and how it was chosen, behaviour used) and, for Units, the 'binned_spike_counts' it
was fitted on. Positive weights are excitatory, negative inhibitory. Without --bin-ms, Units are binned at
10, 20 or 50 ms, whichever forecasts held-out spikes best; every TimeSeries in processing['behavior']
is used as behaviour unless --behavior NAME or --no-behavior is given. A warning is printed when the
held-out forecast is no better than a ridge VAR or r <= 0. Figures: presynaptic on rows, labelled by id.
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
    fit.add_argument("--bin-ms", type=float,
                     help="bin size (default: chosen from the data for Units, native rate for ROIs)")
    beh = fit.add_mutually_exclusive_group()
    beh.add_argument("--behavior", metavar="NAME", default="auto",
                     help="TimeSeries of behavioural covariates to condition on (default: all TimeSeries in "
                          "processing['behavior'])")
    beh.add_argument("--no-behavior", dest="behavior", action="store_const", const=None,
                     help="fit without behaviour even when processing['behavior'] holds some")
    core.add_output_arguments(fit)
    fit.add_argument("--seed", type=int, default=0, help="seed of initialisation and batch order (0 to 2**32 - 1)")
    fit.add_argument("--max-epochs", type=int, default=200, help="early stopping on a chronological validation block")
    core.add_device_argument(fit)
    fit.add_argument("--checkpoint", metavar="MODEL.pt", help="also save the fitted model here")
    fit.add_argument("--init", metavar="MODEL.pt",
                     help="start the shared decoder from a model saved with --checkpoint (same kind of data)")
    core.add_plot_argument(fit, help="also draw the weight matrix and strongest connections")
    core.add_quiet_argument(fit, help="no progress bar")
    fit.set_defaults(handler=_cmd_fit)


def _check_arguments(args: argparse.Namespace) -> None:
    """Refuse options that cannot run, before any file is read."""
    import math

    from nwbsyn._shared import InputError, pick_device

    if args.max_epochs < 1:
        raise InputError(f"--max-epochs must be at least 1; got {args.max_epochs}.")
    if not 0 <= args.seed < 2 ** 32:
        raise InputError(f"--seed must be an integer from 0 to 4294967295; got {args.seed}.")
    if args.bin_ms is not None and not (math.isfinite(args.bin_ms) and args.bin_ms > 0):
        raise InputError(f"--bin-ms must be a positive number of milliseconds; got {args.bin_ms:g}.")
    if not str(args.source).strip():
        raise InputError("--source is empty; give 'units', 'rois' or the name of a RoiResponseSeries.")
    if args.behavior is not None and args.behavior != "auto" and not args.behavior.strip():
        raise InputError("--behavior is empty; give the name of a TimeSeries.")
    args.device = pick_device(args.device)
    core.check_plot_path(args.plot)


def _side_output(stack: ExitStack, path, *, args, option: str, others, what: str):
    """Check and claim a second output (figure, checkpoint) before the fit; return its temporary path."""
    claim = core.claim_side_output(stack, path, option=option, what=what, others=others, inputs=[args.input, args.init],
                              overwrite=args.overwrite)
    return None if claim is None else stack.enter_context(claim.temporary(suffix=Path(path).suffix))


def _cmd_fit(args: argparse.Namespace) -> int:
    from nwbsyn import connectivity, io
    from nwbsyn._shared import InputError
    from nwbsyn.io.output import same_file

    _check_arguments(args)
    nwb_out = args.input if args.in_place else (args.output or io.default_output_path(args.input))
    if args.init and same_file(nwb_out, args.init):
        raise InputError(f"The NWB output {nwb_out} is the starting model given to --init; choose another output "
                         "path (inputs are never overwritten).")
    start = connectivity.read_checkpoint(args.init) if args.init else None
    with ExitStack() as stack:
        plot_tmp = _side_output(stack, args.plot, args=args, option="--plot", what="figure",
                                others=[("the NWB output", nwb_out)])
        ckpt_tmp = _side_output(stack, args.checkpoint, args=args, option="--checkpoint", what="checkpoint",
                                others=[("the NWB output", nwb_out), ("--plot", args.plot)])
        with io.edit_nwb(args.input, output=args.output, in_place=args.in_place,
                         overwrite=args.overwrite) as nwbfile:
            run = connectivity.run_on_nwbfile(
                nwbfile, source=args.source, bin_ms=args.bin_ms, behavior=args.behavior, seed=args.seed,
                max_epochs=args.max_epochs, device=args.device, overwrite=args.overwrite,
                progress_bar=not args.quiet, checkpoint=ckpt_tmp, init_from=start)
            inp, result = run[0]
            if plot_tmp is not None:  # drawn from the FunctionalConnectivity the run wrote, as the report
                connectivity.plot_connectivity(run, path=plot_tmp)
    print(run.summary(where=args.input if args.in_place else nwb_out))
    quality = result.metrics.get("fit_quality", {})
    if quality.get("warning"):
        print(f"warning: {quality['warning']}", file=sys.stderr)
    return 0
