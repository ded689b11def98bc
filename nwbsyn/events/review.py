"""Curate detected events in the browser: accept, reject, add missed ones; save back to NWB.

:func:`open_review` reads the events table (``processing/icephys/synaptic_events``) of a file
into a :class:`ReviewSession`; :func:`serve_review` serves the review page on 127.0.0.1 only
(stdlib ``http.server`` in a thread). :meth:`ReviewSession.save` writes the curated table
(rejected events dropped, added ones measured, a ``review`` column) back through
:func:`nwbsyn.io.nwb.edit_nwb` with a ``synaptic_events_review`` ModelProvenance (what changed,
when, by which nwbsyn version), and the labelled windows in the training format that
``nwbsyn events transfer --data`` reads (accepted and added events: 1, rejected: 0).

Example
-------
>>> import os, tempfile
>>> from nwbsyn.io.nwb import open_nwb, write_new_nwb
>>> from nwbsyn.testing import mock_icephys_nwbfile, mock_SynapticEventsTable
>>> folder = tempfile.mkdtemp()
>>> nwbfile = mock_icephys_nwbfile(n_sweeps=1)
>>> _ = mock_SynapticEventsTable(n_events=5, nwbfile=nwbfile)      # stands in for detected events
>>> path = write_new_nwb(nwbfile, os.path.join(folder, "cell_nwbsyn.nwb"))
>>> session = open_review(path, output=os.path.join(folder, "cell_curated.nwb"))
>>> session.set_label(0, "reject"); added = session.add_event(sweep=0, time_s=0.5)
>>> session.counts()
{'accepted': 0, 'rejected': 1, 'unreviewed': 4, 'added': 1}
>>> summary = session.save()
>>> summary["events_before"], summary["events_after"], summary["n_windows"]
(5, 5, 2)
>>> with open_nwb(summary["output"]) as curated:
...     sorted(set(curated.processing["icephys"]["synaptic_events"]["review"].data[:]))
['added', 'unreviewed']
"""

from __future__ import annotations

import datetime
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from nwbsyn._shared import InputError
from nwbsyn._shared.units import display_scale

__all__ = ["ReviewSession", "open_review", "serve_review", "default_windows_path", "RESULT_NAME", "REVIEW_NAME"]

RESULT_NAME = "synaptic_events"
REVIEW_NAME = "synaptic_events_review"
_LABELS = ("accept", "reject", None)
_MAX_VIEW_POINTS = 4000
_WINDOW_S = 0.012  # the classifier's window
_WINDOW_LEAD = 0.25  # share of the window before the onset


@dataclass
class _Sweep:
    name: str
    path: str  # HDF5 path of the series group
    t0_s: float
    rate_hz: float
    n_samples: int
    gain: float  # raw value -> display unit
    offset: float
    unit: str
    polarity: int
    excluded: list = field(default_factory=list)  # (start_s, stop_s, reason) on the session clock


