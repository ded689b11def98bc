"""SynapsNet-style model: a learned adjacency per session, neuron embeddings and a shared decoder.

Convention: ``A[i, k]`` is the weight from presynaptic neuron ``k`` onto postsynaptic
neuron ``i``; the input current is ``I_i(t) = sum_k A[i, k] x_k(t)`` and the diagonal
of ``A`` is masked (a neuron's own history reaches the decoder through its own path).

Identifiability: the decoder is monotone non-decreasing in the input current. The
current enters the pre-activation ``eta`` only through a temporal kernel with
non-negative weights that sum to one (a softmax over the context lags)::

    eta_i(t + 1) = f([x_i(t-C+1..t), beh(t-C+1..t), e_i]) + <P beh(t-C+1..t), e_i>
                   + sum_j kappa_j I_i(t - j)
    prediction   = link(eta),  link in {softplus, exp, identity} (all non-decreasing)

so a positive ``A[i, k]`` can only raise neuron ``i``'s predicted activity (excitatory)
and a negative one can only lower it (inhibitory), and the scale of ``A`` is fixed
(``kappa`` cannot absorb it). ``f`` is an MLP shared by all neurons and sessions; the
bilinear behaviour term lets each neuron's embedding select its own behavioural tuning
(a ReLU MLP represents such products poorly, and untreated shared behavioural drive
shows up as spurious connections).
Neurons interact only through ``A``.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["SynapsNet"]


class SynapsNet(nn.Module):
    """Shared decoder + one adjacency matrix and one embedding table per session.

    Parameters
    ----------
    n_neurons : list of int
        Number of neurons in each session.
    n_behavior : int
        Behaviour features (same for every session; 0 for none).
    context_steps : int
        Context window ``C`` in time steps.
    embedding_dim : int
        Size of each neuron's embedding.
    hidden_dim, n_layers : int
        Width and depth of the decoder MLP.
    link : {"softplus", "exp", "identity"}
        Output non-linearity (monotone).
    deconvolve : bool
        Build the current from ``x(t) - gamma x(t-1)`` (learned ``gamma`` in (0, 1)), i.e.
        from a first-order deconvolution of slow indicator signals such as calcium.

    Examples
    --------
    >>> m = SynapsNet([5], n_behavior=0, context_steps=4)
    >>> m(0, torch.zeros(10, 5)).shape  # 10 - 4 + 1 predictions
    torch.Size([7, 5])
    """

    def __init__(
        self,
        n_neurons: list[int],
        *,
        n_behavior: int = 0,
        context_steps: int = 10,
        embedding_dim: int = 8,
        hidden_dim: int = 32,
        n_layers: int = 2,
        link: str = "softplus",
        deconvolve: bool = False,
    ):
        super().__init__()
        if link not in ("softplus", "exp", "identity"):
            raise ValueError(f"link must be softplus, exp or identity; got {link!r}.")
        self.init_kwargs = dict(n_neurons=list(n_neurons), n_behavior=n_behavior, context_steps=context_steps,
                                embedding_dim=embedding_dim, hidden_dim=hidden_dim, n_layers=n_layers, link=link,
                                deconvolve=deconvolve)
        self.context_steps = context_steps
        self.n_behavior = n_behavior
        self.link = link
        # optional first-order deconvolution of the presynaptic signal (calcium indicators):
        # the current is built from x(t) - gamma x(t-1), gamma = sigmoid(.) in (0, 1), learned
        self.decay_logit = nn.Parameter(torch.tensor(2.0)) if deconvolve else None
        self.adjacency = nn.ParameterList([nn.Parameter(torch.zeros(n, n)) for n in n_neurons])
        self.embeddings = nn.ParameterList([nn.Parameter(0.1 * torch.randn(n, embedding_dim)) for n in n_neurons])
        for session, n in enumerate(n_neurons):
            self.register_buffer(f"offdiag_{session}", 1.0 - torch.eye(n), persistent=False)
        # kernel over lags j = 0..C-1 (j = 0 is the most recent step); starts biased to recent lags
        self.kernel_logits = nn.Parameter(-0.3 * torch.arange(context_steps, dtype=torch.float32))
        # first decoder layer, split by input block (same as a Linear on the concatenated frame,
        # but the behaviour and embedding parts are computed once per step / per neuron)
        self.own_in = nn.Linear(context_steps, hidden_dim)
        self.behavior_in = nn.Linear(context_steps * n_behavior, hidden_dim, bias=False) if n_behavior else None
        self.embedding_in = nn.Linear(embedding_dim, hidden_dim, bias=False)
        # neuron-specific linear behaviour drive: <P beh_ctx, e_i> (each neuron's embedding picks its tuning)
        self.behavior_gain = nn.Linear(context_steps * n_behavior, embedding_dim, bias=False) if n_behavior else None
        layers: list[nn.Module] = [nn.ReLU()]
        for _ in range(n_layers - 1):
            layers += [nn.Linear(hidden_dim, hidden_dim), nn.ReLU()]
        layers.append(nn.Linear(hidden_dim, 1))
        self.decoder = nn.Sequential(*layers)

    def masked_adjacency(self, session: int) -> torch.Tensor:
        """``A`` of one session with its diagonal set to zero."""
        return self.adjacency[session] * self._buffers[f"offdiag_{session}"]

    def kernel(self) -> torch.Tensor:
        """Non-negative temporal kernel over the context lags (sums to one)."""
        return torch.softmax(self.kernel_logits, dim=0)

    def forward(self, session: int, x: torch.Tensor, behavior: torch.Tensor | None = None) -> torch.Tensor:
        """Predict activity at ``t + 1`` for every ``t >= C - 1`` of a contiguous block.

        ``x`` is (L, N) normalised activity and ``behavior`` (L, B); returns
        ``(L - C + 1, N)``: row ``r`` predicts the step after ``x[r + C - 1]``.
        """
        return self.apply_link(self.preactivation(session, x, behavior))

    def apply_link(self, eta: torch.Tensor) -> torch.Tensor:
        if self.link == "softplus":
            return nn.functional.softplus(eta)
        if self.link == "exp":
            return torch.exp(eta.clamp(max=20.0))
        return eta

    def presynaptic_signal(self, x: torch.Tensor) -> torch.Tensor:
        """What ``A`` multiplies: the (deconvolved) activity smoothed by the temporal kernel, ``(L - C + 1, N)``.

        ``preactivation`` adds ``presynaptic_signal(x) @ A.T`` (the drive) to a part that does not
        depend on ``A``; used by the surrogate test of each edge.
        """
        c = self.context_steps
        pre = x
        if self.decay_logit is not None:
            pre = torch.cat([x[:1], x[1:] - torch.sigmoid(self.decay_logit) * x[:-1]])
        return pre.unfold(0, c, 1) @ self.kernel().flip(0)

    def preactivation(self, session: int, x: torch.Tensor, behavior: torch.Tensor | None = None) -> torch.Tensor:
        c = self.context_steps
        n_out = x.shape[0] - c + 1
        a = self.masked_adjacency(session)
        pre = x
        if self.decay_logit is not None:  # x(t) - gamma x(t-1); the first row keeps x(0)
            pre = torch.cat([x[:1], x[1:] - torch.sigmoid(self.decay_logit) * x[:-1]])
        current = pre @ a.T  # (L, N)
        kern = self.kernel().flip(0)  # oldest lag first, to match unfold order
        cur_ctx = current.unfold(0, c, 1)  # (n_out, N, C), oldest first
        drive = cur_ctx @ kern  # (n_out, N)
        own = x.unfold(0, c, 1)  # (n_out, N, C)
        h = self.own_in(own) + self.embedding_in(self.embeddings[session]).unsqueeze(0)
        base = 0.0
        if self.behavior_in is not None:
            beh = behavior.unfold(0, c, 1).reshape(n_out, -1)  # (n_out, B * C)
            h = h + self.behavior_in(beh).unsqueeze(1)
            if self.behavior_gain is not None:
                base = self.behavior_gain(beh) @ self.embeddings[session].T  # (n_out, N)
        return self.decoder(h).squeeze(-1) + base + drive
