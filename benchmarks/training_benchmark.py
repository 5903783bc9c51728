"""Measure `make train` on PriceRunner and on synthetic data: wall time, peak RSS, ONNX size, quality, parity.

Each case runs the real CLI in a fresh process (so peak RSS is the run's own) against a throwaway MLflow
store, and the numbers go to benchmarks/results/training.json and a Markdown table on stdout.

    python benchmarks/training_benchmark.py            # PriceRunner (if present) + synthetic default
    python benchmarks/training_benchmark.py --peers --only-pricerunner   # with fastText and TF-IDF + LinearSVC
    python benchmarks/training_benchmark.py --large    # also 1,000,000 synthetic rows (~10 min)
    python benchmarks/training_benchmark.py --dask     # PriceRunner and 1,000,000 rows, ENGINE=local vs dask
    python benchmarks/training_benchmark.py --dask --rows 10000000 --only-dask --worker-memory 5GiB
    python benchmarks/training_benchmark.py --dask --rows 2000000 --categories 5000 --only-dask  # the re-ranker

With --dask, the two engines are also scored on one set of rows (`same_split` in the Dask case's row): the
rows of the products both engines held out for test (both deal products by a hash of their id). So that both
train on the same rows, the --dask synthetic
catalogue is written once to CSV (one file for the local engine, the same rows in files of PARTITION_ROWS for
the Dask engine) and both read it. The macro-F1 difference comes with a paired bootstrap 95 % interval and
McNemar's test.

Dask cases run on the embedded LocalCluster (WORKERS=2 × 1 thread, WORKER_MEMORY each); their peak RSS is
the driver's, and each worker's peak is reported beside it, with the time of every stage.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from provenance import measured_on, reported_operating_points, with_earlier_peers

ROOT = Path(__file__).resolve().parent.parent
PRICERUNNER = ROOT.parent / "shared" / "data" / "pricerunner_aggregate.csv"
RESULTS = ROOT / "benchmarks" / "results" / "training.json"
DEFAULT_CONFIG = ROOT / "configs" / "synthetic.yaml"  # what `make train` uses without CONFIG
PARTITION_ROWS = 100_000
TARGETS = {
    "pricerunner": "macro-F1 ≥ 0.990, wall ≤ 60 s, ONNX ≤ 20 MB, parity 100 % / ≤ 1e-5",
    "synthetic-10k": "wall ≤ 60 s, parity 100 % / ≤ 1e-5",
    "synthetic-1m": "wall ≤ 15 min, peak RSS ≤ 8 GB, parity 100 % / ≤ 1e-5",
    "pricerunner-dask": "macro-F1 within 0.003 of pricerunner (local), parity 100 % / ≤ 1e-5",
    "synthetic-dask": "macro-F1 within 0.005 of the local engine at the same rows, parity 100 % / ≤ 1e-5",
    "synthetic-local": "the local engine at the same rows, for comparison",
    "taxonomy-dask": "re-ranker: ≤ 4 GB per worker, ≤ 6 GB driver; macro-F1 within 0.005 of local where local runs; "
    "parity 100 % / ≤ 1e-5",
    "taxonomy-local": "the local engine at the same rows, for comparison",
}


# `python -m training.cli.train` that writes its own peak RSS (MB) to the file named first when it exits.
TRAIN_WITH_OWN_PEAK = """
import atexit, pathlib, runpy, sys
from training.engines.peak_rss import own_peak_rss_mb
peak_file = pathlib.Path(sys.argv.pop(1))
atexit.register(lambda: peak_file.write_text(str(own_peak_rss_mb())))
runpy.run_module("training.cli.train", run_name="__main__", alter_sys=True)
"""


def run_case(name: str, arguments: list[str], workdir: Path, *, target: str, env: dict[str, str]) -> dict[str, object]:
    """Train once in a child process and collect its numbers.

    A case's peak RSS is the child's ru_maxrss from wait4, which also counts the processes it started and reaped:
    the local engine's stacking workers (so the figure is the run's largest process) and, with ENGINE=dask, the
    embedded cluster's workers. A Dask case's figure is the driver's own instead (`own_peak_rss_mb`, written at
    exit), as each worker's peak is reported beside it.
    """
    out = workdir / name
    own_peak, dask = workdir / f"{name}.peak", "--engine" in arguments and "dask" in arguments
    env = {**os.environ, **env, "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlruns.db'}", "MPLBACKEND": "Agg"}
    log = workdir / f"{name}.log"
    started = time.perf_counter()
    with log.open("w") as handle:
        process = subprocess.Popen(
            [sys.executable, "-c", TRAIN_WITH_OWN_PEAK, str(own_peak), "--out", str(out), *arguments],
            cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT,
        )  # fmt: skip
        # wait4 gives this child's peak RSS (RUSAGE_CHILDREN would be the largest child so far), counted from this
        # process's own high-water mark up: see _write_synthetic_apart.
        _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        return {"case": name, "error": log.read_text().strip().splitlines()[-1:], **measured_on()}
    metrics = json.loads((out / "metrics.json").read_text())
    return {
        "case": name,
        "wall_seconds": round(wall, 1),
        "train_seconds": metrics["train_seconds"],
        "peak_rss_mb": int(own_peak.read_text()) if dask else round(usage.ru_maxrss / 1024),
        "onnx_mb": round((out / "model.onnx").stat().st_size / 1e6, 2),
        "macro_f1": round(metrics["macro_f1"], 4),
        "baseline_macro_f1": round(metrics["baseline_macro_f1"], 4),
        "accuracy": round(metrics["accuracy"], 4),
        "parity_label_agreement": metrics["parity_label_agreement"],
        "parity_max_abs_diff": metrics["parity_max_abs_diff"],
        "n_train": metrics["n_train"],
        "n_test": metrics["n_test"],
        "target": TARGETS[target],
        **measured_on(),
    } | {key: metrics[key] for key in ("stage_seconds", "worker_peak_rss_mb", "ece_before", "ece_after",
                                       "temperature", "validation_macro_f1", "validation_baseline_macro_f1", "shipped")
         if key in metrics} | {
        "operating_points": reported_operating_points(metrics)
    }  # fmt: skip


def shared_rows(data: Path, config_path: Path, *, path_labels: bool = False) -> tuple[object, object, str]:
    """Rows neither engine trained on, with the config: the test split, which both engines deal alike (each
    product by a hash of its id, training/data/split.py)."""
    from training.config import load_config
    from training.data.clean import prepare_catalogue
    from training.data.load import read_catalogue
    from training.data.split import split_catalogue

    config = load_config(config_path)
    if path_labels:  # as `make train CATEGORIES=` reads a generated taxonomy
        from training.data.taxonomy import PATH_SEPARATOR

        config = replace(config, data=replace(config.data, path_separator=PATH_SEPARATOR))
    frame = prepare_catalogue(read_catalogue(data), config.data)
    return split_catalogue(frame, config.split).test, config, "the test products (both engines deal the same ones)"


def score_on_shared_rows(
    local: Path, dask: Path, data: Path, config_path: Path, *, path_labels: bool = False
) -> dict[str, object]:
    """Both engines' models on the same rows: macro-F1 of each, B − A with its interval, McNemar's p."""
    from training.columns import GROUP, LABEL
    from training.reporting.compare import compare_predictions, score_model

    rows, config, described = shared_rows(data, config_path, path_labels=path_labels)
    labels = rows[LABEL].to_numpy()
    ours = {name: score_model(path.read_bytes(), rows, config.data, name=name)
            for name, path in (("local", local), ("dask", dask))}  # fmt: skip
    report = compare_predictions(labels, ours["local"], ours["dask"], products=rows[GROUP].to_numpy())
    f1 = report["macro_f1"]
    return {
        "rows": report["rows"],
        "rows_are": described,
        "macro_f1_local": round(f1["a"], 4),
        "macro_f1_dask": round(f1["b"], 4),
        "difference": round(f1["difference"], 4),
        "ci_low": round(f1["ci_low"], 4),
        "ci_high": round(f1["ci_high"], 4),
        "mcnemar_p_value": report["mcnemar"]["p_value"],
    }


def main() -> None:
    """Run the cases and report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", action="store_true", help="also train on 1,000,000 synthetic rows")
    parser.add_argument("--dask", action="store_true", help="ENGINE=local and ENGINE=dask side by side")
    parser.add_argument("--rows", type=int, default=1_000_000, help="synthetic rows of the --dask comparison")
    parser.add_argument("--categories", type=int, help="with --dask: a taxonomy of this many leaves (the re-ranker)")
    parser.add_argument("--only-dask", action="store_true", help="with --dask: skip the local engine's cases")
    parser.add_argument("--workers", default="2", help="Dask workers (processes of one thread)")
    parser.add_argument("--worker-memory", default="4GiB", help="memory limit per Dask worker")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the result file to update")
    parser.add_argument("--peers", action="store_true", help="PriceRunner: also fastText and TF-IDF + LinearSVC")
    parser.add_argument("--only-pricerunner", action="store_true", help="skip the synthetic cases")
    args = parser.parse_args()
    dask_env = {"WORKERS": args.workers, "WORKER_MEMORY": args.worker_memory}
    cases: list[tuple[str, list[str], str, dict[str, str]]] = []
    pricerunner = ["--data", str(PRICERUNNER), "--config", "configs/pricerunner.yaml"]
    if not PRICERUNNER.exists():
        print(f"skipping pricerunner: {PRICERUNNER} not found (see ../shared/data/README.md)", file=sys.stderr)
    elif args.dask:
        if not args.only_dask:
            cases.append(("pricerunner", pricerunner, "pricerunner", {}))
        cases.append(("pricerunner-dask", [*pricerunner, "--engine", "dask"], "pricerunner-dask", dask_env))
    else:
        cases.append(("pricerunner", pricerunner, "pricerunner", {}))
    tmp_dir = tempfile.TemporaryDirectory()
    synthetic = Path(tmp_dir.name) / "synthetic.csv"
    if not args.only_pricerunner:
        cases += synthetic_cases(args, synthetic, dask_env)
    with tmp_dir as tmp:
        results = [
            run_case(name, arguments, Path(tmp), target=target, env=env) for name, arguments, target, env in cases
        ]
        save(results, args.results)  # what the extras below measure is added in a second save
        _add_single_row_latency(results, Path(tmp), peers=args.peers)
        if args.dask and not args.only_dask:
            _add_same_split(results, Path(tmp), {"pricerunner": PRICERUNNER, "synthetic": synthetic}, args)
    report = save(results, args.results)
    columns = ["case", "wall_seconds", "train_seconds", "peak_rss_mb", "onnx_mb", "macro_f1", "baseline_macro_f1",
               "parity_label_agreement", "parity_max_abs_diff"]  # fmt: skip
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for result in report["results"]:
        print("| " + " | ".join(str(result.get(column, result.get("error", ""))) for column in columns) + " |")


