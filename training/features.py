"""Feature transformers whose every step has an exact ONNX counterpart (see `onnx_ops.py`).

Each transformer takes raw columns (strings, float32 numbers) and returns a float32 sparse matrix, so the
same computation can run inside the exported graph with raw strings and numbers going in.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils import murmurhash3_32

if TYPE_CHECKING:
    import pandas as pd

# scikit-learn's default token pattern: maximal runs of two or more unicode letters, digits or underscores.
TOKEN_PATTERN = r"(?u)\b\w\w+\b"
# The same pattern in RE2 syntax for the ONNX Tokenizer: RE2's \w is ASCII-only, so name the unicode classes.
ONNX_TOKEN_PATTERN = r"[\p{L}\p{N}_]{2,}"
# The locale ONNX's StringNormalizer lowercases with; C.UTF-8 exists on Lambda and lowercases non-ASCII letters.
ONNX_LOCALE = "C.UTF-8"
# Stands for "no token" when a title has none; it can never be a token itself (tokens are letters/digits).
NO_TOKEN = "#"
_TOKEN_RE = re.compile(TOKEN_PATTERN)


class _BucketNames:
    """Names output columns `<block>__bucket_<i>` for plots and feature importances."""

    n_features: int

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """One name per hash bucket."""
        return np.array([f"bucket_{i}" for i in range(self.n_features)], dtype=object)


class HashedCategory(_BucketNames, TransformerMixin, BaseEstimator):
    """One-hot of murmurhash3(value) mod `n_features`: no vocabulary, so unseen sellers still get a column.

    Args:
        n_features: Number of hash buckets (output columns).
    """

    def __init__(self, n_features: int = 1024) -> None:
        self.n_features = n_features

    def fit(self, X: Any, y: Any = None) -> HashedCategory:
        """Nothing to learn: hashing is stateless."""
        return self

    def transform(self, X: pd.DataFrame | np.ndarray) -> sparse.csr_matrix:
        """Hash the single string column of `X`."""
        return _one_hot(_single_column(X), self.n_features)


class FirstTokenHashed(_BucketNames, TransformerMixin, BaseEstimator):
    """Hashes the first token of a lower-cased title: a brand proxy for catalogues without a brand column.

    Args:
        n_features: Number of hash buckets (output columns).
    """

    def __init__(self, n_features: int = 1024) -> None:
        self.n_features = n_features

    def fit(self, X: Any, y: Any = None) -> FirstTokenHashed:
        """Nothing to learn: hashing is stateless."""
        return self

    def transform(self, X: pd.DataFrame | np.ndarray) -> sparse.csr_matrix:
        """Hash the first token of each title, or `NO_TOKEN` for titles without one."""
        return _one_hot([first_token(title) for title in _single_column(X)], self.n_features)


class PriceBandCross(_BucketNames, TransformerMixin, BaseEstimator):
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


class LogNumeric(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """log(1 + x) in float32, keeping NaN (missing) as NaN so LightGBM treats it as missing."""

    def fit(self, X: Any, y: Any = None) -> LogNumeric:
        """Record the input width and names, for feature names."""
        self.n_features_in_ = np.shape(X)[1]
        if hasattr(X, "columns"):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return self

    def transform(self, X: pd.DataFrame | np.ndarray) -> sparse.csr_matrix:
        """Log-transform every column."""
        values = np.asarray(X, dtype=np.float32)
        # Computed as Add then Log, exactly as the ONNX graph does; np.log1p would round differently.
        return sparse.csr_matrix(np.log(values + np.float32(1.0)))


def first_token(title: str) -> str:
    """Return the first token of the lower-cased title, or `NO_TOKEN` when it has none."""
    match = _TOKEN_RE.search(title.lower())
    return match.group(0) if match else NO_TOKEN


def price_bands(prices: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Count the band edges at or below each price; NaN compares false everywhere and lands in band 0."""
    return (prices.reshape(-1, 1) >= edges.reshape(1, -1)).sum(axis=1)


def _single_column(X: pd.DataFrame | np.ndarray) -> list[str]:
    """The one string column of a frame or 2-D array, as a list."""
    array = np.asarray(X, dtype=object)
    return list(array.reshape(len(array), -1)[:, 0])


def _one_hot(values: list[str], n_features: int) -> sparse.csr_matrix:
    """One row per value with a single 1 at murmurhash3(value) mod `n_features`."""
    columns = np.fromiter((murmurhash3_32(value, positive=True) for value in values), dtype=np.int64, count=len(values))
    rows = np.arange(len(values))
    data = np.ones(len(values), dtype=np.float32)
    return sparse.csr_matrix((data, (rows, columns % n_features)), shape=(len(values), n_features))
