"""The release workflow: credentials only where AWS is called, inputs checked before use, a job long enough."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from infra.rollout_budget import job_minutes, role_seconds

WORKFLOW = yaml.safe_load((Path(__file__).resolve().parents[2] / ".github/workflows/release.yml").read_text())
JOBS = WORKFLOW["jobs"]


def test_only_the_deploy_job_may_mint_aws_credentials():
    assert "id-token" not in WORKFLOW["permissions"]
    assert JOBS["deploy"]["permissions"]["id-token"] == "write"
    assert all("id-token" not in job.get("permissions", {}) for name, job in JOBS.items() if name != "deploy")


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
