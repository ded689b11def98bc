"""``nwbsyn partners assign``: NWB or CREMI in, validated NWB out; bad input exits 2 with one sentence."""

import json

import numpy as np
import pytest
from conftest import write_nwbfile

from nwbsyn.cli import main
from nwbsyn.io import open_nwb
from nwbsyn.io.validate import validate_nwb
from nwbsyn.partners import add_em_volume, cremi_from_simulated, simulate_volume, write_cremi
from nwbsyn.partners.infer import DEFAULT_ASSOCIATION_MODEL, DEFAULT_CLEFT_MODEL, POST_THRESHOLD
from nwbsyn.partners.train import TrainConfig, labelled_volumes, train_and_save
from nwbsyn.testing import mock_nwbfile


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """Two-step networks: fast, and enough to exercise every path."""
    folder = tmp_path_factory.mktemp("models")
    vols = labelled_volumes(n_volumes=1, seed=0, options=dict(shape_zyx=(8, 64, 64), n_synapses=2))
    paths = {}
    for task in ("cleft", "association"):
        cfg = TrainConfig(task=task, widths=(4, 6), patch_zyx=(4, 32, 32), iterations=2, val_every=1,
                          val_patches=2, batch_size=1)
        paths[task] = str(train_and_save(folder / f"{task}.pt", config=cfg, volumes=vols, data_description="tiny",
                                         progress_bar=False))
    return ["--cleft-model", paths["cleft"], "--association-model", paths["association"], "--quiet"]


@pytest.fixture(scope="module")
def sim():
    return simulate_volume(shape_zyx=(8, 96, 96), n_synapses=3, polyadic_fraction=0.5, rng=3)


@pytest.fixture
def em_file(tmp_path, sim):
    nwbfile = mock_nwbfile()
    add_em_volume(nwbfile, raw=sim.raw, neuron_ids=sim.neuron_ids, voxel_size_nm=sim.voxel_size_nm, clefts=sim.clefts)
    return write_nwbfile(nwbfile, tmp_path / "em.nwb")


@pytest.mark.parametrize("clefts", ["given", "detect"])
def test_assign_nwb_in_nwb_out(tmp_path, em_file, sim, tiny_models, clefts, capsys):
    before = em_file.read_bytes()
    out = tmp_path / "out.nwb"
    assert main(["partners", "assign", str(em_file), "-o", str(out), "--clefts", clefts, "--min-contact", "5",
                 "--plot", str(tmp_path / "s.png")] + tiny_models) == 0
    assert em_file.read_bytes() == before and (tmp_path / "s.png").stat().st_size > 1000
    assert "edges ->" in capsys.readouterr().out
    report = validate_nwb(out)
    assert not report.schema_errors and report.ok, report
    with open_nwb(out) as nwbfile:
        misc = nwbfile.processing["misc"]
        params = json.loads(misc["association_model"].parameters)
        assert params["min_contact_voxels"] == 5 and params["post_threshold"] == POST_THRESHOLD
        assert ("cleft_model" in misc.data_interfaces) == (clefts == "detect")
        if "synaptic_clefts" in misc.data_interfaces:
            table = misc["synaptic_clefts"]
            centroids = np.asarray(table.centroid[:])  # schema 0.2: voxels of the cleft volume, like bounding_box
            assert np.all(centroids >= 0) and np.all(centroids <= np.asarray(sim.shape))
            boxes = np.asarray(table.bounding_box[:])
            assert np.all((boxes[:, :3] <= centroids) & (centroids <= boxes[:, 3:]))
        if clefts == "given":
            ids = set(np.asarray(misc["synaptic_clefts"].cleft_id[:]).tolist())
            assert ids == {s.cleft_id for s in sim.synapses}
            partners = misc["synaptic_partners"]
            assert partners.segmentation.name == "em_raw_segmentation"
            pre = set(np.asarray(partners.presynaptic_id[:]).tolist())
            assert pre <= set(np.unique(sim.neuron_ids).tolist())


def test_assign_cremi_in_nwb_out_and_rerun(tmp_path, sim, tiny_models):
    cremi = write_cremi(tmp_path / "v.hdf", cremi_from_simulated(sim))
    subject = ["--subject-id", "fly1", "--species", "Drosophila melanogaster", "--sex", "F", "--age", "P7D"]
    assert main(["partners", "assign", str(cremi), "--clefts", "given"] + subject + tiny_models) == 0
    out = tmp_path / "v_nwbsyn.nwb"
    with open_nwb(out) as nwbfile:
        assert len(nwbfile.processing["misc"]["synaptic_clefts"]) == len(sim.synapses)
        assert (nwbfile.subject.subject_id, nwbfile.subject.species) == ("fly1", "Drosophila melanogaster")
    assert validate_nwb(out).failures == []  # CREMI has no subject; the options give DANDI its one
    assert main(["partners", "assign", str(out), "--in-place", "--clefts", "given"] + tiny_models) == 2
    assert main(["partners", "assign", str(out), "--in-place", "--overwrite", "--clefts", "given"] + tiny_models) == 0
    assert validate_nwb(out).schema_errors == []


