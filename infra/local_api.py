"""`make start-api`: serve the *built* function like `sam local start-api`, without Docker.

The function runs in its own process under the official Lambda Runtime Interface Emulator (the binary the
aws-sam-cli wheel ships) with the `awslambdaric` runtime client, seeing only its build folder, the standard library
and the boto3 Lambda's runtime provides, as in Lambda, and the caller's AWS credentials (and AWS_ENDPOINT_URL), as
`sam local start-api` passes them. HTTP requests are turned into API Gateway events, and the function's
answers back into HTTP responses, by SAM's own local API Gateway service, so routing, event shape and
error handling (a failed init becomes a 500, as an HTTP API answers) are those of `sam local start-api`.

Runs with the tools environment's Python (`.venv-tools`), which has aws-sam-cli; binds 127.0.0.1 only. The template's
parameters are the build's (`release.json`: target precision, capture rate, S3 model), as `make deploy` passes them,
so the local function serves what the deployed one will; a build for another architecture than this machine's is
refused, since its compiled wheels cannot run here.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import boto3
from samcli.lib.providers.api_provider import ApiProvider
from samcli.lib.providers.sam_function_provider import SamFunctionProvider
from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider
from samcli.lib.utils.stream_writer import StreamWriter
from samcli.local.apigw.local_apigw_service import LocalApigwService

from infra.exceptions import InfraError
from infra.release import read_release

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / ".aws-sam" / "build"
RUNTIME_CLIENT = ROOT / "build" / "lambda-runtime"
# The runtime client, and what Lambda's Python runtime gives every function beside it: boto3 and what it imports (the
# function fetches an S3 model with it, and ships none of its own).
RUNTIME_MODULES = (
    "awslambdaric", "runtime_client", "simplejson", "snapshot_restore_py",
    "boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3",
)  # fmt: skip
# Where the function reaches S3 when the caller set it (`make local-s3`): passed on as it is.
PASSED_AWS_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_CA_BUNDLE")
FUNCTION = "ProductClassifierFunction"
INVOKE_PATH = "/2015-03-31/functions/function/invocations"
logger = logging.getLogger(__name__)


class RieRunner:
    """Stands in for SAM's Docker-based runner: invokes the function through the emulator's HTTP endpoint."""

    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        self.timeout = timeout

    def is_debugging(self) -> bool:
        """SAM asks whether a debugger is attached; none is."""
        return False

    def invoke(
        self, function_identifier: str, event: str, stdout: StreamWriter, stderr: StreamWriter, **_: Any
    ) -> None:
        """POST the event; write the function's answer (or the emulator's error document) to stdout."""
        request = urllib.request.Request(self.url, data=event.encode(), method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                stdout.write_str(response.read().decode())
        except (urllib.error.URLError, TimeoutError) as exc:
            error = {"errorType": "EmulatorUnavailable", "errorMessage": f"{function_identifier}: {exc}"}
            stdout.write_str(json.dumps(error))


def start_function(
    function_dir: Path, environment: dict[str, str], *, port: int, api_port: int
) -> subprocess.Popen[bytes]:
    """Start the emulator with the function's handler, bound to 127.0.0.1, and wait until it listens."""
    rie = _rie_binary()
    python = _python312()
    variables = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "LAMBDA_TASK_ROOT": str(function_dir),
        "PYTHONPATH": f"{function_dir}{os.pathsep}{_runtime_client()}",
        "AWS_LAMBDA_FUNCTION_NAME": FUNCTION,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": environment.pop("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024"),
        "AWS_LAMBDA_FUNCTION_TIMEOUT": environment.pop("AWS_LAMBDA_FUNCTION_TIMEOUT", "10"),
        "AWS_REGION": os.environ.get("AWS_REGION", "us-east-1"),
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        **{name: os.environ[name] for name in PASSED_AWS_VARIABLES if os.environ.get(name)},
        **caller_credentials(),
        **environment,
    }
    # -S: no site-packages at all, so the function sees its own folder, the runtime client and the stdlib.
    command = [
        str(rie),
        "--runtime-interface-emulator-address", f"127.0.0.1:{port}",
        "--runtime-api-address", f"127.0.0.1:{api_port}",
        python, "-S", "-m", "awslambdaric", "handler.entry.lambda_handler",
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=function_dir, env=variables)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the Lambda emulator exited with code {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return process
        time.sleep(0.1)
    process.terminate()
    raise RuntimeError(f"the Lambda emulator did not listen on 127.0.0.1:{port} within 20 s")


def caller_credentials() -> dict[str, str]:
    """The caller's AWS credentials as variables, resolved as boto3 resolves them (variables, a profile, SSO, a
    credential process), as `sam local start-api` gives them to the function (Lambda gives it its role's): an S3 model
    is fetched with them. Never an instance's: nothing is asked of a metadata endpoint, off the machine."""

    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    found = boto3.session.Session().get_credentials()
    if found is None:
        return {}
    frozen = found.get_frozen_credentials()
    token = {"AWS_SESSION_TOKEN": frozen.token} if frozen.token else {}
    return {"AWS_ACCESS_KEY_ID": frozen.access_key, "AWS_SECRET_ACCESS_KEY": frozen.secret_key, **token}


def function_environment(template: Path, parameter_overrides: dict[str, str]) -> dict[str, str]:
    """The function's environment variables as the template resolves them, plus its memory and timeout."""
    stacks, _ = SamLocalStackProvider.get_stacks(str(template), parameter_overrides=parameter_overrides)
    function = SamFunctionProvider(stacks).get(FUNCTION)
    if function is None:
        raise RuntimeError(f"{template} has no {FUNCTION}")
    variables = (function.environment or {}).get("Variables", {})
    resolved = {
        name: "" if value is None else str(value) for name, value in variables.items() if not isinstance(value, dict)
    }
    resolved["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = str(function.memory or 128)
    resolved["AWS_LAMBDA_FUNCTION_TIMEOUT"] = str(function.timeout or 3)
    return resolved


def serve(*, port: int, build_dir: Path, parameter_overrides: dict[str, str]) -> None:
    """Start the function and the API on 127.0.0.1 and block until interrupted."""
    template = build_dir / "template.yaml"
    if not (build_dir / FUNCTION).is_dir():
        raise SystemExit(f"error: {build_dir / FUNCTION} not found; run `make build` first")
    rie_port, api_port = _free_port(), _free_port()
    function = start_function(
        build_dir / FUNCTION, function_environment(template, parameter_overrides), port=rie_port, api_port=api_port
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        stacks, _ = SamLocalStackProvider.get_stacks(str(template), parameter_overrides=parameter_overrides)
        api = ApiProvider(stacks, cwd=str(build_dir)).api
        runner = RieRunner(f"http://127.0.0.1:{rie_port}{INVOKE_PATH}", timeout=30)
        service = LocalApigwService(
            api=api, lambda_runner=runner, static_dir=None, port=port, host="127.0.0.1",
            stderr=StreamWriter(sys.stderr),
        )  # fmt: skip
        service.create()
        routes = sorted({f"{method} {route.path}" for route in api.routes for method in route.methods})
        print(f"Serving {FUNCTION} from {build_dir} on http://127.0.0.1:{port}: {', '.join(routes)}", flush=True)
        service.run()
    finally:
        function.terminate()
        function.wait(timeout=10)


def _runtime_client() -> Path:
    """A folder holding only what Lambda's runtime gives a function (`RUNTIME_MODULES`), copied from the tools
    environment once each."""
    RUNTIME_CLIENT.mkdir(parents=True, exist_ok=True)
    for module in RUNTIME_MODULES:
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None:
            raise RuntimeError(f"{module} is missing from the tools environment; run `make tools`")
        origin = Path(spec.origin)
        package = origin.name == "__init__.py"
        target = RUNTIME_CLIENT / (origin.parent.name if package else origin.name)
        if target.exists():
            continue
        partial = target.with_name(f".{target.name}.partial")  # renamed once whole: a copy cut short is redone
        shutil.rmtree(partial, ignore_errors=True)
        if package:
            shutil.copytree(origin.parent, partial)
        else:
            shutil.copy2(origin, partial)
        partial.rename(target)
    return RUNTIME_CLIENT


def _rie_binary() -> Path:
    """The emulator binary shipped inside the aws-sam-cli wheel, for this machine's architecture."""
    import samcli

    binary = Path(samcli.__file__).parent / "local" / "rapid" / f"aws-lambda-rie-{_host_architecture()}"
    if not binary.is_file():
        raise RuntimeError(f"{binary} not found: is aws-sam-cli installed in the tools environment (`make tools`)?")
    binary.chmod(binary.stat().st_mode | 0o111)
    return binary


def _host_architecture() -> str:
    """This machine's architecture as Lambda names it (x86_64, arm64)."""
    return "arm64" if platform.machine() in {"aarch64", "arm64"} else "x86_64"


def _python312() -> str:
    """The Python 3.12 interpreter the function runs on (the Lambda runtime's version)."""
    return subprocess.run(
        [str(ROOT / "scripts" / "find-python.sh")], capture_output=True, text=True, check=True
    ).stdout.strip()


def build_parameters(release_file: Path) -> dict[str, str]:
    """The template parameters of the build `release_file` records, as `make deploy` passes them.

    Raises:
        InfraError: No build, or one for another architecture than this machine's.
    """
    release = read_release(release_file)
    here = _host_architecture()
    if release.architecture != here:
        raise InfraError(
            f"the build is for {release.architecture} and this machine is {here}: its compiled dependencies cannot "
            f"run here; `make build ARCH={here}` to try it locally"
        )
    return dict(entry.split("=", 1) for entry in release.parameter_overrides())


def _free_port() -> int:
    """An unused loopback port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    """CLI entry."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--build-dir", type=Path, default=BUILD)
    parser.add_argument("--release", type=Path, required=True, help="The build's release.json (make build's)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    try:
        parameters = build_parameters(args.release)
    except InfraError as exc:
        raise SystemExit(f"error: {exc}") from None
    serve(port=args.port, build_dir=args.build_dir, parameter_overrides=parameters)


if __name__ == "__main__":
    main()
