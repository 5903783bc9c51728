"""`make predict`: bulk scoring with the ONNX graph answers exactly as the function does, locally and on Dask."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import boto3
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from onnx import TensorProto, helper, numpy_helper
from typer.testing import CliRunner

from handler.model import load_model
from handler.settings import Settings
from tests.conftest import train_tiny_model, with_metadata
from training.cli.predict import REPEATED_HEADER, app
from training.config import DEFAULT_CONFIG_PATH, load_config
from training.data.synthetic import generate_catalogue
from training.data.taxonomy import generate_taxonomy_catalogue
from training.model.metadata import METADATA_KEY

if TYPE_CHECKING:
    from collections.abc import Callable


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    folder = tmp_path_factory.mktemp("catalogue")
    frame = generate_catalogue(1_200, seed=11)
    frame.loc[3, "price"] = None  # a missing number
    frame.loc[4, "brand"] = None  # a missing string
    frame.loc[5, "title"] = "Kühl ΣΊΣΥΦΟΣ \U0002ebf0 " + "x" * 1_500  # a long, odd title among short ones
    frame.iloc[:600].to_csv(folder / "part-a.csv", index=False)
    frame.iloc[600:].to_csv(folder / "part-b.csv", index=False)
    parquet = folder / "parquet"
    parquet.mkdir()
    frame.iloc[:600].to_parquet(parquet / "one.parquet")
    frame.iloc[600:].to_parquet(parquet / "two.parquet")
    return folder, frame


def _handler_labels(model_path, frame):
    model = load_model(Settings(model_path=model_path))
    names = [spec["name"] for spec in model.inputs]
    rows = [{n: (None if pd.isna(row[n]) else row[n]) for n in names} for row in frame.to_dict("records")]
    return [p.label for p in model.predict(rows)]


def _run(*arguments):
    return CliRunner().invoke(app, list(arguments))


def test_local_engine_answers_like_the_function(model_path, catalogue, tmp_path):
    folder, frame = catalogue
    out = tmp_path / "predictions.parquet"

    result = _run("--model", str(model_path), "--data", str(folder / "part-*.csv"), "--out", str(out))

    assert result.exit_code == 0, result.output
    predictions = pd.read_parquet(out).sort_values("product_id", kind="stable")
    expected = frame.assign(expected=_handler_labels(model_path, frame)).sort_values("product_id", kind="stable")
    assert len(predictions) == len(frame)
    assert set(predictions.columns) >= {"product_id", "label", "confidence", "top_1_label", "top_3_probability"}
    assert predictions["label"].tolist() == expected["expected"].tolist()
    assert (predictions["label"] == predictions["top_1_label"]).all()
    # a flat model's path is its label, with the label's probability as its one level
    assert (predictions["path"] == predictions["label"]).all()
    assert (predictions["level_1_confidence"] == predictions["confidence"]).all()


@pytest.mark.slow
def test_dask_engine_on_a_local_cluster_matches_the_local_engine(model_path, catalogue, tmp_path, monkeypatch):
    folder, _ = catalogue
    monkeypatch.setenv("WORKERS", "2")
    monkeypatch.setenv("WORKER_MEMORY", "1GiB")
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)

    on_dask = _run(
        "--model", str(model_path), "--data", str(folder / "parquet"), "--out", str(tmp_path / "d"), "--engine", "dask"
    )
    local = _run("--model", str(model_path), "--data", str(folder / "parquet"), "--out", str(tmp_path / "l"))

    assert on_dask.exit_code == 0, on_dask.output
    assert local.exit_code == 0, local.output
    by_id = ["product_id"]
    dask_rows = pd.read_parquet(tmp_path / "d").sort_values(by_id, kind="stable").reset_index(drop=True)
    local_rows = pd.read_parquet(tmp_path / "l").sort_values(by_id, kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(dask_rows, local_rows)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("{folder}/absent.csv", "data not found"),
        ("{folder}/nothing-*.csv", "no CSV, TSV or Parquet files match"),
        ("", "set DATA="),
    ],
)
def test_bad_data_is_one_line(model_path, catalogue, tmp_path, data, message):
    folder, _ = catalogue

    result = _run(
        "--model", str(model_path), "--data", data.replace("{folder}", str(folder)), "--out", str(tmp_path / "o")
    )

    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_missing_input_column_names_it(model_path, tmp_path):
    csv = tmp_path / "c.csv"
    csv.write_text("name,seller_id\nphone,s1\n")

    result = _run("--model", str(model_path), "--data", str(csv), "--out", str(tmp_path / "o"))

    assert result.exit_code == 1
    assert "missing column 'title' (input 'title')" in result.output


@pytest.mark.parametrize("later", [False, True], ids=["the only file", "a later file of a folder"])
def test_a_header_below_a_template_row_is_named_with_the_rows_to_delete(model_path, tmp_path, later):
    # GIVEN an Amazon-style flat file: a template row, with blank cells, above the real header
    folder = tmp_path / "feeds"
    folder.mkdir()
    frame = generate_catalogue(4, seed=3)
    if later:
        frame.to_csv(folder / "a.csv", index=False)
    (folder / "b.csv").write_text("TemplateType=fptcustom,Version=2023" + "," * 5 + "\n" + frame.to_csv(index=False))

    result = _run("--model", str(model_path), "--data", str(folder), "--out", str(tmp_path / "o"))

    assert result.exit_code == 1
    assert "(the header looks to be the file's row 2: delete the 1 row(s) above it, so it comes first)" in (
        result.output
    )


def test_an_id_column_named_like_an_answer_column_is_refused_not_overwritten(model_path, catalogue, tmp_path):
    _, frame = catalogue
    data = tmp_path / "labelled.csv"
    frame.head(20).rename(columns={"category": "label"}).to_csv(data, index=False)

    result = _run("--model", str(model_path), "--data", str(data), "--id", "label", "--out", str(tmp_path / "o"))

    assert result.exit_code == 1
    assert "id column(s) ['label'] would be overwritten by the answer's own column(s)" in result.output
    assert not (tmp_path / "o").exists()


def test_a_config_that_maps_no_column_to_an_input_names_it(model_path, catalogue, tmp_path):
    folder, _ = catalogue
    config = tmp_path / "c.yaml"
    config.write_text("name: x\ndata: {columns: {title: title, seller_id: seller_id, brand: brand}, target: category, "
                      "text: title, hashed: [seller_id, brand]}\n")  # fmt: skip

    result = _run("--model", str(model_path), "--data", str(folder / "part-a.csv"), "--config", str(config),
                  "--out", str(tmp_path / "o"))  # fmt: skip

    assert result.exit_code == 1
    assert "maps no column to the model's input(s) ['price']" in result.output
    assert "Traceback" not in result.output


def test_a_config_reading_prices_in_a_currency_the_model_was_not_trained_in_is_refused(model_path, catalogue, tmp_path):
    # GIVEN a config for a feed that writes "15.00 USD", for a model trained on plain numbers
    folder, _ = catalogue
    config = tmp_path / "c.yaml"
    config.write_text("name: x\ndata: {columns: {title: title, seller_id: seller_id, brand: brand, price: price}, "
                      "target: category, text: title, hashed: [seller_id, brand], numeric: [price], "
                      "currency: {price: USD}}\n")  # fmt: skip

    result = _run("--model", str(model_path), "--data", str(folder / "part-a.csv"), "--config", str(config),
                  "--out", str(tmp_path / "o"))  # fmt: skip

    assert result.exit_code == 1
    assert "reads price in USD, but the model was trained on it as plain numbers" in result.output


def test_missing_model_says_to_train(tmp_path, catalogue):
    folder, _ = catalogue

    result = _run(
        "--model", str(tmp_path / "none.onnx"), "--data", str(folder / "part-a.csv"), "--out", str(tmp_path / "o")
    )

    assert result.exit_code == 1
    assert "model not found" in result.output
    assert "pass MODEL=" in result.output
    # AND a run's folder given for its model is named so
    (tmp_path / "run").mkdir()
    folder_given = _run(
        "--model", str(tmp_path / "run"), "--data", str(folder / "part-a.csv"), "--out", str(tmp_path / "o")
    )
    assert f"is a folder; pass the model file in it (MODEL={tmp_path / 'run' / 'model.onnx'})" in folder_given.output


@pytest.mark.slow
def test_parquet_on_s3_is_read_through_aws_endpoint_url(model_path, catalogue, moto_server, tmp_path):
    # GIVEN the Parquet catalogue in a bucket on a local S3 endpoint (moto_server)
    folder, frame = catalogue
    client = boto3.session.Session().client("s3")  # not the default session, which would cache these credentials
    client.create_bucket(Bucket="catalogues")
    for path in sorted((folder / "parquet").iterdir()):
        client.upload_file(str(path), "catalogues", f"export/{path.name}")

    # WHEN it is scored straight from s3://
    result = _run("--model", str(model_path), "--data", "s3://catalogues/export", "--out", str(tmp_path / "o"))

    # THEN every row comes back, answered as the function would
    assert result.exit_code == 0, result.output
    predictions = pd.read_parquet(tmp_path / "o").sort_values("product_id", kind="stable")
    expected = frame.assign(expected=_handler_labels(model_path, frame)).sort_values("product_id", kind="stable")
    assert predictions["label"].tolist() == expected["expected"].tolist()


def _many_class_model(path, classes: int) -> None:
    """A hand-built graph of the exported model's shape with `classes` classes: the price picks the class."""
    weights = np.random.default_rng(0).normal(size=(1, classes)).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["price", "weights"], ["scores"]),
        helper.make_node("Softmax", ["scores"], ["probabilities"], axis=1),
        helper.make_node("ArgMax", ["probabilities"], ["best"], axis=1, keepdims=0),
        helper.make_node("Gather", ["classes", "best"], ["label"]),
        helper.make_node("Unsqueeze", ["best", "one_axis"], ["path_nodes"]),
        helper.make_node("ReduceMax", ["probabilities", "one_axis"], ["path_confidence"], keepdims=1),
    ]
    graph = helper.make_graph(
        nodes,
        "many-classes",
        [helper.make_tensor_value_info("title", TensorProto.STRING, [None, 1]),
         helper.make_tensor_value_info("price", TensorProto.FLOAT, [None, 1])],
        [helper.make_tensor_value_info("label", TensorProto.STRING, [None]),
         helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, classes]),
         helper.make_tensor_value_info("path_nodes", TensorProto.INT64, [None, 1]),
         helper.make_tensor_value_info("path_confidence", TensorProto.FLOAT, [None, 1])],
        [numpy_helper.from_array(weights, "weights"), numpy_helper.from_array(np.array([1]), "one_axis"),
         helper.make_tensor("classes", TensorProto.STRING, [classes], [f"Leaf {i}".encode() for i in range(classes)])],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    metadata = {
        "classes": [f"Leaf {i}" for i in range(classes)],
        "inputs": [{"name": "title", "type": "string", "required": True}, {"name": "price", "type": "float"}],
        "model_version": "many-classes",
        # a row to check the graph with at load, as the function does (this graph reads a missing price as NaN)
        "golden_examples": [{"inputs": {"title": "a title", "price": 1.0}}],
        "taxonomy": {"separator": None, "names": [f"Leaf {i}" for i in range(classes)], "parents": [-1] * classes,
                     "leaf_nodes": list(range(classes))},
    }  # fmt: skip
    helper.set_model_props(model, {METADATA_KEY: json.dumps(metadata)})
    path.write_bytes(model.SerializeToString())


