"""Convert an Axon ABF recording to NWB, detect spontaneous events and write a QC report.

    python examples/convert_abf_and_detect.py cell1.abf                 # your recording
    python examples/convert_abf_and_detect.py cell1.abf --subject-id m1 --species "Mus musculus" --sex F --age P30D
    python examples/convert_abf_and_detect.py                           # a simulated ABF file

Writes <name>.nwb (the conversion), <name>_nwbsyn.nwb (with the events) and <name>_report.html.
"""

import argparse
from pathlib import Path

import numpy as np

from nwbsyn import events, io
from nwbsyn.io.abf import convert_abf
from nwbsyn.report import write_report


def simulated_abf(path: Path, *, n_sweeps: int = 2, sweep_s: float = 3.0) -> Path:
    """An ABF1 file of voltage-clamp sweeps with simulated EPSCs (pyabf can write ABF1)."""
    from pyabf.abfWriter import writeABF1

    sweeps = [events.simulate_trace(duration_s=sweep_s, sampling_rate_hz=20_000.0, rate_hz=3.0, amplitude_pA=20.0,
                                    rng=k).trace_pA for k in range(n_sweeps)]
    writeABF1(np.stack(sweeps).astype(np.float32), str(path), 20_000, units="pA")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("abf", nargs="?", help="ABF recording (default: a simulated one)")
    parser.add_argument("--out", default=".", help="output folder (default: here)")
    parser.add_argument("--threshold", type=float, default=0.5, help="minimum event score (default 0.5)")
    for field in ("subject-id", "species", "sex", "age"):
        parser.add_argument(f"--{field}", help=f"subject {field.replace('-', ' ')} (DANDI needs it)")
    args = parser.parse_args()

    out = Path(args.out)
    abf = Path(args.abf) if args.abf else simulated_abf(out / "simulated_cell.abf")
    subject = {k: v for k, v in dict(subject_id=args.subject_id, species=args.species, sex=args.sex,
                                     age=args.age).items() if v}
    converted = convert_abf(abf, output=out / f"{abf.stem}.nwb", overwrite=True, subject=subject or None)
    print(f"{converted.output}: {converted.mode}, {converted.n_sweeps} sweeps")
    enriched = io.default_output_path(converted.output)
    with io.edit_nwb(converted.output, output=enriched, overwrite=True) as nwbfile:
        pairs = events.run_on_nwbfile(nwbfile, threshold=args.threshold, overwrite=True, progress_bar=False)
    for trace, result in pairs[:10]:
        print(f"  {trace.series.name}: {len(result)} events, {result.statistics.frequency_hz:.2f} Hz")
    report = write_report(enriched, output_path=out / f"{abf.stem}_report.html")
    print(f"{sum(len(r) for _, r in pairs)} events in {len(pairs)} sweeps; results: {enriched}, report: {report}")


if __name__ == "__main__":
    main()
