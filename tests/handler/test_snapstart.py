"""SnapStart runtime hooks: registered, warm the app before the snapshot, and report restores truthfully."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import snapshot_restore_py

from tests.handler.test_lambda import EVENTS, FakeLambdaContext, _emf_blobs

ROOT = Path(__file__).resolve().parents[2]


def test_hooks_are_registered_with_the_runtime(handler_main):
    before = [entry[0] for entry in snapshot_restore_py.get_before_snapshot()]
    after = [entry[0] for entry in snapshot_restore_py.get_after_restore()]

    assert handler_main.warm_up in before
    assert handler_main.after_restore in after


def test_warm_up_answers_once_and_leaves_no_metrics_behind(handler_main, monkeypatch):
    # GIVEN the Mangum adapter watched, and no OpenAPI document built yet
    answers = []
    adapter = handler_main.mangum

    def watched(event, context):
        answers.append(adapter(event, context))
        return answers[-1]

    monkeypatch.setattr(handler_main, "mangum", watched)
    handler_main.app.openapi_schema = None

    # WHEN the runtime calls the before-snapshot hook
    handler_main.warm_up()

    # THEN it answered exactly one /predict, successfully, with one of the model's classes
    assert len(answers) == 1
    assert answers[0]["statusCode"] == 200, answers[0]["body"]
    body = json.loads(answers[0]["body"])
    assert body["label"] in handler_main.model.metadata["classes"]
    assert 0.0 < body["confidence"] <= 1.0
    assert body["model_version"] == handler_main.model.metadata["model_version"]
    # and it built the OpenAPI document, recorded nothing as traffic, and leaves the load time to report
    assert handler_main.app.openapi_schema is not None
    assert handler_main.metrics.metric_set == {}
    assert handler_main.pending["load_time"] is True


@pytest.mark.parametrize("run", [1, 2])
def test_each_test_starts_in_a_fresh_execution_environment(handler_main, capsys, run):
    # Run twice: the second run would see a warm environment if state leaked from the first (or any) test.
    event = json.loads((EVENTS / "health.json").read_text())

    handler_main.lambda_handler(event, FakeLambdaContext())

    names = {
        m["Name"]
        for blob in _emf_blobs(capsys.readouterr().out)
        for m in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]
    }
    assert {"ColdStart", "ModelLoadTime"} <= names, f"run {run}"


def test_first_invocation_after_a_restore_reports_restored_once(handler_main, capsys):
    event = json.loads((EVENTS / "health.json").read_text())
    handler_main.after_restore()

    handler_main.lambda_handler(event, FakeLambdaContext())
    first = capsys.readouterr().out
    handler_main.lambda_handler(event, FakeLambdaContext())
    second = capsys.readouterr().out

    def restored(output):
        return [blob for blob in _emf_blobs(output) if "Restored" in blob]

    assert len(restored(first)) == 1
    assert restored(first)[0]["function_version"] == "$LATEST"
    assert restored(second) == []


def test_function_starts_without_the_runtime_hooks_library(model_path):
    probe = "import sys; sys.modules['snapshot_restore_py'] = None\nimport handler.entry\nprint('STARTED')"
    completed = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={**os.environ, "MODEL_PATH": str(model_path)},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert completed.stdout.strip().endswith("STARTED"), completed.stderr[-2000:]
