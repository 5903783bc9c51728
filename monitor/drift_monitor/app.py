"""Scheduled (EventBridge) function: is the live model's predicted class mix still its training mix?

Each run:

1. asks the classifier's live alias (CLASSIFIER_FUNCTION_ARN) for `GET /model`, marked `x-synthetic-traffic:
   drift-monitor`, so the training class shares are those of the model actually served;
2. sums the per-category `Predictions` of the last DRIFT_WINDOW_HOURS from CloudWatch, but none from before the
   alias's version was published (`live_since`) and its traffic shift ended (TRAFFIC_SHIFT_MINUTES), for every
   class (one query per class, in GetMetricData calls of at most 500 queries);
3. tests the counts against the training shares (drift.py: Pearson's chi-square on pooled classes) and puts
   into METRICS_NAMESPACE, with dimension `service` and again with `service` + `model_version`:
   - `ClassMixDriftScore`: −log10 of the p-value; 3 means a no-drift window looks this different once in
     a thousand windows, whatever the number of classes or predictions (the alarm's threshold);
   - `ClassMixTvd`: the share of traffic that moved between the test's bins (the size of the shift);
   - for a model trained on category paths (GET /model's `taxonomy` deeper than one level), the same test on
     the leaf counts and shares summed per top-level department: `DepartmentMixDriftScore` and
     `DepartmentMixTvd` (no extra queries: departments are read from the class labels);
4. compares the share of answers the classifier accepted (`AcceptedPredictions` / `DecidedPredictions`, decisions
   taken at its target precision) in the window with the share of the trailing week before it, and puts
   `AcceptedShare` and `AcceptedShareDrop` (the week's share minus the window's): a drop means drift or a bad model
   before anyone labels anything. Not emitted when either has fewer than MIN_PREDICTIONS decided answers, or the
   two too few to tell a drop of ACCEPTED_DROP_THRESHOLD from noise (DROP_STANDARD_ERRORS);
5. puts `DriftCheckCompleted` = 1 (dimension `service`): the heartbeat of a run that succeeded, including
   one that had too little traffic to test (fewer than MIN_PREDICTIONS, or too few to form two bins).

While a deployment shifts the alias's traffic, a run whose `GET /model` the new version answered puts the heartbeat
alone: the window holds the primary version's traffic, which the new model's shares would call drift.

Any failure (bad setting, the alias not answering its metadata, bad class shares, CloudWatch refusing, category
series that hold fewer predictions than the window's decided answers: series not read) is one ERROR log line naming
it, then the exception, so Lambda counts an error and no heartbeat is put.
"""

from __future__ import annotations

import logging
import math
import os
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from drift_monitor.config import DriftConfig
from drift_monitor.dimensions import dimension_value
from drift_monitor.drift import compare_class_mix
from drift_monitor.exceptions import DriftCheckError, LiveModelError
from drift_monitor.live_model import department_of, describe_live_model, live_since, printable, training_shares
from drift_monitor.metrics import check_predictions_read, decision_counts, predicted_counts, put_drift_metrics

if TYPE_CHECKING:
    from collections.abc import Mapping

logger = logging.getLogger()
# A level in any case; an unknown one is INFO: a bad setting must not stop the module from loading.
LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").strip().upper()
logger.setLevel(LOG_LEVEL if LOG_LEVEL in logging.getLevelNamesMapping() else logging.INFO)


def check_drift(
    config: DriftConfig, *, cloudwatch: Any, lambda_client: Any, now: datetime | None = None
) -> dict[str, Any]:
    """One drift check: read the live model and the window's predictions, test, emit.

    Returns:
        What was computed and whether a drift score was emitted.

    Raises:
        DriftCheckError: The check could not run; the message says why.
    """
    metadata, answered_by = describe_live_model(config.function_arn, lambda_client=lambda_client)
    version = metadata.get("model_version")
    if not isinstance(version, str) or not version:
        raise LiveModelError(f"GET /model on {config.function_arn} names no model_version")
    if printable(version) != version:
        raise LiveModelError(
            f"GET /model on {config.function_arn} names a model_version that is not valid Unicode (a lone "
            f"surrogate): {printable(version)[:200]}"
        )
    class_shares = training_shares(metadata)
    published, primary = live_since(config.function_arn, lambda_client=lambda_client)
    if answered_by and primary and answered_by != primary:
        shifting = {"model_version": version, "answered_by_version": answered_by, "primary_version": primary}
        logger.info(
            "the live alias is shifting traffic to a new version: no check this run, the heartbeat only", extra=shifting
        )
        put_drift_metrics(config, version, None, cloudwatch=cloudwatch)
        return {"emitted": False, "shifting": True} | shifting
    since = published + timedelta(minutes=config.shift_minutes)
    # Classes whose names differ only in a Latin letter's accents share one series: each series is read once and
    # tested against their summed share (read once per class, its traffic counted twice would hide a shift).
    series = {label: dimension_value(label) for label in class_shares}
    shares = _summed(class_shares, series)
    counts = predicted_counts(config, list(shares), cloudwatch=cloudwatch, now=now, since=since)
    total = math.fsum(counts.values())
    enough = total >= config.min_predictions
    test = compare_class_mix(shares, counts) if enough else None
    departments = {series[label]: department for label, department in department_of(metadata, list(series)).items()}
    department_test = None
    if enough and departments:
        department_test = compare_class_mix(_summed(shares, departments), _summed(counts, departments))
    decisions = decision_counts(config, cloudwatch=cloudwatch, now=now)
    check_predictions_read(config, total, decisions.window_decided, now=now, since=since)
    share = decisions.share(config)
    put_drift_metrics(config, version, test, cloudwatch=cloudwatch, department_test=department_test, share=share)
    summary: dict[str, Any] = {"predictions": total, "classes": len(class_shares), "model_version": version}
    if share is not None:
        summary |= {
            "accepted_share": share.window,
            "accepted_share_week": share.week,
            "accepted_share_drop": share.drop,
        }
    if test is None:
        emitted = "the heartbeat and the accepted share" if share is not None else "only the heartbeat"
        logger.info(
            f"too little traffic for a drift check; {emitted} emitted",
            extra=summary | {"min_predictions": config.min_predictions},
        )
        return {"emitted": False} | summary
    result = summary | {"score": test.score, "tvd": test.tvd, "bins": test.bins, "statistic": test.statistic}
    if department_test is not None:
        result |= {"department_score": department_test.score, "department_tvd": department_test.tvd}
    logger.info("class mix checked", extra=result)
    return {"emitted": True} | result


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """EventBridge schedule entry: one ERROR line and a raise on any failure, so Lambda counts an error."""
    try:
        config = DriftConfig.from_env()
        timeouts = Config(connect_timeout=3, read_timeout=20, retries={"total_max_attempts": 3, "mode": "standard"})
        return check_drift(
            config,
            cloudwatch=boto3.client("cloudwatch", config=timeouts),
            lambda_client=boto3.client("lambda", config=timeouts),
        )
    except DriftCheckError as exc:
        logger.error("drift check failed", extra={"reason": printable(str(exc))})
        raise
    except Exception as exc:
        logger.exception("drift check failed", extra={"reason": printable(f"{type(exc).__name__}: {exc}")})
        raise


def _summed(values: Mapping[str, float], department: Mapping[str, str]) -> dict[str, float]:
    """Per-class values summed per department."""
    sums: dict[str, float] = {}
    for label, value in values.items():
        sums[department[label]] = sums.get(department[label], 0.0) + value
    return sums
