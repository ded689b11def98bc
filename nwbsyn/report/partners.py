"""Report section for EM synaptic partners: slices with clefts and pre/post partners outlined, counts."""

from __future__ import annotations

from collections import Counter

import numpy as np

from nwbsyn.report._html import Section, new_figure, pages_html, table_html

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
    conf = _column(cleft_table, "confidence") if n else None
    syn = [dict(row=r, cleft_id=int(ids[r]), box=None if boxes is None else boxes[r],
                size=0 if sizes is None else int(sizes[r]), pre=None, posts=[], scores=[],
                confidence=None if conf is None else float(conf[r])) for r in range(n)]
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


_PER_PAGE = 8
_MAX_DRAWN = 400


def _order(synapses: list[dict]) -> list[dict]:
    """Synapses to draw: polyadic first, then dyadic, then those without partners; largest first."""
    with_box = [s for s in synapses if s["box"] is not None]
    return sorted(with_box, key=lambda s: (-(len(s["posts"]) >= 2), -(len(s["posts"]) == 1), -s["size"]))


def _crop(volume, z: int, ys: slice, xs: slice):
    return None if volume is None else np.asarray(volume.data[z, ys, xs])


def _section_to_show(s, raw, clefts, ys, xs, shape) -> int:
    """The section where the cleft is largest, skipping blank (missing) EM sections."""
    z0, z1 = max(0, int(s["box"][0])), min(shape[0], int(s["box"][3]))
    candidates = list(range(z0, max(z0 + 1, z1)))
    area = np.ones(len(candidates))
    if clefts is not None:
        block = np.asarray(clefts.data[z0:z0 + len(candidates), ys, xs]) == s["cleft_id"]
        area = block.reshape(len(candidates), -1).sum(axis=1).astype(float)
    if raw is not None:
        for k, z in enumerate(candidates):
            if float(np.std(np.asarray(raw.data[z, ys, xs], dtype=float))) < 1e-3:
                area[k] = -1.0  # a blank section: only if nothing else is left
    return candidates[int(np.argmax(area))]


def _scale_bar(ax, width_px: int, nm_per_px: float) -> None:
    target = width_px * nm_per_px / 4
    length_nm = max(m * 10 ** np.floor(np.log10(target)) for m in (1, 2, 5)
                    if m * 10 ** np.floor(np.log10(target)) <= target)
    px = length_nm / nm_per_px
    ax.plot([width_px * 0.05, width_px * 0.05 + px], [width_px * 0.93] * 2, color="white", lw=3,
            solid_capstyle="butt")
    ax.text(width_px * 0.05, width_px * 0.89, f"{length_nm:g} nm", color="white", fontsize=7)


def _label_segment(ax, mask: np.ndarray, text: str, color: str) -> None:
    ys, xs = np.nonzero(mask)
    if ys.size:
        ax.text(float(np.median(xs)), float(np.median(ys)), text, color=color, fontsize=7, ha="center",
                va="center", bbox=dict(facecolor="black", alpha=0.5, pad=1, lw=0))


