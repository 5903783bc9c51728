"""Try feature variants on PriceRunner's grouped split: macro-F1 of LightGBM and of the linear baseline.

The search behind the README's statement that no variant tried reaches macro-F1 0.990. Each variant
changes one setting of `features:` in configs/pricerunner.yaml; same split, same seed.

    python benchmarks/feature_variants.py
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

from provenance import measured_on
from sklearn.metrics import f1_score

from training.columns import LABEL
from training.config import PROJECT_ROOT, load_config
from training.data.clean import prepare_catalogue
from training.data.load import read_catalogue
from training.data.split import split_catalogue
from training.engines.local import fit_model
from training.model.pipeline import TITLE_SCORES

PRICERUNNER = PROJECT_ROOT.parent / "shared" / "data" / "pricerunner_aggregate.csv"
RESULTS = PROJECT_ROOT / "benchmarks" / "results" / "feature_variants.json"
VARIANTS: dict[str, dict[str, object]] = {
    "default (C=0.5, words 1-2, chars 2-4, 2^15 buckets)": {},
    "svm_c=1.0": {"svm_c": 1.0},
    "svm_c=0.25": {"svm_c": 0.25},
    "char_ngrams=(1, 5)": {"char_ngrams": (1, 5)},
    "text_buckets=2^17": {"text_buckets": 2**17},
    "word_ngram_max=3": {"word_ngram_max": 3},
}


def main() -> None:
    """Fit each variant and print one Markdown row per variant."""
    if not PRICERUNNER.exists():
        sys.exit(f"skipping: {PRICERUNNER} not found (see ../shared/data/README.md)")
    warnings.filterwarnings("ignore")
    config = load_config(PROJECT_ROOT / "configs" / "pricerunner.yaml")
    splits = split_catalogue(prepare_catalogue(read_catalogue(Path(PRICERUNNER)), config.data), config.split)
    rows = []
    print("| variant | LightGBM macro-F1 | linear baseline macro-F1 | fit (s) |\n|---|---|---|---|")
    for name, change in VARIANTS.items():
        started = time.perf_counter()
        pipeline = fit_model(replace(config, features=replace(config.features, **change)), splits)  # type: ignore[arg-type]
        stacked = f1_score(splits.test[LABEL], pipeline.predict(splits.test), average="macro")
        linear = pipeline.named_steps["features"].named_transformers_[TITLE_SCORES]
        baseline = f1_score(splits.test[LABEL], linear.predict(splits.test[[config.data.text]]), average="macro")
        seconds = time.perf_counter() - started
        rows.append({"variant": name, "macro_f1": round(stacked, 4), "baseline_macro_f1": round(baseline, 4),
                     "fit_seconds": round(seconds)})  # fmt: skip
        print(f"| {name} | {stacked:.4f} | {baseline:.4f} | {seconds:.0f} |", flush=True)
    RESULTS.write_text(json.dumps({**measured_on(), "variants": rows}, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
