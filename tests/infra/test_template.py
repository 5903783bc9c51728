"""The SAM template as CloudFormation sees it: translated offline by samtranslator (tools environment).

Auth on every route per AuthMode and the canary wiring. The release path (versions, alarms, names, metrics)
is in test_release_path.py.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS_PYTHON = ROOT / ".venv-tools" / "bin" / "python"
ROUTES = {"/predict", "/predict/batch", "/model", "/docs", "/redoc", "/openapi.json", "/health"}


def translate(tmp_path: Path, code_uris: dict[str, str] | None = None, **parameters: str) -> dict:
    """The template as SAM translates it, with these parameter values and S3 code locations."""
    if not TOOLS_PYTHON.exists():
        pytest.skip("the tools environment is missing: run `make tools` (make test does)")
    key = (tuple(sorted(parameters.items())), tuple(sorted((code_uris or {}).items())))
    target = tmp_path / f"cfn-{abs(hash(key))}.json"
    arguments = [arg for key, value in parameters.items() for arg in ("--parameter", f"{key}={value}")]
    arguments += [arg for key, value in (code_uris or {}).items() for arg in ("--code-uri", f"{key}={value}")]
    subprocess.run(
        [str(TOOLS_PYTHON), "infra/translate_template.py", "template.yaml", str(target), *arguments],
        cwd=ROOT, env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return json.loads(target.read_text())


def resolve(value, conditions: dict[str, bool]):
    """Evaluate Fn::If with the given condition values, as CloudFormation would at deploy time."""
    if isinstance(value, dict) and "Fn::If" in value:
        name, if_true, if_false = value["Fn::If"]
        return resolve(if_true if conditions[name] else if_false, conditions)
    if isinstance(value, list):
        return [resolve(item, conditions) for item in value]
    return value


def route_security(template: dict, mode: str) -> dict[str, list]:
    conditions = {"IsIam": mode == "IAM", "IsJwt": mode == "JWT", "UseS3Model": False}
    paths = template["Resources"]["ProductClassifierApi"]["Properties"]["Body"]["paths"]
    return {
        f"{method.upper()} {path}": resolve(operation.get("security", "MISSING"), conditions)
        for path, operations in paths.items()
        for method, operation in operations.items()
    }


@pytest.fixture(scope="module")
def default_template(tmp_path_factory):
    return translate(tmp_path_factory.mktemp("cfn"))


@pytest.mark.parametrize(("mode", "protected"), [("IAM", [{"AWS_IAM": []}]), ("JWT", [{"Jwt": []}]), ("NONE", [])])
def test_each_auth_mode_protects_every_route_but_health(default_template, mode, protected):
    security = route_security(default_template, mode)

    assert security.pop("GET /health") == []
    assert security
    assert all(value == protected for value in security.values()), security


def test_no_route_is_open_by_accident(default_template):
    # GIVEN every route the function serves through the API
    events = default_template["Resources"]["ProductClassifierFunction"]
    paths = default_template["Resources"]["ProductClassifierApi"]["Properties"]["Body"]["paths"]

    # THEN each has an explicit security entry (a route only in Events would get none: open in IAM mode)
    assert set(paths) == ROUTES
    for mode in ("IAM", "JWT"):
        assert "MISSING" not in route_security(default_template, mode).values()
    assert events["Type"] == "AWS::Lambda::Function"


def test_jwt_authorizer_reads_the_bearer_token(default_template):
    schemes = default_template["Resources"]["ProductClassifierApi"]["Properties"]["Body"]["components"]
    jwt = schemes["securitySchemes"]["Jwt"]["x-amazon-apigateway-authorizer"]

    assert jwt["identitySource"] == "$request.header.Authorization"
    assert jwt["jwtConfiguration"] == {"issuer": {"Ref": "JwtIssuer"}, "audience": {"Ref": "JwtAudience"}}


def test_canary_rolls_back_on_version_scoped_alarms_and_runs_the_hook(default_template):
    resources = default_template["Resources"]
    group = resources["ProductClassifierFunctionDeploymentGroup"]["Properties"]
    alarms = {alarm["Name"]["Ref"] for alarm in group["AlarmConfiguration"]["Alarms"]}

    assert group["DeploymentConfigName"]["Fn::Sub"][1] == {"ConfigName": "Canary10Percent5Minutes"}
    assert alarms == {
        "AliasErrorsAlarm", "AliasDurationAlarm", "Version5xxAlarm", "LowConfidenceAlarm", "InferenceLatencyAlarm",
        "ThrottlesAlarm",
    }  # fmt: skip
    assert group["AutoRollbackConfiguration"]["Enabled"] is True
    hook = resources["ProductClassifierFunctionAliaslive"]["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]
    assert hook["BeforeAllowTrafficHook"] == {"Ref": "PreTrafficHookFunction"}
    for name in alarms - {"ThrottlesAlarm"}:
        assert "Version" in json.dumps(resources[name]["Properties"]), f"{name} must watch the new version only"


def test_hook_may_invoke_only_this_functions_versions_and_report_only_to_this_application(default_template):
    role = default_template["Resources"]["PreTrafficHookFunctionRole"]["Properties"]
    statements = [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]
    by_action = {s["Action"]: s["Resource"] for s in statements}

    assert set(by_action) == {"lambda:InvokeFunction", "codedeploy:PutLifecycleEventHookExecutionStatus"}
    assert by_action["lambda:InvokeFunction"] == {"Fn::Sub": "${ProductClassifierFunction.Arn}:*"}
    assert (
        "${ServerlessDeploymentApplication}/" in by_action["codedeploy:PutLifecycleEventHookExecutionStatus"]["Fn::Sub"]
    )
    assert role["ManagedPolicyArns"] == ["arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"]


def test_snapstart_on_published_versions(default_template):
    function = default_template["Resources"]["ProductClassifierFunction"]["Properties"]

    assert function["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    assert function["Runtime"] == "python3.12"
