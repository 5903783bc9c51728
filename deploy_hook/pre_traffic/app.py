"""CodeDeploy PreTraffic hook: prove the new version answers exactly like the artifact that passed the parity gate.

CodeDeploy calls it after publishing a version and before shifting any traffic. What the version must
answer comes from the artifact, never from the version under test: `make build` bundles `expected.json`
beside this module (model version, classes, golden examples with the probabilities training computed).
The hook invokes the version directly with API Gateway v2 events, each marked `x-synthetic-traffic:
pre-traffic` so the function keeps them out of its production metrics, and checks in order:

1. `GET /health` is 200 and serves the artifact's model version;
2. `GET /model` names that version and the artifact's classes, in the same order;
3. `GET /openapi.json` declares the `top_k` maximum of `POST /predict`; the hook asks for
   min(that maximum, number of classes);
4. every golden example answers 200 with the artifact's label, and `top_k` lists exactly that many
   distinct classes with finite probabilities: the artifact's top classes (ties either way), most probable
   first, each within 1e-5 of the artifact's probability; its `path` names the artifact's nodes, levels 1, 2,
   ..., each confidence within 1e-5; a back-off example (one with `min_confidence`) is asked again with that
   threshold and must answer the artifact's `back_off` node and level;
5. a malformed request answers 4xx;
6. every warm answer comes within LATENCY_BUDGET_MS.

`make deploy` invokes it directly too, with `{"CheckOnly": true}`: the same checks against the same version,
the verdict returned instead of reported. CodeDeploy runs only when the `live` alias moves, so this is the only
check a new stack's first version gets.

It always reports, and fails closed: a bad setting, a missing golden set, a crash of the version, a
timeout or a bug of its own is a Failed report naming it. The time left in its own invocation (less
SAFETY_MARGIN_S for the report) bounds every call, so it reports before Lambda stops it. Only when the
report itself cannot be made (no CodeDeploy ids in the event, CodeDeploy unreachable) does it raise:
CodeDeploy then times the hook out and rolls back.
"""

from __future__ import annotations

import base64
import itertools
import json
import logging
import math
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from pre_traffic.exceptions import (
    CheckFailedError,
    DeadlineExceededError,
    ExpectedSetError,
    FunctionFailedError,
    HookError,
    HookEventError,
    InvocationError,
    SettingsError,
)

EXPECTED_FILE = Path(__file__).resolve().parent / "expected.json"
TOLERANCE = 1e-5
DEFAULT_LATENCY_BUDGET_MS = 1000.0
# Kept back from the hook's own remaining time for the report: ≤ 2 attempts × (2 s connect + 5 s read).
SAFETY_MARGIN_S = 20.0
# Longest one invoke may take: the classifier's 10 s timeout plus a cold start or a restore, with room.
MAX_CALL_S = 60.0
CONNECT_TIMEOUT_S = 2.0
INVOKE_ATTEMPTS = 2
# A call needs at least one second of read time per attempt after connecting.
MIN_CALL_S = INVOKE_ATTEMPTS * (CONNECT_TIMEOUT_S + 1.0)
# After this many failed golden examples the version is clearly broken: stop and report.
MAX_GOLDEN_FAILURES = 10
SYNTHETIC_HEADER = "x-synthetic-traffic"
SYNTHETIC_SOURCE = "pre-traffic"
# CodeDeploy's error for a verdict given twice.
ALREADY_COMPLETED = "LifecycleEventAlreadyCompletedException"
VERSION_ARN = re.compile(r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]+:\d+$")
logger = logging.getLogger()
logger.setLevel(os.environ.get("LOG_LEVEL", "INFO"))
Invoke = Callable[[dict[str, Any], float], dict[str, Any]]


