"""Figure of a connectivity fit: weight matrix, strongest connections, neuron embeddings."""

from __future__ import annotations

import numpy as np

__all__ = ["plot_connectivity", "id_labels"]


def id_labels(inp) -> list[str]:
    """The ids of the neurons behind the columns of a connectivity input (Units / ROI ids, not row numbers).

    Example
    -------
    >>> plot_connectivity(result, labels=id_labels(inp))   # doctest: +SKIP
    """
    table = getattr(inp, "table", None)
    if table is None:
        return [str(r) for r in inp.rows]
    ids = np.asarray(table.id[:])
    return [str(ids[int(r)]) for r in inp.rows]


def plot_connectivity(result, *, path=None, labels: list[str] | None = None, n_strongest: int = 12):
    """Draw ``result.weights`` with presynaptic neurons on rows (as in the report), its strongest edges and a
    2-D projection of the embeddings. ``labels``: one per neuron, best the unit ids (:func:`id_labels`).

    Returns the matplotlib Figure; saves it to ``path`` when given.

    Example
    -------
    >>> fig = plot_connectivity(fit_connectivity(activity), path="connectivity.png")   # doctest: +SKIP
    """
    from nwbsyn.report._html import new_figure  # off screen, not registered with pyplot: no backend switch

    w = np.asarray(result.weights, dtype=float)  # [post, pre]
    n = w.shape[0]
    labels = labels or [str(i) for i in range(n)]
    fig = new_figure(figsize=(15, 4.8))
    ax_w, ax_top, ax_emb = fig.subplots(1, 3)
    limit = np.abs(w).max() or 1.0
    image = ax_w.imshow(w.T, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")  # [pre, post]
    ax_w.set(title="weights (red excitatory, blue inhibitory)", xlabel="postsynaptic", ylabel="presynaptic")
    at = np.arange(n) if n <= 30 else np.linspace(0, n - 1, 12).round().astype(int)  # labels, never positions
    ax_w.set_xticks(at, [labels[i] for i in at], rotation=90, fontsize=7)
    ax_w.set_yticks(at, [labels[i] for i in at], fontsize=7)
    fig.colorbar(image, ax=ax_w, shrink=0.8)
    sig = getattr(result, "significance", None)
    if sig is not None:  # dots: edges that pass the surrogate test (p < 0.05)
        post_s, pre_s = np.nonzero(np.asarray(sig.p_values) < 0.05)
        ax_w.scatter(post_s, pre_s, s=max(3.0, 300.0 / n), c="k", marker="o", linewidths=0)
        ax_w.set_title("weights (red exc., blue inh.; dots: p < 0.05)")
    flat = np.argsort(-np.abs(w), axis=None)[:n_strongest]
    post, pre = np.unravel_index(flat, w.shape)
    values = w[post, pre]
    ax_top.barh(range(len(values))[::-1], values, color=np.where(values > 0, "tab:red", "tab:blue"))
    p_text = ([f"  p={sig.p_values[b, a]:.2g}" for a, b in zip(pre, post)] if sig is not None
              else [""] * len(values))
    ax_top.set_yticks(range(len(values))[::-1], [f"{labels[a]} -> {labels[b]}{q}" for a, b, q in
                                                 zip(pre, post, p_text)], fontsize=8)
    ax_top.axvline(0, color="0.5", lw=0.8)
    ax_top.set(title=f"{len(values)} strongest connections", xlabel="weight")
    emb = np.asarray(result.embeddings, dtype=float)
    if emb.shape[1] >= 2:
        centred = emb - emb.mean(axis=0)
        coords = centred @ np.linalg.svd(centred, full_matrices=False)[2][:2].T
        out_strength = np.abs(w).sum(axis=0)
        ax_emb.scatter(coords[:, 0], coords[:, 1], c=out_strength, cmap="viridis", s=25)
        if n <= 40:  # each point named by its unit / ROI id
            for (px, py), label in zip(coords, labels):
                ax_emb.annotate(label, (px, py), fontsize=6, xytext=(2, 2), textcoords="offset points")
        ax_emb.set(title="embeddings (PCA); colour: outgoing |w|", xlabel="PC 1", ylabel="PC 2")
    else:
        ax_emb.set_axis_off()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
