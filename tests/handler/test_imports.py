"""The deployed function's process (`handler.entry`, as Lambda imports it): no training stack imported, no garbage
collection while it starts, and a bad model stops it at start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = [
    *("pandas", "sklearn", "scipy", "lightgbm", "mlflow", "skl2onnx", "onnxmltools", "matplotlib", "training"),
    *("pydantic_settings", "dotenv"),  # cold-start cost the function does not need
]
PROBE = f"""
import sys
import handler.entry
print({HEAVY!r} and [name for name in {HEAVY!r} if name in sys.modules])
"""
# Counts the collections that start once `handler.main` has begun to import (its libraries, the model, the app).
COLLECTOR_PROBE = """
import gc, json, sys
starting = []
gc.callbacks.append(lambda phase, info: phase == "start" and starting.append("handler.main" in sys.modules))
import handler.entry
collections = sum(starting)
print(json.dumps({"collections": collections, "enabled": gc.isenabled(), "frozen": gc.get_freeze_count(),
                  "tracked": len(gc.get_objects())}))
"""


def _run(model_path: str, probe: str = PROBE) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MODEL_PATH": model_path, "POWERTOOLS_METRICS_NAMESPACE": "ProductClassifier"}
    return subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, check=False)


def test_handler_imports_none_of_the_training_stack(model_path):
    completed = _run(str(model_path))

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip().splitlines()[-1] == "[]"


def test_missing_model_fails_start_with_one_clear_log_line(tmp_path):
    completed = _run(str(tmp_path / "absent.onnx"))

    assert completed.returncode != 0
    logs = [json.loads(line) for line in completed.stdout.splitlines() if line.startswith("{")]
    assert [(log["level"], log["message"]) for log in logs] == [("ERROR", "model load failed")]
    assert logs[0]["reason"].startswith(f"model file not found: {tmp_path / 'absent.onnx'}")


def test_start_runs_no_garbage_collection_and_freezes_what_it_built(model_path):
    completed = _run(str(model_path), COLLECTOR_PROBE)

    assert completed.returncode == 0, completed.stderr
    state = json.loads(completed.stdout.strip().splitlines()[-1])
    assert state["collections"] == 0
    assert state["enabled"]
    # What the start built is out of every later collection (the first request's included): all but what the
    # probe's own lines made after it.
    assert state["frozen"] > 100 * state["tracked"]


def test_metrics_name_the_service_when_the_environment_does_not():
    # The alarms and the drift monitor read metrics by their `service` dimension: one without it is never read.
    env = {name: value for name, value in os.environ.items() if name != "POWERTOOLS_SERVICE_NAME"}
    probe = "import handler.app as app; print(app.metrics.service, app.logger.service)"

    completed = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True)

    assert completed.stdout.split() == ["product-classifier", "product-classifier"], completed.stderr
