"""Errors raised by the serving side."""

from __future__ import annotations


class HandlerError(Exception):
    """Base class for the handler's own errors."""


class ModelLoadError(HandlerError):
    """The model could not be loaded (missing, corrupt, wrong checksum, unreadable metadata); never serve."""


class InferenceError(HandlerError):
    """onnxruntime failed on a request that passed validation: a server fault, not the caller's."""


class SettingsError(HandlerError):
    """An environment variable of the function does not parse or is out of range."""
