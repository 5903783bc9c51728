"""The metadata embedded in the graph: with the `.onnx` file, the only contract between training and serving.

The function reads it at load (classes, input schema, golden examples, the class tree under "taxonomy"),
GET /model serves it, the drift check compares live traffic with its class shares and the pre-traffic check
replays its golden examples.
Standard library and pandas only: bulk scoring reads it without the training stack.
"""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

import pandas as pd

from training.columns import CORRECTED_LISTINGS, CORRECTED_PRODUCTS, FOLDED_CLASSES, GRAPH_OUTPUTS
from training.exceptions import ExportError
from training.text import dropped_ranges

if TYPE_CHECKING:
    from collections.abc import Iterable

    import onnx

    from training.config import DataConfig, TrainConfig

METADATA_KEY = "product_classifier"
# How a model's split record names its products (`split_record`); older records without it named whole rows.
PRODUCTS_BY_COLUMN, PRODUCTS_BY_TITLE = "column", "title"
# How a title names a product (`titles` in the split record): as the model reads it, look-alike spellings folded
# (`training.text.normalise_like_onnx`). Older records without it named products by the lower-cased title alone.
TITLES_FOLDED = "folded"
LIBRARIES = ("numpy", "scikit-learn", "lightgbm", "onnx", "onnxruntime", "skl2onnx", "onnxmltools", "mlflow")


def input_schema(config: DataConfig) -> list[dict[str, Any]]:
    """The graph's inputs as the serving side needs them: name, type, whether required, default, for a string its
    longest accepted length (data.max_text_length: what training kept, and what bulk scoring takes), for the
    title the code points the graph drops (`dropped_ranges`): one of those and whitespace alone is a blank title, and
    for a number the currency its prices were in (`data.currency`, when set): bulk scoring reads "15.00 USD" as
    training did, and the API's caller sends the number in it."""
    schema = []
    for name in config.columns:
        if name in config.numeric:
            schema.append(
                {"name": name, "type": "float", "required": False, "default": None}
                | ({"currency": config.currency[name]} if name in config.currency else {})
            )
        else:
            required = name == config.text
            default = None if required else ""
            schema.append(
                {"name": name, "type": "string", "required": required, "default": default}
                | {"max_length": config.max_text_length}
                | ({"dropped": dropped_ranges()} if required else {})
            )
    return schema


def json_inputs(row: pd.Series, config: DataConfig) -> dict[str, Any]:
    """One row's model inputs as a JSON request would carry them (NaN as null)."""
    return {
        name: (None if pd.isna(row[name]) else float(row[name])) if name in config.numeric else str(row[name])
        for name in config.columns
    }


def embed_metadata(model: onnx.ModelProto, metadata: dict[str, Any]) -> None:
    """Replace the embedded metadata in place; the graph's computation does not depend on it."""
    for entry in model.metadata_props:
        if entry.key == METADATA_KEY:
            entry.value = json.dumps(metadata)
            return
    raise ExportError(f"the ONNX model has no '{METADATA_KEY}' metadata entry")


def read_metadata(model: onnx.ModelProto) -> dict[str, Any]:
    """The metadata `to_onnx_model` embedded."""
    for entry in model.metadata_props:
        if entry.key == METADATA_KEY:
            return json.loads(entry.value)
    raise ExportError(f"the ONNX model has no '{METADATA_KEY}' metadata entry")


def split_record(config: TrainConfig) -> dict[str, Any]:
    """What decides a product's split (`training.data.split`): its group column (none: each title is a product,
    `products: title`), the seed, the fractions, and which classes are small and what they get (a small class's
    products all train under `small_classes: train`)."""
    return {
        "group": config.data.group,
        "products": PRODUCTS_BY_COLUMN if config.data.group else PRODUCTS_BY_TITLE,
        "titles": TITLES_FOLDED,
        "seed": config.split.seed,
        "test_fraction": config.split.test_fraction,
        "validation_fraction": config.split.validation_fraction,
        "min_class_products": config.split.min_class_products,
        "small_classes": config.split.small_classes,
    }


def products_named_by(record: dict[str, Any]) -> str:
    """How the model whose split record this is names its products, for comparing two models' records of the
    products they trained on and for messages: a column, titles, or (a model trained before titles were) rows."""
    if record.get("group"):
        return f"column {record['group']!r}"
    return "whole rows (no data.group)" if deals_whole_rows(record) else "titles (no data.group)"


