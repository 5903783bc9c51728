"""What every engine hands to evaluation and export: the fitted pipeline and its answers on the test split."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

    from training.data.report import DataReport
    from training.data.tail import TailPlan
    from training.model.top_classes import TopClasses


@dataclass(frozen=True)
class FittedModel:
    """What an engine hands to evaluation and export: the pipeline and its numbers on the test split.

    Attributes:
        pipeline: The fitted features + LightGBM pipeline.
        test: Test rows (inputs and label) on this machine: all of them locally, a sample from a cluster.
        unevaluated: A training row of each class without test rows, for the parity gate.
        test_labels: Labels of the whole test split.
        test_top: The pipeline's best classes and their probabilities for the whole test split.
        baseline_predicted: The title model's own labels for the whole test split.
        validation_labels, validation_top, validation_baseline_predicted: The validation split's labels, the
            pipeline's best classes and the title model's own labels for it: the two are compared there, never on the
            test split (validation also chose the early-stopping round, the design shipped, the temperature and the
            operating points' thresholds: docs/training.md says how far that leans its figures).
        validation_label_products: The product id of each `validation_labels` row: the baseline gate's bootstrap
            draws products.
        validation: Validation rows (inputs and label) on this machine, with `validation_products`, their products'
            ids: all of them locally, a sample from a cluster (a challenger meets its champion on them).
        trained_products: The ids of every product the model trained on (`training.data.split.product_ids`).
        class_counts: Training rows per class.
        class_products: Products per class in the catalogue trained on (after the small-class policy).
        tail: What the small-class policy did (`training.data.tail`).
        sizes: rows (after cleaning), n_train, n_validation, n_test.
        source: Where the data came from; sha256: its digest; report: its data report.
        engine_stats: Engine-specific numbers for the run summary (stage times, worker memory).
        corrections: Provenance of the reviewed listings merged into the catalogue (`training.feedback`), if any.
    """

    pipeline: Pipeline
    test: pd.DataFrame
    unevaluated: pd.DataFrame
    test_labels: pd.Series
    test_top: TopClasses
    baseline_predicted: np.ndarray
    validation_labels: np.ndarray
    validation_top: TopClasses
    validation_baseline_predicted: np.ndarray
    validation_label_products: np.ndarray
    validation: pd.DataFrame
    validation_products: np.ndarray
    trained_products: np.ndarray
    class_counts: pd.Series
    class_products: pd.Series
    tail: TailPlan
    sizes: dict[str, int]
    source: str
    sha256: str
    report: DataReport
    engine_stats: dict[str, Any] = field(default_factory=dict)
    corrections: dict[str, Any] = field(default_factory=dict)

    @property
    def validation_predicted(self) -> np.ndarray:
        """The pipeline's labels for the validation split."""
        return np.asarray(self.pipeline.classes_)[self.validation_top.best]
