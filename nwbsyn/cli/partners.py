"""``nwbsyn partners simulate|assign|train``."""

from __future__ import annotations

import argparse
from pathlib import Path

from nwbsyn.cli import core

_ASSIGN_EPILOG = """\
examples:
  nwbsyn partners assign volume.nwb                        detect clefts, assign partners -> volume_nwbsyn.nwb
  nwbsyn partners assign sample_A.hdf -o sample_A.nwb      a CREMI file (raw + neuron_ids) becomes NWB
  nwbsyn partners assign volume.nwb --clefts given --no-polyadic --plot synapses.png

The input holds an EMImageVolume and its segmentation (EMLabelVolume), or is a CREMI HDF5 file.
Any voxel size works: the networks run on the volume resampled to their training resolution
(model cards; 40 x 8 x 8 nm, and a cleft network at 40 x 16 x 16 nm) and the results are mapped
back to the volume's grid; a note is printed when the volume is more than 2x away from it.
Results go to processing['misc']: 'cleft_labels' (EMLabelVolume), 'synaptic_clefts'
(SynapticCleftTable: id, centroid in voxels, size, bounding box, score, confidence,
low_confidence), 'synaptic_partners' (SynapticPartnerTable: one row per (presynaptic,
postsynaptic) segment edge, with confidence and low_confidence) and the networks'
ModelProvenance. Confidences are probabilities calibrated on validation volumes; items under
0.5 are marked low_confidence. --clefts given uses the file's cleft labels (CREMI
/volumes/labels/clefts). Score a result with 'nwbsyn partners score', view it with
'nwbsyn partners export'.
"""