def test_5000_classes_score_to_the_top_three_and_a_short_summary(tmp_path):
    # GIVEN a 5,000-class model and 1,000 rows (the whole probability matrix would be 20 MB a partition)
    model = tmp_path / "model.onnx"
    _many_class_model(model, 5_000)
    prices = np.abs(np.random.default_rng(1).normal(size=1_000))  # the API refuses a negative price
    pd.DataFrame({"product_id": range(1_000), "title": "a title", "price": prices}).to_csv(tmp_path / "rows.csv")

    # WHEN make predict scores them
    out = tmp_path / "predictions.parquet"
    result = _run("--model", str(model), "--data", str(tmp_path / "rows.csv"), "--out", str(out))

    # THEN the summary is a few short lines, and each row carries its label and top three, best first
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    assert summary["rows"] == 1_000
    assert max(len(line) for line in result.output.splitlines()) < 600
    predictions = pd.read_parquet(out)
    assert predictions.shape == (1_000, 12)  # id, label, confidence, top 3 × 2, path, level_1_confidence, refused
    assert (predictions["label"] == predictions["top_1_label"]).all()
    assert (predictions["top_1_probability"] >= predictions["top_2_probability"]).all()
    assert (predictions["top_2_probability"] >= predictions["top_3_probability"]).all()


