"""Figure of a few synapses: EM section through the cleft, cleft outline, predicted pre/post segments."""

from __future__ import annotations

import numpy as np

__all__ = ["plot_synapses"]


def plot_synapses(inp, result, *, path=None, n_synapses: int = 6, half_width_px: int = 48):
    """Draw up to ``n_synapses`` synapses (polyadic ones first), one panel each.

    The panel is the section through the cleft centroid: EM image in grey, the cleft in
    yellow, the presynaptic segment outlined in red and the postsynaptic ones in blue.
    ``inp`` is a :class:`~nwbsyn.partners.nwb.PartnerInput` (or anything with ``raw`` and
    ``neuron_ids``); ``result`` a :class:`~nwbsyn.partners.infer.PartnerResult`.

    Example
    -------
    >>> fig = plot_synapses(inp, result, path="synapses.png")  # doctest: +SKIP
    """
    from nwbsyn.report._html import new_figure  # off screen, not registered with pyplot: no backend switch
    from matplotlib.colors import ListedColormap

    det = result.clefts
    row_of = {int(c): i for i, c in enumerate(det.cleft_ids)}
    order = sorted(range(len(result)), key=lambda k: -len(result.post_ids[k]))[:n_synapses]
    ncols = min(3, max(1, len(order)))
    nrows = max(1, -(-len(order) // ncols))
    fig = new_figure(figsize=(3.4 * ncols, 3.4 * nrows), constrained_layout=False)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    shape = tuple(inp.raw.shape)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, k in zip(axes.ravel(), order):
        cid = int(result.cleft_ids[k])
        z, y, x = np.round(det.centroids_zyx[row_of[cid]]).astype(int)
        y0, x0 = max(0, y - half_width_px), max(0, x - half_width_px)
        sl = (int(z), slice(y0, min(shape[1], y + half_width_px)), slice(x0, min(shape[2], x + half_width_px)))
        seg = np.asarray(inp.neuron_ids[sl])
        ax.imshow(np.asarray(inp.raw[sl]), cmap="gray", vmin=0, vmax=255)
        cleft = np.asarray(det.labels[sl]) == cid
        ax.imshow(np.ma.masked_where(~cleft, cleft), cmap=ListedColormap(["yellow"]), alpha=0.7)
        for seg_id, colour in [(result.pre_ids[k], "red")] + [(p, "deepskyblue") for p in result.post_ids[k]]:
            mask = seg == seg_id
            if mask.any():
                ax.contour(mask.astype(float), levels=[0.5], colors=colour, linewidths=1.2)
        kind = f"polyadic ({len(result.post_ids[k])} post)" if len(result.post_ids[k]) > 1 else "dyadic"
        ax.set_title(f"cleft {cid}, z={z}: {kind}", fontsize=9)
    if not order:
        axes[0, 0].text(0.5, 0.5, "no synapses found", ha="center", va="center")
    fig.suptitle("red: presynaptic, blue: postsynaptic, yellow: cleft", fontsize=9)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig
