"""One figure per analysis, drawn from the NWB objects: the in-memory results of a run (what ``--plot`` draws)
and the objects read back from the written file (what the report draws) give the same picture."""

import numpy as np
import pytest
from pynwb import NWBHDF5IO

from nwbsyn.report._page import build_report
from nwbsyn.testing import mock_FunctionalConnectivity, mock_SynapticEventsTable, mock_SynapticPartnerTable

from conftest import write_nwbfile


def _drawn(fig) -> list:
    """Everything data-like the figure shows: line data, images, bar widths, tick labels, titles."""
    out = []
    for ax in fig.axes:
        out.append(ax.get_title())
        out += [np.asarray(line.get_xydata()).round(6).tolist() for line in ax.get_lines()]
        out += [np.asarray(im.get_array()).tolist() for im in ax.images]
        out += [round(p.get_width(), 6) for p in ax.patches]
        out += [t.get_text() for t in ax.get_yticklabels() + ax.get_xticklabels()]
    return out


def _read_back(obj, tmp_path, getter):
    path = write_nwbfile(obj.get_ancestor("NWBFile"), tmp_path / "f.nwb")
    io = NWBHDF5IO(str(path), "r")
    return io, getter(io.read())


def test_connectivity_from_memory_and_from_the_file_agree_presynaptic_on_rows(tmp_path):
    from nwbsyn.connectivity.plot import plot_connectivity

    fc = mock_FunctionalConnectivity(source="units")
    in_memory = plot_connectivity(fc)
    io, back = _read_back(fc, tmp_path, lambda f: f.processing["ecephys"]["functional_connectivity"])
    with io:
        assert _drawn(plot_connectivity(back)) == _drawn(in_memory)
        assert np.array_equal(in_memory.axes[0].images[0].get_array(), np.asarray(back.weights[:]))  # [pre, post]


def test_a_bare_connectivity_result_is_transposed_once_to_pre_on_rows():
    from types import SimpleNamespace

    from nwbsyn.connectivity.plot import connectivity_arrays

    w = np.arange(6.0).reshape(2, 3)[:, :2]  # model [post, pre]
    sig = SimpleNamespace(p_values=np.array([[1.0, 0.01], [0.5, 1.0]]))
    arrays = connectivity_arrays(SimpleNamespace(weights=w, embeddings=np.eye(2), significance=sig), labels=["a", "b"])
    assert np.array_equal(arrays.weights, w.T) and arrays.p_values[1, 0] == 0.01  # pre b -> post a


def test_events_from_memory_and_from_the_file_agree(tmp_path):
    from nwbsyn.events.plot import plot_detections

    table = mock_SynapticEventsTable(n_events=12)
    in_memory = plot_detections(table)
    io, back = _read_back(table, tmp_path, lambda f: f.processing["icephys"]["synaptic_events"])
    with io:
        assert _drawn(plot_detections(back)) == _drawn(in_memory)


def test_partners_from_memory_and_from_the_file_agree(tmp_path):
    from nwbsyn.partners.plot import plot_synapses

    table = mock_SynapticPartnerTable()
    in_memory = plot_synapses(table)
    io, back = _read_back(table, tmp_path, lambda f: f.processing["misc"]["synaptic_partners"])
    with io:
        assert _drawn(plot_synapses(back)) == _drawn(in_memory)


@pytest.mark.parametrize("kind", ["events", "connectivity", "partners"])
def test_the_report_shows_the_plot_figure(tmp_path, kind, monkeypatch):
    """The report's first figure of each section is the analysis' figure function (one code path)."""
    import nwbsyn.report.connectivity as rc
    import nwbsyn.report.events as re_
    import nwbsyn.report.partners as rp

    module, name = {"events": (re_, "detections_figure"), "connectivity": (rc, "connectivity_figure"),
                    "partners": (rp, "synapses_figure")}[kind]
    calls = []
    original = getattr(module, name)
    monkeypatch.setattr(module, name, lambda *a, **k: calls.append(1) or original(*a, **k))
    obj = {"events": lambda: mock_SynapticEventsTable(n_events=6),
           "connectivity": mock_FunctionalConnectivity, "partners": mock_SynapticPartnerTable}[kind]()
    build_report(obj.get_ancestor("NWBFile"))
    assert calls


def test_old_in_memory_pairs_are_drawn_from_their_file_or_through_add_results():
    """A run's (TraceInput, result) pairs draw the table the run wrote; pairs whose results are not in
    their file are written by add_results into a scratch file (the user's file is left alone): same picture."""
    from nwbsyn.events import run_on_nwbfile
    from nwbsyn.events.plot import plot_detections
    from nwbsyn.testing import mock_icephys_nwbfile

    nwbfile = mock_icephys_nwbfile(n_sweeps=1, duration_s=1.0)
    run = run_on_nwbfile(nwbfile, progress_bar=False)
    module = nwbfile.processing["icephys"]
    from_file = _drawn(plot_detections(run))
    assert from_file == _drawn(plot_detections(module["synaptic_events"]))
    for name in list(module.data_interfaces):
        module.data_interfaces.pop(name)
    assert _drawn(plot_detections(list(run))) == from_file
    assert not module.data_interfaces
