"""Stage 3, featurize: every partition becomes float32 CSR features where it lies.

Training rows are scored by the title-model copy that never saw their fold (out of fold, as the local
engine's stacking does); validation and test rows by the pipeline's own features. With a FEATURES folder
each featurized partition is also written there (`training.engines.dask.features_dir`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import sparse

from training.columns import LABEL
from training.engines.dask.prepare import FOLD, KEY, PRODUCT, SPLIT, SPLIT_NAMES, TRAIN
from training.model.pipeline import TITLE_SCORES
from training.model.stacking import held_out_scores

FILE_DIGEST = "file_sha256"

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.compose import ColumnTransformer

    from training.data.report import DataReport
    from training.data.tail import TailPlan
    from training.engines.dask.features_dir import FeaturesDir
    from training.model.features import TitleScores


@dataclass
class Featurized:
    """What the LightGBM stage starts from, and what a FEATURES folder keeps so a rerun can start there."""

    fingerprint: str
    features: ColumnTransformer
    partition_rows: list[dict[int, int]]
    partition_classes: list[list[str]]
    class_counts: dict[str, int]
    class_products: dict[str, int]
    tail: TailPlan
    test_sample: pd.DataFrame
    unevaluated_sample: pd.DataFrame
    validation_sample: pd.DataFrame
    trained_products: np.ndarray
    source: str
    sha256: str
    report: DataReport


def featurize_partition(
    part: pd.DataFrame,
    features: ColumnTransformer,
    fold_models: list[TitleScores],
    *,
    index: int,
    folder: FeaturesDir | None,
) -> dict[str, Any]:
    """Float32 CSR features and labels per split; training rows get their fold's out-of-fold title scores,
    and their product's key (the groups the re-ranker's statistics are kept out of fold by); validation and
    test rows the title model's own labels (the run's linear baseline) and their products' ids (what the
    bootstrap of the baseline gate draws).

    Args:
        part: One prepared partition (see `training.engines.dask.prepare`).
        features: The fitted feature blocks.
        fold_models: The K out-of-fold title models, fold k's at position k.
        index: The partition's position, naming its file in the FEATURES folder.
        folder: The FEATURES folder to write it to, or None.
    """
    result: dict[str, Any] = {}
    for split, name in SPLIT_NAMES.items():
        rows = part[part[SPLIT] == split]
        if split == TRAIN:
            matrix = _out_of_fold_matrix(rows, features, fold_models)
            result[f"{name}_group"] = rows[KEY].to_numpy()
        else:
            matrix = _held_out_matrix(rows, features)
            title, columns = _title_block(features)
            result[f"{name}_baseline"] = title.predict(rows[columns]).astype(str)
            result[f"{name}_product"] = rows[PRODUCT].to_numpy()
        result[f"{name}_x"] = matrix.astype(np.float32)
        result[f"{name}_y"] = rows[LABEL].to_numpy().astype(str)
    if folder is not None:
        # Its checksum goes into the manifest the driver publishes once every partition is written.
        result[FILE_DIGEST] = folder.write_partition(index, result)
    return result


def partition_summary(result: dict[str, Any]) -> dict[str, Any]:
    """Rows per split and training classes of a featurized partition."""
    return {
        "rows": {split: int(result[f"{name}_y"].shape[0]) for split, name in SPLIT_NAMES.items()},
        "classes": sorted(set(result["train_y"].tolist())),
    }


def item(result: dict[str, Any], key: str) -> Any:
    """One array of a featurized partition."""
    return result[key]


def _title_block(features: ColumnTransformer) -> tuple[TitleScores, list[str]]:
    """The fitted title model and its input column."""
    _, title, columns = next(block for block in features.transformers_ if block[0] == TITLE_SCORES)
    return title, columns


def _held_out_matrix(rows: pd.DataFrame, features: ColumnTransformer) -> sparse.csr_matrix:
    """The features of validation or test rows: none for a partition without any (a small catalogue's), which
    ColumnTransformer refuses to stack."""
    if rows.empty:
        return sparse.csr_matrix((0, max(block.stop for block in features.output_indices_.values())), dtype=np.float32)
    return sparse.csr_matrix(features.transform(rows), dtype=np.float32)


def _out_of_fold_matrix(
    rows: pd.DataFrame, features: ColumnTransformer, fold_models: list[TitleScores]
) -> sparse.csr_matrix:
    """The features of training rows, with each row's title scores from the model that never saw its fold."""
    blocks = []
    for name, transformer, columns in features.transformers_:
        if transformer == "drop":
            continue
        if name == TITLE_SCORES:
            counts = transformer.count(rows[columns])
            scores = np.zeros((len(rows), features.output_indices_[name].stop), dtype=np.float32)
            folds = rows[FOLD].to_numpy()
            for fold, model in enumerate(fold_models):
                held = folds == fold
                if held.any():
                    scores[held] = held_out_scores(model, transformer, counts[held])
            blocks.append(sparse.csr_matrix(scores))
        else:
            blocks.append(sparse.csr_matrix(transformer.transform(rows[columns])))
    return sparse.hstack(blocks, format="csr", dtype=np.float32)
