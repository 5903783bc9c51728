"""How far the served class mix has moved from the training class mix: PSI and total variation distance."""

from __future__ import annotations

import math

# A class absent on one side would make PSI infinite; shares are floored at this before the logarithm.
SHARE_FLOOR = 1e-4


def shares(counts: dict[str, float]) -> dict[str, float]:
    """Counts as shares of their total (all zero when the total is zero)."""
    total = sum(counts.values())
    return {label: (count / total if total else 0.0) for label, count in counts.items()}


def population_stability_index(expected: dict[str, float], observed: dict[str, float]) -> float:
    """PSI = Σ (o − e) · ln(o / e) over the union of classes, shares floored at SHARE_FLOOR.

    Rules of thumb: < 0.1 stable, 0.1–0.2 a moderate shift, > 0.2 a significant shift.
    """
    labels = set(expected) | set(observed)
    total = 0.0
    for label in labels:
        e = max(expected.get(label, 0.0), SHARE_FLOOR)
        o = max(observed.get(label, 0.0), SHARE_FLOOR)
        total += (o - e) * math.log(o / e)
    return total


def total_variation_distance(expected: dict[str, float], observed: dict[str, float]) -> float:
    """Half the L1 distance between the two mixes: the share of traffic that would have to change class."""
    labels = set(expected) | set(observed)
    return 0.5 * sum(abs(expected.get(label, 0.0) - observed.get(label, 0.0)) for label in labels)
