"""Convert the fitted pipeline to one ONNX graph: raw columns in, `label` and `probabilities` out.

The transformers convert through `training.model.onnx_ops`, LightGBM through onnxmltools. The booster's
thresholds are first rounded down to float32 (`align_thresholds_to_float32`) so the graph's float32 tree
ensemble compares exactly as LightGBM does. Whether the graph then answers as the pipeline does is
`training.model.parity`'s to prove.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import lightgbm
import numpy as np
from lightgbm import LGBMClassifier
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType, StringTensorType

from training.columns import LABEL_OUTPUT, PROBABILITIES_OUTPUT
from training.exceptions import ExportError
from training.model.metadata import METADATA_KEY
from training.model.onnx_ops import declare_tokenizer_outputs, register_converters
from training.model.path_graph import add_path_outputs
from training.model.pins import require_pinned

if TYPE_CHECKING:
    import onnx
    from sklearn.pipeline import Pipeline

    from training.config import DataConfig

# `align_thresholds_to_float32` sets LightGBM's private `_Booster`: refuse any other version at import.
require_pinned("lightgbm")

TARGET_OPSET = {"": 20, "ai.onnx.ml": 3}


def align_thresholds_to_float32(classifier: LGBMClassifier) -> None:
    """Round every split threshold down to a float32, in place.

    Features are float32 and the ONNX tree ensemble stores thresholds as float32; LightGBM compares in
    double. For a float32 x, `x <= t` holds exactly when `x <= t32` with t32 the largest float32 ≤ t, so this
    changes no Python prediction and lets the graph compare exactly as LightGBM does.
    """
    text = classifier.booster_.model_to_string()
    aligned = re.sub(r"^threshold=(.*)$", _round_down_thresholds, text, flags=re.MULTILINE)
    # tree_sizes records byte lengths of the tree blocks, which the new numbers change; it is optional.
    aligned = re.sub(r"^tree_sizes=.*\n", "", aligned, flags=re.MULTILINE)
    classifier._Booster = lightgbm.Booster(model_str=aligned)


def to_onnx_model(pipeline: Pipeline, config: DataConfig, metadata: dict[str, Any]) -> onnx.ModelProto:
    """Convert the fitted pipeline to one graph: raw columns in, `label` and `probabilities` out.

    Args:
        pipeline: Fitted features + LightGBM pipeline.
        config: The data roles, which give the input names and types.
        metadata: JSON-serialisable facts to embed (classes, schema, metrics, versions...).

    Raises:
        ExportError: A step has no converter or the conversion failed.
    """
    register_converters()
    initial_types = [
        (name, FloatTensorType([None, 1]) if name in config.numeric else StringTensorType([None, 1]))
        for name in config.columns
    ]
    options = {
        id(pipeline.named_steps["classifier"]): {"zipmap": False},
    }
    try:
        model = to_onnx(
            pipeline,
            initial_types=initial_types,
            target_opset=TARGET_OPSET,
            options=options,
            final_types=[
                (LABEL_OUTPUT, StringTensorType([None])),
                (PROBABILITIES_OUTPUT, FloatTensorType([None, None])),
            ],
        )
    except (RuntimeError, NotImplementedError, ValueError, TypeError) as exc:
        raise ExportError(f"ONNX conversion failed: {exc}") from exc
    declare_tokenizer_outputs(model.graph)
    # The category path, computed in the graph from the probabilities; the tree joins `metadata` ("taxonomy").
    add_path_outputs(
        model, metadata, classes=pipeline.classes_, separator=config.path_separator, probabilities=PROBABILITIES_OUTPUT
    )
    model.doc_string = "Product category classifier: raw catalogue fields in, label and class probabilities out."
    entry = model.metadata_props.add()
    entry.key = METADATA_KEY
    entry.value = json.dumps(metadata)
    return model


def _round_down_thresholds(match: re.Match[str]) -> str:
    """One `threshold=` line with each value replaced by the largest float32 not above it."""
    values = np.array(match.group(1).split(), dtype=np.float64)
    as_float32 = values.astype(np.float32)
    rounded_up = as_float32.astype(np.float64) > values
    as_float32[rounded_up] = np.nextafter(as_float32[rounded_up], np.float32(-np.inf))
    return "threshold=" + " ".join(repr(float(value)) for value in as_float32)
