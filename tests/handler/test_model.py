"""Loading the model: bundled file or S3 (moto), and the clear errors for a model that must not serve."""

from __future__ import annotations

import hashlib

import boto3
import numpy as np
import pytest
from moto import mock_aws

from handler.exceptions import ModelLoadError
from handler.model import Prediction, load_model
from handler.settings import Settings

BUCKET = "models"
KEY = "product-classifier/v1/model.onnx"


@pytest.fixture
def s3(model_path):
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        digest = hashlib.sha256(model_path.read_bytes()).hexdigest()
        client.put_object(Bucket=BUCKET, Key=KEY, Body=model_path.read_bytes(), Metadata={"sha256": digest})
        yield client, digest


def test_bundled_model_loads_with_its_metadata(model_path):
    model = load_model(Settings(model_path=model_path))

    assert model.version == "test-synthetic-1"
    assert len(model.classes) == 10
    assert [spec["name"] for spec in model.inputs] == ["title", "seller_id", "brand", "price"]
    assert model.load_seconds > 0


def test_missing_optional_values_are_defaults_never_the_string_none(model_path):
    model = load_model(Settings(model_path=model_path))

    feeds = model.feeds([{"title": "tv", "seller_id": None}])

    assert feeds["seller_id"].tolist() == [[""]]
    assert feeds["brand"].tolist() == [[""]]
    assert np.isnan(feeds["price"][0, 0])


def test_predictions_keep_input_order_across_chunks(model_path):
    model = load_model(Settings(model_path=model_path, inference_chunk=2))
    rows = [{"title": title} for title in ["x" * 50, "acme tv", "nordvik washing machine", "y", "kaito camera body"]]

    chunked = model.predict(rows)

    assert [p.label for p in chunked] == [model.predict([row])[0].label for row in rows]


def test_model_from_s3_is_downloaded_once_and_verified(s3, tmp_path):
    _, digest = s3
    settings = Settings(model_s3_uri=f"s3://{BUCKET}/{KEY}", model_cache_dir=tmp_path)

    model = load_model(settings)

    assert model.version == "test-synthetic-1"
    assert (tmp_path / f"model-{digest}.onnx").is_file()
    assert not list(tmp_path.glob("*.part"))


def test_explicit_checksum_wins_over_published_metadata(s3, tmp_path):
    settings = Settings(model_s3_uri=f"s3://{BUCKET}/{KEY}", model_sha256="0" * 64, model_cache_dir=tmp_path)

    with pytest.raises(ModelLoadError, match=f"checksum mismatch for s3://{BUCKET}/{KEY}: expected sha256 0000"):
        load_model(settings)
    assert list(tmp_path.iterdir()) == []


def test_tampered_s3_object_is_refused(s3, tmp_path):
    client, _ = s3
    client.put_object(Bucket=BUCKET, Key=KEY, Body=b"not a model", Metadata={"sha256": "1" * 64})

    with pytest.raises(ModelLoadError, match="checksum mismatch"):
        load_model(Settings(model_s3_uri=f"s3://{BUCKET}/{KEY}", model_cache_dir=tmp_path))


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("https://example.invalid/model.onnx", "MODEL_S3_URI must look like s3://bucket/key.onnx"),
        (f"s3://{BUCKET}/missing.onnx", f"cannot download s3://{BUCKET}/missing.onnx"),
        ("s3://no-such-bucket/model.onnx", "cannot download s3://no-such-bucket/model.onnx"),
    ],
)
def test_bad_s3_locations_are_named(s3, tmp_path, uri, message):
    with pytest.raises(ModelLoadError, match=message):
        load_model(Settings(model_s3_uri=uri, model_cache_dir=tmp_path))


def test_object_without_published_checksum_is_refused(s3, tmp_path, model_path):
    client, _ = s3
    client.put_object(Bucket=BUCKET, Key="bare.onnx", Body=model_path.read_bytes())

    with pytest.raises(ModelLoadError, match="has no published sha256"):
        load_model(Settings(model_s3_uri=f"s3://{BUCKET}/bare.onnx", model_cache_dir=tmp_path))


def test_missing_file(tmp_path):
    with pytest.raises(ModelLoadError, match=r"model file not found: .*absent\.onnx .*make train"):
        load_model(Settings(model_path=tmp_path / "absent.onnx"))
    with pytest.raises(ModelLoadError, match=r"MODEL_PATH .* is a folder; name the model file in it \(.*model\.onnx\)"):
        load_model(Settings(model_path=tmp_path))


def test_corrupt_file(tmp_path, model_path):
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(model_path.read_bytes()[: len(model_path.read_bytes()) // 2])

    with pytest.raises(ModelLoadError, match="is not a loadable ONNX model"):
        load_model(Settings(model_path=corrupt))


def test_model_without_metadata(tmp_path, model_path):
    import onnx

    model = onnx.load(model_path)
    del model.metadata_props[:]
    bare = tmp_path / "bare.onnx"
    onnx.save(model, bare)

    with pytest.raises(ModelLoadError, match="has no 'product_classifier' metadata"):
        load_model(Settings(model_path=bare))


def test_a_path_confidence_float32_rounds_above_one_is_served_as_one():
    # a department holding every class sums their float32 probabilities to 1.0000001
    prediction = Prediction("TVs", np.array([1.0], dtype=np.float32), np.array([0, 3, -1]),
                            np.array([1.0000001, 0.9, 0.0], dtype=np.float32))  # fmt: skip

    assert prediction.path() == [(0, 1.0), (3, pytest.approx(0.9))]
