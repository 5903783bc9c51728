"""The PreTraffic hook against the function's real Lambda entry, with CodeDeploy stubbed by botocore's Stubber.

moto does not implement `put_lifecycle_event_hook_execution_status`; the Stubber checks the exact call. What
the version must answer comes from an `expected.json` written from the test model's metadata, as `make build`
writes it from the artifact's.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import socket
from dataclasses import dataclass

import boto3
import onnx
import pytest
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from mangum import Mangum

from handler.app import create_app
from handler.model import load_model
from handler.settings import Settings
from pre_traffic import app as hook
from pre_traffic import invoke
from pre_traffic.app import handle
from pre_traffic.exceptions import HookEventError, InvocationError
from pre_traffic.invoke import Deadline, lambda_invoker
from tests.handler.test_lambda import FakeLambdaContext

EVENT = {"DeploymentId": "d-ABCDEF123", "LifecycleEventHookExecutionId": "hook-execution-1"}
VERSION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:product-classifier:7"


@dataclass
class HookContext:
    """What the hook reads of its Lambda context."""

    remaining_ms: int = 300_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture(scope="module")
def artifact(model_path):
    """The expected golden set as `make build` writes it from the artifact's ONNX metadata."""
    entry = next(e for e in onnx.load(model_path).metadata_props if e.key == "product_classifier")
    metadata = json.loads(entry.value)
    return {key: metadata[key] for key in ("model_version", "classes", "golden_examples")}


@pytest.fixture
def expected_path(tmp_path, artifact):
    path = tmp_path / "expected.json"
    path.write_text(json.dumps(artifact))
    return path


def _environ(expected_path, **changes):
    return {"NEW_VERSION": VERSION_ARN, "LATENCY_BUDGET_MS": "5000", "EXPECTED_PATH": str(expected_path)} | changes


def _codedeploy(status=None):
    """A stubbed CodeDeploy expecting one verdict (or none, when status is None)."""
    client = boto3.client("codedeploy", region_name="us-east-1")
    stubber = Stubber(client)
    if status:
        stubber.add_response(
            "put_lifecycle_event_hook_execution_status",
            {"lifecycleEventHookExecutionId": "hook-execution-1"},
            {"deploymentId": "d-ABCDEF123", "lifecycleEventHookExecutionId": "hook-execution-1", "status": status},
        )
    stubber.activate()
    return client, stubber


def _through(entry_point, *, tamper=None, seen=None):
    """An invoker factory sending events to an in-process entry point, optionally rewriting its answers."""

    def invoke(event, timeout_s):
        if seen is not None:
            seen.append((event, timeout_s))
        answer = entry_point(event, FakeLambdaContext())
        if tamper is not None:
            answer = tamper(event, answer) or answer
        return answer

    return lambda arn: invoke


def _run(entry_point, expected_path, status, *, tamper=None, seen=None, deadline=None, **env):
    client, stubber = _codedeploy(status)
    result = handle(
        EVENT,
        codedeploy=client,
        deadline=deadline or Deadline(280),
        environ=_environ(expected_path, **env),
        invoker=_through(entry_point, tamper=tamper, seen=seen),
    )
    stubber.assert_no_pending_responses()
    return result


def _predict_body(mutate):
    """A tamper rewriting the JSON body of every 200 POST /predict answer."""

    def tamper(event, answer):
        if event["rawPath"] == "/predict" and answer["statusCode"] == 200:
            body = json.loads(answer["body"])
            mutate(body)
            # An infinite number as JSON writes it (a finite literal too large for a float): Python reads it as inf.
            return answer | {"body": json.dumps(body).replace("Infinity", "1e999")}
        return None

    return tamper


def test_a_good_build_succeeds_and_marks_every_request_synthetic(handler_main, expected_path):
    seen = []

    result = _run(handler_main.lambda_handler, expected_path, "Succeeded", seen=seen)

    assert result == {"status": "Succeeded", "failures": []}
    assert {event["headers"]["x-synthetic-traffic"] for event, _ in seen} == {"pre-traffic"}
    # /health, /model, /openapi.json, the golden examples (back-off cases twice: with and without min_confidence)
    # and the malformed request
    golden = json.loads(expected_path.read_text())["golden_examples"]
    back_offs = [example for example in golden if "min_confidence" in example]
    assert len(golden) == 22 + len(back_offs)
    assert back_offs
    assert len(seen) == 3 + len(golden) + len(back_offs) + 1
    asked = [event["rawQueryString"] for event, _ in seen if "min_confidence" in event["rawQueryString"]]
    assert asked == [f"top_k=10&min_confidence={example['min_confidence']!r}" for example in back_offs]


