"""``partners score`` on the real CREMI crop's annotation file (its annotations are format examples, not synapses)."""

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import write_nwbfile

from nwbsyn.cli import main
from nwbsyn.partners import PartnerResult, clefts_from_labels, nwbfile_from_cremi, read_cremi
from nwbsyn.partners.nwb import add_results, load_inputs

FAKE = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "em" / \
    "cremi_sampleB_sec46-50_500x500_FAKE_annotations.hdf"


@pytest.mark.skipif(not FAKE.is_file(), reason="../shared/data/em (the CREMI crop) is not here")
def test_a_result_holding_the_annotated_pairs_scores_every_pair_correct(tmp_path, capsys):
    vol = read_cremi(FAKE)
    ann = vol.annotations
    res = np.asarray(vol.resolution_nm)
    where = {int(i): k for k, i in enumerate(ann.ids)}
    segs = ann.segment_partners(vol.neuron_ids, res)
    labels = np.zeros(vol.raw.shape, np.uint32)
    partners = {}
    for k, (a, b) in enumerate(ann.partners.tolist()):
        mid = (ann.locations_nm[where[a]] + ann.locations_nm[where[b]]) / 2 / res
        z, y, x = np.clip(np.round(mid).astype(int), 0, np.array(vol.raw.shape) - 2)
        labels[z, y:y + 2, x:x + 2] = k + 1
        partners[k + 1] = (int(segs[k, 0]), (int(segs[k, 1]),))
    table = clefts_from_labels(labels)
    ids = table.cleft_ids.tolist()
    assert len(ids) == len(ann.partners)
    result = PartnerResult(cleft_ids=np.array(ids, np.uint64), pre_ids=np.array([partners[c][0] for c in ids]),
                           post_ids=tuple(partners[c][1] for c in ids), pre_scores=np.ones(len(ids)),
                           post_scores=tuple((1.0,) for _ in ids), clefts=table)
    nwbfile = nwbfile_from_cremi(vol, source="crop")
    add_results(nwbfile, load_inputs(nwbfile), [result], provenance={})
    path = write_nwbfile(nwbfile, tmp_path / "res.nwb")
    assert main(["partners", "score", str(FAKE), str(path)]) == 0
    scores = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    n_distinct = len({(int(a), int(b)) for a, b in segs})
    assert scores["n_true_positive_edges"] + scores["n_false_negative_edges"] <= len(ann.partners)
    assert scores["n_true_positive_edges"] >= n_distinct and scores["edge_recall"] == 1.0
    assert scores["adgt_nm"] is None  # the file has no cleft labels
