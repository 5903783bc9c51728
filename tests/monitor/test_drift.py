"""The class-mix drift check: the statistic on hand-made counts, and the scheduled function against moto/Stubber.

Expected values are literals worked out by hand or with scipy/mpmath (named beside each), never with the
function under test. The false-alarm rate and the power are simulated in test_calibration.py.
"""

from __future__ import annotations

import io
import json
import logging
import math
import re
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from drift_monitor import app as monitor
from drift_monitor.app import check_drift
from drift_monitor.config import DriftConfig
from drift_monitor.drift import bin_class_mix, chi_square_log_sf, compare_class_mix, normalise_shares
from drift_monitor.exceptions import ConfigError, InvalidSharesError, LiveModelError, MetricsError
from drift_monitor.metrics import accepted_share
from tests.conftest import DRIFT_METADATA

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
METADATA = DRIFT_METADATA
LIVE_ALIAS = "arn:aws:lambda:us-east-1:123456789012:function:classifier:live"
# GET /model as the monitor must send it: to the live alias, marked as synthetic traffic.
GET_MODEL = {
    "version": "2.0",
    "rawPath": "/model",
    "rawQueryString": "",
    "headers": {"x-synthetic-traffic": "drift-monitor"},
    "requestContext": {"http": {"method": "GET", "path": "/model", "sourceIp": "127.0.0.1"}},
    "isBase64Encoded": False,
}
# The shift {Fridges 100, TVs 300, CPUs 600} against {0.5, 0.3, 0.2}: X² = 400²/200 + 0 + 400²/500 = 1120;
# variance 4 + (2 + 10/3 + 5 − 15 + 2)/1000 gives c = 0.99933…, ν = 2.00133…; −log10 of scipy's
# chi2.sf(1120 / c, ν).
SHIFTED_SCORE = 243.36515350505607


def _config(**changes):
    base = DriftConfig(
        namespace="ProductClassifier",
        service="product-classifier",
        window_hours=24,
        min_predictions=100,
        function_arn=LIVE_ALIAS,
    )
    return DriftConfig(**{**base.__dict__, **changes})


def _payload(data: bytes):
    return StreamingBody(io.BytesIO(data), len(data))


def _live_model(metadata=METADATA, *, answer=None, function_error=None, published=NOW - timedelta(days=30),
                answered_by=None, primary=None):  # fmt: skip
    """A Lambda client stubbed to answer GET /model once, as the classifier's live alias would (its version
    `answered_by`), then when the version the alias serves (`primary`) was `published` (by default long before any
    window)."""
    client = boto3.client("lambda", region_name="us-east-1")
    stubber = Stubber(client)
    if answer is None:
        answer = json.dumps({"statusCode": 200, "body": json.dumps(metadata)}).encode()
    response = {"StatusCode": 200, "Payload": _payload(answer)}
    if function_error:
        response["FunctionError"] = function_error
    if answered_by:
        response["ExecutedVersion"] = answered_by
    stubber.add_response("invoke", response, {"FunctionName": LIVE_ALIAS, "Payload": json.dumps(GET_MODEL).encode()})
    configuration = {"LastModified": published.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"}  # Lambda's format
    stubber.add_response(
        "get_function_configuration",
        configuration | ({"Version": primary} if primary else {}),
        {"FunctionName": LIVE_ALIAS},
    )
    stubber.activate()
    return client


def _record_predictions(cloudwatch, counts, namespace="ProductClassifier", hours_ago=1):
    for label, count in counts.items():
        cloudwatch.put_metric_data(
            Namespace=namespace,
            MetricData=[
                {
                    "MetricName": "Predictions",
                    "Dimensions": [
                        {"Name": "category", "Value": label},
                        {"Name": "service", "Value": "product-classifier"},
                    ],
                    "Value": count,
                    "Unit": "Count",
                    "Timestamp": NOW - timedelta(hours=hours_ago),
                }
            ],
        )


def _emitted(cloudwatch):
    metrics = cloudwatch.list_metrics(Namespace="ProductClassifier")["Metrics"]
    return {(m["MetricName"], tuple(sorted(d["Name"] for d in m["Dimensions"]))) for m in metrics} - {
        ("Predictions", ("category", "service"))
    }


# --- the statistic


@pytest.mark.parametrize(
    ("raw", "shares"),
    [
        ({"a": 2, "b": 2}, {"a": 0.5, "b": 0.5}),  # shares summing to 2 (issue 16)
        ({"a": 1, "b": 3.0}, {"a": 0.25, "b": 0.75}),
        ({"a": 0.0, "b": 0.4}, {"a": 0.0, "b": 1.0}),
    ],
)
def test_class_shares_are_normalised(raw, shares):
    assert normalise_shares(raw) == shares


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([0.5, 0.5], "class_shares must be a non-empty object of class to share, got list [0.5, 0.5]"),
        ("Fridges", "class_shares must be a non-empty object of class to share, got str 'Fridges'"),
        ({}, "class_shares must be a non-empty object"),
        (None, "class_shares must be a non-empty object"),
        ({"a": "0.5"}, "class_shares['a'] must be a number, got str '0.5'"),
        ({"a": True}, "class_shares['a'] must be a number, got bool True"),
        ({"a": None}, "class_shares['a'] must be a number, got NoneType None"),
        ({"a": -0.1, "b": 1.1}, "class_shares['a'] must be finite and ≥ 0, got -0.1"),
        ({"a": math.nan}, "class_shares['a'] must be finite and ≥ 0, got nan"),
        ({"a": math.inf}, "class_shares['a'] must be finite and ≥ 0, got inf"),
        ({"a": 10**400, "b": 1}, "class_shares['a'] must be finite and ≥ 0, got 1000"),
        ({"a": 0, "b": 0.0}, "class_shares must have a positive, finite sum, got 0.0"),
        ({"a": 1e308, "b": 1e308}, "class_shares must have a positive, finite sum, got inf"),
    ],
)
def test_bad_class_shares_are_rejected_with_a_clear_message(raw, message):
    with pytest.raises(InvalidSharesError) as error:
        normalise_shares(raw)
    assert str(error.value).startswith(message)