def test_the_verdict_line_names_the_version_and_the_model_it_checked(handler_main, expected_path, artifact, caplog):
    # an SRE reading "passed" (or the check-only line `make deploy` prints) must see which version and model passed
    with caplog.at_level(logging.INFO):
        _run(handler_main.lambda_handler, expected_path, "Succeeded")

    [verdict] = [r for r in caplog.records if r.getMessage() == "pre-traffic check passed"]
    assert verdict.function_version == VERSION_ARN
    assert verdict.expected_model_version == artifact["model_version"]


def test_a_model_version_other_than_the_artifacts_fails(handler_main, expected_path, artifact):
    # GIVEN an artifact of another version than the one the function serves
    expected_path.write_text(json.dumps(artifact | {"model_version": "another-version"}))

    result = _run(handler_main.lambda_handler, expected_path, "Failed")

    assert result["failures"][:2] == [
        "GET /health serves model 'test-synthetic-1', expected 'another-version'",
        "GET /model names model 'test-synthetic-1', expected 'another-version'",
    ]


def test_answers_that_differ_from_the_artifacts_golden_set_fail(handler_main, expected_path, artifact):
    # GIVEN an artifact whose golden probabilities are another model's
    rotated = [
        e | {"probabilities": e["probabilities"][1:] + e["probabilities"][:1]} for e in artifact["golden_examples"]
    ]
    expected_path.write_text(json.dumps(artifact | {"golden_examples": rotated}))

    result = _run(handler_main.lambda_handler, expected_path, "Failed")

    assert result["failures"][0].startswith("golden example 0 ")
    total = len(json.loads(expected_path.read_text())["golden_examples"])
    assert result["failures"][-1] == f"stopped after 10 failed golden examples (10 of {total} replayed)"


def test_the_versions_own_golden_list_is_not_trusted(handler_main, expected_path):
    # GIVEN a version whose /model lists a single golden example and which answers example 5 wrongly
    def tamper(event, answer):
        if event["rawPath"] == "/model":
            body = json.loads(answer["body"])
            return answer | {"body": json.dumps(body | {"golden_examples": body["golden_examples"][:1]})}
        if event["rawPath"] == "/predict" and event["body"] == golden_inputs[5]:
            body = json.loads(answer["body"])
            body["confidence"] -= 0.01
            return answer | {"body": json.dumps(body)}
        return None

    golden_inputs = [json.dumps(e["inputs"]) for e in json.loads(expected_path.read_text())["golden_examples"]]

    result = _run(handler_main.lambda_handler, expected_path, "Failed", tamper=tamper)

    assert result["failures"] == ["golden example 5 probabilities differ by 1.0e-02 (tolerance 1e-05)"]


