"""benchmarks/bench_connectivity.py: SynapsNet vs baselines on simulated networks with ground truth.

Generators (``--modes``):

* ``spike_coupled``: :func:`nwbsyn.connectivity.simulate_network` (the recorded spikes drive the network,
  20 ms steps);
* ``hidden_rate``: :func:`nwbsyn.connectivity.simulate_rate_network` (neurons couple through hidden
  softplus rates, spikes are Poisson read-outs, 10 ms native steps, behaviour drives 30 %);
* ``second_generator``: written here and nowhere else, never used to choose a default: neurons on a
  ring with distance-dependent connections, a sigmoid rate non-linearity, per-neuron membrane time
  constants (20-80 ms) behind a 10 ms synaptic filter, a Bernoulli read-out on a 5 ms grid (at most
  one spike per step), a 1-D running speed driving 30 % of the neurons and a weak unrecorded global
  modulation;
* ``hidden_rate_calcium``: the hidden-rate network read out through a calcium indicator (ROI path, MSE).

Every spiking recording is written as NWB (Units spike times + a behaviour TimeSeries in
processing['behavior']) and fitted with ``run_on_nwbfile`` and **default options**: the bin is chosen
from the data and the behaviour is found in the file, as ``nwbsyn connectivity fit IN.nwb`` does. The
baselines see the same binned counts and behaviour: ridge VAR(3) and VAR(10), Poisson GLM(3), partial
and pairwise correlation, and (forecast only) a GRU or LSTM over all neurons. One JSON line per
(mode, seed, method); one summary line per (mode, n_steps) with the targets of issue 18.

    python benchmarks/bench_connectivity.py --modes spike_coupled hidden_rate second_generator --seeds 0 1 2 3 4
    python benchmarks/bench_connectivity.py --modes hidden_rate --n-steps 100000 --methods synapsnet ridge_var
    python benchmarks/bench_connectivity.py --scale 200x50000 1000x20000
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

METHODS = ("synapsnet", "ridge_var", "poisson_glm", "correlation", "sequence")


def _row(**kw) -> dict:
    return {"bench": "connectivity", **kw}


def _score(weights_true, weights, *, test_true=None, test_pred=None) -> dict:
    from nwbsyn.connectivity import metrics as M

    out = {"auroc": round(M.connectivity_auroc(weights_true, weights), 4),
           "auprc": round(M.connectivity_auprc(weights_true, weights), 4),
           "sign_accuracy": round(M.sign_accuracy(weights_true, weights), 4)}
    if test_pred is not None:
        out["forecast_r"] = round(M.forecast_correlation(test_true, test_pred), 4)
    return out


# --- the second, differently built generator -------------------------------------------------------

def simulate_second_generator(*, n_neurons: int, n_steps: int, bin_ms: float = 10.0, rng=0, coupling: float = 3.0,
                              radius: float = 1.0, bias_mean: float = -0.5, noise_sd: float = 1.5):
    """Ring network, sigmoid rates, alpha-like synapses, per-neuron taus, Bernoulli spikes (see module doc).

    Returns ``(weights [post, pre], spike_times list, behaviour (n_native, 1), native_s, counts at bin_ms)``.
    """
    rng = np.random.default_rng(rng)
    native_ms = 5.0
    factor = int(round(bin_ms / native_ms))
    n = n_neurons
    angle = rng.uniform(0, 2 * np.pi, n)
    dist = np.abs(np.angle(np.exp(1j * (angle[:, None] - angle[None, :]))))  # ring distance, 0..pi
    exc = rng.random(n) < 0.75
    width = np.where(exc, 0.5, 1.2)[None, :]  # inhibition reaches further
    prob = 0.35 * np.exp(-(dist / width) ** 2)
    mask = (rng.random((n, n)) < prob) & ~np.eye(n, dtype=bool)
    mag = rng.lognormal(0.0, 0.5, (n, n)) * np.where(exc, 1.0, 2.5)[None, :]
    w = mask * mag * np.where(exc, 1.0, -1.0)[None, :]
    w *= radius / max(np.max(np.abs(np.linalg.eigvals(w))), 1e-9)  # loop gain <= coupling * radius / 4 < 1
    n_fine = n_steps * factor
    dt = native_ms / 1e3
    a_speed = np.exp(-dt / 3.0)
    speed = np.empty(n_fine)
    s = 0.0
    glob = np.empty(n_fine)
    g = 0.0
    a_glob = np.exp(-dt / 1.0)
    noise_s, noise_g = rng.standard_normal(n_fine), rng.standard_normal(n_fine)
    for t in range(n_fine):
        s = a_speed * s + np.sqrt(1 - a_speed ** 2) * noise_s[t]
        g = a_glob * g + np.sqrt(1 - a_glob ** 2) * noise_g[t]
        speed[t], glob[t] = s, g
    speed = np.maximum(speed + 0.3, 0.0)  # rectified running speed
    driven = rng.random(n) < 0.3
    gain = np.where(driven, rng.uniform(0.8, 2.0, n), 0.0)
    tau = np.exp(rng.uniform(np.log(20), np.log(80), n)) / 1e3
    a_mem = np.exp(-dt / tau)
    a_syn = np.exp(-dt / 0.010)
    bias = rng.normal(bias_mean, 0.4, n)
    r_max = 80.0  # Hz
    u = np.full(n, bias_mean)
    syn = np.zeros(n)
    spikes = np.zeros((n_fine, n), dtype=np.int8)
    eps = rng.standard_normal((n_fine, n)) * noise_sd * np.sqrt(1 - a_mem ** 2)
    for t in range(n_fine):
        rate = r_max / (1.0 + np.exp(-u))
        spikes[t] = rng.random(n) < 1.0 - np.exp(-rate * dt)  # Bernoulli read-out of the hidden rate
        syn = a_syn * syn + (1 - a_syn) * (rate / r_max)  # what neurons transmit: filtered hidden rate
        drive = coupling * (w @ syn) + bias + gain * speed[t] + 0.2 * glob[t]
        u = a_mem * u + (1 - a_mem) * drive + eps[t]
    trains = [np.sort((np.flatnonzero(spikes[:, k]) + rng.random(int(spikes[:, k].sum()))) * dt) for k in range(n)]
    return w, trains, speed[:, None], dt


def _second_generator_nwbfile(trains, speed, dt):
    from pynwb import TimeSeries

    from nwbsyn._shared.nwb import get_or_create_module
    from nwbsyn.testing import mock_nwbfile

    nwbfile = mock_nwbfile(rng=0)
    for train in trains:
        nwbfile.add_unit(spike_times=train)
    n_native = len(speed)
    step = 10  # behaviour logged at 20 Hz
    beh = speed[: n_native // step * step].reshape(-1, step, 1).mean(axis=1)
    get_or_create_module(nwbfile, "behavior").add(TimeSeries(
        name="running_speed", data=beh, unit="a.u.", rate=1.0 / (dt * step), starting_time=dt * step / 2,
        description="Simulated running speed."))
    return nwbfile


# --- a population sequence model for the forecast comparison ----------------------------------------

def sequence_forecast(x, beh, *, n_train: int, n_val: int, kind: str = "gru", hidden: int = 64, loss: str = "poisson",
                      seed: int = 0, max_epochs: int = 60, chunk: int = 256, patience: int = 5):
    """One-step forecasts of steps ``n_val..T-1`` by a GRU/LSTM over all neurons (early stopping on validation)."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    mean = x[:n_train].mean(axis=0)
    sd = x[:n_train].std(axis=0) + 1e-6
    inp = (x - mean) / sd
    if beh is not None:
        bsd = beh[:n_train].std(axis=0) + 1e-6
        inp = np.hstack([inp, (beh - beh[:n_train].mean(axis=0)) / bsd])
    inp_t = torch.as_tensor(inp, dtype=torch.float32)
    tgt = torch.as_tensor(x if loss == "poisson" else (x - mean) / sd, dtype=torch.float32)
    n_in, n_out = inp.shape[1], x.shape[1]
    rnn = (nn.GRU if kind == "gru" else nn.LSTM)(n_in, hidden, batch_first=True)
    head = nn.Linear(hidden, n_out)
    params = list(rnn.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=3e-3)

    def out(h):
        z = head(h)
        return nn.functional.softplus(z) if loss == "poisson" else z

    def lossf(pred, y):
        return (pred - y * torch.log(pred + 1e-6)).mean() if loss == "poisson" else ((pred - y) ** 2).mean()

    chunk = int(min(chunk, max(8, (n_train - 2) // 4)))  # short recordings: shorter chunks
    warm = min(20, chunk // 4)
    starts = np.arange(0, n_train - chunk - 1, chunk)
    rng = np.random.default_rng(seed)
    best, best_state, bad = np.inf, None, 0
    for _ in range(max_epochs):
        for batch in np.array_split(rng.permutation(starts), max(1, len(starts) // 16)):
            xb = torch.stack([inp_t[s:s + chunk] for s in batch])
            yb = torch.stack([tgt[s + 1:s + chunk + 1] for s in batch])
            h, _ = rnn(xb)
            loss_v = lossf(out(h)[:, warm:], yb[:, warm:])  # warm-up steps per chunk are not scored
            opt.zero_grad()
            loss_v.backward()
            opt.step()
        with torch.no_grad():
            h, _ = rnn(inp_t[None, : n_val - 1])
            val = float(lossf(out(h)[0, n_train - 1:], tgt[n_train:n_val]))
        if val < best - 1e-5:
            best, bad = val, 0
            best_state = [p.detach().clone() for p in params]
        else:
            bad += 1
            if bad >= patience:
                break
    with torch.no_grad():
        for p, q in zip(params, best_state):
            p.copy_(q)
        h, _ = rnn(inp_t[None, :-1])
        pred = out(h)[0, n_val - 1:].numpy().astype(np.float64)
    return pred if loss == "poisson" else pred * sd + mean


# --- one recording ---------------------------------------------------------------------------------

def make_recording(mode: str, seed: int, a):
    """``(true weights [post, pre], nwbfile or None, arrays or None, extra info)``."""
    from nwbsyn.connectivity import simulate_network, simulate_rate_network, to_nwbfile

    if mode == "spike_coupled":
        sim = simulate_network(n_neurons=a.n_neurons, n_steps=a.n_steps, observation="poisson", coupling="spikes",
                               rng=seed)
        return sim.weights, to_nwbfile(sim, rng=seed), None, {"native_ms": sim.dt_s * 1e3}
    if mode == "hidden_rate":
        sim = simulate_rate_network(n_neurons=a.n_neurons, n_steps=a.n_steps, bin_ms=10.0, rate_hz=a.rate_hz,
                                    rng=seed)
        a._hidden = sim  # for the oracle rows
        return sim.weights, to_nwbfile(sim, rng=seed), None, {"native_ms": 10.0, "rate_hz": a.rate_hz}
    if mode == "hidden_rate_calcium":
        sim = simulate_rate_network(n_neurons=a.n_neurons, n_steps=a.n_steps, bin_ms=10.0, observation="calcium",
                                    rng=seed)
        return sim.weights, None, (sim.activity, sim.behavior), {"native_ms": 10.0}
    if mode == "second_generator":
        w, trains, speed, dt = simulate_second_generator(n_neurons=a.n_neurons, n_steps=a.n_steps, rng=seed)
        return w, _second_generator_nwbfile(trains, speed, dt), None, {"native_ms": dt * 1e3}
    raise SystemExit(f"unknown mode {mode}")


def run_one(mode: str, seed: int, a) -> list[dict]:
    import torch

    from nwbsyn.connectivity import baselines as B
    from nwbsyn.connectivity import fit_connectivity, run_on_nwbfile

    torch.set_num_threads(a.threads)
    truth, nwbfile, arrays, info = make_recording(mode, seed, a)
    common = dict(mode=mode, seed=seed, n_neurons=a.n_neurons, n_steps_native=a.n_steps, threads=a.threads, **info)
    t0 = time.perf_counter()
    if nwbfile is not None:  # default options, as the CLI
        inp, res = run_on_nwbfile(nwbfile, seed=0, progress_bar=False, max_time_s=a.max_time_s)[0]
        x, beh = inp.activity.astype(np.float64), inp.behavior
        common.update(bin_ms=round(inp.dt_s * 1e3, 3), behavior=inp.behavior_name, n_bins=len(x),
                      bin_choice=inp.bin_choice["bits_per_spike"] if inp.bin_choice else "given")
        loss = "poisson"
    else:
        x, beh = arrays
        res = fit_connectivity(x, behavior=beh, loss="mse", seed=0, progress_bar=False, max_time_s=a.max_time_s)
        common.update(bin_ms=10.0, behavior="given", n_bins=len(x))
        loss = "mse"
    fit_s = time.perf_counter() - t0
    rows = []
    n_tv = res.params["bounds"][1]
    n_train = res.params["bounds"][0]
    test = x[n_tv:]
    sig = res.significance
    off = ~np.eye(len(truth), dtype=bool)
    edges, non = off & (truth != 0), off & (truth == 0)
    rows.append(_row(method="synapsnet", **common, **_score(truth, res.weights, test_true=res.test_target,
                                                             test_pred=res.test_prediction),
                     fit_s=round(fit_s, 1), epochs=res.history["n_epochs"],
                     fit_quality_ok=res.metrics["fit_quality"]["ok"],
                     p_lt_005_true_edges=round(float((sig.p_values[edges] < 0.05).mean()), 4),
                     p_lt_005_non_edges=round(float((sig.p_values[non] < 0.05).mean()), 4)))
    if "ridge_var" in a.methods:
        for p in (3, 10):
            var = B.ridge_var(x[:n_tv], n_lags=p, behavior=None if beh is None else beh[:n_tv])
            pred = var.predict(x[n_tv - p:], None if beh is None else beh[n_tv - p:])
            rows.append(_row(method=f"ridge_var_p{p}", **common, **_score(truth, var.weights, test_true=test,
                                                                           test_pred=pred)))
    if "poisson_glm" in a.methods and loss == "poisson":
        t0 = time.perf_counter()
        glm = B.poisson_glm(x[:n_tv], n_lags=3, behavior=None if beh is None else beh[:n_tv], max_iter=300)
        pred = glm.predict(x[n_tv - 3:], None if beh is None else beh[n_tv - 3:])
        rows.append(_row(method="poisson_glm_p3", **common, **_score(truth, glm.weights, test_true=test,
                                                                      test_pred=pred),
                         fit_s=round(time.perf_counter() - t0, 1)))
    if "correlation" in a.methods:
        rows.append(_row(method="pairwise_correlation", **common, **_score(truth, B.pairwise_correlation(x[:n_tv]))))
        rows.append(_row(method="partial_correlation", **common, **_score(truth, B.partial_correlation(x[:n_tv]))))
    if mode == "hidden_rate":
        rows += oracle_rows(a._hidden, common)
    if "sequence" in a.methods:
        t0 = time.perf_counter()
        pred = sequence_forecast(x, beh, n_train=n_train, n_val=n_tv, kind=a.sequence_model, loss=loss, seed=seed)
        from nwbsyn.connectivity.metrics import forecast_correlation

        rows.append(_row(method=a.sequence_model, **common, forecast_r=round(forecast_correlation(test, pred), 4),
                         fit_s=round(time.perf_counter() - t0, 1)))
    return rows


def oracle_rows(sim, common: dict) -> list[dict]:
    """What knowing the hidden rates would give (at the native 10 ms bins, first 80 % of the steps).

    ``oracle_rates_to_rates``: ridge VAR(1) of the hidden rates on themselves (issue 18's
    "regression on the true hidden rates"). ``oracle_spikes_on_true_rates``: the recorded spikes
    regressed on the true hidden rates (and a 5-step smoothing of them) plus behaviour, the best of
    a ridge grid scored against the truth: a ceiling for any method that infers the presynaptic
    rates perfectly but must still predict Poisson spikes. ``oracle_latent_on_true_rates``: the
    latent input ``u`` (from the rates and the known gains) regressed on its own past, all true rates
    and behaviour, one neuron at a time: the generator's equation, with nothing hidden.
    """
    from scipy.signal import lfilter

    from nwbsyn.connectivity import baselines as B

    x, r, b = sim.activity, sim.rates, sim.behavior
    n = int(0.8 * len(x))
    rows = [_row(method="oracle_rates_to_rates", **common,
                 **_score(sim.weights, B.ridge_var(r[:n], n_lags=1, behavior=b[:n]).weights))]
    a = np.exp(-1 / 5)
    z = np.hstack([r, lfilter([1 - a], [1, -a], r, axis=0), b])[:-1]
    y = x[1:]
    zc, yc = z[:n] - z[:n].mean(0), y[:n] - y[:n].mean(0)
    best = None
    nn = x.shape[1]
    for lam in np.logspace(0, 4, 5):
        beta = np.linalg.solve(zc.T @ zc + lam * np.eye(z.shape[1]), zc.T @ yc)
        w = (beta[:nn] + beta[nn:2 * nn]).T.copy()
        np.fill_diagonal(w, 0)
        sc = _score(sim.weights, w)
        best = sc if best is None or sc["auroc"] > best["auroc"] else best
    rows.append(_row(method="oracle_spikes_on_true_rates", **common, **best))
    # the latent input u = softplus^-1(rate / gain) regressed on its own past, every neuron's transmitted
    # rate and behaviour: the generator's own equation, so this is what the true rates hold
    s = r / (sim.params["gain_hz"] * sim.dt_s)
    u = np.log(np.expm1(np.maximum(s, 1e-12)))
    w = np.zeros((nn, nn))
    for i in range(nn):
        zi = np.hstack([u[:-1, i:i + 1], s[:-1], b[:-1]])[:n]
        zi, yi = zi - zi.mean(0), u[1:n + 1, i] - u[1:n + 1, i].mean()
        w[i] = np.linalg.solve(zi.T @ zi + np.eye(zi.shape[1]), zi.T @ yi)[1:nn + 1]
    np.fill_diagonal(w, 0)
    rows.append(_row(method="oracle_latent_on_true_rates", **common, **_score(sim.weights, w)))
    return rows


def summarize(rows: list[dict]) -> list[dict]:
    out = []
    for mode in sorted({r["mode"] for r in rows}):
        sub = [r for r in rows if r["mode"] == mode]
        methods = sorted({r["method"] for r in sub})
        mean = {m: {k: round(float(np.mean([r[k] for r in sub if r["method"] == m])), 4)
                    for k in ("auroc", "auprc", "sign_accuracy", "forecast_r")
                    if all(k in r for r in sub if r["method"] == m)} for m in methods}
        syn = {r["seed"]: r for r in sub if r["method"] == "synapsnet"}
        best_base = {}
        for r in sub:
            if r["method"] != "synapsnet" and "forecast_r" in r:
                best_base[r["seed"]] = max(best_base.get(r["seed"], -1.0), r["forecast_r"])
        beats = [bool(syn[s]["forecast_r"] >= best_base[s]) for s in syn if s in best_base]
        aurocs = [r["auroc"] for r in syn.values()]
        out.append({"bench": "connectivity_summary", "mode": mode, "n_steps_native": sub[0]["n_steps_native"],
                    "n_seeds": len(syn), "mean": mean,
                    "synapsnet_mean_auroc": round(float(np.mean(aurocs)), 4),
                    "synapsnet_min_auroc": round(float(min(aurocs)), 4),
                    "synapsnet_min_sign_accuracy": round(min(r["sign_accuracy"] for r in syn.values()), 4),
                    "synapsnet_forecast_ge_best_baseline_every_seed": all(beats) if beats else None,
                    "bins_chosen_ms": sorted({r["bin_ms"] for r in syn.values()}),
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
            "fit_s_with_quality_and_significance": round(fit_s, 1), "train_s": round(res.history["train_s"], 1),
            "epochs": res.history["n_epochs"], "epoch_s_mean": round(float(np.mean(res.history["epoch_s"])), 2),
            "peak_rss_GiB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3),
            "peak_rss_after_simulation_GiB": round(rss_sim, 3), "max_time_s": a.max_time_s,
            "significance_shifts": res.significance.n_shifts,
            "auroc": round(connectivity_auroc(sim.weights, res.weights), 4),
            "forecast_r": round(res.metrics["forecast_correlation"], 4),
            "load_average_1min": round(__import__("os").getloadavg()[0], 2)}


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--modes", nargs="+", default=["spike_coupled", "hidden_rate", "second_generator"],
                   choices=["spike_coupled", "hidden_rate", "second_generator", "hidden_rate_calcium"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--sequence-model", default="gru", choices=["gru", "lstm"])
    p.add_argument("--n-neurons", type=int, default=50)
    p.add_argument("--n-steps", type=int, default=20_000, help="native time steps of the generator")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rate-hz", type=float, default=50.0, help="mean rate of the hidden-rate networks")
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
    for mode in a.modes:
        for seed in a.seeds:
            for row in run_one(mode, seed, a):
                rows.append(row)
                print(json.dumps(row), flush=True)
    for line in summarize(rows):
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
