"""What the Makefile's variables resolve to: each names one thing, whichever command it is given to."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# A throwaway target that prints the variables as the recipes see them (exported to their environment).
SHOW = 'show-variables: ; @echo "MODEL=$$MODEL PREDICTIONS=$$PREDICTIONS OUT=$$OUT"'


def _resolved(*assignments: str) -> dict[str, str]:
    """The variables make passes to a recipe, given these command-line assignments."""
    completed = subprocess.run(
        ["make", "--no-print-directory", f"--eval={SHOW}", "show-variables", *assignments],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return dict(pair.split("=", 1) for pair in completed.stdout.split())


@pytest.mark.parametrize(
    ("assignments", "expected"),
    [
        ((), {"MODEL": "artifacts/model.onnx", "PREDICTIONS": "predictions.parquet", "OUT": "artifacts"}),
        # The command: OUT names the predictions, and the model is still the one `make train` wrote.
        (("OUT=y.parquet",), {"MODEL": "artifacts/model.onnx", "PREDICTIONS": "y.parquet", "OUT": "y.parquet"}),
        (("PREDICTIONS=p.parquet",), {"MODEL": "artifacts/model.onnx", "PREDICTIONS": "p.parquet"}),
        (("OUT=/tmp/run1", "MODEL=/tmp/run1/model.onnx"), {"MODEL": "/tmp/run1/model.onnx"}),
    ],
)
def test_model_never_follows_the_output_folder(assignments, expected):
    resolved = _resolved(*assignments)

    assert {key: resolved[key] for key in expected} == expected


def test_predict_reads_model_and_writes_predictions():
    dry_run = subprocess.run(
        ["make", "-n", "predict", "DATA=x.csv", "OUT=y.parquet"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )

    assert '--model "$MODEL"' in dry_run.stdout
    assert '--out "$PREDICTIONS"' in dry_run.stdout


def test_clean_and_gitignore_cover_the_default_predictions():
    clean = subprocess.run(["make", "-n", "clean"], cwd=ROOT, capture_output=True, text=True, timeout=60).stdout

    assert "predictions.parquet" in clean.split()
    assert "predictions.parquet/" in (ROOT / ".gitignore").read_text().splitlines()
