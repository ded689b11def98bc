"""benchmarks/bench_connectivity_real.py: does SynapsNet run on real population data, and forecast?

Loads the raw files in ``/work/shared/data/population``: MEA spike trains of
retinal waves (waverepo, HDF5) binned into counts (Poisson loss), and the songbird HVC
deconvolved calcium activity (seqNMF, .mat; MSE loss); then runs the real NWB files in
``/work/shared/data/nwb`` end to end (read with nwbsyn.io, Units binned or ROI traces,
SynapsNet written back and validated, with default options unless --bin-ms is given for them
too). Prints one JSON line per (dataset, method) with the one-step forecast correlation on the
last 20 % of the time bins, beside ridge VAR(3/10) and a GRU over all neurons; SynapsNet's line also
says how many edges pass the surrogate test (p < 0.05) and whether fit_quality is ok. There is no
ground-truth connectivity here.

    python benchmarks/bench_connectivity_real.py --bin-ms 100 --threads 1
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

ROOT = Path("/work/shared/data/population")
NWB_ROOT = Path("/work/shared/data/nwb")


def load_waverepo(path: Path, *, bin_ms: float) -> np.ndarray:
    """(T, N) spike counts from a waverepo HDF5 file (``spikes`` split by ``sCount``)."""
    import h5py

    with h5py.File(path, "r") as f:
        spikes = np.asarray(f["spikes"][()], dtype=float).ravel()
        counts = np.asarray(f["sCount"][()], dtype=int).ravel()
    trains = np.split(spikes, np.cumsum(counts)[:-1])
    edges = np.arange(0.0, spikes.max() + bin_ms / 1000, bin_ms / 1000)
    return np.stack([np.histogram(t, bins=edges)[0] for t in trains], axis=1).astype(float)


def load_seqnmf(path: Path) -> np.ndarray:
    """(T, N) deconvolved calcium activity (NEURAL is neurons x frames, 30 Hz)."""
    from scipy.io import loadmat

    return np.asarray(loadmat(path)["NEURAL"], dtype=float).T


def _significance(res) -> dict:
    sig = res.significance
    n = res.n_neurons
    return {"edges_p_lt_005": int((sig.p_values < 0.05).sum()), "edges": n * (n - 1),
            "significance_method": sig.method.split(":")[0], "fit_quality_ok": res.metrics["fit_quality"]["ok"]}


def _gru(x, loss, res, a) -> float:
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_connectivity import sequence_forecast

    from nwbsyn.connectivity import forecast_correlation

    n_train, n_tv = res.params["bounds"]
    pred = sequence_forecast(x, None, n_train=n_train, n_val=n_tv, kind=a.sequence_model, loss=loss, seed=0)
    return round(forecast_correlation(x[n_tv:], pred), 4)


def evaluate(name: str, x: np.ndarray, loss: str, a) -> list[dict]:
    from nwbsyn.connectivity import fit_connectivity, forecast_correlation, ridge_var

    keep = x.std(axis=0) > 0
    x = x[:, keep]
    n_tv = int(round(len(x) * 0.8))
    common = {"bench": "connectivity_real", "dataset": name, "n_steps": len(x), "n_neurons": int(x.shape[1]),
              "mean_activity": round(float(x.mean()), 4)}
    t0 = time.perf_counter()
    res = fit_connectivity(x, loss=loss, seed=0, progress_bar=False)
    rows = [{**common, "method": "synapsnet", "forecast_r": round(res.metrics["forecast_correlation"], 4),
             "pc_forecast_r": [round(v, 4) for v in res.metrics["pc_forecast_correlation"]],
             "fit_s": round(time.perf_counter() - t0, 1), "epochs": res.history["n_epochs"],
             "weights_finite": bool(np.isfinite(res.weights).all()),
             "max_abs_weight": round(float(np.abs(res.weights).max()), 4), **_significance(res)}]
    for p in (3, 10):
        var = ridge_var(x[:n_tv], n_lags=p)
        pred = var.predict(x[n_tv - p:])
        rows.append({**common, "method": f"ridge_var_p{p}",
                     "forecast_r": round(forecast_correlation(x[n_tv:], pred), 4)})
    t0 = time.perf_counter()
    rows.append({**common, "method": a.sequence_model, "forecast_r": _gru(x, loss, res, a),
                 "fit_s": round(time.perf_counter() - t0, 1)})
    return rows


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--bin-ms", type=float, default=100.0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--sequence-model", default="gru", choices=["gru", "lstm"])
    p.add_argument("--skip-raw", action="store_true", help="only the NWB files")
    p.add_argument("--nwb-bin-ms", type=float, default=None,
                   help="bin for the NWB files (default: chosen from the data, as the CLI does)")
    a = p.parse_args(argv)
    import torch

    torch.set_num_threads(a.threads)
    jobs = [(f"waverepo/{f.stem}", lambda f=f: load_waverepo(f, bin_ms=a.bin_ms), "poisson")
            for f in sorted((ROOT / "waverepo").glob("*.h5"))]
    jobs += [("seqnmf/MackeviciusData", lambda: load_seqnmf(ROOT / "seqnmf" / "MackeviciusData.mat"), "mse")]
    for name, load, loss in [] if a.skip_raw else jobs:
        for row in evaluate(name, load(), loss, a):
            print(json.dumps({**row, "bin_ms": a.bin_ms if loss == "poisson" else 1000 / 30}), flush=True)
    for path in sorted(NWB_ROOT.glob("*.nwb")):
        row = nwb_end_to_end(path, a)
        print(json.dumps(row), flush=True)
        if "choose one with --source" in row.get("refused", ""):  # as a user would next: name each series
            for name in ("Deconvolved", "RoiResponseSeries"):
                print(json.dumps(nwb_end_to_end(path, a, source=name)), flush=True)


def nwb_end_to_end(path: Path, a, *, source: str = "auto") -> dict:
    """NWB in → SynapsNet (default options) → NWB out (validated), beside ridge VAR(3) and the GRU."""
    import tempfile

    from nwbsyn import connectivity, io
    from nwbsyn.connectivity import forecast_correlation, ridge_var
    from nwbsyn.io.validate import validate_nwb

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.nwb"
        t0 = time.perf_counter()
        try:
            with io.edit_nwb(path, output=out) as nwbfile:
                inp, res = connectivity.run_on_nwbfile(nwbfile, source=source, bin_ms=a.nwb_bin_ms,
                                                       progress_bar=False)[0]
        except ValueError as err:  # refused input (e.g. an ambiguous ROI series): report the sentence
            return {"bench": "connectivity_real_nwb", "dataset": path.name, "refused": str(err)}
        seconds = time.perf_counter() - t0
        report = validate_nwb(out)
    x = inp.activity.astype(np.float64)
    n_tv = res.params["bounds"][1]
    var = ridge_var(x[:n_tv], n_lags=3, behavior=None if inp.behavior is None else inp.behavior[:n_tv])
    var_r = forecast_correlation(x[n_tv:], var.predict(x[n_tv - 3:], None if inp.behavior is None
                                                       else inp.behavior[n_tv - 3:]))
    return {"bench": "connectivity_real_nwb", "dataset": path.name, "source": source if source != "auto" else inp.kind,
            "n_neurons": int(x.shape[1]),
            "n_steps": len(x), "bin_ms": round(inp.dt_s * 1e3, 3),
            "bin_choice": inp.bin_choice["bits_per_spike"] if inp.bin_choice else "given or native",
            "behavior": inp.behavior_name, "synapsnet_forecast_r": round(res.metrics["forecast_correlation"], 4),
            "ridge_var_p3_forecast_r": round(float(var_r), 4),
            f"{a.sequence_model}_forecast_r": _gru(x, inp.loss, res, a), **_significance(res),
            "fit_quality_warning": res.metrics["fit_quality"]["warning"],
            "seconds": round(seconds, 1), "output_schema_errors": len(report.schema_errors)}


if __name__ == "__main__":
    main()
