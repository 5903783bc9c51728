"""Render benchmarks/results/*.json as the Markdown tables quoted in the README and docs, and state each target.

Every table of measured figures in README.md and docs/*.md sits between `<!-- report:NAME -->` and
`<!-- /report -->`; `python benchmarks/report.py --write` re-renders them in place, wherever they have moved,
and tests/test_report.py fails when one differs from what this module renders. Every row names the commit,
date and machine it was measured on, so a reader sees which rows predate which change.

    python benchmarks/report.py           # print every table and the targets, met or missed
    python benchmarks/report.py --write   # update the marked tables in README.md and docs/*.md
"""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DOCUMENTS = ("README.md", "docs/*.md")
# A block's body may be empty (a new marker pair): else the body would run on to the next block's end.
MARKED = re.compile(r"(<!-- report:(?P<name>[a-z-]+) -->\n)(?P<body>.*?)\n?<!-- /report -->", re.DOTALL)
HANDLER_ROWS = [
    ("warm request p50 (ms)", "p50_ms", 1, 3),
    ("warm request p99 (ms)", "p99_ms", 3, 3),
    ("batch of 1,000: ms per row", "batch_ms_per_row", 0.15, 3),
    ("batch of 1,000: peak RSS (MB)", "batch_peak_rss_mb", 300, 0),
    ("cold start: import + load + first answer (s)", "cold_start_s", 0.35, 3),
    ("installed size: runtime deps + model (MB)", "size_mb", 150, 1),
]
STAGES = ["read/split", "linear sample fits", "featurize", "LightGBM", "evaluation"]
PARITY_LABELS, PARITY_MAX_DIFF = 1.0, 1e-5
# Issue 18's budgets at many categories: ONNX size per number of categories, the build, serving, training.
CATEGORY_ONNX_MB = {1_000: 60, 5_000: 150}
CATEGORY_GAIN = 0.03
BUILD_MB = 250
CATEGORY_SERVING = [("p50_ms", "single-row p50 (ms)", 2), ("p99_ms", "single-row p99 (ms)", 5),
                    ("batch_ms_per_row", "batch of 1,000: ms per row", 0.3)]  # fmt: skip
CATEGORY_TRAINING = (1_000, 200_000, 600, 8_000)  # categories, rows, wall seconds, peak RSS MB
PATH_EXTRA_MS = 0.2  # issue 19: what the category path may add to a single-row call's p50 at 5,000 categories
# Issue 27's memory budgets: (categories, rows) → (peak RSS MB of the process tree, wall seconds or None).
CATEGORY_MEMORY = {(5_000, 500_000): (6_000, None), (5_000, 1_000_000): (12_000, 1_500)}
# Issue 27's targets on a real taxonomy's long-tailed catalogue: held-out macro-F1 over every class with held-out
# rows, wall seconds and peak RSS MB of training.
TAXONOMY_TARGETS = (0.60, 900, 8_000)
# A PriceRunner variant replaces the configured setting only when its validation macro-F1 beats the configured
# model's on at least this share of the grouped splits (4 of 5): a mean lead smaller than the spread between
# splits is not enough, and test figures never count.
REPLACES_CONFIGURED = 0.8
# What an operating point accepts: the answered category, or the whole decision (the category, else a level of its
# path).
ACCEPTED_AT = {"leaf": "category", "decision": "category or a parent"}
# The bulk-scoring projection in docs/scaling.md: this many rows on this many single-threaded workers.
BULK_ROWS, BULK_WORKERS = 500_000_000, 100
# The Dask projection in docs/scaling.md: from this case (and its row count) onto BULK_ROWS rows on each of these
# worker counts; a worker is planned to peak below Dask's pause threshold (distributed.worker.memory.pause).
DASK_PROJECTION_CASE, DASK_PROJECTION_ROWS = "synthetic-10_000_000-dask", 10_000_000
DASK_PROJECTION_WORKERS, DASK_PAUSE = (100, 50), 0.8
# Issue 28: the calibrated model's calibration error, at these category counts (and PriceRunner).
ECE_TARGET, ECE_CATEGORIES = 0.01, (10, 100, 1_000)
# Issue 30: the Dask re-ranker's memory at 2,000,000 rows x 5,000 categories.
DASK_WORKER_GB, DASK_DRIVER_GB = 4, 6
# Issue 29: what explain=true may add to a single request's p50, measured at this many categories.
EXPLAIN_EXTRA_MS, EXPLAIN_CATEGORIES = 1.0, 1_000


def load(name: str) -> dict[str, Any]:
    """One result file."""
    return json.loads((RESULTS / f"{name}.json").read_text())


def measured(record: dict[str, Any]) -> str:
    """The commit, date and machine a result was measured on (backfilled ones are marked)."""
    if "commit" not in record:
        return "not recorded"
    mark = "*" if record.get("provenance", "").startswith("backfilled") else ""
    return f"{record['commit']}{mark} {record['date']}, {record['machine']}"


