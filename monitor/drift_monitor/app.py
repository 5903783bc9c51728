"""Scheduled (EventBridge) function: compare the last hours' predicted class mix with training's; emit PSI/TVD.

It reads per-category `Predictions` from CloudWatch with GetMetricData, the training class shares from the
live model's metadata (the published model.json in S3, or the function's own GET /model when the model is
bundled), and puts `ClassMixPsi` and `ClassMixTvd` back, once with the model version as a dimension (for
the dashboard) and once without (for the alarm, whose dimensions are fixed in the template). With too
little traffic it emits nothing and says so: a handful of requests must never fire a drift alarm.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

import boto3

from drift_monitor.drift import population_stability_index, shares, total_variation_distance

logger = logging.getLogger()
logger.setLevel(os.environ.get("LOG_LEVEL", "INFO"))
# GetMetricData takes at most 500 queries per call; a catalogue has far fewer classes.
MAX_CLASSES = 500


@dataclass(frozen=True)
class DriftConfig:
    """The function's environment variables (set in template.yaml)."""

    namespace: str
    service: str
    window_hours: int
    min_predictions: int
    metadata_s3_uri: str | None
    function_arn: str | None

    @classmethod
    def from_env(cls) -> DriftConfig:
        """Read the environment; empty strings count as unset."""
        return cls(
            namespace=os.environ.get("METRICS_NAMESPACE", "ProductClassifier"),
            service=os.environ.get("SERVICE_NAME", "product-classifier"),
            window_hours=int(os.environ.get("DRIFT_WINDOW_HOURS", "24")),
            min_predictions=int(os.environ.get("MIN_PREDICTIONS", "500")),
            metadata_s3_uri=os.environ.get("MODEL_METADATA_S3_URI") or None,
            function_arn=os.environ.get("CLASSIFIER_FUNCTION_ARN") or None,
        )


def check_drift(
    config: DriftConfig, *, cloudwatch: Any, s3: Any = None, lambda_client: Any = None, now: datetime | None = None
) -> dict[str, Any]:
    """One drift check: read, compare, emit (or explain why not).

    Returns:
        What was computed and whether metrics were emitted.
    """
    metadata = read_metadata(config, s3=s3, lambda_client=lambda_client)
    expected = {str(label): float(share) for label, share in metadata["class_shares"].items()}
    counts = predicted_counts(config, list(expected)[:MAX_CLASSES], cloudwatch=cloudwatch, now=now)
    total = sum(counts.values())
    version = str(metadata.get("model_version", "unknown"))
    if total < config.min_predictions:
        logger.info(
            "too little traffic for a drift check; nothing emitted",
            extra={"predictions": total, "min_predictions": config.min_predictions, "model_version": version},
        )
        return {"emitted": False, "predictions": total, "model_version": version}
    observed = shares(counts)
    psi = population_stability_index(expected, observed)
    tvd = total_variation_distance(expected, observed)
    put_drift_metrics(config, version, psi=psi, tvd=tvd, cloudwatch=cloudwatch)
    logger.info("class mix checked", extra={"psi": psi, "tvd": tvd, "predictions": total, "model_version": version})
    return {"emitted": True, "predictions": total, "psi": psi, "tvd": tvd, "model_version": version}


def read_metadata(config: DriftConfig, *, s3: Any = None, lambda_client: Any = None) -> dict[str, Any]:
    """The live model's metadata: model.json from S3, else the function's GET /model.

    Raises:
        RuntimeError: Neither source is configured, or the answer has no class shares.
    """
    if config.metadata_s3_uri:
        uri = urlparse(config.metadata_s3_uri)
        body = (s3 or boto3.client("s3")).get_object(Bucket=uri.netloc, Key=uri.path.lstrip("/"))["Body"].read()
        metadata = json.loads(body)
    elif config.function_arn:
        metadata = _describe_model(config.function_arn, lambda_client or boto3.client("lambda"))
    else:
        raise RuntimeError("set MODEL_METADATA_S3_URI or CLASSIFIER_FUNCTION_ARN to say where the model is")
    if not metadata.get("class_shares"):
        raise RuntimeError("the live model's metadata has no class_shares: retrain it with this version's `make train`")
    return metadata


def predicted_counts(
    config: DriftConfig, labels: list[str], *, cloudwatch: Any, now: datetime | None = None
) -> dict[str, float]:
    """Sum of `Predictions` per category over the window, one GetMetricData query per class."""
    end = (now or datetime.now(UTC)).replace(second=0, microsecond=0)
    start = end - timedelta(hours=config.window_hours)
    queries = [
        {
            "Id": f"c{index}",
            "MetricStat": {
                "Metric": {
                    "Namespace": config.namespace,
                    "MetricName": "Predictions",
                    "Dimensions": [{"Name": "category", "Value": label}, {"Name": "service", "Value": config.service}],
                },
                "Period": config.window_hours * 3600,
                "Stat": "Sum",
            },
            "ReturnData": True,
        }
        for index, label in enumerate(labels)
    ]
    counts = dict.fromkeys(labels, 0.0)
    token = None
    while True:
        page = cloudwatch.get_metric_data(
            MetricDataQueries=queries, StartTime=start, EndTime=end, **({"NextToken": token} if token else {})
        )
        for result in page["MetricDataResults"]:
            counts[labels[int(result["Id"][1:])]] += float(sum(result.get("Values", [])))
        token = page.get("NextToken")
        if not token:
            return counts


def put_drift_metrics(config: DriftConfig, version: str, *, psi: float, tvd: float, cloudwatch: Any) -> None:
    """ClassMixPsi and ClassMixTvd, with and without the model version dimension."""
    service = {"Name": "service", "Value": config.service}
    data = [
        {"MetricName": name, "Dimensions": dimensions, "Value": value, "Unit": "None"}
        for name, value in (("ClassMixPsi", psi), ("ClassMixTvd", tvd))
        for dimensions in ([service], [service, {"Name": "model_version", "Value": version}])
    ]
    cloudwatch.put_metric_data(Namespace=config.namespace, MetricData=data)


def _describe_model(function_arn: str, lambda_client: Any) -> dict[str, Any]:
    """GET /model from the live function, invoked directly with an HTTP API event."""
    event = {
        "version": "2.0",
        "rawPath": "/model",
        "rawQueryString": "",
        "headers": {},
        "requestContext": {"http": {"method": "GET", "path": "/model", "sourceIp": "127.0.0.1"}},
        "isBase64Encoded": False,
    }
    answer = json.loads(lambda_client.invoke(FunctionName=function_arn, Payload=json.dumps(event))["Payload"].read())
    if answer.get("statusCode") != 200:
        raise RuntimeError(f"GET /model on {function_arn} answered {answer.get('statusCode')}: {answer}")
    return json.loads(answer["body"])


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """EventBridge schedule entry."""
    return check_drift(DriftConfig.from_env(), cloudwatch=boto3.client("cloudwatch"))
