"""The deployed function's process: no training stack imported, and a bad model stops it at start."""

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
import handler.main
print({HEAVY!r} and [name for name in {HEAVY!r} if name in sys.modules])
"""


def _run(model_path: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MODEL_PATH": model_path, "POWERTOOLS_METRICS_NAMESPACE": "ProductClassifier"}
    return subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, check=False)


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
