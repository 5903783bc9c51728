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
   two too few to tell a drop of 0.1 from noise (DROP_DECIDED);
5. puts `DriftCheckCompleted` = 1 (dimension `service`): the heartbeat of a run that succeeded, including
   one that had too little traffic to test (fewer than MIN_PREDICTIONS, or too few to form two bins).

Any failure (bad setting, the alias not answering its metadata, bad class shares, CloudWatch refusing) is
one ERROR log line naming it, then the exception, so Lambda counts an error and no heartbeat is put.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from drift_monitor.dimensions import dimension_value
from drift_monitor.drift import compare_class_mix, normalise_shares
from drift_monitor.exceptions import ConfigError, DriftCheckError, InvalidSharesError, LiveModelError, MetricsError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from drift_monitor.drift import ClassMixTest

# GetMetricData takes at most 500 queries per call.
MAX_QUERIES = 500
MAX_WINDOW_HOURS = 24 * 14
MAX_SHIFT_MINUTES = 24 * 60
# The accepted share of the window is compared with that of this long a stretch before it.
TRAILING = timedelta(days=7)
# The accepted share's drop is put only when three standard errors of it are at most the 0.1 drop
# docs/monitoring.md's alarm watches for, whatever MIN_PREDICTIONS says: at shares of one half, 3·√(¼/n + ¼/m) ≤ 0.1
# for n decided answers in the window and m in the week, i.e. 1/n + 1/m ≤ 1/225 (450 in each, or 258 beside 1,800).
DROP_DECIDED = 225
SYNTHETIC_HEADER = "x-synthetic-traffic"
SYNTHETIC_SOURCE = "drift-monitor"
logger = logging.getLogger()
logger.setLevel(os.environ.get("LOG_LEVEL", "INFO"))


@dataclass(frozen=True)
class DriftConfig:
    """The function's environment variables (set in template.yaml)."""

    namespace: str
    service: str
    window_hours: int
    min_predictions: int
    function_arn: str
    # How long after a version's publication its deployment can still route traffic to the version before it (the
    # pre-traffic hook, then a canary or linear shift): those minutes do not count as the new version's.
    shift_minutes: int = 0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DriftConfig:
        """Read and check the environment; empty values count as unset.

        Raises:
            ConfigError: A variable is missing or out of range; the message names it.
        """
        environ = os.environ if environ is None else environ
        for name in ("METRICS_NAMESPACE", "CLASSIFIER_FUNCTION_ARN"):
            if not environ.get(name):
                raise ConfigError(f"{name} is not set: the template sets it (see docs/monitoring.md)")
        return cls(
            namespace=environ["METRICS_NAMESPACE"],
            service=environ.get("SERVICE_NAME") or "product-classifier",
            window_hours=_integer(environ, "DRIFT_WINDOW_HOURS", default=24, low=1, high=MAX_WINDOW_HOURS),
            min_predictions=_integer(environ, "MIN_PREDICTIONS", default=500, low=0, high=10**12),
            function_arn=environ["CLASSIFIER_FUNCTION_ARN"],
            shift_minutes=_integer(environ, "TRAFFIC_SHIFT_MINUTES", default=0, low=0, high=MAX_SHIFT_MINUTES),
        )


def check_drift(
    config: DriftConfig, *, cloudwatch: Any, lambda_client: Any, now: datetime | None = None
) -> dict[str, Any]:
    """One drift check: read the live model and the window's predictions, test, emit.

    Returns:
        What was computed and whether a drift score was emitted.

    Raises:
        DriftCheckError: The check could not run; the message says why.
    """
    metadata = describe_live_model(config.function_arn, lambda_client=lambda_client)
    version = metadata.get("model_version")
    if not isinstance(version, str) or not version:
        raise LiveModelError(f"GET /model on {config.function_arn} names no model_version")
    if _printable(version) != version:
        raise LiveModelError(
            f"GET /model on {config.function_arn} names a model_version that is not valid Unicode (a lone "
            f"surrogate): {_printable(version)[:200]}"
        )
    class_shares = training_shares(metadata)
    since = live_since(config.function_arn, lambda_client=lambda_client) + timedelta(minutes=config.shift_minutes)
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
    share = accepted_share(config, cloudwatch=cloudwatch, now=now)
    put_drift_metrics(config, version, test, cloudwatch=cloudwatch, department_test=department_test, share=share)
    summary: dict[str, Any] = {"predictions": total, "classes": len(class_shares), "model_version": version}
    if share is not None:
        summary |= {
            "accepted_share": share.window,
            "accepted_share_week": share.week,
            "accepted_share_drop": share.drop,
        }
    if test is None:
        logger.info(
            "too little traffic for a drift check; only the heartbeat emitted",
            extra=summary | {"min_predictions": config.min_predictions},
        )
        return {"emitted": False} | summary
    result = summary | {"score": test.score, "tvd": test.tvd, "bins": test.bins, "statistic": test.statistic}
    if department_test is not None:
        result |= {"department_score": department_test.score, "department_tvd": department_test.tvd}
    logger.info("class mix checked", extra=result)
    return {"emitted": True} | result


