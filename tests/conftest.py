"""Fixtures shared by every test package: the real data set's location and offline defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

PRICERUNNER = Path(__file__).resolve().parents[2] / "shared" / "data" / "pricerunner_aggregate.csv"


@pytest.fixture(scope="session")
def pricerunner_csv() -> Path:
    """The PriceRunner CSV, or a skip that says where it was looked for."""
    if not PRICERUNNER.exists():
        pytest.skip(f"PriceRunner data not found at {PRICERUNNER}; see ../shared/data/README.md")
    return PRICERUNNER
