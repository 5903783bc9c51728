"""Whitespace never changes an answer: the graph and Python fold it alike (issue 21, item 6)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from training.model.parity import run_onnx
from training.text import fold_whitespace, whitespace_characters

# Runs of any whitespace the graph folds: tabs, newlines, NBSP, the U+2000 spaces, ideographic space, ...
RUN = st.text(alphabet=st.sampled_from(whitespace_characters()), min_size=1, max_size=4)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  sxs905 ss \t ", "sxs905 ss"),
        ("fridge\u00a0\u00a0freezer", "fridge freezer"),
        ("\u3000a\u2003\u2009b\u205f", "a b"),
        ("\u200bzero-width is not whitespace\u200b", "\u200bzero-width is not whitespace\u200b"),
        (" \t\n", ""),
    ],
)
def test_fold_whitespace(text, expected):
    assert fold_whitespace(text) == expected


def test_whitespace_set_is_what_str_split_splits_on():
    assert "".join(whitespace_characters()).split() == []
    assert {"\t", "\n", " ", "\u00a0", "\u2007", "\u3000", "\x1c"} <= set(whitespace_characters())
    assert "\u200b" not in whitespace_characters()


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_whitespace_variants_of_a_title_get_the_same_answer(
    data, small_config, small_splits, small_pipeline, small_model_bytes
):
    # GIVEN test rows, and the same rows with their titles re-spaced: runs of any whitespace before, between
    # the words and after
    rows = small_splits.test.head(4)[list(small_config.data.columns)].reset_index(drop=True)
    variants = rows.copy()
    variants["title"] = [
        data.draw(RUN) * data.draw(st.booleans())
        + "".join(word + data.draw(RUN) for word in title.split()[:-1])
        + title.split()[-1]
        + data.draw(RUN) * data.draw(st.booleans())
        for title in rows["title"]
    ]

    # WHEN the graph (as the API and make predict run it) and the Python pipeline answer both
    labels, probabilities = run_onnx(small_model_bytes, rows, small_config.data)
    variant_labels, variant_probabilities = run_onnx(small_model_bytes, variants, small_config.data)

    # THEN the answers do not move, on either side
    assert (variant_labels == labels).all()
    np.testing.assert_allclose(variant_probabilities, probabilities, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(small_pipeline.predict_proba(variants), small_pipeline.predict_proba(rows))
