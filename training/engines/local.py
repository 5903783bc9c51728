"""The local engine (`ENGINE=local`): the catalogue in this process's memory, split, fitted and scored here."""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
from lightgbm import early_stopping

from training.columns import (
    CORRECTED_LISTINGS,
    CORRECTED_PRODUCT,
    CORRECTED_PRODUCTS,
    CORRECTION,
    GROUP,
    LABEL,
    LISTING,
    SOURCE,
    extra_text_columns,
)
from training.data.split import product_ids, product_keys, split_catalogue
from training.data.tail import products_per_class
from training.engines.fitted import FittedModel
from training.model.calibration import calibrate
from training.model.export import align_thresholds_to_float32
from training.model.pipeline import RERANK, TITLE_SCORES, build_pipeline, resolve_design, resolve_title_fit
from training.model.reranker import FeatureLayout
from training.model.stacking import stacked_training_matrix
from training.model.top_classes import feature_matrix, predict_top

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

    from training.config import TrainConfig
    from training.data.load import LoadedCatalogue
    from training.data.split import Splits

logger = logging.getLogger(__name__)
# Why a reviewed listing did not train, by its count in the corrections' provenance, as the warning says it.
CORRECTIONS_DROPPED = {
    "dropped_rows": "dropped by cleaning (an empty title, or a text over data.max_text_length)",
    "dropped_small_classes": "of a class `split.small_classes: drop` took out of the run",
    "dropped_held_out": "of a held-out listing (their inputs are a validation or test listing's)",
}


def fit_locally(config: TrainConfig, catalogue: LoadedCatalogue) -> FittedModel:
    """The local engine: the catalogue in this process's memory, split, fitted and scored here."""
    splits = split_catalogue(catalogue.frame, config.split)
    pipeline = fit_model(config, splits)
    title_model = pipeline.named_steps["features"].named_transformers_[TITLE_SCORES]
    return FittedModel(
        pipeline=pipeline,
        test=splits.test,
        unevaluated=unevaluated_rows(splits.train, splits.test),
        test_labels=splits.test[LABEL],
        test_top=predict_top(pipeline, splits.test),
        baseline_predicted=title_model.predict(splits.test[[config.data.text]]),
        validation_labels=splits.validation[LABEL].to_numpy(),
        validation_top=predict_top(pipeline, splits.validation),
        validation_baseline_predicted=title_model.predict(splits.validation[[config.data.text]]),
        validation=splits.validation,
        validation_products=(validation_products := product_ids(product_keys(splits.validation))),
        validation_label_products=validation_products,
        trained_products=np.unique(product_ids(product_keys(splits.train))),
        class_counts=splits.train[LABEL].value_counts(),
        class_products=products_per_class(catalogue.frame),
        tail=catalogue.tail,
        sizes={
            # The rows that trained or were held out: the split drops corrections of held-out listings.
            "rows": len(splits.train) + len(splits.validation) + len(splits.test),
            "n_train": len(splits.train),
            "n_validation": len(splits.validation),
            "n_test": len(splits.test),
        },
        source=catalogue.source,
        sha256=catalogue.sha256,
        report=catalogue.report,
        corrections=_trained_corrections(catalogue.corrections, splits, catalogue_rows=len(catalogue.frame)),
    )


def _trained_corrections(provenance: dict[str, Any], splits: Splits, *, catalogue_rows: int) -> dict[str, Any]:
    """The corrections' provenance with `rows` and `corrected_listings` the reviewed listings that trained: the split
    drops one of a held-out listing (`split._with_corrections`), counted in `dropped_held_out`, and the small-class
    policy may have dropped others (`dropped_small_classes`); neither trained, so a comparison may score them. The
    split also drops the catalogue's rows a correction replaces (`replaced_catalogue_rows`, of `catalogue_rows`, the
    catalogue's rows with the corrections). Where titles name products, the products only corrections trained are
    recorded too (`CORRECTED_PRODUCTS`): a later run tells its catalogue's products from them by those."""
    if not provenance:
        return provenance
    train = splits.train
    from_corrections = train[SOURCE] == CORRECTION if SOURCE in train.columns else np.zeros(len(train), dtype=bool)
    corrected = train[from_corrections]
    listings = sorted(set(corrected[LISTING].astype(str))) if LISTING in corrected.columns else []
    trained = len(corrected)
    named_by_title = (
        GROUP in corrected.columns and not corrected[GROUP].astype(str).str.startswith(CORRECTED_PRODUCT).all()
    )
    if named_by_title:
        own = np.setdiff1d(product_ids(product_keys(corrected)), product_ids(product_keys(train[~from_corrections])))
        provenance = provenance | {CORRECTED_PRODUCTS: [str(product) for product in own]}
    dealt = len(train) + len(splits.validation) + len(splits.test)
    found = provenance | {
        "rows": trained,
        "dropped_held_out": provenance["rows"] - trained,
        "replaced_catalogue_rows": catalogue_rows - provenance["rows"] - (dealt - trained),
        CORRECTED_LISTINGS: listings,
    }
    if not trained:
        _warn_none_trained(found)
    return found


