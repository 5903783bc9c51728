"""`make train ENGINE=dask`: the local engine's gates and graph, fitted on a real Dask cluster on loopback."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
import unicodedata
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import dask
import dask.dataframe as dd
import numpy as np
import onnx
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from handler.model import load_model
from handler.settings import Settings
from tests.conftest import make_command
from tests.training.conftest import write_small_shop
from training.cli.train import app
from training.columns import GROUP, LABEL
from training.config import DEFAULT_CONFIG_PATH, load_config
from training.data.clean import prepare_catalogue
from training.data.split import TRAIN, split_catalogue
from training.data.synthetic import generate_catalogue
from training.data.tail import TailPlan
from training.data.taxonomy import generate_taxonomy_catalogue
from training.engines.dask import boosting
from training.engines.dask import catalogue as dask_catalogue
from training.engines.dask import prepare as dask_prepare
from training.engines.dask.boosting import check_class_coverage
from training.engines.dask.cluster import dask_client
from training.engines.dask.prepare import (
    FOLD,
    PRODUCT,
    SPLIT,
    cleaned_partition,
    forced_products,
    prepare_partitions,
    prepared_partition,
    train_products,
)
from training.engines.peak_rss import own_peak_rss_mb
from training.exceptions import ConfigError, DataValidationError, TrainingError
from training.model.metadata import read_metadata

if TYPE_CHECKING:
    from collections.abc import Iterator

    from distributed import Worker

ROOT = Path(__file__).resolve().parents[2]
# Variables the Makefile exports (empty when not given) that choose or size the cluster.
CLUSTER_VARIABLES = {"WORKERS", "WORKER_MEMORY", "DASK_SCHEDULER_ADDRESS", "FEATURES_KEY"}
STAGES = {"read/split", "linear sample fits", "featurize", "LightGBM", "evaluation"}


@pytest.fixture(scope="module")
def small_config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    config |= {"synthetic_rows": 3_000, "experiment": "dask-test", "registered_model": "dask-test-model"}
    config["features"] = {"text_buckets": 4096, "stacking_folds": 3, "char_ngrams": [2, 3]}
    config["model"] = {"n_estimators": 40}
    path = tmp_path_factory.mktemp("config") / "small.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def cluster_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An embedded LocalCluster of 2 small workers, and a throwaway MLflow store."""
    folder = tmp_path_factory.mktemp("dask")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder / 'mlruns.db'}")
        patch.setenv("WORKERS", "2")
        patch.setenv("WORKER_MEMORY", "1GiB")
        patch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
        yield folder


