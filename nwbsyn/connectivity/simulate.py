"""Simulated recurrent networks with known signed connectivity (ground truth for connectivity methods)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nwbsyn._shared import InputError, as_rng

__all__ = ["SimulatedNetwork", "random_connectivity", "simulate_network", "simulate_rate_network", "to_nwbfile",
           "OBSERVATIONS"]

OBSERVATIONS = ("poisson", "rate", "calcium")
_MAX_RATE = 20.0  # spikes per step; a safety ceiling, rarely reached with the defaults
_MAX_TRANSMITTED = 10.0  # simulate_rate_network: ceiling of softplus(u), about 10x the operating point


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
    signal = np.zeros(n_neurons)  # what the neurons transmitted at the previous step
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


def simulate_rate_network(
    *,
    n_neurons: int = 50,
    n_steps: int = 20_000,
    bin_ms: float = 10.0,
    native_ms: float | None = None,
    tau_ms: float = 20.0,
    rate_hz: float = 50.0,
    observation: str = "poisson",
    density: float = 0.1,
    frac_excitatory: float = 0.8,
    spectral_radius: float = 1.0,
    behavior: bool = True,
    frac_behavior_driven: float = 0.3,
    behavior_tau_s: float = 2.0,
    noise_sd: float = 1.0,
    calcium_decay_s: float = 0.4,
    rng: int | np.random.Generator | None = None,
) -> SimulatedNetwork:
    """Hidden-rate coupling: neurons interact through latent firing rates; spikes are only read out.

    Latent dynamics on a native grid of ``native_ms`` (default: ``bin_ms``; ``a = exp(-native_ms / tau_ms)``)::

        u[t+1] = a u[t] + (1 - a) (W s[t] + b + D beh[t]) + sigma eps[t]
        rate[t] = g_i softplus(u[t])   (Hz; g_i log-normal around ``rate_hz / softplus(0.5)``)
        s[t]   = softplus(u[t])        (what neurons transmit: their rate, not their spikes)

    ``W`` obeys Dale's law (:func:`random_connectivity`), a 2-D behaviour signal (OU,
    ``behavior_tau_s``) drives ``frac_behavior_driven`` of the neurons, ``sigma`` gives the
    latent private noise a stationary SD of ``noise_sd``. Read-outs, binned to ``bin_ms``
    (a whole multiple of ``native_ms``, 5-50 ms): ``"poisson"`` spike counts per bin
    (spikes drawn on the native grid, so :func:`to_nwbfile` can write spike times), or
    ``"calcium"``: spikes through an exponential indicator (``calcium_decay_s``), averaged per
    bin, plus Gaussian noise (SD 0.2). ``rates`` is the latent rate in spikes per bin;
    ``params["gain_hz"]`` holds each neuron's ``g_i``, so ``softplus^-1(rates / (g_i dt))`` is ``u``.

    The defaults (``tau_ms=20``, ``spectral_radius=1.0``, ``noise_sd=1``) bring these networks near
    the hidden-rate networks of issue 18 by their reference scores (50 neurons, 20k bins of 10 ms,
    seeds 10-11): a ridge VAR(1) of the true rates on themselves recovers the edges with AUROC 0.95, a
    ridge VAR(3) on the counts 0.77 (issue: 0.99 for a regression on the true rates, 0.79). The earlier
    defaults (``tau_ms=50``, ``spectral_radius=0.9``) gave 0.88 and 0.72: with a slower leak and weaker
    coupling, private noise hid the edges even from the true rates. ``spectral_radius=1.2`` matched
    better on some seeds but let one network in five run away; the transmitted ``softplus(u)`` is also
    capped at 10 (about 10x the operating point) so no network can diverge.

    Examples
    --------
    >>> sim = simulate_rate_network(n_neurons=8, n_steps=400, bin_ms=20, rng=0)
    >>> sim.activity.shape, sim.dt_s, sim.params["coupling"]
    ((400, 8), 0.02, 'hidden_rates')
    """
    if observation not in ("poisson", "calcium"):
        raise InputError(f"observation must be 'poisson' or 'calcium'; got {observation!r}.")
    native_ms = float(bin_ms if native_ms is None else native_ms)
    factor = int(round(bin_ms / native_ms))
    if factor < 1 or abs(factor * native_ms - bin_ms) > 1e-9 * bin_ms:
        raise InputError(f"bin_ms ({bin_ms:g}) must be a whole multiple of native_ms ({native_ms:g}).")
    if n_steps < 2:
        raise InputError(f"n_steps must be at least 2; got {n_steps}.")
    rng = as_rng(rng)
    w = random_connectivity(n_neurons, density=density, frac_excitatory=frac_excitatory,
                            spectral_radius=spectral_radius, rng=rng)
    n_fine = n_steps * factor
    dt_fine = native_ms / 1e3
    n_beh = 2
    beh_fine = _slow_signal(n_fine, n_beh, behavior_tau_s / dt_fine, rng) if behavior else np.zeros((n_fine, n_beh))
    driven = rng.random(n_neurons) < frac_behavior_driven
    d = rng.normal(0.0, 1.0, (n_neurons, n_beh)) * driven[:, None]
    s0 = float(_softplus(0.5))
    b = 0.5 - w @ np.full(n_neurons, s0) + rng.normal(0.0, 0.3, n_neurons)
    gain = rate_hz / s0 * rng.lognormal(0.0, 0.4, n_neurons)  # Hz per unit of s
    a = float(np.exp(-native_ms / tau_ms))
    sigma = noise_sd * np.sqrt(1 - a * a)
    drive = beh_fine @ d.T + b[None, :]
    u = np.full(n_neurons, 0.5)
    spikes = np.empty((n_fine, n_neurons), dtype=np.int32)
    s_fine = np.empty((n_fine, n_neurons))
    for t in range(n_fine):
        s = np.minimum(_softplus(u), _MAX_TRANSMITTED)  # a firing ceiling: no runaway excitation
        s_fine[t] = s
        spikes[t] = rng.poisson(np.minimum(gain * s, 1000.0) * dt_fine)
        u = a * u + (1 - a) * (w @ s + drive[t]) + sigma * rng.standard_normal(n_neurons)
    counts = spikes.reshape(n_steps, factor, n_neurons).sum(axis=1)
    rates = (s_fine * gain * dt_fine).reshape(n_steps, factor, n_neurons).sum(axis=1)
    beh = beh_fine.reshape(n_steps, factor, n_beh).mean(axis=1)
    if observation == "poisson":
        activity, sd = counts.astype(np.float64), 0.0
    else:
        sd = 0.2
        decay = np.exp(-dt_fine / calcium_decay_s)
        c, calcium = np.zeros(n_neurons), np.empty((n_fine, n_neurons))
        for t in range(n_fine):
            c = decay * c + spikes[t]
            calcium[t] = c
        activity = calcium.reshape(n_steps, factor, n_neurons).mean(axis=1) + sd * rng.standard_normal(counts.shape)
    params = dict(coupling="hidden_rates", density=density, frac_excitatory=frac_excitatory,
                  spectral_radius=spectral_radius, tau_ms=tau_ms, native_ms=native_ms, bin_ms=bin_ms,
                  rate_hz=rate_hz, noise_sd=sd, behavior_driven=np.flatnonzero(driven).tolist(), gain_hz=gain,
                  spikes_native=spikes if observation == "poisson" else None)
    return SimulatedNetwork(activity=activity, rates=rates, weights=w, behavior=beh if behavior else None,
                            observation=observation, dt_s=bin_ms / 1e3, params=params)


def to_nwbfile(sim: SimulatedNetwork, *, behavior_name: str = "speed", rng: int | np.random.Generator | None = 0,
               nwbfile=None):
    """Write a simulated Poisson recording as NWB: ``Units`` spike times and a behaviour ``TimeSeries``
    in ``processing['behavior']`` (at the bin rate). Spike times are spread uniformly within their
    native step (``sim.params['spikes_native']`` when present, else within their bin).

    Example
    -------
    >>> nwb = to_nwbfile(simulate_rate_network(n_neurons=4, n_steps=200, rng=0))
    >>> len(nwb.units), list(nwb.processing["behavior"].data_interfaces)
    (4, ['speed'])
    """
    from pynwb import TimeSeries

    from nwbsyn._shared.nwb import get_or_create_module
    from nwbsyn.testing import mock_nwbfile

    if sim.observation != "poisson":
        raise InputError("to_nwbfile writes spike trains; simulate with observation='poisson'.")
    rng = as_rng(rng)
    native = sim.params.get("spikes_native")
    step_s = sim.params["native_ms"] / 1e3 if native is not None else sim.dt_s
    counts = native if native is not None else sim.activity.astype(np.int64)
    nwbfile = nwbfile if nwbfile is not None else mock_nwbfile(rng=rng)
    for k in range(counts.shape[1]):
        steps = np.repeat(np.arange(len(counts)), counts[:, k].astype(np.int64))
        nwbfile.add_unit(spike_times=np.sort((steps + rng.random(len(steps))) * step_s))
    if sim.behavior is not None:
        module = get_or_create_module(nwbfile, "behavior")
        module.add(TimeSeries(name=behavior_name, data=sim.behavior, unit="a.u.", rate=1.0 / sim.dt_s,
                              starting_time=0.5 * sim.dt_s, description="Simulated behaviour drive (bin means)."))
    return nwbfile
