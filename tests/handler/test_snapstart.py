"""SnapStart runtime hooks: registered, warm the app before the snapshot, and report restores truthfully."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import snapshot_restore_py

from tests.handler.test_lambda import EVENTS, FakeLambdaContext, _emf_blobs

ROOT = Path(__file__).resolve().parents[2]


def test_hooks_are_registered_with_the_runtime(handler_main):
    before = [entry[0] for entry in snapshot_restore_py.get_before_snapshot()]
    after = [entry[0] for entry in snapshot_restore_py.get_after_restore()]

    assert handler_main.warm_up in before
    assert handler_main.after_restore in after


def test_warm_up_answers_once_and_leaves_no_metrics_behind(handler_main):
    handler_main.app.openapi_schema = None

    handler_main.warm_up()

    assert handler_main.app.openapi_schema is not None
    assert handler_main.metrics.metric_set == {}


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
    probe = "import sys; sys.modules['snapshot_restore_py'] = None\nimport handler.main\nprint('STARTED')"
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
