"""A temperature that follows how far a row's top answer leads the runner-up.

One temperature fixes a model that is overconfident by the same factor everywhere. At hundreds of classes the
miscalibration has a shape (docs/training.md): answers that lead the runner-up by a nat or two are right less often
than their confidence says, answers that lead by eight are right more often than theirs, and one temperature can only
trade the two. So each row's logits (after the single temperature) are multiplied by exp(s(lead)): the lead is the top
logit minus the second, s is piecewise linear through `LEAD_KNOTS` and constant past the last knot.

Multiplying one row's logits by a positive number keeps their order: every label, top-k order and category path is
the one the model gave. The fit (`training.model.calibration`) also keeps the scaled lead, lead · exp(s(lead)),
increasing in the lead: a row that led by more before calibration leads by more after it, and the calibrated
probabilities give back the lead they came from (`lead_before`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from training.model.calibration import Calibration

# Where s may bend, in nats of lead: a lead of 2 is a two-way confidence of 0.88, 8 one of 0.9997.
LEAD_KNOTS = (0.0, 2.0, 4.0, 8.0)
# Bisection steps that find a lead from its scaled value: the bracket [0, 8] shrinks to 8 / 2**60.
_BISECTION_STEPS = 60


def lead(logits: np.ndarray) -> np.ndarray:
    """[N] each row's top logit minus its second (0 when they tie)."""
    top_two = np.partition(logits, logits.shape[1] - 2, axis=1)[:, -2:]
    return top_two[:, 1] - top_two[:, 0]


def log_scales(leads: np.ndarray, knots: tuple[float, ...], values: tuple[float, ...]) -> np.ndarray:
    """[N] s(lead): linear between the knots' values, the first and last value beyond them."""
    return np.interp(leads, knots, values)


def with_calibrated_lead(logits: np.ndarray, calibration: Calibration | None) -> np.ndarray:
    """[N, k] logits after the temperature, each row's times exp(s(its lead)) by the calibration's lead scales;
    unchanged before calibration or when it kept the temperature alone."""
    if calibration is None or not calibration.lead_knots:
        return logits
    knots, values = calibration.lead_knots, calibration.lead_log_scales
    return logits * np.exp(log_scales(lead(logits), knots, values))[:, None]


def lead_before(scaled: np.ndarray, knots: tuple[float, ...], values: tuple[float, ...]) -> np.ndarray:
    """[N] the leads whose scaled leads, lead · exp(s(lead)), are `scaled`: the inverse the increasing fit allows."""
    scaled = np.asarray(scaled, dtype=np.float64)
    last = knots[-1] * np.exp(values[-1])
    low, high = np.zeros_like(scaled), np.full_like(scaled, knots[-1])
    for _ in range(_BISECTION_STEPS):
        middle = (low + high) / 2
        below = middle * np.exp(log_scales(middle, knots, values)) < scaled
        low, high = np.where(below, middle, low), np.where(below, high, middle)
    return np.where(scaled >= last, scaled * np.exp(-values[-1]), (low + high) / 2)


def increasing_constraints(knots: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(A, b) with A @ values >= b exactly when lead · exp(s(lead)) increases: on each segment the slope of s is at
    least -1 / (the segment's right knot), which keeps the derivative exp(s) (1 + lead · slope) non-negative."""
    steps = np.diff(knots)
    difference = np.zeros((len(steps), len(knots)))
    difference[np.arange(len(steps)), np.arange(len(steps))] = -1.0
    difference[np.arange(len(steps)), np.arange(1, len(knots))] = 1.0
    return difference, -steps / np.asarray(knots[1:])
