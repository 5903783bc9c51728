"""What a careless or hostile client sends over HTTP: every answer is a small 4xx in the one error shape."""

from __future__ import annotations

import gzip
import json
import sys
import time

import pytest
from fastapi.testclient import TestClient

from handler import app as handler_app
from handler.app import MAX_ERRORS, create_app
from handler.guard import MAX_ECHO
from handler.model import load_model
from handler.settings import Settings
from tests.conftest import train_tiny_model
from training.config import load_config
from training.data.synthetic import generate_catalogue

JSON = {"content-type": "application/json"}
LIMIT = 200_000


@pytest.fixture(scope="module")
def client(model_path):
    settings = Settings(model_path=model_path, max_body_bytes=LIMIT)
    return TestClient(create_app(load_model(settings), settings))


def _error_shape(response) -> dict:
    body = response.json()
    assert set(body) <= {"error", "detail"}
    assert isinstance(body["error"], str)
    return body


def test_many_unknown_fields_give_a_small_capped_422(model_path):
    # GIVEN the request that made a > 6 MB answer: 70,000 unknown keys in 0.76 MB, under a limit that admits it
    settings = Settings(model_path=model_path, max_body_bytes=1_000_000)
    client = TestClient(create_app(load_model(settings), settings))
    body = json.dumps({"title": "tv"} | {f"k{i}": 0 for i in range(70_000)})

    # WHEN it is sent
    response = client.post("/predict", content=body, headers=JSON)

    # THEN at most MAX_ERRORS entries come back, and the answer stays tiny
    assert response.status_code == 422
    assert len(response.json()["detail"]) == MAX_ERRORS
    assert "70000 problems" in response.json()["error"]
    assert len(response.content) < 10_000


def test_default_body_limit_refuses_that_request_outright(model_path):
    settings = Settings(model_path=model_path)
    client = TestClient(create_app(load_model(settings), settings))
    body = json.dumps({"title": "tv"} | {f"k{i}": 0 for i in range(70_000)})

    assert client.post("/predict", content=body, headers=JSON).status_code == 413


def test_long_unknown_keys_are_echoed_shortened(client):
    response = client.post("/predict", json={"title": "tv", "k" * 50_000: 1})

    assert response.status_code == 422
    assert len(response.json()["detail"][0]["field"]) <= MAX_ECHO + len("…")


@pytest.mark.parametrize("declared", [True, False])
def test_bodies_over_the_limit_are_413_before_parsing(client, declared):
    body = json.dumps({"title": "x" * LIMIT}).encode()
    headers = JSON if declared else JSON | {"transfer-encoding": "chunked"}

    response = client.post("/predict", content=body if declared else iter([body[:1000], body[1000:]]), headers=headers)

    assert response.status_code == 413
    assert "MAX_BODY_BYTES" in _error_shape(response)["error"]


def test_absurd_content_length_is_413(client):
    response = client.post("/predict", content=b"{}", headers=JSON | {"content-length": "9" * 5000})

    assert response.status_code == 413


def test_a_content_length_with_leading_zeros_is_its_number(client):
    body = b'{"title": "tv"}'

    response = client.post("/predict", content=body, headers=JSON | {"content-length": "0" * 20 + str(len(body))})

    assert response.status_code == 200


@pytest.mark.parametrize("content_type", ["application/jsonx", "text/notjson", ";;;==json", "json", "text/plain"])
def test_media_types_that_are_not_json_are_415(client, content_type):
    response = client.post("/predict", content=b'{"title": "tv"}', headers={"content-type": content_type})

    assert response.status_code == 415


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "application/vnd.api+json"])
def test_json_media_types_with_parameters_or_suffix_are_accepted(client, content_type):
    assert (
        client.post("/predict", content=b'{"title": "tv"}', headers={"content-type": content_type}).status_code == 200
    )


