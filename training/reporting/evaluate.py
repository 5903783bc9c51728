"""Evaluate a fitted model on the test split: overall, per class and per class-size band, and the linear baseline's.

Macro-F1 is taken over the classes that could be evaluated, those with test rows: a class that trains on all its
rows (a small class, `training.data.split`) is counted as "learnt, not evaluated", never scored as 0. Quality by
class-size band (products per class in the catalogue: 1–4, 5–19, 20+) shows where the model is weak. Everything
is computed from each row's best classes (`TopClasses`), never from a [rows × classes] array.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.metrics import accuracy_score, classification_report, f1_score

from training.exceptions import BaselineGateError
from training.reporting.compare import compare_predictions

if TYPE_CHECKING:
    import pandas as pd

    from training.model.top_classes import TopClasses

logger = logging.getLogger(__name__)
# Class-size bands of the report: (name, fewest products, most products or None).
BANDS = (("1-4 products", 1, 4), ("5-19 products", 5, 19), ("20+ products", 20, None))


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
    labels: pd.Series,
    top: TopClasses,
    classes: np.ndarray,
    baseline_predicted: np.ndarray,
    class_products: pd.Series,
) -> Evaluation:
    """Score the model's best classes and the title model's own labels against the test labels.

    Args:
        labels: The whole test split's labels.
        top: The model's best classes for those rows (positions in `classes`).
        classes: The classifier's classes (every class learnt).
        baseline_predicted: The linear title model's labels for the same rows (the same-run baseline).
        class_products: Products per class in the catalogue the run trained on, for the size bands.
    """
    predicted = classes[top.best]
    metrics = classification_metrics(labels, predicted, top, classes)
    metrics |= coverage_of_classes(labels, classes) | {"bands": size_bands(labels, predicted, class_products)}
    return Evaluation(predicted=predicted, metrics=metrics, baseline=classification_metrics(labels, baseline_predicted))


def classification_metrics(
    labels: pd.Series, predicted: np.ndarray, top: TopClasses | None = None, classes: np.ndarray | None = None
) -> dict[str, Any]:
    """Accuracy, macro-F1 over the classes with rows here, per-class precision/recall/F1/support and, given the
    best classes with their probabilities, log loss."""
    evaluated = sorted(set(labels))
    report = classification_report(labels, predicted, labels=evaluated, output_dict=True, zero_division=0)
    metrics: dict[str, Any] = {
        "accuracy": float(accuracy_score(labels, predicted)),
        "macro_f1": float(f1_score(labels, predicted, labels=evaluated, average="macro", zero_division=0)),
        "per_class": {str(label): report[str(label)] for label in evaluated},
    }
    if top is not None and classes is not None:
        metrics["log_loss"] = own_class_log_loss(np.asarray(labels), top, classes)
    return metrics


def coverage_of_classes(labels: pd.Series, classes: np.ndarray) -> dict[str, int]:
    """How many classes the model learnt, how many have test rows (evaluated), and how many do not."""
    evaluated = len(set(labels) & {str(label) for label in classes})
    learnt = len(classes)
    return {"classes_learnt": learnt, "classes_evaluated": evaluated, "classes_not_evaluated": learnt - evaluated}


def size_bands(labels: pd.Series, predicted: np.ndarray, class_products: pd.Series) -> list[dict[str, Any]]:
    """Quality by class size: per band of products per class, the classes learnt and evaluated, the test rows and
    the macro-F1 over the band's evaluated classes (None when it has none)."""
    labels = np.asarray(labels, dtype=object)
    f1 = dict(zip(
        sorted(set(labels)), f1_score(labels, predicted, labels=sorted(set(labels)), average=None, zero_division=0),
        strict=True,
    ))  # fmt: skip
    bands = []
    for name, low, high in BANDS:
        in_band = class_products[(class_products >= low) & ((class_products <= high) if high else True)]
        members = {str(label) for label in in_band.index}
        scored = [f1[label] for label in members if label in f1]
        bands.append({
            "band": name,
            "classes": len(members),
            "classes_evaluated": len(scored),
            "test_rows": int(np.isin(labels, list(members)).sum()),
            "macro_f1": float(np.mean(scored)) if scored else None,
        })  # fmt: skip
    return bands