def test_taxonomy_model_writes_the_path_and_a_confidence_per_level(taxonomy_model_path, tmp_path):
    # GIVEN a catalogue with path labels, scored by a three-level taxonomy model
    frame = generate_taxonomy_catalogue(300, 30, seed=12)
    frame.to_csv(tmp_path / "catalogue.csv", index=False)

    result = _run(
        "--model", str(taxonomy_model_path), "--data", str(tmp_path / "catalogue.csv"), "--out", str(tmp_path / "o")
    )

    # THEN each row carries the leaf's path and three confidences that never increase with depth, as the function
    assert result.exit_code == 0, result.output
    predictions = pd.read_parquet(tmp_path / "o")
    levels = predictions[["level_1_confidence", "level_2_confidence", "level_3_confidence"]].to_numpy()
    assert (predictions["path"] == predictions["label"]).all()  # the synthetic separator is " > " too
    assert (levels[:, :-1] >= levels[:, 1:]).all()
    assert (levels[:, -1] >= predictions["confidence"] - 1e-6).all()
    model = load_model(Settings(model_path=taxonomy_model_path))
    first = model.predict([{"title": frame["title"].iloc[0], "seller_id": frame["seller_id"].iloc[0],
                            "brand": frame["brand"].iloc[0], "price": frame["price"].iloc[0]}])[0]  # fmt: skip
    assert levels[0].tolist() == first.path_confidence.tolist()


def _handler_answers(model_path, frame, **query):
    """The API's answers for the frame's rows (decisions at the deployment's default target)."""
    from fastapi.testclient import TestClient

    from handler.app import create_app

    model = load_model(Settings(model_path=model_path))
    client = TestClient(create_app(model, Settings(model_path=model_path)))
    names = [spec["name"] for spec in model.inputs]
    items = [{n: (None if pd.isna(row[n]) else row[n]) for n in names} for row in frame.to_dict("records")]
    items = [{n: v for n, v in item.items() if v is not None} for item in items]
    answers = []
    for start in range(0, len(items), 500):
        body = client.post("/predict/batch", params=query, json={"items": items[start : start + 500]}).json()
        answers += body["predictions"]
    return answers


def _scored_beside_the_api(model_path, frame, tmp_path):
    """`make predict`'s run, its predictions and the API's answers for the same rows, both at precision 0.95."""
    frame.to_csv(tmp_path / "rows.csv", index=False)
    result = _run("--model", str(model_path), "--data", str(tmp_path / "rows.csv"), "--out", str(tmp_path / "p"),
                  "--target-precision", "0.95")  # fmt: skip
    assert result.exit_code == 0, result.output
    return result, pd.read_parquet(tmp_path / "p"), _handler_answers(model_path, frame, target_precision=0.95)


def test_every_row_gets_the_apis_decision_and_the_summary_counts_them(model_path, catalogue, tmp_path):
    # GIVEN a catalogue short enough for the API's limits
    _, frame = catalogue
    short = frame.drop(index=5)

    result, predictions, api = _scored_beside_the_api(model_path, short, tmp_path)

    # THEN each row's decision is the API's at the same target, and the summary adds them up
    assert predictions["decision"].tolist() == [answer["decision"] for answer in api]
    assert predictions["decision_level"].tolist() == [answer["decision_level"] for answer in api]
    summary = json.loads(result.stdout[result.stdout.index("{") :])["decisions"]
    assert summary["target_precision"] == 0.95
    assert summary["accepted"] + summary["review"] == len(short)
    assert sum(summary["accepted_by_level"].values()) == summary["accepted"]


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("0.9", "TARGET_PRECISION 0.9 is not one of the model's operating points [0.95, 0.98, 0.99]"),
        ("abc", "TARGET_PRECISION must be a number such as 0.98, got 'abc'"),  # typer's box, exit 2, before
        ("nan", "TARGET_PRECISION must be a number such as 0.98, got 'nan'"),
    ],
)
def test_a_target_the_model_did_not_record_is_one_line(model_path, catalogue, tmp_path, target, message):
    folder, _ = catalogue

    result = _run("--model", str(model_path), "--data", str(folder / "part-a.csv"), "--out", str(tmp_path / "p"),
                  "--target-precision", target)  # fmt: skip

    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_file_in_the_training_catalogues_own_columns_needs_no_config(other_schema_model_path, tmp_path):
    # GIVEN a model trained from PriceRunner's columns and a file in those columns
    frame = generate_catalogue(50, seed=8).rename(columns={"title": "Product Title", "seller_id": "Merchant ID"})
    frame.to_csv(tmp_path / "export.csv", index=False)

    result = _run("--model", str(other_schema_model_path), "--data", str(tmp_path / "export.csv"),
                  "--out", str(tmp_path / "p"))  # fmt: skip

    assert result.exit_code == 0, result.output
    assert len(pd.read_parquet(tmp_path / "p")) == 50