@pytest.fixture(scope="module")
def driver_peak_mb() -> int:
    """This (driver) process's high-water mark once it has held 800 MB, as a driver that has read a catalogue:
    above any worker's own peak on the small run, whose workers start after it."""
    held = np.ones(800 * 2**20 // 8)
    del held
    return own_peak_rss_mb()


@pytest.fixture(scope="module")
def dask_run(cluster_env: Path, small_config_file: Path, driver_peak_mb: int) -> tuple[Path, Path, str]:
    out, features = cluster_env / "out", cluster_env / "features"
    result = _train(
        "--engine", "dask", "--config", str(small_config_file), "--out", str(out), "--features", str(features)
    )
    assert result.exit_code == 0, result.output
    return out, features, result.output


def _train(*arguments: str):
    return CliRunner().invoke(app, list(arguments))


@pytest.mark.slow
def test_dask_training_passes_the_parity_gate_and_serves_through_the_handler(dask_run, driver_peak_mb):
    out, _, _ = dask_run
    metrics = json.loads((out / "metrics.json").read_text())

    assert metrics["parity_passed"] is True
    assert metrics["parity_label_agreement"] == 1.0
    assert metrics["parity_max_abs_diff"] <= 1e-5
    assert metrics["macro_f1"] > 0.6
    assert metrics["n_train"] + metrics["n_validation"] + metrics["n_test"] == 3_000
    assert set(metrics["stage_seconds"]) == STAGES
    # each worker's own peak, not the driver's high-water mark that Linux hands on across fork+exec
    assert len(metrics["worker_peak_rss_mb"]) == 2
    assert 0 < max(metrics["worker_peak_rss_mb"]) < driver_peak_mb
    # the function loads it (replaying its golden examples) and answers with one of its classes
    model = load_model(Settings(model_path=out / "model.onnx"))
    answer = model.predict([{"title": "acme oled tv 55 inch", "seller_id": "s1", "brand": "acme", "price": 999.0}])
    assert answer[0].label in model.classes
    metadata = read_metadata(onnx.load(out / "model.onnx"))
    assert metadata["training_data"]["source"] == "synthetic(rows=3000, seed=42, partitions=1)"
    assert len(metadata["golden_examples"]) >= 20


@pytest.mark.slow
def test_a_rerun_with_the_features_folder_starts_at_lightgbm_and_gives_the_same_model(
    dask_run, cluster_env, small_config_file
):
    out, features, first_output = dask_run
    assert "reusing featurized partitions" not in first_output

    result = _train(
        "--engine", "dask", "--config", str(small_config_file), "--out", str(cluster_env / "again"),
        "--features", str(features),
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "reusing featurized partitions" in result.output
    again = json.loads((cluster_env / "again" / "metrics.json").read_text())
    first = json.loads((out / "metrics.json").read_text())
    assert set(again["stage_seconds"]) == {"LightGBM", "evaluation"}
    assert again["macro_f1"] == first["macro_f1"]
    golden = [read_metadata(onnx.load(path / "model.onnx"))["golden_examples"] for path in (out, cluster_env / "again")]
    assert golden[0] == golden[1]


@pytest.mark.slow
def test_a_taxonomy_of_many_categories_is_reranked_on_an_external_cluster(
    cluster_env, small_config_file, tmp_path, monkeypatch
):
    # GIVEN a 40-leaf taxonomy (more classes than the multiclass design takes), its title SVM fitted down the tree
    # (as `title_fit: auto` fits one of thousands of classes), a `dask scheduler` + `dask worker`, and a re-ranker
    # sample so small that its first rows lack some classes
    out = tmp_path / "out"
    monkeypatch.setattr(boosting, "RERANK_TRAIN_ROWS", 60)
    config = yaml.safe_load(small_config_file.read_text())
    config["features"] |= {"title_fit": "tree"}
    tree_config = tmp_path / "tree.yaml"
    tree_config.write_text(yaml.safe_dump(config))

    # WHEN it is trained on that cluster
    with _external_cluster() as address:
        monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", address)
        result = _train(
            "--engine", "dask", "--config", str(tree_config), "--rows", "8000", "--categories", "40",
            "--out", str(out),
        )  # fmt: skip

    # THEN the re-ranker learns every class of the title model, passes the parity gate, beats its linear
    # baseline, and the function answers with a path
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["candidates"] == 20
    assert metrics["title_fit"] == "tree"
    assert metrics["classes_learnt"] == 40
    assert metrics["parity_passed"] is True
    assert metrics["parity_max_abs_diff"] <= 1e-5
    assert metrics["macro_f1"] > metrics["baseline_macro_f1"]
    assert (
        "candidate re-ranker: the title SVM (one SVM per node of the category tree"
        in (out / "model_card.md").read_text()
    )
    model = load_model(Settings(model_path=out / "model.onnx"))
    assert len(model.classes) == 40
    answer = model.predict([{"title": "rodi seta tuvo", "seller_id": "s1", "brand": "b1", "price": 20.0}])[0]
    assert answer.label in model.classes
    assert len(answer.path()) == 3


@pytest.mark.slow
def test_make_train_and_predict_run_on_dask_when_no_cluster_variable_is_given(small_config_file, tmp_path):
    # GIVEN the environment the Makefile exports when WORKERS, WORKER_MEMORY and the rest are not given: empty
    environment = {name: value for name, value in os.environ.items() if name not in CLUSTER_VARIABLES}
    environment["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp_path / 'mlruns.db'}"
    out, predictions = tmp_path / "out", tmp_path / "predictions.parquet"
    data = tmp_path / "new.csv"
    generate_catalogue(200, seed=9).drop(columns=["category"]).to_csv(data, index=False)

    # WHEN `make train ENGINE=dask` then `make predict ENGINE=dask` run
    trained = _make(environment, "train", "ENGINE=dask", f"CONFIG={small_config_file}", f"OUT={out}")
    predicted = _make(environment, "predict", "ENGINE=dask", f"MODEL={out / 'model.onnx'}", f"DATA={data}",
                      f"PREDICTIONS={predictions}")  # fmt: skip

    # THEN both succeed on the default cluster: the model passed its gates and every row is scored
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert json.loads((out / "metrics.json").read_text())["parity_passed"] is True
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    assert len(pd.read_parquet(predictions)) == 200


def test_bad_data_found_by_a_worker_is_one_line_on_the_terminal_too(tmp_path):
    # GIVEN a catalogue whose fault only a worker finds, as it cleans its partition (an infinite price)
    environment = {name: value for name, value in os.environ.items() if name not in CLUSTER_VARIABLES}
    environment["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp_path / 'mlruns.db'}"
    data = tmp_path / "inf.csv"
    generate_catalogue(200, seed=9).astype({"price": str}).assign(price="inf").to_csv(data, index=False)

    # WHEN `make train ENGINE=dask` runs, its workers' own output included (CliRunner sees only the driver's)
    trained = _make(environment, "train", "ENGINE=dask", f"DATA={data}", f"OUT={tmp_path / 'out'}")

    # THEN the run ends in one error line, and no worker printed the failure's traceback before it
    assert trained.returncode != 0
    assert "Traceback" not in trained.stderr, trained.stderr[-3000:]
    [error] = [line for line in trained.stderr.splitlines() if " ERROR " in line]
    assert "column 'price' must be a finite number" in error


def test_an_embedded_worker_beating_after_its_scheduler_closed_prints_nothing(cluster_env, capfd):
    # GIVEN the embedded cluster, whose workers can send one more heartbeat as the command closes the scheduler,
    # restarted by their nannies (as after a kill over the memory limit)
    with dask_client() as client:
        client.restart()
        # WHEN a worker's own heartbeat finds no scheduler listening, and the worker then logs another error
        client.run(_heartbeat_to_a_closed_port)
        client.run(_log_an_error)
        workers = len(client.nthreads())

    # THEN the heartbeat's failure and its traceback (whose frames name `heartbeat`) reach no terminal, and the
    # worker's other errors still do
    printed = capfd.readouterr().err
    assert "Failed to communicate with scheduler" not in printed
    assert "heartbeat" not in printed
    assert printed.count("a worker's other error") == workers == 2


def test_an_embedded_worker_closing_keeps_its_heartbeat_quiet(cluster_env, capfd):
    # GIVEN the embedded cluster, whose workers tear their plugins down as they close, before their heartbeat stops
    with dask_client() as client:
        client.run(_tear_down_the_setup)
        # WHEN a heartbeat then finds the scheduler closed
        client.run(_heartbeat_to_a_closed_port)

    # THEN its failure reaches no terminal
    assert "heartbeat" not in capfd.readouterr().err


async def _tear_down_the_setup(dask_worker: Worker) -> None:
    """What `Worker.close` does first: remove every plugin, which runs its teardown."""
    await asyncio.gather(*(dask_worker.plugin_remove(name) for name in list(dask_worker.plugins)))


async def _heartbeat_to_a_closed_port(dask_worker: Worker) -> None:
    """The worker's own heartbeat, sent to a port bound but not listening: what it meets once the scheduler closed."""
    scheduler = dask_worker.scheduler
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        dask_worker.scheduler = dask_worker.rpc(f"tcp://127.0.0.1:{unused.getsockname()[1]}")
        try:
            with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
                await dask_worker.heartbeat()
        finally:
            dask_worker.scheduler = scheduler


def _log_an_error() -> None:
    logging.getLogger("distributed.worker").error("a worker's other error")


def test_workers_reading_text_by_another_unicode_version_are_refused(cluster_env, monkeypatch):
    # GIVEN a driver whose Python reads text by another Unicode version than its workers' (a 3.13 worker, say)
    workers_version = unicodedata.unidata_version
    monkeypatch.setattr(unicodedata, "unidata_version", "9.0.0")

    # WHEN a command that featurizes text sets up its cluster, THEN it refuses it, naming both versions
    with (
        pytest.raises(TrainingError, match=rf"reads text by Unicode {workers_version} .*by Unicode 9\.0\.0"),
        dask_client(reads_text=True),
    ):
        pass
    # AND one that does not (make predict: the graph reads the text) runs on them
    with dask_client() as client:
        assert client.submit(sum, [1, 2]).result() == 3


def test_a_worker_joining_with_another_unicode_version_closes_itself(cluster_env, tmp_path):
    # GIVEN a training command's cluster, and a worker process whose Python reads text by another Unicode version
    (tmp_path / "sitecustomize.py").write_text("import unicodedata\nunicodedata.unidata_version = '9.0.0'\n")
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]))
    dask_cli = str(Path(sys.executable).parent / "dask")
    with dask_client(reads_text=True) as client:
        # WHEN that worker joins while the command runs
        joiner = subprocess.Popen(
            [dask_cli, "worker", client.scheduler.address, "--no-nanny", "--nthreads", "1", "--memory-limit", "1GiB",
             "--host", "127.0.0.1", "--no-dashboard"],
            env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            _, stderr = joiner.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            joiner.kill()
            pytest.fail(f"the worker stayed in the cluster: {joiner.communicate()[1][-2000:]}")

        # THEN it leaves, saying why, and the command's own workers go on working
        assert "reads text by Unicode 9.0.0" in stderr
        assert "closes itself" in stderr
        assert "Traceback" not in stderr
        assert len(client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.workers))) == 2
        assert client.submit(sum, [1, 2]).result() == 3


