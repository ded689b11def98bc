"""Report section for EM synaptic partners: slices with clefts and pre/post partners outlined, counts."""

from __future__ import annotations

from collections import Counter

import numpy as np

from nwbsyn.report._html import Section, new_figure, table_html

__all__ = ["partners_section"]

_HALF_CROP = 80  # voxels on each side of a synapse in the slices shown


def _column(table, name, dtype=float):
    return np.asarray(table[name].data[:], dtype=dtype) if name in table.colnames else None


def _synapses(cleft_table, partner_table) -> list[dict]:
    """One dict per cleft row: cleft id, bounding box, size, presynaptic id and postsynaptic ids."""
    n = len(cleft_table) if cleft_table is not None else 0
    ids = _column(cleft_table, "cleft_id", np.uint64) if n else np.zeros(0, np.uint64)
    boxes = _column(cleft_table, "bounding_box", np.int64) if n else None
    sizes = _column(cleft_table, "num_voxels", np.int64) if n else None
    syn = [dict(row=r, cleft_id=int(ids[r]), box=None if boxes is None else boxes[r],
                size=0 if sizes is None else int(sizes[r]), pre=None, posts=[], scores=[]) for r in range(n)]
    if partner_table is not None and len(partner_table):
        rows = np.asarray(partner_table["cleft"].data[:], dtype=int)
        pre = _column(partner_table, "presynaptic_id", np.uint64)
        post = _column(partner_table, "postsynaptic_id", np.uint64)
        score = _column(partner_table, "postsynaptic_score")
        for k, r in enumerate(rows):
            if r >= len(syn):
                continue
            syn[r]["pre"] = int(pre[k])
            syn[r]["posts"].append(int(post[k]))
            syn[r]["scores"].append(float(score[k]) if score is not None else float("nan"))
    return syn


