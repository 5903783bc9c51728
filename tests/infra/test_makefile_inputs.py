"""User values (and the release workflow's dispatch inputs) reach make recipes as data, never as shell code."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import make_command

ROOT = Path(__file__).resolve().parents[2]


def _payload(marker: Path) -> str:
    return f'x"; touch {marker}; echo "'


@pytest.mark.parametrize(
    ("target", "variable"),
    [("train", "DATA"), ("train", "CONFIG"), ("predict", "DATA"), ("check-data", "DATA"), ("check-data", "CONFIG"),
     ("publish", "BUCKET"), ("publish", "OUT"), ("serve", "MODEL"), ("build", "MODEL"), ("build", "MODEL_URI"),
     ("smoke", "URL"), ("smoke", "MODEL_VERSION"), ("prune-versions", "FUNCTION"), ("compare", "A"), ("compare", "B"),
     ("compare", "DATA"), ("publish", "MIN_MACRO_F1"), ("smoke", "AUTH"), ("prune-versions", "KEEP"),
     ("start-api", "PORT"), ("benchmark-soak", "MINUTES"), ("benchmark-dask", "ROWS"), ("benchmark-dask", "WORKERS"),
     ("benchmark-dask", "WORKER_MEMORY")],
)  # fmt: skip
def test_no_recipe_pastes_a_user_value_into_shell_text(tmp_path, target, variable):
    payload = _payload(tmp_path / "owned")

    dry_run = subprocess.run(
        ["make", "-n", target, f"{variable}={payload}"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )

    assert payload not in dry_run.stdout


def test_a_hostile_value_stays_a_value_when_the_recipe_runs(tmp_path):
    marker = tmp_path / "owned"

    completed = subprocess.run(
        make_command("--silent", "check-data", f"DATA={_payload(marker)}"),
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip

    assert completed.returncode != 0
    assert not marker.exists()
