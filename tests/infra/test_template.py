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


@pytest.mark.parametrize(
    ("mode", "protected"), [("IAM", [{"AWS_IAM": []}]), ("JWT", [{"Jwt": {"Ref": "JwtScopes"}}]), ("NONE", [])]
)
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
    }  # fmt: skip
    assert group["AutoRollbackConfiguration"]["Enabled"] is True
    hook = resources["ProductClassifierFunctionAliaslive"]["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]
    assert hook["BeforeAllowTrafficHook"] == {"Ref": "PreTrafficHookFunction"}
    for name in alarms:
        assert "Version" in json.dumps(resources[name]["Properties"]), f"{name} must watch the new version only"


def test_hook_may_invoke_only_the_version_under_test_and_report_only_to_this_application(default_template):
    role = default_template["Resources"]["PreTrafficHookFunctionRole"]["Properties"]
    statements = [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]
    by_action = {s["Action"]: s["Resource"] for s in statements}

    assert set(by_action) == {"lambda:InvokeFunction", "codedeploy:PutLifecycleEventHookExecutionStatus"}
    assert by_action["lambda:InvokeFunction"]["Ref"].startswith("ProductClassifierFunctionVersion")
    hook = default_template["Resources"]["PreTrafficHookFunction"]["Properties"]
    assert hook["Environment"]["Variables"]["NEW_VERSION"] == by_action["lambda:InvokeFunction"]
    assert (
        "${ServerlessDeploymentApplication}/" in by_action["codedeploy:PutLifecycleEventHookExecutionStatus"]["Fn::Sub"]
    )
    assert role["ManagedPolicyArns"] == ["arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"]


def test_snapstart_on_published_versions(default_template):
    function = default_template["Resources"]["ProductClassifierFunction"]["Properties"]

    assert function["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    assert function["Runtime"] == "python3.12"


def _evaluate(value, parameters: dict[str, str]):
    """A rule's Fn::Equals / Fn::Not / Ref, evaluated with these parameter values (template defaults otherwise)."""
    if isinstance(value, dict) and "Ref" in value:
        return parameters[value["Ref"]]
    if isinstance(value, dict) and "Fn::Equals" in value:
        left, right = (_evaluate(side, parameters) for side in value["Fn::Equals"])
        return left == right
    if isinstance(value, dict) and "Fn::Not" in value:
        return not _evaluate(value["Fn::Not"][0], parameters)
    return value


def _rules_broken(template: dict, **given: str) -> list[str]:
    """The template Rules whose assertions fail for these parameter values."""
    parameters = {name: str(spec.get("Default", "")) for name, spec in template["Parameters"].items()} | given
    return [
        name
        for name, rule in template["Rules"].items()
        if _evaluate(rule.get("RuleCondition", True), parameters)
        and not all(_evaluate(assertion["Assert"], parameters) for assertion in rule["Assertions"])
    ]


def test_jwt_mode_cannot_be_deployed_with_the_placeholder_issuer(default_template):
    assert _rules_broken(default_template) == []
    assert _rules_broken(default_template, AuthMode="JWT") == ["JwtNeedsARealIssuer"]
    assert (
        _rules_broken(default_template, AuthMode="JWT", JwtIssuer="https://cognito-idp.eu-west-1.amazonaws.com/p") == []
    )


def test_jwt_routes_require_the_configured_scopes(default_template):
    assert default_template["Parameters"]["JwtScopes"]["Default"] == "product-classifier/predict"


def test_the_api_writes_access_logs_with_retention(default_template):
    resources = default_template["Resources"]
    stage = next(r["Properties"] for r in resources.values() if r["Type"] == "AWS::ApiGatewayV2::Stage")
    settings = stage["AccessLogSettings"]

    assert settings["DestinationArn"] == {"Fn::GetAtt": ["ProductClassifierApiAccessLogGroup", "Arn"]}
    assert {"$context.requestId", "$context.status", "$context.routeKey"} <= set(
        part.split('"')[0] for part in settings["Format"].split(':"')[1:]
    )
    assert resources["ProductClassifierApiAccessLogGroup"]["Properties"]["RetentionInDays"] == {
        "Ref": "LogRetentionDays"
    }


def test_a_kms_encrypted_model_bucket_can_be_read_through_s3_only(tmp_path):
    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    template = translate(tmp_path, ModelBucket="models", ModelKey="m/model.onnx", ModelKmsKeyArn=key)
    role = template["Resources"]["ProductClassifierFunctionRole"]["Properties"]
    conditions = {"UseS3Model": True, "UseModelKmsKey": True}
    policies = [resolve(policy, conditions) for policy in role["Policies"]]
    statements = [
        statement
        for policy in policies
        if "PolicyDocument" in policy
        for statement in policy["PolicyDocument"]["Statement"]
    ]
    decrypt = next(statement for statement in statements if statement["Action"] == "kms:Decrypt")

    assert decrypt["Resource"] == {"Ref": "ModelKmsKeyArn"}
    assert decrypt["Condition"]["StringEquals"]["kms:ViaService"] == {"Fn::Sub": "s3.${AWS::Region}.amazonaws.com"}


def test_least_privilege_for_codedeploy_the_monitor_and_concurrency(default_template):
    resources = default_template["Resources"]
    trust = resources["CodeDeployRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    monitor = resources["DriftMonitorFunctionRole"]["Properties"]
    statements = [s for policy in monitor["Policies"] for s in policy["PolicyDocument"]["Statement"]]
    put = next(statement for statement in statements if statement["Action"] == "cloudwatch:PutMetricData")
    function = resources["ProductClassifierFunction"]["Properties"]

    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    assert put["Condition"]["StringEquals"]["cloudwatch:namespace"] == {
        "Fn::Sub": "ProductClassifier/${AWS::StackName}"
    }
    assert function["ReservedConcurrentExecutions"] == {
        "Fn::If": ["ReserveConcurrency", {"Ref": "ReservedConcurrency"}, {"Ref": "AWS::NoValue"}]
    }


def test_capture_streams_only_capture_lines_to_an_expiring_private_bucket(default_template):
    resources, conditions = default_template["Resources"], default_template["Conditions"]
    capture = {name for name, resource in resources.items() if resource.get("Condition") == "CaptureOn"}
    assert capture == {
        "CaptureBucket", "CaptureBucketPolicy", "CaptureDeliveryLogGroup", "CaptureDeliveryLogStream",
        "CaptureDeliveryRole", "CaptureDeliveryStream", "CaptureSubscriptionRole", "CaptureSubscriptionFilter",
    }  # fmt: skip
    assert conditions["CaptureOn"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "CaptureSampleRate"}, "0"]}]}
    function = resources["ProductClassifierFunction"]["Properties"]
    assert function["Environment"]["Variables"]["CAPTURE_SAMPLE_RATE"] == {"Ref": "CaptureSampleRate"}

    subscription = resources["CaptureSubscriptionFilter"]["Properties"]
    assert subscription["FilterPattern"] == "{ $.capture = 1 }"
    assert subscription["LogGroupName"] == {"Ref": "ProductClassifierLogGroup"}
    stream = resources["CaptureDeliveryStream"]["Properties"]["ExtendedS3DestinationConfiguration"]
    assert [p["Type"] for p in stream["ProcessingConfiguration"]["Processors"]] == [
        "Decompression", "CloudWatchLogProcessing", "AppendDelimiterToRecord"]  # fmt: skip
    assert stream["CompressionFormat"] == "GZIP"
    assert "!{timestamp:yyyy}" in stream["Prefix"]

    bucket = resources["CaptureBucket"]
    assert bucket["DeletionPolicy"] == "Retain"  # captured traffic is training data: it outlives the stack
    (rule,) = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == {"Ref": "CaptureRetentionDays"}
    assert all(bucket["Properties"]["PublicAccessBlockConfiguration"].values())
    (deny,) = resources["CaptureBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    trust = resources["CaptureSubscriptionRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "logs.amazonaws.com"}
    assert "aws:SourceArn" in trust["Condition"]["StringLike"]
    (put,) = resources["CaptureSubscriptionRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    assert put["Resource"] == {"Fn::GetAtt": ["CaptureDeliveryStream", "Arn"]}
    assert default_template["Outputs"]["CaptureLocation"]["Condition"] == "CaptureOn"


RATES = [("0", True), ("1", True), ("0.05", True), (".5", True), ("0.0", False), ("1.5", False), ("-1", False)]


@pytest.mark.parametrize(("rate", "allowed"), [*RATES, ("", False)])
def test_the_capture_rate_parameter_takes_shares_from_0_to_1(rate, allowed):
    import re

    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    pattern = yaml.load((ROOT / "template.yaml").read_text(), Loader=Loader)["Parameters"]["CaptureSampleRate"]
    assert bool(re.fullmatch(pattern["AllowedPattern"], rate)) is allowed
