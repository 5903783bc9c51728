"""A case re-measured without --peers keeps the peers measured on the very same split, and says when."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest

from training.config import PROJECT_ROOT

BENCHMARKS = PROJECT_ROOT / "benchmarks"


def _script(monkeypatch, name):
    """A benchmarks/ script, imported as it runs (its folder on the path)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def categories_benchmark(monkeypatch):
    return _script(monkeypatch, "categories_benchmark")


@pytest.fixture
def training_benchmark(monkeypatch):
    return _script(monkeypatch, "training_benchmark")


def _row(commit, *, n_test=8_000, peers=None):
    row = {"case": "100x40000", "categories": 100, "rows": 40_000, "design": "auto", "n_train": 28_000,
           "n_validation": 4_000, "n_test": n_test, "macro_f1": 0.95, "commit": commit, "date": "2026-12-04",
           "machine": "x86_64, 2 cores"}  # fmt: skip
    return row | ({"peers": peers} if peers else {})


PEERS = {"fasttext": {"macro_f1": 0.88}, "tfidf_linearsvc": {"macro_f1": 0.89}}


def test_a_run_without_peers_keeps_the_earlier_ones_on_the_same_split_with_where_they_ran(
    categories_benchmark, tmp_path
):
    results = tmp_path / "categories.json"
    categories_benchmark.save(_row("aaaaaaa", peers=PEERS), results)

    categories_benchmark.save(_row("bbbbbbb"), results)
    categories_benchmark.save(_row("ccccccc"), results)

    [row] = json.loads(results.read_text())["results"]
    assert row["commit"] == "ccccccc"
    assert row["peers"] == PEERS
    assert row["peers_measured_on"]["commit"] == "aaaaaaa"


def test_peers_of_another_split_are_dropped_and_fresh_peers_replace_old_ones(categories_benchmark, tmp_path):
    results = tmp_path / "categories.json"
    categories_benchmark.save(_row("aaaaaaa", peers=PEERS), results)

    categories_benchmark.save(_row("bbbbbbb", n_test=7_999), results)
    assert "peers" not in json.loads(results.read_text())["results"][0]

    categories_benchmark.save(_row("ccccccc", n_test=7_999, peers={"fasttext": {"macro_f1": 0.9}}), results)
    [row] = json.loads(results.read_text())["results"]
    assert row["peers"] == {"fasttext": {"macro_f1": 0.9}}
    assert "peers_measured_on" not in row


def test_the_training_benchmark_keeps_pricerunners_peers_and_every_other_case(training_benchmark, tmp_path):
    results = tmp_path / "training.json"
    pricerunner = {"case": "pricerunner", "n_train": 24_689, "n_test": 7_120, "commit": "aaaaaaa",
                   "date": "2026-12-03", "machine": "x86_64, 2 cores"}  # fmt: skip
    other = {"case": "synthetic-10k", "n_train": 6_965, "n_test": 1_978, "commit": "aaaaaaa"}
    training_benchmark.save([pricerunner | {"peers": PEERS}, other], results)

    report = training_benchmark.save([pricerunner | {"commit": "bbbbbbb"}], results)

    assert [row["case"] for row in report["results"]] == ["synthetic-10k", "pricerunner"]
    row = report["results"][1]
    assert (row["commit"], row["peers"], row["peers_measured_on"]["commit"]) == ("bbbbbbb", PEERS, "aaaaaaa")
    assert json.loads(results.read_text()) == report
