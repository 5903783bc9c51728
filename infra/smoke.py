"""`make smoke URL=...`: send real requests to a deployed or local endpoint and check every answer.

Builds its sample product from the endpoint's own /model description, so it works for any catalogue
schema. Exits 1 on the first wrong answer, naming it. Against a stack with AuthMode IAM it signs each
request with SigV4 (`AUTH=iam`, botocore's signer and credentials); with AuthMode JWT it sends a bearer
token (`AUTH=jwt TOKEN=...`). A 401/403 from the gateway is reported as the auth failure it is.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from infra.exceptions import SmokeError

TIMEOUT_SECONDS = 30
AUTH_MODES = ("none", "iam", "jwt")
# https://<api-id>.execute-api.<region>.amazonaws.com[.cn]
EXECUTE_API_HOST = re.compile(r"^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")


@dataclass(frozen=True)
class Auth:
    """How to authenticate: nothing, SigV4 for execute-api in `region`, or a bearer token."""

    mode: str = "none"
    region: str | None = None
    token: str | None = None

    def headers(self, method: str, url: str, data: bytes | None) -> dict[str, str]:
        """The headers that authenticate one request (SigV4 signs method, URL, headers and body)."""
        headers = {"content-type": "application/json"}
        if self.mode == "jwt":
            return headers | {"authorization": f"Bearer {self.token}"}
        if self.mode == "iam":
            from botocore.auth import SigV4Auth
            from botocore.awsrequest import AWSRequest
            from botocore.session import Session

            credentials = Session().get_credentials()
            if credentials is None:
                raise SmokeError("AUTH=iam needs AWS credentials (environment, profile or role) to sign with")
            request = AWSRequest(method=method, url=url, data=data or b"", headers=headers)
            SigV4Auth(credentials, "execute-api", self.region or "us-east-1").add_auth(request)
            return dict(request.headers.items())
        return headers


def region_of(url: str) -> str | None:
    """The region in an execute-api URL, else AWS_REGION / AWS_DEFAULT_REGION."""
    match = EXECUTE_API_HOST.match(urlparse(url).hostname or "")
    return match.group(1) if match else os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")


def call(url: str, method: str = "GET", body: Any = None, *, auth: Auth | None = None) -> tuple[int, Any]:
    """One HTTP request; returns the status and the decoded JSON body."""
    data = None if body is None else json.dumps(body).encode()
    headers = (auth or Auth()).headers(method, url, data)
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def run_smoke(base_url: str, auth: Auth | None = None) -> list[str]:
    """Check health, model, single and batch predictions and a bad request; return what passed.

    Raises:
        SmokeError: An answer was wrong, or the gateway refused the credentials; the message says which.
    """
    base = base_url.rstrip("/")
    passed = []

    def checked(url: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
        status, answer = call(url, method, body, auth=auth)
        if status in {401, 403} and isinstance(answer, dict) and "message" in answer:
            mode = (auth or Auth()).mode
            raise SmokeError(
                f"{method} {url}: {status} from the API gateway ({answer['message']}): the request was not "
                f"authorized with AUTH={mode}. A stack with AuthMode IAM needs AUTH=iam and credentials allowed "
                "execute-api:Invoke; AuthMode JWT needs AUTH=jwt TOKEN=<a valid token>. Not a model failure."
            )
        return status, answer

    status, health = checked(f"{base}/health")
    _expect(status == 200 and health["model_loaded"] is True, f"GET /health: {status} {health}")
    passed.append(f"GET /health -> model {health['model_version']}")

    status, model = checked(f"{base}/model")
    _expect(status == 200 and bool(model["classes"]), f"GET /model: {status} {model}")
    product = {spec["name"]: ("tv 55 inch" if spec["type"] == "string" else 499.0) for spec in model["inputs"]}
    passed.append(f"GET /model -> {len(model['classes'])} classes, inputs {[i['name'] for i in model['inputs']]}")

    status, answer = checked(f"{base}/predict?top_k=2", "POST", product)
    valid = status == 200 and answer["label"] in model["classes"] and len(answer["top_k"]) == 2
    _expect(valid, f"POST /predict: {status} {answer}")
    passed.append(f"POST /predict -> {answer['label']} ({answer['confidence']:.2f})")

    status, batch = checked(f"{base}/predict/batch", "POST", {"items": [product, product, product]})
    _expect(status == 200 and len(batch["predictions"]) == 3, f"POST /predict/batch: {status} {batch}")
    passed.append("POST /predict/batch (3 items) -> 3 answers")

    status, error = checked(f"{base}/predict", "POST", {"title": 42, "unknown_field": 1})
    _expect(status == 422 and bool(error["detail"]), f"POST /predict with bad input should be 422: {status} {error}")
    passed.append("POST /predict (bad input) -> 422 naming " + ", ".join(d["field"] for d in error["detail"]))
    return passed


def _expect(condition: bool, message: str) -> None:
    """Fail the smoke test with `message` unless `condition` holds."""
    if not condition:
        raise SmokeError(message)


def main() -> int:
    """CLI entry."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--url", required=True, help="Base URL, e.g. the stack's ApiUrl output or http://127.0.0.1:3000"
    )
    parser.add_argument("--auth", choices=AUTH_MODES, default="none", help="none, iam (SigV4) or jwt (--token)")
    parser.add_argument("--token", default=None, help="Bearer token for --auth jwt")
    args = parser.parse_args()
    if args.auth == "jwt" and not args.token:
        parser.error("--auth jwt needs --token (make smoke AUTH=jwt TOKEN=...)")
    auth = Auth(mode=args.auth, region=region_of(args.url), token=args.token)
    try:
        for line in run_smoke(args.url, auth):
            print(f"ok  {line}")
    except (SmokeError, urllib.error.URLError, TimeoutError, KeyError, json.JSONDecodeError) as exc:
        print(f"FAIL {args.url}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
