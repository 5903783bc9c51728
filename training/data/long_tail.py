"""A seeded catalogue labelled with a real taxonomy's tree and names, and a real catalogue's long tail.

`make train TAXONOMY=…` trains on it. The taxonomy is one of:

- `google`: Google's product taxonomy (`taxonomy-with-ids.en-US.txt`, 5,595 nodes), which its licence does not let
  this repository ship: download it into data/taxonomies/ (data/README.md says how);
- `google-shape`: a taxonomy generated offline with that taxonomy's shape: 21 departments, the same number of nodes
  and of inner nodes at each depth (leaves at depths 2 to 7), fan-outs from 1 to dozens, child names that share a
  word with their parent about half the time ("Cat Supplies" > "Cat Food" > "Prescription Cat Food"), and a few
  siblings a letter apart ("Planes", "Planers");
- a path to a taxonomy file: one category path per line, `A > B > C`, optionally after an id (`123 - A > B`, Google's
  format, or `gid://… : A > B`, Shopify's).

The catalogue's classes are the taxonomy's leaves and a quarter of its inner nodes below the departments (real
catalogues file products at inner nodes too), or `categories` of them. Class sizes are log-normal: a long tail of
classes with one to four products beside a few with thousands, as real exports have (about a quarter of the
classes under five products). Titles carry the class's own words (or, for a fifth, only its parent's), a brand that
sells in the sibling classes, a model code and noise; prices follow a level per class.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from training.config import PROJECT_ROOT
from training.data.label_checks import ID_PREFIX, label_key
from training.data.synthetic import offered_products
from training.data.taxonomy import NOISE, PATH_SEPARATOR, SYLLABLES
from training.exceptions import DataValidationError

# Where `google` is looked for: data/README.md says how to put it there.
TAXONOMY_PLACES = (PROJECT_ROOT / "data" / "taxonomies" / "taxonomy-with-ids.en-US.txt",)
GOOGLE_URL = "https://www.google.com/basepages/producttype/taxonomy-with-ids.en-US.txt"


@dataclass(frozen=True)
class TaxonomyShape:
    """A taxonomy's shape: nodes and inner nodes (those with children) per depth, department first."""

    nodes: tuple[int, ...]
    inner: tuple[int, ...]


# Google's product taxonomy (version 2021-09-21), counted from the file.
GOOGLE_SHAPE = TaxonomyShape(nodes=(21, 192, 1349, 2203, 1385, 397, 48), inner=(21, 140, 334, 275, 88, 18, 0))
SHAPES = {"google-shape": GOOGLE_SHAPE}
# Share of inner nodes (below the departments) that are classes of their own.
INNER_CLASS_SHARE = 0.25
# How often a child's name shares its parent's topic word, and how often a sibling is a near spelling of another.
SHARED_WORD_SHARE = 0.53
NEAR_SPELLING_SHARE = 0.01
# Class sizes: log-normal weights of this spread; offers per product about ROWS_PER_PRODUCT.
CLASS_SIZE_SIGMA = 1.05
ROWS_PER_PRODUCT = 2.5
PARENT_ONLY_SHARE = 0.2
N_SELLERS = 8_000
N_BRANDS = 3_000
BRANDS_PER_PARENT = 6


def taxonomy_paths(name_or_path: str, *, seed: int) -> list[str]:
    """The category paths of `TAXONOMY`: google, google-shape or a file (see the module docstring).

    Raises:
        DataValidationError: `google` is not downloaded, or the file is missing or holds no paths.
    """
    if name_or_path in SHAPES:
        return generate_shaped_paths(SHAPES[name_or_path], seed=seed)
    if name_or_path == "google":
        place = next((path for path in TAXONOMY_PLACES if path.exists()), None)
        if place is None:
            raise DataValidationError(
                f"TAXONOMY=google needs Google's taxonomy file at {TAXONOMY_PLACES[0]}: download {GOOGLE_URL} there "
                "(its licence keeps it out of this repository), or use TAXONOMY=google-shape (the same shape, "
                "generated offline)"
            )
        return read_taxonomy_file(place)
    return read_taxonomy_file(Path(name_or_path))


def taxonomy_name(name_or_path: str) -> str:
    """How a run names its taxonomy: google, google-shape or the file's name (never the trainer's folders)."""
    return name_or_path if name_or_path in SHAPES or name_or_path == "google" else Path(name_or_path).name