@dataclass(frozen=True)
class HookConfig:
    """The hook's environment (set in template.yaml)."""

    function_version_arn: str
    latency_budget_ms: float
    expected_path: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> HookConfig:
        """Read and check the environment; empty values count as unset.

        Raises:
            SettingsError: NEW_VERSION is unset or not a version ARN, or LATENCY_BUDGET_MS is not a number > 0.
        """
        environ = os.environ if environ is None else environ
        arn = environ.get("NEW_VERSION", "")
        if not arn:
            raise SettingsError("NEW_VERSION is not set: the template sets it to the version under test")
        if not VERSION_ARN.match(arn):
            raise SettingsError(f"NEW_VERSION must be a function version ARN (…:function:name:7), got {arn[:200]!r}")
        raw_budget = environ.get("LATENCY_BUDGET_MS") or str(DEFAULT_LATENCY_BUDGET_MS)
        try:
            budget = float(raw_budget)
        except ValueError:
            budget = math.nan
        if not (math.isfinite(budget) and budget > 0):
            raise SettingsError(f"LATENCY_BUDGET_MS must be a finite number of milliseconds > 0, got {raw_budget!r}")
        return cls(
            function_version_arn=arn,
            latency_budget_ms=budget,
            expected_path=Path(environ.get("EXPECTED_PATH") or EXPECTED_FILE),
        )


@dataclass(frozen=True)
class GoldenExample:
    """One row of the artifact's golden set: the inputs and what training computed for them."""

    inputs: dict[str, Any]
    label: str
    probabilities: tuple[float, ...]
    path: tuple[tuple[str, float], ...]
    # A back-off case: the threshold, and the node (full path, "" for the root) and level it must answer.
    min_confidence: float | None = None
    back_off: tuple[str, int] | None = None


@dataclass(frozen=True)
class Expected:
    """What the version under test must serve, from the artifact (expected.json)."""

    model_version: str
    classes: tuple[str, ...]
    golden_examples: tuple[GoldenExample, ...]


class Deadline:
    """The hook's own time budget: what Lambda leaves it, less the margin kept for the report."""

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        """Start a budget of `seconds` now, as measured by `clock`."""
        self._clock = clock
        self._end = clock() + seconds

    @classmethod
    def from_context(cls, context: Any, *, margin_s: float = SAFETY_MARGIN_S) -> Deadline:
        """The Lambda context's remaining time less `margin_s` (none when the context cannot tell)."""
        try:
            remaining_s = float(context.get_remaining_time_in_millis()) / 1000
        except (AttributeError, TypeError, ValueError):
            remaining_s = 0.0  # fail closed: with no known budget, make no call and report Failed
        return cls(remaining_s - margin_s)

    def remaining(self) -> float:
        """Seconds left in the budget (negative once past it)."""
        return self._end - self._clock()

    def budget_for_call(self, what: str) -> float:
        """Seconds one call may take: at most MAX_CALL_S and never past the budget.

        Raises:
            DeadlineExceededError: Less than MIN_CALL_S is left.
        """
        remaining = self.remaining()
        if remaining < MIN_CALL_S:
            raise DeadlineExceededError(
                f"out of time before {what}: {max(remaining, 0.0):.1f} s left of the hook's budget "
                f"(its timeout less {SAFETY_MARGIN_S:.0f} s for the report); raise the hook's Timeout or make "
                "the version answer faster"
            )
        return min(MAX_CALL_S, remaining)


def load_expected(path: Path) -> Expected:
    """The artifact's expected golden set, checked for shape.

    Raises:
        ExpectedSetError: The file is missing, not JSON, or lacks a field; the message names it.
    """
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ExpectedSetError(
            f"the expected golden set {path} could not be read ({exc}); `make build` writes it"
        ) from exc
    except ValueError as exc:
        raise ExpectedSetError(
            f"the expected golden set {path} is not JSON ({exc}); rebuild with `make build`"
        ) from exc
    if not isinstance(document, dict):
        raise ExpectedSetError(f"the expected golden set {path} is not a JSON object")
    version = document.get("model_version")
    if not isinstance(version, str) or not version:
        raise ExpectedSetError(f"the expected golden set {path} names no model_version")
    classes = document.get("classes")
    if not isinstance(classes, list) or not classes or not all(isinstance(label, str) for label in classes):
        raise ExpectedSetError(f"the expected golden set {path} has no list of class names")
    if len(set(classes)) != len(classes):
        raise ExpectedSetError(f"the expected golden set {path} lists a class twice")
    examples = document.get("golden_examples")
    if not isinstance(examples, list) or not examples:
        raise ExpectedSetError(f"the expected golden set {path} has no golden examples: retrain with `make train`")
    return Expected(
        model_version=version,
        classes=tuple(classes),
        golden_examples=tuple(_golden_example(index, example, classes, path) for index, example in enumerate(examples)),
    )


