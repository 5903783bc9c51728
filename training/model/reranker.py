"""The re-ranker: one LightGBM model, whatever the number of classes, that re-scores the title's candidates.

A multiclass LightGBM grows a tree per class per round and learns each class from that class's rows alone;
with hundreds of classes it stops after a handful of rounds and loses to the linear title model it stacks
on. Here the title model (`TitleCandidates`) proposes each row's top candidates, and one binary LightGBM
model scores every (row, candidate) pair from features *relative to the candidate*: its linear score and
rank, the margin to the best, how typical the row's price is for the candidate, how often the row's seller
and brand bucket went with the candidate in training, the class's share of training rows and, with path
labels, how many candidates share its parent. What is learned ("a seller that always sold this class",
"a price ten times the class's median") carries over between classes, so a class with five products gains
from patterns learned on all the others. The softmax of the candidates' raw scores (the binary model's
log-odds) gives the probabilities; every other class gets 0.

The features are float32 arithmetic the graph computes bit for bit (no Log or Exp, whose vectorised and
scalar kernels differ in the last bit and could move a value across a split), so `onnx_ops` emits the same
steps and the parity gate can demand the same answers; the one Exp is the final softmax, after every split.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from lightgbm import LGBMClassifier
from scipy.special import softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import GroupKFold, KFold

from training.model.lead_temperature import with_calibrated_lead
from training.model.top_classes import TopClasses

if TYPE_CHECKING:
    from scipy import sparse
    from sklearn.compose import ColumnTransformer

# (bucket × classes + class) mod this many entries indexes the seller/brand × class count tables: at most
# 4 MB each; (bucket, class) pairs share an entry only when buckets × classes exceeds it.
AFFINITY_SIZE = 2**20
# Folds of the out-of-fold statistics the re-ranker's training rows see.
STATISTIC_FOLDS = 5


@dataclass(frozen=True)
class FeatureLayout:
    """Where the re-ranker's inputs sit among the feature columns.

    Attributes:
        candidates: The candidate block's columns: scores, then class indices.
        buckets: Each hashed one-hot block's name and columns (its bucket is the column holding the 1).
        numeric: Each numeric input's name and column.
    """

    candidates: tuple[int, int]
    buckets: tuple[tuple[str, int, int], ...]
    numeric: tuple[tuple[str, int], ...]

    @classmethod
    def of(cls, features: ColumnTransformer, candidates_block: str) -> FeatureLayout:
        """Read the layout of a fitted ColumnTransformer (hashed blocks end in `_hash`, numerics in `_value`)."""
        slices = features.output_indices_
        return cls(
            candidates=(slices[candidates_block].start, slices[candidates_block].stop),
            buckets=tuple((name, s.start, s.stop) for name, s in slices.items() if name.endswith("_hash")),
            numeric=tuple((name, s.start) for name, s in slices.items() if name.endswith("_value")),
        )


@dataclass(frozen=True)
class ClassStatistics:
    """What the re-ranker knows about each class from the training rows it may see.

    Attributes:
        share: Each class's share of the rows, float32 [K].
        median: Per numeric input, each class's median value, float32 [J, K] (NaN: no value seen).
        spread: Per numeric input, each class's interquartile range, floored above 0, float32 [J, K].
        pair_counts: Per hashed block, rows per (bucket, class) key, float32 [B, pair_table_size_].
        bucket_counts: Per hashed block, rows per bucket, float32 [B, buckets].
    """

    share: np.ndarray
    median: np.ndarray
    spread: np.ndarray
    pair_counts: np.ndarray
    bucket_counts: np.ndarray


class CandidateReranker(ClassifierMixin, BaseEstimator):
    """Re-ranks the title model's candidates with one binary LightGBM model (see the module docstring).

    Args:
        layout: Where the candidates, hashed blocks and numerics are among the features (set before `fit`).
        separator: The path separator of the labels, for the parent features; None for flat labels.
        booster: LightGBM's settings (`pipeline.reranker_params`).
    """

    def __init__(
        self, layout: FeatureLayout | None = None, separator: str | None = None, booster: dict[str, Any] | None = None
    ) -> None:
        self.layout = layout
        self.separator = separator
        self.booster = booster

    def fit(
        self,
        X: sparse.csr_matrix,
        y: Any,
        *,
        classes: Any,
        statistics_rows: tuple[sparse.csr_matrix, Any] | None = None,
        groups: Any = None,
        eval_set: list[tuple[sparse.csr_matrix, Any]] | None = None,
        callbacks: list[Any] | None = None,
    ) -> CandidateReranker:
        """Learn the class statistics and the booster from the stacked (out-of-fold) candidate columns.

        Args:
            classes: The title model's classes, which the candidates' indices point into: never the classes of
                the rows given, which may lack one (a sample of a long-tailed catalogue).
            statistics_rows: The rows (features, labels) the served statistics come from: all training rows when
                `X` is a sample of them (the Dask engine); `X` and `y` by default.

        The training rows' statistics come from the other folds' rows (by product when `groups` is given),
        as their candidates come from title models that never saw them: a row's own seller and price must not
        vouch for its class. Their counts are scaled to the served statistics' row count, so a count means the
        same in training as when served.
        """
        if self.layout is None:
            raise ValueError("CandidateReranker needs its feature layout: set_params(layout=FeatureLayout.of(...))")
        labels = np.asarray(y)
        self.classes_ = np.asarray(classes)
        unknown = np.setdiff1d(labels, self.classes_)
        if unknown.size:
            raise ValueError(f"labels outside the title model's classes: {unknown[:5].tolist()}")
        target = np.searchsorted(self.classes_, labels)
        widest = max((stop - start for _, start, stop in self.layout.buckets), default=1)
        self.pair_table_size_ = min(AFFINITY_SIZE, widest * len(self.classes_))
        self.parents_ = self._parents()
        served_matrix, served_labels = statistics_rows if statistics_rows is not None else (X, labels)
        self.statistics_ = self._statistics(served_matrix, np.searchsorted(self.classes_, np.asarray(served_labels)))
        features = np.empty((X.shape[0] * self._k(X), self.n_features_), dtype=np.float32)
        splitter = (
            GroupKFold(STATISTIC_FOLDS) if groups is not None else KFold(STATISTIC_FOLDS, shuffle=True, random_state=0)
        )
        for fit_rows, held_rows in splitter.split(X, target, groups):
            scale = served_matrix.shape[0] / len(fit_rows)
            block = self._candidate_features(X[held_rows], self._statistics(X[fit_rows], target[fit_rows], scale))
            features.reshape(X.shape[0], -1, self.n_features_)[held_rows] = block.reshape(
                len(held_rows), -1, self.n_features_
            )
        evaluation: list[tuple[Any, Any]] = [
            (self.candidate_features(X_eval), self._is_answer(X_eval, y_eval)) for X_eval, y_eval in eval_set or []
        ]
        self.model_ = LGBMClassifier(**(self.booster or {}))
        self.model_.fit(features, self._is_answer(X, labels), eval_set=evaluation or None, callbacks=callbacks)
        return self

    @property
    def booster_(self) -> Any:
        """The LightGBM booster (its iterations and importances are reported like the multiclass model's)."""
        return self.model_.booster_

    @property
    def shipped_(self) -> str:
        """What the model answers with (the multiclass design may ship its title model alone; this one never does)."""
        return "LightGBM"

    @property
    def feature_names_(self) -> list[str]:
        """The names of the per-candidate features, in column order."""
        assert self.layout is not None
        names = ["title_score", "title_rank", "margin_to_best", "class_share"]
        for name, _ in self.layout.numeric:
            names += [f"{name}_to_class_median", f"{name}_in_class_spread"]
        for name, _, _ in self.layout.buckets:
            names += [f"{name}_rows_with_class", f"{name}_share_with_class"]
        if self.separator:
            names += ["candidates_sharing_parent", "parent_of_best"]
        return names

    @property
    def n_features_(self) -> int:
        """How many features each (row, candidate) pair has."""
        return len(self.feature_names_)

    def raw_scores(self, X: sparse.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        """The candidates' raw re-ranking scores (their log-odds) and class indices, both [N, k]."""
        raw = np.asarray(self.model_.predict(self.candidate_features(X), raw_score=True)).reshape(-1, self._k(X))
        return raw, self._candidate_classes(X)

    def predict_top(self, X: sparse.csr_matrix) -> TopClasses:
        """The candidates, most probable first (ties: the lower class, as the graph's ArgMax), with the softmax of
        their raw re-ranking scores and, once calibrated, scaled by their lead and joined by the "none of them" logit
        (whose share no class gets); every other class has probability 0."""
        raw, classes = self.raw_scores(X)
        raw = with_calibrated_lead(raw, getattr(self, "calibration_", None))
        none_logit = getattr(self, "none_logit_", None)
        if none_logit is None:
            probabilities = softmax(raw, axis=1)
        else:
            probabilities = softmax(np.hstack([raw, np.full((len(raw), 1), none_logit)]), axis=1)[:, :-1]
        order = np.lexsort((classes, -probabilities), axis=1)
        return TopClasses(np.take_along_axis(classes, order, axis=1), np.take_along_axis(probabilities, order, axis=1))

    def predict_proba(self, X: sparse.csr_matrix) -> np.ndarray:
        """Every class's probability, [N, classes]: for a few rows only (training keeps `predict_top`)."""
        top = self.predict_top(X)
        probabilities = np.zeros((X.shape[0], len(self.classes_)))
        np.put_along_axis(probabilities, top.indices, top.probabilities, axis=1)
        return probabilities

    def predict(self, X: sparse.csr_matrix) -> np.ndarray:
        """The most probable class."""
        return self.classes_[self.predict_top(X).best]

    def candidate_features(self, X: sparse.csr_matrix) -> np.ndarray:
        """[N × k, features] float32: one row per (row, candidate), with the statistics of all training rows."""
        return self._candidate_features(X, self.statistics_)

    def _candidate_features(self, X: sparse.csr_matrix, statistics: ClassStatistics) -> np.ndarray:
        """The per-candidate features of `X` given class statistics (see `feature_names_`)."""
        assert self.layout is not None
        k = self._k(X)
        start, _ = self.layout.candidates
        scores = X[:, start : start + k].toarray().astype(np.float32)
        classes = self._candidate_classes(X)
        columns = [
            scores,
            np.broadcast_to(np.arange(k, dtype=np.float32), scores.shape),
            scores[:, :1] - scores,
            statistics.share[classes],
        ]
        for j, (_, column) in enumerate(self.layout.numeric):
            value = X[:, column].toarray().astype(np.float32)
            median = statistics.median[j][classes]
            columns += [value / median, (value - median) / statistics.spread[j][classes]]
        for j, bucket in enumerate(self._buckets(X)):
            rows_with_class = statistics.pair_counts[j][self._pair_key(bucket, classes)]
            columns += [rows_with_class, rows_with_class / (statistics.bucket_counts[j][bucket] + np.float32(1))]
        if self.separator:
            parents = self.parents_[classes]
            same_parent = parents[:, :, None] == parents[:, None, :]
            columns += [same_parent.sum(axis=2).astype(np.float32), same_parent[:, :, 0].astype(np.float32)]
        return np.stack(columns, axis=2).reshape(-1, len(columns))

    def _statistics(self, X: sparse.csr_matrix, target: np.ndarray, scale: float = 1.0) -> ClassStatistics:
        """The class statistics of the rows `X` labelled `target` (class indices), counts multiplied by `scale`."""
        assert self.layout is not None
        n_classes = len(self.classes_)
        share = np.bincount(target, minlength=n_classes) / max(len(target), 1)
        medians, spreads = [], []
        for _, column in self.layout.numeric:
            median, spread = _class_quantiles(X[:, column].toarray().ravel(), target, n_classes)
            medians.append(median)
            spreads.append(spread)
        pair_counts, bucket_counts = [], []
        for bucket, (_, start, stop) in zip(self._buckets(X), self.layout.buckets, strict=True):
            pair = self._pair_key(bucket, target[:, None])
            pair_counts.append(np.bincount(pair.ravel(), minlength=self.pair_table_size_))
            bucket_counts.append(np.bincount(bucket.ravel(), minlength=stop - start))
        # Every hashed block has the same width; a title-only catalogue has none.
        width = max((stop - start for _, start, stop in self.layout.buckets), default=0)
        return ClassStatistics(
            share=share.astype(np.float32),
            median=np.array(medians, dtype=np.float32).reshape(-1, n_classes),
            spread=np.array(spreads, dtype=np.float32).reshape(-1, n_classes),
            pair_counts=(np.array(pair_counts) * scale).astype(np.float32).reshape(-1, self.pair_table_size_),
            bucket_counts=(np.array(bucket_counts) * scale).astype(np.float32).reshape(len(bucket_counts), width),
        )

    def _k(self, X: sparse.csr_matrix) -> int:
        """Candidates per row: half the candidate block's width."""
        assert self.layout is not None
        start, stop = self.layout.candidates
        return (stop - start) // 2

    def _candidate_classes(self, X: sparse.csr_matrix) -> np.ndarray:
        """[N, k] int64 class indices of the candidates."""
        assert self.layout is not None
        start, stop = self.layout.candidates
        return X[:, start + self._k(X) : stop].toarray().astype(np.int64)

    def _buckets(self, X: sparse.csr_matrix) -> list[np.ndarray]:
        """Per hashed block, each row's bucket as [N, 1] int64 (the column of its one-hot 1)."""
        assert self.layout is not None
        return [
            np.asarray(X[:, start:stop].argmax(axis=1)).reshape(-1, 1).astype(np.int64)
            for _, start, stop in self.layout.buckets
        ]

    def _pair_key(self, bucket: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """The count-table key of (row's bucket [N, 1], class [N, k]): [N, k] int64."""
        return (bucket * len(self.classes_) + classes) % self.pair_table_size_

    def _is_answer(self, X: sparse.csr_matrix, labels: Any) -> np.ndarray:
        """1 for the (row, candidate) pairs whose candidate is the row's class, else 0."""
        target = np.searchsorted(self.classes_, np.asarray(labels))
        return (self._candidate_classes(X) == target[:, None]).astype(np.int32).ravel()

    def _parents(self) -> np.ndarray:
        """Each class's parent path as an index (a flat label is its own parent); zeros without a separator."""
        if not self.separator:
            return np.zeros(len(self.classes_), dtype=np.int64)
        parents = [str(label).rsplit(self.separator, 1)[0] for label in self.classes_]
        return np.unique(parents, return_inverse=True)[1].astype(np.int64)


def _class_quantiles(values: np.ndarray, target: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Each class's median and interquartile range of `values` (NaN ignored; NaN median where none)."""
    median = np.full(n_classes, np.nan)
    spread = np.ones(n_classes)
    known = ~np.isnan(values)
    order = np.lexsort((values[known], target[known]))
    sorted_values, sorted_target = values[known][order], target[known][order]
    bounds = np.searchsorted(sorted_target, np.arange(n_classes + 1))
    for c in np.flatnonzero(np.diff(bounds)):
        q25, q50, q75 = np.quantile(sorted_values[bounds[c] : bounds[c + 1]], [0.25, 0.5, 0.75])
        median[c] = q50 if q50 != 0 else 1e-3  # a ratio to a zero median would be infinite
        # A class whose prices all agree must not divide by zero: at least 1 % of its median.
        spread[c] = max(q75 - q25, 0.01 * abs(q50), 1e-3)
    return median, spread
