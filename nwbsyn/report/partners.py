"""Report section for EM synaptic partners: slices with clefts and pre/post partners outlined, counts."""

from __future__ import annotations

from collections import Counter

import numpy as np

from nwbsyn.partners.plot import column, label_volumes, order_synapses, synapse_rows, synapses_figure
from nwbsyn.report._html import Section, new_figure, pages_html, table_html

__all__ = ["partners_section"]

_PER_PAGE = 8
_MAX_DRAWN = 400


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


def partners_section(section_id: str, cleft_table, partner_table, all_labels: list) -> Section:
    """Section for one SynapticCleftTable and/or the SynapticPartnerTable that references it."""
    if cleft_table is None and partner_table is not None:
        cleft_table = partner_table.cleft.table
    title = ", ".join(t.name for t in (cleft_table, partner_table) if t is not None)
    section = Section(section_id, f"Synaptic partners in EM ({title})")
    synapses = synapse_rows(cleft_table, partner_table)
    raw, seg, cleft_vol = label_volumes(cleft_table, partner_table, all_labels)
    n_posts = [len(s["posts"]) for s in synapses]
    n_edges = sum(n_posts)
    rows = [["clefts", len(synapses)], ["clefts with partners", sum(1 for n in n_posts if n)],
            ["dyadic synapses (1 partner)", sum(1 for n in n_posts if n == 1)],
            ["polyadic synapses (≥ 2 partners)", sum(1 for n in n_posts if n >= 2)],
            ["partner edges (pre, post)", n_edges],
            ["presynaptic segments", len({s["pre"] for s in synapses if s["pre"] is not None})],
            ["postsynaptic segments", len({p for s in synapses for p in s["posts"]})]]
    for table, what in ((cleft_table, "clefts"), (partner_table, "partner edges")):
        low = column(table, "low_confidence", bool) if table is not None and len(table) else None
        if low is not None:
            rows.append([f"low-confidence {what} (calibrated confidence < 0.5)", int(low.sum())])
    volume = next((v for v in (raw, seg, cleft_vol) if v is not None), None)
    if volume is not None:
        vs = ", ".join(f"{v:g}" for v in volume.voxel_size_nm)
        section.add(f"<p>Volume '{volume.name}': {' × '.join(map(str, volume.data.shape))} voxels (z, y, x) of "
                    f"({vs}) nm.</p>")
    section.add(table_html(rows, ["count", "n"]))
    ordered = order_synapses(synapses)
    if ordered and (raw is not None or seg is not None or cleft_vol is not None):
        nm_per_px = float(volume.voxel_size_nm[2]) if volume is not None else None
        drawn = ordered[:_MAX_DRAWN]
        pages = [Section(f"{section_id}-p{k}", "") for k in range(-(-len(drawn) // _PER_PAGE))]
        for k, page in enumerate(pages):
            chunk = drawn[k * _PER_PAGE:(k + 1) * _PER_PAGE]
            page.add_figure(synapses_figure(chunk, raw, seg, cleft_vol, nm_per_px=nm_per_px),
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
