"""Operating points: the decision a team files listings with delivers the precision it was set for."""

from __future__ import annotations

import numpy as np
import pytest

from handler.decisions import ACCEPT, Thresholds, decide
from training.model.hierarchy import build_hierarchy
from training.model.top_classes import TopClasses
from training.reporting.confidence import DECISION, level_operating_points, short_of_target, thresholds

CLASSES = np.array(["A > B", "A > C", "G > H", "G > I"])
HIERARCHY = build_hierarchy(CLASSES, separator=" > ")


def _catalogue() -> tuple[np.ndarray, np.ndarray]:
    """1,000 answers sure of their leaf and right 98.5 % of the time, and 100 unsure of their leaf (always wrong)
    but surer still of department A, which is right for 85 of them."""
    easy = np.tile([0.99, 0.009, 0.0005, 0.0005], (1_000, 1))
    hard = np.tile([0.6, 0.395, 0.003, 0.002], (100, 1))
    labels = ["A > B"] * 985 + ["A > C"] * 15 + ["A > C"] * 85 + ["G > H"] * 15
    return np.vstack([easy, hard]), np.array(labels)


def test_the_decision_at_a_target_precision_is_right_that_often():
    probabilities, labels = _catalogue()
    top = TopClasses.from_dense(probabilities)

    points = level_operating_points(CLASSES, HIERARCHY, test=(labels, top), validation=(labels, top))
    recorded = thresholds(points)["0.98"]

    # THEN deciding every row as the API does with the recorded thresholds, the accepted answers are right at least
    # 98 % of the time (a department threshold chosen on every row accepted the 100 at 85 %: 97.3 % overall), and
    # the decision's own operating point says what it delivers
    rules = Thresholds(recorded["leaf"], tuple(recorded["levels"]))
    accepted = right = 0
    for row, label in zip(probabilities, labels, strict=True):
        leaf = CLASSES[row.argmax()]
        path = [(leaf.split(" > ")[0], row[:2].sum() if leaf.startswith("A") else row[2:].sum()), (leaf, row.max())]
        decision = decide(rules, 0.98, label=leaf, confidence=row.max(), path=path)
        if decision.decision == ACCEPT:
            accepted += 1
            right += label == decision.label or label.startswith(decision.label + " > ")
    assert right / accepted >= 0.98
    [whole] = [p for p in points if p["level"] == DECISION and p["target_precision"] == 0.98]
    assert whole["test_coverage"] == pytest.approx(accepted / len(labels))
    assert whole["test_precision"] == pytest.approx(right / accepted)


def test_thresholds_are_chosen_on_validation_and_measured_on_test():
    probabilities, labels = _catalogue()
    top = TopClasses.from_dense(probabilities)
    # GIVEN test rows answered exactly as surely, and wrongly every one
    wrong = np.full(len(labels), "G > I")

    points = level_operating_points(CLASSES, HIERARCHY, test=(wrong, top), validation=(labels, top))

    # THEN the thresholds are validation's alone, and test says what they deliver there: nothing right
    def chosen(points):
        return {target: (entry["leaf"], entry["levels"]) for target, entry in thresholds(points).items()}

    assert chosen(points) == chosen(
        level_operating_points(CLASSES, HIERARCHY, test=(labels, top), validation=(labels, top))
    )
    [leaf] = [p for p in points if p["level"] == "leaf" and p["target_precision"] == 0.98]
    assert leaf["validation_precision"] >= 0.98
    assert leaf["test_coverage"] == leaf["validation_coverage"] > 0
    assert leaf["test_precision"] == 0.0


def test_the_recorded_thresholds_do_not_depend_on_the_order_of_the_points():
    probabilities, labels = _catalogue()
    top = TopClasses.from_dense(probabilities)
    points = level_operating_points(CLASSES, HIERARCHY, test=(labels, top), validation=(labels, top))

    assert thresholds(points) == thresholds(points[::-1])