def run_checks(invoke: Invoke, expected: Expected, *, latency_budget_ms: float, deadline: Deadline) -> list[str]:
    """Every failed check, as a sentence; an empty list means the version may take traffic."""
    failures: list[str] = []
    slow: list[str] = []

    def call(method: str, path: str, body: str | None = None, *, warm: bool = True) -> dict[str, Any]:
        timeout = deadline.budget_for_call(f"{method} {path}")
        started = time.perf_counter()
        answer = invoke(http_event(method, path, body), timeout)
        elapsed_ms = (time.perf_counter() - started) * 1000
        if warm and elapsed_ms > latency_budget_ms:
            slow.append(f"{method} {path} took {elapsed_ms:.0f} ms (budget {latency_budget_ms:.0f} ms)")
        return answer

    try:
        _check_version(call, expected, failures)
        top_k = min(
            allowed_top_k(_json_answer(call("GET", "/openapi.json"), "GET /openapi.json")), len(expected.classes)
        )
        _check_golden(call, expected, top_k, failures)
        malformed = call("POST", "/predict", "{not json")
        if not (isinstance(malformed.get("statusCode"), int) and 400 <= malformed["statusCode"] < 500):
            failures.append(f"a malformed request answered {malformed.get('statusCode')!r}, expected a 4xx")
    except HookError as exc:
        failures.append(str(exc))
    return failures + slow


def allowed_top_k(openapi: dict[str, Any]) -> int:
    """The `maximum` of the `top_k` query parameter of POST /predict in the version's OpenAPI document.

    Raises:
        CheckFailedError: The document declares no such parameter or no integer maximum ≥ 1.
    """
    try:
        parameters = openapi["paths"]["/predict"]["post"]["parameters"]
        parameter = next(p for p in parameters if p.get("name") == "top_k" and p.get("in") == "query")
        maximum = parameter["schema"]["maximum"]
    except (KeyError, TypeError, AttributeError, StopIteration):
        raise CheckFailedError(
            "GET /openapi.json declares no `maximum` for the top_k query parameter of POST /predict"
        ) from None
    if not _finite(maximum) or maximum != int(maximum) or maximum < 1:
        raise CheckFailedError(f"GET /openapi.json declares top_k maximum {maximum!r}; expected an integer ≥ 1")
    return int(maximum)


