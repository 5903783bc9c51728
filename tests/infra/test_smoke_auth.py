"""`make smoke` against a protected API: SigV4 signing for IAM, bearer tokens for JWT, and a clear 403."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from infra import smoke
from infra.exceptions import SmokeError
from infra.smoke import Auth, client_credentials_token, region_of, run_smoke

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("url", "environment", "region"),
    [
        ("https://a1b2c3.execute-api.eu-west-1.amazonaws.com", {}, "eu-west-1"),
        ("https://a1b2c3.execute-api.cn-north-1.amazonaws.com.cn", {}, "cn-north-1"),
        ("https://api.example.com", {"AWS_REGION": "ap-south-1"}, "ap-south-1"),
    ],
)
def test_region_comes_from_the_url_or_the_environment(monkeypatch, url, environment, region):
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    assert region_of(url) == region


def test_iam_requests_are_signed_for_execute_api(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    url = "https://a1b2c3.execute-api.eu-west-1.amazonaws.com/predict"

    headers = Auth(mode="iam", region="eu-west-1").headers("POST", url, b'{"title": "tv"}')

    assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/execute-api/aws4_request" in headers["Authorization"]
    assert "X-Amz-Date" in headers


def test_iam_signing_without_usable_credentials_is_one_line(monkeypatch, tmp_path):
    # a profile that does not exist (botocore raises ProfileNotFound where it reads credentials)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_PROFILE", "nonexistent")
    with pytest.raises(SmokeError, match=r"AUTH=iam: no AWS credentials to sign with \(The config profile"):
        Auth(mode="iam", region="eu-west-1").headers("GET", "https://a1b2c3.execute-api.eu-west-1.amazonaws.com", None)


def test_a_token_url_that_is_no_url_is_one_line():
    with pytest.raises(SmokeError, match="no token from notaurl: unknown url type"):
        client_credentials_token("notaurl", "id", "secret")


def test_jwt_requests_carry_the_bearer_token():
    assert (
        Auth(mode="jwt", token="abc.def.ghi").headers("GET", "https://x", None)["authorization"] == "Bearer abc.def.ghi"
    )


class _Gateway(BaseHTTPRequestHandler):
    """Answers like an HTTP API with IAM auth: /health open, everything else 403 without a signature."""

    def do_GET(self):
        if self.path == "/health":
            self._send(200, {"status": "ok", "model_loaded": True, "model_version": "v1"})
        elif "AWS4-HMAC-SHA256" in self.headers.get("Authorization", ""):
            self._send(200, {"classes": ["a"], "inputs": [{"name": "title", "type": "string"}]})
        else:
            self._send(403, {"message": "Forbidden"})

    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@contextmanager
def _serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A local HTTP server on 127.0.0.1 for the test's duration; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def gateway():
    with _serving(_Gateway) as url:
        yield url


def test_an_unsigned_call_to_a_protected_route_is_reported_as_an_auth_failure(gateway):
    with pytest.raises(
        SmokeError, match=r"GET .*/model: 403 from the API gateway \(Forbidden\).*AUTH=none.*Not a model failure"
    ):
        run_smoke(gateway, "v1")


def test_a_live_endpoint_serving_another_model_version_fails_the_smoke_test(gateway):
    # /health of the gateway serves v1, the deploy expected v2: the old model stayed live
    with pytest.raises(SmokeError, match=r"serves model v1, expected v2: the new model is not live"):
        run_smoke(gateway, "v2")


def test_smoke_requests_are_marked_synthetic():
    assert Auth().headers("GET", "https://x", None)["x-synthetic-traffic"] == "smoke"


class _TokenEndpoint(BaseHTTPRequestHandler):
    """An OAuth 2.0 token endpoint accepting one client's credentials (client_credentials grant)."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"])).decode()
        expected = "Basic " + base64.b64encode(b"client:secret").decode()
        if self.headers.get("authorization") == expected and "grant_type=client_credentials" in body:
            self._send(200, {"access_token": "issued.jwt.token", "token_type": "Bearer"})
        else:
            self._send(401, {"error": "invalid_client"})

    _send = _Gateway._send
    log_message = _Gateway.log_message


@pytest.fixture
def token_url():
    with _serving(_TokenEndpoint) as url:
        yield f"{url}/oauth2/token"


def test_jwt_smoke_gets_its_token_by_client_credentials(token_url):
    assert client_credentials_token(token_url, "client", "secret") == "issued.jwt.token"
    with pytest.raises(SmokeError, match="refused the client credentials: 401"):
        client_credentials_token(token_url, "client", "wrong")


