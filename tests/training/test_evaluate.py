"""Scoring the test split: the figures every run reports."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import log_loss

from training.model.top_classes import TopClasses
from training.reporting.evaluate import own_class_log_loss


@pytest.mark.parametrize("classes", [3, 400])
def test_the_log_loss_is_scikit_learns_without_its_rows_by_classes_copies(classes):
    rng = np.random.default_rng(classes)
    names = np.array([f"class {i:03d}" for i in range(classes)], dtype=object)
    probabilities = rng.dirichlet(np.full(classes, 0.05), size=300)
    probabilities[:5] = 0.0  # the re-ranker gives every class outside the candidates exactly 0
    probabilities[:5, 0] = 1.0
    labels = rng.choice(names, size=300)

    expected = log_loss(labels, probabilities, labels=names)

    assert own_class_log_loss(labels, TopClasses.from_dense(probabilities), names) == pytest.approx(expected, rel=1e-12)
    # only each row's best classes, as the re-ranker keeps them (every other class has probability 0)
    top = TopClasses.from_dense(probabilities, k=classes)
    assert own_class_log_loss(labels, top, names) == pytest.approx(expected, rel=1e-12)
