"""The drift score's calibration, simulated: windows without drift rarely alarm, real shifts do.

Each window is a multinomial draw (numpy, seeded, so the test is deterministic) of N predictions from the
training shares (no drift) or from a shifted mix, tested by `compare_class_mix` exactly as the monitor
does. The alarm is the template's: ClassMixDriftScore > 3, i.e. p < 0.001. Two mixes: uniform, and Zipf
(share ∝ 1/rank, a long tail of rare classes, where PSI cried wolf in 97 % of windows at 100 classes).
"""

from __future__ import annotations

import numpy as np
import pytest

from drift_monitor.drift import compare_class_mix

ALARM_SCORE = 3.0
CLASS_COUNTS = (10, 100, 1_000, 5_000)


def _mix(kind: str, classes: int) -> np.ndarray:
    weights = np.ones(classes) if kind == "uniform" else 1 / np.arange(1, classes + 1)
    return weights / weights.sum()


def _scores(training: np.ndarray, serving: np.ndarray, predictions: int, windows: int, seed: int) -> np.ndarray:
    labels = [f"class-{index}" for index in range(len(training))]
    shares = dict(zip(labels, training.tolist(), strict=True))
    draws = np.random.default_rng(seed).multinomial(predictions, serving / serving.sum(), size=windows)
    results = [compare_class_mix(shares, dict(zip(labels, row.tolist(), strict=True))) for row in draws]
    return np.array([result.score for result in results if result is not None])


@pytest.mark.parametrize("predictions", [500, 20_000])
@pytest.mark.parametrize("kind", ["uniform", "zipf"])
@pytest.mark.parametrize("classes", CLASS_COUNTS)
def test_windows_without_drift_alarm_in_at_most_one_percent(classes, kind, predictions):
    # GIVEN windows drawn from the training mix itself (half as many at 5,000 classes: 3 ms each)
    windows = 500 if classes == 5_000 else 1_000
    training = _mix(kind, classes)

    # WHEN each is scored
    scores = _scores(training, training, predictions, windows, seed=classes + predictions)

    # THEN every window was tested, and at most 1 % crossed the alarm threshold (p < 0.001: ~0.1 % expected)
    assert len(scores) == windows
    assert np.sum(scores > ALARM_SCORE) <= windows // 100
    # and the score means what it says: p < 0.01 in about 1 % of windows (with binomial slack)
    assert np.mean(scores > 2.0) <= 0.025


@pytest.mark.parametrize("kind", ["uniform", "zipf"])
@pytest.mark.parametrize("classes", CLASS_COUNTS)
def test_a_fifth_of_all_traffic_moving_to_the_most_common_class_is_caught(classes, kind):
    # GIVEN 500 predictions (the default minimum) where 20 % of traffic, taken evenly, went to the top class
    training = _mix(kind, classes)
    shifted = 0.8 * training
    shifted[0] += 0.2

    scores = _scores(training, shifted, predictions=500, windows=200, seed=classes)

    assert np.mean(scores > ALARM_SCORE) >= 0.9


@pytest.mark.parametrize("classes", CLASS_COUNTS)
def test_the_most_common_class_doubling_is_caught(classes):
    # GIVEN a Zipf mix (its top class holds 34 % of traffic at 10 classes, 11 % at 5,000) whose top class
    # doubles, the others shrinking in proportion, over 5,000 predictions
    training = _mix("zipf", classes)
    shifted = training * (1 - 2 * training[0]) / (1 - training[0])
    shifted[0] = 2 * training[0]

    scores = _scores(training, shifted, predictions=5_000, windows=200, seed=classes + 1)

    assert np.mean(scores > ALARM_SCORE) >= 0.95


def _dominant(classes: int, rest: float) -> np.ndarray:
    """One class holding all but `rest` of the traffic, the others sharing `rest` evenly."""
    return np.array([1 - rest] + [rest / (classes - 1)] * (classes - 1))


@pytest.mark.parametrize("predictions", [10, 500, 2_000])
@pytest.mark.parametrize("classes", [2, 10, 1_000])
def test_a_dominant_class_is_tested_and_its_quiet_windows_rarely_alarm(classes, predictions):
    # GIVEN a class holding 99.8 % of training, so the others together expect fewer than 5 predictions: one
    # chi-square bin, tested exactly instead (the others pooled against it)
    training = _dominant(classes, rest=0.002)

    scores = _scores(training, training, predictions, windows=1_000, seed=classes + predictions)

    assert len(scores) == 1_000
    assert np.sum(scores > ALARM_SCORE) <= 10
    assert np.mean(scores > 2.0) <= 0.025


@pytest.mark.parametrize("classes", [2, 10, 1_000])
def test_rare_classes_answered_twenty_times_as_often_as_they_trained_are_caught_beside_a_dominant_one(classes):
    # GIVEN the others expecting 1 prediction of 2,000 (so no chi-square bin of their own) and receiving 20 times that
    # (at 10 times, 7 or more of them, what p < 0.001 takes, come in 87 % of windows)
    training = _dominant(classes, rest=0.0005)
    serving = _dominant(classes, rest=0.01)

    scores = _scores(training, serving, predictions=2_000, windows=200, seed=classes + 2)

    assert np.mean(scores > ALARM_SCORE) >= 0.9
