"""The checks a new version must pass before it takes traffic, in order:

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

Each failure is a sentence naming what the version answered and what the artifact holds.
"""

from __future__ import annotations

import base64
import itertools
import json
import time
from typing import TYPE_CHECKING, Any

from pre_traffic.exceptions import CheckFailedError, DeadlineExceededError, HookError
from pre_traffic.expected import Expected, GoldenExample, finite
from pre_traffic.invoke import Deadline, Invoke, http_event

if TYPE_CHECKING:
    from collections.abc import Callable

TOLERANCE = 1e-5
# After this many failed golden examples the version is clearly broken: stop and report.
MAX_GOLDEN_FAILURES = 10


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
    if not finite(maximum) or maximum != int(maximum) or maximum < 1:
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
            or not finite(entry.get("probability"))
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
    if not finite(confidence):
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
    if not all(map(finite, confidences)):
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
    if not finite(confidence) or abs(float(confidence) - expected) > TOLERANCE:
        return f"{where} answered confidence {confidence!r}, expected {expected} (tolerance {TOLERANCE:.0e})"
    return path_failure(where, example, body.get("path"))


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
