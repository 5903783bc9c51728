"""Fixtures shared by every test package: the real data set, small trained models, offline defaults.

The models come from the real training code (tests may use it; the handler never does), shrunk so they
train in seconds.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import onnx
import pytest

from training.columns import FOLDED_CLASSES, LABEL
from training.config import DEFAULT_CONFIG_PATH, PROJECT_ROOT, load_config
from training.data.clean import prepare_catalogue
from training.data.split import split_catalogue
from training.data.synthetic import generate_catalogue
from training.data.tail import treat_small_classes
from training.data.taxonomy import PATH_SEPARATOR, generate_taxonomy_catalogue
from training.engines.local import fit_model
from training.model.export import to_onnx_model
from training.model.hierarchy import build_hierarchy
from training.model.metadata import embed_metadata, input_schema, read_metadata, split_record
from training.model.parity import golden_examples
from training.model.top_classes import predict_top
from training.reporting.confidence import calibration_metadata, confidence_report, thresholds

if TYPE_CHECKING:
    from collections.abc import Callable

    from training.config import TrainConfig

# The live model's metadata as the drift check reads it (the published model.json), in the `aws` fixture.
DRIFT_METADATA = {
    "model_version": "v42",
    "classes": ["Fridges", "TVs", "CPUs"],
    "class_shares": {"Fridges": 0.5, "TVs": 0.3, "CPUs": 0.2},
}
# The PriceRunner CSV where data/README.md puts it, else the workplace's shared copy beside the clone.
PRICERUNNER_PLACES = (
    Path(__file__).resolve().parents[1] / "data" / "pricerunner_aggregate.csv",
    Path(__file__).resolve().parents[2] / "shared" / "data" / "pricerunner_aggregate.csv",
)
PRICERUNNER = next((path for path in PRICERUNNER_PLACES if path.exists()), PRICERUNNER_PLACES[0])
# Session fixtures that train a model: any test using one (directly or through another fixture) is slow.
TRAINED_MODEL_FIXTURES = {
    "model_path",
    "other_schema_model_path",
    "taxonomy_model_path",
    "handler_main",
    "small_pipeline",
    "small_model_bytes",
    "rerank_pipeline",
    "rerank_model_bytes",
}


def with_metadata(model_path: Path, target: Path, change: Callable[[dict[str, Any]], object]) -> Path:
    """A copy of the model at `target` whose embedded metadata `change` edited in place: the graph is the same, so
    only the checks of metadata against graph can tell."""
    model = onnx.load(model_path)
    metadata = read_metadata(model)
    change(metadata)
    embed_metadata(model, metadata)
    onnx.save(model, target)
    return target


def make_command(*arguments: str) -> list[str]:
    """`make` run with this interpreter's environment as VENV, and never (re)installing an environment.

    Targets depend on the environments' install stamps; in a fresh worktree or with VENV elsewhere a plain
    `make build` would first create and install .venv and .venv-tools (minutes, 1.7 GB). Tests run what is
    installed: a missing tool fails the recipe instead.
    """
    venv = Path(sys.prefix)
    # make matches these by name: the tools stamp as the Makefile spells it (relative, run from the root).
    stamps = [venv / ".installed", ".venv-tools/.installed"]
    return ["make", f"VENV={venv}", *(f"--assume-old={stamp}" for stamp in stamps), *arguments]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that needs a trained model `slow`, so `make test-fast` (-m "not slow") trains none."""
    for item in items:
        if TRAINED_MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def pricerunner_csv() -> Path:
    """The PriceRunner CSV, or a skip that says where it was looked for."""
    if not PRICERUNNER.exists():
        pytest.skip(
            f"PriceRunner data not found at {' or '.join(map(str, PRICERUNNER_PLACES))}; data/README.md says where "
            "to get it (then `make check-pricerunner`)"
        )
    return PRICERUNNER


os.environ.update(
    {
        "POWERTOOLS_SERVICE_NAME": "product-classifier",
        "POWERTOOLS_METRICS_NAMESPACE": "ProductClassifier",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "AWS_DEFAULT_REGION": "us-east-1",
        # The FEATURES folder's signing key: without it a run would create one in the user's home.
        "FEATURES_KEY": "tests",
    }
)


