"""What folding look-alike spellings costs a request: one model's graph with and without its fold, on plain titles
and on the same titles in fullwidth.

Every graph folds its titles after lower-casing (`training.model.onnx_ops.fold_compatibility`). To price that, the
same model is also run with each fold's If replaced by its pass-through branch, and the nodes only the fold used
dropped: the graph as it was before the fold. Titles are the model's golden examples' (real test rows); fullwidth
spells each of their ASCII characters in its fullwidth form, so every character is folded. Both graphs run with one
onnxruntime thread, as the function does: single rows (p50 over 2,000 calls, cycling through the titles) and batches
of 64 (the function's chunk; ms per row, the median of 50 calls).

    python benchmarks/text_fold.py --model artifacts/model.onnx
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper
from provenance import measured_on

from training.model.metadata import read_metadata

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "text_fold.json"
SINGLE_CALLS, WARM_UP, BATCH, BATCH_CALLS = 2_000, 200, 64, 50


def without_fold(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model with each fold's If replaced by an Identity of what its pass-through branch returns."""
    stripped = onnx.ModelProto()
    stripped.CopyFrom(model)
    nodes = []
    for node in stripped.graph.node:
        if node.op_type == "If":
            (passed,) = next(a.g for a in node.attribute if a.name == "else_branch").node
            node = helper.make_node("Identity", [passed.input[0]], [node.output[0]], name=node.name)
        nodes.append(node)
    needed = {output.name for output in stripped.graph.output}
    kept = []
    for node in reversed(nodes):  # the graph is in topological order: drop what nothing left reads
        if needed & set(node.output):
            kept.append(node)
            needed |= set(node.input)
    del stripped.graph.node[:]
    stripped.graph.node.extend(reversed(kept))
    return stripped


def fullwidth(text: str) -> str:
    """ASCII letters, digits and punctuation in their fullwidth forms, spaces as ideographic spaces."""
    return "".join("\u3000" if c == " " else chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def feeds(model: onnx.ModelProto, rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """The graph's inputs for request rows, omitted fields as their defaults (NaN for a missing number)."""
    columns = {}
    for field in read_metadata(model)["inputs"]:
        values = [row.get(field["name"], field["default"]) for row in rows]
        if field["type"] == "string":
            columns[field["name"]] = np.array(values, dtype=object).reshape(-1, 1)
        else:
            numbers = [np.nan if value is None else value for value in values]
            columns[field["name"]] = np.array(numbers, dtype=np.float32).reshape(-1, 1)
    return columns


def timings(session: ort.InferenceSession, model: onnx.ModelProto, rows: list[dict[str, Any]]) -> dict[str, float]:
    """Single-row p50 (ms) and a batch's ms per row."""
    singles = [feeds(model, [row]) for row in rows]
    cycle = itertools.cycle(singles)
    for _ in range(WARM_UP):
        session.run(None, next(cycle))
    calls = []
    for _ in range(SINGLE_CALLS):
        feed = next(cycle)
        start = time.perf_counter()
        session.run(None, feed)
        calls.append(time.perf_counter() - start)
    batch = feeds(model, list(itertools.islice(itertools.cycle(rows), BATCH)))
    session.run(None, batch)
    batches = []
    for _ in range(BATCH_CALLS):
        start = time.perf_counter()
        session.run(None, batch)
        batches.append(time.perf_counter() - start)
    return {
        "single_p50_ms": round(statistics.median(calls) * 1e3, 4),
        "batch_ms_per_row": round(statistics.median(batches) * 1e3 / BATCH, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="a model.onnx written by `make train`")
    args = parser.parse_args()
    model = onnx.load(args.model)
    metadata = read_metadata(model)
    text = metadata["inputs"][0]["name"]
    plain = [example["inputs"] for example in metadata["golden_examples"] if example["inputs"][text].isascii()]
    titles = {"plain": plain, "fullwidth": [row | {text: fullwidth(row[text])} for row in plain]}
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    graphs = {"with the fold": model, "without the fold": without_fold(model)}
    cases = {}
    for graph_name, graph in graphs.items():
        session = ort.InferenceSession(graph.SerializeToString(), options, providers=["CPUExecutionProvider"])
        for titles_name, rows in titles.items():
            cases[f"{graph_name}, {titles_name}"] = timings(session, model, rows)
    result = {
        **measured_on(),
        "model": args.model.name,
        "config": metadata["config_name"],
        "titles": len(plain),
        "cases": cases,
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