def _make(environment: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        make_command("--silent", *arguments), cwd=ROOT, env=environment, capture_output=True, text=True, timeout=900
    )


@pytest.mark.slow
def test_an_external_scheduler_trains_from_parquet_on_s3(cluster_env, small_config_file, moto_server, tmp_path):
    # GIVEN a Parquet catalogue in a bucket on a local S3 endpoint and a `dask scheduler` + `dask worker`
    frame = generate_catalogue(3_000, seed=5)
    s3 = boto3.session.Session().client("s3")
    s3.create_bucket(Bucket="catalogues")
    for index, part in enumerate((frame.iloc[:1_500], frame.iloc[1_500:])):
        part.to_parquet(tmp_path / f"{index}.parquet")
        s3.upload_file(str(tmp_path / f"{index}.parquet"), "catalogues", f"export/{index}.parquet")

    with _external_cluster() as address, pytest.MonkeyPatch.context() as patch:
        patch.setenv("DASK_SCHEDULER_ADDRESS", address)
        # WHEN dask training reads it from s3://
        result = _train(
            "--engine", "dask", "--config", str(small_config_file), "--data", "s3://catalogues/export",
            "--out", str(tmp_path / "out"),
        )  # fmt: skip

    # THEN that cluster trained a model that passed the gates
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["parity_passed"] is True
    assert metrics["n_train"] + metrics["n_validation"] + metrics["n_test"] == 3_000
    assert read_metadata(onnx.load(tmp_path / "out" / "model.onnx"))["training_data"]["source"] == "export"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _external_cluster:
    """`dask scheduler` and `dask worker` processes on 127.0.0.1, stopped on exit."""

    def __enter__(self) -> str:
        dask = str(Path(sys.executable).parent / "dask")
        port = _free_port()
        self.address = f"tcp://127.0.0.1:{port}"
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": dict(os.environ)}
        self.processes = [
            subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                             **quiet),
            subprocess.Popen(
                [dask, "worker", self.address, "--nworkers", "2", "--nthreads", "1", "--memory-limit", "1GiB",
                 "--host", "127.0.0.1", "--no-dashboard"],
                **quiet,
            ),
        ]  # fmt: skip
        from distributed import Client

        with Client(self.address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        return self.address

    def __exit__(self, *exc: object) -> None:
        for process in reversed(self.processes):
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.mark.slow
@pytest.mark.parametrize("design", ["multiclass", "rerank"])
def test_a_shop_of_fifteen_listings_trains_on_one_worker(cluster_env, small_config_file, tmp_path, monkeypatch, design):
    # GIVEN a small shop's export: partitions without a validation or test row; the data report reads its first rows
    monkeypatch.setenv("WORKERS", "1")
    monkeypatch.setattr(dask_prepare, "REPORT_ROWS", 3)
    config = yaml.safe_load(small_config_file.read_text())
    config["model"] |= {"design": design, "candidates": 3}
    (tmp_path / "shop.yaml").write_text(yaml.safe_dump(config))

    result = _train("--engine", "dask", "--config", str(tmp_path / "shop.yaml"), "--data",
                    str(write_small_shop(tmp_path)), "--out", str(tmp_path / "out"))  # fmt: skip

    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "out" / "parity_report.json").read_text())["passed"] is True
    # AND the model card lists every class the model learnt, counted over the whole file, not the report's rows
    classes = read_metadata(onnx.load(tmp_path / "out" / "model.onnx"))["classes"]
    card = (tmp_path / "out" / "model_card.md").read_text()
    listed = next(line for line in card.splitlines() if line.startswith("- classes: "))
    assert sorted(part.rsplit(" ", 1)[0] for part in listed.removeprefix("- classes: ").split(", ")) == sorted(classes)
    # AND the rows it counts say they are the report's first rows, not the file's
    rows = next(line for line in card.splitlines() if line.startswith("- rows: "))
    assert rows.startswith("- rows: 3 in, ")
    assert rows.endswith(", of the first 3 rows the data report read")
    assert "(its first 3 rows only): 3 rows in" in (tmp_path / "out" / "data_report.txt").read_text()


