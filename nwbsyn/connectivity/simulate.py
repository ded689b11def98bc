"""Simulated recurrent networks with known signed connectivity (ground truth for connectivity methods)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nwbsyn._shared import InputError, as_rng

__all__ = ["SimulatedNetwork", "random_connectivity", "simulate_network", "OBSERVATIONS"]

OBSERVATIONS = ("poisson", "rate", "calcium")
_MAX_RATE = 20.0  # spikes per step; a safety ceiling, rarely reached with the defaults


@dataclass(frozen=True)
class SimulatedNetwork:
    """A simulated population recording and the network that produced it.

    ``weights[i, k]`` is the true synaptic weight from presynaptic neuron ``k`` onto
    postsynaptic neuron ``i`` (row = post, column = pre), the same convention as
    :class:`nwbsyn.connectivity.ConnectivityResult`.
    """

    activity: np.ndarray  # (T, N) as observed (counts, noisy rates or fluorescence)
    rates: np.ndarray  # (T, N) latent firing rates, spikes per step
    weights: np.ndarray  # (N, N) true signed weights, zero diagonal
    behavior: np.ndarray | None  # (T, B) or None
    observation: str
    dt_s: float
    params: dict = field(default_factory=dict)

    @property
    def n_neurons(self) -> int:
        return self.activity.shape[1]

    @property
    def n_steps(self) -> int:
        return self.activity.shape[0]


def random_connectivity(
    n_neurons: int,
    *,
    density: float = 0.1,
    frac_excitatory: float = 0.8,
    spectral_radius: float = 0.9,
    inhibitory_scale: float = 4.0,
    rng: int | np.random.Generator | None = None,
) -> np.ndarray:
    """Sparse signed weight matrix obeying Dale's law (column ``k`` has the sign of neuron ``k``).

    Edges are drawn independently with probability ``density`` (no self-connections),
    magnitudes are log-normal, inhibitory magnitudes are ``inhibitory_scale`` times larger,
    and the matrix is scaled to the requested spectral radius. The default
    ``inhibitory_scale=4`` with 80 % excitatory neurons balances excitation and
    inhibition on average (mean row sum near 0), which keeps rectified networks stable.

    Examples
    --------
    >>> w = random_connectivity(20, density=0.2, rng=0)
    >>> w.shape, bool((w.diagonal() == 0).all())
    ((20, 20), True)
    """
    if n_neurons < 2:
        raise InputError(f"n_neurons must be at least 2; got {n_neurons}.")
    if not 0.0 < density <= 1.0:
        raise InputError(f"density must be in (0, 1]; got {density}.")
    rng = as_rng(rng)
    mask = rng.random((n_neurons, n_neurons)) < density
    np.fill_diagonal(mask, False)
    if not mask.any():
        i, k = rng.choice(n_neurons, size=2, replace=False)
        mask[i, k] = True
    sign = np.where(rng.random(n_neurons) < frac_excitatory, 1.0, -1.0)
    magnitude = rng.lognormal(mean=0.0, sigma=0.5, size=(n_neurons, n_neurons))
    magnitude *= np.where(sign < 0, inhibitory_scale, 1.0)[None, :]
    w = mask * magnitude * sign[None, :]
    radius = np.max(np.abs(np.linalg.eigvals(w)))
    if radius > 0:
        w *= spectral_radius / radius
    return w


def _slow_signal(n_steps: int, n_dims: int, tau_steps: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-variance Ornstein-Uhlenbeck signal, (n_steps, n_dims)."""
    a = np.exp(-1.0 / tau_steps)
    noise = rng.standard_normal((n_steps, n_dims)) * np.sqrt(1 - a * a)
    out = np.empty((n_steps, n_dims))
    out[0] = rng.standard_normal(n_dims)
    for t in range(1, n_steps):
        out[t] = a * out[t - 1] + noise[t]
    return out


def _softplus(u: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, u)


