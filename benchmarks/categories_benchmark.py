"""Measure `make train ROWS= CATEGORIES=` from 10 to 5,000 categories: quality, size, memory, time, serving.

Each case is one run of the training command line exactly as `make train ROWS=R CATEGORIES=C OUT=<tmp>` runs
it, in a fresh process with a throwaway MLflow store, so its time and memory are the run's own. Memory is the
peak of the whole process tree (the trainer and the worker processes joblib/loky starts), sampled with psutil,
beside the trainer's own peak from wait4. The model it wrote is then served as the function serves it (the
handler's own `load_model`: its session options, threads and chunking) on held-out rows of the same
catalogue: single-row p50/p99 and ms per row in batches of 1,000. The build size is the handler's runtime
dependencies as installed in this venv, less what `make build` trims, plus the model.

Every case is written to benchmarks/results/categories.json as soon as it ends, so an interrupted run keeps
the cases that finished; a failed case is recorded with its last log line and the run goes on.

A real taxonomy's case (`TAXONOMY@ROWS`, e.g. `google-shape@250000`) measures what a shop with a long tail gets:
the long-tailed catalogue of `make train TAXONOMY=` is generated, a fifth of its products is held out *before*
training (the products "you do not have"), the rest is trained on as a CSV file with `make train DATA=`, and the
model is scored on the held-out products: macro-F1 over every class with held-out rows (a class the training file
lacks counts, and can only be wrong), by class size in the training file, and hierarchical F1.

    python benchmarks/categories_benchmark.py                              # 10x40000 … 5000x500000 (hours)
    python benchmarks/categories_benchmark.py --cases 100x40000,1000x200000,100x40000:multiclass
    python benchmarks/categories_benchmark.py --cases google-shape@250000,google@250000
    python benchmarks/categories_benchmark.py --cases 10x40000,100x40000 --peers   # with fastText and TF-IDF+SVC
"""

from __future__ import annotations

import argparse
import fnmatch
import importlib.metadata
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import psutil
import yaml
from packaging.requirements import Requirement
from provenance import measured_on, reported_operating_points, with_earlier_peers

ROOT = Path(__file__).resolve().parent.parent
# The taxonomy catalogue's path separator and category column (training/data/long_tail.py).
PATH_SEPARATOR = " > "
LABEL_COLUMN = "category"
RESULTS = ROOT / "benchmarks" / "results" / "categories.json"
# 100 categories also with the multiclass design, the one the re-ranker replaced above 30 classes, and 1,000
# with the flat title SVM the tree fit replaced.
DEFAULT_CASES = (
    "10x40000,100x40000,100x40000:multiclass,1000x200000,1000x200000:flat,5000x500000,5000x1000000,google-shape@250000"
)
# A real taxonomy's case: the share of products held out before training, and the class-size bands (products per
# class in the training file; 0: a class the training file lacks).
HOLDOUT_SHARE = 0.2
HELD_OUT_BANDS = (("0 products (unseen)", 0, 0), ("1-4 products", 1, 4), ("5-19 products", 5, 19),
                  ("20+ products", 20, None))  # fmt: skip
SCORE_CHUNK = 500
# A case's variant and the config settings it forces.
VARIANTS: dict[str, dict[str, dict[str, str]]] = {
    "auto": {},
    "multiclass": {"model": {"design": "multiclass"}},
    "rerank": {"model": {"design": "rerank"}},
    "flat": {"features": {"title_fit": "flat"}},
    "tree": {"features": {"title_fit": "tree"}},
}
DEFAULT_CONFIG = ROOT / "configs" / "synthetic.yaml"
SINGLE_REQUESTS = 500
BATCH_ROWS = 1_000
BATCH_REPEATS = 5
SAMPLE_SECONDS = 0.2
# Held-out rows searched for the docs' example answers (accepted at the category, at an ancestor, review).
EXAMPLE_SEARCH_ROWS = 2_000
# Packages the Lambda runtime provides, so the build does not ship them.
PROVIDED = frozenset({"boto3", "botocore", "s3transfer", "jmespath", "urllib3", "python-dateutil", "six"})
METRIC_KEYS = (
    "macro_f1", "baseline_macro_f1", "validation_macro_f1", "validation_baseline_macro_f1", "accuracy",
    "best_iteration", "train_seconds", "n_train", "n_validation", "n_test", "classes_learnt", "classes_evaluated",
    "classes_not_evaluated", "small_classes", "hierarchical_f1", "title_fit",
)  # fmt: skip


