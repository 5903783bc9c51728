"""Training and scoring read rows alike (issue 20): one string normaliser, one reader, the API's answers."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from handler.app import create_app
from handler.model import load_model
from handler.settings import Settings
from training.cli.predict import app as predict_app
from training.config import PROJECT_ROOT, load_config
from training.data.clean import model_columns, prepare_catalogue, text_values
from training.data.load import load_raw
from training.data.split import split_catalogue
from training.data.synthetic import generate_catalogue
from training.engines.local import fit_model
from training.exceptions import DataValidationError
from training.model.export import to_onnx_model
from training.model.metadata import embed_metadata, input_schema

if TYPE_CHECKING:
    from pathlib import Path

PRICERUNNER_CONFIG = PROJECT_ROOT / "configs" / "pricerunner.yaml"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (pd.Series(["007", None, "s1"], dtype=object), ["007", "", "s1"]),
        (pd.Series([42.0, np.nan, -3.0]), ["42", "", "-3"]),
        (pd.Series([42, None, 7], dtype="Int64"), ["42", "", "7"]),
        (pd.Series([42, 7], dtype="int64"), ["42", "7"]),
        (pd.Series(["a", 42, 42.0, None], dtype=object), ["a", "42", "42", ""]),
        (pd.Series(["x", None], dtype="string"), ["x", ""]),
        (pd.Series(["x", "y"], dtype="category"), ["x", "y"]),
    ],
)
def test_text_values_reads_strings_as_the_api_does(values, expected):
    assert text_values(values, column="c", source="s").tolist() == expected


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (pd.Series([1.0, 2.5]), r"column 'c' \(float64\) holds 2.5 in data row 2"),
        (pd.Series([True, False]), r"column 'c' \(bool\) holds True"),
        (pd.Series([1e16]), r"holds 1e\+16"),
        # a 19-digit id, as a warehouse keeps it: read as text, it would be served as the API is sent it
        (
            pd.Series([9_000_000_000_000_000_001], dtype="Int64"),
            r"holds 9000000000000000001 .* store it as text",
        ),
        (pd.Series([-1e16, 2.5e16]), r"export the column again from its source as text"),
        (pd.Series(pd.to_datetime(["2024-01-01"])), r"column 'c' \(datetime64"),
        (pd.Series([["a"], ["b"]], dtype=object), "column 'c' is a nested column"),
        (pd.Series([b"raw"], dtype=object), r"holds b'raw' \(bytes\) in data row 1"),
    ],
)
def test_text_values_refuses_other_types_in_one_line(values, message):
    with pytest.raises(DataValidationError, match=message):
        text_values(values, column="c", source="s")


def test_no_fillna_downcasting_warning(recwarn):
    text_values(pd.Series([1.0, np.nan]), column="c", source="s")
    text_values(pd.Series(["a", None], dtype=object), column="c", source="s")

    assert not [w for w in recwarn if issubclass(w.category, FutureWarning)]


@pytest.mark.slow
def test_float64_ids_score_alike_in_training_predict_and_the_api(tmp_path: Path):
    # GIVEN a Parquet export whose merchant ids are a nullable integer column, read back as float64 (42.0)
    config = load_config(PRICERUNNER_CONFIG)
    config = replace(
        config,
        features=replace(config.features, text_buckets=2**12, stacking_folds=3),
        model=replace(config.model, n_estimators=40),
    )
    catalogue = generate_catalogue(1_500, seed=3)
    merchants = catalogue["seller_id"].str[1:].astype("int64").astype("Int64")
    merchants[::50] = pd.NA
    raw = pd.DataFrame(
        {
            "Product Title": catalogue["title"],
            "Merchant ID": merchants,
            "Category Label": catalogue["category"],
            "Cluster ID": catalogue["product_id"],
            "Cluster Label": "canonical " + catalogue["product_id"],
        }
    )
    parquet = tmp_path / "export.parquet"
    raw.astype({"Merchant ID": "float64"}).to_parquet(parquet)

    # WHEN training reads it with the shared reader and fits, and the graph is exported
    loaded = load_raw(config, str(parquet)).frame
    assert loaded["Merchant ID"].dtype == np.float64
    cleaned = prepare_catalogue(loaded, config.data)
    pipeline = fit_model(config, split_catalogue(cleaned, config.split))
    metadata = {"model_version": "t", "classes": list(pipeline.classes_), "inputs": input_schema(config.data)}
    model = to_onnx_model(pipeline, config.data, metadata)
    embed_metadata(model, metadata)
    model_path = tmp_path / "model.onnx"
    model_path.write_bytes(model.SerializeToString())

    # THEN training saw "42", never "42.0"
    assert not cleaned["merchant_id"].str.endswith(".0").any()
    assert set(cleaned["merchant_id"]) >= {"", str(int(merchants.dropna().iloc[0]))}

    # AND the pipeline, make predict (from the Parquet) and the API (ids as JSON integers) answer alike
    rows = loaded.head(60)
    expected = pipeline.predict_proba(model_columns(rows, config.data, "x")[list(config.data.columns)])
    classes = list(pipeline.classes_)

    out = tmp_path / "predictions"
    result = CliRunner().invoke(
        predict_app,
        ["--model", str(model_path), "--data", str(parquet), "--out", str(out), "--config", str(PRICERUNNER_CONFIG)],
    )
    assert result.exit_code == 0, result.output
    predicted = pd.read_parquet(out).head(60)

    settings = Settings(model_path=model_path)
    client = TestClient(create_app(load_model(settings), settings))
    body = {
        "items": [
            {"title": title} | ({} if pd.isna(merchant) else {"merchant_id": int(merchant)})
            for title, merchant in zip(rows["Product Title"], rows["Merchant ID"], strict=True)
        ]
    }
    answers = client.post("/predict/batch", json=body, params={"top_k": len(classes)}).json()["predictions"]

    for index, answer in enumerate(answers):
        api = {entry["label"]: entry["probability"] for entry in answer["top_k"]}
        best = int(np.argmax(expected[index]))
        assert answer["label"] == predicted["label"].iloc[index] == classes[best]
        assert abs(predicted["confidence"].iloc[index] - expected[index][best]) <= 1e-5
        assert max(abs(api[label] - expected[index][k]) for k, label in enumerate(classes)) <= 1e-5


def test_the_local_engine_reads_folders_globs_and_parquet_like_dask_and_predict(tmp_path: Path):
    # GIVEN one catalogue split into a CSV and a Parquet file in a folder (the local engine once refused Parquet)
    config = load_config(PROJECT_ROOT / "configs" / "synthetic.yaml")
    frame = generate_catalogue(100, seed=4)
    folder = tmp_path / "export"
    folder.mkdir()
    frame.iloc[:60].to_csv(folder / "a.csv", index=False)
    frame.iloc[60:].to_parquet(folder / "b.parquet")

    # WHEN make train's loader reads the folder, a glob and the Parquet file alone
    whole = load_raw(config, str(folder))
    globbed = load_raw(config, str(folder / "*.parquet"))

    # THEN every row is there, and each source has its own digest
    assert len(whole.frame) == 100
    assert whole.frame["title"].tolist() == frame["title"].tolist()
    assert len(globbed.frame) == 40
    assert whole.sha256 != globbed.sha256


def test_files_no_export_means_as_data_are_left_out_of_a_folder_but_read_when_named(tmp_path: Path):
    # GIVEN an export folder as notebooks, macOS archives and Spark leave it
    config = load_config(PROJECT_ROOT / "configs" / "synthetic.yaml")
    frame = generate_catalogue(100, seed=4)
    folder = tmp_path / "export"
    (folder / ".ipynb_checkpoints").mkdir(parents=True)
    (folder / "__MACOSX").mkdir()
    frame.to_csv(folder / "part-0.csv", index=False)
    frame.to_csv(folder / ".ipynb_checkpoints" / "part-0-checkpoint.csv", index=False)  # a stale copy
    (folder / "__MACOSX" / "._part-0.csv").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X")
    (folder / "_SUCCESS").write_text("")

    # WHEN the folder, and then the checkpoint file by its own name, are read
    whole = load_raw(config, str(folder))
    named = load_raw(config, str(folder / ".ipynb_checkpoints" / "part-0-checkpoint.csv"))

    # THEN the folder holds the export once, and a file named on its own is read
    assert len(whole.frame) == len(named.frame) == 100


def test_the_local_engine_reads_s3_like_dask(moto_server, tmp_path: Path):
    # GIVEN a catalogue CSV in a bucket on a local S3 endpoint (local make train once read s3:// as a path)
    import boto3

    config = load_config(PROJECT_ROOT / "configs" / "synthetic.yaml")
    generate_catalogue(50, seed=4).to_csv(tmp_path / "x.csv", index=False)
    s3 = boto3.session.Session().client("s3")
    s3.create_bucket(Bucket="catalogues")
    s3.upload_file(str(tmp_path / "x.csv"), "catalogues", "export/x.csv")

    # WHEN the local engine's loader reads it, and a key that is not there
    loaded = load_raw(config, "s3://catalogues/export/x.csv")
    with pytest.raises(DataValidationError, match=r"data not found: s3://catalogues/export/absent\.csv"):
        load_raw(config, "s3://catalogues/export/absent.csv")

    # THEN the rows are there
    assert len(loaded.frame) == 50
