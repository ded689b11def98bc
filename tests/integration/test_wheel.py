"""The built wheel carries the schema and works from a non-editable install in a fresh virtual environment."""

import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    pytest.importorskip("hatchling", reason="building the wheel needs hatchling (pip install 'nwbsyn[test]')")
    out = tmp_path_factory.mktemp("wheel")
    for project in (REPO, REPO / "spec"):  # nwbsyn and the ndx-nwbsyn it depends on
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                        "-w", str(out), str(project)], check=True)
    return next(out.glob("nwbsyn-*.whl"))


def test_wheel_contains_spec_and_package(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "nwbsyn/spec/ndx-nwbsyn.namespace.yaml" in names
    assert "nwbsyn/spec/ndx-nwbsyn.extensions.yaml" in names
    assert "nwbsyn/testing/mock_types.py" in names


def test_installed_wheel_reads_and_writes_extension_files(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    # the dependencies (pynwb, torch, ...) come from this environment, appended after the venv's own
    # site-packages, so the wheel installed into the venv is the nwbsyn that gets imported
    venv_site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip()
    here = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(venv_site, "_parent_env.pth").write_text("\n".join(sorted(here)) + "\n")
    ndx_wheel = next(wheel.parent.glob("ndx_nwbsyn-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    "--target", venv_site, str(wheel), str(ndx_wheel)], check=True)
    script = textwrap.dedent("""
        import nwbsyn, ndx_nwbsyn, pathlib, sys
        from pynwb import NWBHDF5IO
        assert pathlib.Path(ndx_nwbsyn.__file__).is_relative_to(sys.prefix), ndx_nwbsyn.__file__
        from nwbsyn.testing import mock_nwbfile, mock_SynapticPartnerTable
        assert pathlib.Path(nwbsyn.__file__).is_relative_to(sys.prefix), nwbsyn.__file__
        assert nwbsyn.NAMESPACE_PATH.is_relative_to(sys.prefix), nwbsyn.NAMESPACE_PATH
        nwbfile = mock_nwbfile()
        mock_SynapticPartnerTable(nwbfile=nwbfile)
        with NWBHDF5IO("from_wheel.nwb", "w") as io:
            io.write(nwbfile)
        with NWBHDF5IO("from_wheel.nwb", "r") as io:
            table = io.read().processing["misc"]["synaptic_partners"]
            print(len(table), nwbsyn.__version__)
    """)
    proc = subprocess.run([str(python), "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["3", "0.1.0"]
