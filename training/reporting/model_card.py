"""The model card: a Markdown page per trained model, filled from the run's own numbers.

Every figure on it comes from the run that produced the model (metrics, split sizes, data report, parity
gate); nothing is written by hand, so the card cannot drift from the model it describes.
"""

from __future__ import annotations

import json
import math
import shlex
from collections import Counter
from typing import TYPE_CHECKING, Any

from training.data.report import LISTED_CLASSES, class_summary
from training.model.calibration import MIN_ACCEPTED_ROWS, MIN_CALIBRATION_ROWS
from training.model.margin import TITLE_ALONE
from training.reporting.confidence import DECISION, accepts_nothing
from training.reporting.markdown import markdown_table

if TYPE_CHECKING:
    from collections.abc import Iterable

    from training.config import TrainConfig
    from training.data.report import DataReport
    from training.data.tail import TailPlan
    from training.model.parity import ParityReport

TOP_CONFUSIONS = 8
# A size band scoring below this macro-F1 is named among the known limits.
WEAK_BAND_F1 = 0.8
# Answer kinds of the coverage table with an accuracy (the root is always right).
_KINDS = ("leaf", "intermediate", "department")


def confusion_highlights(labels: Iterable[str], predicted: Iterable[str], *, top: int = TOP_CONFUSIONS) -> list[dict]:
    """The most frequent (true → predicted) mistakes on the test split."""
    mistakes = Counter((str(t), str(p)) for t, p in zip(labels, predicted, strict=True) if t != p)
    return [{"true": t, "predicted": p, "count": n} for (t, p), n in mistakes.most_common(top)]