def test_explain_writes_the_apis_explanation_for_every_row(model_path, catalogue, tmp_path):
    _, frame = catalogue
    rows = frame.iloc[10:14]
    rows.to_csv(tmp_path / "few.csv", index=False)

    result = _run("--model", str(model_path), "--data", str(tmp_path / "few.csv"), "--out", str(tmp_path / "p"),
                  "--explain")  # fmt: skip

    assert result.exit_code == 0, result.output
    written = [json.loads(text) for text in pd.read_parquet(tmp_path / "p")["explanation"]]
    api = [answer["explanation"] for answer in _handler_answers(model_path, rows, explain="true")]
    for ours, theirs in zip(written, api, strict=True):
        assert [w["word"] for w in ours["words"]] == [w["word"] for w in theirs["words"]]
        assert np.allclose([w["delta"] for w in ours["words"]], [w["delta"] for w in theirs["words"]], atol=1e-6)
        assert [f["field"] for f in ours["fields"]] == [f["field"] for f in theirs["fields"]]


@pytest.fixture(scope="module")
def pipe_model(tmp_path_factory):
    """A taxonomy model whose labels join their levels with "|" (as Amazon's exports do), and its catalogue."""
    config = load_config(DEFAULT_CONFIG_PATH)
    config = replace(config, data=replace(config.data, path_separator="|"))
    frame = generate_taxonomy_catalogue(3_000, 30, seed=4)
    frame["category"] = frame["category"].str.replace(" > ", "|", regex=False)
    path = train_tiny_model(config, frame, tmp_path_factory.mktemp("pipe") / "model.onnx", "test-pipe-1")
    return path, frame


def test_paths_and_decisions_use_the_labels_own_separator_as_the_api_does(pipe_model, tmp_path):
    model, frame = pipe_model

    result, predictions, api = _scored_beside_the_api(model, frame.iloc[:200], tmp_path)

    assert predictions["path"].tolist() == [answer["path"][-1]["node"] for answer in api]
    assert predictions["decision_label"].tolist() == [answer["decision_label"] for answer in api]
    assert predictions["path"].str.contains("|", regex=False).all()
    # AND the summary counts the answers accepted above their category, whose category goes to review
    above = [a for a in api if a["decision"] == "accept" and a["decision_label"] != a["label"]]
    assert above
    assert json.loads(result.stdout[result.stdout.index("{") :])["decisions"]["leaf_review"] == len(above)


def test_the_product_column_is_copied_beside_the_answers_whatever_its_name(model_path, tmp_path):
    # GIVEN an export whose products are keyed by "code" (Open Food Facts), named as the config's data.group
    frame = generate_catalogue(30, seed=3).rename(columns={"product_id": "code"})
    frame.to_csv(tmp_path / "rows.csv", index=False)
    config = tmp_path / "config.yaml"
    config.write_text(DEFAULT_CONFIG_PATH.read_text().replace("group: product_id", "group: code"))

    result = _run("--model", str(model_path), "--data", str(tmp_path / "rows.csv"), "--out", str(tmp_path / "p"),
                  "--config", str(config))  # fmt: skip

    # THEN each answer carries its product's code, in the file's order
    assert result.exit_code == 0, result.output
    assert pd.read_parquet(tmp_path / "p")["code"].tolist() == frame["code"].tolist()


def test_a_listing_code_is_copied_beside_the_answers(model_path, tmp_path):
    # GIVEN a shop export whose listings are keyed by their SKU (Magento, WooCommerce)
    frame = generate_catalogue(30, seed=3).assign(SKU=lambda rows: "sku-" + rows.index.astype(str))
    frame.to_csv(tmp_path / "rows.csv", index=False)

    result = _run("--model", str(model_path), "--data", str(tmp_path / "rows.csv"), "--out", str(tmp_path / "p"))

    assert result.exit_code == 0, result.output
    assert pd.read_parquet(tmp_path / "p")["SKU"].tolist() == frame["SKU"].tolist()


def test_columns_are_copied_when_their_name_ends_in_the_word_id_not_the_letters(model_path, tmp_path):
    # GIVEN an export with ids spelt several ways beside fields that merely end in the letters "id"
    frame = generate_catalogue(20, seed=3).assign(
        **{"Listing ID": "l", "variantId": "v", "ProductID": "p", "Paid": "yes", "Valid": 1, "Android": "no"}
    )
    frame.to_csv(tmp_path / "rows.csv", index=False)

    result = _run("--model", str(model_path), "--data", str(tmp_path / "rows.csv"), "--out", str(tmp_path / "p"))

    # THEN the ids ride along with the answers and the other fields do not
    assert result.exit_code == 0, result.output
    columns = set(pd.read_parquet(tmp_path / "p").columns)
    assert {"Listing ID", "variantId", "ProductID", "product_id"} <= columns
    assert not {"Paid", "Valid", "Android"} & columns


