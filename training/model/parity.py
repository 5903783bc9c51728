"""Prove the graph reproduces the Python pipeline (the parity gate), and record its answers (golden examples).

The gate runs the test rows plus rows built to break text and hashing code through both and demands the
same label everywhere and probabilities within the configured tolerance; it also sends every Unicode code
point through the graph's text steps. Golden examples are test rows (and short hostile titles) with the
answers onnxruntime gave at export, embedded in the model: the function replays them at load and the
pre-traffic check before traffic shifts.

The category path (`path_nodes`, `path_confidence`, see `training.model.hierarchy`) is held to the same gate:
the same nodes at every row, confidences within the tolerance. A label the pipeline scores within the tolerance of
its best is a tie, not a disagreement: the graph's float32 may break it the other way (every candidate at 0.05).
A few golden examples are back-off cases (a leaf the model is unsure of under a parent it is sure of) with the
answer a `min_confidence` request gets.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd

from handler.model import session_options
from training.columns import GRAPH_OUTPUTS, LABEL
from training.exceptions import ExportParityError
from training.model.hierarchy import (
    build_hierarchy,
    hierarchy_from_metadata,
    path_outputs,
)
from training.model.metadata import json_inputs, read_metadata
from training.model.onnx_ops import PAD, text_ops_model
from training.model.top_classes import predict_top
from training.text import MAX_CODE_POINT, fold_whitespace, normalise_like_onnx, word_tokens

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from training.config import DataConfig
    from training.model.top_classes import TopClasses

# Titles that have broken text pipelines before: empty, whitespace only, control characters, non-Latin
# scripts, case-mapping edge cases (final sigma, dotted I), emoji and very long strings.
ADVERSARIAL_TITLES = (
    "",
    "   ",
    "\t\n\r",
    "tab\tseparated\nmulti\r\nline title",
    "Café Crème KÜHLSCHRANK größe ÄÖÜ",
    "ΣΊΣΥΦΟΣ ΟΔΥΣΣΕΎΣ τηλεόραση",
    "İSTANBUL DİJİTAL ışık",
    "ТЕЛЕВИЗОР Samsung 55 дюймов",
    "冷蔵庫 パナソニック 500l",
    "📱 phone 🔥🔥 128gb",
    "x" * 10_000,
    "samsung " * 1_250,
    "a b c d e f",
    "_ __ ___ 1 22 333",
    # Code points one Unicode table knows and another does not (CJK Extension I is Unicode 15.1).
    "ostara b4378 a++ max \U0002ebf0\U0002ebf0",
    "\U0002ee5b\u39ec",
    "private \ue000\ue001 use \U000f0000\U000f0001 unassigned \U000e0080\U0003fffe",
    "nul\x00inside zero\u200bwidth rtl \u202eטלוויזיה\u202c combining e\u0301\u0301",
    "ligature \ufb01\ufb02 ǅ ǈ final ς sharp ẞß kelvin \u212a",
    "ＫＡＩＴＯ ＯＬＥＤ ＴＶ ５５\u3000ｉｎｃｈ soft\u00adhyphen \u2460 \ufeff™ ½ ㎏",
)
ADVERSARIAL_CATEGORIES = ("", "never-seen-before", "0", "ünïcödé-séller", " padded ", "x" * 1_000)
ADVERSARIAL_NUMBERS = (float("nan"), 0.0, 0.01, 1e9)
# Golden examples: test rows embedded in the model with the answers onnxruntime gave at export, replayed by
# the function at load and by the pre-traffic check. Short adversarial titles join them (the long ones would
# bloat GET /model).
GOLDEN_ROWS = 20
GOLDEN_CLASSES = 50
GOLDEN_ADVERSARIAL_TITLES = (
    "ostara b4378 a++ max \U0002ebf0\U0002ebf0",
    "ΣΊΣΥΦΟΣ Kühl-Gefrier İSTANBUL ﬁ 📱 e\u0301 \u200b\x00 ẞ",
)
# Back-off golden examples: test rows (searched among the first BACK_OFF_SEARCH_ROWS) whose leaf confidence lies
# well below its parent's (the root's, 1, for a one-level path), asked with a min_confidence halfway between.
GOLDEN_BACK_OFF = 3
BACK_OFF_SEARCH_ROWS = 2_000
# A back-off threshold stays this far from every confidence on the path, so no host's rounding can flip it.
BACK_OFF_MARGIN = 0.02
PARITY_CHUNK = 64
# Rows compared at once by the parity gate (`check_parity`): the graph's [rows, classes] output for them is held
# (20 MB at 5,000 classes).
COMPARE_CHUNK = 1_000
# Code points per string of the text sweep: long enough to be quick, short enough for small tensors.
SWEEP_CHUNK = 512
SURROGATES = range(0xD800, 0xE000)
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ParityReport:
    """How closely the ONNX graph reproduced the Python pipeline."""

    rows: int
    adversarial_rows: int
    label_agreement: float
    max_abs_diff: float
    tolerance: float
    mismatched_rows: list[int]
    code_points: int
    mismatched_code_points: list[str]
    path_agreement: float
    path_max_abs_diff: float

    @property
    def passed(self) -> bool:
        """Every label and path identical, every probability and path confidence within tolerance, every code
        point handled alike."""
        return (
            self.label_agreement == 1.0
            and self.path_agreement == 1.0
            and max(self.max_abs_diff, self.path_max_abs_diff) <= self.tolerance
            and not self.mismatched_code_points
        )


def golden_examples(model_bytes: bytes, test: pd.DataFrame, config: DataConfig) -> list[dict[str, Any]]:
    """Test rows covering every class where possible (the first GOLDEN_CLASSES of many), short adversarial
    titles and back-off cases, with the graph's answers.

    Args:
        model_bytes: The exported graph, which computes the expected answers (its metadata names the nodes).
        test: The test split (with the label column).
        config: The data roles.

    Returns:
        JSON-ready `{"inputs", "label", "probabilities", "path"}` dicts (`path`: `{"node", "confidence"}` from the
        department down), at least `GOLDEN_ROWS` when the split allows; back-off cases add `min_confidence` and
        the `back_off` answer (`{"label", "level"}`) a request with that threshold gets.
    """
    # One row of each of the first GOLDEN_CLASSES classes: every example carries every class's probability, so
    # one per class grew the metadata with classes² (golden examples: 0.69 MB at 300 classes, ~125 MB at 5,000).
    one_per_class = test.groupby(LABEL, sort=True).head(1).sort_values(LABEL, kind="stable").head(GOLDEN_CLASSES)
    rest = test.drop(one_per_class.index).head(max(0, GOLDEN_ROWS - len(one_per_class)))
    chosen = pd.concat([one_per_class, rest])[list(config.columns)]
    adversarial = pd.DataFrame([chosen.iloc[0].to_dict() | {config.text: title} for title in GOLDEN_ADVERSARIAL_TITLES])
    rows = pd.concat([chosen, adversarial.astype(chosen.dtypes.to_dict())], ignore_index=True)
    labels, probabilities, nodes, confidence = run_onnx_outputs(model_bytes, rows, config)
    names = _node_names(model_bytes)
    examples = [
        {"inputs": json_inputs(row, config), "label": str(label), "probabilities": [float(p) for p in probs]}
        | {"path": _path(path_nodes, path_confidence, names)}
        for (_, row), label, probs, path_nodes, path_confidence in zip(
            rows.iterrows(), labels, probabilities, nodes, confidence, strict=True
        )
    ]
    return examples + _back_off_examples(model_bytes, test[list(config.columns)].head(BACK_OFF_SEARCH_ROWS), config)


def adversarial_frame(reference: pd.DataFrame, config: DataConfig) -> pd.DataFrame:
    """Rows built to break text and hashing code: each hostile value put into an otherwise ordinary row.

    Args:
        reference: Real rows to take the other fields from.
        config: Which inputs are text, categorical and numeric.

    Returns:
        A frame with the model's input columns.
    """
    base = reference[list(config.columns)].reset_index(drop=True)
    rows = []
    for i, title in enumerate(ADVERSARIAL_TITLES):
        rows.append({**base.iloc[i % len(base)].to_dict(), config.text: title})
    strings = [name for name in config.columns if name not in config.numeric and name != config.text]
    for name in strings:
        rows += [{**base.iloc[i % len(base)].to_dict(), name: value} for i, value in enumerate(ADVERSARIAL_CATEGORIES)]
    for name in config.numeric:
        rows += [{**base.iloc[i % len(base)].to_dict(), name: value} for i, value in enumerate(ADVERSARIAL_NUMBERS)]
    # Every optional field missing at once, as the API fills them in.
    for i in range(3):
        missing = {name: "" for name in strings} | {name: float("nan") for name in config.numeric}
        rows.append({**base.iloc[i % len(base)].to_dict(), **missing})
    frame = pd.DataFrame(rows, columns=list(config.columns))
    for name in config.numeric:
        frame[name] = frame[name].astype(np.float32)
    return frame


def check_parity(
    pipeline: Pipeline,
    model_bytes: bytes,
    frames: tuple[pd.DataFrame, pd.DataFrame],
    config: DataConfig,
    *,
    tolerance: float,
) -> ParityReport:
    """Run the graph with onnxruntime and the pipeline in Python on the same rows and compare.

    Args:
        pipeline: The fitted Python pipeline (the reference).
        model_bytes: The serialised ONNX graph.
        frames: The test split and the adversarial rows.
        config: The data roles.
        tolerance: Largest allowed |Δ probability|.

    Returns:
        The comparison. Use `enforce_parity` to turn a failure into an error.
    """
    test, adversarial = frames
    combined = pd.concat([test[list(config.columns)], adversarial], ignore_index=True)
    hierarchy = build_hierarchy(pipeline.classes_, separator=config.path_separator)
    same = np.empty(len(combined), dtype=bool)
    same_path = np.zeros(len(combined), dtype=bool)  # a graph of another depth agrees nowhere
    position = {label: index for index, label in enumerate(pipeline.classes_)}
    max_abs_diff = path_max_abs_diff = 0.0
    # A block at a time: at thousands of classes the whole split's probabilities would take gigabytes.
    for start in range(0, len(combined), COMPARE_CHUNK):
        rows = slice(start, start + COMPARE_CHUNK)
        block = combined.iloc[rows]
        onnx_labels, onnx_probabilities, onnx_nodes, onnx_confidence = run_onnx_outputs(model_bytes, block, config)
        graph_positions = np.array([position.get(label, -1) for label in onnx_labels])
        python = predict_top(pipeline, block).ties_broken_at(graph_positions, tolerance)
        python_nodes, python_confidence = path_outputs(python, hierarchy)
        same[rows] = onnx_labels == pipeline.classes_[python.best]
        max_abs_diff = max(max_abs_diff, _max_abs_difference(onnx_probabilities, python))
        if onnx_nodes.shape == python_nodes.shape:
            same_path[rows] = (onnx_nodes == python_nodes).all(axis=1)
            path_diff = np.abs(onnx_confidence - python_confidence)[same_path[rows]]
            path_max_abs_diff = max(path_max_abs_diff, float(path_diff.max(initial=0.0)))
    code_points, mismatched_code_points = sweep_text_ops()
    return ParityReport(
        rows=len(combined),
        adversarial_rows=len(adversarial),
        label_agreement=float(same.mean()),
        max_abs_diff=max_abs_diff,
        tolerance=tolerance,
        mismatched_rows=[int(i) for i in np.flatnonzero(~(same & same_path))[:20]],
        code_points=code_points,
        mismatched_code_points=mismatched_code_points,
        path_agreement=float(same_path.mean()),
        path_max_abs_diff=path_max_abs_diff,
    )


def enforce_parity(report: ParityReport) -> None:
    """Raise when the graph failed the gate.

    Raises:
        ExportParityError: Labels differ somewhere or a probability differs by more than the tolerance.
    """
    if not report.passed:
        raise ExportParityError(
            f"ONNX parity gate failed: label agreement {report.label_agreement:.4%} (need 100%), "
            f"max |Δp| {report.max_abs_diff:.2e} (need ≤ {report.tolerance:.0e}); path agreement "
            f"{report.path_agreement:.4%} (need 100%), max |Δ path confidence| {report.path_max_abs_diff:.2e}; "
            f"first mismatched rows {report.mismatched_rows}; code points handled differently "
            f"{report.mismatched_code_points or 'none'}. Nothing was registered or written."
        )


def parity_report_dict(report: ParityReport) -> dict[str, Any]:
    """The report as JSON-ready data, with the verdict."""
    return {**asdict(report), "passed": report.passed}


def sweep_text_ops(session: ort.InferenceSession | None = None) -> tuple[int, list[str]]:
    """Run every Unicode code point through the graph's text steps and Python's, and compare.

    Lower-casing, word tokens and the (whitespace-folded) characters must agree exactly, or the title features
    differ for any title containing the code point. Surrogates are left out: they cannot be UTF-8 encoded,
    so no request can carry one to the graph.

    Args:
        session: A session of `text_ops_model()`; one is created when None.

    Returns:
        How many code points were checked, and the first 20 strings (as code point ranges) that differed.
    """
    session = session or ort.InferenceSession(
        text_ops_model().SerializeToString(), sess_options=session_options(0), providers=["CPUExecutionProvider"]
    )
    code_points = [point for point in range(MAX_CODE_POINT + 1) if point not in SURROGATES]
    starts = range(0, len(code_points), SWEEP_CHUNK)
    texts = ["".join(map(chr, code_points[start : start + SWEEP_CHUNK])) for start in starts]
    normalised, words, characters = session.run(None, {"text": np.array(texts, dtype=object)})
    mismatched = []
    for index, text in enumerate(texts):
        expected = normalise_like_onnx(text)
        if (
            normalised[index] != expected
            or [word for word in words[index] if word != PAD] != word_tokens(expected)
            or [character for character in characters[index] if character != PAD] != list(fold_whitespace(expected))
        ):
            mismatched.append(f"U+{ord(text[0]):04X}..U+{ord(text[-1]):04X}")
    return len(code_points), mismatched[:20]


def run_onnx(model_bytes: bytes, frame: pd.DataFrame, config: DataConfig) -> tuple[np.ndarray, np.ndarray]:
    """Labels and probabilities of the graph for a frame, with onnxruntime (see `run_onnx_outputs`)."""
    labels, probabilities, _, _ = run_onnx_outputs(model_bytes, frame, config)
    return labels, probabilities


def run_onnx_outputs(
    model_bytes: bytes, frame: pd.DataFrame, config: DataConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Labels, probabilities, path nodes and path confidences of the graph for a frame, with onnxruntime.

    Runs in chunks: the Tokenizer pads every title of a call to the longest one (here up to 10,000
    characters), so one long title in a large call would multiply the work.
    """
    session = ort.InferenceSession(model_bytes, sess_options=session_options(0), providers=["CPUExecutionProvider"])
    outputs = [
        session.run(list(GRAPH_OUTPUTS), onnx_feeds(frame.iloc[start : start + PARITY_CHUNK], config))
        for start in range(0, len(frame), PARITY_CHUNK)
    ]
    labels, probabilities, nodes, confidence = (np.concatenate(parts) for parts in zip(*outputs, strict=True))
    return labels, probabilities, nodes, confidence


