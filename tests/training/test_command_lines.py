"""Every training command line, run as `make` runs it: a usage error is one line and exit code 1."""

from __future__ import annotations

import subprocess
import sys

import pytest

from training.config import PROJECT_ROOT


@pytest.mark.parametrize(
    ("module", "arguments", "said"),
    [
        ("train", ["--bogus", "1"], "error: No such option: --bogus"),
        ("predict", ["--model", "m.onnx", "--data", "d.csv", "--bogus", "1"], "error: No such option: --bogus"),
        ("check_data", ["--bogus", "1"], "error: No such option: --bogus"),
        ("compare", ["--a", "a", "--b", "b", "--min-agreement", "x"], "error: Invalid value for '--min-agreement'"),
        ("review_queue", ["--capture", "c", "--limit", "0"], "error: Invalid value for '--limit'"),
        ("compare", ["--b", "b.onnx"], "error: Missing option '--a'"),
    ],
)  # fmt: skip
def test_a_usage_error_is_one_line_and_exit_code_1(module, arguments, said):
    completed = subprocess.run(
        [sys.executable, "-m", f"training.cli.{module}", *arguments],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip

    assert completed.returncode == 1
    assert completed.stderr.strip().startswith(said)
    assert len(completed.stderr.strip().splitlines()) == 1


def test_help_still_answers_with_exit_code_0():
    completed = subprocess.run(
        [sys.executable, "-m", "training.cli.train", "--help"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip

    assert completed.returncode == 0
    assert "--corrections" in completed.stdout