def _pick(synapses: list[dict], n: int = 4) -> list[dict]:
    """Up to ``n`` synapses to draw: polyadic ones first, then dyadic, largest first."""
    with_box = [s for s in synapses if s["box"] is not None]
    poly = sorted((s for s in with_box if len(s["posts"]) >= 2), key=lambda s: -s["size"])
    dyad = sorted((s for s in with_box if len(s["posts"]) == 1), key=lambda s: -s["size"])
    rest = sorted((s for s in with_box if not s["posts"]), key=lambda s: -s["size"])
    chosen = poly[: n // 2] + dyad[: n - min(len(poly), n // 2)]
    for s in poly[n // 2:] + rest:
        if len(chosen) >= n:
            break
        chosen.append(s)
    return chosen[:n]


def _crop(volume, z: int, ys: slice, xs: slice):
    return None if volume is None else np.asarray(volume.data[z, ys, xs])


def _slices_figure(chosen, raw, seg, clefts):
    from matplotlib.colors import ListedColormap

    shape = next(v for v in (clefts, seg, raw) if v is not None).data.shape
    fig = new_figure(figsize=(3.4 * len(chosen), 3.9))
    for k, s in enumerate(chosen):
        z0, y0, x0, z1, y1, x1 = (int(v) for v in s["box"])
        z = min(shape[0] - 1, max(0, (z0 + z1 - 1) // 2))
        cy, cx = (y0 + y1) // 2, (x0 + x1) // 2
        ys = slice(max(0, cy - _HALF_CROP), min(shape[1], cy + _HALF_CROP))
        xs = slice(max(0, cx - _HALF_CROP), min(shape[2], cx + _HALF_CROP))
        if clefts is not None and z1 > z0 + 1:  # the section where the cleft is largest
            block = np.asarray(clefts.data[max(0, z0):min(shape[0], z1), ys, xs]) == s["cleft_id"]
            if block.any():
                z = max(0, z0) + int(np.argmax(block.sum(axis=(1, 2))))
        ax = fig.add_subplot(1, len(chosen), k + 1)
        image = _crop(raw, z, ys, xs)
        if image is None:
            image = np.full((ys.stop - ys.start, xs.stop - xs.start), 0.8)
        ax.imshow(image, cmap="gray", interpolation="nearest")
        seg_crop, cleft_crop = _crop(seg, z, ys, xs), _crop(clefts, z, ys, xs)
        if cleft_crop is not None and (cleft_crop == s["cleft_id"]).any():
            mask = np.ma.masked_where(cleft_crop != s["cleft_id"], np.ones(cleft_crop.shape))
            ax.imshow(mask, cmap=ListedColormap(["yellow"]), alpha=0.7, interpolation="nearest")
        if seg_crop is not None and s["pre"] is not None and (seg_crop == s["pre"]).any():
            ax.contour(seg_crop == s["pre"], levels=[0.5], colors="tab:red", linewidths=1.4)
        for post in s["posts"]:
            if seg_crop is not None and (seg_crop == post).any():
                ax.contour(seg_crop == post, levels=[0.5], colors="deepskyblue", linewidths=1.2)
        kind = "polyadic" if len(s["posts"]) >= 2 else "dyadic" if s["posts"] else "no partners"
        ax.set_title(f"cleft {s['cleft_id']} ({kind}), z={z}\npre {s['pre']} → post "
                     f"{', '.join(map(str, s['posts'])) or '-'}", fontsize=8)
        ax.set_axis_off()
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    fig.legend(handles=[Patch(color="yellow", label="cleft"), Line2D([], [], color="tab:red", label="presynaptic"),
                        Line2D([], [], color="deepskyblue", label="postsynaptic")],
               loc="lower center", ncol=3, frameon=False, fontsize=8)
    fig.get_layout_engine().set(rect=(0, 0.07, 1, 0.93))
    return fig


def _counts_figure(synapses):
    counts = Counter(len(s["posts"]) for s in synapses)
    xs = sorted(counts)
    fig = new_figure(figsize=(5, 3.4))
    ax = fig.add_subplot()
    colors = ["0.6" if x == 0 else "tab:green" if x == 1 else "tab:purple" for x in xs]
    ax.bar(range(len(xs)), [counts[x] for x in xs], color=colors, tick_label=[str(x) for x in xs])
    ax.set(xlabel="postsynaptic partners per cleft (1 dyadic, ≥ 2 polyadic)", ylabel="clefts",
           title=f"{len(synapses)} clefts")
    return fig


def _label_volumes(cleft_table, partner_table, all_labels):
    cleft_vol = getattr(cleft_table, "cleft_volume", None) if cleft_table is not None else None
    seg = getattr(partner_table, "segmentation", None) if partner_table is not None else None
    if seg is None:  # any other label volume of the same shape
        shape = cleft_vol.data.shape if cleft_vol is not None else None
        others = [v for v in all_labels if v is not cleft_vol and (shape is None or v.data.shape == shape)]
        seg = others[0] if others else None
    raw = next((v.image_volume for v in (seg, cleft_vol) if v is not None and v.image_volume is not None), None)
    return raw, seg, cleft_vol


def partners_section(section_id: str, cleft_table, partner_table, all_labels: list) -> Section:
    """Section for one SynapticCleftTable and/or the SynapticPartnerTable that references it."""
    if cleft_table is None and partner_table is not None:
        cleft_table = partner_table.cleft.table
    title = ", ".join(t.name for t in (cleft_table, partner_table) if t is not None)
    section = Section(section_id, f"Synaptic partners in EM ({title})")
    synapses = _synapses(cleft_table, partner_table)
    raw, seg, cleft_vol = _label_volumes(cleft_table, partner_table, all_labels)
    n_posts = [len(s["posts"]) for s in synapses]
    n_edges = sum(n_posts)
    rows = [["clefts", len(synapses)], ["clefts with partners", sum(1 for n in n_posts if n)],
            ["dyadic synapses (1 partner)", sum(1 for n in n_posts if n == 1)],
            ["polyadic synapses (≥ 2 partners)", sum(1 for n in n_posts if n >= 2)],
            ["partner edges (pre, post)", n_edges],
            ["presynaptic segments", len({s["pre"] for s in synapses if s["pre"] is not None})],
            ["postsynaptic segments", len({p for s in synapses for p in s["posts"]})]]
    volume = next((v for v in (raw, seg, cleft_vol) if v is not None), None)
    if volume is not None:
        vs = ", ".join(f"{v:g}" for v in volume.voxel_size_nm)
        section.add(f"<p>Volume '{volume.name}': {' × '.join(map(str, volume.data.shape))} voxels (z, y, x) of "
                    f"({vs}) nm.</p>")
    section.add(table_html(rows, ["count", "n"]))
    chosen = _pick(synapses)
    if chosen and (raw is not None or seg is not None or cleft_vol is not None):
        section.add_figure(_slices_figure(chosen, raw, seg, cleft_vol),
                           "EM slices through synapses (polyadic first): cleft filled in yellow, presynaptic "
                           "segment outlined in red, postsynaptic segments in blue.")
    elif not chosen:
        section.add('<p class="note">No cleft has a bounding box; no slices to show.</p>')
    if synapses:
        section.add_figure(_counts_figure(synapses), "Number of postsynaptic partners per cleft.")
    listed = sorted(synapses, key=lambda s: (-len(s["posts"]), -s["size"]))[:20]
    table_rows = [[s["cleft_id"], s["size"], "–" if s["pre"] is None else str(s["pre"]),
                   ", ".join(map(str, s["posts"])) or "–",
                   float(np.nanmean(s["scores"])) if s["scores"] else float("nan")] for s in listed]
    section.add("<h3>Synapses (up to 20, polyadic first)</h3>" +
                table_html(table_rows, ["cleft id", "voxels", "presynaptic", "postsynaptic", "mean post score"]))
    return section
