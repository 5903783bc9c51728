"""The columns a prepared catalogue carries besides the model's inputs: the label, the product group, and
extra training text. Every room reads and writes frames with these names, so they sit at the bottom."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

LABEL = "label"
# The graph's outputs (`training.model.export`); the label's is the label column's name. No model input may be named
# like one: it would be renamed in the graph.
LABEL_OUTPUT = LABEL
PROBABILITIES_OUTPUT = "probabilities"
PATH_NODES_OUTPUT = "path_nodes"
PATH_CONFIDENCE_OUTPUT = "path_confidence"
GRAPH_OUTPUTS = (LABEL_OUTPUT, PROBABILITIES_OUTPUT, PATH_NODES_OUTPUT, PATH_CONFIDENCE_OUTPUT)
# The captured records' and the review queue's own fields, which sit beside the model's inputs in their frames and
# files (`training.feedback`): no input may take one of these names.
FEEDBACK_FIELDS = frozenset({
    "listing_id", "time", "request_id", "model_version", "model_label", "confidence", "top_k", "path", "decision",
    "decision_level", "decision_label", "target_precision", "reasons", "challenger_label", "times_seen",
    "first_seen", "last_seen", *(f"suggestion_{rank}{part}" for rank in (1, 2, 3) for part in ("", "_probability")),
})  # fmt: skip
# The pipeline's own columns but the label start with this, so no model input (a name in data.columns, which also
# names the API's field) can be one of them; the Dask engine's columns (`_split`, `_key`, ...) too.
INTERNAL_PREFIX = "_"
GROUP = "_group"
# Where a row came from when reviewed listings join the catalogue: "catalogue" or "correction" (training.feedback).
SOURCE = "_source"
CATALOGUE, CORRECTION = "catalogue", "correction"
# Where a column names products, each reviewed listing is a product of its own: this and its listing id.
CORRECTED_PRODUCT = f"{CORRECTION}:"
# A correction's reviewed listing id (missing on catalogue rows): which listings trained, once the split has dropped
# those of held-out listings.
LISTING = "_listing"
# The reviewed listings' ids a run was given as corrections: in its corrections provenance and in the model's
# metadata (`training_data`), so a comparison on reviewed traffic leaves them out.
CORRECTED_LISTINGS = "corrected_listings"
# Where titles name products, the products (`split.product_ids`, as decimal text) only corrections trained: no
# catalogue names them, and no listing id tells them (a correction's product is its title's), so they are recorded.
CORRECTED_PRODUCTS = "corrected_products"
# The small classes `split.small_classes: parent` folded, each with the class it became, in the model's metadata
# (`training_data`): `make compare` reads a reviewer's label of such a leaf as training read it.
FOLDED_CLASSES = "folded_classes"
# Columns `_extra_text0`, `_extra_text1`, ... hold data.training_text: extra training text, never model inputs.
EXTRA_TEXT = "_extra_text"


def extra_text_columns(frame: pd.DataFrame) -> list[str]:
    """The frame's training-text columns (see EXTRA_TEXT)."""
    return [column for column in frame.columns if column.startswith(EXTRA_TEXT)]
