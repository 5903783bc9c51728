"""Small classes: the policy a team chooses (train, parent, drop), planned from products per class."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from training.columns import GROUP, LABEL
from training.config import DEFAULT_CONFIG_PATH, SplitConfig, load_config
from training.data.load import load_catalogue
from training.data.report import build_report
from training.data.synthetic import generate_catalogue
from training.data.tail import apply_plan, plan_small_classes, products_per_class

SEPARATOR = " > "


def _frame(sizes: dict[str, int]) -> pd.DataFrame:
    """One row per product, `sizes[label]` products per label."""
    labels = [label for label, n in sizes.items() for _ in range(n)]
    return pd.DataFrame({LABEL: labels, GROUP: [f"p{i}" for i in range(len(labels))]})


SIZES = {
    "Pets > Cats > Cat Food": 40,
    "Pets > Cats > Cat Treats": 2,
    "Pets > Cats > Cat Toys": 3,
    "Pets > Birds > Bird Toys": 1,
    "Pets > Birds > Bird Food": 3,
    "Tools > Planes": 30,
    "Tools > Pliers": 4,
}


def test_products_per_class_counts_products_not_rows():
    frame = pd.DataFrame({LABEL: ["a", "a", "a", "b"], GROUP: ["p1", "p1", "p2", "p3"]})

    assert products_per_class(frame).to_dict() == {"a": 2, "b": 1}
    assert products_per_class(frame.drop(columns=[GROUP])).to_dict() == {"a": 3, "b": 1}


def test_train_keeps_every_class_and_counts_the_small_ones():
    plan = plan_small_classes(pd.Series(SIZES), SplitConfig(small_classes="train"), SEPARATOR)

    assert (plan.small, plan.train_only, plan.folded, plan.dropped) == (5, 5, {}, ())
    assert apply_plan(_frame(SIZES), plan)[LABEL].nunique() == len(SIZES)
    assert "5 classes have fewer than 5 products" in plan.describe()
    none = plan_small_classes(pd.Series({"a": 5, "b": 9}), SplitConfig(small_classes="train"), SEPARATOR)
    assert none.describe() == "Every class has at least 5 products"


def test_parent_folds_small_leaves_into_their_parent_until_it_is_large_enough():
    # GIVEN two small cat leaves (2 + 3 products) beside a large one, two small bird leaves (1 + 3) and a small tool
    plan = plan_small_classes(pd.Series(SIZES), SplitConfig(small_classes="parent"), SEPARATOR)

    # THEN the small leaves become their parent; "Pets > Birds" (4 products) is still small and folds into "Pets"
    assert plan.folded == {
        "Pets > Cats > Cat Treats": "Pets > Cats",
        "Pets > Cats > Cat Toys": "Pets > Cats",
        "Pets > Birds > Bird Toys": "Pets",
        "Pets > Birds > Bird Food": "Pets",
        "Tools > Pliers": "Tools",
    }
    relabelled = apply_plan(_frame(SIZES), plan)
    assert set(relabelled[LABEL]) == {"Pets > Cats > Cat Food", "Pets > Cats", "Pets", "Tools > Planes", "Tools"}
    assert len(relabelled) == sum(SIZES.values())
    # a department is never folded further: "Pets" (4) trains as a small class, and so does "Tools" (4)
    assert plan.train_only == 2


def test_a_small_class_the_folded_ones_make_large_is_counted_in_the_summary():
    # GIVEN a small parent class (2 products) whose small children (3 + 3) fold into it
    sizes = {"Pets > Cats": 2, "Pets > Cats > Cat Toys": 3, "Pets > Cats > Cat Food": 3, "Tools": 9}

    plan = plan_small_classes(pd.Series(sizes), SplitConfig(small_classes="parent"), SEPARATOR)

    # THEN the summary accounts for every small class: two folded, one grown large with them, none left small
    assert plan.describe() == (
        "3 classes have fewer than 5 products (split.small_classes: parent): 2 folded into their parent category; "
        "1 reached it with the classes folded into them; 0 train on all their rows (learnt, not evaluated)"
    )


def test_parent_without_path_labels_keeps_small_classes_in_train():
    plan = plan_small_classes(pd.Series({"TVs": 40, "Typewriters": 2}), SplitConfig(small_classes="parent"), None)

    assert plan.folded == {}
    assert plan.train_only == 1


def test_drop_leaves_small_classes_out_and_counts_them():
    plan = plan_small_classes(pd.Series(SIZES), SplitConfig(small_classes="drop"), SEPARATOR)

    kept = apply_plan(_frame(SIZES), plan)

    assert set(kept[LABEL]) == {"Pets > Cats > Cat Food", "Tools > Planes"}
    assert plan.to_dict()["dropped"] == 5
    assert plan.describe().endswith("5 dropped from the run")


@pytest.mark.parametrize("minimum", [1, 2, 41])
def test_the_threshold_is_the_configs(minimum):
    plan = plan_small_classes(pd.Series(SIZES), SplitConfig(min_class_products=minimum), SEPARATOR)

    assert plan.small == sum(1 for n in SIZES.values() if n < minimum)


def test_a_product_filed_under_two_folded_siblings_trains_once_and_is_counted_as_a_copy(tmp_path):
    # GIVEN path labels, and one listing filed twice: under two small siblings of a large class
    base = load_config(DEFAULT_CONFIG_PATH)
    config = replace(
        base,
        data=replace(base.data, path_separator=SEPARATOR),
        split=replace(base.split, small_classes="parent"),
    )
    frame = generate_catalogue(400, seed=5).assign(category=lambda f: "Home > " + f["category"])
    assert frame.loc[0, "category"] != "Home > TVs"
    twice = frame.iloc[[0, 0]].assign(category=["Home > TVs > Tiny A", "Home > TVs > Tiny B"])
    data = tmp_path / "catalogue.csv"
    pd.concat([frame, twice], ignore_index=True).to_csv(data, index=False)

    # WHEN it is loaded for training, and reported on
    loaded = load_catalogue(config, str(data))
    report = build_report(pd.read_csv(data, dtype=str), config.data, source="x", split=config.split)

    # THEN both fold into "Home > TVs" as one row (no copy of a row trains twice), and the copy is counted
    folded = loaded.frame[loaded.frame["title"] == frame.loc[0, "title"]]
    assert (folded[LABEL] == "Home > TVs").sum() == 1
    assert not loaded.frame.duplicated().any()
    assert report.dropped["duplicates"] == 1
    assert report.duplicate_rows == 0  # the file repeats no row: no problem for data.strict to fail on
    assert report.rows_out == len(loaded.frame)
