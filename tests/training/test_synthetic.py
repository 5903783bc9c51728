"""The synthetic catalogue: reproducible, realistic in shape, learnable but not trivial."""

from __future__ import annotations

from training.data.synthetic import generate_catalogue


def test_same_seed_same_catalogue_other_seed_other_catalogue():
    first = generate_catalogue(500, seed=3)

    assert first.equals(generate_catalogue(500, seed=3))
    assert not first.equals(generate_catalogue(500, seed=4))


def test_default_size_has_the_cardinalities_of_a_real_feed():
    catalogue = generate_catalogue(10_000, seed=0)

    assert len(catalogue) == 10_000
    assert list(catalogue.columns) == ["product_id", "title", "seller_id", "brand", "subcategory", "price", "category"]
    assert catalogue["seller_id"].nunique() >= 5_000
    assert 35 <= catalogue["brand"].replace("", None).nunique() <= 45
    assert catalogue["category"].nunique() == 10
    assert catalogue["subcategory"].nunique() > catalogue["category"].nunique()
    assert catalogue["price"].isna().mean() < 0.1
    assert catalogue["price"].min() > 0
    assert catalogue.groupby("product_id")["category"].nunique().max() == 1


def test_titles_do_not_name_the_category():
    catalogue = generate_catalogue(2_000, seed=0)

    leaked = [(t, c) for t, c in zip(catalogue["title"], catalogue["category"], strict=True) if c.lower() in t]
    assert len(leaked) < 0.05 * len(catalogue)
