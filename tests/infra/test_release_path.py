"""The release path as SAM translates the template: what would silently fail on a real account, tested offline.

Each test names the AWS behaviour it relies on. Where that behaviour is SAM's (version naming, deployment
groups), the real translator runs; where it is CloudFormation's or CloudWatch's, the test states the
documented rule it encodes (docs/operating.md lists them).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import onnx
import pytest
import yaml

from infra.exceptions import InfraError
from infra.rollout_budget import HOOK_MINUTES, job_minutes, role_seconds, shift_minutes
from infra.stage_build import stage
from tests.infra.test_template import translate

ROOT = Path(__file__).resolve().parents[2]
SHA_A, SHA_B = "a" * 64, "b" * 64
# CloudWatch evaluates alarms once a minute; metrics written as EMF log lines (ours) reach it a minute or two
# after the invocation. An alarm needs DatapointsToAlarm breaching periods plus that delay.
METRIC_DELAY_SECONDS = 120
# Physical names CloudFormation would give a resource when the template names it; each must be unique per
# account (and region), so a literal one makes a second stack fail to create. With their length limits.
NAME_LIMITS = {
    ("AWS::Lambda::Function", "FunctionName"): 64,
    ("AWS::Logs::LogGroup", "LogGroupName"): 512,
    ("AWS::CloudWatch::Dashboard", "DashboardName"): 255,
    ("AWS::CloudWatch::Alarm", "AlarmName"): 255,
    ("AWS::Scheduler::Schedule", "Name"): 64,
    ("AWS::Events::Rule", "Name"): 64,
    ("AWS::SNS::Topic", "TopicName"): 256,
    ("AWS::IAM::Role", "RoleName"): 64,
    ("AWS::CodeDeploy::Application", "ApplicationName"): 100,
    ("AWS::CodeDeploy::DeploymentGroup", "DeploymentGroupName"): 100,
}
LONGEST_STACK = "s" * 128  # CloudFormation's limit for a stack name


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> dict:
    return translate(tmp_path_factory.mktemp("cfn"))


def allowed_deployment_types() -> list[str]:
    """The DeploymentType values template.yaml allows (its intrinsic tags ignored: none is involved)."""
    loader = type("TagTolerantLoader", (yaml.SafeLoader,), {})
    loader.add_multi_constructor("!", lambda _loader, _suffix, _node: None)
    return yaml.load((ROOT / "template.yaml").read_text(), Loader=loader)["Parameters"]["DeploymentType"][
        "AllowedValues"
    ]


def package_uri(folder: Path) -> str:
    """Where `sam package` uploads a folder: a key named by the hash of its zipped content."""
    digest = hashlib.md5(usedforsecurity=False)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode())
        digest.update(path.read_bytes())
    return f"s3://sam-artifacts/{digest.hexdigest()}"


def version_ids(template: dict) -> set[str]:
    return {
        name
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Version" and name.startswith("ProductClassifierFunctionVersion")
    }


def built(
    tmp_path: Path, model: Path, name: str, model_uri: str = "", target_precision: float = 0.98,
    capture_sample_rate: float = 1.0,
) -> tuple[dict[str, str], dict[str, str]]:  # fmt: skip
    """Stage a build as `make build` does; the code locations and stack parameters `make deploy` would use."""
    out = tmp_path / name
    release = stage(model, out, architecture="x86_64", model_uri=model_uri, target_precision=target_precision,
                    capture_sample_rate=capture_sample_rate)  # fmt: skip
    uris = {"ProductClassifierFunction": package_uri(out / "function")}
    return uris, dict(entry.split("=", 1) for entry in release.parameter_overrides())


# --- 1. what is served is part of the package: a new model always publishes a version -------------------


def test_another_target_precision_publishes_a_new_version(tmp_path, model_path):
    # GIVEN one model built for the default target precision and for another of its operating points
    default, stricter = built(tmp_path, model_path, "t98"), built(tmp_path, model_path, "t99", target_precision=0.99)

    # THEN the builds pin different targets, so SAM publishes another version (the canary runs), and the stack gets
    # the same target as its parameter
    assert version_ids(translate(tmp_path, default[0], **default[1])) != version_ids(
        translate(tmp_path, stricter[0], **stricter[1])
    )
    assert (default[1]["TargetPrecision"], stricter[1]["TargetPrecision"]) == ("0.98", "0.99")


def test_another_capture_rate_publishes_a_new_version_and_reaches_the_stack(tmp_path, model_path):
    every, tenth = built(tmp_path, model_path, "c1"), built(tmp_path, model_path, "c01", capture_sample_rate=0.1)

    assert version_ids(translate(tmp_path, every[0], **every[1])) != version_ids(
        translate(tmp_path, tenth[0], **tenth[1])
    )
    assert (every[1]["CaptureSampleRate"], tenth[1]["CaptureSampleRate"]) == ("1", "0.1")
    with pytest.raises(InfraError, match="CAPTURE_SAMPLE_RATE must be from 0"):
        built(tmp_path, model_path, "bad", capture_sample_rate=1.5)


def test_a_target_precision_the_model_did_not_record_fails_the_build(tmp_path, model_path):
    with pytest.raises(
        InfraError, match=r"TARGET_PRECISION 0.9 is not one of .* operating points \[0.95, 0.98, 0.99\]"
    ):
        built(tmp_path, model_path, "t90", target_precision=0.9)


def test_a_target_within_the_functions_rounding_is_released_as_the_models_own_point(tmp_path, model_path):
    # 0.980000001 is 0.98 to the function; the template's TargetPrecision allows "0.98" as written, nothing else
    assert built(tmp_path, model_path, "near", target_precision=0.980000001)[1]["TargetPrecision"] == "0.98"


@pytest.mark.parametrize(
    "uri",
    ["s3://models/my models/model.onnx", 's3://models/pc"v2/model.onnx', "s3://models/m.onnx?versionId=3", "s3://models/m.onnx#v1",
     "s3://user:pw@models/m.onnx", "s3://Bkt_Bad!/m.onnx", "s3://models/", "https://models/m.onnx"],
)  # fmt: skip
def test_a_model_uri_deploy_could_not_pass_on_or_s3_could_not_name_fails_the_build(tmp_path, model_path, uri):
    with pytest.raises(InfraError, match=r"MODEL_URI must look like s3://bucket/key/model\.onnx"):
        built(tmp_path, model_path, "odd", uri)


def test_a_published_key_of_another_version_than_the_models_fails_the_build(tmp_path, model_path):
    # GIVEN the model's own version, and the key `make publish` writes each version under
    props = {prop.key: prop.value for prop in onnx.load_model(str(model_path)).metadata_props}
    version = json.loads(props["product_classifier"])["model_version"]

    # THEN a rollback's MODEL_URI without that version's MODEL= fails the build, not the function's start
    with pytest.raises(
        InfraError,
        match=rf"MODEL_URI names model version 20200101\.000000-0badc0de, but MODEL "
        rf".* is version {re.escape(version)}: pass MODEL= that version's model.onnx",
    ):
        built(tmp_path, model_path, "other", "s3://models/p/models/20200101.000000-0badc0de/model.onnx")
    assert built(tmp_path, model_path, "own", f"s3://models/p/models/{version}/model.onnx")[1]["ModelKey"] == (
        f"p/models/{version}/model.onnx"
    )


def test_a_new_s3_model_publishes_a_new_version_and_the_same_build_the_same(tmp_path, model_path):
    # GIVEN the same code built twice for one S3 model and once for another (all other parameters kept)
    first = built(tmp_path, model_path, "one", "s3://models/p/v1/model.onnx")
    second = built(tmp_path, model_path, "two", "s3://models/p/v2/model.onnx")
    again = built(tmp_path, model_path, "again", "s3://models/p/v1/model.onnx")

    # WHEN SAM translates each (a plain `sam deploy` keeping every other parameter)
    one = translate(tmp_path, first[0], **first[1])
    two = translate(tmp_path, second[0], **second[1])
    same = translate(tmp_path, again[0], **again[1])

    # THEN another model is another version; the same build is the same version
    assert version_ids(one) != version_ids(two)
    assert version_ids(one) == version_ids(same)


def test_the_same_key_with_other_bytes_is_another_version(tmp_path, model_path):
    bundled = built(tmp_path, model_path, "bundled")
    graph = onnx.load_model(str(model_path))
    graph.doc_string = "retrained"  # other bytes, hence another checksum, published under the same key
    other_model = tmp_path / "other.onnx"
    onnx.save_model(graph, str(other_model))
    uri = "s3://models/p/v1/model.onnx"
    pinned_a, pinned_b = built(tmp_path, model_path, "a", uri), built(tmp_path, other_model, "b", uri)

    assert pinned_a[0] != pinned_b[0]
    assert bundled[0] != pinned_a[0]


def test_no_parameter_reaches_the_served_function_unhashed(template):
    # SAM hashes parameter values only inside the code location; any other property fed by a parameter could
    # change $LATEST without publishing a version (so the live alias would keep the old behaviour).
    function = template["Resources"]["ProductClassifierFunction"]["Properties"]
    parameters = set(template["Parameters"])
    refs = set(re.findall(r'"Ref": "(\w+)"', json.dumps(function)))
    subs = {
        name
        for text in re.findall(r'"Fn::Sub": "([^"]*)"', json.dumps(function))
        for name in re.findall(r"\$\{(\w+)\}", text)
    }

    # The exceptions are pinned by the build, so the package changes too: `make build ARCH=` builds the wheels for
    # the architecture, `make build TARGET_PRECISION= CAPTURE_SAMPLE_RATE=` write both into served_model.json.
    # ReservedConcurrency is the function's, not a version's: Lambda applies it to every version at once.
    assert (refs | subs) & parameters == {"Architecture", "TargetPrecision", "CaptureSampleRate", "ReservedConcurrency"}


def test_deploy_takes_the_stack_parameters_from_the_build(tmp_path, model_path):
    _, parameters = built(tmp_path, model_path, "s3", "s3://models/p/v1/model.onnx")

    assert parameters == {"Architecture": "x86_64", "ModelBucket": "models", "ModelKey": "p/v1/model.onnx",
                          "TargetPrecision": "0.98", "CaptureSampleRate": "1"}  # fmt: skip


def test_a_bundled_model_passes_no_empty_override(tmp_path, model_path):
    # SAM CLI refuses `ModelBucket=` ("is not a valid format"): a bundled model leaves the S3 parameters at their
    # defaults (empty: no S3 model) instead of passing them empty
    _, parameters = built(tmp_path, model_path, "bundled")

    assert parameters == {"Architecture": "x86_64", "TargetPrecision": "0.98", "CaptureSampleRate": "1"}
    assert all(value for value in parameters.values())


def test_an_s3_model_needs_its_key_and_a_key_its_bucket(template):
    rules = json.dumps(template["Rules"])

    assert '"ModelKey"' in json.dumps(template["Rules"]["S3ModelNeedsItsKey"]["Assertions"])
    assert '"ModelBucket"' in json.dumps(template["Rules"]["ModelKeyNeedsItsBucket"]["Assertions"])
    assert "ModelSha256" not in rules
    assert "ReleaseId" not in rules


# --- 2. every rollback alarm can fire while CodeDeploy still watches ---------------------------------------


def seconds_to_alarm(alarm: dict) -> int:
    """Shortest time from the first bad request to ALARM: breaching periods needed, plus the metric delay."""
    periods = [alarm.get("Period", 0)] + [
        query["MetricStat"]["Period"] for query in alarm.get("Metrics", []) if "MetricStat" in query
    ]
    needed = alarm.get("DatapointsToAlarm", alarm["EvaluationPeriods"])
    return max(periods) * needed + METRIC_DELAY_SECONDS


@pytest.mark.parametrize("deployment_type", allowed_deployment_types())
def test_every_rollback_alarm_can_fire_within_each_allowed_deployment(tmp_path, deployment_type):
    template = translate(tmp_path, DeploymentType=deployment_type)
    resources = template["Resources"]
    group = resources["ProductClassifierFunctionDeploymentGroup"]["Properties"]
    config = group["DeploymentConfigName"]["Fn::Sub"][1]["ConfigName"]
    window = shift_minutes(config) * 60

    slow = {
        alarm["Name"]["Ref"]: seconds_to_alarm(resources[alarm["Name"]["Ref"]]["Properties"])
        for alarm in group["AlarmConfiguration"]["Alarms"]
    }

    assert config == deployment_type
    assert {name: s for name, s in slow.items() if s > window} == {}, f"{deployment_type} watches for {window} s"


@pytest.mark.parametrize("deployment_type", allowed_deployment_types())
def test_the_drift_monitor_leaves_out_each_allowed_deployments_traffic_shift(tmp_path, deployment_type):
    # GIVEN the stack deployed with each allowed DeploymentType
    template = translate(tmp_path, DeploymentType=deployment_type)

    # WHEN the drift monitor's TRAFFIC_SHIFT_MINUTES is looked up as CloudFormation would (by DeploymentType)
    variables = template["Resources"]["DriftMonitorFunction"]["Properties"]["Environment"]["Variables"]
    table, key, field = variables["TRAFFIC_SHIFT_MINUTES"]["Fn::FindInMap"]
    assert key == {"Ref": "DeploymentType"}
    minutes = int(template["Mappings"][table][deployment_type][field])

    # THEN it spans at least the pre-traffic hook and the whole shift, when the old version still took traffic
    assert minutes >= HOOK_MINUTES + shift_minutes(deployment_type)


def test_all_at_once_is_not_allowed_as_no_alarm_could_act():
    assert "AllAtOnce" not in allowed_deployment_types()
    with pytest.raises(ValueError, match="AllAtOnce"):
        shift_minutes("AllAtOnce")


@pytest.mark.parametrize("deployment_type", allowed_deployment_types())
def test_the_deploy_job_and_its_credentials_outlast_the_rollout(deployment_type):
    rollout_minutes = HOOK_MINUTES + shift_minutes(deployment_type)

    assert job_minutes(deployment_type) > rollout_minutes + 30
    assert role_seconds(deployment_type) >= job_minutes(deployment_type) * 60


# --- 3. every alarm notifies someone -----------------------------------------------------------------------


def test_every_alarm_notifies_the_topic_on_alarm_and_on_ok(template):
    topic = {"Fn::If": ["CreateAlarmTopic", {"Ref": "AlarmTopic"}, {"Ref": "AlarmTopicArn"}]}
    alarms = {
        name: r["Properties"] for name, r in template["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"
    }

    assert len(alarms) >= 9
    for name, alarm in alarms.items():
        assert alarm.get("AlarmActions") == [topic], name
        assert alarm.get("OKActions") == [topic], name


def test_an_email_subscription_is_created_only_with_a_created_topic(template):
    resources = template["Resources"]

    assert resources["AlarmTopic"]["Condition"] == "CreateAlarmTopic"
    assert resources["AlarmEmailSubscription"]["Condition"] == "SubscribeAlarmEmail"
    assert template["Conditions"]["SubscribeAlarmEmail"]["Fn::And"][0] == {"Condition": "CreateAlarmTopic"}


# --- 4/5. two stacks side by side: no shared names or metrics, and names fit any stack name ----------------


def resolve(value: Any, stack: str, template: dict) -> Any:
    """Substitute what differs between stacks: the stack name, and resources' physical ids and ARNs."""
    if isinstance(value, list):
        return [resolve(item, stack, template) for item in value]
    if not isinstance(value, dict):
        return value
    if "Ref" in value:
        return stack if value["Ref"] == "AWS::StackName" else _physical(value["Ref"], stack, template)
    if "Fn::GetAtt" in value:
        return _physical(str(value["Fn::GetAtt"][0]), stack, template)
    if "Fn::Sub" in value:
        text, variables = (value["Fn::Sub"], {}) if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"]
        variables = {key: resolve(item, stack, template) for key, item in variables.items()}
        return re.sub(
            r"\$\{([\w:.]+)\}",
            lambda m: str(
                variables.get(m[1])
                or (stack if m[1] == "AWS::StackName" else _physical(m[1].split(".")[0], stack, template))
            ),
            text,
        )
    if "Fn::If" in value:
        return resolve(value["Fn::If"][1], stack, template)
    return {key: resolve(item, stack, template) for key, item in value.items()}