@pytest.mark.parametrize(
    ("shares", "counts", "bins", "observed"),
    [
        # 100 predictions: a, b and c expect 1, 2, 7 (pooled: 10); d and e expect 40 and 50 on their own
        (
            {"a": 0.01, "b": 0.02, "c": 0.07, "d": 0.4, "e": 0.5},
            {"a": 3, "b": 0, "c": 5, "d": 40, "e": 52},
            [0.1, 0.4, 0.5],
            [8, 40, 52],
        ),
        # 12 predictions: a + b expect 7.2; c's 4.8 is too few for a bin and joins them: one bin
        ({"a": 0.3, "b": 0.3, "c": 0.4}, {"a": 4, "b": 4, "c": 4}, [1.0], [12]),
        # a class without a training share joins the rarest bin, with its traffic
        ({"new": 0.0, "a": 0.5, "b": 0.5}, {"new": 10, "a": 45, "b": 45}, [0.5, 0.5], [55, 45]),
        # no traffic at all: one bin
        ({"a": 0.5, "b": 0.5}, {}, [1.0], [0]),
    ],
)
def test_classes_are_pooled_until_each_bin_expects_five(shares, counts, bins, observed):
    bin_shares, bin_counts = bin_class_mix(shares, counts)

    assert bin_shares == pytest.approx(bins)
    assert bin_counts == observed


def test_a_shifted_mix_has_the_score_worked_out_by_hand():
    test = compare_class_mix({"Fridges": 0.5, "TVs": 0.3, "CPUs": 0.2}, {"Fridges": 100, "TVs": 300, "CPUs": 600})

    assert test is not None
    assert test.statistic == pytest.approx(1120.0)
    assert test.bins == 3
    assert test.degrees_of_freedom == pytest.approx(2.0013342228152102)
    assert test.tvd == pytest.approx(0.4)
    assert test.score == pytest.approx(SHIFTED_SCORE, rel=1e-9)


@pytest.mark.parametrize(
    ("shares", "counts", "statistic", "score"),
    [
        # exactly the training mix: X² = 0, p = 1
        ({"Fridges": 0.5, "TVs": 0.3, "CPUs": 0.2}, {"Fridges": 500, "TVs": 300, "CPUs": 200}, 0.0, 0.0),
        # 60/40 against 50/50: X² = 2 · 10²/50 = 4; variance 2 − 0.02, so ν = 1.0101…, c = 0.99;
        # scipy: −log10 chi2.sf(4 / 0.99, 1.0101…) (the textbook df=1 test gives 1.34199)
        ({"a": 0.5, "b": 0.5}, {"a": 60, "b": 40}, 4.0, 1.3458624162844008),
        # a class without a training share that got traffic is pooled, not an infinite statistic
        ({"new": 0.0, "a": 0.5, "b": 0.5}, {"new": 10, "a": 45, "b": 45}, 1.0, None),
    ],
)
def test_known_counts_give_known_statistics(shares, counts, statistic, score):
    test = compare_class_mix(shares, counts)

    assert test is not None
    assert test.statistic == pytest.approx(statistic, abs=1e-12)
    if score is not None:
        assert test.score == pytest.approx(score, rel=1e-9, abs=1e-12)


