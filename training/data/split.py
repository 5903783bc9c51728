"""Split a cleaned catalogue into train, validation and test: by product when grouped, stratified by label.

The checks that every class can be split (`check_class_sizes`, `check_split_coverage`) are shared with the
Dask engine, which splits by hashes instead, so both engines fail on the same data with the same message.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from training.columns import GROUP, LABEL
from training.exceptions import DataValidationError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from training.config import SplitConfig

# Each class needs rows in train, validation and test; fewer than this cannot be split honestly.
MIN_ROWS_PER_CLASS = 10
MIN_PRODUCTS_PER_CLASS = 5
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Splits:
    """Train, validation and test frames, each with the input columns plus `label`."""

    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame


def split_catalogue(frame: pd.DataFrame, config: SplitConfig) -> Splits:
    """Split into train/validation/test, by product group when there is one, stratified by label.

    Raises:
        DataValidationError: A class has too few rows (or products) to appear in every split.
    """
    check_class_sizes(frame[LABEL].value_counts())
    if GROUP in frame:
        _check_products_per_class(frame.groupby(GROUP, sort=False)[LABEL].first())
    rest, test = _split(frame, config.test_fraction, config.seed)
    train, validation = _split(rest, config.validation_fraction / (1 - config.test_fraction), config.seed + 1)
    check_split_coverage(
        set(frame[LABEL]),
        {"train": set(train[LABEL]), "validation": set(validation[LABEL]), "test": set(test[LABEL])},
        grouped=GROUP in frame,
        holdout=config.test_fraction + config.validation_fraction,
    )
    logger.info("split", extra={"train": len(train), "validation": len(validation), "test": len(test)})
    return Splits(train=train, validation=validation, test=test)


def check_class_sizes(counts: pd.Series) -> None:
    """Fail early, naming the class, when one is too small to split.

    Args:
        counts: Rows per class, in the order the first small class should be named.

    Raises:
        DataValidationError: A class has fewer than MIN_ROWS_PER_CLASS rows.
    """
    small = counts[counts < MIN_ROWS_PER_CLASS]
    if not small.empty:
        raise DataValidationError(
            f"class {small.index[0]!r} has {int(small.iloc[0])} rows; each class needs at least "
            f"{MIN_ROWS_PER_CLASS} to appear in train, validation and test. Add rows for it or drop it."
        )


def check_split_coverage(classes: set[str], present: Mapping[str, set[str]], *, grouped: bool, holdout: float) -> None:
    """Every class must have rows in every split.

    Args:
        classes: All classes of the data.
        present: Per split name (train, validation, test), the classes it holds.
        grouped: Whether the split is by product (the message then says products, not rows).
        holdout: The fraction held out for validation and test, for the message.

    Raises:
        DataValidationError: Naming the first class a split lacks.
    """
    for name, found in present.items():
        absent = sorted(classes - found)
        if absent:
            raise DataValidationError(
                f"class {absent[0]!r} has no rows in the {name} split: it has too few "
                f"{'products' if grouped else 'rows'} for a {holdout:.0%} holdout. "
                "Add rows for it or drop it from the data."
            )


def _split(frame: pd.DataFrame, fraction: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out about `fraction` of the frame: whole products when grouped, stratified by label either way."""
    if GROUP not in frame:
        if _stratifiable(frame[LABEL].to_numpy(), fraction):
            keep, hold = train_test_split(frame, test_size=fraction, stratify=frame[LABEL], random_state=seed)
            return keep, hold
        held = np.zeros(len(frame), dtype=bool)
        held[_per_class_holdout(np.arange(len(frame)), frame[LABEL].to_numpy(), fraction, seed)] = True
        return frame[~held], frame[held]
    # Stratify the products, not the rows: each product counts once, under its (first) label.
    products = frame.groupby(GROUP, sort=False)[LABEL].first()
    held_products = _stratified_holdout(products.index.to_numpy(), products.to_numpy(), fraction, seed)
    held = frame[GROUP].isin(held_products)
    return frame[~held], frame[held]


def _stratified_holdout(items: np.ndarray, labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """About `fraction` of `items`, stratified by label: scikit-learn's split when it can hold out one item per
    class, else `_per_class_holdout`."""
    if _stratifiable(labels, fraction):
        _, held = train_test_split(items, test_size=fraction, stratify=labels, random_state=seed)
        return np.asarray(held)
    return _per_class_holdout(items, labels, fraction, seed)


def _per_class_holdout(items: np.ndarray, labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Each class's own share of `items`: round(fraction × its items), at least one, never all.

    scikit-learn's stratified split needs at least one held-out item per class, which a taxonomy of
    thousands of small classes does not leave (5,000 classes, 4,000 validation products); the shares are
    drawn from a seeded permutation.
    """
    order = np.random.default_rng(seed).permutation(len(items))
    ranked = pd.DataFrame({"label": labels[order], "item": items[order]})
    rank = ranked.groupby("label", sort=False).cumcount().to_numpy()
    size = ranked.groupby("label", sort=False)["label"].transform("size").to_numpy()
    share = np.clip(np.round(fraction * size), 1, size - 1)
    return ranked["item"].to_numpy()[rank < share]


def _stratifiable(labels: np.ndarray, fraction: float) -> bool:
    """Whether scikit-learn's stratified split can hold out `fraction`: at least one item per class."""
    return math.ceil(fraction * len(labels)) >= len(np.unique(labels))


def _check_products_per_class(products: pd.Series) -> None:
    """A grouped split needs each class to have products for train, validation and test."""
    counts = products.value_counts()
    small = counts[counts < MIN_PRODUCTS_PER_CLASS]
    if not small.empty:
        raise DataValidationError(
            f"class {small.index[0]!r} has {int(small.iloc[0])} product(s); a grouped split needs at least "
            f"{MIN_PRODUCTS_PER_CLASS} per class. Add products for it or drop it."
        )
