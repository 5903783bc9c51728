"""Every Unicode code point through a whole model, in ONNX and in Python: labels and probabilities must agree.

`make train`'s gate already sweeps every code point through the graph's text steps; this runs each one
through the full pipeline (word and character n-grams, hashing, TF-IDF, SVM, LightGBM), one row per code
point, on a small model trained here with character n-grams on. Minutes, not for CI.

    python benchmarks/parity_sweep.py
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from provenance import measured_on

from training.config import DEFAULT_CONFIG_PATH, load_config
from training.data.clean import prepare_catalogue
from training.data.split import split_catalogue
from training.data.synthetic import generate_catalogue
from training.engines.local import fit_model
from training.model.export import to_onnx_model
from training.model.metadata import input_schema
from training.model.parity import SURROGATES, run_onnx
from training.text import MAX_CODE_POINT

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "parity_sweep.json"
BATCH = 50_000
TOLERANCE = 1e-5


def main() -> None:
    config = load_config(DEFAULT_CONFIG_PATH, synthetic_rows=4_000)
    config = replace(config, features=replace(config.features, char_ngrams=(2, 4), text_buckets=2**14))
    splits = split_catalogue(prepare_catalogue(generate_catalogue(4_000, seed=5), config.data), config.split)
    pipeline = fit_model(config, splits)
    metadata = {"classes": list(pipeline.classes_), "inputs": input_schema(config.data)}
    model_bytes = to_onnx_model(pipeline, config.data, metadata).SerializeToString()
    base = splits.test[list(config.data.columns)].iloc[[0]]
    points = [point for point in range(MAX_CODE_POINT + 1) if point not in SURROGATES]
    started = time.perf_counter()
    agree, worst, mismatches = 0, 0.0, []
    for start in range(0, len(points), BATCH):
        chunk = points[start : start + BATCH]
        rows = base.loc[base.index.repeat(len(chunk))].reset_index(drop=True)
        rows[config.data.text] = [f"tv {chr(p)}{chr(p)} {chr(p)}a" for p in chunk]
        labels, probabilities = run_onnx(model_bytes, rows, config.data)
        expected = pipeline.predict_proba(rows)
        same = labels == pipeline.classes_[expected.argmax(axis=1)]
        agree += int(same.sum())
        worst = max(worst, float(np.abs(probabilities - expected).max()))
        mismatches += [f"U+{chunk[i]:04X}" for i in np.flatnonzero(~same)][: 20 - len(mismatches)]
        print(f"U+{chunk[0]:04X}..U+{chunk[-1]:04X}: {int(same.sum())}/{len(chunk)} labels agree", flush=True)
    result = {
        **measured_on(),
        "rows": len(points),
        "label_agreement": agree / len(points),
        "max_abs_diff": worst,
        "tolerance": TOLERANCE,
        "passed": agree == len(points) and worst <= TOLERANCE,
        "first_mismatches": mismatches,
        "seconds": round(time.perf_counter() - started, 1),
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
