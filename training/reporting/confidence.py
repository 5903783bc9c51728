"""How far the confidence can be trusted: calibration before and after, candidate recall, and the operating points.

- Expected calibration error (top label, equal-mass bins) and log loss on the test split, before and after the
  temperature and lead scales (`training.model.calibration`): "before" is recovered from the calibrated
  probabilities.
- Candidate recall: how often the true class is among a row's candidates (1 for the multiclass design).
- Operating points: for each target precision (0.95, 0.98, 0.99), for the answered class and, with path labels, for
  each level of the path, the lowest confidence threshold at which those answers are right that often on the
  **validation** split, and the coverage and precision the threshold gives on the **test** split. The thresholds go
  into the model's metadata, so serving decides "accept or review" from validation, never from code.
"""

from __future__ import annotations

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
    """Per target precision: for the answered class (`level` "leaf") and, with path labels, for each level of the
    path (1 = department), the threshold chosen on validation and the coverage and precision it gives there and on
    test."""
    chosen = _answers(classes, hierarchy, *validation)
    measured = _answers(classes, hierarchy, *test)
    points = []
    for level, (confidence, correct) in chosen.items():
        test_confidence, test_correct = measured[level]
        for point in operating_points(confidence, correct, TARGET_PRECISIONS):
            accepted = test_confidence >= point["threshold"]
            points.append({
                "level": level,
                "target_precision": point["target_precision"],
                "threshold": point["threshold"],
                "validation_coverage": point["coverage"],
                "validation_precision": point["precision"],
                "test_coverage": float(accepted.mean()) if len(accepted) else 0.0,
                "test_precision": float(test_correct[accepted].mean()) if accepted.any() else None,
            })  # fmt: skip
    return points


def calibration_metadata(report: dict[str, Any]) -> dict[str, Any]:
    """The calibration as the model's metadata records it (`GET /model` shows it): temperature, none-logit and the
    lead scales at their knots."""
    return {key: report[key] for key in ("temperature", "none_logit", "lead_knots", "lead_log_scales")}


def thresholds(points: list[dict[str, Any]]) -> dict[str, Any]:
    """The metadata's operating points, what serving decides with: per target precision (as text, "0.98"), the
    answered class's threshold and each path level's, and the test coverage and precision of the first."""
    table: dict[str, Any] = {}
    for point in points:
        entry = table.setdefault(f"{point['target_precision']:.2f}", {"leaf": None, "levels": []})
        if point["level"] == "leaf":
            entry |= {"leaf": point["threshold"], "test_coverage": point["test_coverage"]}
            entry["test_precision"] = point["test_precision"]
        else:
            entry["levels"].append(point["threshold"])
    return table


def _answers(
    classes: np.ndarray, hierarchy: Hierarchy, labels: np.ndarray, top: TopClasses
) -> dict[str | int, tuple[np.ndarray, np.ndarray]]:
    """The answered class's confidence and rightness ("leaf"), then per level of a path (1, 2, ...) the confidence of
    the predicted path's node there and whether it is on the true path, for the rows whose path reaches the level."""
    truth = np.searchsorted(classes, np.asarray(labels))
    answers: dict[str | int, tuple[np.ndarray, np.ndarray]] = {"leaf": (top.confidence, top.best == truth)}
    if hierarchy.depth == 1:
        return answers
    nodes, confidence = path_outputs(top, hierarchy)
    true_nodes = hierarchy.ancestors()[:, truth].T
    for level in range(nodes.shape[1]):
        reached = nodes[:, level] >= 0
        answers[level + 1] = (confidence[reached, level], nodes[reached, level] == true_nodes[reached, level])
    return answers


def confidence_metrics(report: dict[str, Any]) -> dict[str, float]:
    """The report's scalars for the run summary and MLflow: calibration, candidate recall, and per target precision
    the answered class's threshold and test coverage (`coverage_at_precision_0_99`)."""
    keys = ("temperature", "ece_before", "ece_after", "log_loss_before", "log_loss_after", "candidate_recall")
    metrics = {key: report[key] for key in keys}
    if report["none_logit"] is not None:
        metrics["none_logit"] = report["none_logit"]
    for point in report["operating_points"]:
        if point["level"] == "leaf":
            suffix = f"{point['target_precision']:.2f}".replace(".", "_")
            metrics[f"threshold_at_precision_{suffix}"] = point["threshold"]
            metrics[f"coverage_at_precision_{suffix}"] = point["test_coverage"]
    return metrics
