"""What the Makefile's variables resolve to: each names one thing, whichever command it is given to."""

from __future__ import annotations

import socket
import subprocess
import sys
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


@pytest.mark.parametrize("target", ["predict", "review-queue"])
@pytest.mark.parametrize(
    ("value", "replaces"),
    [
        ("1", True),
        ("yes", True),
        ("True", True),
        ("ON", True),
        ("0", False),
        ("no", False),
        ("False", False),
        ("", False),
    ],
)
def test_replace_is_asked_for_only_by_a_yes(target, value, replaces):
    # REPLACE=0 must not overwrite a review queue a reviewer has filled in
    dry_run = subprocess.run(["make", "-n", target, "DATA=x.csv", "CAPTURE=c", f"REPLACE={value}"], cwd=ROOT,
                             capture_output=True, text=True, timeout=60)  # fmt: skip

    assert ("--replace" in dry_run.stdout) is replaces


@pytest.mark.parametrize("value", ["maybe", "1 maybe"])
@pytest.mark.parametrize(("variable", "target"), [("REPLACE", "review-queue"), ("EXPLAIN", "predict")])
def test_a_yes_no_variable_that_is_neither_stops_make_naming_it(variable, target, value):
    # EXPLAIN=maybe once ran as if it were no, without explanations and without a word
    dry_run = subprocess.run(["make", "-n", target, "DATA=x.csv", "CAPTURE=c", f"{variable}={value}"], cwd=ROOT,
                             capture_output=True, text=True, timeout=60)  # fmt: skip

    assert dry_run.returncode != 0
    assert f"{variable}={value} is neither yes nor no" in dry_run.stderr


def test_clean_and_gitignore_cover_the_default_predictions():
    clean = subprocess.run(["make", "-n", "clean"], cwd=ROOT, capture_output=True, text=True, timeout=60).stdout

    assert "predictions.parquet" in clean.split()
    assert "predictions.parquet/" in (ROOT / ".gitignore").read_text().splitlines()