@dataclass
class ReviewSession:
    """The events of one file and the reviewer's labels (thread-safe)."""

    source: Path
    output: Path
    in_place: bool
    windows_path: Path
    sweeps: list
    events: list  # dicts: sweep, onset, t, amp, score, label
    added: list = field(default_factory=list)  # dicts: sweep, onset, t
    overwrite: bool = False
    saved: int = 0
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def state(self) -> dict:
        """Everything the page shows, as JSON-ready data."""
        with self._lock:
            return {"file": str(self.source), "output": str(self.output), "windows": str(self.windows_path),
                    "sweeps": [{"name": s.name, "t0": s.t0_s, "dur": s.n_samples / s.rate_hz, "unit": s.unit,
                                "ex": s.excluded} for s in self.sweeps],
                    "events": [dict(e) for e in self.events], "added": [dict(a) for a in self.added],
                    "saved": self.saved}

    def set_label(self, index: int, label) -> None:
        """``label``: 'accept', 'reject' or None (not reviewed)."""
        if label not in _LABELS:
            raise ValueError(f"label must be one of {_LABELS}; got {label!r}")
        with self._lock:
            self.events[int(index)]["label"] = label

    def add_event(self, *, sweep: int, time_s: float) -> dict:
        """Add a missed event near ``time_s`` (session clock), moved to the steepest rise within 2 ms."""
        s = self.sweeps[int(sweep)]
        end = s.t0_s + s.n_samples / s.rate_hz
        if not s.t0_s + 0.002 <= float(time_s) <= end - 0.002:
            raise InputError(f"{float(time_s):.4f} s lies outside {s.name} ({s.t0_s:.4f} to {end:.4f} s); add events "
                             "inside the sweep.")
        onset = _snap_onset(self._read(s, time_s - 0.003, time_s + 0.003), s, time_s)
        item = {"sweep": int(sweep), "onset": onset, "t": s.t0_s + onset / s.rate_hz}
        with self._lock:
            self.added.append(item)
        return item

    def remove_added(self, k: int) -> None:
        with self._lock:
            self.added.pop(int(k))

    def view(self, *, sweep: int, start_s: float, stop_s: float) -> dict:
        """The trace between two session times, min/max decimated to at most 4000 points, with ``yr``: a
        y-range set by the bulk of the trace (capacitive transients do not set it)."""
        from nwbsyn.report._viewer import envelope_bin, sweep_envelope

        s = self.sweeps[int(sweep)]
        y, first = self._read(s, start_s, stop_s, with_first=True)
        yr = sweep_envelope(y, k=envelope_bin(s.rate_hz, y.size), gain=1.0, rate_hz=s.rate_hz)["y"] if y.size \
            else (-1.0, 1.0)
        k = max(1, -(-y.size // (_MAX_VIEW_POINTS // 2)))
        n = y.size // k * k
        if k > 1 and n:
            blocks = y[:n].reshape(-1, k)
            y = np.stack([blocks.min(axis=1), blocks.max(axis=1)], axis=1).ravel()
            t = s.t0_s + (first + np.repeat(np.arange(n // k) * k, 2) + k / 2) / s.rate_hz
        else:
            t = s.t0_s + (first + np.arange(y.size)) / s.rate_hz
        return {"t": np.round(t, 7).tolist(), "y": np.round(y, 4).tolist(), "yr": [float(v) for v in yr]}

    def _read(self, s: _Sweep, start_s: float, stop_s: float, *, with_first: bool = False):
        a = int(np.clip(np.floor((start_s - s.t0_s) * s.rate_hz), 0, s.n_samples))
        b = int(np.clip(np.ceil((stop_s - s.t0_s) * s.rate_hz), a, s.n_samples))
        with h5py.File(self.source, "r") as f:
            y = np.asarray(f[s.path]["data"][a:b], dtype=float) * s.gain + s.offset
        return (y, a) if with_first else y

    def counts(self) -> dict:
        with self._lock:
            labels = [e["label"] for e in self.events]
            return {"accepted": labels.count("accept"), "rejected": labels.count("reject"),
                    "unreviewed": labels.count(None), "added": len(self.added)}

    def save(self) -> dict:
        """Write the curated table and its provenance, then the labelled windows. Returns a summary."""
        from nwbsyn.events._review_save import save_review

        with self._lock:
            summary = save_review(self)
            self.saved += 1
            self.overwrite = True  # later saves of this session replace its own output
            if self.in_place:  # the file now holds the curated table: review from it
                again = open_review(self.source, in_place=True, windows=self.windows_path, overwrite=True)
                self.sweeps, self.events, self.added = again.sweeps, again.events, []
        return summary


def default_windows_path(output) -> Path:
    """``curated.nwb`` -> ``curated_review_windows.h5`` beside it."""
    output = Path(output)
    return output.with_name(f"{output.stem}_review_windows.h5")


def _snap_onset(y: np.ndarray, s: _Sweep, time_s: float) -> int:
    """The steepest rise (in the sweep's polarity) of ``y`` read from time_s - 3 ms, as a sample index."""
    first = int(np.clip(np.floor((time_s - 0.003 - s.t0_s) * s.rate_hz), 0, s.n_samples))
    clicked = int(np.clip(round((time_s - s.t0_s) * s.rate_hz), 0, max(s.n_samples - 1, 0)))
    if y.size < 5:
        return clicked
    width = max(1, int(round(0.0003 * s.rate_hz)))
    smooth = np.convolve(y, np.ones(width) / width, mode="same")
    slope = np.gradient(smooth) * s.polarity
    near = np.abs(first + np.arange(y.size) - clicked) <= int(0.002 * s.rate_hz)
    near[:width] = near[-width:] = False
    return first + int(np.argmax(np.where(near, slope, -np.inf))) if near.any() else clicked


def _events_table(nwbfile, source):
    module = nwbfile.processing.get("icephys")
    table = module.data_interfaces.get(RESULT_NAME) if module is not None else None
    if table is None or len(table) == 0:
        raise InputError(f"{source} holds no synaptic events (processing/icephys/{RESULT_NAME}); run "
                         f"'nwbsyn events detect {source}' first and review its output.")
    return table


def _sweep_of(series, polarity_text: str) -> _Sweep:
    from nwbsyn._shared.nwb import object_path

    factor, unit = display_scale(series.unit)
    if series.rate:
        rate, t0 = float(series.rate), float(series.starting_time or 0.0)
    else:
        stamps = np.asarray(series.timestamps[:1000], dtype=float)
        rate, t0 = 1.0 / float(np.median(np.diff(stamps))), float(stamps[0])
    default = 1 if series.neurodata_type == "CurrentClampSeries" else -1
    polarity = {"negative": -1, "positive": 1}.get(polarity_text or "", default)
    return _Sweep(series.name, object_path(series), t0, rate, len(series.data),
                  float(series.conversion) * factor, float(getattr(series, "offset", 0.0) or 0.0) * factor, unit,
                  polarity)


def _attach_excluded(sweeps: list, module) -> None:
    """Each sweep's excluded windows from ``synaptic_events_excluded`` (drawn shaded on the page)."""
    table = module.data_interfaces.get("synaptic_events_excluded")
    if table is None or "series" not in table.colnames:
        return
    names = np.asarray(table["series"].data[:]).astype(str)
    why = np.asarray(table["reason"].data[:]).astype(str) if "reason" in table.colnames else np.full(len(names), "")
    by_name = {s.name: s for s in sweeps}
    for a, b, name, reason in zip(table["start_time"].data[:], table["stop_time"].data[:], names, why):
        if name in by_name:
            by_name[name].excluded.append((float(a), float(b), str(reason)))


def _read_events(table, sweeps_by_id: dict) -> list[dict]:
    refs = table["trace"].data[:]
    t = np.asarray(table["timestamp"].data[:], dtype=float)
    amp = np.asarray(table["amplitude"].data[:], dtype=float)
    score = np.asarray(table["score"].data[:], dtype=float)
    review = np.asarray(table["review"].data[:]).astype(str) if "review" in table.colnames else None
    factor = display_scale(getattr(table["amplitude"], "unit", ""))[0]
    events = []
    for i, ref in enumerate(refs):
        prior = None if review is None else ("accept" if review[i] in ("accepted", "added") else None)
        events.append({"i": i, "sweep": sweeps_by_id[ref[2].object_id], "onset": int(ref[0]), "t": float(t[i]),
                       "amp": round(float(amp[i]) * factor, 4), "score": round(float(score[i]), 4) if
                       np.isfinite(score[i]) else None, "label": prior})
    return events


def open_review(path, *, output=None, in_place: bool = False, overwrite: bool = False,
                windows=None) -> ReviewSession:
    """Read the events of ``path`` and check (before any review) where the save will write.

    Example
    -------
    >>> import os, tempfile
    >>> from nwbsyn.io.nwb import write_new_nwb
    >>> from nwbsyn.testing import mock_icephys_nwbfile, mock_SynapticEventsTable
    >>> nwbfile = mock_icephys_nwbfile(n_sweeps=1)
    >>> _ = mock_SynapticEventsTable(n_events=5, nwbfile=nwbfile)
    >>> path = write_new_nwb(nwbfile, os.path.join(tempfile.mkdtemp(), "cell_nwbsyn.nwb"))
    >>> session = open_review(path, in_place=True)
    >>> session.counts()["unreviewed"], session.output == session.source
    (5, True)
    """
    from nwbsyn.io.nwb import _claim_destination, check_nwb_path, open_nwb
    from nwbsyn.io.output import check_output

    source = check_nwb_path(path)
    with open_nwb(source) as nwbfile:
        table = _events_table(nwbfile, source)
        series = {}
        for ref in table["trace"].data[:]:
            series.setdefault(ref[2].object_id, ref[2])
        sweeps = [_sweep_of(s, table.polarity) for s in series.values()]
        _attach_excluded(sweeps, nwbfile.processing["icephys"])
        events = _read_events(table, {oid: k for k, oid in enumerate(series)})
    with _claim_destination(source, output, in_place, overwrite) as claim:  # checked now, claimed at save
        target = Path(claim.path)
    windows_path = Path(windows) if windows is not None else default_windows_path(target)
    check_output(windows_path, inputs=[source], overwrite=overwrite, what="training-windows file (--windows)")
    return ReviewSession(source=source, output=target, in_place=in_place, windows_path=windows_path,
                         sweeps=sweeps, events=events, overwrite=overwrite)


def serve_review(session: ReviewSession, *, port: int = 8765, strict_port: bool = False, announce=print):
    """Serve the review page on 127.0.0.1 in a daemon thread; returns the server (``.server_port``).

    When ``port`` is taken, a free port is used and ``announce`` says so; with ``strict_port``
    a taken port is an InputError. ``port=0``: any free port.
    """
    from nwbsyn.events._review_server import make_server

    try:
        server = make_server(session, port, announce=announce)
    except OSError as err:
        if strict_port:
            raise InputError(f"Port {port} on 127.0.0.1 is in use ({err.strerror or err}); choose another "
                             "--port, or --port 0 for any free port.") from err
        server = make_server(session, 0, announce=announce)
        announce(f"port {port} is in use; serving on port {server.server_port} instead")
    server.shutdown_event = threading.Event()  # set once the server has stopped (POST /api/quit)

    def run():
        try:
            server.serve_forever()
        finally:
            server.shutdown_event.set()

    threading.Thread(target=run, name="nwbsyn-review", daemon=True).start()
    return server


def provenance_entry(session: ReviewSession, *, kept: int) -> dict:
    """What this save changed, when and by which nwbsyn version (one item of the review history)."""
    from nwbsyn import __version__

    def where(e):
        return {"series": session.sweeps[e["sweep"]].name, "timestamp": round(e["t"], 7), "onset_sample": e["onset"]}

    return {"saved_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "nwbsyn_version": __version__, "source": str(session.source), "events_before": len(session.events),
            "events_after": kept + len(session.added), **session.counts(),
            "rejected_events": [where(e) for e in session.events if e["label"] == "reject"],
            "added_events": [where(a) for a in session.added],
            "training_windows": str(session.windows_path)}


def history_of(module) -> list:
    """The review history already stored in a module (empty when the events were never reviewed)."""
    old = module.data_interfaces.get(REVIEW_NAME) if module is not None else None
    if old is None:
        return []
    try:
        return list(json.loads(old.parameters).get("history", []))
    except (TypeError, ValueError):
        return []