def test_a_huge_content_type_is_not_echoed_whole(client):
    response = client.post("/predict", content=b"{}", headers={"content-type": "text/" + "x" * 10_000})

    assert response.status_code == 415
    assert len(response.content) < 500


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"title": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", "the body nests arrays or objects too deeply"),
        # over Python's 4,300-digit int limit
        (b'{"title": "tv", "price": ' + b"9" * 5_000 + b"}", "a number in the body has too many digits to read"),
        (b'{"title": "caf\xe9"}', "the body is not UTF-8 text (byte 15 cannot be decoded)"),  # latin-1
        (b'{"title": "\xff\xfe"}', "the body is not UTF-8 text (byte 12 cannot be decoded)"),
        (gzip.compress(b'{"title": "tv"}'), "the body is not UTF-8 text (byte 2 cannot be decoded)"),
        # a lone surrogate's bytes, which json.loads would decode (surrogatepass) for validation to refuse
        (b'{"title": "a\xed\xa0\x80"}', "the body is not UTF-8 text (byte 13 cannot be decoded)"),
        # counted in the body as sent, byte-order mark included
        (b'\xef\xbb\xbf{"title": "caf\xe9"}', "the body is not UTF-8 text (byte 18 cannot be decoded)"),
        # UTF-16 (read, as json reads it) cut short by a byte
        ('{"title": "tv"}'.encode("utf-16") + b"\x00", "the body is not UTF-16 text (byte 33 cannot be decoded)"),
    ],
    ids=["nested", "digits", "latin-1", "bytes", "gzip", "surrogate", "after a mark", "utf-16 cut"],
)
def test_unparsable_bodies_are_400_in_the_error_shape_saying_why_in_words(client, body, reason):
    response = client.post("/predict", content=body, headers=JSON)

    assert response.status_code == 400
    detail = _error_shape(response)["detail"]
    # THEN the client reads why, never the parser's exception name or its server-side advice
    assert detail == [{"field": "body", "message": reason, "type": "body_unparsable"}]
    assert response.json()["error"] == "the body could not be parsed as JSON"


@pytest.mark.parametrize(
    ("body", "repeated"),
    [
        (b'{"items": [{"title": "tv"}, {"title": "fridge"}], "items": [{"title": "laptop"}]}', "items"),
        (b'{"items": [{"title": "tv", "price": 3, "title": "fridge"}]}', "title"),
    ],
    ids=["a batch's items", "a listing's title"],
)
def test_an_object_naming_a_member_twice_is_422_naming_it(client, body, repeated):
    # GIVEN a body whose object names a member twice, which a JSON parser resolves by dropping one of them
    # WHEN it is sent
    response = client.post("/predict/batch", content=body, headers=JSON)

    # THEN nothing is answered for a part of it: the client is told which name it gave twice
    assert response.status_code == 422
    message = f"the name {repeated!r} appears twice in one object"
    assert _error_shape(response)["detail"] == [{"field": "body", "message": message, "type": "json_repeated_name"}]


def test_a_repeated_name_at_the_end_of_a_large_object_is_found_in_one_pass(client):
    # GIVEN an object of 15,000 names (a body near the limit) repeating its first name at its end
    members = ",".join(f'"k{i}": 1' for i in range(15_000))
    body = ('{"title": "tv", "x": {' + members + ', "k0": 2}}').encode()
    assert len(body) < LIMIT

    started = time.perf_counter()
    response = client.post("/predict", content=body, headers=JSON)

    # THEN it is named, in far less time than comparing each name with all before it took (seconds)
    assert response.status_code == 422
    assert _error_shape(response)["detail"][0]["message"] == "the name 'k0' appears twice in one object"
    assert time.perf_counter() - started < 1.0


def test_a_second_byte_order_mark_is_named_without_the_parsers_advice(client):
    response = client.post("/predict", content=b'\xef\xbb\xbf\xef\xbb\xbf{"title": "tv"}', headers=JSON)

    assert response.status_code == 422
    assert _error_shape(response)["detail"][0]["message"] == "unexpected UTF-8 BOM at line 1, column 1 (character 1)"


@pytest.mark.parametrize(
    "body",
    [b'\xef\xbb\xbf{"title": "samsung 55in tv"}', '{"title": "samsung 55in tv"}'.encode("utf-16")],
    ids=["UTF-8 with a byte-order mark", "UTF-16"],
)
def test_a_body_in_an_encoding_json_allows_is_read_as_utf8(client, body):
    response = client.post("/predict", content=body, headers=JSON)

    assert response.status_code == 200
    assert response.json() == client.post("/predict", json={"title": "samsung 55in tv"}, headers=JSON).json()


@pytest.mark.parametrize("body", [gzip.compress(b'{"title": "tv"}'), b'{"title": "tv"}'], ids=["gzip", "plain"])
@pytest.mark.parametrize(
    ("coding", "named"),
    [("gzip", "gzip"), ("br", "br"), ("GZIP, deflate", "gzip, deflate"), ("identity, gzip", "gzip")],
)
def test_a_body_declared_compressed_is_415_saying_so(client, body, coding, named):
    response = client.post("/predict", content=body, headers=JSON | {"content-encoding": coding})

    assert response.status_code == 415
    assert _error_shape(response)["error"] == f"Content-Encoding {named!r} is not supported: send the body uncompressed"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_a_coding_in_a_second_content_encoding_header_is_seen(client):
    headers = [("content-type", "application/json"), ("content-encoding", "identity"), ("content-encoding", "gzip")]

    response = client.post("/predict", content=gzip.compress(b'{"title": "tv"}'), headers=headers)

    assert response.status_code == 415