def _slices_figure(chosen, raw, seg, clefts, nm_per_px: float | None):
    from matplotlib.colors import ListedColormap

    shape = next(v for v in (clefts, seg, raw) if v is not None).data.shape
    n_cols = min(4, len(chosen))
    n_rows = -(-len(chosen) // n_cols)
    fig = new_figure(figsize=(3.3 * n_cols, 3.6 * n_rows + 0.4))
    for k, s in enumerate(chosen):
        z0, y0, x0, z1, y1, x1 = (int(v) for v in s["box"])
        cy, cx = (y0 + y1) // 2, (x0 + x1) // 2
        ys = slice(max(0, cy - _HALF_CROP), min(shape[1], cy + _HALF_CROP))
        xs = slice(max(0, cx - _HALF_CROP), min(shape[2], cx + _HALF_CROP))
        z = _section_to_show(s, raw, clefts, ys, xs, shape)
        ax = fig.add_subplot(n_rows, n_cols, k + 1)
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
            _label_segment(ax, seg_crop == s["pre"], str(s["pre"]), "tomato")
        for post in s["posts"]:
            if seg_crop is not None and (seg_crop == post).any():
                ax.contour(seg_crop == post, levels=[0.5], colors="deepskyblue", linewidths=1.2)
                _label_segment(ax, seg_crop == post, str(post), "deepskyblue")
        if nm_per_px:
            _scale_bar(ax, image.shape[1], nm_per_px)
        kind = "polyadic" if len(s["posts"]) >= 2 else "dyadic" if s["posts"] else "no partners"
        if s.get("confidence") is not None and s["confidence"] < 0.5:
            kind += ", LOW confidence"
        ax.set_title(f"cleft {s['cleft_id']}, {kind}, z {z}\npre {s['pre']} → "
                     f"{', '.join(map(str, s['posts'][:4])) or '-'}{' …' if len(s['posts']) > 4 else ''}",
                     fontsize=7.5)
        ax.set_axis_off()
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    fig.legend(handles=[Patch(color="yellow", label="cleft"), Line2D([], [], color="tab:red", label="presynaptic"),
                        Line2D([], [], color="deepskyblue", label="postsynaptic")],
               loc="lower center", ncol=3, frameon=False, fontsize=8)
    fig.get_layout_engine().set(rect=(0, 0.4 / (3.6 * n_rows + 0.4), 1, 1 - 0.1 / n_rows))
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
    for table, what in ((cleft_table, "clefts"), (partner_table, "partner edges")):
        low = _column(table, "low_confidence", bool) if table is not None and len(table) else None
        if low is not None:
            rows.append([f"low-confidence {what} (calibrated confidence < 0.5)", int(low.sum())])
    volume = next((v for v in (raw, seg, cleft_vol) if v is not None), None)
    if volume is not None:
        vs = ", ".join(f"{v:g}" for v in volume.voxel_size_nm)
        section.add(f"<p>Volume '{volume.name}': {' × '.join(map(str, volume.data.shape))} voxels (z, y, x) of "
                    f"({vs}) nm.</p>")
    section.add(table_html(rows, ["count", "n"]))
    ordered = _order(synapses)
    if ordered and (raw is not None or seg is not None or cleft_vol is not None):
        nm_per_px = float(volume.voxel_size_nm[2]) if volume is not None else None
        drawn = ordered[:_MAX_DRAWN]
        pages = [Section(f"{section_id}-p{k}", "") for k in range(-(-len(drawn) // _PER_PAGE))]
        for k, page in enumerate(pages):
            chunk = drawn[k * _PER_PAGE:(k + 1) * _PER_PAGE]
            page.add_figure(_slices_figure(chunk, raw, seg, cleft_vol, nm_per_px),
                            f"Synapses {k * _PER_PAGE + 1}-{k * _PER_PAGE + len(chunk)} of {len(ordered)} "
                            "(polyadic first), each on the section where its cleft is largest: cleft in yellow, "
                            "presynaptic segment outlined in red, postsynaptic in blue, with their segment ids.")
        more = f" The first {_MAX_DRAWN} are drawn." if len(ordered) > _MAX_DRAWN else ""
        section.add(f"<h3>Every synapse ({len(ordered)}){more}</h3>" + pages_html(f"{section_id}-pages", pages))
    elif not ordered:
        section.add('<p class="note">No cleft has a bounding box; no slices to show.</p>')
    if synapses:
        section.add_figure(_counts_figure(synapses), "Number of postsynaptic partners per cleft.")
    listed = sorted(synapses, key=lambda s: (-len(s["posts"]), -s["size"]))
    table_rows = [[s["cleft_id"], s["size"], "–" if s["pre"] is None else str(s["pre"]),
                   ", ".join(map(str, s["posts"])) or "–",
                   float(np.nanmean(s["scores"])) if s["scores"] else float("nan"),
                   float("nan") if s.get("confidence") is None else s["confidence"]] for s in listed]
    listing = table_html(table_rows, ["cleft id", "voxels", "presynaptic", "postsynaptic", "mean post score",
                                      "confidence"])
    if len(table_rows) > 20:
        listing = f"<details><summary>all {len(table_rows)} synapses (show)</summary>{listing}</details>"
    section.add("<h3>Synapses (polyadic first)</h3>" + listing)
    return section
