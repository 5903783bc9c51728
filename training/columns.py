"""The columns a prepared catalogue carries besides the model's inputs: the label, the product group, and
extra training text. Every room reads and writes frames with these names, so they sit at the bottom."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

LABEL = "label"
GROUP = "group"
# Where a row came from when reviewed listings join the catalogue: "catalogue" or "correction" (training.feedback).
SOURCE = "source"
CATALOGUE, CORRECTION = "catalogue", "correction"
# Where a run's corrections provenance keeps the reviewed listings' ids: recorded in the model's metadata
# (`training_data.corrected_listings`) so a comparison on reviewed traffic leaves out what a model trained on.
CORRECTED_LISTINGS = "listings"
# Columns `extra_text0`, `extra_text1`, ... hold data.training_text: extra training text, never model inputs.
EXTRA_TEXT = "extra_text"


def extra_text_columns(frame: pd.DataFrame) -> list[str]:
    """The frame's training-text columns (see EXTRA_TEXT)."""
    return [column for column in frame.columns if column.startswith(EXTRA_TEXT)]