@dataclass(frozen=True)
class Case:
    """One case: a synthetic taxonomy of `categories` leaves, or a real taxonomy's long-tailed catalogue."""

    rows: int
    categories: int | None = None
    taxonomy: str | None = None
    design: str | None = None

    @property
    def name(self) -> str:
        """`100x40000`, `100x40000:multiclass` for a forced design, `google-shape@250000` for a taxonomy."""
        size = f"{self.taxonomy}@{self.rows}" if self.taxonomy else f"{self.categories}x{self.rows}"
        return size + (f":{self.design}" if self.design else "")


def parse_cases(text: str) -> list[Case]:
    """`CATEGORIESxROWS[:VARIANT]` or `TAXONOMY@ROWS[:VARIANT]`, comma-separated.

    Raises:
        SystemExit: A case is malformed or names an unknown variant.
    """
    cases = []
    for case in filter(None, (part.strip() for part in text.split(","))):
        size, _, design = case.partition(":")
        taxonomy, at, rows = size.partition("@")
        categories, x, synthetic_rows = size.lower().partition("x")
        if at and rows.isdigit() and taxonomy and design in {"", *VARIANTS}:
            cases.append(Case(int(rows), taxonomy=taxonomy, design=design or None))
        elif x and categories.isdigit() and synthetic_rows.isdigit() and design in {"", *VARIANTS}:
            cases.append(Case(int(synthetic_rows), categories=int(categories), design=design or None))
        else:
            raise SystemExit(
                f"error: a case is CATEGORIESxROWS or TAXONOMY@ROWS, then [:{'|'.join(VARIANTS)}], e.g. 100x40000 or "
                f"google-shape@250000; got {case!r}"
            )
    return cases


def design_config(design: str | None, workdir: Path, *, path_labels: bool = False) -> Path:
    """The default config with the variant's settings (and path labels for a taxonomy file), written into
    `workdir`."""
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
    for section, settings in VARIANTS[design or "auto"].items():
        raw.setdefault(section, {}).update(settings)
    if path_labels:
        raw["data"]["path_separator"] = PATH_SEPARATOR
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def run_case(case: Case, workdir: Path, *, peers: bool = False) -> dict[str, Any]:
    """Train once as `make train` does, then serve the model it wrote; the case's row of the result file (with
    `peers`, also fastText and TF-IDF + LinearSVC on the same split: benchmarks/peers.py)."""
    row: dict[str, Any] = {"case": case.name, "rows": case.rows, "design": case.design or "auto"}
    if case.taxonomy:
        train_file, held_out = hold_out_products(case, workdir)
        arguments = ["--data", str(train_file), "--config", str(design_config(case.design, workdir, path_labels=True))]
        row |= {"taxonomy": case.taxonomy, "categories": held_out[LABEL_COLUMN].nunique()}
    else:
        arguments = ["--rows", str(case.rows), "--categories", str(case.categories)]
        if case.design:
            arguments += ["--config", str(design_config(case.design, workdir))]
        row["categories"] = case.categories
    trained = train_once(arguments, workdir)
    if "error" in trained:
        return row | trained | measured_on()
    row |= trained
    model = workdir / "out" / "model.onnx"
    if case.taxonomy:
        row |= held_out_scores(model, held_out, train_file)
        requests = request_rows(held_out)
        row["categories"] = trained["classes_learnt"]
    else:
        requests = held_out_rows(case.categories, case.rows)
    row |= serving_latency(model, requests) | path_overhead(model, requests)
    row["examples"] = example_answers(model, requests)
    row["build_mb"] = round(runtime_megabytes() + model.stat().st_size / 1e6, 1)
    if peers:
        row["peers"] = peer_scores(case, workdir, n_train=row["n_train"], n_test=row["n_test"])
    return row | measured_on()


