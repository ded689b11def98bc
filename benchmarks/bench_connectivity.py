"""benchmarks/bench_connectivity.py: SynapsNet vs baselines on simulated networks with ground truth.

Prints one JSON line per (seed, observation, method), then one summary line per
observation. ``--scale`` instead times single fits of larger networks (each in a fresh
subprocess, so that the peak resident memory is that fit's own).

    python benchmarks/bench_connectivity.py --seeds 0 1 2 3 4 --threads 2
    python benchmarks/bench_connectivity.py --scale 200x50000 1000x20000 --threads 2
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time

import numpy as np


def _row(**kw) -> dict:
    return {"bench": "connectivity", **kw}


def _score(sim, weights, *, test_true=None, test_pred=None) -> dict:
    from nwbsyn.connectivity import metrics as M

    out = {"auroc": M.connectivity_auroc(sim.weights, weights), "auprc": M.connectivity_auprc(sim.weights, weights),
           "sign_accuracy": M.sign_accuracy(sim.weights, weights)}
    if test_pred is not None:
        out["forecast_r"] = M.forecast_correlation(test_true, test_pred)
        out["pc_forecast_r"] = [round(float(v), 4) for v in M.pc_forecast_correlation(test_true, test_pred)]
    return out


def run_one(seed: int, observation: str, a) -> list[dict]:
    import torch

    from nwbsyn.connectivity import baselines as B
    from nwbsyn.connectivity import current_activity_correlation, fit_connectivity, simulate_network

    torch.set_num_threads(a.threads)
    sim = simulate_network(n_neurons=a.n_neurons, n_steps=a.n_steps, observation=observation,
                           coupling=a.coupling, rng=seed)
    x, beh = sim.activity, sim.behavior
    n_tv = int(round(len(x) * 0.8))  # train + validation; the last 20 % is the test split for every method
    common = dict(seed=seed, observation=observation, coupling=sim.params["coupling"], n_neurons=a.n_neurons,
                  n_steps=a.n_steps, threads=a.threads)
    rows = []
    t0 = time.perf_counter()
    link = "auto" if observation == "poisson" else a.mse_link
    res = fit_connectivity(x, behavior=beh, loss="poisson" if observation == "poisson" else "mse",
                           link=link, deconvolve=a.calcium_deconvolve and observation == "calcium",
                           seed=0, progress_bar=False)
    fit_s = time.perf_counter() - t0
    xc = current_activity_correlation(x[n_tv:], res.weights, max_lag=2, rng=seed)
    rows.append(_row(method="synapsnet", **common, **_score(sim, res.weights, test_true=res.test_target,
                                                             test_pred=res.test_prediction),
                     fit_s=round(fit_s, 2), epochs=res.history["n_epochs"], link=res.params["config"]["link"],
                     deconvolve=res.params["config"]["deconvolve"],
                     current_xcorr_lag1={k: round(xc[k][1], 4) for k in ("model", "pairwise_correlation", "shuffled")}))
    test = x[n_tv:]
    for p in (3, 10):
        t0 = time.perf_counter()
        var = B.ridge_var(x[:n_tv], n_lags=p, behavior=beh[:n_tv])
        fit_s = time.perf_counter() - t0
        pred = var.predict(x[n_tv - p:], beh[n_tv - p:])
        rows.append(_row(method=f"ridge_var_p{p}", **common, **_score(sim, var.weights, test_true=test, test_pred=pred),
                         fit_s=round(fit_s, 2)))
    if observation == "poisson":
        t0 = time.perf_counter()
        glm = B.poisson_glm(x[:n_tv], n_lags=3, behavior=beh[:n_tv])
        fit_s = time.perf_counter() - t0
        pred = glm.predict(x[n_tv - 3:], beh[n_tv - 3:])
        rows.append(_row(method="poisson_glm_p3", **common, **_score(sim, glm.weights, test_true=test, test_pred=pred),
                         fit_s=round(fit_s, 2)))
    rows.append(_row(method="pairwise_correlation", **common, **_score(sim, B.pairwise_correlation(x[:n_tv]))))
    rows.append(_row(method="partial_correlation", **common, **_score(sim, B.partial_correlation(x[:n_tv]))))
    return rows


def summarize(rows: list[dict]) -> list[dict]:
    out = []
    for obs in sorted({r["observation"] for r in rows}):
        sub = [r for r in rows if r["observation"] == obs]
        methods = sorted({r["method"] for r in sub})
        mean = {m: {k: round(float(np.mean([r[k] for r in sub if r["method"] == m])), 4)
                    for k in ("auroc", "auprc", "sign_accuracy", "forecast_r") if k in sub[0] and
                    all(k in r for r in sub if r["method"] == m)} for m in methods}
        syn = {r["seed"]: r for r in sub if r["method"] == "synapsnet"}
        var_best = {}
        for r in sub:
            if r["method"].startswith("ridge_var"):
                var_best[r["seed"]] = max(var_best.get(r["seed"], -1.0), r["forecast_r"])
        beats = all(syn[s]["forecast_r"] >= var_best[s] for s in syn)
        out.append({"bench": "connectivity_summary", "observation": obs, "n_seeds": len(syn), "mean": mean,
                    "synapsnet_min_auroc": round(min(r["auroc"] for r in syn.values()), 4),
                    "synapsnet_min_sign_accuracy": round(min(r["sign_accuracy"] for r in syn.values()), 4),
                    "synapsnet_forecast_ge_best_ridge_var_every_seed": bool(beats),
                    "python": platform.python_version()})
    return out


def scale_one(n_neurons: int, n_steps: int, a) -> dict:
    import torch

    from nwbsyn.connectivity import connectivity_auroc, fit_connectivity, simulate_network

    torch.set_num_threads(a.threads)
    sim = simulate_network(n_neurons=n_neurons, n_steps=n_steps, observation="poisson", rng=0)
    rss_sim = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    t0 = time.perf_counter()
    res = fit_connectivity(sim.activity, behavior=sim.behavior, seed=0, progress_bar=False,
                           max_time_s=a.max_time_s)
    fit_s = time.perf_counter() - t0
    return {"bench": "connectivity_scale", "n_neurons": n_neurons, "n_steps": n_steps, "threads": a.threads,
            "fit_s": round(fit_s, 1), "epochs": res.history["n_epochs"],
            "epoch_s_mean": round(float(np.mean(res.history["epoch_s"])), 2),
            "peak_rss_GiB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3),
            "peak_rss_after_simulation_GiB": round(rss_sim, 3), "max_time_s": a.max_time_s,
            "auroc": round(connectivity_auroc(sim.weights, res.weights), 4),
            "forecast_r": round(res.metrics["forecast_correlation"], 4)}


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--observations", nargs="+", default=["poisson", "rate", "calcium"])
    p.add_argument("--coupling", default="auto", choices=["auto", "spikes", "rates"])
    p.add_argument("--n-neurons", type=int, default=50)
    p.add_argument("--n-steps", type=int, default=20_000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--mse-link", default="auto", choices=["auto", "identity", "softplus"],
                   help="SynapsNet output link for rate / calcium observations (auto = identity)")
    p.add_argument("--calcium-deconvolve", action="store_true",
                   help="SynapsNet builds the current from x(t) - gamma x(t-1) on calcium observations")
    p.add_argument("--scale", nargs="*", help="sizes like 200x50000: time one Poisson fit per size")
    p.add_argument("--scale-one", help=argparse.SUPPRESS)
    p.add_argument("--max-time-s", type=float, default=None, help="stop SynapsNet training after this long")
    a = p.parse_args(argv)
    if a.scale_one:
        n, t = (int(v) for v in a.scale_one.split("x"))
        print(json.dumps(scale_one(n, t, a)), flush=True)
        return
    if a.scale:
        for size in a.scale:
            cmd = [sys.executable, __file__, "--scale-one", size, "--threads", str(a.threads)]
            if a.max_time_s is not None:
                cmd += ["--max-time-s", str(a.max_time_s)]
            subprocess.run(cmd, check=True)
        return
    rows = []
    for seed in a.seeds:
        for obs in a.observations:
            for row in run_one(seed, obs, a):
                rows.append(row)
                print(json.dumps(row), flush=True)
    for line in summarize(rows):
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
