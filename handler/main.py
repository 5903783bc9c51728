"""The Lambda entry: loads the model once per container, then hands API Gateway events to FastAPI via Mangum."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from mangum import Mangum

from handler.app import create_app, logger, metrics
from handler.exceptions import ModelLoadError
from handler.model import Model, load_model
from handler.settings import Settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


def _load(settings: Settings) -> Model:
    """Load the model or stop the container's start with one log line naming the problem."""
    try:
        model = load_model(settings)
    except ModelLoadError as exc:
        logger.error("model load failed", extra={"reason": str(exc)})
        raise
    logger.info("model loaded", extra={"model_version": model.version, "load_ms": round(model.load_seconds * 1000, 1)})
    metrics.add_metric(name="ModelLoadTime", unit=MetricUnit.Milliseconds, value=model.load_seconds * 1000)
    return model


settings = Settings()
app = create_app(_load(settings), settings)
# Mangum's lifespan would rerun FastAPI startup on every invocation; the model is loaded above instead.
mangum = Mangum(app, lifespan="off")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The Lambda entry: an API Gateway (HTTP v2 or REST v1) proxy event in, a proxy response out."""
    # Mangum declares its own LambdaContext protocol; powertools' class is the same object at run time.
    return mangum(event, cast("Any", context))
