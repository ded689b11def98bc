"""Assign synaptic partners in a CREMI volume (raw + neuron_ids [+ clefts]) and compare with its annotations.

    python examples/assign_partners_cremi.py sample_A.hdf                 # detect clefts, assign partners
    python examples/assign_partners_cremi.py sample_A.hdf --clefts given  # use the file's cleft labels
    python examples/assign_partners_cremi.py                              # a generated volume with known synapses

Writes <input>_nwbsyn.nwb (processing/misc: clefts, partners, provenance) and synapses.png.
When the file has partner annotations, prints the accuracy against them.
"""

import argparse
from pathlib import Path

from nwbsyn import io, partners
from nwbsyn.io.nwb import write_new_nwb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", nargs="?", help="CREMI .hdf file (default: a generated volume)")
    parser.add_argument("--clefts", choices=["detect", "given"], default="detect")
    parser.add_argument("--shape", type=int, nargs=3, default=[16, 192, 192], help="generated volume size (z y x)")
    parser.add_argument("--out", type=Path, default=Path("."), help="output folder")
    args = parser.parse_args()

    source = args.input
    if source is None:  # a generated volume, written in the CREMI layout
        sim = partners.simulate_volume(shape_zyx=tuple(args.shape), rng=7)
        source = partners.write_cremi(args.out / "generated.hdf", sim)
    volume = partners.read_cremi(source)
    nwbfile = partners.nwbfile_from_cremi(volume, source=str(source))
    inp, result = partners.run_on_nwbfile(nwbfile, clefts=args.clefts, progress_bar=False)[0]
    output = io.default_output_path(args.out / Path(source).name)
    write_new_nwb(nwbfile, output, overwrite=True)
    partners.plot_synapses(inp, result, path=args.out / "synapses.png")

    n_poly = sum(len(p) > 1 for p in result.post_ids)
    print(f"results: {len(result.clefts)} clefts, {len(result.edges())} edges ({n_poly} polyadic synapses) -> {output}")
    if volume.synapses:
        truth = {s.cleft_id: (s.pre_id, s.post_ids) for s in volume.synapses}
        if args.clefts == "given":
            print(f"assignment accuracy vs annotations: {partners.assignment_accuracy(result.partners(), truth).accuracy:.3f}")
        else:
            score = partners.synapse_edge_f1(result.clefts.labels, result.edges(), volume.clefts,
                                             partners.partner_edges(truth))
            print(f"edge F1 vs annotations: {score.f1:.3f} (precision {score.precision:.3f}, recall {score.recall:.3f})")


if __name__ == "__main__":
    main()
