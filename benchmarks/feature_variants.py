"""What carries the signal on PriceRunner: each input left out, and LightGBM and title-model settings changed.

Issue 28 asks the shipped model to beat its own linear baseline (the same run's title model) by 0.002
macro-F1. Each variant changes one setting of configs/pricerunner.yaml and is fitted on the same five grouped
splits as `quality_splits.py`; "gain" is the model's mean macro-F1 minus its own baseline's, on the validation
products and on the test products. Leaving out an input shows what the trees get from it; the title-model
settings move the baseline as well.

A setting is chosen on validation macro-F1 only (the split that also stops the trees and calibrates them): a variant
replaces the configured setting when it beats it on validation on at least 4 of 5 splits (`report.py`,
REPLACES_CONFIGURED). The test figures are what is reported, never what chooses.

    python benchmarks/feature_variants.py [--seeds 42 1 2 3 7]
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from dataclasses import replace
from typing import Any

from provenance import measured_on
from quality_splits import PRICERUNNER, run, summary

from training.config import PROJECT_ROOT, TrainConfig, load_config
from training.data.load import read_catalogue

RESULTS = PROJECT_ROOT / "benchmarks" / "results" / "feature_variants.json"
# Each variant: config section → the settings it changes.
VARIANTS: dict[str, dict[str, dict[str, Any]]] = {
    "configured": {},
    "extra_trees=false (the default trees)": {"model": {"extra_trees": False}},
    "design=rerank (the candidate re-ranker)": {"model": {"design": "rerank"}},
    "without the merchant id": {"data": {"hashed": ()}},
    "without the brand (the title's first word)": {"data": {"brand_from_title": False}},
    "without the canonical names as training text": {"data": {"training_text": ()}},
    "learning_rate=0.05": {"model": {"learning_rate": 0.05}},
    "num_leaves=15": {"model": {"num_leaves": 15}},
    "min_child_samples=30": {"model": {"min_child_samples": 30}},
    "colsample_bytree=0.7": {"model": {"colsample_bytree": 0.7}},
    "svm_c=1.0 (title model)": {"features": {"svm_c": 1.0}},
    "char_ngrams=(1, 5) (title model)": {"features": {"char_ngrams": (1, 5)}},
}


def changed(config: TrainConfig, change: dict[str, dict[str, Any]]) -> TrainConfig:
    """`config` with each section's settings replaced."""
    return replace(config, **{section: replace(getattr(config, section), **s) for section, s in change.items()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 1, 2, 3, 7])
    args = parser.parse_args()
    if len(args.seeds) < 2:
        parser.error("--seeds: at least two, for the spread")
    if not PRICERUNNER.exists():
        sys.exit(f"skipping: {PRICERUNNER} not found (see ../shared/data/README.md)")
    warnings.filterwarnings("ignore")
    config = load_config(PROJECT_ROOT / "configs" / "pricerunner.yaml")
    raw = read_catalogue(PRICERUNNER)
    rows = []
    print("| variant | validation gain | test macro-F1 mean (min) | test baseline mean | test gain | fit (s) |")
    print("|---|---|---|---|---|---|")
    for name, change in VARIANTS.items():
        runs = [run(changed(config, change), raw, seed) for seed in args.seeds]
        stats = summary(runs)
        gain = stats["macro_f1_mean"] - stats["linear_macro_f1_mean"]
        validation_gain = stats["validation_macro_f1_mean"] - stats["validation_linear_macro_f1_mean"]
        per_seed = [{k: round(v, 4) for k, v in r.items()} for r in runs]
        rows.append({"variant": name, "seeds": args.seeds, **stats, "gain": round(gain, 4),
                     "validation_gain": round(validation_gain, 4), "runs": per_seed})  # fmt: skip
        print(f"| {name} | {validation_gain:+.4f} | {stats['macro_f1_mean']:.4f} ({stats['macro_f1_min']:.4f}) | "
              f"{stats['linear_macro_f1_mean']:.4f} | {gain:+.4f} | {stats['fit_s_mean']} |", flush=True)  # fmt: skip
    RESULTS.write_text(json.dumps({**measured_on(), "variants": rows}, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
