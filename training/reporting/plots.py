"""The plots logged with every run: the test confusions, LightGBM's importance by feature group, what a
min_confidence threshold buys (the coverage curve), and the calibration (the reliability diagram)."""

from __future__ import annotations

from collections import defaultdict
from functools import cache
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")  # training runs headless; the default backend may look for a display

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import font_manager, ft2font
from sklearn.metrics import confusion_matrix

if TYPE_CHECKING:
    from pathlib import Path

    from sklearn.pipeline import Pipeline

# Up to this many classes the confusion matrix is drawn whole; beyond, its cells are too small to read and the
# plot lists the most-confused pairs instead.
MATRIX_MAX_CLASSES = 30
TOP_PAIRS = 25
TOP_TITLE_SCORES = 15
TITLE_SCORES_BLOCK = "title_scores"
# A class name longer than this is shown by its end (the leaf of a category path): real catalogues' names reach
# hundreds of characters, and one such tick label squeezes the plot to nothing.
MAX_SHOWN_CHARS = 40


def plot_confusion_matrix(
    labels: pd.Series, predicted: np.ndarray, classes: np.ndarray, path: Path, *, max_classes: int = MATRIX_MAX_CLASSES
) -> Path:
    """The test confusions as a PNG: the whole matrix with counts, or at scale the most-confused pairs.

    Args:
        labels: The test split's true labels.
        predicted: The model's labels for them.
        classes: Every class, in the model's order.
        path: Where to write the PNG.
        max_classes: Above this many classes, plot the most-confused pairs instead of the K × K matrix.

    Returns:
        `path`.
    """
    if len(classes) > max_classes:
        return _plot_confused_pairs(np.asarray(labels), np.asarray(predicted), len(classes), path)
    counts = confusion_matrix(labels, predicted, labels=classes)
    support = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, support, out=np.zeros(counts.shape), where=support > 0)
    size = max(6.0, 0.55 * len(classes) + 3)
    figure, axes = plt.subplots(figsize=(size + 1.5, size))
    image = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    names = [f"{shown(name)} ({int(n)})" for name, n in zip(classes, support[:, 0], strict=True)]
    axes.set(xticks=range(len(classes)), yticks=range(len(classes)), xlabel="predicted", ylabel="true (test rows)")
    axes.set_xticklabels([shown(name) for name in classes], rotation=45, ha="right")
    axes.set_yticklabels(names)
    font = 9 if len(classes) <= 15 else 7
    for (row, column), count in np.ndenumerate(counts):
        if count:
            colour = "white" if shares[row, column] > 0.5 else "black"
            axes.text(column, row, str(count), ha="center", va="center", color=colour, fontsize=font)
    figure.colorbar(image, label="share of the true class's test rows")
    correct = int(np.trace(counts))
    axes.set_title(f"Test confusion matrix: counts ({correct:,} of {int(counts.sum()):,} right)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def plot_feature_importance(pipeline: Pipeline, path: Path, *, top_scores: int = TOP_TITLE_SCORES) -> Path:
    """LightGBM's total split gain by feature group, and which categories' title scores it uses most.

    Hashed features (`brand_hash__bucket_763`) mean nothing one by one, so gain is summed per block of the
    feature union: the title scores, each hashed categorical, the brand × price band cross, each number.

    Args:
        pipeline: The fitted pipeline (`features` ColumnTransformer, `classifier` LightGBM).
        path: Where to write the PNG.
        top_scores: How many title-score features (one per category) the second panel lists.

    Returns:
        `path`.
    """
    classifier = pipeline.named_steps["classifier"]
    if not getattr(classifier, "uses_trees_", True):
        return _plot_message(
            path, "The trees lowered validation macro-F1 and were dropped:\nthe title model alone answers."
        )
    # The re-ranker's features are its own per-candidate ones, each a group of its own.
    names = getattr(classifier, "feature_names_", None) or pipeline.named_steps["features"].get_feature_names_out()
    gains = classifier.booster_.feature_importance(importance_type="gain")
    groups = gain_by_group(names, gains)
    total = sum(groups.values()) or 1.0
    prefix = f"{TITLE_SCORES_BLOCK}__"
    title_scores = [
        (str(name).removeprefix(prefix).removeprefix("score_"), float(gain))
        for name, gain in zip(names, gains, strict=True)
        if str(name).startswith(prefix)
    ]
    scores = sorted(title_scores, key=lambda item: item[1], reverse=True)[:top_scores]
    figure, (left, right) = plt.subplots(1, 2, figsize=(13, max(4.0, 0.32 * max(len(groups), len(scores)) + 2)))
    ordered = sorted(groups.items(), key=lambda item: item[1])
    bars = left.barh([describe_group(name) for name, _ in ordered], [100 * gain / total for _, gain in ordered])
    left.bar_label(bars, fmt="%.1f%%", padding=3)
    left.set(xlabel="share of total split gain (%)", title="Importance by feature group")
    left.set_xlim(0, 115)
    if scores:
        # Positions, not names, on the axis: two long names may end alike once shortened.
        right.barh(range(len(scores)), [100 * gain / total for _, gain in reversed(scores)])
        right.set_yticks(range(len(scores)), [shown(name) for name, _ in reversed(scores)])
        right.set(xlabel="share of total split gain (%)", title=f"Title score of which category (top {len(scores)})")
    else:
        right.axis("off")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def _plot_message(path: Path, message: str) -> Path:
    """A plot that says why there is nothing to plot."""
    figure, axes = plt.subplots(figsize=(8, 2))
    axes.axis("off")
    axes.text(0.5, 0.5, message, ha="center", va="center", fontsize=12)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def plot_coverage_curve(coverage: list[dict[str, Any]], path: Path) -> Path:
    """Shares of test listings answered at a leaf, an intermediate node, a department or the root for each
    min_confidence (stacked areas), and how often the answered ones are right (line).

    Args:
        coverage: `training.reporting.levels.evaluate_levels(...)["coverage"]`.
        path: Where to write the PNG.

    Returns:
        `path`.
    """
    thresholds = [point["min_confidence"] for point in coverage]
    figure, axes = plt.subplots(figsize=(8, 5))
    kinds = ("leaf", "intermediate", "department", "root")
    axes.stackplot(thresholds, *[[p[f"{kind}_share"] for p in coverage] for kind in kinds], labels=kinds, alpha=0.6)
    accuracy = [np.nan if p["answered_accuracy"] is None else p["answered_accuracy"] for p in coverage]
    axes.plot(thresholds, accuracy, color="black", marker="o", label="accuracy of the answered (non-root)")
    axes.set(xlabel="min_confidence", ylabel="share of test listings", ylim=(0, 1.01), xlim=(0, max(thresholds)))
    axes.set_title("Answer depth and accuracy against min_confidence (test split)")
    axes.legend(loc="lower left", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def shown(name: object) -> str:
    """A class name as a plot shows it: whole up to MAX_SHOWN_CHARS, else "…" and its end; a character the plots'
    font cannot draw (CJK in matplotlib's DejaVu Sans) as its escape, and "$" as itself rather than mathtext.

    A character without a glyph is a box, so two such names look alike, and matplotlib warns once per glyph on the
    terminal the run reports on.
    """
    text = str(name)
    text = text if len(text) <= MAX_SHOWN_CHARS else "…" + text[-(MAX_SHOWN_CHARS - 1) :]
    drawable = _drawable()
    escaped = (c if ord(c) in drawable else c.encode("unicode_escape").decode("ascii") for c in text)
    return "".join(escaped).replace("$", r"\$")


@cache
def _drawable() -> frozenset[int]:
    """The code points the plots' font has a glyph for (its character map), and the ASCII space."""
    font = font_manager.findfont(font_manager.FontProperties())
    return frozenset(ft2font.FT2Font(font).get_charmap()) | {ord(" ")}


def gain_by_group(names: np.ndarray, gains: np.ndarray) -> dict[str, float]:
    """Total gain per feature block: the part of each `block__feature` name before the `__`."""
    groups: dict[str, float] = defaultdict(float)
    for name, gain in zip(names, gains, strict=True):
        groups[str(name).split("__", 1)[0]] += float(gain)
    return dict(groups)


def describe_group(block: str) -> str:
    """A block's name as a reader knows the feature (`seller_id_hash` → `seller_id (hashed)`)."""
    if block == TITLE_SCORES_BLOCK:
        return "title scores (linear title model)"
    if block == "title_brand_hash":
        return "brand from the title (hashed)"
    if block == "brand_price_band":
        return "brand × price band"
    for suffix, label in (("_hash", " (hashed)"), ("_value", "")):
        if block.endswith(suffix):
            return block.removesuffix(suffix) + label
    return block


def _plot_confused_pairs(labels: np.ndarray, predicted: np.ndarray, n_classes: int, path: Path, *,
                         top: int = TOP_PAIRS) -> Path:  # fmt: skip
    """The most frequent (true → predicted) mistakes, with counts and the share of the true class's rows (counted
    from the mistakes themselves: a K × K matrix is 200 MB at 5,000 classes)."""
    wrong = labels != predicted
    mistakes = pd.Series(list(zip(labels[wrong], predicted[wrong], strict=True)), dtype=object).value_counts()
    support = pd.Series(labels).value_counts()
    pairs = list(mistakes.head(top).items())
    names = [f"{shown(true)} → {shown(guess)}" for (true, guess), _ in reversed(pairs)]
    # ~0.08 inch a character of tick label, beside ~6 inches of bars and their counts
    width = max(11.0, 6 + 0.08 * max(map(len, names), default=0))
    figure, axes = plt.subplots(figsize=(width, 0.34 * max(len(pairs), 1) + 2))
    if pairs:
        values = [int(count) for _, count in reversed(pairs)]
        bars = axes.barh(range(len(names)), values, color="tab:red")
        axes.set_yticks(range(len(names)), names)
        shares = [count / support[true] for (true, _), count in reversed(pairs)]
        axes.bar_label(bars, labels=[f"{v}  ({s:.0%} of its class)" for v, s in zip(values, shares, strict=True)],
                       padding=3)  # fmt: skip
        axes.set_xlim(0, max(values) * 1.35)
    else:
        axes.text(0.5, 0.5, "no mistakes on the test split", ha="center", va="center", transform=axes.transAxes)
    axes.set(xlabel="test rows (true → predicted)")
    axes.set_title(
        f"Most-confused pairs: top {len(pairs)} of {len(mistakes)} ({int(wrong.sum()):,} mistakes in "
        f"{len(labels):,} test rows, {n_classes} classes)",
        loc="right",  # over the bars and the names both: it is wider than the bars alone
    )
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def plot_reliability(report: dict[str, Any], path: Path) -> Path:
    """Accuracy against confidence on the test split, in equal-mass bins, before and after calibration.

    Args:
        report: `training.reporting.confidence.confidence_report(...)`.
        path: Where to write the PNG.

    Returns:
        `path`.
    """
    figure, axes = plt.subplots(figsize=(6, 6))
    axes.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfectly calibrated")
    for key, label, marker in (("reliability_before", "before", "o"), ("reliability_after", "after", "s")):
        ece = report["ece_before" if key.endswith("before") else "ece_after"]
        bins = report[key]
        axes.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], marker=marker,
                  label=f"{label} calibration (ECE {ece:.4f})")  # fmt: skip
    axes.set(xlabel="confidence (equal-mass bins)", ylabel="accuracy", xlim=(0, 1.01), ylim=(0, 1.01))
    axes.set_title(f"Reliability on the test split (temperature {report['temperature']:.2f})")
    axes.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
