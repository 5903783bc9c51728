"""Every metric an alarm watches or the dashboard plots is one the code really emits: name, namespace and
dimension set, over the function's real lifecycle (init, SnapStart warm-up, restore, invocations) and the
drift monitor's run. CloudWatch matches a metric only on all three, so a renamed metric or a changed
dimension set leaves an alarm on a metric that never gets data (and TreatMissingData keeps it quiet).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from drift_monitor.app import check_drift
from tests.infra.test_release_path import resolve
from tests.infra.test_template import translate
from tests.monitor.test_drift import NOW, _config, _live_model, _record_decisions, _record_predictions

ROOT = Path(__file__).resolve().parents[2]
STACK = "teststack"
NAMESPACE = f"ProductClassifier/{STACK}"
# The function's real lifecycle, as Lambda drives it with SnapStart: init, the before-snapshot hook, a restore,
# then traffic: a prediction, a synthetic one (the release path's own requests), and a server fault.
LIFECYCLE = """
import copy, json, handler.main as m
from handler.exceptions import InferenceError
from tests.handler.test_lambda import FakeLambdaContext
event = json.load(open('events/predict_http_api.json'))
m.warm_up()
m.after_restore()
m.lambda_handler(copy.deepcopy(event), FakeLambdaContext())
synthetic = copy.deepcopy(event)
synthetic['headers']['x-synthetic-traffic'] = 'pre-traffic'
del synthetic['requestContext']['apiId']  # a direct invoke, as the hook sends
m.lambda_handler(synthetic, FakeLambdaContext())
def broken(rows):
    raise InferenceError('injected')