def department_of(metadata: dict[str, Any], labels: list[str]) -> dict[str, str]:
    """Each class's top-level department, from its path label and GET /model's taxonomy separator; empty for a
    model trained on flat labels (its departments are its classes, already tested)."""
    taxonomy = metadata.get("taxonomy")
    if not isinstance(taxonomy, dict) or not isinstance(taxonomy.get("depth"), int) or taxonomy["depth"] < 2:
        return {}
    separator = taxonomy.get("separator")
    if not isinstance(separator, str) or not separator:
        return {}
    return {label: label.split(separator, 1)[0] for label in labels}


def describe_live_model(function_arn: str, *, lambda_client: Any) -> dict[str, Any]:
    """GET /model from the live alias, invoked directly with an HTTP API event marked as synthetic.

    Raises:
        LiveModelError: The invoke failed, the function failed, or it did not answer 200 with a JSON object.
    """
    event = {
        "version": "2.0",
        "rawPath": "/model",
        "rawQueryString": "",
        "headers": {SYNTHETIC_HEADER: SYNTHETIC_SOURCE},
        "requestContext": {"http": {"method": "GET", "path": "/model", "sourceIp": "127.0.0.1"}},
        "isBase64Encoded": False,
    }
    try:
        response = lambda_client.invoke(FunctionName=function_arn, Payload=json.dumps(event).encode())
        payload = response["Payload"].read().decode("utf-8", errors="replace")
    except (BotoCoreError, ClientError) as exc:
        raise LiveModelError(f"invoking {function_arn} for GET /model failed: {exc}") from exc
    if response.get("FunctionError"):
        raise LiveModelError(f"GET /model on {function_arn} failed ({response['FunctionError']}): {payload[:300]}")
    answer = _json_object(payload)
    if answer is None or answer.get("statusCode") != 200:
        status = answer.get("statusCode") if answer else "a payload that is not an HTTP response"
        raise LiveModelError(f"GET /model on {function_arn} answered {status}: {payload[:300]}")
    body = answer.get("body") or ""
    if not isinstance(body, str):
        raise LiveModelError(f"GET /model on {function_arn} answered a {type(body).__name__} body, not JSON text")
    if answer.get("isBase64Encoded") is True:
        try:
            body = base64.b64decode(body, validate=True).decode("utf-8")
        except ValueError:
            raise LiveModelError(
                f"GET /model on {function_arn} answered a body marked base64 that is not base64 of UTF-8 text"
            ) from None
    metadata = _json_object(body)
    if metadata is None:
        raise LiveModelError(
            f"GET /model on {function_arn} answered a body that is not a JSON object: {_printable(body[:200])}"
        )
    return metadata


def live_since(function_arn: str, *, lambda_client: Any) -> datetime:
    """When the version the live alias routes to was published. `Predictions` carries no model version, so the
    window starts no earlier than this: traffic before it was answered by another version, maybe another model
    of other classes and shares, and comparing it with this model's shares would cry wolf after every release.

    Raises:
        LiveModelError: The alias cannot be read, or names no publication time.
    """
    try:
        published = lambda_client.get_function_configuration(FunctionName=function_arn).get("LastModified")
    except (BotoCoreError, ClientError) as exc:
        raise LiveModelError(f"reading {function_arn}'s version (GetFunctionConfiguration) failed: {exc}") from exc
    try:
        moment = datetime.fromisoformat(str(published))
    except ValueError:
        raise LiveModelError(f"{function_arn}'s version has no publication time (LastModified {published!r})") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def training_shares(metadata: dict[str, Any]) -> dict[str, float]:
    """The training class shares, normalised, with every served class (a class without a share has 0).

    Raises:
        InvalidSharesError: `class_shares` is missing or malformed.
    """
    if metadata.get("class_shares") is None:
        raise InvalidSharesError("the live model has no class_shares: retrain it with this version's `make train`")
    shares = normalise_shares(metadata["class_shares"])
    classes = metadata.get("classes")
    for label in classes if isinstance(classes, list) else []:
        if isinstance(label, str):
            shares.setdefault(label, 0.0)
    return shares