def test_files_that_type_an_id_differently_are_scored_into_one_output(model_path, tmp_path):
    # GIVEN a folder of two exports: one keys its listings by integer SKUs, the other by text SKUs
    folder = tmp_path / "exports"
    folder.mkdir()
    frame = generate_catalogue(20, seed=3)
    frame.iloc[:10].assign(SKU=range(10)).to_parquet(folder / "a.parquet")
    frame.iloc[10:].assign(SKU=[f"s-{i}" for i in range(10)]).to_parquet(folder / "b.parquet")

    result = _run("--model", str(model_path), "--data", str(folder), "--out", str(tmp_path / "p"))

    # THEN every row is scored and keeps its SKU, as text
    assert result.exit_code == 0, result.output
    skus = pd.read_parquet(tmp_path / "p")["SKU"].tolist()
    assert sorted(skus) == sorted([str(i) for i in range(10)] + [f"s-{i}" for i in range(10)])


def test_unsigned_ids_past_int64_are_copied_as_their_decimal_text(model_path, tmp_path):
    # GIVEN hash keys stored as uint64, beyond the largest int64
    ids = np.arange(5, dtype=np.uint64) + np.uint64(2**63)
    generate_catalogue(5, seed=3).assign(SKU=ids).to_parquet(tmp_path / "keys.parquet")

    result = _run("--model", str(model_path), "--data", str(tmp_path / "keys.parquet"), "--out", str(tmp_path / "p"))

    assert result.exit_code == 0, result.output
    assert pd.read_parquet(tmp_path / "p")["SKU"].tolist() == [str(value) for value in ids]


def test_binary_ids_are_copied_as_text_and_bytes_that_are_no_utf8_as_escapes(model_path, tmp_path):
    # GIVEN keys a warehouse stores as bytes: two are UTF-8 text, one a packed key that is not, one missing
    keys = [b"sku-1", b"\xff\x00\xfe", None, "é".encode()]
    generate_catalogue(4, seed=3).assign(SKU=keys).to_parquet(tmp_path / "keys.parquet")

    result = _run("--model", str(model_path), "--data", str(tmp_path / "keys.parquet"), "--out", str(tmp_path / "p"))

    # THEN each is copied as text: the packed key byte by byte, the others as written
    assert result.exit_code == 0, result.output
    copied = pq.read_table(tmp_path / "p").column("SKU").to_pylist()
    assert copied == ["sku-1", "\\xff\x00\\xfe", None, "é"]


def test_integer_ids_with_gaps_are_copied_with_every_digit(model_path, tmp_path):
    # GIVEN 19-digit SKUs stored as a nullable int64 (a warehouse's BIGINT), some missing
    skus = pd.array([1_234_567_890_123_456_789 + i for i in range(5)], dtype="Int64")
    skus[1] = pd.NA
    generate_catalogue(5, seed=3).assign(SKU=skus).to_parquet(tmp_path / "skus.parquet")

    result = _run("--model", str(model_path), "--data", str(tmp_path / "skus.parquet"), "--out", str(tmp_path / "p"))

    assert result.exit_code == 0, result.output
    copied = pq.read_table(tmp_path / "p").column("SKU").to_pylist()
    assert copied == [None if value is pd.NA else str(value) for value in skus]


def test_float_ids_are_copied_as_integer_text_whatever_else_the_column_holds(model_path, tmp_path):
    # GIVEN SKUs a spreadsheet stored as floats: whole numbers past int64, a gap, and one fraction among them
    skus = [1.0, np.nan, 2.5, 1e17, 1e20]
    generate_catalogue(5, seed=3).assign(SKU=skus).to_parquet(tmp_path / "floats.parquet")

    result = _run("--model", str(model_path), "--data", str(tmp_path / "floats.parquet"), "--out", str(tmp_path / "p"))

    assert result.exit_code == 0, result.output
    copied = pq.read_table(tmp_path / "p").column("SKU").to_pylist()
    assert copied == ["1", None, "2.5", "100000000000000000", "100000000000000000000"]


def test_a_row_repeating_the_header_is_refused_as_such_and_the_rows_around_it_scored(model_path, tmp_path):
    # GIVEN two exports joined one after another (`cat`), each with its header
    frame = generate_catalogue(6, seed=3)
    first, second = frame.iloc[:3].to_csv(index=False), frame.iloc[3:].to_csv(index=False)
    (tmp_path / "joined.csv").write_text(first + second)

    result = _run("--model", str(model_path), "--data", str(tmp_path / "joined.csv"), "--out", str(tmp_path / "p"))

    # THEN the header line is refused for what it is, not scored as a listing nor refused for its price
    assert result.exit_code == 0, result.output
    answers = pd.read_parquet(tmp_path / "p")
    assert answers["refused"].fillna("").tolist() == ["", "", "", REPEATED_HEADER, "", "", ""]
    assert "repeats the header" in REPEATED_HEADER
    assert answers["label"].isna().tolist() == [False, False, False, True, False, False, False]


def test_a_header_line_in_a_title_only_feed_is_refused_as_such(model_path, tmp_path):
    # GIVEN two title-only exports (ids and titles: every other input optional) joined with their headers
    frame = generate_catalogue(4, seed=3)[["product_id", "title"]]
    (tmp_path / "joined.csv").write_text(frame.iloc[:2].to_csv(index=False) + frame.iloc[2:].to_csv(index=False))

    result = _run("--model", str(model_path), "--data", str(tmp_path / "joined.csv"), "--out", str(tmp_path / "p"))

    assert result.exit_code == 0, result.output
    answers = pd.read_parquet(tmp_path / "p")
    assert answers["refused"].fillna("").tolist() == ["", "", REPEATED_HEADER, "", ""]


