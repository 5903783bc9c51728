"""The side functions' LOG_LEVEL: a level in any case is taken, and a bad one never stops a module from loading (a
hook that cannot load leaves CodeDeploy waiting out its hour before it rolls back)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("folder", "module"), [("deploy_hook", "pre_traffic.app"), ("monitor", "drift_monitor.app")])
@pytest.mark.parametrize(
    ("setting", "level"), [("debug", "DEBUG"), (" Warning ", "WARNING"), ("10", "INFO"), ("loud", "INFO")]
)
def test_a_log_level_in_any_case_is_taken_and_a_bad_one_is_info(folder, module, setting, level):
    environment = {
        **os.environ,
        "LOG_LEVEL": setting,
        "PYTHONPATH": str(ROOT / folder),
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    probe = f"import logging, {module}; print(logging.getLevelName(logging.getLogger().level))"

    completed = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )

    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.strip() == level