def synthetic_cases(
    args: argparse.Namespace, synthetic: Path, dask_env: dict[str, str]
) -> list[tuple[str, list[str], str, dict[str, str]]]:
    """The synthetic cases the arguments ask for; with --dask (no --categories) the catalogue is written to
    `synthetic` first, so both engines read the same rows."""
    if args.dask and args.categories:
        # Both engines generate the same catalogue from the seed (the Dask engine partition by partition).
        taxonomy = ["--rows", str(args.rows), "--categories", str(args.categories)]
        label = f"{args.categories}x{args.rows}"
        local = [] if args.only_dask else [(f"taxonomy-{label}-local", taxonomy, "taxonomy-local", {})]
        return [*local, (f"taxonomy-{label}-dask", [*taxonomy, "--engine", "dask"], "taxonomy-dask", dask_env)]
    if args.dask:
        _write_synthetic_apart(args.rows, synthetic)
        parts = ["--data", str(synthetic.parent / "synthetic-parts" / "*.csv")]
        label = f"{args.rows:,}".replace(",", "_")
        local = (
            [] if args.only_dask else [(f"synthetic-{label}-local", ["--data", str(synthetic)], "synthetic-local", {})]
        )
        return [*local, (f"synthetic-{label}-dask", [*parts, "--engine", "dask"], "synthetic-dask", dask_env)]
    large = [("synthetic-1m", ["--rows", "1000000"], "synthetic-1m", {})] if args.large else []
    return [("synthetic-10k", [], "synthetic-10k", {}), *large]