def render_model_card(
    *,
    config: TrainConfig,
    metadata: dict[str, Any],
    summary: dict[str, Any],
    per_class: dict[str, dict[str, float]],
    confusions: list[dict],
    parity: ParityReport,
    report: DataReport,
    levels: dict[str, Any],
    bands: list[dict[str, Any]],
    tail: TailPlan,
    confidence: dict[str, Any],
) -> str:
    """The card's Markdown.

    Args:
        config: The resolved training config.
        metadata: The metadata embedded in the graph (version, classes, inputs, example...).
        summary: The run summary (metrics, baseline, split sizes, timings).
        per_class: Precision, recall, F1 and support per class on the test split.
        confusions: `confusion_highlights` of the test split.
        parity: The parity gate's report.
        report: The data-quality report of the training data.
        levels: `training.reporting.levels.evaluate_levels` of the test split.
        bands: `training.reporting.evaluate.size_bands` of the test split.
        tail: What the small-class policy did.
        confidence: `training.reporting.confidence.confidence_report` (calibration and operating points).
    """
    data = metadata["training_data"]
    sections = [
        f"# Model card: {config.registered_name} {metadata['model_version']}",
        "## Intended use\n"
        f"Assigns a product listing to one of {len(metadata['classes'])} categories from its raw catalogue fields "
        f"({_read_fields(metadata, config.data.text, summary.get('shipped'))}), for routing new listings into a "
        "catalogue taxonomy. Answers carry a confidence: route low-confidence listings to a person. Not for categories "
        "outside the list below, nor for listings in languages or markets absent from the training data.",
        "## Training data\n"
        f"- source: `{data['source']}` (sha256 `{data['sha256']}`), config `{config.name}`\n"
        f"- rows: {report.rows_in} in, {report.rows_out} kept (dropped: {_inline(report.dropped)})"
        + (f", of the first {report.first_rows:,} rows the data report read" if report.first_rows else "")
        + "\n"
        f"- trained: {metadata['created_at']} (MLflow run `{metadata.get('mlflow_run_id', '-')}`)\n"
        f"- classes: {class_summary(report.trained_class_counts)}"
        + (
            f"\n- corrections: {summary['corrections']} reviewed listings from production (`make train "
            "CORRECTIONS=`), all in train: the test figures below are the catalogue's own held-out products"
            + (
                f"; {summary['corrections_dropped_held_out']} more were left out, their inputs being a held-out "
                "listing's"
                if summary.get("corrections_dropped_held_out")
                else ""
            )
            + (
                f"; {summary['corrections_dropped_small_classes']} more left with their class, which "
                "`split.small_classes: drop` took out of the run"
                if summary.get("corrections_dropped_small_classes")
                else ""
            )
            if summary.get("corrections")
            else ""
        ),
        "## Split\n"
        + (
            f"Grouped by `{config.data.group}` (no `{config.data.group}` has rows in both training and test"
            + (
                f"; the {report.rows_without_product} rows without one by their title"
                if report.rows_without_product
                else ""
            )
            + "), "
            if config.data.group
            else "Grouped by title (no `data.group`: the rows of one title, up to case and spacing, are one product), "
        )
        + f"each product dealt its split by a hash of its id (seed {config.split.seed}), so adding or removing "
        f"products never moves another: train {summary['n_train']}, validation {summary['n_validation']}, "
        f"test {summary['n_test']} rows. {tail.describe()}.",
        "## Features\n" + "\n".join(f"- {line}" for line in _features(config, summary)),
        "## Metrics (test split)\n"
        f"- macro-F1 **{summary['macro_f1']:.4f}** over the {summary['classes_evaluated']} classes with test rows, "
        f"accuracy {summary['accuracy']:.4f}, log-loss {summary['log_loss']:.4f}\n"
        f"- classes learnt {summary['classes_learnt']}; learnt but not evaluated (no test rows) "
        f"{summary['classes_not_evaluated']}\n"
        f"- linear title model alone (same run, baseline): macro-F1 {summary['baseline_macro_f1']:.4f}, "
        f"accuracy {summary['baseline_accuracy']:.4f}\n\n" + _per_class_table(per_class),
        "## Quality by class size (test split)\n" + _bands_section(bands),
        "## Confidence you can threshold\n"
        + confidence_section(confidence, not_evaluated=summary.get("classes_not_evaluated", 0)),
        "## Per level of the category path (test split)\n" + _levels_section(levels),
        "## Most frequent confusions (test split)\n"
        + (
            markdown_table(["true", "predicted", "rows"], [[c["true"], c["predicted"], c["count"]] for c in confusions])
            if confusions
            else "None."
        ),
        "## Parity (ONNX graph vs Python pipeline)\n"
        f"{parity.rows} rows ({parity.adversarial_rows} adversarial): {parity.label_agreement:.2%} labels agree, "
        f"max |Δp| {parity.max_abs_diff:.1e}, {parity.path_agreement:.2%} category paths agree, max |Δ path "
        f"confidence| {parity.path_max_abs_diff:.1e} (tolerance {parity.tolerance:.0e}); {parity.code_points} Unicode "
        f"code points lowered and tokenised alike: {'yes' if not parity.mismatched_code_points else 'NO'}.",
        "## Known limits\n" + "\n".join(f"- {line}" for line in _limits(confusions, report, bands, tail)),
        "## Input schema\n"
        + markdown_table(
            ["field", "type", "required", "default"],
            [
                [s["name"], s["type"], "yes" if s.get("required") else "no", repr(s.get("default"))]
                for s in metadata["inputs"]
            ],
        ),
        f"## Calling the API\n```bash\n{curl_example(metadata.get('example') or {})}\n```\n"
        'Batches: `POST /predict/batch` with `{"items": [...]}`. The deployed API needs SigV4 (AuthMode IAM) or a '
        'bearer token (AuthMode JWT); see the README\'s "Operate" and docs/operating.md.',
    ]
    return "\n\n".join(sections) + "\n"


def _read_fields(metadata: dict[str, Any], title: str, shipped: str | None) -> str:
    """The fields the shipped model answers from: every input, or the title alone when the trees over the others
    were dropped (the API still takes them)."""
    names = [spec["name"] for spec in metadata["inputs"]]
    others = [name for name in names if name != title]
    if shipped != TITLE_ALONE or not others:
        return ", ".join(names)
    return f"{title} alone: the trees over {', '.join(others)} lowered validation macro-F1 and were dropped"


