"""Malformed Lambda events through the entry: each is a 400-shaped answer and a log line, never an exception."""

from __future__ import annotations

import base64
import copy
import json
import sys
from pathlib import Path

import pytest

from tests.handler.test_lambda import FakeLambdaContext

EVENTS = Path(__file__).resolve().parents[2] / "events"
V2 = json.loads((EVENTS / "predict_http_api.json").read_text())
V1 = json.loads((EVENTS / "predict_rest_api.json").read_text())


def _v2(**changes):
    event = copy.deepcopy(V2)
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        target = event
        for key in parents:
            target = target[key]
        if value is _DELETE:
            del target[leaf]
        else:
            target[leaf] = value
    return event


def _v1(**changes):
    event = copy.deepcopy(V1)
    for key, value in changes.items():
        if value is _DELETE:
            del event[key]
        else:
            event[key] = value
    return event


_DELETE = object()
SQS = {"Records": [{"messageId": "1", "eventSource": "aws:sqs", "body": "{}"}]}

MALFORMED = {
    "invalid base64": _v2(isBase64Encoded=True, body="not base64!!"),
    "base64 ending in a non-ASCII space": _v2(isBase64Encoded=True, body="eyJ0aXRsZSI6ICJ0diJ9\u00a0"),
    "base64 wrapped by U+2028": _v2(isBase64Encoded=True, body="eyJ0aXRsZSI6\u2028ICJ0diJ9"),
    "lone surrogate in a cookie": _v2(cookies=["session=\ud800"]),
    "v2 from a load balancer": _v2(requestContext__elb={"targetGroupArn": "arn"}),
    "v1 from a load balancer, headers null": _v1(requestContext={"elb": {}}, multiValueHeaders=None),
    "isBase64Encoded as a string": _v2(isBase64Encoded="false"),
    "no requestContext": _v2(requestContext=_DELETE),
    "no http": _v2(requestContext__http=_DELETE),
    "no sourceIp": _v2(requestContext__http__sourceIp=_DELETE),
    "method not a string": _v2(requestContext__http__method=7),
    "headers null": _v2(headers=None),
    "header value a number": _v2(headers={"content-type": "application/json", "x-n": 5}),
    "headers a list": _v2(headers=["content-type"]),
    "body a number": _v2(body=12),
    "body an object": _v2(body={"title": "tv"}),
    "rawQueryString null": _v2(rawQueryString=None),
    "cookies not a list": _v2(cookies="a=b"),
    "bad host port": _v2(headers={"content-type": "application/json", "host": "example.com:http"}),
    "bad forwarded port": _v2(headers={"content-type": "application/json", "x-forwarded-port": "eighty"}),
    "superscript host port": _v2(headers={"content-type": "application/json", "host": "a:\u00b2"}),
    "superscript forwarded port": _v2(headers={"content-type": "application/json", "x-forwarded-port": "\u00b9"}),
    "v1 two Host values": _v1(multiValueHeaders={"Host": ["a:1", "b:2"]}),
    "v1 two forwarded ports": _v1(multiValueHeaders={"X-Forwarded-Port": ["443", "443"]}),
    "v1 multi-value Host over a good one": _v1(headers={"Host": "a"}, multiValueHeaders={"Host": ["a:x"]}),
    "lone surrogate in the body": _v2(body='{"title": "a\ud800b"}'),
    "lone surrogate in a header": _v2(headers={"content-type": "application/json", "x-a": "\udc80"}),
    "lone surrogate in the query": _v2(rawQueryString="top_k=\ud800"),
    # Read into the log lines' correlation id and the capture's records, not into the request Mangum builds.
    "lone surrogate in the request id": _v2(requestContext__requestId="r-\ud800"),
    "lone surrogate in the routed path": _v2(requestContext__http__path="/predict\ud800"),
    "lone surrogate in a stage variable": _v2(stageVariables={"stage": "\udfff"}),
    "v1 lone surrogate in the request id": _v1(requestContext={"requestId": "\ud800", "identity": {}}),
    "v1 without resource": _v1(resource=_DELETE),
    "v1 without httpMethod": _v1(httpMethod=_DELETE),
    "v1 path null": _v1(path=None),
    "v1 requestContext a string": _v1(requestContext="ctx"),
    "v1 multiValueHeaders not lists": _v1(multiValueHeaders={"accept": "x"}),
    "v1 query parameters numbers": _v1(queryStringParameters={"top_k": 2}),
    "empty object": {},
    "null": None,
    "a list": [V2],
    "a string": "GET /health",
    "a number": 42,
    "an SQS event": SQS,
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_event_is_a_400_answer_and_a_log_line(handler_main, name, capsys, monkeypatch):
    monkeypatch.setattr(handler_main.logger.registered_handler, "stream", sys.stdout)

    response = handler_main.lambda_handler(copy.deepcopy(MALFORMED[name]), FakeLambdaContext())

    assert response["statusCode"] == 400
    body = json.loads(response["body"])
    assert body["error"] == "invalid Lambda event"
    assert body["detail"][0]["field"] == "event"
    assert body["detail"][0]["type"] == "invalid_event"
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"level"' in line]
    assert any(log["message"] == "rejected event" for log in logged)


def test_non_ascii_header_and_query_text_is_echoed_as_sent(handler_main):
    # GIVEN text Mangum passes on as UTF-8 bytes, which Starlette reads as Latin-1
    def answer(**changes):
        return json.loads(handler_main.lambda_handler(_v2(**changes), FakeLambdaContext())["body"])

    media = answer(headers={"content-type": "applicätion/json"})
    coding = answer(headers={"content-type": "application/json", "content-encoding": "gzïp"})
    query = answer(rawQueryString="étiquette=1")
    escaped = answer(rawQueryString="%C3%83%C2%A9=1")  # percent-encoded, the name really is "Ã©"

    assert "'applicätion/json'" in media["error"]
    assert "'gzïp'" in coding["error"]
    assert [item["field"] for item in query["detail"]] == ["query.étiquette"]
    assert [item["field"] for item in escaped["detail"]] == ["query.Ã©"]


def test_an_ipv6_host_is_refused_for_what_it_is(handler_main):
    event = _v2(headers={"content-type": "application/json", "host": "[::1]:443"})

    response = handler_main.lambda_handler(event, FakeLambdaContext())

    assert response["statusCode"] == 400
    assert "an IPv6 address (such as [::1]:443) is not read" in json.loads(response["body"])["detail"][0]["message"]


def test_a_rejected_events_line_keeps_its_request_id_unless_the_id_is_at_fault(handler_main, capsys, monkeypatch):
    monkeypatch.setattr(handler_main.logger.registered_handler, "stream", sys.stdout)

    # A direct invoke may put anything where API Gateway puts the request id: the line never carries it.
    at_fault = [_v2(requestContext__requestId=rid) for rid in ("r-\ud800", {"x": "\ud800"}, ["\ud800"])]
    for event in (_v2(isBase64Encoded="false"), *at_fault):
        handler_main.lambda_handler(copy.deepcopy(event), FakeLambdaContext())

    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"rejected event"' in line]
    assert [log.get("correlation_id") for log in logged] == [V2["requestContext"]["requestId"], None, None, None]


def test_a_request_id_nested_too_deep_to_print_is_left_off_a_served_events_lines(handler_main, capsys, monkeypatch):
    monkeypatch.setattr(handler_main.logger.registered_handler, "stream", sys.stdout)
    nested: list = []
    for _ in range(1490):  # as deep as the Lambda runtime's JSON reader lets an event be; printing it recurses too deep
        nested = [nested]

    response = handler_main.lambda_handler(_v2(requestContext__requestId=nested), FakeLambdaContext())

    assert response["statusCode"] == 200, response
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"predicted"' in line]
    assert [log.get("correlation_id") for log in logged] == [None]


@pytest.mark.parametrize(
    ("event", "kind"),
    [(None, "null"), (42, "a number"), ("GET /health", "a string"), ([V2], "an array"), (True, "a boolean")],
)
def test_a_payload_that_is_no_object_is_named_in_jsons_words(handler_main, event, kind):
    response = handler_main.lambda_handler(event, FakeLambdaContext())

    assert json.loads(response["body"])["detail"][0]["message"].startswith(f"the event is {kind}, not an API Gateway")


def _wrapped_base64(body: str) -> str:
    """A body base64-encoded as the `base64` tool writes it: 76 characters a line."""
    encoded = base64.b64encode(body.encode()).decode()
    return "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))


@pytest.mark.parametrize(
    "event",
    [V1, V2, _v2(cookies=["a=b"]), _v1(headers=None, multiValueHeaders=None),
     _v2(isBase64Encoded=True, body=_wrapped_base64(V2["body"]))],
)  # fmt: skip
def test_well_formed_events_still_pass(handler_main, event):
    response = handler_main.lambda_handler(copy.deepcopy(event), FakeLambdaContext())

    assert response["statusCode"] in {200, 415}  # 415: a v1 event stripped of its headers has no Content-Type


@pytest.mark.parametrize(
    ("event", "status"),
    [
        (_v2(headers={"content-type": "application/json", "host": "["}, body='{"title": " "}'), 422),
        (_v2(headers={"host": "a]"}, requestContext__http__method="GET", requestContext__http__path="/nope"), 404),
        (_v2(headers={"content-type": "application/json", "x-forwarded-proto": "HTTPS"}, body='{"title": 1}'), 422),
        (_v2(headers={"content-type": "text/plain", "host": "["}), 415),
        (_v2(headers={"content-type": "application/json", "host": "["}, body="{"), 422),
    ],
    ids=["host-bracket-422", "host-bracket-404", "unknown-scheme-422", "host-bracket-415", "host-bracket-json"],
)
def test_a_refusal_is_answered_whatever_the_host_and_scheme_headers_say(handler_main, event, status):
    response = handler_main.lambda_handler(copy.deepcopy(event), FakeLambdaContext())

    assert response["statusCode"] == status
    assert json.loads(response["body"])["error"]
    assert response["headers"]["x-content-type-options"] == "nosniff"