def test_a_folder_whose_first_file_holds_only_a_header_is_scored(model_path, tmp_path):
    # GIVEN a folder of daily exports, the first day empty
    folder = tmp_path / "daily"
    folder.mkdir()
    frame = generate_catalogue(20, seed=3)
    frame.iloc[:0].to_csv(folder / "2024-05-01.csv", index=False)
    frame.to_csv(folder / "2024-05-02.csv", index=False)

    result = _run("--model", str(model_path), "--data", str(folder), "--out", str(tmp_path / "p"))

    # THEN the other day's rows are all scored
    assert result.exit_code == 0, result.output
    assert pd.read_parquet(tmp_path / "p")["label"].notna().sum() == 20


def test_an_id_column_the_file_lacks_is_named_with_the_file(model_path, tmp_path):
    generate_catalogue(10, seed=3).to_csv(tmp_path / "rows.csv", index=False)

    result = _run("--model", str(model_path), "--data", str(tmp_path / "rows.csv"), "--out", str(tmp_path / "p"),
                  "--id", "link")  # fmt: skip

    assert result.exit_code == 1
    assert f"{tmp_path / 'rows.csv'}: id column(s) ['link'] not among its columns" in result.output


def test_an_optional_input_spelt_otherwise_is_named_with_what_to_do(model_path, tmp_path):
    # GIVEN an export whose columns differ from the config's only in case and spacing
    frame = generate_catalogue(20, seed=3).rename(columns={"price": "Price", "brand": " Brand"})
    frame.to_csv(tmp_path / "export.csv", index=False)

    result = _run("--model", str(model_path), "--data", str(tmp_path / "export.csv"), "--out", str(tmp_path / "p"))

    # THEN the run still scores them as missing, and says which columns it could have read with a CONFIG
    assert result.exit_code == 0, result.output
    (warning,) = [line for line in result.output.splitlines() if "optional inputs not in the file" in line]
    assert "the file names {'brand': ' Brand', 'price': 'Price'} otherwise: pass a CONFIG" in warning


def test_a_file_without_an_id_column_says_its_answers_line_up_by_order_alone(model_path, tmp_path):
    # GIVEN a feed of titles and prices alone, and the same feed with its product ids
    frame = generate_catalogue(10, seed=3)
    frame[["title", "price"]].to_csv(tmp_path / "bare.csv", index=False)
    frame.to_csv(tmp_path / "ided.csv", index=False)

    bare = _run("--model", str(model_path), "--data", str(tmp_path / "bare.csv"), "--out", str(tmp_path / "a"))
    ided = _run("--model", str(model_path), "--data", str(tmp_path / "ided.csv"), "--out", str(tmp_path / "b"))

    assert bare.exit_code == ided.exit_code == 0, bare.output + ided.output
    assert "no id column to copy beside the answers" in bare.output
    assert "no id column" not in ided.output


def test_a_file_without_the_optional_inputs_is_scored_as_the_api_scores_them_omitted(model_path, tmp_path):
    # GIVEN a title-only feed for a model that also reads seller, brand and price (optional inputs)
    frame = generate_catalogue(40, seed=3)[["product_id", "title"]]
    frame.to_csv(tmp_path / "titles.csv", index=False)

    result = _run("--model", str(model_path), "--data", str(tmp_path / "titles.csv"), "--out", str(tmp_path / "p"))

    # THEN every row is scored, each as the API answers the title alone, and the run says what it left missing
    assert result.exit_code == 0, result.output
    assert "optional inputs not in the file: scored as missing" in result.output
    expected = [answer["label"] for answer in _handler_answers(model_path, frame.assign(seller_id=None, brand=None,
                                                                                        price=None))]  # fmt: skip
    assert pd.read_parquet(tmp_path / "p")["label"].tolist() == expected


def test_a_later_file_without_the_optional_inputs_is_scored_whatever_the_order(model_path, tmp_path):
    # GIVEN a folder whose second file is a title-only feed
    folder = tmp_path / "feeds"
    folder.mkdir()
    frame = generate_catalogue(40, seed=3)
    frame.iloc[:20].to_csv(folder / "a-full.csv", index=False)
    frame.iloc[20:][["product_id", "title"]].to_csv(folder / "b-titles.csv", index=False)

    result = _run("--model", str(model_path), "--data", str(folder), "--out", str(tmp_path / "p"))

    # THEN every row is scored, the title-only ones as the API answers a title alone
    assert result.exit_code == 0, result.output
    scored = pd.read_parquet(tmp_path / "p")
    expected = frame.iloc[20:].assign(seller_id=None, brand=None, price=None)
    assert scored["label"].tolist()[20:] == [answer["label"] for answer in _handler_answers(model_path, expected)]


def test_a_file_that_is_no_model_of_ours_is_one_line(model_path, tmp_path):
    generate_catalogue(10, seed=3).to_csv(tmp_path / "rows.csv", index=False)
    (tmp_path / "cut.onnx").write_bytes(model_path.read_bytes()[:500])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "other",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])  # fmt: skip
    (tmp_path / "other.onnx").write_bytes(helper.make_model(graph).SerializeToString())
    with_metadata(model_path, tmp_path / "broken.onnx", _title_dropping([[0x200F, 0x200B]]))
    with_metadata(
        model_path, tmp_path / "twice.onnx", lambda metadata: metadata["classes"].append(metadata["classes"][0])
    )
    with_metadata(model_path, tmp_path / "flat.onnx", lambda metadata: metadata.pop("taxonomy"))
    with_metadata(model_path, tmp_path / "reordered.onnx", _another_golden_label)

    # THEN each is refused in one line, as the function would refuse to load it
    for name, message in (
        ("cut", "is not a graph onnxruntime can load"),
        ("other", "has no 'product_classifier' metadata"),
        ("broken", "has inconsistent metadata: the title's 'dropped' must be"),
        ("twice", "has inconsistent metadata: 'classes' has duplicates"),
        ("flat", "has inconsistent metadata: 'taxonomy' (the class tree) is missing"),
        ("reordered", "where training recorded"),  # its golden examples recorded another answer
    ):
        result = _run("--model", str(tmp_path / f"{name}.onnx"), "--data", str(tmp_path / "rows.csv"),
                      "--out", str(tmp_path / name))  # fmt: skip

        assert result.exit_code == 1
        assert message in result.output
        assert "Traceback" not in result.output