def add_parsers(subparsers) -> None:
    group = subparsers.add_parser("partners", help="synaptic clefts and partners in EM volumes (AVAN method)",
                                  description="Synaptic cleft detection and partner assignment in 3D EM volumes "
                                              "(AVAN method: the cleft mask as attention for a 3D U-Net).")
    sub = group.add_subparsers(dest="partners_command", metavar="COMMAND", required=True)
    assign = sub.add_parser("assign", help="detect clefts and assign pre/postsynaptic partners (NWB or CREMI in)",
                            description="Detect synaptic clefts (or use given ones) and assign each its presynaptic "
                                        "and postsynaptic segments; writes the cleft and partner tables as NWB.",
                            epilog=_ASSIGN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    assign.add_argument("input", metavar="IN", help="NWB file with an EM volume + segmentation, or a CREMI .hdf")
    core.add_output_arguments(assign)
    assign.add_argument("--clefts", choices=["detect", "given"], default="detect",
                        help="detect clefts with the cleft network (default) or use the file's cleft labels")
    assign.add_argument("--polyadic", action=argparse.BooleanOptionalAction, default=True,
                        help="allow several postsynaptic partners per cleft (default: yes)")
    assign.add_argument("--image", metavar="NAME", help="EMImageVolume to use when the file holds several")
    assign.add_argument("--segmentation", metavar="NAME", help="EMLabelVolume of neurite ids (default: the image's)")
    assign.add_argument("--threshold", type=float, default=0.5, help="cleft probability threshold (default 0.5)")
    assign.add_argument("--min-voxels", type=int,
                        help="smallest detected cleft kept, in voxels (default: the value tuned on validation volumes)")
    assign.add_argument("--post-threshold", type=float, metavar="P",
                        help="polyadic: every candidate whose postsynaptic score reaches P is a partner "
                             "(default: tuned on validation volumes)")
    assign.add_argument("--min-contact", type=int, metavar="VOXELS", dest="min_contact_voxels",
                        help="candidates need this many voxels touching the cleft, counted on the networks' "
                             "training grid (default: tuned on validation volumes for the cleft network used)")
    assign.add_argument("--cleft-model", default="default", help="'default' or a checkpoint from 'partners train'")
    assign.add_argument("--association-model", default="default", help="'default' or a checkpoint")
    core.add_device_argument(assign)
    core.add_weights_argument(assign, help="do not store the network weights in the output")
    core.add_plot_argument(assign, help="also draw a few synapses: EM slice, cleft, pre/post")
    core.add_quiet_argument(assign)
    core.add_subject_arguments(assign, when=" of a CREMI input")
    assign.set_defaults(handler=_cmd_assign)

    train = sub.add_parser(
        "train", help="train the cleft or association network on generated (or CREMI) volumes",
        description="Train the residual 3D U-Net as cleft detector or association network. Without --data the "
                    "generator's recipe is used (the shipped networks). Writes MODEL.pt and MODEL.card.json.",
        epilog="examples:\n  nwbsyn partners train --task association -o avan_association.pt   (shipped network)\n"
               "  nwbsyn partners train --task cleft --data a.hdf b.hdf -o my_clefts.pt --iterations 3000",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    train.add_argument("--task", choices=["cleft", "association", "mask-pruner"], required=True,
                       help="cleft detector, association network, or the mask pruner baseline's pair classifier")
    core.add_output_arguments(train, metavar="MODEL.pt", in_place=False, required=True, help="checkpoint to write",
                         overwrite="replace an existing MODEL.pt and its card")
    train.add_argument("--data", nargs="+", metavar="FILE.hdf",
                       help="CREMI files with raw, neuron_ids, clefts and partner annotations (default: generator)")
    train.add_argument("--iterations", type=int, default=1200, help="training steps of 4 patches (default 1200)")
    train.add_argument("--learning-rate", type=float, default=1e-3, help="Adam step size (default 1e-3)")
    train.add_argument("--init", metavar="MODEL.pt", help="continue training this checkpoint (same task and widths)")
    train.add_argument("--mask-dilation", type=float, default=0.0, metavar="P",
                       help="association: share of patches whose cleft mask is dilated 1-2 px (robust to detected clefts)")
    train.add_argument("--volumes", type=int, default=32, metavar="N",
                       help="generated training volumes (default 32, the shipped recipe; ignored with --data)")
    train.add_argument("--data-seed", type=int, default=1000,
                       help="seed of the generated training volumes (default 1000; validation stays at 2000)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--voxel-size-nm", nargs=3, type=float, default=[40.0, 8.0, 8.0], metavar=("Z", "Y", "X"),
                       help="voxel size of the generated training volumes (default 40 8 8, the shipped networks'); "
                            "recorded in the model card, inference resamples other volumes to it")
    core.add_device_argument(train)
    core.add_quiet_argument(train)
    train.set_defaults(handler=_cmd_train)

    score = sub.add_parser(
        "score", help="CREMI-style scores of a result against annotated clefts and partners",
        description="Score the clefts and partner edges of an 'nwbsyn partners assign' result against the "
                    "annotations of a CREMI file (cleft labels and/or partner annotations) or of an NWB file "
                    "holding partner tables: cleft ADGT/ADF distances (CREMI), per-cleft precision/recall and "
                    "edge precision/recall/F1. Prints a summary, then the same numbers as one JSON line.",
        epilog="example: nwbsyn partners score sample_A.hdf sample_A_nwbsyn.nwb",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    score.add_argument("volume", metavar="VOLUME", help="CREMI .hdf (or NWB) file with the annotations")
    score.add_argument("result", metavar="RESULT.nwb", help="output of 'nwbsyn partners assign'")
    score.add_argument("--match-distance-nm", type=float, default=400.0,
                       help="an edge matches an annotated edge of the same segments this close (default 400)")
    score.add_argument("--distance-threshold-nm", type=float, default=200.0,
                       help="cleft voxels farther than this count as missed/false (CREMI: 200)")
    score.set_defaults(handler=_cmd_score)

    export = sub.add_parser(
        "export", help="neuroglancer layers of a result: precomputed volumes, annotations and a state JSON",
        description="Write the EM image, the segmentation and the clefts of an 'nwbsyn partners assign' result as "
                    "neuroglancer precomputed volumes (needs nwbsyn[neuroglancer], i.e. tensorstore), a point "
                    "annotation per cleft and a line annotation per pre -> post edge (ids, scores, confidence), and "
                    "state.json opening them together. Serve DIR's parent over HTTP with CORS (e.g. 'npx http-server "
                    "--cors -p 9000') and paste state.json into neuroglancer.",
        epilog="example: nwbsyn partners export volume_nwbsyn.nwb -o volume_ng",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    export.add_argument("result", metavar="RESULT.nwb", help="output of 'nwbsyn partners assign'")
    core.add_output_arguments(export, metavar="DIR", in_place=False, required=True,
                         help="a new folder (an existing one is refused)", overwrite=None)
    export.add_argument("--url-prefix", default="http://127.0.0.1:9000",
                        help="where DIR's parent will be served; the state's sources start with it "
                             "(default http://127.0.0.1:9000)")
    export.set_defaults(handler=_cmd_export)

    simulate = sub.add_parser(
        "simulate", help="generate a synthetic EM volume with exact synapse ground truth (CREMI HDF5)",
        description="Generate an anisotropic EM-like volume: neurites with boutons and spines, membranes, "
                    "synapses (cleft, vesicle cloud, postsynaptic density; dyadic and polyadic), distractors "
                    "and imaging artefacts. Written in the CREMI layout with neuron ids, cleft labels and "
                    "partner annotations.",
        epilog="example: nwbsyn partners simulate -o volume.hdf --shape 32 256 256 --seed 3")
    core.add_output_arguments(simulate, metavar="VOL.hdf", in_place=False, required=True, help="CREMI file to write",
                         overwrite="replace an existing output file")
    simulate.add_argument("--shape", nargs=3, type=int, default=[32, 256, 256], metavar=("Z", "Y", "X"))
    simulate.add_argument("--voxel-size-nm", nargs=3, type=float, default=[40.0, 8.0, 8.0], metavar=("Z", "Y", "X"))
    simulate.add_argument("--polyadic-fraction", type=float, default=0.3, help="share of polyadic synapses")
    simulate.add_argument("--seed", type=int, default=0)
    simulate.set_defaults(handler=_cmd_simulate)


def _check_assign_options(args: argparse.Namespace) -> None:
    """Every option of ``partners assign``, before any file is read."""
    import math

    from nwbsyn._shared import InputError, pick_device
    from nwbsyn.partners._checks import check_fraction

    if not (math.isfinite(args.threshold) and 0 < args.threshold < 1):
        raise InputError(f"--threshold {args.threshold} must lie between 0 and 1 (a cleft probability).")
    if args.post_threshold is not None:
        check_fraction(args.post_threshold, option="--post-threshold")
    for option, value in (("--min-voxels", args.min_voxels), ("--min-contact", args.min_contact_voxels)):
        if value is not None and value < 0:
            raise InputError(f"{option} {value} must be 0 or more (voxels).")
    pick_device(args.device)
    core.check_plot_path(args.plot)


def _claim_plot(stack, args: argparse.Namespace, *, output: Path):
    """Check and lock the --plot file (never an input or the NWB output), or None without --plot."""
    return core.claim_side_output(stack, args.plot, option="--plot", what="figure", others=[("the NWB output", output)],
                             inputs=[args.input], overwrite=args.overwrite)


def _check_not_a_model(args: argparse.Namespace, *, output: Path) -> None:
    """The NWB output and the figure never replace a --cleft-model/--association-model file."""
    from nwbsyn._shared import InputError
    from nwbsyn.io.output import same_file

    models = [(o, m) for o, m in (("--cleft-model", args.cleft_model), ("--association-model", args.association_model))
              if m not in (None, "default")]
    for what, path in (("output", output), ("--plot figure", args.plot)):
        for option, model in models:
            if path and same_file(path, model):
                raise InputError(f"The {what} {path} is the {option} file; choose another output path (inputs are "
                                 "never overwritten).")


def _check_models(args: argparse.Namespace) -> None:
    """Load the networks once before any analysis: a bad --cleft-model/--association-model fails at once."""
    from nwbsyn.partners.infer import load_network

    load_network(args.association_model, task="association")
    if args.clefts == "detect":
        load_network(args.cleft_model, task="cleft")


def _save_plot(claim, figure) -> None:
    if claim is None:
        return
    with claim.temporary() as tmp:
        figure.savefig(tmp, dpi=110)


def _cmd_assign(args: argparse.Namespace) -> int:
    import sys

    from nwbsyn.io.cremi import is_cremi_input

    _check_assign_options(args)
    options = dict(image=args.image, segmentation=args.segmentation, clefts=args.clefts, polyadic=args.polyadic,
                   threshold=args.threshold, cleft_model=args.cleft_model,
                   association_model=args.association_model, device=args.device, embed_weights=not args.no_weights,
                   overwrite=args.overwrite, progress_bar=not args.quiet)
    options.update({k: getattr(args, k) for k in ("min_voxels", "post_threshold", "min_contact_voxels")
                    if getattr(args, k) is not None})  # unset: the library's tuned defaults
    where, run = (_assign_cremi if is_cremi_input(args.input) else _assign_nwb)(args, options)
    for note in run.results[0].notes:
        print(f"note: {note}", file=sys.stderr)
    print(run.summary(where=where))
    return 0


def _assign_nwb(args: argparse.Namespace, options: dict):
    from contextlib import ExitStack

    from nwbsyn import io, partners
    from nwbsyn.io.cremi import check_em_input
    from nwbsyn.io.nwb import check_nwb_path
    from nwbsyn.io.remote import is_remote

    if not is_remote(args.input):
        check_em_input(args.input)
        check_nwb_path(args.input)
    where = Path(args.input if args.in_place else (args.output or io.default_output_path(args.input)))
    _check_not_a_model(args, output=where)
    figure = None
    with ExitStack() as stack:
        plot_claim = _claim_plot(stack, args, output=where)
        with io.edit_nwb(args.input, output=args.output, in_place=args.in_place, overwrite=args.overwrite) as nwbfile:
            _check_models(args)
            run = partners.run_on_nwbfile(nwbfile, **options)
            if plot_claim is not None:  # drawn while the input is open; saved once the NWB file is written
                figure = partners.plot_synapses(*run[0])  # from the tables the run wrote
        _save_plot(plot_claim, figure)
    return where, run


def _assign_cremi(args: argparse.Namespace, options: dict):
    from contextlib import ExitStack

    from nwbsyn import io, partners
    from nwbsyn._shared import InputError
    from nwbsyn.io.cremi import check_cremi_layout, nwbfile_from_cremi_file
    from nwbsyn.io.nwb import write_new_nwb
    from nwbsyn.io.output import claim_output

    if args.in_place:
        raise InputError(f"{args.input} is a CREMI file and cannot hold NWB results; write them to a new file with "
                         "-o OUT.nwb.")
    where = Path(args.output or io.default_output_path(args.input))
    _check_not_a_model(args, output=where)
    with ExitStack() as stack:
        claim = stack.enter_context(claim_output(where, inputs=[args.input], overwrite=args.overwrite))
        plot_claim = _claim_plot(stack, args, output=where)
        subject = core.subject_from_arguments(args)
        check_cremi_layout(args.input, clefts=args.clefts)
        _check_models(args)
        nwbfile = nwbfile_from_cremi_file(args.input, subject=subject, clefts=args.clefts)
        run = partners.run_on_nwbfile(nwbfile, **options)
        figure = partners.plot_synapses(*run[0]) if plot_claim is not None else None
        write_new_nwb(nwbfile, where, claim=claim)
        _save_plot(plot_claim, figure)
    return where, run


def _check_train_options(args: argparse.Namespace) -> None:
    import math

    from nwbsyn._shared import InputError, pick_device
    from nwbsyn.partners._checks import check_fraction, check_memory, check_seed

    for option, value in (("--iterations", args.iterations), ("--volumes", args.volumes)):
        if value < 1:
            raise InputError(f"{option} {value} must be 1 or more.")
    if not (math.isfinite(args.learning_rate) and args.learning_rate > 0):
        raise InputError(f"--learning-rate {args.learning_rate} must be a positive number.")
    check_fraction(args.mask_dilation, option="--mask-dilation")
    check_seed(args.seed, option="--seed")
    check_seed(args.data_seed, option="--data-seed")
    from nwbsyn.partners._checks import SIMULATE_VOXEL_LIMITS_NM, check_voxel_size

    check_voxel_size(args.voxel_size_nm, name="--voxel-size-nm", limits_nm=SIMULATE_VOXEL_LIMITS_NM,
                     hint="what the simulator models")
    if args.init and args.task == "mask-pruner":
        raise InputError("--init continues a cleft or association network; leave it out with --task mask-pruner.")
    pick_device(args.device)
    if not args.data:
        from nwbsyn.partners import train

        recipe = dict(train.DEFAULT_RECIPE, n_volumes=args.volumes)
        check_memory(train.estimate_memory_bytes(recipe), what=f"--volumes {args.volumes} (generated training "
                     "volumes held in memory)", fix="choose fewer --volumes")


def _cmd_train(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from nwbsyn.io.output import check_output
    from nwbsyn.partners import train

    _check_train_options(args)
    inputs = [*(args.data or []), *([args.init, train.card_path(args.init)] if args.init else [])]
    for path, what in ((args.output, "model file"), (train.card_path(args.output), "model card")):
        check_output(path, inputs=inputs, overwrite=args.overwrite, what=what)
    config = train.TrainConfig(task=args.task if args.task != "mask-pruner" else "association",
                               iterations=args.iterations, seed=args.seed, learning_rate=args.learning_rate,
                               init_from=args.init, mask_dilation_prob=args.mask_dilation,
                               voxel_size_nm=tuple(args.voxel_size_nm))
    train.check_init_from(config)
    volumes = val = description = None
    recipe = dict(train.DEFAULT_RECIPE, n_volumes=args.volumes, seed=args.data_seed)
    if tuple(args.voxel_size_nm) != (40.0, 8.0, 8.0):
        recipe["options"] = dict(recipe["options"], voxel_size_nm=tuple(args.voxel_size_nm))
    if args.data:
        from nwbsyn.partners import read_cremi

        with read_cremi(args.data[0], lazy=True) as first:
            config = replace(config, voxel_size_nm=tuple(float(v) for v in first.resolution_nm))
        volumes = [train.LabelledVolume.from_cremi(p) for p in args.data]
        volumes, val = (volumes[:-1], volumes[-1:]) if len(volumes) > 1 else (volumes, None)
        description = "CREMI files " + ", ".join(Path(p).name for p in args.data)
    if args.task == "mask-pruner":
        from nwbsyn.partners.baselines import train_mask_pruner_and_save

        out = train_mask_pruner_and_save(args.output, volumes=volumes, iterations=args.iterations, seed=args.seed,
                                         data_description=description, device=args.device,
                                         progress_bar=not args.quiet, overwrite=args.overwrite, inputs=inputs)
    else:
        out = train.train_and_save(args.output, config=config, recipe=recipe, volumes=volumes, val_volumes=val,
                                   data_description=description, command=core.command_line(), device=args.device,
                                   progress_bar=not args.quiet, overwrite=args.overwrite, inputs=inputs)
    print(f"{out} and {train.card_path(out).name} written")
    return 0


def _cmd_score(args: argparse.Namespace) -> int:
    import math

    from nwbsyn._shared import InputError
    from nwbsyn.partners.score import score_files

    for option, value in (("--match-distance-nm", args.match_distance_nm),
                          ("--distance-threshold-nm", args.distance_threshold_nm)):
        if not (math.isfinite(value) and value > 0):
            raise InputError(f"{option} {value} must be a positive number of nm.")
    result = score_files(args.volume, args.result, match_distance_nm=args.match_distance_nm,
                         distance_threshold_nm=args.distance_threshold_nm)
    for line in result.lines():
        print(line)
    print(result.json_line())
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from nwbsyn.io.neuroglancer import export_neuroglancer

    out = export_neuroglancer(args.result, args.output, url_prefix=args.url_prefix)
    print(f"{out.folder}: {', '.join(out.layers)} ({out.n_points} cleft points, {out.n_lines} partner edges); "
          f"neuroglancer state in {out.state_path}")
    return 0


def _check_simulate_options(args: argparse.Namespace) -> None:
    from nwbsyn._shared import InputError
    from nwbsyn.partners._checks import (SIMULATE_BYTES_PER_VOXEL, SIMULATE_VOXEL_LIMITS_NM, check_fraction,
                                         check_memory, check_seed, check_voxel_size)

    shape = " ".join(map(str, args.shape))
    if min(args.shape) < 4 or min(args.shape[1:]) < 32:
        raise InputError(f"--shape {shape} is too small; give Z Y X of at least 4 32 32 voxels.")
    voxels = float(args.shape[0]) * float(args.shape[1]) * float(args.shape[2])
    check_memory(voxels * SIMULATE_BYTES_PER_VOXEL, what=f"--shape {shape} ({voxels:.3g} voxels)",
                 fix="choose a smaller --shape")
    check_voxel_size(args.voxel_size_nm, name="--voxel-size-nm",
                     limits_nm=SIMULATE_VOXEL_LIMITS_NM, hint="what the simulator models")
    check_fraction(args.polyadic_fraction, option="--polyadic-fraction")
    check_seed(args.seed, option="--seed")


def _cmd_simulate(args: argparse.Namespace) -> int:
    from nwbsyn.io.output import claim_output
    from nwbsyn.partners import simulate_volume, write_cremi

    _check_simulate_options(args)
    with claim_output(args.output, overwrite=args.overwrite) as claim:
        sim = simulate_volume(shape_zyx=tuple(args.shape), voxel_size_nm=tuple(args.voxel_size_nm),
                              polyadic_fraction=args.polyadic_fraction, rng=args.seed)
        with claim.temporary(suffix=".hdf") as tmp:
            write_cremi(tmp, sim)
    n_poly = sum(s.is_polyadic for s in sim.synapses)
    print(f"{args.output}: {sim.shape} voxels, {len(sim.synapses)} synapses ({n_poly} polyadic), "
          f"{len(sim.edges())} partner edges")
    return 0
