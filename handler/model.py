"""Load the ONNX model once per container and run it: raw fields in, labels, probabilities and the path out.

The graph computes the category path itself (`path_nodes`, `path_confidence`); this module only names its
nodes from the "taxonomy" metadata and picks the deepest node a caller's `min_confidence` allows.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np
import onnxruntime as ort

from handler.decisions import read_operating_points
from handler.exceptions import InferenceError, ModelLoadError
from handler.schemas import dropped_problem

if TYPE_CHECKING:
    from handler.settings import Settings

METADATA_KEY = "product_classifier"
# How far the loaded graph may stray from the probabilities training recorded for its golden examples.
GOLDEN_TOLERANCE = 1e-5
INPUT_TYPES = ("string", "float")
OUTPUTS = ("label", "probabilities", "path_nodes", "path_confidence")
# The answer when even the department is below a caller's min_confidence: the whole catalogue, sure by definition.
ROOT = "", 0, 1.0


@dataclass(frozen=True)
class Prediction:
    """One row's answer: the label, every class's probability (in `Model.classes` order) and the predicted path:
    node ids from the department down (-1 padding below a shallow leaf) with each node's confidence."""

    label: str
    probabilities: np.ndarray
    path_nodes: np.ndarray
    path_confidence: np.ndarray

    def path(self) -> list[tuple[int, float]]:
        """(node id, confidence) from the department down to the leaf; a confidence is a probability, at most 1 (the
        graph sums a node's classes in float32, which may round a department holding them all to 1.0000001)."""
        return [
            (int(node), min(float(c), 1.0))
            for node, c in zip(self.path_nodes, self.path_confidence, strict=True)
            if node >= 0
        ]


@dataclass(frozen=True)
class Taxonomy:
    """The class tree from the model's "taxonomy" metadata: each node's short name, full path and parent."""

    names: list[str]
    paths: list[str]
    parents: list[int]
    depth: int
    separator: str | None

    def summary(self) -> dict[str, Any]:
        """Depth and nodes per level (GET /model): bounded, whatever the number of classes."""
        levels: list[int] = []
        for parent in self.parents:  # parents precede their children
            levels.append(1 if parent < 0 else levels[parent] + 1)
        counts = [levels.count(level) for level in range(1, self.depth + 1)]
        return {"depth": self.depth, "separator": self.separator, "nodes_per_level": counts}


