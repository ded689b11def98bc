"""Synaptic partner assignment in EM volumes (AVAN method): simulation, CREMI I/O and metrics.

Importing this package does not import torch.
"""

from nwbsyn.partners.cremi import (
    CREMI_NO_CLEFT,
    CremiAnnotations,
    CremiVolume,
    cremi_from_simulated,
    cremi_synapses,
    read_cremi,
    write_cremi,
)
from nwbsyn.partners.metrics import (
    AssignmentScore,
    EdgeScore,
    assignment_accuracy,
    edge_prf,
    match_clefts,
    partner_edges,
    synapse_edge_f1,
)
from nwbsyn.partners.simulate import SimulatedVolume, Synapse, simulate_dataset, simulate_volume

__all__ = [
    "AssignmentScore",
    "CREMI_NO_CLEFT",
    "CremiAnnotations",
    "CremiVolume",
    "EdgeScore",
    "SimulatedVolume",
    "Synapse",
    "assignment_accuracy",
    "cremi_from_simulated",
    "cremi_synapses",
    "edge_prf",
    "match_clefts",
    "partner_edges",
    "read_cremi",
    "simulate_dataset",
    "simulate_volume",
    "synapse_edge_f1",
    "write_cremi",
]
