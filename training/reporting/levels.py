"""Evaluation per level of the category tree: how good the answer is at each depth, and what min_confidence buys.

- Per level (1 = department): accuracy and macro-F1 of the predicted leaf's ancestor against the true
  category's, over the test rows whose true path reaches that level.
- Hierarchical precision, recall and F1 (Kiritchenko et al., 2005): the predicted and the true category each
  stand for their ancestor set (the node and every node above it, the root left out, and so every node all
  categories lie below: Magento's "Default Category"); hP = Σ|P ∩ T| / Σ|P|,
  hR = Σ|P ∩ T| / Σ|T|. A wrong leaf under the right category still earns its shared ancestors.
- The coverage curve: for each min_confidence threshold 0.00, 0.05, ..., 0.95, the API's answer (the deepest
  node whose confidence reaches it, `training.model.hierarchy`'s path confidences) is a leaf, an intermediate
  node, a department or the root; the share of test rows of each kind, and how often each kind is right (the
  answered node lies on the true category's path; the root is always right and not scored).

A flat model is a one-level tree: level 1 is the leaf, and the curve has only leaf and root answers. The
names are the same for every model, so runs compare.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.metrics import f1_score

from training.model.hierarchy import path_outputs

if TYPE_CHECKING:
    import pandas as pd

    from training.model.hierarchy import Hierarchy
    from training.model.top_classes import TopClasses

THRESHOLDS = tuple(round(0.05 * step, 2) for step in range(20))
KINDS = ("leaf", "intermediate", "department", "root")


def evaluate_levels(
    labels: pd.Series | np.ndarray, top: TopClasses, classes: np.ndarray, hierarchy: Hierarchy
) -> dict[str, Any]:
    """Per-level, hierarchical and coverage metrics of the test split.

    Args:
        labels: The test rows' true labels.
        top: The model's best classes for them (positions in `classes`) with their probabilities.
        classes: The classifier's classes.
        hierarchy: The classes' tree.

    Returns:
        `{"per_level": [...], "hierarchical_precision", "hierarchical_recall", "hierarchical_f1",
        "coverage": [...]}`, JSON-ready; `scalar_metrics` flattens it for MLflow.
    """
    index = {str(label): position for position, label in enumerate(classes)}
    ancestors = hierarchy.ancestors()
    truth = ancestors[:, [index[str(label)] for label in labels]].T  # [N, D]
    nodes, confidence = path_outputs(top, hierarchy)
    named = ~hierarchy.shared_levels()  # a level every class shares is the root's, which the scores leave out
    return {
        "per_level": [_level_scores(truth[:, level], nodes[:, level], level + 1) for level in range(truth.shape[1])],
        **_hierarchical_scores(truth[:, named], nodes[:, named]),
        "coverage": [_coverage(truth, nodes, confidence, threshold) for threshold in THRESHOLDS],
    }


def scalar_metrics(levels: dict[str, Any]) -> dict[str, float]:
    """The run's per-level and hierarchical figures as flat MLflow metrics (`level_1_accuracy`, ...)."""
    metrics = {key: levels[key] for key in ("hierarchical_precision", "hierarchical_recall", "hierarchical_f1")}
    for scores in levels["per_level"]:
        metrics |= {
            f"level_{scores['level']}_{key}": scores[key] for key in ("accuracy", "macro_f1") if scores[key] is not None
        }
    return metrics


def _level_scores(truth: np.ndarray, predicted: np.ndarray, level: int) -> dict[str, Any]:
    """Accuracy and macro-F1 at one level, over the rows whose true path reaches it (None when no test row does:
    a level only classes without test rows reach is not measured, not scored 0)."""
    reached = truth >= 0
    true_nodes, predicted_nodes = truth[reached], predicted[reached]
    measured = bool(reached.any())
    return {
        "level": level,
        "rows": int(reached.sum()),
        "nodes": len(np.unique(true_nodes)),
        "accuracy": float((true_nodes == predicted_nodes).mean()) if measured else None,
        "macro_f1": float(
            f1_score(true_nodes, predicted_nodes, labels=np.unique(true_nodes), average="macro", zero_division=0)
        )
        if measured
        else None,
    }


def _hierarchical_scores(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Kiritchenko's hP, hR and hF over ancestor sets (paths are prefix-closed: the overlap is the shared prefix)."""
    shared = np.cumprod((truth == predicted) & (truth >= 0), axis=1).sum()
    precision = float(shared / max((predicted >= 0).sum(), 1))
    recall = float(shared / max((truth >= 0).sum(), 1))
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"hierarchical_precision": precision, "hierarchical_recall": recall, "hierarchical_f1": float(f1)}


def _coverage(truth: np.ndarray, nodes: np.ndarray, confidence: np.ndarray, threshold: float) -> dict[str, Any]:
    """What kind of node the API answers at one min_confidence, how often each kind, and how often it is right."""
    rows = np.arange(len(nodes))
    depth = (nodes >= 0).sum(axis=1)
    # The deepest node reaching the threshold, stopping at the first that does not (as the handler does).
    level = np.cumprod((confidence >= threshold) & (nodes >= 0), axis=1).sum(axis=1)
    kind = np.select([level == 0, level == depth, level == 1], ["root", "leaf", "department"], "intermediate")
    step = np.maximum(level - 1, 0)
    right = (level == 0) | (nodes[rows, step] == truth[rows, step])
    point: dict[str, Any] = {"min_confidence": threshold}
    for name in KINDS:
        chosen = kind == name
        point[f"{name}_share"] = float(chosen.mean()) if len(rows) else 0.0
        if name != "root":
            point[f"{name}_accuracy"] = float(right[chosen].mean()) if chosen.any() else None
    answered = level > 0
    point["answered_accuracy"] = float(right[answered].mean()) if answered.any() else None
    return point
