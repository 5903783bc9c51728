"""A seeded synthetic catalogue with a real taxonomy: three levels, any number of leaves (10 to 5,000+).

Real shops file listings into hundreds to thousands of leaf categories. This generator gives each leaf the
hard cases such taxonomies have, so a model can be measured at that scale (`make train ROWS= CATEGORIES=`):

- labels are paths, "Department > Category > Leaf" (`data.path_separator: " > "`);
- each leaf has head words of its own, each category and department words shared by their children, and
  20 % of titles name only the parent category, never the leaf;
- siblings under one category overlap in words: a price level per leaf and brands that sell in a few sibling
  leaves tell them apart;
- leaf popularity follows a power law, so the tail has leaves with a handful of products.

Names are pronounceable nonsense built from syllables, deterministic in the seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.data.synthetic import offered_products
from training.exceptions import DataValidationError

PATH_SEPARATOR = " > "
SYLLABLES = tuple(c + v for c in "bdfgklmnprstvz" for v in "aeiou")
N_SELLERS = 8_000
N_BRANDS = 600
PARENT_ONLY_SHARE = 0.2
CATEGORY_BRANDS = 6
WORD_SYLLABLES = 4
# The smallest leaves: enough products that a grouped split leaves some in train, validation and test.
MIN_PRODUCTS = 8
# Offers of each of those products (when the rows allow): the rarest leaf then has 16 rows, above the split's 10.
FLOOR_OFFERS = 2
# Spellings CSV readers take for a missing value ("None" as a leaf name would vanish from a written file).
NOT_WORDS = frozenset({"none"})
NOISE = ("new", "sale", "official", "uk", "2025", "black", "white", "pro", "plus", "", "", "")


@dataclass(frozen=True)
class Taxonomy:
    """Leaves with their category and department, their words, price level and popularity."""

    paths: list[str]
    leaf_words: np.ndarray  # (leaves, 2) head words of each leaf
    category_word: np.ndarray  # (leaves,) the word of the leaf's category (shared by its siblings)
    department_word: np.ndarray  # (leaves,) the word of the leaf's department
    price: np.ndarray  # (leaves,) typical price
    popularity: np.ndarray  # (leaves,) probability of a product being in the leaf
    brands: np.ndarray  # (leaves, 4) the brands that sell in the leaf


def build_taxonomy(leaves: int, *, seed: int) -> Taxonomy:
    """A three-level tree of `leaves` leaves: about ∛leaves departments and categories per department."""
    if leaves < 2:
        raise DataValidationError(f"CATEGORIES must be at least 2 (a taxonomy needs two leaves), got {leaves}")
    rng = np.random.default_rng([seed, 7])
    fanout = max(2, round(leaves ** (1 / 3)))
    departments = fanout
    categories = max(departments, min(leaves, fanout * fanout))
    words = _unique_words(rng, leaves * 2 + categories + departments)
    category_of_leaf = np.arange(leaves) % categories
    department_of_category = np.arange(categories) % departments
    leaf_words = words[: leaves * 2].reshape(leaves, 2)
    category_words = words[leaves * 2 : leaves * 2 + categories]
    department_words = words[leaves * 2 + categories :]
    department_of_leaf = department_of_category[category_of_leaf]
    paths = [
        PATH_SEPARATOR.join(
            (department_words[department_of_leaf[i]].title(), category_words[category_of_leaf[i]].title(),
             leaf_words[i, 0].title())
        )
        for i in range(leaves)
    ]  # fmt: skip
    # Siblings share words; a price level per leaf (spread over two orders of magnitude) tells many apart.
    price = np.round(np.exp(rng.uniform(math.log(8), math.log(2500), size=leaves)), 2)
    popularity = 1.0 / np.arange(1, leaves + 1) ** 0.8
    popularity = rng.permutation(popularity / popularity.sum())
    # Brands belong to a category and sell in several of its leaves: a brand narrows a title down to a few
    # siblings, never to one leaf on its own.
    category_brands = rng.integers(N_BRANDS, size=(categories, CATEGORY_BRANDS))
    picks = np.argsort(rng.random((leaves, CATEGORY_BRANDS)), axis=1)[:, :4]
    brands = np.take_along_axis(category_brands[category_of_leaf], picks, axis=1)
    return Taxonomy(
        paths, leaf_words, category_words[category_of_leaf], department_words[department_of_leaf], price, popularity,
        brands,
    )  # fmt: skip


@dataclass(frozen=True)
class _Products:
    """What every offer is drawn from: each product's leaf, brand, model code and base price."""

    leaf: np.ndarray
    brand: np.ndarray
    model_code: np.ndarray
    base_price: np.ndarray
    # The first `floor` products cover every leaf MIN_PRODUCTS times; offer number i < FLOOR_OFFERS × floor is of
    # product i mod floor.
    floor: int


