"""Partner assignment benchmark: AVAN vs the mask pruner on held-out generated volumes and a real crop.

One JSON line per (dataset, method, measurement). Held-out volumes use seeds the training
recipe never uses (training 1000+, validation 2000+, here 5000+ by default).

    python benchmarks/bench_partners.py --volumes 4                 # accuracy, edge F1, throughput
    python benchmarks/bench_partners.py --tune --volumes 3          # post threshold on validation volumes
    python benchmarks/bench_partners.py --memory-limit-mb 1500      # block-wise run on a 2x larger volume
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from nwbsyn.partners import (
    assign_partners,
    assignment_accuracy,
    detect_clefts,
    edge_prf,
    paint_synapses,
    partner_edges,
    simulate_dataset,
    synapse_edge_f1,
)
from nwbsyn.partners.baselines import DEFAULT_PRUNER_MODEL, mask_pruner_assign


def emit(**row) -> None:
    print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)


def split_scores(pred: dict, truth: dict) -> dict:
    """Dyadic accuracy and polyadic edge F1, given the true clefts."""
    dyadic = {c: v for c, v in truth.items() if len(v[1]) == 1}
    poly = {c: v for c, v in truth.items() if len(v[1]) > 1}
    acc = assignment_accuracy({c: pred[c] for c in dyadic if c in pred}, dyadic)
    poly_edges = edge_prf(partner_edges({c: pred[c] for c in poly if c in pred}), partner_edges(poly))
    return dict(dyadic_accuracy=acc.accuracy, n_dyadic=acc.n_clefts, polyadic_edge_f1=poly_edges.f1,
                n_polyadic=len(poly), all_accuracy=assignment_accuracy(pred, truth).accuracy)


def methods(use_pruner: bool):
    out = {"avan": lambda raw, seg, cl, **kw: assign_partners(raw, seg, cl, device="cpu", **kw)}
    if use_pruner:
        out["mask_pruner"] = lambda raw, seg, cl, polyadic=True, **kw: mask_pruner_assign(
            raw, seg, cl, polyadic=polyadic, device="cpu")
    return out


def run_dataset(name: str, vols, use_pruner: bool, combined: bool) -> None:
    for method, assign in methods(use_pruner).items():
        pred, truth, seconds, n_clefts = {}, {}, 0.0, 0
        det_pred, det_true, det_seconds = [], [], 0.0
        for k, v in enumerate(vols):
            t = time.perf_counter()
            res = assign(v.raw, v.neuron_ids, v.clefts)
            seconds += time.perf_counter() - t
            n_clefts += len(np.unique(v.clefts)) - 1
            pred.update({k * 1_000_000 + c: p for c, p in res.partners().items()})  # unique across volumes
            truth.update({k * 1_000_000 + c: p for c, p in v.partners().items()})
            if combined:
                t = time.perf_counter()
                found = detect_clefts(v.raw, device="cpu")
                det_res = assign(v.raw, v.neuron_ids, found)
                det_seconds += time.perf_counter() - t
                det_pred.append((found.labels, det_res.edges()))
                det_true.append((v.clefts, v.edges()))
        emit(dataset=name, method=method, measure="true_clefts", n_volumes=len(vols),
             clefts_per_s=n_clefts / seconds, **split_scores(pred, truth))
        if combined:
            tp = fp = fn = 0
            for (pl, pe), (tl, te) in zip(det_pred, det_true):
                s = synapse_edge_f1(pl, pe, tl, te)
                tp, fp, fn = tp + s.n_true_positive, fp + s.n_false_positive, fn + s.n_false_negative
            p, r = tp / max(1, tp + fp), tp / max(1, tp + fn)
            emit(dataset=name, method=method, measure="detected_clefts", edge_precision=p, edge_recall=r,
                 edge_f1=2 * p * r / max(1e-12, p + r), seconds_per_volume=det_seconds / len(vols))


def tune(vols) -> None:
    """Grid of post thresholds on validation volumes: edge F1 (all synapses) for each."""
    cache = [assign_partners(v.raw, v.neuron_ids, v.clefts, device="cpu") for v in vols]
    from nwbsyn.partners.infer import _choose

    for t in np.round(np.arange(0.2, 0.85, 0.05), 2):
        tp = fp = fn = 0
        for v, res in zip(vols, cache):
            pred = {int(c): _choose(cands, polyadic=True, post_threshold=t)[::2]
                    for c, cands in zip(res.cleft_ids, res.candidates)}
            s = edge_prf(partner_edges(pred), v.edges())
            tp, fp, fn = tp + s.n_true_positive, fp + s.n_false_positive, fn + s.n_false_negative
        p, r = tp / max(1, tp + fp), tp / max(1, tp + fn)
        emit(dataset="validation", method="avan", measure="tune_post_threshold", post_threshold=float(t),
             edge_f1=2 * p * r / max(1e-12, p + r))


def real_crop(path: str, seed: int):
    import h5py

    with h5py.File(path, "r") as f:  # the crop is 4 nm in-plane; the networks work at 8 nm
        raw, seg = f["volumes/raw"][:, ::2, ::2], f["volumes/labels/neuron_ids"][:, ::2, ::2]
    return [paint_synapses(raw, seg, voxel_size_nm=(40.0, 8.0, 8.0), n_synapses=20, rng=seed + k) for k in range(3)]


def memory_run(limit_mb: float, seed: int) -> None:
    """Detect + assign on an HDF5 volume whose raw + segmentation bytes are twice ``limit_mb``; peak RSS."""
    import resource
    import tempfile
    from pathlib import Path

    import h5py

    tile = simulate_dataset(1, rng=seed, shape_zyx=(32, 256, 256))[0]
    bytes_per_voxel = 1 + 8
    n_tiles = int(np.ceil(2 * limit_mb * 2**20 / (tile.raw.size * bytes_per_voxel)))
    side = int(np.ceil(np.sqrt(n_tiles)))
    shape = (32, 256 * side, 256 * side)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.h5"
        with h5py.File(path, "w") as f:
            raw = f.create_dataset("raw", shape=shape, dtype=np.uint8, chunks=(8, 128, 128))
            seg = f.create_dataset("seg", shape=shape, dtype=np.uint64, chunks=(8, 128, 128))
            for i in range(side):
                for j in range(side):
                    sl = (slice(None), slice(256 * i, 256 * (i + 1)), slice(256 * j, 256 * (j + 1)))
                    raw[sl] = tile.raw
                    seg[sl] = tile.neuron_ids + (i * side + j) * 10_000
        data_mb = path.stat().st_size / 2**20
        t = time.perf_counter()
        with h5py.File(path, "r") as f:
            found = detect_clefts(f["raw"], workspace=Path(tmp) / "ws.h5", device="cpu", progress_bar=True)
            res = assign_partners(f["raw"], f["seg"], found, device="cpu")
        seconds = time.perf_counter() - t
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    emit(dataset="tiled_generated", method="avan", measure="blockwise_memory", shape=list(shape),
         volume_mb=shape[0] * shape[1] * shape[2] * bytes_per_voxel / 2**20, file_mb=data_mb,
         limit_mb=limit_mb, peak_rss_mb=peak_mb, within_limit=bool(peak_mb <= limit_mb), n_clefts=len(found),
         n_edges=len(res.edges()), seconds=seconds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--volumes", type=int, default=4)
    ap.add_argument("--shape", type=int, nargs=3, default=[32, 256, 256])
    ap.add_argument("--seed", type=int, default=5000)
    ap.add_argument("--tune", action="store_true", help="tune the polyadic threshold on validation volumes")
    ap.add_argument("--no-combined", action="store_true", help="skip cleft detection (true clefts only)")
    ap.add_argument("--real", default="../shared/data/em/cremi_sampleB_sec46-50_500x500.hdf",
                    help="real CREMI crop to paint synapses onto ('' to skip)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--memory-limit-mb", type=float, help="only the block-wise memory run, with this RSS budget")
    args = ap.parse_args()
    import os

    import torch

    torch.set_num_threads(args.threads)
    if args.memory_limit_mb:
        memory_run(args.memory_limit_mb, args.seed)
        return
    if args.tune:
        tune(simulate_dataset(args.volumes, rng=2000, shape_zyx=(24, 192, 192), polyadic_fraction=0.4))
        return
    use_pruner = DEFAULT_PRUNER_MODEL.exists()
    vols = simulate_dataset(args.volumes, rng=args.seed, shape_zyx=tuple(args.shape))
    run_dataset("generated", vols, use_pruner, combined=not args.no_combined)
    if args.real and os.path.exists(args.real):
        run_dataset("cremi_B_painted", real_crop(args.real, args.seed), use_pruner, combined=not args.no_combined)


if __name__ == "__main__":
    main()