def golden_failure(
    index: int, example: GoldenExample, answer: dict[str, Any], expected: Expected, top_k: int
) -> str | None:
    """Why one golden example's answer differs from the artifact's, or None.

    Args:
        index: The example's position in the golden set (for the message).
        example: The example and what training computed for it.
        answer: The version's proxy response to POST /predict?top_k=`top_k`.
        expected: The artifact's model version and classes.
        top_k: How many classes were asked for.
    """
    where = f"golden example {index}"
    try:
        body = _json_answer(answer, where)
    except CheckFailedError as exc:
        return str(exc)
    if body.get("model_version") != expected.model_version:
        return f"{where} was answered by model {body.get('model_version')!r}, expected {expected.model_version!r}"
    if body.get("label") != example.label:
        return f"{where} answered {body.get('label')!r}, training computed {example.label!r}"
    entries = body.get("top_k")
    if not isinstance(entries, list) or len(entries) != top_k:
        count = len(entries) if isinstance(entries, list) else entries
        return f"{where} listed {count!r} top_k entries, expected {top_k}"
    labels: list[str] = []
    probabilities: list[float] = []
    for entry in entries:
        if (
            not isinstance(entry, dict)
            or entry.get("label") not in expected.classes
            or not _finite(entry.get("probability"))
        ):
            return f"{where} has a top_k entry that is not a known class with a finite probability: {str(entry)[:120]}"
        labels.append(entry["label"])
        probabilities.append(float(entry["probability"]))
    if len(set(labels)) != top_k:
        return f"{where} lists a class more than once in top_k: {labels}"
    truth = dict(zip(expected.classes, example.probabilities, strict=True))
    kth = sorted(example.probabilities, reverse=True)[top_k - 1]
    required = {label for label, p in truth.items() if p > kth + TOLERANCE}
    allowed = {label for label, p in truth.items() if p >= kth - TOLERANCE}
    if not required <= set(labels) <= allowed:
        artifacts = sorted(allowed, key=truth.__getitem__, reverse=True)[:top_k]
        return f"{where} lists {labels} as its top {top_k}; the artifact's are {artifacts}"
    if any(later > earlier + TOLERANCE for earlier, later in itertools.pairwise(probabilities)):
        return f"{where} lists top_k out of order: {probabilities}"
    worst = max(abs(p - truth[label]) for label, p in zip(labels, probabilities, strict=True))
    confidence = body.get("confidence")
    if not _finite(confidence):
        return f"{where} answered a confidence that is not a finite number: {confidence!r}"
    worst = max(worst, abs(float(confidence) - truth[example.label]))
    if worst > TOLERANCE:
        return f"{where} probabilities differ by {worst:.1e} (tolerance {TOLERANCE:.0e})"
    return path_failure(where, example, body.get("path"))


def path_failure(where: str, example: GoldenExample, path: Any) -> str | None:
    """Why an answer's `path` differs from the artifact's (nodes, levels 1..n, confidences), or None."""
    if not isinstance(path, list) or not all(isinstance(step, dict) for step in path):
        return f"{where} answered no path list: {str(path)[:120]}"
    nodes = [step.get("node") for step in path]
    if nodes != [node for node, _ in example.path]:
        return f"{where} answered the path {str(nodes)[:300]}, the artifact's is {[n for n, _ in example.path]}"
    levels = [step.get("level") for step in path]
    # Compared with their types: in Python `True == 1` and `2.0 == 2`, but a client reads a level as an integer.
    if [(type(level), level) for level in levels] != [(int, level) for level in range(1, len(path) + 1)]:
        return f"{where} answered the path levels {str(levels)[:120]}, expected the integers 1 to {len(path)}"
    confidences = [step.get("confidence") for step in path]
    if not all(map(_finite, confidences)):
        return f"{where} answered a path confidence that is not a finite number: {confidences}"
    worst = max(abs(float(c) - expected) for c, (_, expected) in zip(confidences, example.path, strict=True))
    if worst > TOLERANCE:
        return f"{where} path confidences differ by {worst:.1e} (tolerance {TOLERANCE:.0e})"
    return None


def back_off_failure(index: int, example: GoldenExample, answer: dict[str, Any]) -> str | None:
    """Why a back-off example's answer to `?min_confidence=` differs from the artifact's, or None."""
    where = f"golden example {index} with min_confidence={example.min_confidence}"
    try:
        body = _json_answer(answer, where)
    except CheckFailedError as exc:
        return str(exc)
    if example.back_off is None:
        return f"{where} has no back-off answer in the artifact"
    label, level = example.back_off
    if (body.get("label"), type(body.get("level")), body.get("level")) != (label, int, level):
        return f"{where} answered {body.get('label')!r} at level {body.get('level')!r}, expected {label!r} at {level}"
    confidence = body.get("confidence")
    expected = example.path[level - 1][1] if level > 0 else 1.0
    if not _finite(confidence) or abs(float(confidence) - expected) > TOLERANCE:
        return f"{where} answered confidence {confidence!r}, expected {expected} (tolerance {TOLERANCE:.0e})"
    return path_failure(where, example, body.get("path"))


