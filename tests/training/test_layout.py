"""The rooms of training/ and the one direction imports run: cli → engines, reporting → model, data → bottom.

Read from the source with `ast` (imports inside functions and under TYPE_CHECKING count too), so a module that
imports against the direction fails here before anyone has to notice the tangle. The command lines are also
run in fresh processes to show that scoring and the data report load none of the trainer's heavy stack.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

import pytest

from training.config import PROJECT_ROOT
from training.data.synthetic import generate_catalogue

if TYPE_CHECKING:
    from pathlib import Path

TRAINING = PROJECT_ROOT / "training"
# A room's rank: a module may import its own room and rooms of lower rank, never a peer of the same rank.
RANKS = {"cli": 3, "engines": 2, "reporting": 2, "feedback": 2, "model": 1, "data": 1, "bottom": 0}
BOTTOM = {"config", "exceptions", "columns", "text", "environment"}
# What the model and the data must work without: the pipeline and the catalogue run anywhere the pipeline does.
FORBIDDEN = {
    "model": {"mlflow", "dask", "distributed", "matplotlib"},
    "data": {"mlflow", "dask", "distributed", "matplotlib", "lightgbm"},
    "feedback": {"mlflow", "dask", "distributed", "matplotlib", "lightgbm"},
}
# The trainer's stack, which neither bulk scoring nor the data report needs.
TRAINER_STACK = ("mlflow", "lightgbm", "matplotlib", "distributed")
# What only the export needs: a fitted pipeline scores (and unpickles) without it.
GRAPH_TOOLCHAIN = ("onnx", "skl2onnx", "onnxmltools", "onnxruntime")


def room_of(module: str) -> str:
    """The room of a `training.*` module: its sub-package, or `bottom` for the modules beside config.py."""
    parts = module.split(".")
    if len(parts) < 2 or parts[0] != "training":
        raise ValueError(f"not a training module: {module}")
    if parts[1] in BOTTOM:
        return "bottom"
    if parts[1] not in RANKS:
        raise ValueError(f"{module} is in no room: add its folder to RANKS and to the package docstring")
    return parts[1]


def imported_modules(source: str, module: str) -> list[tuple[int, str]]:
    """Every module a source imports (absolute names, relative ones resolved), with its line."""
    found = []
    package = module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], base]).rstrip(".")
            if base == "training":  # `from training import data` imports the sub-package
                found += [(node.lineno, f"training.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, base))
    return found


def violations(module: str, source: str) -> list[str]:
    """Imports of `source` (the module `module`) that run against the direction, or that its room must avoid."""
    room = room_of(module)
    problems = []
    for line, target in imported_modules(source, module):
        top = target.split(".")[0]
        if target.startswith("training."):
            other = room_of(target)
            if other != room and RANKS[other] >= RANKS[room]:
                problems.append(f"{module}:{line} imports {target} ({room} may import only lower rooms)")
        elif top in FORBIDDEN.get(room, set()):
            problems.append(f"{module}:{line} imports {target} ({room} must work without {top})")
    return problems


def _modules() -> list[tuple[str, Path]]:
    """Every module of the package except the package's own __init__."""
    modules = []
    for path in sorted(TRAINING.rglob("*.py")):
        parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if name != "training":
            modules.append((name, path))
    return modules


def test_every_module_imports_along_the_direction():
    found = [problem for name, path in _modules() for problem in violations(name, path.read_text())]

    assert found == [], "\n".join(found)


def test_every_room_says_what_it_owns_and_may_import():
    rooms = [path for path in sorted(TRAINING.rglob("__init__.py")) if path.parent != TRAINING]

    for path in rooms:
        docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
        assert "May import" in docstring, f"{path.relative_to(PROJECT_ROOT)}: say what the room may import"


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("training.model.export", "from training.cli.train import app", "may import only lower rooms"),
        ("training.data.report", "from training.model.features import TitleScores", "may import only lower rooms"),
        ("training.engines.local", "from training.reporting.tracking import log_run_record", "lower rooms"),
        ("training.config", "from training.data.load import load_raw", "may import only lower rooms"),
        ("training.model.pipeline", "def f():\n    import mlflow", "must work without mlflow"),
        ("training.model.features", "if TYPE_CHECKING:\n    from distributed import Client", "without distributed"),
        ("training.data.split", "from ..engines.local import fit_model", "may import only lower rooms"),
    ],
)
def test_an_import_against_the_direction_is_caught(module, source, expected):
    (problem,) = violations(module, source)

    assert expected in problem


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("training.cli.train", "from training.engines.dask.train import train_on_cluster"),
        ("training.engines.dask.boosting", "from training.engines.dask.prepare import first_rows"),
        ("training.reporting.artifacts", "from training.model.parity import parity_report_dict"),
        ("training.data.report", "from training.text import lower_like_onnx"),
        ("training.config", "from training.exceptions import ConfigError"),
    ],
)
def test_imports_down_or_within_a_room_are_allowed(module, source):
    assert violations(module, source) == []


def test_bulk_scoring_loads_none_of_the_trainers_stack(model_path, tmp_path):
    # GIVEN a small catalogue to score with the local engine
    csv = tmp_path / "catalogue.csv"
    generate_catalogue(200, seed=4).to_csv(csv, index=False)

    # WHEN `make predict` runs in a fresh process
    loaded = _run_command(
        "training.cli.predict", ["--model", str(model_path), "--data", str(csv), "--out", str(tmp_path / "o")]
    )

    # THEN it scored without importing MLflow, LightGBM, matplotlib or distributed
    assert (tmp_path / "o").is_dir()
    assert loaded == []


def test_the_data_report_loads_none_of_the_trainers_stack(tmp_path):
    csv = tmp_path / "catalogue.csv"
    generate_catalogue(200, seed=4).to_csv(csv, index=False)

    loaded = _run_command("training.cli.check_data", ["--data", str(csv)])

    assert loaded == []


def _run_command(module: str, arguments: list[str]) -> list[str]:
    """Run a command line's app in a fresh interpreter; the trainer's stack modules it had loaded at the end."""
    script = textwrap.dedent(
        f"""
        import json, sys
        from {module} import app
        app({arguments!r}, standalone_mode=False)
        print(json.dumps(sorted(name for name in {TRAINER_STACK!r} if name in sys.modules)))
        """
    )
    # This checkout first on the path, ahead of any installed copy of the package.
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=PROJECT_ROOT, check=False, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_fitted_pipeline_loads_without_the_graph_toolchain():
    # GIVEN a fresh interpreter that loads every class a pickled pipeline is made of (the Python route that
    # handler_benchmark compares with, or a notebook scoring with the pipeline itself)
    script = textwrap.dedent(
        f"""
        import json, sys
        import training.model.calibration, training.model.pipeline
        print(json.dumps(sorted(name for name in {GRAPH_TOOLCHAIN!r} if name in sys.modules)))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=PROJECT_ROOT, check=False, timeout=120
    )

    # THEN none of the export's libraries was imported
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