def simulate_network(
    *,
    n_neurons: int = 50,
    n_steps: int = 20_000,
    density: float = 0.1,
    frac_excitatory: float = 0.8,
    spectral_radius: float = 0.9,
    behavior: bool = True,
    observation: str = "poisson",
    noise_sd: float | None = None,
    coupling: str = "auto",
    tau_steps: float = 4.0,
    baseline_rate: float = 1.0,
    frac_behavior_driven: float = 0.3,
    dt_s: float = 0.02,
    rng: int | np.random.Generator | None = None,
) -> SimulatedNetwork:
    """Simulate a recurrent softplus rate network and observe it.

    Latent dynamics (one step = one bin of ``dt_s``)::

        u[t+1] = a u[t] + (1 - a) (W s[t] + b + D beh[t]) + sigma_u eps[t],   a = exp(-1/tau_steps)
        r[t]   = min(softplus(u[t]), 20)                                      (spikes per step)

    ``W`` comes from :func:`random_connectivity`; ``b`` is set so that the mean rate is
    near ``baseline_rate``; a slow 2-D behaviour signal (OU, 200-step time constant)
    drives ``frac_behavior_driven`` of the neurons. ``s`` is what neurons transmit:
    with ``coupling="spikes"`` (default for spiking and calcium observations) the
    Poisson spikes ``s[t] ~ Poisson(r[t])`` themselves drive the network (a nonlinear
    Hawkes / Poisson-GLM network: the recorded spikes are the transmitted ones); with
    ``coupling="rates"`` (default for rate observations) ``s = r`` and the spikes are
    only a noisy read-out of a latent rate network (harder: errors in the variables).

    Observations: ``"rate"`` = ``r + noise_sd * N(0, 1)`` (default ``noise_sd`` 0.1);
    ``"poisson"`` = spike counts ``Poisson(r)``; ``"calcium"`` = spikes convolved with an
    exponential indicator kernel (0.3 s decay) plus ``noise_sd * N(0, 1)`` (default 0.2).

    Parameters
    ----------
    n_neurons, n_steps : int
        Size of the recording.
    density : float
        Probability of a directed edge between two neurons.
    frac_excitatory : float
        Fraction of excitatory (positive-column) neurons.
    spectral_radius : float
        Spectral radius of ``W``; below 1 keeps the network stable (softplus slope < 1).
    behavior : bool
        Add the behaviour drive and return it.
    observation : {"poisson", "rate", "calcium"}
    noise_sd : float, optional
        Observation noise (rates, calcium).
    coupling : {"auto", "spikes", "rates"}
        What neurons transmit (see above).
    tau_steps : float
        Time constant of the latent input, in steps.
    rng : int, Generator or None
        Seed; different seeds give different networks.

    Returns
    -------
    SimulatedNetwork

    Examples
    --------
    >>> sim = simulate_network(n_neurons=10, n_steps=500, rng=0)
    >>> sim.activity.shape, sim.weights.shape
    ((500, 10), (10, 10))
    """
    if observation not in OBSERVATIONS:
        raise InputError(f"observation must be one of {OBSERVATIONS}; got {observation!r}.")
    if coupling == "auto":
        coupling = "rates" if observation == "rate" else "spikes"
    if coupling not in ("spikes", "rates"):
        raise InputError(f"coupling must be 'spikes', 'rates' or 'auto'; got {coupling!r}.")
    if n_steps < 2:
        raise InputError(f"n_steps must be at least 2; got {n_steps}.")
    rng = as_rng(rng)
    w = random_connectivity(
        n_neurons, density=density, frac_excitatory=frac_excitatory,
        spectral_radius=spectral_radius, rng=rng,
    )
    n_beh = 2
    beh = _slow_signal(n_steps, n_beh, 200.0, rng) if behavior else np.zeros((n_steps, n_beh))
    driven = rng.random(n_neurons) < frac_behavior_driven
    d = rng.normal(0.0, 1.0, (n_neurons, n_beh)) * driven[:, None]
    # bias: solve the mean-field fixed point so that the mean rate is near baseline_rate
    u0 = np.log(np.expm1(baseline_rate))
    b = u0 - w @ np.full(n_neurons, baseline_rate) + rng.normal(0.0, 0.3, n_neurons)
    a = float(np.exp(-1.0 / tau_steps))
    sigma_u = 0.5 * np.sqrt(1 - a * a)
    eps = rng.standard_normal((n_steps, n_neurons)) * sigma_u
    drive = beh @ d.T + b[None, :]
    u = np.empty((n_steps, n_neurons))
    spikes = np.empty((n_steps, n_neurons))
    u[0] = u0
    for t in range(n_steps):
        if t > 0:
            u[t] = a * u[t - 1] + (1 - a) * (w @ signal + drive[t - 1]) + eps[t]
        r = np.minimum(_softplus(u[t]), _MAX_RATE)
        spikes[t] = rng.poisson(r)
        signal = spikes[t] if coupling == "spikes" else r
    rates = np.minimum(_softplus(u), _MAX_RATE)

    if observation == "rate":
        sd = 0.1 if noise_sd is None else float(noise_sd)
        activity = rates + sd * rng.standard_normal(rates.shape)
    elif observation == "poisson":
        sd = 0.0
        activity = spikes
    else:
        sd = 0.2 if noise_sd is None else float(noise_sd)
        decay = np.exp(-dt_s / 0.3)
        calcium = np.empty_like(spikes)
        c = np.zeros(n_neurons)
        for t in range(n_steps):
            c = decay * c + spikes[t]
            calcium[t] = c
        activity = calcium + sd * rng.standard_normal(calcium.shape)
    params = dict(coupling=coupling, density=density, frac_excitatory=frac_excitatory, spectral_radius=spectral_radius,
                  tau_steps=tau_steps, baseline_rate=baseline_rate, noise_sd=sd,
                  behavior_driven=np.flatnonzero(driven).tolist())
    return SimulatedNetwork(
        activity=activity, rates=rates, weights=w, behavior=beh if behavior else None,
        observation=observation, dt_s=dt_s, params=params,
    )
