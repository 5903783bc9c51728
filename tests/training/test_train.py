"""`make train` end to end: artifacts, MLflow record, and clean one-line failures."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import mlflow
import onnx
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient
from typer.testing import CliRunner

from tests.training.conftest import write_small_shop
from training.cli.out_folder import staging_folder
from training.cli.train import app
from training.config import DEFAULT_CONFIG_PATH, PROJECT_ROOT
from training.data.synthetic import generate_catalogue
from training.model.metadata import read_metadata

pytestmark = pytest.mark.slow
METRICS_KEYS = {
    "accuracy", "macro_f1", "baseline_macro_f1", "parity_label_agreement", "parity_max_abs_diff", "train_seconds",
    "n_train", "n_test", "mlflow_run_id", "model_version", "level_1_accuracy", "level_1_macro_f1", "hierarchical_f1",
    "per_level", "coverage", "classes_learnt", "classes_evaluated", "classes_not_evaluated", "bands",
    "validation_difference_ci_low", "validation_difference_ci_high", "temperature", "ece_before", "ece_after",
    "candidate_recall", "operating_points", "coverage_at_precision_0_99",
}  # fmt: skip
ARTIFACTS = {
    "model.onnx", "model.json", "metrics.json", "parity_report.json", "confusion_matrix.png", "feature_importance.png",
    "data_report.json", "data_report.txt", "model_card.md", "coverage_curve.png", "reliability.png",
}  # fmt: skip


@pytest.fixture
def tracking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)  # any stray relative artifact path would land here, not in the repo
    return uri


@pytest.fixture
def small_config_file(tmp_path: Path) -> Path:
    config = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    # 2,500 rows: below about that the 40-tree model does not beat its linear baseline, and is not promoted.
    config |= {"synthetic_rows": 2_500, "experiment": "test", "registered_model": "test-model"}
    config["features"] = {"text_buckets": 4096, "stacking_folds": 3, "char_ngrams": [2, 3]}
    config["model"] = {"n_estimators": 40}
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _train(*arguments: str):
    return CliRunner().invoke(app, list(arguments))


def test_train_writes_artifacts_and_registers_a_candidate(tracking, small_config_file, tmp_path):
    out = tmp_path / "out"

    result = _train("--config", str(small_config_file), "--out", str(out))

    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) >= METRICS_KEYS
    assert metrics["parity_label_agreement"] == 1.0
    assert metrics["parity_max_abs_diff"] <= 1e-5
    assert metrics["macro_f1"] > 0.5
    assert {p.name for p in out.iterdir()} == ARTIFACTS

    metadata = read_metadata(onnx.load(out / "model.onnx"))
    assert metadata["mlflow_run_id"] == metrics["mlflow_run_id"]
    assert metadata["model_version"] == metrics["model_version"]
    assert len(metadata["training_data"]["sha256"]) == 64
    assert {"onnxruntime", "lightgbm", "skl2onnx", "python"} <= set(metadata["library_versions"])
    assert json.loads((out / "model.json").read_text()) == metadata

    mlflow.set_tracking_uri(tracking)
    client = MlflowClient()
    version = client.get_model_version_by_alias("test-model", "candidate")
    assert version.run_id == metrics["mlflow_run_id"]
    assert version.tags["model_version"] == metrics["model_version"]
    run = client.get_run(metrics["mlflow_run_id"])
    assert run.info.run_name.startswith("synthetic-2500rows-")  # config, data and time, not just "synthetic"
    assert run.data.tags["engine"] == "local"
    assert run.data.tags["categories"] == str(len(metadata["classes"]))
    assert run.data.params["features.text_buckets"] == "4096"
    assert run.data.metrics["macro_f1"] == pytest.approx(metrics["macro_f1"])
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {
        "confusion_matrix.png",
        "feature_importance.png",
        "parity_report.json",
        "per_class_report.json",
        "data_report.json",
        "data_report.txt",
        "model_card.md",
        "coverage_curve.png",
        "levels_report.json",
        "reliability.png",
        "confidence_report.json",
        "trained_products.npy",
    } <= artifacts
    # a flat model is scored as a one-level tree: its level 1 is its leaf
    assert run.data.metrics["level_1_accuracy"] == pytest.approx(metrics["accuracy"])
    assert metrics["per_level"][0]["accuracy"] == pytest.approx(metrics["accuracy"])
    assert (
        metrics["coverage"][0] | {"min_confidence": 0.0, "leaf_share": 1.0, "root_share": 0.0} == metrics["coverage"][0]
    )

    # the model card carries this run's own numbers
    card = (out / "model_card.md").read_text()
    assert f"# Model card: test-model {metrics['model_version']}" in card
    assert f"macro-F1 **{metrics['macro_f1']:.4f}**" in card
    assert f"baseline): macro-F1 {metrics['baseline_macro_f1']:.4f}" in card
    assert f"train {metrics['n_train']}, validation {metrics['n_validation']}, test {metrics['n_test']} rows" in card
    assert metadata["training_data"]["sha256"] in card
    assert metrics["shipped"] in {"LightGBM on the title model's margin", "the title model alone"}
    assert f"shipped: {metrics['shipped']}" in card
    assert run.data.params["shipped"] == metrics["shipped"]
    # the gates are tied to the exact graph they judged (`make publish` refuses any other file)
    assert metrics["onnx_sha256"] == hashlib.sha256((out / "model.onnx").read_bytes()).hexdigest()
    assert run.data.params["onnx_sha256"] == metrics["onnx_sha256"]
    assert "| title | string | yes |" in card
    assert "## Per level of the category path (test split)" in card
    assert f"F1 **{metrics['hierarchical_f1']:.4f}**" in card
    for label, numbers in metrics["per_class"].items():
        assert f"| {label} | {numbers['precision']:.4f} |" in card
    assert json.loads((out / "data_report.json").read_text())["rows_in"] == 2_500
    assert set(metadata["class_shares"]) == set(metadata["classes"])
    assert sum(metadata["class_shares"].values()) == pytest.approx(1.0)


def test_a_catalogue_of_two_categories_trains_and_passes_parity(tracking, small_config_file, tmp_path):
    # GIVEN a catalogue of two categories (LightGBM's multiclass objective refuses two unless told their number)
    # (named as some exports name them, with a "|" the model card's tables must escape)
    frame = generate_catalogue(4_000, seed=1)
    frame = frame[frame["category"].isin(frame["category"].value_counts().index[:2])]
    frame["category"] = "Home|" + frame["category"]
    frame.to_csv(tmp_path / "two.csv", index=False)
    out = tmp_path / "out"

    result = _train("--config", str(small_config_file), "--data", str(tmp_path / "two.csv"), "--out", str(out))

    # THEN it trains, its graph passes the parity gate, and it answers with the two categories
    assert result.exit_code == 0, result.output
    assert json.loads((out / "parity_report.json").read_text())["passed"] is True
    metadata = read_metadata(onnx.load(out / "model.onnx"))
    assert sorted(metadata["classes"]) == sorted(frame["category"].unique())
    card = (out / "model_card.md").read_text()
    assert "| Home\\|" in card  # the per-class table's cells stay one cell each
    assert "| Home|" not in card
    calibration = metadata["calibration"]
    uncalibrated = calibration["temperature"] == 1.0 and not calibration["lead_knots"]
    assert ("Left uncalibrated" in card) is uncalibrated
    assert (f"temperature of {calibration['temperature']:.3f}" in card) is not uncalibrated


@pytest.mark.parametrize("design", ["multiclass", "rerank"])
def test_a_title_only_catalogue_trains_and_passes_parity(tracking, small_config_file, tmp_path, design):
    # GIVEN an export with a title and a category only: every feature block is the title model's (dense) scores
    config = yaml.safe_load(small_config_file.read_text())
    config["data"] = {key: config["data"][key] for key in ("target", "text", "group")} | {"columns": {"title": "title"}}
    config["model"] |= {"design": design}
    small_config_file.write_text(yaml.safe_dump(config))
    out = tmp_path / "out"

    result = _train("--config", str(small_config_file), "--out", str(out))

    # THEN it trains with either design, its graph passes the parity gate, and it takes the title alone
    assert result.exit_code == 0, result.output
    assert json.loads((out / "parity_report.json").read_text())["passed"] is True
    assert [field["name"] for field in read_metadata(onnx.load(out / "model.onnx"))["inputs"]] == ["title"]


def test_a_shop_of_fifteen_listings_trains(tracking, small_config_file, tmp_path):
    # GIVEN a small shop's export: some of the five stacking folds hold out no product
    config = yaml.safe_load(small_config_file.read_text())
    config["features"] |= {"stacking_folds": 5}
    small_config_file.write_text(yaml.safe_dump(config))

    result = _train("--config", str(small_config_file), "--data", str(write_small_shop(tmp_path)), "--out",
                    str(tmp_path / "o"))  # fmt: skip

    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "o" / "parity_report.json").read_text())["passed"] is True
    # and with a handful of validation answers no threshold stands: the run says so, as the card does
    assert "no operating point accepts anything: at no threshold were 30 or more of the" in result.output
    assert "**No operating point accepts anything:**" in (tmp_path / "o" / "model_card.md").read_text()


def test_two_categories_one_of_a_single_product_train_and_pass_the_parity_gate(tracking, small_config_file, tmp_path):
    # GIVEN two categories, one of a single product: the stacking fold that holds it out fits on one class only
    catalogue = generate_catalogue(2_000, seed=3)
    tv = catalogue[catalogue["category"] == "TVs"].head(1)
    pd.concat([catalogue[catalogue["category"] == "Laptops"], tv]).to_csv(tmp_path / "one_tv.csv", index=False)
    out = tmp_path / "o"

    # WHEN it trains
    result = _train("--config", str(small_config_file), "--data", str(tmp_path / "one_tv.csv"), "--out", str(out))

    # THEN it is trained, the TV learnt and not evaluated (which the run says of its figures), and the graph computes
    # as the pipeline did
    assert result.exit_code == 0, result.output
    assert "the test split holds rows of 1 of the 2 classes learnt: its macro-F1 says nothing of the others" in (
        result.output
    )
    assert json.loads((out / "metrics.json").read_text())["small_class_policy"]["train_only"] == 1
    assert json.loads((out / "parity_report.json").read_text())["passed"] is True


def test_strict_data_fails_before_anything_is_written(tracking, small_config_file, tmp_path):
    config = yaml.safe_load(small_config_file.read_text())
    config["data"]["strict"] = True
    config["data"]["columns"]["seller_id"] = " Seller_ID"  # a config name off by whitespace and case
    small_config_file.write_text(yaml.safe_dump(config))
    out = tmp_path / "out"

    result = _train("--config", str(small_config_file), "--out", str(out))

    assert result.exit_code == 1
    assert "data.strict: the data report found" in result.output
    assert "use 'seller_id'" in result.output
    assert not out.exists()
    assert not (tmp_path / "mlruns.db").exists()


def test_failed_parity_gate_registers_and_writes_nothing(tracking, small_config_file, tmp_path):
    config = yaml.safe_load(small_config_file.read_text()) | {"parity_tolerance": 1e-15}  # no float32 graph meets it
    small_config_file.write_text(yaml.safe_dump(config))
    out = tmp_path / "out"

    result = _train("--config", str(small_config_file), "--out", str(out))

    _assert_failed_and_shipped_nothing(result, "ONNX parity gate failed", out, tracking)


def test_a_disk_too_full_for_the_runs_files_registers_and_writes_nothing(
    tracking, small_config_file, tmp_path, monkeypatch
):
    # GIVEN a disk that fills up as the graph is written beside OUT
    out = tmp_path / "out"

    def full(self, data):
        if self.name == "model.onnx":
            raise OSError(28, "No space left on device", str(self))
        return original(self, data)

    original = type(out).write_bytes
    monkeypatch.setattr(type(out), "write_bytes", full)

    result = _train("--config", str(small_config_file), "--out", str(out))

    # THEN one line, before the model was registered or promoted, and no staging folder left beside OUT
    _assert_failed_and_shipped_nothing(result, "cannot write the run's files (OUT ", out, tracking)
    assert "No space left on device" in result.output
    assert sorted(path.name for path in tmp_path.iterdir() if "staging" in path.name) == []


def _assert_failed_and_shipped_nothing(result, message: str, out, tracking):
    """One line naming the gate, a FAILED run in MLflow, nothing registered or written; returns the run."""
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert not out.exists()
    mlflow.set_tracking_uri(tracking)
    assert MlflowClient().search_registered_models() == []
    (run,) = mlflow.search_runs(experiment_names=["test"], output_format="list")
    assert run.info.status == "FAILED"
    return run


def test_a_model_below_its_own_linear_baseline_is_not_shipped(tracking, small_config_file, tmp_path):
    # GIVEN a re-ranker that may not split (every candidate ties, so it answers the lowest class among them); the
    # multiclass design cannot fall below its baseline this way: it starts from the title model's margin, and drops
    # trees that lower validation macro-F1
    config = yaml.safe_load(small_config_file.read_text())
    config["model"] = config.get("model", {}) | {"design": "rerank", "n_estimators": 1, "min_child_samples": 10**7}
    small_config_file.write_text(yaml.safe_dump(config))
    out = tmp_path / "out"

    result = _train("--config", str(small_config_file), "--out", str(out))

    # THEN the run fails with one line naming both scores, is recorded as FAILED, and ships nothing
    run = _assert_failed_and_shipped_nothing(result, "on validation, below its own linear baseline", out, tracking)
    assert run.data.metrics["validation_macro_f1"] < run.data.metrics["validation_baseline_macro_f1"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--data", "missing.csv"], "data not found: missing.csv"),
        (["--config", "missing.yaml"], "config file not found: missing.yaml"),
        (["--data", "{csv}"], "missing column(s) ['seller_id', 'brand', 'price', 'product_id']"),
        (["--rows", "-5"], "ROWS must be a whole number of synthetic rows greater than 0"),
        (["--rows", "3000000000"], "ROWS must be at most 100,000,000 synthetic rows, got '3000000000'"),
        (
            ["--config", "{pricerunner}"],
            "no DATA given, so the synthetic catalogue was generated, and it has no column",
        ),
        (["--features", "feats"], "FEATURES= keeps the Dask engine's featurized partitions: use it with ENGINE=dask"),
        (
            ["--engine", "dask", "--corrections", "r.csv"],
            "CORRECTIONS= merges reviewed listings with ENGINE=local only",
        ),
        # Fails while fitting, after the data report: still nothing in MLflow, not even a FAILED run.
        (["--rows", "50"], "Add products, lower split.min_class_products, or try another split.seed"),
    ],
)
def test_bad_input_is_one_line_and_leaves_nothing_behind(tracking, tmp_path, arguments, message):
    csv = tmp_path / "catalogue.csv"
    csv.write_text("title,category\nphone,Phones\n")
    out = tmp_path / "out"

    pricerunner = str(DEFAULT_CONFIG_PATH.parent / "pricerunner.yaml")
    result = _train(*[a.replace("{csv}", str(csv)).replace("{pricerunner}", pricerunner) for a in arguments],
                    "--out", str(out))  # fmt: skip

    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert not out.exists()
    assert not (tmp_path / "mlruns.db").exists()


@pytest.mark.parametrize("place", ["file", "under a file"])
def test_an_out_that_cannot_be_a_folder_is_refused_before_any_work(tracking, tmp_path, place):
    (tmp_path / "taken").write_text("not a folder")
    out = tmp_path / "taken" if place == "file" else tmp_path / "taken" / "artifacts"

    result = _train("--rows", "2000", "--out", str(out))

    # THEN one line, and no model was fitted, registered or promoted first
    assert result.exit_code == 1
    assert f"OUT {out}" in result.output
    assert "Traceback" not in result.output
    assert "fitted" not in result.output
    assert not (tmp_path / "mlruns.db").exists()


@pytest.mark.parametrize("place", ["file", "under a file"])
def test_a_features_folder_that_cannot_be_one_is_refused_before_any_work(tracking, tmp_path, place):
    # GIVEN FEATURES naming a file, or a folder under one: the Dask run used to fit its title models first
    (tmp_path / "taken").write_text("not a folder")
    features = tmp_path / "taken" if place == "file" else tmp_path / "taken" / "features"

    result = _train("--engine", "dask", "--features", str(features), "--out", str(tmp_path / "out"))

    assert result.exit_code == 1
    assert f"FEATURES {features}" in result.output
    assert "Traceback" not in result.output
    assert "read/split" not in result.output
    assert not (tmp_path / "mlruns.db").exists()


@pytest.mark.shared_data
def test_pricerunner_sample_trains_with_parity(tracking, pricerunner_csv, tmp_path):
    sample = tmp_path / "sample.csv"
    lines = pricerunner_csv.read_text().splitlines()
    sample.write_text("\n".join(lines[:1] + lines[1::6]) + "\n")
    out = tmp_path / "out"

    result = _train(
        "--data", str(sample), "--config", str(PROJECT_ROOT / "configs" / "pricerunner.yaml"), "--out", str(out)
    )

    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["parity_label_agreement"] == 1.0
    assert metrics["parity_max_abs_diff"] <= 1e-5
    assert metrics["macro_f1"] > 0.9


def test_the_staging_folder_is_made_where_out_was_checked_so_on_outs_file_system(tmp_path):
    # OUT a mount point (a Docker volume, say): its parent may be another file system, or refuse writes
    existing = tmp_path / "volume"
    existing.mkdir()

    with staging_folder(existing) as inside, staging_folder(tmp_path / "new" / "run") as beside:
        assert Path(inside).parent == existing
        assert Path(beside).parent == tmp_path
