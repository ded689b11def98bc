"""`nwbsyn demo` on tiny datasets: files written and valid, reports drawn, planted vs found reported."""

import re

import pytest

from nwbsyn.cli import build_parser, main
from nwbsyn.demo import DemoSummary, run_demo


@pytest.fixture(scope="module")
def summary(tmp_path_factory, one_torch_thread) -> DemoSummary:
    return run_demo(out_dir=tmp_path_factory.mktemp("demo") / "out", quick=True, progress_bar=False)


def test_every_analysis_has_a_row(summary):
    assert [r.analysis for r in summary.rows] == ["events", "connectivity", "partners"]
    assert summary.ok
    events, conn, partners = summary.rows
    f1 = float(re.search(r"F1 ([0-9.]+)", events.score).group(1))
    assert f1 >= 0.8, events
    auroc = float(re.search(r"AUROC ([0-9.]+)", conn.score).group(1))
    assert auroc >= 0.7, conn
    assert re.search(r"edge F1 [0-9.]+", partners.score), partners


def test_files_are_written_valid_and_reported(summary):
    for row in summary.rows:
        assert row.nwb_path.is_file() and row.nwb_path.name.endswith("_nwbsyn.nwb")
        assert row.nwb_path.with_name(row.nwb_path.name.replace("_nwbsyn", "")).is_file()  # the input
        assert row.valid is True
        page = row.report_path.read_text()
        section = {"events": "events", "connectivity": "connectivity", "partners": "partners"}[row.analysis]
        assert f'<section id="{section}">' in page and page.count("<img") >= 1  # the analysis figure, at least


def test_summary_table_lists_planted_and_found(summary):
    text = summary.format()
    assert text.splitlines()[0].split() == ["analysis", "planted", "found", "score", "valid", "time"]
    for row in summary.rows:
        assert row.analysis in text and row.planted in text
    assert str(summary.out_dir) in text


def test_cli_parses_demo_options():
    args = build_parser().parse_args(["demo", "--out", "d", "--quick", "--quiet", "--seed", "3"])
    assert (args.output, args.quick, args.quiet, args.seed) == ("d", True, True, 3)  # --out: -o/--output


def test_cli_prints_the_table_and_fails_when_a_file_is_invalid(monkeypatch, capsys, summary):
    import dataclasses

    import nwbsyn.demo

    monkeypatch.setattr(nwbsyn.demo, "run_demo", lambda **kwargs: summary)
    assert main(["demo", "--out", str(summary.out_dir), "--quiet"]) == 0
    assert "planted" in capsys.readouterr().out
    broken = dataclasses.replace(summary, rows=(dataclasses.replace(summary.rows[0], valid=False), *summary.rows[1:]))
    monkeypatch.setattr(nwbsyn.demo, "run_demo", lambda **kwargs: broken)
    assert main(["demo", "--quiet"]) == 1
