"""benchmarks/preview_partners_simulate.py: render a few sections of a simulated EM volume to a PNG.

python benchmarks/preview_partners_simulate.py -o partners_preview.png [--seed 0]
"""

import argparse
import json
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from nwbsyn.partners import simulate_volume  # noqa: E402


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("-o", "--output", default="partners_preview.png")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-sections", type=int, default=3)
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    vol = simulate_volume(rng=a.seed)
    seconds = time.perf_counter() - t0
    # sections through the largest clefts
    zs = sorted({int(round(s.centroid_zyx[0])) for s in sorted(vol.synapses, key=lambda s: -s.n_voxels)})
    zs = (zs or [vol.shape[0] // 2])[: a.n_sections]
    rng = np.random.default_rng(0)
    colours = rng.uniform(0.2, 1.0, (int(vol.neuron_ids.max()) + 1, 3))
    colours[0] = 0
    fig, axes = plt.subplots(len(zs), 4, figsize=(20, 5 * len(zs)), squeeze=False)
    for row, z in zip(axes, zs):
        row[0].imshow(vol.raw[z], cmap="gray", vmin=0, vmax=255)
        row[0].set_title(f"raw z={z}")
        row[1].imshow(colours[vol.neuron_ids[z].astype(np.intp)])
        row[1].set_title("neuron_ids")
        row[2].imshow(vol.raw[z], cmap="gray", vmin=0, vmax=255)
        cl = np.ma.masked_equal(vol.clefts[z].astype(float), 0)
        row[2].imshow(cl, cmap="autumn", alpha=0.8)
        for s in vol.synapses:
            if abs(s.centroid_zyx[0] - z) < 3:
                row[2].annotate(f"{s.cleft_id}:{len(s.post_ids)}", s.centroid_zyx[:0:-1], color="cyan")
        row[2].set_title("clefts (id:number of partners)")
        near = [s for s in vol.synapses if abs(s.centroid_zyx[0] - z) < 1]
        syn = max(near, key=lambda s: len(s.post_ids)) if near else vol.synapses[0]
        cy, cx = (int(np.clip(round(c), 40, n - 40)) for c, n in zip(syn.centroid_zyx[1:], vol.shape[1:]))
        crop = (slice(cy - 40, cy + 40), slice(cx - 40, cx + 40))
        row[3].imshow(vol.raw[z][crop], cmap="gray", vmin=0, vmax=255)
        row[3].contour(vol.clefts[z][crop] == syn.cleft_id, levels=[0.5], colors="r", linewidths=0.8)
        row[3].set_title(f"zoom: cleft {syn.cleft_id}, pre {syn.pre_id}, post {syn.post_ids}")
        for ax in row:
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(a.output, dpi=70)
    print(json.dumps({"bench": "preview_partners_simulate", "seconds": round(seconds, 2),
                      "n_synapses": len(vol.synapses), "output": a.output}))


if __name__ == "__main__":
    main()