def test_identity_or_a_request_without_a_body_is_served_whatever_its_content_encoding(client):
    assert client.post("/predict", json={"title": "tv"}, headers={"content-encoding": "identity"}).status_code == 200
    assert (
        client.post("/predict", json={"title": "tv"}, headers={"content-encoding": "identity, identity"}).status_code
        == 200
    )
    assert client.get("/health", headers={"content-encoding": "gzip"}).status_code == 200
    assert client.get("/nowhere", headers={"content-encoding": "gzip"}).status_code == 404


def test_the_guards_refusals_are_logged_as_the_apps_own(client, capsys, monkeypatch):
    monkeypatch.setattr(handler_app.logger.registered_handler, "stream", sys.stdout)

    client.post("/predict", content=b"{}", headers=JSON | {"content-length": str(LIMIT + 1)})
    client.post("/predict", content=b"{}", headers=JSON | {"content-encoding": "gzip"})

    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"rejected request"' in line]
    assert [(line["path"], line["status"]) for line in logged] == [("/predict", 413), ("/predict", 415)]


def test_a_refusals_log_line_names_an_unknown_field_by_its_place_not_its_name(client, capsys, monkeypatch):
    monkeypatch.setattr(handler_app.logger.registered_handler, "stream", sys.stdout)

    query = client.post("/predict?jane=1", json={"title": "tv"})
    body = client.post("/predict", json={"title": "tv", "jane.doe@example.com": 1})

    assert query.status_code == body.status_code == 422
    lines = [line for line in capsys.readouterr().out.splitlines() if '"rejected request"' in line]
    assert not any("jane" in line for line in lines)
    assert [json.loads(line)["errors"] for line in lines] == [
        [{"field": "query.<unknown>", "type": "extra_forbidden"}],
        [{"field": "body.<unknown>", "type": "extra_forbidden"}],
    ]


@pytest.mark.parametrize("path", ["/predict", "/predict/batch"])
def test_an_empty_body_is_told_so(client, path):
    response = client.post(path, content=b"", headers=JSON)

    assert response.status_code == 422
    assert _error_shape(response)["detail"] == [
        {"field": "body", "message": "the body is empty: send the request as a JSON object", "type": "missing"}
    ]


@pytest.mark.parametrize("price", [1e39, 1e308, 3.5e38])
def test_numbers_beyond_float32_are_422_naming_the_field(client, price):
    response = client.post("/predict", json={"title": "tv", "price": price})

    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "body.price"


def test_largest_float32_is_accepted(client):
    assert client.post("/predict", json={"title": "tv", "price": 3.4e38}).status_code == 200


def test_integer_ids_beyond_the_documented_range_are_422(client):
    response = client.post("/predict", json={"title": "tv", "seller_id": 10**16})

    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "body.seller_id"


def test_openapi_declares_every_status_and_integer_ids(client):
    spec = client.get("/openapi.json").json()

    for path in ("/predict", "/predict/batch"):
        assert set(spec["paths"][path]["post"]["responses"]) == {"200", "400", "413", "415", "422", "500"}
    for path in ("/health", "/model"):  # a body sent compressed is a 415 there too, a fault a 500
        assert set(spec["paths"][path]["get"]["responses"]) == {"200", "413", "415", "500"}
    seller = spec["components"]["schemas"]["Product"]["properties"]["seller_id"]
    assert {option.get("type") for option in seller["anyOf"]} == {"string", "integer", "null"}
    price = spec["components"]["schemas"]["Product"]["properties"]["price"]["anyOf"][0]
    assert price["maximum"] == pytest.approx(3.4028234663852886e38)


def test_unknown_routes_and_methods_use_the_error_shape(client):
    for response in (client.get("/nope"), client.get("/predict"), client.delete("/health")):
        assert response.status_code in {404, 405}
        assert set(response.json()) == {"error"}


def test_every_answer_says_nosniff(client):
    for response in (client.get("/health"), client.post("/predict", json={}), client.get("/docs")):
        assert response.headers["x-content-type-options"] == "nosniff"


