"""Write ``ndx_nwbsyn_0.1.0.nwb.xz``: every ndx-nwbsyn 0.1.0 type in one small file, xz-compressed.

Run once with nwbsyn 0.1.0 (the release that shipped schema 0.1.0, commit 556bb92) from the
repository root: ``python spec/tests/back_compat/generate_data_0.1.0.py``. The file is kept
small (tiny volumes and sweeps) so that it can live in the repository; most of its 370 kB are
the cached core and hdmf-common schemas, which xz shrinks to about 50 kB (tests unpack it).
"""

import lzma
import shutil

from pathlib import Path

import numpy as np
from pynwb import NWBHDF5IO

from nwbsyn.testing import mock_em_nwbfile, mock_icephys_nwbfile, mock_nwbfile
from nwbsyn.testing.mock_types import (
    mock_FunctionalConnectivity,
    mock_SynapticEventScoreSeries,
    mock_SynapticEventsTable,
    mock_SynapticPartnerTable,
)


def main(path: Path = Path(__file__).with_name("ndx_nwbsyn_0.1.0.nwb.xz")) -> None:  # noqa: B008
    plain = path.with_suffix("")
    nwbfile = mock_nwbfile(identifier="ndx-nwbsyn-0.1.0-back-compat")
    mock_icephys_nwbfile(n_sweeps=1, duration_s=0.05, sampling_rate_hz=20_000.0, n_events_per_sweep=2,
                         nwbfile=nwbfile)
    mock_SynapticEventsTable(n_events=3, nwbfile=nwbfile)   # with its ModelProvenance (64 bytes of weights)
    mock_SynapticEventScoreSeries(nwbfile=nwbfile)
    mock_em_nwbfile(shape_zyx=(3, 16, 16), n_segments=3, nwbfile=nwbfile)
    mock_SynapticPartnerTable(nwbfile=nwbfile)                # clefts + cleft label volume + partners
    mock_FunctionalConnectivity(nwbfile=nwbfile)
    with NWBHDF5IO(str(plain), "w") as io:
        io.write(nwbfile)
    with open(plain, "rb") as src, lzma.open(path, "wb", preset=9 | lzma.PRESET_EXTREME) as dst:
        shutil.copyfileobj(src, dst)
    plain.unlink()
    print(path, path.stat().st_size, "bytes", np.__version__)


if __name__ == "__main__":
    main()