def peer_scores(case: Case, workdir: Path, *, n_train: int, n_test: int) -> dict[str, Any]:
    """fastText and TF-IDF + LinearSVC on the split the case trained on (synthetic taxonomies; a real taxonomy's
    case scores held-out products the split never saw, so it has no peers here)."""
    from peers import compare_peers, local_split

    from training.config import load_config

    if case.taxonomy:
        return {"skipped": "a real taxonomy's case: its held-out products are scored outside the split"}
    config = load_config(design_config(case.design, workdir, path_labels=True), synthetic_rows=case.rows,
                         synthetic_categories=case.categories)  # fmt: skip
    return compare_peers(config, local_split(config, None, n_train=n_train, n_test=n_test))


def train_once(arguments: list[str], workdir: Path) -> dict[str, Any]:
    """One `make train` run in a fresh process with a throwaway MLflow store: its time, memory and results."""
    out = workdir / "out"
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlruns.db'}", "MPLBACKEND": "Agg"}
    command = [sys.executable, "-m", "training.cli.train", "--out", str(out), "--engine", "local", *arguments]
    log = workdir / "train.log"
    started = time.perf_counter()
    with log.open("w") as handle:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)
        tree_peak = _TreePeak(process.pid)
        # wait4 gives this child's own peak RSS; the sampler adds its worker processes.
        _, status, usage = os.wait4(process.pid, 0)
        tree_peak.stop()
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        lines = log.read_text().strip().splitlines()
        return {"error": lines[-1] if lines else "no output", "wall_seconds": round(wall, 1)}
    metrics = json.loads((out / "metrics.json").read_text())
    parity = json.loads((out / "parity_report.json").read_text())
    found = {
        "wall_seconds": round(wall, 1),
        "peak_rss_mb": round(tree_peak.megabytes),
        "trainer_peak_rss_mb": round(usage.ru_maxrss / 1024),
        "onnx_mb": round((out / "model.onnx").stat().st_size / 1e6, 2),
        "parity_passed": parity.get("passed"),
        "parity_label_agreement": parity.get("label_agreement"),
        "parity_max_abs_diff": parity.get("max_abs_diff"),
    }
    found |= {key: _rounded(metrics[key]) for key in METRIC_KEYS if key in metrics}
    found |= {key: value for key, value in metrics.items() if "design" in key or "candidate" in key}
    if "bands" in metrics:
        found["bands"] = [{k: _rounded(v) for k, v in band.items()} for band in metrics["bands"]]
    for key in ("ece_before", "ece_after", "temperature", "candidate_recall"):
        if key in metrics:
            found[key] = _rounded(metrics[key])
    found["operating_points"] = reported_operating_points(metrics)
    return found


def hold_out_products(case: Case, workdir: Path) -> tuple[Path, pd.DataFrame]:
    """The long-tailed catalogue of `make train TAXONOMY=`, a fifth of its products held out before training (by a
    hash of the product id, independent of the run's split): the training CSV file and the held-out rows."""
    from training.config import DEFAULT_CONFIG_PATH, load_config
    from training.data.load import load_raw
    from training.data.split import uniform_hash

    config = load_config(DEFAULT_CONFIG_PATH, synthetic_rows=case.rows, synthetic_taxonomy=case.taxonomy)
    frame = load_raw(config, None).frame
    held = uniform_hash(frame["product_id"], "benchmark-holdout", 0) < HOLDOUT_SHARE
    path = workdir / "catalogue.csv"
    frame[~held].to_csv(path, index=False)
    return path, frame[held].reset_index(drop=True)