m.model.predict = broken
m.lambda_handler(copy.deepcopy(event), FakeLambdaContext())
"""
Identity = tuple[str, str, frozenset[str]]


def emitted_by(output: str) -> set[Identity]:
    """(namespace, metric, dimension names) of every EMF line printed."""
    found = set()
    for line in output.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        for directive in json.loads(line)["_aws"]["CloudWatchMetrics"]:
            for dimensions in directive["Dimensions"]:
                for metric in directive["Metrics"]:
                    found.add((directive["Namespace"], metric["Name"], frozenset(dimensions)))
    return found


def watched_by(template: dict) -> set[Identity]:
    """(namespace, metric, dimension names) of every custom metric an alarm reads or the dashboard searches."""
    watched = set()
    for resource in template["Resources"].values():
        properties = resolve(resource.get("Properties", {}), STACK, template)
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            metrics = [
                query["MetricStat"]["Metric"] for query in properties.get("Metrics", []) if "MetricStat" in query
            ]
            metrics += [properties] if "MetricName" in properties else []
            watched |= {
                (m["Namespace"], m["MetricName"], frozenset(d["Name"] for d in m.get("Dimensions", [])))
                for m in metrics
                if not m["Namespace"].startswith("AWS/")
            }
        if resource["Type"] == "AWS::CloudWatch::Dashboard":
            for namespace, dimensions, name in re.findall(
                r'\{"([^"]+)",([^}]*)\} MetricName="(\w+)"', properties["DashboardBody"].replace('\\"', '"')
            ):
                watched.add((namespace, name, frozenset(dimensions.split(","))))
    return watched


def unemitted(watched: set[Identity], emitted: set[Identity]) -> set[Identity]:
    return watched - emitted


@pytest.fixture(scope="module")
def emitted(model_path, taxonomy_model_path) -> set[Identity]:
    """Over the lifecycle of a flat model and of a path-label model (its per-department metrics)."""
    found: set[Identity] = set()
    for path in (model_path, taxonomy_model_path):
        environment = {
            **os.environ,
            "MODEL_PATH": str(path),
            "POWERTOOLS_METRICS_NAMESPACE": NAMESPACE,
            "POWERTOOLS_SERVICE_NAME": "product-classifier",
            "AWS_LAMBDA_FUNCTION_VERSION": "7",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start",
        }
        completed = subprocess.run(
            [sys.executable, "-c", LIFECYCLE], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
        )
        assert completed.returncode == 0, completed.stderr[-3000:]
        found |= emitted_by(completed.stdout)
    return found


@pytest.fixture
def monitor_emitted(aws) -> set[Identity]:
    """What the drift monitor puts into CloudWatch (moto) over one real check of a shifted mix."""
    _, cloudwatch = aws
    _record_predictions(cloudwatch, {"Fridges": 100, "TVs": 300, "CPUs": 600}, namespace=NAMESPACE)
    _record_decisions(cloudwatch, hours_ago=1, accepted=500, decided=1000, namespace=NAMESPACE)
    _record_decisions(cloudwatch, hours_ago=48, accepted=900, decided=1000, namespace=NAMESPACE)
    check_drift(_config(namespace=NAMESPACE), cloudwatch=cloudwatch, lambda_client=_live_model(), now=NOW)
    return {
        (NAMESPACE, metric["MetricName"], frozenset(d["Name"] for d in metric["Dimensions"]))
        for metric in cloudwatch.list_metrics(Namespace=NAMESPACE)["Metrics"]
        # recorded above as the classifier would, not by the monitor
        if metric["MetricName"] not in {"Predictions", "AcceptedPredictions", "DecidedPredictions"}
    }


@pytest.fixture(scope="module")
def watched(tmp_path_factory) -> set[Identity]:
    return watched_by(translate(tmp_path_factory.mktemp("cfn")))


def test_the_watch_list_covers_the_release_alarms_and_the_dashboard(watched):
    names = {name for _, name, _ in watched}

    assert {"ServerErrors", "LowConfidencePredictions", "BatchSize", "InferenceLatency"} <= names
    assert {
        "ColdStart",
        "Restored",
        "ModelLoadTime",
        "Predictions",
        "ClassMixDriftScore",
        "DriftCheckCompleted",
    } <= names
    assert {namespace for namespace, _, _ in watched} == {NAMESPACE}


def test_every_watched_classifier_metric_is_emitted_over_the_lifecycle(watched, emitted, monitor_emitted):
    assert unemitted(watched, emitted | monitor_emitted) == set()


def test_a_renamed_metric_is_caught(watched, emitted, monitor_emitted):
    # The same check, with one emitted metric renamed as a careless edit of the handler would.
    renamed = {(ns, "Predictionz" if name == "Predictions" else name, dims) for ns, name, dims in emitted}

    assert {name for _, name, _ in unemitted(watched, renamed | monitor_emitted)} == {"Predictions"}


def test_a_changed_dimension_set_is_caught(watched, emitted, monitor_emitted):
    widened = {(ns, name, dims | {"function_version"}) for ns, name, dims in emitted if name == "ColdStart"}

    assert unemitted(watched, (emitted - {e for e in emitted if e[1] == "ColdStart"}) | widened | monitor_emitted)


def _names_emitted_for(model_path: Path, event_change: str) -> set[str]:
    """The metric names one request emits: the sample HTTP API event changed by `event_change` (code)."""
    environment = {**os.environ, "MODEL_PATH": str(model_path), "POWERTOOLS_METRICS_NAMESPACE": NAMESPACE}
    probe = LIFECYCLE.split("m.warm_up()")[0] + (
        f"synthetic = copy.deepcopy(event)\n{event_change}\nm.lambda_handler(synthetic, FakeLambdaContext())\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )
    return {name for _, name, _ in emitted_by(completed.stdout)}


def test_synthetic_requests_stay_out_of_the_class_mix_and_alarms(model_path):
    names = _names_emitted_for(
        model_path,
        "synthetic['headers']['x-synthetic-traffic'] = 'smoke'; del synthetic['requestContext']['apiId']",
    )

    assert "SyntheticPredictions" in names
    assert names.isdisjoint({"Predictions", "BatchSize", "LowConfidencePredictions", "InferenceLatency"})


def test_a_client_cannot_hide_its_traffic_behind_the_synthetic_header(model_path):
    # A request API Gateway delivered (it carries the API's id) is a client's, whatever header it sends.
    names = _names_emitted_for(model_path, "synthetic['headers']['X-Synthetic-Traffic'] = 'pre-traffic'")

    assert "SyntheticPredictions" not in names
    assert {"Predictions", "InferenceLatency"} <= names


def test_the_snapstart_warm_up_is_not_counted_as_a_prediction(model_path):
    environment = {**os.environ, "MODEL_PATH": str(model_path), "POWERTOOLS_METRICS_NAMESPACE": NAMESPACE}
    probe = LIFECYCLE.split("m.after_restore()")[0]
    completed = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )

    assert completed.returncode == 0, completed.stderr[-2000:]
    assert {name for _, name, _ in emitted_by(completed.stdout)}.isdisjoint(
        {"Predictions", "AcceptedPredictions", "DecidedPredictions", "DepartmentPredictions"}
    )
