"""Loading, checking, cleaning and splitting a catalogue."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest

from training.columns import GROUP, LABEL
from training.config import DEFAULT_CONFIG_PATH, SplitConfig, load_config
from training.data.clean import prepare_catalogue
from training.data.load import read_catalogue
from training.data.split import check_split_coverage, split_catalogue
from training.data.synthetic import generate_catalogue
from training.exceptions import DataValidationError

if TYPE_CHECKING:
    from pathlib import Path

CONFIG = load_config(DEFAULT_CONFIG_PATH).data


def _catalogue(rows: int = 400) -> pd.DataFrame:
    return generate_catalogue(rows, seed=0).astype({"price": str})


def test_read_catalogue_keeps_ids_as_text(tmp_path: Path):
    path = tmp_path / "c.csv"
    path.write_text("title,seller_id\nphone,007\n")

    assert read_catalogue(path)["seller_id"].tolist() == ["007"]


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "data not found"), ("", "data file is empty"), (b"\xff\xfe\x00bad", "cannot read")],
)
def test_unreadable_files_are_named(tmp_path: Path, content, message):
    path = tmp_path / "c.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)

    with pytest.raises(DataValidationError, match=message):
        read_catalogue(path)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.drop(columns=["seller_id"]), r"missing column 'seller_id' \(input 'seller_id'\)"),
        (lambda f: f.rename(columns={"category": "Category"}), r"missing column 'category' \(target\)"),
        (
            lambda f: f.assign(price=["12.5"] * (len(f) - 1) + ["cheap"]),
            r"column 'price' must be numeric, found 'cheap'",
        ),
        (lambda f: f.assign(price="-3"), "column 'price' must be ≥ 0"),
        (lambda f: f.assign(category="TVs"), r"the target has 1 class\(es\)"),
        (lambda f: f.head(0), "no rows"),
    ],
)
def test_bad_catalogues_fail_with_a_specific_message(mutate, message):
    with pytest.raises(DataValidationError, match=message):
        prepare_catalogue(mutate(_catalogue()), CONFIG, source="test.csv")


def test_cleaning_fills_missing_strings_drops_unlabelled_empty_and_duplicate_rows():
    raw = _catalogue(50)
    raw.loc[0, "seller_id"] = np.nan
    raw.loc[1, "category"] = np.nan
    raw.loc[2, "title"] = "   "
    raw.loc[3, "price"] = np.nan
    raw = pd.concat([raw, raw.iloc[[10]]], ignore_index=True)

    frame = prepare_catalogue(raw, CONFIG)

    assert len(frame) == 50 - 2
    assert frame.loc[0, "seller_id"] == ""
    assert np.isnan(frame["price"]).sum() >= 1
    assert frame["price"].dtype == np.float32
    assert set(frame.columns) == {"title", "seller_id", "brand", "price", LABEL, GROUP}


def test_grouped_split_never_shares_a_product_and_covers_every_class():
    frame = prepare_catalogue(_catalogue(3_000), CONFIG)

    splits = split_catalogue(frame, SplitConfig())

    groups = [set(part[GROUP]) for part in (splits.train, splits.validation, splits.test)]
    assert not groups[0] & groups[1]
    assert not groups[0] & groups[2]
    assert not groups[1] & groups[2]
    assert sum(map(len, (splits.train, splits.validation, splits.test))) == len(frame)
    for part in (splits.validation, splits.test):
        assert set(part[LABEL]) == set(frame[LABEL])
    assert 0.15 < len(splits.test) / len(frame) < 0.25


def test_stratified_split_without_groups():
    frame = prepare_catalogue(_catalogue(1_000), CONFIG).drop(columns=[GROUP])

    splits = split_catalogue(frame, SplitConfig())

    assert set(splits.test[LABEL]) == set(frame[LABEL])
    assert len(splits.test) == 200


@pytest.mark.parametrize("grouped", [True, False])
def test_more_classes_than_held_out_products_still_split_every_class_three_ways(grouped):
    # GIVEN 600 classes of 8 products (2 rows each): 10 % of the products is fewer than the classes
    products = np.arange(4_800)
    frame = pd.DataFrame({LABEL: np.repeat([f"leaf {i % 600}" for i in products], 2), GROUP: np.repeat(products, 2)})
    if not grouped:
        frame = frame.drop(columns=[GROUP])

    splits = split_catalogue(frame, SplitConfig())

    for part in (splits.train, splits.validation, splits.test):
        assert part[LABEL].nunique() == 600
    assert sum(map(len, (splits.train, splits.validation, splits.test))) == len(frame)
    if grouped:
        assert not set(splits.train[GROUP]) & set(splits.test[GROUP])


def test_a_class_too_small_to_split_is_named():
    frame = prepare_catalogue(_catalogue(1_000), CONFIG)
    frame.loc[frame.index[:3], LABEL] = "Typewriters"

    with pytest.raises(DataValidationError, match="class 'Typewriters' has 3 rows"):
        split_catalogue(frame, SplitConfig())


@pytest.mark.parametrize(
    ("grouped", "message"),
    [
        (True, "class 'TVs' has no rows in the validation split: it has too few products for a 30% holdout"),
        (False, "class 'TVs' has no rows in the validation split: it has too few rows for a 30% holdout"),
    ],
)
def test_a_class_missing_from_a_split_is_named(grouped, message):
    present = {"train": {"TVs", "Fridges"}, "validation": {"Fridges"}, "test": {"TVs", "Fridges"}}

    with pytest.raises(DataValidationError, match=message):
        check_split_coverage({"TVs", "Fridges"}, present, grouped=grouped, holdout=0.3)