def _check_pricerunner(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "check-pricerunner", f"PRICERUNNER={path}"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_check_pricerunner_says_where_to_get_a_missing_file(tmp_path):
    completed = _check_pricerunner(tmp_path / "pricerunner_aggregate.csv")

    assert completed.returncode != 0
    assert "archive.ics.uci.edu/dataset/837" in completed.stderr
    assert "data/README.md" in completed.stderr


def test_check_pricerunner_refuses_another_file(tmp_path):
    other = tmp_path / "pricerunner_aggregate.csv"
    other.write_text("Product ID,Product Title\n1,tv\n")

    completed = _check_pricerunner(other)

    assert completed.returncode != 0
    assert "expected 632ee1e1" in completed.stderr


def test_check_pricerunner_accepts_the_projects_copy(pricerunner_csv):
    completed = _check_pricerunner(pricerunner_csv)

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("ok: ")


def test_the_data_folder_is_ignored_but_documented():
    ignored = (ROOT / ".gitignore").read_text().splitlines()

    assert {"data/*", "!data/README.md"} <= set(ignored)
    assert "https://archive.ics.uci.edu/dataset/837/" in (ROOT / "data" / "README.md").read_text()


def _serve(port: str) -> subprocess.CompletedProcess[str]:
    # This interpreter's venv, marked up to date (-o) so make never reinstalls it from inside a test.
    venv = sys.prefix
    return subprocess.run(
        ["make", "--no-print-directory", "serve", f"PORT={port}", "MODEL=Makefile", f"VENV={venv}", "-o",
         f"{venv}/.installed"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_serve_on_a_busy_port_names_the_port_fix():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]

        completed = _serve(str(port))

    assert completed.returncode != 0
    assert f"cannot serve on 127.0.0.1:{port}" in completed.stderr
    assert f"make serve PORT={port + 1}" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_serve_names_a_model_folder_and_the_file_to_pass_instead(tmp_path):
    venv = sys.prefix
    completed = subprocess.run(
        ["make", "--no-print-directory", "serve", f"MODEL={tmp_path}/", f"VENV={venv}", "-o", f"{venv}/.installed"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert completed.returncode != 0
    assert f"error: MODEL={tmp_path}/ is a folder; pass the model file in it (MODEL={tmp_path}/model.onnx)" in (
        completed.stderr
    )


def test_serve_refuses_a_port_that_is_not_a_number():
    completed = _serve("80a")

    assert completed.returncode != 0
    assert "PORT must be a port number (1-65535), got '80a'" in completed.stderr


@pytest.mark.parametrize("port", ["70000", "0"])
def test_start_api_refuses_a_port_it_could_not_serve_on_before_starting(tmp_path, port):
    if not (ROOT / ".venv-tools" / "bin" / "python").exists():
        pytest.skip("the tools environment is missing: run `make tools` (make test does)")
    (tmp_path / "ProductClassifierFunction").mkdir()

    completed = subprocess.run(
        ["make", "--no-print-directory", "start-api", f"PORT={port}", f"SAM_BUILD_DIR={tmp_path}", "-o",
         ".venv-tools/.installed"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert completed.returncode != 0
    assert f"PORT must be a port number (1-65535), got '{port}'" in completed.stderr
    assert "Serving" not in completed.stdout


def test_every_make_command_the_docs_show_is_a_target():
    import re

    targets = set(re.findall(r"^([a-z0-9-]+):", (ROOT / "Makefile").read_text(), flags=re.M))
    documents = [ROOT / "README.md", ROOT / "data" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    shown = {
        (path.name, target)
        for path in documents
        for target in re.findall(r"(?<![\w-])make ([a-z][a-z0-9-]*)", path.read_text())
    }

    assert {(name, target) for name, target in shown if target not in targets} == set()


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["serve", "CAPTURE=captured"], 'CAPTURE_DIR="$CAPTURE" CAPTURE_SAMPLE_RATE="${CAPTURE_SAMPLE_RATE:-1}"'),
        (["review-queue", "CAPTURE=captured", "SINCE=2026-12-01", "LIMIT=50"],
         '--capture "$CAPTURE" --out review.csv --since "$SINCE" --limit "$LIMIT"'),
        (["train", "CORRECTIONS=reviewed.csv"], '--corrections "$CORRECTIONS"'),
        (["compare", "A=a.onnx", "B=b.onnx", "DATA=captured", "REVIEWED=r.csv", "MIN_AGREEMENT=0.9"],
         '--reviewed "$REVIEWED" --min-agreement "$MIN_AGREEMENT"'),
    ],
)  # fmt: skip
def test_the_feedback_loop_commands_pass_their_variables(command, expected):
    dry_run = subprocess.run(["make", "-n", *command], cwd=ROOT, capture_output=True, text=True, timeout=60)

    assert expected in " ".join(dry_run.stdout.replace("\\\n", " ").split())


def test_serve_without_capture_captures_nothing():
    dry_run = subprocess.run(["make", "-n", "serve"], cwd=ROOT, capture_output=True, text=True, timeout=60)

    assert "CAPTURE_DIR" not in dry_run.stdout


@pytest.mark.parametrize("assignment", ["DATA=", "DATA= ", "CONFIG=", "CONFIG=\t", "OUT=", "MODEL="])
@pytest.mark.parametrize("target", ["train", "check-data", "predict", "compare"])
def test_a_data_or_config_given_blank_is_refused_rather_than_read_as_the_default(target, assignment):
    # GIVEN `make train DATA=$CATALOGUE` with CATALOGUE unset: without a word it would train on the synthetic default
    dry_run = subprocess.run(["make", "-n", target, assignment], cwd=ROOT, capture_output=True, text=True, timeout=60)

    name = assignment.split("=")[0]
    assert dry_run.returncode != 0
    assert f"{name}= is given but blank (an unset variable?): give it a value, or leave {name} out" in dry_run.stderr
