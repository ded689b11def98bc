"""Saving a review (:meth:`nwbsyn.events.review.ReviewSession.save`): the curated events table,
its provenance and the labelled training windows."""

from __future__ import annotations

import numpy as np

from nwbsyn._shared.units import display_scale

__all__ = ["save_review"]

_STATS = {"amplitude": ("amplitude_pA", True), "baseline": ("baseline_pA", True), "rise_time": ("rise_time_ms", False),
          "half_decay_time": ("half_decay_ms", False), "half_width": ("half_width_ms", False),
          "charge": ("charge_pC", True)}
_REVIEW = {"accept": "accepted", None: "unreviewed"}


def _added_statistics(inputs_by_name, session) -> dict:
    """Statistics of the added events, measured with the kept events of their sweep as neighbours."""
    from nwbsyn.events.stats import event_statistics

    out = {}
    for k in sorted({a["sweep"] for a in session.added}):
        sweep = session.sweeps[k]
        inp = inputs_by_name[sweep.name]
        added = [j for j, a in enumerate(session.added) if a["sweep"] == k]
        kept = [e["onset"] for e in session.events if e["sweep"] == k and e["label"] != "reject"]
        onsets = np.array(kept + [session.added[j]["onset"] for j in added], dtype=np.int64)
        st = event_statistics(inp.trace, onsets, sampling_rate_hz=inp.sampling_rate_hz, polarity=sweep.polarity)
        rows = {int(o): r for r, o in enumerate(st.onset_samples)}
        for j in added:
            r = rows.get(int(session.added[j]["onset"]))
            out[j] = {name: (float(getattr(st, attr)[r]) if r is not None else float("nan"), si)
                      for name, (attr, si) in _STATS.items()}
            out[j]["amplitude_method"] = str(st.amplitude_method[r]) if r is not None else "direct"
    return out


def _to_si(value: float, name: str, si: bool, scale: float) -> float:
    if name in ("rise_time", "half_decay_time", "half_width"):
        return value / 1e3
    return value / scale if si else value


def _new_values(old, keep, session, stats, series_of, rows_of, scale) -> dict:
    """Every column's values: the kept rows, then the added events."""
    values = {}
    for name in old.colnames:
        col = old[name]
        if name == "trace":
            data = list(col.data[:])
            kept = [(int(data[i][0]), int(data[i][1]), data[i][2]) for i in keep]
            window = int(data[keep[0]][1]) if len(keep) else 0
            values[name] = kept + [(a["onset"], window or int(round(0.012 * session.sweeps[a["sweep"]].rate_hz)),
                                    series_of[a["sweep"]]) for a in session.added]
            continue
        data = col.data[:]
        kept = [data[i] for i in keep]
        if name == "timestamp":
            new = [a["t"] for a in session.added]
        elif name == "score":
            new = [1.0] * len(session.added)  # marked by the reviewer: certain
        elif name == "recording":
            new = [rows_of.get(series_of[a["sweep"]].object_id, -1) for a in session.added]
        elif name == "amplitude_method":
            new = [stats[j]["amplitude_method"] for j in range(len(session.added))]
        elif name in _STATS:
            new = [_to_si(stats[j][name][0], name, stats[j][name][1], scale) for j in range(len(session.added))]
        elif name == "review":
            kept, new = [], []
        else:
            new = [float("nan") if np.asarray(data).dtype.kind == "f" else ""] * len(session.added)
        values[name] = kept + new
    return values


def _columns(old, values, order, review, nwbfile):
    from hdmf.common import DynamicTableRegion, VectorData

    columns = []
    for name in old.colnames:
        if name == "review":
            continue
        col, data = old[name], [values[name][i] for i in order]
        if name == "recording":
            if min(data, default=0) < 0:
                continue  # an added event outside the recordings table: the column cannot hold it
            columns.append(DynamicTableRegion(name=name, description=col.description, data=data,
                                              table=nwbfile.intracellular_recordings))
            continue
        kind = type(col).__name__
        kwargs = {"unit": col.unit} if kind == "QuantityVectorData" else {}
        if kind == "TimestampVectorData" and getattr(col, "resolution", None) is not None:
            kwargs["resolution"] = col.resolution
        if name != "trace" and name != "amplitude_method":
            data = np.asarray(data, dtype=float)
        columns.append(type(col)(name=name, description=col.description, data=data, **kwargs))
    columns.append(VectorData(name="review", description="Review by 'nwbsyn events review': 'accepted', 'added' "
                              "(marked by the reviewer) or 'unreviewed'; rejected events are left out and listed "
                              f"in {_review_name()}.", data=[review[i] for i in order]))
    return columns