def test_too_few_predictions_for_two_bins_is_no_test():
    assert compare_class_mix({"a": 0.5, "b": 0.5}, {"a": 6, "b": 3}) is None
    assert compare_class_mix({"a": 0.5, "b": 0.5}, {}) is None


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        ({"a": 10, "zzz": 1}, "counts for classes without a training share: ['zzz']"),
        ({"a": -1, "b": 20}, "counts must be finite and ≥ 0"),
        ({"a": math.nan, "b": 20}, "counts must be finite and ≥ 0"),
    ],
)
def test_impossible_counts_are_refused(counts, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        compare_class_mix({"a": 0.5, "b": 0.5}, counts)


@pytest.mark.parametrize(
    ("x", "dof", "log_sf"),
    [
        (0.0, 3, 0.0),
        (0.5, 3, -0.08458732285189939),  # scipy chi2.logsf
        (3.841458820694124, 1, math.log(0.05)),  # the 95 % point of χ²(1)
        (23.209251158954356, 10, math.log(0.01)),  # the 99 % point of χ²(10)
        (1000.0, 2, -500.0),  # χ²(2) has P(X > x) = exp(−x/2) exactly
        (5500.0, 4999, -14.342715953129994),  # mpmath, 40 digits
        (10_000.0, 100, -4727.213431229066),  # mpmath; scipy underflows to −inf here
        (1e6, 2.5, -499996.6211368192),  # mpmath
    ],
)
def test_chi_square_tail_in_logs(x, dof, log_sf):
    assert chi_square_log_sf(x, dof) == pytest.approx(log_sf, rel=1e-9, abs=1e-12)


def test_chi_square_needs_positive_degrees_of_freedom():
    with pytest.raises(ValueError, match="degrees of freedom must be positive, got 0"):
        chi_square_log_sf(1.0, 0)


# --- the scheduled function


def test_a_shifted_mix_emits_the_score_the_tvd_and_the_heartbeat(aws):
    _, cloudwatch = aws
    _record_predictions(cloudwatch, {"Fridges": 100, "TVs": 300, "CPUs": 600})

    result = check_drift(_config(), cloudwatch=cloudwatch, lambda_client=_live_model(), now=NOW)

    assert result["emitted"] is True
    assert result["predictions"] == 1000
    assert result["score"] == pytest.approx(SHIFTED_SCORE, rel=1e-9)
    assert result["tvd"] == pytest.approx(0.4)
    assert _emitted(cloudwatch) == {
        ("ClassMixDriftScore", ("service",)),
        ("ClassMixDriftScore", ("model_version", "service")),
        ("ClassMixTvd", ("service",)),
        ("ClassMixTvd", ("model_version", "service")),
        ("DriftCheckCompleted", ("service",)),
    }


def _record_decisions(cloudwatch, *, hours_ago, accepted, decided, namespace="ProductClassifier"):
    for name, value in (("AcceptedPredictions", accepted), ("DecidedPredictions", decided)):
        cloudwatch.put_metric_data(
            Namespace=namespace,
            MetricData=[{"MetricName": name, "Dimensions": [{"Name": "service", "Value": "product-classifier"}],
                         "Value": value, "Unit": "Count", "Timestamp": NOW - timedelta(hours=hours_ago)}],
        )  # fmt: skip


def _none_accepted_after_a_week_of_all(cloudwatch, *, window, week):
    """A day's traffic, `window` decided answers none of them accepted, after a week of `week` all accepted."""
    _record_predictions(cloudwatch, {"Fridges": 500, "TVs": 300, "CPUs": 200})
    _record_decisions(cloudwatch, hours_ago=1, accepted=0, decided=window)
    _record_decisions(cloudwatch, hours_ago=24 * 3, accepted=week, decided=week)


@pytest.mark.parametrize(("window", "week"), [(450, 450), (258, 1_800)])
def test_the_fewest_decided_answers_that_resolve_a_drop_of_a_tenth_emit_the_accepted_share(aws, window, week):
    # three standard errors of the drop are at most 0.1 (at shares of one half) from these counts on
    _, cloudwatch = aws
    _none_accepted_after_a_week_of_all(cloudwatch, window=window, week=week)

    result = check_drift(_config(min_predictions=0), cloudwatch=cloudwatch, lambda_client=_live_model(), now=NOW)

    assert result["accepted_share_drop"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("window", "week", "emitted"), [(450, 450, False), (1_799, 1_800, False), (1_800, 1_800, True)]
)
def test_a_lower_alarm_threshold_waits_for_the_answers_that_resolve_it(aws, window, week, emitted):
    # at an alarm threshold of 0.05, three standard errors of the drop need 1/n + 1/m <= 1/900: 450 in each would be
    # noise against it (a no-change window would alarm several times a day)
    _, cloudwatch = aws
    _none_accepted_after_a_week_of_all(cloudwatch, window=window, week=week)

    result = check_drift(
        _config(min_predictions=0, accepted_drop=0.05), cloudwatch=cloudwatch, lambda_client=_live_model(), now=NOW
    )

    assert ("accepted_share_drop" in result) is emitted


def test_a_fall_in_the_accepted_share_against_the_trailing_week_is_emitted(aws):
    # GIVEN 90 % accepted over the week before the window, and 60 % in the window
    _, cloudwatch = aws
    _record_predictions(cloudwatch, {"Fridges": 500, "TVs": 300, "CPUs": 200})
    _record_decisions(cloudwatch, hours_ago=1, accepted=600, decided=1000)
    _record_decisions(cloudwatch, hours_ago=24 * 4, accepted=4500, decided=5000)
    _record_decisions(cloudwatch, hours_ago=24 * 9, accepted=10, decided=1000)  # older than the week: not counted

    result = check_drift(_config(), cloudwatch=cloudwatch, lambda_client=_live_model(), now=NOW)

    # THEN the drop (the week's share minus the window's) is put for the alarm, with the share itself
    assert result["accepted_share"] == pytest.approx(0.6)
    assert result["accepted_share_week"] == pytest.approx(0.9)
    assert result["accepted_share_drop"] == pytest.approx(0.3)
    assert {("AcceptedShare", ("service",)), ("AcceptedShareDrop", ("service",))} <= _emitted(cloudwatch)


@pytest.mark.parametrize(
    ("window", "week", "min_predictions"),
    [(50, 5000, 100), (1000, 50, 100), (0, 0, 100), (1, 5000, 0), (200, 5000, 0), (240, 240, 0), (400, 500, 0)],
)
def test_too_few_decided_answers_emit_no_accepted_share(aws, window, week, min_predictions):
    # a share of one answer, or of 200, is noise against the 0.1 drop the alarm watches, whatever MIN_PREDICTIONS says;
    # so is the difference of two shares of 240 each (three standard errors of it are 0.137)
    _, cloudwatch = aws
    _none_accepted_after_a_week_of_all(cloudwatch, window=window, week=week)

    result = check_drift(
        _config(min_predictions=min_predictions), cloudwatch=cloudwatch, lambda_client=_live_model(), now=NOW
    )

    assert "accepted_share_drop" not in result
    assert not {name for name, _ in _emitted(cloudwatch)} & {"AcceptedShare", "AcceptedShareDrop"}


@pytest.mark.parametrize(
    ("accepted", "message"),
    [
        (1_200, "CloudWatch counts more AcceptedPredictions than DecidedPredictions (1200 of 1000 in the window"),
        (-300, "CloudWatch returned counts that are not finite and ≥ 0: AcceptedPredictions"),
    ],
)
def test_decision_counts_that_cannot_be_are_an_error_not_a_share(aws, accepted, message):
    # GIVEN more accepted answers than decided ones in the window, or fewer than none (a bad writer)
    _, cloudwatch = aws
    _record_predictions(cloudwatch, {"Fridges": 500, "TVs": 300, "CPUs": 200})
    _record_decisions(cloudwatch, hours_ago=1, accepted=accepted, decided=1000)
    _record_decisions(cloudwatch, hours_ago=24 * 3, accepted=900, decided=1000)

    # THEN no share outside 0..1 (nor a drop above 1, which would fire the alarm) is put: the check fails instead
    with pytest.raises(MetricsError) as error:
        check_drift(_config(), cloudwatch=cloudwatch, lambda_client=_live_model(), now=NOW)
    assert str(error.value).startswith(message)
    assert not {name for name, _ in _emitted(cloudwatch)} & {"AcceptedShare", "AcceptedShareDrop"}


def test_the_accepted_share_reads_every_page_of_its_counts():
    # GIVEN a window whose DecidedPredictions come in two pages
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    stubber = Stubber(cloudwatch)
    first = [{"Id": "m0", "StatusCode": "Complete", "Values": [600.0]},
             {"Id": "m1", "StatusCode": "PartialData", "Values": [400.0]}]  # fmt: skip
    stubber.add_response("get_metric_data", {"MetricDataResults": first, "NextToken": "more"})
    stubber.add_response(
        "get_metric_data", {"MetricDataResults": [{"Id": "m1", "StatusCode": "Complete", "Values": [600.0]}]}
    )
    week = [{"Id": "m0", "StatusCode": "Complete", "Values": [4500.0]},
            {"Id": "m1", "StatusCode": "Complete", "Values": [5000.0]}]  # fmt: skip
    stubber.add_response("get_metric_data", {"MetricDataResults": week})
    stubber.activate()

    share = accepted_share(_config(), cloudwatch=cloudwatch, now=NOW)

    # THEN the window's share is 600 of 1,000 (the first page alone said 600 of 400)
    assert share is not None
    assert share.window == pytest.approx(0.6)
    assert share.week == pytest.approx(0.9)
    stubber.assert_no_pending_responses()


def test_a_taxonomy_model_is_also_tested_per_department(aws):
    # GIVEN a path-label model and traffic that moved from department A to B, but not within A
    _, cloudwatch = aws
    metadata = {
        "model_version": "v42",
        "classes": ["A > Fridges", "A > TVs", "B > CPUs"],
        "class_shares": {"A > Fridges": 0.5, "A > TVs": 0.3, "B > CPUs": 0.2},
        "taxonomy": {"depth": 2, "separator": " > ", "nodes_per_level": [2, 3]},
    }
    _record_predictions(cloudwatch, {"A > Fridges": 100, "A > TVs": 300, "B > CPUs": 600})

    result = check_drift(_config(), cloudwatch=cloudwatch, lambda_client=_live_model(metadata), now=NOW)

    # THEN the departments' mix {A 400, B 600} against {0.8, 0.2} is scored too, with the same dimensions
    assert result["department_tvd"] == pytest.approx(0.4)
    assert result["department_score"] > 3
    assert {
        ("DepartmentMixDriftScore", ("service",)),
        ("DepartmentMixDriftScore", ("model_version", "service")),
        ("DepartmentMixTvd", ("service",)),
        ("DepartmentMixTvd", ("model_version", "service")),
    } <= _emitted(cloudwatch)


def test_the_training_mix_scores_zero_even_when_shares_do_not_sum_to_one(aws):
    # GIVEN class shares that sum to 2, and traffic exactly in the training proportions
    _, cloudwatch = aws
    _record_predictions(cloudwatch, {"Fridges": 500, "TVs": 300, "CPUs": 200})
    metadata = METADATA | {"class_shares": {"Fridges": 1.0, "TVs": 0.6, "CPUs": 0.4}}

    result = check_drift(_config(), cloudwatch=cloudwatch, lambda_client=_live_model(metadata), now=NOW)

    assert result["score"] == pytest.approx(0.0, abs=1e-12)
    assert result["tvd"] == pytest.approx(0.0, abs=1e-12)


def test_classes_that_share_a_series_are_read_once_and_tested_together(aws):
    # GIVEN two classes a metric dimension spells alike, each half of training, and all traffic on their one series
    _, cloudwatch = aws
    _record_predictions(cloudwatch, {"Cafe": 200})
    metadata = METADATA | {"classes": ["Café", "Cafe"], "class_shares": {"Café": 0.5, "Cafe": 0.5}}

    result = check_drift(_config(), cloudwatch=cloudwatch, lambda_client=_live_model(metadata), now=NOW)

    # THEN the 200 predictions count once, against the two classes' summed share
    assert (result["predictions"], result["classes"]) == (200, 2)


@pytest.mark.parametrize(
    ("counts", "min_predictions", "predictions"),
    [({"Fridges": 5, "TVs": 90}, 100, 95), ({}, 0, 0), ({"TVs": 7}, 0, 7)],
    ids=["below-minimum", "no-traffic-minimum-zero", "too-few-for-two-bins"],
)
def test_too_little_traffic_emits_only_the_heartbeat_and_says_so(aws, caplog, counts, min_predictions, predictions):
    _, cloudwatch = aws
    _record_predictions(cloudwatch, counts)

    with caplog.at_level(logging.INFO):
        result = check_drift(
            _config(min_predictions=min_predictions), cloudwatch=cloudwatch, lambda_client=_live_model(), now=NOW
        )

    assert result == {"emitted": False, "predictions": predictions, "classes": 3, "model_version": "v42"}
    assert _emitted(cloudwatch) == {("DriftCheckCompleted", ("service",))}
    assert "too little traffic" in caplog.text


@pytest.mark.parametrize(("counts", "fails"), [({}, True), ({"Fridges": 240}, True), ({"Fridges": 250}, False)])
def test_category_series_that_miss_the_decided_answers_fail_the_run(aws, counts, fails):
    # every decided answer is also counted under its category: 500 decided against none read is series not read (a
    # dimension or namespace mismatch), which must not pass as "too little traffic" with a heartbeat, every hour
    _, cloudwatch = aws
    _record_predictions(cloudwatch, counts)
    _record_decisions(cloudwatch, hours_ago=1, accepted=400, decided=500)

    def check():
        return check_drift(_config(min_predictions=0), cloudwatch=cloudwatch, lambda_client=_live_model(), now=NOW)

    if fails:
        with pytest.raises(MetricsError, match="500 DecidedPredictions in the window but only"):
            check()
        assert not _emitted(cloudwatch) & {("DriftCheckCompleted", ("service",))}
    else:
        assert check()["predictions"] == 250


@pytest.mark.parametrize("decided", [99, 500])
def test_a_release_in_the_window_or_a_trickle_is_no_sign_of_series_not_read(aws, decided):
    # GIVEN decided answers all day (across versions), and since a release 90 minutes ago few predictions of the new
    # version's categories; or a window with a trickle of answers, none yet counted under a category
    _, cloudwatch = aws
    _record_decisions(cloudwatch, hours_ago=3, accepted=decided, decided=decided)
    _record_predictions(cloudwatch, {"Fridges": 5})

    released = check_drift(_config(min_predictions=0), cloudwatch=cloudwatch, now=NOW,
                           lambda_client=_live_model(published=NOW - timedelta(minutes=90)))  # fmt: skip

    # THEN the run succeeds and beats: the window before the release is not the new version's
    assert released["predictions"] == 5
    assert ("DriftCheckCompleted", ("service",)) in _emitted(cloudwatch)
    if decided < 100:
        assert check_drift(_config(min_predictions=0), cloudwatch=cloudwatch, lambda_client=_live_model(), now=NOW)


def test_traffic_answered_before_the_live_version_was_published_does_not_count(aws):
    # GIVEN a day of the old model's traffic (its mix was all CPUs), then a model published 90 minutes ago whose
    # traffic since matches its training mix exactly
    _, cloudwatch = aws
    for hours_ago in range(2, 24):
        _record_predictions(cloudwatch, {"CPUs": 100}, hours_ago=hours_ago)
    _record_predictions(cloudwatch, {"Fridges": 250, "TVs": 150, "CPUs": 100}, hours_ago=1)
    client = _live_model(published=NOW - timedelta(minutes=90))

    result = check_drift(_config(), cloudwatch=cloudwatch, lambda_client=client, now=NOW)

    # THEN only the new version's traffic is tested against its shares: no drift
    assert result["predictions"] == 500
    assert result["score"] < 1


def test_the_minutes_of_the_traffic_shift_after_a_release_do_not_count(aws):
    # GIVEN a version published 90 minutes ago whose 15-minute canary still sent most traffic (all CPUs) to the old
    # model, and traffic since the shift that matches the new model's training mix exactly
    _, cloudwatch = aws
    _record_predictions(cloudwatch, {"CPUs": 400}, hours_ago=1.4)
    _record_predictions(cloudwatch, {"Fridges": 250, "TVs": 150, "CPUs": 100}, hours_ago=1)
    client = _live_model(published=NOW - timedelta(minutes=90))

    # WHEN the monitor knows the deployment's shift lasts 15 minutes, and when it does not
    result = check_drift(_config(shift_minutes=15), cloudwatch=cloudwatch, lambda_client=client, now=NOW)
    unaware = check_drift(
        _config(), cloudwatch=cloudwatch, lambda_client=_live_model(published=NOW - timedelta(minutes=90)), now=NOW
    )

    # THEN only the traffic after the shift is tested: no drift, where counting the canary's minutes cries wolf
    assert result["predictions"] == 500
    assert result["score"] < 1
    assert unaware["predictions"] == 900
    assert unaware["score"] > 3


def test_while_a_deployment_shifts_traffic_a_check_answered_by_the_new_version_only_beats(aws, caplog):
    # GIVEN a day of traffic that matches the primary version's training mix exactly, and a canary of a model
    # trained on another mix (v43) that answered the monitor's GET /model
    _, cloudwatch = aws
    _record_predictions(cloudwatch, {"Fridges": 500, "TVs": 300, "CPUs": 200})
    canary = METADATA | {"model_version": "v43", "class_shares": {"Fridges": 0.2, "TVs": 0.3, "CPUs": 0.5}}

    with caplog.at_level(logging.INFO):
        shifting = check_drift(
            _config(), cloudwatch=cloudwatch, lambda_client=_live_model(canary, answered_by="7", primary="6"), now=NOW
        )

    # THEN no score is put under either model's name, only the heartbeat, and the log says why
    assert shifting["emitted"] is False
    assert (shifting["answered_by_version"], shifting["primary_version"]) == ("7", "6")
    assert _emitted(cloudwatch) == {("DriftCheckCompleted", ("service",))}
    assert "shifting traffic" in caplog.text
    # AND when the primary answers, the window is tested against its own mix: no drift
    primary = check_drift(
        _config(), cloudwatch=cloudwatch, lambda_client=_live_model(answered_by="6", primary="6"), now=NOW
    )
    assert primary["emitted"] is True
    assert primary["score"] < 1


def test_an_alias_whose_version_cannot_be_read_is_an_error(aws):
    _, cloudwatch = aws
    client = boto3.client("lambda", region_name="us-east-1")
    stubber = Stubber(client)
    answer = json.dumps({"statusCode": 200, "body": json.dumps(METADATA)}).encode()
    stubber.add_response("invoke", {"StatusCode": 200, "Payload": _payload(answer)})
    stubber.add_client_error("get_function_configuration", service_error_code="AccessDeniedException")
    stubber.activate()

    with pytest.raises(LiveModelError, match=r"GetFunctionConfiguration\) failed: .*AccessDeniedException"):
        check_drift(_config(), cloudwatch=cloudwatch, lambda_client=client, now=NOW)


def test_traffic_outside_the_window_does_not_count(aws):
    _, cloudwatch = aws
    _record_predictions(cloudwatch, {"Fridges": 1000})

    result = check_drift(_config(), cloudwatch=cloudwatch, lambda_client=_live_model(), now=NOW + timedelta(days=3))

    assert result["emitted"] is False
    assert result["predictions"] == 0


def test_predictions_are_read_from_the_configured_namespace(aws):
    _, cloudwatch = aws
    _record_predictions(cloudwatch, {"Fridges": 500, "TVs": 300, "CPUs": 200}, namespace="ProductClassifier/stack-b")

    config = _config(namespace="ProductClassifier/stack-b")
    result = check_drift(config, cloudwatch=cloudwatch, lambda_client=_live_model(), now=NOW)

    assert result["predictions"] == 1000
    names = {m["MetricName"] for m in cloudwatch.list_metrics(Namespace="ProductClassifier/stack-b")["Metrics"]}
    assert {"ClassMixDriftScore", "DriftCheckCompleted"} <= names


def _queries(labels, first):
    return [
        {
            "Id": f"c{first + index}",
            "MetricStat": {
                "Metric": {
                    "Namespace": "ProductClassifier",
                    "MetricName": "Predictions",
                    "Dimensions": [
                        {"Name": "category", "Value": label},
                        {"Name": "service", "Value": "product-classifier"},
                    ],
                },
                "Period": 86400,
                "Stat": "Sum",
            },
            "ReturnData": True,
        }
        for index, label in enumerate(labels)
    ]


def _no_values(*ids):
    """What GetMetricData answers for queries with no data points in the range: each query, with no values."""
    return [{"Id": query_id, "StatusCode": "Complete", "Values": []} for query_id in ids]


def _results(first, count, value):
    return [
        {"Id": f"c{first + index}", "Label": "Predictions", "StatusCode": "Complete", "Values": [value]}
        for index in range(count)
    ]


def test_every_class_is_queried_in_calls_of_500_and_pages_are_followed():
    # GIVEN 600 equally common classes whose traffic matches training exactly: 10 predictions each
    labels = [f"class-{index:03d}" for index in range(600)]
    metadata = {"model_version": "v600", "classes": labels, "class_shares": dict.fromkeys(labels, 1 / 600)}
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    stubber = Stubber(cloudwatch)
    window = {"StartTime": NOW - timedelta(hours=24), "EndTime": NOW}
    first_batch = {"MetricDataQueries": _queries(labels[:500], 0)} | window
    # the first 500 arrive on two pages, the last 100 on one
    stubber.add_response(
        "get_metric_data", {"MetricDataResults": _results(0, 300, 10.0), "NextToken": "page-2"}, first_batch
    )
    stubber.add_response(
        "get_metric_data", {"MetricDataResults": _results(300, 200, 10.0)}, first_batch | {"NextToken": "page-2"}
    )
    stubber.add_response(
        "get_metric_data",
        {"MetricDataResults": _results(500, 100, 10.0)},
        {"MetricDataQueries": _queries(labels[500:], 500)} | window,
    )
    for _ in ("window", "week"):  # the accepted share: no decided answers recorded
        stubber.add_response("get_metric_data", {"MetricDataResults": _no_values("m0", "m1")})
    stubber.add_response("put_metric_data", {}, {"Namespace": "ProductClassifier", "MetricData": ANY})
    stubber.activate()

    result = check_drift(_config(), cloudwatch=cloudwatch, lambda_client=_live_model(metadata), now=NOW)

    # THEN all 6,000 predictions count, and a perfect match scores 0 (PSI on the first 500 said 0.47)
    assert result["predictions"] == 6000
    assert result["bins"] == 600
    assert result["score"] == pytest.approx(0.0, abs=1e-12)
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (
            {"MetricDataResults": [{"Id": "c0", "StatusCode": "Forbidden", "Messages": [{"Value": "denied"}]}]},
            "GetMetricData could not read Predictions for 'Fridges': Forbidden",
        ),
        (
            {"MetricDataResults": [{"Id": "c0", "StatusCode": "Complete", "Values": [-5.0]}, *_results(1, 2, 1.0)]},
            "CloudWatch returned counts that are not finite and ≥ 0: Predictions for 'Fridges'",
        ),
        # a category left out of every page: CloudWatch answers each query, one without data with no values
        (
            {"MetricDataResults": _results(0, 2, 300.0)},
            "GetMetricData on namespace ProductClassifier returned no result for 1 of its 3 queries: Predictions for ",
        ),
        (
            {"MetricDataResults": [*_results(0, 3, 1.0), {"Id": "zz", "StatusCode": "Complete", "Values": [1.0]}]},
            "GetMetricData on namespace ProductClassifier answered a query it was not asked: 'zz'",
        ),
    ],
)
def test_unreadable_predictions_are_an_error(response, message):
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    stubber = Stubber(cloudwatch)
    stubber.add_response("get_metric_data", response)
    stubber.activate()

    with pytest.raises(MetricsError) as error:
        check_drift(_config(), cloudwatch=cloudwatch, lambda_client=_live_model(), now=NOW)
    assert str(error.value).startswith(message)


