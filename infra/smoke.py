"""`make smoke URL=...`: send real requests to a deployed or local endpoint and check every answer.

Builds its sample product from the endpoint's own /model description, so it works for any catalogue
schema. Exits 1 on the first wrong answer, naming it, and when the endpoint serves another model version
than the one expected (`MODEL_VERSION`, by default the one `make build` staged): a deploy that left the old
model live fails here. Against a stack with AuthMode IAM it signs each request with SigV4 (`AUTH=iam`,
botocore's signer and credentials); with AuthMode JWT it sends a bearer token (`AUTH=jwt`: TOKEN=, or an
OAuth 2.0 client-credentials grant from JWT_TOKEN_URL, JWT_CLIENT_ID and JWT_CLIENT_SECRET). A 401/403 from
the gateway is reported as the auth failure it is. Its requests are marked synthetic, so they stay out of the
production class mix and behaviour alarms.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import re
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlparse

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
        headers = {"content-type": "application/json", "x-synthetic-traffic": "smoke"}
        if self.mode == "jwt":
            return headers | {"authorization": f"Bearer {self.token}"}
        if self.mode == "iam":
            from botocore.auth import SigV4Auth
            from botocore.awsrequest import AWSRequest
            from botocore.exceptions import BotoCoreError
            from botocore.session import Session

            try:
                credentials = Session().get_credentials()
            except BotoCoreError as exc:  # a profile that does not exist, a config file that does not parse
                raise SmokeError(f"AUTH=iam: no AWS credentials to sign with ({exc})") from None
            if credentials is None:
                raise SmokeError("AUTH=iam needs AWS credentials (environment, profile or role) to sign with")
            request = AWSRequest(method=method, url=url, data=data or b"", headers=headers)
            SigV4Auth(credentials, "execute-api", self.region or "us-east-1").add_auth(request)
            return dict(request.headers.items())
        return headers


def client_credentials_token(token_url: str, client_id: str, client_secret: str, scope: str = "") -> str:
    """An access token from an OAuth 2.0 client-credentials grant (RFC 6749 §4.4), e.g. a Cognito app client.

    Raises:
        SmokeError: The token endpoint refused or answered without an access_token.
    """
    form = {"grant_type": "client_credentials"} | ({"scope": scope} if scope else {})
    basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
    try:
        request = urllib.request.Request(
            token_url,
            data=urlencode(form).encode(),
            method="POST",
            headers={"content-type": "application/x-www-form-urlencoded", "authorization": f"Basic {basic}"},
        )
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            token = json.loads(response.read()).get("access_token")
    except urllib.error.HTTPError as error:
        raise SmokeError(f"{token_url} refused the client credentials: {error.code} {error.read()[:200]!r}") from None
    except (urllib.error.URLError, TimeoutError, ValueError, AttributeError) as exc:
        raise SmokeError(f"no token from {token_url}: {exc}") from None
    if not isinstance(token, str) or not token:
        raise SmokeError(f"{token_url} answered without an access_token")
    return token


def region_of(url: str) -> str | None:
    """The region in an execute-api URL, else AWS_REGION / AWS_DEFAULT_REGION."""
    match = EXECUTE_API_HOST.match(urlparse(url).hostname or "")
    return match.group(1) if match else os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")


def call(url: str, method: str = "GET", body: Any = None, *, auth: Auth | None = None) -> tuple[int, Any]:
    """One HTTP request; returns the status and the decoded JSON body.

    Raises:
        SmokeError: No answer (refused, timed out, the connection dropped), or an answer that is not JSON (a
            proxy's HTML error page): named with its status and the start of its body.
    """
    data = None if body is None else json.dumps(body).encode()
    headers = (auth or Auth()).headers(method, url, data)
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        status, raw = _answer(request)
    except urllib.error.URLError as error:
        raise SmokeError(f"{method} {url}: no answer ({error.reason})") from None
    except (OSError, http.client.HTTPException) as exc:  # a timeout or a dropped connection mid-answer
        raise SmokeError(f"{method} {url}: no answer ({type(exc).__name__}: {exc})") from None
    try:
        return status, json.loads(raw or b"null", parse_constant=_not_json)
    except ValueError:
        raise SmokeError(f"{method} {url}: {status} with a body that is not JSON: {raw[:200]!r}") from None


def _not_json(constant: str) -> None:
    """`NaN`, `Infinity` and `-Infinity`: Python's JSON reader takes them, JSON (and every client of the API) does
    not."""
    raise ValueError(f"{constant} is not JSON")


def _answer(request: urllib.request.Request) -> tuple[int, bytes]:
    """The status and body of one request, an error status's included (read in full, as a success's is)."""
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


def run_smoke(base_url: str, model_version: str, auth: Auth | None = None) -> list[str]:
    """Check health (serving `model_version`), model, single and batch predictions and a bad request.

    Returns what passed.

    Raises:
        SmokeError: An answer was wrong, or the gateway refused the credentials; the message says which.
    """
    base = base_url.rstrip("/")
    passed = []

    def checked(url: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
        status, answer = call(url, method, body, auth=auth)
        if status == 403 and answer == {"message": "Missing Authentication Token"}:
            raise SmokeError(
                f"{method} {url}: 403 Missing Authentication Token, which an API gateway answers for a route it does "
                "not have: is URL the API's base (the stack's ApiUrl output, no stage or path after it)?"
            )
        if status in {401, 403} and isinstance(answer, dict) and "message" in answer:
            mode = (auth or Auth()).mode
            raise SmokeError(
                f"{method} {url}: {status} from the API gateway ({answer['message']}): the request was not "
                f"authorized with AUTH={mode}. A stack with AuthMode IAM needs AUTH=iam and credentials allowed "
                "execute-api:Invoke; AuthMode JWT needs AUTH=jwt TOKEN=<a valid token>. Not a model failure."
            )
        return status, answer

    status, health = checked(f"{base}/health")
    _expect(status == 200 and _object(health).get("model_loaded") is True, f"GET /health: {status} {health}")
    _expect(
        health.get("model_version") == model_version,
        f"GET /health: the endpoint serves model {health.get('model_version')}, expected {model_version}: the new "
        "model is not live (was a version published? see docs/operating.md)",
    )
    passed.append(f"GET /health -> model {health['model_version']}")

    status, model = checked(f"{base}/model")
    classes, inputs = _list(model, "classes"), _list(model, "inputs")
    described = bool(classes) and bool(inputs) and all(isinstance(_object(spec).get("name"), str) for spec in inputs)
    _expect(status == 200 and described, f"GET /model: {status} {model}")
    product = {spec["name"]: ("tv 55 inch" if spec.get("type") == "string" else 499.0) for spec in inputs}
    passed.append(f"GET /model -> {len(classes)} classes, inputs {list(product)}")

    status, answer = checked(f"{base}/predict?top_k=2", "POST", product)
    found = _object(answer)
    valid = status == 200 and _is_answer(found, classes, top_k=2) and found.get("model_version") == model_version
    _expect(valid, f"POST /predict: {status} {answer}")
    passed.append(f"POST /predict -> {found['label']} ({found['confidence']:.2f})")

    status, batch = checked(f"{base}/predict/batch", "POST", {"items": [product, product, product]})
    answers = _list(batch, "predictions")
    valid = status == 200 and len(answers) == 3 and all(_is_answer(_object(item), classes) for item in answers)
    _expect(valid, f"POST /predict/batch: {status} {batch}")
    passed.append("POST /predict/batch (3 items) -> 3 answers")

    status, error = checked(f"{base}/predict", "POST", {"title": 42, "unknown_field": 1})
    detail = _list(error, "detail")
    named = bool(detail) and all("field" in _object(item) for item in detail)
    _expect(status == 422 and named, f"POST /predict with bad input should be 422 naming the fields: {status} {error}")
    passed.append("POST /predict (bad input) -> 422 naming " + ", ".join(str(item["field"]) for item in detail))
    return passed


def _is_answer(found: dict[str, Any], classes: list[Any], top_k: int = 3) -> bool:
    """Whether an answer names one of the classes with a probability, and lists `top_k` such classes."""
    ranked = _list(found, "top_k")
    return (
        found.get("label") in classes
        and _probability(found.get("confidence"))
        and len(ranked) == min(top_k, len(classes))
        and all(_object(item).get("label") in classes for item in ranked)
        and all(_probability(_object(item).get("probability")) for item in ranked)
    )


def _probability(value: Any) -> bool:
    """A number from 0 to 1 (not a boolean, which JSON keeps apart)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1


