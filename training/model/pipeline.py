"""Build and fit the pipeline: title scores from a linear text model, stacked with other features into LightGBM."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from lightgbm import LGBMClassifier
from scipy import sparse
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.model_selection import GroupKFold, StratifiedKFold
from sklearn.pipeline import Pipeline

from training.exceptions import DataValidationError
from training.model.features import FirstTokenHashed, Float32Numeric, HashedCategory, PriceBandCross, TitleScores

if TYPE_CHECKING:
    from training.config import DataConfig, FeatureConfig, ModelConfig
    from training.data.report import DataReport

TITLE_SCORES = "title_scores"
# Below this many training rows the fold fits run in this process: starting worker processes costs more
# (measured: +2.7 s at 6,000 rows; −5 s at 25,000).
PARALLEL_FOLD_ROWS = 20_000


def build_features(data: DataConfig, features: FeatureConfig) -> ColumnTransformer:
    """One named block per feature, each convertible to ONNX.

    Args:
        data: Which inputs are text, hashed categoricals and numerics.
        features: Sizes and settings of the blocks.

    Returns:
        A ColumnTransformer producing one float32 sparse matrix, the title scores first.
    """
    title_scores = TitleScores(features.text_buckets, features.word_ngram_max, features.char_ngrams, features.svm_c)
    blocks: list[tuple[str, object, list[str]]] = [(TITLE_SCORES, title_scores, [data.text])]
    blocks += [(f"{name}_hash", HashedCategory(features.hash_buckets), [name]) for name in data.hashed]
    if data.brand_from_title:
        blocks.append(("title_brand_hash", FirstTokenHashed(features.hash_buckets), [data.text]))
    if data.brand_price_cross:
        cross = PriceBandCross(features.hash_buckets, features.price_bands)
        blocks.append(("brand_price_band", cross, list(data.brand_price_cross)))
    blocks += [(f"{name}_value", Float32Numeric(), [name]) for name in data.numeric]
    return ColumnTransformer(blocks, remainder="drop", sparse_threshold=1.0)


def classifier_params(model: ModelConfig, *, n_jobs: int) -> dict[str, Any]:
    """LightGBM's settings, shared by the local classifier and the Dask one."""
    return {
        "objective": "multiclass",
        "n_estimators": model.n_estimators,
        "learning_rate": model.learning_rate,
        "num_leaves": model.num_leaves,
        "min_child_samples": model.min_child_samples,
        "colsample_bytree": model.colsample_bytree,
        "n_jobs": n_jobs,
        "random_state": 0,
        # Same data, same model: multi-threaded histogram sums otherwise vary in the last bits between runs.
        "deterministic": True,
        "force_col_wise": True,
        "verbose": -1,
    }


def build_pipeline(data: DataConfig, features: FeatureConfig, model: ModelConfig) -> Pipeline:
    """Features followed by a LightGBM multiclass classifier."""
    classifier = LGBMClassifier(**classifier_params(model, n_jobs=model.n_jobs))
    return Pipeline([("features", build_features(data, features)), ("classifier", classifier)])


@dataclass(frozen=True)
class FittedModel:
    """What an engine hands to evaluation and export: the pipeline and its numbers on the test split.

    Attributes:
        pipeline: The fitted features + LightGBM pipeline.
        test: Test rows (inputs and label) on this machine: all of them locally, a sample from a cluster.
        test_labels: Labels of the whole test split.
        probabilities: The pipeline's probabilities for the whole test split.
        baseline_predicted: The title model's own labels for the whole test split.
        class_counts: Training rows per class.
        sizes: rows (after cleaning), n_train, n_validation, n_test.
        source: Where the data came from; sha256: its digest; report: its data report.
        engine_stats: Engine-specific numbers for the run summary (stage times, worker memory).
    """

    pipeline: Pipeline
    test: pd.DataFrame
    test_labels: pd.Series
    probabilities: np.ndarray
    baseline_predicted: np.ndarray
    class_counts: pd.Series
    sizes: dict[str, int]
    source: str
    sha256: str
    report: DataReport
    engine_stats: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ExtraExamples:
    """Extra training text for the title model: each distinct (owner, text, label) once.

    `owner` is the product group the text came from (the row's position without groups), so a model fitted on
    some groups can take exactly their extra text and nothing from the groups it is scored on.
    """

    counts: sparse.csr_matrix
    labels: np.ndarray
    owners: np.ndarray

    def of(self, owners: np.ndarray) -> tuple[sparse.csr_matrix, np.ndarray]:
        """The counts and labels of the examples owned by `owners`."""
        mask = pd.Index(self.owners).isin(owners)  # hash-based; np.isin sorts object arrays (seconds per fold)
        return self.counts[mask], self.labels[mask]