@pytest.mark.parametrize("operation", ["get_metric_data", "put_metric_data"])
def test_a_cloudwatch_refusal_is_an_error_naming_the_call(operation):
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    stubber = Stubber(cloudwatch)
    if operation == "put_metric_data":
        stubber.add_response("get_metric_data", {"MetricDataResults": _results(0, 3, 300.0)})
        for _ in ("window", "week"):  # the accepted share: no decided answers recorded
            stubber.add_response("get_metric_data", {"MetricDataResults": _no_values("m0", "m1")})
    stubber.add_client_error(operation, service_error_code="AccessDenied", http_status_code=403)
    stubber.activate()

    with pytest.raises(MetricsError, match=r"GetMetricData|PutMetricData") as error:
        check_drift(_config(), cloudwatch=cloudwatch, lambda_client=_live_model(), now=NOW)
    assert "AccessDenied" in str(error.value)


@pytest.mark.parametrize(
    ("shares", "message"),
    [
        (["Fridges", "TVs"], "class_shares must be a non-empty object"),
        ({"Fridges": "0.5", "TVs": "0.5"}, "class_shares['Fridges'] must be a number"),
        ({"Fridges": -1, "TVs": 2}, "must be finite and ≥ 0"),
        ({"Fridges": 0, "TVs": 0}, "positive, finite sum"),
        (None, "the live model has no class_shares"),
    ],
)
def test_bad_class_shares_from_the_live_model_are_an_error(aws, shares, message):
    _, cloudwatch = aws

    with pytest.raises(InvalidSharesError, match=message.replace("[", r"\[").replace("]", r"\]")):
        check_drift(
            _config(), cloudwatch=cloudwatch, lambda_client=_live_model(METADATA | {"class_shares": shares}), now=NOW
        )


