"""Accept or review: every answer's decision at a target precision, from the thresholds training chose on validation.

Training records, per target precision (0.95, 0.98, 0.99), the confidence threshold at which the answered class was
right that often on validation, and one per level of the category path, each chosen on the answers this rule brings
to that level (`operating_points` in the model's metadata, training/reporting/confidence.py). An answer is
*accepted* at the answered class when its confidence reaches the class threshold; otherwise at the deepest level of
its path whose confidence reaches that level's threshold ("right department, unsure leaf" is accepted at the
department); otherwise it goes to *review*. No threshold lives in this code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeGuard

ACCEPT, REVIEW = "accept", "review"
# The target precision when the deployment (TARGET_PRECISION) or `make predict` names none.
DEFAULT_TARGET_PRECISION = 0.98
# How far a requested target precision may be from a recorded one and be it: float noise, not a rounding.
TARGET_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Thresholds:
    """One target precision's thresholds: the answered class's, and each path level's (department first)."""

    leaf: float
    levels: tuple[float, ...]


@dataclass(frozen=True)
class Decision:
    """What a team does with one answer: accept it at `level` (`label` is that node's whole path; the answered class
    when `level` is its depth) or review it (level 0, label '')."""

    decision: str
    target_precision: float
    level: int
    label: str


@dataclass(frozen=True)
class OperatingPoints:
    """The model's recorded operating points, by target precision."""

    thresholds: dict[float, Thresholds]

    @property
    def targets(self) -> list[float]:
        """The target precisions a request may ask for, ascending."""
        return sorted(self.thresholds)

    def find(self, target: float) -> Thresholds | None:
        """The thresholds of a recorded target precision, or None: 0.985 is none (rounded, it would be decided at
        0.98, below what was asked)."""
        return next((found for key, found in self.thresholds.items() if abs(key - target) <= TARGET_TOLERANCE), None)


def read_operating_points(metadata: dict[str, Any], depth: int) -> OperatingPoints | None:
    """The metadata's operating points, or None for a model trained before they were recorded.

    Raises:
        ValueError: They are there but malformed (the load fails rather than deciding from nonsense).
    """
    raw = metadata.get("operating_points")
    if raw is None:
        return None
    if not isinstance(raw, dict) or not raw:
        raise ValueError("'operating_points' must map target precisions to thresholds")
    found: dict[float, Thresholds] = {}
    for key, entry in raw.items():
        target = float(key)
        if not isinstance(entry, dict):
            raise ValueError(f"operating point {key!r} must hold a 'leaf' threshold and a list of 'levels'")
        leaf, levels = entry.get("leaf"), entry.get("levels", [])
        if not 0 < target <= 1 or not _is_threshold(leaf) or not isinstance(levels, list):
            raise ValueError(f"operating point {key!r} must hold a 'leaf' threshold and a list of 'levels'")
        if levels and (len(levels) != depth or not all(_is_threshold(value) for value in levels)):
            raise ValueError(f"operating point {key!r} must give one threshold per path level ({depth})")
        found[round(target, 2)] = Thresholds(float(leaf), tuple(float(value) for value in levels))
    return OperatingPoints(found)


def decide(
    thresholds: Thresholds, target: float, *, label: str, confidence: float, path: list[tuple[str, float]]
) -> Decision:
    """Accept at the answered class, else at the deepest path level that reaches its threshold, else review.

    Args:
        thresholds: The target precision's thresholds.
        target: The target precision, echoed in the answer.
        label: The answered class.
        confidence: Its probability.
        path: (node's whole path, its confidence) from the department down to the answered class.
    """
    if confidence >= thresholds.leaf:
        return Decision(ACCEPT, target, len(path), label)
    for level in range(len(path) - 1, 0, -1):
        node, node_confidence = path[level - 1]
        if level <= len(thresholds.levels) and node_confidence >= thresholds.levels[level - 1]:
            return Decision(ACCEPT, target, level, node)
    return Decision(REVIEW, target, 0, "")


def _is_threshold(value: Any) -> TypeGuard[float]:
    """A number a confidence can be compared with (above 1 means: accept nothing)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1.01
