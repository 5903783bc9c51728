"""Each row's best classes with their probabilities: how training holds answers without a [rows × classes] array.

The re-ranker gives probability only to a row's candidates (every other class has exactly 0), and the multiclass
design has a few dozen classes at most, so keeping each row's `k` best classes (all of them for the multiclass
design) loses nothing, and memory grows with rows × k instead of rows × classes (4 GB of float64 for 100,000
test rows at 5,000 classes). Every metric, the category path and the parity gate are computed from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

# Rows featurized and scored at once by `predict_top`: bounds the features and the re-ranker's candidate rows.
PREDICT_CHUNK = 20_000


@dataclass(frozen=True)
class TopClasses:
    """Each row's best classes, best first, and their probabilities; every class not listed has probability 0.

    Attributes:
        indices: [N, k] int64 positions in the classifier's classes.
        probabilities: [N, k] float64.
    """

    indices: np.ndarray
    probabilities: np.ndarray

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def best(self) -> np.ndarray:
        """[N] the most probable class's position (ties: the lowest position, as the graph's ArgMax)."""
        return self.indices[:, 0]

    @property
    def confidence(self) -> np.ndarray:
        """[N] the most probable class's probability."""
        return self.probabilities[:, 0]

    def probability_of(self, positions: np.ndarray) -> np.ndarray:
        """[N] each row's probability of the class at `positions` (0 when it is not among the row's best)."""
        hit = self.indices == np.asarray(positions).reshape(-1, 1)
        return np.where(hit, self.probabilities, 0.0).sum(axis=1)

    def ties_broken_at(self, positions: np.ndarray, tolerance: float) -> TopClasses:
        """The same answers, each row whose best the class at `positions` ties within `tolerance` with that class
        first: where another computation (the graph's float32) broke a near-tie the other way (20 candidates at 0.05
        each, a few float64 ulps apart and exactly equal in float32), its answer is as right as this one. Such a row
        is then best first by at most `tolerance`, not strictly."""
        at = self.indices == np.asarray(positions).reshape(-1, 1)
        column = at.argmax(axis=1)
        rows = np.arange(len(self))
        tied = at.any(axis=1) & (column > 0) & (self.confidence - self.probabilities[rows, column] <= tolerance)
        if not tied.any():
            return self
        indices, probabilities = self.indices.copy(), self.probabilities.copy()
        swapped = rows[tied]
        first, other = np.zeros_like(swapped), column[tied]
        indices[swapped, first], indices[swapped, other] = self.indices[swapped, other], self.indices[swapped, first]
        probabilities[swapped, first], probabilities[swapped, other] = (
            self.probabilities[swapped, other],
            self.probabilities[swapped, first],
        )
        return TopClasses(indices, probabilities)

    def rows(self, selected: np.ndarray | slice) -> TopClasses:
        """The rows `selected` (a mask, indices or a slice)."""
        return TopClasses(self.indices[selected], self.probabilities[selected])

    @classmethod
    def from_dense(cls, probabilities: np.ndarray, k: int | None = None) -> TopClasses:
        """The `k` best of [N, K] probabilities (all K when None), ties to the lower position."""
        probabilities = np.asarray(probabilities, dtype=np.float64)
        order = top_k_positions(probabilities, probabilities.shape[1] if k is None else k)
        return cls(order, np.take_along_axis(probabilities, order, axis=1))

    @classmethod
    def concatenate(cls, parts: list[TopClasses]) -> TopClasses:
        """Parts of one answer in row order (all with the same k, but for parts without rows)."""
        parts = [part for part in parts if len(part)] or parts[:1]
        if not parts:
            return cls(np.zeros((0, 1), dtype=np.int64), np.zeros((0, 1)))
        return cls(np.concatenate([p.indices for p in parts]), np.concatenate([p.probabilities for p in parts]))


def top_k_positions(values: np.ndarray, k: int) -> np.ndarray:
    """[N, k] int64: each row's k largest values' positions, largest first, ties to the lower position (ONNX TopK's
    order). A partial sort per row, a full one only for the rare row with ties across the k-th place.
    """
    k = min(k, values.shape[1])
    if k == values.shape[1]:
        return np.argsort(-values, axis=1, kind="stable").astype(np.int64)
    chosen = np.argpartition(-values, k - 1, axis=1)[:, :k]
    kth = np.take_along_axis(values, chosen, axis=1).min(axis=1, keepdims=True)
    tied = (values >= kth).sum(axis=1) > k
    if tied.any():
        chosen[tied] = np.argsort(-values[tied], axis=1, kind="stable")[:, :k]
    # Within the chosen: largest first, then the lower position.
    order = np.lexsort((chosen, -np.take_along_axis(values, chosen, axis=1)), axis=1)
    return np.take_along_axis(chosen, order, axis=1).astype(np.int64)


def predict_top(pipeline: Pipeline, frame: pd.DataFrame, *, chunk: int = PREDICT_CHUNK) -> TopClasses:
    """The fitted pipeline's best classes for every row of `frame`, a chunk of rows at a time."""
    features, classifier = pipeline.named_steps["features"], pipeline.named_steps["classifier"]
    parts = [classifier_top(classifier, feature_matrix(features, frame.iloc[start : start + chunk]))
             for start in range(0, len(frame), chunk)]  # fmt: skip
    return TopClasses.concatenate(parts)


def feature_matrix(features: ColumnTransformer, frame: pd.DataFrame) -> sparse.csr_matrix:
    """The fitted features of `frame` as the CSR matrix the classifiers read: a ColumnTransformer stacks its blocks
    dense when every block is dense, as the title scores alone are (a title-only config)."""
    return sparse.csr_matrix(features.transform(frame))


def classifier_top(classifier: object, matrix: object) -> TopClasses:
    """A fitted classifier's best classes for a feature matrix: the re-ranker's own, else all of a multiclass
    model's probabilities ranked."""
    own = getattr(classifier, "predict_top", None)
    if own is not None:
        return own(matrix)
    return TopClasses.from_dense(classifier.predict_proba(matrix))  # type: ignore[attr-defined]
