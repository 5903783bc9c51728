"""Cold start of the built function against two floors, as Lambda runs it: what does our code add?

Each start is a fresh `python3.12 -S` with only the built folder (`.aws-sam/build/ProductClassifierFunction`)
on PYTHONPATH and no bytecode writes, timing import + model load + the first answer to an HTTP API
`/predict` event, from the first line of the process:
- handler: `import handler.entry` (template.yaml's Handler), then `lambda_handler(event)`;
- handler, collector on: `import handler.main` (the same function without `handler.entry`'s pause of the garbage
  collector), then `lambda_handler(event)`: what the pause saves, in the same run;
- stack floor: a one-route FastAPI + Mangum + powertools app serving the same model with onnxruntime;
- onnxruntime floor: numpy + onnxruntime, load the model, answer once.
Both floors make their session as the handler does (`handler.model.session_options`: one thread, graph optimisations
off), so the comparison is of the code around the same load.
The four alternate, RUNS times each; the medians and handler / stack floor go to
benchmarks/results/cold_start.json.

    make build && python benchmarks/cold_start.py
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
from pathlib import Path

import onnxruntime as ort
from provenance import measured_on

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "cold_start.json"
RUNS = 7
CLOCK = "import time; _started = time.perf_counter()\n"
# The handler's session options (`handler.model.session_options`), written out: a floor imports nothing of ours.
SESSION = """
def make_session(path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])
"""
REPORT = "\nprint('SECONDS', time.perf_counter() - _started)\n"
EVENT = """
import json, os
event = {"version": "2.0", "rawPath": "/predict", "rawQueryString": "", "headers": {"content-type": "application/json"},
         "requestContext": {"http": {"method": "POST", "path": "/predict", "sourceIp": "127.0.0.1"},
                            "requestId": "r1"},
         "body": os.environ["BODY"], "isBase64Encoded": False}
class Context:
    function_name = "cold-start"; memory_limit_in_mb = 1024; aws_request_id = "r1"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:cold-start"
"""
PROGRAMS = {
    "handler": EVENT
    + """
import handler.entry
answer = handler.entry.lambda_handler(event, Context())
assert answer["statusCode"] == 200, answer
""",
    "handler, collector on": EVENT
    + """
import handler.main
answer = handler.main.lambda_handler(event, Context())
assert answer["statusCode"] == 200, answer
""",
    "stack floor": EVENT
    + """
import numpy as np, onnxruntime as ort
from aws_lambda_powertools import Logger, Metrics
from fastapi import FastAPI, Request
from mangum import Mangum
logger, metrics = Logger(), Metrics(namespace="ColdStart")
"""
    + SESSION
    + """
session = make_session(os.environ["MODEL"])
names = [i.name for i in session.get_inputs()]
types = {i.name: i.type for i in session.get_inputs()}
app = FastAPI()
@app.post("/predict")
async def predict(request: Request):
    row = await request.json()
    feeds = {n: (np.array([[float(row.get(n) or "nan")]], dtype=np.float32) if types[n] == "tensor(float)"
                 else np.array([[str(row.get(n) or "")]], dtype=object)) for n in names}
    label, probabilities = session.run(["label", "probabilities"], feeds)
    return {"label": str(label[0]), "confidence": float(probabilities[0].max())}
mangum = Mangum(app, lifespan="off")
@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event, context):
    return mangum(event, context)
answer = lambda_handler(event, Context())
assert answer["statusCode"] == 200, answer
""",
    "onnxruntime floor": EVENT
    + """
import numpy as np, onnxruntime as ort
"""
    + SESSION
    + """
session = make_session(os.environ["MODEL"])
row = json.loads(event["body"])
feeds = {i.name: (np.array([[float(row.get(i.name) or "nan")]], dtype=np.float32) if i.type == "tensor(float)"
                  else np.array([[str(row.get(i.name) or "")]], dtype=object)) for i in session.get_inputs()}
session.run(None, feeds)
""",
}


def start_once(name: str, python: str, built: Path, body: str) -> float:
    """One fresh process; the seconds it reported from its first line to its first answer."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(built),
        "PYTHONDONTWRITEBYTECODE": "1",
        "LANG": "C.UTF-8",
        "MODEL": str(built / "handler" / "model.onnx"),
        "BODY": body,
        "POWERTOOLS_SERVICE_NAME": "product-classifier",
        "POWERTOOLS_METRICS_NAMESPACE": "ProductClassifier",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    completed = subprocess.run(
        [python, "-S", "-c", CLOCK + PROGRAMS[name] + REPORT],
        cwd=built, env=env, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    if completed.returncode != 0:
        raise SystemExit(f"error: the {name} program failed in {built}:\n{completed.stderr[-2000:]}")
    return float(completed.stdout.rsplit("SECONDS", 1)[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Resolved: each program runs from inside the folder, where a relative path (make's) would point elsewhere.
    built = ROOT / ".aws-sam" / "build" / "ProductClassifierFunction"
    parser.add_argument("--built", type=lambda path: Path(path).resolve(), default=built)
    parser.add_argument("--runs", type=int, default=RUNS)
    args = parser.parse_args()
    if not (args.built / "handler" / "model.onnx").is_file():
        raise SystemExit(f"error: {args.built} has no built function; run `make build` first")
    python = subprocess.run(
        [str(ROOT / "scripts" / "find-python.sh")], capture_output=True, text=True, check=True
    ).stdout.strip()
    metadata = json.loads(ort.InferenceSession(str(args.built / "handler" / "model.onnx")).get_modelmeta()
                          .custom_metadata_map["product_classifier"])  # fmt: skip
    body = json.dumps(metadata["golden_examples"][0]["inputs"])
    seconds: dict[str, list[float]] = {name: [] for name in PROGRAMS}
    for _ in range(args.runs):
        for name in PROGRAMS:  # alternate: this machine's speed drifts over minutes
            seconds[name].append(start_once(name, python, args.built, body))
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    result = {
        **measured_on(),
        "model": metadata.get("config_name"),
        "runs": args.runs,
        "median_seconds": {name: round(value, 3) for name, value in medians.items()},
        "handler_over_stack_floor": round(medians["handler"] / medians["stack floor"], 3),
        "all_seconds": {name: [round(v, 3) for v in values] for name, values in seconds.items()},
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "all_seconds"}, indent=2))


if __name__ == "__main__":
    main()