@pytest.mark.slow
def test_a_class_on_too_few_partitions_fails_with_a_clear_message_and_writes_nothing(
    cluster_env, small_config_file, tmp_path, monkeypatch
):
    # GIVEN a class of two products (a small class: both train, so on two partitions at most), and three workers
    frame = generate_catalogue(3_000, seed=9)
    rare = pd.DataFrame({"product_id": ["drone-1", "drone-2"]})
    rare = rare.assign(title="skyhawk drone", seller_id="s1", brand="skyhawk", price=99.0, subcategory="Drones",
                       category="Drones")  # fmt: skip
    rare = pd.concat([rare.assign(seller_id=f"s{k}") for k in range(4)], ignore_index=True)
    pd.concat([frame, rare], ignore_index=True).to_csv(tmp_path / "catalogue.csv", index=False)
    monkeypatch.setenv("WORKERS", "3")

    # WHEN it is trained on the cluster
    result = _train(
        "--engine", "dask", "--config", str(small_config_file), "--data", str(tmp_path / "catalogue.csv"),
        "--out", str(tmp_path / "out"),
    )  # fmt: skip

    # THEN it stops before LightGBM, naming a worker and the class, and leaves no artifacts
    assert result.exit_code == 1
    assert "lack 1 of 11 classes ('Drones'); lightgbm.dask needs every class on every worker" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_a_worker_without_some_class_is_named_before_lightgbm_starts():
    workers = ["tcp://127.0.0.1:1", "tcp://127.0.0.1:2"]

    check_class_coverage(workers, [["Laptops", "TVs"], ["TVs", "Laptops"]], ["Laptops", "TVs"])
    with pytest.raises(DataValidationError, match=r"worker tcp://127.0.0.1:2 lack 1 of 2 classes \('Laptops'\)"):
        check_class_coverage(workers, [["Laptops", "TVs"], ["TVs"], ["Laptops"]], ["Laptops", "TVs"])