def onnx_feeds(frame: pd.DataFrame, config: DataConfig) -> dict[str, np.ndarray]:
    """The graph's input tensors for a frame: [N,1] strings or float32."""
    return {
        name: (
            frame[name].to_numpy(dtype=np.float32) if name in config.numeric else frame[name].to_numpy(dtype=object)
        ).reshape(-1, 1)
        for name in config.columns
    }


def _max_abs_difference(dense: np.ndarray, top: TopClasses) -> float:
    """The largest |Δp| between the graph's [rows, classes] probabilities and the pipeline's best classes (every
    class not among them has probability 0 in Python)."""
    rows = np.arange(len(top))[:, None]
    listed = np.abs(dense[rows, top.indices] - top.probabilities).max(initial=0.0)
    rest = dense.astype(np.float64, copy=True)
    rest[rows, top.indices] = 0.0
    return float(max(listed, np.abs(rest).max(initial=0.0)))


def _back_off_examples(model_bytes: bytes, candidates: pd.DataFrame, config: DataConfig) -> list[dict[str, Any]]:
    """Up to GOLDEN_BACK_OFF rows whose leaf the graph is unsure of but whose parent it is sure of, each with the
    min_confidence halfway between the two and the answer that threshold gives (the parent, one level up)."""
    if candidates.empty:
        return []
    labels, probabilities, nodes, confidence = run_onnx_outputs(model_bytes, candidates, config)
    depth = (nodes >= 0).sum(axis=1)
    rows = np.arange(len(candidates))
    leaf = confidence[rows, depth - 1]
    # The root (level 0) is sure of everything: confidence 1.
    parent = np.where(depth > 1, confidence[rows, np.maximum(depth - 2, 0)], 1.0)
    threshold = np.round((leaf.astype(np.float64) + parent) / 2, 2)
    safe = (parent - threshold > BACK_OFF_MARGIN) & (threshold - leaf > BACK_OFF_MARGIN)
    names = _node_names(model_bytes)
    examples = []
    for index in sorted(np.flatnonzero(safe), key=lambda i: leaf[i] - parent[i])[:GOLDEN_BACK_OFF]:
        path = _path(nodes[index], confidence[index], names)
        backed_off = path[-2]["node"] if len(path) > 1 else ""
        examples.append(
            {"inputs": json_inputs(candidates.iloc[index], config), "label": str(labels[index])}
            | {"probabilities": [float(p) for p in probabilities[index]], "path": path}
            | {"min_confidence": float(threshold[index]), "back_off": {"label": backed_off, "level": len(path) - 1}}
        )
    return examples


def _node_names(model_bytes: bytes) -> list[str]:
    """Each node's full path, from the taxonomy the exported graph's metadata carries."""
    hierarchy = hierarchy_from_metadata(read_metadata(onnx.load_from_string(model_bytes))["taxonomy"])
    return [hierarchy.full_name(node) for node in range(len(hierarchy.names))]


def _path(nodes: np.ndarray, confidence: np.ndarray, names: list[str]) -> list[dict[str, Any]]:
    """One row's path as JSON: `{"node", "confidence"}` from the department down, padding left out."""
    return [
        {"node": names[int(node)], "confidence": float(value)}
        for node, value in zip(nodes, confidence, strict=True)
        if node >= 0
    ]
