"""A seeded synthetic product catalogue, the default training data on a machine without a real one.

It mimics a marketplace feed: products (the split's groups) offered by many sellers under noisy title
variants. The category is learnable from title words, brand, seller and price, but not trivially: a third
of titles omit the product noun, brands span several categories, and attributes are shared across
categories.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

N_SELLERS = 8_000
# category → subcategory → (product nouns, typical price)
TAXONOMY: dict[str, dict[str, tuple[tuple[str, ...], float]]] = {
    "Laptops": {
        "Ultrabooks": (("ultrabook", "thin laptop", "notebook"), 1100.0),
        "Gaming Laptops": (("gaming laptop", "gaming notebook"), 1500.0),
        "Chromebooks": (("chromebook", "laptop"), 350.0),
    },
    "Mobile Phones": {
        "Smartphones": (("smartphone", "mobile phone", "5g phone"), 700.0),
        "Feature Phones": (("mobile phone", "senior phone", "flip phone"), 60.0),
    },
    "TVs": {
        "OLED TVs": (("oled tv", "smart tv", "television"), 1600.0),
        "LED TVs": (("led tv", "smart tv", "tv"), 450.0),
    },
    "Headphones": {
        "Wireless Earbuds": (("earbuds", "true wireless earphones", "in-ear headphones"), 120.0),
        "Over-Ear": (("headphones", "over-ear headset", "noise cancelling headphones"), 250.0),
    },
    "Digital Cameras": {
        "Mirrorless": (("mirrorless camera", "system camera", "camera body"), 1200.0),
        "Compact": (("compact camera", "digital camera"), 300.0),
    },
    "Fridges": {
        "Fridge Freezers": (("fridge freezer", "combi fridge"), 650.0),
        "Larder Fridges": (("larder fridge", "fridge"), 400.0),
    },
    "Washing Machines": {
        "Front Loaders": (("washing machine", "front loader washer"), 450.0),
        "Washer Dryers": (("washer dryer", "washing machine"), 650.0),
    },
    "Coffee Machines": {
        "Espresso": (("espresso machine", "coffee machine"), 350.0),
        "Pod Machines": (("pod coffee maker", "capsule machine"), 90.0),
    },
    "Vacuum Cleaners": {
        "Cordless": (("cordless vacuum", "stick vacuum cleaner"), 300.0),
        "Robot": (("robot vacuum", "robot hoover"), 400.0),
    },
    "Smartwatches": {
        "Fitness Trackers": (("fitness tracker", "activity band"), 80.0),
        "Smartwatches": (("smartwatch", "smart watch", "gps watch"), 300.0),
    },
}
BRANDS = tuple(
    [
        "acme",
        "nordvik",
        "kaito",
        "veltra",
        "sunhaus",
        "orbis",
        "meridian",
        "zentek",
        "lumio",
        "harlow",
        "quanta",
        "brio",
        "solace",
        "falken",
        "takumi",
        "vireo",
        "castell",
        "novaro",
        "pentra",
        "rivale",
        "ostara",
        "kinsei",
        "bellmar",
        "dyvo",
        "auren",
        "fjell",
        "marlo",
        "corvid",
        "helix",
        "tessar",
        "ombra",
        "lyric",
        "strata",
        "vanto",
        "kestrel",
        "ardent",
        "miravo",
        "sable",
        "tundra",
    ]
)
# Words that appear in titles of several categories, so no single word gives the answer away.
SHARED_ATTRIBUTES = (
    "black", "white", "silver", "grey", "smart", "wifi", "bluetooth", "128gb", "256gb", "pro", "plus", "max",
    "mini", "2024", "2025", "new", "eco", "a++", "quiet", "inch", "hd", "stainless steel",
)  # fmt: skip
NOISE = ("uk model", "free delivery", "official", "warranty", "in stock", "sale", "", "", "", "")


@dataclass(frozen=True)
class _World:
    """What every offer is drawn from: the products (subcategory, category, brand, model code, base price)."""

    sub: np.ndarray
    cat: np.ndarray
    brand: np.ndarray
    model: np.ndarray
    base_price: np.ndarray


SUBCATEGORIES = [(cat, sub, nouns, price) for cat, subs in TAXONOMY.items() for sub, (nouns, price) in subs.items()]


def generate_catalogue(rows: int = 10_000, *, seed: int = 0) -> pd.DataFrame:
    """Generate a synthetic catalogue.

    Args:
        rows: Number of offers (rows); handles millions.
        seed: Seed of the random generator; the same seed gives the same frame.

    Returns:
        A frame with product_id, title, seller_id, brand, subcategory, price and category columns.
    """
    rng = np.random.default_rng(seed)
    return _offers(_world(rows, rng), rows, rng, seller_home=None)


def generate_partition(index: int, rows: int, *, total_rows: int, seed: int) -> pd.DataFrame:
    """Partition `index` (of `rows` offers) of a synthetic catalogue of `total_rows`, generated on its own.

    Every partition draws its offers from the same world — products, brands per category, sellers' home
    categories, all drawn from `seed` — so the partitions together follow the distribution of
    `generate_catalogue(total_rows, seed=seed)` (not its exact rows); only the offers differ per partition.
    """
    world = _world(total_rows, np.random.default_rng(seed))
    seller_home = np.random.default_rng([seed, 1]).integers(len(TAXONOMY), size=N_SELLERS)
    return _offers(world, rows, np.random.default_rng([seed, 2, index]), seller_home=seller_home)


def _world(total_rows: int, rng: np.random.Generator) -> _World:
    """Products: a subcategory, a brand from the few brands selling in its category, a model code, a price."""
    n_products = max(total_rows // 4, min(total_rows, 20))
    product_sub = rng.integers(len(SUBCATEGORIES), size=n_products)
    category_index = {cat: i for i, cat in enumerate(TAXONOMY)}
    product_cat = np.array([category_index[SUBCATEGORIES[s][0]] for s in range(len(SUBCATEGORIES))])[product_sub]
    brands_per_category = rng.integers(len(BRANDS), size=(len(TAXONOMY), 8))
    product_brand = brands_per_category[product_cat, rng.integers(8, size=n_products)]
    product_model = np.char.add(
        np.array(list("abcdefghkmnprstvxz"))[rng.integers(18, size=n_products)],
        rng.integers(10, 9999, size=n_products).astype(str),
    )
    base_price = np.array([s[3] for s in SUBCATEGORIES])[product_sub] * rng.lognormal(0, 0.45, size=n_products)
    return _World(product_sub, product_cat, product_brand, product_model, base_price)


def offered_products(rng: np.random.Generator, n_products: int, rows: int) -> np.ndarray:
    """Which product each offer is of: 70 % uniformly, 30 % by a power law of popularity (1 / rank^0.8).

    The law is spread over all products, so popular products get tens of offers but none a large share of the
    catalogue (a Zipf draw of ranks gave product 0 about 13 % of all rows: one product then made up a third
    of a test split and decided its macro-F1).
    """
    weights = 1.0 / np.arange(1, n_products + 1) ** 0.8
    popular = rng.choice(n_products, size=rows, p=weights / weights.sum())
    return np.where(rng.random(rows) < 0.7, rng.integers(n_products, size=rows), popular)


def _offers(world: _World, rows: int, rng: np.random.Generator, *, seller_home: np.ndarray | None) -> pd.DataFrame:
    """Offers: popular products get more offers; sellers lean to a few categories (`seller_home`, drawn here
    when None)."""
    product = offered_products(rng, len(world.sub), rows)
    if seller_home is None:
        seller_home = rng.integers(len(TAXONOMY), size=N_SELLERS)
    seller = rng.integers(N_SELLERS, size=rows)
    specialist = rng.random(rows) < 0.5
    same_category = seller_home[seller] == world.cat[product]
    seller = np.where(specialist & ~same_category, rng.integers(N_SELLERS, size=rows), seller)

    sub = world.sub[product]
    noun_choice = rng.integers(3, size=rows)
    nouns = np.array([SUBCATEGORIES[s][2][c % len(SUBCATEGORIES[s][2])] for s, c in zip(sub, noun_choice, strict=True)])
    nouns = np.where(rng.random(rows) < 0.33, "", nouns)
    attributes = np.array(SHARED_ATTRIBUTES)[rng.integers(len(SHARED_ATTRIBUTES), size=(rows, 2))]
    noise = np.array(NOISE)[rng.integers(len(NOISE), size=rows)]
    brand = np.array(BRANDS)[world.brand[product]]
    title = pd.Series(brand, dtype=object)
    for part in (nouns, world.model[product], attributes[:, 0], attributes[:, 1], noise):
        title = title + " " + pd.Series(part, dtype=object)
    title = title.str.split().str.join(" ")

    price = np.round(world.base_price[product] * rng.lognormal(0, 0.12, size=rows), 2)
    price = np.where(rng.random(rows) < 0.03, np.nan, price)
    return pd.DataFrame(
        {
            "product_id": product.astype(str),
            "title": title,
            "seller_id": np.char.add("s", seller.astype(str)),
            "brand": np.where(rng.random(rows) < 0.05, "", brand),
            "subcategory": [SUBCATEGORIES[s][1] for s in sub],
            "price": price,
            "category": [SUBCATEGORIES[s][0] for s in sub],
        }
    )
