"""Build the pipeline: title scores from a linear text model, stacked with the other features into LightGBM.

Every block is a transformer of `training.model.features` with an ONNX converter; `build_pipeline` is what
the local engine fits, and the Dask engine fits the same blocks piece by piece (`build_features`,
`build_title_model`, `classifier_params`) so both export the same kind of graph.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lightgbm import LGBMClassifier
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline

from training.model.features import FirstTokenHashed, Float32Numeric, HashedCategory, PriceBandCross, TitleScores

if TYPE_CHECKING:
    from training.config import DataConfig, FeatureConfig, ModelConfig

TITLE_SCORES = "title_scores"


def build_title_model(features: FeatureConfig) -> TitleScores:
    """The title's linear model with the configured settings, unfitted (it counts n-grams without fitting)."""
    return TitleScores(features.text_buckets, features.word_ngram_max, features.char_ngrams, features.svm_c)


def build_features(data: DataConfig, features: FeatureConfig) -> ColumnTransformer:
    """One named block per feature, each convertible to ONNX.

    Args:
        data: Which inputs are text, hashed categoricals and numerics.
        features: Sizes and settings of the blocks.

    Returns:
        A ColumnTransformer producing one float32 sparse matrix, the title scores first.
    """
    blocks: list[tuple[str, object, list[str]]] = [(TITLE_SCORES, build_title_model(features), [data.text])]
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
