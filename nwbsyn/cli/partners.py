"""``nwbsyn partners simulate`` (the AVAN networks and ``partners assign`` are still to come)."""

from __future__ import annotations

import argparse


def add_parsers(subparsers) -> None:
    group = subparsers.add_parser("partners", help="synaptic partners in EM volumes (AVAN method; in progress)",
                                  description="Synaptic partner assignment in 3D EM volumes (AVAN method).")
    sub = group.add_subparsers(dest="partners_command", metavar="COMMAND", required=True)
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


def _cmd_simulate(args: argparse.Namespace) -> int:
    from pathlib import Path

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