def _first(body, **changes):
    body["top_k"][0] |= changes


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b.update(top_k=b["top_k"][:1]), "listed 1 top_k entries, expected 10"),
        (lambda b: b.update(top_k=[b["top_k"][0]] * len(b["top_k"])), "lists a class more than once in top_k"),
        (lambda b: _first(b, probability=float("nan")), "answered 200 with a body that is not a JSON object"),
        (lambda b: _first(b, probability=float("inf")), "not a known class with a finite probability"),
        (lambda b: _first(b, probability="0.9"), "not a known class with a finite probability"),
        (lambda b: _first(b, probability=10**400), "not a known class with a finite probability"),
        (lambda b: b.update(confidence=-(10**400)), "confidence that is not a finite number"),
        (lambda b: _first(b, label="Bicycles"), "not a known class with a finite probability"),
        (lambda b: b.update(top_k=b["top_k"][::-1]), "out of order"),
        (lambda b: b.update(confidence=float("inf")), "confidence that is not a finite number"),
        (lambda b: _first(b, probability=b["top_k"][0]["probability"] + 1e-4), "probabilities differ by 1.0e-04"),
        (lambda b: b.update(top_k="all"), "listed 'all' top_k entries, expected 10"),
        (lambda b: b.update(model_version="v-other"), "was answered by model 'v-other'"),
        (lambda b: b.pop("path"), "answered no path list"),
        (lambda b: b["path"][0].update(node="Elsewhere"), "answered the path ['Elsewhere']"),
        (lambda b: b["path"][0].update(level=2), "answered the path levels [2]"),
        (lambda b: b["path"][0].update(level=True), "answered the path levels [True], expected the integers 1 to 1"),
        (lambda b: b["path"][0].update(level=1.0), "answered the path levels [1.0], expected the integers 1 to 1"),
        (lambda b: b["path"][0].update(confidence=b["path"][0]["confidence"] + 1e-4), "path confidences differ"),
        (lambda b: b["path"][0].update(confidence=None), "path confidence that is not a finite number"),
    ],
    ids=[
        "one-entry",
        "repeated",
        "nan",
        "inf",
        "string",
        "integer-beyond-float",
        "confidence-beyond-float",
        "unknown-class",
        "reversed",
        "inf-confidence",
        "1e-4",
        "not-a-list",
        "other-model",
        "no-path",
        "path-node",
        "path-level",
        "path-level-true",
        "path-level-float",
        "path-confidence",
        "path-confidence-null",
    ],
)
def test_a_version_that_answers_golden_examples_wrongly_fails(handler_main, expected_path, mutate, message):
    result = _run(handler_main.lambda_handler, expected_path, "Failed", tamper=_predict_body(mutate))

    assert result["failures"][0].startswith("golden example 0 ")
    assert message in result["failures"][0]


def test_a_version_that_backs_off_wrongly_fails(handler_main, expected_path):
    # GIVEN a version that ignores min_confidence (answers the leaf, not the parent the artifact expects)
    def tamper(event, answer):
        if "min_confidence" in event["rawQueryString"]:
            body = json.loads(answer["body"])
            return answer | {"body": json.dumps(body | {"label": body["path"][-1]["node"], "level": 1})}
        return None

    result = _run(handler_main.lambda_handler, expected_path, "Failed", tamper=tamper)

    # THEN every back-off case fails, naming the threshold and what was expected
    back_offs = [e for e in json.loads(expected_path.read_text())["golden_examples"] if "min_confidence" in e]
    assert len(result["failures"]) == len(back_offs)
    assert all(" with min_confidence=" in failure for failure in result["failures"])
    assert all("expected '' at 0" in failure for failure in result["failures"])


def _answer_to(path, method, replacement):
    """A tamper replacing the whole answer to one route."""

    def tamper(event, answer):
        if event["rawPath"] == path and event["requestContext"]["http"]["method"] == method:
            return replacement(answer) if callable(replacement) else replacement
        return None

    return tamper


def _with_body(answer, **changes):
    return answer | {"body": json.dumps(json.loads(answer["body"]) | changes)}


