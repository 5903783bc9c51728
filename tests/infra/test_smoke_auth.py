"""`make smoke` against a protected API: SigV4 signing for IAM, bearer tokens for JWT, and a clear 403."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from infra.exceptions import SmokeError
from infra.smoke import Auth, region_of, run_smoke


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


@pytest.fixture
def gateway():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join(timeout=5)


def test_an_unsigned_call_to_a_protected_route_is_reported_as_an_auth_failure(gateway):
    with pytest.raises(
        SmokeError, match=r"GET .*/model: 403 from the API gateway \(Forbidden\).*AUTH=none.*Not a model failure"
    ):
        run_smoke(gateway)