def held_out_scores(model_path: Path, held_out: pd.DataFrame, train_file: Path) -> dict[str, Any]:
    """The model on products it never saw: macro-F1 over every class with held-out rows (one the training file
    lacks included), by class size in the training file, and hierarchical F1."""
    import numpy as np
    import onnxruntime as ort
    from sklearn.metrics import f1_score

    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    inputs = {spec.name for spec in session.get_inputs()}
    predicted = []
    for start in range(0, len(held_out), SCORE_CHUNK):
        chunk = held_out.iloc[start : start + SCORE_CHUNK]
        feeds = {name: (chunk[name].to_numpy(dtype=np.float32) if name == "price" else
                        chunk[name].fillna("").astype(str).to_numpy(dtype=object)).reshape(-1, 1)
                 for name in inputs}  # fmt: skip
        predicted.append(session.run(["label"], feeds)[0])
    labels, guesses = held_out[LABEL_COLUMN].to_numpy(dtype=object), np.concatenate(predicted).astype(object)
    classes = sorted(set(labels))
    per_class = dict(zip(classes, f1_score(labels, guesses, labels=classes, average=None, zero_division=0),
                         strict=True))  # fmt: skip
    trained = pd.read_csv(train_file, usecols=["product_id", LABEL_COLUMN], dtype=str)
    products = trained.drop_duplicates().groupby(LABEL_COLUMN).size()
    bands = []
    for name, low, high in HELD_OUT_BANDS:
        size = products.reindex(classes, fill_value=0)
        members = [c for c in classes if size[c] >= low and (high is None or size[c] <= high)]
        scores = [per_class[c] for c in members]
        bands.append({"band": name, "classes": len(members), "rows": int(np.isin(labels, members).sum()),
                      "macro_f1": round(float(np.mean(scores)), 4) if scores else None})  # fmt: skip
    return {
        "heldout_rows": len(labels),
        "heldout_classes": len(classes),
        "heldout_unseen_classes": int(sum(1 for c in classes if c not in products.index)),
        "heldout_macro_f1": round(float(np.mean(list(per_class.values()))), 4),
        "heldout_accuracy": round(float((labels == guesses).mean()), 4),
        "heldout_hierarchical_f1": round(_hierarchical_f1(labels, guesses), 4),
        "heldout_bands": bands,
    }


def request_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as the function's request fields (missing numbers as None)."""
    fields = ["title", "seller_id", "brand", "price"]
    return [{name: (None if value != value else value) for name, value in zip(fields, values, strict=True)}
            for values in frame[fields].itertuples(index=False, name=None)]  # fmt: skip


def _hierarchical_f1(labels: Any, predicted: Any) -> float:
    """Kiritchenko's hierarchical F1 over the paths' ancestor sets (their shared prefixes)."""
    shared = truth = guessed = 0
    for true, guess in zip(labels, predicted, strict=True):
        a, b = str(true).split(PATH_SEPARATOR), str(guess).split(PATH_SEPARATOR)
        truth, guessed = truth + len(a), guessed + len(b)
        shared += next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    precision, recall = shared / guessed, shared / truth
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def held_out_rows(categories: int, rows: int) -> list[dict[str, Any]]:
    """The test split of the catalogue the case trained on, as the function's request fields."""
    from training.config import DEFAULT_CONFIG_PATH, load_config
    from training.data.load import load_catalogue
    from training.data.split import split_catalogue

    config = load_config(DEFAULT_CONFIG_PATH, synthetic_rows=rows, synthetic_categories=categories)
    test = split_catalogue(load_catalogue(config, None).frame, config.split).test
    inputs = [name for name in config.input_names if name in test.columns]
    return [
        {name: (None if value != value else value) for name, value in zip(inputs, values, strict=True)}
        for values in test[inputs].itertuples(index=False, name=None)
    ]