def test_bad_inputs_exit_2(tmp_path, em_file, tiny_models, icephys_file, capsys):
    cases = [
        [str(icephys_file)],                                      # no EM volume in the file
        [str(em_file), "--in-place", "--clefts", "given", "--segmentation", "nope"],
        [str(tmp_path / "missing.nwb")],
        [str(em_file), "--cleft-model", str(em_file)],            # not a checkpoint
        [str(em_file), "-o", str(tmp_path / "x.nwb"), "--clefts", "given", "--post-threshold", "1.5"],
    ]
    for args in cases:
        assert main(["partners", "assign", *args] + tiny_models[-1:]) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("nwbsyn: error:") and "Traceback" not in err
    assert not (tmp_path / "x.nwb").exists()
    nwbfile = mock_nwbfile()
    sim = simulate_volume(shape_zyx=(4, 32, 32), n_synapses=0, rng=0)
    add_em_volume(nwbfile, raw=sim.raw, neuron_ids=sim.neuron_ids, voxel_size_nm=sim.voxel_size_nm)
    path = write_nwbfile(nwbfile, tmp_path / "noclefts.nwb")
    assert main(["partners", "assign", str(path), "--clefts", "given"] + tiny_models) == 2
    assert "cleft label volume" in capsys.readouterr().err
    assert not list(tmp_path.glob("*_nwbsyn.nwb")) and not list(tmp_path.glob(".*tmp*"))


def test_shipped_networks_on_a_held_out_volume():
    from nwbsyn.partners import assign_partners, assignment_accuracy, detect_clefts, edge_prf, partner_edges

    held_out = simulate_volume(shape_zyx=(16, 192, 192), n_synapses=8, polyadic_fraction=0.4, rng=981)
    truth = held_out.partners()
    dyadic = {c: p for c, p in truth.items() if len(p[1]) == 1}
    poly = {c: p for c, p in truth.items() if len(p[1]) > 1}
    assert len(dyadic) >= 2 and len(poly) >= 2
    res = assign_partners(held_out.raw, held_out.neuron_ids, held_out.clefts, polyadic=False, device="cpu")
    assert assignment_accuracy({c: res.partners()[c] for c in dyadic}, dyadic).accuracy == 1.0
    res = assign_partners(held_out.raw, held_out.neuron_ids, held_out.clefts, polyadic=True, device="cpu")
    assert edge_prf(partner_edges({c: res.partners()[c] for c in poly}), partner_edges(poly)).f1 >= 0.7
    found = detect_clefts(held_out.raw, device="cpu")
    assert abs(len(found) - len(truth)) <= 2
    for path in (DEFAULT_CLEFT_MODEL, DEFAULT_ASSOCIATION_MODEL):
        assert path.with_suffix(".card.json").is_file()


def test_shipped_networks_end_to_end_through_nwb(tmp_path):
    """Generated volume -> NWB -> `nwbsyn partners assign` -> read back: the planted dyadic partners."""
    sim = simulate_volume(shape_zyx=(16, 192, 192), n_synapses=8, polyadic_fraction=0.0, rng=982)
    nwbfile = mock_nwbfile()
    add_em_volume(nwbfile, raw=sim.raw, neuron_ids=sim.neuron_ids, voxel_size_nm=sim.voxel_size_nm, clefts=sim.clefts)
    source = write_nwbfile(nwbfile, tmp_path / "planted.nwb")
    out = tmp_path / "found.nwb"
    assert main(["partners", "assign", str(source), "-o", str(out), "--clefts", "given", "--no-polyadic",
                 "--quiet"]) == 0
    assert validate_nwb(out).ok
    with open_nwb(out) as f:
        partners = f.processing["misc"]["synaptic_partners"]
        cleft_ids = np.asarray(f.processing["misc"]["synaptic_clefts"].cleft_id[:])[np.asarray(partners.cleft.data[:])]
        got = {int(c): (int(p), (int(q),)) for c, p, q in zip(cleft_ids, partners.presynaptic_id[:],
                                                               partners.postsynaptic_id[:])}
    assert got == sim.partners()