def curl_example(example: dict[str, Any]) -> str:
    """A curl call of `POST /predict` with the model's example row, quoted for the shell (titles hold
    apostrophes: "Men's T-Shirt")."""
    return (
        "curl -s -X POST \"$API_URL/predict?top_k=3\" -H 'content-type: application/json' \\\n"
        f"  -d {shlex.quote(json.dumps(example))}"
    )


def _features(config: TrainConfig, summary: dict[str, Any]) -> list[str]:
    """The feature blocks and model, as configured and as the run decided: the design (`candidates` > 0 for the
    re-ranker), its title fit, what shipped."""
    features, data = config.features, config.data
    candidates, shipped = summary.get("candidates", 0), summary.get("shipped")
    chars = f"character {features.char_ngrams[0]}–{features.char_ngrams[1]}-grams" if features.char_ngrams else None
    lines = [
        f"title → hashed word 1–{features.word_ngram_max}-grams"
        + (f" and {chars}" if chars else "")
        + f" ({features.text_buckets} buckets each), TF-IDF, linear SVM (C={features.svm_c}) scores, "
        f"out-of-fold ({features.stacking_folds} folds) for LightGBM",
    ]
    if data.training_text:
        lines.append(f"extra training text for the title model: {', '.join(data.training_text)} (training groups only)")
    lines += [f"{name}: hashed one-hot ({features.hash_buckets} buckets)" for name in data.hashed]
    if data.brand_from_title:
        lines.append("brand proxy: the title's first word, hashed")
    if data.brand_price_cross:
        lines.append(f"{data.brand_price_cross[0]} × {data.brand_price_cross[1]} band ({features.price_bands} bands)")
    lines += [f"{name}: the number itself (missing stays missing)" for name in data.numeric]
    rounds = f"up to {config.model.n_estimators} rounds, early stopping on validation"
    if not candidates:
        lines.append(f"LightGBM multiclass boosted from the title model's scaled scores, {rounds}; shipped: {shipped}")
        return lines
    tree = summary.get("title_fit", features.title_fit) == "tree"
    fit = "one SVM per node of the category tree" if tree else "one-vs-rest over every class"
    lines.append(
        f"candidate re-ranker: the title SVM ({fit}; {features.weights_per_bucket} weights kept per n-gram bucket) "
        f"proposes {candidates} categories, one binary LightGBM re-scores them from features relative to each, "
        f"{rounds}"
    )
    return lines


def _limits(confusions: list[dict], report: DataReport, bands: list[dict[str, Any]], tail: TailPlan) -> list[str]:
    """What the run's own numbers say the model gets wrong or cannot know."""
    lines = [f"confuses {c['true']} with {c['predicted']} ({c['count']} test rows)" for c in confusions[:3]]
    weak = [band for band in bands if band["macro_f1"] is not None and band["macro_f1"] < WEAK_BAND_F1]
    lines += [f"classes with {band['band']} score macro-F1 {band['macro_f1']:.2f} on test" for band in weak]
    conflicts = report.conflicting_titles
    if conflicts.get("titles"):
        lines.append(
            f"label noise: {conflicts['titles']} identical titles carry different labels in the training data "
            f"({conflicts['rows']} rows)"
        )
    lines += [f"label spellings that look like one class: {sorted(v['labels'])}" for v in report.label_variants[:3]]
    if report.small_classes:
        smallest = sorted(report.small_classes.items(), key=lambda item: item[1])[:3]
        named = ", ".join(f"{label!r} ({count})" for label, count in smallest)
        lines.append(
            f"{len(report.small_classes)} classes have fewer than {tail.min_products} products (e.g. {named}): their "
            "answers are learnt from a handful of listings and not measured on held-out ones"
        )
    lines.append("titles made only of a brand and a model code carry little category evidence")
    return lines