@pytest.mark.parametrize(
    ("answer", "function_error", "message"),
    [
        (b'{"errorType": "Runtime.ExitError"}', "Unhandled", f"GET /model on {LIVE_ALIAS} failed (Unhandled)"),
        (json.dumps({"statusCode": 500, "body": "{}"}).encode(), None, f"GET /model on {LIVE_ALIAS} answered 500"),
        (b"<html>", None, "answered a payload that is not an HTTP response"),
        (json.dumps({"statusCode": 200, "body": "{not json"}).encode(), None, "a body that is not a JSON object"),
        (json.dumps({"statusCode": 200, "body": "{}"}).encode(), None, "names no model_version"),
        (json.dumps({"statusCode": 200, "body": 42}).encode(), None, "answered a int body, not JSON text"),
        (json.dumps({"statusCode": 200, "body": {"a": 1}}).encode(), None, "answered a dict body, not JSON text"),
        (
            json.dumps({"statusCode": 200, "body": "{not base64}", "isBase64Encoded": True}).encode(),
            None,
            "answered a body marked base64 that is not",
        ),
    ],
    ids=["crash", "500", "not-http", "body-not-json", "no-version", "number-body", "object-body", "bad-base64"],
)
def test_a_live_alias_that_does_not_describe_its_model_is_an_error(aws, answer, function_error, message):
    _, cloudwatch = aws

    client = _live_model(answer=answer, function_error=function_error)

    with pytest.raises(LiveModelError) as error:
        check_drift(_config(), cloudwatch=cloudwatch, lambda_client=client, now=NOW)
    assert message in str(error.value)


