"""Two models on the same rows: paired bootstrap intervals of the difference, McNemar's test, per-class gains.

Used by `make compare` (training/cli/compare.py) and by the champion/challenger gate of `make train`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from scipy.stats import binomtest
from sklearn.metrics import f1_score

from training.config import SplitConfig
from training.exceptions import TrainingError
from training.model.metadata import deals_whole_rows, products_named_by, split_record
from training.model.parity import run_onnx
from training.reporting.markdown import markdown_table

if TYPE_CHECKING:
    import pandas as pd

    from training.config import DataConfig, TrainConfig

BOOTSTRAP_RESAMPLES = 1000
CONFIDENCE = 0.95
DISAGREEMENTS_SHOWN = 20
# A model that knows the labels of fewer of the rows than this was trained on another catalogue.
MIN_KNOWN_LABELS = 0.5


logger = logging.getLogger(__name__)


class IncomparableModelsError(TrainingError):
    """Two models cannot be compared on these rows: one takes other inputs, or knows another catalogue's classes."""


def score_model(model_bytes: bytes, frame: pd.DataFrame, config: DataConfig, *, name: str) -> np.ndarray:
    """The graph's labels for `frame`.

    Raises:
        IncomparableModelsError: The graph takes inputs these rows do not have.
    """
    try:
        graph = onnx.load_model_from_string(model_bytes).graph
    except DecodeError as exc:
        raise IncomparableModelsError(
            f"model {name} is not an ONNX model (pass a model.onnx `make train` wrote)"
        ) from exc
    inputs = {node.name for node in graph.input}
    numeric = {node.name for node in graph.input if node.type.tensor_type.elem_type != onnx.TensorProto.STRING}
    if inputs != set(config.columns) or numeric != set(config.numeric):
        raise IncomparableModelsError(
            f"model {name} takes inputs {sorted(inputs)} (numeric: {sorted(numeric)}), not the config's "
            f"{sorted(config.columns)} (numeric: {sorted(config.numeric)}): compare it with the config it was "
            "trained with"
        )
    labels, _ = run_onnx(model_bytes, frame, config)
    return labels.astype(str)


def check_knows_labels(metadata: dict[str, Any], labels: np.ndarray, *, name: str) -> None:
    """A model must know most of the rows' labels: one of another catalogue (the default synthetic rows against a
    1,000-category model, say) scores near zero, and the comparison would read as a verdict on it.

    Raises:
        IncomparableModelsError: The model's classes hold the labels of fewer than `MIN_KNOWN_LABELS` of the rows.
    """
    unknown = _unknown_to(metadata, labels)
    if _too_few_known(unknown):
        raise IncomparableModelsError(
            f"model {name} knows the labels of only {1 - unknown.mean():.0%} of these {len(labels):,} rows (none of "
            f"{_examples(labels, unknown)}): it was trained on another catalogue. Pass the DATA (and CONFIG) it was "
            "trained on, or for a synthetic one the same ROWS, CATEGORIES, TAXONOMY and split.seed"
        )
    if unknown.any():
        logger.warning(
            "model %s does not know the labels of %d of %d rows (classes added since it trained?)",
            name, int(unknown.sum()), len(labels),
        )  # fmt: skip


def check_same_taxonomy(metadata: dict[str, dict[str, Any]], answers: dict[str, np.ndarray]) -> None:
    """Unlabelled rows are compared by agreement alone, which means something only between models of one taxonomy:
    a model that does not have the classes the other answers with disagrees on those rows whatever it learned.

    Args:
        metadata: Each model's metadata, by name (A, B).
        answers: Each model's labels of the same rows, by name.

    Raises:
        IncomparableModelsError: A model has the classes of fewer than `MIN_KNOWN_LABELS` of the other's answers.
    """
    for name, other in (("B", "A"), ("A", "B")):
        check_knows_answers(metadata[name], answers[other], name=f"model {name}", other=f"model {other}")


def check_same_classes(metadata: dict[str, dict[str, Any]]) -> None:
    """Models compared on labelled rows must answer the same classes: each would otherwise be scored on classes it
    cannot answer, and the verdict would measure the taxonomies (the train-time champion comparison refuses so too).

    Raises:
        IncomparableModelsError: Their classes differ.
    """
    only_a, only_b = (sorted(set(metadata[one]["classes"]) - set(metadata[other]["classes"])) for one, other in
                      (("A", "B"), ("B", "A")))  # fmt: skip
    if only_a or only_b:
        raise IncomparableModelsError(
            f"models A and B answer other classes (only A: {len(only_a)}, e.g. {only_a[:3]}; only B: {len(only_b)}, "
            f"e.g. {only_b[:3]}): each would be scored on classes it cannot answer. Compare models of one taxonomy "
            "(on captured traffic, DATA=<capture>, how often they agree is measured on every listing, as long as "
            "each knows most of the other's answers)"
        )


