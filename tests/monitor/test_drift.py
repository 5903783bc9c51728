"""The class-mix drift check: PSI/TVD on hand-made shares, and the scheduled function against moto."""

from __future__ import annotations

import io
import json
import math
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from drift_monitor.app import DriftConfig, check_drift
from drift_monitor.drift import population_stability_index, shares, total_variation_distance
from tests.conftest import DRIFT_METADATA

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
TRAINING = DRIFT_METADATA["class_shares"]
METADATA = DRIFT_METADATA


@pytest.mark.parametrize(
    ("expected", "observed", "psi", "tvd"),
    [
        ({"a": 0.5, "b": 0.5}, {"a": 0.5, "b": 0.5}, 0.0, 0.0),
        ({"a": 0.5, "b": 0.5}, {"a": 0.6, "b": 0.4}, 0.1 * math.log(1.2) - 0.1 * math.log(0.8), 0.1),
        ({"a": 0.25, "b": 0.75}, {"a": 0.75, "b": 0.25}, 2 * 0.5 * math.log(3), 0.5),
        # a class never predicted: its share is floored at 1e-4 instead of making PSI infinite
        ({"a": 0.5, "b": 0.5}, {"a": 1.0}, 0.5 * math.log(2) + (1e-4 - 0.5) * math.log(1e-4 / 0.5), 0.5),
    ],
)
def test_psi_and_tvd_on_known_mixes(expected, observed, psi, tvd):
    assert population_stability_index(expected, observed) == pytest.approx(psi, rel=1e-9, abs=1e-12)
    assert total_variation_distance(expected, observed) == pytest.approx(tvd)


def test_shares_of_counts():
    assert shares({"a": 3, "b": 1}) == {"a": 0.75, "b": 0.25}
    assert shares({"a": 0, "b": 0}) == {"a": 0.0, "b": 0.0}


def _config(**changes):
    base = DriftConfig(
        namespace="ProductClassifier",
        service="product-classifier",
        window_hours=24,
        min_predictions=100,
        metadata_s3_uri="s3://models/product-classifier/models/v42/model.json",
        function_arn=None,
    )
    return DriftConfig(**{**base.__dict__, **changes})


def _record_predictions(cloudwatch, counts):
    for label, count in counts.items():
        cloudwatch.put_metric_data(
            Namespace="ProductClassifier",
            MetricData=[
                {
                    "MetricName": "Predictions",
                    "Dimensions": [
                        {"Name": "category", "Value": label},
                        {"Name": "service", "Value": "product-classifier"},
                    ],
                    "Value": count,
                    "Unit": "Count",
                    "Timestamp": NOW - timedelta(hours=1),
                }
            ],
        )


def _emitted(cloudwatch):
    metrics = cloudwatch.list_metrics(Namespace="ProductClassifier")["Metrics"]
    return {(m["MetricName"], tuple(sorted(d["Name"] for d in m["Dimensions"]))) for m in metrics}


def test_a_shifted_mix_emits_psi_and_tvd_with_and_without_the_model_version(aws):
    s3, cloudwatch = aws
    _record_predictions(cloudwatch, {"Fridges": 100, "TVs": 300, "CPUs": 600})

    result = check_drift(_config(), cloudwatch=cloudwatch, s3=s3, now=NOW)

    expected_psi = population_stability_index(TRAINING, {"Fridges": 0.1, "TVs": 0.3, "CPUs": 0.6})
    assert result["emitted"] is True
    assert result["predictions"] == 1000
    assert result["psi"] == pytest.approx(expected_psi)
    assert result["tvd"] == pytest.approx(0.4)
    assert {
        ("ClassMixPsi", ("service",)),
        ("ClassMixPsi", ("model_version", "service")),
        ("ClassMixTvd", ("service",)),
        ("ClassMixTvd", ("model_version", "service")),
    } <= _emitted(cloudwatch)


def test_too_little_traffic_emits_nothing_and_says_so(aws, caplog):
    s3, cloudwatch = aws
    _record_predictions(cloudwatch, {"Fridges": 5, "TVs": 90})

    with caplog.at_level("INFO"):
        result = check_drift(_config(), cloudwatch=cloudwatch, s3=s3, now=NOW)

    assert result == {"emitted": False, "predictions": 95, "model_version": "v42"}
    assert not {name for name, _ in _emitted(cloudwatch)} & {"ClassMixPsi", "ClassMixTvd"}
    assert "too little traffic" in caplog.text


def test_traffic_outside_the_window_does_not_count(aws):
    s3, cloudwatch = aws
    _record_predictions(cloudwatch, {"Fridges": 1000})

    result = check_drift(_config(window_hours=24), cloudwatch=cloudwatch, s3=s3, now=NOW + timedelta(days=3))

    assert result["emitted"] is False


def test_metadata_from_the_functions_get_model_when_the_model_is_bundled(aws):
    _, cloudwatch = aws
    _record_predictions(cloudwatch, {"Fridges": 500, "TVs": 300, "CPUs": 200})
    lambda_client = boto3.client("lambda", region_name="us-east-1")
    stubber = Stubber(lambda_client)
    payload = json.dumps({"statusCode": 200, "body": json.dumps(METADATA)}).encode()
    stubber.add_response(
        "invoke",
        {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(payload), len(payload))},
        {"FunctionName": "arn:aws:lambda:us-east-1:1:function:classifier:live", "Payload": ANY},
    )
    stubber.activate()
    config = _config(metadata_s3_uri=None, function_arn="arn:aws:lambda:us-east-1:1:function:classifier:live")

    result = check_drift(config, cloudwatch=cloudwatch, lambda_client=lambda_client, now=NOW)

    assert result["psi"] == pytest.approx(0.0, abs=1e-12)
    stubber.assert_no_pending_responses()


def test_a_model_without_class_shares_is_named(aws):
    s3, cloudwatch = aws
    s3.put_object(Bucket="models", Key="old/model.json", Body=json.dumps({"model_version": "old"}))

    with pytest.raises(RuntimeError, match="no class_shares"):
        check_drift(_config(metadata_s3_uri="s3://models/old/model.json"), cloudwatch=cloudwatch, s3=s3, now=NOW)
