"""The multiclass design's model: LightGBM boosted from the title model's margin, in Python and in the graph."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from scipy import sparse
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType

from training.config import ModelConfig
from training.model.export import TARGET_OPSET
from training.model.margin import MarginBoostedClassifier
from training.model.onnx_ops import register_converters
from training.model.pipeline import classifier_params

# In sorted order: the title scores' columns are the classes'.
CLASSES = np.array(["freezer", "fridge", "phone", "tv"])


def _catalogue(
    rows: int, *, seed: int, seller_decides: bool = False, sellers_swapped: bool = False
) -> tuple[sparse.csr_matrix, np.ndarray]:
    """[title scores of 4 classes | 8 seller one-hot columns] and labels.

    The title scores point at the true class with noise. With `seller_decides`, the title cannot tell a fridge from
    a freezer (equal scores) and the seller can: sellers 0-3 sell freezers, 4-7 fridges (the other way round with
    `sellers_swapped`).
    """
    rng = np.random.default_rng(seed)
    labels = rng.integers(4, size=rows)
    scores = rng.normal(0, 1, size=(rows, 4)) + 2.5 * np.eye(4)[labels]
    seller = rng.integers(8, size=rows)
    if seller_decides:
        cold = labels < 2
        labels[cold] = ((seller[cold] >= 4) != sellers_swapped).astype(int)
        scores[cold, :2] = np.maximum(scores[cold, 0], scores[cold, 1])[:, None] + rng.normal(0, 1e-3, (cold.sum(), 2))
    matrix = sparse.hstack([sparse.csr_matrix(scores.astype(np.float32)), sparse.csr_matrix(np.eye(8)[seller])])
    return matrix.tocsr().astype(np.float32), CLASSES[labels]


def _fitted(
    X: sparse.csr_matrix,
    y: np.ndarray,
    X_eval: sparse.csr_matrix,
    y_eval: np.ndarray,
    scores=(0, 4),
    config: ModelConfig | None = None,
):
    from lightgbm import early_stopping

    model = MarginBoostedClassifier(booster=classifier_params(config or ModelConfig(), n_jobs=1), scores=scores)
    return model.fit(X, y, eval_set=[(X_eval, y_eval)], callbacks=[early_stopping(20, verbose=False)])


def test_with_nothing_to_correct_the_model_answers_as_its_title_model():
    # GIVEN title scores that carry all the signal, and sellers that carry none
    X, y = _catalogue(6_000, seed=0)
    X_eval, y_eval = _catalogue(2_000, seed=1)
    X_test, _ = _catalogue(4_000, seed=2)

    model = _fitted(X, y, X_eval, y_eval)

    # THEN it gives the title model's answers (a model that stacks the scores as features only would have to
    # rebuild that ranking from trees)
    title_answers = CLASSES[np.argmax(model.margin(X_test), axis=1)]
    assert np.mean(model.predict(X_test) == title_answers) > 0.995


def test_a_field_the_title_cannot_see_is_learnt_on_top_of_its_margin():
    # GIVEN fridges and freezers the title cannot tell apart, and sellers that can
    X, y = _catalogue(6_000, seed=3, seller_decides=True)
    X_eval, y_eval = _catalogue(2_000, seed=4, seller_decides=True)
    X_test, y_test = _catalogue(4_000, seed=5, seller_decides=True)

    model = _fitted(X, y, X_eval, y_eval)

    title_only = np.mean(CLASSES[np.argmax(model.margin(X_test), axis=1)] == y_test)
    assert np.mean(model.predict(X_test) == y_test) > title_only + 0.1


def test_a_two_class_title_score_is_the_second_class_margin():
    X, y = _catalogue(3_000, seed=6)
    binary = np.isin(y, ["tv", "phone"])
    X2, y2 = X[binary], y[binary]
    # The two-class title model's one score: the second class's (tv) score minus the first's (phone).
    one_score = sparse.csr_matrix((X2[:, 3] - X2[:, 2]).astype(np.float32))
    X2 = sparse.hstack([one_score, X2[:, 4:]]).tocsr()

    half = X2.shape[0] // 2

    model = _fitted(X2[:half], y2[:half], X2[half:], y2[half:], scores=(0, 1))

    assert list(model.classes_) == ["phone", "tv"]
    np.testing.assert_array_equal(model.margin(X2)[:, 0], 0.0)
    assert np.mean(model.predict(X2[half:]) == y2[half:]) > 0.9


def test_trees_that_lower_validation_macro_f1_are_dropped_and_the_title_model_ships():
    # GIVEN trees that learnt which seller sells fridges, and validation rows where the sellers swapped
    X, y = _catalogue(6_000, seed=9, seller_decides=True)
    X_eval, y_eval = _catalogue(2_000, seed=10, seller_decides=True, sellers_swapped=True)
    model = _fitted(X, y, X[:500], y[:500])

    # WHEN the better of the two is kept on validation
    kept = model.keep_better(X_eval, y_eval)

    # THEN the trees are dropped, the answers are the title model's, and the model says so
    assert not kept
    np.testing.assert_array_equal(model.predict(X_eval), CLASSES[np.argmax(model.margin(X_eval), axis=1)])
    assert model.shipped_ == "the title model alone"
    assert model.keep_better(X, y) is True  # on rows where they help, they are kept


def test_the_trees_are_judged_on_the_classes_validation_has():
    # GIVEN fitted trees, and validation rows without a TV: 40 both models answer right, 4 only the trees do, and
    # one the trees call a TV while the title model answers it right
    X, y = _catalogue(6_000, seed=9, seller_decides=True)
    model = _fitted(X, y, X[:500], y[:500])
    X_pool, y_pool = _catalogue(2_000, seed=11, seller_decides=True)
    with_trees, title_alone = model.predict(X_pool), CLASSES[np.argmax(model.margin(X_pool), axis=1)]
    no_tv = y_pool != "tv"
    both = np.flatnonzero(no_tv & (with_trees == y_pool) & (title_alone == y_pool))[:40]
    trees_only = np.flatnonzero(no_tv & (with_trees == y_pool) & (title_alone != y_pool) & (title_alone != "tv"))[:4]
    called_tv = np.flatnonzero(no_tv & (with_trees == "tv") & (title_alone == y_pool))[:1]
    rows = np.concatenate([both, trees_only, called_tv])
    assert (len(both), len(trees_only), len(called_tv)) == (40, 4, 1)

    # THEN the trees are kept: scored over the classes these rows have, as the baseline gate scores them (scored
    # over the classes answered too, the TV no row has would count 0 against the trees alone)
    assert model.keep_better(X_pool[rows], y_pool[rows]) is True


@pytest.mark.parametrize(
    ("trees", "config"),
    [(True, ModelConfig()), (True, ModelConfig(extra_trees=True)), (False, ModelConfig())],
    ids=["with trees", "with extremely randomised trees", "title model alone"],
)
def test_the_graph_computes_the_same_probabilities_and_labels(trees: bool, config: ModelConfig):
    X, y = _catalogue(4_000, seed=7, seller_decides=True)
    X_eval, y_eval = _catalogue(1_000, seed=8, seller_decides=True)
    model = _fitted(X, y, X_eval, y_eval, config=config)
    assert model.model_.get_params()["extra_trees"] is config.extra_trees
    model.uses_trees_ = trees
    register_converters()

    graph = to_onnx(model, initial_types=[("features", FloatTensorType([None, X.shape[1]]))],
                    target_opset=TARGET_OPSET, options={id(model): {"zipmap": False}})  # fmt: skip
    labels, probabilities = ort.InferenceSession(graph.SerializeToString()).run(None, {"features": X_eval.toarray()})

    np.testing.assert_array_equal(labels, model.predict(X_eval))
    np.testing.assert_allclose(probabilities, model.predict_proba(X_eval), atol=1e-5)