def _prepared(raw: pd.DataFrame, config) -> pd.DataFrame:
    """Stage 1 on one raw partition, small classes left as they are (the default `train` policy)."""
    return prepared_partition(cleaned_partition(raw, config, "part"), config, TailPlan("train", 5, 0))


def test_the_split_and_folds_do_not_depend_on_partitioning():
    config = load_config(DEFAULT_CONFIG_PATH)
    raw = generate_catalogue(2_000, seed=3)

    whole = _prepared(raw, config)
    halves = pd.concat([_prepared(raw.iloc[:700], config), _prepared(raw.iloc[700:], config)])

    for column in (SPLIT, FOLD):
        by_product = whole.groupby(GROUP)[column].first()
        assert halves.groupby(GROUP)[column].first().reindex(by_product.index).equals(by_product)
    # a product's rows never straddle splits, and every split is used
    assert whole.groupby(GROUP)[SPLIT].nunique().max() == 1
    assert set(whole[SPLIT]) == {0, 1, 2}


def test_the_dask_engine_deals_every_product_the_split_the_local_engine_does():
    # GIVEN a long-tailed taxonomy (small classes, classes whose products all draw held-out) in two partitions
    config = load_config(DEFAULT_CONFIG_PATH, synthetic_categories=300)
    raw = generate_taxonomy_catalogue(3_000, 300, seed=42)
    product = raw["product_id"].astype(int)
    raw = raw[(product % 2 == 0) | (product // 300 < 3)]  # half the leaves keep three products: a long tail
    halves = [_prepared(raw.iloc[:1_100], config), _prepared(raw.iloc[1_100:], config)]
    prepared = dd.from_pandas(pd.concat(halves, ignore_index=True), npartitions=2)
    products = prepared[[PRODUCT, LABEL]].drop_duplicates().groupby(LABEL).size().compute()
    small = set(products[products < config.split.min_class_products].index)
    assert small

    # WHEN the Dask engine forces the small classes' products and the train floors into train
    forced = forced_products(prepared, small)
    dealt = pd.concat([train_products(half, forced) for half in halves])

    # THEN every product is where the local engine's split puts it, and every class trains
    local = split_catalogue(prepare_catalogue(raw, config.data), config.split)
    for split, part in enumerate((local.train, local.validation, local.test)):
        assert set(dealt.loc[dealt[SPLIT] == split, GROUP]) == set(part[GROUP])
    assert dealt.loc[dealt[SPLIT] == TRAIN, LABEL].nunique() == dealt[LABEL].nunique()
    assert dealt.groupby(GROUP)[SPLIT].nunique().max() == 1


def test_the_taxonomy_catalogue_is_generated_partition_by_partition_from_the_seed(monkeypatch):
    # GIVEN CATEGORIES=40 over 3,000 rows, in partitions of 1,000 rows
    monkeypatch.setattr(dask_catalogue, "PARTITION_ROWS", 1_000)
    config = load_config(DEFAULT_CONFIG_PATH, synthetic_rows=3_000, synthetic_categories=40)
    # WHEN the Dask engine opens the synthetic catalogue, twice
    opened = dask_catalogue.open_catalogue(config, None)
    frames = [part.compute(scheduler="sync") for part in (opened.raw, dask_catalogue.open_catalogue(config, None).raw)]
    # THEN it is three partitions, the same each time, of every leaf, with one leaf per product across partitions
    assert opened.raw.npartitions == 3
    assert opened.source == "synthetic-taxonomy(rows=3000, categories=40, seed=42, partitions=3)"
    pd.testing.assert_frame_equal(frames[0], frames[1])
    assert len(frames[0]) == 3_000
    assert frames[0]["category"].nunique() == 40
    assert frames[0].groupby("product_id")["category"].nunique().max() == 1
    # AND its columns are the local engine's catalogue's
    assert list(frames[0].columns) == list(generate_taxonomy_catalogue(3_000, 40, seed=42).columns)


def test_one_taxonomy_partition_is_exactly_the_local_engines_catalogue():
    config = load_config(DEFAULT_CONFIG_PATH, synthetic_rows=2_000, synthetic_categories=30)

    frame = dask_catalogue.open_catalogue(config, None).raw.compute(scheduler="sync")

    # (Dask reads strings as pyarrow strings: the values are compared, not the dtypes)
    expected = generate_taxonomy_catalogue(2_000, 30, seed=42)
    pd.testing.assert_frame_equal(frame.reset_index(drop=True), expected, check_dtype=False)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("{tmp}/absent.csv", "data not found"),
        ("{tmp}/nothing-*.parquet", "no CSV, TSV or Parquet files match"),
        ("{tmp}/wrong.csv", "missing column(s) ['title'"),
        ("{tmp}/latin1.csv", "cannot read"),
        ("{tmp}/one_tv.csv", "lack 1 of 2 classes ('TVs'); lightgbm.dask needs every class on every worker"),
        ("{tmp}/export", "export/b.csv: column 'price' must be ≥ 0, found -3.0 in data row 5"),
        ("{tmp}/rounded.csv", "every row has the same product id"),
    ],
)
def test_bad_data_is_one_line_and_writes_nothing(tmp_path, data, message, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlruns.db'}")
    catalogue = generate_catalogue(600, seed=3)
    laptops = catalogue[catalogue["category"] == "Laptops"]
    tv = catalogue[catalogue["category"] == "TVs"].head(1)
    pd.concat([laptops, tv]).to_csv(tmp_path / "one_tv.csv", index=False)  # two classes, one of a single product
    (tmp_path / "export").mkdir()
    catalogue.iloc[:300].to_csv(tmp_path / "export" / "a.csv", index=False)
    catalogue.iloc[300:340].assign(price=[12.0] * 4 + [-3.0] + [12.0] * 35).to_csv(
        tmp_path / "export" / "b.csv", index=False
    )
    catalogue.assign(product_id="5.01E+12").to_csv(tmp_path / "rounded.csv", index=False)  # a spreadsheet's rounding
    (tmp_path / "wrong.csv").write_text("name,category\nphone,Mobile Phones\n")
    (tmp_path / "latin1.csv").write_bytes("title,category\ncaf\u00e9 machine,Coffee\n".encode("latin-1"))

    result = _train("--engine", "dask", "--data", data.replace("{tmp}", str(tmp_path)), "--out", str(tmp_path / "o"))

    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "o").exists()
    assert not (tmp_path / "mlruns.db").exists()


