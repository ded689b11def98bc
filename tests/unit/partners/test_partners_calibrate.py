"""Calibrated confidence: Platt fits, which networks a calibration belongs to, the shipped calibration."""

import numpy as np
import pytest

from nwbsyn.partners import CleftDetection, PartnerResult
from nwbsyn.partners.calibrate import (DEFAULT_CALIBRATION, Calibration, confidences, fit_platt, load_calibration,
                                       reliability)


def test_platt_recovers_the_coefficients_of_a_logistic_model():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 2))
    p = 1 / (1 + np.exp(-(1.5 * x[:, 0] - 0.7 * x[:, 1] + 0.3)))
    y = rng.random(4000) < p
    w = fit_platt(x, y, l2=0.0)
    np.testing.assert_allclose(w, [1.5, -0.7, 0.3], atol=0.15)
    assert reliability(p, y)["ece"] < 0.05


def _result():
    det = CleftDetection(labels=np.zeros((1, 1, 1)), cleft_ids=np.array([1, 2], np.uint64),
                         centroids_zyx=np.zeros((2, 3)), num_voxels=np.array([300, 20]),
                         bounding_boxes=np.zeros((2, 6), int), scores=np.array([0.95, 0.75]))
    return PartnerResult(cleft_ids=np.array([1, 2], np.uint64), pre_ids=np.array([5, 6], np.uint64),
                         post_ids=((7, 8), (9,)), pre_scores=np.array([0.9, 0.6]),
                         post_scores=((0.9, 0.5), (0.45,)), clefts=det)


def test_edge_confidence_is_the_cleft_confidence_times_the_edge_given_a_real_cleft():
    cal = Calibration(cleft=[2.0, 1.0, 0.0], edge=[1.0, 1.0, 0.0], networks={"cleft": ["c"], "association": ["a"]})
    res = _result()
    conf = confidences(res, voxel_size_nm=(40, 8, 8), given=False, calibration=cal, cleft_sha256="c",
                       association_sha256="a")
    assert conf.calibrated and conf.note is None
    assert conf.clefts[0] > conf.clefts[1]  # larger and surer
    given = cal.edge_given_cleft(res.edge_scores()[:, 0], res.edge_scores()[:, 1])
    np.testing.assert_allclose(conf.edges, conf.clefts[[0, 0, 1]] * given)
    assert np.array_equal(conf.low_edges, conf.edges < 0.5)
    with_given = confidences(res, voxel_size_nm=(40, 8, 8), given=True, calibration=cal, cleft_sha256=None,
                             association_sha256="a")
    assert np.all(with_given.clefts == 1) and np.allclose(with_given.edges, given)


def test_other_networks_get_raw_scores_and_a_note():
    cal = Calibration(cleft=[2.0, 1.0, 0.0], edge=[1.0, 1.0, 0.0], networks={"cleft": ["c"], "association": ["a"]})
    conf = confidences(_result(), voxel_size_nm=(40, 8, 8), given=False, calibration=cal, cleft_sha256="other",
                       association_sha256="a")
    assert not conf.calibrated and "not calibrated" in conf.note
    np.testing.assert_allclose(conf.clefts, [0.95, 0.75])


def test_the_shipped_calibration_belongs_to_the_shipped_networks():
    from nwbsyn._shared import sha256_of_file
    from nwbsyn.partners.infer import default_models

    if not DEFAULT_CALIBRATION.is_file():
        pytest.skip("no shipped calibration (run python -m nwbsyn.partners.calibrate)")
    cal = load_calibration()
    for task in ("cleft", "association"):
        for path in default_models(task):
            assert sha256_of_file(path) in cal.networks[task], path.name
    held = cal.record["held_out"]
    assert held["clefts_calibrated"]["n"] > 0 and held["edges_calibrated"]["n"] > 0
    assert "python -m nwbsyn.partners.calibrate" in cal.record["command"]
