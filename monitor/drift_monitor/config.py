"""The drift monitor's settings: its environment variables, set in template.yaml (docs/monitoring.md)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from drift_monitor.exceptions import ConfigError

if TYPE_CHECKING:
    from collections.abc import Mapping

MAX_WINDOW_HOURS = 24 * 14
MAX_SHIFT_MINUTES = 24 * 60
# The smallest accepted-share drop an alarm may watch for: a smaller one needs more decided answers than a day holds.
MIN_ACCEPTED_DROP = 0.01


@dataclass(frozen=True)
class DriftConfig:
    """The function's environment variables (set in template.yaml)."""

    namespace: str
    service: str
    window_hours: int
    min_predictions: int
    function_arn: str
    # How long after a version's publication its deployment can still route traffic to the version before it (the
    # pre-traffic hook, then a canary or linear shift): those minutes do not count as the new version's.
    shift_minutes: int = 0
    # The drop of the accepted share the alarm fires at (AcceptedShareDropThreshold): the drop is put only when the
    # counts can tell one that large from noise.
    accepted_drop: float = 0.1

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DriftConfig:
        """Read and check the environment; empty values count as unset.

        Raises:
            ConfigError: A variable is missing or out of range; the message names it.
        """
        environ = os.environ if environ is None else environ
        for name in ("METRICS_NAMESPACE", "CLASSIFIER_FUNCTION_ARN"):
            if not environ.get(name):
                raise ConfigError(f"{name} is not set: the template sets it (see docs/monitoring.md)")
        return cls(
            namespace=environ["METRICS_NAMESPACE"],
            service=environ.get("SERVICE_NAME") or "product-classifier",
            window_hours=_integer(environ, "DRIFT_WINDOW_HOURS", default=24, low=1, high=MAX_WINDOW_HOURS),
            min_predictions=_integer(environ, "MIN_PREDICTIONS", default=500, low=0, high=10**12),
            function_arn=environ["CLASSIFIER_FUNCTION_ARN"],
            shift_minutes=_integer(environ, "TRAFFIC_SHIFT_MINUTES", default=0, low=0, high=MAX_SHIFT_MINUTES),
            accepted_drop=_share(environ, "ACCEPTED_DROP_THRESHOLD", default=0.1, low=MIN_ACCEPTED_DROP),
        )


def _integer(environ: Mapping[str, str], name: str, *, default: int, low: int, high: int) -> int:
    """An integer environment variable within [low, high].

    Raises:
        ConfigError: It does not parse or is out of range.
    """
    raw = environ.get(name) or str(default)
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer from {low} to {high}, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be an integer from {low} to {high}, got {raw!r}")
    return value


def _share(environ: Mapping[str, str], name: str, *, default: float, low: float) -> float:
    """A share environment variable within [low, 1].

    Raises:
        ConfigError: It does not parse as a number or is out of range (NaN included).
    """
    raw = environ.get(name) or str(default)
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number from {low} to 1, got {raw!r}") from None
    if not low <= value <= 1:
        raise ConfigError(f"{name} must be a number from {low} to 1, got {raw!r}")
    return value
