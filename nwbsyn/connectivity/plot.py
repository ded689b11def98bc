"""The figure of a connectivity fit, drawn from the NWB objects: weight matrix, strongest connections, embeddings.

Orientation, here and in the report: the matrix is the schema's ``weights[pre, post]``, presynaptic
neurons on rows and postsynaptic on columns, both labelled by their unit / ROI ids (never row
numbers). ``nwbsyn connectivity fit --plot`` and the report (:mod:`nwbsyn.report.connectivity`)
both draw :func:`connectivity_figure`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nwbsyn._shared import InputError

__all__ = ["plot_connectivity", "connectivity_figure", "ConnectivityArrays", "connectivity_arrays", "id_labels"]


def id_labels(inp) -> list[str]:
    """The ids of the neurons behind the columns of a connectivity input (Units / ROI ids, not row numbers).

    Example
    -------
    >>> from types import SimpleNamespace
    >>> id_labels(SimpleNamespace(rows=[2, 0], table=SimpleNamespace(id=np.array([10, 11, 12]))))
    ['12', '10']
    """
    table = getattr(inp, "table", None)
    if table is None:
        return [str(r) for r in inp.rows]
    ids = np.asarray(table.id[:])
    return [str(ids[int(r)]) for r in inp.rows]


@dataclass(frozen=True)
class ConnectivityArrays:
    """What the figure draws: ``weights[pre, post]``, the ids of both axes, embeddings and p-values."""

    weights: np.ndarray  # (n_pre, n_post)
    pre_labels: list
    post_labels: list
    embeddings: np.ndarray | None = None  # (n_pre, d)
    p_values: np.ndarray | None = None  # (n_pre, n_post), NaN where untested


def _region_ids(region) -> list[str]:
    rows = np.asarray(region.data[:], dtype=int)
    try:
        return [str(i) for i in np.asarray(region.table.id[:])[rows]]
    except (AttributeError, IndexError, TypeError):
        return [str(r) for r in rows]


def _p_values(fc, n_pre: int, n_post: int) -> np.ndarray | None:
    """p-values from the edges table written beside ``fc`` (``<name>_edges``, column ``p_value``), or None."""
    module = getattr(fc, "parent", None)
    edges = getattr(module, "data_interfaces", {}).get(f"{fc.name}_edges") if module is not None else None
    if edges is None or "p_value" not in edges.colnames or not len(edges):
        return None
    pre_at = {int(r): k for k, r in enumerate(np.asarray(fc.presynaptic.data[:], dtype=int))}
    post_at = {int(r): k for k, r in enumerate(np.asarray(fc.postsynaptic.data[:], dtype=int))}
    p = np.full((n_pre, n_post), np.nan)
    for a, b, value in zip(np.asarray(edges["presynaptic"].data[:], dtype=int),
                           np.asarray(edges["postsynaptic"].data[:], dtype=int), np.asarray(edges["p_value"].data[:])):
        if int(a) in pre_at and int(b) in post_at:
            p[pre_at[int(a)], post_at[int(b)]] = float(value)
    return p


def connectivity_arrays(source, *, labels: list[str] | None = None) -> ConnectivityArrays:
    """The arrays behind the figure of a ``FunctionalConnectivity`` (or an ``NWBFile`` holding one).

    For compatibility also accepts what :func:`nwbsyn.connectivity.run_on_nwbfile` returns (the
    FunctionalConnectivity it wrote is looked up in the file of its input) or a bare
    ``ConnectivityResult`` (``weights[post, pre]`` of the model, transposed here to ``[pre, post]``;
    ``labels`` name its neurons, default their positions).

    Example
    -------
    >>> from nwbsyn.testing import mock_FunctionalConnectivity
    >>> fc = mock_FunctionalConnectivity()
    >>> arrays = connectivity_arrays(fc)
    >>> arrays.weights.shape == fc.weights.shape, arrays.pre_labels[:2]
    (True, ['0', '1'])
    """
    from nwbsyn.types import FunctionalConnectivity

    if hasattr(source, "processing"):  # an NWBFile
        found = [o for o in source.all_children() if isinstance(o, FunctionalConnectivity)]
        if not found:
            raise InputError(f"The NWB file {source.identifier} holds no FunctionalConnectivity; run 'nwbsyn "
                             "connectivity fit' (connectivity.run_on_nwbfile) first.")
        source = sorted(found, key=lambda o: o.name)[0]
    if isinstance(source, FunctionalConnectivity):
        w = np.asarray(source.weights[:], dtype=float)
        emb = np.asarray(source.embeddings[:], dtype=float) if source.embeddings is not None else None
        return ConnectivityArrays(w, _region_ids(source.presynaptic), _region_ids(source.postsynaptic), emb,
                                  _p_values(source, *w.shape))
    if not hasattr(source, "weights"):  # (input, result) pairs of a run
        pairs = list(source)
        if not pairs:
            raise InputError("plot_connectivity got an empty run; pass a FunctionalConnectivity.")
        inp, result = pairs[0]
        fc = _written(inp)
        return connectivity_arrays(fc) if fc is not None else connectivity_arrays(result, labels=id_labels(inp))
    w = np.asarray(source.weights, dtype=float).T  # the model's [post, pre] -> [pre, post], as written to NWB
    labels = list(labels) if labels is not None else [str(i) for i in range(w.shape[0])]
    sig = getattr(source, "significance", None)
    emb = getattr(source, "embeddings", None)
    return ConnectivityArrays(w, labels, labels, None if emb is None else np.asarray(emb, dtype=float),
                              None if sig is None else np.asarray(sig.p_values, dtype=float).T)


def _written(inp):
    """The FunctionalConnectivity over ``inp.table`` in the file of ``inp`` (what the run wrote), or None."""
    from nwbsyn.connectivity.nwb import RESULT_NAME
    from nwbsyn.types import FunctionalConnectivity

    table = getattr(inp, "table", None)
    nwbfile = table.get_ancestor("NWBFile") if hasattr(table, "get_ancestor") else None
    if nwbfile is None:
        return None
    found = [o for o in nwbfile.all_children() if isinstance(o, FunctionalConnectivity)
             and o.presynaptic.table is table and list(o.presynaptic.data[:]) == list(inp.rows)]
    return next((o for o in found if o.name == RESULT_NAME), found[0] if found else None)


def plot_connectivity(source, *, path=None, labels: list[str] | None = None, n_strongest: int = 12):
    """Draw the weight matrix (presynaptic on rows), its strongest connections and the embeddings.

    ``source``: a ``FunctionalConnectivity`` (as :func:`nwbsyn.connectivity.add_results` writes
    it, or read back), an ``NWBFile`` holding one, a run, or a bare result (see
    :func:`connectivity_arrays`; ``labels`` name a bare result's neurons, best their unit ids:
    :func:`id_labels`). Returns the matplotlib Figure (off screen); saves it to ``path`` when given.

    Example
    -------
    >>> from nwbsyn.testing import mock_FunctionalConnectivity
    >>> fig = plot_connectivity(mock_FunctionalConnectivity(), path="connectivity.png")
    >>> fig.axes[0].get_ylabel()
    'presynaptic (unit/ROI id)'
    """
    fig = connectivity_figure(connectivity_arrays(source, labels=labels), n_strongest=n_strongest)
    if path is not None:
        from nwbsyn.report._html import save_figure

        save_figure(fig, path, dpi=120, atomic=False)
    return fig


def strongest(w: np.ndarray, n: int):
    """Rows, columns and values of the ``n`` largest |w| off the diagonal (self-connections left out)."""
    off = w.copy()
    if w.shape[0] == w.shape[1]:
        np.fill_diagonal(off, 0.0)
    flat = np.argsort(-np.abs(off), axis=None)[:n]
    pre, post = np.unravel_index(flat, w.shape)
    keep = off[pre, post] != 0
    return pre[keep], post[keep], off[pre, post][keep]


def _ticks(n: int) -> np.ndarray:
    return np.arange(n) if n <= 30 else np.linspace(0, n - 1, 12).round().astype(int)  # ids, never positions


def connectivity_figure(arrays: ConnectivityArrays, *, n_strongest: int = 12):
    """Three panels: ``weights[pre, post]`` (dots: p < 0.05), the strongest edges, a PCA of the embeddings."""
    from nwbsyn.report._html import new_figure  # off screen, not registered with pyplot: no backend switch

    w, pre, post, p = arrays.weights, arrays.pre_labels, arrays.post_labels, arrays.p_values
    fig = new_figure(figsize=(16, 5.0))
    ax_w, ax_top, ax_emb = fig.subplots(1, 3, width_ratios=[1.15, 0.85, 1.0])
    limit = float(np.abs(w).max()) or 1.0
    image = ax_w.imshow(w, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
    ax_w.set_xticks(_ticks(w.shape[1]), [post[i] for i in _ticks(w.shape[1])], rotation=90, fontsize=7)
    ax_w.set_yticks(_ticks(w.shape[0]), [pre[i] for i in _ticks(w.shape[0])], fontsize=7)
    ax_w.set(xlabel="postsynaptic (unit/ROI id)", ylabel="presynaptic (unit/ROI id)",
             title="weights[pre, post] (red excitatory, blue inhibitory)")
    fig.colorbar(image, ax=ax_w, shrink=0.8)
    if p is not None:  # dots: edges that pass the surrogate test
        rows, cols = np.nonzero(np.nan_to_num(p, nan=1.0) < 0.05)
        ax_w.scatter(cols, rows, s=max(3.0, 300.0 / max(w.shape)), c="k", marker="o", linewidths=0)
        ax_w.set_title("weights[pre, post] (red exc., blue inh.; dots: p < 0.05)")
    a, b, values = strongest(w, n_strongest)
    y = np.arange(len(values))[::-1]
    ax_top.barh(y, values, color=np.where(values > 0, "tab:red", "tab:blue"))
    p_text = [f"  p={p[i, k]:.2g}" if p is not None and np.isfinite(p[i, k]) else "" for i, k in zip(a, b)]
    ax_top.set_yticks(y, [f"{pre[i]} → {post[k]}{q}" for i, k, q in zip(a, b, p_text)], fontsize=8)
    ax_top.axvline(0, color="0.5", lw=0.8)
    ax_top.set(title=f"{len(values)} strongest connections (pre → post)", xlabel="weight")
    _embedding_panel(fig, ax_emb, arrays)
    return fig


def _embedding_panel(fig, ax, arrays: ConnectivityArrays) -> None:
    emb, w = arrays.embeddings, arrays.weights
    if emb is None or emb.ndim != 2 or emb.shape[1] < 2 or not np.abs(emb - emb.mean(axis=0)).max() > 0:
        ax.text(0.5, 0.5, "no embeddings of 2 or more dimensions", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    centred = emb - emb.mean(axis=0)
    _, sv, vt = np.linalg.svd(centred, full_matrices=False)
    coords = centred @ vt[:2].T
    explained = sv[:2] ** 2 / max(float((sv ** 2).sum()), 1e-12)
    strength = np.abs(w).sum(axis=1) if w.shape[0] == len(emb) else np.zeros(len(emb))  # outgoing: rows are pre
    points = ax.scatter(coords[:, 0], coords[:, 1], c=strength, cmap="viridis", s=28)
    fig.colorbar(points, ax=ax, shrink=0.8, label="outgoing Σ|w|")
    if len(emb) <= 40:  # each point named by its unit / ROI id
        for (x, y), label in zip(coords, arrays.pre_labels):
            ax.annotate(label, (x, y), fontsize=6, xytext=(2, 2), textcoords="offset points")
    ax.set(xlabel=f"PC 1 ({explained[0]:.0%})", ylabel=f"PC 2 ({explained[1]:.0%})",
           title="neuron embeddings (2-D PCA)")
