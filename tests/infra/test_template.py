"""The SAM template as CloudFormation sees it: translated offline by samtranslator (tools environment).

Auth on every route per AuthMode, a new version for a model-only release, the canary wiring, and every
metric an alarm or the dashboard names actually emitted by the code.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from drift_monitor.app import check_drift
from infra.release_id import release_id
from tests.monitor.test_drift import NOW, _config, _record_predictions

ROOT = Path(__file__).resolve().parents[2]
TOOLS_PYTHON = ROOT / ".venv-tools" / "bin" / "python"
SHA_A, SHA_B = "a" * 64, "b" * 64
ROUTES = {"/predict", "/predict/batch", "/model", "/docs", "/redoc", "/openapi.json", "/health"}


def translate(tmp_path: Path, **parameters: str) -> dict:
    if not TOOLS_PYTHON.exists():
        pytest.skip("the tools environment is missing: run `make tools` (make test does)")
    target = tmp_path / f"cfn-{abs(hash(tuple(sorted(parameters.items()))))}.json"
    arguments = [arg for key, value in parameters.items() for arg in ("--parameter", f"{key}={value}")]
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


def _version_ids(template: dict) -> set[str]:
    return {name for name, r in template["Resources"].items() if r["Type"] == "AWS::Lambda::Version"}


def test_a_model_only_release_publishes_a_new_version(tmp_path):
    # GIVEN the same built code deployed with two different S3 models
    code = tmp_path / "function"
    (code / "handler").mkdir(parents=True)
    (code / "handler" / "main.py").write_text("code")
    first = {"ModelBucket": "models", "ModelKey": "p/models/v1/model.onnx", "ModelSha256": SHA_A}
    second = {"ModelBucket": "models", "ModelKey": "p/models/v2/model.onnx", "ModelSha256": SHA_B}

    # WHEN each is translated with its release id
    one = translate(tmp_path, **first, ReleaseId=release_id(code, SHA_A))
    two = translate(tmp_path, **second, ReleaseId=release_id(code, SHA_B))
    again = translate(tmp_path, **first, ReleaseId=release_id(code, SHA_A))

    # THEN the versions differ, and the same release maps to the same version
    assert _version_ids(one) != _version_ids(two)
    assert _version_ids(one) == _version_ids(again)


def test_a_code_only_change_changes_the_release_id(tmp_path):
    code = tmp_path / "function"
    code.mkdir()
    (code / "app.py").write_text("v1")
    before = release_id(code, SHA_A)
    (code / "app.py").write_text("v2")

    assert release_id(code, SHA_A) != before


def test_s3_models_require_their_checksum_and_release_id(default_template):
    rule = default_template["Rules"]["S3ModelNeedsItsChecksum"]
    asserted = json.dumps(rule["Assertions"])

    assert '"ModelSha256"' in asserted
    assert '"ReleaseId"' in asserted


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


def _names_in_template(template: dict) -> set[str]:
    """Every ProductClassifier metric an alarm watches or the dashboard plots."""
    names = set()
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            if properties.get("Namespace") == "ProductClassifier":
                names.add(properties["MetricName"])
            for query in properties.get("Metrics", []):
                metric = query.get("MetricStat", {}).get("Metric", {})
                if metric.get("Namespace") == "ProductClassifier":
                    names.add(metric["MetricName"])
        if resource["Type"] == "AWS::CloudWatch::Dashboard":
            body = json.dumps(properties["DashboardBody"])
            names |= set(re.findall(r'MetricName=\\\\\\"(\w+)\\\\\\"', body))
    return names


EMIT_PROBE = """
import json, handler.main as m
from handler.exceptions import InferenceError
from tests.handler.test_lambda import FakeLambdaContext
event = json.load(open('events/predict_http_api.json'))
m.after_restore()
m.lambda_handler(event, FakeLambdaContext())
def broken(rows):
    raise InferenceError('injected')
m.model.predict = broken
m.lambda_handler(event, FakeLambdaContext())
"""


def test_every_metric_the_alarms_and_dashboard_name_is_emitted(default_template, model_path, aws):
    # GIVEN what the function emits over a restore, a prediction and a server error
    completed = subprocess.run(
        [sys.executable, "-c", EMIT_PROBE], cwd=ROOT, env={**os.environ, "MODEL_PATH": str(model_path)},
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    emitted = {
        metric["Name"]
        for line in completed.stdout.splitlines()
        if line.startswith('{"_aws"')
        for metric in json.loads(line)["_aws"]["CloudWatchMetrics"][0]["Metrics"]
    }
    # AND what the drift check emits
    s3, cloudwatch = aws
    _record_predictions(cloudwatch, {"Fridges": 700, "TVs": 300})
    check_drift(_config(), cloudwatch=cloudwatch, s3=s3, now=NOW)
    emitted |= {metric["MetricName"] for metric in cloudwatch.list_metrics(Namespace="ProductClassifier")["Metrics"]}

    # THEN every name the template watches is among them
    named = _names_in_template(default_template)
    assert {"LowConfidencePredictions", "BatchSize", "InferenceLatency", "ClassMixPsi", "Restored"} <= named
    assert named <= emitted, f"named in template.yaml but never emitted: {named - emitted}"