def check_knows_answers(metadata: dict[str, Any], answers: np.ndarray, *, name: str, other: str) -> None:
    """A model must have the classes of most of another's answers (`check_same_taxonomy`).

    Raises:
        IncomparableModelsError: It has the classes of fewer than `MIN_KNOWN_LABELS` of them.
    """
    unknown = _unknown_to(metadata, answers)
    if _too_few_known(unknown):
        raise IncomparableModelsError(
            f"{name} has the classes of only {1 - unknown.mean():.0%} of {other}'s answers on these {len(unknown):,} "
            f"listings (none of {_examples(answers, unknown)}): the two were trained on different taxonomies, and "
            "their disagreement would measure that. Compare models of one taxonomy"
        )


def _unknown_to(metadata: dict[str, Any], labels: np.ndarray) -> np.ndarray:
    """Which of the labels are not among the model's classes."""
    return ~np.isin(labels.astype(str), np.asarray(metadata.get("classes", []), dtype=str))


def _too_few_known(unknown: np.ndarray) -> bool:
    """Whether a model knows fewer than `MIN_KNOWN_LABELS` of the labels (`unknown`: those it does not)."""
    return bool(unknown.mean() > 1 - MIN_KNOWN_LABELS)


def _examples(labels: np.ndarray, unknown: np.ndarray) -> list[str]:
    """A few of the labels a model does not know, for a message."""
    return sorted({str(label) for label in labels[unknown]})[:3]


def check_held_out(metadata: dict[str, Any], config: TrainConfig, *, name: str) -> None:
    """A model compared on the config's test rows must have held them out: trained with another split (another
    seed, say), it trained on many of those products, and its figures would be flattered.

    Raises:
        IncomparableModelsError: The model records a split other than the config's.
    """
    recorded = metadata.get("training_data", {}).get("split")
    if recorded is None:
        logger.warning("model %s records no split: it may have trained on some of these test rows", name)
        return
    theirs, ours = (_split_rule(record) for record in (recorded, split_record(config)))
    if theirs != ours:
        differ = [key for key in ours if theirs[key] != ours[key]]
        remedy = "Retrain it" if deals_whole_rows(recorded) else "Compare with a config of its split"
        raise IncomparableModelsError(
            f"model {name} was trained on another split ({ {key: theirs[key] for key in differ} }, the config's: "
            f"{ {key: ours[key] for key in differ} }): it trained on some of these test rows. {remedy}, or pass "
            "ON=all (--on all) to compare on every row knowingly"
        )
    _check_small_classes(recorded, config, name=name)


def _split_rule(record: dict[str, Any]) -> dict[str, Any]:
    """What deals a product its split: how products are named, the seed and the fractions."""
    return {
        "products": products_named_by(record),
        **{key: record.get(key) for key in ("seed", "test_fraction", "validation_fraction")},
    }


def _check_small_classes(recorded: dict[str, Any], config: TrainConfig, *, name: str) -> None:
    """A model that trained every product of classes the config holds large enough to test trained on some of its
    test rows: `small_classes: train` under a higher `min_class_products` (a record made before it named them is
    taken as made with `SplitConfig`'s defaults). Dropping or folding small classes trains none of their products.

    Raises:
        IncomparableModelsError: Naming both settings.
    """
    defaults = SplitConfig()
    policy = recorded.get("small_classes", defaults.small_classes)
    smallest = recorded.get("min_class_products", defaults.min_class_products)
    if policy == "train" and smallest > config.split.min_class_products:
        raise IncomparableModelsError(
            f"model {name} trained every product of each class with fewer than {smallest} products "
            f"(split.min_class_products {smallest}, the config's {config.split.min_class_products}): some of these "
            "test rows are of products it trained on. Compare with a config of its split, or pass ON=all (--on all) "
            "to compare on every row knowingly"
        )


