"""`make local-s3`: moto_server on 127.0.0.1 with a bucket, so the README's publish line works as written."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from infra.exceptions import InfraError
from infra.local_s3 import create_bucket, wait_for_endpoint

ROOT = Path(__file__).resolve().parents[2]


def test_create_bucket_is_idempotent():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")

        create_bucket(client, "local")
        create_bucket(client, "local")

        assert [b["Name"] for b in client.list_buckets()["Buckets"]] == ["local"]


def test_wait_for_endpoint_names_the_endpoint_when_nothing_answers():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, never listening: connections are refused

        with pytest.raises(InfraError, match=rf"no S3 endpoint answers at http://127.0.0.1:{port}"):
            wait_for_endpoint(f"http://127.0.0.1:{port}", timeout=0.3)


def _make(*arguments: str) -> subprocess.CompletedProcess[str]:
    # This interpreter's venv, marked up to date (-o) so make never reinstalls it from inside a test.
    venv = sys.prefix
    return subprocess.run(
        ["make", "--no-print-directory", *arguments, f"VENV={venv}", "-o", f"{venv}/.installed"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_make_local_s3_serves_a_bucket_publish_can_use(tmp_path):
    # GIVEN a free port
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # WHEN make local-s3 starts moto_server there
    started = _make("local-s3", f"LOCAL_S3_PORT={port}", "BUCKET=readme-bucket", f"LOCAL_S3={tmp_path}")
    try:
        # THEN the bucket exists, reachable with the dummy credentials the printed publish line passes
        assert started.returncode == 0, started.stderr
        line = f"AWS_ENDPOINT_URL=http://127.0.0.1:{port} AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test"
        assert f"{line} make publish BUCKET=readme-bucket" in started.stdout
        client = boto3.client(
            "s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
            aws_access_key_id="test", aws_secret_access_key="test",
        )  # fmt: skip
        assert "readme-bucket" in [b["Name"] for b in client.list_buckets()["Buckets"]]
    finally:
        stopped = _make("stop-local-s3", f"LOCAL_S3={tmp_path}")
    assert "stopped moto_server" in stopped.stdout


def test_cli_creates_the_bucket_and_prints_the_publish_line(moto_server):
    from typer.testing import CliRunner

    from infra.local_s3 import app

    result = CliRunner().invoke(app, ["--endpoint", moto_server, "--bucket", "cli-bucket"])

    assert result.exit_code == 0, result.output
    assert f"AWS_ENDPOINT_URL={moto_server} AWS_ACCESS_KEY_ID=test" in result.output
    assert "make publish BUCKET=cli-bucket" in result.output


def test_cli_names_an_endpoint_that_does_not_answer(monkeypatch):
    from typer.testing import CliRunner

    import infra.local_s3
    from infra.local_s3 import app

    def refuse(endpoint: str, *, timeout: float = 15.0, log: str = "") -> None:
        raise InfraError(f"no S3 endpoint answers at {endpoint}")

    monkeypatch.setattr(infra.local_s3, "wait_for_endpoint", refuse)

    result = CliRunner().invoke(app, ["--endpoint", "http://127.0.0.1:9"])

    assert result.exit_code == 1
    assert "no S3 endpoint answers at http://127.0.0.1:9" in result.output


def test_stop_local_s3_never_kills_a_process_a_stale_pid_file_names(tmp_path):
    # GIVEN a pid file left from an earlier moto_server, whose pid another process has since
    other = subprocess.Popen(["sleep", "30"])
    (tmp_path / "pid").write_text(str(other.pid))
    try:
        stopped = _make("stop-local-s3", f"LOCAL_S3={tmp_path}")

        # THEN that process lives, and the stale file is gone
        assert other.poll() is None
        assert "no local S3 running" in stopped.stdout
        assert not (tmp_path / "pid").exists()
    finally:
        other.kill()
        other.wait()
