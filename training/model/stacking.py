"""Stacking: the title model's out-of-fold scores for the training rows, the features LightGBM learns from.

In-sample scores of a linear model are overconfident; LightGBM trained on them would trust them more than it
should on new products. Each training row's scores therefore come from a copy of the title model that never
saw its product. Extra training text (data.training_text) joins the title model's fit, in each fold only from
that fold's own training products.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy import sparse
from sklearn.base import clone
from sklearn.model_selection import GroupKFold

from training.exceptions import DataValidationError
from training.model.features import TitleCandidates, TitleScores
from training.model.pipeline import TITLE_SCORES
from training.text import reads_as_empty

if TYPE_CHECKING:
    from sklearn.compose import ColumnTransformer

# Below this many training rows the fold fits run in this process: starting worker processes costs more
# (measured: +2.7 s at 6,000 rows; −5 s at 25,000).
PARALLEL_FOLD_ROWS = 20_000


@dataclass(frozen=True)
class ExtraExamples:
    """Extra training text for the title model: each distinct (owner, text, label) once.

    `owner` is the product the text came from, so a model fitted on some products can take exactly their extra
    text and nothing from the products it is scored on.
    """

    counts: sparse.csr_matrix
    labels: np.ndarray
    owners: np.ndarray

    def of(self, owners: np.ndarray) -> tuple[sparse.csr_matrix, np.ndarray]:
        """The counts and labels of the examples owned by `owners`."""
        mask = pd.Index(self.owners).isin(owners)  # hash-based; np.isin sorts object arrays (seconds per fold)
        return self.counts[mask], self.labels[mask]


def extra_examples(
    block: TitleScores, frame: pd.DataFrame, labels: np.ndarray, owners: np.ndarray, columns: list[str]
) -> ExtraExamples | None:
    """The training-text columns of `frame` as extra title-model examples; None when there are none."""
    parts = [pd.DataFrame({"text": frame[column].to_numpy(), "label": labels, "owner": owners}) for column in columns]
    if not parts:
        return None
    table = pd.concat(parts, ignore_index=True)
    table = table[~table["text"].map(reads_as_empty).astype(bool)].drop_duplicates()
    if table.empty:
        return None
    return ExtraExamples(block.count(table["text"]), table["label"].to_numpy(), table["owner"].to_numpy())


def stacked_training_matrix(
    features: ColumnTransformer,
    frame: pd.DataFrame,
    labels: pd.Series,
    groups: pd.Series,
    *,
    text: str,
    folds: int,
    extra_text: list[str] | None = None,
    n_jobs: int = 1,
) -> tuple[ColumnTransformer, sparse.csr_matrix]:
    """Fit the features on `frame` and return them with its matrix, whose title columns are out of fold.

    In-sample scores of a linear model are overconfident; LightGBM trained on them would trust them more
    than it should on new products. Each row's scores therefore come from a model that never saw its
    product (GroupKFold). Extra training text (`extra_text`
    columns) joins the title model's fit, in each fold only from that fold's own training groups. The final
    features and the fold models are fitted side by side (`n_jobs` worker processes from
    PARALLEL_FOLD_ROWS rows), so the returned features are a fitted copy: use them, not `features`.
    """
    block = next(transformer for name, transformer, _ in features.transformers if name == TITLE_SCORES)
    counts = block.count(frame[text])
    label_array = np.asarray(labels)
    owners = np.asarray(groups)
    extras = extra_examples(block, frame, label_array, owners, extra_text or [])
    splitter = GroupKFold(n_splits=folds)

    def fit_all() -> tuple[ColumnTransformer, sparse.csr_matrix]:
        matrix = sparse.csr_matrix(features.fit_transform(frame, labels))  # dense when the title is the only block
        if extras is not None:
            features.named_transformers_[TITLE_SCORES].fit_counts(
                sparse.vstack([counts, extras.counts], format="csr"), np.concatenate([label_array, extras.labels])
            )
        return features, matrix

    def fit_fold(fit_rows: np.ndarray) -> FoldCopy:
        fit_counts, fit_labels = counts[fit_rows], label_array[fit_rows]
        if extras is not None:
            extra_counts, extra_labels = extras.of(owners[fit_rows])
            fit_counts = sparse.vstack([fit_counts, extra_counts], format="csr")
            fit_labels = np.concatenate([fit_labels, extra_labels])
        return fit_fold_copy(block, fit_counts, fit_labels, folds)

    products = len(pd.unique(owners))
    if products < folds:
        raise DataValidationError(
            f"the training split holds {products} products (distinct titles where no column names products), fewer "
            f"than features.stacking_folds ({folds}): lower it to {max(products, 2)} at most, or add products"
        )
    split = list(splitter.split(counts, label_array, groups))
    if not _every_fold_sees_every_class(split, label_array):
        split = class_spread_folds(label_array, owners, folds)
    if isinstance(block, TitleCandidates):
        check_fold_classes(split, label_array, folds)
    # The fits run side by side in worker processes, not threads: liblinear seeds and draws from the C
    # library's one global rand(), which concurrent threads would share (results then vary from run to run).
    workers = n_jobs if len(frame) >= PARALLEL_FOLD_ROWS else 1
    fitted, *fold_models = Parallel(n_jobs=workers)(
        [delayed(fit_all)(), *(delayed(fit_fold)(fit_rows) for fit_rows, _ in split)]
    )
    fitted_features, matrix = fitted
    final = fitted_features.named_transformers_[TITLE_SCORES]
    check_fold_coverage(fold_models, final, folds)
    columns = fitted_features.output_indices_[TITLE_SCORES]
    scores = np.zeros((len(frame), columns.stop - columns.start), dtype=np.float32)
    for fold_model, (_, held_rows) in zip(fold_models, split, strict=True):
        scores[held_rows] = held_out_scores(fold_model, final, counts[held_rows])
    stacked = sparse.hstack(
        [matrix[:, : columns.start], sparse.csr_matrix(scores), matrix[:, columns.stop :]], format="csr"
    )
    return fitted_features, stacked


def _every_fold_sees_every_class(split: list[tuple[np.ndarray, np.ndarray]], labels: np.ndarray) -> bool:
    """Whether every fold's fitting rows hold every class."""
    classes = len(np.unique(labels))
    return all(len(np.unique(labels[fit_rows])) == classes for fit_rows, _ in split)


