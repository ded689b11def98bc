"""``nwbsyn partners simulate|assign|train``."""

from __future__ import annotations

import argparse
from pathlib import Path

from nwbsyn.cli.core import add_subject_arguments, command_line, subject_from_arguments
from nwbsyn.cli.events import add_output_arguments

_ASSIGN_EPILOG = """\
examples:
  nwbsyn partners assign volume.nwb                        detect clefts, assign partners -> volume_nwbsyn.nwb
  nwbsyn partners assign sample_A.hdf -o sample_A.nwb      a CREMI file (raw + neuron_ids) becomes NWB
  nwbsyn partners assign volume.nwb --clefts given --no-polyadic --plot synapses.png

The input holds an EMImageVolume and its segmentation (EMLabelVolume), or is a CREMI HDF5 file.
Results go to processing['misc']: 'cleft_labels' (EMLabelVolume), 'synaptic_clefts'
(SynapticCleftTable: id, centroid in nm, size, bounding box, score), 'synaptic_partners'
(SynapticPartnerTable: one row per (presynaptic, postsynaptic) segment edge) and the networks'
ModelProvenance. --clefts given uses the file's cleft labels (CREMI /volumes/labels/clefts).
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
    add_output_arguments(assign)
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
                        help="candidates need this many voxels touching the cleft (default: tuned on validation "
                             "volumes; lower it for coarse resolutions)")
    assign.add_argument("--cleft-model", default="default", help="'default' or a checkpoint from 'partners train'")
    assign.add_argument("--association-model", default="default", help="'default' or a checkpoint")
    assign.add_argument("--device", default="auto", help="torch device: auto (GPU when present), cpu, cuda, ...")
    assign.add_argument("--no-weights", action="store_true", help="do not store the network weights in the output")
    assign.add_argument("--plot", metavar="FILE.png", help="also draw a few synapses: EM slice, cleft, pre/post")
    assign.add_argument("--quiet", action="store_true", help="no progress bars")
    add_subject_arguments(assign, when=" of a CREMI input")
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
    train.add_argument("-o", "--output", required=True, metavar="MODEL.pt")
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
    train.add_argument("--device", default="auto", help="torch device: auto, cpu, cuda, ...")
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    train.set_defaults(handler=_cmd_train)

    simulate = sub.add_parser(
        "simulate", help="generate a synthetic EM volume with exact synapse ground truth (CREMI HDF5)",
        description="Generate an anisotropic EM-like volume: neurites with boutons and spines, membranes, "
                    "synapses (cleft, vesicle cloud, postsynaptic density; dyadic and polyadic), distractors "
                    "and imaging artefacts. Written in the CREMI layout with neuron ids, cleft labels and "
                    "partner annotations.",
        epilog="example: nwbsyn partners simulate -o volume.hdf --shape 32 256 256 --seed 3")
    simulate.add_argument("-o", "--output", required=True, metavar="VOL.hdf")
    simulate.add_argument("--shape", nargs=3, type=int, default=[32, 256, 256], metavar=("Z", "Y", "X"))
    simulate.add_argument("--voxel-size-nm", nargs=3, type=float, default=[40.0, 8.0, 8.0], metavar=("Z", "Y", "X"))
    simulate.add_argument("--polyadic-fraction", type=float, default=0.3, help="share of polyadic synapses")
    simulate.add_argument("--seed", type=int, default=0)
    simulate.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    simulate.set_defaults(handler=_cmd_simulate)


def _is_cremi(path: str) -> bool:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return "volumes/raw" in f
    except OSError:
        return False


def _cmd_assign(args: argparse.Namespace) -> int:
    from nwbsyn import io, partners
    from nwbsyn._shared import InputError
    from nwbsyn.io.nwb import write_new_nwb

    options = dict(image=args.image, segmentation=args.segmentation, clefts=args.clefts, polyadic=args.polyadic,
                   threshold=args.threshold, cleft_model=args.cleft_model,
                   association_model=args.association_model, device=args.device, embed_weights=not args.no_weights,
                   overwrite=args.overwrite, progress_bar=not args.quiet)
    options.update({k: getattr(args, k) for k in ("min_voxels", "post_threshold", "min_contact_voxels")
                    if getattr(args, k) is not None})  # unset: the library's tuned defaults
    if Path(args.input).is_file() and _is_cremi(args.input):
        if args.in_place:
            raise InputError(f"{args.input} is a CREMI file; write the NWB result with -o OUT.nwb.")
        where = Path(args.output or io.default_output_path(args.input))
        nwbfile = partners.nwbfile_from_cremi(partners.read_cremi(args.input), source=args.input,
                                              subject=subject_from_arguments(args))
        inp, result = partners.run_on_nwbfile(nwbfile, **options)
        write_new_nwb(nwbfile, where, overwrite=args.overwrite)
        if args.plot:
            partners.plot_synapses(inp, result, path=args.plot)
    else:
        where = args.input if args.in_place else (args.output or io.default_output_path(args.input))
        with io.edit_nwb(args.input, output=args.output, in_place=args.in_place, overwrite=args.overwrite) as nwbfile:
            inp, result = partners.run_on_nwbfile(nwbfile, **options)
            if args.plot:
                partners.plot_synapses(inp, result, path=args.plot)
    n_poly = sum(len(p) > 1 for p in result.post_ids)
    print(f"{len(result.clefts)} clefts ({args.clefts}), {len(result)} with partners ({n_poly} polyadic), "
          f"{len(result.edges())} edges -> {where} (processing/misc/synaptic_partners)")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from nwbsyn.partners import train

    volumes = val = description = None
    recipe = dict(train.DEFAULT_RECIPE, n_volumes=args.volumes, seed=args.data_seed)
    if args.data:
        volumes = [train.LabelledVolume.from_cremi(p) for p in args.data]
        volumes, val = (volumes[:-1], volumes[-1:]) if len(volumes) > 1 else (volumes, None)
        description = "CREMI files " + ", ".join(Path(p).name for p in args.data)
    if args.task == "mask-pruner":
        from nwbsyn.partners.baselines import train_mask_pruner_and_save

        out = train_mask_pruner_and_save(args.output, volumes=volumes, iterations=args.iterations, seed=args.seed,
                                         data_description=description, device=args.device,
                                         progress_bar=not args.quiet)
        print(f"{out} and {out.with_suffix('.card.json').name} written")
        return 0
    config = train.TrainConfig(task=args.task, iterations=args.iterations, seed=args.seed, lr=args.learning_rate,
                               init_from=args.init, mask_dilation_prob=args.mask_dilation)
    out = train.train_and_save(args.output, config=config, recipe=recipe, volumes=volumes, val_volumes=val,
                               data_description=description, command=command_line(), device=args.device,
                               progress_bar=not args.quiet)
    print(f"{out} and {out.with_suffix('.card.json').name} written")
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from nwbsyn._shared import InputError
    from nwbsyn.partners import simulate_volume, write_cremi

    if Path(args.output).exists() and not args.overwrite:
        raise InputError(f"{args.output} already exists; pass --overwrite to replace it.")
    sim = simulate_volume(shape_zyx=tuple(args.shape), voxel_size_nm=tuple(args.voxel_size_nm),
                          polyadic_fraction=args.polyadic_fraction, rng=args.seed)
    write_cremi(args.output, sim)
    n_poly = sum(s.is_polyadic for s in sim.synapses)
    print(f"{args.output}: {sim.shape} voxels, {len(sim.synapses)} synapses ({n_poly} polyadic), "
          f"{len(sim.edges())} partner edges")
    return 0