def serving_latency(model_path: Path, rows: list[dict[str, Any]]) -> dict[str, float]:
    """Single-row p50/p99 over SINGLE_REQUESTS held-out rows, the same with `explain=true`'s explanation added, and
    ms per row in batches of BATCH_ROWS."""
    from handler.explain import predict_explained
    from handler.model import load_model
    from handler.settings import Settings

    model = load_model(Settings(model_path=model_path))
    singles = [rows[i % len(rows)] for i in range(SINGLE_REQUESTS)]
    times, explained = [], []
    for row in singles:  # alternating, so a noisy moment hits both alike
        started = time.perf_counter()
        model.predict([row])
        times.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        predict_explained(model, [row])
        explained.append((time.perf_counter() - started) * 1000)
    batch = [rows[i % len(rows)] for i in range(BATCH_ROWS)]
    batches = []
    for _ in range(BATCH_REPEATS):
        started = time.perf_counter()
        model.predict(batch)
        batches.append((time.perf_counter() - started) * 1000 / BATCH_ROWS)
    cuts = statistics.quantiles(times, n=100)
    return {
        "p50_ms": round(statistics.median(times), 3),
        "p99_ms": round(cuts[98], 3),
        "explain_p50_ms": round(statistics.median(explained), 3),
        "explain_extra_p50_ms": round(statistics.median(explained) - statistics.median(times), 3),
        "batch_ms_per_row": round(statistics.median(batches), 4),
        "load_seconds": round(model.load_seconds, 3),
    }


