"""The models `make compare` and `make review-queue` take, by a file or an MLflow URI, read and named alike: a
reference that names no model `make train` wrote is refused in one line naming it, before any scoring."""

from __future__ import annotations

from pathlib import Path

import onnx
from google.protobuf.message import DecodeError

from training.config import PROJECT_ROOT
from training.exceptions import TrainingError
from training.model.metadata import METADATA_KEY


def read_model(reference: str, *, name: str) -> bytes:
    """An ONNX file's bytes, or the graph of an MLflow model URI: model `name` (A, B) of `make compare`, and B of
    `make review-queue`, so both take and name a model alike.

    Raises:
        TrainingError: The file does not exist, MLflow cannot find the model, or it is no model `make train` wrote
            (not ONNX, empty, or without the metadata its answers are read by).
    """
    model = _reference_bytes(reference, name=name)
    try:
        graph = onnx.load_model_from_string(model)
    except DecodeError as exc:
        raise TrainingError(
            f"model {name} is not an ONNX model: {reference} (pass a model.onnx `make train` wrote)"
        ) from exc
    if not any(entry.key == METADATA_KEY for entry in graph.metadata_props):
        raise TrainingError(
            f"model {name} is no model `make train` wrote: {reference} is "
            f"{'empty' if not model else f'an ONNX graph without its {METADATA_KEY!r} metadata'} (pass a model.onnx "
            "`make train` wrote)"
        )
    return model


def _reference_bytes(reference: str, *, name: str) -> bytes:
    """The bytes a model reference names: an MLflow URI's ONNX graph, or a file's.

    Raises:
        TrainingError: The file does not exist or MLflow cannot find the model.
    """
    if in_mlflow(reference):
        from botocore.exceptions import BotoCoreError, ClientError

        from training.reporting.tracking import UNREADABLE_MODEL, configure_tracking, read_registered_onnx

        configure_tracking(PROJECT_ROOT, "product-classifier")
        try:
            return read_registered_onnx(reference)
        except (*UNREADABLE_MODEL, BotoCoreError, ClientError) as exc:
            raise TrainingError(
                f"MLflow has no ONNX model at {reference}: {exc} (pass models:/<name>/<version>, "
                "models:/<name>@<alias>, runs:/<run id>/model, or an .onnx file)"
            ) from exc
    path = Path(reference)
    if path.is_dir():
        raise TrainingError(f"{reference} is a folder: pass the model.onnx inside it")
    if not path.is_file():
        raise TrainingError(f"model {name} file not found: {reference} (pass an .onnx file or a models:/… URI)")
    return path.read_bytes()


def in_mlflow(reference: str) -> bool:
    """Whether a model reference is an MLflow URI rather than a file."""
    return "://" in reference or reference.startswith(("models:", "runs:"))