def predicted_counts(
    config: DriftConfig,
    labels: list[str],
    *,
    cloudwatch: Any,
    now: datetime | None = None,
    since: datetime | None = None,
) -> dict[str, float]:
    """Sum of `Predictions` per category over the window (from `since` when that is later, to the minute):
    every label (one per series), MAX_QUERIES queries a call.

    Raises:
        MetricsError: GetMetricData failed, reported a query it could not answer, or summed a count that is not
            finite and ≥ 0.
    """
    end = (now or datetime.now(UTC)).replace(second=0, microsecond=0)
    start = end - timedelta(hours=config.window_hours)
    if since is not None and since > start:
        start = since.replace(second=0, microsecond=0) + timedelta(minutes=1)
    counts = dict.fromkeys(labels, 0.0)
    period = _period(start, end)
    if period <= 0:
        return counts
    for first in range(0, len(labels), MAX_QUERIES):
        queries = [
            _query(config, f"c{index}", labels[index], period)
            for index in range(first, min(first + MAX_QUERIES, len(labels)))
        ]
        sums = _metric_data(config, queries, start, end, cloudwatch=cloudwatch)
        counts |= {labels[int(query_id[1:])]: value for query_id, value in sums.items()}
    return counts


@dataclass(frozen=True)
class AcceptedShare:
    """The share of decided answers the classifier accepted in the window and in the trailing week before it."""

    window: float
    week: float

    @property
    def drop(self) -> float:
        """How far the window's share fell below the week's (negative: it rose)."""
        return self.week - self.window


def accepted_share(config: DriftConfig, *, cloudwatch: Any, now: datetime | None = None) -> AcceptedShare | None:
    """The accepted share of the window and of the 7 days before it, or None when either has fewer than
    MIN_PREDICTIONS decided answers, or the two together too few to tell a drop of 0.1 from noise (`DROP_DECIDED`;
    none at all: a model without operating points decides nothing).

    Raises:
        MetricsError: GetMetricData failed, or returned counts that cannot be (more accepted than decided).
    """
    end = (now or datetime.now(UTC)).replace(second=0, microsecond=0)
    start = end - timedelta(hours=config.window_hours)
    window = _sums(config, ("AcceptedPredictions", "DecidedPredictions"), start, end, cloudwatch=cloudwatch)
    week = _sums(config, ("AcceptedPredictions", "DecidedPredictions"), start - TRAILING, start, cloudwatch=cloudwatch)
    decided, before = window["DecidedPredictions"], week["DecidedPredictions"]
    if window["AcceptedPredictions"] > decided or week["AcceptedPredictions"] > before:
        raise MetricsError(
            "CloudWatch counts more AcceptedPredictions than DecidedPredictions "
            f"({window['AcceptedPredictions']:g} of {decided:g} in the window, {week['AcceptedPredictions']:g} of "
            f"{before:g} in the week before): every accepted answer is a decided one"
        )
    if min(decided, before) < max(config.min_predictions, 1) or DROP_DECIDED * (decided + before) > decided * before:
        return None
    return AcceptedShare(window["AcceptedPredictions"] / decided, week["AcceptedPredictions"] / before)


def put_drift_metrics(
    config: DriftConfig,
    version: str,
    test: ClassMixTest | None,
    *,
    cloudwatch: Any,
    department_test: ClassMixTest | None = None,
    share: AcceptedShare | None = None,
) -> None:
    """The score and TVD (with and without model_version) when there is a test, the department ones when there is
    a department test, the accepted share and its drop when there is one, and the heartbeat, in one call.

    Raises:
        MetricsError: PutMetricData failed.
    """
    service = {"Name": "service", "Value": config.service}
    values: list[tuple[str, float]] = []
    if test is not None:
        values += [("ClassMixDriftScore", test.score), ("ClassMixTvd", test.tvd)]
    if department_test is not None:
        values += [("DepartmentMixDriftScore", department_test.score), ("DepartmentMixTvd", department_test.tvd)]
    if share is not None:
        values += [("AcceptedShare", share.window), ("AcceptedShareDrop", share.drop)]
    data = [
        {"MetricName": name, "Dimensions": dimensions, "Value": value, "Unit": "None"}
        for name, value in values
        for dimensions in ([service], [service, {"Name": "model_version", "Value": version}])
    ]
    data.append({"MetricName": "DriftCheckCompleted", "Dimensions": [service], "Value": 1.0, "Unit": "Count"})
    try:
        cloudwatch.put_metric_data(Namespace=config.namespace, MetricData=data)
    except (BotoCoreError, ClientError) as exc:
        raise MetricsError(f"PutMetricData on namespace {config.namespace} failed: {exc}") from exc


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
        logger.error("drift check failed", extra={"reason": _printable(str(exc))})
        raise
    except Exception as exc:
        logger.exception("drift check failed", extra={"reason": _printable(f"{type(exc).__name__}: {exc}")})
        raise


