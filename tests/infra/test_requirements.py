"""The Lambda's requirements file is the serve extra of pyproject.toml, pinned, and nothing heavier."""

from __future__ import annotations

from infra.requirements import REQUIREMENTS, render_requirements


def test_committed_requirements_match_pyproject():
    assert REQUIREMENTS.read_text() == render_requirements(), "run `make requirements` and commit the result"


def test_requirements_are_pinned_runtime_packages_only():
    lines = [line for line in REQUIREMENTS.read_text().splitlines() if line and not line.startswith("#")]

    assert all("==" in line for line in lines)
    names = {line.split("==")[0].lower() for line in lines}
    assert {"onnxruntime", "numpy", "fastapi", "mangum", "aws-lambda-powertools"} <= names
    assert not names & {"pandas", "scikit-learn", "lightgbm", "mlflow", "skl2onnx", "scipy", "boto3"}