def class_spread_folds(labels: np.ndarray, groups: np.ndarray, folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Group folds that deal each class's products round the folds, so no fold holds all of a class.

    GroupKFold balances fold sizes and ignores labels: with thousands of classes of five training products,
    some class lands wholly in one fold, whose model then lacks it. Here each class's products, in a seeded
    random order, go to consecutive folds from a random start; a class with at least `folds` products is in
    every fold's fitting rows. Used only when GroupKFold's folds fall short, so other catalogues keep theirs.
    """
    rng = np.random.default_rng(0)
    products = pd.DataFrame({"group": groups, "label": labels}).drop_duplicates("group")
    products = products.iloc[rng.permutation(len(products))]
    rank = products.groupby("label", sort=False).cumcount().to_numpy()
    classes = np.unique(labels)
    start = rng.integers(folds, size=len(classes))[np.searchsorted(classes, products["label"].to_numpy())]
    fold_of_group = pd.Series((rank + start) % folds, index=products["group"].to_numpy())
    fold = fold_of_group.loc[groups].to_numpy()
    return [(np.flatnonzero(fold != f), np.flatnonzero(fold == f)) for f in range(folds)]


class OneClassCopy:
    """The out-of-fold copy of a fold whose fitting rows hold one class: every other class's products lie in the
    fold held out (a two-class catalogue whose small class is one product, say). An SVM cannot be fitted on one
    class, and a model that saw one class can only answer it: this copy answers it for every row at the SVM's
    margin, +1 for it and -1 for every other class.
    """

    def __init__(self, label: object) -> None:
        self.classes_ = np.array([label], dtype=object)

    def scores(self, final: TitleScores, rows: int) -> np.ndarray:
        """The rows' title columns, laid out as the final model's (one column, the second class's, for two)."""
        if len(final.classes_) == 2:
            return np.full((rows, 1), 1 if self.classes_[0] == final.classes_[1] else -1, dtype=np.float32)
        scores = np.full((rows, len(final.classes_)), -1, dtype=np.float32)
        scores[:, np.searchsorted(final.classes_, self.classes_[0])] = 1
        return scores


FoldCopy = TitleScores | OneClassCopy


def fit_fold_copy(block: TitleScores, counts: sparse.csr_matrix, labels: np.ndarray, folds: int) -> FoldCopy:
    """An out-of-fold copy of the unfitted title model `block`, fitted on a fold's complement, as its `scorer`.

    A per-class copy whose fitting rows hold one class is a `OneClassCopy`; a candidate copy needs two classes.

    Raises:
        DataValidationError: A candidate copy's fitting rows hold one class only.
    """
    present = np.unique(labels)
    if len(present) == 1 and not isinstance(block, TitleCandidates):
        return OneClassCopy(present[0])
    require_two_fold_classes(labels, folds)
    return clone(block).fit_counts(counts, labels).scorer()


def held_out_scores(fold_model: FoldCopy, final: TitleScores, counts: sparse.csr_matrix) -> np.ndarray:
    """A fold copy's title columns for the rows it never saw, laid out as the final model's.

    A copy may lack a class all of whose products it held out (a class smaller than the folds). A candidate copy's
    class indices are mapped onto the final model's classes, so it simply never proposes the class it lacks; a
    per-class copy's scores go to their classes' columns and a class it lacks scores below every class it has, as
    a model that never saw a class cannot prefer it.
    """
    if isinstance(fold_model, OneClassCopy):
        return fold_model.scores(final, counts.shape[0])
    block = fold_model.transform_counts(counts)
    if isinstance(fold_model, TitleCandidates):
        k = fold_model.n_candidates
        final_index = np.searchsorted(final.classes_, fold_model.classes_)
        block[:, k:] = final_index[block[:, k:].astype(np.int64)]
        return block
    if len(fold_model.classes_) == len(final.classes_):
        return block
    if block.shape[1] == 1:  # a binary SVM's one decision: +score for its second class, -score for its first
        block = np.hstack([-block, block])
    scores = np.repeat(block.min(axis=1, keepdims=True) - 1, len(final.classes_), axis=1)
    scores[:, np.searchsorted(final.classes_, fold_model.classes_)] = block
    return scores.astype(np.float32)


def check_fold_classes(split: list[tuple[np.ndarray, np.ndarray]], labels: np.ndarray, folds: int) -> None:
    """Every out-of-fold candidate copy must see at least two classes (an SVM needs two), checked before minutes of
    fitting; a copy may lack a small class.

    Raises:
        DataValidationError: A fold's fitting rows hold one class only.
    """
    for fit_rows, _ in split:
        require_two_fold_classes(labels[fit_rows], folds)


def require_two_fold_classes(fit_labels: np.ndarray, folds: int) -> None:
    """An out-of-fold copy's fitting labels must hold two classes at least (both engines check it before fitting).

    Raises:
        DataValidationError: They hold one class only, named, with what to do.
    """
    present = np.unique(fit_labels)
    if len(present) < 2:
        only = f" ({str(present[0])!r})" if len(present) else ""
        raise DataValidationError(
            f"a stacking fold's training rows hold one class only{only}: the fold held out holds every product of "
            "every other class, so no out-of-fold title score can be made for it. Add products of the small classes "
            f"(a class of one product lies wholly in one fold), or lower features.stacking_folds ({folds}) when they "
            "have a few."
        )


def check_fold_coverage(fold_models: list[FoldCopy], final: TitleScores, folds: int) -> None:
    """A candidate copy must propose as many candidates as the final model (a per-class copy may lack a few
    classes: `held_out_scores` lays its scores out as the final model's).

    Raises:
        DataValidationError: A candidate copy saw fewer classes than the final model proposes candidates.
    """
    if not isinstance(final, TitleCandidates):
        return
    for model in fold_models:
        if not isinstance(model, TitleCandidates) or model.n_candidates < final.n_candidates:
            raise DataValidationError(
                f"a stacking fold saw {len(model.classes_)} of {len(final.classes_)} classes, fewer than the "
                f"{final.n_candidates} candidates the model proposes: many classes have fewer than {folds} products. "
                "Lower model.candidates or features.stacking_folds, or add products."
            )
