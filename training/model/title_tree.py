"""The candidate title model's linear SVM, fitted node by node down the category tree.

One-vs-rest over K classes solves K binary problems on every row: at 1,000 classes and 140,000 rows each of
the six stacking fits took minutes, and 5,000 classes would take hours. With path labels the tree gives a
cheaper model of the same form. Each node with two or more children learns, on its own rows only, which
child a title falls under (one-vs-rest over the children; "stop here" is a child when the node is itself a
class), and a class's score sums its path's edge scores (hinged: below). Department problems see every
row, leaf problems only their category's rows, so the cost is about (fan-out per level × levels) passes over
the rows instead of K; siblings, the classes a title confuses, are learnt apart on exactly the rows where they
compete. The model stays per edge: an n-gram that names a department weighs on one department edge, not on
each of its hundreds of leaves, so pruning each n-gram to its strongest weights keeps what it says (pruned
per class, the summed weights lost the department and category evidence at thousands of classes). Flat labels
are the one-node tree: plain one-vs-rest, one edge per class.

Down a tree, a class does not add its edges' raw margins: each edge's problem saw only its parent's rows, so a
leaf of a department the title does not belong to was never taught to reject it and may score it high, enough to
outweigh the department edge that did reject it, and a longer path added up more positive edges: titles went to
deep leaves of the wrong department. A missed edge (negative margin) costs its whole margin and a cleared one adds
only a tenth of it (`hinged`): a class scores high when the title clears every edge of its path. Log-sigmoid or
per-node log-softmax edge scores did about as well in a trial on the long-tailed Google shape (the title model's
own accuracy within 0.01), but need a scale and Exp or Log, whose last bit the graph may not reproduce
(docs/scaling.md, "Many categories").
`features.title_fit: flat` keeps one-vs-rest over every class; `make benchmark-categories` measures both
(docs/measured.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse
from sklearn.svm import LinearSVC

from training.model.hierarchy import build_hierarchy

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

# Rows scored at once by `decision_function`: a [rows, classes] float64 block (80 MB at 5,000 classes).
SCORE_CHUNK = 2_000
# The root's id in edge keys (tree nodes are numbered from 0).
ROOT = -1
# What an edge the title clears adds to its classes' scores, as a share of its margin (see the module docstring).
CLEARED_SHARE = 0.1


def hinged(margins: np.ndarray) -> np.ndarray:
    """Each edge's part of its classes' scores, from its margins: all of a negative margin, a share of a positive
    one. Min, Mul and Add only, in the graph's order, so the graph reproduces it to the last bit."""
    return np.minimum(margins, 0.0) + CLEARED_SHARE * margins


@dataclass(frozen=True)
class TreeLinearModel:
    """Per-edge SVM weights and which edges each class's path takes.

    Attributes:
        classes: The class labels, sorted.
        edge_weights: [edges, features] float64, CSC: each fitted edge's weights (zero where a node never saw
            a feature).
        edge_intercept: [edges] float64: each fitted edge's intercept.
        class_edges: [classes, edges] 0/1, CSR: the edges on each class's path.
        hinge: Whether each edge's margin is `hinged` before a class sums its path: where some path takes two
            edges or more; where each takes one (flat labels), a class's score is its edge's margin, one-vs-rest's.
    """

    classes: np.ndarray
    edge_weights: sparse.csc_matrix
    edge_intercept: np.ndarray
    class_edges: sparse.csr_matrix
    hinge: bool

    @property
    def n_edges(self) -> int:
        """How many edges have weights."""
        return int(self.edge_weights.shape[0])

    def paths(self) -> np.ndarray:
        """[classes, longest path] int64: each class's edges, padded with `n_edges` (an edge of no weight)."""
        per_class = np.split(self.class_edges.indices, self.class_edges.indptr[1:-1])
        longest = max((len(edges) for edges in per_class), default=1)
        table = np.full((len(self.classes), max(longest, 1)), self.n_edges, dtype=np.int64)
        for index, edges in enumerate(per_class):
            table[index, : len(edges)] = edges
        return table

    def decision_function(self, matrix: sparse.csr_matrix) -> np.ndarray:
        """Every class's unpruned score, [rows, classes] float64: for a block of rows (see `predict`)."""
        margins = np.asarray((matrix @ self.edge_weights.tocsr().T).todense()) + self.edge_intercept
        return np.asarray((hinged(margins) if self.hinge else margins) @ self.class_edges.T)

    def predict(self, matrix: sparse.csr_matrix) -> np.ndarray:
        """The best class per row by unpruned score, SCORE_CHUNK rows at a time (never a [rows, classes] array)."""
        best = [self.decision_function(matrix[start : start + SCORE_CHUNK]).argmax(axis=1)
                for start in range(0, matrix.shape[0], SCORE_CHUNK)]  # fmt: skip
        return self.classes[np.concatenate(best)] if best else self.classes[:0]


