"""Checks against a deployed stack; skipped unless AWS_SAM_STACK_NAME names one (needs AWS credentials)."""

from __future__ import annotations

import os

import pytest

from infra.smoke import run_smoke

STACK = os.environ.get("AWS_SAM_STACK_NAME")
pytestmark = pytest.mark.skipif(not STACK, reason="set AWS_SAM_STACK_NAME to test a deployed stack")


@pytest.fixture(scope="module")
def api_url() -> str:
    import boto3

    outputs = boto3.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0].get("Outputs", [])
    urls = [o["OutputValue"] for o in outputs if o["OutputKey"] == "ApiUrl"]
    if not urls:
        pytest.fail(f"stack {STACK} has no ApiUrl output; check the stack name and that it deployed template.yaml")
    return urls[0]


def test_deployed_api_answers(api_url):
    expected = os.environ.get("MODEL_VERSION")
    if not expected:
        pytest.skip("set MODEL_VERSION to the model the stack must serve (printed by make publish / make build)")
    assert len(run_smoke(api_url, expected)) == 5