@pytest.mark.parametrize(
    ("tamper", "failure"),
    [
        (_answer_to("/health", "GET", {"statusCode": 503, "body": "starting"}), "GET /health answered 503: starting"),
        (
            _answer_to("/health", "GET", {"statusCode": 200, "body": "ok"}),
            "GET /health answered 200 with a body that is not a JSON object: ok",
        ),
        (
            _answer_to("/model", "GET", lambda a: _with_body(a, classes=["TVs"])),
            "GET /model lists other classes than the artifact's 10, or in another order",
        ),
        (
            _answer_to(
                "/predict", "POST", lambda a: a if a["statusCode"] != 200 else {"statusCode": 500, "body": "{}"}
            ),
            "golden example 0 answered 500: {}",
        ),
        (
            _answer_to("/predict", "POST", lambda a: a if a["statusCode"] != 200 else _with_body(a, label="Bicycles")),
            "golden example 0 answered 'Bicycles', training computed",
        ),
        (
            _answer_to(
                "/predict", "POST", lambda a: {"statusCode": 200, "body": "{}"} if a["statusCode"] != 200 else a
            ),
            "a malformed request answered 200, expected a 4xx",
        ),
        (
            _answer_to("/health", "GET", lambda a: a | {"isBase64Encoded": True}),
            "GET /health answered 200 with a body that is not a JSON object",
        ),
        (
            _answer_to("/model", "GET", lambda a: a | {"body": a["body"].replace("{", '{"drift": NaN, ', 1)}),
            "GET /model answered 200 with a body that is not a JSON object",
        ),
        (
            _answer_to("/health", "GET", {"statusCode": 503, "body": "starting \ud800"}),
            "GET /health answered 503: starting \\ud800",
        ),
    ],
    ids=[
        "health-503",
        "health-not-json",
        "model-classes",
        "golden-500",
        "golden-label",
        "malformed-200",
        # API Gateway decodes a body so marked: the client would get bytes, not this JSON
        "marked-base64",
        # Python's json reads it; JSON has no NaN
        "bare-nan",
        # quoted in the failure, which Lambda's UTF-8 log line must be able to write before the report
        "lone-surrogate",
    ],
)
def test_a_version_that_answers_a_route_wrongly_fails(handler_main, expected_path, tamper, failure):
    result = _run(handler_main.lambda_handler, expected_path, "Failed", tamper=tamper)

    assert result["failures"][0].startswith(failure)


def test_a_json_body_sent_as_base64_is_read_as_api_gateway_passes_it_on(handler_main, expected_path):
    def encoded(event, answer):
        return answer | {"body": base64.b64encode(answer["body"].encode()).decode(), "isBase64Encoded": True}

    result = _run(handler_main.lambda_handler, expected_path, "Succeeded", tamper=encoded)

    assert result == {"status": "Succeeded", "failures": []}


def test_a_back_off_level_that_is_no_integer_fails(handler_main, expected_path):
    def tamper(event, answer):
        if "min_confidence" in event["rawQueryString"]:
            body = json.loads(answer["body"])
            return answer | {"body": json.dumps(body | {"level": float(body["level"])})}
        return None

    result = _run(handler_main.lambda_handler, expected_path, "Failed", tamper=tamper)

    assert result["failures"]
    assert all(" at level 0.0, expected '' at 0" in failure for failure in result["failures"])


def test_a_verdict_codedeploy_already_has_ends_the_retried_invocation(handler_main, expected_path):
    # GIVEN a retried invocation: CodeDeploy took the first one's verdict
    client = boto3.client("codedeploy", region_name="us-east-1")
    stubber = Stubber(client)
    stubber.add_client_error(
        "put_lifecycle_event_hook_execution_status", service_error_code="LifecycleEventAlreadyCompletedException"
    )
    stubber.activate()

    # WHEN it reports, THEN it returns its verdict instead of raising (which would make Lambda retry it again)
    result = handle(
        EVENT,
        codedeploy=client,
        deadline=Deadline(280),
        environ=_environ(expected_path),
        invoker=_through(handler_main.lambda_handler),
    )

    assert result["status"] == "Succeeded"
    stubber.assert_no_pending_responses()


def test_lambda_clients_are_made_once_per_read_timeout():
    client_for = invoke._client_factory()

    assert client_for(28) is client_for(28)
    assert client_for(28).meta.config.read_timeout == 28
    assert client_for(13).meta.config.read_timeout == 13
    assert client_for(13).meta.config.retries["total_max_attempts"] == invoke.INVOKE_ATTEMPTS


def test_the_codedeploy_client_fits_in_the_safety_margin():
    config = hook._codedeploy_client().meta.config

    attempts = config.retries["total_max_attempts"]
    assert attempts * (config.connect_timeout + config.read_timeout) <= invoke.SAFETY_MARGIN_S


def test_a_top_k_from_another_ranking_fails(handler_main, expected_path):
    # GIVEN a version that lists the right number of distinct classes, but not the most probable ones
    def swap_last(body):
        classes = json.loads(expected_path.read_text())["classes"]
        listed = {entry["label"] for entry in body["top_k"]}
        body["top_k"][-1] = {"label": next(c for c in classes if c not in listed), "probability": 0.0}

    # WHEN only three classes are listed (so one is left out)
    app = create_app(handler_main.model, Settings(model_path=handler_main.settings.model_path, max_top_k=3))
    result = _run(Mangum(app, lifespan="off"), expected_path, "Failed", tamper=_predict_body(swap_last))

    # THEN it fails naming the classes it expected
    assert "as its top 3; the artifact's are" in result["failures"][0]


