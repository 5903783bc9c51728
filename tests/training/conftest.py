"""A small trained pipeline and its ONNX export, built once per session for the training tests."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import pytest

from training.config import DEFAULT_CONFIG_PATH, load_config
from training.data.clean import prepare_catalogue
from training.data.split import split_catalogue
from training.data.synthetic import generate_catalogue
from training.engines.local import fit_model
from training.model.export import to_onnx_model
from training.model.metadata import input_schema

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from training.config import TrainConfig
    from training.data.split import Splits


@pytest.fixture(scope="session")
def small_config() -> TrainConfig:
    """The default config shrunk so a model trains in a few seconds; character n-grams on, to cover them."""
    config = load_config(DEFAULT_CONFIG_PATH, synthetic_rows=2_000)
    features = replace(config.features, text_buckets=2**12, stacking_folds=3, char_ngrams=(2, 3))
    return replace(config, features=features, model=replace(config.model, n_estimators=60))


@pytest.fixture(scope="session")
def small_splits(small_config: TrainConfig) -> Splits:
    """Train/validation/test of a 2,000-row synthetic catalogue."""
    frame = prepare_catalogue(generate_catalogue(small_config.synthetic_rows, seed=1), small_config.data)
    return split_catalogue(frame, small_config.split)


@pytest.fixture(scope="session")
def small_pipeline(small_config: TrainConfig, small_splits: Splits) -> Pipeline:
    """A fitted pipeline on the small catalogue."""
    return fit_model(small_config, small_splits)


@pytest.fixture(scope="session")
def small_model_bytes(small_config: TrainConfig, small_pipeline: Pipeline) -> bytes:
    """The small pipeline exported to ONNX."""
    metadata = {"classes": list(small_pipeline.classes_), "inputs": input_schema(small_config.data)}
    return to_onnx_model(small_pipeline, small_config.data, metadata).SerializeToString()
