"""Faults at start: each bad model, endpoint or setting ends in one `model load failed` line, in bounded time."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import onnx
import pytest
from fastapi.testclient import TestClient

from handler.app import create_app
from handler.exceptions import ModelLoadError, SettingsError
from handler.model import load_model
from handler.settings import Settings
from tests.conftest import with_metadata

ROOT = Path(__file__).resolve().parents[2]
START = "import handler.entry"


def _drop_class(metadata):
    metadata["classes"] = metadata["classes"][:-1]


def _no_required_input(metadata):
    for spec in metadata["inputs"]:
        spec["required"] = False


def _wrong_golden_answer(metadata):
    metadata["golden_examples"][0]["probabilities"][0] += 0.01


def _unknown_input_type(metadata):
    metadata["inputs"][0]["type"] = "image"


def _duplicate_classes(metadata):
    metadata["classes"][1] = metadata["classes"][0]


def _dropped(ranges):
    def change(metadata):
        next(spec for spec in metadata["inputs"] if spec.get("required"))["dropped"] = ranges

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_drop_class, "metadata lists 9 classes but its taxonomy 10 leaf nodes"),
        (_no_required_input, "exactly one required string input"),
        (_wrong_golden_answer, "golden example 0 answers"),
        (lambda metadata: metadata["golden_examples"][0].pop("probabilities"), "golden example 0's recorded proba"),
        (lambda metadata: metadata["golden_examples"][0].update(probabilities="x"), "golden example 0's recorded pr"),
        (lambda metadata: metadata["golden_examples"][0].update(probabilities=None), "golden example 0's recorded pr"),
        (lambda metadata: metadata["golden_examples"][0].update(probabilities=[0.5]), "golden example 0's recorded p"),
        (_unknown_input_type, "'inputs' must be a list of"),
        (_duplicate_classes, "'classes' has duplicates"),
        *[
            (_dropped(ranges), "the title's 'dropped' must be a list of")
            for ranges in (
                [[0x200F, 0x200B]],  # backwards
                [[0xAD, 0x110000]],  # beyond Unicode
                [[0xD800, 0xD800]],  # a surrogate
                [[0xAD, True]],
                [[0xAD, 0xAD, 0xAD]],
                [0xAD],
                None,
                "0xad",
                [[point, point] for point in range(1_001)],
            )
        ],
    ],
)
def test_inconsistent_metadata_is_refused_at_load(model_path, tmp_path, change, message):
    path = with_metadata(model_path, tmp_path / "model.onnx", change)

    with pytest.raises(ModelLoadError, match=message):
        load_model(Settings(model_path=path))


def test_a_model_recorded_before_the_fold_reads_an_invisible_title_as_it_did(model_path, tmp_path):
    # GIVEN a model without the title's dropped ranges: its graph did not drop zero-width characters
    settings = Settings(model_path=with_metadata(model_path, tmp_path / "model.onnx", _no_dropped_ranges))
    client = TestClient(create_app(load_model(settings), settings))

    # WHEN a title of a zero-width space alone, and one of whitespace alone, are sent
    invisible = client.post("/predict", json={"title": "\u200b"})
    blank = client.post("/predict", json={"title": " \t"})

    # THEN the first is answered, as it was, and only whitespace is blank, as the 422 says
    assert invisible.status_code == 200
    assert blank.status_code == 422
    assert blank.json()["detail"][0]["message"].startswith(
        "must contain a character the model reads, not whitespace alone"
    )


def _no_dropped_ranges(metadata):
    del next(spec for spec in metadata["inputs"] if spec.get("required"))["dropped"]


def test_the_api_names_the_currency_a_model_read_its_prices_in(model_path, tmp_path):
    def priced_in_usd(metadata):
        next(spec for spec in metadata["inputs"] if spec["type"] == "float")["currency"] = "USD"

    settings = Settings(model_path=with_metadata(model_path, tmp_path / "model.onnx", priced_in_usd))
    schema = TestClient(create_app(load_model(settings), settings)).get("/openapi.json").json()

    item = next(body for name, body in schema["components"]["schemas"].items() if "price" in body.get("properties", {}))
    assert item["properties"]["price"]["description"] == "price in USD; missing means unknown."


def test_golden_examples_are_recorded_by_training(model_path):
    model = load_model(Settings(model_path=model_path))

    golden = model.metadata["golden_examples"]
    answers = [example for example in golden if "min_confidence" not in example]
    assert len(answers) >= 20 + 2  # test rows, one per class first, then the two adversarial titles
    assert {example["label"] for example in golden} <= set(model.classes)
    assert "\U0002ebf0" in answers[-2]["inputs"]["title"]
    # then the back-off cases: a flat model's backs off to the root
    assert golden[len(answers) :]
    assert all(example["back_off"] == {"label": "", "level": 0} for example in golden[len(answers) :])


def test_another_model_file_under_the_same_metadata_is_refused(model_path, other_schema_model_path, tmp_path):
    # GIVEN the graph of one model carrying the golden examples of another with the same inputs
    mine = json.loads(next(e for e in onnx.load(model_path).metadata_props if e.key == "product_classifier").value)
    swapped = with_metadata(
        model_path, tmp_path / "swapped.onnx", lambda m: m.update(golden_examples=_shuffled(mine["golden_examples"]))
    )

    # WHEN it loads, THEN the answers betray it
    with pytest.raises(ModelLoadError, match="golden example"):
        load_model(Settings(model_path=swapped))


def _shuffled(examples):
    """Each example's answer given to the next one: what a mismatched file/metadata pair looks like."""
    answers = [(e["label"], e["probabilities"]) for e in examples]
    answers = answers[1:] + answers[:1]
    return [e | {"label": label, "probabilities": probs} for e, (label, probs) in zip(examples, answers, strict=True)]