def save(results: list[dict[str, Any]], path: Path) -> dict[str, list[dict[str, Any]]]:
    """Replace these cases in the result file and keep the others; returns the whole report.

    Each row carries its own commit, date and machine, so rows kept from earlier runs say what they predate, and a
    case re-run without --peers keeps the peers measured on its very same split (`with_earlier_peers`).
    """
    previous = json.loads(path.read_text()) if path.exists() else {"results": []}
    earlier = {r["case"]: r for r in previous["results"]}
    results = [with_earlier_peers(r, earlier.get(r["case"])) for r in results]
    kept = [r for r in previous["results"] if r["case"] not in {r["case"] for r in results}]
    report = {"results": kept + results}
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return report


def _add_single_row_latency(results: list[dict[str, object]], workdir: Path, *, peers: bool) -> None:
    """The PriceRunner case's single-row latency, through the handler's own session, and with `peers` fastText's
    and TF-IDF + LinearSVC's on the case's own split, measured the same way (benchmarks/peers.py)."""
    from peers import compare_peers, local_split, served_single_row_ms

    from training.config import load_config

    for result in results:
        if result["case"] != "pricerunner" or "error" in result:
            continue
        config = load_config(ROOT / "configs" / "pricerunner.yaml")
        splits = local_split(config, str(PRICERUNNER), n_train=result["n_train"], n_test=result["n_test"])
        result["single_row_p50_ms"] = served_single_row_ms(workdir / "pricerunner" / "model.onnx", splits.test, config)
        if peers:
            result["peers"] = compare_peers(config, splits)


