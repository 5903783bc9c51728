"""Build the scikit-learn pipelines: the exported LightGBM model and the linear baseline it must beat."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from lightgbm import LGBMClassifier
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from training.features import TOKEN_PATTERN, FirstTokenHashed, HashedCategory, LogNumeric, PriceBandCross

if TYPE_CHECKING:
    from training.config import DataConfig, FeatureConfig, ModelConfig


def build_features(data: DataConfig, features: FeatureConfig) -> ColumnTransformer:
    """One named block per feature, each convertible to ONNX.

    Args:
        data: Which inputs are text, hashed categoricals and numerics.
        features: Sizes of the blocks.

    Returns:
        A ColumnTransformer producing one float32 sparse matrix.
    """
    blocks: list[tuple[str, object, str | list[str]]] = [
        ("title_words", _title_vectorizer(features), data.text),
    ]
    blocks += [(f"{name}_hash", HashedCategory(features.hash_buckets), [name]) for name in data.hashed]
    if data.brand_from_title:
        blocks.append(("title_brand_hash", FirstTokenHashed(features.hash_buckets), [data.text]))
    if data.brand_price_cross:
        blocks.append(
            (
                "brand_price_band",
                PriceBandCross(features.hash_buckets, features.price_bands),
                list(data.brand_price_cross),
            )
        )
    blocks += [(f"{name}_log", LogNumeric(), [name]) for name in data.numeric]
    return ColumnTransformer(blocks, remainder="drop", sparse_threshold=1.0)


def build_pipeline(data: DataConfig, features: FeatureConfig, model: ModelConfig) -> Pipeline:
    """Features followed by a LightGBM multiclass classifier."""
    classifier = LGBMClassifier(
        objective="multiclass",
        n_estimators=model.n_estimators,
        learning_rate=model.learning_rate,
        num_leaves=model.num_leaves,
        min_child_samples=model.min_child_samples,
        colsample_bytree=model.colsample_bytree,
        n_jobs=model.n_jobs,
        random_state=0,
        verbose=-1,
    )
    return Pipeline([("features", build_features(data, features)), ("classifier", classifier)])


def build_baseline(data: DataConfig, features: FeatureConfig) -> Pipeline:
    """TF-IDF of the title + hashed categoricals into a logistic regression: the honest floor."""
    blocks: list[tuple[str, object, str | list[str]]] = [("title_words", _title_vectorizer(features), data.text)]
    blocks += [(f"{name}_hash", HashedCategory(features.hash_buckets), [name]) for name in data.hashed]
    return Pipeline(
        [
            ("features", ColumnTransformer(blocks, sparse_threshold=1.0)),
            ("classifier", LogisticRegression(C=20.0, max_iter=300)),
        ]
    )


def _title_vectorizer(features: FeatureConfig) -> TfidfVectorizer:
    """Word n-grams of the lower-cased title; min_df rather than max_features (see docs/onnx-export.md)."""
    return TfidfVectorizer(
        lowercase=True,
        token_pattern=TOKEN_PATTERN,
        ngram_range=(1, features.word_ngram_max),
        min_df=features.min_df,
        dtype=np.float32,
    )