@pytest.mark.slow
def test_copies_of_a_row_in_other_files_are_dropped_as_the_local_engine_drops_them(
    cluster_env, small_config_file, tmp_path, caplog
):
    # GIVEN an export whose second file repeats 200 rows of the first, and drops 30 rows without a title late on
    folder = tmp_path / "export"
    folder.mkdir()
    frame = generate_catalogue(1_000, seed=5)
    frame.iloc[:600].to_csv(folder / "a.csv", index=False)
    later = frame.iloc[400:].copy()
    later.iloc[-30:, later.columns.get_loc("title")] = ""
    later.to_csv(folder / "b.csv", index=False)
    config = load_config(small_config_file)

    # WHEN the Dask engine prepares it
    with caplog.at_level("INFO"), dask_client() as client:
        _, counts, _, _ = prepare_partitions(client, config, dask_catalogue.open_catalogue(config, str(folder)))

    # THEN it keeps the rows the local engine keeps, in the same splits, and says what it dropped from all files
    whole = pd.concat([pd.read_csv(path, dtype=str) for path in sorted(folder.glob("*.csv"))], ignore_index=True)
    local = split_catalogue(prepare_catalogue(whole, config.data), config.split)
    assert counts.groupby(level=0).sum().tolist() == [len(local.train), len(local.validation), len(local.test)]
    cleaned = next(record for record in caplog.records if record.getMessage() == "cleaned")
    assert (cleaned.rows_in, cleaned.dropped_empty_title) == (1_200, 30)
    assert cleaned.rows_out == int(counts.sum())
    assert cleaned.levelname == "WARNING"


