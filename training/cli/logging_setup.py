"""Logging for the command lines: one handler on stderr, `extra=` fields shown as key=value."""

from __future__ import annotations

import logging
import sys
from typing import TextIO


def configure_logging() -> None:
    """One handler on stderr for the CLI; libraries' chatter is kept at WARNING."""
    handler = _StderrHandler()
    handler.setFormatter(_KeyValueFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    for noisy in ("mlflow", "alembic", "urllib3", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class _KeyValueFormatter(logging.Formatter):
    """Appends a record's `extra=` fields as key=value, so structured logs stay readable in a terminal."""

    _standard = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        """Standard line plus the extra fields."""
        extras = " ".join(f"{key}={value}" for key, value in record.__dict__.items() if key not in self._standard)
        return f"{super().format(record)} {extras}".rstrip()


class _StderrHandler(logging.StreamHandler):
    """Writes to `sys.stderr` as it is when a record is logged, not as it was when logging was set up: a caller that
    swaps stderr for a stand-in (a test runner's, a notebook's) and closes it must not break later records."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> TextIO:
        """The current stderr."""
        return sys.stderr
