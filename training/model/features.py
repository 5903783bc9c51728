"""Feature transformers whose every step has an exact ONNX counterpart (see `onnx_ops.py`).

Each transformer takes raw columns (strings, float32 numbers) and returns float32 features, so the same
computation can run inside the exported graph with raw strings and numbers going in. Hashing follows
scikit-learn's FeatureHasher (signed MurmurHash3, seed 0, |h| mod n), which onnxruntime's `MurmurHash3`
reproduces.
"""

from __future__ import annotations

import copy
import itertools
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.feature_extraction import FeatureHasher
from sklearn.preprocessing import normalize
from sklearn.svm import LinearSVC

from training.model.title_tree import TreeLinearModel, fit_tree_svm, hinged
from training.model.top_classes import top_k_positions
from training.text import char_ngrams, first_token, word_ngrams

# Rows scored at once when proposing candidates: [classes, rows] float64 blocks (20 MB at 5,000 classes) that
# stay near the cache.
CANDIDATE_CHUNK = 500
# Buckets pruned at once: a [buckets, edges] float64 block (about 170 MB at 5,000 classes).
PRUNE_CHUNK = 4_096

if TYPE_CHECKING:
    from collections.abc import Iterable

    import pandas as pd


def price_bands(prices: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Count the band edges at or below each price; NaN compares false everywhere and lands in band 0."""
    return (prices.reshape(-1, 1) >= edges.reshape(1, -1)).sum(axis=1)


def inverse_document_frequency(counts: sparse.csr_matrix) -> np.ndarray:
    """scikit-learn's smoothed IDF (TfidfTransformer(smooth_idf=True)) of each bucket, float64."""
    document_frequency = np.bincount(counts.indices, minlength=counts.shape[1])
    return np.log((1 + counts.shape[0]) / (1 + document_frequency)) + 1.0


def hash_counts(documents: Iterable[list[str]], n_features: int) -> sparse.csr_matrix:
    """Count each document's strings into `n_features` hash buckets (FeatureHasher, no sign flipping)."""
    hasher = FeatureHasher(n_features=n_features, input_type="string", alternate_sign=False, dtype=np.float64)
    documents = iter(documents)
    first = next(documents, None)
    if first is None:  # FeatureHasher fails on none (a Dask partition that drew no sampled row)
        return sparse.csr_matrix((0, n_features), dtype=np.float64)
    return hasher.transform(itertools.chain([first], documents)).tocsr()


class _OneHotHasher(TransformerMixin, BaseEstimator):
    """Shared by the hashed one-hot blocks: stateless by default, one output column per bucket.

    Args:
        n_features: Number of hash buckets (output columns).
    """

    def __init__(self, n_features: int = 1024) -> None:
        self.n_features = n_features

    def fit(self, X: Any, y: Any = None) -> _OneHotHasher:
        """Nothing to learn: hashing is stateless."""
        return self

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """One name per hash bucket."""
        return np.array([f"bucket_{i}" for i in range(self.n_features)], dtype=object)


class HashedCategory(_OneHotHasher):
    """One-hot of the hashed value: no vocabulary, so unseen sellers still map to a column."""

    def transform(self, X: pd.DataFrame | np.ndarray) -> sparse.csr_matrix:
        """Hash the single string column of `X`."""
        return _one_hot(_single_column(X), self.n_features)


class FirstTokenHashed(_OneHotHasher):
    """Hashes the first word of a title: a brand proxy for catalogues without a brand column."""

    def transform(self, X: pd.DataFrame | np.ndarray) -> sparse.csr_matrix:
        """Hash the first word of each title, or `NO_TOKEN` for titles without one."""
        return _one_hot([first_token(title) for title in _single_column(X)], self.n_features)


class PriceBandCross(_OneHotHasher):
    """Hashes "brand|price band", letting trees see brand × price interactions in one column.

    The bands are price quantiles learned at fit; a missing price falls in band 0.

    Args:
        n_features: Number of hash buckets (output columns).
        n_bands: Number of quantile bands.
    """

    def __init__(self, n_features: int = 1024, n_bands: int = 8) -> None:
        self.n_features = n_features
        self.n_bands = n_bands

    def fit(self, X: pd.DataFrame, y: Any = None) -> PriceBandCross:
        """Learn the band edges from the training prices."""
        prices = np.asarray(X.iloc[:, 1], dtype=np.float32)
        quantiles = np.linspace(0, 1, self.n_bands + 1)[1:-1]
        self.edges_ = np.unique(np.nanquantile(prices, quantiles).astype(np.float32))
        return self

    def transform(self, X: pd.DataFrame) -> sparse.csr_matrix:
        """Hash each row's brand with its price band."""
        brands = np.asarray(X.iloc[:, 0], dtype=object)
        bands = price_bands(np.asarray(X.iloc[:, 1], dtype=np.float32), self.edges_)
        return _one_hot([f"{brand}|{band}" for brand, band in zip(brands, bands, strict=True)], self.n_features)


class Float32Numeric(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """The number itself in float32, NaN (missing) kept as NaN so LightGBM treats it as missing.

    No log or scaling: trees split on order alone, so a monotonic transform adds nothing, and the graph's
    float math is not batch-independent — onnxruntime's vectorised Log (a batch) and its scalar Log (one row)
    differ by one ulp on ~2 % of prices, which moved a row across a split threshold when it was sent in a
    batch. Passing the number through makes the trees see the same bits in Python and in the graph, always.
    """

    def fit(self, X: Any, y: Any = None) -> Float32Numeric:
        """Record the input width and names, for feature names."""
        self.n_features_in_ = np.shape(X)[1]
        if hasattr(X, "columns"):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return self

    def transform(self, X: pd.DataFrame | np.ndarray) -> sparse.csr_matrix:
        """Every column as float32."""
        return sparse.csr_matrix(np.asarray(X, dtype=np.float32))


class TitleScores(TransformerMixin, BaseEstimator):
    """A linear text model's per-class scores for the title, as features for LightGBM (stacking).

    Word 1..n-grams and character n-grams are hashed into `n_features` buckets each, weighted by TF-IDF,
    L2-normalised and scored by a linear SVM. All of it is computed in float64 and only the scores are
    rounded to float32, so the graph's scores equal these to the last bit in all but freak cases.

    Args:
        n_features: Hash buckets per n-gram kind.
        word_ngram_max: Longest word n-gram.
        char_ngrams: (shortest, longest) character n-gram, or None for words only.
        c: The SVM's inverse regularisation strength.
    """

    def __init__(
        self,
        n_features: int = 2**15,
        word_ngram_max: int = 2,
        char_ngrams: tuple[int, int] | None = (2, 4),
        c: float = 0.5,
    ) -> None:
        self.n_features = n_features
        self.word_ngram_max = word_ngram_max
        self.char_ngrams = char_ngrams
        self.c = c

    def fit(self, X: Any, y: Any) -> TitleScores:
        """Learn IDF weights and the SVM from the titles."""
        return self.fit_counts(self.count(X), y)

    def transform(self, X: Any) -> np.ndarray:
        """Per-class scores, float32."""
        return self.transform_counts(self.count(X))

    def transform_counts(self, counts: sparse.csr_matrix) -> np.ndarray:
        """`transform` from precomputed counts (stacking scores held-out rows this way)."""
        return self.score_counts(counts)

    def count(self, X: Any) -> sparse.csr_matrix:
        """Hashed n-gram counts: word buckets, then character buckets."""
        titles = _single_column(X)
        blocks = [hash_counts((word_ngrams(title, self.word_ngram_max) for title in titles), self.n_features)]
        if self.char_ngrams:
            low, high = self.char_ngrams
            blocks.append(hash_counts((char_ngrams(title, low, high) for title in titles), self.n_features))
        return sparse.hstack(blocks, format="csr")

    def fit_counts(self, counts: sparse.csr_matrix, y: Any) -> TitleScores:
        """`fit` from precomputed counts, so cross-fitting can count once."""
        self.idf_ = inverse_document_frequency(counts)
        # liblinear's dual solver where rows are fewer than n-gram columns, its primal elsewhere (as the title tree's).
        self.svm_ = LinearSVC(C=self.c, dual="auto", random_state=0).fit(self._weigh(counts), y)
        self.classes_ = self.svm_.classes_
        return self

    def score_counts(self, counts: sparse.csr_matrix) -> np.ndarray:
        """`transform` from precomputed counts. No rows score as none: scikit-learn refuses an empty matrix, which
        a small catalogue's stacking fold, or a Dask partition without a split's rows, can be."""
        if counts.shape[0] == 0:
            return np.zeros((0, self.svm_.coef_.shape[0]), dtype=np.float32)
        scores = self.svm_.decision_function(self._weigh(counts))
        return scores.reshape(counts.shape[0], -1).astype(np.float32)

    def predict(self, X: Any) -> np.ndarray:
        """The linear model's own labels: the same-run baseline LightGBM must beat."""
        return self._labels(self.svm_, self.count(X))

    def scorer(self) -> TitleScores:
        """This fitted model as the out-of-fold copies need it: scores only (the SVM is the scorer here)."""
        return self

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """One score per class (one in total for two classes)."""
        names = self.classes_ if len(self.classes_) > 2 else self.classes_[1:]
        return np.array([f"score_{name}" for name in names], dtype=object)

    def _labels(self, linear: LinearSVC | TreeLinearModel, counts: sparse.csr_matrix) -> np.ndarray:
        """`linear`'s labels for these counts; none for no rows, which scikit-learn refuses (a Dask partition
        without a split's rows)."""
        return linear.predict(self._weigh(counts)) if counts.shape[0] else self.classes_[:0]

    def _weigh(self, counts: sparse.csr_matrix) -> sparse.csr_matrix:
        """TF-IDF then L2 normalisation, in float64."""
        return normalize(counts.multiply(self.idf_).tocsr(), norm="l2")


class TitleCandidates(TitleScores):
    """The title model as a candidate generator: its `candidates` best classes and their scores per title.

    With thousands of classes, per-class scores cannot be features (K columns per row, a K-wide graph), and
    the dense weights would be K × buckets floats in the graph. This block keeps, per n-gram bucket, only the
    `weights_per_bucket` largest |weights| over the tree's edges (TF-IDF scaled, stored as float32), sums each
    class's path of edge scores (`title_tree.hinged` down a tree), and outputs, per row, the top
    candidates' scores then their class indices (as float32, exact below 2**24): 2 × `candidates` columns
    whatever the number of classes. Ties go to the lower class index, as ONNX TopK orders them.

    Its SVM is fitted node by node down the category tree of path labels (`title_tree`): at thousands of
    classes, one-vs-rest over every class on every row is what made training take hours.

    Args:
        candidates: How many classes each title proposes.
        weights_per_bucket: Non-zero edge weights kept per n-gram bucket.
        separator: `data.path_separator`, for the tree; None fits flat one-vs-rest.
    """

    def __init__(
        self,
        n_features: int = 2**15,
        word_ngram_max: int = 2,
        char_ngrams: tuple[int, int] | None = (2, 4),
        c: float = 0.5,
        candidates: int = 20,
        weights_per_bucket: int = 64,
        separator: str | None = None,
    ) -> None:
        super().__init__(n_features, word_ngram_max, char_ngrams, c)
        self.candidates = candidates
        self.weights_per_bucket = weights_per_bucket
        self.separator = separator

    def fit_counts(self, counts: sparse.csr_matrix, y: Any) -> TitleCandidates:
        """Fit the SVM down the category tree (`title_tree`), then keep only each bucket's largest weights."""
        self.idf_ = inverse_document_frequency(counts)
        self.linear_ = fit_tree_svm(self._weigh(counts), y, separator=self.separator, c=self.c)
        self.classes_ = self.linear_.classes
        self.edge_intercept_ = self.linear_.edge_intercept
        self.hinge_ = self.linear_.hinge
        self.path_edges_ = self.linear_.paths()
        n_buckets, n_edges = len(self.idf_), self.linear_.n_edges
        kept = min(self.weights_per_bucket, n_edges)
        self.bucket_edges_ = np.empty((n_buckets, kept), dtype=np.int64)
        self.bucket_weights_ = np.empty((n_buckets, kept), dtype=np.float32)
        edge_weights = self.linear_.edge_weights
        for start in range(0, n_buckets, PRUNE_CHUNK):
            stop = min(start + PRUNE_CHUNK, n_buckets)
            # What each n-gram adds to each edge's score, a block of buckets at a time (bounded memory).
            weights = self.idf_[start:stop, None] * edge_weights[:, start:stop].T.toarray()
            strongest = np.argpartition(-np.abs(weights), kept - 1, axis=1)[:, :kept]
            self.bucket_edges_[start:stop] = np.sort(strongest, axis=1)
            self.bucket_weights_[start:stop] = np.take_along_axis(weights, self.bucket_edges_[start:stop], axis=1)
        rows = np.repeat(np.arange(n_buckets), kept)
        self.pruned_weights_ = sparse.csr_matrix(
            (self.bucket_weights_.ravel().astype(np.float64), (rows, self.bucket_edges_.ravel())),
            shape=(n_buckets, n_edges),
        )
        return self

    def predict(self, X: Any) -> np.ndarray:
        """The unpruned linear model's own labels: the same-run baseline LightGBM must beat."""
        return self._labels(self.linear_, self.count(X))

    def scorer(self) -> TitleCandidates:
        """A copy without the unpruned SVM, which only `predict` and the export use: an out-of-fold copy scores
        from the pruned weights, and the SVM is most of the model (347 of 449 MB at 5,000 classes × 200,000
        rows), held K times over while the folds are scored."""
        copied = copy.copy(self)
        del copied.linear_
        return copied

    @property
    def n_candidates(self) -> int:
        """Candidates per row: `candidates`, or every class when there are fewer."""
        return min(self.candidates, len(self.classes_))

    def score_counts(self, counts: sparse.csr_matrix) -> np.ndarray:
        """Every class's score from the pruned edge weights, float32: [N, classes].

        Each edge's raw score, scaled, shifted and `hinged` down a tree, then each class's the sum along its path
        (padding is an extra zero edge), in float64: the graph's steps in the graph's order.
        """
        norms = np.sqrt(np.asarray(counts.multiply(self.idf_).power(2).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0  # scikit-learn's normalize leaves an all-zero row as it is
        # Edges by rows ([edges, N]) and classes by path length, longest first: each step adds one edge to the
        # classes whose path is that long, a leading block of rows. The same additions in the same order as the
        # graph's (which also adds the zero padding edge), several times faster than gathering columns.
        edges = np.asarray((self.pruned_weights_.T @ counts.T).todense()) / norms + self.edge_intercept_[:, None]
        if self.hinge_:
            edges = hinged(edges)
        padding = len(edges)
        lengths = (self.path_edges_ < padding).sum(axis=1)
        order = np.argsort(-lengths, kind="stable")
        paths = self.path_edges_[order]
        raw = np.where(paths[:, :1] < padding, edges[np.minimum(paths[:, 0], padding - 1)], 0.0)
        for step in range(1, paths.shape[1]):
            longer = int((lengths > step).sum())
            raw[:longer] += edges[paths[:longer, step]]
        return raw[np.argsort(order)].T.astype(np.float32)

    def transform_counts(self, counts: sparse.csr_matrix) -> np.ndarray:
        """The top candidates' scores then their class indices, [N, 2 × n_candidates] float32, in chunks."""
        k = self.n_candidates
        out = np.empty((counts.shape[0], 2 * k), dtype=np.float32)
        for start in range(0, counts.shape[0], CANDIDATE_CHUNK):
            scores = self.score_counts(counts[start : start + CANDIDATE_CHUNK])
            best = top_k_positions(scores, k)
            out[start : start + len(best), :k] = np.take_along_axis(scores, best, axis=1)
            out[start : start + len(best), k:] = best
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Score then class of each candidate rank."""
        ranks = range(self.n_candidates)
        return np.array([f"score_{r}" for r in ranks] + [f"class_{r}" for r in ranks], dtype=object)


def _single_column(X: pd.DataFrame | np.ndarray) -> list[str]:
    """The one string column of a frame, series or array, as a list."""
    array = np.asarray(X, dtype=object)
    # An empty one (a Dask partition that drew no sampled row) has no width to infer.
    return list(array.reshape(len(array), -1)[:, 0]) if len(array) else []


def _one_hot(values: list[str], n_features: int) -> sparse.csr_matrix:
    """One row per value with a single 1 in the value's hash bucket."""
    return hash_counts(([value] for value in values), n_features).astype(np.float32)
