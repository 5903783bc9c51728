"""Soak the built function under the local API with mixed valid and hostile traffic; report what it did.

Starts `make start-api`'s server (the built function under the Lambda Runtime Interface Emulator behind
SAM's API Gateway translation) on 127.0.0.1, sends a bounded number of requests for a bounded time, and
reports requests, status counts, p50/p99 latency and the function process's RSS at start and end.

    make build && python benchmarks/soak.py --minutes 3
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

from provenance import measured_on

ROOT = Path(__file__).resolve().parent.parent
TOOLS_PYTHON = ROOT / ".venv-tools" / "bin" / "python"
RESULTS = ROOT / "benchmarks" / "results" / "soak.json"
MAX_REQUESTS = 200_000
JSON = {"content-type": "application/json"}


def traffic(product: dict[str, object]) -> list[tuple[str, str, bytes, dict[str, str]]]:
    """One round of the mix: valid requests for the served model's schema, then hostile ones."""
    return [
        ("valid", "/predict", json.dumps(product).encode(), JSON),
        ("valid batch", "/predict/batch", json.dumps({"items": [product] * 50}).encode(), JSON),
        *HOSTILE,
    ]


HOSTILE: list[tuple[str, str, bytes, dict[str, str]]] = [
    ("health", "/health", b"", {}),
    ("unknown fields", "/predict", json.dumps({"title": "tv"} | {f"k{i}": 0 for i in range(2000)}).encode(), JSON),
    ("not json", "/predict", b"{not json", JSON),
    ("wrong media type", "/predict", b'{"title": "tv"}', {"content-type": "text/plain"}),
    ("deep nesting", "/predict", b'{"title": ' + b"[" * 5000 + b"]" * 5000 + b"}", JSON),
    ("huge number", "/predict", b'{"title": "tv", "price": 1e39}', JSON),
    ("unicode", "/predict", json.dumps({"title": "\U0002ebf0 Kühl ΣΊΣΥΦΟΣ 📱 \u200b"}).encode(), JSON),
]


def free_port() -> int:
    """An unused loopback port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def function_rss_mb() -> float:
    """Resident memory of the function's Python process (the one running awslambdaric, not the emulator)."""
    for status in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = status.read_bytes().split(b"\0")
            if b"python" in Path(argv[0].decode()).name.encode() and b"awslambdaric" in argv:
                for line in (status.parent / "status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            continue
    return float("nan")


def send(url: str, path: str, body: bytes, headers: dict[str, str]) -> int:
    """One request; the status code (0 when the connection failed)."""
    method = "POST" if body else "GET"
    request = urllib.request.Request(url + path, data=body or None, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.read()
        return int(error.code)
    except (urllib.error.URLError, TimeoutError):
        return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--build-dir", type=Path, default=ROOT / ".aws-sam" / "build")
    parser.add_argument("--release", type=Path, default=ROOT / "build" / "release.json")
    args = parser.parse_args()
    port = free_port()
    server = subprocess.Popen(
        [str(TOOLS_PYTHON), "-m", "infra.local_api", "--port", str(port), "--build-dir", str(args.build_dir),
         "--release", str(args.release)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            if send(url, "/health", b"", {}) == 200:
                break
            time.sleep(0.5)
        else:
            sys.exit("the local API did not answer /health within 60 s; run `make build` first")
        described = urllib.request.urlopen(url + "/model", timeout=30).read()
        product = json.loads(described)["golden_examples"][0]["inputs"]
        rss_start = function_rss_mb()
        statuses: Counter[str] = Counter()
        latencies: list[float] = []
        deadline = time.monotonic() + args.minutes * 60
        for kind, path, body, headers in itertools.islice(itertools.cycle(traffic(product)), MAX_REQUESTS):
            if time.monotonic() > deadline:
                break
            started = time.perf_counter()
            status = send(url, path, body, headers)
            latencies.append((time.perf_counter() - started) * 1000)
            statuses[f"{kind}: {status}"] += 1
        rss_end = function_rss_mb()
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=20)
    latencies.sort()
    result = {
        **measured_on(),
        "minutes": args.minutes,
        "requests": len(latencies),
        "statuses": dict(sorted(statuses.items())),
        "server_errors": sum(count for key, count in statuses.items() if key.endswith((": 0", ": 500", ": 502"))),
        "p50_ms": round(latencies[len(latencies) // 2], 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)], 2),
        "function_rss_mb_start": round(rss_start, 1),
        "function_rss_mb_end": round(rss_end, 1),
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