def _printable(text: str) -> str:
    """The text with any code point UTF-8 cannot encode (a lone surrogate, which the live function's JSON may hold
    as "\\ud800") written as its escape: Lambda writes log lines as UTF-8, and a line it cannot write is lost."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _summed(values: Mapping[str, float], department: Mapping[str, str]) -> dict[str, float]:
    """Per-class values summed per department."""
    sums: dict[str, float] = {}
    for label, value in values.items():
        sums[department[label]] = sums.get(department[label], 0.0) + value
    return sums


def _sums(
    config: DriftConfig, names: tuple[str, ...], start: datetime, end: datetime, *, cloudwatch: Any
) -> dict[str, float]:
    """The Sum of each service-wide metric over [start, end), in one GetMetricData query each.

    Raises:
        MetricsError: GetMetricData failed, reported a query it could not answer, or summed a bad count.
    """
    period = _period(start, end)
    queries = [
        {
            "Id": f"m{index}",
            "MetricStat": {
                "Metric": {"Namespace": config.namespace, "MetricName": name,
                           "Dimensions": [{"Name": "service", "Value": config.service}]},
                "Period": period,
                "Stat": "Sum",
            },
            "ReturnData": True,
        }
        for index, name in enumerate(names)
    ]  # fmt: skip
    sums = _metric_data(config, queries, start, end, cloudwatch=cloudwatch)
    return {name: sums[f"m{index}"] for index, name in enumerate(names)}


def _metric_data(
    config: DriftConfig, queries: list[dict[str, Any]], start: datetime, end: datetime, *, cloudwatch: Any
) -> dict[str, float]:
    """Each query's values over [start, end) summed, by query Id, over every page of GetMetricData.

    Raises:
        MetricsError: GetMetricData failed, reported a query it could not answer, or summed a count that is not
            finite and ≥ 0 (counts never are: only a bad writer or a broken store makes one).
    """
    sums = {query["Id"]: 0.0 for query in queries}
    names = {query["Id"]: _metric_name(query) for query in queries}
    token: str | None = None
    while True:
        try:
            page = cloudwatch.get_metric_data(
                MetricDataQueries=queries, StartTime=start, EndTime=end, **({"NextToken": token} if token else {})
            )
        except (BotoCoreError, ClientError) as exc:
            raise MetricsError(f"GetMetricData on namespace {config.namespace} failed: {exc}") from exc
        for result in page.get("MetricDataResults", []):
            if result.get("StatusCode") not in ("Complete", "PartialData"):
                raise MetricsError(
                    f"GetMetricData could not read {names[result['Id']]}: {result.get('StatusCode')} "
                    f"{result.get('Messages', [])}"
                )
            sums[result["Id"]] += math.fsum(result.get("Values", []))
        token = page.get("NextToken")
        if not token:
            break
    bad = [names[query_id] for query_id, value in sums.items() if not 0 <= value < math.inf]
    if bad:
        raise MetricsError(f"CloudWatch returned counts that are not finite and ≥ 0: {', '.join(bad[:5])}")
    return sums


def _metric_name(query: dict[str, Any]) -> str:
    """What a query reads, for a message: the metric, and its category when it has one."""
    metric = query["MetricStat"]["Metric"]
    category = next((d["Value"] for d in metric["Dimensions"] if d["Name"] == "category"), None)
    return f"{metric['MetricName']} for {category!r}" if category is not None else metric["MetricName"]


def _period(start: datetime, end: datetime) -> int:
    """[start, end) as one GetMetricData period: whole minutes, in seconds (0 when shorter than a minute)."""
    return int((end - start).total_seconds()) // 60 * 60


def _query(config: DriftConfig, query_id: str, label: str, period: int) -> dict[str, Any]:
    """One GetMetricData query: the window's Sum of Predictions for one category (`period`: the window, seconds)."""
    dimensions = [{"Name": "category", "Value": dimension_value(label)}, {"Name": "service", "Value": config.service}]
    return {
        "Id": query_id,
        "MetricStat": {
            "Metric": {"Namespace": config.namespace, "MetricName": "Predictions", "Dimensions": dimensions},
            "Period": period,
            "Stat": "Sum",
        },
        "ReturnData": True,
    }


def _integer(environ: Mapping[str, str], name: str, *, default: int, low: int, high: int) -> int:
    """An integer environment variable within [low, high].

    Raises:
        ConfigError: It does not parse or is out of range.
    """
    raw = environ.get(name) or str(default)
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer from {low} to {high}, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be an integer from {low} to {high}, got {raw!r}")
    return value


def _json_object(text: Any) -> dict[str, Any] | None:
    """`text` parsed as a JSON object, or None."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return None
    return value if isinstance(value, dict) else None
