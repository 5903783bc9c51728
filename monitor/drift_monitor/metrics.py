"""The monitor's CloudWatch reads (the window's predictions per class, the accepted share) and writes (its metrics).

Every read sums `GetMetricData` over whole minutes and every page; a count that is not finite and ≥ 0 is refused,
since only a bad writer or a broken store makes one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from drift_monitor.dimensions import dimension_value
from drift_monitor.exceptions import MetricsError

if TYPE_CHECKING:
    from drift_monitor.config import DriftConfig
    from drift_monitor.drift import ClassMixTest

# GetMetricData takes at most 500 queries per call.
MAX_QUERIES = 500
# The accepted share of the window is compared with that of this long a stretch before it.
TRAILING = timedelta(days=7)
# The accepted share's drop is put only when this many standard errors of it are at most the drop the alarm watches
# for (ACCEPTED_DROP_THRESHOLD, d), whatever MIN_PREDICTIONS says: at shares of one half, 3·√(¼/n + ¼/m) ≤ d for n
# decided answers in the window and m in the week, i.e. 1/n + 1/m ≤ (d/1.5)²: at d = 0.1, 1/225 (450 in each, or 258
# beside 1,800); at d = 0.05, four times as many.
DROP_STANDARD_ERRORS = 3
# Fewer decided answers than this in a window are a trickle, which a batch counted either side of the window's first
# minute could split between the two metrics: `check_predictions_read` leaves it alone.
READ_CHECK_DECIDED = 100


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
        MetricsError: GetMetricData failed, reported a query it could not answer or left one out of every page,
            or summed a count that is not finite and ≥ 0.
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


@dataclass(frozen=True)
class DecisionCounts:
    """Accepted and decided answers in the window and in the trailing week before it (across versions)."""

    window_accepted: float
    window_decided: float
    week_accepted: float
    week_decided: float

    def share(self, config: DriftConfig) -> AcceptedShare | None:
        """The accepted share of the window and of the week, or None when either has fewer than MIN_PREDICTIONS
        decided answers, or the two together too few to tell a drop of ACCEPTED_DROP_THRESHOLD from noise
        (`DROP_STANDARD_ERRORS`; none at all: a model without operating points decides nothing)."""
        decided, before = self.window_decided, self.week_decided
        if min(decided, before) < max(config.min_predictions, 1):
            return None
        # the standard error at shares of one half, squared: (1/n + 1/m) / 4
        if (DROP_STANDARD_ERRORS / 2) ** 2 * (decided + before) > config.accepted_drop**2 * decided * before:
            return None
        return AcceptedShare(self.window_accepted / decided, self.week_accepted / before)


def decision_counts(config: DriftConfig, *, cloudwatch: Any, now: datetime | None = None) -> DecisionCounts:
    """The window's and the trailing week's `AcceptedPredictions` and `DecidedPredictions`.

    Raises:
        MetricsError: GetMetricData failed, left a query out of every page, or returned counts that cannot be (more
            accepted than decided).
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
    return DecisionCounts(window["AcceptedPredictions"], decided, week["AcceptedPredictions"], before)


def accepted_share(config: DriftConfig, *, cloudwatch: Any, now: datetime | None = None) -> AcceptedShare | None:
    """The accepted share of the window and of the 7 days before it, or None when too few answers were decided
    (`DecisionCounts.share`).

    Raises:
        MetricsError: GetMetricData failed, left a query out of every page, or returned counts that cannot be (more
            accepted than decided).
    """
    return decision_counts(config, cloudwatch=cloudwatch, now=now).share(config)


def check_predictions_read(
    config: DriftConfig, total: float, decided: float, *, now: datetime | None = None, since: datetime | None = None
) -> None:
    """The window's per-category `Predictions` must account for its decided answers: every answered listing the
    classifier decides is also counted under its category, so where the whole window is the live version's (`since`
    before it), fewer than half as many predictions as `DecidedPredictions` (READ_CHECK_DECIDED of them at least)
    means the category series are not being read (a dimension, service or namespace the classifier does not write),
    not that traffic is low.

    Raises:
        MetricsError: Fewer predictions read than half the window's decided answers.
    """
    end = (now or datetime.now(UTC)).replace(second=0, microsecond=0)
    if since is not None and since > end - timedelta(hours=config.window_hours):
        return
    if decided >= READ_CHECK_DECIDED and 2 * total < decided:
        raise MetricsError(
            f"CloudWatch holds {decided:g} DecidedPredictions in the window but only {total:g} Predictions across the "
            f"model's category series (service {config.service!r}, namespace {config.namespace}): every decided "
            "answer is also counted under its category, so those series are not being read (is the classifier "
            "writing them with the categories GET /model lists?), or a version with other categories answered most "
            "of the window (an alias moved back to an older version: the check runs again on the next window)"
        )


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


def _sums(
    config: DriftConfig, names: tuple[str, ...], start: datetime, end: datetime, *, cloudwatch: Any
) -> dict[str, float]:
    """The Sum of each service-wide metric over [start, end), in one GetMetricData query each.

    Raises:
        MetricsError: GetMetricData failed, reported a query it could not answer or left one out of every page,
            or summed a bad count.
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
        MetricsError: GetMetricData failed, reported a query it could not answer, answered one it was not asked or
            left one out of every page (a query without data still has its result, with no values: one left out is
            no zero), or summed a count that is not finite and ≥ 0 (counts never are: only a bad writer or a broken
            store makes one).
    """
    sums = {query["Id"]: 0.0 for query in queries}
    answered: set[str] = set()
    names = {query["Id"]: _metric_name(query) for query in queries}
    token: str | None = None
    seen: set[str] = set()
    while True:
        try:
            page = cloudwatch.get_metric_data(
                MetricDataQueries=queries, StartTime=start, EndTime=end, **({"NextToken": token} if token else {})
            )
        except (BotoCoreError, ClientError) as exc:
            raise MetricsError(f"GetMetricData on namespace {config.namespace} failed: {exc}") from exc
        for result in page.get("MetricDataResults", []):
            if result.get("Id") not in sums:
                raise MetricsError(
                    f"GetMetricData on namespace {config.namespace} answered a query it was not asked: "
                    f"{str(result.get('Id'))[:100]!r}"
                )
            if result.get("StatusCode") not in ("Complete", "PartialData"):
                raise MetricsError(
                    f"GetMetricData could not read {names[result['Id']]}: {result.get('StatusCode')} "
                    f"{result.get('Messages', [])}"
                )
            sums[result["Id"]] += math.fsum(result.get("Values", []))
            answered.add(result["Id"])
        token = page.get("NextToken")
        if not token:
            break
        if token in seen:  # pages that point back would loop until Lambda's timeout, without a word
            raise MetricsError(f"GetMetricData on namespace {config.namespace} returned the same NextToken twice")
        seen.add(token)
    unanswered = [names[query_id] for query_id in sums if query_id not in answered]
    if unanswered:
        raise MetricsError(
            f"GetMetricData on namespace {config.namespace} returned no result for {len(unanswered)} of its "
            f"{len(sums)} queries: {', '.join(unanswered[:5])}"
        )
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