def _physical(name: str, stack: str, template: dict) -> str:
    """A resource's generated physical name (CloudFormation: stack name, logical id, random suffix)."""
    if name in template["Parameters"] or name.startswith("AWS::"):
        return f"<{name}>"
    return f"{stack}-{name}-1A2B3C4D5E6F"[:64]


def literal_names(template: dict, stack: str) -> dict[str, str]:
    return {
        f"{logical}.{key}": resolve(resource["Properties"][key], stack, template)
        for logical, resource in template["Resources"].items()
        for (kind, key) in NAME_LIMITS
        if resource["Type"] == kind and key in resource.get("Properties", {})
    }


def metric_identities(template: dict, stack: str) -> set[str]:
    """Every metric an alarm reads, as namespace + name + dimensions, resolved for one stack."""
    identities = set()
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        properties = resource["Properties"]
        metrics = [query["MetricStat"]["Metric"] for query in properties.get("Metrics", []) if "MetricStat" in query]
        metrics += [properties] if "MetricName" in properties else []
        for metric in metrics:
            identities.add(
                json.dumps(
                    resolve({k: metric.get(k) for k in ("Namespace", "MetricName", "Dimensions")}, stack, template),
                    sort_keys=True,
                )
            )
    return identities


def test_two_stacks_share_no_physical_name_and_no_metric(template):
    staging, production = literal_names(template, "staging"), literal_names(template, "production")

    assert {key: value for key, value in staging.items() if production.get(key) == value} == {}
    assert metric_identities(template, "staging").isdisjoint(metric_identities(template, "production"))


