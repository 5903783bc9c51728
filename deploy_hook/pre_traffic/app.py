"""CodeDeploy PreTraffic hook: prove the new version answers exactly like the artifact that passed the parity gate.

CodeDeploy calls it after publishing a version and before shifting any traffic. What the version must
answer comes from the artifact, never from the version under test: `make build` bundles `expected.json`
beside this module (model version, classes, golden examples with the probabilities training computed).
The hook invokes the version directly with API Gateway v2 events, each marked `x-synthetic-traffic:
pre-traffic` so the function keeps them out of its production metrics, and runs the checks of
`pre_traffic.checks`: health, model, the declared `top_k` maximum, every golden example, a malformed request
and the latency budget.

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

import logging
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from pre_traffic.checks import run_checks
from pre_traffic.exceptions import HookError, HookEventError, SettingsError
from pre_traffic.expected import EXPECTED_FILE, load_expected
from pre_traffic.invoke import Deadline, Invoke, lambda_invoker

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

DEFAULT_LATENCY_BUDGET_MS = 1000.0
# CodeDeploy's error for a verdict given twice.
ALREADY_COMPLETED = "LifecycleEventAlreadyCompletedException"
VERSION_ARN = re.compile(r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]+:\d+$")
logger = logging.getLogger()
# A level in any case; an unknown one is INFO: a bad setting must not stop the module from loading.
LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").strip().upper()
logger.setLevel(LOG_LEVEL if LOG_LEVEL in logging.getLevelNamesMapping() else logging.INFO)


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
    checked: dict[str, str] = {}  # what the verdict is about, as far as the settings and the golden set were read
    try:
        config = HookConfig.from_env(environ)
        checked["function_version"] = config.function_version_arn
        expected = load_expected(config.expected_path)
        checked["expected_model_version"] = expected.model_version
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
    context |= {key: _printable(value) for key, value in checked.items()}
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


def _printable(text: str) -> str:
    """The text with any code point UTF-8 cannot encode (a lone surrogate) written as its escape."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _codedeploy_client() -> Any:
    """CodeDeploy with timeouts that fit in SAFETY_MARGIN_S, retries included."""
    config = Config(connect_timeout=2, read_timeout=5, retries={"total_max_attempts": 2, "mode": "standard"})
    return boto3.client("codedeploy", config=config)
