"""Are two training runs' outputs the same model? Compares two `make train OUT=...` folders.

Used to show that a refactoring changed no behaviour: train the same config and seed before and after, then

    python benchmarks/same_model.py /tmp/before /tmp/after

The graph is compared byte for byte without its embedded metadata (which carries the run's id and time), and
again with its opset list sorted: skl2onnx collects the opsets in a set, so their order follows the process's
string hashing (PYTHONHASHSEED) and differs between two runs of the same code now and then. The metadata
(golden examples included), metrics.json, parity_report.json and data_report.json are compared key by key,
leaving out only what names or times the run. Exit code 0 when the graph is identical up to that order and
everything else compared is identical, 1 otherwise.

It reads the files only (onnx + json), never the training code, so it compares outputs of any two commits.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import onnx

# The key the metadata is embedded under (training/model/metadata.py; training/export.py before the move).
METADATA_KEY = "product_classifier"
# What names or times a run: it differs between any two runs of the same code (the graph embeds the run's id, time
# and version, so its sha256 differs too).
RUN_KEYS = {"model_version", "created_at", "mlflow_run_id", "registered_version", "onnx_sha256"}
TIME_KEYS = {"train_seconds", "total_seconds", "stage_seconds", "worker_peak_rss_mb"}


def compare(before: Path, after: Path) -> dict[str, Any]:
    """Every comparison's verdict, with the differing keys where there are any."""
    graphs = [_graph_bytes(folder / "model.onnx") for folder in (before, after)]
    sorted_graphs = [_graph_bytes(folder / "model.onnx", sort_opsets=True) for folder in (before, after)]
    metadata = [_without(_metadata(folder / "model.onnx"), RUN_KEYS) for folder in (before, after)]
    metrics = [_without(_json(folder / "metrics.json"), RUN_KEYS | TIME_KEYS) for folder in (before, after)]
    verdict = {
        "graph_bytes_identical": graphs[0] == graphs[1],
        "graph_bytes_identical_up_to_opset_order": sorted_graphs[0] == sorted_graphs[1],
        "graph_bytes": len(graphs[1]),
        "golden_examples_identical": metadata[0].get("golden_examples") == metadata[1].get("golden_examples"),
        "golden_examples": len(metadata[1].get("golden_examples", [])),
        "metadata_differences": _differences(*metadata),
        "metrics_differences": _differences(*metrics),
        "parity_report_differences": _differences(
            *[_json(folder / "parity_report.json") for folder in (before, after)]
        ),
        "data_report_differences": _differences(*[_json(folder / "data_report.json") for folder in (before, after)]),
    }
    verdict["identical"] = (
        verdict["graph_bytes_identical_up_to_opset_order"]
        and verdict["golden_examples_identical"]
        and not verdict["metadata_differences"]
        and not verdict["metrics_differences"]
        and not verdict["parity_report_differences"]
    )
    return verdict


def _graph_bytes(path: Path, *, sort_opsets: bool = False) -> bytes:
    """The serialised model without the embedded metadata entry; with `sort_opsets`, opsets sorted by domain."""
    model = onnx.load(path)
    kept = [entry for entry in model.metadata_props if entry.key != METADATA_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    if sort_opsets:
        opsets = sorted((o.domain, o.version) for o in model.opset_import)
        del model.opset_import[:]
        model.opset_import.extend(onnx.helper.make_opsetid(domain, version) for domain, version in opsets)
    return model.SerializeToString()


def _metadata(path: Path) -> dict[str, Any]:
    """The metadata training embedded in the graph."""
    entry = next(entry for entry in onnx.load(path).metadata_props if entry.key == METADATA_KEY)
    return json.loads(entry.value)


def _json(path: Path) -> dict[str, Any]:
    """A JSON file's content."""
    return json.loads(path.read_text())


def _without(document: dict[str, Any], keys: set[str]) -> dict[str, Any]:
    """The document without the given top-level keys."""
    return {key: value for key, value in document.items() if key not in keys}


def _differences(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Top-level keys whose values differ, with both values."""
    return {
        key: {"before": before.get(key), "after": after.get(key)}
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    }


def main() -> None:
    """Compare the two folders named on the command line and print the verdict as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path, help="OUT folder of the first run")
    parser.add_argument("after", type=Path, help="OUT folder of the second run")
    arguments = parser.parse_args()
    verdict = compare(arguments.before, arguments.after)
    print(json.dumps(verdict, indent=2))
    sys.exit(0 if verdict["identical"] else 1)


if __name__ == "__main__":
    main()
