"""The figure of EM synaptic partners, drawn from the NWB objects: for each synapse, the EM section where its
cleft is largest, the cleft in yellow, the presynaptic segment outlined in red and the postsynaptic ones in blue,
with their segment ids. ``nwbsyn partners assign --plot`` and the report (:mod:`nwbsyn.report.partners`, one
figure per page of synapses) both draw :func:`synapses_figure`.
"""

from __future__ import annotations

import numpy as np

from nwbsyn._shared import InputError

__all__ = ["plot_synapses", "synapses_figure", "synapse_rows", "order_synapses", "label_volumes"]

_HALF_CROP = 80  # voxels on each side of a synapse in the slices shown


def plot_synapses(source, result=None, *, path=None, n_synapses: int = 8):
    """Draw the first ``n_synapses`` synapses (polyadic first, then dyadic; largest first), one panel each.

    ``source``: a ``SynapticPartnerTable`` or ``SynapticCleftTable`` (as
    :func:`nwbsyn.partners.add_results` writes them, or read back) or an ``NWBFile`` holding them.
    For compatibility ``plot_synapses(inp, result)`` with a
    :class:`~nwbsyn.partners.nwb.PartnerInput` and its ``PartnerResult`` draws the tables the run
    wrote into the file of ``inp`` (or, when they were never added, those ``add_results`` writes
    into a scratch in-memory file). Returns the matplotlib Figure (off screen); saves it to
    ``path`` when given.

    Example
    -------
    >>> from nwbsyn.testing import mock_SynapticPartnerTable
    >>> fig = plot_synapses(mock_SynapticPartnerTable(), path="synapses.png")
    >>> [ax.get_title().splitlines()[0] for ax in fig.axes]
    ['cleft 2, polyadic, z 1', 'cleft 1, dyadic, z 4']
    """
    cleft_table, partner_table, volumes = _nwb_objects(source, result)
    synapses = order_synapses(synapse_rows(cleft_table, partner_table))[:n_synapses]
    raw, seg, clefts = label_volumes(cleft_table, partner_table, volumes)
    fig = synapses_figure(synapses, raw, seg, clefts)
    if path is not None:
        from nwbsyn.report._html import save_figure

        save_figure(fig, path, dpi=110, atomic=False)
    return fig


def _tables_in(nwbfile):
    from nwbsyn.types import EMLabelVolume, SynapticCleftTable, SynapticPartnerTable

    objects = sorted(nwbfile.all_children(), key=lambda o: (o.name, o.object_id))
    pick = lambda cls: [o for o in objects if isinstance(o, cls)]  # noqa: E731
    return pick(SynapticCleftTable), pick(SynapticPartnerTable), pick(EMLabelVolume)


def _nwb_objects(source, result=None):
    """(cleft table, partner table or None, every EMLabelVolume of the file) of ``source``."""
    from nwbsyn.types import SynapticCleftTable, SynapticPartnerTable

    if result is not None:
        return _from_run(source, result)
    if isinstance(source, SynapticPartnerTable):
        nwbfile = source.get_ancestor("NWBFile")
        return source.cleft.table, source, _tables_in(nwbfile)[2] if nwbfile is not None else []
    if isinstance(source, SynapticCleftTable):
        nwbfile = source.get_ancestor("NWBFile")
        cleft_tables, partner_tables, volumes = _tables_in(nwbfile) if nwbfile is not None else ([], [], [])
        partner = next((p for p in partner_tables if p.cleft.table is source), None)
        return source, partner, volumes
    if hasattr(source, "processing"):  # an NWBFile
        cleft_tables, partner_tables, volumes = _tables_in(source)
        if partner_tables:
            return partner_tables[0].cleft.table, partner_tables[0], volumes
        if cleft_tables:
            return cleft_tables[0], None, volumes
        raise InputError(f"The NWB file {source.identifier} holds no SynapticCleftTable or SynapticPartnerTable; run "
                         "'nwbsyn partners assign' (partners.run_on_nwbfile) first.")
    pairs = list(source)
    if not pairs:
        raise InputError("plot_synapses got an empty run; pass a SynapticPartnerTable.")
    return _from_run(*pairs[0])


def _from_run(inp, result):
    """The tables a run wrote for ``inp`` (looked up in its file), else written by ``add_results`` into a scratch file."""
    from nwbsyn.partners.nwb import add_results

    nwbfile = inp.segmentation.get_ancestor("NWBFile") if hasattr(inp.segmentation, "get_ancestor") else None
    if nwbfile is not None:
        _, partner_tables, volumes = _tables_in(nwbfile)
        for partner in partner_tables:
            cleft = partner.cleft.table
            if partner.segmentation is inp.segmentation and len(cleft) == len(result.clefts) \
                    and len(partner) == len(result.edges()):
                return cleft, partner, volumes
    from nwbsyn._shared.nwb import scratch_nwbfile

    scratch = scratch_nwbfile()
    cleft, partner = add_results(scratch, [inp], [result], provenance={})
    volumes = _tables_in(scratch)[2]
    return cleft, partner if len(partner) else None, volumes


