"""`--plot` figures: the decay tau in the title only when plausible; the connectivity matrix with pre on rows,
ticks labelled by unit ids."""

import os
import subprocess
import sys
from types import SimpleNamespace

import numpy as np

from nwbsyn.connectivity.plot import id_labels, plot_connectivity
from nwbsyn.events.plot import decay_title


def test_decay_title_only_when_finite_and_under_a_second():
    assert decay_title(4.2071) == "\ndecay tau 4.21 ms"
    assert decay_title(183273820.82) == decay_title(float("nan")) == decay_title(-3.0) == ""


def test_connectivity_matrix_pre_on_rows_with_unit_ids():
    w = np.arange(12, dtype=float).reshape(4, 3)[:3] - 4  # [post, pre], asymmetric
    result = SimpleNamespace(weights=w, embeddings=np.random.default_rng(0).normal(size=(3, 4)))
    inp = SimpleNamespace(rows=[2, 0, 1], table=SimpleNamespace(id=np.array([10, 11, 12])))
    labels = id_labels(inp)
    assert labels == ["12", "10", "11"]
    fig = plot_connectivity(result, labels=labels)
    ax = fig.axes[0]
    assert np.array_equal(ax.images[0].get_array(), w.T)
    assert ax.get_ylabel() == "presynaptic (unit/ROI id)" and ax.get_xlabel() == "postsynaptic (unit/ROI id)"
    assert [t.get_text() for t in ax.get_yticklabels()] == labels


def test_figures_leave_a_notebook_users_backend_and_pyplot_alone(tmp_path):
    """The --plot figures are drawn off screen: the user's backend stays, pyplot holds no new figure."""
    script = (
        "import matplotlib, numpy as np\n"
        "from types import SimpleNamespace\n"
        "import matplotlib.pyplot as plt\n"
        "from nwbsyn.connectivity.plot import plot_connectivity\n"
        "w = np.eye(3) - 0.5\n"
        "fig = plot_connectivity(SimpleNamespace(weights=w, embeddings=np.ones((3, 2))), path='m.png')\n"
        "print(matplotlib.get_backend().lower(), plt.get_fignums())\n"
    )
    env = dict(os.environ, MPLBACKEND="svg")
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["svg", "[]"]
    assert (tmp_path / "m.png").stat().st_size > 1000
