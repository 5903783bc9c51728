"""How far the confidence can be trusted: calibration before and after, candidate recall, and the operating points.

- Expected calibration error (top label, equal-mass bins) and log loss on the test split, before and after the
  temperature and lead scales (`training.model.calibration`): "before" is recovered from the calibrated
  probabilities.
- Candidate recall: how often the true class is among a row's candidates (1 for the multiclass design).
- Operating points: for each target precision (0.95, 0.98, 0.99), for the answered class and, with path labels, for
  each level of the path (on the answers the decision brings to it), the lowest confidence threshold at which those
  answers are right that often on the **validation** split, and the coverage and precision the threshold, and the
  whole decision, give on the **test** split. The thresholds go
  into the model's metadata, so serving decides "accept or review" from validation, never from code.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from training.model.calibration import (
    TARGET_PRECISIONS,
    Calibration,
    expected_calibration_error,
    operating_points,
    reliability,
    uncalibrated,
)
from training.model.hierarchy import path_outputs
from training.model.top_classes import TopClasses
from training.reporting.evaluate import own_class_log_loss

if TYPE_CHECKING:
    from training.model.hierarchy import Hierarchy

# The operating point of the whole decision (the answered class, else a level of its path), with path labels.
DECISION = "decision"


def confidence_report(
    *,
    classes: np.ndarray,
    hierarchy: Hierarchy,
    calibration: Calibration,
    test: tuple[np.ndarray, TopClasses],
    validation: tuple[np.ndarray, TopClasses],
) -> dict[str, Any]:
    """Calibration, candidate recall and operating points of a fitted model.

    Args:
        classes: The classifier's classes.
        hierarchy: Their tree (one level for flat labels).
        calibration: The fitted temperature, none-logit and lead scales.
        test: The test split's labels and the model's best classes for them.
        validation: The same for the validation split (the thresholds are chosen there).

    Returns:
        JSON-ready: `temperature`, `none_logit`, `lead_knots`, `lead_log_scales`, `ece_before`, `ece_after`,
        `log_loss_before`, `log_loss_after`, `candidate_recall`, `reliability_before`/`_after` (test bins) and
        `operating_points` (per level).
    """
    labels, top = test
    truth = np.searchsorted(classes, np.asarray(labels))
    before = TopClasses(top.indices, uncalibrated(top.probabilities, calibration))
    correct = top.best == truth
    report: dict[str, Any] = {
        "temperature": calibration.temperature,
        "none_logit": calibration.none_logit,
        "lead_knots": list(calibration.lead_knots),
        "lead_log_scales": list(calibration.lead_log_scales),
        "ece_before": expected_calibration_error(before.confidence, correct),
        "ece_after": expected_calibration_error(top.confidence, correct),
        "log_loss_before": own_class_log_loss(np.asarray(labels), before, classes),
        "log_loss_after": own_class_log_loss(np.asarray(labels), top, classes),
        "candidate_recall": float((top.indices == truth[:, None]).any(axis=1).mean()) if len(top) else 0.0,
        "reliability_before": reliability(before.confidence, correct),
        "reliability_after": reliability(top.confidence, correct),
    }
    report["operating_points"] = level_operating_points(classes, hierarchy, test=test, validation=validation)
    return report


def level_operating_points(
    classes: np.ndarray,
    hierarchy: Hierarchy,
    *,
    test: tuple[np.ndarray, TopClasses],
    validation: tuple[np.ndarray, TopClasses],
) -> list[dict[str, Any]]:
    """Per target precision, the thresholds the decision applies (`handler.decisions.decide`), each chosen on the
    validation rows it decides: the answered class's (`level` "leaf") on every row, then with path labels each
    level's (1 = department), deepest first, on the rows no threshold before it accepted whose answer lies below
    that level. Those are the hardest rows: a level's threshold chosen on every row accepted them at below the
    target (a catalogue's 14 department answers were right half the time). A looser target never accepts less than
    a stricter one: each threshold is at most the stricter targets' at the same level (a loose leaf threshold leaves
    a level too few rows to reach its target on, and its threshold alone would accept nothing there). Each point
    gives the share of all rows it accepts and how often those are right, on validation and on test; with path
    labels a last point (`level` "decision") gives the whole decision's."""
    chosen = _answers(classes, hierarchy, *validation)
    measured = _answers(classes, hierarchy, *test)
    by_target: dict[float, list[dict[str, Any]]] = {}
    stricter: dict[str | int, float] = {}
    for target in sorted(TARGET_PRECISIONS, reverse=True):
        points = by_target[target] = []
        open_validation, open_test = np.ones(len(validation[0]), bool), np.ones(len(test[0]), bool)
        right_validation, right_test = ~open_validation, ~open_test
        for level, (confidence, correct) in chosen.items():
            eligible = open_validation & np.isfinite(confidence)
            [point] = operating_points(confidence[eligible], correct[eligible], (target,))
            threshold = stricter[level] = min(point["threshold"], stricter.get(level, np.inf))
            accepted = eligible & (confidence >= threshold)
            test_confidence, test_correct = measured[level]
            accepted_test = open_test & (test_confidence >= threshold)
            points.append(_point(level, target, threshold, (accepted, correct), (accepted_test, test_correct)))
            right_validation |= accepted & correct
            right_test |= accepted_test & test_correct
            open_validation &= ~accepted
            open_test &= ~accepted_test
        if len(chosen) > 1:
            decided = ((~open_validation, right_validation), (~open_test, right_test))
            points.append(_point(DECISION, target, None, *decided))
    return [point for target in TARGET_PRECISIONS for point in by_target[target]]


