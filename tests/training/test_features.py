"""The Python side of the features: the semantics the ONNX graph must reproduce."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction import FeatureHasher

from training.columns import GROUP, LABEL
from training.config import DEFAULT_CONFIG_PATH, load_config
from training.data.clean import prepare_catalogue
from training.exceptions import DataValidationError
from training.model.features import Float32Numeric, HashedCategory, PriceBandCross, price_bands
from training.model.pipeline import build_pipeline
from training.model.stacking import stacked_training_matrix
from training.text import (
    NO_TOKEN,
    char_ngrams,
    compatibility_folds,
    first_token,
    lower_like_onnx,
    normalise_like_onnx,
    word_ngrams,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Samsung GALAXY", "samsung galaxy"),
        ("ΟΔΥΣΣΕΥΣ", "οδυσσευσ"),  # no final-sigma rule: the graph lowers one character at a time
        ("İSTANBUL", "istanbul"),  # one character in, one out
        ("Größe ẞ", "größe ß"),
        ("📱 Phone", "📱 phone"),
        ("", ""),
    ],
)
def test_lower_like_onnx_maps_each_character_to_one(text, expected):
    assert lower_like_onnx(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ＫＡＩＴＯ ＯＬＥＤ ＴＶ", "kaito oled tv"),  # fullwidth
        ("Café", "cafe"),
        ("Cafe\u0301", "cafe"),  # the accent as a combining mark: looks alike, reads alike
        ("tele\u00advi\u200bsion", "television"),  # soft hyphen, zero-width space
        ("\ufeffWiﬁ ①", "wifi 1"),  # byte-order mark, ligature, circled digit
        ("Ｇａｌａｘｙ™ ½ inch", "galaxy™ ½ inch"),  # a fold that would make or split a word is not made
        ("한국 Größe", "한국 große"),
        ("ガム й Ελληνικά", "ガム й ελληνικά"),  # a mark on another script makes another word
        ("❤\ufe0f Don´t", "❤ don´t"),  # a variation selector dropped; a spacing accent is no space
    ],
)
def test_normalise_like_onnx_folds_what_looks_alike(text, expected):
    assert normalise_like_onnx(text) == expected


def test_a_folded_text_reads_the_same_when_read_again():
    folds = compatibility_folds()

    assert [character for character, folded in folds.items() if normalise_like_onnx(folded) != folded] == []


def test_a_title_written_in_fullwidth_has_the_plain_titles_features():
    plain, wide = "Kaito OLED TV 55", "Ｋａｉｔｏ ＯＬＥＤ ＴＶ ５５"

    assert (word_ngrams(wide, 2), char_ngrams(wide, 2, 4), first_token(wide)) == (
        word_ngrams(plain, 2),
        char_ngrams(plain, 2, 4),
        first_token(plain),
    )


@pytest.mark.parametrize(
    ("text", "n_max", "expected"),
    [
        ("Apple iPhone 8", 2, ["apple", "iphone", "apple iphone"]),
        ("a\tbb\ncc  dd", 2, ["bb", "cc", "dd", "bb cc", "cc dd"]),
        ("Kühl-Schrank", 1, ["kuhl", "schrank"]),  # accents folded (`compatibility_folds`)
        ("", 2, []),
        ("x y z", 2, []),
    ],
)
def test_word_ngrams_use_unicode_words_of_two_or_more_characters(text, n_max, expected):
    assert word_ngrams(text, n_max) == expected


def test_char_ngrams_fold_whitespace_and_keep_emoji():
    assert char_ngrams("A\t📱", 2, 3) == ["a ", " 📱", "a 📱"]
    assert char_ngrams(" \u00a0A \u2003\t📱\n", 2, 3) == ["a ", " 📱", "a 📱"]
    assert char_ngrams("a", 2, 4) == []


@pytest.mark.parametrize(
    ("title", "expected"),
    [("Bosch SMS46 dishwasher", "bosch"), ("  -- LG 55in", "lg"), ("", NO_TOKEN), ("📱 !", NO_TOKEN)],
)
def test_first_token(title, expected):
    assert first_token(title) == expected


def test_price_bands_count_edges_and_put_missing_in_band_zero():
    edges = np.array([10.0, 100.0], dtype=np.float32)
    prices = np.array([5.0, 10.0, 99.99, 100.0, 5000.0, np.nan], dtype=np.float32)

    assert price_bands(prices, edges).tolist() == [0, 1, 1, 2, 2, 0]


def test_hashed_category_matches_scikit_learns_feature_hasher():
    values = ["s1", "", "never-seen", "ünïcödé"]
    expected = FeatureHasher(64, input_type="string", alternate_sign=False).transform([[v] for v in values])

    hashed = HashedCategory(64).fit_transform(pd.DataFrame({"seller": values}))

    assert (hashed != expected).nnz == 0
    assert hashed.sum(axis=1).tolist() == [[1.0]] * 4


def test_price_band_cross_separates_brands_and_bands():
    frame = pd.DataFrame(
        {"brand": ["acme", "acme", "zen", "acme"], "price": np.array([1, 1000, 1, np.nan], np.float32)}
    )
    cross = PriceBandCross(4096, n_bands=4).fit(frame)

    columns = cross.transform(frame).tocsr().indices.tolist()

    assert len(set(columns)) == 4


def test_numeric_passes_the_float32_through_and_keeps_missing_as_nan():
    values = Float32Numeric().fit_transform(pd.DataFrame({"price": np.array([0.0, 188.18, np.nan], np.float32)}))

    dense = values.toarray().ravel()
    assert dense[0] == 0.0
    assert dense[1] == np.float32(188.18)
    assert np.isnan(dense[2])


def test_fewer_training_products_than_stacking_folds_is_one_line_saying_what_to_do():
    # GIVEN a training split of three titles, each from four sellers, and five stacking folds
    config = load_config(DEFAULT_CONFIG_PATH)
    frame = prepare_catalogue(
        pd.DataFrame({
            "title": [f"item {i % 3}" for i in range(12)], "seller_id": [f"s{i}" for i in range(12)], "brand": "b",
            "price": "1", "category": ["TVs", "Fridges", "TVs"] * 4,
        }),
        replace(config.data, group=None),
    )  # fmt: skip
    features = build_pipeline(config.data, config.features, config.model).named_steps["features"]

    with pytest.raises(DataValidationError, match=r"holds 3 products .* fewer than features.stacking_folds \(5\)"):
        stacked_training_matrix(features, frame, frame[LABEL], frame[GROUP], text="title", folds=5)
