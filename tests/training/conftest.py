"""A small trained pipeline and its ONNX export, built once per session for the training tests."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import pandas as pd
import pytest

from training.config import DEFAULT_CONFIG_PATH, load_config
from training.data.clean import prepare_catalogue
from training.data.split import split_catalogue
from training.data.synthetic import generate_catalogue
from training.data.taxonomy import PATH_SEPARATOR, generate_taxonomy_catalogue
from training.engines.local import fit_model
from training.model.export import to_onnx_model
from training.model.metadata import input_schema

if TYPE_CHECKING:
    from pathlib import Path

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
    return exported(small_pipeline, small_config)


# Classes of the re-ranker's catalogue: above multiclass_max_classes, so `auto` re-ranks.
RERANK_CLASSES = 60


@pytest.fixture(scope="session")
def rerank_config() -> TrainConfig:
    """A config whose `auto` design re-ranks 10 candidates above 30 classes, with path labels."""
    config = load_config(DEFAULT_CONFIG_PATH)
    features = replace(config.features, text_buckets=2**12, stacking_folds=3, weights_per_bucket=8)
    model = replace(config.model, n_estimators=60, design="auto", multiclass_max_classes=30, candidates=10)
    return replace(config, data=replace(config.data, path_separator=PATH_SEPARATOR), features=features, model=model)


@pytest.fixture(scope="session")
def rerank_splits(rerank_config: TrainConfig) -> Splits:
    """Train/validation/test of a 4,000-row catalogue of RERANK_CLASSES taxonomy leaves."""
    frame = prepare_catalogue(generate_taxonomy_catalogue(4_000, RERANK_CLASSES, seed=3), rerank_config.data)
    return split_catalogue(frame, rerank_config.split)


@pytest.fixture(scope="session")
def rerank_pipeline(rerank_config: TrainConfig, rerank_splits: Splits) -> Pipeline:
    """A fitted re-ranking pipeline."""
    return fit_model(rerank_config, rerank_splits)


@pytest.fixture(scope="session")
def rerank_model_bytes(rerank_config: TrainConfig, rerank_pipeline: Pipeline) -> bytes:
    """The re-ranking pipeline exported to ONNX."""
    return exported(rerank_pipeline, rerank_config)


def exported(pipeline: Pipeline, config: TrainConfig) -> bytes:
    """A fitted pipeline as one ONNX graph, with the metadata the graph itself needs (its classes and inputs)."""
    metadata = {"classes": list(pipeline.classes_), "inputs": input_schema(config.data)}
    return to_onnx_model(pipeline, config.data, metadata).SerializeToString()


def write_small_shop(folder: Path) -> Path:
    """A small shop's export (WooCommerce's sample store) in the synthetic schema: 15 listings without product ids
    in 6 categories of one to six products. Returns the CSV's path."""
    listings = {
        "Clothing > Tshirts": ["T-Shirt", "T-Shirt with Logo"],
        "Clothing > Hoodies": ["Hoodie", "Hoodie with Pocket and Logo", "Hoodie with Pocket"],
        "Clothing > Accessories": ["Beanie", "Belt", "Cap", "Sunglasses", "Beanie with Logo", "Scarf"],
        "Music": ["Album", "Single"],
        "Clothing": ["Logo Collection"],
        "Donation": ["Donation"],
    }
    rows = [(title, category) for category, titles in listings.items() for title in titles]
    shop = pd.DataFrame(rows, columns=["title", "category"]).assign(product_id="", seller_id="shop", brand="", price=20)
    path = folder / "shop.csv"
    shop.to_csv(path, index=False)
    return path