def test_a_base64_body_from_the_live_alias_is_read(aws):
    import base64

    _, cloudwatch = aws
    _record_predictions(cloudwatch, {"Fridges": 500, "TVs": 300, "CPUs": 200})
    body = base64.b64encode(json.dumps(METADATA).encode()).decode()
    answer = json.dumps({"statusCode": 200, "body": body, "isBase64Encoded": True}).encode()

    result = check_drift(_config(), cloudwatch=cloudwatch, lambda_client=_live_model(answer=answer), now=NOW)

    assert result["model_version"] == "v42"


def test_the_live_alias_throttling_is_an_error(aws):
    _, cloudwatch = aws
    client = boto3.client("lambda", region_name="us-east-1")
    stubber = Stubber(client)
    stubber.add_client_error("invoke", service_error_code="TooManyRequestsException", http_status_code=429)
    stubber.activate()

    with pytest.raises(LiveModelError, match=f"invoking {LIVE_ALIAS} for GET /model failed"):
        check_drift(_config(), cloudwatch=cloudwatch, lambda_client=client, now=NOW)


# --- settings and the Lambda entry

ENVIRONMENT = {"METRICS_NAMESPACE": "ProductClassifier/stack-a", "CLASSIFIER_FUNCTION_ARN": LIVE_ALIAS}


