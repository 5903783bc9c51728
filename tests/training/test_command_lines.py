"""Every training command line, run as `make` runs it: a usage error is one line and exit code 1."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from training.config import PROJECT_ROOT
from training.data.synthetic import generate_catalogue


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


def test_a_terminated_predict_leaves_no_staging_folder(model_path, tmp_path):
    # GIVEN a run scoring (and explaining) a few thousand listings, into a new OUT
    data = tmp_path / "listings.csv"
    generate_catalogue(3_000, seed=5).to_csv(data, index=False)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "training.cli.predict", "--model", str(model_path), "--data", str(data),
               "--out", str(out), "--explain"]  # fmt: skip
    with subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as process:
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob(".out.staging-*")) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process.poll() is None, "the run ended before it could be terminated"

        # WHEN it is terminated (a `kill`, a cancelled CI job) while it scores
        process.terminate()
        code = process.wait(timeout=60)

    # THEN it exits as the shell counts SIGTERM, through its clean-up: nothing is left beside or in OUT
    assert code == 143
    assert not out.exists()
    assert not [path.name for path in tmp_path.iterdir() if path.name.startswith(".")]