def http_event(method: str, path: str, body: str | None) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event, marked as synthetic traffic."""
    route, _, query = path.partition("?")
    headers = {SYNTHETIC_HEADER: SYNTHETIC_SOURCE}
    if body is not None:
        headers["content-type"] = "application/json"
    return {
        "version": "2.0",
        "rawPath": route,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {"http": {"method": method, "path": route, "sourceIp": "127.0.0.1"}},
        "body": body,
        "isBase64Encoded": False,
    }


def lambda_invoker(function_arn: str, *, client_for: Callable[[int], Any] | None = None) -> Invoke:
    """Invoke one function version synchronously, each call bounded by the timeout it is given.

    Args:
        function_arn: The version's ARN.
        client_for: A Lambda client whose read timeout is the given whole seconds (tests pass a stub).

    Returns:
        `invoke(event, timeout_s)`: the version's proxy response.
    """
    client_for = client_for or _client_factory()

    def invoke(event: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        # Both attempts, connection included, fit in timeout_s.
        read_timeout = max(1, math.floor(timeout_s / INVOKE_ATTEMPTS - CONNECT_TIMEOUT_S))
        what = f"{event['requestContext']['http']['method']} {event['rawPath']}"
        try:
            response = client_for(read_timeout).invoke(FunctionName=function_arn, Payload=json.dumps(event).encode())
            payload = response["Payload"].read().decode("utf-8", errors="replace")
        except (BotoCoreError, ClientError) as exc:
            raise InvocationError(f"{what}: invoking {function_arn} failed: {exc}") from exc
        if response.get("FunctionError"):
            raise FunctionFailedError(f"{what}: {function_arn} failed ({response['FunctionError']}): {payload[:500]}")
        try:
            answer = json.loads(payload)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise InvocationError(
                f"{what}: {function_arn} answered a payload that is not an HTTP response: {payload[:200]}"
            )
        return answer

    return invoke


def is_check_only(event: Any) -> bool:
    """A direct request for the verdict alone (`make deploy`); a CodeDeploy event always gets its report."""
    return isinstance(event, dict) and event.get("CheckOnly") is True and "DeploymentId" not in event


def lifecycle_ids(event: Any) -> dict[str, str]:
    """The ids CodeDeploy needs back with the verdict.

    Raises:
        HookEventError: The event does not carry them (logged: nothing can be reported).
    """
    fields = event if isinstance(event, dict) else {}
    deployment, execution = fields.get("DeploymentId"), fields.get("LifecycleEventHookExecutionId")
    if not (isinstance(deployment, str) and deployment and isinstance(execution, str) and execution):
        message = "the event carries no DeploymentId and LifecycleEventHookExecutionId: no verdict can be reported"
        keys = sorted(_printable(str(key)) for key in fields)[:20]
        logger.error(message, extra={"event_keys": keys, "event_type": type(event).__name__})
        raise HookEventError(message)
    return {"deploymentId": deployment, "lifecycleEventHookExecutionId": execution}


def report(codedeploy: Any, ids: dict[str, str], status: str) -> None:
    """Tell CodeDeploy the verdict; a failure to tell it is logged and raised (the hook then fails closed).

    A hook execution that already has its verdict is done: this is a retried invocation (Lambda retries an
    asynchronous one that raised), and CodeDeploy keeps the first verdict whatever a later one says.
    """
    try:
        codedeploy.put_lifecycle_event_hook_execution_status(**ids, status=status)
    except Exception as exc:
        if isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") == ALREADY_COMPLETED:
            logger.warning("CodeDeploy already has a verdict for this hook execution; this one is not reported")
            return
        logger.exception("could not report the verdict to CodeDeploy; the deployment will time out and roll back")
        raise


def handle(
    event: Any,
    *,
    codedeploy: Any,
    deadline: Deadline,
    environ: Mapping[str, str] | None = None,
    invoker: Callable[[str], Invoke] = lambda_invoker,
) -> dict[str, Any]:
    """Read the settings and the golden set, run the checks, report; the testable core of `lambda_handler`.

    Returns:
        The verdict and its failures (reported to CodeDeploy unless the event asked for the verdict only).

    Raises:
        HookEventError: The event has no CodeDeploy ids and is no check-only request.
        Exception: Whatever made the report to CodeDeploy fail.
    """
    ids = None if is_check_only(event) else lifecycle_ids(event)
    unexpected: Exception | None = None
    try:
        config = HookConfig.from_env(environ)
        expected = load_expected(config.expected_path)
        failures = run_checks(
            invoker(config.function_version_arn),
            expected,
            latency_budget_ms=config.latency_budget_ms,
            deadline=deadline,
        )
    except HookError as exc:
        failures = [str(exc)]
    except Exception as exc:  # a bug of the hook's own must still end in a report, never in a silent hour's wait
        unexpected = exc
        failures = [f"the checks could not complete: {type(exc).__name__}: {exc}"]
    # Failures quote the version's answers, which may hold a lone surrogate (JSON's "\\ud800"): Lambda's JSON log
    # lines are UTF-8, and a line that cannot be written would stop the hook before its report.
    failures = [_printable(failure) for failure in failures]
    status = "Failed" if failures else "Succeeded"
    context: dict[str, Any] = {"check_only": True} if ids is None else {k: _printable(v) for k, v in ids.items()}
    if failures:
        logger.error(
            "pre-traffic check failed", extra={"failures": failures[:20], **context}, exc_info=unexpected or None
        )
    else:
        logger.info("pre-traffic check passed", extra=context)
    if ids is not None:
        report(codedeploy, ids, status)
    return {"status": status, "failures": failures}


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """CodeDeploy's entry (and `make deploy`'s): the time budget comes from the context."""
    deadline = Deadline.from_context(context)
    return handle(event, codedeploy=_codedeploy_client(), deadline=deadline)


def _check_version(call: Callable[..., dict[str, Any]], expected: Expected, failures: list[str]) -> None:
    """GET /health and GET /model serve the artifact's model version and classes."""
    health = _json_answer(call("GET", "/health", warm=False), "GET /health")  # may pay a cold start or a restore
    if health.get("model_version") != expected.model_version:
        failures.append(
            f"GET /health serves model {health.get('model_version')!r}, expected {expected.model_version!r}"
        )
    described = _json_answer(call("GET", "/model"), "GET /model")
    if described.get("model_version") != expected.model_version:
        failures.append(
            f"GET /model names model {described.get('model_version')!r}, expected {expected.model_version!r}"
        )
    if described.get("classes") != list(expected.classes):
        failures.append(
            f"GET /model lists other classes than the artifact's {len(expected.classes)}, or in another order"
        )


