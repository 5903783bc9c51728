"""Calibrated confidence: a temperature fitted on validation, inside the graph, and what it buys.

A LightGBM model's probabilities are the softmax of its raw scores, and early-stopped boosting is overconfident:
rows answered at 0.8 are right less often than 80 % of the time. One temperature T, fitted on the validation split,
divides every raw score: the ranking (and so every label) is unchanged, and confidence comes to mean what it says.
T minimises the log loss of the top answer's confidence against whether the top answer is right: that confidence is
the number a team thresholds, and the one the calibration error and the operating points measure. The log loss of
every class's probability asks for another T whenever the miscalibration is not exactly a temperature's, and then
leaves the top answer's confidence off (docs/training.md). T is applied by scaling every leaf value of the booster
by 1/T (`scale_leaf_values`) and, for the multiclass design, the title margin's scale (`training.model.margin`), so
the exported graph computes the same raw scores as the Python pipeline, which the parity gate checks.

The re-ranker scores only a row's candidates; when the true class is not among them, a plain softmax still hands all
the probability to the candidates. Its calibration also fits a constant "none of the candidates" logit: the softmax
runs over the candidates and that logit, and the candidates keep what is left (their probabilities sum to less than
1 by the share of rows whose class the candidates missed).

One temperature cannot calibrate a model whose miscalibration has a shape: at 1,000 classes, answers that barely lead
the runner-up are overconfident and answers that lead by far are underconfident. Each row's logits are then also
scaled by a factor that follows that lead (`training.model.lead_temperature`), fitted after the temperature by the
same top-answer log loss; the graph computes it from the row's raw scores, as the Python pipeline does.

`expected_calibration_error` (equal-mass bins), `reliability` and `operating_points` (the confidence threshold that
reaches a target precision on validation) measure the result.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import lightgbm
import numpy as np
from scipy.optimize import LinearConstraint, minimize, minimize_scalar
from scipy.special import logsumexp

from training.config import TrainConfig
from training.model.lead_temperature import (
    LEAD_KNOTS,
    increasing_constraints,
    lead,
    lead_before,
    log_scales,
    with_calibrated_lead,
)
from training.model.pins import require_pinned
from training.model.reranker import CandidateReranker

if TYPE_CHECKING:
    from collections.abc import Callable

logger = logging.getLogger(__name__)

# `scale_leaf_values` rewrites LightGBM's model text and sets its private `_Booster`: refuse any other version.
require_pinned("lightgbm")

# Equal-mass bins of the expected calibration error and the reliability plot.
CALIBRATION_BINS = 15
# The precisions a team may ask its answers to reach (issue "Answers a category team can act on").
TARGET_PRECISIONS = (0.95, 0.98, 0.99)
# An operating point needs at least this many validation rows above its threshold, or it accepts nothing.
MIN_ACCEPTED_ROWS = 30
# Thresholds are chosen on the pipeline's float64 confidences, and the graph decides on its float32 ones (a path
# level's a float32 sum, 0.9999998 where the pipeline has 1.0): each is lowered by the parity gate's default
# tolerance, which bounds the two's difference, so a listing accepted on validation is accepted by the graph too.
GRAPH_MARGIN = TrainConfig.parity_tolerance
# Temperatures are searched in [MIN_TEMPERATURE, MAX_TEMPERATURE] (log scale).
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.05, 20.0
# Fewer validation rows than this, or no wrong (or no right) top answer among them, calibrate nothing: the top
# answer's log loss has nothing to weigh, and a temperature fitted on five rows sent a small store's test log loss
# from 1.4 to 7.4.
MIN_CALIBRATION_ROWS = 50
# The four lead scales are fitted on at least this many rows: on 60, cross-validation kept scales that doubled the
# test log loss (at 100 categories), and every case the targets table measures has over 4,000 or under 400.
MIN_LEAD_ROWS = 500
# The none-logit is searched in this range.
NONE_LOGIT_BOUNDS = (-30.0, 30.0)


@dataclass(frozen=True)
class Calibration:
    """The fitted temperature, for the re-ranker the "none of the candidates" logit (None for the multiclass design,
    whose classes are all listed), and the log-scale of each row's logits at each knot of its lead (none: one
    temperature for every row)."""

    temperature: float
    none_logit: float | None = None
    lead_knots: tuple[float, ...] = ()
    lead_log_scales: tuple[float, ...] = ()


def fit_calibration(raw: np.ndarray, target: np.ndarray, *, with_none: bool) -> Calibration:
    """The temperature, none-logit and lead scales fitted on the validation rows' `raw` scores.

    The temperature minimises the log loss of the top answer's confidence against whether it is right; the lead
    scales then minimise the same loss, the temperature held. Each is kept only when it calibrates rows it was not
    fitted on better than the calibration before it (`_kept_if_it_generalises`); neither is fitted on fewer than
    MIN_CALIBRATION_ROWS rows or on rows all right (or all wrong), and no lead scale on fewer than MIN_LEAD_ROWS.
    The none-logit minimises the log loss of the true class (or "none" when it is not listed), so that it takes the
    share of rows whose class was missed (not on fewer than MIN_CALIBRATION_ROWS rows either, which cannot say how
    often the candidates miss: "none" then takes no probability): fitted with
    a temperature of its own first (what the top answer's loss holds it at), then again with the temperature and
    lead scales held, since scaling the logits moves the share it leaves.

    Args:
        raw: [N, k] raw scores (logits) of each row's listed classes.
        target: [N] the position of each row's true class among them, -1 when it is not listed.
        with_none: Fit a constant "none of them" logit too (the re-ranker); without it, unlisted rows are ignored.
    """
    raw = np.asarray(raw, dtype=np.float64)
    target = np.asarray(target)
    if not with_none:
        raw, target = raw[target >= 0], target[target >= 0]
    right = raw.argmax(axis=1) == target
    if len(raw) < MIN_CALIBRATION_ROWS:
        _left_uncalibrated(right)
        return Calibration(1.0)
    uncalibrated = Calibration(1.0, _fitted_none_logit(raw, target) if with_none else None)
    if right.all() or not right.any():
        _left_uncalibrated(right)
        return _with_none_logit_refitted(raw, target, uncalibrated) if with_none else uncalibrated
    calibration = _kept_if_it_generalises(raw, right, uncalibrated, _fitted_temperature)
    if raw.shape[1] > 1 and len(raw) >= MIN_LEAD_ROWS:
        calibration = _kept_if_it_generalises(raw, right, calibration, _fitted_lead_scales)
    return _with_none_logit_refitted(raw, target, calibration) if with_none else calibration


def _left_uncalibrated(right: np.ndarray) -> None:
    """Say why the temperature and lead scales are not fitted."""
    logger.warning(
        "confidence left uncalibrated: %d validation rows, %d of them answered wrong (need %d rows and both right "
        "and wrong answers)", len(right), int((~right).sum()), MIN_CALIBRATION_ROWS,
    )  # fmt: skip


def _kept_if_it_generalises(
    raw: np.ndarray, right: np.ndarray, calibration: Calibration, step: Callable[..., Calibration]
) -> Calibration:
    """The calibration with `step` fitted on all the rows, if the step fitted on one half of them lowers the other
    half's top-answer loss, summed over both halves (two-fold cross-validation, rows alternating). A few hundred
    validation rows, or a few dozen wrong answers, fit four lead scales to their noise, and a handful fit a
    temperature to it; the calibration then stays as it was."""
    halves = (slice(0, None, 2), slice(1, None, 2))
    change = 0.0
    for fit, held_out in (halves, halves[::-1]):
        fitted = step(raw[fit], right[fit], calibration)
        change += _top_label_loss(raw[held_out], right[held_out], fitted)
        change -= _top_label_loss(raw[held_out], right[held_out], calibration)
    return step(raw, right, calibration) if change < 0 else calibration


def _fitted_temperature(raw: np.ndarray, right: np.ndarray, calibration: Calibration) -> Calibration:
    """The calibration with the temperature that minimises the top answer's log loss."""

    def loss(log_temperature: float) -> float:
        return _top_label_loss(raw, right, replace(calibration, temperature=float(np.exp(log_temperature))))

    bounds = (np.log(MIN_TEMPERATURE), np.log(MAX_TEMPERATURE))
    found = minimize_scalar(loss, bounds=bounds, method="bounded", options={"xatol": 1e-4})
    return replace(calibration, temperature=float(np.exp(found.x)))


def _fitted_lead_scales(raw: np.ndarray, right: np.ndarray, calibration: Calibration) -> Calibration:
    """The calibration with the lead scales that minimise the top answer's log loss, the scaled lead kept increasing
    in the lead (`training.model.lead_temperature`); all zero is one temperature for every row."""

    def loss(values: np.ndarray) -> float:
        return _top_label_loss(raw, right, replace(calibration, lead_knots=LEAD_KNOTS, lead_log_scales=tuple(values)))

    bound = float(np.log(MAX_TEMPERATURE))
    increasing = LinearConstraint(*increasing_constraints(LEAD_KNOTS), ub=np.inf)
    found = minimize(loss, np.zeros(len(LEAD_KNOTS)), method="SLSQP", bounds=[(-bound, bound)] * len(LEAD_KNOTS),
                     constraints=[increasing])  # fmt: skip
    if not found.success or np.any(increasing.A @ found.x < increasing.lb - 1e-9):
        # Zero scales always keep the lead's order: one temperature, as before this step.
        logger.warning("the lead scales did not converge (%s): calibrating by the temperature alone", found.message)
        return calibration
    values = tuple(float(value) for value in found.x)
    return replace(calibration, lead_knots=LEAD_KNOTS, lead_log_scales=values)


def _with_none_logit_refitted(raw: np.ndarray, target: np.ndarray, calibration: Calibration) -> Calibration:
    """The calibration with the none-logit that minimises the log loss of the true class, all else held."""

    def loss(logit: float) -> float:
        return _true_class_loss(raw, target, replace(calibration, none_logit=logit))

    found = minimize_scalar(loss, bounds=NONE_LOGIT_BOUNDS, method="bounded", options={"xatol": 1e-4})
    return replace(calibration, none_logit=float(found.x))


def _top_label_loss(raw: np.ndarray, right: np.ndarray, calibration: Calibration) -> float:
    """The log loss of the calibrated top answer's confidence against whether the top answer is right."""
    logits = _logits(raw, calibration)
    log_confidence = np.max(logits[:, : raw.shape[1]], axis=1) - logsumexp(logits, axis=1)
    return float(-np.mean(np.where(right, log_confidence, np.log(-np.expm1(np.minimum(log_confidence, -1e-12))))))


def _fitted_none_logit(raw: np.ndarray, target: np.ndarray) -> float:
    """The "none of the candidates" logit that, with a temperature, minimises the log loss of the true class."""

    def loss(parameters: np.ndarray) -> float:
        return _true_class_loss(raw, target, Calibration(float(np.exp(parameters[0])), parameters[1]))

    start = np.array([0.0, float(np.log(max((target < 0).mean(), 1e-3)))])
    bounds = [(np.log(MIN_TEMPERATURE), np.log(MAX_TEMPERATURE)), NONE_LOGIT_BOUNDS]
    return float(minimize(loss, start, method="L-BFGS-B", bounds=bounds).x[1])


def _true_class_loss(raw: np.ndarray, target: np.ndarray, calibration: Calibration) -> float:
    """The log loss of each row's true class, or of "none" for the rows whose class is not listed."""
    logits = _logits(raw, calibration)
    chosen = np.where(target >= 0, target, logits.shape[1] - 1)
    return float(np.mean(logsumexp(logits, axis=1) - logits[np.arange(len(logits)), chosen]))


def calibrated_probabilities(raw: np.ndarray, calibration: Calibration) -> np.ndarray:
    """[N, k] probabilities of the listed classes: the softmax of raw / T, scaled by the lead (over them and the
    none-logit, if any)."""
    logits = _logits(np.asarray(raw, dtype=np.float64), calibration)
    probabilities = np.exp(logits - logsumexp(logits, axis=1, keepdims=True))
    return probabilities[:, : raw.shape[1]]


def scale_leaf_values(booster: lightgbm.Booster, factor: float) -> lightgbm.Booster:
    """The booster with every leaf value multiplied by `factor` (its raw scores scaled, exactly as the graph's)."""
    text = booster.model_to_string()
    scaled = re.sub(r"^leaf_value=(.*)$", lambda m: _scaled_values(m, factor), text, flags=re.MULTILINE)
    # tree_sizes records byte lengths of the tree blocks, which the new numbers change; it is optional.
    scaled = re.sub(r"^tree_sizes=.*\n", "", scaled, flags=re.MULTILINE)
    return lightgbm.Booster(model_str=scaled)


def uncalibrated(probabilities: np.ndarray, calibration: Calibration) -> np.ndarray:
    """The probabilities the model gave before calibration, recovered from the calibrated ones of the same listed
    classes (at least the top two): the lead scale undone (the calibrated lead gives back the lead), then
    softmax(T · logits) over them, the none-logit's share dropped."""
    with np.errstate(divide="ignore", invalid="ignore"):
        logits = np.log(np.asarray(probabilities, dtype=np.float64))
        if calibration.lead_knots and logits.shape[1] > 1:
            knots, values = calibration.lead_knots, calibration.lead_log_scales
            logits = logits * np.exp(-log_scales(lead_before(lead(logits), knots, values), knots, values))[:, None]
        logits = calibration.temperature * logits
    return np.exp(logits - logsumexp(logits, axis=1, keepdims=True))


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = CALIBRATION_BINS) -> float:
    """Top-label ECE over equal-mass bins: Σ (rows in bin / rows) · |accuracy − mean confidence| of the bin."""
    return float(sum(row["rows"] * abs(row["accuracy"] - row["confidence"]) for row in reliability(
        confidence, correct, bins)) / max(len(confidence), 1))  # fmt: skip


