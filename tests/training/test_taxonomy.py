"""The synthetic taxonomy: path labels over three levels, the hard cases a real catalogue has, any size."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from training.data.taxonomy import MIN_PRODUCTS, PATH_SEPARATOR, build_taxonomy, generate_taxonomy_catalogue


@pytest.mark.parametrize("leaves", [10, 100, 1_000, 5_000])
def test_every_leaf_is_a_distinct_three_level_path(leaves):
    paths = build_taxonomy(leaves, seed=1).paths

    assert len(set(paths)) == leaves
    assert all(len(path.split(PATH_SEPARATOR)) == 3 for path in paths)


def test_the_same_seed_gives_the_same_catalogue_and_another_seed_another():
    assert generate_taxonomy_catalogue(2_000, 30, seed=3).equals(generate_taxonomy_catalogue(2_000, 30, seed=3))
    assert not generate_taxonomy_catalogue(2_000, 30, seed=3).equals(generate_taxonomy_catalogue(2_000, 30, seed=4))


def test_every_leaf_has_a_handful_of_products_and_the_tail_is_long():
    frame = generate_taxonomy_catalogue(40_000, 500, seed=2)
    products = frame.groupby("category")["product_id"].nunique()

    assert len(products) == 500
    assert products.min() >= MIN_PRODUCTS
    assert products.max() > 20 * products.median()


def test_a_fifth_of_titles_name_only_the_parent_category():
    frame = generate_taxonomy_catalogue(20_000, 100, seed=5)
    taxonomy = build_taxonomy(100, seed=5)
    leaf_words = {path: set(taxonomy.leaf_words[i]) for i, path in enumerate(taxonomy.paths)}

    names_leaf = [
        bool(leaf_words[label] & set(title.split())) for title, label in zip(frame.title, frame.category, strict=True)
    ]

    assert 0.17 < 1 - sum(names_leaf) / len(names_leaf) < 0.23


def test_labels_survive_a_csv_round_trip():
    frame = generate_taxonomy_catalogue(5_000, 2_000, seed=0)

    read = pd.read_csv(io.StringIO(frame.to_csv(index=False)))

    assert read["category"].notna().all()
    assert set(read["category"]) == set(frame["category"])
