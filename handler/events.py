"""Checks that a Lambda event is an API Gateway proxy event Mangum can read, before it is handed over.

API Gateway always sends well-formed events, but anyone allowed to invoke the function directly (a test
console, a misrouted queue, a script) can send anything; Mangum indexes into the event and would raise.
"""

from __future__ import annotations

import binascii
import json
from base64 import b64decode
from typing import Any

BAD_EVENT_STATUS = 400
# What a direct invoke's payload is, in JSON's words.
JSON_KINDS = {
    dict: "an object",
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
}
# Marks the release path's own requests (the pre-traffic hook, the drift monitor), which invoke the function
# directly; see `without_client_synthetic_mark`.
SYNTHETIC_HEADER = "x-synthetic-traffic"


def event_problem(event: Any) -> str | None:
    """What makes `event` unusable as an HTTP API (v2) or REST API (v1) proxy event, or None."""
    if not isinstance(event, dict):
        kind = "null" if event is None else JSON_KINDS.get(type(event), type(event).__name__)
        return f"the event is {kind}, not an API Gateway proxy event (a JSON object)"
    context = event.get("requestContext")
    if isinstance(context, dict) and "elb" in context:
        # Mangum reads any event with requestContext.elb as a load balancer's, which this function is not behind.
        return "an Application Load Balancer event (requestContext.elb): this function is served by API Gateway"
    if event.get("version") == "2.0":
        problem = _v2_problem(event)
    elif "httpMethod" in event or "resource" in event:
        problem = _v1_problem(event)
    else:
        return "not an API Gateway proxy event: expected HTTP API 2.0 ('version': '2.0') or REST API ('httpMethod')"
    return problem or _server_problem(event) or _body_problem(event) or _unicode_problem(event)


def bad_event_response(problem: str) -> dict[str, Any]:
    """A proxy-shaped 400 answer, readable by API Gateway and by a direct caller alike."""
    detail = [{"field": "event", "message": problem, "type": "invalid_event"}]
    return {
        "statusCode": BAD_EVENT_STATUS,
        "headers": {"content-type": "application/json", "x-content-type-options": "nosniff"},
        "body": json.dumps({"error": "invalid Lambda event", "detail": detail}),
        "isBase64Encoded": False,
    }


def server_error_response() -> dict[str, Any]:
    """A proxy-shaped 500 answer for a fault of ours that happened outside FastAPI's own error handling."""
    return {
        "statusCode": 500,
        "headers": {"content-type": "application/json", "x-content-type-options": "nosniff"},
        "body": json.dumps({"error": "internal error"}),
        "isBase64Encoded": False,
    }


def _v2_problem(event: dict[str, Any]) -> str | None:
    """HTTP API payload 2.0: requestContext.http with method, path and sourceIp as strings."""
    http = event.get("requestContext", {}).get("http") if isinstance(event.get("requestContext"), dict) else None
    if not isinstance(http, dict):
        return "requestContext.http must be an object"
    for key in ("method", "path", "sourceIp"):
        if not isinstance(http.get(key), str):
            return f"requestContext.http.{key} must be a string"
    if not isinstance(event.get("rawQueryString", ""), str):
        return "rawQueryString must be a string"
    cookies = event.get("cookies", [])
    if not isinstance(cookies, list) or not all(isinstance(cookie, str) for cookie in cookies):
        return "cookies must be a list of strings"
    return _headers_problem(event.get("headers", {}), "headers", nullable=False)


def _v1_problem(event: dict[str, Any]) -> str | None:
    """REST API payload 1.0: httpMethod, path, requestContext, string headers and query parameters."""
    for key in ("httpMethod", "path"):
        if not isinstance(event.get(key), str):
            return f"{key} must be a string"
    if "version" not in event and not isinstance(event.get("resource"), str):
        return "resource must be a string (Mangum tells a REST API event by it)"
    context = event.get("requestContext")
    if not isinstance(context, dict) or not isinstance(context.get("identity", {}), dict):
        return "requestContext must be an object (with an optional identity object)"
    for key in ("headers", "queryStringParameters"):
        problem = _headers_problem(event.get(key), key, nullable=True)
        if problem:
            return problem
    for key in ("multiValueHeaders", "multiValueQueryStringParameters"):
        values = event.get(key) or {}
        if not isinstance(values, dict) or not all(
            isinstance(name, str) and isinstance(items, list) and all(isinstance(item, str) for item in items)
            for name, items in values.items()
        ):
            return f"{key} must map strings to lists of strings"
    return None