def reliability(confidence: np.ndarray, correct: np.ndarray, bins: int = CALIBRATION_BINS) -> list[dict[str, Any]]:
    """Equal-mass bins of the rows sorted by confidence: each bin's rows, mean confidence and accuracy."""
    order = np.argsort(np.asarray(confidence), kind="stable")
    found = []
    for chunk in np.array_split(order, min(bins, max(len(order), 1))):
        if len(chunk):
            found.append({"rows": len(chunk), "confidence": float(np.mean(confidence[chunk])),
                          "accuracy": float(np.mean(correct[chunk]))})  # fmt: skip
    return found


def operating_points(
    confidence: np.ndarray, correct: np.ndarray, targets: tuple[float, ...] = TARGET_PRECISIONS
) -> list[dict[str, float]]:
    """For each target precision, the lowest confidence threshold at which the rows answered at or above it are right
    at least that often on these (validation) rows, with at least MIN_ACCEPTED_ROWS of them; above 1 (accept
    nothing) when none is. Returns each target's threshold (GRAPH_MARGIN below the confidence chosen), and the
    coverage and precision of the rows at or above that confidence."""
    order = np.argsort(-np.asarray(confidence), kind="stable")
    sorted_confidence, right = np.asarray(confidence)[order], np.asarray(correct, dtype=np.float64)[order]
    precision = np.cumsum(right) / np.arange(1, len(right) + 1)
    # Only a threshold between distinct confidences can be applied: the last row of each run of equal values.
    last_of_value = np.append(sorted_confidence[1:] != sorted_confidence[:-1], True)
    points = []
    for target in targets:
        good = np.flatnonzero(last_of_value & (precision >= target) & (np.arange(len(right)) + 1 >= MIN_ACCEPTED_ROWS))
        if len(good):
            last = good[-1]
            threshold = max(float(sorted_confidence[last]) - GRAPH_MARGIN, 0.0)
            points.append({"target_precision": target, "threshold": threshold,
                           "coverage": (last + 1) / len(right), "precision": float(precision[last])})  # fmt: skip
        else:
            points.append({"target_precision": target, "threshold": 1.01, "coverage": 0.0, "precision": None})
    return points


