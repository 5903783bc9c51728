"""The multiclass design's model: LightGBM boosted from the title model's margin.

Given the title model's per-class scores only as features, LightGBM has to rebuild tree by tree the ranking the
linear model already holds, and on PriceRunner it then only ties its own baseline. Here it starts from that ranking
instead: each row's initial raw scores (LightGBM's `init_score`) are the title scores times one scale fitted by log
loss, and the trees learn what the other fields (seller, brand, price, the scores themselves) correct in it. When
there is nothing to correct, early stopping keeps few trees and the answer is the title model's: the model can only
fall below its baseline by what the trees overfit.

    raw = scale · title scores + Σ trees        probabilities = softmax(raw)

Python and the graph (`onnx_ops`) compute the same sum. The training rows' margins are the out-of-fold title scores
(`stacking`), as their features are; a two-class title model has one score, the second class's margin (the first's
is 0). Leaves whose rows the margin already answers confidently carry almost no hessian, so a leaf needs a hessian
sum of MIN_LEAF_HESSIAN: below it, Newton steps of thousands blew up a handful of rows' answers.

When the trees lower macro-F1 on the validation split all the same, `keep_better` drops them and the model ships as
the title model alone (the same graph without its tree ensemble), and says so (`shipped_`).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from lightgbm import LGBMClassifier
from scipy.optimize import minimize_scalar
from scipy.sparse import csr_matrix, issparse
from scipy.special import logsumexp, softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import f1_score

from training.model.lead_temperature import with_calibrated_lead

logger = logging.getLogger(__name__)
# The smallest hessian sum of a leaf (LightGBM's min_child_weight, 1e-3 by default).
MIN_LEAF_HESSIAN = 1.0
# What `shipped_` says when the trees were dropped.
TITLE_ALONE = "the title model alone"
# The margin's scale is searched in [1/MAX_SCALE, MAX_SCALE] (log scale).
MAX_SCALE = 100.0


class MarginBoostedClassifier(ClassifierMixin, BaseEstimator):
    """LightGBM multiclass boosted from the scaled title scores.

    Args:
        booster: LGBMClassifier settings (`pipeline.classifier_params`).
        scores: The title scores' columns (start, stop) among the features, set once the features are fitted.
    """

    def __init__(self, booster: dict[str, Any] | None = None, scores: tuple[int, int] | None = None) -> None:
        self.booster = booster
        self.scores = scores

    def fit(
        self,
        X: csr_matrix,
        y: Any,
        *,
        eval_set: list[tuple[Any, Any]] | None = None,
        callbacks: list[Any] | None = None,
    ) -> MarginBoostedClassifier:
        """Fit the margin's scale on the training rows, then the trees from the scaled margin, early-stopped on
        `eval_set` (whose rows start from their own margins)."""
        labels = np.asarray(y)
        self.classes_ = np.unique(labels)
        margin = self.margin(X)
        self.scale_ = fitted_scale(margin, np.searchsorted(self.classes_, labels))
        self.uses_trees_ = True
        self.model_ = LGBMClassifier(**margin_booster(self.booster or {}, len(self.classes_)))
        evaluation = list(eval_set or [])
        self.model_.fit(
            X,
            labels,
            init_score=self.scale_ * margin,
            eval_set=evaluation or None,
            eval_init_score=[self.scale_ * self.margin(X_eval) for X_eval, _ in evaluation] or None,
            callbacks=callbacks,
        )
        return self

    @classmethod
    def from_fitted(
        cls, model: LGBMClassifier, *, scale: float, scores: tuple[int, int], booster: dict[str, Any]
    ) -> MarginBoostedClassifier:
        """The classifier around trees fitted elsewhere from `scale` × the title margin (the Dask engine's)."""
        fitted = cls(booster=booster, scores=scores)
        fitted.model_, fitted.classes_, fitted.scale_, fitted.uses_trees_ = model, model.classes_, scale, True
        return fitted

    def margin(self, X: csr_matrix) -> np.ndarray:
        """The title scores as one margin per class, [N, classes] float64 (unscaled)."""
        assert self.scores is not None, "set `scores` to the title scores' columns before fitting"
        return title_margin(X, self.scores)

    def raw_scores(self, X: csr_matrix) -> np.ndarray:
        """The scaled margin plus the trees' raw scores (when kept), [N, classes]."""
        margin = self.scale_ * self.margin(X)
        return margin + self._trees(X) if self.uses_trees_ else margin

    def keep_better(self, X: csr_matrix, y: Any) -> bool:
        """Keep the trees only if they do not lower macro-F1 on these (validation) rows (a warning says when they are
        dropped); returns whether they are kept. Without them the answer is the title model's, the run's baseline.
        Macro-F1 over the classes these rows have, as the baseline gate scores it: a class answered but absent would
        count as 0 for whichever answered it."""
        labels, margin = np.asarray(y), self.scale_ * self.margin(X)
        with_trees = self.classes_[np.argmax(margin + self._trees(X), axis=1)]
        title_alone = self.classes_[np.argmax(margin, axis=1)]
        present = np.unique(labels)
        self.uses_trees_ = bool(
            f1_score(labels, with_trees, labels=present, average="macro", zero_division=0)
            >= f1_score(labels, title_alone, labels=present, average="macro", zero_division=0)
        )
        if not self.uses_trees_:
            logger.warning("the trees lowered validation macro-F1: shipping the title model alone")
        return self.uses_trees_

    @property
    def shipped_(self) -> str:
        """What the model answers with: the trees on the title model's margin, or the title model alone."""
        return "LightGBM on the title model's margin" if self.uses_trees_ else TITLE_ALONE

    def predict_proba(self, X: csr_matrix) -> np.ndarray:
        """softmax(raw scores), each row's scaled by its lead once calibrated, [N, classes]."""
        return softmax(with_calibrated_lead(self.raw_scores(X), getattr(self, "calibration_", None)), axis=1)

    def predict(self, X: csr_matrix) -> np.ndarray:
        """The most probable class (ties: the lower one; the graph's ArgMax, over float32, does the same)."""
        return self.classes_[np.argmax(self.raw_scores(X), axis=1)]

    @property
    def booster_(self) -> Any:
        """The LightGBM booster (its iterations and importances are reported like any LightGBM model's)."""
        return self.model_.booster_

    def _trees(self, X: csr_matrix) -> np.ndarray:
        """The trees' raw scores, [N, classes]."""
        return np.asarray(self.model_.predict(X, raw_score=True)).reshape(X.shape[0], -1)


def title_margin(X: csr_matrix, scores: tuple[int, int]) -> np.ndarray:
    """The title scores (columns `scores` of the features) as one margin per class, [N, classes] float64: a
    two-class title model's one score is the second class's margin, the first's is 0."""
    columns = X[:, scores[0] : scores[1]]
    block = np.asarray(columns.toarray() if issparse(columns) else columns, dtype=np.float64)
    if block.shape[1] == 1:
        return np.hstack([np.zeros_like(block), block])
    return block


def margin_booster(booster: dict[str, Any], n_classes: int) -> dict[str, Any]:
    """LightGBM's settings for trees boosted from the margin."""
    # num_class also for two classes: LightGBM's multiclass objective otherwise refuses them.
    return booster | {"min_child_weight": MIN_LEAF_HESSIAN, "num_class": n_classes}


def fitted_scale(margin: np.ndarray, target: np.ndarray) -> float:
    """The scale s minimising the log loss of softmax(s · margin) on the training rows."""

    def loss(log_scale: float) -> float:
        logits = np.exp(log_scale) * margin
        return float(np.mean(logsumexp(logits, axis=1) - logits[np.arange(len(target)), target]))

    bounds = (-np.log(MAX_SCALE), np.log(MAX_SCALE))
    return float(np.exp(minimize_scalar(loss, bounds=bounds, method="bounded", options={"xatol": 1e-4}).x))