def band_metrics(bands: list[dict[str, Any]]) -> dict[str, float]:
    """The size bands as flat run metrics: `band_1_4_products_macro_f1`, `..._classes_evaluated` (no F1 when a band
    has no evaluated class: a missing metric, not a 0)."""
    flat: dict[str, float] = {}
    for band in bands:
        key = "band_" + band["band"].replace("-", "_").replace("+", "_plus").replace(" ", "_")
        flat[f"{key}_classes"] = band["classes"]
        flat[f"{key}_classes_evaluated"] = band["classes_evaluated"]
        if band["macro_f1"] is not None:
            flat[f"{key}_macro_f1"] = band["macro_f1"]
    return flat


def own_class_log_loss(labels: np.ndarray, top: TopClasses, classes: np.ndarray) -> float:
    """scikit-learn's log loss (probabilities clipped to [eps, 1 - eps]) from each row's own class alone, which has
    probability 0 when it is not among the row's best classes."""
    eps = np.finfo(np.float64).eps
    own = top.probability_of(np.searchsorted(classes, labels))
    return float(-np.mean(np.log(np.clip(own, eps, 1 - eps))))


def validation_comparison(
    labels: np.ndarray, predicted: np.ndarray, baseline_predicted: np.ndarray, *, products: np.ndarray | None = None
) -> dict[str, float]:
    """Macro-F1 of the final model and of its linear title model on the validation split, and the paired bootstrap
    interval (BOOTSTRAP_RESAMPLES resamples of the same products, each with all its rows, CONFIDENCE) of their
    difference, model − baseline."""
    report = compare_predictions(
        np.asarray(labels), np.asarray(baseline_predicted), np.asarray(predicted), products=products
    )
    macro_f1 = report["macro_f1"]
    return {
        "validation_macro_f1": macro_f1["b"],
        "validation_baseline_macro_f1": macro_f1["a"],
        "validation_difference": macro_f1["difference"],
        "validation_difference_ci_low": macro_f1["ci_low"],
        "validation_difference_ci_high": macro_f1["ci_high"],
    }


def enforce_baseline(comparison: dict[str, float], *, tolerance: float) -> None:
    """Refuse a model whose macro-F1 is worse than its own linear baseline's on validation, and warn when it may be.

    Stacking LightGBM on the title model must add something, and shipping a worse model silently is the one outcome
    a run must not have. The gate names macro-F1 and tests macro-F1: the paired bootstrap interval of the
    difference (model − baseline) on the same validation rows. The run fails when the whole interval lies below
    −`tolerance` (worse, beyond noise and tolerance), and warns when the interval straddles −`tolerance`.

    Raises:
        BaselineGateError: The model is worse than its baseline beyond `tolerance`, with 95 % confidence.
    """
    model, baseline = comparison["validation_macro_f1"], comparison["validation_baseline_macro_f1"]
    low, high = comparison["validation_difference_ci_low"], comparison["validation_difference_ci_high"]
    interval = f"95 % interval of the difference {low:+.4f} … {high:+.4f}"
    if high < -tolerance:
        raise BaselineGateError(
            f"the model scored macro-F1 {model:.4f} on validation, below its own linear baseline {baseline:.4f} by "
            f"more than model.baseline_tolerance {tolerance} ({interval}): not shipped (the run is recorded in "
            "MLflow as FAILED; nothing was registered or written). Typical causes: many categories with few rows "
            "each (docs/scaling.md, 'Many categories'), or too few rows overall."
        )
    if low < -tolerance:
        logger.warning(
            f"validation cannot tell the model (macro-F1 {model:.4f}) from its linear baseline ({baseline:.4f}): "
            f"{interval}, so it may be below it by more than model.baseline_tolerance {tolerance}; shipped, as "
            "nothing shows it worse (more validation products would settle it)",
            extra={
                "validation_macro_f1": round(model, 4),
                "validation_baseline_macro_f1": round(baseline, 4),
                "ci_low": round(low, 4),
                "ci_high": round(high, 4),
            },
        )
