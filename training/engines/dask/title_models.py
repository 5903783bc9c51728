"""Stage 2, linear sample fits: the title model and its K out-of-fold copies, fitted on a class-stratified sample.

The sample is deterministic (each row's draw is a hash) and capped at features.linear_sample_rows training
rows, with at least MIN_SAMPLE_ROWS_PER_CLASS of every class; a copy's fold is hash(product) mod K. The K + 1
models are fitted as K + 1 tasks side by side. The other feature blocks (hashers, price bands) are fitted
here on a small sample and take the cluster's title model in.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import clone

from training.columns import GROUP, LABEL, extra_text_columns
from training.engines.dask.prepare import DRAW, FOLD, SPLIT, TRAIN
from training.model.pins import require_pinned
from training.model.pipeline import TITLE_SCORES, build_features, build_title_model
from training.model.stacking import FoldCopy, check_fold_coverage, fit_fold_copy
from training.text import reads_as_empty

if TYPE_CHECKING:
    from distributed import Client, Future

    from training.config import TrainConfig
    from training.model.features import TitleScores

# `fit_features_on_sample` rewrites a fitted ColumnTransformer's `transformers_`: refuse any other version at import.
require_pinned("scikit-learn")

MIN_SAMPLE_ROWS_PER_CLASS = 1_000
# The feature blocks other than the title model are fitted here on this many training rows (stateless
# blocks and the price bands), a class keeping at least MIN_FIT_ROWS_PER_CLASS of them.
FIT_SAMPLE_ROWS = 5_000
MIN_FIT_ROWS_PER_CLASS = 20
logger = logging.getLogger(__name__)


def fit_title_models(
    client: Client, config: TrainConfig, parts: list[Future], counts: pd.Series, design: str
) -> list[Any]:
    """The K out-of-fold title models and the final one, fitted as K + 1 tasks on the class-stratified sample.

    Raises:
        DataValidationError: A fold's sample lacks a class (too few products of it for the folds).
    """
    rate, rates = _class_rates(counts.loc[TRAIN], config.features.linear_sample_rows, MIN_SAMPLE_ROWS_PER_CLASS)
    samples = client.map(sample_counts, parts, rates=_shared(client, rates), config=config)
    block = build_title_model(config.features, config.model, design, config.data.path_separator)
    folds = config.features.stacking_folds
    futures = [
        client.submit(fit_title_model, fold, block, *samples, folds=folds, pure=False) for fold in [*range(folds), -1]
    ]
    models = _gather_as_done(futures)
    del samples
    check_fold_coverage(models[:-1], models[-1], folds)
    logger.info("title models", extra={"sample_rate": round(rate, 4), "models": len(models)})
    return models


def _gather_as_done(futures: list[Future]) -> list[Any]:
    """Each task's result, fetched and released on its worker as soon as it is done, in the tasks' order.

    A worker would otherwise hold every title model it fitted until the last one is done: at 5,000 classes three
    finished models plus the running fit took a 4 GiB worker over its memory limit, and its restart lost the lot.
    """
    from distributed import as_completed

    position = {future.key: index for index, future in enumerate(futures)}
    results: list[Any] = [None] * len(futures)
    for future in as_completed(futures):
        results[position[future.key]] = future.result()
        future.release()
    return results


def fit_features_on_sample(
    config: TrainConfig, parts: list[Future], counts: pd.Series, title: TitleScores, design: str
) -> Any:
    """Fit the feature blocks on a small training sample here, then put in the title model fitted on the cluster."""
    _, rates = _class_rates(counts.loc[TRAIN], FIT_SAMPLE_ROWS, MIN_FIT_ROWS_PER_CLASS)
    client = parts[0].client
    frames = client.gather(client.map(_draw_rows, parts, rates=_shared(client, rates)))
    sample = pd.concat(frames, ignore_index=True)
    features = build_features(config.data, config.features, config.model, design)
    features.fit(sample, sample[LABEL])
    name, _, columns = features.transformers_[0]
    if name != TITLE_SCORES:
        raise AssertionError("the title scores must be the first feature block")
    # The blocks' layout (output_indices_) is unchanged: the cluster's model scores the same classes.
    features.transformers_[0] = (name, title, columns)
    return features


def sample_counts(
    part: pd.DataFrame, rates: pd.Series, config: TrainConfig
) -> tuple[sparse.csr_matrix, np.ndarray, np.ndarray]:
    """The sampled training rows of one partition as title-model examples: counts, labels, folds.

    A product's extra training text joins once per distinct text, as in the local engine.
    """
    rows = _draw_rows(part, rates)
    block = build_title_model(config.features)
    owners = rows[GROUP]
    texts = [rows[config.data.text]]
    labels = [rows[LABEL].to_numpy(object)]
    folds = [rows[FOLD].to_numpy()]
    extra = [
        pd.DataFrame({"owner": owners, "text": rows[column], "label": rows[LABEL], "fold": rows[FOLD]})
        for column in extra_text_columns(rows)
    ]
    if extra:
        table = pd.concat(extra, ignore_index=True)
        table = table[~table["text"].map(reads_as_empty).astype(bool)].drop_duplicates(["owner", "text", "label"])
        texts.append(table["text"])
        labels.append(table["label"].to_numpy(object))
        folds.append(table["fold"].to_numpy())
    counts = sparse.vstack([block.count(text.to_numpy(object)) for text in texts], format="csr")
    return counts, np.concatenate(labels), np.concatenate(folds)


def fit_title_model(
    held_out: int, block: TitleScores, *samples: tuple[sparse.csr_matrix, np.ndarray, np.ndarray], folds: int
) -> FoldCopy:
    """Fit a copy of the unfitted title model `block` on the sample without fold `held_out` (-1: the final
    model, on all of it, of `folds`); a copy comes back as its `scorer`, the final model whole."""
    counts = sparse.vstack([s[0][s[2] != held_out] for s in samples], format="csr")
    labels = np.concatenate([s[1][s[2] != held_out] for s in samples])
    if held_out != -1:
        return fit_fold_copy(block, counts, labels, folds)
    return clone(block).fit_counts(counts, labels)


def _shared(client: Client, rates: dict[str, float]) -> Future:
    """The per-class rates on every worker, as one scattered Series.

    A dict argument of `client.map` becomes a task of the graph named after the argument; with thousands of
    classes the scheduler failed on that task (`assert ts.priority`) and removed a worker mid-shuffle.
    """
    return client.scatter(pd.Series(rates, dtype=float), broadcast=True)


def _draw_rows(part: pd.DataFrame, rates: pd.Series) -> pd.DataFrame:
    """Training rows of one partition drawn at their class's rate."""
    return part[(part[SPLIT] == TRAIN) & (part[DRAW] < part[LABEL].map(rates).astype(float))]


def _class_rates(train_counts: pd.Series, rows: int, min_rows_per_class: int) -> tuple[float, dict[str, float]]:
    """The overall rate that draws about `rows` training rows, and each class's rate (at least that, and enough
    for `min_rows_per_class` of the class, or all of it)."""
    rate = min(1.0, rows / float(train_counts.sum()))
    return rate, {str(label): max(rate, min(1.0, min_rows_per_class / float(n))) for label, n in train_counts.items()}
