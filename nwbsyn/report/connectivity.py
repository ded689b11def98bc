"""Report section for functional connectivity: the figure of :func:`nwbsyn.connectivity.plot.connectivity_figure`
(weight matrix with presynaptic on rows, strongest connections, embeddings), the strongest edges and fit metrics."""

from __future__ import annotations

import json

from nwbsyn.connectivity.plot import connectivity_arrays, connectivity_figure, strongest
from nwbsyn.report._html import Section, table_html

__all__ = ["connectivity_section"]


def connectivity_section(section_id: str, fc, *, n_strongest: int = 15) -> Section:
    """Section for one FunctionalConnectivity."""
    arrays = connectivity_arrays(fc)
    w, pre, post = arrays.weights, arrays.pre_labels, arrays.post_labels
    table_name = getattr(fc.presynaptic.table, "name", "?")
    section = Section(section_id, f"Functional connectivity ({fc.name})")
    facts = [f"{w.shape[0]} presynaptic × {w.shape[1]} postsynaptic neurons (rows of '{table_name}')",
             f"method: {fc.method}"]
    if fc.bin_size_s:
        facts.append(f"bin {fc.bin_size_s * 1e3:g} ms")
    if fc.source_series is not None:
        facts.append(f"fitted on '{fc.source_series.name}'")
    section.add("<p>" + "; ".join(facts) + ".</p>")
    section.add_figure(connectivity_figure(arrays),  # as --plot draws it; the table below lists n_strongest
                       "Left: weight matrix, rows presynaptic, columns postsynaptic, labelled by unit/ROI id"
                       + (" (dots: p < 0.05)" if arrays.p_values is not None else "") + "; middle: strongest "
                       "connections by |weight| (red excitatory, blue inhibitory); right: neuron embeddings on their "
                       "first two principal components, colour: total outgoing |weight|. The figure of "
                       "'nwbsyn connectivity fit --plot'.")
    pre_idx, post_idx, values = strongest(w, n_strongest)
    p = arrays.p_values
    rows = [[k + 1, pre[a], post[b], float(v), "excitatory" if v > 0 else "inhibitory"]
            + ([float(p[a, b])] if p is not None else []) for k, (a, b, v) in enumerate(zip(pre_idx, post_idx, values))]
    section.add("<h3>Strongest connections</h3>" + table_html(rows, ["rank", "presynaptic", "postsynaptic",
                                                                      "weight", "sign"]
                                                                     + (["p"] if p is not None else [])))
    if fc.metrics:
        try:
            metrics = json.loads(fc.metrics)
        except ValueError:
            metrics = {"metrics": fc.metrics}
        rows = [[k, v if isinstance(v, (int, float)) else json.dumps(v)] for k, v in sorted(metrics.items())]
        section.add("<h3>Fit metrics</h3>" + table_html(rows, ["metric", "value"]))
    return section
