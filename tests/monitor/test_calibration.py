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