def _object(answer: Any) -> dict[str, Any]:
    """A JSON object answer as it is; anything else (a list, a string) as an empty one, which no check accepts."""
    return answer if isinstance(answer, dict) else {}


def _list(answer: Any, key: str) -> list[Any]:
    """The list an answer holds under `key`; empty when it is no object or holds something else there."""
    value = _object(answer).get(key)
    return value if isinstance(value, list) else []


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
    parser.add_argument("--auth", default="none", help="none, iam (SigV4) or jwt (--token)")
    parser.add_argument("--token", default=None, help="Bearer token for --auth jwt")
    parser.add_argument("--model-version", default="", help="The model version the endpoint must serve")
    args = parser.parse_args()
    if args.auth not in AUTH_MODES:
        parser.error(f"AUTH must be one of {', '.join(AUTH_MODES)}, got {args.auth!r}")
    try:
        address = urlparse(args.url)
        address.port  # noqa: B018 -- parsing the port is what checks it
    except ValueError as exc:
        parser.error(f"URL {args.url!r} is not a URL ({exc})")
    if address.scheme not in {"http", "https"} or not address.hostname:
        parser.error(f"URL {args.url!r}: pass http(s)://host[:port], such as the stack's ApiUrl output")
    if not args.model_version:
        parser.error("the expected model version is empty: run `make build` first or pass MODEL_VERSION=")
    token_url, client_id, client_secret = (
        os.environ.get(name, "") for name in ("JWT_TOKEN_URL", "JWT_CLIENT_ID", "JWT_CLIENT_SECRET")
    )
    if args.auth == "jwt" and not args.token and not (token_url and client_id and client_secret):
        parser.error(
            "--auth jwt needs a token: TOKEN=..., or JWT_TOKEN_URL, JWT_CLIENT_ID and JWT_CLIENT_SECRET in the "
            "environment for a client-credentials grant"
        )
    try:
        token = args.token
        if args.auth == "jwt" and not token:
            token = client_credentials_token(token_url, client_id, client_secret, os.environ.get("JWT_SCOPE", ""))
        auth = Auth(mode=args.auth, region=region_of(args.url), token=token)
        for line in run_smoke(args.url, args.model_version, auth):
            print(f"ok  {line}")
    except SmokeError as exc:
        print(f"FAIL {args.url}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
