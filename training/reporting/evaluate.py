"""Evaluate a fitted model on the test split: overall and per-class metrics, and the linear baseline's."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sklearn.metrics import accuracy_score, classification_report, f1_score, log_loss

from training.exceptions import BaselineGateError

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


@dataclass(frozen=True)
class Evaluation:
    """The model's and the linear baseline's metrics on the test split, and the model's predicted labels."""

    predicted: np.ndarray
    metrics: dict[str, Any]
    baseline: dict[str, Any]

    def headline(self) -> dict[str, float]:
        """The figures the model's metadata carries: accuracy, macro-F1, log loss, the baseline's macro-F1."""
        return {key: self.metrics[key] for key in ("accuracy", "macro_f1", "log_loss")} | {
            "baseline_macro_f1": self.baseline["macro_f1"]
        }


def evaluate_test(
    labels: pd.Series, probabilities: np.ndarray, classes: np.ndarray, baseline_predicted: np.ndarray
) -> Evaluation:
    """Score the model's probabilities and the title model's own labels against the test labels.

    Args:
        labels: The whole test split's labels.
        probabilities: The model's probabilities for those rows, columns in `classes` order.
        classes: The classifier's classes.
        baseline_predicted: The linear title model's labels for the same rows (the same-run baseline).
    """
    predicted = classes[probabilities.argmax(axis=1)]
    return Evaluation(
        predicted=predicted,
        metrics=classification_metrics(labels, predicted, probabilities, classes),
        baseline=classification_metrics(labels, baseline_predicted),
    )


def classification_metrics(
    labels: pd.Series, predicted: np.ndarray, probabilities: np.ndarray | None = None, classes: np.ndarray | None = None
) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and, given probabilities, log loss."""
    report = classification_report(labels, predicted, output_dict=True, zero_division=0)
    metrics: dict[str, Any] = {
        "accuracy": float(accuracy_score(labels, predicted)),
        "macro_f1": float(f1_score(labels, predicted, average="macro")),
        "per_class": {str(label): report[str(label)] for label in sorted(set(labels))},
    }
    if probabilities is not None:
        metrics["log_loss"] = float(log_loss(labels, probabilities, labels=classes))
    return metrics


def validation_comparison(
    labels: np.ndarray, predicted: np.ndarray, baseline_predicted: np.ndarray
) -> dict[str, float]:
    """Macro-F1 of the final model and of its linear title model on the validation split."""
    return {
        "validation_macro_f1": float(f1_score(labels, predicted, average="macro")),
        "validation_baseline_macro_f1": float(f1_score(labels, baseline_predicted, average="macro")),
    }


def enforce_baseline(comparison: dict[str, float], *, tolerance: float) -> None:
    """Refuse a model that loses to its own linear baseline on validation by more than `tolerance`, and say so
    when it loses by less: stacking LightGBM on the title model must add something, and shipping a worse model
    silently is the one outcome a run must not have.

    Raises:
        BaselineGateError: The final model's validation macro-F1 is below the baseline's minus `tolerance`.
    """
    model, baseline = comparison["validation_macro_f1"], comparison["validation_baseline_macro_f1"]
    if model < baseline - tolerance:
        raise BaselineGateError(
            f"the model scored macro-F1 {model:.4f} on validation, below its own linear baseline {baseline:.4f} "
            f"by more than model.baseline_tolerance {tolerance}: not shipped (the run is recorded in MLflow as "
            "FAILED; nothing was registered or written). Typical causes: many categories with few rows each "
            "(docs/scaling.md, 'Many categories'), or too few rows overall."
        )
    if model < baseline:
        logger.warning(
            "below the linear baseline on validation, within model.baseline_tolerance",
            extra={"validation_macro_f1": round(model, 4), "validation_baseline_macro_f1": round(baseline, 4)},
        )