def test_every_physical_name_fits_its_limit_for_the_longest_stack_name(template):
    for (kind, key), limit in NAME_LIMITS.items():
        for logical, resource in template["Resources"].items():
            if resource["Type"] == kind and key in resource.get("Properties", {}):
                name = resolve(resource["Properties"][key], LONGEST_STACK, template)
                assert len(name) <= limit, f"{logical}.{key} is {len(name)} characters for a 128-character stack"


def test_codedeploy_may_invoke_the_hook_by_arn_not_by_a_name_convention(template):
    resources = template["Resources"]
    group = resources["ProductClassifierFunctionDeploymentGroup"]["Properties"]
    role = resources["CodeDeployRole"]["Properties"]
    statements = [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]

    assert group["ServiceRoleArn"] == {"Fn::GetAtt": ["CodeDeployRole", "Arn"]}
    assert "FunctionName" not in resources["PreTrafficHookFunction"]["Properties"]
    assert statements == [
        {
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": {"Fn::GetAtt": ["PreTrafficHookFunction", "Arn"]},
        }
    ]


# --- 12. SnapStart's first init logs into a group that exists ----------------------------------------------


def test_each_function_logs_to_its_own_group_created_first(template):
    resources = template["Resources"]
    for function, group in (
        ("ProductClassifierFunction", "ProductClassifierLogGroup"),
        ("PreTrafficHookFunction", "PreTrafficHookLogGroup"),
        ("DriftMonitorFunction", "DriftMonitorLogGroup"),
    ):
        assert resources[function]["Properties"]["LoggingConfig"]["LogGroup"] == {"Ref": group}
        assert "LogGroupName" not in resources[group]["Properties"]
