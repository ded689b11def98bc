"""Detect synaptic events in every recording of a dandiset (streamed, on Dask) and plot a per-cell summary.

    pip install 'nwbsyn[dandi,dask]'
    python examples/analyse_dandiset.py 000123 --out results            # a dandiset on the DANDI archive
    python examples/analyse_dandiset.py 000123 --dandi-api URL --out results   # another DANDI instance
    python examples/analyse_dandiset.py                                   # a simulated dandiset, served locally

Writes the analysed files under --out (mirroring the asset paths, with a dandiset.yaml), the summary
table nwbsyn_batch_summary.csv/.parquet and cells.png (event frequency and amplitude per cell).
"""

import argparse
import os
import tempfile
from pathlib import Path


def simulated_dandiset(directory):
    """A fake DANDI archive on 127.0.0.1 holding dandiset 000123: four simulated cells."""
    from nwbsyn.testing import mock_icephys_nwbfile
    from nwbsyn.testing.servers import FakeDandiArchive

    archive = FakeDandiArchive(directory)
    for cell, (n_events, amplitude_pA) in enumerate([(6, -15.0), (12, -25.0), (18, -20.0), (9, -35.0)]):
        nwbfile = mock_icephys_nwbfile(n_sweeps=1, duration_s=2.0, n_events_per_sweep=n_events,
                                       amplitude_pA=amplitude_pA, rng=cell)
        archive.add_asset("000123", f"sub-{cell + 1:02d}/sub-{cell + 1:02d}_ses-1_icephys.nwb", nwbfile)
    return archive


def plot_cells(summary, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = summary[summary["status"].isin(["ok", "skipped"])]
    cells = [Path(str(p)).parent.name or Path(str(p)).stem for p in done["output"]]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 3.2), constrained_layout=True)
    ax1.bar(cells, done["frequency_hz"], color="tab:blue")
    ax1.set(ylabel="event frequency (Hz)", title="Frequency per cell")
    ax2.bar(cells, done["mean_amplitude"].abs(), color="tab:orange")
    unit = done["amplitude_unit"].dropna().iloc[0] if done["amplitude_unit"].notna().any() else ""
    ax2.set(ylabel=f"mean |amplitude| ({unit})", title="Amplitude per cell")
    for ax in (ax1, ax2):
        ax.tick_params(axis="x", rotation=45)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dandiset", nargs="?", help="dandiset id, e.g. 000123 (default: a simulated one)")
    parser.add_argument("--dandi-api", help="DANDI API URL (default: the DANDI archive)")
    parser.add_argument("--out", default="dandiset_results", help="output folder")
    parser.add_argument("--glob", help="only assets whose path matches, e.g. 'sub-*/*icephys*.nwb'")
    parser.add_argument("--workers", type=int, default=2, help="local Dask workers")
    parser.add_argument("--scheduler", help="an existing Dask scheduler, tcp://HOST:PORT")
    args = parser.parse_args()

    from nwbsyn import batch

    archive = None
    if args.dandiset is None:  # no dandiset given: serve a simulated one on this machine
        os.environ.setdefault("DANDI_NO_ET", "1")  # offline: skip the dandi client's version check
        archive = simulated_dandiset(tempfile.mkdtemp(prefix="nwbsyn-archive-"))
        args.dandiset, args.dandi_api = "000123", archive.api_url
    try:
        summary = batch.run([args.dandiset], analysis="events", out_dir=args.out, glob=args.glob,
                            n_workers=args.workers, scheduler=args.scheduler, dandi_api_url=args.dandi_api)
    finally:
        if archive is not None:
            archive.close()
    print(summary[["asset", "status", "n_events", "frequency_hz", "mean_amplitude", "seconds"]].to_string(index=False))
    plot_cells(summary, "cells.png")
    print(f"results: {args.out} (summary: {batch.SUMMARY_NAME}.csv), figure: cells.png")


if __name__ == "__main__":
    main()
