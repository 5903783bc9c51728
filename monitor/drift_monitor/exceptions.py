"""Why a drift check could not run; each is logged once and raised, so Lambda counts the run as an error."""

from __future__ import annotations


class DriftCheckError(RuntimeError):
    """Base of the drift check's errors: the message says what failed and how to fix it."""


class ConfigError(DriftCheckError):
    """An environment variable is missing or invalid; the message names it."""


class LiveModelError(DriftCheckError):
    """GET /model on the live alias failed or did not answer the model's metadata."""


class InvalidSharesError(DriftCheckError, ValueError):
    """The training class shares are not a mapping of class names to non-negative finite numbers."""


class MetricsError(DriftCheckError):
    """Reading the predictions from CloudWatch, or putting the drift metrics, failed."""
