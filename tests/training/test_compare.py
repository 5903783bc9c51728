"""`make compare`: two models on the same rows, with intervals, McNemar's test and the rows they disagree on."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import mlflow
import numpy as np
import onnx
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from mlflow import MlflowClient
from typer.testing import CliRunner

from handler.app import create_app
from handler.model import load_model
from handler.settings import Settings
from tests.conftest import train_tiny_model
from training.cli.compare import app
from training.columns import GROUP, LABEL
from training.config import DEFAULT_CONFIG_PATH, PROJECT_ROOT, load_config
from training.data.clean import prepare_catalogue
from training.data.load import load_catalogue
from training.data.split import product_ids, product_keys, split_catalogue
from training.data.synthetic import generate_catalogue
from training.data.taxonomy import generate_taxonomy_catalogue
from training.feedback.capture import read_capture
from training.feedback.review_queue import latest_listings
from training.model.metadata import METADATA_KEY, split_record
from training.reporting.compare import (
    IncomparableModelsError,
    check_held_out,
    check_same_classes,
    compare_predictions,
    disagreements,
    mcnemar,
    render_comparison,
    score_model,
)
from training.reporting.tracking import configure_tracking, log_trained_products


@pytest.mark.parametrize(
    ("only_a", "only_b", "p_value"),
    [
        (0, 0, 1.0),
        (7, 3, 0.34375),  # 2 · P(X ≤ 3), X ~ Binomial(10, ½) = 2 · 176/1024
        (10, 0, 0.001953125),  # 2 / 1024
    ],
)
def test_mcnemar_exact_test(only_a, only_b, p_value):
    right_a = np.array([True] * only_a + [False] * only_b + [True] * 5)
    right_b = np.array([False] * only_a + [True] * only_b + [True] * 5)

    assert mcnemar(right_a, right_b) == {"only_a_right": only_a, "only_b_right": only_b, "p_value": p_value}


def test_b_better_on_one_class_shows_in_every_part_of_the_report():
    # GIVEN 100 rows of two classes; A misses 10 of class y, B misses 2 of them
    labels = np.array(["x"] * 50 + ["y"] * 50)
    predicted_a = labels.copy()
    predicted_a[50:60] = "x"
    predicted_b = labels.copy()
    predicted_b[50:52] = "x"

    report = compare_predictions(labels, predicted_a, predicted_b, resamples=500)

    # THEN accuracy rises by 0.08 (hand count), inside its interval, which excludes 0
    accuracy = report["accuracy"]
    assert (accuracy["a"], accuracy["b"]) == (0.90, 0.98)
    assert accuracy["difference"] == pytest.approx(0.08)
    assert 0 < accuracy["ci_low"] <= 0.08 <= accuracy["ci_high"]
    # macro-F1 by hand: A: x 50/55 → F1 100/110, y 40/40 of 50 → F1 80/90; B: 100/102, 96/98
    assert report["macro_f1"]["a"] == pytest.approx((100 / 110 + 80 / 90) / 2)
    assert report["macro_f1"]["b"] == pytest.approx((100 / 102 + 96 / 98) / 2)
    assert report["mcnemar"] == {"only_a_right": 0, "only_b_right": 8, "p_value": 0.0078125}
    assert [row["class"] for row in report["per_class"]] == ["x", "y"]  # sorted by change
    assert all(row["change"] > 0 for row in report["per_class"])


def test_the_bootstrap_draws_products_so_one_products_luck_counts_once():
    # GIVEN 40 products of 10 listings each (two classes), B right where A is wrong on every listing of 4 products
    # and wrong where A is right on every listing of 2: listings of one product are right or wrong together
    products = np.repeat(np.arange(40), 10)
    labels = np.where(products % 2 == 0, "x", "y")
    flip = {"x": "y", "y": "x"}
    predicted_a, predicted_b = labels.copy(), labels.copy()
    a_wrong, b_wrong = np.isin(products, [0, 1, 2, 3]), np.isin(products, [10, 11])
    predicted_a[a_wrong] = [flip[label] for label in labels[a_wrong]]
    predicted_b[b_wrong] = [flip[label] for label in labels[b_wrong]]

    by_rows = compare_predictions(labels, predicted_a, predicted_b, resamples=400)
    by_products = compare_predictions(labels, predicted_a, predicted_b, products=products, resamples=400)

    # THEN drawn by product, the interval is wider (the 400 rows are 40 pieces of evidence, not 400) and reaches 0
    def width(report):
        return report["accuracy"]["ci_high"] - report["accuracy"]["ci_low"]

    assert by_rows["accuracy"]["difference"] == by_products["accuracy"]["difference"] == pytest.approx(0.05)
    assert width(by_products) > 2 * width(by_rows)
    assert by_rows["accuracy"]["ci_low"] > 0 >= by_products["accuracy"]["ci_low"]
    assert (by_rows["resampled"], by_products["resampled"]) == ("rows", "products (40)")


def test_identical_predictions_differ_by_nothing():
    labels = np.array(["x", "y", "x", "y"])
    report = compare_predictions(labels, labels, labels, resamples=50)

    assert report["macro_f1"]["difference"] == 0
    assert report["macro_f1"]["ci_low"] == report["macro_f1"]["ci_high"] == 0


def test_disagreements_write_prices_as_the_catalogue_wrote_them():
    frame = pd.DataFrame({"title": ["tv", "phone"], "price": np.array([350.22, np.nan], dtype=np.float32)})

    listing = disagreements(frame, np.array(["TVs", "Phones"]), np.array(["TVs", "TVs"]), np.array(["Phones", "TVs"]))

    assert listing["price"].tolist() == [350.22]


def test_a_blank_cell_among_the_disagreements_is_an_empty_cell():
    labels = np.array(["x", "y", "x", "y"])
    predicted_b = np.array(["x", "x", "x", "y"])
    listing = pd.DataFrame({"title": ["tv | 55"], "price": [np.nan], "label": ["y"], "a": ["y"], "b": ["x"]})

    text = render_comparison(compare_predictions(labels, labels, predicted_b, resamples=20), listing, a="A", b="B")

    assert "| tv \\| 55 |  | y | y | x |" in text


def test_a_capture_folder_without_a_record_yet_is_named_as_captured_traffic(model_path, tmp_path):
    # GIVEN the file a capturing server made, still empty: no catalogue, to be saved as CSV
    (tmp_path / "capture").mkdir()
    (tmp_path / "capture" / "capture-1.jsonl").write_text("")

    result = CliRunner().invoke(app, ["--a", str(model_path), "--b", str(model_path), "--data",
                                      str(tmp_path / "capture"), "--out", str(tmp_path / "c")])  # fmt: skip

    assert result.exit_code == 1
    assert f"no captured listings under {tmp_path / 'capture'}" in result.output
    assert "save them as .csv" not in result.output


@pytest.mark.parametrize("option", [["--min-agreement", "0.9"], ["--since", "2026-12-01"], ["--reviewed", "r.csv"]])
def test_options_for_captured_traffic_are_refused_on_a_catalogue(model_path, tmp_path, option):
    result = CliRunner().invoke(app, ["--a", str(model_path), "--b", str(model_path), "--out", str(tmp_path / "c"),
                                      *option])  # fmt: skip

    assert result.exit_code == 1
    assert f"{option[0]}: for captured traffic only" in result.output
    assert not (tmp_path / "c").exists()


@pytest.mark.slow
def test_make_compare_writes_prints_and_logs_the_comparison(model_path, tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    out = tmp_path / "comparison"

    result = CliRunner().invoke(
        app, ["--a", str(model_path), "--b", str(model_path), "--out", str(out), "--resamples", "100"]
    )

    assert result.exit_code == 0, result.output
    assert "McNemar's exact test: only A right on 0 rows, only B right on 0; p = 1 (it takes each row alone" in (
        result.output
    )
    assert "are the same model: every figure compares it with itself" in result.output
    report = json.loads((out / "comparison.json").read_text())
    assert report["macro_f1"]["difference"] == 0
    # with a BOM, as the review queue: Excel reads the titles as UTF-8
    assert (out / "disagreements.csv").read_bytes().startswith(b"\xef\xbb\xbftitle,")
    mlflow.set_tracking_uri(uri)
    runs = MlflowClient().search_runs([mlflow.get_experiment_by_name("product-classifier").experiment_id])
    assert runs[0].data.metrics["macro_f1.difference"] == 0
    assert runs[0].data.tags["comparison.b"] == str(model_path)


@pytest.mark.slow
def test_a_model_of_other_inputs_is_refused_by_name(model_path, other_schema_model_path, tmp_path):
    result = CliRunner().invoke(
        app, ["--a", str(model_path), "--b", str(other_schema_model_path), "--out", str(tmp_path / "c")]
    )

    assert result.exit_code == 1
    assert "model B takes inputs" in result.output
    assert "compare it with the config it was trained with" in result.output


def test_models_answering_other_classes_are_never_compared_on_labelled_rows():
    # GIVEN a challenger trained after four of ten classes were renamed: it knows most of the rows' labels
    classes = [f"class {index}" for index in range(10)]
    renamed = [*classes[:6], *(f"{name} (new)" for name in classes[6:])]

    with pytest.raises(IncomparableModelsError, match=r"models A and B answer other classes \(only A: 4, e.g."):
        check_same_classes({"A": {"classes": classes}, "B": {"classes": renamed}})
    check_same_classes({"A": {"classes": classes}, "B": {"classes": classes[::-1]}})  # the same classes, reordered


def test_a_model_reading_an_input_of_another_type_is_refused(model_path):
    # GIVEN a config that hashes the price the model reads as a number: same names, other types
    config = load_config(DEFAULT_CONFIG_PATH).data
    hashed = replace(config, numeric=(), hashed=(*config.hashed, "price"))
    frame = generate_catalogue(20, seed=1).assign(price="12")

    with pytest.raises(IncomparableModelsError, match=r"takes inputs .* \(numeric: \['price'\]\), not the config's"):
        score_model(model_path.read_bytes(), frame, hashed, name="B")


@pytest.mark.slow
def test_a_model_split_otherwise_is_not_scored_on_test_rows_it_trained_on(model_path, tmp_path, monkeypatch):
    # GIVEN the same model, recorded as trained on the split of another seed (so on some of these test products)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlruns.db'}")
    model = onnx.load(model_path)
    entry = next(prop for prop in model.metadata_props if prop.key == METADATA_KEY)
    metadata = json.loads(entry.value)
    assert metadata["training_data"]["split"]["seed"] == 42
    metadata["training_data"]["split"]["seed"] = 7
    entry.value = json.dumps(metadata)
    other = tmp_path / "seed7.onnx"
    onnx.save(model, other)
    arguments = ["--a", str(model_path), "--b", str(other), "--resamples", "20"]

    on_test = CliRunner().invoke(app, [*arguments, "--out", str(tmp_path / "t")])
    on_all = CliRunner().invoke(app, [*arguments, "--out", str(tmp_path / "a"), "--on", "all"])

    # THEN its test rows are refused, naming the split; every row, asked for knowingly, is compared
    assert on_test.exit_code == 1
    assert "model B was trained on another split ({'seed': 7}" in on_test.output
    assert on_all.exit_code == 0, on_all.output
    # AND its report says every row was taken, and of which catalogue
    assert "On every row of the catalogue (ON=all)" in on_all.output
    written = json.loads((tmp_path / "a" / "comparison.json").read_text())
    assert (written["on"], written["data"], written["synthetic"]) == ("all", None, "synthetic")


@pytest.mark.slow
def test_test_rows_of_products_a_registered_model_trained_on_are_left_out(model_path, tmp_path, monkeypatch):
    # GIVEN a registered model whose run records it trained on five products that are test products of this
    # catalogue (as when their class had few products in the catalogue it trained on, and all of them trained)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlruns.db'}")
    config = load_config(DEFAULT_CONFIG_PATH)
    catalogue = generate_catalogue(1_500, seed=2)  # what model_path trained on
    catalogue.to_csv(tmp_path / "catalogue.csv", index=False)
    test = split_catalogue(prepare_catalogue(catalogue, config.data), config.split).test
    ids = product_ids(product_keys(test))
    trained = np.unique(ids)[:5]
    with mlflow.start_run(experiment_id=configure_tracking(PROJECT_ROOT, "compare-record")):
        mlflow.onnx.log_model(onnx.load(model_path), name="model", registered_model_name="recorded")
        log_trained_products(trained)
    arguments = ["--data", str(tmp_path / "catalogue.csv"), "--resamples", "20", "--b", str(model_path)]

    # WHEN it is compared by its models:/ URI, and as the file it is
    by_uri = CliRunner().invoke(app, [*arguments, "--a", "models:/recorded/1", "--out", str(tmp_path / "u")])
    by_file = CliRunner().invoke(app, [*arguments, "--a", str(model_path), "--out", str(tmp_path / "f")])

    # THEN by its URI the rows of those products are left out, and said so; the file has no record to read
    assert by_uri.exit_code == 0, by_uri.output
    assert by_file.exit_code == 0, by_file.output
    left_out = int(np.isin(ids, trained).sum())
    assert f"left out {left_out} test rows of products model A trained on" in by_uri.output
    reports = [json.loads((tmp_path / out / "comparison.json").read_text()) for out in ("u", "f")]
    assert [report["rows"] for report in reports] == [len(test) - left_out, len(test)]
    # AND the report says how many were left out of how many, and why
    assert reports[0]["left_out"] == {
        "test_rows": len(test),
        "rows": left_out,
        "why": {"of products model A trained on (its run's record)": left_out},
    }
    assert reports[1]["left_out"] == {"test_rows": len(test), "rows": 0, "why": {}}
    # AND a row both models trained on is counted once, under the first reason
    both = CliRunner().invoke(
        app, [*arguments[:-2], "--a", "models:/recorded/1", "--b", "models:/recorded/1", "--out", str(tmp_path / "b")]
    )
    assert both.exit_code == 0, both.output
    assert json.loads((tmp_path / "b" / "comparison.json").read_text())["left_out"]["why"] == {
        "of products model A trained on (its run's record)": left_out,
        "of products model B trained on (its run's record)": 0,
    }
    assert f"Left out {left_out} of the {len(test):,} test rows: {left_out} of products model A" in (
        (tmp_path / "u" / "comparison.md").read_text()
    )
    assert "DATA names" not in by_uri.output
    # AND a re-export whose product ids are written otherwise names none of them: said, as none can be left out
    padded = catalogue.assign(product_id=catalogue["product_id"].astype(str).str.zfill(8))
    padded.to_csv(tmp_path / "padded.csv", index=False)
    renamed = CliRunner().invoke(
        app, ["--data", str(tmp_path / "padded.csv"), *arguments[2:], "--a", "models:/recorded/1", "--out",
              str(tmp_path / "p")]
    )  # fmt: skip
    assert renamed.exit_code == 0, renamed.output
    assert "DATA names 0 of the 5 products model A trained on (its run's record)" in renamed.output


def test_a_model_file_trained_on_other_data_is_said_to_carry_no_record_of_its_products(
    model_path, tmp_path, monkeypatch
):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlruns.db'}")
    # GIVEN a model file trained on another catalogue than the one compared on (the default synthetic one)
    # WHEN it is compared on that catalogue's test rows
    result = CliRunner().invoke(app, ["--a", str(model_path), "--b", str(model_path), "--out", str(tmp_path / "c"),
                                      "--resamples", "20"])  # fmt: skip

    # THEN the report says it may have trained on some of them, and how to leave them out
    assert result.exit_code == 0, result.output
    assert "model A trained on other data than DATA, and its file holds no record" in result.output
    assert "give it as its models:/ URI to leave them out" in result.output


def _without_product_ids(catalogue):
    """A third of the rows without a product id."""
    catalogue.loc[catalogue.index % 3 == 0, "product_id"] = ""


def _in_fullwidth(catalogue):
    """A third of the titles in fullwidth letters, digits and punctuation."""
    wide = catalogue.index % 3 == 0
    catalogue.loc[wide, "title"] = catalogue.loc[wide, "title"].map(
        lambda title: "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in title)
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("unrecorded", "catalogue_change", "warning"),
    [
        # before titles named products, a row without a product id was dealt by the whole row
        ("products", _without_product_ids, "test rows without a product id: model B named each by the whole row"),
        # before the fold, a title named its product lower-cased alone
        ("titles", _in_fullwidth, "whose titles the fold of look-alike spellings changes: model B"),
    ],
)
def test_test_rows_a_model_named_otherwise_are_left_out(
    model_path, tmp_path, monkeypatch, unrecorded, catalogue_change, warning
):
    # GIVEN the same model recorded as models were before a change in how products are named, and a catalogue a third
    # of whose rows that change names otherwise (such a model may have trained on any of them)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlruns.db'}")
    model = onnx.load(model_path)
    entry = next(prop for prop in model.metadata_props if prop.key == METADATA_KEY)
    metadata = json.loads(entry.value)
    del metadata["training_data"]["split"][unrecorded]
    entry.value = json.dumps(metadata)
    older = tmp_path / "older.onnx"
    onnx.save(model, older)
    catalogue = generate_catalogue(1_500, seed=2)
    catalogue_change(catalogue)
    catalogue.to_csv(tmp_path / "catalogue.csv", index=False)
    arguments = ["--data", str(tmp_path / "catalogue.csv"), "--resamples", "20"]

    older_b = CliRunner().invoke(
        app, [*arguments, "--a", str(model_path), "--b", str(older), "--out", str(tmp_path / "o")]
    )
    both_new = CliRunner().invoke(
        app, [*arguments, "--a", str(model_path), "--b", str(model_path), "--out", str(tmp_path / "n")]
    )

    # THEN those rows are left out, and said so, only when a model named them otherwise
    assert older_b.exit_code == 0, older_b.output
    assert both_new.exit_code == 0, both_new.output
    assert "left out" not in both_new.output
    assert warning in older_b.output
    rows = [json.loads((tmp_path / out / "comparison.json").read_text())["rows"] for out in ("o", "n")]
    assert 0 < rows[0] < rows[1]


def test_a_model_recorded_before_titles_named_products_is_judged_by_how_it_named_them():
    # GIVEN the config's split as models recorded it before they said how they name products
    config = load_config(DEFAULT_CONFIG_PATH)
    older = {key: value for key, value in split_record(config).items() if key != "products"}
    untitled = replace(config, data=replace(config.data, group=None))

    # THEN one grouped by the same column held out the same products; one without a product column dealt whole
    # rows, not titles, and is refused
    check_held_out({"training_data": {"split": older}}, config, name="A")
    with pytest.raises(
        IncomparableModelsError, match=r"'products': 'whole rows \(no data.group\)'.*'titles.*Retrain it"
    ):
        check_held_out({"training_data": {"split": older | {"group": None}}}, untitled, name="A")


@pytest.mark.parametrize(
    ("split", "refused"),
    [
        ({"min_class_products": 30}, "with fewer than 30 products (split.min_class_products 30, the config's 5)"),
        # fewer classes were small, or small classes were left out: it trained none of the config's test products
        ({"min_class_products": 2}, None),
        ({"min_class_products": 30, "small_classes": "drop"}, None),
        ({}, None),
    ],
)
def test_a_model_whose_small_classes_were_others_is_not_scored_on_test_rows(split, refused):
    # GIVEN a model trained with other small classes (under 30, a class of 29 products was small: all of them trained)
    config = load_config(DEFAULT_CONFIG_PATH)
    theirs = replace(config, split=replace(config.split, **split))
    metadata = {"training_data": {"split": split_record(theirs)}}

    # THEN comparing it on the config's test rows is refused, naming the setting; the same settings compare
    if refused is None:
        check_held_out(metadata, config, name="A")
        return
    with pytest.raises(IncomparableModelsError, match=re.escape(refused)):
        check_held_out(metadata, config, name="A")


def test_a_model_recorded_before_small_classes_were_is_taken_as_made_with_the_defaults():
    config = load_config(DEFAULT_CONFIG_PATH)
    older = {
        key: value for key, value in split_record(config).items() if key not in ("min_class_products", "small_classes")
    }

    check_held_out({"training_data": {"split": older}}, config, name="A")


def test_a_file_that_is_not_a_model_is_named(tmp_path):
    junk = tmp_path / "model.onnx"
    junk.write_text("not a model")

    result = CliRunner().invoke(app, ["--a", str(junk), "--b", str(junk), "--out", str(tmp_path / "c")])

    assert result.exit_code == 1
    assert "model A is not an ONNX model" in result.output


def _one_captured_listing(folder: Path) -> None:
    """A capture folder holding one record."""
    folder.mkdir()
    record = {"capture": 1, "time": "2026-12-01T10:00:00Z", "request_id": "r1", "item": 0, "model_version": "v1",
              "listing_id": "l", "inputs": {"title": "tv", "seller_id": "s1", "brand": "acme", "price": 10.0},
              "label": "TVs", "confidence": 0.9, "top_k": [{"label": "TVs", "probability": 0.9}]}  # fmt: skip
    (folder / "c.jsonl").write_text(json.dumps(record) + "\n")


def test_a_file_that_is_not_a_model_is_named_on_captured_traffic_too(model_path, tmp_path):
    junk = tmp_path / "model.onnx"
    junk.write_text("not a model")
    _one_captured_listing(tmp_path / "capture")

    result = CliRunner().invoke(app, ["--a", str(model_path), "--b", str(junk), "--data", str(tmp_path / "capture"),
                                      "--out", str(tmp_path / "c")])  # fmt: skip

    assert result.exit_code == 1
    assert f"model B is not an ONNX model: {junk}" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("on", ["all", "bogus"])
def test_on_is_refused_on_captured_traffic_which_has_no_split(model_path, tmp_path, on):
    _one_captured_listing(tmp_path / "capture")

    # (B names no file: ON= is refused before any model is read, an MLflow download say)
    result = CliRunner().invoke(app, ["--a", str(model_path), "--b", str(tmp_path / "absent.onnx"), "--on", on,
                                      "--data", str(tmp_path / "capture"), "--out", str(tmp_path / "c")])  # fmt: skip

    assert result.exit_code == 1
    assert ("--on: for a catalogue only" if on == "all" else "--on must be test or all, got 'bogus'") in result.output
    assert not (tmp_path / "c").exists()


def test_a_comparison_on_captured_traffic_says_what_reading_the_capture_skipped(model_path, tmp_path):
    import gzip

    _one_captured_listing(tmp_path / "capture")
    (tmp_path / "capture" / "old.jsonl.zip").write_bytes(b"PK\x03\x04" + gzip.compress(b"{}"))

    result = CliRunner().invoke(app, ["--a", str(model_path), "--b", str(model_path), "--data",
                                      str(tmp_path / "capture"), "--out", str(tmp_path / "c")])  # fmt: skip

    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "c" / "comparison.json").read_text())
    assert list(report["unreadable_files"].values()) == ["a ZIP archive or an Excel workbook"]
    assert "unreadable_files" not in report["skipped_records"]
    assert "Reading the capture skipped 1 file(s) of no UTF-8 text" in (tmp_path / "c" / "comparison.md").read_text()


def test_a_catalogue_without_rows_is_named(model_path, tmp_path):
    header_only = tmp_path / "rows.csv"
    header_only.write_text("title,seller_id,brand,price,category,product_id\n")

    result = CliRunner().invoke(app, ["--a", str(model_path), "--b", str(model_path), "--data", str(header_only),
                                      "--out", str(tmp_path / "c")])  # fmt: skip

    assert result.exit_code == 1
    assert f"{header_only}: no rows" in result.output


def test_the_model_uris_the_command_gives_as_examples_name_registered_models():
    # a model is registered under its catalogue config's name, so an example naming another points nowhere
    import training.cli.compare as command

    registered = {load_config(path).registered_name for path in (PROJECT_ROOT / "configs").glob("*.yaml")}
    named = re.findall(r"models:/([\w-]+)[/@]", command.__doc__ or "")

    assert named
    assert set(named) <= registered


def test_a_missing_model_file_is_named(tmp_path):
    missing = tmp_path / "absent.onnx"
    result = CliRunner().invoke(app, ["--a", str(missing), "--b", str(missing)])

    assert result.exit_code == 1
    assert f"model A file not found: {missing}" in result.output


@pytest.mark.parametrize(
    ("reference", "said"),
    [
        ("{tmp}", "is a folder: pass the model.onnx inside it"),
        ("file://{tmp}", "no .onnx file there (pass models:/<name>/<version>"),
        ("s3://no-such-bucket/model.onnx", "MLflow has no ONNX model at s3://no-such-bucket/model.onnx: "),
    ],
)
def test_a_model_reference_that_names_no_model_is_one_line(tmp_path, monkeypatch, no_aws_credentials, reference, said):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlruns.db'}")
    (tmp_path / "empty").mkdir()
    model = reference.format(tmp=tmp_path / "empty")

    result = CliRunner().invoke(app, ["--a", model, "--b", model, "--out", str(tmp_path / "c")])

    assert result.exit_code == 1
    assert said in result.output
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_models_of_another_catalogue_are_refused_and_the_synthetic_one_they_trained_on_is_named(
    model_path, taxonomy_model_path, tmp_path, monkeypatch
):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlruns.db'}")
    # GIVEN a 10-category model and a 30-category one, which trained on 3,000 rows of the synthetic taxonomy of seed 4
    seed_4 = tmp_path / "seed4.yaml"
    seed_4.write_text(DEFAULT_CONFIG_PATH.read_text() + "\nsplit:\n  seed: 4\n")
    arguments = ["--a", str(taxonomy_model_path), "--b", str(taxonomy_model_path), "--resamples", "20"]
    as_trained = ["--config", str(seed_4), "--categories", "30", "--rows", "3000", "--on", "all"]

    default = CliRunner().invoke(app, [*arguments, "--out", str(tmp_path / "d")])
    own = CliRunner().invoke(app, [*arguments, *as_trained, "--out", str(tmp_path / "t")])
    mixed = CliRunner().invoke(app, ["--a", str(model_path), "--b", str(taxonomy_model_path), *as_trained,
                                     "--out", str(tmp_path / "m")])  # fmt: skip

    # THEN the default 10-category rows are refused for it; its own catalogue compares; a stranger is named
    assert default.exit_code == 1
    assert "model A knows the labels of only 0% of these" in default.output
    assert "it was trained on another catalogue" in default.output
    assert own.exit_code == 0, own.output
    assert mixed.exit_code == 1
    assert "model A knows the labels of only 0%" in mixed.output


def test_an_out_under_a_file_is_one_line_before_any_scoring(model_path, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")

    result = CliRunner().invoke(app, ["--a", str(model_path), "--b", str(model_path),
                                      "--out", str(tmp_path / "notes.txt" / "cmp")])  # fmt: skip

    assert result.exit_code == 1
    assert "lies under" in result.output
    assert "Traceback" not in result.output


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc, a file system that refuses folders")
def test_an_out_on_a_file_system_that_refuses_folders_is_one_line_before_any_scoring(model_path):
    # /proc passes os.access, as a read-only mount does for root; making a folder there fails
    result = CliRunner().invoke(app, ["--a", str(model_path), "--b", str(model_path), "--out", "/proc/comparison"])

    assert result.exit_code == 1
    assert "cannot write OUT /proc/comparison: /proc refuses new folders" in result.output
    assert "Traceback" not in result.output


def _folded_catalogue(tmp_path: Path) -> tuple[Path, Path, Path, pd.DataFrame]:
    """A config folding small classes (`split.small_classes: parent`), a catalogue of path labels with three small
    sibling leaves (two products each, two of them held out by their own draws) that fold into one parent of six
    products, large enough to be dealt, and a model trained on it: the config, the catalogue and the model's paths,
    and the rows."""
    text = DEFAULT_CONFIG_PATH.read_text().replace("data:\n", 'data:\n  path_separator: " > "\n', 1)
    (config_path := tmp_path / "parent.yaml").write_text(text + "\nsplit:\n  small_classes: parent\n")
    config = load_config(config_path)
    raw = generate_taxonomy_catalogue(3_000, 30, seed=4)
    dealt = split_catalogue(prepare_catalogue(raw, config.data), config.split)
    products = [*dealt.test[GROUP].unique()[:2], *dealt.train[GROUP].unique()[:4]]
    tiny = {product: f"Tiny > Few > Leaf {index // 2}" for index, product in enumerate(products)}
    raw["category"] = raw["product_id"].astype(str).map(tiny).fillna(raw["category"])
    raw.to_csv(data := tmp_path / "catalogue.csv", index=False)
    return config_path, data, train_tiny_model(config, raw, tmp_path / "model.onnx", "test-folded-1"), raw


def test_a_catalogue_is_compared_on_the_test_rows_training_held_out_after_folding_small_classes(tmp_path):
    # GIVEN a model trained with small classes folded into their parents, one such parent partly held out
    config_path, data, model, _ = _folded_catalogue(tmp_path)
    config = load_config(config_path)
    held_out = split_catalogue(load_catalogue(config, str(data)).frame, config.split).test

    # WHEN the model is compared with itself on that catalogue's test split
    arguments = ["--a", str(model), "--b", str(model), "--data", str(data), "--config", str(config_path)]
    result = CliRunner().invoke(app, [*arguments, "--resamples", "20", "--out", str(tmp_path / "c")])

    # THEN it is scored on the rows training held out, the folded class's among them
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "c" / "comparison.json").read_text())
    assert report["left_out"]["test_rows"] == len(held_out)
    assert "Tiny > Few" in set(held_out[LABEL])


def test_a_reviewed_leaf_that_training_folded_is_read_as_its_parent_on_captured_traffic(tmp_path):
    # GIVEN a model trained with small classes folded into their parents, serving with capture
    config_path, _, model, raw = _folded_catalogue(tmp_path)
    settings = Settings(model_path=model, capture_dir=tmp_path / "capture", capture_sample_rate=1.0)
    client = TestClient(create_app(load_model(settings), settings))
    tiny = raw[raw["category"].str.startswith("Tiny > ")]
    traffic = pd.concat([tiny, raw.iloc[:40]]).drop_duplicates("title")
    items = traffic[["title", "seller_id", "brand", "price"]].astype(object)
    items = items.where(items.notna(), None).astype({"seller_id": str, "brand": str})
    assert client.post("/predict/batch", json={"items": items.to_dict("records")}).status_code == 200
    # AND the listings reviewed with their leaf labels, the folded leaves' included (as a reviewer files them)
    listings = latest_listings(read_capture(str(tmp_path / "capture")))
    truth = dict(zip(traffic["title"], traffic["category"], strict=True))
    listings.assign(label=listings["title"].map(truth))[["listing_id", "label"]].to_csv(tmp_path / "r.csv", index=False)

    # WHEN the model is compared with itself on that traffic, judged by the reviewed labels
    result = CliRunner().invoke(app, ["--a", str(model), "--b", str(model), "--data", str(tmp_path / "capture"),
                                      "--reviewed", str(tmp_path / "r.csv"), "--config", str(config_path),
                                      "--resamples", "20", "--out", str(tmp_path / "c")])  # fmt: skip

    # THEN the folded leaves are read as the class the model learnt for them, as training reads such corrections
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "c" / "comparison.json").read_text())["reviewed"]["rows"] == len(traffic)
    # AND a leaf training never folded is no such leaf: a misspelt one is refused, never read as its parent
    listings.assign(label=listings["title"].map(truth).str.replace("Leaf 0", "Leaf O"))[["listing_id", "label"]].to_csv(
        tmp_path / "typo.csv", index=False
    )
    arguments = ["--a", str(model), "--b", str(model), "--data", str(tmp_path / "capture")]
    typo = CliRunner().invoke(app, [*arguments, "--reviewed", str(tmp_path / "typo.csv"), "--out", str(tmp_path / "t")])
    assert typo.exit_code == 1
    assert "are classes of neither model, e.g. ['Tiny > Few > Leaf O']" in typo.output
    # AND a label of invisible characters alone is no label, as training reads corrections: a file of such is refused
    listings.assign(label="\u200b")[["listing_id", "label"]].to_csv(tmp_path / "blank.csv", index=False)
    blank = CliRunner().invoke(
        app, [*arguments, "--reviewed", str(tmp_path / "blank.csv"), "--out", str(tmp_path / "b")]
    )
    assert blank.exit_code == 1
    assert f"REVIEWED {tmp_path / 'blank.csv'}: no row has a `label`; fill in the label" in blank.output
    # AND two review rounds' files, comma-separated as CORRECTIONS= takes them, are read together
    labelled = listings.assign(label=listings["title"].map(truth))[["listing_id", "label"]]
    labelled.iloc[:10].to_csv(tmp_path / "r1.csv", index=False)
    labelled.iloc[10:].to_csv(tmp_path / "r2.csv", index=False)
    both = f"{tmp_path / 'r1.csv'},{tmp_path / 'r2.csv'}"
    rounds = CliRunner().invoke(app, [*arguments, "--reviewed", both, "--config", str(config_path), "--resamples",
                                      "20", "--out", str(tmp_path / "r")])  # fmt: skip
    assert rounds.exit_code == 0, rounds.output
    assert json.loads((tmp_path / "r" / "comparison.json").read_text())["reviewed"]["rows"] == len(traffic)
