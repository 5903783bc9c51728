"""Compare this handler (onnxruntime) with the seed's route (pandas + scikit-learn + LightGBM), same model.

Trains one pipeline (PriceRunner when present, else the synthetic default), exports it to ONNX and pickles
it. Each implementation's runtime dependencies are installed into a folder of their own with
`pip install --target` (trimmed and precompiled as `make build` does, as is each side's own code), and every
measurement runs in a fresh `python -S` process that sees only that folder and its code and cannot write
bytecode, as a Lambda function does. Through the full Lambda handler (API Gateway event in, response dict out):
- warm single request: p50/p99 over 2,000 calls;
- batch of 1,000 items: ms per row (median of 10) and the process's peak RSS (VmHWM);
- cold start: import + model load + first response in a new process (median of 5 per round);
each figure is the median of 3 rounds that alternate between the two implementations;
- installed size: the dependency folder plus the model file.

    python benchmarks/handler_benchmark.py [--calls 2000]

Results go to benchmarks/results/handler.json and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from provenance import measured_on

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "handler.json"
EVENT_TEMPLATE = ROOT / "events" / "predict_http_api.json"
PRICERUNNER = ROOT.parent / "shared" / "data" / "pricerunner_aggregate.csv"
ROUNDS = 3
THEIR_PACKAGES = [
    "fastapi",
    "pydantic",
    "mangum",
    "aws-lambda-powertools",
    "numpy",
    "pandas",
    "scipy",
    "scikit-learn",
    "lightgbm",
]
TARGETS = {
    "p50_ms": 1.0,
    "p99_ms": 3.0,
    "batch_ms_per_row": 0.15,
    "batch_peak_rss_mb": 300,
    "cold_start_s": 0.35,
    "size_mb": 150,
}


@dataclass(frozen=True)
class Fixture:
    """Files both implementations serve from."""

    onnx: Path
    pickle: Path
    metadata: Path
    rows: Path
    dataset: str


def prepare(workdir: Path) -> Fixture:
    """Train the pipeline once and write it in both formats, with sample rows from the test split."""
    import joblib

    from training.config import DEFAULT_CONFIG_PATH, PROJECT_ROOT, load_config
    from training.data.clean import prepare_catalogue
    from training.data.load import read_catalogue
    from training.data.split import split_catalogue
    from training.data.synthetic import generate_catalogue
    from training.engines.local import fit_model
    from training.model.export import to_onnx_model
    from training.model.metadata import input_schema

    if PRICERUNNER.exists():
        config = load_config(PROJECT_ROOT / "configs" / "pricerunner.yaml")
        raw, dataset = read_catalogue(PRICERUNNER), "pricerunner"
    else:
        print(f"PriceRunner not found at {PRICERUNNER}; benchmarking the synthetic model", file=sys.stderr)
        config = load_config(DEFAULT_CONFIG_PATH)
        raw, dataset = generate_catalogue(config.synthetic_rows, seed=0), "synthetic"
    splits = split_catalogue(prepare_catalogue(raw, config.data), config.split)
    # The pickled route's LightGBM predicts on one thread: one vCPU, as Lambda at ~1.7 GB gives.
    pipeline = fit_model(replace(config, model=replace(config.model, n_jobs=1)), splits)
    metadata = {
        "model_version": "benchmark",
        "classes": [str(c) for c in pipeline.classes_],
        "inputs": input_schema(config.data),
    }
    fixture = Fixture(
        workdir / "model.onnx", workdir / "model.joblib", workdir / "model.json", workdir / "rows.json", dataset
    )
    fixture.onnx.write_bytes(to_onnx_model(pipeline, config.data, metadata).SerializeToString())
    joblib.dump(pipeline, fixture.pickle)
    fixture.metadata.write_text(json.dumps(metadata))
    sample = splits.test.head(1000)[list(config.data.columns)]
    rows = [
        {k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}
        for row in sample.to_dict("records")
    ]
    fixture.rows.write_text(json.dumps(rows))
    return fixture


def worker(implementation: str, mode: str, fixture_dir: Path, calls: int, out: Path) -> None:
    """Run inside a fresh process: import, load, then measure one mode; write JSON to `out`."""
    started = time.perf_counter()
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - logs and EMF lines, as Lambda would ship them
    if implementation == "ours":
        import handler.entry as module
    else:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        import seed_route as module  # type: ignore[import-not-found]
    rows = json.loads((fixture_dir / "rows.json").read_text())
    single = _event({k: v for k, v in rows[0].items() if v is not None}, "/predict")
    context = _Context()
    first = module.lambda_handler(single, context)
    result: dict[str, Any] = {"cold_start_s": time.perf_counter() - started, "first_status": first["statusCode"]}
    if mode == "latency":
        for _ in range(100):
            module.lambda_handler(single, context)
        timings = []
        for i in range(calls):
            event = _event({k: v for k, v in rows[i % len(rows)].items() if v is not None}, "/predict")
            t0 = time.perf_counter()
            response = module.lambda_handler(event, context)
            timings.append((time.perf_counter() - t0) * 1000)
            assert response["statusCode"] == 200, response
        timings.sort()
        result |= {
            "p50_ms": timings[len(timings) // 2],
            "p99_ms": timings[int(len(timings) * 0.99) - 1],
            "calls": calls,
        }
    elif mode == "batch":
        event = _event({"items": rows}, "/predict/batch")
        module.lambda_handler(event, context)
        timings = []
        for _ in range(10):
            t0 = time.perf_counter()
            response = module.lambda_handler(event, context)
            timings.append((time.perf_counter() - t0) * 1000)
            assert response["statusCode"] == 200, response["body"][:300]
        result |= {
            "batch_ms_per_row": statistics.median(timings) / len(rows),
            "batch_rows": len(rows),
            "batch_peak_rss_mb": _peak_rss_mb(),
        }
    out.write_text(json.dumps(result))


def measure(implementation: str, mode: str, fixture: Fixture, calls: int, site: Path) -> dict[str, Any]:
    """Spawn an isolated worker and return its numbers plus the process's whole wall time."""
    # Theirs unpickles a pipeline made of this project's classes (training/model: features, margin, calibration…).
    code = [ROOT] if implementation == "ours" else [ROOT / "benchmarks", ROOT]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": os.pathsep.join(str(path) for path in [site, *code]),
        "MODEL_PATH": str(fixture.onnx),
        "SEED_MODEL_PATH": str(fixture.pickle),
        "SEED_METADATA_PATH": str(fixture.metadata),
        "POWERTOOLS_SERVICE_NAME": "product-classifier",
        "POWERTOOLS_METRICS_NAMESPACE": "ProductClassifier",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "OMP_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",  # Lambda's code folder is read-only
    }
    out = fixture.onnx.parent / f"{implementation}-{mode}.json"
    started = time.perf_counter()
    command = [
        sys.executable, "-S", __file__, "worker", implementation, mode, str(fixture.onnx.parent), str(calls), str(out)
    ]  # fmt: skip
    subprocess.run(command, cwd=ROOT, env=env, check=True)
    return json.loads(out.read_text()) | {f"{mode}_process_wall_s": time.perf_counter() - started}


