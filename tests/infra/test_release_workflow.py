"""The release workflow: credentials only where AWS is called, inputs checked before use, a job long enough."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from infra.rollout_budget import job_minutes, role_seconds

ROOT = Path(__file__).resolve().parents[2]
TOOLS_PYTHON = ROOT / ".venv-tools" / "bin" / "python"
WORKFLOW = yaml.safe_load((ROOT / ".github/workflows/release.yml").read_text())
JOBS = WORKFLOW["jobs"]


def test_only_the_deploy_job_may_mint_aws_credentials():
    assert "id-token" not in WORKFLOW["permissions"]
    assert JOBS["deploy"]["permissions"]["id-token"] == "write"
    assert all("id-token" not in job.get("permissions", {}) for name, job in JOBS.items() if name != "deploy")


def test_the_job_that_mints_credentials_installs_only_hashed_pins():
    scripts = "\n".join(step.get("run", "") for step in JOBS["deploy"]["steps"])

    assert re.findall(r"make install tools.*", scripts) == ["make install tools LOCKED=1"]
    assert "pip install" not in scripts


@pytest.mark.parametrize("workflow", sorted((ROOT / ".github/workflows").glob("*.yml")), ids=lambda path: path.name)
def test_every_action_is_pinned_to_a_commit(workflow: Path):
    # A tag can be moved to other code; a commit cannot, and the deploy job holds `id-token: write`.
    jobs = yaml.safe_load(workflow.read_text())["jobs"].values()
    actions = [step["uses"] for job in jobs for step in job["steps"] if "uses" in step]

    assert actions
    assert [action for action in actions if not re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action)] == []


def test_dispatch_inputs_reach_scripts_only_through_the_environment():
    scripts = [step.get("run", "") for job in JOBS.values() for step in job["steps"]]

    assert not [script for script in scripts if "${{ inputs." in script or "${{ github.event.inputs" in script]


def test_inputs_are_checked_before_anything_uses_them():
    steps = JOBS["train"]["steps"]
    check = next(i for i, step in enumerate(steps) if "Check the inputs" in step.get("name", ""))
    train = next(i for i, step in enumerate(steps) if step.get("run", "").startswith("make train"))

    assert check < train
    assert re.search(r"\^configs/", steps[check]["run"])


def test_the_deploy_job_timeout_and_role_session_come_from_the_deployment_type():
    deploy = JOBS["deploy"]
    credentials = next(s for s in deploy["steps"] if "configure-aws-credentials" in s.get("uses", ""))

    assert deploy["timeout-minutes"] == "${{ fromJSON(needs.train.outputs.job_minutes) }}"
    assert credentials["with"]["role-duration-seconds"] == "${{ fromJSON(needs.train.outputs.role_seconds) }}"
    assert job_minutes("Linear10PercentEvery10Minutes") > 90 + 5
    assert role_seconds("Linear10PercentEvery10Minutes") > 3600


def test_the_smoke_test_expects_the_published_model_and_can_get_a_jwt():
    smoke = next(
        s for s in JOBS["deploy"]["steps"] if s.get("run", "").lstrip().startswith("url=") and "make smoke" in s["run"]
    )

    assert 'MODEL_VERSION="$version"' in smoke["run"]
    assert {"JWT_TOKEN_URL", "JWT_CLIENT_ID", "JWT_CLIENT_SECRET"} <= set(smoke["env"])


def _deploy_step() -> str:
    return next(step["run"] for step in JOBS["deploy"]["steps"] if step.get("name", "").startswith("Deploy"))


def _sam_deploy_arguments(tmp_path: Path, environment: dict[str, str]) -> list[str]:
    """The arguments the deploy step gives `sam deploy`, the build's parameters stubbed as a bundled model's."""
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv-tools" / "bin").mkdir(parents=True)
    python = tmp_path / ".venv" / "bin" / "python"
    python.write_text("#!/bin/sh\necho 'Architecture=x86_64 TargetPrecision=0.98'\n")
    sam = tmp_path / ".venv-tools" / "bin" / "sam"
    sam.write_text("#!/usr/bin/env python3\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    for stub in (python, sam):
        stub.chmod(0o755)
    completed = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", _deploy_step()], cwd=tmp_path, capture_output=True, text=True,
        env={"PATH": os.environ["PATH"], "GITHUB_ENV": str(tmp_path / "github_env"), "STACK_NAME": "stack",
             "AUTH_MODE": "IAM", "DEPLOYMENT_TYPE": "Canary10Percent5Minutes", **environment},
        timeout=60, check=True,
    )  # fmt: skip
    return json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "optional",
    [{}, {"ALARM_EMAIL": "ops@example.com", "JWT_ISSUER": "https://issuer.test/pool", "JWT_AUDIENCE": "client",
          "JWT_SCOPES": "product-classifier/predict"}],
)  # fmt: skip
def test_sam_cli_accepts_the_deploy_steps_overrides_with_and_without_the_optional_variables(tmp_path, optional):
    if not TOOLS_PYTHON.exists():
        pytest.skip("the tools environment is missing: run `make tools` (make test does)")
    arguments = _sam_deploy_arguments(tmp_path, {"ALARM_EMAIL": "", **optional})
    overrides = arguments[arguments.index("--parameter-overrides") + 1 :]

    # SAM CLI's own parser of --parameter-overrides (it refuses `AlarmEmail=` with "is not a valid format")
    parse = (
        "import json, sys\nfrom samcli.cli.types import CfnParameterOverridesType\n"
        "print(json.dumps(CfnParameterOverridesType().convert(tuple(sys.argv[1:]), None, None)))"
    )
    parsed = subprocess.run(
        [str(TOOLS_PYTHON), "-c", parse, *overrides], capture_output=True, text=True, timeout=60, check=True
    )
    values = json.loads(parsed.stdout)
    assert values["AuthMode"] == "IAM"
    assert ("AlarmEmail" in values) == bool(optional)
    assert ("JwtIssuer" in values) == bool(optional)


def test_sam_cli_refuses_an_empty_override_so_the_test_above_can_fail():
    if not TOOLS_PYTHON.exists():
        pytest.skip("the tools environment is missing: run `make tools` (make test does)")
    parse = (
        "from samcli.cli.types import CfnParameterOverridesType\n"
        "CfnParameterOverridesType().convert(('AlarmEmail=',), None, None)"
    )
    refused = subprocess.run([str(TOOLS_PYTHON), "-c", parse], capture_output=True, text=True, timeout=60)

    assert refused.returncode != 0
    assert "is not a valid format" in refused.stderr


def test_only_main_is_deployed():
    assert JOBS["deploy"]["if"] == "github.ref == 'refs/heads/main'"


def test_a_failed_deploy_names_the_newest_deployment_and_the_hooks_own_log_line():
    diagnose = next(step["run"] for step in JOBS["deploy"]["steps"] if step.get("if") == "failure()")

    assert "deployments[0]" not in diagnose
    assert "sort_by(deploymentsInfo, &createTime)" in diagnose
    assert "pre-traffic check" in diagnose
