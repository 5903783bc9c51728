"""Errors raised by the publishing and deployment helpers."""

from __future__ import annotations


class InfraError(Exception):
    """Base class for errors the infra CLIs report as one line."""


class GateError(InfraError):
    """The model did not pass a gate (parity or quality) and must not be published."""


class PublishError(InfraError):
    """The upload could not be done or verified; nothing was made current."""


class SmokeError(InfraError):
    """A live endpoint answered a smoke-test request wrongly."""
