"""Captured lines travel as the template wires them, on moto: the function's log group → a subscription filter →
Firehose → S3; `make review-queue` and `make compare` then read them from the bucket (pyarrow, over HTTP)."""

from __future__ import annotations

import json
import time

import boto3

from training.feedback.capture import read_capture

RECORD = {
    "capture": 1, "time": "2026-12-03T10:00:00.000Z", "request_id": "r1", "model_version": "v1", "listing_id": "l1",
    "inputs": {"title": "acme tv 55", "brand": "acme"}, "label": "TVs", "confidence": 0.9,
    "top_k": [{"label": "TVs", "probability": 0.9}], "path": [],
}  # fmt: skip


def test_capture_lines_reach_the_bucket_and_read_back_as_listings(moto_server):
    # A session of its own: boto3's default one would keep these test credentials for later tests.
    session = boto3.session.Session()
    s3, logs = session.client("s3"), session.client("logs")
    firehose, iam = session.client("firehose"), session.client("iam")
    s3.create_bucket(Bucket="capture")
    role = iam.create_role(RoleName="delivery", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    stream = firehose.create_delivery_stream(
        DeliveryStreamName="capture",
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={"BucketARN": "arn:aws:s3:::capture", "RoleARN": role,
                                            "Prefix": "capture/", "CompressionFormat": "GZIP"},
    )["DeliveryStreamARN"]  # fmt: skip
    logs.create_log_group(logGroupName="/aws/lambda/classifier")
    logs.create_log_stream(logGroupName="/aws/lambda/classifier", logStreamName="s")
    logs.put_subscription_filter(logGroupName="/aws/lambda/classifier", filterName="capture",
                                 filterPattern="{ $.capture = 1 }", destinationArn=stream, roleArn=role)  # fmt: skip

    now = int(time.time() * 1000)
    logs.put_log_events(logGroupName="/aws/lambda/classifier", logStreamName="s", logEvents=[
        {"timestamp": now, "message": json.dumps(RECORD)},
        {"timestamp": now, "message": '{"level": "INFO", "message": "predicted"}'},
    ])  # fmt: skip

    assert s3.list_objects_v2(Bucket="capture", Prefix="capture/")["KeyCount"] >= 1
    captured = read_capture("s3://capture/capture/")
    assert list(captured.frame["title"]) == ["acme tv 55"]
    assert list(captured.frame["model_label"]) == ["TVs"]
