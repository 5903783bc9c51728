"""/docs and /redoc in a real headless browser with no network but the local server: the operations show.

Needs Debian's `chromium` (`.ci/run` installs it); skipped with a message where it is absent.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from typing import TYPE_CHECKING

import pytest
import uvicorn

from handler.app import create_app
from handler.model import load_model
from handler.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

BROWSER = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
pytestmark = pytest.mark.skipif(
    BROWSER is None, reason="chromium not installed (apt-get install chromium; .ci/run does)"
)
OPERATIONS = ("/predict", "/predict/batch", "/health", "/model")


@pytest.fixture(scope="module")
def base_url(model_path: Path) -> Iterator[str]:
    """The API served by uvicorn on 127.0.0.1 in a thread of this process."""
    settings = Settings(model_path=model_path)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(load_model(settings), settings), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def _browse(url: str, profile: Path, *extra: str) -> str:
    """Load the page headless, every host but 127.0.0.1 unresolvable, and return the DOM after its scripts ran."""
    completed = subprocess.run(
        [
            str(BROWSER), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            f"--user-data-dir={profile}",
            # The page sees no network: a CDN or any other host fails to resolve, as on a machine offline.
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--virtual-time-budget=15000", "--window-size=1280,1400", *extra, url,
        ],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed.stdout


def test_swagger_ui_shows_every_operation_offline(base_url, tmp_path):
    dom = _browse(f"{base_url}/docs", tmp_path / "profile", "--dump-dom")

    assert 'class="swagger-ui"' in dom, dom[:2000]
    for path in OPERATIONS:
        assert f'data-path="{path}"' in dom
    assert "Predict Batch" in dom  # the operation summaries, listed without expanding anything


def test_redoc_shows_every_operation_offline(base_url, tmp_path):
    dom = _browse(f"{base_url}/redoc", tmp_path / "profile", "--dump-dom")

    for summary in ("Classify one product", "Predict Batch", "Health", "Describe Model"):
        assert summary in dom, dom[:2000]
    assert "/predict/batch" in dom


def test_swagger_ui_renders_a_screenshot(base_url, tmp_path):
    # A picture of what a user sees (kept under tmp_path; open it when changing the docs pages).
    screenshot = tmp_path / "docs.png"

    _browse(f"{base_url}/docs", tmp_path / "profile", f"--screenshot={screenshot}")

    assert screenshot.stat().st_size > 20_000  # a white page compresses to a few KB
