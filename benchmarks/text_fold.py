"""What folding look-alike spellings costs a request: one model's graph with and without its fold, on plain titles
and on the same titles in fullwidth.

Every graph folds its titles after lower-casing (`training.model.onnx_ops.fold_compatibility`). To price that, the
same model is also run with each fold's If replaced by its pass-through branch, and the nodes only the fold used
dropped: the graph as it was before the fold. Titles are the model's golden examples' (real test rows); fullwidth
spells each of their ASCII characters in its fullwidth form, so every character is folded. Both graphs run with one
onnxruntime thread, as the function does: single rows (p50 over 2,000 calls, cycling through the titles) and batches
of 64 (the function's chunk; ms per row, the median of 50 calls), the four cases' calls taken in turn.

    python benchmarks/text_fold.py --model artifacts/model.onnx
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper
from provenance import measured_on

from handler.model import Model
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
        if node.op_type != "If":
            nodes.append(node)
            continue
        passed = next(a.g for a in node.attribute if a.name == "else_branch")
        sources = {identity.output[0]: identity.input[0] for identity in passed.node}  # the branch's Identities
        nodes += [
            helper.make_node("Identity", [sources[returned.name]], [output], name=f"{node.name}_{index}")
            for index, (returned, output) in enumerate(zip(passed.output, node.output, strict=True))
        ]
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


def timings(runs: dict[str, tuple[ort.InferenceSession, list[dict[str, np.ndarray]]]]) -> dict[str, dict[str, float]]:
    """Each case's single-row p50 (ms) and a batch's ms per row, the cases' calls taken in turn (so a slower spell
    of the machine falls on all of them alike)."""
    cycles = {name: itertools.cycle(singles) for name, (_, singles) in runs.items()}
    single: dict[str, list[float]] = {name: [] for name in runs}
    for call in range(WARM_UP + SINGLE_CALLS):
        for name, (session, _) in runs.items():
            feed = next(cycles[name])
            start = time.perf_counter()
            session.run(None, feed)
            if call >= WARM_UP:
                single[name].append(time.perf_counter() - start)
    batches = {name: _batch(singles) for name, (_, singles) in runs.items()}
    batch: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(BATCH_CALLS):
        for name, (session, _) in runs.items():
            start = time.perf_counter()
            session.run(None, batches[name])
            batch[name].append(time.perf_counter() - start)
    return {
        name: {
            "single_p50_ms": round(statistics.median(single[name]) * 1e3, 4),
            "batch_ms_per_row": round(statistics.median(batch[name]) * 1e3 / BATCH, 4),
        }
        for name in runs
    }


def _batch(singles: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """BATCH rows, the single rows' inputs in turn."""
    rows = list(itertools.islice(itertools.cycle(singles), BATCH))
    return {name: np.concatenate([row[name] for row in rows]) for name in singles[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="a model.onnx written by `make train`")
    args = parser.parse_args()
    model = onnx.load(args.model)
    metadata = read_metadata(model)
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    sessions = {
        name: ort.InferenceSession(graph.SerializeToString(), options, providers=["CPUExecutionProvider"])
        for name, graph in (("with the fold", model), ("without the fold", without_fold(model)))
    }
    # The function's own reading of request rows into the graph's inputs.
    served = Model(sessions["with the fold"], metadata, chunk=BATCH, load_seconds=0.0)
    text = served.text_input
    plain = [example["inputs"] for example in metadata["golden_examples"] if example["inputs"][text].isascii()]
    titles = {"plain": plain, "fullwidth": [row | {text: fullwidth(row[text])} for row in plain]}
    runs = {
        f"{graph_name}, {titles_name}": (session, [served.feeds([row]) for row in rows])
        for graph_name, session in sessions.items()
        for titles_name, rows in titles.items()
    }
    cases = timings(runs)
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
