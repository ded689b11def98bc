"""Partner assignment benchmark: AVAN vs the mask pruner on held-out generated volumes and a real crop.

One JSON line per (dataset, method, measurement). Held-out volumes use seeds the training
recipe never uses (training 1000+, validation 2000+, here 5000+ by default).

    python benchmarks/bench_partners.py --volumes 4                 # accuracy, edge F1, throughput
    python benchmarks/bench_partners.py --tune                      # thresholds, on validation volumes
    python benchmarks/bench_partners.py --memory-limit-mb 1500      # block-wise run on a 2x larger volume
    python benchmarks/bench_partners.py --resolutions 4 8 16 --volumes 4   # edge F1 at other voxel sizes
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
from nwbsyn.partners.infer import POST_THRESHOLD


def emit(**row) -> None:
    print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)


def methods(use_pruner: bool):
    out = {"avan": lambda raw, seg, cl, polyadic: assign_partners(raw, seg, cl, polyadic=polyadic, device="cpu")}
    if use_pruner:
        out["mask_pruner"] = lambda raw, seg, cl, polyadic: mask_pruner_assign(raw, seg, cl, polyadic=polyadic,
                                                                               device="cpu")
    return out


def _keyed(partners: dict, k: int) -> dict:
    return {k * 1_000_000 + c: p for c, p in partners.items()}  # cleft ids unique across volumes


def run_dataset(name: str, vols, use_pruner: bool, combined: bool) -> None:
    """Dyadic mode (argmax) scored on dyadic synapses, polyadic mode on polyadic ones, as in the paper."""
    truth = {}
    for k, v in enumerate(vols):
        truth.update(_keyed(v.partners(), k))
    dyadic = {c: p for c, p in truth.items() if len(p[1]) == 1}
    poly = {c: p for c, p in truth.items() if len(p[1]) > 1}
    n_clefts = sum(len(np.unique(v.clefts)) - 1 for v in vols)
    for method, assign in methods(use_pruner).items():
        row = dict(dataset=name, method=method, measure="true_clefts", n_volumes=len(vols), n_dyadic=len(dyadic),
                   n_polyadic=len(poly))
        for polyadic in (False, True):
            pred, t = {}, time.perf_counter()
            for k, v in enumerate(vols):
                pred.update(_keyed(assign(v.raw, v.neuron_ids, v.clefts, polyadic).partners(), k))
            seconds = time.perf_counter() - t
            if polyadic:
                row.update(polyadic_edge_f1=edge_prf(partner_edges({c: pred[c] for c in poly if c in pred}),
                                                     partner_edges(poly)).f1,
                           all_edge_f1_polyadic_mode=edge_prf(partner_edges(pred), partner_edges(truth)).f1,
                           all_accuracy_polyadic_mode=assignment_accuracy(pred, truth).accuracy)
            else:
                row.update(dyadic_accuracy=assignment_accuracy({c: pred[c] for c in dyadic if c in pred},
                                                               dyadic).accuracy, clefts_per_s=n_clefts / seconds)
        emit(**row)
        if combined:
            tp = fp = fn = 0
            t = time.perf_counter()
            for v in vols:
                found = detect_clefts(v.raw, device="cpu")
                s = synapse_edge_f1(found.labels, assign(v.raw, v.neuron_ids, found, True).edges(), v.clefts,
                                    v.edges())
                tp, fp, fn = tp + s.n_true_positive, fp + s.n_false_positive, fn + s.n_false_negative
            p, r = tp / max(1, tp + fp), tp / max(1, tp + fn)
            emit(dataset=name, method=method, measure="detected_clefts", edge_precision=p, edge_recall=r,
                 edge_f1=2 * p * r / max(1e-12, p + r), seconds_per_volume=(time.perf_counter() - t) / len(vols))


def validation_volumes():
    """The tuning set: the training recipe's validation volumes and 8 of the benchmark's shape (seeds 3000, 3100)."""
    return (simulate_dataset(4, rng=2000, shape_zyx=(24, 192, 192), polyadic_fraction=0.4)
            + simulate_dataset(4, rng=3000, shape_zyx=(32, 256, 256))
            + simulate_dataset(4, rng=3100, shape_zyx=(32, 256, 256)))


def _pooled_f1(vols, label_volumes, results, post_threshold) -> float:
    from nwbsyn.partners.infer import _choose

    tp = fp = fn = 0
    for v, labels, res in zip(vols, label_volumes, results):
        pred = {int(c): _choose(cands, polyadic=True, post_threshold=post_threshold)[::2]
                for c, cands in zip(res.cleft_ids, res.candidates)}
        s = synapse_edge_f1(labels, partner_edges(pred), v.clefts, v.edges())
        tp, fp, fn = tp + s.n_true_positive, fp + s.n_false_positive, fn + s.n_false_negative
    return 2 * tp / max(1, 2 * tp + fp + fn)


def tune(vols) -> None:
    """On validation volumes: edge F1 with detected clefts per cleft filter (size, mean probability),
    then per minimum contact x post threshold, with detected and with true clefts."""
    from nwbsyn.partners.infer import MIN_CLEFT_SCORE, MIN_CLEFT_VOXELS, clefts_from_labels

    raw_dets = [detect_clefts(v.raw, device="cpu", min_score=0.0, min_voxels=1) for v in vols]

    def detected(min_voxels, min_score):
        out = []
        for d in raw_dets:
            keep = d.cleft_ids[(d.num_voxels >= min_voxels) & (d.scores >= min_score)]
            out.append(clefts_from_labels(np.where(np.isin(d.labels, keep), d.labels, 0), probability=d.probability))
        return out

    for min_voxels, min_score in ((100, 0.74), (70, 0.74), (70, 0.8), (60, 0.8), (70, 0.85)):
        tables = detected(min_voxels, min_score)
        res = [assign_partners(v.raw, v.neuron_ids, t, device="cpu") for v, t in zip(vols, tables)]
        emit(dataset="validation", method="avan", measure="tune_cleft_filter", min_voxels=min_voxels,
             min_score=min_score, edge_f1=_pooled_f1(vols, [t.labels for t in tables], res, POST_THRESHOLD))
    tables = detected(MIN_CLEFT_VOXELS, MIN_CLEFT_SCORE)
    for clefts in ("detected", "true"):
        for min_contact in (0, 10, 20, 25, 30):
            res = [assign_partners(v.raw, v.neuron_ids, t if clefts == "detected" else v.clefts, device="cpu",
                                   min_contact_voxels=min_contact) for v, t in zip(vols, tables)]
            labels = [t.labels for t in tables] if clefts == "detected" else [v.clefts for v in vols]
            for post in np.round(np.arange(0.3, 0.75, 0.05), 2):
                emit(dataset="validation", method="avan", measure="tune_contact_post", clefts=clefts,
                     min_contact_voxels=min_contact, post_threshold=float(post),
                     edge_f1=_pooled_f1(vols, labels, res, post))


def real_crop(path: str, seed: int):
    import h5py

    with h5py.File(path, "r") as f:  # the crop is 4 nm in-plane; the networks work at 8 nm
        raw, seg = f["volumes/raw"][:, ::2, ::2], f["volumes/labels/neuron_ids"][:, ::2, ::2]
    return [paint_synapses(raw, seg, voxel_size_nm=(40.0, 8.0, 8.0), n_synapses=20, rng=seed + k) for k in range(3)]


def real_crop_native(path: str, seed: int, n: int = 3):
    """Synapses painted onto the real crop at its own 40 x 4 x 4 nm (the networks run resampled)."""
    import h5py

    with h5py.File(path, "r") as f:
        raw, seg = f["volumes/raw"][:], f["volumes/labels/neuron_ids"][:]
    return [paint_synapses(raw, seg, voxel_size_nm=(40.0, 4.0, 4.0), n_synapses=20, rng=seed + k) for k in range(n)]


def real_native_run(path: str, seed: int) -> None:
    tp = fp = fn = 0
    for v in real_crop_native(path, seed):
        found = detect_clefts(v.raw, device="cpu", voxel_size_nm=v.voxel_size_nm)
        res = assign_partners(v.raw, v.neuron_ids, found, device="cpu", voxel_size_nm=v.voxel_size_nm)
        s = synapse_edge_f1(found.labels, res.edges(), v.clefts, v.edges())
        tp, fp, fn = tp + s.n_true_positive, fp + s.n_false_positive, fn + s.n_false_negative
    p, r = tp / max(1, tp + fp), tp / max(1, tp + fn)
    emit(dataset="cremi_B_painted_4nm", method="avan", measure="detected_clefts", voxel_size_nm=[40.0, 4.0, 4.0],
         n_volumes=3, edge_precision=p, edge_recall=r, edge_f1=2 * tp / max(1, 2 * tp + fp + fn), n_true_edges=tp + fn)


def _detect_and_assign(path, workspace, block_zyx, queue) -> None:
    """Child process: block-wise detection + assignment from HDF5; reports its own peak RSS."""
    import resource

    import h5py

    t = time.perf_counter()
    with h5py.File(path, "r") as f:
        found = detect_clefts(f["raw"], workspace=workspace, block_zyx=block_zyx, device="cpu", progress_bar=True)
        res = assign_partners(f["raw"], f["seg"], found, device="cpu")
    queue.put(dict(n_clefts=len(found), n_edges=len(res.edges()), seconds=time.perf_counter() - t,
                   peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def memory_run(limit_mb: float, seed: int, block_zyx=(16, 128, 128)) -> None:
    """Detect + assign on an HDF5 volume whose raw + segmentation bytes are twice ``limit_mb``.

    The volume is written here; the analysis runs in a fresh process, so its peak RSS is the
    analysis' own (not the generator's).
    """
    import multiprocessing as mp
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
        ctx = mp.get_context("spawn")
        queue = ctx.Queue()
        child = ctx.Process(target=_detect_and_assign, args=(path, Path(tmp) / "ws.h5", block_zyx, queue))
        child.start()
        out = queue.get()
        child.join()
    emit(dataset="tiled_generated", method="avan", measure="blockwise_memory", shape=list(shape),
         volume_mb=shape[0] * shape[1] * shape[2] * bytes_per_voxel / 2**20, limit_mb=limit_mb,
         block_zyx=list(block_zyx), within_limit=bool(out["peak_rss_mb"] <= limit_mb), **out)


def resolution_run(in_plane_nm, n_volumes: int, seed: int, extent_nm=(1280.0, 2048.0, 2048.0)) -> None:
    """Edge F1 with detected clefts on generated volumes at ``in_plane_nm`` (z 40 nm), the same
    physical extent at every resolution; the networks run resampled to their training grid.

    One line per volume and one pooled line per resolution (held-out: simulate_dataset(rng=seed)).
    """
    for vs in in_plane_nm:
        voxel = (40.0, float(vs), float(vs))
        shape = tuple(int(round(e / v)) for e, v in zip(extent_nm, voxel))
        tp = fp = fn = ttp = tfp = tfn = 0
        t0 = time.perf_counter()
        # the seeds of the default run (simulate_dataset(rng=seed)): at 8 nm the very volumes it scores
        for k, v in enumerate(simulate_dataset(n_volumes, rng=seed, shape_zyx=shape, voxel_size_nm=voxel)):
            t = time.perf_counter()
            found = detect_clefts(v.raw, device="cpu", voxel_size_nm=voxel)
            res = assign_partners(v.raw, v.neuron_ids, found, device="cpu", voxel_size_nm=voxel)
            s = synapse_edge_f1(found.labels, res.edges(), v.clefts, v.edges())
            seconds = time.perf_counter() - t
            given = assign_partners(v.raw, v.neuron_ids, v.clefts, device="cpu", voxel_size_nm=voxel)
            g = synapse_edge_f1(v.clefts, given.edges(), v.clefts, v.edges())
            tp, fp, fn = tp + s.n_true_positive, fp + s.n_false_positive, fn + s.n_false_negative
            ttp, tfp, tfn = ttp + g.n_true_positive, tfp + g.n_false_positive, tfn + g.n_false_negative
            emit(dataset="generated", method="avan", measure="resolution_volume", voxel_size_nm=list(voxel),
                 shape=list(shape), volume=k, n_synapses=len(v.synapses), n_detected=len(found),
                 edge_f1=s.f1, edge_precision=s.precision, edge_recall=s.recall, true_cleft_edge_f1=g.f1,
                 seconds=seconds)
        p, r = tp / max(1, tp + fp), tp / max(1, tp + fn)
        emit(dataset="generated", method="avan", measure="resolution", voxel_size_nm=list(voxel), shape=list(shape),
             n_volumes=n_volumes, seed=seed, edge_precision=p, edge_recall=r,
             edge_f1=2 * tp / max(1, 2 * tp + fp + fn), true_cleft_edge_f1=2 * ttp / max(1, 2 * ttp + tfp + tfn),
             n_true_edges=tp + fn, seconds=time.perf_counter() - t0)


def tune_resolution(pixel_nm: float, seeds=(3000, 3001, 3002), extent_nm=(1280.0, 2048.0, 2048.0)) -> None:
    """Assignment settings for detected clefts at one in-plane voxel size, on validation volumes
    (seeds 3000+, never the held-out 5000+): mask threshold x minimum contact x post threshold."""
    from itertools import product

    from nwbsyn.partners import simulate_volume

    voxel = (40.0, float(pixel_nm), float(pixel_nm))
    shape = tuple(int(round(e / v)) for e, v in zip(extent_nm, voxel))
    vols = [simulate_volume(shape_zyx=shape, voxel_size_nm=voxel, rng=s) for s in seeds]
    dets = [detect_clefts(v.raw, device="cpu", voxel_size_nm=voxel) for v in vols]
    for mask_threshold, min_contact in product((0.0, 0.6, 0.8, 0.9), (25, 40)):
        res = [assign_partners(v.raw, v.neuron_ids, d, device="cpu", voxel_size_nm=voxel, mask_threshold=mask_threshold,
                               min_contact_voxels=min_contact) for v, d in zip(vols, dets)]
        for post in (0.4, 0.5, 0.6, 0.7):
            emit(dataset="validation", method="avan", measure="tune_resolution", voxel_size_nm=list(voxel),
                 seeds=list(seeds), mask_threshold=mask_threshold, min_contact_voxels=min_contact,
                 post_threshold=post, edge_f1=_pooled_f1(vols, [d.labels for d in dets], res, post))


def tune_filter(pixel_nm: float, seeds=(3000, 3001, 3002), extent_nm=(1280.0, 2048.0, 2048.0)) -> None:
    """Cleft size and score filter at one in-plane voxel size, on validation volumes (seeds 3000+):
    sizes in voxels of that grid, edge F1 with detected clefts and the default assignment."""
    from nwbsyn.partners import clefts_from_labels, simulate_volume

    voxel = (40.0, float(pixel_nm), float(pixel_nm))
    shape = tuple(int(round(e / v)) for e, v in zip(extent_nm, voxel))
    vols = [simulate_volume(shape_zyx=shape, voxel_size_nm=voxel, rng=s) for s in seeds]
    raw = [detect_clefts(v.raw, device="cpu", voxel_size_nm=voxel, min_score=0.0, min_voxels=1) for v in vols]
    per_8nm = (8.0 / pixel_nm) ** 2  # input voxels per 40 x 8 x 8 nm voxel
    for size_8nm in (30, 40, 50, 70):
        for min_score in (0.74, 0.78):
            tp = fp = fn = 0
            for v, d in zip(vols, raw):
                keep = d.cleft_ids[(d.num_voxels >= np.ceil(size_8nm * per_8nm)) & (d.scores >= min_score)]
                t = clefts_from_labels(np.where(np.isin(d.labels, keep), d.labels, 0), probability=d.probability)
                res = assign_partners(v.raw, v.neuron_ids, t, device="cpu", voxel_size_nm=voxel)
                sc = synapse_edge_f1(t.labels, res.edges(), v.clefts, v.edges())
                tp, fp, fn = tp + sc.n_true_positive, fp + sc.n_false_positive, fn + sc.n_false_negative
            emit(dataset="validation", method="avan", measure="tune_filter", voxel_size_nm=list(voxel),
                 min_voxels=int(np.ceil(size_8nm * per_8nm)), min_score=min_score,
                 edge_f1=2 * tp / max(1, 2 * tp + fp + fn))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--volumes", type=int, default=4)
    ap.add_argument("--shape", type=int, nargs=3, default=[32, 256, 256])
    ap.add_argument("--seed", type=int, default=5000)
    ap.add_argument("--tune", action="store_true", help="tune the inference thresholds on validation volumes")
    ap.add_argument("--no-combined", action="store_true", help="skip cleft detection (true clefts only)")
    ap.add_argument("--real", default="../shared/data/em/cremi_sampleB_sec46-50_500x500.hdf",
                    help="real CREMI crop to paint synapses onto ('' to skip)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--memory-limit-mb", type=float, help="only the block-wise memory run, with this RSS budget")
    ap.add_argument("--block", type=int, nargs=3, default=[16, 128, 128], help="block of the memory run (z y x)")
    ap.add_argument("--resolutions", type=float, nargs="+", metavar="NM",
                    help="only edge F1 at these in-plane voxel sizes (z 40 nm), --volumes volumes each")
    ap.add_argument("--tune-resolution", type=float, metavar="NM",
                    help="only tune the assignment settings at this in-plane voxel size (validation volumes)")
    ap.add_argument("--tune-filter", type=float, metavar="NM",
                    help="only tune the cleft size/score filter at this in-plane voxel size (validation volumes)")
    args = ap.parse_args()
    import os

    import torch

    torch.set_num_threads(args.threads)
    if args.tune_filter:
        tune_filter(args.tune_filter)
        return
    if args.tune_resolution:
        tune_resolution(args.tune_resolution)
        return
    if args.resolutions:
        resolution_run(args.resolutions, args.volumes, args.seed)
        if args.real and os.path.exists(args.real):
            real_native_run(args.real, args.seed)
        return
    if args.memory_limit_mb:
        memory_run(args.memory_limit_mb, args.seed, tuple(args.block))
        return
    if args.tune:
        tune(validation_volumes())
        return
    use_pruner = DEFAULT_PRUNER_MODEL.exists()
    vols = simulate_dataset(args.volumes, rng=args.seed, shape_zyx=tuple(args.shape))
    run_dataset("generated", vols, use_pruner, combined=not args.no_combined)
    if args.real and os.path.exists(args.real):
        run_dataset("cremi_B_painted", real_crop(args.real, args.seed), use_pruner, combined=not args.no_combined)


if __name__ == "__main__":
    main()
