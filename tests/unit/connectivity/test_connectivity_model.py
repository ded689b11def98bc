import pytest

torch = pytest.importorskip("torch")

from nwbsyn.connectivity.model import SynapsNet  # noqa: E402


def _model(**kw):
    torch.manual_seed(0)
    m = SynapsNet([6, 4], n_behavior=2, context_steps=5, embedding_dim=3, hidden_dim=8, **kw)
    with torch.no_grad():
        for a in m.adjacency:
            a.normal_()
    return m


def test_shapes_and_backward():
    m = _model()
    x, b = torch.randn(30, 6), torch.randn(30, 2)
    out = m(0, x, b)
    assert out.shape == (26, 6) and bool((out >= 0).all())  # softplus link
    out.sum().backward()
    assert m.adjacency[0].grad is not None and m.adjacency[1].grad is None
    assert m(1, torch.randn(12, 4), torch.randn(12, 2)).shape == (8, 4)
    assert m.init_kwargs["n_neurons"] == [6, 4]


@pytest.mark.parametrize("link", ["softplus", "exp", "identity"])
def test_monotone_in_input_current(link):
    m = _model(link=link)
    kern = m.kernel().detach()
    assert bool((kern >= 0).all()) and float(kern.sum()) == pytest.approx(1.0)
    x, b = torch.rand(40, 6), torch.randn(40, 2)  # non-negative activity
    with torch.no_grad():
        base = m(0, x, b)
        m.adjacency[0][2, 4] += 1.0  # more excitation from 4 onto 2
        up = m(0, x, b)
        m.adjacency[0][2, 4] -= 3.0  # now inhibition
        down = m(0, x, b)
    assert bool((up[:, 2] >= base[:, 2]).all()) and bool((up[:, 2] > base[:, 2]).any())
    assert bool((down[:, 2] <= base[:, 2]).all())
    torch.testing.assert_close(up[:, [0, 1, 3, 4, 5]], base[:, [0, 1, 3, 4, 5]])  # only neuron 2 changes


def test_diagonal_is_masked():
    m = _model()
    x, b = torch.randn(20, 6), torch.randn(20, 2)
    with torch.no_grad():
        base = m(0, x, b)
        m.adjacency[0][3, 3] += 5.0
        torch.testing.assert_close(m(0, x, b), base)


def test_neurons_interact_only_through_adjacency():
    m = _model()
    with torch.no_grad():
        m.adjacency[0].zero_()
    x = torch.randn(20, 6, requires_grad=True)
    m(0, x, torch.randn(20, 2))[:, 0].sum().backward()
    assert float(x.grad[:, 1:].abs().sum()) == 0.0 and float(x.grad[:, 0].abs().sum()) > 0


def test_deconvolve_option_uses_first_difference():
    torch.manual_seed(0)
    m = SynapsNet([3], context_steps=2, hidden_dim=4, deconvolve=True)
    with torch.no_grad():
        m.adjacency[0].copy_(torch.tensor([[0, 1.0, 0], [0, 0, 0], [0, 0, 0]]))
        m.kernel_logits.copy_(torch.tensor([0.0, -1e4]))  # all weight on the most recent step
    gamma = torch.sigmoid(m.decay_logit).detach()
    x = torch.zeros(4, 3)
    x[1, 1], x[2, 1] = 1.0, 1.0  # neuron 1: deconvolved signal 0, 1, 1 - gamma, -gamma
    eta = m.preactivation(0, x).detach()
    m.adjacency[0].data.zero_()
    drive = eta - m.preactivation(0, x).detach()
    torch.testing.assert_close(drive[:, 0], torch.stack([torch.tensor(1.0), 1 - gamma, -gamma]))
