"""Hierarchical answers: every answer carries its category path; min_confidence backs off to the deepest node the
model is sure of; bad thresholds are 422s; a model whose path metadata does not fit its graph refuses to load."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from fastapi.testclient import TestClient

from handler.app import create_app
from handler.exceptions import ModelLoadError
from handler.model import load_model
from handler.settings import Settings
from tests.conftest import with_metadata

PRODUCT = {"title": "acme smartphone x100 black 128gb", "seller_id": "s42", "brand": "acme", "price": 699.0}


@pytest.fixture(scope="module")
def taxonomy_model(taxonomy_model_path):
    return load_model(Settings(model_path=taxonomy_model_path))


@pytest.fixture(scope="module")
def client(taxonomy_model):
    settings = Settings(max_batch=5)
    return TestClient(create_app(taxonomy_model, settings))


@pytest.fixture(scope="module")
def flat_client(model_path):
    settings = Settings(model_path=model_path)
    return TestClient(create_app(load_model(settings), settings))


def _golden(model, *, back_off: bool) -> list[dict]:
    return [example for example in model.metadata["golden_examples"] if ("min_confidence" in example) == back_off]


def test_answer_carries_the_path_from_department_to_leaf(client, taxonomy_model):
    # GIVEN every golden row of a three-level taxonomy model
    for example in _golden(taxonomy_model, back_off=False):
        # WHEN it is predicted without min_confidence
        body = client.post("/predict", json=example["inputs"]).json()

        # THEN the path runs department → category → leaf, ends at the label, and its confidence never increases
        path = body["path"]
        assert [step["level"] for step in path] == [1, 2, 3]
        assert path[-1]["node"] == body["label"]
        assert body["label"].split(" > ") == [step["name"] for step in path]
        assert [step["node"] for step in path] == [" > ".join(body["label"].split(" > ")[:n]) for n in (1, 2, 3)]
        confidences = [step["confidence"] for step in path]
        assert confidences == sorted(confidences, reverse=True)
        assert path[-1]["confidence"] == pytest.approx(body["confidence"], abs=1e-6)
        assert "level" not in body


def test_min_confidence_backs_off_to_the_recorded_parent(client, taxonomy_model):
    examples = _golden(taxonomy_model, back_off=True)
    assert examples, "the golden set has back-off cases"
    for example in examples:
        body = client.post(f"/predict?min_confidence={example['min_confidence']}", json=example["inputs"]).json()

        assert (body["label"], body["level"]) == (example["back_off"]["label"], example["back_off"]["level"])
        assert body["confidence"] == pytest.approx(example["path"][body["level"] - 1]["confidence"], abs=1e-6)
        assert body["path"][-1]["node"] == example["label"]  # the path itself is still the leaf's


@pytest.mark.parametrize("threshold", [0.0, 0.2, 0.5, 0.8, 0.95, 1.0])
def test_label_is_the_deepest_node_reaching_min_confidence(client, threshold):
    body = client.post(f"/predict?min_confidence={threshold}", json=PRODUCT).json()

    reached = [step for step in body["path"] if step["confidence"] >= threshold]
    expected = (reached[-1]["node"], reached[-1]["level"]) if reached else ("", 0)
    assert (body["label"], body["level"]) == expected
    assert body["confidence"] == (reached[-1]["confidence"] if reached else 1.0)


def test_batch_backs_off_each_item(client):
    items = [PRODUCT, {"title": "nordvik washing machine w8"}]

    single = [client.post("/predict?min_confidence=0.6", json=item).json() for item in items]
    batch = client.post("/predict/batch?min_confidence=0.6", json={"items": items}).json()

    assert [{k: v for k, v in answer.items() if k != "model_version"} for answer in single] == batch["predictions"]


@pytest.mark.parametrize(
    ("query", "error_type"),
    [
        ("nan", "finite_number"),
        ("inf", "finite_number"),
        ("-0.1", "greater_than_equal"),
        ("1.01", "less_than_equal"),
        ("high", "float_parsing"),
        ("", "float_parsing"),
    ],
)
def test_invalid_min_confidence_is_a_422_naming_it(client, query, error_type):
    for path, body in (("/predict", PRODUCT), ("/predict/batch", {"items": [PRODUCT]})):
        response = client.post(f"{path}?min_confidence={query}", json=body)

        assert response.status_code == 422
        (error,) = response.json()["detail"]
        assert (error["field"], error["type"]) == ("query.min_confidence", error_type)


def test_flat_model_answers_one_level_and_backs_off_to_the_root(flat_client):
    plain = flat_client.post("/predict", json=PRODUCT).json()
    sure = flat_client.post("/predict?min_confidence=0", json=PRODUCT).json()
    unsure = flat_client.post("/predict?min_confidence=1", json=PRODUCT).json()

    assert set(plain) == {"label", "confidence", "top_k", "path", "model_version", "decision", "target_precision",
                          "decision_level", "decision_label"}  # fmt: skip
    leaf = {"name": plain["label"], "node": plain["label"], "level": 1, "confidence": plain["confidence"]}
    assert plain["path"] == [leaf]
    assert (sure["label"], sure["level"], sure["confidence"]) == (plain["label"], 1, plain["confidence"])
    assert (unsure["label"], unsure["level"], unsure["confidence"]) == ("", 0, 1.0)


def test_model_route_lists_a_bounded_number_of_golden_examples(client, taxonomy_model):
    golden = client.get("/model").json()["golden_examples"]

    # 30 leaves: 30 test rows, 2 adversarial titles and the back-off cases recorded; GET /model lists 30
    assert len(taxonomy_model.metadata["golden_examples"]) > 30
    assert golden == taxonomy_model.metadata["golden_examples"][:30]


def test_model_route_summarises_the_taxonomy(client, flat_client):
    assert client.get("/model").json()["taxonomy"] == {"depth": 3, "separator": " > ", "nodes_per_level": [3, 9, 30]}
    assert flat_client.get("/model").json()["taxonomy"] == {"depth": 1, "separator": None, "nodes_per_level": [10]}


def test_openapi_documents_min_confidence_path_and_level(client):
    schema = client.get("/openapi.json").json()

    (parameter,) = [p for p in schema["paths"]["/predict"]["post"]["parameters"] if p["name"] == "min_confidence"]
    answer = schema["components"]["schemas"]["PredictionResponse"]["properties"]
    assert parameter["in"] == "query"
    assert parameter["schema"]["anyOf"][0] == {"type": "number", "maximum": 1.0, "minimum": 0.0}
    assert {"path", "level"} <= set(answer)
    assert set(schema["components"]["schemas"]["PathNode"]["required"]) == {"name", "node", "level", "confidence"}


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (lambda m: m.pop("taxonomy"), "'taxonomy' \\(the class tree\\) is missing"),
        (lambda m: m["taxonomy"]["parents"].__setitem__(0, 5), "must name an earlier node"),
        (lambda m: m["taxonomy"]["names"].reverse(), "sits at taxonomy node"),
        (lambda m: _golden_back_off(m)["back_off"].update(level=1), "backs off to"),
        (lambda m: _golden_back_off(m)["path"][0].update(confidence=0.0), "where training recorded"),
        (lambda m: _golden_back_off(m).pop("back_off"), "recorded path or back-off answer is malformed"),
        (lambda m: m["taxonomy"].update(leaf_nodes=7), "'taxonomy.leaf_nodes' must be a list"),
    ],
)
def test_model_whose_path_metadata_does_not_fit_is_refused(taxonomy_model_path, tmp_path, tamper, message):
    # GIVEN the taxonomy model with its metadata changed
    path = with_metadata(taxonomy_model_path, tmp_path / "model.onnx", tamper)

    # WHEN it loads THEN it refuses, naming the problem
    with pytest.raises(ModelLoadError, match=message):
        load_model(Settings(model_path=path))


def _golden_back_off(metadata: dict) -> dict:
    return next(example for example in metadata["golden_examples"] if "min_confidence" in example)


def test_back_off_thresholds_are_clear_of_every_path_confidence(taxonomy_model):
    for example in _golden(taxonomy_model, back_off=True):
        assert all(abs(step["confidence"] - example["min_confidence"]) > 0.01 for step in example["path"])


def _emf(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{") and '"_aws"' in line]


def test_metrics_count_per_department_and_carry_low_confidence_per_leaf(client, capsys):
    # GIVEN a batch the model is unsure of (min 0.5 by default) at least once
    items = [PRODUCT, {"title": "x"}, {"title": "brand1 pro"}]
    capsys.readouterr()

    answers = client.post("/predict/batch", json={"items": items}).json()["predictions"]

    # THEN one DepartmentPredictions and one DepartmentLowConfidence line per department answered
    lines = _emf(capsys.readouterr().out)
    departments = Counter(answer["path"][0]["name"] for answer in answers)
    unsure = Counter(answer["path"][0]["name"] for answer in answers if answer["confidence"] < 0.5)
    low = {department: unsure[department] for department in departments}  # zero where none was unsure
    for name, expected in (("DepartmentPredictions", dict(departments)), ("DepartmentLowConfidence", low)):
        emitted = [line for line in lines if name in line]
        assert {line["department"]: line[name][0] for line in emitted} == expected
        dimensions = [line["_aws"]["CloudWatchMetrics"][0]["Dimensions"] for line in emitted]
        assert dimensions == [[["department", "service"]]] * len(emitted)
    leaves = {line["category"]: line["low_confidence"] for line in lines if "Predictions" in line}
    assert leaves == {label: Counter(a["label"] for a in answers if a["confidence"] < 0.5)[label] for label in leaves}


def test_a_flat_model_emits_no_department_metrics(flat_client, capsys):
    capsys.readouterr()

    flat_client.post("/predict", json=PRODUCT)

    assert not [line for line in _emf(capsys.readouterr().out) if "department" in line]
