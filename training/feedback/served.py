"""Answer captured listings with a model file exactly as the function would (the handler's own loading, defaults and
inference), so a challenger's labels on live traffic are the labels it would serve."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from training.exceptions import TrainingError

if TYPE_CHECKING:
    import pandas as pd


def listing_rows(listings: pd.DataFrame, inputs: list[str]) -> list[dict[str, Any]]:
    """Each listing's request fields, missing values as None (the model's default applies, as in a request)."""
    return [
        {name: (None if value != value else value) for name, value in zip(inputs, values, strict=True)}
        for values in listings[inputs].itertuples(index=False, name=None)
    ]


def served_labels(model: bytes, rows: list[dict[str, Any]], *, name: str) -> list[str]:
    """The label the function would answer for each row, serving the graph `model`.

    Raises:
        TrainingError: The graph is not a model the function can load.
    """
    from handler.exceptions import InferenceError, ModelLoadError
    from handler.model import load_model
    from handler.settings import Settings

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.onnx"
        path.write_bytes(model)
        try:
            loaded = load_model(Settings(model_path=path, model_cache_dir=Path(folder)))
        except ModelLoadError as exc:
            raise TrainingError(f"model {name}: {exc}") from exc
        try:
            return [prediction.label for prediction in loaded.predict(rows)]
        except InferenceError as exc:  # a captured value the API would have refused: the file was not written by it
            raise TrainingError(f"model {name} cannot answer a captured listing: {exc}") from exc