def generate_taxonomy_catalogue(rows: int, categories: int, *, seed: int = 0) -> pd.DataFrame:
    """Offers of products in a `categories`-leaf taxonomy; columns as the default synthetic catalogue's.

    Returns:
        A frame with product_id, title, seller_id, brand, price and category (the leaf's path) columns.
    """
    taxonomy = build_taxonomy(categories, seed=seed)
    rng = np.random.default_rng([seed, 8])
    return _offers(taxonomy, _products(taxonomy, rows, rng), rows, rng, first_offer=0)


def generate_taxonomy_partition(index: int, rows: int, *, first_offer: int, total_rows: int, categories: int,
                                seed: int) -> pd.DataFrame:  # fmt: skip
    """Partition `index` (offers `first_offer` … `first_offer + rows - 1`) of a taxonomy catalogue of
    `total_rows`, generated on its own, as the Dask engine's workers do.

    Every partition draws its offers from the same taxonomy and products, all drawn from `seed` exactly as
    `generate_taxonomy_catalogue(total_rows, categories, seed=seed)` draws them, so the partitions together
    follow its distribution and keep its floor (every leaf's first products offered at least once); only the
    offers themselves differ, drawn from the partition's own seed.
    """
    taxonomy = build_taxonomy(categories, seed=seed)
    products = _products(taxonomy, total_rows, np.random.default_rng([seed, 8]))
    return _offers(taxonomy, products, rows, np.random.default_rng([seed, 9, index]), first_offer=first_offer)


def _products(taxonomy: Taxonomy, total_rows: int, rng: np.random.Generator) -> _Products:
    """Products for a catalogue of `total_rows` offers: a quarter as many, and at least a handful per leaf."""
    categories = len(taxonomy.paths)
    n_products = max(total_rows // 4, min(total_rows, MIN_PRODUCTS * categories))
    leaf = rng.choice(categories, size=n_products, p=taxonomy.popularity)
    floor = min(n_products, MIN_PRODUCTS * categories)
    leaf[:floor] = np.arange(floor) % categories  # the rarest leaf still has a handful of products to split
    brand = taxonomy.brands[leaf, rng.integers(4, size=n_products)]
    prefix = np.array(SYLLABLES)[rng.integers(len(SYLLABLES), size=n_products)]
    model_code = np.char.add(prefix, rng.integers(10, 999, size=n_products).astype(str))
    base_price = taxonomy.price[leaf] * rng.lognormal(0, 0.25, size=n_products)
    return _Products(leaf, brand, model_code, base_price, floor)


def _offers(
    taxonomy: Taxonomy, products: _Products, rows: int, rng: np.random.Generator, *, first_offer: int
) -> pd.DataFrame:
    """`rows` offers numbered from `first_offer`: titles that name the leaf or only its parent, sellers, prices."""
    product = offered_products(rng, len(products.leaf), rows)
    # Offer number i < FLOOR_OFFERS × floor is of floor product i mod floor: each at least FLOOR_OFFERS offers.
    forced = np.arange(first_offer, min(first_offer + rows, FLOOR_OFFERS * products.floor))
    product[: len(forced)] = forced % products.floor
    offer_leaf = products.leaf[product]
    parent_only = rng.random(rows) < PARENT_ONLY_SHARE
    head = np.where(
        parent_only, taxonomy.category_word[offer_leaf], taxonomy.leaf_words[offer_leaf, rng.integers(2, size=rows)]
    )
    context = np.where(rng.random(rows) < 0.5, taxonomy.category_word[offer_leaf], taxonomy.department_word[offer_leaf])
    context = np.where(parent_only, taxonomy.department_word[offer_leaf], context)
    brand_name = np.char.add("brand", products.brand[product].astype(str))
    noise = np.array(NOISE)[rng.integers(len(NOISE), size=(rows, 2))]
    title = pd.Series(brand_name, dtype=object)
    for part in (head, products.model_code[product], context, noise[:, 0], noise[:, 1]):
        title = title + " " + pd.Series(part, dtype=object)
    price = np.round(products.base_price[product] * rng.lognormal(0, 0.1, size=rows), 2)
    return pd.DataFrame(
        {
            "product_id": product.astype(str),
            "title": title.str.split().str.join(" "),
            "seller_id": np.char.add("s", rng.integers(N_SELLERS, size=rows).astype(str)),
            "brand": np.where(rng.random(rows) < 0.05, "", brand_name),
            "price": np.where(rng.random(rows) < 0.03, np.nan, price),
            "category": np.array(taxonomy.paths, dtype=object)[offer_leaf],
        }
    )


def _unique_words(rng: np.random.Generator, count: int) -> np.ndarray:
    """`count` distinct pseudo-words of four syllables.

    Shorter words made sibling leaves one or two letters apart ("Zula", "Zota"), which the data report rightly
    took for typos of one label.
    """
    words: dict[str, None] = {}
    while len(words) < count:
        for _ in range(count):
            word = "".join(rng.choice(SYLLABLES, size=WORD_SYLLABLES))
            if word not in NOT_WORDS:
                words.setdefault(word, None)
            if len(words) == count:
                break
    return np.array(list(words), dtype=object)
