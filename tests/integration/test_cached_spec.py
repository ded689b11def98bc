"""A file written with nwbsyn opens with plain pynwb in a process that never imports nwbsyn."""

import subprocess
import sys
import textwrap

from nwbsyn.testing import mock_FunctionalConnectivity, mock_nwbfile, mock_SynapticEventsTable

from conftest import write_nwbfile


def test_plain_pynwb_reads_extension_types(tmp_path):
    nwbfile = mock_nwbfile()
    mock_SynapticEventsTable(nwbfile=nwbfile)
    mock_FunctionalConnectivity(nwbfile=nwbfile)
    path = write_nwbfile(nwbfile, tmp_path / "ext.nwb")
    script = textwrap.dedent(f"""
        import sys
        from pynwb import NWBHDF5IO
        with NWBHDF5IO({str(path)!r}, "r") as io:
            nwbfile = io.read()
            events = nwbfile.processing["icephys"]["synaptic_events"]
            conn = nwbfile.processing["ecephys"]["functional_connectivity"]
            print(events.neurodata_type, len(events), events["amplitude"].unit, conn.weights.shape)
        assert "nwbsyn" not in sys.modules
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["SynapticEventsTable", "5", "amperes", "(6,", "6)"]
