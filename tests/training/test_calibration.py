"""Calibrated confidence: the temperature and none-logit fitted on validation, and what they are measured by."""

from __future__ import annotations

import lightgbm
import numpy as np
import pytest
from scipy.special import softmax

from training.model.calibration import (
    Calibration,
    calibrated_probabilities,
    expected_calibration_error,
    fit_calibration,
    operating_points,
    reliability,
    scale_leaf_values,
    uncalibrated,
)


def _overconfident(rows: int, classes: int, temperature: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Raw scores whose softmax is `temperature` times too sharp: labels drawn from softmax(raw / temperature)."""
    rng = np.random.default_rng(seed)
    raw = rng.normal(0, 3, size=(rows, classes))
    honest = softmax(raw / temperature, axis=1)
    labels = np.array([rng.choice(classes, p=p) for p in honest])
    return raw, labels


def test_the_temperature_of_an_overconfident_model_is_recovered_and_fixes_its_calibration():
    # GIVEN scores twice as sharp as the truth
    raw, labels = _overconfident(20_000, 10, temperature=2.0)

    # WHEN a temperature is fitted on them
    calibration = fit_calibration(raw, labels, with_none=False)

    # THEN it is about 2, and the calibration error drops
    assert calibration.temperature == pytest.approx(2.0, rel=0.05)
    assert calibration.none_logit is None
    before, after = softmax(raw, axis=1), calibrated_probabilities(raw, calibration)
    ece = [expected_calibration_error(p.max(axis=1), p.argmax(axis=1) == labels) for p in (before, after)]
    assert ece[1] < 0.01 < ece[0]


def test_the_top_answer_is_calibrated_even_when_the_other_classes_scores_say_nothing():
    # GIVEN scores whose top answer is twice too confident, and whose wrong answers fall on any other class at random
    # (so the log loss of every class's probability asks for a much flatter softmax than the top answer needs)
    rng = np.random.default_rng(5)
    raw = rng.normal(0, 3, size=(20_000, 20))
    top = raw.argmax(axis=1)
    right = rng.random(len(raw)) < softmax(raw / 2.0, axis=1).max(axis=1)
    labels = np.where(right, top, (top + rng.integers(1, 20, len(raw))) % 20)

    # WHEN a temperature is fitted on them
    calibration = fit_calibration(raw, labels, with_none=False)

    # THEN it is the top answer's temperature, and the confidence a team thresholds means what it says
    probabilities = calibrated_probabilities(raw, calibration)
    assert calibration.temperature == pytest.approx(2.0, rel=0.05)
    assert expected_calibration_error(probabilities.max(axis=1), probabilities.argmax(axis=1) == labels) < 0.01


def test_a_none_logit_takes_the_share_of_rows_whose_class_was_not_a_candidate():
    # GIVEN candidates of which the true class is missing for a fifth of the rows
    raw, labels = _overconfident(10_000, 20, temperature=1.0, seed=1)
    missing = np.random.default_rng(2).random(len(labels)) < 0.2
    target = np.where(missing, -1, labels)

    calibration = fit_calibration(raw, target, with_none=True)
    probabilities = calibrated_probabilities(raw, calibration)

    # THEN the candidates keep about four fifths of the probability
    assert probabilities.sum(axis=1).mean() == pytest.approx(0.8, abs=0.03)
    assert calibration.none_logit is not None


def test_uncalibrated_recovers_the_probabilities_before_the_temperature():
    raw = np.random.default_rng(3).normal(0, 2, size=(50, 7))
    calibration = Calibration(temperature=1.7)

    np.testing.assert_allclose(uncalibrated(calibrated_probabilities(raw, calibration), calibration),
                               softmax(raw, axis=1), atol=1e-12)  # fmt: skip


def test_scaling_the_leaves_scales_the_raw_scores_exactly():
    rng = np.random.default_rng(4)
    features, labels = rng.normal(size=(500, 5)), rng.integers(3, size=500)
    parameters = {"objective": "multiclass", "num_class": 3, "verbose": -1}
    booster = lightgbm.train(parameters, lightgbm.Dataset(features, labels), num_boost_round=10)

    scaled = scale_leaf_values(booster, 0.5)

    np.testing.assert_allclose(scaled.predict(features, raw_score=True), booster.predict(features, raw_score=True) / 2,
                               rtol=1e-12, atol=1e-12)  # fmt: skip


def test_equal_mass_bins_and_the_error_they_give():
    confidence = np.array([0.9] * 50 + [0.6] * 50)
    correct = np.array([True] * 45 + [False] * 5 + [True] * 30 + [False] * 20)

    bins = reliability(confidence, correct, bins=2)

    assert [b["rows"] for b in bins] == [50, 50]
    assert [b["confidence"] for b in bins] == pytest.approx([0.6, 0.9])
    assert [b["accuracy"] for b in bins] == pytest.approx([0.6, 0.9])
    assert expected_calibration_error(confidence, correct, bins=2) == pytest.approx(0.0)


def test_an_operating_point_is_the_lowest_threshold_that_reaches_its_precision():
    # GIVEN 100 rows: the 60 most confident all right, then right one time in two
    confidence = np.linspace(1.0, 0.01, 100)
    correct = np.array([True] * 60 + [False, True] * 20)

    (strict, loose) = operating_points(confidence, correct, targets=(1.0, 0.9))

    assert strict["threshold"] == pytest.approx(confidence[59])
    assert strict["coverage"] == pytest.approx(0.6)
    assert loose["precision"] >= 0.9
    assert loose["coverage"] > 0.6


def test_a_precision_never_reached_accepts_nothing():
    (point,) = operating_points(np.linspace(1, 0, 100), np.zeros(100, dtype=bool), targets=(0.99,))

    assert point == {"target_precision": 0.99, "threshold": 1.01, "coverage": 0.0, "precision": None}
