"""Errors raised by the training pipeline; each message says what failed and how to fix it."""

from __future__ import annotations


class TrainingError(Exception):
    """Base class for every error `make train` reports as a one-line message."""


class ConfigError(TrainingError):
    """The config file is missing, unreadable or names an unknown setting."""


class DataValidationError(TrainingError):
    """The catalogue cannot be trained on as it is (missing column, bad values, too few rows)."""


class ExportError(TrainingError):
    """The fitted pipeline could not be converted to ONNX."""


class ExportParityError(TrainingError):
    """The ONNX graph does not reproduce the Python pipeline's predictions."""


class BaselineGateError(TrainingError):
    """The final model scores below its own linear baseline on the validation split: it must not ship."""


class PinnedVersionError(TrainingError):
    """A library whose private internals this package patches is not at the version the patch was written for."""
