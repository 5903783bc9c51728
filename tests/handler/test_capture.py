"""Data capture: one JSON line per answered listing, sampled, never for synthetic traffic, off by default."""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient
from mangum import Mangum

from handler.app import create_app
from handler.capture import Capture, listing_id
from handler.events import SYNTHETIC_HEADER
from handler.model import load_model
from handler.settings import Settings
from tests.handler.test_events import EVENTS
from tests.handler.test_lambda import FakeLambdaContext

if TYPE_CHECKING:
    from pathlib import Path

ITEM = {"title": "acme smartphone x100 black 128gb", "brand": "acme", "price": 299.0}


def _client(model_path: Path, **settings) -> TestClient:
    configured = Settings(model_path=model_path, **settings)
    return TestClient(create_app(load_model(configured), configured))


def _records(folder: Path) -> list[dict]:
    return [json.loads(line) for path in sorted(folder.rglob("*.jsonl")) for line in path.read_text().splitlines()]


def test_a_captured_listing_carries_a_request_id_only_when_the_event_names_it_with_text(model_path, tmp_path):
    # GIVEN the function behind Mangum, capturing every listing, and direct invokes whose request id is no text:
    # a number, and a list nested too deep to print
    configured = Settings(model_path=model_path, capture_sample_rate=1.0, capture_dir=tmp_path)
    function = Mangum(create_app(load_model(configured), configured), lifespan="off")
    nested: list = []
    for _ in range(1490):
        nested = [nested]
    event = json.loads((EVENTS / "predict_http_api.json").read_text())
    answers = []
    for request_id in ("api-request-1", 42, nested):
        event["requestContext"]["requestId"] = request_id
        answers.append(function(event, FakeLambdaContext())["statusCode"])

    # THEN each is answered and captured, with the API's id, else Lambda's own
    assert answers == [200, 200, 200]
    lambdas = FakeLambdaContext().aws_request_id
    assert [record["request_id"] for record in _records(tmp_path)] == ["api-request-1", lambdas, lambdas]


def test_each_answered_listing_is_captured_with_its_top_three_path_and_decision(model_path, tmp_path):
    client = _client(model_path, capture_dir=tmp_path, capture_sample_rate=1.0)

    single = client.post("/predict?top_k=1&min_confidence=0.99", json=ITEM)
    batch = client.post("/predict/batch", json={"items": [ITEM, {"title": "kaito oled tv 55 inch"}]})

    assert single.status_code == batch.status_code == 200
    records = _records(tmp_path)
    assert len(records) == 3
    assert [found["item"] for found in records] == [0, 0, 1]  # each listing's place in its request
    first = records[0]
    assert first["capture"] == 1
    assert first["model_version"] == "test-synthetic-1"
    assert first["request_id"]
    assert first["inputs"] == {"title": ITEM["title"], "seller_id": None, "brand": "acme", "price": 299.0}
    assert len(first["top_k"]) == 3
    assert first["label"] == first["top_k"][0]["label"]
    assert first["path"]
    assert first["decision"] in {"accept", "review"}
    assert records[0]["listing_id"] == records[1]["listing_id"] == listing_id(first["inputs"])
    assert records[0]["request_id"] != records[1]["request_id"]
    assert list(tmp_path.glob("*/*/*/capture-*.jsonl"))  # year/month/day folders


def test_synthetic_traffic_and_a_zero_rate_capture_nothing(model_path, tmp_path):
    client = _client(model_path, capture_dir=tmp_path / "on", capture_sample_rate=1.0)
    assert client.post("/predict", json=ITEM, headers={SYNTHETIC_HEADER: "pre-traffic"}).status_code == 200
    off = _client(model_path, capture_dir=tmp_path / "off", capture_sample_rate=0.0)
    assert off.post("/predict", json=ITEM).status_code == 200

    assert not list(tmp_path.rglob("*.jsonl"))
    assert Settings().capture_sample_rate == 0.0  # off unless a deployment (make build, make serve CAPTURE=) asks


def test_stdout_lines_match_the_log_subscription_filter_and_the_rate_samples():
    stream = io.StringIO()
    capture = Capture(0.25, stream=stream, seed=7)

    written = sum(capture.write([{"title": str(i)}], [{"label": "TVs"}], model_version="v", request_id="r")
                  for i in range(2_000))  # fmt: skip

    lines = stream.getvalue().splitlines()
    assert len(lines) == written
    assert 400 < written < 600
    assert all(json.loads(line)["capture"] == 1 for line in lines)  # the filter pattern is `{ $.capture = 1 }`


@pytest.mark.parametrize("rate", ["-0.1", "1.5", "often"])
def test_a_bad_capture_rate_is_a_settings_error_naming_it(rate):
    from handler.exceptions import SettingsError

    with pytest.raises(SettingsError, match="CAPTURE_SAMPLE_RATE"):
        Settings.from_env({"CAPTURE_SAMPLE_RATE": rate})


def test_a_capture_that_cannot_be_written_loses_no_answer(model_path, tmp_path, monkeypatch):
    # GIVEN capture into a folder that turns unwritable after the start (a full disk, a permission change)
    client = _client(model_path, capture_dir=tmp_path / "captured", capture_sample_rate=1.0)
    monkeypatch.setattr("pathlib.Path.mkdir", lambda *args, **kwargs: (_ for _ in ()).throw(OSError(28, "No space")))

    answered = client.post("/predict", json=ITEM)
    batch = client.post("/predict/batch", json={"items": [ITEM]})

    # THEN the callers still get their answers
    assert answered.status_code == batch.status_code == 200
    assert answered.json()["label"]


def test_a_capture_folder_that_is_a_file_is_a_settings_error_naming_it(tmp_path):
    from handler.exceptions import SettingsError

    afile = tmp_path / "captured"
    afile.write_text("")

    with pytest.raises(SettingsError, match=r"CAPTURE_DIR: .* is a file; name a folder"):
        Settings.from_env({"CAPTURE_DIR": str(afile), "CAPTURE_SAMPLE_RATE": "1"})
    # nor may it be a folder that cannot be made or written (under a file; read-only), which would lose every capture
    with pytest.raises(SettingsError, match=r"CAPTURE_DIR .*captured/sub cannot be written"):
        Settings.from_env({"CAPTURE_DIR": str(afile / "sub"), "CAPTURE_SAMPLE_RATE": "1"})
    with pytest.raises(SettingsError, match=r"CAPTURE_DIR /proc/captured cannot be written"):
        Settings.from_env({"CAPTURE_DIR": "/proc/captured", "CAPTURE_SAMPLE_RATE": "1"})


def test_a_capture_folder_under_one_this_process_may_not_enter_is_one_line(tmp_path, monkeypatch):
    from handler.exceptions import SettingsError

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("pathlib.Path.exists", denied)  # Python 3.12 raises it for a folder it may not enter
    monkeypatch.setattr("pathlib.Path.mkdir", denied)

    with pytest.raises(SettingsError, match=r"CAPTURE_DIR .*captured cannot be written \(Permission denied\)"):
        Settings.from_env({"CAPTURE_DIR": str(tmp_path / "locked" / "captured"), "CAPTURE_SAMPLE_RATE": "1"})