class Model:
    """An onnxruntime session plus the metadata training embedded in the graph."""

    def __init__(
        self, session: ort.InferenceSession, metadata: dict[str, Any], *, chunk: int, load_seconds: float
    ) -> None:
        self.session = session
        self.metadata = metadata
        self.chunk = chunk
        self.load_seconds = load_seconds
        self.classes: list[str] = list(metadata["classes"])
        self.inputs: list[dict[str, Any]] = list(metadata["inputs"])
        self.version: str = str(metadata.get("model_version", "unversioned"))
        self.text_input = next(spec["name"] for spec in self.inputs if spec.get("required"))
        self.taxonomy = read_taxonomy(metadata["taxonomy"])
        # None for a model trained before operating points were recorded: its answers carry no decision.
        self.operating_points = read_operating_points(metadata, self.taxonomy.depth)

    def predict(self, rows: list[dict[str, Any]]) -> list[Prediction]:
        """Predict rows of raw fields; a missing or None field takes the model's default.

        Rows run in chunks sorted by title length: the graph's tokenizer pads every title of a call to the
        longest, so mixing one long title with many short ones would multiply the work.

        Raises:
            InferenceError: onnxruntime failed, or answered a probability that is not a finite number.
        """
        order = sorted(range(len(rows)), key=lambda i: len(str(rows[i].get(self.text_input) or "")))
        predictions: dict[int, Prediction] = {}
        for start in range(0, len(order), self.chunk):
            indices = order[start : start + self.chunk]
            try:
                labels, probabilities, nodes, confidence = self.session.run(
                    list(OUTPUTS), self.feeds([rows[i] for i in indices])
                )
            except Exception as exc:  # onnxruntime raises its own untyped errors; none is the caller's fault
                raise InferenceError(f"onnxruntime failed on a batch of {len(indices)}: {exc}") from exc
            if not np.isfinite(probabilities).all():
                raise InferenceError(f"the model answered a non-finite probability in a batch of {len(indices)}")
            for position, index in enumerate(indices):
                predictions[index] = Prediction(
                    str(labels[position]), probabilities[position], nodes[position], confidence[position]
                )
        return [predictions[index] for index in range(len(rows))]

    def back_off(self, prediction: Prediction, min_confidence: float) -> tuple[str, int, float]:
        """The deepest node on the predicted path whose confidence reaches `min_confidence`.

        Confidence never increases with depth (a node's is the sum over the classes under it), so this is the
        last node of the path at or above the threshold; when even the department is below it, the root.

        Returns:
            The node's full path ("" for the root), its level (1 = department, 0 = root) and its confidence.
        """
        answer = ROOT
        for level, (node, confidence) in enumerate(prediction.path(), start=1):
            if confidence < min_confidence:
                break
            answer = self.taxonomy.paths[node], level, confidence
        return answer

    def feeds(self, rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
        """The graph's inputs for request rows, one [N,1] tensor per input: missing strings become "", missing
        numbers NaN (never "None")."""
        feeds = {}
        for spec in self.inputs:
            name = spec["name"]
            if spec["type"] == "float":
                numbers = [_number(row.get(name)) for row in rows]
                feeds[name] = np.array(numbers, dtype=np.float32).reshape(-1, 1)
            else:
                default = spec.get("default") or ""
                texts = [default if row.get(name) is None else str(row[name]) for row in rows]
                feeds[name] = np.array(texts, dtype=object).reshape(-1, 1)
        return feeds


def load_model(settings: Settings) -> Model:
    """Load the model named by the settings: the S3 URI when set, else the bundled file.

    Raises:
        ModelLoadError: The file is missing or corrupt, its checksum does not match, or it lacks metadata.
    """
    started = time.perf_counter()
    path = download_model(settings) if settings.model_s3_uri else settings.model_path
    if path.is_dir():
        raise ModelLoadError(f"MODEL_PATH {path} is a folder; name the model file in it ({path / 'model.onnx'})")
    if not path.is_file():
        raise ModelLoadError(f"model file not found: {path} (set MODEL_PATH, or run `make train` to create it)")
    try:
        session = ort.InferenceSession(
            str(path), sess_options=session_options(settings.intra_op_threads), providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime's load errors have no common type
        raise ModelLoadError(f"model file {path} is not a loadable ONNX model: {exc}") from exc
    metadata = read_metadata(session, path)
    model = Model(session, metadata, chunk=settings.inference_chunk, load_seconds=0.0)
    points = model.operating_points
    if points is not None and points.find(settings.target_precision) is None:
        raise ModelLoadError(
            f"TARGET_PRECISION {settings.target_precision} is not one of the model's operating points "
            f"{points.targets}: set it to one of them"
        )
    check_golden_examples(model)
    model.load_seconds = time.perf_counter() - started
    return model


def session_options(threads: int) -> ort.SessionOptions:
    """How every session that runs a model is made: the function's, and training's parity gate and bulk scoring, so
    the gate proves the graph as it serves.

    onnxruntime's graph optimisations are off: its rewrites find nothing to speed up in these graphs (string hashing,
    sparse products, tree ensembles; their answers and run time are the same either way), while searching for them
    is part of every cold start (`make benchmark-cold-start`).

    Args:
        threads: onnxruntime's intra-op threads; 0 lets it take one per core.
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return options


def check_golden_examples(model: Model) -> None:
    """Run the rows training recorded (or one row of defaults) and demand the recorded answers.

    This proves, on the host that will serve, that the metadata fits the graph (one probability per class)
    and that this onnxruntime computes what training's did; it also warms the session's first-call paths.

    Raises:
        ModelLoadError: The output width differs from the classes, or a golden example's answer differs.
    """
    golden = model.metadata.get("golden_examples") or [{"inputs": {}}]
    try:
        rows = [dict(example["inputs"]) for example in golden]
        predictions = model.predict(rows)
    except (InferenceError, KeyError, TypeError, ValueError) as exc:
        raise ModelLoadError(f"the model cannot answer its own examples: {exc}") from exc
    width = predictions[0].probabilities.shape[-1]
    if width != len(model.classes):
        raise ModelLoadError(f"metadata lists {len(model.classes)} classes but the graph outputs {width} probabilities")
    if predictions[0].path_nodes.shape[-1] != model.taxonomy.depth:
        raise ModelLoadError(
            f"metadata's taxonomy is {model.taxonomy.depth} levels deep but the graph answers paths of "
            f"{predictions[0].path_nodes.shape[-1]}"
        )
    for index, (example, prediction) in enumerate(zip(golden, predictions, strict=True)):
        if "label" not in example:
            continue
        recorded = _recorded_probabilities(example, prediction.probabilities.shape)
        if recorded is None:
            raise ModelLoadError(
                f"golden example {index}'s recorded probabilities are malformed (not {len(model.classes)} finite "
                "numbers); export the model again with `make train`"
            )
        difference = float(np.abs(prediction.probabilities - recorded).max())
        if prediction.label != example["label"] or difference > GOLDEN_TOLERANCE:
            raise ModelLoadError(
                f"golden example {index} answers {prediction.label!r} (max |Δp| {difference:.1e}) where training "
                f"recorded {example['label']!r}: this host computes differently from training's, or the file "
                "and its metadata do not belong together"
            )
        try:
            problem = _path_problem(model, prediction, example)
        except (KeyError, TypeError, ValueError) as exc:
            problem = f"its recorded path or back-off answer is malformed ({type(exc).__name__}: {exc})"
        if problem:
            raise ModelLoadError(f"golden example {index}: {problem}")


def _recorded_probabilities(example: dict[str, Any], shape: tuple[int, ...]) -> np.ndarray | None:
    """A golden example's recorded probabilities, or None unless they are finite numbers of the answer's shape (a
    null reads as NaN, which no tolerance catches; one number would broadcast against every class)."""
    try:
        recorded = np.asarray(example.get("probabilities"), dtype=float)
    except (TypeError, ValueError):
        return None
    return recorded if recorded.shape == shape and np.isfinite(recorded).all() else None


def download_model(settings: Settings, *, s3_client: Any = None) -> Path:
    """Download the S3 model to the cache folder once and verify its sha256 against the published one.

    The expected checksum is MODEL_SHA256 when set, else the `sha256` metadata the publisher stores on the
    object. A cached file with the right checksum (a warm container re-initialising) is reused.

    Raises:
        ModelLoadError: Bad URI, download failure, no published checksum, or a checksum mismatch.
    """
    import boto3  # the Lambda runtime ships boto3; importing it only here keeps cold starts of bundled models fast
    from botocore.exceptions import BotoCoreError, ClientError

    uri = urlparse(settings.model_s3_uri or "")
    if uri.scheme != "s3" or not uri.netloc or not uri.path.strip("/"):
        raise ModelLoadError(f"MODEL_S3_URI must look like s3://bucket/key.onnx, got {settings.model_s3_uri!r}")
    bucket, key = uri.netloc, uri.path.lstrip("/")
    # A session of its own: boto3's default session caches credentials, which a restored snapshot must not reuse.
    client = s3_client or boto3.session.Session().client("s3", config=_bounded(settings))
    try:
        expected = settings.model_sha256 or client.head_object(Bucket=bucket, Key=key)["Metadata"].get("sha256")
        if not expected:
            raise ModelLoadError(
                f"{settings.model_s3_uri} has no published sha256: set MODEL_SHA256 or publish with `make publish`"
            )
        target = settings.model_cache_dir / f"model-{expected}.onnx"
        if target.is_file() and _sha256(target) == expected:
            return target
        partial = target.with_suffix(".part")
        client.download_file(bucket, key, str(partial))
    except (BotoCoreError, ClientError) as exc:
        raise ModelLoadError(f"cannot download {settings.model_s3_uri}: {exc}") from exc
    actual = _sha256(partial)
    if actual != expected:
        partial.unlink()
        raise ModelLoadError(f"checksum mismatch for {settings.model_s3_uri}: expected sha256 {expected}, got {actual}")
    partial.replace(target)
    return target


def _bounded(settings: Settings) -> Any:
    """botocore settings that give up within Lambda's 10 s init: a silent endpoint costs attempts × read timeout."""
    from botocore.config import Config

    return Config(
        connect_timeout=settings.s3_connect_timeout,
        read_timeout=settings.s3_read_timeout,
        retries={"total_max_attempts": settings.s3_max_attempts, "mode": "standard"},
    )


def read_metadata(session: ort.InferenceSession, path: Path) -> dict[str, Any]:
    """The training metadata embedded in the graph, checked against the graph's own inputs and outputs.

    `make predict` reads a model through it too, so a model the function would refuse to load is refused there.

    Raises:
        ModelLoadError: The metadata is missing, unreadable, or does not fit the graph.
    """
    raw = session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
    if raw is None:
        raise ModelLoadError(f"model file {path} has no '{METADATA_KEY}' metadata; export it with `make train`")
    try:
        metadata = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ModelLoadError(f"model file {path} has unreadable metadata: {exc}") from exc
    problem = (
        _metadata_problem(metadata, {node.name for node in session.get_inputs()})
        or _taxonomy_problem(metadata, {node.name for node in session.get_outputs()})
        or _operating_points_problem(metadata)
    )
    if problem:
        raise ModelLoadError(f"model file {path} has inconsistent metadata: {problem}")
    return metadata


def read_taxonomy(taxonomy: dict[str, Any]) -> Taxonomy:
    """The tree the metadata describes (checked by `_taxonomy_problem` at load), with every node's full path."""
    names, parents, separator = taxonomy["names"], taxonomy["parents"], taxonomy["separator"] or ""
    paths: list[str] = []
    levels: list[int] = []
    for name, parent in zip(names, parents, strict=True):  # parents precede their children
        paths.append(name if parent < 0 else f"{paths[parent]}{separator}{name}")
        levels.append(1 if parent < 0 else levels[parent] + 1)
    return Taxonomy(
        names=list(names), paths=paths, parents=list(parents), depth=max(levels), separator=taxonomy["separator"]
    )


def _path_problem(model: Model, prediction: Prediction, example: dict[str, Any]) -> str | None:
    """How a golden example's path (and back-off answer) differs from what this host computed, or None."""
    if "path" not in example:
        return None
    path = prediction.path()
    got = [model.taxonomy.paths[node] for node, _ in path]
    recorded = [str(step["node"]) for step in example["path"]]
    differences = [abs(c - float(step["confidence"])) for (_, c), step in zip(path, example["path"], strict=False)]
    if got != recorded or max(differences, default=0.0) > GOLDEN_TOLERANCE:
        return f"path {got} where training recorded {recorded} (or confidences beyond {GOLDEN_TOLERANCE:.0e})"
    if "min_confidence" in example:
        label, level, _ = model.back_off(prediction, float(example["min_confidence"]))
        expected = example["back_off"]
        if (label, level) != (expected["label"], expected["level"]):
            return f"min_confidence {example['min_confidence']} backs off to {label!r} (level {level}), not {expected}"
    return None


def _metadata_problem(metadata: Any, graph_inputs: set[str]) -> str | None:
    """What is wrong with the metadata's classes and inputs, or None."""
    if not isinstance(metadata, dict):
        return "it is not a JSON object"
    classes, inputs = metadata.get("classes"), metadata.get("inputs")
    if not isinstance(classes, list) or not classes or not all(isinstance(label, str) for label in classes):
        return "'classes' must be a non-empty list of strings"
    if len(set(classes)) != len(classes):
        return "'classes' has duplicates"
    if not isinstance(inputs, list) or not all(
        isinstance(spec, dict) and isinstance(spec.get("name"), str) and spec.get("type") in INPUT_TYPES
        for spec in inputs
    ):
        return f"'inputs' must be a list of {{name, type}} with type one of {INPUT_TYPES}"
    declared = {spec["name"] for spec in inputs}
    if declared != graph_inputs or len(declared) != len(inputs):
        return f"inputs {sorted(declared)} differ from the graph's {sorted(graph_inputs)}"
    required = [spec for spec in inputs if spec.get("required")]
    if len(required) != 1 or required[0]["type"] != "string":
        return f"exactly one required string input (the title) is needed, found {[s['name'] for s in required]}"
    return dropped_problem(required[0].get("dropped", []))


def _taxonomy_problem(metadata: dict[str, Any], graph_outputs: set[str]) -> str | None:
    """What is wrong with the metadata's "taxonomy" (or the graph's path outputs), or None."""
    if not set(OUTPUTS) <= graph_outputs:
        return f"the graph has outputs {sorted(graph_outputs)}, not {list(OUTPUTS)}: re-export it with `make train`"
    taxonomy = metadata.get("taxonomy")
    if not isinstance(taxonomy, dict):
        return "'taxonomy' (the class tree) is missing: re-export the model with `make train`"
    names, parents, leaves = taxonomy.get("names"), taxonomy.get("parents"), taxonomy.get("leaf_nodes")
    separator = taxonomy.get("separator")
    if not (isinstance(separator, str) and separator) and separator is not None:
        return "'taxonomy.separator' must be a non-empty string or null"
    if not isinstance(names, list) or not names or not all(isinstance(name, str) for name in names):
        return "'taxonomy.names' must be a non-empty list of strings"
    if not isinstance(parents, list) or len(parents) != len(names):
        return "'taxonomy.parents' must give one parent per name"
    if not all(type(parent) is int and -1 <= parent < node for node, parent in enumerate(parents)):
        return "'taxonomy.parents' must name an earlier node or -1 for each node"
    if not isinstance(leaves, list):
        return "'taxonomy.leaf_nodes' must be a list of node ids, one per class"
    if len(leaves) != len(metadata["classes"]):
        return f"metadata lists {len(metadata['classes'])} classes but its taxonomy {len(leaves)} leaf nodes"
    if not all(type(node) is int and 0 <= node < len(names) for node in leaves):
        return "'taxonomy.leaf_nodes' must be node ids"
    paths = read_taxonomy(taxonomy).paths
    for label, node in zip(metadata["classes"], leaves, strict=True):
        if paths[node] != label:
            return f"class {label!r} sits at taxonomy node {paths[node]!r}"
    return None


def _operating_points_problem(metadata: dict[str, Any]) -> str | None:
    """What is wrong with the metadata's operating points (the thresholds decisions use), or None."""
    try:
        read_operating_points(metadata, read_taxonomy(metadata["taxonomy"]).depth)
    except (ValueError, TypeError, AttributeError) as exc:
        return str(exc)
    return None


def _number(value: Any) -> float:
    """A float32-able number, NaN for missing."""
    return math.nan if value is None else float(value)


def _sha256(path: Path) -> str:
    """Hash a file in chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
