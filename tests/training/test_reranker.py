"""The candidate re-ranker design: many classes in one graph of bounded size, answering as the Python pipeline."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import yaml
from onnx import numpy_helper
from sklearn.base import clone

from tests.training.conftest import RERANK_CLASSES
from training.columns import LABEL
from training.config import DEFAULT_CONFIG_PATH, load_config
from training.exceptions import ConfigError, DataValidationError
from training.model.parity import adversarial_frame, check_parity, onnx_feeds
from training.model.pipeline import (
    FLAT_FIT_MAX_CELLS,
    FLAT_FIT_MAX_CLASSES,
    MULTICLASS,
    RERANK,
    TITLE_SCORES,
    resolve_design,
    resolve_title_fit,
)
from training.model.stacking import class_spread_folds

if TYPE_CHECKING:
    from pathlib import Path


def test_auto_design_is_multiclass_for_a_few_classes_and_rerank_for_many(rerank_config):
    assert resolve_design(rerank_config.model, 30) == MULTICLASS
    assert resolve_design(rerank_config.model, 31) == RERANK
    assert resolve_design(replace(rerank_config.model, design="rerank"), 5) == RERANK
    with pytest.raises(DataValidationError, match="at least 3 classes"):
        resolve_design(replace(rerank_config.model, design="rerank"), 2)


def test_auto_fits_the_title_svm_flat_while_rows_times_classes_stay_within_its_budget(rerank_config):
    features = rerank_config.features
    assert features.title_fit == "auto"

    assert resolve_title_fit(features, 24_000, 1_000).title_fit == "flat"
    assert resolve_title_fit(features, FLAT_FIT_MAX_CELLS // 1_000 + 1, 1_000).title_fit == "tree"
    assert resolve_title_fit(features, 1_000, FLAT_FIT_MAX_CLASSES + 1).title_fit == "tree"
    # AND a fit the config names is kept whatever the size
    assert resolve_title_fit(replace(features, title_fit="tree"), 10, 40).title_fit == "tree"
    assert resolve_title_fit(replace(features, title_fit="flat"), 10**7, 5_000).title_fit == "flat"


@pytest.mark.parametrize(
    ("section", "setting", "value"),
    [
        ("model", "design", "trees"),
        ("model", "candidates", 1),
        ("features", "weights_per_bucket", 0),
        ("features", "title_fit", "forest"),
    ],
)
def test_a_bad_design_setting_is_one_clear_error(tmp_path: Path, section, setting, value):
    config = tmp_path / "config.yaml"
    settings = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    settings.setdefault(section, {})[setting] = value
    config.write_text(yaml.safe_dump(settings))

    with pytest.raises(ConfigError, match=f"{section}.{setting}"):
        load_config(config)


def test_many_classes_are_reranked_and_answer_with_at_most_k_candidates(rerank_pipeline, rerank_splits):
    probabilities = rerank_pipeline.predict_proba(rerank_splits.test)

    assert type(rerank_pipeline.named_steps["classifier"]).__name__ == "CandidateReranker"
    assert probabilities.shape[1] == RERANK_CLASSES
    # What the candidates leave is the calibrated "none of them" share (`training.model.calibration`).
    assert (probabilities.sum(axis=1) <= 1 + 1e-6).all()
    assert probabilities.sum(axis=1).mean() > 0.95
    assert ((probabilities > 0).sum(axis=1) <= 10).all()


def test_the_title_model_keeps_only_its_strongest_weights_per_bucket(rerank_pipeline):
    title = rerank_pipeline.named_steps["features"].named_transformers_[TITLE_SCORES]

    assert title.bucket_edges_.shape[1] == 8
    assert (np.diff(title.pruned_weights_.indptr) == 8).all()


def test_an_out_of_fold_copy_scores_as_its_model_without_the_unpruned_svm(rerank_pipeline, rerank_splits):
    title = rerank_pipeline.named_steps["features"].named_transformers_[TITLE_SCORES]
    titles = rerank_splits.test[["title"]].head(50)

    scorer = title.scorer()

    np.testing.assert_array_equal(scorer.transform(titles), title.transform(titles))
    assert not hasattr(scorer, "linear_")
    assert hasattr(title, "linear_")  # the model itself still predicts the baseline and exports


def test_the_graph_holds_no_classes_by_buckets_weight_matrix(rerank_config, rerank_model_bytes):
    model = onnx.load_from_string(rerank_model_bytes)
    largest = max(numpy_helper.to_array(tensor).size for tensor in model.graph.initializer)
    features = rerank_config.features

    assert largest <= max(
        (features.text_buckets + 1) * features.weights_per_bucket, features.hash_buckets * RERANK_CLASSES
    )
    assert largest < features.text_buckets * RERANK_CLASSES


def test_graph_matches_the_pipeline_on_test_and_adversarial_rows(
    rerank_config, rerank_splits, rerank_pipeline, rerank_model_bytes
):
    frames = (rerank_splits.test, adversarial_frame(rerank_splits.test, rerank_config.data))

    report = check_parity(rerank_pipeline, rerank_model_bytes, frames, rerank_config.data, tolerance=1e-5)

    assert report.label_agreement == 1.0
    assert report.max_abs_diff <= 1e-5


def test_a_rows_answer_does_not_depend_on_its_batch(rerank_config, rerank_splits, rerank_model_bytes):
    session = ort.InferenceSession(rerank_model_bytes, providers=["CPUExecutionProvider"])
    rows = rerank_splits.test[list(rerank_config.data.columns)].head(50).reset_index(drop=True)

    outputs = ["probabilities", "path_confidence"]
    batch = session.run(outputs, onnx_feeds(rows, rerank_config.data))
    alone = [session.run(outputs, onnx_feeds(rows.iloc[[i]], rerank_config.data)) for i in range(len(rows))]

    for index, output in enumerate(outputs):
        together = np.vstack([row[index] for row in alone])
        np.testing.assert_allclose(batch[index], together, rtol=0, atol=1e-6, err_msg=output)


def test_reranking_beats_the_linear_title_model(rerank_pipeline, rerank_splits, rerank_config):
    from sklearn.metrics import f1_score

    title = rerank_pipeline.named_steps["features"].named_transformers_[TITLE_SCORES]
    labels = rerank_splits.test[LABEL]
    model = f1_score(labels, rerank_pipeline.predict(rerank_splits.test), average="macro")
    baseline = f1_score(labels, title.predict(rerank_splits.test[[rerank_config.data.text]]), average="macro")

    assert model > baseline


def test_class_spread_folds_leave_every_class_in_every_folds_fitting_rows():
    # GIVEN 3,000 classes of five products (two rows each), as a long-tailed taxonomy's training split has
    labels = np.repeat(np.repeat(np.arange(3_000), 5).astype(str), 2)
    groups = np.repeat(np.arange(15_000), 2)

    split = class_spread_folds(labels, groups, 5)

    for fit_rows, held_rows in split:
        assert len(np.unique(labels[fit_rows])) == 3_000
        assert not set(groups[fit_rows]) & set(groups[held_rows])
    assert sorted(np.concatenate([held for _, held in split]).tolist()) == list(range(len(labels)))


def test_a_reranker_fitted_on_rows_without_a_class_keeps_the_title_models_classes(rerank_pipeline, rerank_splits):
    # GIVEN the fitted features, and training rows from which one class in the middle of the list is missing
    features = rerank_pipeline.named_steps["features"]
    fitted = rerank_pipeline.named_steps["classifier"]
    classes = features.named_transformers_[TITLE_SCORES].classes_
    absent = classes[len(classes) // 2]
    train = rerank_splits.train[rerank_splits.train[LABEL] != absent]
    test = rerank_splits.test[rerank_splits.test[LABEL] != absent]

    # WHEN a re-ranker is fitted on them with the title model's classes (and one on every row, alike)
    reranker = clone(fitted).fit(features.transform(train), train[LABEL], classes=classes)
    full = clone(fitted).fit(features.transform(rerank_splits.train), rerank_splits.train[LABEL], classes=classes)

    # THEN it keeps every class the candidates point to, and answers the other classes as well as the full one
    # (were its classes taken from the rows, every candidate after the missing class would name its neighbour)
    assert list(reranker.classes_) == list(classes)
    matrix = features.transform(test)
    accuracy = np.mean(reranker.predict(matrix) == test[LABEL].to_numpy())
    assert accuracy >= np.mean(full.predict(matrix) == test[LABEL].to_numpy()) - 0.03


def test_a_reranker_refuses_labels_outside_the_title_models_classes(rerank_pipeline, rerank_splits):
    features = rerank_pipeline.named_steps["features"]
    classes = features.named_transformers_[TITLE_SCORES].classes_
    train = rerank_splits.train

    with pytest.raises(ValueError, match="outside the title model's classes"):
        clone(rerank_pipeline.named_steps["classifier"]).fit(
            features.transform(train), train[LABEL], classes=classes[1:]
        )


def test_the_served_statistics_come_from_the_rows_given_for_them(rerank_pipeline, rerank_splits):
    # GIVEN a re-ranker fitted on a sample of the training rows, with all of them given for its statistics
    features = rerank_pipeline.named_steps["features"]
    classes = features.named_transformers_[TITLE_SCORES].classes_
    everything = features.transform(rerank_splits.train)
    labels = rerank_splits.train[LABEL].to_numpy()
    sample = np.arange(0, len(labels), 2)

    reranker = clone(rerank_pipeline.named_steps["classifier"]).fit(
        everything[sample], labels[sample], classes=classes, statistics_rows=(everything, labels)
    )

    # THEN its served counts are those of every row, not of the sample
    assert reranker.statistics_.bucket_counts.sum(axis=1) == pytest.approx(len(labels))
    assert reranker.statistics_.share == pytest.approx(
        np.bincount(np.searchsorted(classes, labels), minlength=len(classes)) / len(labels)
    )