def _logits(raw: np.ndarray, calibration: Calibration) -> np.ndarray:
    """raw / T scaled by the lead, with the none-logit appended as a last column when there is one."""
    scaled = with_calibrated_lead(raw / calibration.temperature, calibration)
    if calibration.none_logit is None:
        return scaled
    return np.hstack([scaled, np.full((len(raw), 1), calibration.none_logit)])


def _scaled_values(match: re.Match[str], factor: float) -> str:
    """One `leaf_value=` line with each value multiplied by `factor`."""
    values = np.array(match.group(1).split(), dtype=np.float64) * factor
    return "leaf_value=" + " ".join(repr(float(value)) for value in values)


def calibrate(classifier: Any, matrix: Any, labels: np.ndarray) -> Calibration:
    """Fit the calibration on the validation rows and apply it to the fitted classifier in place: its booster's
    leaves scaled by 1/T, and for the multiclass design the title margin's scale too (all its raw score is then
    divided by T, with or without trees), for the re-ranker the none-logit set (`CandidateReranker.none_logit_`);
    `calibration_` keeps the whole fit, whose lead scales the classifier applies to its raw scores.

    Args:
        classifier: A fitted MarginBoostedClassifier (multiclass design) or CandidateReranker.
        matrix: The validation rows' features.
        labels: Their labels.
    """
    target = np.searchsorted(classifier.classes_, np.asarray(labels))
    if isinstance(classifier, CandidateReranker):
        raw, classes = classifier.raw_scores(matrix)
        listed = classes == target[:, None]
        found = fit_calibration(raw, np.where(listed.any(axis=1), listed.argmax(axis=1), -1), with_none=True)
        classifier.none_logit_ = found.none_logit
    else:
        found = fit_calibration(classifier.raw_scores(matrix), target, with_none=False)
        classifier.scale_ /= found.temperature
    classifier.model_._Booster = scale_leaf_values(classifier.model_.booster_, 1 / found.temperature)
    classifier.calibration_ = found
    return found
