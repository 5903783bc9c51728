"""Answers a team can act on: accept or review at a target precision, and why (explain=true)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from fastapi.testclient import TestClient

from handler.app import create_app
from handler.decisions import ACCEPT, REVIEW, Thresholds, decide, read_operating_points
from handler.exceptions import ModelLoadError
from handler.explain import MAX_EXPLAINED_WORDS, occlusions
from handler.model import load_model
from handler.settings import Settings
from tests.conftest import with_metadata

THRESHOLDS = Thresholds(leaf=0.9, levels=(0.95, 0.9, 0.8))
PATH = [("Electronics", 0.97), ("Electronics > Audio", 0.85), ("Electronics > Audio > Headphones", 0.6)]


@pytest.mark.parametrize(
    ("confidence", "path", "expected"),
    [
        (0.93, PATH, (ACCEPT, 3, "Electronics > Audio > Headphones")),  # the category itself
        (0.60, PATH, (ACCEPT, 1, "Electronics")),  # right department, unsure category and leaf
        (0.60, [("Electronics", 0.97), ("Electronics > Audio", 0.92), PATH[2]], (ACCEPT, 2, "Electronics > Audio")),
        (0.60, [("Electronics", 0.90), *PATH[1:]], (REVIEW, 0, "")),
        (0.95, [("TVs", 0.95)], (ACCEPT, 1, "TVs")),  # a flat model: one level
        (0.50, [("TVs", 0.50)], (REVIEW, 0, "")),
    ],
)
def test_an_answer_is_accepted_at_the_deepest_node_that_reaches_the_target(confidence, path, expected):
    decision = decide(THRESHOLDS, 0.98, label=path[-1][0], confidence=confidence, path=path)

    assert (decision.decision, decision.level, decision.label) == expected
    assert decision.target_precision == 0.98


@pytest.mark.parametrize(
    "recorded",
    [
        {"0.98": {"levels": []}},  # no leaf threshold
        {"0.98": {"leaf": "high", "levels": []}},
        {"0.98": {"leaf": 0.9, "levels": [0.5, 0.5]}},  # two levels for a one-level model
        {"1.5": {"leaf": 0.9, "levels": []}},
        {"0.98": 0.9},
        [],
    ],
)
def test_malformed_operating_points_are_refused(recorded):
    with pytest.raises(ValueError, match=r"operating.point"):
        read_operating_points({"operating_points": recorded}, depth=1)


def test_a_model_without_operating_points_decides_nothing():
    assert read_operating_points({}, depth=1) is None


@pytest.fixture(scope="module")
def client(model_path):
    model = load_model(Settings(model_path=model_path))
    return TestClient(create_app(model, Settings(model_path=model_path)))


ITEM = {"title": "acme smartphone x100 black 128gb", "seller_id": "s42", "brand": "acme", "price": 699.0}


def test_every_answer_carries_a_decision_at_the_deployments_target(client):
    body = client.post("/predict", json=ITEM).json()

    assert body["decision"] in {ACCEPT, REVIEW}
    assert body["target_precision"] == 0.98
    accepted = body["decision"] == ACCEPT
    assert (body["decision_level"] > 0) is accepted
    assert (body["decision_label"] != "") is accepted


def test_a_request_may_ask_for_another_recorded_target(client):
    loose = client.post("/predict?target_precision=0.95", json=ITEM).json()
    batch = client.post("/predict/batch?target_precision=0.99", json={"items": [ITEM, ITEM]}).json()

    assert loose["target_precision"] == 0.95
    assert [answer["target_precision"] for answer in batch["predictions"]] == [0.99, 0.99]


def _accepted_counted(output: str) -> tuple[int, int]:
    """AcceptedPredictions and DecidedPredictions of the EMF lines a request printed."""
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{") and '"_aws"' in line]
    return tuple(  # type: ignore[return-value]
        sum(line[name][0] if isinstance(line[name], list) else line[name] for line in lines if name in line)
        for name in ("AcceptedPredictions", "DecidedPredictions")
    )


def test_accepted_answers_are_counted_at_the_deployments_target_whatever_a_caller_asks(client, capsys):
    # GIVEN listings of every kind of confidence, some accepted at 0.95 and sent to review at 0.98 (the deployment's)
    items = [ITEM, {"title": "x"}, {"title": "acme"}, {"title": "brand1 pro"}, {"title": "kaito oled tv 55 inch"},
             {"title": "acme phone tv"}, {"title": "kaito"}, {"title": "128gb"}]  # fmt: skip
    capsys.readouterr()
    deployment = client.post("/predict/batch", json={"items": items}).json()["predictions"]
    counted = _accepted_counted(capsys.readouterr().out)
    loose = client.post("/predict/batch?target_precision=0.95", json={"items": items}).json()["predictions"]
    assert [a["decision"] for a in loose] != [a["decision"] for a in deployment]

    # WHEN a caller asks for 0.95, THEN its answers say so, but the metrics count them at 0.98 as before
    assert _accepted_counted(capsys.readouterr().out) == counted
    assert counted == (sum(a["decision"] == ACCEPT for a in deployment), len(items))


@pytest.mark.parametrize(
    "value", ["0.97", "0.985", "0.994", "0.9849", "nan", "inf", "-0.5", "0", "1.5", "abc", "", "0.98.1"]
)
def test_a_target_that_is_not_an_operating_point_is_422_naming_the_allowed_ones(client, value):
    response = client.post(f"/predict?target_precision={value}", json=ITEM)

    assert response.status_code == 422
    body = response.json()
    assert body["detail"][0]["field"] == "query.target_precision"
    if value == "0.97":
        assert (
            "must be one of the model's operating points [0.95, 0.98, 0.99], got 0.97" in body["detail"][0]["message"]
        )


def test_get_model_lists_the_operating_points_and_the_calibration(client):
    body = client.get("/model").json()

    assert [point["target_precision"] for point in body["operating_points"]] == [0.95, 0.98, 0.99]
    assert all(0 <= point["threshold"] <= 1.01 for point in body["operating_points"])
    assert body["calibration"]["temperature"] > 0


@pytest.mark.parametrize("target", [0.9, 0.985])  # 0.985 is no operating point: it would be decided at 0.98
def test_a_deployment_target_the_model_did_not_record_fails_the_load(model_path, target):
    with pytest.raises(ModelLoadError, match=rf"TARGET_PRECISION {target} is not one of the model's operating points"):
        load_model(Settings(model_path=model_path, target_precision=target))


def test_explain_gives_each_word_and_field_its_effect_and_ranks_the_category_word_first(client):
    # GIVEN a title that names its category among words that say little about it
    item = {"title": "kaito oled tv 55 inch black", "seller_id": "s42", "brand": "kaito", "price": 699.0}

    body = client.post("/predict?explain=true", json=item).json()

    explanation = body["explanation"]
    assert explanation["label"] == body["label"] == "TVs"
    assert explanation["words"][0]["word"] == "tv"
    assert explanation["words"][0]["delta"] > 0
    assert {effect["word"] for effect in explanation["words"]} == {"kaito", "oled", "tv", "55", "inch", "black"}
    assert [effect["field"] for effect in explanation["fields"]] == ["seller_id", "brand", "price"]


def test_explain_is_deterministic_bounded_and_off_by_default(client):
    item = {"title": " ".join(f"word{i}" for i in range(50)) + " tv"}

    first = client.post("/predict?explain=true", json=item).json()["explanation"]
    again = client.post("/predict?explain=1", json=item).json()["explanation"]
    plain = client.post("/predict", json=item).json()

    assert first == again
    assert len(first["words"]) == MAX_EXPLAINED_WORDS
    assert first["fields"] == []  # nothing else was given
    assert "explanation" not in plain


def test_explaining_a_batch_is_bounded_by_its_text(client):
    # GIVEN items of 2,000 characters: explain=true scores each once per word and field, so its text is bounded
    item = {"title": " ".join(f"w{i} " + "x" * 160 for i in range(12))[:2000]}
    limit = Settings().max_explained_characters
    within, over = [item] * (limit // 2000), [item] * (limit // 2000 + 1)

    explained = client.post("/predict/batch?explain=true", json={"items": within})
    refused = client.post("/predict/batch?explain=true", json={"items": over})
    plain = client.post("/predict/batch", json={"items": over})

    assert explained.status_code == 200
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["field"] == "query.explain"
    assert f"at most {limit} characters" in refused.json()["detail"][0]["message"]
    assert refused.json()["detail"][0]["message"].endswith("or leave explain out")  # the advice whole, never cut
    assert plain.status_code == 200


def test_explaining_a_batch_is_bounded_by_the_rows_it_scores(client):
    # GIVEN short items that each score 16 rows (themselves, 12 words and 3 fields): far under the text's bound
    item = {"title": " ".join(f"w{i}" for i in range(12)), "seller_id": "s1", "brand": "kaito", "price": 10.0}
    per_item = 1 + 12 + 3
    limit = Settings().max_explained_rows
    within, over = [item] * (limit // per_item), [item] * (limit // per_item + 1)

    explained = client.post("/predict/batch?explain=true", json={"items": within})
    refused = client.post("/predict/batch?explain=true", json={"items": over})

    assert explained.status_code == 200
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["field"] == "query.explain"
    message = refused.json()["detail"][0]["message"]
    assert f"at most {limit} rows" in message
    assert f"would score {len(over) * per_item}" in message
    assert client.post("/predict/batch", json={"items": over}).status_code == 200


def test_a_batch_explains_every_item(client):
    body = client.post("/predict/batch?explain=true", json={"items": [ITEM, {"title": "kaito oled tv 55 inch"}]}).json()

    assert [answer["explanation"]["label"] for answer in body["predictions"]] == [
        answer["label"] for answer in body["predictions"]
    ]


@pytest.mark.parametrize("value", ["maybe", "2", "nan"])
def test_a_bad_explain_flag_is_422(client, value):
    assert client.post(f"/predict?explain={value}", json=ITEM).status_code == 422


def test_occlusion_rows_leave_out_each_word_everywhere_and_each_given_field():
    inputs = [{"name": "title", "type": "string"}, {"name": "brand", "type": "string"},
              {"name": "price", "type": "float"}, {"name": "seller_id", "type": "string"}]  # fmt: skip

    words, fields, rows = occlusions({"title": "TV tv Oled", "brand": "kaito", "price": None, "seller_id": ""},
                                     text="title", inputs=inputs)  # fmt: skip

    assert words == ["tv", "oled"]
    assert fields == ["brand"]
    assert [row["title"] for row in rows] == ["Oled", "TV tv", "TV tv Oled"]
    assert rows[-1]["brand"] is None
    assert all(not math.isnan(len(json.dumps(row))) for row in rows)
    assert np.array_equal([row["price"] for row in rows], [None, None, None])


def test_a_word_the_model_reads_as_nothing_is_not_explained():
    # GIVEN a title with a zero-width space and a soft hyphen standing between its words, which the model drops
    inputs = [{"name": "title", "type": "string", "dropped": [[0xAD, 0xAD], [0x200B, 0x200F]]}]

    # WHEN its words are chosen for explaining
    words, _, _ = occlusions({"title": "kaito \u200b oled \u00ad"}, text="title", inputs=inputs)

    # THEN only the words the model reads take a slot
    assert words == ["kaito", "oled"]


def test_a_model_without_operating_points_answers_without_a_decision_and_its_schema_says_so(model_path, tmp_path):
    # GIVEN a model trained before operating points existed
    old = with_metadata(model_path, tmp_path / "old.onnx", lambda metadata: metadata.pop("operating_points"))
    settings = Settings(model_path=old)
    old_client = TestClient(create_app(load_model(settings), settings))

    # THEN its answers carry no decision, and its schema offers no target precision to ask for
    assert "decision" not in old_client.post("/predict", json=ITEM).json()
    parameters = old_client.get("/openapi.json").json()["paths"]["/predict"]["post"]["parameters"]
    target = next(parameter for parameter in parameters if parameter["name"] == "target_precision")
    assert target["description"].startswith("This model records no operating points")
    assert old_client.post("/predict?target_precision=0.98", json=ITEM).status_code == 422