def compare_predictions(
    labels: np.ndarray,
    predicted_a: np.ndarray,
    predicted_b: np.ndarray,
    *,
    products: np.ndarray | None = None,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> dict[str, Any]:
    """B against A on the same rows: each one's macro-F1 and accuracy, and B − A with paired bootstrap CIs.

    Args:
        labels: The true labels.
        predicted_a: A's labels for the same rows.
        predicted_b: B's labels for the same rows.
        products: Each row's product, when known: a resample draws products, each with all its rows. Listings of
            one product are much alike and either all right or all wrong, so rows drawn alone would count one
            product's luck many times and make the interval too narrow. None: each row is drawn alone.
        resamples: Bootstrap resamples (the same resample scores both models).
        seed: The bootstrap's seed, so a report can be reproduced.

    Returns:
        macro_f1/accuracy of each, their differences with a `CONFIDENCE` interval, McNemar's test on the
        rows exactly one model gets right, and per-class F1 of each with the change.
    """
    labels, predicted_a, predicted_b = (np.asarray(x, dtype=str) for x in (labels, predicted_a, predicted_b))
    if products is not None and len(products) != len(labels):
        raise ValueError(f"{len(products)} products for {len(labels)} rows: one product per row")
    classes = np.unique(labels)
    y, code_a, code_b = (_codes(x, classes) for x in (labels, predicted_a, predicted_b))
    right_a, right_b = predicted_a == labels, predicted_b == labels
    rng = np.random.default_rng(seed)
    k = len(classes)
    groups = np.arange(len(labels)) if products is None else np.unique(np.asarray(products), return_inverse=True)[1]
    drawn = int(groups.max()) + 1 if len(groups) else 0
    gained = right_b.astype(np.int64) - right_a.astype(np.int64)
    differences: dict[str, list[float]] = {"macro_f1": [], "accuracy": []}
    for _ in range(resamples):  # one resample at a time: resamples × rows weights would take gigabytes
        # How often each row is drawn: as often as its product is.
        weights = np.bincount(rng.integers(0, drawn, size=drawn), minlength=drawn)[groups].astype(np.float64)
        differences["macro_f1"].append(_macro_f1(y, code_b, k, weights) - _macro_f1(y, code_a, k, weights))
        differences["accuracy"].append(float(weights @ gained / weights.sum()))
    point = {
        "macro_f1": (_macro_f1(y, code_a, k), _macro_f1(y, code_b, k)),
        "accuracy": (float(right_a.mean()), float(right_b.mean())),
    }
    tail = (1 - CONFIDENCE) / 2 * 100
    report: dict[str, Any] = {"rows": len(labels), "resamples": resamples, "confidence": CONFIDENCE}
    report["resampled"] = "rows" if products is None else f"products ({drawn:,})"
    for metric, (a, b) in point.items():
        low, high = np.percentile(differences[metric], [tail, 100 - tail])
        report[metric] = {"a": a, "b": b, "difference": b - a, "ci_low": float(low), "ci_high": float(high)}
    report["mcnemar"] = mcnemar(right_a, right_b)
    per_a = f1_score(labels, predicted_a, labels=classes, average=None, zero_division=0)
    per_b = f1_score(labels, predicted_b, labels=classes, average=None, zero_division=0)
    support = {label: int((labels == label).sum()) for label in classes}
    report["per_class"] = sorted(
        ({"class": str(label), "support": support[label], "f1_a": float(a), "f1_b": float(b), "change": float(b - a)}
         for label, a, b in zip(classes, per_a, per_b, strict=True)),
        key=lambda row: row["change"],
    )  # fmt: skip
    return report


def mcnemar(right_a: np.ndarray, right_b: np.ndarray) -> dict[str, Any]:
    """McNemar's exact test: of the rows exactly one model gets right, is the split other than even?

    Returns:
        The counts (only A right, only B right) and the two-sided exact p-value (binomial, p = 0.5).
    """
    only_a = int((right_a & ~right_b).sum())
    only_b = int((right_b & ~right_a).sum())
    p_value = 1.0 if only_a + only_b == 0 else float(binomtest(only_b, only_a + only_b, 0.5).pvalue)
    return {"only_a_right": only_a, "only_b_right": only_b, "p_value": p_value}


def disagreements(frame: pd.DataFrame, labels: np.ndarray, predicted_a: np.ndarray, predicted_b: np.ndarray) -> Any:
    """The rows the two models label differently: their inputs, the true label and each model's label. Numbers read
    as float32 (as the graph reads them) are written as the catalogue wrote them, 350.22 and not 350.2200012207031."""
    differ = np.asarray(predicted_a) != np.asarray(predicted_b)
    listing = frame.loc[differ].copy()
    for column in listing.columns[listing.dtypes == np.float32]:
        listing[column] = [float(str(value)) for value in listing[column].to_numpy()]
    listing["label"] = np.asarray(labels)[differ]
    listing["a"] = np.asarray(predicted_a)[differ]
    listing["b"] = np.asarray(predicted_b)[differ]
    return listing


def render_comparison(report: dict[str, Any], listing: pd.DataFrame, *, a: str, b: str) -> str:
    """The comparison as Markdown: headline table, McNemar, per-class gains and losses, some disagreements."""
    pct = f"{report['confidence']:.0%}"
    lines = [
        f"# {b} (B) against {a} (A)",
        "",
        f"{report['rows']:,} rows; {pct} intervals from {report['resamples']:,} paired bootstrap resamples of the "
        f"{report['resampled']}.",
        "",
        *_left_out_lines(report.get("left_out")),
        *(
            [
                "On every row of the catalogue (ON=all): the rows either model trained on among them, so the figures "
                "flatter both and say little of which generalises better.",
                "",
            ]
            if report.get("on") == "all"
            else []
        ),
        f"| metric | A | B | B − A | {pct} interval of B − A |",
        "|---|---|---|---|---|",
    ]
    for metric in ("macro_f1", "accuracy"):
        m = report[metric]
        lines.append(f"| {metric} | {m['a']:.4f} | {m['b']:.4f} | {m['difference']:+.4f} | "
                     f"{m['ci_low']:+.4f} … {m['ci_high']:+.4f} |")  # fmt: skip
    test = report["mcnemar"]
    changed = [
        [row["class"], f"{row['support']:,}", f"{row['f1_a']:.4f}", f"{row['f1_b']:.4f}", f"{row['change']:+.4f}"]
        for row in report["per_class"]
        if row["change"] != 0
    ]
    lines += [
        "",
        f"McNemar's exact test: only A right on {test['only_a_right']:,} rows, only B right on "
        f"{test['only_b_right']:,}; p = {test['p_value']:.3g}{_row_level(report)}.",
        "",
        markdown_table(["class", "support", "F1 A", "F1 B", "change"], changed),
        "",
        f"{len(listing):,} rows labelled differently; the first {min(len(listing), DISAGREEMENTS_SHOWN)}:",
        "",
    ]
    shown = listing.head(DISAGREEMENTS_SHOWN).fillna("").astype(str)  # a blank cell is NaN, even after astype(str)
    lines.append(markdown_table(list(shown.columns), shown.to_numpy().tolist()))
    return "\n".join(lines) + "\n"


def _row_level(report: dict[str, Any]) -> str:
    """McNemar's caveat when the intervals draw products: the test takes each row alone."""
    if report["resampled"] == "rows":
        return ""
    return " (it takes each row alone, where listings of one product are right or wrong together: trust the intervals)"


def _left_out_lines(left_out: dict[str, Any] | None) -> list[str]:
    """The test rows left out of the comparison, by why (`make compare`), as a paragraph; none when none were."""
    if not left_out or not left_out["rows"]:
        return []
    why = "; ".join(f"{rows:,} {reason}" for reason, rows in left_out["why"].items())
    return [f"Left out {left_out['rows']:,} of the {left_out['test_rows']:,} test rows: {why}.", ""]


def _codes(values: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Each label's position in `classes`, or -1 for a label not among them."""
    positions = np.searchsorted(classes, values).clip(0, len(classes) - 1)
    return np.where(classes[positions] == values, positions, -1)


def _macro_f1(y: np.ndarray, predicted: np.ndarray, k: int, weights: np.ndarray | None = None) -> float:
    """Macro-F1 over the classes of the comparison that have rows, as scikit-learn's with zero_division=0, each row
    counted `weights` times (fast enough to bootstrap: weighted counts instead of a confusion matrix per resample).

    A resample that draws none of a class's rows scores the figure without that class, as the figure is scored on
    rows without it: counted as 0 for both models, the class would pull every resample's difference toward 0 and
    the interval toward passing.
    """
    weights = np.ones(len(y)) if weights is None else weights
    right, answered = y == predicted, predicted >= 0
    true_positive = np.bincount(y[right], weights=weights[right], minlength=k)
    support = np.bincount(y, weights=weights, minlength=k)
    denominator = support + np.bincount(predicted[answered], weights=weights[answered], minlength=k)
    f1 = np.divide(2 * true_positive, denominator, out=np.zeros(k), where=denominator > 0)
    present = support > 0
    return float(f1[present].mean()) if present.any() else 0.0


def agreement_report(predicted_a: np.ndarray, predicted_b: np.ndarray, departments: np.ndarray) -> dict[str, Any]:
    """How often B answers as A on unlabelled rows (live traffic), overall and per department of A's answer, each
    with its exact (Clopper-Pearson) interval. A share's interval, not a bootstrap's: resampling rows that all agree
    gives 100 % … 100 %, and a release gate on its lower bound passed on two listings.

    Returns:
        rows, overall {agreement, ci_low, ci_high}, and per department the same plus its rows, least agreeing first.
    """
    agree = np.asarray(predicted_a, dtype=str) == np.asarray(predicted_b, dtype=str)
    names, codes = np.unique(np.asarray(departments, dtype=str), return_inverse=True)
    departments_report = [
        {"department": str(name), "rows": int((codes == index).sum()), **_share(agree[codes == index])}
        for index, name in enumerate(names)
    ]
    return {
        "rows": len(agree),
        "confidence": CONFIDENCE,
        "agreement": _share(agree),
        "departments": sorted(departments_report, key=lambda row: (row["agreement"], -row["rows"])),
    }


def _share(agree: np.ndarray) -> dict[str, float]:
    """The share of true rows and its exact CONFIDENCE interval."""
    interval = binomtest(int(agree.sum()), len(agree)).proportion_ci(confidence_level=CONFIDENCE, method="exact")
    return {"agreement": float(agree.mean()), "ci_low": float(interval.low), "ci_high": float(interval.high)}


def render_agreement(
    report: dict[str, Any], reviewed: dict[str, Any] | None, *, a: str, b: str, data: str, skipped: str = ""
) -> str:
    """The live-traffic comparison as Markdown: agreement overall and by department, then the reviewed subset;
    `skipped` says what reading the capture left out (`Captured.skipped_text`), so the figures say what they omit."""
    pct = f"{report['confidence']:.0%}"
    overall = report["agreement"]
    lines = [
        f"# {b} (B) against {a} (A) on captured traffic",
        "",
        f"{report['rows']:,} captured listings of {data}; {pct} exact (Clopper-Pearson) intervals of the shares."
        + (f" {report['left_out_as_corrections']:,} more are left out: a model was given them as corrections, and "
           "answers them as it was taught." if report.get("left_out_as_corrections") else "")
        + (f" Reading the capture skipped {skipped}." if skipped else ""),
        "",
        f"B answers as A on **{overall['agreement']:.2%}** of them ({pct} interval {overall['ci_low']:.2%} … "
        f"{overall['ci_high']:.2%}).",
        "",
        markdown_table(
            ["department (A's answer)", "listings", "agreement", f"{pct} interval"],
            [[row["department"], f"{row['rows']:,}", f"{row['agreement']:.2%}",
              f"{row['ci_low']:.2%} … {row['ci_high']:.2%}"] for row in report["departments"]],
        ),
        "",
    ]  # fmt: skip
    if reviewed is None:
        lines.append("No reviewed listings given (REVIEWED=): accuracy on live traffic is not known.")
    else:
        lines += [f"## The {reviewed['rows']:,} reviewed listings", ""]
        lines += ["The queue chose them (answers sent to review, low confidence, new sellers and brands, the two "
                  "models' disagreements): the figures compare A with B on hard listings, and are no estimate of "
                  "either's accuracy on all traffic.", ""]  # fmt: skip
        if reviewed.get("left_out_as_corrections"):
            lines += [f"{reviewed['left_out_as_corrections']:,} more reviewed listings are left out: a model was "
                      "given them as corrections, and would be scored on labels it trained on.", ""]  # fmt: skip
        if reviewed.get("not_in_capture"):
            lines += [f"{reviewed['not_in_capture']:,} labelled listings of the review file are not in this "
                      "capture (or were captured before SINCE): not compared.", ""]  # fmt: skip
        if reviewed.get("superseded"):
            lines += [f"{reviewed['superseded']:,} labelled rows repeat a listing a later row labels: the last "
                      "row's label counts, as training reads corrections.", ""]  # fmt: skip
        lines += [f"| metric | A | B | B − A | {pct} interval of B − A |", "|---|---|---|---|---|"]
        for metric in ("accuracy", "macro_f1"):
            m = reviewed[metric]
            lines.append(f"| {metric} | {m['a']:.4f} | {m['b']:.4f} | {m['difference']:+.4f} | "
                         f"{m['ci_low']:+.4f} … {m['ci_high']:+.4f} |")  # fmt: skip
    return "\n".join(lines) + "\n"
