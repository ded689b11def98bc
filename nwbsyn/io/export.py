"""Export nwbsyn's tables from an NWB file as CSV (and Parquet when pyarrow is installed).

One file per table, in practical units named in the headers:

* ``<where>_events.csv``: one row per synaptic event (onset on the session clock, amplitude,
  baseline, kinetics, charge, score, the trace it came from);
* ``<where>_events_per_trace.csv``: per trace, the count, analysed time, frequency and medians;
* ``<where>_clefts.csv`` and ``<where>_partners.csv``: EM synaptic clefts and partner edges;
* ``<where>_edges.csv``: functional connectivity as an edge list by unit/ROI id, strongest first,
  with each weight's robust z-score among all off-diagonal weights.

The folder is built beside the target and renamed into place, so a failure leaves nothing.

Example
-------
>>> import os, tempfile
>>> from nwbsyn.io.nwb import write_new_nwb
>>> from nwbsyn.io.export import export_tables
>>> from nwbsyn.testing import mock_icephys_nwbfile, mock_SynapticEventsTable
>>> folder = tempfile.mkdtemp()
>>> nwbfile = mock_icephys_nwbfile(n_sweeps=1)
>>> _ = mock_SynapticEventsTable(nwbfile=nwbfile)
>>> path = write_new_nwb(nwbfile, os.path.join(folder, "cell1_nwbsyn.nwb"))
>>> result = export_tables(path, out_dir=os.path.join(folder, "cell1_tables"))
>>> [f.name for f in result.files if f.suffix == ".csv"]
['icephys_synaptic_events.csv', 'icephys_synaptic_events_per_trace.csv']
"""

from __future__ import annotations

import csv
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nwbsyn._shared import InputError
from nwbsyn._shared.units import display_scale
from nwbsyn.io.output import TMP_MARK, check_output, same_file

__all__ = ["ExportResult", "export_tables"]


@dataclass(frozen=True)
class ExportResult:
    """The folder written and the table files in it."""

    out_dir: Path
    files: tuple[Path, ...]

    def format(self) -> str:
        return "\n".join([f"{len(self.files)} table(s) in {self.out_dir}:", *(f"  {f.name}" for f in self.files)])


def _where(obj) -> str:
    parent = obj.parent
    return f"{parent.name}_{obj.name}" if parent is not None and parent.name != "root" else obj.name


def _column(table, name: str, unit_default: str | None = None) -> tuple[str, np.ndarray] | None:
    if name not in table.colnames:
        return None
    col = table[name]
    values = np.asarray(col.data[:], dtype=float)
    unit = getattr(col, "unit", None) or unit_default
    factor, label = display_scale(unit) if unit else (1.0, None)
    return (f"{name}_{label}" if label else name), values * factor


def _event_rows(table) -> tuple[list[str], list[list]]:
    header, columns = ["event", "onset_s"], [np.arange(len(table)), np.asarray(table["timestamp"].data[:], float)]
    for name, unit in [("amplitude", None), ("baseline", None), ("rise_time", "seconds"),
                       ("half_decay_time", "seconds"), ("half_width", "seconds"), ("charge", None), ("score", None)]:
        found = _column(table, name, unit)
        if found is not None:
            header.append(found[0])
            columns.append(found[1])
    rows = [list(r) for r in zip(*columns)] if len(table) else []
    if "trace" in table.colnames:
        header.append("trace")
        refs = table["trace"].data[:]
        for row, ref in zip(rows, refs):
            row.append(ref[2].name)
    for name in ("amplitude_method", "review"):  # text columns: how the amplitude was read, the curation label
        if name in table.colnames:
            header.append(name)
            for row, value in zip(rows, table[name].data[:]):
                row.append(value.decode() if isinstance(value, bytes) else str(value))
    return header, rows


def _trace_duration_s(series) -> float:
    n = len(series.data)
    if series.rate:
        return n / float(series.rate)
    times = np.asarray(series.timestamps[:], float)
    return float(times[-1] - times[0]) if times.size > 1 else 0.0


def _per_trace_rows(table) -> tuple[list[str], list[list]]:
    header = ["trace", "events", "analysed_s", "frequency_hz", "median_amplitude", "median_rise_time_ms",
              "median_half_decay_ms"]
    if "trace" not in table.colnames or not len(table):
        return header, []
    refs = table["trace"].data[:]
    names = np.array([ref[2].name for ref in refs])
    series = {ref[2].name: ref[2] for ref in refs}
    amplitude = _column(table, "amplitude")
    header[4] = f"median_{amplitude[0]}"
    rise = np.asarray(table["rise_time"].data[:], float) * 1e3
    decay = np.asarray(table["half_decay_time"].data[:], float) * 1e3
    rows = []
    for name in sorted(series):
        mask = names == name
        duration = _trace_duration_s(series[name])
        rows.append([name, int(mask.sum()), round(duration, 6), round(mask.sum() / duration, 6) if duration else float("nan"),
                     float(np.nanmedian(amplitude[1][mask])), float(np.nanmedian(rise[mask])),
                     float(np.nanmedian(decay[mask]))])
    return header, rows


def _cleft_rows(table) -> tuple[list[str], list[list]]:
    header = ["cleft_id", "centroid_z_nm", "centroid_y_nm", "centroid_x_nm", "num_voxels", "score"]
    from nwbsyn.types import cleft_centroids_nm

    ids = np.asarray(table["cleft_id"].data[:])
    centroid = cleft_centroids_nm(table)  # schema 0.2 stores voxels; the CSV says nm
    voxels = np.asarray(table["num_voxels"].data[:])
    score = np.asarray(table["score"].data[:], float) if "score" in table.colnames else np.full(len(ids), np.nan)
    return header, [[int(i), *map(float, c[:3]), int(v), float(s)] for i, c, v, s in zip(ids, centroid, voxels, score)]