def install_runtime(packages: list[str], target: Path, *, trimmed: bool) -> Path:
    """`pip install --target` the packages, trimmed as `make build` trims ours (scipy needs numpy.f2py and
    would not survive it), and precompiled as `make build` does for both: Lambda cannot write bytecode."""
    from infra.trim_build import compile_bytecode, trim

    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--target", str(target), *packages],
        check=True,
    )
    if trimmed:
        trim(target)
    compile_bytecode(target)
    return target


def compile_own_code() -> None:
    """Bytecode for each side's own code, as `make build` ships the function's: the workers may not write it, and
    without it a start would compile the handler (~40 ms here) while theirs loads the `training` modules this
    process compiled when it fitted the pipeline. Timestamp-checked, as Python writes it itself, so a later edit
    of the code is never shadowed by a stale file."""
    for folder in (ROOT / "handler", ROOT / "training"):
        compileall.compile_dir(folder, quiet=1)
    compileall.compile_file(ROOT / "benchmarks" / "seed_route.py", quiet=1)


def _peak_rss_mb() -> float:
    """This process's peak resident memory. Not ru_maxrss: Linux carries the parent's peak across fork+exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _pinned(names: list[str]) -> list[str]:
    """The project's pins for these package names (pyproject.toml), so both sides use the same versions."""
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    pins = {line.split("==")[0].lower(): line for group in extras.values() for line in group}
    return [pins.get(name, name) for name in names]


def _event(body: dict[str, Any], path: str) -> dict[str, Any]:
    """An HTTP API (v2) proxy event for POST `path`."""
    event = json.loads(EVENT_TEMPLATE.read_text())
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["rawQueryString"], event["queryStringParameters"] = "top_k=3", {"top_k": "3"}
    event["body"] = json.dumps(body)
    return event


@dataclass
class _Context:
    function_name: str = "benchmark"
    memory_limit_in_mb: int = 1769
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:benchmark"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"


def main() -> None:
    """Prepare, measure both implementations and report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        fixture = prepare(workdir)
        report: dict[str, Any] = {
            "dataset": fixture.dataset,
            **measured_on(),
        }
        ours = [r for r in (ROOT / "handler" / "requirements.txt").read_text().split() if "==" in r]
        compile_own_code()
        sites = {
            "ours": (install_runtime(ours, workdir / "site-ours", trimmed=True), fixture.onnx),
            "theirs": (
                install_runtime(_pinned(THEIR_PACKAGES), workdir / "site-theirs", trimmed=False),
                fixture.pickle,
            ),
        }
        # This machine's speed drifts over minutes, so the two sides alternate and each figure is the median
        # of ROUNDS rounds (cold start: of 5 * ROUNDS starts).
        rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in sites}
        for _ in range(ROUNDS):
            for implementation, (site, _model) in sites.items():
                numbers: dict[str, Any] = {}
                for mode in ("latency", "batch"):
                    numbers |= measure(implementation, mode, fixture, args.calls, site)
                starts = [measure(implementation, "cold", fixture, args.calls, site)["cold_start_s"] for _ in range(5)]
                rounds[implementation].append(numbers | {"cold_start_s": statistics.median(starts)})
        for implementation, (site, model) in sites.items():
            keys = ("p50_ms", "p99_ms", "batch_ms_per_row", "batch_peak_rss_mb", "cold_start_s")
            numbers = {key: statistics.median(run[key] for run in rounds[implementation]) for key in keys}
            numbers["rounds"] = rounds[implementation]
            size = sum(path.stat().st_size for path in site.rglob("*") if path.is_file())
            numbers["size_mb"] = (size + model.stat().st_size) / 1e6
            report[implementation] = numbers
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"dataset: {report['dataset']}; {report['machine']}")
    print("| measure | ours (onnxruntime) | theirs (pandas + sklearn + LightGBM) | theirs / ours | target (ours) |")
    print("|---|---|---|---|---|")
    for key, target in TARGETS.items():
        if key in report["ours"]:
            ours_value, theirs_value = report["ours"][key], report["theirs"][key]
            print(f"| {key} | {ours_value:.3f} | {theirs_value:.3f} | {theirs_value / ours_value:.1f}× | ≤ {target} |")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        worker(sys.argv[2], sys.argv[3], Path(sys.argv[4]), int(sys.argv[5]), Path(sys.argv[6]))
    else:
        main()