def test_inputs_named_like_pydantics_own_attributes_are_served(tmp_path):
    # GIVEN a model whose inputs are named model_config, json and copy (words the config takes: any column name may
    # become one), which as pydantic fields would fail the app's start or shadow BaseModel's methods
    config_path = tmp_path / "config.yaml"
    config_path.write_text(
        "name: named\ndata: {columns: {title: title, model_config: seller_id, json: brand, copy: price}, "
        "target: category, text: title, hashed: [model_config, json], numeric: [copy]}\n"
    )
    model_file = train_tiny_model(
        load_config(config_path), generate_catalogue(1_500, seed=2), tmp_path / "model.onnx", "named-1"
    )
    settings = Settings(model_path=model_file)
    model = load_model(settings)
    client = TestClient(create_app(model, settings))
    row = {"title": "acme smartphone x100", "model_config": "s1", "json": "acme", "copy": 199.0}

    # WHEN a listing is sent with those fields, and with one of them misspelt
    answered = client.post("/predict", json=row)
    refused = client.post("/predict", json=row | {"input_1": "s1"})

    # THEN the function answers as its graph does, names the fields so in its schema, and refuses unknown ones
    assert answered.status_code == 200, answered.text
    assert answered.json()["label"] == model.predict([row])[0].label
    schema = client.get("/openapi.json").json()["components"]["schemas"]["Product"]["properties"]
    assert list(schema) == ["title", "model_config", "json", "copy"]
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["field"] == "body.input_1"


def test_model_description_shows_no_local_paths(model_path, tmp_path):
    import onnx

    # GIVEN a model whose metadata records the trainer's full path (as models trained before this fix did)
    model = onnx.load(model_path)
    entry = next(e for e in model.metadata_props if e.key == "product_classifier")
    metadata = json.loads(entry.value)
    metadata["training_data"] = {"source": "/home/alice/secret/catalogue.csv", "sha256": "ab" * 32, "rows": 9}
    entry.value = json.dumps(metadata)
    onnx.save(model, tmp_path / "model.onnx")
    settings = Settings(model_path=tmp_path / "model.onnx")

    # WHEN it is described
    described = TestClient(create_app(load_model(settings), settings)).get("/model").json()

    # THEN only the file's name and checksum are shown
    assert described["training_data"] == {"source": "catalogue.csv", "sha256": "ab" * 32, "rows": 9}
    assert "/home/alice" not in json.dumps(described)


def test_an_answer_lambda_could_not_return_is_a_422_saying_how_many_items_fit(model_path, tmp_path):
    # GIVEN a deployment whose answers may take at most 64 KiB (Lambda's is 6 MiB, reached with long category names),
    # and explained listings whose words (in the answers) are Cyrillic: two bytes each as Lambda's python3.12 counts
    limits = {"max_response_bytes": 65_536, "max_explained_rows": 2_000}
    settings = Settings(model_path=model_path, capture_sample_rate=1.0, capture_dir=tmp_path, **limits)
    client = TestClient(create_app(load_model(settings), settings))
    items = [{"title": f"телевизор плоский {i}"} for i in range(400)]

    # WHEN a batch asks for more than that, and then for what the error says fits
    refused = client.post("/predict/batch?top_k=5&explain=true", json={"items": items})
    message = refused.json()["detail"][0]["message"]
    fit = int(message.split("send at most about ")[1].split()[0])
    answered = client.post("/predict/batch?top_k=5&explain=true", json={"items": items[: fit - 5]})

    # THEN the first is refused before anything is captured, and the second is answered within the limit, near it
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["field"] == "body.items"
    assert "exceed the 65,536 Lambda returns" in message
    assert 0 < fit < len(items)
    assert answered.status_code == 200
    assert 0.9 * 65_536 < len(json.dumps(answered.text, ensure_ascii=False).encode()) <= 65_536
    captured = [line for path in tmp_path.rglob("*") if path.is_file() for line in path.read_text().splitlines()]
    assert len(captured) == fit - 5


def test_a_model_answering_a_non_finite_probability_is_a_500_not_a_broken_answer(model_path):
    # GIVEN a model whose graph answers NaN probabilities (a fault of the model, never of the request)
    settings = Settings(model_path=model_path)
    model = load_model(settings)
    session = model.session

    class NanSession:
        def run(self, names, feeds):
            outputs = session.run(names, feeds)
            outputs[1] = outputs[1] * float("nan")
            return outputs

    model.session = NanSession()
    client = TestClient(create_app(model, settings))

    response = client.post("/predict", json={"title": "acme tv"})

    assert response.status_code == 500
    assert set(_error_shape(response)) == {"error"}