@pytest.mark.slow
def test_label_aliases_name_labels_as_read_and_a_one_class_file_is_named(cluster_env, small_config_file, tmp_path):
    # GIVEN an export whose "Gift Cards" rows all lack a title (cleaning drops them), and an alias mapping to it
    frame = generate_catalogue(600, seed=5)
    cards = frame.head(5).assign(title="", category="Gift Cards")
    pd.concat([frame, cards]).to_csv(tmp_path / "export.csv", index=False)
    frame.assign(category="TVs").to_csv(tmp_path / "one_class.csv", index=False)
    config = load_config(small_config_file)
    aliased = replace(config, data=replace(config.data, label_aliases={"Giftcards": "Gift Cards"}))
    unknown = replace(config, data=replace(config.data, label_aliases={"Giftcards": "Vouchers"}))

    with dask_client() as client:
        # THEN the alias to a label of the file is accepted, as the local engine accepts it
        prepare_partitions(client, aliased, dask_catalogue.open_catalogue(aliased, str(tmp_path / "export.csv")))
        prepare_catalogue(pd.read_csv(tmp_path / "export.csv", dtype=str), aliased.data)
        # AND one to a label no row has is refused, by both
        with pytest.raises(ConfigError, match="maps to 'Vouchers', which is not a label in the data"):
            prepare_partitions(client, unknown, dask_catalogue.open_catalogue(unknown, str(tmp_path / "export.csv")))
        # AND a file of one class is named in the refusal
        with pytest.raises(DataValidationError, match=r"one_class.csv: the target has 1 class"):
            prepare_partitions(client, config, dask_catalogue.open_catalogue(config, str(tmp_path / "one_class.csv")))


