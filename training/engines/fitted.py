"""What every engine hands to evaluation and export: the fitted pipeline and its answers on the test split."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
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
        validation_labels, validation_predicted, validation_baseline_predicted: The validation split's labels,
            the pipeline's labels and the title model's own labels for it: the two are compared on rows that
            chose nothing else than the early-stopping round, never on the test split.
        class_counts: Training rows per class.
        class_products: Products per class in the catalogue trained on (after the small-class policy).
        tail: What the small-class policy did (`training.data.tail`).
        sizes: rows (after cleaning), n_train, n_validation, n_test.
        source: Where the data came from; sha256: its digest; report: its data report.
        engine_stats: Engine-specific numbers for the run summary (stage times, worker memory).
    """

    pipeline: Pipeline
    test: pd.DataFrame
    unevaluated: pd.DataFrame
    test_labels: pd.Series
    test_top: TopClasses
    baseline_predicted: np.ndarray
    validation_labels: np.ndarray
    validation_predicted: np.ndarray
    validation_baseline_predicted: np.ndarray
    class_counts: pd.Series
    class_products: pd.Series
    tail: TailPlan
    sizes: dict[str, int]
    source: str
    sha256: str
    report: DataReport
    engine_stats: dict[str, Any] = field(default_factory=dict)
