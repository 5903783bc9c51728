"""CodeDeploy PreTraffic hook: prove the new version answers like the model that passed the parity gate.

CodeDeploy calls it after publishing a version and before shifting any traffic. It invokes that version
directly with API Gateway v2 events and checks, in order: `/health` answers 200 (with the expected model
version when one is configured); `/model` names the same version and carries golden examples; every golden
example answers with the label and probabilities training computed (|Δp| ≤ 1e-5); a malformed request is a
4xx; every warm answer comes within the latency budget. Then it reports Succeeded or Failed to CodeDeploy.
If the report itself fails, it raises: CodeDeploy then times the hook out and rolls back (fails closed).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

logger = logging.getLogger()
logger.setLevel(os.environ.get("LOG_LEVEL", "INFO"))
TOLERANCE = 1e-5
MAX_TOP_K = 10
Invoke = Callable[[dict[str, Any]], dict[str, Any]]


class FunctionFailed(RuntimeError):
    """The invoked version raised or could not start (a FunctionError from Lambda)."""


@dataclass(frozen=True)
class HookConfig:
    """The hook's environment (set in template.yaml)."""

    function_version_arn: str
    expected_model_version: str | None
    latency_budget_ms: float

    @classmethod
    def from_env(cls) -> HookConfig:
        """Read the environment; an empty EXPECTED_MODEL_VERSION means any version /health and /model agree on."""
        return cls(
            function_version_arn=os.environ["NEW_VERSION"],
            expected_model_version=os.environ.get("EXPECTED_MODEL_VERSION") or None,
            latency_budget_ms=float(os.environ.get("LATENCY_BUDGET_MS", "1000")),
        )


def run_checks(invoke: Invoke, config: HookConfig) -> list[str]:
    """Every failed check, as a sentence; an empty list means the version may take traffic."""
    failures: list[str] = []
    slow: list[str] = []

    def call(method: str, path: str, body: str | None = None, *, warm: bool = True) -> dict[str, Any]:
        started = time.perf_counter()
        answer = invoke(http_event(method, path, body))
        elapsed_ms = (time.perf_counter() - started) * 1000
        if warm and elapsed_ms > config.latency_budget_ms:
            slow.append(f"{method} {path} took {elapsed_ms:.0f} ms")
        return answer

    health = call("GET", "/health", warm=False)  # the first call may pay a cold start or a restore
    if health.get("statusCode") != 200:
        return [f"GET /health answered {health.get('statusCode')}: {str(health.get('body'))[:300]}"]
    version = json.loads(health["body"]).get("model_version")
    if config.expected_model_version and version != config.expected_model_version:
        failures.append(f"GET /health serves model {version}, expected {config.expected_model_version}")
    described = call("GET", "/model")
    model = json.loads(described.get("body") or "{}")
    if described.get("statusCode") != 200 or model.get("model_version") != version:
        failures.append(f"GET /model answered {described.get('statusCode')} for model {model.get('model_version')}")
    golden = model.get("golden_examples") or []
    if not golden:
        failures.append("the model has no golden examples to replay: retrain it with this version's `make train`")
    classes = model.get("classes") or []
    top_k = max(1, min(MAX_TOP_K, len(classes)))
    for index, example in enumerate(golden):
        answer = call("POST", f"/predict?top_k={top_k}", json.dumps(example["inputs"]))
        failure = _golden_failure(index, example, answer, classes)
        if failure:
            failures.append(failure)
    malformed = call("POST", "/predict", "{not json")
    if not 400 <= int(malformed.get("statusCode", 0)) < 500:
        failures.append(f"a malformed request answered {malformed.get('statusCode')}, expected a 4xx")
    return failures + slow


def http_event(method: str, path: str, body: str | None) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event, as the function receives through the API."""
    route, _, query = path.partition("?")
    return {
        "version": "2.0",
        "rawPath": route,
        "rawQueryString": query,
        "headers": {"content-type": "application/json"} if body is not None else {},
        "requestContext": {"http": {"method": method, "path": route, "sourceIp": "127.0.0.1"}},
        "body": body,
        "isBase64Encoded": False,
    }


def lambda_invoker(function_arn: str, client: Any = None) -> Invoke:
    """Invoke one function version synchronously; a FunctionError (crash, failed start) raises."""
    client = client or boto3.client(
        "lambda", config=Config(read_timeout=30, retries={"total_max_attempts": 2, "mode": "standard"})
    )

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        response = client.invoke(FunctionName=function_arn, Payload=json.dumps(event).encode())
        payload = response["Payload"].read().decode()
        if response.get("FunctionError"):
            raise FunctionFailed(f"{function_arn} failed ({response['FunctionError']}): {payload[:500]}")
        return json.loads(payload)

    return invoke


def report(codedeploy: Any, event: dict[str, Any], status: str) -> None:
    """Tell CodeDeploy the verdict; a failure to tell it is logged and raised (the hook then fails closed)."""
    try:
        codedeploy.put_lifecycle_event_hook_execution_status(
            deploymentId=event["DeploymentId"],
            lifecycleEventHookExecutionId=event["LifecycleEventHookExecutionId"],
            status=status,
        )
    except Exception:
        logger.exception("could not report the verdict to CodeDeploy; the deployment will time out and roll back")
        raise


def handle(event: dict[str, Any], *, invoke: Invoke, codedeploy: Any, config: HookConfig) -> dict[str, Any]:
    """Run the checks and report; the testable core of `lambda_handler`."""
    try:
        failures = run_checks(invoke, config)
    except Exception as exc:  # the new version crashed, failed to start or answered garbage: all mean Failed
        logger.exception("the checks could not complete")
        failures = [f"the checks could not complete: {exc}"]
    status = "Failed" if failures else "Succeeded"
    logger.info("pre-traffic verdict", extra={"status": status, "failures": failures[:20]})
    report(codedeploy, event, status)
    return {"status": status, "failures": failures}


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """CodeDeploy's entry."""
    config = HookConfig.from_env()
    return handle(
        event, invoke=lambda_invoker(config.function_version_arn), codedeploy=boto3.client("codedeploy"), config=config
    )


def _golden_failure(index: int, example: dict[str, Any], answer: dict[str, Any], classes: list[str]) -> str | None:
    """Why one golden example's answer differs from training's, or None."""
    if answer.get("statusCode") != 200:
        return f"golden example {index} answered {answer.get('statusCode')}"
    body = json.loads(answer["body"])
    if body["label"] != example["label"]:
        return f"golden example {index} answered {body['label']!r}, training computed {example['label']!r}"
    expected = dict(zip(classes, example["probabilities"], strict=False))
    worst = max(abs(entry["probability"] - expected.get(entry["label"], -1.0)) for entry in body["top_k"])
    if worst > TOLERANCE:
        return f"golden example {index} probabilities differ by {worst:.1e} (tolerance {TOLERANCE:.0e})"
    return None