def test_jwt_smoke_without_any_token_source_says_how_to_get_one(monkeypatch):
    for name in ("JWT_TOKEN_URL", "JWT_CLIENT_ID", "JWT_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    completed = subprocess.run(
        [sys.executable, "-m", "infra.smoke", "--url", "http://127.0.0.1:9", "--auth", "jwt", "--model-version", "v1"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    assert completed.returncode == 2
    assert "JWT_TOKEN_URL, JWT_CLIENT_ID and JWT_CLIENT_SECRET" in completed.stderr


def test_an_auth_mode_that_is_none_of_them_is_named_as_auth(monkeypatch, capsys):
    import infra.smoke

    monkeypatch.setattr(
        "sys.argv", ["smoke", "--url", "http://127.0.0.1:9", "--auth", "sigv4", "--model-version", "v1"]
    )
    with pytest.raises(SystemExit) as exited:
        infra.smoke.main()

    assert exited.value.code == 2
    assert "AUTH must be one of none, iam, jwt, got 'sigv4'" in capsys.readouterr().err


class _BadEndpoint(BaseHTTPRequestHandler):
    """A broken endpoint: /health answers as its path says (an HTML 502 page, a list, a 200 without a version),
    and /drop closes the connection without answering."""

    def do_GET(self):
        if self.path == "/html/health":
            self._raw(502, b"<html><body>502 Bad Gateway</body></html>", "text/html")
        elif self.path == "/list/health":
            self._raw(200, b"[1, 2]", "application/json")
        elif self.path == "/prod/health":  # a URL with a stage after the API's base: no such route
            self._raw(403, b'{"message":"Missing Authentication Token"}', "application/json")
        elif self.path == "/versionless/health":
            self._raw(200, b'{"status": "ok", "model_loaded": true}', "application/json")
        elif self.path == "/stall/health":  # an error page that stops half-way
            self.send_response(502)
            self.send_header("content-length", "100")
            self.end_headers()
            self.wfile.write(b"<html>")
            self.wfile.flush()
            time.sleep(2)
        else:
            self.close_connection = True
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)

    def _raw(self, status, data, kind):
        self.send_response(status)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    log_message = _Gateway.log_message


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("html", r"GET .*/html/health: 502 with a body that is not JSON: b'<html><body>502 Bad Gateway"),
        ("list", r"GET /health: 200 \[1, 2\]"),
        ("versionless", r"serves model None, expected v1"),
        ("prod", r"403 Missing Authentication Token, .* a route it does not have: is URL the API's base"),
        ("drop", r"GET .*/drop/health: no answer \(RemoteDisconnected"),
        ("stall", r"GET .*/stall/health: no answer \(TimeoutError"),
    ],
)
def test_a_broken_endpoint_is_one_failure_naming_what_it_answered(path, message, monkeypatch):
    monkeypatch.setattr(smoke, "TIMEOUT_SECONDS", 0.5)
    with _serving(_BadEndpoint) as url, pytest.raises(SmokeError, match=message):
        run_smoke(f"{url}/{path}", "v1")


@pytest.mark.parametrize("url", ["", "http://[::1", "127.0.0.1:3000"])
def test_a_url_that_is_no_apis_base_is_one_line(url):
    completed = subprocess.run(
        [sys.executable, "-m", "infra.smoke", "--url", url, "--model-version", "v1"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    assert completed.returncode == 2
    assert f"error: URL {url!r}" in completed.stderr
    assert "Traceback" not in completed.stderr


GOOD_ANSWER = {"label": "TVs", "confidence": 0.9, "top_k": [{"label": "TVs", "probability": 0.9},
               {"label": "Radios", "probability": 0.1}], "model_version": "v1"}  # fmt: skip
WRONG_ANSWERS = {
    "nan": json.dumps(GOOD_ANSWER | {"confidence": float("nan")}).encode(),  # NaN: not JSON at all
    "bool": json.dumps(GOOD_ANSWER | {"confidence": True}).encode(),
    "garbage-top-k": json.dumps(GOOD_ANSWER | {"top_k": [None, "x"]}).encode(),
    "garbage-batch": json.dumps(GOOD_ANSWER).encode(),  # its batch answers [1, null, "x"]
}


class _WrongAnswers(BaseHTTPRequestHandler):
    """An endpoint that serves v1 and describes its model, then answers predictions wrongly, as its path's first part
    says (`WRONG_ANSWERS`; any other part: rightly)."""

    def do_GET(self):
        if self.path.endswith("/health"):
            body = {"status": "ok", "model_loaded": True, "model_version": "v1"}
        else:
            body = {"classes": ["Radios", "TVs"], "inputs": [{"name": "title", "type": "string"}]}
        self._json(json.dumps(body).encode())

    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers["content-length"])))
        mode = self.path.split("/")[1]
        if "unknown_field" in request:  # the smoke test's bad request, answered right
            self._json(b'{"error": "invalid request", "detail": [{"field": "body.unknown_field"}]}', status=422)
        elif self.path.startswith(f"/{mode}/predict/batch"):
            predictions = [1, None, "x"] if mode == "garbage-batch" else [GOOD_ANSWER] * 3
            self._json(json.dumps({"predictions": predictions, "model_version": "v1"}).encode())
        else:
            self._json(WRONG_ANSWERS.get(mode, json.dumps(GOOD_ANSWER).encode()))

    def _json(self, data, status=200):
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    log_message = _Gateway.log_message


@pytest.mark.parametrize("mode", list(WRONG_ANSWERS))
def test_an_answer_without_a_probability_or_classes_fails_the_smoke_test(mode):
    with _serving(_WrongAnswers) as url, pytest.raises(SmokeError, match=r"POST \S*/predict"):
        run_smoke(f"{url}/{mode}", "v1")


def test_the_same_endpoint_answering_right_passes_the_smoke_test():
    with _serving(_WrongAnswers) as url:
        assert len(run_smoke(f"{url}/right", "v1")) == 5
