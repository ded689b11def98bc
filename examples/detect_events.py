"""Detect spontaneous synaptic events in an NWB file and print a per-sweep summary.

    python examples/detect_events.py cell.nwb            # your file (patch-clamp sweeps)
    python examples/detect_events.py                     # a simulated recording

Writes <input>_nwbsyn.nwb (the input is not touched) and events.png.
"""

import sys
from pathlib import Path

from pynwb import NWBHDF5IO

from nwbsyn import events, io
from nwbsyn.testing import mock_icephys_nwbfile


def main(path: str | None = None) -> None:
    if path is None:  # no file given: make a small simulated one
        path = Path("simulated_cell.nwb")
        with NWBHDF5IO(str(path), "w") as nwb_io:
            nwb_io.write(mock_icephys_nwbfile(n_sweeps=2, duration_s=3.0))
    output = io.default_output_path(path)
    with io.edit_nwb(path, output=output, overwrite=True) as nwbfile:
        pairs = events.run_on_nwbfile(nwbfile, overwrite=True, progress_bar=False)
        events.plot_detections(pairs, path="events.png")
    for trace, result in pairs:
        summary = result.statistics.summary()
        print(f"{trace.series.name}: {len(result)} events, {summary['frequency_hz']:.2f} Hz, "
              f"amplitude {summary['mean_amplitude_pA']:.1f} {trace.unit}, "
              f"rise {summary['median_rise_time_ms']:.2f} ms, half decay {summary['median_half_decay_ms']:.2f} ms")
    print(f"results: {output}, figure: events.png")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