def _check_golden(call: Callable[..., dict[str, Any]], expected: Expected, top_k: int, failures: list[str]) -> None:
    """Replay every golden example; stop after MAX_GOLDEN_FAILURES failed ones."""
    failed = 0
    total = len(expected.golden_examples)
    for index, example in enumerate(expected.golden_examples):
        try:
            body = json.dumps(example.inputs)
            answer = call("POST", f"/predict?top_k={top_k}", body)
        except DeadlineExceededError as exc:
            raise DeadlineExceededError(f"{exc} ({index} of {total} golden examples replayed)") from None
        failure = golden_failure(index, example, answer, expected, top_k)
        if not failure and example.min_confidence is not None:
            try:
                answer = call("POST", f"/predict?top_k={top_k}&min_confidence={example.min_confidence!r}", body)
            except DeadlineExceededError as exc:
                raise DeadlineExceededError(f"{exc} ({index} of {total} golden examples replayed)") from None
            failure = back_off_failure(index, example, answer)
        if failure:
            failures.append(failure)
            failed += 1
            if failed >= MAX_GOLDEN_FAILURES:
                failures.append(f"stopped after {failed} failed golden examples ({index + 1} of {total} replayed)")
                return


def _json_answer(answer: dict[str, Any], what: str) -> dict[str, Any]:
    """The JSON object body of a 200 answer, read as API Gateway passes it on and a strict client parses it.

    A body marked `isBase64Encoded` is decoded first, as API Gateway does (one that is not base64 reaches no
    client); `NaN` and `Infinity` are refused, which Python's json reads but JSON has not.

    Raises:
        CheckFailedError: Another status, or a body that is not a JSON object.
    """
    status = answer.get("statusCode")
    if status != 200:
        raise CheckFailedError(f"{what} answered {status!r}: {str(answer.get('body'))[:300]}")
    text = answer.get("body") or ""
    try:
        if answer.get("isBase64Encoded") is True:
            text = base64.b64decode(text, validate=True).decode("utf-8")
        body = json.loads(text, parse_constant=_not_json)
    except (TypeError, ValueError):
        body = None
    if not isinstance(body, dict):
        raise CheckFailedError(
            f"{what} answered 200 with a body that is not a JSON object: {str(answer.get('body'))[:200]}"
        )
    return body


