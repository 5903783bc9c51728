"""Calibrated confidence: the temperature, none-logit and lead scales fitted on validation, and what they are
measured by."""

from __future__ import annotations

import copy
from dataclasses import replace

import lightgbm
import numpy as np
import pytest
from scipy.special import softmax

from tests.training.conftest import exported
from training.model.calibration import (
    GRAPH_MARGIN,
    Calibration,
    calibrated_probabilities,
    expected_calibration_error,
    fit_calibration,
    operating_points,
    reliability,
    scale_leaf_values,
    uncalibrated,
)
from training.model.lead_temperature import LEAD_KNOTS
from training.model.parity import adversarial_frame, check_parity


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


def test_a_miscalibration_that_follows_the_lead_is_fixed_where_one_temperature_cannot():
    # GIVEN scores too sharp where the top answer barely leads the runner-up and too flat where it leads by far
    rng = np.random.default_rng(6)
    raw = rng.normal(0, 4, size=(60_000, 10))
    ordered = np.sort(raw, axis=1)
    truth = np.interp(ordered[:, -1] - ordered[:, -2], [0.0, 2.0, 4.0, 8.0], [0.5, 0.6, 1.5, 2.0])
    honest = softmax(raw * truth[:, None], axis=1)
    labels = (honest.cumsum(axis=1) < rng.random((len(raw), 1))).sum(axis=1)
    fit, held_out = slice(0, 30_000), slice(30_000, None)

    # WHEN the calibration is fitted on half the rows
    calibration = fit_calibration(raw[fit], labels[fit], with_none=False)

    # THEN on the other half the lead scales take the calibration error below half what one temperature leaves, and
    # the top answer's log loss down, without changing a label
    def measured(fitted: Calibration) -> tuple[float, float]:
        probabilities = calibrated_probabilities(raw[held_out], fitted)
        assert (probabilities.argmax(axis=1) == raw[held_out].argmax(axis=1)).all()
        confidence, right = probabilities.max(axis=1), probabilities.argmax(axis=1) == labels[held_out]
        loss = -np.mean(np.where(right, np.log(confidence), np.log1p(-confidence)))
        return expected_calibration_error(confidence, right), float(loss)

    (ece, loss), (one_temperature_ece, one_temperature_loss) = (
        measured(calibration),
        measured(Calibration(calibration.temperature)),
    )
    assert ece < one_temperature_ece / 2
    assert loss < one_temperature_loss


def test_a_few_hundred_rows_are_calibrated_by_the_temperature_alone():
    # GIVEN ten validation sets of 300 rows whose only miscalibration is a temperature
    samples = [_overconfident(300, 10, temperature=2.0, seed=seed) for seed in range(10)]

    # WHEN each is calibrated
    kept = [bool(fit_calibration(raw, labels, with_none=False).lead_knots) for raw, labels in samples]

    # THEN the lead scales, which would fit their noise, are kept for at most one of them (chance)
    assert sum(kept) <= 1


@pytest.mark.parametrize("rows", [5, 20])
def test_a_handful_of_validation_rows_leaves_confidence_uncalibrated(rows):
    # GIVEN a small store's validation split: a few rows, all answered right or nearly so
    raw, labels = _overconfident(rows, 10, temperature=0.5, seed=3)

    calibration = fit_calibration(raw, labels, with_none=False)

    # THEN nothing is fitted to them: a temperature would make every later answer look certain
    assert calibration == Calibration(1.0)


def test_a_few_dozen_re_ranked_rows_leave_none_of_the_candidates_without_probability():
    # GIVEN a small catalogue's 48 re-ranked validation rows, a fifth of whose true classes were not candidates
    raw, labels = _overconfident(48, 20, temperature=1.0, seed=5)
    target = np.where(np.arange(48) % 5 == 0, -1, labels)

    calibration = fit_calibration(raw, target, with_none=True)

    # THEN nothing is fitted to them, the share of misses neither: the candidates keep all the probability
    assert calibration == Calibration(1.0)
    assert calibrated_probabilities(raw, calibration).sum(axis=1) == pytest.approx(1.0)


@pytest.mark.parametrize("right", [True, False])
def test_validation_rows_all_right_or_all_wrong_leave_confidence_uncalibrated(right):
    # GIVEN 200 validation rows whose top answers are all right (or all wrong): the loss has nothing to weigh
    raw = np.random.default_rng(4).normal(0, 3, size=(200, 10))
    labels = raw.argmax(axis=1) if right else (raw.argmax(axis=1) + 1) % 10

    assert fit_calibration(raw, labels, with_none=False) == Calibration(1.0)


def test_a_temperature_is_kept_only_when_it_calibrates_rows_it_was_not_fitted_on():
    # GIVEN scores already calibrated, on too few rows for a temperature to say anything past their noise
    kept = []
    for seed in range(10):
        raw, labels = _overconfident(60, 10, temperature=1.0, seed=seed)
        kept.append(fit_calibration(raw, labels, with_none=False).temperature != 1.0)

    # THEN most runs leave them as they are, while a real miscalibration on as few rows is still fixed
    assert sum(kept) <= 4
    raw, labels = _overconfident(200, 10, temperature=3.0, seed=11)
    assert fit_calibration(raw, labels, with_none=False).temperature > 2.0