def _per_class_table(per_class: dict[str, dict[str, float]]) -> str:
    """Every class's scores, or with many classes the worst by F1 (metrics.json keeps them all)."""
    rows = list(per_class.items())
    note = ""
    if len(rows) > LISTED_CLASSES:
        rows = sorted(rows, key=lambda item: (item[1]["f1-score"], item[0]))[:LISTED_CLASSES]
        note = f"\n\nThe {LISTED_CLASSES} classes with the lowest F1 of {len(per_class)}; all of them: `metrics.json`."
    table = markdown_table(
        ["class", "precision", "recall", "F1", "support"],
        [
            [label, f"{m['precision']:.4f}", f"{m['recall']:.4f}", f"{m['f1-score']:.4f}", int(m["support"])]
            for label, m in rows
        ],
    )
    return table + note


def confidence_section(report: dict[str, Any], *, not_evaluated: int = 0) -> str:
    """The card's calibration before and after, candidate recall, and the operating points a team can file at.

    Args:
        report: `training.reporting.confidence.confidence_report` of the run.
        not_evaluated: The classes learnt without test rows, whose answers these figures cannot include.
    """
    none = "" if report["none_logit"] is None else f', a "none of the candidates" logit {report["none_logit"]:.2f}'
    lead = ""
    if report["lead_knots"]:
        pairs = zip(report["lead_knots"], report["lead_log_scales"], strict=True)
        scales = ", ".join(f"{knot:g} → {value:+.3f}" for knot, value in pairs)
        lead = f" and each row's logits scaled by exp(s) of its lead over the runner-up (lead in nats → s: {scales})"
    calibrated = report["temperature"] != 1.0 or bool(lead)
    how = f"Calibrated on validation by a temperature of {report['temperature']:.3f}{none}{lead}, inside the graph."
    if not calibrated:
        how = (
            f"Left uncalibrated{none.replace(', a', ' but for a', 1)}: a temperature fitted on half the validation "
            "rows did not calibrate the other half better, or there were too few to fit one (fewer than "
            f"{MIN_CALIBRATION_ROWS}, or all right or all wrong)."
        )
    before, after = f"{report['ece_before']:.4f}", f"{report['ece_after']:.4f}"
    worse = ""
    if calibrated and float(after) > float(before):
        worse = (
            " **The calibration raised the test calibration error:** what it learnt on the validation split did not "
            "carry to test; more validation products (a larger catalogue) make it hold."
        )
    head = (
        f"{how} Test split: expected calibration error (top label, equal-mass bins) {before} before, **{after}** "
        f"after;{worse} log loss {report['log_loss_before']:.4f} before, "
        f"{report['log_loss_after']:.4f} after{_candidates(report)} (`reliability.png`).\n\n"
        "Operating points: the lowest confidence at which the answers were right at least the target share of the "
        "time on validation, and what that threshold gives on test — the share of listings a team could file "
        "without review, and how often those are right. With path labels an answer below the category's threshold "
        "is accepted at the deepest level of its path that reaches that level's threshold, each chosen on the "
        "answers left to it; `decision` is the whole rule's. `GET /model` lists them; a request's `decision` uses "
        "them."
    )
    if accepts_nothing(report["operating_points"]):
        head += (
            " **No operating point accepts anything:** at no threshold were enough validation answers (at least "
            f"{MIN_ACCEPTED_ROWS}) right often enough, so every answer is sent to review. More validation products "
            "(a larger catalogue) give the thresholds something to stand on."
        )
    rows = [
        [point["level"], f"{point['target_precision']:.2f}",
         "-" if point["threshold"] is None else f"{point['threshold']:.4f}",
         f"{point['test_coverage']:.1%}", _test_precision(point)]
        for point in report["operating_points"]
        if point["level"] == "leaf" or point["threshold"] is None or point["threshold"] <= 1
    ]  # fmt: skip
    header = ["answer", "target precision", "threshold", "test coverage", "test precision"]
    levels = any(point["level"] == DECISION for point in report["operating_points"])
    left_out = " Path levels that accept nothing are left out." if levels else ""
    if not_evaluated:
        left_out += (
            f" **These figures leave out the {not_evaluated} classes learnt without held-out rows** (fewer than "
            "`split.min_class_products` products): a new listing of theirs is accepted at the same thresholds, at a "
            'precision no split measured ("Quality by class size" above says how the smallest evaluated classes '
            "fare)."
        )
    return head + left_out + "\n\n" + markdown_table(header, rows)