def test_prices_with_a_currency_code_score_as_training_read_them(model_path, tmp_path):
    # GIVEN a model trained on prices in USD (data.currency, recorded on its price input), and a feed of such prices
    with_metadata(model_path, tmp_path / "usd.onnx", _priced_in("USD"))
    rows = generate_catalogue(3, seed=3).assign(product_id=["a", "b", "c"])
    plain = rows.assign(price=[299.0, 10.0, 5.0])
    plain.to_csv(tmp_path / "plain.csv", index=False)
    plain.assign(price=["299.00 USD", "10 USD", "5.00 EUR"]).to_csv(tmp_path / "feed.csv", index=False)

    for name in ("plain", "feed"):
        result = _run("--model", str(tmp_path / "usd.onnx"), "--data", str(tmp_path / f"{name}.csv"),
                      "--out", str(tmp_path / f"{name}.parquet"))  # fmt: skip
        assert result.exit_code == 0, result.output
    plain_answers, feed_answers = (pd.read_parquet(tmp_path / f"{name}.parquet") for name in ("plain", "feed"))

    # THEN the USD prices score as their numbers, and the EUR one is refused, not read as 5 USD, saying so
    assert feed_answers["label"].tolist()[:2] == plain_answers["label"].tolist()[:2]
    assert feed_answers["confidence"].tolist()[:2] == plain_answers["confidence"].tolist()[:2]
    assert feed_answers["label"].isna().tolist() == [False, False, True]
    assert feed_answers["refused"].fillna("").tolist() == [
        "",
        "",
        "price: a price in EUR; the model reads prices in USD, convert it",
    ]


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_new_listings_without_any_price_score_with_the_price_missing(model_path, tmp_path, suffix):
    # GIVEN new listings whose price column is blank throughout (Arrow reads it as nulls alone)
    rows = generate_catalogue(4, seed=3).assign(price=None)
    path = tmp_path / f"noprice.{suffix}"
    rows.to_csv(path, index=False) if suffix == "csv" else rows.to_parquet(path)

    result = _run("--model", str(model_path), "--data", str(path), "--out", str(tmp_path / "answers.parquet"))

    # THEN each is answered, as the API answers a request without a price
    assert result.exit_code == 0, result.output
    assert pd.read_parquet(tmp_path / "answers.parquet")["label"].notna().all()


def _priced_in(currency: str) -> Callable[[dict[str, Any]], None]:
    def change(metadata: dict[str, Any]) -> None:
        next(spec for spec in metadata["inputs"] if spec["type"] == "float")["currency"] = currency

    return change


def _another_golden_label(metadata: dict[str, Any]) -> None:
    """Metadata that does not belong to its graph: the first golden example recorded another class."""
    example = metadata["golden_examples"][0]
    example["label"] = next(name for name in metadata["classes"] if name != example["label"])


def _title_dropping(ranges: list[list[int]]) -> Callable[[dict[str, Any]], None]:
    def change(metadata: dict[str, Any]) -> None:
        next(spec for spec in metadata["inputs"] if spec.get("required"))["dropped"] = ranges

    return change