def _accepted(points: list[dict], target: float, probabilities: np.ndarray) -> np.ndarray:
    """Which rows the API accepts at `target` with the recorded thresholds."""
    recorded = thresholds(points)[f"{target:g}"]
    rules = Thresholds(recorded["leaf"], tuple(recorded["levels"]))
    accepted = []
    for row in probabilities:
        leaf = CLASSES[row.argmax()]
        path = [(leaf.split(" > ")[0], row[:2].sum() if leaf.startswith("A") else row[2:].sum()), (leaf, row.max())]
        accepted.append(decide(rules, target, label=leaf, confidence=row.max(), path=path).decision == ACCEPT)
    return np.array(accepted)


def test_a_looser_target_accepts_every_listing_a_stricter_one_accepts():
    # GIVEN answers sure of their leaf (800), unsure between siblings but sure of department A (150 and 10), and 40
    # unsure of both: the loose leaf threshold takes the 150 and leaves the department too few sure answers (10) to
    # choose a threshold on, the strict one leaves it 160
    rows = [([0.97, 0.02, 0.005, 0.005], "A > B", 800), ([0.7, 0.299, 0.0005, 0.0005], "A > B", 120),
            ([0.7, 0.299, 0.0005, 0.0005], "A > C", 30), ([0.5, 0.499, 0.0005, 0.0005], "A > C", 10),
            ([0.5, 0.495, 0.0025, 0.0025], "A > C", 15), ([0.5, 0.495, 0.0025, 0.0025], "G > H", 25)]  # fmt: skip
    probabilities = np.vstack([np.tile(row, (count, 1)) for row, _, count in rows])
    labels = np.array([label for _, label, count in rows for _ in range(count)])
    top = TopClasses.from_dense(probabilities)

    points = level_operating_points(CLASSES, HIERARCHY, test=(labels, top), validation=(labels, top))

    # THEN raising the precision asked for only ever sends more listings to review
    strict, middle, loose = (_accepted(points, target, probabilities) for target in (0.99, 0.98, 0.95))
    assert strict.sum() == 960
    assert not (strict & ~middle).any()
    assert not (middle & ~loose).any()


def test_a_level_every_class_shares_accepts_nothing():
    # GIVEN a Magento-like taxonomy whose every path starts at one root ("Default Category"), and answers whose leaf
    # and department are right half the time, so only the root, always sure and always right, reaches a target
    classes = np.array(["Default Category/Clothing/Shirts", "Default Category/Clothing/Socks",
                        "Default Category/Garden/Seeds", "Default Category/Garden/Tools"])  # fmt: skip
    hierarchy = build_hierarchy(classes, separator="/")
    probabilities = np.tile([0.4, 0.1, 0.35, 0.15], (400, 1))
    labels = np.array([classes[0]] * 200 + [classes[3]] * 200)
    top = TopClasses.from_dense(probabilities)

    # WHEN the operating points are chosen
    points = level_operating_points(classes, hierarchy, test=(labels, top), validation=(labels, top))

    # THEN the root's threshold accepts nothing, so no answer counts as filed (it was every answer, at 100 %)
    for target, recorded in thresholds(points).items():
        assert recorded["levels"][0] > 1, target
    decided = [p for p in points if p["level"] == DECISION]
    assert [point["test_coverage"] for point in decided] == [0.0, 0.0, 0.0]


def test_a_decision_right_less_often_than_its_target_beyond_chance_is_named():
    # GIVEN the 0.98 point accepting 200 test rows right 85 % of the time, and the 0.95 point 94 % of 100 rows
    points = [
        {"level": "leaf", "target_precision": 0.98, "test_coverage": 0.5, "test_precision": 0.85},
        {"level": "leaf", "target_precision": 0.95, "test_coverage": 0.25, "test_precision": 0.94},
        {"level": "leaf", "target_precision": 0.99, "test_coverage": 0.0, "test_precision": None},
    ]

    # THEN only the first is short of its target by more than two standard errors
    assert short_of_target(points, test_rows=400) == ["target 0.98: 85.00% right on the 200 test rows it accepts"]
