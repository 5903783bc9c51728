"""Build the pipeline: a linear title model stacked with the other features into LightGBM, in one of two designs.

- `multiclass` (a few dozen classes at most): one multiclass LightGBM, which grows a tree per class per round,
  boosted from the title model's scaled per-class scores (`training.model.margin`), which are also its features.
- `rerank` (any number of classes): the title model proposes each row's top candidates and one binary
  LightGBM re-ranks them with features relative to each candidate (`training.model.reranker`); size,
  memory and latency then grow with the candidates, not with the classes.

`model.design: auto` picks multiclass up to `model.multiclass_max_classes` classes and rerank above.
Every block is a transformer of `training.model.features` with an ONNX converter; `build_pipeline` is what
the local engine fits, and the Dask engine fits the same blocks piece by piece (`build_features`,
`build_title_model`, `classifier_params`) so both export the same kind of graph.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline

from training.exceptions import DataValidationError
from training.model.features import (
    FirstTokenHashed,
    Float32Numeric,
    HashedCategory,
    PriceBandCross,
    TitleCandidates,
    TitleScores,
)
from training.model.margin import MarginBoostedClassifier
from training.model.reranker import CandidateReranker

if TYPE_CHECKING:
    from training.config import DataConfig, FeatureConfig, ModelConfig

TITLE_SCORES = "title_scores"
MULTICLASS, RERANK = "multiclass", "rerank"
# `features.title_fit: auto` fits flat up to this many training rows × classes and this many classes, and the tree
# above. Its time grows with rows × classes (measured: about a minute more than the tree's at 24,000 training rows ×
# 1,000 classes, thirteen minutes in all at 1,000 classes × 200,000 rows), its memory with classes × n-gram columns
# (a weight each, in every fold's copy at once: peak RSS 3.5 GB at 1,000 classes, 9.7 GB at 4,602; `make
# benchmark-categories`).
FLAT_FIT_MAX_CELLS = 50_000_000
FLAT_FIT_MAX_CLASSES = 1_000


def resolve_design(model: ModelConfig, n_classes: int) -> str:
    """The design `model.design` asks for; `auto` → multiclass up to `model.multiclass_max_classes` classes."""
    if model.design == RERANK and n_classes < 3:
        raise DataValidationError(f"model.design: rerank needs at least 3 classes, the data has {n_classes}")
    if model.design != "auto":
        return model.design
    return MULTICLASS if n_classes <= model.multiclass_max_classes else RERANK


def resolve_title_fit(features: FeatureConfig, rows: int, n_classes: int) -> FeatureConfig:
    """`features` with `title_fit: auto` decided for `rows` training rows of `n_classes` classes.

    The flat fit (one-vs-rest over every class) is the better one on a real taxonomy's shape: on Google's (uneven
    depths and fan-outs, a long tail) the tree's model stays a little behind (`make benchmark-categories`,
    docs/scaling.md); on a balanced synthetic tree the two tie. Its time grows with rows × classes and its memory
    with classes, so above FLAT_FIT_MAX_CELLS or FLAT_FIT_MAX_CLASSES, where it runs past minutes or gigabytes,
    the tree is fitted instead.
    """
    if features.title_fit != "auto":
        return features
    flat = rows * n_classes <= FLAT_FIT_MAX_CELLS and n_classes <= FLAT_FIT_MAX_CLASSES
    return replace(features, title_fit="flat" if flat else "tree")


def build_title_model(
    features: FeatureConfig, model: ModelConfig | None = None, design: str = MULTICLASS, separator: str | None = None
) -> TitleScores:
    """The title's linear model with the configured settings, unfitted (it counts n-grams without fitting).

    With the rerank design it proposes `model.candidates` candidates from pruned weights instead of scoring
    every class, its SVM fitted down the tree of labels split at `separator` (`data.path_separator`).
    """
    settings = (features.text_buckets, features.word_ngram_max, features.char_ngrams, features.svm_c)
    if design == RERANK:
        assert model is not None
        return TitleCandidates(
            *settings,
            candidates=model.candidates,
            weights_per_bucket=features.weights_per_bucket,
            separator=separator if features.title_fit == "tree" else None,
        )
    return TitleScores(*settings)


def build_features(
    data: DataConfig, features: FeatureConfig, model: ModelConfig | None = None, design: str = MULTICLASS
) -> ColumnTransformer:
    """One named block per feature, each convertible to ONNX.

    Args:
        data: Which inputs are text, hashed categoricals and numerics.
        features: Sizes and settings of the blocks.
        model: The model settings (the number of candidates, for the rerank design).
        design: MULTICLASS or RERANK.

    Returns:
        A ColumnTransformer producing one float32 sparse matrix, the title block first.
    """
    title = build_title_model(features, model, design, data.path_separator)
    blocks: list[tuple[str, object, list[str]]] = [(TITLE_SCORES, title, [data.text])]
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
        "extra_trees": model.extra_trees,
        "n_jobs": n_jobs,
        "random_state": 0,
        # Same data, same model: multi-threaded histogram sums otherwise vary in the last bits between runs.
        "deterministic": True,
        "force_col_wise": True,
        "verbose": -1,
    }


def reranker_params(model: ModelConfig, *, n_jobs: int) -> dict[str, Any]:
    """The re-ranker's LightGBM settings: binary, and every column per tree (it has a dozen, all relevant)."""
    return classifier_params(model, n_jobs=n_jobs) | {"objective": "binary", "colsample_bytree": 1.0}


def build_pipeline(data: DataConfig, features: FeatureConfig, model: ModelConfig, design: str = MULTICLASS) -> Pipeline:
    """Features followed by LightGBM boosted from the title model's margin, or by the candidate re-ranker."""
    classifier: MarginBoostedClassifier | CandidateReranker
    if design == RERANK:
        classifier = CandidateReranker(
            separator=data.path_separator, booster=reranker_params(model, n_jobs=model.n_jobs)
        )
    else:
        classifier = MarginBoostedClassifier(booster=classifier_params(model, n_jobs=model.n_jobs))
    return Pipeline([("features", build_features(data, features, model, design)), ("classifier", classifier)])
