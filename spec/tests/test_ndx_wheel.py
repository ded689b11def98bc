"""The ndx-nwbsyn wheel carries the YAML and works from a non-editable install (pynwb and hdmf only)."""

import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest

from ndx_helpers import SPEC


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    pytest.importorskip("hatchling", reason="building the wheel needs hatchling")
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(out), str(SPEC)], check=True)
    return next(out.glob("ndx_nwbsyn-*.whl"))


def test_wheel_contents_and_requirements(wheel):
    import ndx_nwbsyn

    archive = zipfile.ZipFile(wheel)
    names = archive.namelist()
    for name in ("ndx_nwbsyn/spec/ndx-nwbsyn.namespace.yaml", "ndx_nwbsyn/spec/ndx-nwbsyn.extensions.yaml",
                 "ndx_nwbsyn/testing/mock.py", "ndx_nwbsyn/checks.py", "ndx_nwbsyn/io.py"):
        assert name in names
    assert wheel.name.startswith(f"ndx_nwbsyn-{ndx_nwbsyn.__version__}-")
    metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    requires = [line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert sorted(r for r in requires if "extra ==" not in r) == ["hdmf>=4.1", "pynwb>=3.1"]


def test_installed_wheel_loads_its_own_yaml(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    here = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}  # pynwb, hdmf from here
    Path(site, "_parent_env.pth").write_text("\n".join(sorted(here)) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", site,
                    str(wheel)], check=True)
    script = textwrap.dedent("""
        import sys, ndx_nwbsyn
        from ndx_nwbsyn.testing.mock import mock_SynapticPartnerTable
        assert ndx_nwbsyn.NAMESPACE_PATH.is_relative_to(sys.prefix), ndx_nwbsyn.NAMESPACE_PATH
        print(len(mock_SynapticPartnerTable()), ndx_nwbsyn.__version__)
    """)
    proc = subprocess.run([str(python), "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[0] == "3"
