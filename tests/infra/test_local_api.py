"""The built function behind the local API (`make build` + `make start-api`): real HTTP, no Docker.

Builds the function once with a small model into a temporary folder (so a developer's own build is left
alone), starts the Lambda Runtime Interface Emulator behind SAM's API Gateway translation on 127.0.0.1,
and sends real requests.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from infra.smoke import call, run_smoke
from tests.conftest import make_command

ROOT = Path(__file__).resolve().parents[2]
TOOLS_PYTHON = ROOT / ".venv-tools" / "bin" / "python"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(tmp_path_factory, model_path) -> Path:
    if not TOOLS_PYTHON.exists():
        pytest.skip("the tools environment is missing: run `make tools` (make test does)")
    stage = tmp_path_factory.mktemp("stage")
    build_dir = stage / "sam-build"
    completed = subprocess.run(
        make_command("build", f"MODEL={model_path}", f"STAGE_ROOT={stage}", f"SAM_BUILD_DIR={build_dir}",
                     "TARGET_PRECISION=0.99", "CAPTURE_SAMPLE_RATE=0"),
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "MB unzipped (limit 250 MB" in completed.stdout
    return build_dir


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _local_api(build_dir: Path, port: int, release: Path | None = None) -> list[str]:
    release = release or build_dir.parent / "build" / "release.json"
    return [str(TOOLS_PYTHON), "-m", "infra.local_api", "--port", str(port), "--build-dir", str(build_dir),
            "--release", str(release)]  # fmt: skip


def _start(build_dir: Path, log: Path, release: Path | None = None) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    process = subprocess.Popen(
        _local_api(build_dir, port, release),
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=log.open("w"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):  # bounded: 60 s at most
        if process.poll() is not None:
            pytest.fail(f"local API exited: {log.read_text()[-2000:]}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return process, url
        time.sleep(0.5)
    os.killpg(process.pid, signal.SIGTERM)
    pytest.fail(f"local API did not listen within 60 s: {log.read_text()[-2000:]}")


def _stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=20)


@pytest.fixture(scope="module")
def api(built, tmp_path_factory):
    process, url = _start(built, tmp_path_factory.mktemp("logs") / "api.log")
    yield url
    _stop(process)


def test_built_artifact_holds_only_runtime_code_and_the_model(built):
    function = built / "ProductClassifierFunction"

    assert (function / "handler" / "model.onnx").is_file()
    assert (function / "onnxruntime").is_dir()
    expected = json.loads((built / "PreTrafficHookFunction" / "pre_traffic" / "expected.json").read_text())
    assert expected["model_version"] == "test-synthetic-1"
    assert expected["golden_examples"]
    for heavy in ("pandas", "sklearn", "lightgbm", "mlflow", "training", "tests", "scipy"):
        assert not (function / heavy).exists(), heavy


def test_smoke_checks_pass_against_the_local_api(api):
    lines = run_smoke(api, "test-synthetic-1")

    assert len(lines) == 5


def test_the_local_api_serves_the_builds_target_precision_not_the_templates_default(api):
    status, answer = call(f"{api}/predict", "POST", {"title": "acme smartphone x100 128gb"})

    assert status == 200
    assert answer["target_precision"] == 0.99


def test_a_build_for_another_architecture_is_refused_in_one_line(built, tmp_path):
    here = json.loads((built.parent / "build" / "release.json").read_text())["architecture"]
    other = "x86_64" if platform.machine() in {"aarch64", "arm64"} else "arm64"
    release = json.loads((built.parent / "build" / "release.json").read_text()) | {"architecture": other}
    (tmp_path / "release.json").write_text(json.dumps(release))

    completed = subprocess.run(
        _local_api(built, _free_port(), tmp_path / "release.json"), cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip

    assert completed.returncode == 1
    assert completed.stderr.strip().splitlines() == [
        f"error: the build is for {other} and this machine is {here}: its compiled dependencies cannot run here; "
        f"`make build ARCH={here}` to try it locally"
    ]


def test_single_batch_health_and_bad_input_over_http(api):
    status, answer = call(f"{api}/predict?top_k=3", "POST", {"title": "acme smartphone x100 128gb", "price": 599.0})
    assert status == 200
    assert len(answer["top_k"]) == 3

    status, batch = call(f"{api}/predict/batch", "POST", {"items": [{"title": "tv"}, {"title": "washer"}]})
    assert status == 200
    assert len(batch["predictions"]) == 2

    assert call(f"{api}/predict/batch", "POST", {"items": []})[0] == 422
    assert call(f"{api}/predict", "POST", {"price": -1})[0] == 422
    assert call(f"{api}/health")[1]["model_loaded"] is True


# Not here: a body that is not UTF-8, which SAM's local gateway itself cannot turn into an event (it answers
# 502 before the function runs); tests/handler/test_lambda.py sends one through the Lambda entry instead.
NASTY_BODIES = [
    (b"{not json", "application/json", 422),
    (b'{"title": ' + b"[" * 20_000 + b"]" * 20_000 + b"}", "application/json", 400),
    (b'{"title": "tv", "price": ' + b"9" * 5_000 + b"}", "application/json", 400),
    (b'{"title": "tv", "price": 1e39}', "application/json", 422),
    (b'{"title": "tv"}', "application/jsonx", 415),
    (b'{"title": "tv"}', ";;;==json", 415),
    (json.dumps({"title": "tv"} | {f"k{i}": 0 for i in range(20_000)}).encode(), "application/json", 422),
    (b'{"title": "' + b"x" * 600_000 + b'"}', "application/json", 413),
]


@pytest.mark.parametrize(("body", "content_type", "status"), NASTY_BODIES, ids=range(len(NASTY_BODIES)))
def test_nasty_bodies_over_real_http_are_small_client_errors(api, body, content_type, status):
    request = urllib.request.Request(f"{api}/predict", data=body, method="POST", headers={"content-type": content_type})
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=30)

    assert raised.value.code == status
    answer = raised.value.read()
    assert len(answer) < 10_000
    assert "error" in json.loads(answer)


def test_init_failure_is_an_error_not_a_200(built, tmp_path):
    # GIVEN a copy of the built function whose model file is corrupt
    broken = tmp_path / "sam-build"
    shutil.copytree(built, broken, symlinks=True)
    (broken / "ProductClassifierFunction" / "handler" / "model.onnx").write_bytes(b"corrupt")

    # WHEN the local API serves it
    process, url = _start(broken, tmp_path / "api.log", built.parent / "build" / "release.json")
    try:
        status, body = call(f"{url}/health")
    finally:
        _stop(process)

    # THEN it fails as an HTTP API reports a failed function (500), and the log names the problem
    assert status == 500
    assert body == {"message": "Internal server error"}
    assert "model load failed" in (tmp_path / "api.log").read_text()


def test_a_build_serving_an_s3_model_starts_with_lambdas_boto3_and_the_callers_credentials(
    built, tmp_path, moto_server
):
    # GIVEN a copy of the built function pinned, as `make build MODEL_URI=` pins it, to its model in a (local) S3 bucket
    import boto3

    served = tmp_path / "sam-build"
    shutil.copytree(built, served, symlinks=True)
    handler = served / "ProductClassifierFunction" / "handler"
    model = (handler / "model.onnx").read_bytes()
    s3 = boto3.session.Session().client("s3")  # not boto3's default session, which would keep moto's credentials
    s3.create_bucket(Bucket="models")
    s3.put_object(Bucket="models", Key="m/model.onnx", Body=model)
    pinned = json.loads((handler / "served_model.json").read_text())
    pinned |= {"model_s3_uri": "s3://models/m/model.onnx", "model_sha256": hashlib.sha256(model).hexdigest()}
    (handler / "served_model.json").write_text(json.dumps(pinned))
    (handler / "model.onnx").unlink()

    # WHEN the local API serves it (the endpoint and credentials are the caller's: moto_server's)
    process, url = _start(served, tmp_path / "api.log", built.parent / "build" / "release.json")
    try:
        status, body = call(f"{url}/health")
    finally:
        _stop(process)

    # THEN the function fetched the model with the boto3 Lambda's runtime provides, and serves it
    assert status == 200, (tmp_path / "api.log").read_text()[-2000:]
    assert body["status"] == "ok"


def test_the_function_gets_credentials_the_caller_keeps_in_a_profile(tmp_path):
    if not TOOLS_PYTHON.exists():
        pytest.skip("the tools environment is missing: run `make tools` (make test does)")
    (tmp_path / "credentials").write_text("[shop]\naws_access_key_id = AKIDSHOP\naws_secret_access_key = secret\n")
    environment = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "AWS_PROFILE": "shop",
                   "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
                   "AWS_CONFIG_FILE": str(tmp_path / "no-config")}  # fmt: skip

    completed = subprocess.run(
        [str(TOOLS_PYTHON), "-c", "import json, infra.local_api as api; print(json.dumps(api.caller_credentials()))"],
        cwd=ROOT, env=environment, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip

    assert completed.returncode == 0, completed.stderr[-2000:]
    assert json.loads(completed.stdout) == {"AWS_ACCESS_KEY_ID": "AKIDSHOP", "AWS_SECRET_ACCESS_KEY": "secret"}
