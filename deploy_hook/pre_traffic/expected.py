"""What the version under test must answer, read from the artifact and never from the version itself.

`make build` bundles `expected.json` beside this module from the ONNX metadata of the model that passed the parity
gate: the model version, the classes, and golden examples with the probabilities training computed.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

from pre_traffic.exceptions import ExpectedSetError

EXPECTED_FILE = Path(__file__).resolve().parent / "expected.json"


@dataclass(frozen=True)
class GoldenExample:
    """One row of the artifact's golden set: the inputs and what training computed for them."""

    inputs: dict[str, Any]
    label: str
    probabilities: tuple[float, ...]
    path: tuple[tuple[str, float], ...]
    # A back-off case: the threshold, and the node (full path, "" for the root) and level it must answer.
    min_confidence: float | None = None
    back_off: tuple[str, int] | None = None


@dataclass(frozen=True)
class Expected:
    """What the version under test must serve, from the artifact (expected.json)."""

    model_version: str
    classes: tuple[str, ...]
    golden_examples: tuple[GoldenExample, ...]


def load_expected(path: Path) -> Expected:
    """The artifact's expected golden set, checked for shape.

    Raises:
        ExpectedSetError: The file is missing, not JSON, or lacks a field; the message names it.
    """
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ExpectedSetError(
            f"the expected golden set {path} could not be read ({exc}); `make build` writes it"
        ) from exc
    except ValueError as exc:
        raise ExpectedSetError(
            f"the expected golden set {path} is not JSON ({exc}); rebuild with `make build`"
        ) from exc
    if not isinstance(document, dict):
        raise ExpectedSetError(f"the expected golden set {path} is not a JSON object")
    version = document.get("model_version")
    if not isinstance(version, str) or not version:
        raise ExpectedSetError(f"the expected golden set {path} names no model_version")
    classes = document.get("classes")
    if not isinstance(classes, list) or not classes or not all(isinstance(label, str) for label in classes):
        raise ExpectedSetError(f"the expected golden set {path} has no list of class names")
    if len(set(classes)) != len(classes):
        raise ExpectedSetError(f"the expected golden set {path} lists a class twice")
    examples = document.get("golden_examples")
    if not isinstance(examples, list) or not examples:
        raise ExpectedSetError(f"the expected golden set {path} has no golden examples: retrain with `make train`")
    return Expected(
        model_version=version,
        classes=tuple(classes),
        golden_examples=tuple(_golden_example(index, example, classes, path) for index, example in enumerate(examples)),
    )


def _golden_example(index: int, example: Any, classes: list[str], path: Path) -> GoldenExample:
    """One golden example of expected.json, checked."""
    where = f"golden example {index} of {path}"
    if not isinstance(example, dict) or not isinstance(example.get("inputs"), dict):
        raise ExpectedSetError(f"{where} has no inputs object")
    if example.get("label") not in classes:
        raise ExpectedSetError(f"{where} has label {example.get('label')!r}, not one of the classes")
    probabilities = example.get("probabilities")
    if not isinstance(probabilities, list) or len(probabilities) != len(classes) or not all(map(finite, probabilities)):
        raise ExpectedSetError(f"{where} needs {len(classes)} finite probabilities, one per class")
    steps = example.get("path")
    if (
        not isinstance(steps, list)
        or not steps
        or not all(isinstance(step, dict) and isinstance(step.get("node"), str) for step in steps)
        or not all(finite(step.get("confidence")) for step in steps)
        or steps[-1]["node"] != example["label"]
    ):
        raise ExpectedSetError(f"{where} needs a path of {{node, confidence}} ending at its label: retrain the model")
    return GoldenExample(
        inputs=example["inputs"],
        label=example["label"],
        probabilities=tuple(float(p) for p in probabilities),
        path=tuple((step["node"], float(step["confidence"])) for step in steps),
        **_back_off(example, len(steps), where),
    )


def _back_off(example: dict[str, Any], depth: int, where: str) -> dict[str, Any]:
    """A golden example's back-off threshold and answer, checked; none for an ordinary example."""
    if "min_confidence" not in example:
        return {}
    threshold, back_off = example["min_confidence"], example.get("back_off")
    if (
        not finite(threshold)
        or not 0 <= threshold <= 1
        or not isinstance(back_off, dict)
        or not isinstance(back_off.get("label"), str)
        or type(back_off.get("level")) is not int
        or not 0 <= back_off["level"] < depth
    ):
        raise ExpectedSetError(f"{where} needs a min_confidence in 0..1 and a back_off label and level on its path")
    return {"min_confidence": float(threshold), "back_off": (back_off["label"], back_off["level"])}


def finite(value: Any) -> TypeGuard[float]:
    """A JSON number (not a boolean) that is neither NaN nor infinite, nor an integer beyond a float's range (JSON's
    integers have no bound: math.isfinite would raise on 10**400)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value) if isinstance(value, float) else abs(value) <= sys.float_info.max
