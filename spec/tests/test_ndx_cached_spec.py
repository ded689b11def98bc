"""Files read through their cached spec alone (no ndx_nwbsyn, no nwbsyn) and ``import ndx_nwbsyn`` imports no torch."""

import subprocess
import sys
import textwrap

from pynwb.testing.mock.file import mock_NWBFile

from ndx_nwbsyn.testing.mock import MOCKS

from ndx_helpers import write


def _run(script: str, cwd) -> str:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_plain_pynwb_reads_every_type_from_the_cached_spec(tmp_path):
    nwbfile = mock_NWBFile()
    for name, mock in MOCKS.items():
        if name != "QuantityVectorData":
            mock(nwbfile=nwbfile)
    path = write(nwbfile, tmp_path / "all.nwb")
    out = _run(f"""
        import sys
        from pynwb import NWBHDF5IO
        with NWBHDF5IO({str(path)!r}, "r", load_namespaces=True) as io:
            nwbfile = io.read()
            types = sorted({{o.neurodata_type for o in nwbfile.objects.values()
                            if getattr(o, "namespace", "") == "ndx-nwbsyn"}})
            print(" ".join(types))
            # mock names are numbered per process (pynwb's name_generator): find the volume by type
            print(next(o for o in nwbfile.acquisition.values() if o.neurodata_type == "EMImageVolume").unit)
        assert "ndx_nwbsyn" not in sys.modules and "nwbsyn" not in sys.modules
    """, tmp_path)
    types, unit = out.splitlines()
    assert types.split() == sorted(MOCKS) and unit == "meters"


def test_import_pulls_in_no_torch(tmp_path):
    out = _run("""
        import sys
        import ndx_nwbsyn, ndx_nwbsyn.testing.mock, ndx_nwbsyn.io, ndx_nwbsyn.schema
        heavy = sorted(m for m in ("torch", "nwbsyn", "matplotlib", "dask", "nwbinspector") if m in sys.modules)
        print(heavy)
    """, tmp_path)
    assert out.strip() == "[]"