def train_tiny_model(config: TrainConfig, raw, path: Path, version: str) -> Path:
    """Fit a small pipeline and export it, with the metadata keys `make train` writes."""
    features = replace(config.features, text_buckets=2**12, stacking_folds=3)
    config = replace(config, features=features, model=replace(config.model, n_estimators=40))
    catalogue, plan = treat_small_classes(prepare_catalogue(raw, config.data), config)
    splits = split_catalogue(catalogue, config.split)
    pipeline = fit_model(config, splits)
    classes = pipeline.classes_
    confidence = confidence_report(
        classes=classes,
        hierarchy=build_hierarchy(classes, separator=config.data.path_separator),
        calibration=pipeline.named_steps["classifier"].calibration_,
        test=(splits.test[LABEL].to_numpy(), predict_top(pipeline, splits.test)),
        validation=(splits.validation[LABEL].to_numpy(), predict_top(pipeline, splits.validation)),
    )
    metadata = {
        "model_version": version,
        "created_at": "2026-01-01T00:00:00+00:00",
        "classes": [str(label) for label in pipeline.classes_],
        "inputs": input_schema(config.data),
        "columns": dict(config.data.columns),
        "metrics": {"macro_f1": 0.5},
        "training_data": {"source": "test", "sha256": "0" * 64, "rows": len(raw), "split": split_record(config)}
        | ({FOLDED_CLASSES: plan.folded} if plan.folded else {}),
        "library_versions": {"onnxruntime": "test"},
        "example": {"title": "acme smartphone x100 black 128gb"},
        "calibration": calibration_metadata(confidence),
        "operating_points": thresholds(confidence["operating_points"]),
    }
    model = to_onnx_model(pipeline, config.data, metadata)
    metadata["golden_examples"] = golden_examples(model.SerializeToString(), splits.test, config.data)
    embed_metadata(model, metadata)
    path.write_bytes(model.SerializeToString())
    return path


@pytest.fixture(scope="session")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model on the synthetic schema: title, seller_id, brand, price."""
    config = load_config(DEFAULT_CONFIG_PATH)
    raw = generate_catalogue(1_500, seed=2)
    return train_tiny_model(config, raw, tmp_path_factory.mktemp("model") / "model.onnx", "test-synthetic-1")


@pytest.fixture(scope="session")
def taxonomy_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model on path labels: a 30-leaf, three-level synthetic taxonomy (`data.path_separator: " > "`)."""
    config = load_config(DEFAULT_CONFIG_PATH)
    config = replace(config, data=replace(config.data, path_separator=PATH_SEPARATOR))
    raw = generate_taxonomy_catalogue(3_000, 30, seed=4)
    return train_tiny_model(config, raw, tmp_path_factory.mktemp("taxonomy") / "model.onnx", "test-taxonomy-1")


@pytest.fixture(scope="session")
def other_schema_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model on another catalogue's schema (title, merchant_id), from a slice of PriceRunner-like rows."""
    config = load_config(PROJECT_ROOT / "configs" / "pricerunner.yaml")
    catalogue = generate_catalogue(1_500, seed=3)
    raw = catalogue.rename(
        columns={
            "title": "Product Title",
            "seller_id": "Merchant ID",
            "product_id": "Cluster ID",
            "category": "Category Label",
        }
    )
    raw["Cluster Label"] = "canonical " + raw["Cluster ID"].astype(str)
    return train_tiny_model(config, raw, tmp_path_factory.mktemp("other") / "model.onnx", "test-other-1")


@pytest.fixture(scope="session")
def handler_main(model_path: Path):
    """`handler.main`, imported with MODEL_PATH in the environment, as Lambda's `handler.entry` imports it."""
    os.environ["MODEL_PATH"] = str(model_path)
    import handler.main

    return handler.main


@pytest.fixture
def no_aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An environment in which boto3 finds no credentials: none in variables, files or instance metadata."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch):
    """moto's S3 (with a published model.json) and CloudWatch, as the drift check sees them."""
    import boto3
    from moto import mock_aws

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="models")
        key = "product-classifier/models/v42/model.json"
        s3.put_object(Bucket="models", Key=key, Body=json.dumps(DRIFT_METADATA))
        yield s3, boto3.client("cloudwatch", region_name="us-east-1")


@pytest.fixture
def moto_server(monkeypatch):
    """A real S3 endpoint on 127.0.0.1 (moto_server), as `AWS_ENDPOINT_URL=... make publish` would use."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(100):  # bounded: 10 s
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    endpoint = f"http://127.0.0.1:{port}"
    for name, value in {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    yield endpoint
    server.terminate()
    server.wait(timeout=10)
