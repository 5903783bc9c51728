"""Scoring the test split: the figures every run reports."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import log_loss

from training.exceptions import BaselineGateError
from training.model.top_classes import TopClasses
from training.reporting.evaluate import enforce_baseline, own_class_log_loss, validation_comparison


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


def _labels(counts: dict[str, int]) -> np.ndarray:
    return np.concatenate([[label] * n for label, n in counts.items()])


# Validation: a head class of 1,000 rows and ten tail classes of 10 rows each.
HEAD_AND_TAIL = {"head": 1_000} | {f"tail {i}": 10 for i in range(10)}


def test_a_model_that_folds_ten_tail_classes_into_the_head_is_refused():
    # GIVEN a baseline that gets the tail right and misses 100 head rows, and a model with the same accuracy that
    # gets the head right and files all 100 tail rows under the head class (macro-F1 about 0.09 against 0.98)
    labels = _labels(HEAD_AND_TAIL)
    baseline = labels.copy()
    baseline[:100] = "tail 0"
    model = np.where(np.char.startswith(labels.astype(str), "tail"), "head", labels)
    assert (model == labels).mean() == (baseline == labels).mean()

    comparison = validation_comparison(labels, model, baseline)

    # THEN the gate, which tests macro-F1, fails it with its interval
    assert comparison["validation_difference_ci_high"] < -0.01
    with pytest.raises(BaselineGateError, match=r"below its own linear baseline .* \(95 % interval of the difference"):
        enforce_baseline(comparison, tolerance=0.01)


def test_a_more_accurate_model_that_loses_two_tail_classes_is_judged_on_macro_f1(caplog):
    # GIVEN a model far more accurate than its baseline (it gets 300 more head rows right) that misses two tail
    # classes of 40 (one or two rows each: the loss is real but uncertain)
    counts = {"head": 3_000} | {f"tail {i}": 2 if i < 2 else 30 for i in range(40)}
    labels = _labels(counts)
    baseline = labels.copy()
    baseline[:300] = "tail 5"
    model = labels.copy()
    model[np.isin(labels, ["tail 0", "tail 1"])] = "head"

    comparison = validation_comparison(labels, model, baseline)

    # THEN McNemar would have refused it; the macro-F1 interval straddles the tolerance, so it ships with a warning
    assert comparison["validation_difference_ci_low"] < -0.01 <= comparison["validation_difference_ci_high"]
    enforce_baseline(comparison, tolerance=0.01)
    assert "validation cannot tell the model (macro-F1" in caplog.text
    assert "may be below it by more than model.baseline_tolerance 0.01; shipped" in caplog.text


def _products(labels: np.ndarray, per_product: int) -> np.ndarray:
    """Each row's product: a class's rows in order, `per_product` at a time, as one product's listings."""
    seen: dict[str, int] = {}
    products = []
    for label in labels:
        products.append(f"{label} #{seen.setdefault(label, 0) // per_product}")
        seen[label] += 1
    return np.array(products)


def test_a_model_that_folds_ten_tail_classes_into_the_head_fails_on_an_interval_over_products():
    # GIVEN the case as `make train` scores it, by products: a head class of 200 products and 40 tail classes
    # of 2 products each (3 listings a product); the model files ten tail classes under the head, the baseline none
    labels = _labels({"head": 1_000} | {f"tail {i:02d}": 6 for i in range(40)})
    model = np.where(np.isin(labels, [f"tail {i:02d}" for i in range(10)]), "head", labels)

    comparison = validation_comparison(labels, model, labels.copy(), products=_products(labels, 3))

    # THEN the interval is one of the figure it reports: each resample scores the classes it drew, so a tail class
    # left out of a resample leaves its macro-F1, as it would a catalogue's, instead of counting 0 for both models
    # and pulling the difference toward 0 (the interval was -0.245 … -0.147 around a point of -0.245)
    low, high = comparison["validation_difference_ci_low"], comparison["validation_difference_ci_high"]
    assert comparison["validation_difference"] == pytest.approx(-0.245, abs=0.001)
    assert abs((low + high) / 2 - comparison["validation_difference"]) < 0.02
    with pytest.raises(BaselineGateError):
        enforce_baseline(comparison, tolerance=0.01)


def test_the_gate_can_fire_on_a_few_disagreeing_rows():
    # GIVEN a validation split of three classes where the model loses one small class entirely (5 rows)
    labels = _labels({"a": 40, "b": 40, "c": 5})
    model = np.where(labels == "c", "a", labels)

    comparison = validation_comparison(labels, model, labels.copy())

    with pytest.raises(BaselineGateError):
        enforce_baseline(comparison, tolerance=0.01)
