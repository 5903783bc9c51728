"""What the classifier's live alias serves: its model's metadata (`GET /model`) and when its version was published."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from drift_monitor.drift import normalise_shares
from drift_monitor.exceptions import InvalidSharesError, LiveModelError

SYNTHETIC_HEADER = "x-synthetic-traffic"
SYNTHETIC_SOURCE = "drift-monitor"


def describe_live_model(function_arn: str, *, lambda_client: Any) -> tuple[dict[str, Any], str | None]:
    """GET /model from the live alias, invoked directly with an HTTP API event marked as synthetic, and the version
    that answered (the invoke's ExecutedVersion: while a deployment shifts traffic, the alias's new version answers
    some invokes).

    Raises:
        LiveModelError: The invoke failed, the function failed, or it did not answer 200 with a JSON object.
    """
    event = {
        "version": "2.0",
        "rawPath": "/model",
        "rawQueryString": "",
        "headers": {SYNTHETIC_HEADER: SYNTHETIC_SOURCE},
        "requestContext": {"http": {"method": "GET", "path": "/model", "sourceIp": "127.0.0.1"}},
        "isBase64Encoded": False,
    }
    try:
        response = lambda_client.invoke(FunctionName=function_arn, Payload=json.dumps(event).encode())
        payload = response["Payload"].read().decode("utf-8", errors="replace")
    except (BotoCoreError, ClientError) as exc:
        raise LiveModelError(f"invoking {function_arn} for GET /model failed: {exc}") from exc
    if response.get("FunctionError"):
        raise LiveModelError(f"GET /model on {function_arn} failed ({response['FunctionError']}): {payload[:300]}")
    answer = _json_object(payload)
    if answer is None or answer.get("statusCode") != 200:
        status = answer.get("statusCode") if answer else "a payload that is not an HTTP response"
        raise LiveModelError(f"GET /model on {function_arn} answered {status}: {payload[:300]}")
    body = answer.get("body") or ""
    if not isinstance(body, str):
        raise LiveModelError(f"GET /model on {function_arn} answered a {type(body).__name__} body, not JSON text")
    if answer.get("isBase64Encoded") is True:
        try:
            body = base64.b64decode(body, validate=True).decode("utf-8")
        except ValueError:
            raise LiveModelError(
                f"GET /model on {function_arn} answered a body marked base64 that is not base64 of UTF-8 text"
            ) from None
    metadata = _json_object(body)
    if metadata is None:
        raise LiveModelError(
            f"GET /model on {function_arn} answered a body that is not a JSON object: {printable(body[:200])}"
        )
    return metadata, response.get("ExecutedVersion")


def live_since(function_arn: str, *, lambda_client: Any) -> tuple[datetime, str | None]:
    """When the version the live alias routes to (its primary, during a traffic shift) was published, and that
    version. `Predictions` carries no model version, so the window starts no earlier than this: traffic before it
    was answered by another version, maybe another model of other classes and shares, and comparing it with this
    model's shares would cry wolf after every release.

    Raises:
        LiveModelError: The alias cannot be read, or names no publication time.
    """
    try:
        configuration = lambda_client.get_function_configuration(FunctionName=function_arn)
    except (BotoCoreError, ClientError) as exc:
        raise LiveModelError(f"reading {function_arn}'s version (GetFunctionConfiguration) failed: {exc}") from exc
    published = configuration.get("LastModified")
    try:
        moment = datetime.fromisoformat(str(published))
    except ValueError:
        raise LiveModelError(f"{function_arn}'s version has no publication time (LastModified {published!r})") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC), configuration.get("Version")


def training_shares(metadata: dict[str, Any]) -> dict[str, float]:
    """The training class shares, normalised, with every served class (a class without a share has 0).

    Raises:
        InvalidSharesError: `class_shares` is missing or malformed.
    """
    if metadata.get("class_shares") is None:
        raise InvalidSharesError("the live model has no class_shares: retrain it with this version's `make train`")
    shares = normalise_shares(metadata["class_shares"])
    classes = metadata.get("classes")
    for label in classes if isinstance(classes, list) else []:
        if isinstance(label, str):
            shares.setdefault(label, 0.0)
    return shares


def department_of(metadata: dict[str, Any], labels: list[str]) -> dict[str, str]:
    """Each class's top-level department, from its path label and GET /model's taxonomy separator; empty for a
    model trained on flat labels (its departments are its classes, already tested)."""
    taxonomy = metadata.get("taxonomy")
    if not isinstance(taxonomy, dict) or not isinstance(taxonomy.get("depth"), int) or taxonomy["depth"] < 2:
        return {}
    separator = taxonomy.get("separator")
    if not isinstance(separator, str) or not separator:
        return {}
    return {label: label.split(separator, 1)[0] for label in labels}


def printable(text: str) -> str:
    """The text with any code point UTF-8 cannot encode (a lone surrogate, which the live function's JSON may hold
    as "\\ud800") written as its escape: Lambda writes log lines as UTF-8, and a line it cannot write is lost."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _json_object(text: Any) -> dict[str, Any] | None:
    """`text` parsed as a JSON object, or None."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return None
    return value if isinstance(value, dict) else None
