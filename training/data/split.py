"""Split a cleaned catalogue into train, validation and test by a hash of each product, the same way in both engines.

Each product (`group`: the product column, or the title's product when the catalogue names none) draws a number
in [0, 1) from a hash of its id and the split seed: below `test_fraction` it is a test product, below
`test_fraction + validation_fraction` a validation product, else a training product. A product's draw depends on
nothing but its own id, so adding or removing other products never moves it across the split (except where the
change takes its class across `split.min_class_products`, or leaves the class without a drawn training product:
the rules below), and the Dask engine, which sees one partition at a time, assigns exactly what the local engine
does. Two rules override the draw, both for whole products:

- a product of a *small* class (fewer than `split.min_class_products` products) trains: such a class is learnt
  from every row it has and reported as "learnt, not evaluated" (`split.small_classes: train`, the default;
  `training.data.tail` applies the other policies before the split);
- a class whose every product drew validation or test keeps its highest-drawn product in train, so every class
  with a row is learnt.

A class with no validation or test product is simply not evaluated on that split; nothing is refused for being
small. Reviewed listings (`source` = correction, `training.feedback.corrections`) always train, and one whose
inputs equal a held-out row's, or whose product (its title, where titles name products) is held out, is dropped;
the catalogue's rows are dealt without them, and a training row of the catalogue whose inputs a correction that
trains repeats is dropped: the correction replaces it. The held-out splits stay the catalogue's own, unseen products.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype

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
from training.data.clean import normalised_titles
from training.exceptions import DataValidationError

if TYPE_CHECKING:
    from training.config import SplitConfig

TRAIN, VALIDATION, TEST = 0, 1, 2
SPLIT_NAMES = {TRAIN: "train", VALIDATION: "validation", TEST: "test"}
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Splits:
    """Train, validation and test frames, each with the input columns plus `label`."""

    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame


def split_catalogue(frame: pd.DataFrame, config: SplitConfig) -> Splits:
    """Split into train/validation/test by a hash of each product (see the module docstring)."""
    if SOURCE in frame.columns:
        split = _with_corrections(frame, config)
        frame, split = frame[split >= 0], split[split >= 0]
    else:
        split = assign_splits(product_keys(frame), frame[LABEL], config)
    splits = Splits(train=frame[split == TRAIN], validation=frame[split == VALIDATION], test=frame[split == TEST])
    products = frame[GROUP] if GROUP in frame.columns else None
    check_held_out({"validation": len(splits.validation), "test": len(splits.test)}, config, products=products)
    logger.info(
        "split",
        extra={"train": len(splits.train), "validation": len(splits.validation), "test": len(splits.test)},
    )
    return splits


def _with_corrections(frame: pd.DataFrame, config: SplitConfig) -> np.ndarray:
    """Each row's split, the catalogue's rows dealt alone (a correction's label never moves a product) and every
    correction in train, but -1 (dropped) for one of a held-out listing: its inputs equal a held-out row's as the
    model reads text (a listing sent again in capitals or with other spacing is the same listing to it), or its
    product is held out (where titles name products). A catalogue row whose inputs equal a correction that trains is
    dropped too: the reviewer's label replaces the one it corrects, which would otherwise train beside it; but not
    the last training rows of a class, which its held-out rows would then meet unlearnt (`_learnt_classes_kept`)."""
    corrected = (frame[SOURCE] == CORRECTION).to_numpy()
    split = np.full(len(frame), TRAIN, dtype=np.int8)
    catalogue = frame[~corrected]
    split[~corrected] = assign_splits(product_keys(catalogue), catalogue[LABEL], config)
    keys = listing_keys(frame)
    products = product_ids(product_keys(frame))
    held = split != TRAIN
    twins = corrected & (np.isin(keys, keys[held]) | np.isin(products, products[held]))
    split[twins] = -1
    if twins.any():
        logger.info("corrections dropped", extra={"reason": "same listing held out", "rows": int(twins.sum())})
    if 0 < twins.sum() < corrected.sum() and twins.sum() * 2 > corrected.sum():
        # Most of a round dropped is a reviewer's work gone unused (all of it is said as such after the split).
        logger.warning(
            f"{int(twins.sum())} of {int(corrected.sum())} corrections dropped: each is a listing the catalogue holds "
            "out for validation or test (the same inputs, or its product), which must not train"
        )
    superseded = _learnt_classes_kept(
        ~corrected & np.isin(keys, keys[corrected & (split == TRAIN)]), split, frame[LABEL].to_numpy()
    )
    split[superseded] = -1
    if superseded.any():
        logger.info("catalogue rows a correction replaces", extra={"rows": int(superseded.sum())})
    return split


def listing_keys(frame: pd.DataFrame) -> np.ndarray:
    """Each row's inputs as the model reads them, hashed: a listing sent again in capitals or with other spacing has
    the key of the first (its label, product, source and training-only text are no inputs)."""
    ignored = {LABEL, GROUP, SOURCE, LISTING, *extra_text_columns(frame)}
    inputs = [column for column in frame.columns if column not in ignored]
    read = frame[inputs].apply(lambda column: column if is_numeric_dtype(column) else normalised_titles(column))
    return pd.util.hash_pandas_object(read, index=False).to_numpy()


def _learnt_classes_kept(superseded: np.ndarray, split: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The rows a correction replaces, but for those of a class whose every training row they are: reviewers who
    relabel all of a class's training listings leave it nothing to learn from, while its validation and test rows
    stay (LightGBM refuses a label it never trained on). Such rows train beside their corrections, and a warning
    says so."""
    trained = split == TRAIN
    left = set(labels[trained & ~superseded])
    emptied = superseded & ~np.isin(labels, list(left))
    if emptied.any():
        classes = sorted(set(labels[emptied]))
        logger.warning(
            f"corrections relabel every training listing of {len(classes)} class(es), e.g. {classes[:3]}: those "
            "listings still train under their old label beside the corrections, since the class's held-out listings "
            "need it learnt; correct its held-out listings in the catalogue too, or drop the class",
            extra={"rows": int(emptied.sum())},
        )
    return superseded & ~emptied


def check_held_out(rows: dict[str, int], config: SplitConfig, *, products: pd.Series | None = None) -> None:
    """Early stopping, the gates and the reported figures need validation and test rows.

    Args:
        rows: Rows per held-out split name.
        config: For the message.
        products: Each row's product, when known: counted only when a split is empty, and a single one means the
            product column holds one value, which the message then says.

    Raises:
        DataValidationError: A held-out split is empty.
    """
    for name, count in rows.items():
        if count == 0 and products is not None and products.nunique() == 1:
            raise DataValidationError(
                f"the {name} split is empty: every row has the same product id, so the catalogue is one product and "
                "all of it trains. Check that data.group names a column of product ids, one per product (a "
                "spreadsheet may have rounded long ids into one number such as 5.01E+12), or leave data.group out"
            )
        if count == 0 and config.min_class_products <= 1:
            found = f" ({products.nunique()})" if products is not None else ""
            raise DataValidationError(
                f"the {name} split is empty: the catalogue has too few products{found} to hold any out (each is dealt "
                "train, validation or test by a hash of its id). Add products, or try another split.seed: with so few, "
                "the hash may deal none to it."
            )
        if count == 0:
            raise DataValidationError(
                f"the {name} split is empty: every class has fewer than split.min_class_products "
                f"({config.min_class_products}) products, so all of them train, or the catalogue has too few products "
                "for the hash that deals them to give it any. Add products, lower split.min_class_products, or try "
                "another split.seed."
            )


def product_keys(frame: pd.DataFrame) -> pd.Series | pd.DataFrame:
    """What identifies a row's product: its `group` (the product column, or its title's product when the catalogue
    names none; `training.data.clean`), or (a copy of) the whole row in a frame without one (its `source` left
    out: a listing is the same product whichever way it came)."""
    return frame[GROUP] if GROUP in frame.columns else frame.drop(columns=[SOURCE, LISTING], errors="ignore")


def assign_splits(keys: pd.Series | pd.DataFrame, labels: pd.Series, config: SplitConfig) -> np.ndarray:
    """Each row's split (TRAIN, VALIDATION, TEST) as int8: its product's draw, small classes and train floors applied.

    Args:
        keys: The rows' products (`product_keys`).
        labels: The rows' labels.
        config: Fractions, seed and `min_class_products`.
    """
    draws = uniform_hash(keys, "split", config.seed)
    split = draw_splits(draws, config)
    product = product_ids(keys)
    pairs = pd.DataFrame({"product": product, LABEL: labels.to_numpy(), "draw": draws, "split": split})
    pairs = pairs.drop_duplicates(["product", LABEL])
    small = small_classes(pairs.groupby(LABEL, sort=False).size(), config.min_class_products)
    forced = set(pairs.loc[pairs[LABEL].isin(small), "product"])
    pairs.loc[pairs["product"].isin(forced), "split"] = TRAIN
    forced |= train_floor_products(pairs)
    split[pd.Index(product).isin(list(forced))] = TRAIN
    return split


def draw_splits(draws: np.ndarray, config: SplitConfig) -> np.ndarray:
    """The split each draw in [0, 1) falls in: test below test_fraction, then validation, then train."""
    test, validation = config.test_fraction, config.validation_fraction
    return np.where(draws < test, TEST, np.where(draws < test + validation, VALIDATION, TRAIN)).astype(np.int8)


def small_classes(products_per_class: pd.Series, min_products: int) -> set[str]:
    """The classes with fewer than `min_products` products: they train on all of them."""
    return set(products_per_class[products_per_class < min_products].index)


def train_floor_products(pairs: pd.DataFrame) -> set[int]:
    """For each class none of whose products is in train, its highest-drawn product (it then trains).

    Args:
        pairs: Distinct (product, label) pairs with their `draw` and current `split`.
    """
    trained = set(pairs.loc[pairs["split"] == TRAIN, LABEL])
    lacking = pairs[~pairs[LABEL].isin(trained)]
    if lacking.empty:
        return set()
    highest = lacking.sort_values("draw", kind="stable").groupby(LABEL, sort=False).tail(1)
    return set(highest["product"])


def product_ids(keys: pd.Series | pd.DataFrame) -> np.ndarray:
    """Each row's product as a 64-bit id, the same whatever the split seed: what a model records it trained on, so
    another model can be compared with it on rows neither trained on."""
    return hash_values(keys, "product", 0)


def products_named(seen: np.ndarray, products: np.ndarray) -> tuple[int, bool]:
    """How many of the products a model recorded it trained on (`seen`, `product_ids`) a catalogue's `products`
    name, and whether that is under half of them: then the catalogue writes their ids otherwise (zero-padded, or read
    as numbers on the way) or is another one, and the rows the model trained on would count as new to it."""
    named = int(pd.Index(seen).isin(products).sum())
    return named, named * 2 < len(seen)


def catalogue_products(seen: np.ndarray, metadata: dict[str, Any]) -> np.ndarray:
    """The products a model recorded it trained on (`seen`; `metadata` its model's) but those only its corrections
    trained, which no catalogue names, so a round of corrections larger than its catalogue's training products would
    make `products_named` take the same catalogue for another. Where a column names products, each reviewed listing
    it took was a product of its own (`correction:<listing>`); where titles name them, a correction's is its title's,
    and the model records those no catalogue row of its training shared (`CORRECTED_PRODUCTS`; a model trained before
    that record names none, and its corrections count as products)."""
    training = metadata.get("training_data", {})
    listings = training.get(CORRECTED_LISTINGS) or []
    if not listings:
        return seen
    if (training.get("split") or {}).get("group"):
        corrected = product_ids(pd.Series([CORRECTED_PRODUCT + listing for listing in listings], dtype=object))
    else:
        corrected = np.array([int(product) for product in training.get(CORRECTED_PRODUCTS) or []], dtype=np.uint64)
    return seen[~np.isin(seen, corrected)]


def hash_values(keys: pd.Series | pd.DataFrame, purpose: str, seed: int) -> np.ndarray:
    """A 64-bit hash of each row's key (its product, or the whole row without products), a stream per purpose."""
    return pd.util.hash_pandas_object(keys, index=False, hash_key=_hash_key(purpose, seed)).to_numpy()


def uniform_hash(keys: pd.Series | pd.DataFrame, purpose: str, seed: int) -> np.ndarray:
    """Each row's key hash as a number in [0, 1)."""
    return (hash_values(keys, purpose, seed) >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _hash_key(purpose: str, seed: int) -> str:
    """pandas' 16-character hash key, one per purpose and seed."""
    return hashlib.sha256(f"{purpose}:{seed}".encode()).hexdigest()[:16]