def column(table, name, dtype=float):
    """The column ``name`` of ``table`` as an array, or None when the table lacks it."""
    return np.asarray(table[name].data[:], dtype=dtype) if name in table.colnames else None


def synapse_rows(cleft_table, partner_table) -> list[dict]:
    """One dict per cleft row: cleft id, bounding box, size, presynaptic id and postsynaptic ids."""
    n = len(cleft_table) if cleft_table is not None else 0
    ids = column(cleft_table, "cleft_id", np.uint64) if n else np.zeros(0, np.uint64)
    boxes = column(cleft_table, "bounding_box", np.int64) if n else None
    sizes = column(cleft_table, "num_voxels", np.int64) if n else None
    conf = column(cleft_table, "confidence") if n else None
    syn = [dict(row=r, cleft_id=int(ids[r]), box=None if boxes is None else boxes[r],
                size=0 if sizes is None else int(sizes[r]), pre=None, posts=[], scores=[],
                confidence=None if conf is None else float(conf[r])) for r in range(n)]
    if partner_table is not None and len(partner_table):
        rows = np.asarray(partner_table["cleft"].data[:], dtype=int)
        pre = column(partner_table, "presynaptic_id", np.uint64)
        post = column(partner_table, "postsynaptic_id", np.uint64)
        score = column(partner_table, "postsynaptic_score")
        for k, r in enumerate(rows):
            if r >= len(syn):
                continue
            syn[r]["pre"] = int(pre[k])
            syn[r]["posts"].append(int(post[k]))
            syn[r]["scores"].append(float(score[k]) if score is not None else float("nan"))
    return syn


def order_synapses(synapses: list[dict]) -> list[dict]:
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


def _scale_bar(ax, shape_px: tuple, nm_per_px: float) -> None:
    """A white bar of a round length (about a quarter of the width) in the lower left corner of the panel."""
    height_px, width_px = shape_px
    target = width_px * nm_per_px / 4
    length_nm = max(m * 10 ** np.floor(np.log10(target)) for m in (1, 2, 5)
                    if m * 10 ** np.floor(np.log10(target)) <= target)
    px = length_nm / nm_per_px
    x0, y0 = width_px * 0.05, height_px - 1 - max(2.0, 0.05 * height_px)
    ax.plot([x0, x0 + px], [y0, y0], color="white", lw=3, solid_capstyle="butt")
    ax.text(x0, y0 - max(1.5, 0.02 * height_px), f"{length_nm:g} nm", color="white", fontsize=7, va="bottom")


def _label_segment(ax, mask: np.ndarray, text: str, color: str) -> None:
    ys, xs = np.nonzero(mask)
    if ys.size:
        ax.text(float(np.median(xs)), float(np.median(ys)), text, color=color, fontsize=7, ha="center",
                va="center", bbox=dict(facecolor="black", alpha=0.5, pad=1, lw=0))


def synapses_figure(chosen: list[dict], raw, seg, clefts, *, nm_per_px: float | None = None):
    """One panel per synapse of ``chosen`` (rows of :func:`synapse_rows`), up to 4 per row; ``raw``, ``seg`` and
    ``clefts`` are the EM image and label volumes (any may be None). ``nm_per_px``: the scale bar, default
    the x voxel size of the first volume given."""
    from matplotlib.colors import ListedColormap

    from nwbsyn.report._html import new_figure  # off screen, not registered with pyplot: no backend switch

    volume = next((v for v in (raw, seg, clefts) if v is not None), None)
    if volume is None:
        raise InputError("No EM image or label volume is linked to the synapse tables; nothing to draw.")
    if nm_per_px is None and getattr(volume, "voxel_size_nm", None) is not None:
        nm_per_px = float(volume.voxel_size_nm[2])
    if not chosen:
        fig = new_figure(figsize=(4, 3))
        fig.text(0.5, 0.5, "no synapses found", ha="center", va="center")
        return fig

    shape = tuple(next(v for v in (clefts, seg, raw) if v is not None).data.shape)
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
            _scale_bar(ax, image.shape[:2], nm_per_px)
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


def label_volumes(cleft_table, partner_table, all_labels):
    cleft_vol = getattr(cleft_table, "cleft_volume", None) if cleft_table is not None else None
    seg = getattr(partner_table, "segmentation", None) if partner_table is not None else None
    if seg is None:  # any other label volume of the same shape
        shape = cleft_vol.data.shape if cleft_vol is not None else None
        others = [v for v in all_labels if v is not cleft_vol and (shape is None or v.data.shape == shape)]
        seg = others[0] if others else None
    raw = next((v.image_volume for v in (seg, cleft_vol) if v is not None and v.image_volume is not None), None)
    return raw, seg, cleft_vol