@pytest.fixture
def silent_endpoint():
    """A local socket that accepts connections and never answers, as a hung S3 endpoint does."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(timeout=2)
    for connection in accepted:
        connection.close()
    server.close()


@pytest.fixture
def refusing_endpoint():
    """An address where nothing listens: connections are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def fake_credentials(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize("endpoint", ["silent_endpoint", "refusing_endpoint"])
def test_unreachable_s3_fails_the_load_within_its_timeouts(request, endpoint, fake_credentials, monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_ENDPOINT_URL", request.getfixturevalue(endpoint))
    settings = Settings(
        model_s3_uri="s3://models/model.onnx", model_cache_dir=tmp_path, s3_connect_timeout=0.5, s3_read_timeout=0.5
    )

    started = time.monotonic()
    with pytest.raises(ModelLoadError, match=r"cannot download s3://models/model\.onnx"):
        load_model(settings)

    # two attempts of at most 0.5 s connect + 0.5 s read each, plus slack for a loaded machine
    assert time.monotonic() - started < 4


def test_default_s3_timeouts_fit_lambdas_init_budget():
    settings = Settings()

    worst = settings.s3_max_attempts * (settings.s3_connect_timeout + settings.s3_read_timeout)
    assert worst <= 6  # of the 10 s Lambda gives init, leaving room for imports and the session


def test_a_snapstart_init_waits_longer_for_s3_than_an_on_demand_one():
    on_demand = Settings.from_env({"AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand"})
    snap_start = Settings.from_env({"AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start"})

    assert snap_start.s3_max_attempts > on_demand.s3_max_attempts
    assert snap_start.s3_read_timeout > on_demand.s3_read_timeout
    assert (
        Settings.from_env({"AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start", "S3_MAX_ATTEMPTS": "3"}).s3_max_attempts == 3
    )


def test_the_model_pinned_into_the_package_is_the_one_served(tmp_path):
    pinned = tmp_path / "served_model.json"
    pinned.write_text(json.dumps({"model_s3_uri": "s3://models/v2/model.onnx", "model_sha256": "b" * 64}))

    settings = Settings.from_env({}, served_model=pinned)

    assert (settings.model_s3_uri, settings.model_sha256) == ("s3://models/v2/model.onnx", "b" * 64)
    pinned.write_text('{"model_s3_uri": "s3://models/v2/model.onnx"}')
    with pytest.raises(SettingsError, match=r"served_model\.json must hold .*both or neither"):
        Settings.from_env({}, served_model=pinned)


def test_the_target_pinned_into_the_package_wins_over_the_environment_and_the_stacks_capture_rate_over_the_pin(
    tmp_path,
):
    # GIVEN a package built with TARGET_PRECISION=0.99 CAPTURE_SAMPLE_RATE=1, deployed on a stack without capture
    pinned = tmp_path / "served_model.json"
    pinned.write_text(json.dumps({"target_precision": 0.99, "capture_sample_rate": 1.0}))
    environment = {"TARGET_PRECISION": "0.98", "CAPTURE_SAMPLE_RATE": "0"}

    settings = Settings.from_env(environment, served_model=pinned)

    # THEN the version decides at the target it was built for, and captures nothing: the stack has no bucket for it
    assert (settings.target_precision, settings.capture_sample_rate) == (0.99, 0.0)
    assert Settings.from_env({}, served_model=pinned).capture_sample_rate == 1.0
    assert Settings.from_env(environment, served_model=tmp_path / "none.json").target_precision == 0.98


def test_explicit_setting_wins_over_the_environment():
    settings = Settings.from_env({"MAX_BATCH": "7", "INTRA_OP_THREADS": "2", "MODEL_S3_URI": ""}, max_batch=3)

    assert (settings.max_batch, settings.intra_op_threads, settings.model_s3_uri) == (3, 2, None)


def test_bad_setting_names_the_variable():
    with pytest.raises(SettingsError, match=r"invalid settings: INTRA_OP_THREADS: Input should be a valid integer"):
        Settings.from_env({"INTRA_OP_THREADS": "many"})


@pytest.mark.parametrize(("name", "value"), [("S3_CONNECT_TIMEOUT", "inf"), ("TARGET_PRECISION", "nan")])
def test_a_setting_that_is_no_finite_number_is_named_so(name, value):
    # an endless S3 connect would hang Lambda's init until its timeout; "nan" is no precision to accept answers at
    with pytest.raises(SettingsError, match=rf"invalid settings: {name}: Input should be a finite number"):
        Settings.from_env({name: value})


def _start(env_changes: dict[str, str | None]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **{k: v for k, v in env_changes.items() if v is not None}}
    for name in [k for k, v in env_changes.items() if v is None]:
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-c", START], cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=60
    )


def _log_lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{") and '"level"' in line]


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        ({"INTRA_OP_THREADS": "many"}, "invalid settings: INTRA_OP_THREADS"),
        ({"MAX_BODY_BYTES": "1"}, "invalid settings: MAX_BODY_BYTES"),
        ({"MODEL_S3_URI": "ftp://x/y"}, "MODEL_S3_URI must look like s3://"),
    ],
)
def test_bad_settings_stop_the_start_with_one_line(model_path, env, reason):
    completed = _start({"MODEL_PATH": str(model_path), **env})

    assert completed.returncode != 0
    logs = _log_lines(completed.stdout)
    assert [(log["level"], log["message"]) for log in logs] == [("ERROR", "model load failed")]
    assert logs[0]["reason"].startswith(reason)


def test_truncated_model_stops_the_start_with_one_line(model_path, tmp_path):
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(model_path.read_bytes()[:1000])

    completed = _start({"MODEL_PATH": str(truncated)})

    assert [log["message"] for log in _log_lines(completed.stdout)] == ["model load failed"]


def test_metrics_namespace_has_a_default(model_path):
    probe = (
        "import json, handler.main as m\n"
        "from tests.handler.test_lambda import FakeLambdaContext\n"
        "event = json.load(open('events/predict_http_api.json'))\n"
        "print('STATUS', m.lambda_handler(event, FakeLambdaContext())['statusCode'])\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("POWERTOOLS_METRICS_NAMESPACE")}
    completed = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=env | {"MODEL_PATH": str(model_path)},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert "STATUS 200" in completed.stdout, completed.stderr[-2000:]
    assert '"Namespace":"ProductClassifier"' in completed.stdout.replace(" ", "")
