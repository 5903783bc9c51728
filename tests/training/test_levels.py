"""Evaluation per level of the category tree: per-level scores, hierarchical F1 and the min_confidence curve."""

from __future__ import annotations

import numpy as np
import pytest

from training.model.hierarchy import build_hierarchy
from training.model.top_classes import TopClasses
from training.reporting.levels import THRESHOLDS, evaluate_levels, scalar_metrics
from training.reporting.plots import plot_coverage_curve

CLASSES = np.array(["A > B > C", "A > B > D", "A > E > F", "G > H > I"])
HIERARCHY = build_hierarchy(CLASSES, separator=" > ")
# Row 0: right leaf, sure. Row 1: wrong sibling leaf, right category. Row 2: wrong department.
LABELS = np.array(["A > B > C", "A > B > D", "A > E > F"])
PROBABILITIES = np.array(
    [
        [0.90, 0.05, 0.03, 0.02],
        [0.50, 0.40, 0.05, 0.05],
        [0.10, 0.10, 0.20, 0.60],
    ]
)


def test_scores_per_level_count_a_right_parent_of_a_wrong_leaf():
    levels = evaluate_levels(LABELS, TopClasses.from_dense(PROBABILITIES), CLASSES, HIERARCHY)

    accuracy = [scores["accuracy"] for scores in levels["per_level"]]
    # department right for rows 0 and 1, category right for rows 0 and 1, leaf right for row 0 only
    assert accuracy == pytest.approx([2 / 3, 2 / 3, 1 / 3])
    assert [scores["level"] for scores in levels["per_level"]] == [1, 2, 3]


def test_hierarchical_scores_share_ancestors():
    levels = evaluate_levels(LABELS, TopClasses.from_dense(PROBABILITIES), CLASSES, HIERARCHY)

    # shared ancestors 3 + 2 + 0 of 9 predicted and 9 true
    assert levels["hierarchical_precision"] == pytest.approx(5 / 9)
    assert levels["hierarchical_recall"] == pytest.approx(5 / 9)


def test_a_level_every_category_shares_is_the_root_to_the_hierarchical_scores():
    # GIVEN the same tree under one top node every path starts with (Magento's "Default Category")
    rooted = np.array([f"Default Category > {name}" for name in CLASSES])
    labels = np.array([f"Default Category > {name}" for name in LABELS])

    levels = evaluate_levels(
        labels, TopClasses.from_dense(PROBABILITIES), rooted, build_hierarchy(rooted, separator=" > ")
    )

    # THEN it earns no shared ancestor (it would have lifted 5/9 to 8/12), and its level is still reported
    assert levels["hierarchical_f1"] == pytest.approx(5 / 9)
    assert levels["per_level"][0]["accuracy"] == 1.0
    assert levels["hierarchical_f1"] == pytest.approx(5 / 9)


def test_coverage_curve_backs_off_like_the_api():
    levels = evaluate_levels(LABELS, TopClasses.from_dense(PROBABILITIES), CLASSES, HIERARCHY)
    by_threshold = {point["min_confidence"]: point for point in levels["coverage"]}

    assert tuple(by_threshold) == THRESHOLDS
    # at 0.0 every answer is a leaf; at 0.85 row 0 keeps its leaf (0.90), row 1 backs off to "A > B" (0.90),
    # row 2 to the root (its department G has 0.60)
    assert by_threshold[0.0]["leaf_share"] == 1.0
    point = by_threshold[0.85]
    assert (point["leaf_share"], point["intermediate_share"], point["root_share"]) == pytest.approx(
        (1 / 3, 1 / 3, 1 / 3)
    )
    assert (point["leaf_accuracy"], point["intermediate_accuracy"], point["answered_accuracy"]) == (1.0, 1.0, 1.0)
    assert point["department_accuracy"] is None
    shares = [
        sum(p[f"{kind}_share"] for kind in ("leaf", "intermediate", "department", "root")) for p in levels["coverage"]
    ]
    assert shares == pytest.approx([1.0] * len(THRESHOLDS))


def test_a_flat_model_has_one_level_and_stable_names():
    classes = np.array(["TVs", "CPUs"])
    top = TopClasses.from_dense(np.array([[0.9, 0.1], [0.7, 0.3]]))
    levels = evaluate_levels(np.array(["TVs", "CPUs"]), top, classes, build_hierarchy(classes, separator=None))

    assert set(scalar_metrics(levels)) == {
        "hierarchical_precision",
        "hierarchical_recall",
        "hierarchical_f1",
        "level_1_accuracy",
        "level_1_macro_f1",
    }
    assert levels["per_level"][0]["accuracy"] == 0.5
    assert {p["department_share"] + p["intermediate_share"] for p in levels["coverage"]} == {0.0}


def test_coverage_curve_plot_is_written(tmp_path):
    levels = evaluate_levels(LABELS, TopClasses.from_dense(PROBABILITIES), CLASSES, HIERARCHY)

    path = plot_coverage_curve(levels["coverage"], tmp_path / "coverage.png")

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_level_no_test_row_reaches_is_not_measured_rather_than_scored_zero():
    # GIVEN a fourth level that only a class without test rows reaches
    classes = np.array([*CLASSES, "A > B > C > Z"])
    top = TopClasses.from_dense(np.hstack([PROBABILITIES, np.zeros((3, 1))]))

    levels = evaluate_levels(LABELS, top, classes, build_hierarchy(classes, separator=" > "))

    deepest = levels["per_level"][-1]
    assert (deepest["level"], deepest["rows"], deepest["accuracy"], deepest["macro_f1"]) == (4, 0, None, None)
    assert "level_4_accuracy" not in scalar_metrics(levels)
    assert "level_3_accuracy" in scalar_metrics(levels)
