"""What can stop the pre-traffic check; every one of them ends in a Failed report naming it."""

from __future__ import annotations


class HookError(RuntimeError):
    """Base of the hook's errors: the message says what failed and how to fix it."""


class HookEventError(HookError):
    """The event lacks the CodeDeploy ids, so no verdict can be reported."""


class SettingsError(HookError):
    """An environment variable is missing or invalid; the message names it."""


class ExpectedSetError(HookError):
    """The artifact's expected golden set (expected.json) is missing, unreadable or malformed."""


class CheckFailedError(HookError):
    """The version answered so that the remaining checks cannot run (e.g. /health is not 200)."""


class DeadlineExceededError(HookError):
    """Too little of the hook's own time is left to make another call and still report."""


class InvocationError(HookError):
    """Invoking the version failed, or it answered something that is not an HTTP proxy response."""


class FunctionFailedError(InvocationError):
    """The invoked version raised or could not start (a FunctionError from Lambda)."""
