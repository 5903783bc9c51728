"""`make prune-versions`: old versions go, the newest KEEP and anything an alias routes to stay (moto Lambda)."""

from __future__ import annotations

import io
import json
import zipfile

import boto3
import pytest
from moto import mock_aws

from infra.exceptions import InfraError
from infra.prune_versions import prune

FUNCTION = "classifier"


@pytest.fixture
def lambda_client(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        role = boto3.client("iam", region_name="us-east-1").create_role(
            RoleName="lambda", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []})
        )["Role"]["Arn"]
        client = boto3.client("lambda", region_name="us-east-1")
        for version in range(1, 8):
            code = io.BytesIO()
            with zipfile.ZipFile(code, "w") as archive:
                archive.writestr("app.py", f"VERSION = {version}\n")
            if version == 1:
                client.create_function(
                    FunctionName=FUNCTION, Runtime="python3.12", Role=role, Handler="app.handler",
                    Code={"ZipFile": code.getvalue()},
                )  # fmt: skip
            else:
                client.update_function_code(FunctionName=FUNCTION, ZipFile=code.getvalue())
            client.publish_version(FunctionName=FUNCTION)
        yield client


def _versions(client) -> list[str]:
    return [v["Version"] for v in client.list_versions_by_function(FunctionName=FUNCTION)["Versions"]]


def test_keeps_the_newest_and_every_version_an_alias_routes_to(lambda_client):
    # GIVEN versions 1..7, `live` on 2 with a 10 % canary on 3 (a rollout in progress)
    lambda_client.create_alias(
        FunctionName=FUNCTION, Name="live", FunctionVersion="2",
        RoutingConfig={"AdditionalVersionWeights": {"3": 0.1}},
    )  # fmt: skip

    # WHEN pruning to the newest two
    deleted = prune(lambda_client, FUNCTION, keep=2)

    # THEN 1, 4 and 5 go; 6 and 7 (newest), 2 (live) and 3 (canary) stay
    assert sorted(deleted) == ["1", "4", "5"]
    assert sorted(_versions(lambda_client)) == ["$LATEST", "2", "3", "6", "7"]


def test_keep_below_one_is_refused(lambda_client):
    with pytest.raises(InfraError, match="KEEP must be at least 1"):
        prune(lambda_client, FUNCTION, keep=0)


@pytest.mark.parametrize(
    ("keep", "said"), [("x", "a whole number of versions, at least 1, got 'x'"), ("0", "at least 1, got 0")]
)
def test_keep_on_the_command_line_is_one_line_naming_keep(monkeypatch, capsys, keep, said):
    import infra.prune_versions

    monkeypatch.setattr("sys.argv", ["prune", "--function", "fn", "--keep", keep])

    assert infra.prune_versions.main() == 1
    assert capsys.readouterr().err == f"error: KEEP must be {said}\n"


def test_the_command_line_finds_the_region_in_the_arn_and_names_what_to_pass_without_one(monkeypatch, capsys):
    import infra.prune_versions

    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")  # no region from the machine's own config
    regions: list[str] = []
    monkeypatch.setattr(infra.prune_versions, "prune", lambda client, *_: regions.append(client.meta.region_name) or [])

    monkeypatch.setattr("sys.argv", ["prune", "--function", "arn:aws:lambda:eu-west-1:123456789012:function:fn"])
    assert infra.prune_versions.main() == 0
    monkeypatch.setattr("sys.argv", ["prune", "--function", "fn"])
    assert infra.prune_versions.main() == 1

    assert regions == ["eu-west-1"]
    assert "error: no AWS region for 'fn'" in capsys.readouterr().err

    # AND the region it says to set is one botocore reads, and a region so set is taken
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    assert infra.prune_versions.main() == 0
    assert regions == ["eu-west-1", "ap-south-1"]


def test_an_endpoint_without_its_scheme_is_one_line_naming_the_setting(monkeypatch, capsys):
    import infra.prune_versions

    monkeypatch.setenv("AWS_ENDPOINT_URL", "127.0.0.1:5000")
    monkeypatch.setattr("sys.argv", ["prune", "--function", "arn:aws:lambda:eu-west-1:123456789012:function:fn"])

    assert infra.prune_versions.main() == 1
    assert "AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_LAMBDA) must be a whole URL" in capsys.readouterr().err


def test_a_region_that_is_no_region_is_named_so_not_blamed_on_the_endpoint(monkeypatch, capsys):
    import infra.prune_versions

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setattr("sys.argv", ["prune", "--function", "arn:aws:lambda:eu west 1:123456789012:function:fn"])

    assert infra.prune_versions.main() == 1
    error = capsys.readouterr().err
    assert "name a region such as eu-west-1" in error
    assert "AWS_ENDPOINT_URL" not in error