def fit_tree_svm(matrix: sparse.csr_matrix, labels: ArrayLike, *, separator: str | None, c: float) -> TreeLinearModel:
    """Fit one one-vs-rest linear SVM per tree node with two or more children, on that node's rows.

    Args:
        matrix: The weighted, normalised title features, one row per label.
        labels: Class labels; paths split at `separator`, or flat when it is None.
        separator: `data.path_separator`.
        c: The SVM's inverse regularisation strength (scikit-learn's C).
    """
    classes, class_of_row = np.unique(np.asarray(labels, dtype=object), return_inverse=True)
    tree = build_hierarchy(classes, separator=separator)
    ancestors = tree.ancestors()  # [levels, classes]
    has_children = np.zeros(len(tree.names), dtype=bool)
    has_children[[parent for parent in tree.parents if parent >= 0]] = True

    edges: dict[tuple[int, int], int] = {}
    weights: list[sparse.csr_matrix] = []
    intercepts: list[float] = []
    for level in range(len(ancestors)):
        parents = np.full(len(classes), ROOT) if level == 0 else ancestors[level - 1]
        reached = np.ones(len(classes), dtype=bool) if level == 0 else parents >= 0
        # A class that is also a parent stops at its own node: its target there is the node itself.
        targets = np.where(ancestors[level] >= 0, ancestors[level], parents)
        for node in np.unique(parents[reached]):
            node_classes = np.flatnonzero(reached & (parents == node))
            if len(np.unique(targets[node_classes])) < 2:
                continue
            rows = np.flatnonzero(np.isin(class_of_row, node_classes))
            node_matrix = matrix[rows]
            # Only the node's own n-grams: the primal solver's cost grows with the columns, and a column no row of
            # the node uses gets weight 0 anyway, so the solution is the same. The dual solver's grows with the rows:
            # "auto" takes it where the node has fewer rows than n-grams (a few thousand listings over hundreds of
            # flat classes took the primal a quarter of an hour), the primal elsewhere. Both minimise one objective.
            used = np.unique(node_matrix.indices)
            svm = LinearSVC(C=c, dual="auto", random_state=0).fit(node_matrix[:, used], targets[class_of_row[rows]])
            coef, intercept = svm.coef_, svm.intercept_
            if len(svm.classes_) == 2:  # one decision for two children: +f for the second, -f for the first
                coef, intercept = np.vstack([-coef, coef]), np.array([-intercept[0], intercept[0]])
            for target, row_weights, bias in zip(svm.classes_, coef, intercept, strict=True):
                edges[(int(node), int(target))] = len(weights)
                weights.append(sparse.csr_matrix((row_weights, used, [0, len(used)]), shape=(1, matrix.shape[1])))
                intercepts.append(float(bias))

    class_edges = sparse.lil_matrix((len(classes), len(weights)), dtype=np.float64)
    for index, node in enumerate(tree.leaf_nodes):
        path = tree.path(node)
        steps = list(zip([ROOT, *path[:-1]], path, strict=True))
        if has_children[node]:
            steps.append((node, node))
        for step in steps:
            if step in edges:
                class_edges[index, edges[step]] = 1.0
    class_edges = class_edges.tocsr()
    edge_weights = sparse.vstack(weights, format="csc") if weights else sparse.csc_matrix((0, matrix.shape[1]))
    return TreeLinearModel(
        classes=classes,
        edge_weights=edge_weights,
        edge_intercept=np.asarray(intercepts, dtype=np.float64),
        class_edges=class_edges,
        hinge=bool(np.diff(class_edges.indptr).max(initial=0) > 1),
    )