def read_taxonomy_file(path: Path) -> list[str]:
    """Every category path of a taxonomy file, joined with " > " (ids and comment lines left out).

    Raises:
        DataValidationError: The file is missing or holds no paths.
    """
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DataValidationError(
            f"TAXONOMY: cannot read {path} ({exc.strerror}); name google, google-shape or a taxonomy file"
        ) from exc
    except UnicodeDecodeError as exc:
        raise DataValidationError(f"TAXONOMY: {path} is not UTF-8 text; save it as UTF-8") from exc
    written = [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
    paths = []
    for line in written:
        levels = [level.strip() for level in ID_PREFIX.sub("", line).split(">")]
        if all(levels):
            paths.append(PATH_SEPARATOR.join(levels))
    # A taxonomy's lines are nearly all paths below a few departments; a config's (even one naming ' > ' as its
    # path separator) are not, and would train as categories.
    deep = sum(PATH_SEPARATOR in found for found in paths)
    if deep * 2 < len(written):
        raise DataValidationError(
            f"TAXONOMY: {path} is no taxonomy: only {deep} of its {len(written)} lines are category paths (one "
            "`A > B > C` per line)"
        )
    return list(dict.fromkeys(paths))


def generate_shaped_paths(shape: TaxonomyShape, *, seed: int) -> list[str]:
    """A taxonomy of `shape` with generated names, parents before children (see the module docstring)."""
    rng = np.random.default_rng([seed, 31])
    words = _Words(rng)
    names = [words.name(None, set()) for _ in range(shape.nodes[0])]
    paths = list(names)
    level = [(path, name) for path, name in zip(paths, names, strict=True)]
    for depth in range(1, len(shape.nodes)):
        parents = [level[i] for i in sorted(rng.choice(len(level), size=shape.inner[depth - 1], replace=False))]
        extra = shape.nodes[depth] - len(parents)
        weights = rng.permutation(1.0 / np.arange(1, len(parents) + 1) ** 0.6)
        children = 1 + rng.multinomial(extra, weights / weights.sum())
        level = []
        for (parent_path, parent_name), count in zip(parents, children, strict=True):
            taken: set[str] = set()
            for _ in range(count):
                name = words.name(parent_name, taken)
                taken.add(label_key(name))
                level.append((f"{parent_path}{PATH_SEPARATOR}{name}", name))
        paths += [path for path, _ in level]
    return paths


def catalogue_classes(paths: list[str], *, categories: int | None, seed: int) -> list[str]:
    """The classes a catalogue files products under: every leaf and INNER_CLASS_SHARE of the inner nodes below
    the departments, or `categories` of those (all when there are fewer), sorted."""
    rng = np.random.default_rng([seed, 32])
    parents = {path.rsplit(PATH_SEPARATOR, 1)[0] for path in paths if PATH_SEPARATOR in path}
    leaves = [path for path in paths if path not in parents]
    inner = [path for path in paths if path in parents and PATH_SEPARATOR in path]
    chosen = [path for path in inner if rng.random() < INNER_CLASS_SHARE]
    classes = sorted(leaves + chosen)
    if categories is not None and categories < len(classes):
        classes = sorted(rng.choice(classes, size=categories, replace=False).tolist())
    if len(classes) < 2:
        raise DataValidationError(f"the taxonomy gives {len(classes)} class(es); a classifier needs at least 2")
    return classes


@dataclass(frozen=True)
class _Products:
    """What every offer is drawn from: each product's class, brand, model code and base price."""

    product_class: np.ndarray
    brand: np.ndarray
    model_code: np.ndarray
    base_price: np.ndarray


def generate_long_tail_catalogue(rows: int, classes: list[str], *, seed: int = 0) -> pd.DataFrame:
    """Offers of products in `classes`, with log-normal class sizes (a long tail) and titles from the names.

    Returns:
        A frame with product_id, title, seller_id, brand, price and category (the class's path) columns.
    """
    products = _products(classes, rows, seed)
    return _offers(classes, products, rows, np.random.default_rng([seed, 34]), first_offer=0)


def generate_long_tail_partition(index: int, rows: int, *, first_offer: int, total_rows: int, classes: list[str],
                                 seed: int) -> pd.DataFrame:  # fmt: skip
    """Partition `index` (offers `first_offer` … `first_offer + rows - 1`) of a catalogue of `total_rows`, generated
    on its own as the Dask engine's workers do: the same classes and products as `generate_long_tail_catalogue`,
    its own offers (every product is still offered at least once across the partitions)."""
    products = _products(classes, total_rows, seed)
    return _offers(classes, products, rows, np.random.default_rng([seed, 35, index]), first_offer=first_offer)


def _products(classes: list[str], total_rows: int, seed: int) -> _Products:
    """About total_rows / ROWS_PER_PRODUCT products, every class with at least one, the rest log-normal."""
    rng = np.random.default_rng([seed, 33])
    k = len(classes)
    weights = rng.lognormal(0.0, CLASS_SIZE_SIGMA, size=k)
    n_products = max(k, round(total_rows / ROWS_PER_PRODUCT))
    # Every class has a product; the rest follow the weights, so a long tail keeps one to four.
    product_class = np.concatenate([np.arange(k), rng.choice(k, size=n_products - k, p=weights / weights.sum())])
    product_class = rng.permutation(product_class)  # popularity (product order) is not class order
    parent_index = _parent_index(classes)
    price_level = np.exp(rng.uniform(np.log(3), np.log(3000), size=k))
    parent_brands = rng.integers(N_BRANDS, size=(parent_index.max() + 1, BRANDS_PER_PARENT))
    brand = parent_brands[parent_index[product_class], rng.integers(BRANDS_PER_PARENT, size=n_products)]
    model_code = np.char.add(np.array(SYLLABLES)[rng.integers(len(SYLLABLES), size=n_products)],
                             rng.integers(10, 9999, size=n_products).astype(str))  # fmt: skip
    base_price = price_level[product_class] * rng.lognormal(0, 0.3, size=n_products)
    return _Products(product_class, brand, model_code, base_price)


def _offers(
    classes: list[str], products: _Products, rows: int, rng: np.random.Generator, *, first_offer: int
) -> pd.DataFrame:
    """`rows` offers numbered from `first_offer`: offer i < products is of product i (each offered once), the rest
    by popularity; titles from the class's words (a fifth from its parent's), sellers, brands and prices."""
    n_products = len(products.product_class)
    product = offered_products(rng, n_products, rows)
    forced = np.arange(first_offer, min(first_offer + rows, n_products))
    product[: len(forced)] = forced
    offer_class = products.product_class[product]
    words = [_class_words(path) for path in classes]
    parent_only = rng.random(rows) < PARENT_ONLY_SHARE
    noise = np.array(NOISE)[rng.integers(len(NOISE), size=(rows, 2))]
    brand, code = products.brand[product], products.model_code[product]
    titles = [
        " ".join(filter(None, (f"brand{brand[i]}", *_title_words(words[c], only_parent, rng), code[i], *noise[i])))
        for i, (c, only_parent) in enumerate(zip(offer_class, parent_only, strict=True))
    ]
    price = np.round(products.base_price[product] * rng.lognormal(0, 0.1, size=rows), 2)
    return pd.DataFrame(
        {
            "product_id": product.astype(str),
            "title": titles,
            "seller_id": np.char.add("s", (rng.zipf(1.3, size=rows) % N_SELLERS).astype(str)),
            "brand": np.where(rng.random(rows) < 0.05, "", np.char.add("brand", brand.astype(str))),
            "price": np.where(rng.random(rows) < 0.03, np.nan, price),
            "category": np.asarray(classes, dtype=object)[offer_class],
        }
    )


def _class_words(path: str) -> tuple[list[str], list[str]]:
    """A class's own words (its name's) and its parent's, lower-cased, '&' and commas left out."""
    levels = path.split(PATH_SEPARATOR)
    own = [word for word in re.split(r"[\s,&/]+", levels[-1].lower()) if word]
    parent = [word for word in re.split(r"[\s,&/]+", levels[-2].lower()) if word] if len(levels) > 1 else own
    return own, parent


def _title_words(words: tuple[list[str], list[str]], only_parent: bool, rng: np.random.Generator) -> list[str]:
    """The category words of one title: the class's name (or its parent's), a word sometimes dropped."""
    own, parent = words
    chosen = list(parent if only_parent else own)
    if len(chosen) > 1 and rng.random() < 0.3:
        chosen.pop(int(rng.integers(len(chosen))))
    return chosen


def _parent_index(classes: list[str]) -> np.ndarray:
    """Each class's parent path as an index (a department is its own parent)."""
    parents = [path.rsplit(PATH_SEPARATOR, 1)[0] for path in classes]
    return np.unique(parents, return_inverse=True)[1]


class _Words:
    """Pronounceable nonsense words and the names built from them, deterministic in the generator."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._used: set[str] = set()

    def word(self) -> str:
        """A new word of two or three syllables, capitalised."""
        while True:
            word = "".join(self._rng.choice(SYLLABLES, size=int(self._rng.integers(2, 4)))).capitalize()
            if word.lower() not in self._used:
                self._used.add(word.lower())
                return word

    def name(self, parent: str | None, taken: set[str]) -> str:
        """A category name: its parent's topic word and a new word about half the time, a near spelling of a
        sibling now and then, else one to three new words (joined by '&' sometimes); never a sibling's name."""
        rng = self._rng
        while True:
            if parent and taken and rng.random() < NEAR_SPELLING_SHARE:
                name = _near_spelling(sorted(taken)[int(rng.integers(len(taken)))], rng).title()
            elif parent and rng.random() < SHARED_WORD_SHARE:
                topic = parent.split()[0]
                name = f"{self.word()} {topic}" if rng.random() < 0.3 else f"{topic} {self.word()}"
            else:
                words = [self.word() for _ in range(int(rng.integers(1, 4)))]
                name = " & ".join(words) if len(words) > 1 and rng.random() < 0.4 else " ".join(words)
            # The data report's own rule: two siblings the same after it would be one class spelled twice.
            if label_key(name) not in taken:
                return name


def _near_spelling(name: str, rng: np.random.Generator) -> str:
    """The name with one letter of its last word added ("plane" → "planer")."""
    head, _, last = name.rpartition(" ")
    position = int(rng.integers(1, len(last) + 1))
    spelled = last[:position] + str(rng.choice(list("aeiourn"))) + last[position:]
    return f"{head} {spelled}".strip()
