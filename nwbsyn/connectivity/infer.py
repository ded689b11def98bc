"""Arrays in, connectivity out: fit SynapsNet on a recording and read the learned network."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from nwbsyn.connectivity.train import TrainConfig, TrainedModel, fit

__all__ = ["ConnectivityResult", "fit_connectivity", "predict_next", "result_from_trained"]


@dataclass(frozen=True)
class ConnectivityResult:
    """Learned functional connectivity of one session.

    ``weights[i, k]`` is the influence of presynaptic neuron ``k`` on postsynaptic
    neuron ``i`` (row = post, column = pre): ``I_i = sum_k weights[i, k] x_k``, with
    ``x`` the normalised activity (centred counts for ``loss="poisson"``; for ``"mse"``
    centred and divided by one SD shared by all neurons, see ``TrainConfig.scaling``).
    Units: change of the decoder pre-activation (log-rate-like for Poisson) per unit of
    ``x``. The diagonal is zero. Because the decoder is monotone in the current,
    ``weights[i, k] > 0`` is excitatory and ``< 0`` inhibitory.
    """

    weights: np.ndarray  # (N, N)
    embeddings: np.ndarray  # (N, E)
    kernel: np.ndarray  # (C,) weight of lag 0 (most recent) .. C-1 on the current
    test_prediction: np.ndarray  # (T_test, N) one-step forecasts of the test steps, original units
    test_target: np.ndarray  # (T_test, N) observed activity at those steps
    metrics: dict = field(default_factory=dict)  # forecast correlations on the test split
    history: dict = field(default_factory=dict)  # losses per epoch, timing
    params: dict = field(default_factory=dict)  # config, seed, split bounds
    significance: object | None = None  # EdgeSignificance (surrogate p-value per edge) or None

    def __post_init__(self):
        n = self.weights.shape[0]
        if self.weights.shape != (n, n) or self.embeddings.shape[0] != n:
            raise ValueError("weights must be (N, N) and embeddings (N, E) for the same N.")

    @property
    def n_neurons(self) -> int:
        return self.weights.shape[0]


def predict_next(
    trained: TrainedModel,
    *,
    session: int = 0,
    start: int | None = None,
    stop: int | None = None,
    chunk_steps: int = 4096,
    progress_bar: bool = True,
) -> np.ndarray:
    """One-step forecasts for target steps ``[start, stop)`` of a training session, in original units.

    Defaults to the test split. Works in chunks with a halo of ``context_steps - 1``.
    """
    import torch

    sess = trained.sessions[session]
    model = trained.model
    c = model.context_steps
    start = sess.bounds[1] if start is None else max(int(start), c)
    stop = len(sess.x) if stop is None else int(stop)
    dev = next(model.parameters()).device
    x = torch.as_tensor(sess.x, device=dev)
    b = None if sess.behavior is None else torch.as_tensor(sess.behavior, device=dev)
    out = []
    with torch.inference_mode():
        for t0 in tqdm(range(start, stop, chunk_steps), desc="predict", disable=not progress_bar):
            t1 = min(t0 + chunk_steps, stop)
            pred = model(session, x[t0 - c: t1 - 1], None if b is None else b[t0 - c: t1 - 1])
            out.append(pred.cpu().numpy().astype(np.float64))
    pred = np.concatenate(out) if out else np.zeros((0, sess.x.shape[1]))
    if trained.config.loss == "mse":
        pred = pred * sess.scale + sess.target_offset
    return pred


def fit_connectivity(
    activity: np.ndarray,
    *,
    behavior: np.ndarray | None = None,
    loss: str = "poisson",
    context_steps: int = 10,
    l1: float = 10.0,
    max_epochs: int = 200,
    seed: int = 0,
    device: str = "auto",
    progress_bar: bool = True,
    checkpoint=None,
    init_from=None,
    significance: bool = True,
    **config_kwargs,
) -> ConnectivityResult:
    """Learn the functional connectivity of one recording with SynapsNet.

    Trains on the first 70 % of the time steps, stops early on the next 10 % and
    reports one-step forecast correlations on the last 20 % (chronological split).

    Parameters
    ----------
    activity : (T, N) ndarray
        Binned spike counts (``loss="poisson"``) or rates / fluorescence (``loss="mse"``).
    behavior : (T,) or (T, B) ndarray, optional
        Behavioural covariates on the same time base.
    loss : {"poisson", "mse"}
    context_steps : int
        Context window in time steps.
    l1 : float
        Sparsity (Laplace prior) weight on the adjacency matrix.
    seed : int
        Makes the fit reproducible.
    checkpoint : str or Path, optional
        Also save the fitted model here (see :func:`~nwbsyn.connectivity.train.save_checkpoint`).
    init_from : str, Path or dict, optional
        Start the shared decoder from an earlier fit's checkpoint; its architecture and
        settings are used (``loss`` must match), ``max_epochs`` and ``config_kwargs`` override them.
    significance : bool
        Also test every edge with held-out circular-shift surrogates
        (:func:`~nwbsyn.connectivity.trust.edge_significance`, in ``result.significance``).
        ``result.metrics["fit_quality"]`` always compares the held-out forecast with a ridge VAR
        (:func:`~nwbsyn.connectivity.trust.fit_quality`).
    **config_kwargs
        Any other :class:`~nwbsyn.connectivity.train.TrainConfig` field.

    Returns
    -------
    ConnectivityResult

    Examples
    --------
    >>> from nwbsyn.connectivity import simulate_network, connectivity_auroc
    >>> sim = simulate_network(n_neurons=10, n_steps=2000, observation="rate", rng=0)
    >>> res = fit_connectivity(sim.activity, behavior=sim.behavior, loss="mse", max_epochs=2, progress_bar=False)
    >>> res.weights.shape, 0.0 <= connectivity_auroc(sim.weights, res.weights) <= 1.0  # 2 of the default 200 epochs
    ((10, 10), True)
    """
    if init_from is not None:
        config, init_from = config_from_checkpoint(init_from, loss=loss, max_epochs=max_epochs, **config_kwargs)
    else:
        config = TrainConfig(loss=loss, context_steps=context_steps, l1=l1, max_epochs=max_epochs, **config_kwargs)
    from dataclasses import replace

    from nwbsyn.connectivity.trust import edge_significance, fit_quality

    trained = fit(activity, behavior=behavior, config=config, seed=seed, device=device, progress_bar=progress_bar,
                  checkpoint=checkpoint, init_from=init_from)
    result = result_from_trained(trained, session=0)
    quality = fit_quality(result, activity, behavior)
    sig = edge_significance(trained, rng=seed) if significance else None
    return replace(result, metrics={**result.metrics, "fit_quality": quality}, significance=sig)


def config_from_checkpoint(init_from, *, loss: str, max_epochs: int, **config_kwargs):
    """``(TrainConfig, checked checkpoint dict)`` for a fit that starts from ``init_from``."""
    from nwbsyn._shared import InputError
    from nwbsyn.connectivity.train import read_checkpoint

    ckpt = init_from if isinstance(init_from, dict) else read_checkpoint(init_from)
    base = dict(ckpt["config"])
    if base.get("loss", "poisson") != loss:
        kinds = {"poisson": "spike counts (Units)", "mse": "traces (ROIs)"}
        raise InputError(f"The starting model was fitted on {kinds.get(base.get('loss'), base.get('loss'))} but this "
                         f"data is {kinds.get(loss, loss)}; start from a model fitted on the same kind of data.")
    return TrainConfig(**{**base, "max_epochs": max_epochs, **config_kwargs}), ckpt


def result_from_trained(trained: TrainedModel, *, session: int = 0) -> ConnectivityResult:
    """Package one session of a trained model as a :class:`ConnectivityResult`."""
    from dataclasses import asdict

    from nwbsyn.connectivity.metrics import forecast_correlation, pc_forecast_correlation

    model, sess = trained.model, trained.sessions[session]
    pred = predict_next(trained, session=session, progress_bar=False)
    target = sess.x[sess.bounds[1]:].astype(np.float64) * sess.scale + sess.mean
    metrics = {}
    if len(target) > 2:
        metrics["forecast_correlation"] = forecast_correlation(target, pred)
        metrics["pc_forecast_correlation"] = pc_forecast_correlation(target, pred).tolist()
    return ConnectivityResult(
        weights=model.masked_adjacency(session).detach().cpu().numpy().astype(np.float64),
        embeddings=model.embeddings[session].detach().cpu().numpy().astype(np.float64),
        kernel=model.kernel().detach().cpu().numpy().astype(np.float64),
        test_prediction=pred,
        test_target=target,
        metrics=metrics,
        history=dict(trained.history),
        params={"config": asdict(trained.config), "seed": trained.seed, "bounds": list(sess.bounds),
                "normalization": {"mean": sess.mean.tolist(), "scale": sess.scale.tolist()}},
    )