def test_settings_defaults():
    assert DriftConfig.from_env(ENVIRONMENT) == DriftConfig(
        namespace="ProductClassifier/stack-a",
        service="product-classifier",
        window_hours=24,
        min_predictions=500,
        function_arn=LIVE_ALIAS,
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"METRICS_NAMESPACE": ""}, "METRICS_NAMESPACE is not set"),
        ({"CLASSIFIER_FUNCTION_ARN": ""}, "CLASSIFIER_FUNCTION_ARN is not set"),
        ({"DRIFT_WINDOW_HOURS": "abc"}, "DRIFT_WINDOW_HOURS must be an integer from 1 to 336, got 'abc'"),
        ({"DRIFT_WINDOW_HOURS": "0"}, "DRIFT_WINDOW_HOURS must be an integer from 1 to 336, got '0'"),
        ({"MIN_PREDICTIONS": "-1"}, "MIN_PREDICTIONS must be an integer from 0 to 1000000000000, got '-1'"),
        ({"MIN_PREDICTIONS": "1.5"}, "MIN_PREDICTIONS must be an integer from 0 to 1000000000000, got '1.5'"),
        ({"TRAFFIC_SHIFT_MINUTES": "-5"}, "TRAFFIC_SHIFT_MINUTES must be an integer from 0 to 1440, got '-5'"),
        ({"ACCEPTED_DROP_THRESHOLD": "0"}, "ACCEPTED_DROP_THRESHOLD must be a number from 0.01 to 1, got '0'"),
        ({"ACCEPTED_DROP_THRESHOLD": "nan"}, "ACCEPTED_DROP_THRESHOLD must be a number from 0.01 to 1, got 'nan'"),
        ({"ACCEPTED_DROP_THRESHOLD": "ten"}, "ACCEPTED_DROP_THRESHOLD must be a number from 0.01 to 1, got 'ten'"),
    ],
)
def test_an_invalid_setting_is_named(changes, message):
    with pytest.raises(ConfigError) as error:
        DriftConfig.from_env(ENVIRONMENT | changes)
    assert str(error.value).startswith(message)


