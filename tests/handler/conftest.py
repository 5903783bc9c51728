"""The handler module as Lambda imports it."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture(scope="session")
def handler_main(model_path: Path):
    """`handler.main`, imported the way Lambda does: with MODEL_PATH in the environment."""
    os.environ["MODEL_PATH"] = str(model_path)
    import handler.main

    return handler.main
