"""A categories case re-measured without --peers keeps the peers measured on the very same split, and says when."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest

from training.config import PROJECT_ROOT

BENCHMARKS = PROJECT_ROOT / "benchmarks"


@pytest.fixture
def categories_benchmark(monkeypatch):
    """benchmarks/categories_benchmark.py, imported as the script runs (its folder on the path)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location("categories_benchmark", BENCHMARKS / "categories_benchmark.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


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