def _write_synthetic_apart(rows: int, path: Path) -> None:
    """`_write_synthetic` in a process of its own, never in this one.

    A case's peak RSS is its process's ru_maxrss, and Linux carries a parent's high-water mark across fork+exec:
    once this process had held the catalogue (10 GB at 10,000,000 rows), every case started after it reported at
    least that much.
    """
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        pool.submit(_write_synthetic, rows, path).result()


def _write_synthetic(rows: int, path: Path) -> None:
    """The synthetic catalogue `make train` would generate (seed 42), as one CSV and as parts of PARTITION_ROWS."""
    from training.data.synthetic import generate_catalogue

    frame = generate_catalogue(rows, seed=42)
    frame.to_csv(path, index=False)
    (path.parent / "synthetic-parts").mkdir()
    for number, start in enumerate(range(0, rows, PARTITION_ROWS)):
        part = path.parent / "synthetic-parts" / f"part-{number:04d}.csv"
        frame.iloc[start : start + PARTITION_ROWS].to_csv(part, index=False)


def _write_taxonomy(rows: int, categories: int, path: Path) -> None:
    """The taxonomy catalogue `make train ROWS= CATEGORIES=` generates, as one CSV."""
    from training.data.taxonomy import generate_taxonomy_catalogue

    generate_taxonomy_catalogue(rows, categories, seed=42).to_csv(path, index=False)


def _add_same_split(
    results: list[dict[str, object]], workdir: Path, data: dict[str, Path], args: argparse.Namespace
) -> None:
    """Score each (local, dask) pair that trained on the same data on one set of rows; add it to the dask row."""
    done = {str(r["case"]): r for r in results if "error" not in r}
    if any(name.startswith("taxonomy-") for name in done):
        _write_taxonomy(args.rows, args.categories, workdir / "taxonomy.csv")
        data = {**data, "synthetic": workdir / "taxonomy.csv"}
    pairs = [
        (name.removesuffix("-dask") + "-local", name)
        for name in done
        if name.startswith(("synthetic-", "taxonomy-")) and name.endswith("-dask")
    ]
    pairs += [("pricerunner", "pricerunner-dask")]
    for local, dask in pairs:
        if local in done and dask in done:
            config = ROOT / "configs" / "pricerunner.yaml" if local == "pricerunner" else DEFAULT_CONFIG
            source = data["pricerunner" if local == "pricerunner" else "synthetic"]
            done[dask]["same_split"] = score_on_shared_rows(
                workdir / local / "model.onnx", workdir / dask / "model.onnx", source, config,
                path_labels=local.startswith("taxonomy-"),
            )  # fmt: skip


if __name__ == "__main__":
    main()
