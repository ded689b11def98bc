"""Helpers and fixtures of the ndx-nwbsyn tests (no nwbsyn, no torch).

Not a conftest.py: the repository runs these tests together with nwbsyn's (whose conftest would collide).
"""

import lzma
import shutil
from pathlib import Path

import pytest
from pynwb import NWBHDF5IO

SPEC = Path(__file__).resolve().parents[1]
BACK_COMPAT = Path(__file__).resolve().parent / "back_compat"


def write(nwbfile, path) -> Path:
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return Path(path)


@pytest.fixture
def file_0_1_0(tmp_path) -> Path:
    """The file written by ndx-nwbsyn 0.1.0 (every type), unpacked."""
    path = tmp_path / "ndx_nwbsyn_0.1.0.nwb"
    with lzma.open(BACK_COMPAT / "ndx_nwbsyn_0.1.0.nwb.xz") as src, open(path, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return path
