"""The loop from production back to training, end to end and offline: serve with capture, send traffic, build the
review queue, label it, retrain with the corrections, and compare the two models on the captured traffic."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pandas as pd
import pytest
import yaml
from fastapi.testclient import TestClient
from mlflow import MlflowClient
from typer.testing import CliRunner

from handler.app import create_app
from handler.events import SYNTHETIC_HEADER
from handler.model import load_model
from handler.settings import Settings
from training.cli import compare, review_queue, train
from training.config import DEFAULT_CONFIG_PATH, load_config
from training.data.clean import prepare_catalogue
from training.data.synthetic import generate_catalogue

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow
INPUTS = ["title", "seller_id", "brand", "price"]


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlruns.db'}")
    monkeypatch.chdir(tmp_path)
    config = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    config |= {"synthetic_rows": 2_500, "experiment": "loop", "registered_model": "loop-model"}
    config["features"] = {"text_buckets": 4096, "stacking_folds": 3, "char_ngrams": [2, 3]}
    config["model"] = {"n_estimators": 40}
    (tmp_path / "small.yaml").write_text(yaml.safe_dump(config))
    return tmp_path


def _invoke(app, *arguments: str):
    result = CliRunner().invoke(app, list(arguments))
    assert result.exit_code == 0, result.output
    return result


def test_capture_review_correct_retrain_and_compare(workspace: Path):
    config = str(workspace / "small.yaml")
    _invoke(train.app, "--config", config, "--out", "live")

    # Production traffic: listings the model never saw (another seed), some of a brand it never saw.
    traffic = prepare_catalogue(generate_catalogue(400, seed=77), load_config(DEFAULT_CONFIG_PATH).data)
    traffic.loc[traffic.index[:15], "brand"] = "brand-never-seen"
    settings = Settings(model_path=workspace / "live" / "model.onnx", capture_dir=workspace / "capture",
                        capture_sample_rate=1.0)  # fmt: skip
    client = TestClient(create_app(load_model(settings), settings))
    items = [{name: (None if pd.isna(row[name]) else row[name]) for name in INPUTS} for _, row in traffic.iterrows()]
    for start in range(0, len(items), 100):
        assert client.post("/predict/batch", json={"items": items[start : start + 100]}).status_code == 200
    assert client.post("/predict", json=items[0], headers={SYNTHETIC_HEADER: "smoke"}).status_code == 200

    queued = _invoke(review_queue.app, "--capture", "capture", "--out", "review.csv", "--config", config,
                     "--limit", "150")  # fmt: skip
    assert (workspace / "review.csv").read_bytes().startswith(b"\xef\xbb\xbf")  # a BOM: Excel reads it as UTF-8
    queue = pd.read_csv(workspace / "review.csv", dtype=str, keep_default_na=False)
    assert 0 < len(queue) <= 150
    assert queue["listing_id"].is_unique
    never_seen = queue[queue["brand"] == "brand-never-seen"]
    assert "new_brand" in queued.output
    assert "new brands and sellers are those the synthetic catalogue lacks (no DATA=)" in queued.output
    assert f"then `make train CORRECTIONS=review.csv CONFIG={config}`" in queued.output
    assert len(never_seen) > 0
    assert never_seen["reasons"].str.contains("new_brand").all()
    assert {"suggestion_1", "suggestion_2", "suggestion_3", "path", "label"} <= set(queue.columns)

    truth = dict(zip(traffic["title"], traffic["label"], strict=False))
    queue["label"] = queue["title"].map(truth)
    queue.to_csv(workspace / "reviewed.csv", index=False)
    # A second queue into the labelled file is refused: it would wipe the labels
    again = CliRunner().invoke(review_queue.app, ["--capture", "capture", "--out", "reviewed.csv", "--config", config])
    assert again.exit_code == 1
    assert "OUT reviewed.csv exists" in again.output
    assert pd.read_csv(workspace / "reviewed.csv", dtype=str)["label"].notna().all()
    # The first half of the reviewed listings retrains the model, reviewed in two rounds; the rest stays for judging it
    half, quarter = len(queue) // 2, len(queue) // 4
    queue.iloc[:quarter].to_csv("round1.csv", index=False)
    queue.iloc[quarter:half].to_csv("corrections.csv", index=False)
    _invoke(train.app, "--config", config, "--out", "retrained", "--corrections", "round1.csv,corrections.csv")
    metrics = json.loads((workspace / "retrained" / "metrics.json").read_text())
    assert metrics["corrections"] == half
    assert metrics["corrections_replaced_catalogue_rows"] == 0  # traffic of another seed: no catalogue row corrected
    assert f"corrections: {half} reviewed listings" in (workspace / "retrained" / "model_card.md").read_text()
    run = MlflowClient().get_run(metrics["mlflow_run_id"])
    assert run.data.params["corrections.rows"] == str(half)
    assert run.data.params["corrections.file"] == "round1.csv, corrections.csv"
    assert run.data.params["corrections.window_start"] <= run.data.params["corrections.window_end"]
    # The next queue, with the retrained model as the challenger, never asks for the listings it was taught again
    requeued = _invoke(review_queue.app, "--capture", "capture", "--out", "next.csv", "--config", config,
                       "--b", "retrained/model.onnx", "--reviewed", "round1.csv,corrections.csv")  # fmt: skip
    taught = set(queue["listing_id"][:half])
    assert taught.isdisjoint(pd.read_csv(workspace / "next.csv", dtype=str)["listing_id"])
    assert f"{half} listing(s) B was given as corrections never queued (reviewed already)" in requeued.output
    # (the rounds B trained on are those labelled listings: counted once, as B's)
    assert "; 0 listing(s) labelled in REVIEWED never queued again" in requeued.output

    # The reviewed file as people keep one: a listing labelled twice (the later row counts), one from elsewhere,
    # two added by hand without an id (each a listing of its own, as corrections read them)
    stranger = queue.iloc[:1].assign(listing_id="not-captured-here")
    by_hand = queue.iloc[:2].assign(listing_id="", title=["added by hand", "added by hand too"])
    pd.concat([queue.iloc[:1], queue, stranger, by_hand]).to_csv(workspace / "reviewed.csv", index=False)
    compared = _invoke(compare.app, "--a", "live/model.onnx", "--b", "retrained/model.onnx", "--data", "capture",
                       "--reviewed", "reviewed.csv", "--config", config, "--out", "cmp",
                       "--min-agreement", "0.5")  # fmt: skip
    report = json.loads((workspace / "cmp" / "comparison.json").read_text())
    # Every captured listing once (the synthetic request is not among them), but those B was given as corrections:
    # it answers them as it was taught, which says nothing of how it answers the rest
    assert (report["rows"], report["left_out_as_corrections"]) == (len(traffic) - half, half)
    assert f"{half:,} more are left out: a model was given them as corrections" in compared.output
    assert 0.5 <= report["agreement"]["ci_low"] <= report["agreement"]["agreement"] <= report["agreement"]["ci_high"]
    # B is judged only on the reviewed listings it did not train on
    assert report["reviewed"]["rows"] == len(queue) - half
    assert report["reviewed"]["left_out_as_corrections"] == half
    assert f"{half:,} more reviewed listings are left out: a model was given them as corrections" in compared.output
    assert (report["reviewed"]["not_in_capture"], report["reviewed"]["superseded"]) == (3, 1)
    assert "3 labelled listings of the review file are not in this capture" in compared.output
    assert "1 labelled rows repeat a listing a later row labels" in compared.output
    assert "are no estimate of either's accuracy on all traffic" in compared.output  # the queue chose them
    assert "on captured traffic" in compared.output
    own = CliRunner().invoke(compare.app, ["--a", "live/model.onnx", "--b", "retrained/model.onnx", "--data",
                                           "capture", "--reviewed", "corrections.csv", "--out", "cmp4"])  # fmt: skip
    assert own.exit_code == 1
    assert "every labelled listing of this capture was given to a model as a correction" in own.output

    queue.assign(label="Tellyvisions").to_csv(workspace / "typo.csv", index=False)
    typo = CliRunner().invoke(compare.app, ["--a", "live/model.onnx", "--b", "retrained/model.onnx", "--data",
                                            "capture", "--reviewed", "typo.csv", "--out", "cmp3"])  # fmt: skip
    assert typo.exit_code == 1
    assert "label(s) are classes of neither model, e.g. ['Tellyvisions']" in typo.output
    # a spelling the config aliases is read as its class, as training reads corrections
    aliased = yaml.safe_load((workspace / "small.yaml").read_text())
    aliased["data"] = {**aliased.get("data", {}), "label_aliases": {"Tellyvisions": queue["label"].iloc[0]}}
    (workspace / "aliased.yaml").write_text(yaml.safe_dump(aliased))
    _invoke(compare.app, "--a", "live/model.onnx", "--b", "retrained/model.onnx", "--data", "capture",
            "--reviewed", "typo.csv", "--config", "aliased.yaml", "--out", "cmp5")  # fmt: skip

    strict = CliRunner().invoke(compare.app, ["--a", "live/model.onnx", "--b", "retrained/model.onnx", "--data",
                                              "capture", "--config", config, "--out", "cmp2", "--min-agreement",
                                              str(min(1.0, report["agreement"]["ci_low"] + 0.001))])  # fmt: skip
    assert strict.exit_code == 1
