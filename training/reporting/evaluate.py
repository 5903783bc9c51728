"""Evaluate a fitted model on the test split: overall and per-class metrics, and the linear baseline's."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.metrics import accuracy_score, classification_report, f1_score

from training.exceptions import BaselineGateError
from training.reporting.compare import mcnemar

if TYPE_CHECKING:
    import pandas as pd


logger = logging.getLogger(__name__)
# The baseline gate fails a run only when the model's disagreements with the baseline are this significant.
SIGNIFICANCE = 0.05


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
    if probabilities is not None and classes is not None:
        metrics["log_loss"] = own_class_log_loss(np.asarray(labels), probabilities, classes)
    return metrics


def own_class_log_loss(labels: np.ndarray, probabilities: np.ndarray, classes: np.ndarray) -> float:
    """scikit-learn's log loss (probabilities clipped to [eps, 1 - eps]) from each row's own class alone.

    scikit-learn's `log_loss` builds [rows, classes] one-hot, clipped and product arrays: 12 GB at 100,000
    test rows and 5,000 classes, for a sum over one column per row.
    """
    eps = np.finfo(probabilities.dtype).eps
    own = probabilities[np.arange(len(labels)), np.searchsorted(classes, labels)]
    return float(-np.mean(np.log(np.clip(own, eps, 1 - eps))))


def validation_comparison(
    labels: np.ndarray, predicted: np.ndarray, baseline_predicted: np.ndarray
) -> dict[str, float]:
    """Macro-F1 of the final model and of its linear title model on the validation split, and McNemar's exact
    p-value of their disagreements (rows exactly one of them gets right)."""
    test = mcnemar(np.asarray(predicted) == np.asarray(labels), np.asarray(baseline_predicted) == np.asarray(labels))
    return {
        "validation_macro_f1": float(f1_score(labels, predicted, average="macro")),
        "validation_baseline_macro_f1": float(f1_score(labels, baseline_predicted, average="macro")),
        "validation_mcnemar_p": test["p_value"],
    }


def enforce_baseline(comparison: dict[str, float], *, tolerance: float) -> None:
    """Refuse a model that is worse than its own linear baseline on validation, and say so when it may be.

    Stacking LightGBM on the title model must add something, and shipping a worse model silently is the one
    outcome a run must not have. A validation split of a few hundred rows is noisy, so the run fails when the
    model is below the baseline by more than `tolerance` in macro-F1 *and* its disagreements with the baseline
    are significant (McNemar's exact test, p < SIGNIFICANCE); otherwise a model below the baseline ships with
    a warning.

    Raises:
        BaselineGateError: The model is significantly and materially worse than its baseline.
    """
    model, baseline = comparison["validation_macro_f1"], comparison["validation_baseline_macro_f1"]
    p_value = comparison["validation_mcnemar_p"]
    if model < baseline - tolerance and p_value < SIGNIFICANCE:
        raise BaselineGateError(
            f"the model scored macro-F1 {model:.4f} on validation, below its own linear baseline {baseline:.4f} "
            f"by more than model.baseline_tolerance {tolerance} (McNemar p = {p_value:.1e}): not shipped (the run "
            "is recorded in MLflow as FAILED; nothing was registered or written). Typical causes: many categories "
            "with few rows each (docs/scaling.md, 'Many categories'), or too few rows overall."
        )
    if model < baseline:
        logger.warning(
            "below the linear baseline on validation, within model.baseline_tolerance or not significantly",
            extra={
                "validation_macro_f1": round(model, 4),
                "validation_baseline_macro_f1": round(baseline, 4),
                "mcnemar_p": round(p_value, 4),
            },
        )
