"""Whitespace never changes an answer: the graph and Python fold it alike (issue 21, item 6)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from handler.app import create_app
from handler.model import load_model
from handler.settings import Settings
from training.cli.predict import app as predict_app
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


@pytest.mark.parametrize("spaced", ["  {} \t ", "{}\u00a0", "\u3000{}\n"])
def test_the_api_and_make_predict_ignore_padding_and_nbsp(spaced, small_model_bytes, small_splits, tmp_path):
    # GIVEN the small model (character n-grams on), served by the API's app and scored by make predict
    model_path = tmp_path / "model.onnx"
    model_path.write_bytes(small_model_bytes)
    settings = Settings(model_path=model_path)
    client = TestClient(create_app(load_model(settings), settings))
    row = small_splits.test.iloc[0]
    plain = {"title": row["title"], "seller_id": row["seller_id"], "brand": row["brand"], "price": float(row["price"])}
    padded = plain | {"title": spaced.format(row["title"].replace(" ", "\u00a0 \t"))}
    data = tmp_path / "rows.csv"
    pd.DataFrame([plain, padded]).assign(product_id=["a", "b"]).to_csv(data, index=False)

    # WHEN both answer the plain and the re-spaced title
    answers = [client.post("/predict", json=body, params={"top_k": 3}).json() for body in (plain, padded)]
    result = CliRunner().invoke(
        predict_app, ["--model", str(model_path), "--data", str(data), "--out", str(tmp_path / "o")]
    )
    scored = pd.read_parquet(tmp_path / "o")

    # THEN the answers are the same
    assert answers[0]["top_k"] == answers[1]["top_k"]
    assert result.exit_code == 0, result.output
    assert scored["label"].iloc[0] == scored["label"].iloc[1] == answers[0]["label"]
    assert scored["confidence"].iloc[0] == scored["confidence"].iloc[1]
