"""The API's routes through FastAPI's TestClient: answers, validation errors, schema from the model."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from handler.app import PREDICT_QUERY, create_app
from handler.model import load_model
from handler.settings import Settings
from training.text import normalise_like_onnx

PRODUCT = {"title": "acme smartphone x100 black 128gb", "seller_id": "s42", "brand": "acme", "price": 699.0}


@pytest.fixture(scope="module")
def client(model_path):
    settings = Settings(model_path=model_path, max_batch=5, max_text_length=300)
    return TestClient(create_app(load_model(settings), settings))


def test_predict_returns_label_confidence_top_k_and_version(client):
    response = client.post("/predict?top_k=3", json=PRODUCT)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"label", "confidence", "top_k", "path", "model_version", "decision", "target_precision",
                         "decision_level", "decision_label"}  # fmt: skip
    assert body["model_version"] == "test-synthetic-1"
    # a flat model's path is the one leaf with its probability
    leaf = {"name": body["label"], "node": body["label"], "level": 1, "confidence": body["confidence"]}
    assert body["path"] == [leaf]
    assert len(body["top_k"]) == 3
    assert body["top_k"][0] == {"label": body["label"], "probability": body["confidence"]}
    probabilities = [entry["probability"] for entry in body["top_k"]]
    assert probabilities == sorted(probabilities, reverse=True)


def test_batch_answers_in_input_order(client):
    items = [PRODUCT, {"title": "nordvik washing machine w8"}, {"title": "x" * 300}, {"title": "kaito oled tv 55"}]

    response = client.post("/predict/batch?top_k=1", json={"items": items})

    assert response.status_code == 200
    singles = [client.post("/predict?top_k=1", json=item).json() for item in items]
    assert [p["label"] for p in response.json()["predictions"]] == [s["label"] for s in singles]
    for batch_answer, single in zip(response.json()["predictions"], singles, strict=True):
        assert batch_answer["confidence"] == pytest.approx(single["confidence"], abs=1e-6)


def test_missing_optional_fields_take_the_models_defaults(client):
    explicit = client.post("/predict", json={"title": "acme camera", "seller_id": "", "brand": "", "price": None})
    omitted = client.post("/predict", json={"title": "acme camera"})

    assert omitted.status_code == 200
    assert omitted.json() == explicit.json()


def test_integer_ids_are_served_as_their_decimal_string(client):
    as_int = client.post("/predict", json={"title": "acme camera", "seller_id": 42})
    as_str = client.post("/predict", json={"title": "acme camera", "seller_id": "42"})

    assert as_int.json() == as_str.json()


@pytest.mark.parametrize("sent", [1.5, True])
def test_an_id_that_is_no_text_nor_whole_number_says_a_whole_number_would_do(client, sent):
    response = client.post("/predict", json={"title": "tv", "seller_id": sent})

    assert response.status_code == 422
    [detail] = response.json()["detail"]
    assert detail == {
        "field": "body.seller_id",
        "message": "Input should be a valid string, or a whole number (an id)",
        "type": "string_type",
    }


@pytest.mark.parametrize(
    ("body", "field", "error_type"),
    [
        ({"seller_id": "s1"}, "body.title", "missing"),
        ({"title": None}, "body.title", "string_type"),
        ({"title": 42}, "body.title", "string_type"),
        ({"title": "x" * 301}, "body.title", "string_too_long"),
        ({"title": "tv", "colour": "red"}, "body.colour", "extra_forbidden"),
        ({"title": "tv", "price": -1}, "body.price", "greater_than_equal"),
        ({"title": "tv", "price": "12.5"}, "body.price", "float_type"),
        ({"title": "tv", "seller_id": 1.5}, "body.seller_id", "string_type"),
        ({"title": "tv", "seller_id": True}, "body.seller_id", "string_type"),
        ({"title": "tv", "brand": "b" * 301}, "body.brand", "string_too_long"),
        # training drops rows whose title the model reads as empty, so serving refuses them: whitespace, and the
        # characters the graph drops (zero-width space and joiner, soft hyphen, BOM, a combining accent, a tag)
        ({"title": ""}, "body.title", "string_blank"),
        ({"title": " \t\n\u00a0\u3000"}, "body.title", "string_blank"),
        ({"title": "\u200b\u00ad \u200d\ufeff\u0301\U000e0041"}, "body.title", "string_blank"),
    ],
)
def test_invalid_product_is_422_naming_the_field(client, body, field, error_type):
    response = client.post("/predict", json=body)

    assert response.status_code == 422
    assert response.json()["error"] == "invalid request"
    assert {(d["field"], d["type"]) for d in response.json()["detail"]} >= {(field, error_type)}


@pytest.mark.parametrize(
    ("body", "field", "error_type"),
    [
        ({"items": []}, "body.items", "too_short"),
        ({"items": [PRODUCT] * 6}, "body.items", "too_long"),
        ({"items": [PRODUCT, {"brand": "x"}]}, "body.items.1.title", "missing"),
        ({}, "body.items", "missing"),
        ({"items": PRODUCT}, "body.items", "list_type"),
    ],
)
def test_invalid_batch_is_422_naming_the_field(client, body, field, error_type):
    response = client.post("/predict/batch", json=body)

    assert response.status_code == 422
    assert {(d["field"], d["type"]) for d in response.json()["detail"]} >= {(field, error_type)}


def test_empty_title_is_422_with_the_exact_answer(client):
    response = client.post("/predict", json={"title": "   "})

    assert response.status_code == 422
    assert response.json() == {
        "error": "invalid request",
        "detail": [
            {
                "field": "body.title",
                "message": "must contain a character the model reads, not whitespace or zero-width characters alone "
                "(training drops such titles)",
                "type": "string_blank",
            }
        ],
    }


def test_empty_title_in_a_batch_names_the_item(client):
    response = client.post("/predict/batch", json={"items": [PRODUCT, {"title": ""}]})

    assert response.status_code == 422
    assert [d["field"] for d in response.json()["detail"]] == ["body.items.1.title"]


def test_title_with_one_visible_character_is_served(client):
    assert client.post("/predict", json={"title": " x "}).status_code == 200


def test_the_schema_says_the_title_must_not_be_blank(client):
    schema = client.get("/openapi.json").json()["components"]["schemas"]["Product"]["properties"]["title"]

    # Python's whitespace listed explicitly: regex dialects disagree on \s (ECMAScript's omits U+001C-U+001F, U+0085)
    assert "\\s" not in schema["pattern"]
    # blank: exactly the code points the model reads as nothing, whitespace and those the graph's fold drops
    blank = [c for c in range(0x110000) if re.search(schema["pattern"], chr(c)) is None]
    assert blank == [c for c in range(0x110000) if not normalise_like_onnx(chr(c)).strip()]
    assert {0x200B, 0xAD, 0xFEFF, 0xE0041} < set(blank)


def test_body_that_is_not_json_is_422(client):
    response = client.post("/predict", content=b"{not json", headers={"content-type": "application/json"})

    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


def test_malformed_json_says_what_is_wrong_and_where(client):
    body = b'{"title": "tv",\n "price": 12,}'

    response = client.post("/predict", content=body, headers={"content-type": "application/json"})

    assert response.status_code == 422
    assert response.json() == {
        "error": "the body is not valid JSON: expecting property name enclosed in double quotes at line 2, column 14 "
        "(character 30); JSON wants double-quoted names and strings, commas between items and none after the last",
        "detail": [
            {
                "field": "body",
                "message": "expecting property name enclosed in double quotes at line 2, column 14 (character 30)",
                "type": "json_invalid",
            }
        ],
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"title": "tv', "unterminated string starting at line 1, column 11 (character 11)"),
        (b'{"title": "tv\x00"}', "invalid control character at line 1, column 14 (character 14)"),
    ],
)
def test_a_json_message_that_ends_in_at_says_it_once(client, body, message):
    response = client.post("/predict", content=body, headers={"content-type": "application/json"})

    assert response.status_code == 422
    assert response.json()["detail"][0]["message"] == message


def test_non_finite_price_is_rejected(client):
    response = client.post(
        "/predict", content=b'{"title": "tv", "price": NaN}', headers={"content-type": "application/json"}
    )

    assert response.status_code == 422


def test_wrong_content_type_is_415(client):
    response = client.post("/predict", content=b'{"title": "tv"}', headers={"content-type": "text/plain"})

    assert response.status_code == 415
    assert response.json() == {"error": "Content-Type must be application/json, got 'text/plain'"}


@pytest.mark.parametrize("top_k", ["0", "11", "abc"])
def test_top_k_out_of_range_is_422(client, top_k):
    assert client.post(f"/predict?top_k={top_k}", json=PRODUCT).status_code == 422


def test_unicode_emoji_and_control_characters_are_fine(client):
    response = client.post("/predict", json={"title": "Kühlschrank 📱\t\nΣΊΣΥΦΟΣ", "seller_id": "ünï"})

    assert response.status_code == 200


def test_health_and_model(client):
    assert client.get("/health").json() == {"status": "ok", "model_loaded": True, "model_version": "test-synthetic-1"}
    described = client.get("/model").json()
    assert described["model_version"] == "test-synthetic-1"
    assert described["trained_at"] == "2026-01-01T00:00:00+00:00"
    assert len(described["classes"]) == 10
    assert [i["name"] for i in described["inputs"]] == ["title", "seller_id", "brand", "price"]


@pytest.mark.parametrize("path", ["/health", "/model", "/openapi.json", "/docs", "/redoc"])
def test_every_read_route_answers_get_alone(client, path):
    # HEAD is not routed (template.yaml), and through Mangum a 200 to HEAD carries the whole body
    assert client.get(path).status_code == 200
    assert client.head(path).status_code == 405


def test_unknown_route_and_method(client):
    assert client.get("/nope").status_code == 404
    assert client.get("/predict").status_code == 405
    # a trailing slash is another path, not a redirect to a URL built from the Host header
    for path in ("/predict/", "/health/"):
        response = client.post(path, json=PRODUCT, follow_redirects=False)
        assert (response.status_code, response.json()) == (404, {"error": "Not Found"})


@pytest.mark.parametrize("path", ["/predict", "/predict/batch"])
def test_a_misspelt_query_parameter_is_422_not_silently_ignored(client, path):
    body = PRODUCT if path == "/predict" else {"items": [PRODUCT]}
    response = client.post(f"{path}?target_precison=0.99&topk=1&top_k=2", json=body)

    assert response.status_code == 422
    detail = response.json()["detail"]
    assert [(d["field"], d["type"]) for d in detail] == [
        ("query.target_precison", "extra_forbidden"), ("query.topk", "extra_forbidden")]  # fmt: skip
    assert "top_k, min_confidence, target_precision, explain" in detail[0]["message"]


@pytest.mark.parametrize("path", ["/predict", "/predict/batch"])
def test_a_misspelt_or_repeated_query_parameter_is_told_before_the_body_and_the_values(client, path):
    # GIVEN a typo in the query beside an unknown body field, and a parameter given twice with a bad value
    body = {**PRODUCT, "colour": "red"} if path == "/predict" else {"items": [{**PRODUCT, "colour": "red"}]}

    misspelt = client.post(f"{path}?target_precison=0.99", json=body)
    twice = client.post(f"{path}?top_k=1&top_k=abc", json=PRODUCT if path == "/predict" else {"items": [PRODUCT]})

    # THEN the query is what the 422 names: fixing the body alone would not have been enough
    assert [d["field"] for d in misspelt.json()["detail"]] == ["query.target_precison"]
    assert [(d["field"], d["message"]) for d in twice.json()["detail"]] == [
        ("query.top_k", "given 2 times; give it once")
    ]


@pytest.mark.parametrize("path", ["/predict", "/predict/batch"])
def test_a_query_parameter_given_twice_is_422_not_the_last_value_silently(client, path):
    body = PRODUCT if path == "/predict" else {"items": [PRODUCT]}
    response = client.post(f"{path}?top_k=1&top_k=3&explain=true&explain=false&min_confidence=0.5", json=body)

    assert response.status_code == 422
    assert [(d["field"], d["message"]) for d in response.json()["detail"]] == [
        ("query.top_k", "given 2 times; give it once"), ("query.explain", "given 2 times; give it once")]  # fmt: skip


def test_the_query_parameters_refused_as_unknown_are_those_the_schema_does_not_list(client):
    operations = client.get("/openapi.json").json()["paths"]
    for path in ("/predict", "/predict/batch"):
        assert {p["name"] for p in operations[path]["post"]["parameters"] if p["in"] == "query"} == set(PREDICT_QUERY)


def test_another_catalogue_schema_is_served_without_code_change(other_schema_model_path):
    settings = Settings(model_path=other_schema_model_path)
    client = TestClient(create_app(load_model(settings), settings))

    schema = client.get("/openapi.json").json()["components"]["schemas"]["Product"]
    answer = client.post("/predict", json={"title": "acme smartphone x100", "merchant_id": 7})

    assert set(schema["properties"]) == {"title", "merchant_id"}
    assert schema["required"] == ["title"]
    assert answer.status_code == 200
    assert client.post("/predict", json={"title": "tv", "seller_id": "s1"}).status_code == 422
    assert client.get("/docs").status_code == 200


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"[1, 2]", 422),
        (b"null", 422),
        (b'{"title": "\\ud800"}', 422),  # a lone surrogate cannot reach the tokenizer as UTF-8
        (b'{"title": "tv", "seller_id": "\\udfff"}', 422),
        (b"[" * 100_000 + b"]" * 100_000, 400),  # nesting deep enough to exhaust a recursive parser
    ],
)
def test_hostile_bodies_are_client_errors(client, body, status):
    response = client.post("/predict", content=body, headers={"content-type": "application/json"})

    assert response.status_code == status
