"""`make deploy`'s last step: the stack's pre-traffic hook checks the version the stack serves."""

from __future__ import annotations

import io
import json

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from infra import check_live
from infra.check_live import Target, check, target_from
from infra.exceptions import InfraError

STACK = "product-classifier"
HOOK = "product-classifier-PreTrafficHookFunction-AbC123"


def _payload(document) -> StreamingBody:
    raw = (document if isinstance(document, str) else json.dumps(document)).encode()
    return StreamingBody(io.BytesIO(raw), len(raw))


class StubbedSession:
    """A boto3 session whose CloudFormation and Lambda clients answer from stubs, checked to be used up."""

    def __init__(self, *, status="CREATE_COMPLETE", outputs=None, verdict=None, function_error=None):
        self.clients = {name: boto3.client(name, region_name="eu-west-1") for name in ("cloudformation", "lambda")}
        self.stubbers = {name: Stubber(client) for name, client in self.clients.items()}
        outputs = {"PreTrafficHookName": HOOK} if outputs is None else outputs
        stack = {"StackName": STACK, "CreationTime": "2026-12-04T00:00:00Z", "StackStatus": status}
        stack["Outputs"] = [{"OutputKey": key, "OutputValue": value} for key, value in outputs.items()]
        self.stubbers["cloudformation"].add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": STACK})
        if verdict is not None:
            response = {"StatusCode": 200, "Payload": _payload(verdict)}
            if function_error:
                response["FunctionError"] = function_error
            self.stubbers["lambda"].add_response(
                "invoke", response, {"FunctionName": HOOK, "Payload": json.dumps({"CheckOnly": True}).encode()}
            )
        for stubber in self.stubbers.values():
            stubber.activate()
        self.regions: list[str | None] = []

    def client(self, name, region_name=None, config=None):
        self.regions.append(region_name)
        return self.clients[name]

    def assert_used_up(self):
        for stubber in self.stubbers.values():
            stubber.assert_no_pending_responses()


TARGET = Target(stack_name=STACK, region="eu-west-1", profile=None)


def test_a_passing_version_is_checked_through_the_stacks_own_hook():
    session = StubbedSession(verdict={"status": "Succeeded", "failures": []})

    verdict = check(TARGET, session)

    assert (verdict.status, verdict.failures) == ("Succeeded", ())
    assert session.regions == ["eu-west-1", "eu-west-1"]
    session.assert_used_up()


def test_a_failing_version_fails_make_deploy_naming_what_failed(monkeypatch, tmp_path, capsys):
    session = StubbedSession(verdict={"status": "Failed", "failures": ["GET /health: served v1, the artifact is v2"]})
    monkeypatch.setattr(boto3, "Session", lambda profile_name=None: session)

    status = check_live.main(["--config-file", str(tmp_path / "none.toml"), "--stack-name", STACK])

    assert status == 1
    err = capsys.readouterr().err
    assert "GET /health: served v1, the artifact is v2" in err
    assert "sam delete" in err
    session.assert_used_up()


@pytest.mark.parametrize(
    ("verdict", "function_error", "message"),
    [
        ('{"errorMessage": "boom"}', "Unhandled", r"failed \(Unhandled\)"),
        ("not json", None, "answered no verdict"),
        ({"status": "Maybe"}, None, "answered no verdict"),
        ({"status": "Succeeded", "failures": ["golden example 1"]}, None, "answered Succeeded with failures"),
    ],
)
def test_a_hook_that_crashes_or_answers_no_verdict_is_an_error(verdict, function_error, message):
    session = StubbedSession(verdict=verdict, function_error=function_error)

    with pytest.raises(InfraError, match=message):
        check(TARGET, session)


def test_a_change_set_never_executed_has_nothing_to_check(capsys, monkeypatch, tmp_path):
    session = StubbedSession(status="REVIEW_IN_PROGRESS", outputs={})
    monkeypatch.setattr(boto3, "Session", lambda profile_name=None: session)

    assert check_live.main(["--config-file", str(tmp_path / "none.toml"), "--stack-name", STACK]) == 0
    assert "nothing deployed" in capsys.readouterr().out
    session.assert_used_up()


def test_a_stack_without_the_hook_output_says_to_deploy_this_template():
    with pytest.raises(InfraError, match="no PreTrafficHookName output"):
        check(TARGET, StubbedSession(status="UPDATE_COMPLETE", outputs={"ApiUrl": "https://x"}))


def test_the_stack_region_and_profile_come_from_what_sam_deploy_guided_saved(tmp_path):
    config = tmp_path / "samconfig.toml"
    config.write_text(
        'version = 0.1\n[default.global.parameters]\nregion = "eu-central-1"\n'
        '[default.deploy.parameters]\nstack_name = "shop-classifier"\nregion = "eu-west-1"\nprofile = "prod"\n'
        'capabilities = "CAPABILITY_IAM"\n'
    )

    assert target_from(config, stack_name=None, region=None, profile=None) == Target(
        "shop-classifier", "eu-west-1", "prod"
    )
    assert target_from(config, stack_name="other", region="us-east-1", profile=None) == Target(
        "other", "us-east-1", "prod"
    )


@pytest.mark.parametrize(
    "content",
    [None, "[default.deploy.parameters]\nregion = 'eu-west-1'\n", "stack_name = [", "default = 5\n",
     "[default.deploy]\nparameters = 'x'\n"],
)  # fmt: skip
def test_without_a_stack_name_or_with_a_broken_config_it_says_what_to_do(tmp_path, content):
    config = tmp_path / "samconfig.toml"
    if content is not None:
        config.write_text(content)

    with pytest.raises(InfraError, match=r"pass --stack-name|not valid TOML|not laid out as `sam deploy --guided`"):
        target_from(config, stack_name=None, region=None, profile=None)


def test_without_credentials_it_fails_in_one_line(no_aws_credentials, tmp_path, capsys):
    status = check_live.main(
        ["--config-file", str(tmp_path / "none.toml"), "--stack-name", STACK, "--region", "eu-west-1"]
    )

    assert status == 1
    assert capsys.readouterr().err.startswith("error: no AWS credentials found")


def test_an_unknown_profile_fails_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))

    status = check_live.main(["--config-file", str(tmp_path / "none.toml"), "--stack-name", STACK, "--profile", "nope"])

    assert status == 1
    assert "nope" in capsys.readouterr().err
