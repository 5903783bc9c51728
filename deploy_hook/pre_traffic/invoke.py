"""Calling the version under test: API Gateway HTTP API events, synchronous invokes bounded by the hook's own time.

Every call must end before Lambda stops the hook, so each gets what is left of the hook's budget (its remaining
time less SAFETY_MARGIN_S kept for the report), both attempts and their connections included.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from pre_traffic.exceptions import DeadlineExceededError, FunctionFailedError, InvocationError

# Kept back from the hook's own remaining time for the report: ≤ 2 attempts × (2 s connect + 5 s read).
SAFETY_MARGIN_S = 20.0
# Longest one invoke may take: the classifier's 10 s timeout plus a cold start or a restore, with room.
MAX_CALL_S = 60.0
CONNECT_TIMEOUT_S = 2.0
INVOKE_ATTEMPTS = 2
# A call needs at least one second of read time per attempt after connecting.
MIN_CALL_S = INVOKE_ATTEMPTS * (CONNECT_TIMEOUT_S + 1.0)
SYNTHETIC_HEADER = "x-synthetic-traffic"
SYNTHETIC_SOURCE = "pre-traffic"
Invoke = Callable[[dict[str, Any], float], dict[str, Any]]


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
