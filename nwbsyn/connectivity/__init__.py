"""Functional connectivity from population activity (SynapsNet method) and baselines.

``weights[i, k]`` everywhere means the influence of presynaptic neuron ``k`` on
postsynaptic neuron ``i`` (row = post, column = pre). Importing this package does not
import torch; :func:`fit_connectivity` and :func:`fit` import it when called.
"""

from nwbsyn.connectivity.baselines import (
    LaggedModel,
    pairwise_correlation,
    partial_correlation,
    poisson_glm,
    ridge_var,
)
from nwbsyn.connectivity.infer import ConnectivityResult, fit_connectivity, predict_next, result_from_trained
from nwbsyn.connectivity.metrics import (
    connectivity_auprc,
    connectivity_auroc,
    current_activity_correlation,
    forecast_correlation,
    pc_forecast_correlation,
    sign_accuracy,
)
from nwbsyn.connectivity.nwb import ActivityInput, add_results, load_inputs, run_on_nwbfile, to_xarray
from nwbsyn.connectivity.plot import plot_connectivity
from nwbsyn.connectivity.binning import BinChoice, choose_bin_ms
from nwbsyn.connectivity.simulate import (
    SimulatedNetwork,
    random_connectivity,
    simulate_network,
    simulate_rate_network,
    to_nwbfile,
)
from nwbsyn.connectivity.trust import EdgeSignificance, edge_significance, fit_quality
from nwbsyn.connectivity.train import (
    TrainConfig,
    TrainedModel,
    fit,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)

__all__ = [
    "ActivityInput",
    "BinChoice",
    "EdgeSignificance",
    "choose_bin_ms",
    "edge_significance",
    "fit_quality",
    "simulate_rate_network",
    "to_nwbfile",
    "ConnectivityResult",
    "LaggedModel",
    "SimulatedNetwork",
    "TrainConfig",
    "TrainedModel",
    "add_results",
    "load_inputs",
    "plot_connectivity",
    "run_on_nwbfile",
    "to_xarray",
    "connectivity_auprc",
    "connectivity_auroc",
    "current_activity_correlation",
    "fit",
    "fit_connectivity",
    "forecast_correlation",
    "load_checkpoint",
    "pairwise_correlation",
    "partial_correlation",
    "pc_forecast_correlation",
    "poisson_glm",
    "predict_next",
    "random_connectivity",
    "read_checkpoint",
    "result_from_trained",
    "ridge_var",
    "save_checkpoint",
    "sign_accuracy",
    "simulate_network",
]
