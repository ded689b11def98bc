"""Partner-assignment metrics on hand-made cases (no-overlap clefts, duplicates, polyadic)."""

import numpy as np
import pytest

from nwbsyn._shared import InputError
from nwbsyn.partners import (
    assignment_accuracy,
    edge_prf,
    match_clefts,
    partner_edges,
    simulate_volume,
    synapse_edge_f1,
)


def test_assignment_accuracy():
    truth = {1: (10, 11), 2: (12, (13, 14)), 3: (15, 16)}
    s = assignment_accuracy({1: (10, 11), 2: (12, (14, 13)), 3: (16, 15)}, truth)
    assert (s.n_correct, s.n_clefts, s.wrong_cleft_ids) == (2, 3, (3,))  # swapped pre/post is wrong
    assert s.accuracy == pytest.approx(2 / 3)
    assert assignment_accuracy({1: (10, 11)}, truth).wrong_cleft_ids == (2, 3)  # missing = wrong
    assert assignment_accuracy({2: (12, 13)}, {2: (12, (13, 14))}).accuracy == 0.0  # polyadic needs all
    # the edge-array form gives the same answer
    assert assignment_accuracy(partner_edges(truth), truth).accuracy == 1.0


def test_edge_prf_multiset_and_duplicates():
    s = edge_prf([(1, 2), (1, 2), (3, 4)], [(1, 2), (5, 6)])
    assert (s.n_true_positive, s.n_false_positive, s.n_false_negative) == (1, 2, 1)
    assert s.precision == pytest.approx(1 / 3) and s.recall == pytest.approx(0.5)
    assert s.f1 == pytest.approx(0.4)
    # a true edge present twice can be matched twice
    assert edge_prf([(1, 2), (1, 2)], [(1, 2), (1, 2)]).f1 == 1.0
    assert edge_prf([], [(1, 2)]).f1 == 0.0 and edge_prf([], []).f1 == 1.0
    with pytest.raises(InputError):
        edge_prf([(1, 2)], [(7, 1, 2)])


def test_match_clefts_most_overlap_and_none():
    true = np.zeros((1, 2, 8), int)
    true[0, :, 0:4] = 5
    true[0, :, 4:6] = 6
    pred = np.zeros_like(true)
    pred[0, :, 2:6] = 1  # 4 voxels on 5, 4 voxels on 6: tie -> smaller id
    pred[0, 0, 5] = 2  # on 6 only
    pred[0, :, 7] = 3  # overlaps nothing
    pred[0, 0, 3] = 4
    pred[0, 1, 4:6] = 4  # 1 voxel on 5, 2 on 6
    assert match_clefts(pred, true) == {1: 5, 2: 6, 3: 0, 4: 6}
    with pytest.raises(InputError):
        match_clefts(pred, true[:, :1])


def test_no_overlap_cleft_matches_nothing():
    # the reference code maps a cleft with no overlap to the first true id: that would make
    # the edge below a true positive; it must be a false positive
    true = np.zeros((1, 1, 10), int)
    true[0, 0, :3] = 1
    pred = np.zeros_like(true)
    pred[0, 0, 6:9] = 9
    s = synapse_edge_f1(pred, {9: (10, 11)}, true, {1: (10, 11)})
    assert (s.n_true_positive, s.n_false_positive, s.n_false_negative) == (0, 1, 1)
    assert s.f1 == 0.0


def test_synapse_edge_f1_duplicates_and_polyadic():
    true = np.zeros((1, 1, 12), int)
    true[0, 0, 0:4] = 1
    true[0, 0, 6:10] = 2
    pred = np.zeros_like(true)
    pred[0, 0, 0:2] = 7  # two predicted clefts on true cleft 1 (a split)
    pred[0, 0, 2:4] = 8
    pred[0, 0, 6:10] = 9
    truth = {1: (10, 11), 2: (20, (21, 22))}
    s = synapse_edge_f1(pred, {7: (10, 11), 8: (10, 11), 9: (20, (21, 23))}, true, truth)
    # tp: (1,10,11), (2,20,21); fp: duplicate of (1,10,11), (2,20,23); fn: (2,20,22)
    assert (s.n_true_positive, s.n_false_positive, s.n_false_negative) == (2, 2, 1)
    assert s.precision == pytest.approx(0.5) and s.recall == pytest.approx(2 / 3)
    # edge arrays work as well as dicts
    arr = synapse_edge_f1(pred, np.array([[7, 10, 11], [9, 20, 21], [9, 20, 22]]), true, partner_edges(truth))
    assert arr.f1 == 1.0 and arr.n_false_positive == 0


def test_perfect_prediction_on_simulated_volume():
    vol = simulate_volume(shape_zyx=(12, 96, 96), n_synapses=4, rng=6)
    relabelled = np.where(vol.clefts > 0, vol.clefts + 100, 0)
    pred = {c + 100: v for c, v in vol.partners().items()}
    s = synapse_edge_f1(relabelled, pred, vol.clefts, vol.edges())
    assert len(vol.edges()) > 0 and s.f1 == 1.0
    assert assignment_accuracy(vol.partners(), vol.edges()).accuracy == 1.0