def _not_json(constant: str) -> None:
    """Refuse `NaN`, `Infinity` and `-Infinity`: Python's json extensions, which a strict JSON parser rejects."""
    raise ValueError(f"{constant} is not JSON")


def _golden_example(index: int, example: Any, classes: list[str], path: Path) -> GoldenExample:
    """One golden example of expected.json, checked."""
    where = f"golden example {index} of {path}"
    if not isinstance(example, dict) or not isinstance(example.get("inputs"), dict):
        raise ExpectedSetError(f"{where} has no inputs object")
    if example.get("label") not in classes:
        raise ExpectedSetError(f"{where} has label {example.get('label')!r}, not one of the classes")
    probabilities = example.get("probabilities")
    if (
        not isinstance(probabilities, list)
        or len(probabilities) != len(classes)
        or not all(map(_finite, probabilities))
    ):
        raise ExpectedSetError(f"{where} needs {len(classes)} finite probabilities, one per class")
    steps = example.get("path")
    if (
        not isinstance(steps, list)
        or not steps
        or not all(isinstance(step, dict) and isinstance(step.get("node"), str) for step in steps)
        or not all(_finite(step.get("confidence")) for step in steps)
        or steps[-1]["node"] != example["label"]
    ):
        raise ExpectedSetError(f"{where} needs a path of {{node, confidence}} ending at its label: retrain the model")
    return GoldenExample(
        inputs=example["inputs"],
        label=example["label"],
        probabilities=tuple(float(p) for p in probabilities),
        path=tuple((step["node"], float(step["confidence"])) for step in steps),
        **_back_off(example, len(steps), where),
    )


def _back_off(example: dict[str, Any], depth: int, where: str) -> dict[str, Any]:
    """A golden example's back-off threshold and answer, checked; none for an ordinary example."""
    if "min_confidence" not in example:
        return {}
    threshold, back_off = example["min_confidence"], example.get("back_off")
    if (
        not _finite(threshold)
        or not 0 <= threshold <= 1
        or not isinstance(back_off, dict)
        or not isinstance(back_off.get("label"), str)
        or type(back_off.get("level")) is not int
        or not 0 <= back_off["level"] < depth
    ):
        raise ExpectedSetError(f"{where} needs a min_confidence in 0..1 and a back_off label and level on its path")
    return {"min_confidence": float(threshold), "back_off": (back_off["label"], back_off["level"])}


def _printable(text: str) -> str:
    """The text with any code point UTF-8 cannot encode (a lone surrogate) written as its escape."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _finite(value: Any) -> TypeGuard[float]:
    """A JSON number (not a boolean) that is neither NaN nor infinite."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _client_factory() -> Callable[[int], Any]:
    """Lambda clients by read timeout, one per distinct whole-second timeout (usually just one)."""
    session = boto3.session.Session()
    clients: dict[int, Any] = {}

    def client_for(read_timeout: int) -> Any:
        if read_timeout not in clients:
            config = Config(
                connect_timeout=CONNECT_TIMEOUT_S,
                read_timeout=read_timeout,
                retries={"total_max_attempts": INVOKE_ATTEMPTS, "mode": "standard"},
            )
            clients[read_timeout] = session.client("lambda", config=config)
        return clients[read_timeout]

    return client_for


def _codedeploy_client() -> Any:
    """CodeDeploy with timeouts that fit in SAFETY_MARGIN_S, retries included."""
    config = Config(connect_timeout=2, read_timeout=5, retries={"total_max_attempts": 2, "mode": "standard"})
    return boto3.client("codedeploy", config=config)
