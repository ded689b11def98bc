"""``nwbsyn partners export``: neuroglancer precomputed volumes (read back with tensorstore) and annotations
(decoded here after the format specification), plus a state that names every layer."""

import json
import struct

import numpy as np
import pytest
from conftest import write_nwbfile

from nwbsyn.cli import main
from nwbsyn.partners import PartnerResult, clefts_from_labels, nwbfile_from_cremi, simulate_volume
from nwbsyn.partners.calibrate import Confidence
from nwbsyn.partners.cremi import cremi_from_simulated
from nwbsyn.partners.nwb import add_results, load_inputs

ts = pytest.importorskip("tensorstore", reason="the neuroglancer extra (tensorstore) is not installed")

_SIZE = {"float32": 4, "uint32": 4, "int32": 4, "uint16": 2, "int16": 2, "uint8": 1, "int8": 1}
_FMT = {"float32": "f", "uint32": "I", "int32": "i", "uint16": "H", "int16": "h", "uint8": "B", "int8": "b"}


def decode(data: bytes, info: dict) -> list[dict]:
    """Multiple-annotation encoding (annotations.md): count, annotations, ids."""
    n_geom = {"POINT": 3, "LINE": 6}[info["annotation_type"]]
    props = info["properties"]
    order = [p for size in (4, 2, 1) for p in props if _SIZE[p["type"]] == size]
    stride = 4 * n_geom + sum(_SIZE[p["type"]] for p in props)
    stride += -stride % 4
    (count,) = struct.unpack_from("<Q", data, 0)
    out, at = [], 8
    for _ in range(count):
        geom = struct.unpack_from(f"<{n_geom}f", data, at)
        pos, values = at + 4 * n_geom, {}
        for p in order:
            (values[p["id"]],) = struct.unpack_from("<" + _FMT[p["type"]], data, pos)
            pos += _SIZE[p["type"]]
        out.append({"geometry": geom, **values})
        at += stride
    ids = struct.unpack_from(f"<{count}Q", data, at)
    assert at + 8 * count == len(data)
    for row, i in zip(out, ids):
        row["id"] = i
    return out


@pytest.fixture(scope="module")
def result_file(tmp_path_factory):
    sim = simulate_volume(shape_zyx=(8, 96, 96), n_synapses=3, polyadic_fraction=0.5, rng=3)
    nwbfile = nwbfile_from_cremi(cremi_from_simulated(sim), source="test")
    inp = load_inputs(nwbfile)
    table = clefts_from_labels(sim.clefts)
    truth = sim.partners()
    ids = table.cleft_ids.tolist()
    result = PartnerResult(cleft_ids=np.array(ids, np.uint64), pre_ids=np.array([truth[c][0] for c in ids], np.uint64),
                           post_ids=tuple(tuple(truth[c][1]) for c in ids), pre_scores=np.full(len(ids), 0.9),
                           post_scores=tuple(tuple(0.8 for _ in truth[c][1]) for c in ids), clefts=table)
    n_edges = len(result.edges())
    result.confidence = Confidence(clefts=np.linspace(0.2, 0.9, len(ids)), edges=np.linspace(0.1, 0.95, n_edges),
                                   low_confidence=0.5, calibrated=True)
    add_results(nwbfile, inp, [result], provenance={})
    path = write_nwbfile(nwbfile, tmp_path_factory.mktemp("export") / "res.nwb")
    return path, sim, result


def test_export_writes_volumes_annotations_and_a_state(tmp_path, result_file, capsys):
    path, sim, result = result_file
    out = tmp_path / "ng"
    assert main(["partners", "export", str(path), "-o", str(out)]) == 0
    assert "cleft points" in capsys.readouterr().out
    for name, want in (("image", sim.raw), ("segmentation", sim.neuron_ids), ("clefts", sim.clefts)):
        store = ts.open({"driver": "neuroglancer_precomputed", "kvstore": {"driver": "file", "path": str(out / name)}}
                        ).result()
        got = store.read().result()[..., 0].transpose(2, 1, 0)
        assert np.array_equal(got, want), name
        info = json.loads((out / name / "info").read_text())
        assert info["scales"][0]["resolution"] == [8.0, 8.0, 40.0]
    points_info = json.loads((out / "cleft_points" / "info").read_text())
    assert points_info["@type"] == "neuroglancer_annotations_v1" and points_info["annotation_type"] == "POINT"
    points = decode((out / "cleft_points" / "spatial0" / "0_0_0").read_bytes(), points_info)
    assert [p["id"] for p in points] == result.clefts.cleft_ids.tolist()
    for p, centre, conf in zip(points, result.clefts.centroids_zyx, result.confidence.clefts):
        np.testing.assert_allclose(p["geometry"], centre[::-1] + 0.5, atol=1e-4)
        assert p["confidence"] == pytest.approx(conf, abs=1e-6) and p["low_confidence"] == int(conf < 0.5)
        assert p["cleft_id"] == p["id"]
    lines_info = json.loads((out / "partner_edges" / "info").read_text())
    lines = decode((out / "partner_edges" / "spatial0" / "0_0_0").read_bytes(), lines_info)
    edges = result.edges()
    assert len(lines) == len(edges) and [ln["cleft_id"] for ln in lines] == edges[:, 0].tolist()
    for ln, (_cid, pre, post) in zip(lines, edges.tolist()):
        a, b = np.asarray(ln["geometry"][:3])[::-1] - 0.5, np.asarray(ln["geometry"][3:])[::-1] - 0.5
        assert sim.neuron_ids[tuple(np.round(a).astype(int))] == pre or np.allclose(a, b)
        assert np.linalg.norm(a - b) > 0  # the line runs from one side of the cleft to the other
        one = (out / "partner_edges" / "by_id" / str(ln["id"])).read_bytes()
        stride = len(one) - 2 * (4 + 8)  # geometry + properties, then two relationships of one segment
        assert struct.unpack_from("<IQIQ", one, stride) == (1, pre, 1, post)
        related = decode((out / "partner_edges" / "rel_presynaptic" / str(pre)).read_bytes(), lines_info)
        assert ln["id"] in [r["id"] for r in related]
    state = json.loads((out / "state.json").read_text())
    names = {layer["name"] for layer in state["layers"]}
    assert {"EM", "segmentation", "clefts", "cleft_points", "partner_edges"} <= names
    assert all(layer["source"].startswith("precomputed://http://127.0.0.1:9000/ng/") for layer in state["layers"])


def test_an_existing_export_folder_is_refused(tmp_path, result_file, capsys):
    path, _, _ = result_file
    (tmp_path / "ng").mkdir()
    assert main(["partners", "export", str(path), "-o", str(tmp_path / "ng")]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and err.count("\n") == 1
    assert list((tmp_path / "ng").iterdir()) == [] and [p.name for p in tmp_path.iterdir()] == ["ng"]