def test_an_id_the_api_would_refuse_is_named_in_its_own_file_and_row(model_path, tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    frame = generate_catalogue(30, seed=3)
    frame.iloc[:10].to_parquet(folder / "a.parquet")
    frame.iloc[10:].assign(seller_id=[1.0] * 4 + [2.5] + [3.0] * 15).to_parquet(folder / "b.parquet")

    result = _run("--model", str(model_path), "--data", str(folder), "--out", str(tmp_path / "p"))

    assert result.exit_code == 1
    assert f"{folder / 'b.parquet'}: column 'seller_id' (float64) holds 2.5 in data row 5" in result.output


def test_an_id_the_api_would_refuse_in_the_first_row_is_named_in_its_file(model_path, tmp_path):
    # GIVEN a warehouse dump whose very first seller id is beyond what the API takes (that row also types the output)
    frame = generate_catalogue(5, seed=3).assign(seller_id=pd.array([7 * 10**18, 1, 2, 3, 4], dtype="Int64"))
    frame.to_parquet(tmp_path / "dump.parquet")

    result = _run("--model", str(model_path), "--data", str(tmp_path / "dump.parquet"), "--out", str(tmp_path / "p"))

    assert result.exit_code == 1
    assert f"{tmp_path / 'dump.parquet'}: column 'seller_id' (Int64) holds 7000000000000000000 in data row 1" in (
        result.output
    )


def test_id_names_several_columns_and_a_variant_sku_is_an_id(model_path, tmp_path):
    # GIVEN a Shopify export: variants share a Handle and differ by their Variant SKU
    frame = generate_catalogue(10, seed=3).assign(Handle="h", **{"Variant SKU": [f"v{i}" for i in range(10)]})
    frame.to_csv(tmp_path / "shopify.csv", index=False)

    default = _run("--model", str(model_path), "--data", str(tmp_path / "shopify.csv"), "--out", str(tmp_path / "d"))
    chosen = _run("--model", str(model_path), "--data", str(tmp_path / "shopify.csv"), "--out", str(tmp_path / "c"),
                  "--id", "Handle,Variant SKU")  # fmt: skip

    assert default.exit_code == chosen.exit_code == 0, default.output + chosen.output
    assert "Variant SKU" in pd.read_parquet(tmp_path / "d").columns
    assert pd.read_parquet(tmp_path / "c")[["Handle", "Variant SKU"]].values.tolist() == [
        ["h", f"v{i}"] for i in range(10)
    ]


def test_an_eighteen_digit_decimal_id_beside_a_fraction_is_copied_digit_for_digit(model_path, tmp_path):
    # GIVEN SKUs as decimal(22,2), beyond a float's exact integers, one of them with cents (a data-entry slip)
    skus = [Decimal(123456789012345678 + n) for n in range(6)]
    skus[5] += Decimal("0.50")
    table = pa.Table.from_pandas(generate_catalogue(6, seed=3).drop(columns=["product_id"]), preserve_index=False)
    pq.write_table(table.append_column("sku_id", pa.array(skus, pa.decimal128(22, 2))), tmp_path / "skus.parquet")

    result = _run("--model", str(model_path), "--data", str(tmp_path / "skus.parquet"), "--out", str(tmp_path / "p"))

    # THEN each whole SKU keeps every digit: as floats they would round into one another
    assert result.exit_code == 0, result.output
    copied = pd.read_parquet(tmp_path / "p")["sku_id"].tolist()
    assert copied[:5] == [str(123456789012345678 + n) for n in range(5)]


def test_parquet_decimal_ids_score_and_are_copied_as_their_whole_numbers(model_path, tmp_path):
    # GIVEN an export whose ids are Parquet decimals (Spark's and Oracle's decimal(20,0)), and the same rows as text
    rows = generate_catalogue(6, seed=3).assign(product_id=[str(127 + n) for n in range(6)])
    table = pa.Table.from_pandas(rows.drop(columns=["seller_id", "product_id"]), preserve_index=False)
    for column, scale in (("seller_id", 0), ("product_id", 2)):
        numbers = pa.array([Decimal(value).quantize(Decimal(1).scaleb(-scale)) for value in
                            rows[column].str.lstrip("s")], pa.decimal128(20, scale))  # fmt: skip
        table = table.append_column(column, numbers)
    rows_as_decimals = rows.assign(seller_id=rows["seller_id"].str.lstrip("s"))
    rows_as_decimals.to_csv(tmp_path / "plain.csv", index=False)
    pq.write_table(table, tmp_path / "decimal.parquet")

    for name in ("plain.csv", "decimal.parquet"):
        result = _run("--model", str(model_path), "--data", str(tmp_path / name), "--out", str(tmp_path / name[:5]))
        assert result.exit_code == 0, result.output
    plain, decimal = (pd.read_parquet(tmp_path / name) for name in ("plain", "decim"))

    # THEN the decimals score as their whole numbers do, and are copied as "127", never "127.00"
    assert decimal["product_id"].tolist() == [str(127 + n) for n in range(6)]
    assert decimal["confidence"].tolist() == plain["confidence"].tolist()


def test_titles_an_unclosed_quote_ran_together_are_warned_of(model_path, tmp_path):
    # GIVEN a Merchant Center feed (tab-separated, nothing quoted) where one title opens a quote it never closes
    rows = generate_catalogue(8, seed=3).astype(str)
    rows.loc[2, "title"] = '"dyson ' + rows.loc[2, "title"]  # a later title's inches close it: 55"
    rows.loc[5, "title"] = rows.loc[5, "title"] + ' 55"'
    lines = ["\t".join(rows.columns), *("\t".join(row) for row in rows.itertuples(index=False))]
    (tmp_path / "feed.tsv").write_text("\n".join(lines) + "\n")

    result = _run("--model", str(model_path), "--data", str(tmp_path / "feed.tsv"), "--out", str(tmp_path / "p"))

    # THEN the rows after it, read into one title, are said to be so
    assert result.exit_code == 0, result.output
    assert "titles span several lines: where a quote in the file is not closed" in result.output
    assert len(pd.read_parquet(tmp_path / "p")) < len(rows)


def test_a_first_title_that_spans_lines_is_warned_of_once(model_path, tmp_path):
    # GIVEN a file whose very first title spans two lines (the row scored for the output's types too)
    frame = generate_catalogue(4, seed=3)
    frame.loc[0, "title"] = "samsung tv\n55 inch"
    frame.to_csv(tmp_path / "feed.csv", index=False)

    result = _run("--model", str(model_path), "--data", str(tmp_path / "feed.csv"), "--out", str(tmp_path / "p"))

    assert result.exit_code == 0, result.output
    assert result.output.count("titles span several lines") == 1


def test_a_later_file_without_an_optional_input_is_named(model_path, tmp_path):
    # GIVEN a folder whose first file has every input and whose second is a title-only feed
    frame = generate_catalogue(20, seed=3)
    (folder := tmp_path / "exports").mkdir()
    frame.iloc[:10].to_csv(folder / "a.csv", index=False)
    frame.iloc[10:][["product_id", "title"]].to_csv(folder / "b.csv", index=False)

    result = _run("--model", str(model_path), "--data", str(folder), "--out", str(tmp_path / "p"))

    # THEN the run says which file's rows it scored without them
    assert result.exit_code == 0, result.output
    (warning,) = [line for line in result.output.splitlines() if "optional inputs not in the file" in line]
    assert "b.csv" in warning