def test_top_k_follows_the_maximum_the_version_declares(model_path, expected_path):
    # GIVEN a function configured with MAX_TOP_K=3 (it answers 422 to top_k=10)
    settings = Settings(model_path=model_path, max_top_k=3)
    entry_point = Mangum(create_app(load_model(settings), settings), lifespan="off")
    seen = []

    result = _run(entry_point, expected_path, "Succeeded", seen=seen)

    assert result["status"] == "Succeeded"
    assert {
        event["rawQueryString"].split("&")[0]
        for event, _ in seen
        if event["rawPath"] == "/predict" and event["rawQueryString"]
    } == {"top_k=3"}


def _top_k_schema(schema):
    return {"paths": {"/predict": {"post": {"parameters": [{"name": "top_k", "in": "query", "schema": schema}]}}}}


@pytest.mark.parametrize(
    "openapi",
    [
        {"paths": {}},
        _top_k_schema({}),
        _top_k_schema({"maximum": 0}),
        _top_k_schema({"maximum": 2.5}),
        {"paths": {"/predict": {"post": {"parameters": "top_k"}}}},
        _top_k_schema({"maximum": float("inf")}),
        _top_k_schema({"maximum": True}),
    ],
    ids=["no-route", "no-maximum", "zero", "fraction", "odd", "infinite", "boolean"],
)
def test_an_openapi_document_without_a_usable_top_k_maximum_fails(handler_main, expected_path, openapi):
    def tamper(event, answer):
        body = json.dumps(openapi).replace("Infinity", "1e999")
        return answer | {"body": body} if event["rawPath"] == "/openapi.json" else None

    result = _run(handler_main.lambda_handler, expected_path, "Failed", tamper=tamper)

    assert len(result["failures"]) == 1
    assert result["failures"][0].startswith("GET /openapi.json declares")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"NEW_VERSION": ""}, "NEW_VERSION is not set"),
        ({"NEW_VERSION": "product-classifier"}, "NEW_VERSION must be a function version ARN"),
        ({"NEW_VERSION": VERSION_ARN.replace(":7", ":live")}, "NEW_VERSION must be a function version ARN"),
        ({"LATENCY_BUDGET_MS": "abc"}, "LATENCY_BUDGET_MS must be a finite number of milliseconds > 0, got 'abc'"),
        ({"LATENCY_BUDGET_MS": "nan"}, "LATENCY_BUDGET_MS must be a finite number of milliseconds > 0, got 'nan'"),
        ({"LATENCY_BUDGET_MS": "inf"}, "LATENCY_BUDGET_MS must be a finite number of milliseconds > 0, got 'inf'"),
        ({"LATENCY_BUDGET_MS": "0"}, "LATENCY_BUDGET_MS must be a finite number of milliseconds > 0, got '0'"),
        ({"LATENCY_BUDGET_MS": "-5"}, "LATENCY_BUDGET_MS must be a finite number of milliseconds > 0, got '-5'"),
    ],
)
def test_an_invalid_setting_is_a_failed_report_naming_it(expected_path, env, message, caplog):
    def never(arn):
        raise AssertionError("no version may be invoked with invalid settings")

    client, stubber = _codedeploy("Failed")

    with caplog.at_level(logging.ERROR):
        result = handle(
            EVENT, codedeploy=client, deadline=Deadline(280), environ=_environ(expected_path, **env), invoker=never
        )

    assert result["status"] == "Failed"
    assert message in result["failures"][0]
    assert [r.getMessage() for r in caplog.records] == ["pre-traffic check failed"]
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "could not be read"),
        ("{not json", "is not JSON"),
        ("[]", "is not a JSON object"),
        (json.dumps({"classes": ["a"], "golden_examples": [{}]}), "names no model_version"),
        (json.dumps({"model_version": "v1", "classes": [], "golden_examples": []}), "has no list of class names"),
        (json.dumps({"model_version": "v1", "classes": ["a", "a"], "golden_examples": []}), "lists a class twice"),
        (
            json.dumps({"model_version": "v1", "classes": ["a"], "golden_examples": [{"label": "a"}]}),
            "golden example 0 of",
        ),
        (json.dumps({"model_version": "v1", "classes": ["a"], "golden_examples": []}), "has no golden examples"),
        (
            json.dumps(
                {
                    "model_version": "v1",
                    "classes": ["a", "b"],
                    "golden_examples": [{"inputs": {}, "label": "a", "probabilities": [1.0]}],
                }
            ),
            "golden example 0 of",
        ),
        (
            json.dumps(
                {
                    "model_version": "v1",
                    "classes": ["a", "b"],
                    "golden_examples": [{"inputs": {}, "label": "a", "probabilities": [0.5, None]}],
                }
            ),
            "needs 2 finite probabilities",
        ),
        (
            json.dumps(
                {
                    "model_version": "v1",
                    "classes": ["a"],
                    "golden_examples": [{"inputs": {}, "label": "z", "probabilities": [1.0]}],
                }
            ),
            "has label 'z', not one of the classes",
        ),
        (
            json.dumps(
                {
                    "model_version": "v1",
                    "classes": ["a"],
                    "golden_examples": [{"inputs": {}, "label": "a", "probabilities": [1.0]}],
                }
            ),
            "needs a path of {node, confidence} ending at its label",
        ),
        (
            json.dumps(
                {
                    "model_version": "v1",
                    "classes": ["a"],
                    "golden_examples": [
                        {"inputs": {}, "label": "a", "probabilities": [1.0], "path": [{"node": "a", "confidence": 1}]}
                        | {"min_confidence": 2, "back_off": {"label": "", "level": 0}}
                    ],
                }
            ),
            "needs a min_confidence in 0..1",
        ),
    ],
    ids=[
        "missing",
        "not-json",
        "not-object",
        "no-version",
        "no-classes",
        "duplicate-class",
        "no-inputs",
        "no-golden",
        "short-probabilities",
        "null-probability",
        "unknown-label",
        "no-path",
        "bad-back-off",
    ],
)
def test_a_missing_or_malformed_golden_set_is_a_failed_report(tmp_path, content, message):
    path = tmp_path / "expected.json"
    if content is not None:
        path.write_text(content)
    client, stubber = _codedeploy("Failed")

    result = handle(EVENT, codedeploy=client, deadline=Deadline(280), environ=_environ(path), invoker=lambda arn: None)

    assert message in result["failures"][0]
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    "event",
    [{}, {"DeploymentId": "d-1"}, {"DeploymentId": "", "LifecycleEventHookExecutionId": "x"}, [], {"CheckOnly": "yes"}],
)
def test_an_event_without_codedeploy_ids_is_logged_and_raises(event, expected_path, caplog):
    client, stubber = _codedeploy(None)

    with caplog.at_level(logging.ERROR), pytest.raises(HookEventError, match="no verdict can be reported"):
        handle(event, codedeploy=client, deadline=Deadline(280), environ=_environ(expected_path))

    assert len(caplog.records) == 1
    stubber.assert_no_pending_responses()


