"""Every handler test starts as a fresh execution environment would, whatever ran before it."""

from __future__ import annotations

import sys

import pytest
from aws_lambda_powertools.metrics.provider import cold_start


@pytest.fixture(autouse=True)
def _fresh_execution_environment():
    """Before each test: no metrics pending, the cold-start flag set, load time unreported, no restore pending.

    Reset before (not only after) each test, so a test that fails half-way, or one in another file that never
    reset, cannot leave state the next one depends on. Only when `handler.main` is imported: tests that do not
    need the app must not pay for the model it loads.
    """
    main = sys.modules.get("handler.main")
    if main is not None:
        main.metrics.clear_metrics()
        main.pending.update(restored=False, load_time=True)
    cold_start.reset_cold_start_flag()
    yield
    if main is not None:
        main.metrics.clear_metrics()