def _point(
    level: str | int,
    target: float,
    threshold: float | None,
    validation: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
) -> dict[str, Any]:
    """One operating point: the share of all rows accepted and how often those are right, on each split."""
    measures: dict[str, Any] = {"level": level, "target_precision": target, "threshold": threshold}
    for split, (accepted, correct) in (("validation", validation), ("test", test)):
        measures[f"{split}_coverage"] = float(accepted.mean()) if len(accepted) else 0.0
        measures[f"{split}_precision"] = float(correct[accepted].mean()) if accepted.any() else None
    return measures


def accepts_nothing(points: list[dict[str, Any]]) -> bool:
    """Whether no operating point accepts any answer (every threshold above 1): too few validation answers were
    right often enough, so every answer goes to review."""
    return all(point["threshold"] > 1 for point in points if point["threshold"] is not None)


def short_of_target(points: list[dict[str, Any]], test_rows: int) -> list[str]:
    """The operating points whose answers (the whole decision's, with path labels; else the answered class's) are
    right on test less often than their target by more than two standard errors of a precision on as many rows:
    thresholds chosen on too few validation rows, which the model card shows but a run would otherwise pass over.
    One line each."""
    whole = [point for point in points if point["level"] == DECISION] or [p for p in points if p["level"] == "leaf"]
    short = []
    for point in whole:
        target, precision = point["target_precision"], point["test_precision"]
        accepted = round(point["test_coverage"] * test_rows)
        if precision is None or not accepted:
            continue
        if precision < target - 2 * math.sqrt(target * (1 - target) / accepted):
            short.append(f"target {target:.2f}: {precision:.2%} right on the {accepted} test rows it accepts")
    return short


def calibration_metadata(report: dict[str, Any]) -> dict[str, Any]:
    """The calibration as the model's metadata records it (`GET /model` shows it): temperature, none-logit and the
    lead scales at their knots."""
    return {key: report[key] for key in ("temperature", "none_logit", "lead_knots", "lead_log_scales")}


def thresholds(points: list[dict[str, Any]]) -> dict[str, Any]:
    """The metadata's operating points, what serving decides with: per target precision (as text, "0.98"), the
    answered class's threshold and each path level's, and the test coverage and precision of the whole decision."""
    table: dict[str, Any] = {}
    for point in points:
        entry = table.setdefault(f"{point['target_precision']:.2f}", {"leaf": None, "by_level": {}})
        if point["level"] == "leaf":
            entry["leaf"] = point["threshold"]
        elif point["level"] != DECISION:
            entry["by_level"][point["level"]] = point["threshold"]
        measured = {"test_coverage": point["test_coverage"], "test_precision": point["test_precision"]}
        if point["level"] == DECISION:  # the whole decision's, when there is a path
            entry |= measured
        elif point["level"] == "leaf":
            entry |= {key: entry.get(key, value) for key, value in measured.items()}
    for entry in table.values():
        by_level = entry.pop("by_level")
        entry["levels"] = [by_level[level] for level in sorted(by_level)]  # department first
    return table


def _answers(
    classes: np.ndarray, hierarchy: Hierarchy, labels: np.ndarray, top: TopClasses
) -> dict[str | int, tuple[np.ndarray, np.ndarray]]:
    """Per decision step, in the order the decision takes them, every row's confidence and whether the answer is
    right: the answered class ("leaf"), then per level of a path, deepest first, the predicted path's node there
    (-inf for a row whose answer does not lie below the level: the decision backs off only above the answer; and
    for every row at a level whose one node is every class's ancestor)."""
    truth = np.searchsorted(classes, np.asarray(labels))
    answers: dict[str | int, tuple[np.ndarray, np.ndarray]] = {"leaf": (top.confidence, top.best == truth)}
    if hierarchy.depth == 1:
        return answers
    nodes, confidence = path_outputs(top, hierarchy)
    true_nodes = hierarchy.ancestors()[:, truth].T
    depth = (nodes >= 0).sum(axis=1)
    shared = hierarchy.shared_levels()
    for level in range(nodes.shape[1], 0, -1):  # the deepest has no row below it: accepts nothing, kept for `decide`
        # An answer accepted at a level every class shares would be counted as filed under no category.
        below = (depth > level) & ~shared[level - 1]
        answers[level] = (
            np.where(below, confidence[:, level - 1], -np.inf),
            below & (nodes[:, level - 1] == true_nodes[:, level - 1]),
        )
    return answers


def confidence_metrics(report: dict[str, Any]) -> dict[str, float]:
    """The report's scalars for the run summary and MLflow: calibration, candidate recall, and per target precision
    the answered class's threshold and test coverage (`coverage_at_precision_0_99`)."""
    keys = ("temperature", "ece_before", "ece_after", "log_loss_before", "log_loss_after", "candidate_recall")
    metrics = {key: report[key] for key in keys}
    if report["none_logit"] is not None:
        metrics["none_logit"] = report["none_logit"]
    for point in report["operating_points"]:
        suffix = f"{point['target_precision']:.2f}".replace(".", "_")
        if point["level"] == "leaf":
            metrics[f"threshold_at_precision_{suffix}"] = point["threshold"]
            metrics[f"coverage_at_precision_{suffix}"] = point["test_coverage"]
        if point["level"] == DECISION:
            metrics[f"decision_coverage_at_precision_{suffix}"] = point["test_coverage"]
            if point["test_precision"] is not None:
                metrics[f"decision_precision_at_precision_{suffix}"] = point["test_precision"]
    return metrics