def table(header: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join([*lines, *("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows)])


def footnote(records: list[dict[str, Any]]) -> str:
    """The note under a table with backfilled rows."""
    if any(r.get("provenance", "").startswith("backfilled") for r in records):
        return "\n\n\\* backfilled: the commit that recorded the result; the measurement ran on the code before it."
    return ""


def training_table() -> str:
    """One row per local-engine training case."""
    rows = [r for r in load("training")["results"] if "error" not in r and "stage_seconds" not in r]
    header = ["case", "wall (s)", "fit (s)", "peak RSS (MB)", "ONNX (MB)", "macro-F1", "linear baseline macro-F1",
              "parity labels", "parity max abs Δp", "measured (commit, date, machine)"]  # fmt: skip
    cells = [[f"{r['case']} (train {r['n_train']:,} / test {r['n_test']:,})", r["wall_seconds"], r["train_seconds"],
              r["peak_rss_mb"], r["onnx_mb"], f"{r['macro_f1']:.4f}", f"{r['baseline_macro_f1']:.4f}",
              f"{r['parity_label_agreement']:.0%}", f"{r['parity_max_abs_diff']:.1e}", measured(r)]
             for r in rows]  # fmt: skip
    return table(header, cells) + footnote(rows)


def engines_table() -> str:
    """The Dask engine's cases beside the local engine's: quality, parity, time per stage, memory per worker."""
    engines = [r for r in load("training")["results"] if "error" not in r]
    rows = [r for r in engines if "stage_seconds" in r or r["case"].endswith("-local") or r["case"] == "pricerunner"]
    header = ["case", "wall (s)", "macro-F1", "shipped", "parity labels / max Δp", "driver peak RSS (MB)",
              "worker peak RSS (MB)", *[f"{stage} (s)" for stage in STAGES],
              "measured (commit, date, machine)"]  # fmt: skip
    cells = []
    for r in rows:
        workers = r.get("worker_peak_rss_mb")
        cells.append([f"{r['case']} (train {r['n_train']:,} / test {r['n_test']:,})", r["wall_seconds"],
                      f"{r['macro_f1']:.4f}", r.get("shipped", "not recorded"),
                      f"{r['parity_label_agreement']:.0%} / {r['parity_max_abs_diff']:.1e}",
                      r["peak_rss_mb"], f"{' + '.join(map(str, workers))} = {sum(workers)}" if workers else "–",
                      *[r.get("stage_seconds", {}).get(stage, "–") for stage in STAGES], measured(r)])  # fmt: skip
    return table(header, cells) + footnote(rows)


def handler_table() -> str:
    """Ours against theirs, with the ratio, the target and whether ours meets it."""
    report = load("handler")
    ours, theirs = report["ours"], report["theirs"]
    header = ["measure", "ours (onnxruntime)", "theirs (pandas + scikit-learn + LightGBM)", "theirs / ours",
              "target (ours)", "ours"]  # fmt: skip
    cells = [[label, f"{ours[key]:.{digits}f}", f"{theirs[key]:.{digits}f}", f"{theirs[key] / ours[key]:.1f}×",
              f"≤ {target}", verdict(ours[key] <= target)] for label, key, target, digits in HANDLER_ROWS]  # fmt: skip
    return f"Model: {report['dataset']}; measured: {measured(report)}.\n\n" + table(header, cells) + footnote([report])


def cold_start_table() -> str:
    """The handler's cold start against the stack's and onnxruntime's floors."""
    report = load("cold_start")
    medians = report["median_seconds"]
    cells = [
        ["handler: import + model load + golden self-check + first `/predict` answer", f"{medians['handler']:.3f}"],
        ["the handler with the garbage collector on (`handler.main` without `handler.entry`)",
         f"{medians['handler, collector on']:.3f}"],
        ["stack floor: one-route FastAPI + Mangum + powertools app, same model", f"{medians['stack floor']:.3f}"],
        ["onnxruntime floor: numpy + onnxruntime, load, answer once", f"{medians['onnxruntime floor']:.3f}"],
        ["handler / stack floor (target ≤ 1.0)", f"**{report['handler_over_stack_floor']:.3f}**"],
    ]  # fmt: skip
    head = f"{report['runs']} alternating runs each, medians; measured: {measured(report)}.\n\n"
    return head + table(["what", "median (s)"], cells) + footnote([report])


def quality_splits_table() -> str:
    """Macro-F1 of the configured pipeline over the grouped splits."""
    report = load("quality_splits")
    v = report["configured"]
    seeds = ", ".join(str(run["seed"]) for run in v["runs"])
    header = ["variant", f"macro-F1 per seed ({seeds})", "mean (min–max)", "stdev", "linear baseline mean"]
    cells = [["configured", ", ".join(f"{run['macro_f1']:.4f}" for run in v["runs"]),
              f"{v['macro_f1_mean']:.4f} ({v['macro_f1_min']:.4f}–{v['macro_f1_max']:.4f})",
              f"{v['macro_f1_stdev']:.4f}", f"{v['linear_macro_f1_mean']:.4f}"]]  # fmt: skip
    return f"Measured: {measured(report)}.\n\n" + table(header, cells) + footnote([report])


def feature_variants_table() -> str:
    """What carries the signal on PriceRunner: each variant's means over the grouped splits against its baseline, and
    whether it beats the configured model on validation on enough splits to replace it (`REPLACES_CONFIGURED`)."""
    report = load("feature_variants")
    first = report["variants"][0]
    configured = {run["seed"]: run["validation_macro_f1"] for run in first["runs"]}
    cells = []
    for v in report["variants"]:
        versus, verdict = "–", "–"
        if v is not first:
            deltas = [run["validation_macro_f1"] - configured[run["seed"]] for run in v["runs"]]
            better = sum(delta > 0 for delta in deltas)
            versus = f"{sum(deltas) / len(deltas):+.4f} ({better} of {len(deltas)})"
            verdict = "yes" if better >= REPLACES_CONFIGURED * len(deltas) else "no"
        cells.append([v["variant"], f"{v['validation_macro_f1_mean']:.4f} ({v['validation_gain']:+.4f})", versus,
                      verdict, f"{v['macro_f1_mean']:.4f} ({v['macro_f1_min']:.4f})",
                      f"{v['linear_macro_f1_mean']:.4f}", f"{v['gain']:+.4f}", v["fit_s_mean"]])  # fmt: skip
    header = ["variant", "validation macro-F1 mean (gain)", "validation vs configured: mean Δ (splits better)",
              "replaces configured", "test macro-F1 mean (min)", "test linear baseline mean", "test gain",
              "fit (s)"]  # fmt: skip
    seeds = ", ".join(map(str, first["seeds"]))
    return f"Seeds {seeds}; measured: {measured(report)}.\n\n" + table(header, cells) + footnote([report])


def parity_sweep_table() -> str:
    """Every Unicode code point through a whole model, in ONNX and in Python."""
    r = load("parity_sweep")
    cells = [[f"{r['rows']:,}", f"{r['label_agreement']:.2%}", f"{r['max_abs_diff']:.1e}", f"{r['tolerance']:.0e}",
              "yes" if r["passed"] else "**no**", r["seconds"]]]  # fmt: skip
    header = ["rows (code points)", "labels equal", "max abs Δp", "tolerance", "passed", "seconds"]
    return f"Measured: {measured(r)}.\n\n" + table(header, cells) + footnote([r])


def worst_case_reports() -> list[dict[str, Any]]:
    """The costliest-request runs, one file per model measured (worst_case.json, worst_case_*.json)."""
    return [load(path.stem) for path in sorted(RESULTS.glob("worst_case*.json"))]


def worst_case_table() -> str:
    """The costliest accepted request, locally and projected onto Lambda, for each model measured."""
    return "\n\n".join(_worst_case_model(report) for report in worst_case_reports())


def _worst_case_model(report: dict[str, Any]) -> str:
    """One model's costliest accepted requests."""
    names = {"ascii": "ASCII", "mixed": "mixed scripts", "fullwidth": "fullwidth (every character folded)",
             "short": "12 short words, every field"}  # fmt: skip
    names |= {f"{name}-explain": f"{shown}, explain=true" for name, shown in names.items()}
    share = report["lambda_vcpu"]
    cells = [[names.get(name, name), f"{case['items']:,}", f"{case['rows_scored']:,}" if "rows_scored" in case else "–",
              f"{case['characters']:,}", f"{case['seconds_local_one_core']:.2f}",
              f"{case['seconds_local_one_core'] / share:.2f}", f"{report['lambda_timeout_s']} s"]
             for name, case in report["cases"].items()]  # fmt: skip
    header = ["titles", "items", "rows scored", "characters", "seconds (1 local core)",
              f"projected at {report['lambda_memory_mb']:,} MB ({share} vCPU)", "Lambda timeout"]  # fmt: skip
    trained = f" ({report['data']})" if report.get("data") else ""
    classes = f", {report['classes']:,} classes" if "classes" in report else ""
    return (
        f"Model: {report['config']}{trained}{classes}; measured: {measured(report)}.\n\n"
        + table(header, cells)
        + footnote([report])
    )


def text_fold_table() -> str:
    """The graph with and without its fold of look-alike spellings, on plain and fullwidth titles."""
    report = load("text_fold")
    cases = report["cases"]
    base = cases["without the fold, plain"]
    cells = [[name, f"{case['single_p50_ms']:.3f}", f"{case['single_p50_ms'] - base['single_p50_ms']:+.3f}",
              f"{case['batch_ms_per_row']:.4f}", f"{case['batch_ms_per_row'] - base['batch_ms_per_row']:+.4f}"]
             for name, case in cases.items()]  # fmt: skip
    header = ["graph, titles", "single row p50 (ms)", "vs without, plain", "batch of 64: ms per row",
              "vs without, plain"]  # fmt: skip
    return (
        f"Model: {report['config']}, {report['titles']} titles; measured: {measured(report)}.\n\n"
        + table(header, cells)
        + footnote([report])
    )


def soak_table() -> str:
    """The soak run's requests, statuses, latency and memory."""
    r = load("soak")
    statuses = ", ".join(f"{kind} ×{count:,}" for kind, count in r["statuses"].items())
    cells = [[f"{r['requests']:,}", statuses, r["server_errors"], f"{r['p50_ms']} ms", f"{r['p99_ms']} ms",
              f"{r['function_rss_mb_start']} → {r['function_rss_mb_end']} MB"]]  # fmt: skip
    header = ["requests", "statuses", "5xx or failed", "p50", "p99", "function RSS start → end"]
    return f"{r['minutes']:g} minutes; measured: {measured(r)}.\n\n" + table(header, cells) + footnote([r])


def predict_table() -> str:
    """Bulk scoring per engine."""
    r = load("predict")
    cells = [[engine, r[engine]["seconds"], f"{r[engine]['rows_per_second']:,}"] for engine in ("local", "dask")]
    head = f"{r['local']['rows']:,} rows, model {r['model']}; measured: {measured(r)}.\n\n"
    return head + table(["engine", "wall (s)", "rows/s"], cells) + footnote([r])


def bulk_scoring_projection() -> str:
    """Bulk scoring's rate per core (the local engine runs a thread per core), projected onto BULK_ROWS rows."""
    r = load("predict")
    found = re.search(r"(\d+) cores", r["machine"])
    if found is None:
        raise ValueError(f"predict.json's machine {r['machine']!r} names no core count")
    cores = int(found[1])
    per_core = r["local"]["rows_per_second"] / cores
    core_seconds = BULK_ROWS / per_core
    return (
        f"`make predict` scored {r['local']['rows']:,} rows at {r['local']['rows_per_second']:,} rows/s on {cores} "
        f"threads (measured: {measured(r)}; the Dask engine's rate is in docs/benchmarks.md): about "
        f"{per_core:,.0f} rows/s per core. {BULK_ROWS / 1e6:,.0f} M rows are then "
        f"~{core_seconds:,.0f} core-seconds: ~{core_seconds / 3600:.1f} h on one core, "
        f"~{core_seconds / BULK_WORKERS / 60:.1f} min on {BULK_WORKERS} single-threaded workers."
    )


def dask_projection() -> str:
    """The Dask case's cost per stage, per core and million rows, projected onto BULK_ROWS rows on N workers.

    Evaluation scores the validation and test rows, a fixed share of all rows, so it is counted per row of the
    catalogue. The title models' fits and the driver's work do not divide by N: the first is projected at its
    measured time (its tasks ran in rounds here, side by side with enough workers), the second at least so.
    """
    r = next(r for r in load("training")["results"] if r["case"] == DASK_PROJECTION_CASE)
    # the result records each worker's peak, hence how many workers ran
    stages, workers, rows = r["stage_seconds"], len(r["worker_peak_rss_mb"]), DASK_PROJECTION_ROWS
    shares = {"rows": 1.0, "training rows": r["n_train"] / rows}
    grows = {"read/split": "rows", "featurize": "rows", "LightGBM": "training rows", "evaluation": "rows"}
    per_million = {stage: stages[stage] * workers / (rows * shares[kind] / 1e6) for stage, kind in grows.items()}
    fits, driver = stages["linear sample fits"], r["wall_seconds"] - sum(stages.values())
    measured_cells = [[stage, stages[stage], f"{per_million[stage]:,.0f} per 1 M {kind}", f"with {kind} / N"]
                      for stage, kind in grows.items()]  # fmt: skip
    measured_cells.insert(1, ["linear sample fits", fits, "–", "with the sample (features.linear_sample_rows)"])
    projected, counts = BULK_ROWS / 1e6, DASK_PROJECTION_WORKERS
    seconds = {n: {stage: per_million[stage] * projected * shares[kind] / n for stage, kind in grows.items()}
               for n in counts}  # fmt: skip
    cells = [[stage, *[_minutes(seconds[n][stage]) for n in counts], f"{per_million[stage]:,.0f} core-s per 1 M {kind}"]
             for stage, kind in grows.items()]  # fmt: skip
    cells.insert(1, ["linear sample fits", *[f"≤ {_minutes(fits)}"] * len(counts),
                     "the same sample: at most as measured"])  # fmt: skip
    cells.append(["metrics, calibration, export, gate, MLflow", *[f"≥ {_minutes(driver)}"] * len(counts),
                  "on the driver (wall − stages as measured); its metrics grow with the scored rows"])  # fmt: skip
    totals = [sum(seconds[n].values()) + fits + driver for n in counts]
    cells.append(["**total**", *[f"**{_minutes(total)}**" for total in totals],
                  "plus LightGBM's network time and the driver's growth (below)"])  # fmt: skip
    peak, rows_a_worker = max(r["worker_peak_rss_mb"]), rows / workers
    memory = "; ".join(
        f"at N = {n} ({BULK_ROWS / n / 1e6:,.0f} M rows a worker) ~{peak * BULK_ROWS / n / rows_a_worker:,.0f} MB, so "
        f"WORKER_MEMORY={math.ceil(peak * BULK_ROWS / n / rows_a_worker / DASK_PAUSE / 1024)}GiB"
        for n in counts
    )
    return (
        f"Costs measured at {rows / 1e6:,.0f} M rows on {workers} workers (the {DASK_PROJECTION_CASE} row above, "
        f"measured: {measured(r)}; core-seconds = stage seconds × {workers} workers):\n\n"
        + table(["stage", f"{rows / 1e6:,.0f} M rows (s)", "core-seconds", "how it grows"], measured_cells)
        + f"\n\n{projected:,.0f} M listings at the same split ({projected * shares['training rows']:,.0f} M train), "
        "one-thread workers as fast as this machine's cores:\n\n"
        + table(["stage", *[f"N = {n}" for n in counts], "basis"], cells)
        + f"\n\nMemory: the {rows / 1e6:,.0f} M-row run put {rows_a_worker / 1e6:,.0f} M rows on each of {workers} "
        f"workers, which peaked at {' and '.join(f'{mb:,}' for mb in r['worker_peak_rss_mb'])} MB, and its driver "
        f"at {r['peak_rss_mb']:,} MB. Scaling a worker's whole peak with its rows (it errs high: part of it is fixed), "
        f"{memory}, to keep it below the {DASK_PAUSE:.0%} of WORKER_MEMORY where Dask pauses a worker."
    )


def _minutes(seconds: float) -> str:
    """A projected duration: tenths of a minute below ten minutes, whole minutes above, as a projection warrants."""
    return f"~{seconds / 60:.1f} min" if seconds < 600 else f"~{seconds / 60:,.0f} min"


def categories_table() -> str:
    """From 10 to 5,000 categories: one row per case, then the growth of size, latency, memory and time."""
    rows = _category_cases()
    if rows is None:
        return "Not measured yet: `make benchmark-categories` writes benchmarks/results/categories.json."
    header = ["categories × rows", "wall (s)", "peak RSS (MB)", "ONNX (MB)", "build (MB)", "macro-F1",
              "linear baseline", "validation macro-F1 / baseline", "best iteration", "parity labels / max Δp",
              "p50 / p99 (ms)", "batch (ms/row)", "path extra p50 (ms)",
              "measured (commit, date, machine)"]  # fmt: skip
    cells = []
    for r in rows:
        case = f"{r['categories']:,} × {r['rows']:,}" + _forced_design(r)
        if "error" in r:
            error = r["error"].replace("|", "\\|")  # a table cell
            cells.append([case, r.get("wall_seconds", "–"), f"failed: {error}", *["–"] * 10, measured(r)])
            continue
        validation = f"{r['validation_macro_f1']:.4f} / {r['validation_baseline_macro_f1']:.4f}" \
            if "validation_macro_f1" in r else "–"  # fmt: skip
        cells.append([case, r["wall_seconds"], r["peak_rss_mb"], r["onnx_mb"], r["build_mb"], f"{r['macro_f1']:.4f}",
                      f"{r['baseline_macro_f1']:.4f}", validation, r.get("best_iteration", "–"),
                      f"{r['parity_label_agreement']:.2%} / {r['parity_max_abs_diff']:.1e}",
                      f"{r['p50_ms']:.3f} / {r['p99_ms']:.3f}", f"{r['batch_ms_per_row']:.4f}",
                      r.get("path_extra_p50_ms", "–"), measured(r)])  # fmt: skip
    growth = _growth_table([r for r in rows if "error" not in r and not _forced_design(r)])
    return table(header, cells) + "\n\n" + growth + footnote(rows)


def _forced_design(row: dict[str, Any]) -> str:
    """` (multiclass design)` for a case run with a forced variant; "" for the config's own (auto)."""
    design = row.get("design", "auto")
    if design == "auto":
        return ""
    return {"flat": " (flat title SVM)", "tree": " (title SVM down the tree)"}.get(design, f" ({design} design)")


def _growth_table(rows: list[dict[str, Any]]) -> str:
    """Size, latency, memory and time against categories, each also as a multiple of the smallest case."""
    if not rows:
        return "Growth: no case has finished yet."
    first = rows[0]
    columns = [("onnx_mb", "ONNX (MB)"), ("p50_ms", "p50 (ms)"), ("batch_ms_per_row", "batch (ms/row)"),
               ("peak_rss_mb", "peak RSS (MB)"), ("wall_seconds", "wall (s)")]  # fmt: skip
    cells = [[f"{r['categories']:,}", f"{r['rows']:,}",
              *(f"{r[key]} ({r[key] / first[key]:.1f}×)" if first[key] else r[key] for key, _ in columns)]
             for r in rows]  # fmt: skip
    head = f"Growth against categories (× the {first['categories']:,}-category case):\n\n"
    return head + table(["categories", "rows", *(label for _, label in columns)], cells)


def category_targets() -> list[tuple[str, str, bool | None]]:
    """Issue 18's targets, from the cases measured so far (none before the first run)."""
    # Forced-design cases are comparisons, not the product: the targets are the shipped (auto) design's.
    rows = [r for r in _category_cases() or [] if not _forced_design(r)]
    found: list[tuple[str, str, bool | None]] = []
    for r in rows:
        label = f"{r['categories']:,} × {r['rows']:,}"
        if "error" in r:
            found.append((f"categories {label}: the run completes", f"failed: {r['error']}", False))
            continue
        gain = CATEGORY_GAIN if r["categories"] >= 100 else 0.0
        model, baseline = r["macro_f1"], r["baseline_macro_f1"]
        target = f"categories {label}: macro-F1 ≥ linear baseline" + (f" + {gain}" if gain else "")
        found.append((target, f"{model:.4f} vs {baseline:.4f} ({model - baseline:+.4f})", model >= baseline + gain))
        if (budget := CATEGORY_ONNX_MB.get(r["categories"])) is not None:
            found.append((f"categories {label}: ONNX ≤ {budget} MB", f"{r['onnx_mb']} MB", r["onnx_mb"] <= budget))
        labels, diff = r["parity_label_agreement"], r["parity_max_abs_diff"]
        found.append((f"categories {label}: parity 100 % labels and max abs Δp ≤ 1e-5", f"{labels:.2%} / {diff:.1e}",
                      labels >= PARITY_LABELS and diff <= PARITY_MAX_DIFF))  # fmt: skip
        categories, case_rows, seconds, megabytes = CATEGORY_TRAINING
        if (r["categories"], r["rows"]) == (categories, case_rows):
            found.append((f"categories {label}: training ≤ {seconds // 60} min, peak RSS ≤ {megabytes // 1000} GB",
                          f"{r['wall_seconds'] / 60:.1f} min, {r['peak_rss_mb']:,} MB",
                          r["wall_seconds"] <= seconds and r["peak_rss_mb"] <= megabytes))  # fmt: skip
        if r["categories"] >= 5_000 and "path_extra_p50_ms" in r:
            found.append((f"categories {label}: the category path costs ≤ {PATH_EXTRA_MS} ms p50",
                          f"{r['path_extra_p50_ms']} ms", r["path_extra_p50_ms"] <= PATH_EXTRA_MS))  # fmt: skip
        if r["categories"] in ECE_CATEGORIES and "ece_after" in r:
            found.append((f"categories {label}: ECE ≤ {ECE_TARGET} on test ({_calibration(r)})",
                          f"{r['ece_after']:.4f}", r["ece_after"] <= ECE_TARGET))  # fmt: skip
        if r["categories"] == EXPLAIN_CATEGORIES and "explain_extra_p50_ms" in r:
            extra = r["explain_extra_p50_ms"]
            found.append((f"categories {label}: explain=true adds ≤ {EXPLAIN_EXTRA_MS} ms p50 to a single request",
                          f"{extra} ms", extra <= EXPLAIN_EXTRA_MS))  # fmt: skip
        if (budget := CATEGORY_MEMORY.get((r["categories"], r["rows"]))) is not None:
            memory, wall = budget
            target = f"categories {label}: peak RSS ≤ {memory // 1000} GB" + (f", ≤ {wall // 60} min" if wall else "")
            found.append((target, f"{r['peak_rss_mb']:,} MB, {r['wall_seconds'] / 60:.1f} min",
                          r["peak_rss_mb"] <= memory and (wall is None or r["wall_seconds"] <= wall)))  # fmt: skip
    done = [r for r in rows if "error" not in r]
    if done:
        build = max(done, key=lambda r: r["build_mb"])
        found.append((f"categories: build ≤ {BUILD_MB} MB unzipped (largest case)",
                      f"{build['build_mb']} MB at {build['categories']:,}", build["build_mb"] <= BUILD_MB))  # fmt: skip
        for key, name, limit in CATEGORY_SERVING:
            worst = max(done, key=lambda r: r[key])
            found.append((f"categories: {name} ≤ {limit} (slowest case)",
                          f"{worst[key]} at {worst['categories']:,}", worst[key] <= limit))  # fmt: skip
    return found


def _category_cases() -> list[dict[str, Any]] | None:
    """The categories cases in order of size, or None before the benchmark first ran."""
    if not (RESULTS / "categories.json").exists():
        return None
    rows = [r for r in load("categories")["results"] if "taxonomy" not in r]
    return sorted(rows, key=lambda r: (r["categories"], r["rows"], r.get("design", "auto")))


def _taxonomy_cases() -> list[dict[str, Any]]:
    """The real taxonomies' cases (`TAXONOMY@ROWS`), or none before they first ran."""
    if not (RESULTS / "categories.json").exists():
        return []
    return [r for r in load("categories")["results"] if "taxonomy" in r]


def taxonomies_table() -> str:
    """A real taxonomy's long-tailed catalogue: the run's own test split, and the products held out before training."""
    rows = _taxonomy_cases()
    if not rows:
        return "Not measured yet: `make benchmark-categories CASES=google-shape@250000`."
    header = ["taxonomy @ rows", "classes learnt / evaluated on test", "wall (s)", "peak RSS (MB)", "ONNX (MB)",
              "test macro-F1 (evaluated) / baseline", "held-out macro-F1, every class", "held-out by band",
              "held-out hierarchical F1", "parity labels / max Δp", "p50 (ms)",
              "measured (commit, date, machine)"]  # fmt: skip
    cells = []
    for r in rows:
        if "error" in r:
            cells.append([r["case"], "–", r.get("wall_seconds", "–"), f"failed: {r['error']}", *["–"] * 7, measured(r)])
            continue
        bands = "; ".join(f"{b['band'].removesuffix(' products')}: {'–' if b['macro_f1'] is None else b['macro_f1']}"
                          f" ({b['classes']:,})" for b in r["heldout_bands"])  # fmt: skip
        fit = f" ({r['title_fit']} title fit)" if r.get("title_fit") else ""
        cells.append([r["case"] + fit, f"{r['classes_learnt']:,} / {r['classes_evaluated']:,}", r["wall_seconds"],
                      r["peak_rss_mb"], r["onnx_mb"], f"{r['macro_f1']:.4f} / {r['baseline_macro_f1']:.4f}",
                      f"{r['heldout_macro_f1']:.4f} ({r['heldout_classes']:,} classes, {r['heldout_unseen_classes']:,} "
                      "unseen in training)", bands, f"{r['heldout_hierarchical_f1']:.4f}",
                      f"{r['parity_label_agreement']:.2%} / {r['parity_max_abs_diff']:.1e}", r["p50_ms"],
                      measured(r)])  # fmt: skip
    return table(header, cells) + footnote(rows)


def operating_points_table() -> str:
    """Per measured case with operating points: each target's threshold (chosen on validation), the coverage and
    precision it gave on validation and on test, and whether test's precision is within sampling error of the target;
    with path labels also the whole decision's (the category, else a level of its path)."""
    cases = [r for r in [*(_category_cases() or []), *_taxonomy_cases(), *load("training")["results"]]
             if r.get("operating_points")]  # fmt: skip
    if not cases:
        return "Not measured yet: `make benchmark-categories` and `make benchmark-training` write them."
    cells = []
    for r in cases:
        for point in r["operating_points"]:
            test_precision = point["test_precision"]
            accepted = round(point["test_coverage"] * r["n_test"])
            low, high = _wilson(test_precision or 0.0, accepted)
            target = point["target_precision"]
            reached = test_precision is not None and (test_precision >= target or low <= target <= high)
            interval = f"{low:.2%} … {high:.2%}" if test_precision is not None else "–"
            threshold = "per level" if point["threshold"] is None else f"{point['threshold']:.4f}"
            cells.append([r["case"], ACCEPTED_AT[point["level"]], f"{target:.2f}", threshold,
                          _share(point["validation_coverage"]), _share(point["validation_precision"]),
                          _share(point["test_coverage"]), _share(test_precision), interval,
                          "–" if test_precision is None else ("yes" if reached else "no"), measured(r)])  # fmt: skip
    header = ["case", "accepted at", "target precision", "threshold", "validation coverage", "validation precision",
              "test coverage",
              "test precision", "95 % interval of test precision", "target reached within sampling error",
              "measured (commit, date, machine)"]  # fmt: skip
    return table(header, cells)


def _peer_cases() -> list[dict[str, Any]]:
    """PriceRunner's case and the synthetic categories cases of the shipped design, in order of size."""
    training = [r for r in load("training")["results"] if r["case"] == "pricerunner" and "error" not in r]
    categories = [r for r in _category_cases() or [] if "error" not in r and not _forced_design(r)]
    return training + categories


def _peer_case(row: dict[str, Any]) -> str:
    """`PriceRunner` or `CATEGORIES × ROWS`."""
    return "PriceRunner" if row["case"] == "pricerunner" else f"{row['categories']:,} × {row['rows']:,}"


def _peers_run(row: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The peers measured on a case (a skipped one has no macro-F1)."""
    return {name: peer for name, peer in row.get("peers", {}).items() if "macro_f1" in peer}


def _coverage_at(row: dict[str, Any], target: float) -> str:
    """The test coverage at the leaf operating point of `target` precision, or – when not recorded."""
    points = [p for p in row.get("operating_points", []) if p["target_precision"] == target and p["level"] == "leaf"]
    return _share(points[0]["test_coverage"]) if points else "–"


def _measured_with_peers(row: dict[str, Any]) -> str:
    """Where the row was measured, and where its peers were when an earlier run on the same split measured them."""
    earlier = row.get("peers_measured_on")
    return measured(row) + (f"; peers: {measured(earlier)}" if earlier else "")


def peers_table() -> str:
    """Ours beside its linear baseline, fastText and TF-IDF + LinearSVC on the same test rows, with calibration and
    the share a team could file at 99 % precision; then what each costs to fit, store and ask."""
    rows = _peer_cases()
    if not rows:
        return "Not measured yet: `make benchmark-training` and `make benchmark-categories` write them."
    quality, cost = [], []
    for r in rows:
        case, peers = _peer_case(r), _peers_run(r)
        fasttext, svc = peers.get("fasttext"), peers.get("tfidf_linearsvc")
        best_peer = max((p["macro_f1"] for p in (fasttext, svc) if p), default=None)
        ece = f"{r['ece_before']:.4f} / {r['ece_after']:.4f}" if "ece_after" in r else "–"
        quality.append([case, f"{r['macro_f1']:.4f}", f"{r['baseline_macro_f1']:.4f}",
                        f"{fasttext['macro_f1']:.4f}" if fasttext else "–", f"{svc['macro_f1']:.4f}" if svc else "–",
                        f"{r['macro_f1'] - best_peer:+.4f}" if best_peer is not None else "–", ece,
                        _coverage_at(r, 0.99), _measured_with_peers(r)])  # fmt: skip
        ours_ms = r.get("p50_ms", r.get("single_row_p50_ms"))
        cost.append([case, f"{r['train_seconds']:.0f} / {r['onnx_mb']} / {ours_ms if ours_ms is not None else '–'}",
                     *(f"{p['fit_seconds']:.0f} / {p['model_mb']} / {p['single_row_p50_ms']}" if p else "–"
                       for p in (fasttext, svc))])  # fmt: skip
    header = ["case", "ours", "its linear baseline", "fastText", "TF-IDF + LinearSVC", "ours − best peer",
              "ECE before / after", "test coverage at 99 % precision", "measured (commit, date, machine)"]  # fmt: skip
    costs = ["case", "ours: fit s / ONNX MB / single-row ms", "fastText: fit s / MB / ms",
             "TF-IDF + LinearSVC: fit s / MB / ms"]  # fmt: skip
    return table(header, quality) + "\n\n" + table(costs, cost) + footnote(rows)


def peer_targets() -> list[tuple[str, str, bool | None]]:
    """Issue 28: ours ahead of fastText and TF-IDF + LinearSVC on every case where they ran."""
    found: list[tuple[str, str, bool | None]] = []
    for r in _peer_cases():
        peers = {name: peer["macro_f1"] for name, peer in _peers_run(r).items()}
        if peers:
            case = _peer_case(r) if r["case"] == "pricerunner" else f"categories {_peer_case(r)}"
            best = max(peers, key=peers.__getitem__)
            figure = f"{r['macro_f1']:.4f} vs {peers[best]:.4f} ({best})"
            found.append(
                (f"{case}: macro-F1 above fastText and TF-IDF + LinearSVC", figure, r["macro_f1"] > peers[best])
            )
    return found


def api_example(kind: str) -> str:
    """A JSON answer of the function for docs/api.md, from the categories benchmark's largest case with examples."""
    cases = [r for r in _category_cases() or [] if r.get("examples")]
    if not cases:
        return "Not measured yet: `make benchmark-categories` records the function's own answers."
    r = cases[-1] if kind != "explain" else max(cases, key=lambda c: c["categories"] == 1_000)
    wanted = ("category", "ancestor", "review") if kind == "decision" else ("explained",)
    blocks = []
    for name in wanted:
        if name in r["examples"]:
            example = r["examples"][name]
            blocks.append(f"`POST /predict` {json.dumps(example['request'], ensure_ascii=False)}:\n\n```json\n"
                          f"{json.dumps(example['answer'], indent=1, ensure_ascii=False)}\n```")  # fmt: skip
    return (
        "\n\n".join(blocks) + f"\n\nFrom the {r['categories']:,}-category model of `make benchmark-categories` "
        f"({measured(r)})."
    )


def _wilson(share: float, rows: int) -> tuple[float, float]:
    """The 95 % Wilson interval of a share measured on `rows` rows."""
    if rows == 0:
        return 0.0, 1.0
    z = 1.96
    centre = (share + z * z / (2 * rows)) / (1 + z * z / rows)
    spread = z * ((share * (1 - share) / rows + z * z / (4 * rows * rows)) ** 0.5) / (1 + z * z / rows)
    return max(0.0, centre - spread), min(1.0, centre + spread)


def _share(value: float | None) -> str:
    """A share as a percentage, or – when there is none."""
    return "–" if value is None else f"{value:.2%}"


def taxonomy_targets() -> list[tuple[str, str, bool | None]]:
    """Issue 27's targets on each real taxonomy's case."""
    found: list[tuple[str, str, bool | None]] = []
    floor, seconds, megabytes = TAXONOMY_TARGETS
    # As the categories' targets: a forced variant (`:flat`, `:tree`) is a comparison, not the product.
    for r in [r for r in _taxonomy_cases() if not _forced_design(r)]:
        if "error" in r:
            found.append((f"{r['case']}: the run completes", f"failed: {r['error']}", False))
            continue
        found += [
            (f"{r['case']}: held-out macro-F1 ≥ {floor} over every class with held-out rows",
             f"{r['heldout_macro_f1']:.4f} over {r['heldout_classes']:,} classes", r["heldout_macro_f1"] >= floor),
            (f"{r['case']}: training ≤ {seconds // 60} min, peak RSS ≤ {megabytes // 1000} GB",
             f"{r['wall_seconds'] / 60:.1f} min, {r['peak_rss_mb']:,} MB",
             r["wall_seconds"] <= seconds and r["peak_rss_mb"] <= megabytes),
            (f"{r['case']}: parity 100 % labels and max abs Δp ≤ 1e-5",
             f"{r['parity_label_agreement']:.2%} / {r['parity_max_abs_diff']:.1e}",
             r["parity_label_agreement"] >= PARITY_LABELS and r["parity_max_abs_diff"] <= PARITY_MAX_DIFF),
        ]  # fmt: skip
    return found


def _calibration(r: dict[str, Any]) -> str:
    """How a result's confidence was calibrated, for its ECE target: a temperature of 1 is none (validation found the
    raw scores as good), and its ECE before and after are one figure."""
    if r.get("temperature") == 1.0:
        return "not recalibrated: validation kept the temperature at 1"
    return f"calibrated; {r['ece_before']:.4f} before"


def targets() -> list[tuple[str, str, bool | None]]:
    """Every target with the figure it is judged on and whether it is met (None: not established)."""
    found: list[tuple[str, str, bool | None]] = []
    cases = {r["case"]: r for r in load("training")["results"] if "error" not in r}
    if (r := cases.get("pricerunner")) is not None:
        found += [
            ("PriceRunner macro-F1 ≥ 0.990 (test split)", f"{r['macro_f1']:.4f}", r["macro_f1"] >= 0.990),
            ("`make train` on PriceRunner ≤ 60 s wall", f"{r['wall_seconds']} s ({r['train_seconds']} s fitting)",
             r["wall_seconds"] <= 60),
            ("PriceRunner ONNX ≤ 20 MB", f"{r['onnx_mb']} MB", r["onnx_mb"] <= 20),
        ]  # fmt: skip
    if (r := cases.get("pricerunner")) is not None and "ece_after" in r:
        found.append((f"PriceRunner ECE ≤ {ECE_TARGET} on test ({_calibration(r)})",
                      f"{r['ece_after']:.4f}", r["ece_after"] <= ECE_TARGET))  # fmt: skip
    if (r := cases.get("synthetic-10k")) is not None:
        found.append(("synthetic 10k ≤ 60 s wall", f"{r['wall_seconds']} s", r["wall_seconds"] <= 60))
    if (r := cases.get("synthetic-1m")) is not None:
        found.append(("synthetic 1,000,000 rows ≤ 15 min wall, peak RSS ≤ 8 GB",
                      f"{r['wall_seconds'] / 60:.1f} min, {r['peak_rss_mb']:,} MB",
                      r["wall_seconds"] <= 900 and r["peak_rss_mb"] <= 8000))  # fmt: skip
    found += _engine_gaps(cases) + _reranker_memory(cases)
    worst = [r for r in cases.values() if "parity_label_agreement" in r]
    if worst:
        labels = min(r["parity_label_agreement"] for r in worst)
        diff = max(r["parity_max_abs_diff"] for r in worst)
        found.append(("parity 100 % labels and max abs Δp ≤ 1e-5 (every training case)", f"{labels:.0%} / {diff:.1e}",
                      labels >= PARITY_LABELS and diff <= PARITY_MAX_DIFF))  # fmt: skip
    quality = load("quality_splits").get("configured")
    if quality:
        own = next(run["macro_f1"] for run in quality["runs"] if run["seed"] == 42)
        found.append(("PriceRunner macro-F1 ≥ 0.990 on the project's split and as the mean of the grouped splits",
                      f"{own:.4f}, mean {quality['macro_f1_mean']:.4f} (min {quality['macro_f1_min']:.4f})",
                      own >= 0.990 and quality["macro_f1_mean"] >= 0.990))  # fmt: skip
        gain = quality["macro_f1_mean"] - quality["linear_macro_f1_mean"]
        found.append(("PriceRunner, mean of the grouped splits: macro-F1 ≥ 0.992 and ≥ its linear baseline + 0.002",
                      f"{quality['macro_f1_mean']:.4f}, baseline {quality['linear_macro_f1_mean']:.4f} ({gain:+.4f})",
                      quality["macro_f1_mean"] >= 0.992 and gain >= 0.002 - 1e-9))  # fmt: skip
    handler = load("handler")["ours"]
    found += [(f"serving: {label} ≤ {target}", f"{handler[key]:.{digits}f}", handler[key] <= target)
              for label, key, target, digits in HANDLER_ROWS]  # fmt: skip
    cold = load("cold_start")
    ratio = cold["handler_over_stack_floor"]
    found.append(("cold start ≤ 1.0 × the stack floor", f"{ratio:.3f}×", ratio <= 1.0))
    worst_case = max(worst_case_reports(), key=lambda report: report["worst_seconds_projected_on_lambda"])
    projected = worst_case["worst_seconds_projected_on_lambda"]
    found.append(("costliest accepted request within the Lambda timeout",
                  f"{projected} s projected of {worst_case['lambda_timeout_s']} s ({worst_case['config']})",
                  projected < worst_case["lambda_timeout_s"]))  # fmt: skip
    soak = load("soak")
    found.append(("soak: no 5xx or failed request", f"{soak['server_errors']} of {soak['requests']:,}",
                  soak["server_errors"] == 0))  # fmt: skip
    return found + category_targets() + taxonomy_targets() + peer_targets()


def targets_table() -> str:
    """The targets, each met or missed from the result files."""
    cells = [[target, figure, verdict(met)] for target, figure, met in targets()]
    return table(["target", "measured", "verdict"], cells)


def verdict(met: bool | None) -> str:
    """Met, missed, or not established."""
    return "not established" if met is None else ("**met**" if met else "**missed**")


TABLES = {
    "training": training_table,
    "engines": engines_table,
    "handler": handler_table,
    "cold-start": cold_start_table,
    "quality-splits": quality_splits_table,
    "feature-variants": feature_variants_table,
    "parity-sweep": parity_sweep_table,
    "worst-case": worst_case_table,
    "text-fold": text_fold_table,
    "soak": soak_table,
    "predict": predict_table,
    "bulk-scoring": bulk_scoring_projection,
    "dask-projection": dask_projection,
    "categories": categories_table,
    "taxonomies": taxonomies_table,
    "operating-points": operating_points_table,
    "peers": peers_table,
    "api-decision": lambda: api_example("decision"),
    "api-explain": lambda: api_example("explain"),
    "targets": targets_table,
}


def documents() -> list[Path]:
    """README.md and the docs pages, where marked tables may sit."""
    return [path for pattern in DOCUMENTS for path in sorted(ROOT.glob(pattern))]


def marked_tables(text: str) -> list[tuple[str, str]]:
    """Every `<!-- report:NAME -->` block of a document: its name and its body."""
    return [(match["name"], match["body"]) for match in MARKED.finditer(text)]


def rendered(text: str) -> str:
    """The document with every marked block re-rendered from the result files.

    Raises:
        KeyError: A marker names no table.
    """
    return MARKED.sub(lambda m: m.group(1) + TABLES[m["name"]]() + "\n<!-- /report -->", text)


def _reranker_memory(cases: dict[str, dict[str, Any]]) -> list[tuple[str, str, bool | None]]:
    """Issue 30: the Dask re-ranker at scale stays within DASK_WORKER_GB per worker and DASK_DRIVER_GB on the driver."""
    found: list[tuple[str, str, bool | None]] = []
    for name, r in cases.items():
        if name.startswith("taxonomy-") and name.endswith("-dask") and r.get("worker_peak_rss_mb"):
            worst = max(r["worker_peak_rss_mb"])
            met = worst <= DASK_WORKER_GB * 1024 and r["peak_rss_mb"] <= DASK_DRIVER_GB * 1024
            found.append((f"{name}: ≤ {DASK_WORKER_GB} GB per worker, ≤ {DASK_DRIVER_GB} GB driver",
                          f"workers {worst:,} MB at most, driver {r['peak_rss_mb']:,} MB", met))  # fmt: skip
    return found


def _engine_gaps(cases: dict[str, dict[str, Any]]) -> list[tuple[str, str, bool | None]]:
    """Dask against local: judged only when both engines were scored on the same rows."""
    found: list[tuple[str, str, bool | None]] = []
    pairs = [("pricerunner-dask", "pricerunner", 0.003)]
    pairs += [(name, name.replace("-dask", "-local"), 0.005) for name in cases
              if name.startswith(("synthetic-", "taxonomy-")) and name.endswith("-dask")
              and name.replace("-dask", "-local") in cases]  # fmt: skip
    for dask, local, tolerance in pairs:
        if dask not in cases or local not in cases:
            continue
        target = f"`ENGINE=dask` within {tolerance} macro-F1 of `ENGINE=local` ({dask})"
        shared = cases[dask].get("same_split")
        if shared:
            gap = shared["difference"]
            interval = f"95 % CI {shared['ci_low']:+.4f} … {shared['ci_high']:+.4f}"
            figure = f"{gap:+.4f} on {shared['rows']:,} shared test rows ({interval})"
            found.append((target, figure, abs(gap) <= tolerance))
        else:
            gap = cases[dask]["macro_f1"] - cases[local]["macro_f1"]
            found.append((target, f"{gap:+.4f}, but on different test splits (needs a re-run)", None))
    return found


def main() -> None:
    """Print every table and the targets, or update the marked tables in place."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="re-render the marked tables in README.md and docs/")
    args = parser.parse_args()
    if args.write:
        for path in documents():
            text = path.read_text()
            if (new := rendered(text)) != text:
                path.write_text(new)
                print(f"updated {path.relative_to(ROOT)}")
        return
    for name, render in TABLES.items():
        print(f"## {name}\n\n{render()}\n")


if __name__ == "__main__":
    main()