def deals_whole_rows(record: dict[str, Any]) -> bool:
    """Whether the model, recorded before titles named products (`products`) and without a product column, dealt
    each row its split by the whole row: no config deals that split any more."""
    return not record.get("group") and record.get("products") != PRODUCTS_BY_TITLE


def titles_named_unfolded(record: dict[str, Any]) -> bool:
    """Whether the model, recorded before look-alike spellings were folded (`titles`), named a product by its title
    lower-cased alone: a title the fold changes named another product then, so a comparison leaves such rows out."""
    return record.get("titles") != TITLES_FOLDED


def blank_ids_named_by_row(record: dict[str, Any]) -> bool:
    """Whether the model, recorded before titles named products (`products`), named each row with a blank product
    id by the whole row: its record of trained products cannot say which such rows it saw, so a comparison leaves
    them out."""
    return bool(record.get("group")) and "products" not in record


def build_metadata(
    config: TrainConfig,
    *,
    run_id: str,
    created_at: str,
    model_version: str,
    classes: Iterable[Any],
    class_counts: pd.Series,
    training_data: dict[str, Any],
    metrics: dict[str, float],
    example: pd.Series,
) -> dict[str, Any]:
    """The metadata of a newly trained model, all but its golden examples (those need the exported graph).

    Args:
        config: The run's config.
        run_id: The MLflow run that trained it.
        created_at: When, as ISO 8601 (see `new_model_version`).
        model_version: Its version name (see `new_model_version`).
        classes: The classifier's classes, in output order.
        class_counts: Training rows per class.
        training_data: The data's `source` (a path or a synthetic description), `sha256` and `rows`, and the
            `corrected_listings` when the run took corrections.
        metrics: Headline test metrics.
        example: One test row, shown as the example request.

    Returns:
        JSON-ready metadata, in the order model.json lists it.
    """
    return {
        "model_version": model_version,
        "created_at": created_at,
        "mlflow_run_id": run_id,
        "config_name": config.name,
        "classes": [str(label) for label in classes],
        # What the scheduled drift check compares the live traffic's predicted class mix with.
        "class_shares": class_shares(class_counts),
        "inputs": input_schema(config.data),
        # Which catalogue column fed each input: `make predict` reads a file in the training catalogue's own columns.
        "columns": dict(config.data.columns),
        # The category path's outputs and its "taxonomy" entry are added at export (`training.model.path_graph`).
        "outputs": {name: name for name in GRAPH_OUTPUTS},
        # The file's name, not its path: GET /model serves this and must not reveal the trainer's folders.
        "training_data": {
            "source": public_source_name(training_data["source"]),
            "sha256": training_data["sha256"],
            "rows": training_data["rows"],
            # Which products it held out: `make compare` refuses to score it on test rows of another split.
            "split": split_record(config),
        }
        # The reviewed listings it was given as corrections: a comparison on reviewed traffic leaves them out; and
        # where titles name products, the products only they trained, which no catalogue names.
        | {
            key: training_data[key]
            for key in (CORRECTED_LISTINGS, CORRECTED_PRODUCTS, FOLDED_CLASSES)
            if key in training_data
        },
        "metrics": metrics,
        "library_versions": {name: version(name) for name in LIBRARIES} | {"python": platform.python_version()},
        "example": json_inputs(example, config.data),
    }


def new_model_version(run_id: str) -> tuple[str, str]:
    """A new model's creation time (ISO 8601, UTC) and version name: `YYYYMMDD.HHMMSS-<run id prefix>`."""
    created_at = datetime.now(UTC).isoformat(timespec="seconds")
    return created_at, f"{created_at[:19].replace('-', '').replace(':', '').replace('T', '.')}-{run_id[:8]}"


def class_shares(counts: pd.Series) -> dict[str, float]:
    """Each class's share of the training rows."""
    shares = counts / counts.sum()
    return {str(label): float(share) for label, share in shares.sort_index().items()}


def public_source_name(source: str) -> str:
    """The data's file name, not its path: GET /model serves this and must not reveal the trainer's folders."""
    return source if source.startswith("synthetic(") else PurePosixPath(source.rstrip("/")).name
