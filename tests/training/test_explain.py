"""Explanations (explain=true) are the served graph's own numbers: the same occlusion done with the Python pipeline
gives the same deltas, and a title that names its category has that word first."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from handler.explain import occlusions, predict_explained
from handler.model import load_model
from handler.settings import Settings
from training.model.top_classes import predict_top

pytestmark = pytest.mark.slow

ROWS = [
    {"title": "quanta espresso machine t1234 silver", "seller_id": "s12", "brand": "quanta", "price": 240.0},
    {"title": "kinsei tv r1234 55 inch oled", "seller_id": "s7", "brand": "kinsei", "price": 1400.0},
    {"title": "helix washing machine a1234 a++", "seller_id": None, "brand": "helix", "price": None},
    {"title": "lyric smartwatch x1234 grey", "seller_id": "s99", "brand": "", "price": 210.0},
]


@pytest.fixture(scope="module")
def served(tmp_path_factory, small_model_bytes):
    path = tmp_path_factory.mktemp("explain") / "model.onnx"
    path.write_bytes(small_model_bytes)
    return load_model(Settings(model_path=path))


def _frame(rows: list[dict], inputs: list[dict]) -> pd.DataFrame:
    """Rows as the graph reads them: a missing string is its default, a missing number NaN."""
    return pd.DataFrame({
        spec["name"]: [np.float32(np.nan if row.get(spec["name"]) is None else row[spec["name"]]) for row in rows]
        if spec["type"] == "float" else [row.get(spec["name"]) or (spec.get("default") or "") for row in rows]
        for spec in inputs
    })  # fmt: skip


@pytest.mark.parametrize("row", ROWS)
def test_the_graphs_explanation_is_the_python_pipelines(served, small_pipeline, row):
    # GIVEN the served model's explanation of one listing
    ((answer, found),) = predict_explained(served, [row])

    # WHEN the same occlusion is computed by the Python pipeline
    words, fields, occluded = occlusions(row, text=served.text_input, inputs=served.inputs)
    position = list(small_pipeline.classes_).index(answer.label)
    before = predict_top(small_pipeline, _frame([row], served.inputs)).probability_of(np.array([position]))[0]
    after = predict_top(small_pipeline, _frame(occluded, served.inputs)).probability_of(
        np.full(len(occluded), position)
    )
    twin = dict(zip([*words, *fields], before - after, strict=True))

    # THEN every delta agrees within the parity gate's tolerance
    graph = dict(found.words) | dict(found.fields)
    assert graph.keys() == twin.keys()
    assert max(abs(graph[key] - twin[key]) for key in graph) <= 1e-5


@pytest.mark.parametrize(
    ("row", "category_words"),
    [
        (ROWS[0], {"espresso", "machine"}),
        (ROWS[1], {"tv", "oled", "55", "inch"}),
        (ROWS[3], {"smartwatch"}),
    ],
)
def test_a_title_that_names_its_category_has_that_word_first(served, row, category_words):
    ((_, found),) = predict_explained(served, [row])

    word, delta = found.words[0]
    assert word in category_words
    assert delta > 0


def test_answers_explained_in_one_call_are_the_plain_answers_row_by_row(served):
    explained = predict_explained(served, ROWS)

    for (answer, found), alone in zip(explained, served.predict(ROWS), strict=True):
        assert answer.label == found.label == alone.label
        np.testing.assert_allclose(answer.probabilities, alone.probabilities, atol=1e-6)
