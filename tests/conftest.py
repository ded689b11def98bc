"""Shared fixtures: paths to ../shared (optional) and small written NWB files."""

from pathlib import Path

import pytest
from pynwb import NWBHDF5IO

import nwbsyn  # noqa: F401  (registers the extension types)

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def write_nwbfile(nwbfile, path) -> Path:
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return Path(path)


@pytest.fixture
def icephys_file(tmp_path):
    from nwbsyn.testing import mock_icephys_nwbfile

    return write_nwbfile(mock_icephys_nwbfile(), tmp_path / "icephys.nwb")


def shared_path(*parts) -> Path:
    """A path in ../shared, or a skip when that folder is absent (e.g. a user's fresh clone)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (../shared is only beside the developers' checkouts)")
    return path


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run a module's torch work on one thread (stable timings on a shared 2-core machine)."""
    torch = pytest.importorskip("torch")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
