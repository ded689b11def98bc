"""``nwbsyn partners score``: CREMI-style scores agree with an independent count of the same edges."""

import json
from collections import Counter

import numpy as np
import pytest
from conftest import write_nwbfile

from nwbsyn.cli import main
from nwbsyn.partners import (PartnerResult, clefts_from_labels, cremi_from_simulated, nwbfile_from_cremi, read_cremi,
                             simulate_volume, synapse_edge_f1, write_cremi)
from nwbsyn.partners.nwb import add_results, load_inputs
from nwbsyn.partners.score import cleft_distances, match_edges


@pytest.fixture(scope="module")
def sim():
    return simulate_volume(shape_zyx=(12, 160, 160), n_synapses=6, polyadic_fraction=0.5, rng=11)


def _result_file(path, cremi_path, partners: dict, labels):
    """An NWB result holding ``partners`` ({cleft: (pre, posts)}) on the cleft ``labels``."""
    nwbfile = nwbfile_from_cremi(read_cremi(cremi_path), source="test")
    inp = load_inputs(nwbfile)
    table = clefts_from_labels(labels)
    ids = [c for c in table.cleft_ids.tolist() if c in partners]
    result = PartnerResult(cleft_ids=np.array(ids, np.uint64), pre_ids=np.array([partners[c][0] for c in ids], np.uint64),
                           post_ids=tuple(tuple(partners[c][1]) for c in ids), pre_scores=np.ones(len(ids)),
                           post_scores=tuple(tuple(1.0 for _ in partners[c][1]) for c in ids), clefts=table)
    add_results(nwbfile, inp, [result], provenance={})
    return write_nwbfile(nwbfile, path)


def _score(capsys, volume, result) -> dict:
    assert main(["partners", "score", str(volume), str(result)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert any(line.startswith("partner edges: precision") for line in out)
    return json.loads(out[-1])


def test_edges_removed_and_added_are_counted_as_an_independent_multiset_count(tmp_path, sim, capsys):
    cremi = write_cremi(tmp_path / "truth.hdf", cremi_from_simulated(sim))
    truth = sim.partners()
    pred = {c: (pre, list(posts)) for c, (pre, posts) in truth.items()}
    first, second = sorted(pred)[:2]
    pred[first][1].pop()  # one edge missed (the cleft keeps another one or none)
    pred[second] = (pred[second][0], pred[second][1] + [999])  # one wrong edge added
    pred = {c: p for c, p in pred.items() if p[1]}
    result = _result_file(tmp_path / "res.nwb", cremi, pred, sim.clefts)
    scores = _score(capsys, cremi, result)
    true_edges = Counter((c, pre, post) for c, (pre, posts) in truth.items() for post in posts)
    pred_edges = Counter((c, pre, post) for c, (pre, posts) in pred.items() for post in posts)
    tp = sum((true_edges & pred_edges).values())
    assert scores["n_true_positive_edges"] == tp == sum(true_edges.values()) - 1
    assert scores["n_false_positive_edges"] == sum(pred_edges.values()) - tp == 1
    assert scores["n_false_negative_edges"] == 1
    assert scores["adgt_nm"] == 0 and scores["adf_nm"] == 0 and scores["cleft_precision"] == 1
    assert scores["cleft_recall"] == 1 and scores["n_true_clefts"] == len(truth)


def test_score_agrees_with_synapse_edge_f1_on_shifted_clefts(tmp_path, sim, capsys):
    """Detected clefts shifted by one pixel and one missing: the overlap-based count of the same edges."""
    cremi = write_cremi(tmp_path / "truth.hdf", cremi_from_simulated(sim))
    shifted = np.roll(sim.clefts, 1, axis=2)
    dropped = sorted(sim.partners())[-1]
    shifted[shifted == dropped] = 0
    pred = {c: p for c, p in sim.partners().items() if c != dropped}
    result = _result_file(tmp_path / "res.nwb", cremi, pred, shifted)
    scores = _score(capsys, cremi, result)
    ref = synapse_edge_f1(shifted, pred, sim.clefts, sim.partners())
    assert (scores["n_true_positive_edges"], scores["n_false_positive_edges"], scores["n_false_negative_edges"]) == \
        (ref.n_true_positive, ref.n_false_positive, ref.n_false_negative)
    assert scores["edge_f1"] == pytest.approx(ref.f1, abs=1e-4)
    assert scores["cleft_recall"] == pytest.approx((len(pred)) / len(sim.partners()), abs=1e-4)
    assert 0 < scores["adf_nm"] <= 8.0 and scores["adgt_nm"] > 0


def test_cleft_distances_by_hand():
    true = np.zeros((3, 1, 20), int)
    true[1, 0, 0:4] = 1
    pred = np.zeros_like(true)
    pred[1, 0, 2:8] = 1
    adgt, adf, fn, fp = cleft_distances(pred, true, voxel_size_nm=(40, 4, 4), threshold_nm=10)
    assert adgt == pytest.approx((8 + 4 + 0 + 0) / 4)  # true voxels 0..3 to pred 2..7
    assert adf == pytest.approx((0 + 0 + 4 + 8 + 12 + 16) / 6)
    assert (fn, fp) == (0, 2)


def test_edges_farther_than_the_match_distance_do_not_match():
    assert match_edges([(1, 2)], [(0, 0, 0)], [(1, 2)], [(0, 0, 401)]) == (0, 1, 1)
    assert match_edges([(1, 2), (1, 2)], [(0, 0, 0), (0, 0, 500)], [(1, 2), (1, 2)], [(0, 0, 480), (0, 0, 10)]) \
        == (2, 0, 0)


def test_an_nwb_file_with_partner_tables_is_ground_truth_too(tmp_path, sim, capsys):
    cremi = write_cremi(tmp_path / "truth.hdf", cremi_from_simulated(sim))
    truth = _result_file(tmp_path / "truth.nwb", cremi, sim.partners(), sim.clefts)
    pred = dict(sim.partners())
    pred.pop(sorted(pred)[0])
    result = _result_file(tmp_path / "res.nwb", cremi, pred, sim.clefts)
    scores = _score(capsys, truth, result)
    n_true = sum(len(p[1]) for p in sim.partners().values())
    n_pred = sum(len(p[1]) for p in pred.values())
    assert (scores["n_true_positive_edges"], scores["n_false_positive_edges"], scores["n_false_negative_edges"]) == \
        (n_pred, 0, n_true - n_pred)
    assert scores["adgt_nm"] == 0 and scores["cleft_precision"] == 1
