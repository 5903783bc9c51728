"""The graph step that answers with the predicted path: `path_nodes` and `path_confidence` (`hierarchy`).

It lives apart from `hierarchy` because the fitted title model uses the tree: a pickled pipeline must load without
the ONNX toolchain, which only the export needs (tests/training/test_layout.py holds it to that).

It takes, per level l, a constant vector A_l[K] holding each class's ancestor at that level: it gathers the
predicted class's ancestor and sums the probabilities of the classes that share it. That costs O(N·K·D) and no
dense class × node matrix (~100 MB at 5,000 classes); `hierarchy.path_outputs` is the same arithmetic in numpy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from training.columns import PATH_CONFIDENCE_OUTPUT, PATH_NODES_OUTPUT
from training.exceptions import ExportError
from training.model.hierarchy import build_hierarchy

if TYPE_CHECKING:
    from collections.abc import Iterable

    import onnx

_PREFIX = "hierarchy_"


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