def test_a_check_only_request_runs_the_same_checks_and_reports_nothing(handler_main, expected_path, artifact):
    # GIVEN the request `make deploy` sends after a deploy (a new stack's first version has no CodeDeploy run)
    client, stubber = _codedeploy(None)
    seen = []

    def check(served_version):
        served = artifact | {"model_version": served_version}
        expected_path.write_text(json.dumps(served))
        return handle(
            {"CheckOnly": True},
            codedeploy=client,
            deadline=Deadline(280),
            environ=_environ(expected_path),
            invoker=_through(handler_main.lambda_handler, seen=seen),
        )

    # THEN the version is checked like a canary is, the verdict comes back, and CodeDeploy hears nothing
    assert check(artifact["model_version"]) == {"status": "Succeeded", "failures": []}
    assert len(seen) > 20
    failed = check("another-version")
    assert failed["status"] == "Failed"
    assert "another-version" in failed["failures"][0]
    stubber.assert_no_pending_responses()


def test_a_codedeploy_event_asking_check_only_is_still_reported(handler_main, expected_path):
    client, stubber = _codedeploy("Succeeded")

    handle(EVENT | {"CheckOnly": True}, codedeploy=client, deadline=Deadline(280), environ=_environ(expected_path),
           invoker=_through(handler_main.lambda_handler))  # fmt: skip

    stubber.assert_no_pending_responses()


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_a_version_that_hangs_is_reported_failed_before_the_hooks_deadline(handler_main, expected_path):
    # GIVEN a version that takes each call's whole timeout, and 280 s of budget
    clock = FakeClock()
    deadline = Deadline(280, clock=clock)
    timeouts = []

    def hang(event, timeout_s):
        timeouts.append((timeout_s, deadline.remaining()))
        clock.now += timeout_s
        raise InvocationError(f"{event['rawPath']}: read timeout after {timeout_s:.0f} s")

    client, stubber = _codedeploy("Failed")

    # WHEN the hook runs
    result = handle(
        EVENT, codedeploy=client, deadline=deadline, environ=_environ(expected_path), invoker=lambda arn: hang
    )

    # THEN the first call was bounded by MAX_CALL_S and the budget, and the verdict went out in time
    assert timeouts == [(60.0, 280.0)]
    assert result["failures"] == ["/health: read timeout after 60 s"]
    stubber.assert_no_pending_responses()