def _headers_problem(headers: Any, key: str, *, nullable: bool) -> str | None:
    """Headers (or query parameters) must map strings to strings."""
    if headers is None and nullable:
        return None
    if not isinstance(headers, dict) or not all(
        isinstance(name, str) and isinstance(value, str) for name, value in headers.items()
    ):
        return f"{key} must map strings to strings"
    return None


def _server_problem(event: dict[str, Any]) -> str | None:
    """Mangum reads the server's port from Host ("name:port") or X-Forwarded-Port and int()s it; both must hold a
    number. Read as Mangum reads them: a REST event's multiValueHeaders override its headers, values joined by ", "."""
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
    if event.get("version") != "2.0" and event.get("multiValueHeaders"):
        headers |= {name.lower(): ", ".join(values) for name, values in event["multiValueHeaders"].items()}
    host = headers.get("host", "")
    if ":" in host:
        if host.startswith("["):
            return "the Host header must be a name or name:port: an IPv6 address (such as [::1]:443) is not read"
        if host.count(":") != 1 or not _is_int(host.rpartition(":")[2]):
            return "the Host header must be a name or name:port with a numeric port"
    elif not _is_int(headers.get("x-forwarded-port", "80")):
        return "the X-Forwarded-Port header must be a number"
    return None


def _is_int(text: str) -> bool:
    """Whether int() reads `text` (str.isdigit also passes superscripts, which int() refuses)."""
    try:
        int(text)
    except ValueError:
        return False
    return True


def _unicode_problem(event: dict[str, Any]) -> str | None:
    """Every text of the event must be encodable as UTF-8, which a lone surrogate is not (JSON's "\\ud800" decodes to
    one): API Gateway never sends it, a direct invoke can. Not only what Mangum encodes (body, headers, query, path):
    the request id and the rest of the request context reach the log lines and the capture, written as UTF-8 too."""
    if all_text_encodes_as_utf8(event):
        return None
    return "the event holds text that is not valid Unicode (a lone surrogate)"


def all_text_encodes_as_utf8(value: Any) -> bool:
    """Whether every text in a JSON value (keys too, at any depth; walked without recursion) encodes as UTF-8."""
    pending: list[Any] = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending += [*item.keys(), *item.values()]
        elif isinstance(item, list):
            pending += item
        elif isinstance(item, str) and not encodes_as_utf8(item):
            return False
    return True


def encodes_as_utf8(text: str) -> bool:
    """Whether the text can be written as UTF-8 (a lone surrogate cannot), as log lines and answers are."""
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _body_problem(event: dict[str, Any]) -> str | None:
    """The body is a string or null; isBase64Encoded a boolean, and then the body valid base64 (line breaks aside, as
    the `base64` tool wraps it: Mangum's decoder skips them)."""
    body, encoded = event.get("body"), event.get("isBase64Encoded", False)
    if body is not None and not isinstance(body, str):
        return "body must be a string or null"
    if not isinstance(encoded, bool):
        return "isBase64Encoded must be true or false"
    if encoded and body:
        # ASCII only: Mangum's b64decode refuses any other character, Unicode whitespace (NBSP, U+2028) included.
        try:
            b64decode("".join(body.split()), validate=True)
        except (binascii.Error, ValueError):
            return "body is marked isBase64Encoded but is not valid base64"
        if not body.isascii():
            return "body is marked isBase64Encoded but is not valid base64"
    return None


def without_client_synthetic_mark(event: dict[str, Any]) -> dict[str, Any]:
    """The event without the synthetic-traffic header when API Gateway delivered it.

    Only the release path's direct invokes may keep their traffic out of the canary alarms and the drift check.
    API Gateway puts its `apiId` in every event it sends; a direct invoke has none. A client calling the API
    could otherwise hide its predictions by sending the header.
    """
    context = event.get("requestContext")
    if not isinstance(context, dict) or not context.get("apiId"):
        return event
    cleaned = dict(event)
    for key in ("headers", "multiValueHeaders"):
        if isinstance(event.get(key), dict):
            cleaned[key] = {name: value for name, value in event[key].items() if name.lower() != SYNTHETIC_HEADER}
    return cleaned