def _warn_none_trained(provenance: dict[str, Any]) -> None:
    """Say that none of the reviewed listings trained, and why, by reason: the run succeeds, so its counts alone (an
    INFO line, metrics.json) would let a reviewer's work go unused unnoticed."""
    dropped = {key: provenance.get(key, 0) for key in CORRECTIONS_DROPPED}
    why = ", ".join(f"{count} {CORRECTIONS_DROPPED[key]}" for key, count in dropped.items() if count)
    logger.warning(
        f"none of the {sum(dropped.values())} corrections trained: {why}",
        extra={"file": provenance.get("file"), **dropped},
    )


def unevaluated_rows(train: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
    """One training row of each class that has no test rows (a small class, or none of its products drawn)."""
    absent = train[~train[LABEL].isin(set(test[LABEL]))]
    return absent.groupby(LABEL, sort=True).head(1)


def fit_model(config: TrainConfig, splits: Splits) -> Pipeline:
    """Fit the features on train, then LightGBM with early stopping on the validation split, then its calibration
    on the same split (`training.model.calibration`).

    Returns:
        The fitted pipeline, thresholds aligned to float32 (see `align_thresholds_to_float32`), calibrated.
    """
    design = resolve_design(config.model, splits.train[LABEL].nunique())
    features_config = resolve_title_fit(config.features, len(splits.train), splits.train[LABEL].nunique())
    pipeline = build_pipeline(config.data, features_config, config.model, design)
    features = pipeline.named_steps["features"]
    features, train_matrix = stacked_training_matrix(
        features,
        splits.train,
        splits.train[LABEL],
        splits.train[GROUP],
        text=config.data.text,
        folds=config.features.stacking_folds,
        extra_text=extra_text_columns(splits.train),
        n_jobs=config.model.n_jobs,
    )
    pipeline.steps[0] = ("features", features)
    validation_matrix = feature_matrix(features, splits.validation)
    logger.info("features", extra={"rows": train_matrix.shape[0], "columns": train_matrix.shape[1]})
    classifier = pipeline.named_steps["classifier"]
    fit_options = {
        "eval_set": [(validation_matrix, splits.validation[LABEL])],
        "callbacks": [early_stopping(config.model.early_stopping_rounds, verbose=False)],
    }
    if design == RERANK:
        classifier.set_params(layout=FeatureLayout.of(features, TITLE_SCORES))
        fit_options["groups"] = splits.train[GROUP]
        fit_options["classes"] = features.named_transformers_[TITLE_SCORES].classes_
    else:
        title_columns = features.output_indices_[TITLE_SCORES]
        classifier.set_params(scores=(title_columns.start, title_columns.stop))
    with warnings.catch_warnings():
        # LightGBM 4.7 deprecates eval_set for eval_X/eval_y, but its eval_y path cannot encode string labels.
        warnings.filterwarnings("ignore", message=".*eval_set.*deprecated")
        classifier.fit(train_matrix, splits.train[LABEL], **fit_options)
    booster = classifier.model_
    align_thresholds_to_float32(booster)
    if design != RERANK:
        classifier.keep_better(validation_matrix, splits.validation[LABEL])
    calibration = calibrate(classifier, validation_matrix, splits.validation[LABEL].to_numpy())
    logger.info(
        "fitted",
        extra={
            "design": design,
            "shipped": classifier.shipped_,
            "best_iteration": booster.best_iteration_ if getattr(classifier, "uses_trees_", True) else 0,
            "classes": len(classifier.classes_),
            "temperature": round(calibration.temperature, 3),
        },
    )
    return pipeline