@pytest.fixture
def entry(aws, monkeypatch):
    """The Lambda entry with its boto3 clients: moto's CloudWatch, and a live alias set per test."""
    _, cloudwatch = aws
    for name, value in (ENVIRONMENT | {"METRICS_NAMESPACE": "ProductClassifier"}).items():
        monkeypatch.setenv(name, value)
    clients = {"cloudwatch": cloudwatch}
    real = boto3.client
    monkeypatch.setattr(
        monitor.boto3,
        "client",
        lambda service, **kwargs: clients[service] if service in clients else real(service, **kwargs),
    )
    return clients


def test_the_lambda_entry_checks_and_beats(entry, caplog):
    entry["lambda"] = _live_model()

    with caplog.at_level(logging.INFO):
        result = monitor.lambda_handler({}, None)

    assert result["emitted"] is False  # moto's window ends now; nothing was predicted
    assert ("DriftCheckCompleted", ("service",)) in _emitted(entry["cloudwatch"])


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (lambda env, mp: mp.delenv("METRICS_NAMESPACE"), "METRICS_NAMESPACE is not set"),
        (lambda env, mp: env.update({"lambda": _live_model(METADATA | {"class_shares": [0.5]})}), "class_shares must"),
        (lambda env, mp: env.update({"lambda": _live_model(answer=b"oops")}), "not an HTTP response"),
        # JSON's escape of a lone surrogate, quoted in the reason: Lambda writes the line as UTF-8
        (
            lambda env, mp: env.update({"lambda": _live_model(answer=b'{"statusCode": 200, "body": "down \\ud800"}')}),
            "not a JSON object: down \\ud800",
        ),
        (
            lambda env, mp: env.update({"lambda": _live_model(METADATA | {"model_version": "v\ud800"})}),
            "names a model_version that is not valid Unicode (a lone surrogate): v\\ud800",
        ),
    ],
    ids=["setting", "shares", "live-alias", "surrogate-in-body", "surrogate-in-version"],
)
def test_every_failure_is_one_error_line_and_an_error_for_lambda(entry, monkeypatch, caplog, setup, reason):
    setup(entry, monkeypatch)

    with caplog.at_level(logging.INFO), pytest.raises(Exception, match=re.escape(reason)):
        monitor.lambda_handler({}, None)

    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert [record.getMessage() for record in errors] == ["drift check failed"]
    assert reason in errors[0].reason
    errors[0].reason.encode()
    assert ("DriftCheckCompleted", ("service",)) not in _emitted(entry["cloudwatch"])


def test_an_unexpected_failure_is_logged_with_its_traceback(entry, caplog):
    entry["lambda"] = None  # a bug: no client at all

    with caplog.at_level(logging.ERROR), pytest.raises(AttributeError):
        monitor.lambda_handler({}, None)

    assert [r.getMessage() for r in caplog.records] == ["drift check failed"]
    assert caplog.records[0].exc_info is not None


def test_pages_that_point_back_fail_the_check_instead_of_looping_until_the_timeout():
    # GIVEN CloudWatch answering every page with the same NextToken
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    stubber = Stubber(cloudwatch)
    page = {"MetricDataResults": [{"Id": "m0", "StatusCode": "Complete", "Values": [1.0]}], "NextToken": "again"}
    for _ in range(3):
        stubber.add_response("get_metric_data", page)
    stubber.activate()

    with pytest.raises(MetricsError, match="returned the same NextToken twice"):
        accepted_share(_config(), cloudwatch=cloudwatch, now=NOW)
