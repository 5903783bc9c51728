"""Render benchmarks/results/*.json as the Markdown tables quoted in the README and docs/benchmarks.md."""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
HANDLER_ROWS = [
    ("warm request p50 (ms)", "p50_ms", "≤ 1", 3),
    ("warm request p99 (ms)", "p99_ms", "≤ 3", 3),
    ("batch of 1,000: ms per row", "batch_ms_per_row", "≤ 0.15", 3),
    ("batch of 1,000: peak RSS (MB)", "batch_peak_rss_mb", "≤ 300", 0),
    ("cold start: import + load + first answer (s)", "cold_start_s", "≤ 0.35", 3),
    ("installed size: runtime deps + model (MB)", "size_mb", "≤ 150", 1),
]


def training_table() -> str:
    """One row per training case."""
    report = json.loads((RESULTS / "training.json").read_text())
    header = ["case", "wall (s)", "fit (s)", "peak RSS (MB)", "ONNX (MB)", "macro-F1", "linear baseline macro-F1",
              "parity labels", "parity max abs Δp"]  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in report["results"]:
        if "error" in r or "stage_seconds" in r:
            continue
        case = f"{r['case']} (train {r['n_train']:,} / test {r['n_test']:,})"
        cells = [case, r["wall_seconds"], r["train_seconds"], r["peak_rss_mb"], r["onnx_mb"], f"{r['macro_f1']:.4f}",
                 f"{r['baseline_macro_f1']:.4f}", f"{r['parity_label_agreement']:.0%}",
                 f"{r['parity_max_abs_diff']:.1e}"]  # fmt: skip
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    return "\n".join(lines)


def engines_table() -> str:
    """The Dask engine's cases beside the local engine's: quality, parity, time per stage, memory per worker."""
    report = json.loads((RESULTS / "training.json").read_text())
    stages = ["read/split", "linear sample fits", "featurize", "LightGBM", "evaluation"]
    header = ["case", "wall (s)", "macro-F1", "parity labels / max Δp", "driver peak RSS (MB)",
              "worker peak RSS (MB)", *[f"{stage} (s)" for stage in stages]]  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in report["results"]:
        if "error" in r or not ("stage_seconds" in r or r["case"].endswith("-local") or r["case"] == "pricerunner"):
            continue
        workers = r.get("worker_peak_rss_mb")
        cells = [f"{r['case']} (train {r['n_train']:,} / test {r['n_test']:,})", r["wall_seconds"],
                 f"{r['macro_f1']:.4f}", f"{r['parity_label_agreement']:.0%} / {r['parity_max_abs_diff']:.1e}",
                 r["peak_rss_mb"], f"{' + '.join(map(str, workers))} = {sum(workers)}" if workers else "–",
                 *[r.get("stage_seconds", {}).get(stage, "–") for stage in stages]]  # fmt: skip
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    return "\n".join(lines)


def handler_table() -> str:
    """Ours against theirs, with the ratio and the target."""
    report = json.loads((RESULTS / "handler.json").read_text())
    ours, theirs = report["ours"], report["theirs"]
    lines = [
        f"Model: {report['dataset']}; machine: {report['machine']}.",
        "",
        "| measure | ours (onnxruntime) | theirs (pandas + scikit-learn + LightGBM) | theirs / ours | target (ours) |",
        "|---|---|---|---|---|",
    ]
    for label, key, target, digits in HANDLER_ROWS:
        ratio = theirs[key] / ours[key]
        lines.append(f"| {label} | {ours[key]:.{digits}f} | {theirs[key]:.{digits}f} | {ratio:.1f}× | {target} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(training_table())
    print()
    print(engines_table())
    print()
    print(handler_table())
