"""`nwbsyn report`: one self-contained HTML page per file, a section per result, every figure present."""

import base64
import re
from html.parser import HTMLParser

import numpy as np
import pytest

from nwbsyn._shared import InputError
from nwbsyn._shared.nwb import get_or_create_module
from nwbsyn.cli import main
from nwbsyn.report import find_results, write_report
from nwbsyn.testing import (
    mock_ecephys_nwbfile,
    mock_FunctionalConnectivity,
    mock_ModelProvenance,
    mock_nwbfile,
    mock_SynapticEventScoreSeries,
    mock_SynapticEventsTable,
)

from conftest import write_nwbfile

FIGURES = {"events": 3, "connectivity": 1, "partners": 2}  # <img> per section (the --plot figure is the first)


def em_results_file(nwbfile=None, *, module_name="em", prefix=""):
    """A simulated EM volume with its true clefts and partners stored as nwbsyn results."""
    from nwbsyn.partners import simulate_volume
    from nwbsyn.types import EMImageVolume, EMLabelVolume, SynapticCleftTable, SynapticPartnerTable

    sim = simulate_volume(shape_zyx=(8, 96, 96), n_synapses=4, polyadic_fraction=0.5, rng=1)
    nwbfile = nwbfile if nwbfile is not None else mock_nwbfile()
    vs = list(sim.voxel_size_nm)
    image = EMImageVolume(name="em_raw", description="Simulated EM.", voxel_size_nm=vs, data=sim.raw)
    segmentation = EMLabelVolume(name="neuron_ids", description="Segmentation.", voxel_size_nm=vs,
                                 data=sim.neuron_ids.astype(np.uint64), image_volume=image)
    nwbfile.add_acquisition(image)
    nwbfile.add_acquisition(segmentation)
    module = get_or_create_module(nwbfile, module_name)
    cleft_volume = EMLabelVolume(name=f"{prefix}cleft_labels", description="Clefts.", voxel_size_nm=vs,
                                 data=sim.clefts.astype(np.uint64), image_volume=image)
    module.add(cleft_volume)
    clefts = SynapticCleftTable(name=f"{prefix}synaptic_clefts", description="Clefts.", cleft_volume=cleft_volume,
                                centroid_unit="nanometers")
    partners = SynapticPartnerTable(name=f"{prefix}synaptic_partners", description="Partners.",
                                    segmentation=segmentation, target_tables={"cleft": clefts})
    for row, syn in enumerate(sim.synapses):
        where = np.argwhere(sim.clefts == syn.cleft_id)
        box = [*where.min(axis=0), *(where.max(axis=0) + 1)]
        clefts.add_row(cleft_id=np.uint64(syn.cleft_id), centroid=list(where.mean(axis=0) * vs),
                       num_voxels=len(where), bounding_box=box, score=1.0)
        for post in syn.post_ids:
            partners.add_row(cleft=row, presynaptic_id=np.uint64(syn.pre_id), postsynaptic_id=np.uint64(post),
                             presynaptic_score=1.0, postsynaptic_score=0.9)
    module.add(clefts)
    module.add(partners)
    return nwbfile, sim


def events_file():
    nwbfile = mock_nwbfile()
    mock_SynapticEventsTable(n_events=30, nwbfile=nwbfile)
    mock_SynapticEventScoreSeries(nwbfile=nwbfile)
    return nwbfile


def connectivity_file():
    return mock_FunctionalConnectivity(source="units").get_ancestor("NWBFile")


