"""Synaptic partner assignment in EM volumes (AVAN method): simulation, networks, inference, NWB.

Importing this package does not import torch (the networks load when first used).
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
from nwbsyn.partners.infer import (
    CleftDetection,
    PartnerResult,
    assign_partners,
    clefts_from_labels,
    detect_clefts,
    summary_line,
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
from nwbsyn.partners.nwb import PartnerInput, add_em_volume, load_inputs, nwbfile_from_cremi, run_on_nwbfile
from nwbsyn.partners.plot import plot_synapses
from nwbsyn.partners.simulate import SimulatedVolume, Synapse, paint_synapses, simulate_dataset, simulate_volume

__all__ = [
    "AssignmentScore",
    "CREMI_NO_CLEFT",
    "CleftDetection",
    "PartnerInput",
    "PartnerResult",
    "add_em_volume",
    "assign_partners",
    "clefts_from_labels",
    "detect_clefts",
    "load_inputs",
    "nwbfile_from_cremi",
    "plot_synapses",
    "run_on_nwbfile",
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
    "paint_synapses",
    "partner_edges",
    "read_cremi",
    "simulate_dataset",
    "simulate_volume",
    "summary_line",
    "synapse_edge_f1",
    "write_cremi",
]
