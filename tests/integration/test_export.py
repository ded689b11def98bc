"""`nwbsyn export`: one CSV per nwbsyn table, rows that match the NWB tables, clean refusals."""

import csv

import numpy as np
import pytest

from nwbsyn.cli import main
from nwbsyn.io.export import export_tables
from nwbsyn.testing import (mock_FunctionalConnectivity, mock_SynapticEventsTable, mock_SynapticPartnerTable,
                            mock_icephys_nwbfile)

from conftest import write_nwbfile


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_events_one_row_per_event_in_practical_units(tmp_path):
    table = mock_SynapticEventsTable(n_events=7)
    path = write_nwbfile(table.get_ancestor("NWBFile"), tmp_path / "ev.nwb")
    result = export_tables(path, out_dir=tmp_path / "tables", parquet=False)
    events = next(f for f in result.files if f.name.endswith("synaptic_events.csv"))
    rows = _rows(events)
    assert len(rows) == 7
    amp = np.asarray(table["amplitude"].data[:], float) * 1e12
    assert np.allclose([float(r["amplitude_pA"]) for r in rows], amp)
    assert np.allclose([float(r["onset_s"]) for r in rows], table["timestamp"].data[:])
    per_trace = _rows(next(f for f in result.files if f.name.endswith("_per_trace.csv")))
    assert sum(int(r["events"]) for r in per_trace) == 7


def test_connectivity_edges_by_unit_id_strongest_first(tmp_path):
    fc = mock_FunctionalConnectivity()
    path = write_nwbfile(fc.get_ancestor("NWBFile"), tmp_path / "fc.nwb")
    rows = _rows(export_tables(path, out_dir=tmp_path / "t", parquet=False).files[0])
    weights = np.abs([float(r["weight"]) for r in rows])
    assert np.all(np.diff(weights) <= 0) and rows[0]["rank"] == "1"
    ids = set(fc.presynaptic.table.id[:])
    assert {int(r["presynaptic_id"]) for r in rows} <= ids
    n = len(fc.presynaptic.data)
    assert len(rows) == n * (n - 1)


def test_partners_and_clefts(tmp_path):
    partners = mock_SynapticPartnerTable()
    path = write_nwbfile(partners.get_ancestor("NWBFile"), tmp_path / "em.nwb")
    files = {f.name: f for f in export_tables(path, out_dir=tmp_path / "t", parquet=False).files}
    partner_rows = _rows(next(v for k, v in files.items() if "partner" in k))
    assert len(partner_rows) == len(partners)
    cleft_ids = {r["cleft_id"] for r in _rows(next(v for k, v in files.items() if "cleft" in k))}
    assert {r["cleft_id"] for r in partner_rows} <= cleft_ids


def test_cli_refuses_existing_folder_and_files_without_tables(tmp_path, capsys):
    table = mock_SynapticEventsTable()
    path = write_nwbfile(table.get_ancestor("NWBFile"), tmp_path / "ev.nwb")
    assert main(["export", str(path), "-o", str(tmp_path / "t")]) == 0
    before = sorted(p.name for p in (tmp_path / "t").iterdir())
    assert main(["export", str(path), "-o", str(tmp_path / "t")]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["export", str(path), "-o", str(tmp_path / "t"), "--overwrite"]) == 0
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == before
    plain = write_nwbfile(mock_icephys_nwbfile(n_sweeps=1, duration_s=0.1), tmp_path / "plain.nwb")
    assert main(["export", str(plain), "-o", str(tmp_path / "p")]) == 2
    assert "no nwbsyn tables" in capsys.readouterr().err
    assert main(["export", str(path), "-o", str(path)]) == 2
    assert not (tmp_path / "p").exists()
    assert not [p for p in tmp_path.iterdir() if ".nwbsyn-tmp-" in p.name]


def test_parquet_beside_csv_when_pyarrow_is_present(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow is only in the [dask] extra")

    table = mock_SynapticEventsTable(n_events=4)
    path = write_nwbfile(table.get_ancestor("NWBFile"), tmp_path / "ev.nwb")
    files = export_tables(path, out_dir=tmp_path / "t").files
    parquet = next(f for f in files if f.name.endswith("synaptic_events.parquet"))
    assert pq.read_table(parquet).num_rows == 4