class _Checker(HTMLParser):
    """Collects section ids with their <img> sources and checks that sections nest properly."""

    def __init__(self):
        super().__init__()
        self.sections, self.current, self.images, self.external = {}, None, [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            assert self.current is None, "nested sections"
            self.current = attrs["id"]
            self.sections[self.current] = []
        if tag == "img":
            self.images.append(attrs["src"])
            if self.current is not None:
                self.sections[self.current].append(attrs["src"])
        for key in ("src", "href"):
            if key in attrs and re.match(r"^(https?:)?//", attrs[key]):
                self.external.append(attrs[key])
        if tag in ("link", "iframe") or (tag == "script" and "src" in attrs):
            self.external.append(tag)

    def handle_endtag(self, tag):
        if tag == "section":
            self.current = None


def check_page(path) -> dict:
    """Parse the page; every image must be an embedded, decodable PNG and nothing may be external."""
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    checker = _Checker()
    checker.feed(text)
    assert not checker.external, checker.external
    for src in checker.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    return {sid: len(imgs) for sid, imgs in checker.sections.items()}


@pytest.mark.parametrize("kind", ["events", "connectivity", "partners"])
def test_one_section_per_analysis_with_every_figure(tmp_path, kind):
    nwbfile = {"events": events_file, "connectivity": connectivity_file,
               "partners": lambda: em_results_file()[0]}[kind]()
    path = write_nwbfile(nwbfile, tmp_path / f"{kind}.nwb")
    out = write_report(path, output_path=tmp_path / "report.html")
    assert check_page(out) == {kind: FIGURES[kind]}


def test_all_results_of_one_file_on_one_page(tmp_path):
    nwbfile, sim = em_results_file(events_file())
    mock_FunctionalConnectivity(source="units", nwbfile=nwbfile)
    mock_FunctionalConnectivity(source="rois", nwbfile=nwbfile)
    path = write_nwbfile(nwbfile, tmp_path / "all.nwb")
    out = tmp_path / "all.html"
    assert main(["report", str(path), "-o", str(out)]) == 0
    counts = check_page(out)
    assert counts == {"events": 3, "connectivity-1": 1, "connectivity-2": 1, "partners": 2}
    text = out.read_text()
    assert "mock-model" in text and "0" * 64 in text  # provenance: model name and full sha256
    n_poly = sum(s.is_polyadic for s in sim.synapses)
    assert f"<td class=\"text\">polyadic synapses (≥ 2 partners)</td><td>{n_poly}</td>" in text
    assert "<h3>Per-recording statistics</h3>" in text and "<h3>Strongest connections</h3>" in text


def test_results_are_found_by_type_not_by_name(tmp_path):
    nwbfile, _ = em_results_file(module_name="segmentation_results", prefix="run2_")
    found = find_results(nwbfile)
    assert [t.name for t in found.partner_tables] == ["run2_synaptic_partners"]
    assert [t.name for t in found.cleft_tables] == ["run2_synaptic_clefts"]
    path = write_nwbfile(nwbfile, tmp_path / "renamed.nwb")
    assert check_page(write_report(path, output_path=tmp_path / "r.html")) == {"partners": 2}


def test_scores_without_events_get_a_section(tmp_path):
    nwbfile = mock_nwbfile()
    mock_SynapticEventScoreSeries(nwbfile=nwbfile)
    path = write_nwbfile(nwbfile, tmp_path / "scores.nwb")
    assert check_page(write_report(path, output_path=tmp_path / "r.html")) == {"events": 1}
    assert "No events were found" in (tmp_path / "r.html").read_text()


def test_a_run_that_found_nothing_still_gets_a_page(tmp_path):
    nwbfile = mock_nwbfile()
    mock_ModelProvenance(name="cleft_model", nwbfile=nwbfile)  # what a partners run without clefts leaves
    path = write_nwbfile(nwbfile, tmp_path / "nothing.nwb")
    out = write_report(path, output_path=tmp_path / "r.html")
    assert check_page(out) == {"nothing-found": 0}
    assert "cleft_model" in out.read_text()


def test_a_file_without_results_is_a_clear_error(tmp_path, capsys):
    path = write_nwbfile(mock_ecephys_nwbfile(), tmp_path / "plain.nwb")
    with pytest.raises(InputError, match="holds no nwbsyn results"):
        write_report(path, output_path=tmp_path / "r.html")
    assert main(["report", str(path)]) == 2
    assert "no nwbsyn results" in capsys.readouterr().err
    assert not (tmp_path / "plain_report.html").exists()


def test_cli_default_output_and_overwrite(tmp_path, capsys):
    path = write_nwbfile(connectivity_file(), tmp_path / "session.nwb")
    assert main(["report", str(path)]) == 0
    assert (tmp_path / "session_report.html").is_file()
    assert main(["report", str(path)]) == 2  # exists: refused
    assert "--overwrite" in capsys.readouterr().err
    assert main(["report", str(path), "--overwrite"]) == 0


def test_events_page_has_a_viewer_of_every_sweep_and_a_gallery_of_every_event(tmp_path):
    """The interactive parts carry every sweep and every event, decodable to the drawn values."""
    import json

    nwbfile = events_file()
    path = write_nwbfile(nwbfile, tmp_path / "events.nwb")
    text = write_report(path, output_path=tmp_path / "r.html").read_text()
    blocks = re.findall(r'<script type="application/json">(.*?)</script>', text, flags=re.S)
    sweeps, gallery = json.loads(blocks[0]), json.loads(blocks[1])
    table = nwbfile.processing["icephys"]["synaptic_events"]
    traces = {ref[2].name for ref in table["trace"].data[:]}
    assert {s["name"] for s in sweeps} >= traces
    assert len(gallery["ev"]) == len(table)
    packed = sweeps[0]["lo"]
    q = np.frombuffer(base64.b64decode(packed["b"]), dtype="<i2").astype(float)
    values = packed["lo"] + (q + 32500) * packed["s"]
    assert np.all(values >= sweeps[0]["y"][0] - 1e3)  # decodes to finite display values
    lo, hi = sweeps[0]["y"]
    assert lo < hi


def test_robust_range_ignores_capacitive_transients():
    from nwbsyn.report._viewer import sweep_envelope

    rng = np.random.default_rng(0)
    y = rng.normal(0, 2.0, 200_000)
    for start in range(0, 200_000, 20_000):
        y[start:start + 40] -= 700.0  # a membrane-test transient every second at 20 kHz
    lo, hi = sweep_envelope(y, k=5, gain=1.0, rate_hz=20_000.0)["y"]
    assert -20 < lo < -5 and 5 < hi < 20


def test_excluded_windows_drawn_and_frequency_per_analysed_second(tmp_path):
    """synaptic_events_excluded: shaded in the sweep viewer with its reason; the statistics count analysed time."""
    import json

    from pynwb.epoch import TimeIntervals

    table = mock_SynapticEventsTable(n_events=6)
    nwbfile = table.get_ancestor("NWBFile")
    sweep = table["trace"].data[0][2]
    excluded = TimeIntervals(name="synaptic_events_excluded", description="Excluded windows.")
    excluded.add_column(name="series", description="Series.")
    excluded.add_column(name="reason", description="Why.")
    t0 = float(sweep.starting_time or 0.0)
    for a, b in ((0.1, 0.3), (0.2, 0.35)):  # overlapping: 0.25 s together
        excluded.add_row(start_time=t0 + a, stop_time=t0 + b, series=sweep.name, reason="command step")
    nwbfile.processing["icephys"].add(excluded)
    text = write_report(write_nwbfile(nwbfile, tmp_path / "ex.nwb"), output_path=tmp_path / "r.html").read_text()
    sweeps = json.loads(re.findall(r'<script type="application/json">(.*?)</script>', text, flags=re.S)[0])
    drawn = next(s for s in sweeps if s["name"] == sweep.name)["ex"]
    assert [w[2] for w in drawn] == ["command step"] * 2
    duration = len(sweep.data) / sweep.rate
    assert f"<td>{round(duration - 0.25, 3):g}</td>" in text and "per analysed s" in text
