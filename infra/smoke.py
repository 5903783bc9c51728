"""`make smoke URL=...`: send real requests to a deployed or local endpoint and check every answer.

Builds its sample product from the endpoint's own /model description, so it works for any catalogue
schema. Exits 1 on the first wrong answer, naming it.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from typing import Any

from infra.exceptions import SmokeError

TIMEOUT_SECONDS = 30


def call(url: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
    """One HTTP request; returns the status and the decoded JSON body."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def run_smoke(base_url: str) -> list[str]:
    """Check health, model, single and batch predictions and a bad request; return what passed.

    Raises:
        SmokeError: An answer was wrong; the message says which.
    """
    base = base_url.rstrip("/")
    passed = []
    status, health = call(f"{base}/health")
    _expect(status == 200 and health["model_loaded"] is True, f"GET /health: {status} {health}")
    passed.append(f"GET /health -> model {health['model_version']}")

    status, model = call(f"{base}/model")
    _expect(status == 200 and bool(model["classes"]), f"GET /model: {status} {model}")
    product = {spec["name"]: ("tv 55 inch" if spec["type"] == "string" else 499.0) for spec in model["inputs"]}
    passed.append(f"GET /model -> {len(model['classes'])} classes, inputs {[i['name'] for i in model['inputs']]}")

    status, answer = call(f"{base}/predict?top_k=2", "POST", product)
    valid = status == 200 and answer["label"] in model["classes"] and len(answer["top_k"]) == 2
    _expect(valid, f"POST /predict: {status} {answer}")
    passed.append(f"POST /predict -> {answer['label']} ({answer['confidence']:.2f})")

    status, batch = call(f"{base}/predict/batch", "POST", {"items": [product, product, product]})
    _expect(status == 200 and len(batch["predictions"]) == 3, f"POST /predict/batch: {status} {batch}")
    passed.append("POST /predict/batch (3 items) -> 3 answers")

    status, error = call(f"{base}/predict", "POST", {"title": 42, "unknown_field": 1})
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
    args = parser.parse_args()
    try:
        for line in run_smoke(args.url):
            print(f"ok  {line}")
    except (SmokeError, urllib.error.URLError, TimeoutError, KeyError, json.JSONDecodeError) as exc:
        print(f"FAIL {args.url}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