def test_a_row_that_leads_by_more_before_calibration_leads_by_more_after_it():
    # GIVEN lead scales fitted where answers that lead by more are right less often (a fit left free would rank them
    # below the close calls), and rows whose top answer leads the runner-up by 0 to 20 nats
    rng = np.random.default_rng(7)
    raw = rng.normal(0, 3, size=(5_000, 10))
    ordered = np.sort(raw, axis=1)
    labels = np.where(ordered[:, -1] - ordered[:, -2] < 3, raw.argmax(axis=1), rng.integers(10, size=len(raw)))
    calibration = fit_calibration(raw, labels, with_none=False)
    assert calibration.lead_knots
    leads = np.linspace(0.0, 20.0, 2_001)
    rows = np.column_stack([leads, np.zeros_like(leads), np.full_like(leads, -1.0)])

    # WHEN they are calibrated
    probabilities = calibrated_probabilities(rows, calibration)

    # THEN their calibrated leads keep the order of their leads
    assert np.all(np.diff(np.log(probabilities[:, 0]) - np.log(probabilities[:, 1])) > 0)


@pytest.mark.parametrize("design", ["small", "rerank"], ids=["multiclass design", "re-ranker"])
def test_the_graph_scales_each_rows_logits_by_its_lead_as_the_pipeline_does(design, request):
    # GIVEN a fitted pipeline given steep lead scales: close calls softened, clear leads sharpened
    config, splits = request.getfixturevalue(f"{design}_config"), request.getfixturevalue(f"{design}_splits")
    fitted = request.getfixturevalue(f"{design}_pipeline")
    pipeline = copy.deepcopy(fitted)
    classifier = pipeline.named_steps["classifier"]
    classifier.calibration_ = replace(
        classifier.calibration_, lead_knots=LEAD_KNOTS, lead_log_scales=(-1, -0.5, 0.5, 1)
    )

    # WHEN it is exported
    model = exported(pipeline, config)

    # THEN the graph's probabilities are the pipeline's, which the scales moved
    frames = (splits.test, adversarial_frame(splits.test, config.data))
    assert check_parity(pipeline, model, frames, config.data, tolerance=1e-5).passed
    moved = np.abs(pipeline.predict_proba(splits.test) - fitted.predict_proba(splits.test)).max()
    assert moved > 0.01


@pytest.mark.parametrize(
    "calibration",
    [Calibration(temperature=1.7), Calibration(1.7, -1.0, LEAD_KNOTS, (0.3, -0.3, 0.0, 0.4))],
    ids=["temperature", "with lead scales and a none-logit"],
)
def test_uncalibrated_recovers_the_probabilities_before_calibration(calibration):
    # GIVEN rows of every lead: close calls, ties, and leads far past the last knot (30 and 300 nats ahead)
    raw = np.random.default_rng(3).normal(0, 4, size=(500, 7))
    raw[:50, 0] = raw[:50, 1:].max(axis=1) + np.linspace(0, 30, 50)
    raw[50, :2] = raw[50, 2:].max() + 1
    raw[51] = [300.0, 0, 0, 0, 0, 0, 0]

    # WHEN their calibrated probabilities are taken back
    before = uncalibrated(calibrated_probabilities(raw, calibration), calibration)

    # THEN they are the model's own, and no rows give no rows
    np.testing.assert_allclose(before, softmax(raw, axis=1), atol=1e-12)
    assert uncalibrated(np.zeros((0, 1)), calibration).shape == (0, 1)


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

    assert strict["threshold"] == pytest.approx(confidence[59] - GRAPH_MARGIN)
    assert strict["coverage"] == pytest.approx(0.6)
    assert loose["precision"] >= 0.9
    assert loose["coverage"] > 0.6


def test_a_threshold_chosen_at_a_confidence_of_one_accepts_the_graphs_float32_sum_just_below_it():
    # GIVEN validation rows the pipeline is sure of (1.0 in float64: a department's summed probabilities), which
    # alone reach the target, and the graph's float32 sum for such a row
    confidence = np.array([1.0] * 60 + [0.6] * 40)
    correct = np.array([True] * 60 + [False, True] * 20)
    graphs = float(np.float32(1.0) - np.float32(2**-23))  # 0.99999988: one float32 step below 1

    (point,) = operating_points(confidence, correct, targets=(0.99,))

    # THEN the graph accepts what the threshold was chosen on (at exactly 1.0, it accepted none of them)
    assert graphs >= point["threshold"] > 0.6


def test_a_precision_never_reached_accepts_nothing():
    (point,) = operating_points(np.linspace(1, 0, 100), np.zeros(100, dtype=bool), targets=(0.99,))

    assert point == {"target_precision": 0.99, "threshold": 1.01, "coverage": 0.0, "precision": None}
