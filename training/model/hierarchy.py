"""The category tree behind path labels, and the predicted path in numpy.

Labels such as "Electronics > Audio > Headphones" name a path; every distinct prefix is a node. The exported
graph gets two more outputs (`path_graph`): `path_nodes` [N, D] (the predicted leaf's ancestors, department
first, -1 padding below a shallow leaf) and `path_confidence` [N, D] (each node's confidence: the summed
probability of every class under it, 0 for padding). A flat model (no separator) is a one-level tree: its path is
the leaf and its probability. `path_outputs` is the same arithmetic in numpy over each row's best classes
(`TopClasses`), for the parity gate and the evaluation. The fitted title model uses the tree too, so this module
holds no graph code: a pickled pipeline loads without the ONNX toolchain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from training.exceptions import DataValidationError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from training.model.top_classes import TopClasses


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

    def shared_levels(self) -> np.ndarray:
        """[D] bool: the levels whose one node is every class's ancestor (Magento's "Default Category/..."). Such a
        node names no category and is always sure, so it is neither a decision nor a score: it is the root."""
        ancestors = self.ancestors()
        return (ancestors == ancestors[:, :1]).all(axis=1) & (ancestors[:, 0] >= 0)

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


def _level_order(prefix: tuple[str, ...]) -> tuple[int, tuple[str, ...]]:
    """Sort key: shallower prefixes first, then by their segments."""
    return len(prefix), prefix
