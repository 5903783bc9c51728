"""The category tree behind path labels, and the graph step that answers with the predicted path.

Labels such as "Electronics > Audio > Headphones" name a path; every distinct prefix is a node. The exported
graph gets two more outputs, computed from `probabilities` inside the graph so serving has no second
implementation: `path_nodes` [N, D] (the predicted leaf's ancestors, department first, -1 padding below a
shallow leaf) and `path_confidence` [N, D] (each node's confidence: the summed probability of every class under
it, 0 for padding). A flat model (no separator) is a one-level tree: its path is the leaf and its probability.

The graph step takes, per level l, a constant vector A_l[K] holding each class's ancestor at that level: it
gathers the predicted class's ancestor and sums the probabilities of the classes that share it. That costs
O(N·K·D) and no dense class × node matrix (~100 MB at 5,000 classes). `path_outputs` is the same arithmetic
in numpy over each row's best classes (`TopClasses`), for the parity gate and the evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from training.exceptions import DataValidationError, ExportError

if TYPE_CHECKING:
    from collections.abc import Iterable

    import onnx

    from training.model.top_classes import TopClasses

PATH_NODES_OUTPUT = "path_nodes"
PATH_CONFIDENCE_OUTPUT = "path_confidence"
_PREFIX = "hierarchy_"


@dataclass(frozen=True)
class Hierarchy:
    """The tree of a model's classes: node names and parents, and each class's node.

    Attributes:
        separator: The path separator, None for flat labels.
        names: Each node's short name (its last path segment).
        parents: Each node's parent id, -1 for a top-level node (a department).
        leaf_nodes: Each class's node, in the classifier's class order.
    """

    separator: str | None
    names: list[str]
    parents: list[int]
    leaf_nodes: list[int]

    @property
    def depth(self) -> int:
        """Levels of the deepest path (1 for flat labels)."""
        return int(self.levels().max())

    def levels(self) -> np.ndarray:
        """Each node's level, 1 for a department."""
        level = np.zeros(len(self.names), dtype=np.int64)
        for node, parent in enumerate(self.parents):  # parents come before their children
            level[node] = 1 if parent < 0 else level[parent] + 1
        return level

    def ancestors(self) -> np.ndarray:
        """[D, K] int64: each class's ancestor at each level (row 0 the department), -1 below a shallow class."""
        paths = [self.path(node) for node in self.leaf_nodes]
        table = np.full((max(map(len, paths)), len(paths)), -1, dtype=np.int64)
        for column, path in enumerate(paths):
            table[: len(path), column] = path
        return table

    def path(self, node: int) -> list[int]:
        """The node ids from the department down to `node`."""
        path = [node]
        while self.parents[path[-1]] >= 0:
            path.append(self.parents[path[-1]])
        return path[::-1]

    def full_name(self, node: int) -> str:
        """A node's whole path, joined with the separator (a class's own label for a leaf)."""
        return (self.separator or "").join(self.names[step] for step in self.path(node))

    def to_metadata(self) -> dict[str, Any]:
        """The compact form the model's metadata carries under "taxonomy": every name once."""
        return {
            "separator": self.separator,
            "names": self.names,
            "parents": self.parents,
            "leaf_nodes": self.leaf_nodes,
        }


def build_hierarchy(classes: Iterable[Any], *, separator: str | None) -> Hierarchy:
    """The tree whose nodes are every distinct prefix of the class labels' paths.

    Leaves may sit at different depths, and a class may also be the parent of other classes ("A > B" and
    "A > B > C"): its node's confidence then covers its own probability and its descendants'. Nodes are
    numbered level by level, in label order within a level, so a parent's id is below its children's.

    Args:
        classes: The classifier's classes, in output order.
        separator: `data.path_separator`; None makes every label a one-level path.

    Raises:
        DataValidationError: A label has an empty segment (e.g. "A >  > B" or a trailing separator).
    """
    labels = [str(label) for label in classes]
    paths = [tuple(label.split(separator)) if separator else (label,) for label in labels]
    for label, path in zip(labels, paths, strict=True):
        if any(segment == "" for segment in path):
            raise DataValidationError(
                f"category {label!r} has an empty level between path separators {separator!r}: fix the label, or "
                "set data.path_separator to the separator the labels really use"
            )
    prefixes = sorted({path[:length] for path in paths for length in range(1, len(path) + 1)}, key=_level_order)
    ids = {prefix: node for node, prefix in enumerate(prefixes)}
    return Hierarchy(
        separator=separator,
        names=[prefix[-1] for prefix in prefixes],
        parents=[ids[prefix[:-1]] if len(prefix) > 1 else -1 for prefix in prefixes],
        leaf_nodes=[ids[path] for path in paths],
    )


def hierarchy_from_metadata(taxonomy: dict[str, Any]) -> Hierarchy:
    """The tree a model's "taxonomy" metadata describes (the inverse of `Hierarchy.to_metadata`)."""
    return Hierarchy(
        separator=taxonomy["separator"],
        names=list(taxonomy["names"]),
        parents=[int(parent) for parent in taxonomy["parents"]],
        leaf_nodes=[int(node) for node in taxonomy["leaf_nodes"]],
    )