def _partner_rows(table) -> tuple[list[str], list[list]]:
    header = ["cleft_id", "presynaptic_id", "postsynaptic_id", "presynaptic_score", "postsynaptic_score"]
    rows_in_clefts = np.asarray(table["cleft"].data[:], int)
    cleft_ids = np.asarray(table["cleft"].table["cleft_id"].data[:])[rows_in_clefts] if len(rows_in_clefts) else []
    cols = [cleft_ids, table["presynaptic_id"].data[:], table["postsynaptic_id"].data[:]]
    for name in ("presynaptic_score", "postsynaptic_score"):
        cols.append(table[name].data[:] if name in table.colnames else np.full(len(rows_in_clefts), np.nan))
    return header, [[int(c), int(p), int(q), float(a), float(b)] for c, p, q, a, b in zip(*cols)]


def _region_ids(region) -> np.ndarray:
    rows = np.asarray(region.data[:], int)
    return np.asarray(region.table.id[:])[rows]


def _edge_rows(fc) -> tuple[list[str], list[list]]:
    header = ["presynaptic_id", "postsynaptic_id", "weight", "sign", "robust_z", "rank"]
    weights = np.asarray(fc.weights[:], float)
    pre, post = _region_ids(fc.presynaptic), _region_ids(fc.postsynaptic)
    j, i = np.nonzero(~np.eye(*weights.shape, dtype=bool)) if weights.shape[0] == weights.shape[1] \
        else np.nonzero(np.ones_like(weights, bool))
    keep = pre[j] != post[i]
    j, i = j[keep], i[keep]
    w = weights[j, i]
    centre = np.nanmedian(w) if w.size else 0.0
    spread = 1.4826 * np.nanmedian(np.abs(w - centre)) if w.size else 0.0
    z = (w - centre) / spread if spread > 0 else np.zeros_like(w)
    order = np.argsort(-np.abs(w), kind="stable")
    return header, [[int(pre[j[k]]), int(post[i[k]]), float(w[k]), "+" if w[k] > 0 else "-" if w[k] < 0 else "0",
                     float(z[k]), rank] for rank, k in enumerate(order, 1)]


def _tables(nwbfile) -> list[tuple[str, list[str], list[list]]]:
    from nwbsyn.report._page import find_results

    found = find_results(nwbfile)
    out = []
    for table in found.events_tables:
        out.append((f"{_where(table)}.csv", *_event_rows(table)))
        out.append((f"{_where(table)}_per_trace.csv", *_per_trace_rows(table)))
    out += [(f"{_where(t)}.csv", *_cleft_rows(t)) for t in found.cleft_tables]
    out += [(f"{_where(t)}.csv", *_partner_rows(t)) for t in found.partner_tables]
    out += [(f"{_where(fc)}_edges.csv", *_edge_rows(fc)) for fc in found.connectivity]
    return out


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows([["" if isinstance(v, float) and not np.isfinite(v) else v for v in row] for row in rows])


def _write_parquet(path: Path, header: list[str], rows: list[list]) -> bool:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return False
    columns = list(zip(*rows)) if rows else [[] for _ in header]
    pq.write_table(pa.table({h: list(c) for h, c in zip(header, columns)}), path)
    return True


def export_tables(path, *, out_dir, overwrite: bool = False, parquet: bool = True) -> ExportResult:
    """Write every nwbsyn table of the NWB file ``path`` into the folder ``out_dir`` as CSV.

    Parameters
    ----------
    path : str or Path
        NWB file with nwbsyn results (events, clefts, partners, connectivity).
    out_dir : str or Path
        Folder to create; an existing one is replaced only with ``overwrite``.
    overwrite : bool, default: False
    parquet : bool, default: True
        Also write ``.parquet`` files when pyarrow is installed.

    Returns
    -------
    ExportResult
    """
    from nwbsyn.io import open_nwb

    out_dir = Path(out_dir)
    if same_file(out_dir, path):
        raise InputError(f"The export folder {out_dir} is the input file; choose another folder with -o DIR.")
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir} is a file; give a folder name for the tables (-o DIR).")
    if out_dir.exists() and not overwrite:
        raise InputError(f"{out_dir} already exists; pass --overwrite to replace its tables or choose another -o DIR.")
    check_output(out_dir.parent / f"{out_dir.name}.csv", overwrite=True, what="export folder")
    with open_nwb(path) as nwbfile:
        tables = _tables(nwbfile)
        if not tables:
            raise InputError(f"{path} holds no nwbsyn tables to export; run an analysis first "
                             "(nwbsyn events detect, partners assign or connectivity fit).")
        tmp = out_dir.with_name(f".{out_dir.name[:100]}{TMP_MARK}{os.getpid()}-{secrets.token_hex(3)}")
        try:
            tmp.mkdir()
            for name, header, rows in tables:
                _write_csv(tmp / name, header, rows)
                if parquet:
                    _write_parquet(tmp / name.replace(".csv", ".parquet"), header, rows)
            _swap_in(tmp, out_dir)
        except BaseException as err:
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(err, OSError):
                raise InputError(f"Could not write the tables into {out_dir} ({err.strerror or err}); "
                                 "nothing was written - choose a writable location.") from err
            raise
    return ExportResult(out_dir, tuple(sorted(out_dir.iterdir())))


def _swap_in(tmp: Path, out_dir: Path) -> None:
    """Rename the finished folder into place; an old folder is moved aside first, then removed."""
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name[:100]}{TMP_MARK}old-{os.getpid()}")
        os.rename(out_dir, old)
        os.rename(tmp, out_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, out_dir)
