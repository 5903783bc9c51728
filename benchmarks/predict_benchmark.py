"""`make predict` throughput: rows per second scoring a synthetic catalogue, local engine and Dask LocalCluster.

Writes the catalogue as Parquet files of 100,000 rows, trains nothing (pass --model), scores it with each
engine in a fresh process and reports rows/s and wall time to benchmarks/results/predict.json.

    python benchmarks/predict_benchmark.py --model artifacts/model.onnx --rows 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from provenance import measured_on

from training.data.synthetic import generate_catalogue

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "predict.json"
FILE_ROWS = 100_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "artifacts" / "model.onnx")
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "catalogue"
        data.mkdir()
        for index, start in enumerate(range(0, args.rows, FILE_ROWS)):
            rows = min(FILE_ROWS, args.rows - start)
            generate_catalogue(rows, seed=index).to_parquet(data / f"part-{index:04d}.parquet")
        for engine in ("local", "dask"):
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "training.cli.predict", "--model", str(args.model), "--data", str(data),
                 "--out", str(Path(tmp) / f"out-{engine}"), "--engine", engine],
                cwd=ROOT, check=True, capture_output=True, env={**os.environ, "WORKERS": "2"},
            )  # fmt: skip
            seconds = time.perf_counter() - started
            results[engine] = {
                "rows": args.rows,
                "seconds": round(seconds, 1),
                "rows_per_second": round(args.rows / seconds),
            }
            print(engine, results[engine], flush=True)
    report = {**measured_on(), "model": args.model.name, **results}
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