def test_a_slow_golden_replay_stops_at_the_deadline_and_says_how_far_it_got(handler_main, expected_path):
    # GIVEN a version that answers correctly but takes 20 s per call, and 100 s of budget
    clock = FakeClock()
    deadline = Deadline(100, clock=clock)
    seen = []

    def slow(event, answer):
        assert seen[-1][1] <= deadline.remaining()  # no call may be given more time than is left
        clock.now += 20
        return None

    result = _run(
        handler_main.lambda_handler,
        expected_path,
        "Failed",
        tamper=slow,
        seen=seen,
        deadline=deadline,
        LATENCY_BUDGET_MS="1e9",
    )

    # THEN three calls then two golden examples fit (100 s); the sixth call would have had 0 s
    assert result["failures"] == [
        "out of time before POST /predict?top_k=10: 0.0 s left of the hook's budget (its timeout less 20 s for "
        "the report); raise the hook's Timeout or make the version answer faster (2 of "
        f"{len(json.loads(expected_path.read_text())['golden_examples'])} golden examples replayed)"
    ]
    assert [round(timeout) for _, timeout in seen] == [60, 60, 60, 40, 20]


def test_the_deadline_comes_from_the_lambda_context(monkeypatch, expected_path, caplog):
    # GIVEN a hook invoked with 25 s left: 5 s after the report's margin, less than one call needs
    client, stubber = _codedeploy("Failed")
    monkeypatch.setattr(hook, "_codedeploy_client", lambda: client)
    for name, value in _environ(expected_path).items():
        monkeypatch.setenv(name, value)

    result = hook.lambda_handler(EVENT, HookContext(remaining_ms=25_000))

    left = re.match(r"out of time before GET /health: (\d+\.\d) s left", result["failures"][0])
    assert left is not None, result["failures"][0]
    assert 4.0 <= float(left.group(1)) <= 5.0  # 5 s, less what the call took to get there on a loaded machine
    stubber.assert_no_pending_responses()


def test_a_context_without_remaining_time_fails_closed():
    assert Deadline.from_context(object()).remaining() < 0


def test_a_slow_answer_exceeds_the_latency_budget(handler_main, expected_path):
    result = _run(handler_main.lambda_handler, expected_path, "Failed", LATENCY_BUDGET_MS="0.000001")

    assert result["failures"][0].startswith("GET /model took ")
    assert all(" took " in failure for failure in result["failures"])


def test_a_bug_in_the_hook_is_still_a_failed_report(expected_path, caplog):
    def broken(event, timeout_s):
        return {"statusCode": 200, "body": json.dumps({"model_version": 1 / 0})}

    client, stubber = _codedeploy("Failed")

    with caplog.at_level(logging.ERROR):
        result = handle(
            EVENT, codedeploy=client, deadline=Deadline(280), environ=_environ(expected_path), invoker=lambda a: broken
        )

    assert result["failures"] == ["the checks could not complete: ZeroDivisionError: division by zero"]
    assert len(caplog.records) == 1
    assert caplog.records[0].exc_info is not None
    stubber.assert_no_pending_responses()


