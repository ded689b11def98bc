"""`--plot` figures: the decay tau in the title only when plausible; the connectivity matrix with pre on rows,
ticks labelled by unit ids."""

from types import SimpleNamespace

import numpy as np

from nwbsyn.connectivity.plot import id_labels, plot_connectivity
from nwbsyn.events.plot import decay_title


def test_decay_title_only_when_finite_and_under_a_second():
    assert decay_title(4.2071) == "\ndecay tau 4.21 ms"
    assert decay_title(183273820.82) == decay_title(float("nan")) == decay_title(-3.0) == ""


def test_connectivity_matrix_pre_on_rows_with_unit_ids():
    import matplotlib.pyplot as plt

    w = np.arange(12, dtype=float).reshape(4, 3)[:3] - 4  # [post, pre], asymmetric
    result = SimpleNamespace(weights=w, embeddings=np.random.default_rng(0).normal(size=(3, 4)))
    inp = SimpleNamespace(rows=[2, 0, 1], table=SimpleNamespace(id=np.array([10, 11, 12])))
    labels = id_labels(inp)
    assert labels == ["12", "10", "11"]
    fig = plot_connectivity(result, labels=labels)
    ax = fig.axes[0]
    assert np.array_equal(ax.images[0].get_array(), w.T)
    assert ax.get_ylabel() == "presynaptic" and ax.get_xlabel() == "postsynaptic"
    assert [t.get_text() for t in ax.get_yticklabels()] == labels
    plt.close(fig)
