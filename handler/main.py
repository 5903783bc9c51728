"""The Lambda entry: loads the model once per container, then hands API Gateway events to FastAPI via Mangum."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from mangum import Mangum

from handler.app import create_app, logger, metrics
from handler.events import bad_event_response, event_problem
from handler.exceptions import ModelLoadError, SettingsError
from handler.model import Model, load_model
from handler.settings import Settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


def _load() -> tuple[Model, Settings]:
    """Read the settings and load the model, or stop the container's start with one log line naming the problem."""
    try:
        settings = Settings.from_env()
        model = load_model(settings)
    except (SettingsError, ModelLoadError) as exc:
        logger.error("model load failed", extra={"reason": str(exc)})
        raise
    logger.info("model loaded", extra={"model_version": model.version, "load_ms": round(model.load_seconds * 1000, 1)})
    metrics.add_metric(name="ModelLoadTime", unit=MetricUnit.Milliseconds, value=model.load_seconds * 1000)
    return model, settings


model, settings = _load()
app = create_app(model, settings)
# Mangum's lifespan would rerun FastAPI startup on every invocation; the model is loaded above instead.
mangum = Mangum(app, lifespan="off")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The Lambda entry: an API Gateway (HTTP v2 or REST v1) proxy event in, a proxy response out.

    Anything else (a direct invoke with another payload) gets a 400-shaped answer and a log line, never an
    exception: an unhandled one would show up as a function error and could trip the error alarms.
    """
    problem = event_problem(event)
    if problem:
        logger.warning("rejected event", extra={"reason": problem})
        return bad_event_response(problem)
    try:
        # Mangum declares its own LambdaContext protocol; powertools' class is the same object at run time.
        return mangum(event, cast("Any", context))
    except Exception:  # Mangum parses Host and X-Forwarded-Port itself; what it cannot read is the caller's fault
        logger.exception("unreadable event")
        return bad_event_response("the event could not be read as an HTTP request (check the Host header)")