def test_bad_cremi_files_exit_2_and_write_nothing(tmp_path, sim, capsys):
    import h5py

    empty = cremi_from_simulated(sim)
    empty_path = write_cremi(tmp_path / "empty_seg.hdf", type(empty)(
        raw=empty.raw, neuron_ids=np.zeros_like(empty.neuron_ids), clefts=empty.clefts,
        resolution_nm=empty.resolution_nm))
    no_res = tmp_path / "no_resolution.hdf"
    with h5py.File(no_res, "w") as f:
        f["volumes/raw"] = sim.raw
        f["volumes/labels/neuron_ids"] = sim.neuron_ids
    no_seg = tmp_path / "no_segmentation.hdf"
    with h5py.File(no_seg, "w") as f:
        f["volumes/raw"] = sim.raw
        f["volumes/raw"].attrs["resolution"] = (40.0, 8.0, 8.0)
    for path, words in [(empty_path, "empty"), (no_res, "resolution"), (no_seg, "neuron_ids")]:
        assert main(["partners", "assign", str(path), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err, err
    assert not list(tmp_path.glob("*.nwb"))


def test_train_cli_records_the_generated_data_in_the_card(tmp_path):
    out = tmp_path / "assoc.pt"
    assert main(["partners", "train", "--task", "association", "-o", str(out), "--volumes", "1", "--data-seed", "7",
                 "--iterations", "1", "--quiet"]) == 0
    card = json.loads(out.with_suffix(".card.json").read_text())
    assert '"n_volumes": 1, "seed": 7' in card["training_data"]


def test_printed_counts_agree_with_the_written_tables(tmp_path, em_file, tiny_models, capsys):
    import re

    out = tmp_path / "counts.nwb"
    assert main(["partners", "assign", str(em_file), "-o", str(out), "--clefts", "given", "--min-contact", "0",
                 "--post-threshold", "0"] + tiny_models) == 0
    captured = capsys.readouterr()
    line = captured.out
    assert "not calibrated" in captured.err
    n_clefts, n_with, n_poly, n_edges = map(int, re.search(
        r"(\d+) clefts \(given\), (\d+) with partners \((\d+) polyadic\), (\d+) edges", line).groups())
    with open_nwb(out) as nwbfile:
        misc = nwbfile.processing["misc"]
        clefts = misc["synaptic_clefts"]
        edges = misc["synaptic_partners"]
        rows = np.asarray(edges["cleft"].data[:])
        assert n_clefts == len(clefts) and n_edges == len(edges)
        ids, per = np.unique(rows, return_counts=True)
        assert n_with == len(ids) and n_poly == int((per > 1).sum())
        for table in (clefts, edges):  # confidences stored and marked; tiny networks are not calibrated
            conf = np.asarray(table["confidence"].data[:], float)
            low = np.asarray(table["low_confidence"].data[:], bool)
            assert np.all((conf >= 0) & (conf <= 1)) and np.array_equal(low, conf < 0.5)
            assert "NOT calibrated" in table["confidence"].description
        n_low = int(np.sum(np.asarray(clefts["low_confidence"].data[:])))
        n_low_edges = int(np.sum(np.asarray(edges["low_confidence"].data[:])))
    assert f"low confidence: {n_low} clefts, {n_low_edges} edges" in line
    page = tmp_path / "report.html"
    assert main(["report", str(out), "-o", str(page)]) == 0
    text = page.read_text()
    assert f"low-confidence clefts (calibrated confidence &lt; 0.5)</td><td>{n_low}</td>" in text \
        or f"low-confidence clefts (calibrated confidence < 0.5)</td><td>{n_low}</td>" in text


def test_a_volume_far_from_the_training_resolution_gets_a_note(tmp_path, tiny_models, capsys):
    sim2 = simulate_volume(shape_zyx=(8, 128, 128), voxel_size_nm=(40, 2, 2), n_synapses=1, rng=5)
    src = write_cremi(tmp_path / "fine.hdf", cremi_from_simulated(sim2))
    out = tmp_path / "fine.nwb"
    assert main(["partners", "assign", str(src), "-o", str(out), "--clefts", "given"] + tiny_models) == 0
    err = capsys.readouterr().err
    assert "more than 2x away from the networks' training resolution" in err and "y 2 nm (trained 8 nm)" in err
    with open_nwb(out) as nwbfile:
        params = json.loads(nwbfile.processing["misc"]["association_model"].parameters)
        assert params["voxel_size_nm"] == [40.0, 2.0, 2.0]