def example_answers(model_path: Path, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The API's own answers (FastAPI's test client on the function's app) for a listing accepted at its category, one
    accepted at an ancestor only and one sent to review, when the held-out rows have them, and one explanation: the
    examples docs/api.md shows."""
    from fastapi.testclient import TestClient

    from handler.app import create_app
    from handler.model import load_model
    from handler.settings import Settings

    settings = Settings(model_path=model_path)
    client = TestClient(create_app(load_model(settings), settings))
    found: dict[str, Any] = {}
    for row in rows[:EXAMPLE_SEARCH_ROWS]:
        item = {name: value for name, value in row.items() if value is not None}
        answer = client.post("/predict?top_k=2", json=item).json()
        depth = len(answer.get("path", []))
        kind = {0: "review", depth: "category"}.get(answer.get("decision_level", -1), "ancestor")
        if kind not in found and answer.get("decision") is not None:
            found[kind] = {"request": item, "answer": answer}
        if len(found) == 3:
            break
    if found:
        first = next(iter(found.values()))["request"]
        found["explained"] = {
            "request": first,
            "answer": client.post("/predict?explain=true&top_k=1", json=first).json(),
        }
    return found


def path_overhead(model_path: Path, rows: list[dict[str, Any]]) -> dict[str, float]:
    """What the category path costs a single-row call: the graph against itself without the path step.

    Both sessions have the handler's options; the second runs the graph cut at `label` and `probabilities`
    (onnx's Extractor drops the path nodes). Calls alternate, so a noisy moment hits both alike.
    """
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx.utils import Extractor

    from handler.model import load_model
    from handler.settings import Settings

    model = load_model(Settings(model_path=model_path))
    graph = onnx.load(str(model_path))
    inputs = [tensor.name for tensor in graph.graph.input]
    without_path = Extractor(graph).extract_model(inputs, ["label", "probabilities"])
    options = model.session.get_session_options()
    cut = ort.InferenceSession(
        without_path.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"]
    )
    outputs = [output.name for output in model.session.get_outputs()]
    with_path, plain = [], []
    for index in range(SINGLE_REQUESTS):
        row = rows[index % len(rows)]
        feeds = {
            spec["name"]: np.array([[np.nan if row.get(spec["name"]) is None else row[spec["name"]]]], dtype=np.float32)
            if spec["type"] == "float"
            else np.array([[str(row.get(spec["name"]) or "")]], dtype=object)
            for spec in model.inputs
        }
        for session, names, times in ((model.session, outputs, with_path), (cut, ["label", "probabilities"], plain)):
            started = time.perf_counter()
            session.run(names, feeds)
            times.append((time.perf_counter() - started) * 1000)
    return {
        "path_p50_ms": round(statistics.median(with_path), 3),
        "no_path_p50_ms": round(statistics.median(plain), 3),
        "path_extra_p50_ms": round(statistics.median(with_path) - statistics.median(plain), 3),
    }


def runtime_megabytes() -> float:
    """The handler's runtime dependencies (handler/requirements.txt and theirs) as installed here, in MB.

    Less what `make build` trims (`infra.trim_build.UNUSED`) and what the Lambda runtime provides.
    """
    from infra.trim_build import UNUSED

    pending = [Requirement(line).name for line in (ROOT / "handler" / "requirements.txt").read_text().split()
               if "==" in line]  # fmt: skip
    seen: set[str] = set()
    total = 0
    while pending:
        name = pending.pop().lower().replace("_", "-")
        if name in seen or name in PROVIDED:
            continue
        seen.add(name)
        distribution = importlib.metadata.distribution(name)
        for file in distribution.files or ():
            path = str(file)
            if not any(_trimmed(path, pattern) for pattern in UNUSED):
                located = Path(str(distribution.locate_file(file)))
                total += located.stat().st_size if located.is_file() else 0
        for text in distribution.requires or ():
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(requirement.name)
    return total / 1e6


def save(row: dict[str, Any], results: Path) -> None:
    """Add (or replace) one case in the result file at once, so a partial run keeps what finished."""
    previous = json.loads(results.read_text()) if results.exists() else {"results": []}
    earlier = next((r for r in previous["results"] if r["case"] == row["case"]), None)
    row = with_earlier_peers(row, earlier)
    kept = [r for r in previous["results"] if r["case"] != row["case"]]
    ordered = sorted(
        [*kept, row], key=lambda r: (r.get("taxonomy", ""), r["categories"], r["rows"], r.get("design", "auto"))
    )
    results.write_text(json.dumps({"results": ordered}, indent=2, ensure_ascii=False) + "\n")


class _TreePeak:
    """The peak summed RSS of a process and all its descendants, sampled every SAMPLE_SECONDS in a thread."""

    def __init__(self, pid: int) -> None:
        self.megabytes = 0.0
        self._stopped = threading.Event()
        self._root = psutil.Process(pid)
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """End the sampling."""
        self._stopped.set()
        self._thread.join()

    def _sample(self) -> None:
        """Sum the tree's RSS until stopped or the process is gone."""
        while not self._stopped.is_set():
            try:
                processes = [self._root, *self._root.children(recursive=True)]
            except psutil.Error:
                return
            total = 0
            for process in processes:
                try:
                    total += process.memory_info().rss
                except psutil.Error:
                    continue  # a worker that ended between listing and reading
            self.megabytes = max(self.megabytes, total / 2**20)
            self._stopped.wait(SAMPLE_SECONDS)


def _trimmed(path: str, pattern: str) -> bool:
    """Whether `make build` deletes this installed file (a trim pattern matches it or a folder above it)."""
    if pattern.startswith("**/"):
        return any(fnmatch.fnmatch(part, pattern[3:]) for part in Path(path).parts)
    depth = len(Path(pattern).parts)
    return fnmatch.fnmatch("/".join(Path(path).parts[:depth]), pattern)


def _rounded(value: Any) -> Any:
    """Scores to four decimals; counts and anything else as they are."""
    return round(value, 4) if isinstance(value, float) else value


def main() -> None:
    """Run the cases one after the other, saving each as it ends."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=DEFAULT_CASES, help="CATEGORIESxROWS,… (default: %(default)s)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the result file to update")
    parser.add_argument(
        "--peers", action="store_true", help="also fastText and TF-IDF + LinearSVC (benchmarks/peers.py)"
    )
    args = parser.parse_args()
    # The trainer runs as `python -m` from ROOT; this process imports the same code for the held-out rows.
    sys.path.insert(0, str(ROOT))
    for case in parse_cases(args.cases):
        print(f"case {case.name} …", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            try:
                row = run_case(case, Path(tmp), peers=args.peers)
            except Exception as exc:  # a failure after training (serving, sizes) must not lose the other cases
                row = {"case": case.name, "categories": case.categories or 0, "rows": case.rows,
                       "design": case.design or "auto", "error": f"{type(exc).__name__}: {exc}",
                       **({"taxonomy": case.taxonomy} if case.taxonomy else {}), **measured_on()}  # fmt: skip
        save(row, args.results)
        print(json.dumps(row, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