def path_outputs(top: TopClasses, hierarchy: Hierarchy) -> tuple[np.ndarray, np.ndarray]:
    """The graph's `path_nodes` and `path_confidence`, computed in numpy from each row's best classes.

    A node's confidence is the summed probability of the classes under it; classes outside a row's `top` have
    probability 0, so summing over them alone is exact.

    Args:
        top: Each row's best classes and probabilities (all classes with probability > 0).
        hierarchy: The classes' tree.

    Returns:
        [N, D] int64 node ids (department first, -1 padding) and [N, D] float64 confidences (0 for padding).
    """
    ancestors = hierarchy.ancestors()
    nodes = ancestors[:, top.best].T
    confidence = np.zeros(nodes.shape, dtype=np.float64)
    for level, row in enumerate(ancestors):
        under = row[top.indices] == nodes[:, level, None]
        confidence[:, level] = np.where(under, top.probabilities, 0.0).sum(axis=1)
    return nodes, np.where(nodes >= 0, confidence, 0.0)


def add_path_outputs(
    model: onnx.ModelProto,
    metadata: dict[str, Any],
    *,
    classes: Iterable[Any],
    separator: str | None,
    probabilities: str,
) -> None:
    """Add `path_nodes` and `path_confidence` to an exported graph, and its tree to `metadata` ("taxonomy").

    The graph's constants and the names serving shows come from one `Hierarchy`, so the two cannot disagree.

    Args:
        model: The converted graph, changed in place.
        metadata: The metadata about to be embedded, given its "taxonomy" entry in place.
        classes: The classifier's classes, in output order.
        separator: `data.path_separator`.
        probabilities: The name of the graph's [N, K] float32 probabilities output.

    Raises:
        ExportError: The graph already has path outputs, or lacks the probabilities output.
        DataValidationError: A label has an empty path segment.
    """
    hierarchy = build_hierarchy(classes, separator=separator)
    graph = model.graph
    names = {output.name for output in graph.output}
    if probabilities not in names or {PATH_NODES_OUTPUT, PATH_CONFIDENCE_OUTPUT} & names:
        raise ExportError(f"cannot add path outputs to a graph with outputs {sorted(names)}")
    ancestors = hierarchy.ancestors()
    p = _PREFIX
    graph.initializer.extend(
        [
            numpy_helper.from_array(ancestors, f"{p}ancestors"),  # [D, K]
            numpy_helper.from_array(ancestors[:, None, :], f"{p}ancestors_3d"),  # [D, 1, K]
            numpy_helper.from_array(np.array([2], dtype=np.int64), f"{p}axis2"),
            numpy_helper.from_array(np.array(0, dtype=np.int64), f"{p}zero_id"),
            numpy_helper.from_array(np.array(0.0, dtype=np.float32), f"{p}zero"),
        ]
    )
    graph.node.extend(
        [
            helper.make_node("ArgMax", [probabilities], [f"{p}leaf"], axis=1, keepdims=0, name=f"{p}ArgMax"),
            # [D, N]: the predicted class's ancestor at each level.
            helper.make_node("Gather", [f"{p}ancestors", f"{p}leaf"], [f"{p}nodes"], axis=1, name=f"{p}Gather"),
            helper.make_node("Unsqueeze", [f"{p}nodes", f"{p}axis2"], [f"{p}nodes_3d"], name=f"{p}Unsqueeze"),
            # [D, N, K]: which classes lie under that ancestor; their probabilities summed are its confidence.
            helper.make_node("Equal", [f"{p}ancestors_3d", f"{p}nodes_3d"], [f"{p}under"], name=f"{p}Equal"),
            helper.make_node("Where", [f"{p}under", probabilities, f"{p}zero"], [f"{p}masked"], name=f"{p}Mask"),
            helper.make_node("ReduceSum", [f"{p}masked", f"{p}axis2"], [f"{p}sums"], keepdims=0, name=f"{p}Sum"),
            # Padding (-1) matches the other shallow classes' padding: its confidence is 0, not their sum.
            helper.make_node("GreaterOrEqual", [f"{p}nodes", f"{p}zero_id"], [f"{p}real"], name=f"{p}Real"),
            helper.make_node("Where", [f"{p}real", f"{p}sums", f"{p}zero"], [f"{p}confidence"], name=f"{p}Pad"),
            helper.make_node("Transpose", [f"{p}nodes"], [PATH_NODES_OUTPUT], perm=[1, 0], name=f"{p}NodesT"),
            helper.make_node(
                "Transpose", [f"{p}confidence"], [PATH_CONFIDENCE_OUTPUT], perm=[1, 0], name=f"{p}ConfidenceT"
            ),
        ]
    )
    graph.output.extend(
        [
            helper.make_tensor_value_info(PATH_NODES_OUTPUT, TensorProto.INT64, [None, hierarchy.depth]),
            helper.make_tensor_value_info(PATH_CONFIDENCE_OUTPUT, TensorProto.FLOAT, [None, hierarchy.depth]),
        ]
    )
    metadata["taxonomy"] = hierarchy.to_metadata()


def _level_order(prefix: tuple[str, ...]) -> tuple[int, tuple[str, ...]]:
    """Sort key: shallower prefixes first, then by their segments."""
    return len(prefix), prefix
