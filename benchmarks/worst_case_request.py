"""Time the most expensive request the API accepts, and project it onto Lambda's CPU share.

The costliest valid request is either the largest body MAX_BODY_BYTES lets through, filled with max-length titles
of varied characters (every character n-gram distinct), or the most rows a request may score: MAX_BATCH short
listings with every field given (what costs most at thousands of classes, where a row's cost is per class, not per
character); with explain=true, the most text or the most rows (listings and their occlusions) it accepts. It runs
through the FastAPI app in-process with one onnxruntime thread, as the function runs. Lambda gives 1 vCPU per
1,769 MB, so at the template's MemorySize the same work takes `seconds × 1769 / MemorySize`, to be compared with
the function's Timeout.

    python benchmarks/worst_case_request.py --model artifacts/model.onnx
    python benchmarks/worst_case_request.py --model tax/model.onnx --results benchmarks/results/worst_case_taxonomy.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import re
import statistics
import time
from pathlib import Path

from provenance import measured_on

os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Benchmark")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")

from fastapi.testclient import TestClient

from handler.app import create_app
from handler.explain import MAX_EXPLAINED_WORDS, scored_rows
from handler.model import load_model
from handler.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "worst_case.json"
VCPU_MB = 1769
# ASCII packs the most characters into the byte budget; the mixed alphabet has the most distinct n-grams; every
# fullwidth character is folded by the graph (`fold_compatibility`), which then joins each title's characters back.
ALPHABETS = {
    "ascii": "abcdefghijklmnopqrstuvwxyz0123456789 -+/.",
    "mixed": "abcdefghijklmnopqrstuvwxyz0123456789 äöüßéèçñøåœæ αβγδεζ ДЖЗИЙ 冷蔵庫 ",
    "fullwidth": "ａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔｕｖｗｘｙｚ０１２３４５６７８９\u3000－＋／．",
}


def template_limits() -> tuple[int, int]:
    """MemorySize and Timeout from template.yaml's Globals."""
    text = (ROOT / "template.yaml").read_text()
    memory = int(re.search(r"MemorySize:\s*(\d+)", text).group(1))
    timeout = int(re.search(r"Timeout:\s*(\d+)", text).group(1))
    return memory, timeout


def worst_body(settings: Settings, text_input: str, alphabet: str, max_items: int) -> bytes:
    """As many max-length random titles as fit under MAX_BODY_BYTES (and `max_items`)."""
    rng = random.Random(0)
    items: list[dict[str, str]] = []
    while len(items) < max_items:
        title = "".join(rng.choice(alphabet) for _ in range(settings.max_text_length))
        candidate = json.dumps({"items": [*items, {text_input: title}]}, ensure_ascii=False).encode()
        if len(candidate) > settings.max_body_bytes:
            break
        items.append({text_input: title})
    return json.dumps({"items": items}, ensure_ascii=False).encode()


def short_body(inputs: list[dict], text_input: str, max_rows: int, *, explain: bool) -> bytes:
    """Listings of MAX_EXPLAINED_WORDS distinct short words with every field given, as many as score `max_rows` rows."""
    item = {spec["name"]: 1.0 if spec["type"] == "float" else "s1" for spec in inputs}
    item[text_input] = " ".join(f"w{i}" for i in range(MAX_EXPLAINED_WORDS))
    rows_each = scored_rows([item], text=text_input, inputs=inputs) if explain else 1
    return json.dumps({"items": [item] * (max_rows // rows_each)}).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "artifacts" / "model.onnx")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--results", type=Path, default=RESULTS, help="worst_case*.json: the report renders each")
    args = parser.parse_args()
    settings = Settings.from_env(model_path=args.model, intra_op_threads=1)
    model = load_model(settings)
    client = TestClient(create_app(model, settings))
    text_input = next(spec["name"] for spec in model.inputs if spec.get("required"))
    memory, timeout = template_limits()
    cases = {}
    # explain=true scores each listing once per explained word and field: its requests hold less text.
    explained_items = settings.max_explained_characters // settings.max_text_length
    bodies = {
        (name, explain): worst_body(settings, text_input, alphabet, explained_items if explain else settings.max_batch)
        for (name, alphabet), explain in itertools.product(ALPHABETS.items(), (False, True))
    }
    for explain in (False, True):
        rows = settings.max_explained_rows if explain else settings.max_batch
        bodies["short", explain] = short_body(model.inputs, text_input, rows, explain=explain)
    for (name, explain), body in bodies.items():
        path = "/predict/batch?explain=true" if explain else "/predict/batch"
        seconds = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            response = client.post(path, content=body, headers={"content-type": "application/json"})
            seconds.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text[:300]
        items = json.loads(body)["items"]
        cases[f"{name}-explain" if explain else name] = {
            "body_bytes": len(body),
            "items": len(items),
            "rows_scored": scored_rows(items, text=text_input, inputs=model.inputs) if explain else len(items),
            "characters": sum(len(value) for item in items for value in item.values() if isinstance(value, str)),
            "seconds_local_one_core": round(statistics.median(seconds), 3),
        }
    worst = max(case["seconds_local_one_core"] for case in cases.values())
    rejected = client.post("/predict/batch", content=b" " * (settings.max_body_bytes + 1))
    result = {
        **measured_on(),
        "model": args.model.name,
        "config": model.metadata.get("config_name"),
        "classes": len(model.classes),
        "data": model.metadata.get("training_data", {}).get("source"),
        "max_body_bytes": settings.max_body_bytes,
        "cases": cases,
        "lambda_memory_mb": memory,
        "lambda_vcpu": round(memory / VCPU_MB, 2),
        "worst_seconds_projected_on_lambda": round(worst * VCPU_MB / memory, 2),
        "lambda_timeout_s": timeout,
        "over_limit_status": rejected.status_code,
    }
    args.results.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