def _review_name() -> str:
    from nwbsyn.events.review import REVIEW_NAME

    return f"processing/icephys/{REVIEW_NAME}"


def curated_table(nwbfile, old, session):
    """A new SynapticEventsTable: kept events (not rejected) and added ones, sorted by time."""
    from nwbsyn.events.nwb import _recording_rows, load_inputs
    from nwbsyn.types import SynapticEventsTable

    keep = [e["i"] for e in session.events if e["label"] != "reject"]
    refs = old["trace"].data[:]
    series_of = {e["sweep"]: refs[e["i"]][2] for e in session.events}
    inputs = {i.series.name: i for i in load_inputs(nwbfile, series=sorted({session.sweeps[a["sweep"]].name
                                                                                for a in session.added}))} \
        if session.added else {}
    stats = _added_statistics(inputs, session) if session.added else {}
    scale = display_scale(getattr(old["amplitude"], "unit", ""))[0]
    values = _new_values(old, keep, session, stats, series_of, _recording_rows(nwbfile), scale)
    review = [_REVIEW[session.events[i]["label"]] for i in keep] + ["added"] * len(session.added)
    order = np.argsort(np.asarray(values["timestamp"], dtype=float), kind="stable")
    return SynapticEventsTable(name=old.name, polarity=old.polarity, model=old.model,
                               columns=_columns(old, values, order, review, nwbfile),
                               description=old.description, source_description="nwbsyn events review")


def training_windows(session, series_of) -> tuple[np.ndarray, np.ndarray]:
    """One 12 ms window per labelled event (a quarter before the onset), raw trace in display units."""
    from nwbsyn.events.review import _WINDOW_LEAD, _WINDOW_S

    items = [(e, 1 if e["label"] == "accept" else 0) for e in session.events if e["label"] is not None]
    items += [(a, 1) for a in session.added]
    windows, labels = [], []
    lengths = {round(_WINDOW_S * s.rate_hz) for s in session.sweeps}
    n = max(lengths)
    for item, label in items:
        s = session.sweeps[item["sweep"]]
        a = int(item["onset"]) - int(round(_WINDOW_LEAD * n))
        if a < 0 or a + n > s.n_samples:
            continue
        data = series_of[item["sweep"]].data
        windows.append(np.asarray(data[a:a + n], dtype=float) * s.gain + s.offset)
        labels.append(label)
    return (np.stack(windows) if windows else np.zeros((0, n))), np.asarray(labels, dtype=np.int64)


def save_review(session) -> dict:
    """Write the curated file (atomically, through edit_nwb) and the windows file; returns a summary."""
    from nwbsyn._shared.nwb import make_provenance, put_result
    from nwbsyn.events.review import REVIEW_NAME, RESULT_NAME, history_of, provenance_entry
    from nwbsyn.events.train import save_training_windows
    from nwbsyn.io.nwb import edit_nwb

    with edit_nwb(session.source, output=None if session.in_place else session.output, in_place=session.in_place,
                  overwrite=session.overwrite) as nwbfile:
        module = nwbfile.processing["icephys"]
        old = module.data_interfaces[RESULT_NAME]
        refs = old["trace"].data[:]
        series_of = {e["sweep"]: refs[e["i"]][2] for e in session.events}
        table = curated_table(nwbfile, old, session)
        entry = provenance_entry(session, kept=sum(e["label"] != "reject" for e in session.events))
        history = history_of(module) + [entry]
        windows, labels = training_windows(session, series_of)
        put_result(module, table, overwrite=True)
        put_result(module, make_provenance(
            name=REVIEW_NAME, model_name="manual review", architecture="none (human curation)",
            method="nwbsyn events review: accept/reject detected events, add missed ones",
            parameters={"history": history}), overwrite=True)
    written = None
    if len(labels):
        with _claim_windows(session) as claim:
            written = str(save_training_windows(claim, windows, labels))
    return {**entry, "output": str(session.output), "windows_written": written, "n_windows": int(len(labels)),
            "n_positive": int(labels.sum()), "window_samples": int(windows.shape[1])}


def _claim_windows(session):
    from nwbsyn.io.output import claim_output

    return claim_output(session.windows_path, inputs=[session.source], overwrite=session.overwrite or bool(
        session.saved), what="training-windows file (--windows)")
