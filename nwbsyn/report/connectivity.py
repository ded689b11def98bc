"""Report section for functional connectivity: weight matrix, strongest connections, embeddings."""

from __future__ import annotations

import json

import numpy as np

from nwbsyn.report._html import Section, new_figure, table_html

__all__ = ["connectivity_section"]


def _ids(region) -> list[str]:
    rows = np.asarray(region.data[:], dtype=int)
    try:
        return [str(i) for i in np.asarray(region.table.id[:])[rows]]
    except (AttributeError, IndexError, TypeError):
        return [str(r) for r in rows]


def _matrix_figure(w: np.ndarray, pre: list[str], post: list[str]):
    fig = new_figure(figsize=(5.4, 4.7))
    ax = fig.add_subplot()
    limit = float(np.abs(w).max()) or 1.0
    image = ax.imshow(w, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
    ax.set(title="weights[pre, post] (red excitatory, blue inhibitory)", xlabel="postsynaptic",
           ylabel="presynaptic")
    for axis, labels, n in ((ax.set_xticks, post, w.shape[1]), (ax.set_yticks, pre, w.shape[0])):
        at = np.arange(n) if n <= 30 else np.linspace(0, n - 1, 12).round().astype(int)  # ids, never row indices
        axis(at, [labels[i] for i in at], fontsize=7, **({"rotation": 90} if axis == ax.set_xticks else {}))
    ax.set_xlabel("postsynaptic (unit/ROI id)")
    ax.set_ylabel("presynaptic (unit/ROI id)")
    fig.colorbar(image, ax=ax, shrink=0.8)
    return fig


def _strongest(w: np.ndarray, n: int):
    off = w.copy()
    if w.shape[0] == w.shape[1]:
        np.fill_diagonal(off, 0.0)
    flat = np.argsort(-np.abs(off), axis=None)[:n]
    pre, post = np.unravel_index(flat, w.shape)
    keep = off[pre, post] != 0
    return pre[keep], post[keep], off[pre, post][keep]


def _strongest_figure(pre_idx, post_idx, values, pre: list[str], post: list[str]):
    fig = new_figure(figsize=(5.0, 0.28 * max(len(values), 4) + 1.2))
    ax = fig.add_subplot()
    y = np.arange(len(values))[::-1]
    ax.barh(y, values, color=np.where(values > 0, "tab:red", "tab:blue"))
    ax.set_yticks(y, [f"{pre[a]} → {post[b]}" for a, b in zip(pre_idx, post_idx)], fontsize=8)
    ax.axvline(0, color="0.5", lw=0.8)
    ax.set(title=f"{len(values)} strongest connections", xlabel="weight")
    return fig


def _embedding_figure(emb: np.ndarray, w: np.ndarray, labels: list[str]):
    fig = new_figure(figsize=(5.5, 4.6))
    ax = fig.add_subplot()
    centred = emb - emb.mean(axis=0)
    if emb.shape[1] >= 2 and np.abs(centred).max() > 0:
        _, sv, vt = np.linalg.svd(centred, full_matrices=False)
        coords = centred @ vt[:2].T
        explained = sv[:2] ** 2 / max(float((sv**2).sum()), 1e-12)
        strength = np.abs(w).sum(axis=1) if w.shape[0] == len(emb) else np.zeros(len(emb))
        points = ax.scatter(coords[:, 0], coords[:, 1], c=strength, cmap="viridis", s=28)
        fig.colorbar(points, ax=ax, shrink=0.8, label="outgoing Σ|w|")
        if len(labels) <= 40:
            for (x, y), label in zip(coords, labels):
                ax.annotate(label, (x, y), fontsize=6, xytext=(2, 2), textcoords="offset points")
        ax.set(xlabel=f"PC 1 ({explained[0]:.0%})", ylabel=f"PC 2 ({explained[1]:.0%})")
    else:
        ax.text(0.5, 0.5, "embeddings have fewer than 2 dimensions", ha="center", va="center",
                transform=ax.transAxes)
    ax.set_title("neuron embeddings (2-D PCA)")
    return fig


def connectivity_section(section_id: str, fc, *, n_strongest: int = 15) -> Section:
    """Section for one FunctionalConnectivity."""
    w = np.asarray(fc.weights[:], dtype=float)
    pre, post = _ids(fc.presynaptic), _ids(fc.postsynaptic)
    table_name = getattr(fc.presynaptic.table, "name", "?")
    section = Section(section_id, f"Functional connectivity ({fc.name})")
    facts = [f"{w.shape[0]} presynaptic × {w.shape[1]} postsynaptic neurons (rows of '{table_name}')",
             f"method: {fc.method}"]
    if fc.bin_size_s:
        facts.append(f"bin {fc.bin_size_s * 1e3:g} ms")
    if fc.source_series is not None:
        facts.append(f"fitted on '{fc.source_series.name}'")
    section.add("<p>" + "; ".join(facts) + ".</p>")
    section.add_figure(_matrix_figure(w, pre, post), "Weight matrix; rows presynaptic, columns postsynaptic.")
    pre_idx, post_idx, values = _strongest(w, n_strongest)
    section.add_figure(_strongest_figure(pre_idx, post_idx, values, pre, post),
                       "Strongest connections by |weight| (red excitatory, blue inhibitory).")
    if fc.embeddings is not None:
        section.add_figure(_embedding_figure(np.asarray(fc.embeddings[:], dtype=float), w, pre),
                           "Neuron embeddings projected on their first two principal components; colour: "
                           "total outgoing |weight|.")
    rows = [[k + 1, pre[a], post[b], float(v), "excitatory" if v > 0 else "inhibitory"]
            for k, (a, b, v) in enumerate(zip(pre_idx, post_idx, values))]
    section.add("<h3>Strongest connections</h3>" + table_html(rows, ["rank", "presynaptic", "postsynaptic",
                                                                      "weight", "sign"]))
    if fc.metrics:
        try:
            metrics = json.loads(fc.metrics)
        except ValueError:
            metrics = {"metrics": fc.metrics}
        rows = [[k, v if isinstance(v, (int, float)) else json.dumps(v)] for k, v in sorted(metrics.items())]
        section.add("<h3>Fit metrics</h3>" + table_html(rows, ["metric", "value"]))
    return section
