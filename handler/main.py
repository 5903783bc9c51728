"""The function: loads the model once per container, then hands API Gateway events to FastAPI via Mangum.

Lambda imports it through `handler.entry`, which pauses the garbage collector while it initialises.

With SnapStart the module is imported once when a version is published, then snapshotted; each new
execution environment restores that snapshot instead of importing again. The runtime hooks below warm the
app before the snapshot and note the restore afterwards.
"""

from __future__ import annotations

import json
import os
import random
from typing import TYPE_CHECKING, Any, cast

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from mangum import Mangum

from handler.app import create_app, logger, metrics
from handler.events import (
    SYNTHETIC_HEADER,
    bad_event_response,
    encodes_as_utf8,
    event_problem,
    server_error_response,
    without_client_synthetic_mark,
)
from handler.exceptions import ModelLoadError, SettingsError
from handler.model import Model, load_model
from handler.settings import Settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

try:  # shipped in Lambda's Python runtime; absent in local runs, where there is no snapshot to take
    from snapshot_restore_py import register_after_restore, register_before_snapshot
except ImportError:
    register_after_restore = register_before_snapshot = None

# Lambda sets these; the defaults describe a local run.
INITIALIZATION_TYPE = os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
FUNCTION_VERSION = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")


def _load() -> tuple[Model, Settings]:
    """Read the settings and load the model, or stop the container's start with one log line naming the problem."""
    try:
        settings = Settings.from_env()
        model = load_model(settings)
    except (SettingsError, ModelLoadError) as exc:
        logger.error("model load failed", extra={"reason": str(exc)})
        raise
    logger.info(
        "model loaded",
        extra={
            "model_version": model.version,
            "load_ms": round(model.load_seconds * 1000, 1),
            "initialization_type": INITIALIZATION_TYPE,
        },
    )
    return model, settings


model, settings = _load()
app = create_app(model, settings)
# Mangum's lifespan would rerun FastAPI startup on every invocation; the model is loaded above instead.
mangum = Mangum(app, lifespan="off")
# Every metric carries the version it came from, so the canary's alarms can watch the new version alone.
metrics.set_default_dimensions(function_version=FUNCTION_VERSION)
# Reported by the first invocation of each execution environment (a fresh init or a restored snapshot): metrics
# recorded during init would be dropped with the warm-up's before the snapshot, or never flushed.
pending = {"restored": False, "load_time": True}


def warm_up() -> None:
    """Before the snapshot: answer one request through the whole stack, so its first-call paths are in it.

    The load already ran the golden examples through onnxruntime; this adds routing, validation and the
    OpenAPI document. What it records is dropped: it is not traffic.
    """
    example = model.metadata.get("example") or {model.inputs[0]["name"]: "warm up"}
    event = {
        "version": "2.0",
        "rawPath": "/predict",
        "rawQueryString": "",
        # Synthetic, so no per-category line (flushed at once, which clear_metrics cannot take back) counts it.
        "headers": {"content-type": "application/json", SYNTHETIC_HEADER: "snapstart-warm-up"},
        "requestContext": {"http": {"method": "POST", "path": "/predict", "sourceIp": "127.0.0.1"}},
        "body": json.dumps(example),
        "isBase64Encoded": False,
    }
    mangum(event, cast("Any", None))
    app.openapi()
    metrics.clear_metrics()
    pending["load_time"] = True
    logger.info("warmed up for the snapshot")


def after_restore() -> None:
    """After a restore: fresh random state for this copy of the snapshot, and a restore to report.

    Nothing else is unique or expires: the S3 client that fetched the model was used once during the load
    and not kept, so no credentials or connections live on in the snapshot.
    """
    random.seed()
    pending["restored"] = True
    logger.info("restored from snapshot")


if register_before_snapshot is not None and register_after_restore is not None:
    register_before_snapshot(warm_up)
    register_after_restore(after_restore)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The Lambda entry: an API Gateway (HTTP v2 or REST v1) proxy event in, a proxy response out.

    Anything else (a direct invoke with another payload) gets a 400-shaped answer and a log line, never an
    exception: an unhandled one would show up as a function error and could trip the error alarms. A fault of
    ours past that check is a 500, counted in ServerErrors like every other 5xx.
    """
    _report_start()
    _drop_unloggable_correlation_id()
    problem = event_problem(event)
    if problem:
        logger.warning("rejected event", extra={"reason": problem})
        return bad_event_response(problem)
    try:
        # Mangum declares its own LambdaContext protocol; powertools' class is the same object at run time.
        response = mangum(without_client_synthetic_mark(event), cast("Any", context))
    except Exception:
        logger.exception("the response could not be produced")
        response = server_error_response()
    if response["statusCode"] >= 500:
        metrics.add_metric(name="ServerErrors", unit=MetricUnit.Count, value=1)
    return response


def _drop_unloggable_correlation_id() -> None:
    """Drop the correlation id powertools read from the event's request id unless it is text a log line can carry.

    A direct invoke may put anything there: a lone surrogate stops the line being written, and a list nested a
    thousand deep makes every log line of the request raise RecursionError, the error handler's own included.
    Lambda's own request id stays on the line.
    """
    correlation = logger.get_correlation_id()
    if correlation is not None and not (isinstance(correlation, str) and encodes_as_utf8(correlation)):
        logger.set_correlation_id(None)


def _report_start() -> None:
    """The model's load time and, after a restore, the restore itself: once per execution environment."""
    if pending["load_time"]:
        metrics.add_metric(name="ModelLoadTime", unit=MetricUnit.Milliseconds, value=model.load_seconds * 1000)
        pending["load_time"] = False
    if pending["restored"]:
        # powertools counts this invocation as a ColdStart too; Restored tells the two kinds apart.
        metrics.add_metric(name="Restored", unit=MetricUnit.Count, value=1)
        pending["restored"] = False