def _stub_invoke(stubber, response=None, error=None):
    if error:
        stubber.add_client_error("invoke", service_error_code=error, http_status_code=429)
    else:
        stubber.add_response("invoke", response, {"FunctionName": VERSION_ARN, "Payload": ANY})


def _payload(data: bytes):
    return StreamingBody(io.BytesIO(data), len(data))


@pytest.mark.parametrize(
    ("response", "error", "message"),
    [
        (
            {
                "StatusCode": 200,
                "FunctionError": "Unhandled",
                "Payload": _payload(b'{"errorType": "Runtime.ExitError", "errorMessage": "Runtime exited"}'),
            },
            None,
            "GET /health: " + VERSION_ARN + " failed (Unhandled)",
        ),
        (None, "TooManyRequestsException", "GET /health: invoking " + VERSION_ARN + " failed"),
        ({"StatusCode": 200, "Payload": _payload(b"null")}, None, "answered a payload that is not an HTTP response"),
        ({"StatusCode": 200, "Payload": _payload(b"<html>")}, None, "answered a payload that is not an HTTP response"),
    ],
    ids=["crash", "throttled", "null", "not-json"],
)
def test_a_version_that_cannot_answer_fails(expected_path, response, error, message):
    lambda_client = boto3.client("lambda", region_name="us-east-1")
    lambda_stub = Stubber(lambda_client)
    _stub_invoke(lambda_stub, response, error)
    lambda_stub.activate()
    read_timeouts = []

    def client_for(read_timeout):
        read_timeouts.append(read_timeout)
        return lambda_client

    client, stubber = _codedeploy("Failed")

    result = handle(
        EVENT,
        codedeploy=client,
        deadline=Deadline(280),
        environ=_environ(expected_path),
        invoker=lambda arn: lambda_invoker(arn, client_for=client_for),
    )

    assert result["status"] == "Failed"
    assert message in result["failures"][0]
    assert read_timeouts == [28]  # two attempts of 2 s connect + 28 s read fit in the 60 s a call may take
    lambda_stub.assert_no_pending_responses()
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize(("timeout_s", "read_timeout"), [(60, 28), (30, 13), (6, 1), (6.9, 1)])
def test_each_invoke_fits_its_timeout_with_both_attempts(timeout_s, read_timeout):
    chosen = []

    def client_for(seconds):
        chosen.append(seconds)
        raise InvocationError("stop here")

    with pytest.raises(InvocationError):
        lambda_invoker(VERSION_ARN, client_for=client_for)(invoke.http_event("GET", "/health", None), timeout_s)

    assert chosen == [read_timeout]
    assert 2 * (invoke.CONNECT_TIMEOUT_S + read_timeout) <= timeout_s


def test_unreachable_codedeploy_is_logged_and_fails_closed(handler_main, expected_path, caplog):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    codedeploy = boto3.client(
        "codedeploy",
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=1),
    )

    with caplog.at_level(logging.ERROR), pytest.raises(EndpointConnectionError):
        handle(
            EVENT,
            codedeploy=codedeploy,
            deadline=Deadline(280),
            environ=_environ(expected_path),
            invoker=_through(handler_main.lambda_handler),
        )
    assert "could not report the verdict to CodeDeploy" in caplog.text


def test_the_invoker_sends_the_event_and_returns_the_http_answer():
    lambda_client = boto3.client("lambda", region_name="us-east-1")
    stubber = Stubber(lambda_client)
    event = invoke.http_event("GET", "/health", None)
    answer = {"statusCode": 200, "body": "{}"}
    stubber.add_response(
        "invoke",
        {"StatusCode": 200, "Payload": _payload(json.dumps(answer).encode())},
        {"FunctionName": VERSION_ARN, "Payload": json.dumps(event).encode()},
    )
    stubber.activate()

    assert lambda_invoker(VERSION_ARN, client_for=lambda seconds: lambda_client)(event, 60) == answer
    assert event["headers"] == {"x-synthetic-traffic": "pre-traffic"}
    stubber.assert_no_pending_responses()
