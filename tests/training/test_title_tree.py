"""The candidate title model's SVM, fitted down the category tree: flat labels are plain one-vs-rest, and
every path shape (leaves at different depths, a class that is also a parent) is learnt."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC

from training.model.title_tree import CLEARED_SHARE, fit_tree_svm

# Each class's own word, and its ancestors' words: a title names its whole path, or only its parent.
CLASSES = {
    "Audio > Headphones": "headphones",
    "Audio > Headphones > Earbuds": "earbuds",
    "Audio > Speakers": "speaker",
    "Garden": "garden",
    "Home > Kitchen > Kettles": "kettle",
    "Home > Kitchen > Toasters": "toaster",
    "Home > Lighting > Lamps > Desk": "desk",
    "Home > Lighting > Lamps > Floor": "floor",
}


def _titles(rows_per_class: int = 12) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(0)
    noise = ["new", "sale", "black", "white", "pro", "plus", "2025", "uk"]
    titles, labels = [], []
    for label, word in CLASSES.items():
        path_words = [part.lower() for part in label.split(" > ")[:-1]]
        for _ in range(rows_per_class):
            titles.append(" ".join([*path_words, word, *rng.choice(noise, size=2)]))
            labels.append(label)
    return titles, labels


@pytest.fixture(scope="module")
def matrix_and_labels():
    titles, labels = _titles()
    return TfidfVectorizer().fit_transform(titles).tocsr(), np.array(labels, dtype=object)


def test_flat_labels_fit_the_same_one_vs_rest_svm_as_scikit_learn(matrix_and_labels):
    matrix, labels = matrix_and_labels
    flat = fit_tree_svm(matrix, labels, separator=None, c=0.5)
    reference = LinearSVC(C=0.5, dual=False, random_state=0).fit(matrix, labels)
    assert list(flat.classes) == list(reference.classes_)
    np.testing.assert_allclose(flat.decision_function(matrix), reference.decision_function(matrix), atol=1e-9)


def test_labels_without_the_separator_are_one_vs_rest_under_a_separator_too(matrix_and_labels):
    """Leaf names alone in a catalogue configured for paths: one edge per class, scored as one-vs-rest scores."""
    matrix, labels = matrix_and_labels
    leaves = np.array([label.split(" > ")[-1] for label in labels], dtype=object)
    model = fit_tree_svm(matrix, leaves, separator=" > ", c=0.5)
    reference = LinearSVC(C=0.5, dual=False, random_state=0).fit(matrix, leaves)
    np.testing.assert_allclose(model.decision_function(matrix), reference.decision_function(matrix), atol=1e-9)


def test_two_flat_classes_score_plus_and_minus_the_one_decision(matrix_and_labels):
    matrix, labels = matrix_and_labels
    two = np.isin(labels, ["Garden", "Audio > Speakers"])
    model = fit_tree_svm(matrix[two], labels[two], separator=None, c=0.5)
    reference = LinearSVC(C=0.5, dual=False, random_state=0).fit(matrix[two], labels[two])
    scores = model.decision_function(matrix[two])
    np.testing.assert_allclose(scores[:, 1], reference.decision_function(matrix[two]), atol=1e-9)
    np.testing.assert_allclose(scores[:, 0], -scores[:, 1], atol=1e-12)


def test_every_path_shape_is_learnt_down_the_tree(matrix_and_labels):
    matrix, labels = matrix_and_labels
    model = fit_tree_svm(matrix, labels, separator=" > ", c=0.5)
    assert list(model.classes) == sorted(CLASSES)
    # A one-level leaf, leaves three and four levels deep, and "Audio > Headphones", a parent of another class.
    assert (model.predict(matrix) == labels).mean() == 1.0


def test_a_class_score_sums_what_its_title_misses_along_its_path(matrix_and_labels):
    """Each edge's margin counts whole where the title misses it (negative) and by a share where it clears it."""
    matrix, labels = matrix_and_labels
    model = fit_tree_svm(matrix, labels, separator=" > ", c=0.5)
    margins = (matrix @ model.edge_weights.T).toarray() + model.edge_intercept
    parts = np.where(margins < 0, (1 + CLEARED_SHARE) * margins, CLEARED_SHARE * margins)

    summed = np.hstack([parts, np.zeros((matrix.shape[0], 1))])[:, model.paths()].sum(axis=2)

    np.testing.assert_allclose(summed, model.decision_function(matrix), atol=1e-12)
    # "Home > Lighting > Lamps > Desk" takes four edges, "Garden" one (then padding)
    paths = dict(zip(model.classes, model.paths(), strict=True))
    assert (paths["Garden"] < model.n_edges).sum() == 1
    assert (paths["Home > Lighting > Lamps > Desk"] < model.n_edges).sum() == 3  # Lighting has one child: no edge


@pytest.mark.parametrize("other", [word for label, word in CLASSES.items() if label != "Garden"])
def test_a_deeper_path_is_no_evidence_in_itself(matrix_and_labels, other):
    """A title naming a one-level class whole, and a leaf's word from another department without its path, is the
    class it names: summed raw margins favoured the leaf, whose longer path added up more positive edges."""
    _, labels = matrix_and_labels
    titles, _ = _titles()
    vectoriser = TfidfVectorizer().fit(titles)
    model = fit_tree_svm(vectoriser.transform(titles).tocsr(), labels, separator=" > ", c=0.5)

    assert model.predict(vectoriser.transform([f"garden {other}"]).tocsr()).tolist() == ["Garden"]


def test_a_tree_fit_solves_smaller_problems_than_one_vs_rest(matrix_and_labels):
    """The point of the tree: sibling leaves are told apart on their parent's rows only."""
    matrix, labels = matrix_and_labels
    model = fit_tree_svm(matrix, labels, separator=" > ", c=0.5)
    # One edge per child of a node with two or more children, plus one "stop" edge for "Audio > Headphones".
    assert model.edge_weights.shape[0] == 3 + 2 + 2 + 2 + 2 + 2
    lamp_leaves = [list(model.classes).index(name) for name in CLASSES if name.startswith("Home > Lighting")]
    lamp_rows = np.isin(labels, model.classes[lamp_leaves])
    leaf_edge = model.class_edges[lamp_leaves[0]].indices.max()  # the deepest edge: Lamps → Desk
    unseen = np.setdiff1d(np.arange(matrix.shape[1]), matrix[lamp_rows].indices)
    assert np.all(model.edge_weights[leaf_edge, unseen].toarray() == 0)