@pytest.mark.parametrize(
    ("address", "said"), [("127.0.0.1", "missing port number"), ("http://127.0.0.1:8787", "unknown address scheme")]
)
def test_a_scheduler_address_that_is_no_address_is_one_line_naming_what_to_write(monkeypatch, address, said):
    # GIVEN the scheduler's host without its port, or the dashboard's URL in its place
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", address)

    with pytest.raises(TrainingError, match=rf"DASK_SCHEDULER_ADDRESS={address} is no scheduler address \({said}"), \
            dask_client():  # fmt: skip
        pass


def test_a_worker_memory_under_what_a_worker_needs_to_start_is_refused(monkeypatch):
    # GIVEN a limit past whose 80 % a worker's imports alone go: Dask pauses such a worker, and it never resumes
    monkeypatch.setenv("WORKERS", "1")
    monkeypatch.setenv("WORKER_MEMORY", "500MiB")
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)

    with pytest.raises(TrainingError, match="WORKER_MEMORY '500MiB' is under 1GiB a worker"), dask_client():
        pytest.fail("no cluster may be handed out")


def test_a_task_cancelled_with_its_lost_worker_is_the_one_line_about_workers(monkeypatch):
    # GIVEN a worker lost during the LightGBM stage, whose tasks the client had let go: they are cancelled
    from distributed.client import FutureCancelledError

    monkeypatch.setenv("WORKERS", "1")
    monkeypatch.setenv("WORKER_MEMORY", "1GiB")
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)

    with pytest.raises(TrainingError, match=r"a Dask worker died \(FutureCancelledError\)"), dask_client():
        raise FutureCancelledError("_train_part-1", reason="already forgotten")
