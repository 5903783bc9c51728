"""The PreTraffic hook against the function's real Lambda entry, with CodeDeploy stubbed by botocore's Stubber.

moto does not implement `put_lifecycle_event_hook_execution_status`; the Stubber checks the exact call.
"""

from __future__ import annotations

import io
import json
import logging
import socket

import boto3
import onnx
import pytest
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from mangum import Mangum

from handler.app import create_app
from handler.model import Model, load_model
from handler.settings import Settings
from pre_traffic.app import HookConfig, handle, lambda_invoker
from tests.handler.test_lambda import FakeLambdaContext

EVENT = {"DeploymentId": "d-ABCDEF123", "LifecycleEventHookExecutionId": "hook-execution-1"}
VERSION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:product-classifier:7"


def _codedeploy(status):
    client = boto3.client("codedeploy", region_name="us-east-1")
    stubber = Stubber(client)
    expected = {
        "deploymentId": EVENT["DeploymentId"],
        "lifecycleEventHookExecutionId": EVENT["LifecycleEventHookExecutionId"],
    }
    stubber.add_response(
        "put_lifecycle_event_hook_execution_status",
        {"lifecycleEventHookExecutionId": "hook-execution-1"},
        expected | {"status": status},
    )
    stubber.activate()
    return client, stubber


def _config(expected_version=None):
    return HookConfig(
        function_version_arn=VERSION_ARN, expected_model_version=expected_version, latency_budget_ms=5_000
    )


def test_a_good_build_succeeds(handler_main):
    client, stubber = _codedeploy("Succeeded")

    def invoke(event):
        return handler_main.lambda_handler(event, FakeLambdaContext())

    result = handle(EVENT, invoke=invoke, codedeploy=client, config=_config("test-synthetic-1"))

    assert result == {"status": "Succeeded", "failures": []}
    stubber.assert_no_pending_responses()


def test_an_unexpected_model_version_fails(handler_main):
    client, stubber = _codedeploy("Failed")

    result = handle(
        EVENT,
        invoke=lambda event: handler_main.lambda_handler(event, FakeLambdaContext()),
        codedeploy=client,
        config=_config("another-version"),
    )

    assert result["failures"] == ["GET /health serves model test-synthetic-1, expected another-version"]
    stubber.assert_no_pending_responses()


def test_a_build_whose_model_disagrees_with_its_golden_examples_fails(model_path, tmp_path):
    # GIVEN a build serving this graph under metadata whose golden answers are another model's
    model = onnx.load(model_path)
    entry = next(e for e in model.metadata_props if e.key == "product_classifier")
    metadata = json.loads(entry.value)
    for example in metadata["golden_examples"]:
        example["probabilities"] = example["probabilities"][1:] + example["probabilities"][:1]
    entry.value = json.dumps(metadata)
    onnx.save(model, tmp_path / "model.onnx")
    settings = Settings(model_path=tmp_path / "model.onnx")
    loaded = load_model(Settings(model_path=model_path))
    mismatched = Model(loaded.session, metadata, chunk=64, load_seconds=0.0)  # skips the load-time self-check
    entry_point = Mangum(create_app(mismatched, settings), lifespan="off")
    client, stubber = _codedeploy("Failed")

    # WHEN the hook checks it
    result = handle(EVENT, invoke=lambda event: entry_point(event, None), codedeploy=client, config=_config())

    # THEN it fails on the golden examples and says which
    assert result["status"] == "Failed"
    assert any(failure.startswith("golden example") for failure in result["failures"])
    stubber.assert_no_pending_responses()


def test_a_function_that_fails_to_start_fails():
    lambda_client = boto3.client("lambda", region_name="us-east-1")
    lambda_stub = Stubber(lambda_client)
    crash = json.dumps(
        {"errorType": "Runtime.ExitError", "errorMessage": "RequestId: 1 Error: Runtime exited"}
    ).encode()
    lambda_stub.add_response(
        "invoke",
        {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": StreamingBody(io.BytesIO(crash), len(crash))},
        {"FunctionName": VERSION_ARN, "Payload": ANY},
    )
    lambda_stub.activate()
    client, stubber = _codedeploy("Failed")

    result = handle(EVENT, invoke=lambda_invoker(VERSION_ARN, lambda_client), codedeploy=client, config=_config())

    assert result["status"] == "Failed"
    assert "Runtime.ExitError" in result["failures"][0]
    stubber.assert_no_pending_responses()


def test_unreachable_codedeploy_is_logged_and_fails_closed(handler_main, caplog):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    codedeploy = boto3.client(
        "codedeploy",
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=1),
    )

    with caplog.at_level(logging.ERROR), pytest.raises(EndpointConnectionError):
        handle(
            EVENT,
            invoke=lambda event: handler_main.lambda_handler(event, FakeLambdaContext()),
            codedeploy=codedeploy,
            config=_config(),
        )
    assert "could not report the verdict to CodeDeploy" in caplog.text