def _candidates(report: dict[str, Any]) -> str:
    """How often the re-ranker's candidates held the true class ("" for the multiclass design, which scores every
    class: its recall is 1 by construction)."""
    if report["candidate_recall"] >= 1 and report["none_logit"] is None:
        return ""
    recall = f"; the true class is among the candidates for {report['candidate_recall']:.2%} of the rows"
    missed = 1 - report["candidate_recall"]
    if missed <= 0:
        return recall
    # Such a row's own class has probability 0, clipped to float64's eps (2**-52) as scikit-learn's log loss does.
    nats = 52 * math.log(2)
    return f"{recall}, and each of the others adds {nats:.0f} nats to the log loss ({missed * nats:.2f} of it)"


def _test_precision(point: dict[str, Any]) -> str:
    """An operating point's test precision, marked when it falls short of its target: the threshold was set on
    validation rows, and a few hundred of them set it loosely."""
    precision = point["test_precision"]
    if precision is None:
        return "-"
    # A back-off level decides a few leftover rows: its own shortfall is noise unless the whole decision's shows it.
    short = precision < point["target_precision"] and point["level"] in ("leaf", DECISION)
    return f"{precision:.2%}" + (" (below target on test)" if short else "")


def _bands_section(bands: list[dict[str, Any]]) -> str:
    """Classes, how many were evaluated, test rows and macro-F1 per band of products per class."""
    rows = [
        [band["band"].removesuffix(" products"), band["classes"], band["classes_evaluated"], band["test_rows"],
         "-" if band["macro_f1"] is None else f"{band['macro_f1']:.4f}"]
        for band in bands
    ]  # fmt: skip
    table = markdown_table(["products per class", "classes", "evaluated", "test rows", "macro-F1"], rows)
    return (
        f"{table}\n\nA class with no test rows (fewer products than `split.min_class_products`, or none drawn for "
        "test) is learnt from every row it has but cannot be measured here."
    )


def _levels_section(levels: dict[str, Any]) -> str:
    """Scores per level, hierarchical F1 and the min_confidence coverage table: one row per level and threshold,
    bounded whatever the number of classes."""
    per_level = markdown_table(
        ["level", "nodes", "rows", "accuracy", "macro-F1"],
        [
            [s["level"], s["nodes"], s["rows"]]
            + ["-" if s[key] is None else f"{s[key]:.4f}" for key in ("accuracy", "macro_f1")]
            for s in levels["per_level"]
        ],
    )
    coverage = markdown_table(
        ["min_confidence", "leaf", "intermediate", "department", "root", "accuracy of the answered"],
        [
            [f"{p['min_confidence']:.2f}"]
            + [f"{p[f'{kind}_share']:.1%}" + _accuracy(p.get(f"{kind}_accuracy")) for kind in _KINDS]
            + [f"{p['root_share']:.1%}", "-" if p["answered_accuracy"] is None else f"{p['answered_accuracy']:.1%}"]
            for p in levels["coverage"]
        ],
    )
    return (
        f"{per_level}\n\nHierarchical precision {levels['hierarchical_precision']:.4f}, recall "
        f"{levels['hierarchical_recall']:.4f}, F1 **{levels['hierarchical_f1']:.4f}** (shared ancestors of the "
        "predicted and the true category).\n\nWhat a request with `min_confidence` gets: the share of listings "
        "answered at each kind of node (and how often that answer lies on the true path):\n\n" + coverage
    )


def _accuracy(value: float | None) -> str:
    """` (97.1 % right)`, or nothing when no row was answered that way."""
    return "" if value is None else f" ({value:.1%} right)"


def _inline(counts: dict[str, Any]) -> str:
    """`a 3 · b 5` for a small dict."""
    return " · ".join(f"{key} {value}" for key, value in counts.items())