def extra_examples(
    block: TitleScores, frame: pd.DataFrame, labels: np.ndarray, owners: np.ndarray, columns: list[str]
) -> ExtraExamples | None:
    """The training-text columns of `frame` as extra title-model examples; None when there are none."""
    parts = [pd.DataFrame({"text": frame[column].to_numpy(), "label": labels, "owner": owners}) for column in columns]
    if not parts:
        return None
    table = pd.concat(parts, ignore_index=True)
    table = table[table["text"].str.strip() != ""].drop_duplicates()
    if table.empty:
        return None
    return ExtraExamples(block.count(table["text"]), table["label"].to_numpy(), table["owner"].to_numpy())


def stacked_training_matrix(
    features: ColumnTransformer,
    frame: pd.DataFrame,
    labels: pd.Series,
    groups: pd.Series | None,
    *,
    text: str,
    folds: int,
    extra_text: list[str] | None = None,
    n_jobs: int = 1,
) -> sparse.csr_matrix:
    """Fit the features on `frame` and return its matrix with out-of-fold title scores.

    In-sample scores of a linear model are overconfident; LightGBM trained on them would trust them more
    than it should on new products. Each row's scores therefore come from a model that never saw its
    product (GroupKFold) or, without groups, its row (StratifiedKFold). Extra training text (`extra_text`
    columns) joins the title model's fit, in each fold only from that fold's own training groups.
    """
    matrix = features.fit_transform(frame, labels).tocsr()
    block = features.named_transformers_[TITLE_SCORES]
    counts = block.count(frame[text])
    label_array = np.asarray(labels)
    owners = np.asarray(groups) if groups is not None else np.arange(len(frame))
    extras = extra_examples(block, frame, label_array, owners, extra_text or [])
    if extras is not None:
        block.fit_counts(
            sparse.vstack([counts, extras.counts], format="csr"), np.concatenate([label_array, extras.labels])
        )
    splitter = (
        GroupKFold(n_splits=folds) if groups is not None else StratifiedKFold(folds, shuffle=True, random_state=0)
    )
    columns = features.output_indices_[TITLE_SCORES]
    scores = np.zeros((len(frame), columns.stop - columns.start), dtype=np.float32)

    def fit_fold(fit_rows: np.ndarray) -> TitleScores:
        fit_counts, fit_labels = counts[fit_rows], label_array[fit_rows]
        if extras is not None:
            extra_counts, extra_labels = extras.of(owners[fit_rows])
            fit_counts = sparse.vstack([fit_counts, extra_counts], format="csr")
            fit_labels = np.concatenate([fit_labels, extra_labels])
        return clone(block).fit_counts(fit_counts, fit_labels)

    split = list(splitter.split(counts, label_array, groups))
    # The fold fits run side by side in worker processes, not threads: liblinear seeds and draws from the C
    # library's one global rand(), which concurrent threads would share (results then vary from run to run).
    workers = n_jobs if len(frame) >= PARALLEL_FOLD_ROWS else 1
    fold_models = Parallel(n_jobs=workers)(delayed(fit_fold)(fit_rows) for fit_rows, _ in split)
    for fold_model, (_, held_rows) in zip(fold_models, split, strict=True):
        if len(fold_model.classes_) != len(block.classes_):
            raise DataValidationError(
                f"a stacking fold saw {len(fold_model.classes_)} of {len(block.classes_)} classes: some class has "
                f"fewer than {folds} products. Add rows for it or lower features.stacking_folds."
            )
        scores[held_rows] = fold_model.score_counts(counts[held_rows])
    return sparse.hstack(
        [matrix[:, : columns.start], sparse.csr_matrix(scores), matrix[:, columns.stop :]], format="csr"
    )
