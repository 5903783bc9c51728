"""The Lambda entry: API Gateway events through Mangum, with powertools logs and metrics."""

from __future__ import annotations

import base64
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

EVENTS = Path(__file__).resolve().parents[2] / "events"


@dataclass
class FakeLambdaContext:
    function_name: str = "product-classifier"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:product-classifier"
    aws_request_id: str = "52fdfc07-2182-154f-163f-5f0f9a621d72"


def _event(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def _emf_blobs(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{") and '"_aws"' in line]


@pytest.fixture(autouse=True)
def _app_loaded(handler_main):
    """Every test here needs the app: loaded before tests/handler/conftest.py resets its metrics state."""
    return handler_main


@pytest.mark.parametrize("event_file", ["predict_http_api.json", "predict_rest_api.json"])
def test_predict_event_v1_and_v2(handler_main, event_file):
    response = handler_main.lambda_handler(_event(event_file), FakeLambdaContext())

    assert response["statusCode"] == 200
    body = json.loads(response["body"])
    assert body["model_version"] == "test-synthetic-1"
    assert body["label"] in TestClient(handler_main.app).get("/model").json()["classes"]


def test_base64_batch_event(handler_main):
    event = _event("predict_batch_base64.json")
    items = json.loads(base64.b64decode(event["body"]))["items"]

    response = handler_main.lambda_handler(event, FakeLambdaContext())

    assert response["statusCode"] == 200
    assert len(json.loads(response["body"])["predictions"]) == len(items)


def test_invalid_event_is_422_not_500(handler_main):
    response = handler_main.lambda_handler(_event("predict_invalid.json"), FakeLambdaContext())

    assert response["statusCode"] == 422
    fields = {d["field"] for d in json.loads(response["body"])["detail"]}
    assert fields == {"body.title", "body.colour"}


def test_health_event(handler_main):
    response = handler_main.lambda_handler(_event("health.json"), FakeLambdaContext())

    assert response["statusCode"] == 200
    assert json.loads(response["body"])["model_loaded"] is True


def test_metrics_and_correlation_id_are_emitted(handler_main, capsys, monkeypatch):
    # GIVEN a prediction request with a known API Gateway request id, and logs going to the captured stdout
    event = _event("predict_http_api.json")
    monkeypatch.setattr(handler_main.logger.registered_handler, "stream", sys.stdout)

    # WHEN the function handles it
    handler_main.lambda_handler(event, FakeLambdaContext())

    # THEN EMF carries latency, batch size and per-category counts, and logs carry the correlation id
    output = capsys.readouterr().out
    names = {m["Name"] for blob in _emf_blobs(output) for m in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert {"InferenceLatency", "BatchSize", "LowConfidencePredictions", "Predictions"} <= names
    per_category = [blob for blob in _emf_blobs(output) if "category" in blob]
    assert per_category
    assert per_category[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "ProductClassifier"
    logs = [json.loads(line) for line in output.splitlines() if line.startswith("{") and '"level"' in line]
    predicted = [log for log in logs if log["message"] == "predicted"]
    assert predicted
    assert predicted[0]["correlation_id"] == event["requestContext"]["requestId"]
    assert predicted[0]["function_request_id"] == FakeLambdaContext.aws_request_id


def test_a_body_that_is_not_utf8_is_a_400_through_the_lambda_entry(handler_main):
    event = _event("predict_http_api.json")
    event["body"] = base64.b64encode(b'{"title": "caf\xe9"}').decode()
    event["isBase64Encoded"] = True

    response = handler_main.lambda_handler(event, FakeLambdaContext())

    assert response["statusCode"] == 400
    assert json.loads(response["body"])["detail"][0]["field"] == "body"


def test_a_fault_of_ours_outside_fastapi_is_a_counted_500_not_a_400(handler_main, monkeypatch, capsys):
    # GIVEN a response-formatting bug past the event check (Mangum itself raising)
    def broken(event, context):
        raise RuntimeError("response formatting bug")

    monkeypatch.setattr(handler_main, "mangum", broken)

    # WHEN a well-formed event arrives
    response = handler_main.lambda_handler(_event("predict_http_api.json"), FakeLambdaContext())

    # THEN it is a 500, and ServerErrors counts it
    assert response["statusCode"] == 500
    names = {
        m["Name"]
        for blob in _emf_blobs(capsys.readouterr().out)
        for m in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]
    }
    assert "ServerErrors" in names


def test_a_fault_of_ours_inside_a_route_is_a_counted_500_in_the_error_shape_logged_with_the_request(
    handler_main, monkeypatch, capsys
):
    # GIVEN a bug inside a route, past FastAPI's own error handling (inference itself raising)
    def broken(*args, **kwargs):
        raise ValueError("a bug of ours")

    monkeypatch.setattr("handler.app._predict", broken)
    monkeypatch.setattr(handler_main.logger.registered_handler, "stream", sys.stdout)

    # WHEN a well-formed request arrives
    response = handler_main.lambda_handler(_event("predict_http_api.json"), FakeLambdaContext())

    # THEN it is a 500 in the API's error shape with nosniff, one structured line carries the traceback and the
    # request id, and ServerErrors counts it
    assert response["statusCode"] == 500
    assert json.loads(response["body"]) == {"error": "internal error"}
    assert response["headers"]["x-content-type-options"] == "nosniff"
    out = capsys.readouterr().out
    (failed,) = [json.loads(line) for line in out.splitlines() if '"the request failed"' in line]
    assert "ValueError: a bug of ours" in failed["exception"]
    assert failed["correlation_id"] == _event("predict_http_api.json")["requestContext"]["requestId"]
    names = {m["Name"] for blob in _emf_blobs(out) for m in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert "ServerErrors" in names


def test_model_load_time_is_reported_once_per_environment_even_after_the_warm_up(handler_main, capsys):
    handler_main.warm_up()
    capsys.readouterr()

    handler_main.lambda_handler(_event("health.json"), FakeLambdaContext())
    first = capsys.readouterr().out
    handler_main.lambda_handler(_event("health.json"), FakeLambdaContext())
    second = capsys.readouterr().out

    def loads(output):
        return [blob for blob in _emf_blobs(output) if "ModelLoadTime" in blob]

    assert len(loads(first)) == 1
    assert loads(second) == []
