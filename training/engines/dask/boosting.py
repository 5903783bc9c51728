"""Stage 4, LightGBM: `DaskLGBMClassifier` on the featurized partitions, pinned round robin to the workers; or,
for the rerank design, the candidate re-ranker on a sample of them (`fit_reranker`).

The result depends on which worker holds which rows, so partitions go to workers in a fixed order (see
`worker_order`) and every worker is first checked to hold every class (lightgbm.dask otherwise dies with
`Socket recv error 104`). lightgbm.dask has no early stopping: all configured rounds are trained, and the
best iteration by early stopping's own rule on validation log-loss is replayed here and kept.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, cast

import dask.array as da
import numpy as np
from lightgbm import early_stopping
from lightgbm.dask import DaskLGBMClassifier
from scipy import sparse
from sklearn.metrics import log_loss

from training.engines.dask.cluster import worker_order
from training.engines.dask.featurize import item
from training.engines.dask.prepare import TRAIN, first_rows
from training.exceptions import DataValidationError
from training.model.calibration import calibrate
from training.model.export import align_thresholds_to_float32
from training.model.margin import MarginBoostedClassifier, fitted_scale, margin_booster, title_margin
from training.model.pipeline import TITLE_SCORES, classifier_params, reranker_params
from training.model.reranker import CandidateReranker, FeatureLayout

if TYPE_CHECKING:
    from distributed import Client, Future

    from training.config import TrainConfig
    from training.engines.dask.featurize import Featurized

VALIDATION_SAMPLE_ROWS = 50_000
# Training rows (gathered to the driver) the title margin's scale is fitted on: one number.
SCALE_SAMPLE_ROWS = 50_000
# Training rows the re-ranker learns from (gathered to the driver): 20 million candidate pairs.
RERANK_TRAIN_ROWS = 1_000_000
# Rows of each class the first RERANK_TRAIN_ROWS lack, added to the re-ranker's sample.
RERANK_CLASS_ROWS = 20
logger = logging.getLogger(__name__)


def check_class_coverage(workers: list[str], partition_classes: list[list[str]], classes: list[str]) -> None:
    """Every worker's training partitions (pinned round robin) must hold every class, or lightgbm.dask fails
    with a socket error.

    Raises:
        DataValidationError: Naming the worker and the classes it lacks, and what to change.
    """
    held: dict[str, set[str]] = {worker: set() for worker in workers}
    for index, found in enumerate(partition_classes):
        held[workers[index % len(workers)]].update(found)
    for worker, present in held.items():
        missing = sorted(set(classes) - present)
        if missing:
            raise DataValidationError(
                f"the training rows on Dask worker {worker} lack {len(missing)} of {len(classes)} classes "
                f"({', '.join(map(repr, missing[:5]))}); lightgbm.dask needs every class on every worker. "
                "Use fewer WORKERS (one always holds every class), fold or drop classes this small "
                "(split.small_classes: parent or drop, with split.min_class_products above their products), add "
                "products of those classes, or train with ENGINE=local. Nothing was written."
            )


def fit_lightgbm(
    client: Client, config: TrainConfig, featurized: Featurized, results: list[Future]
) -> MarginBoostedClassifier:
    """All configured rounds on the cluster from the title model's scaled margin (`training.model.margin`, its scale
    fitted on the first SCALE_SAMPLE_ROWS training rows), then the best iteration by validation log-loss, then
    truncation; trees that lower validation macro-F1 are dropped, as the local engine drops them."""
    workers = worker_order(client)
    width = featurized.features.output_indices_["remainder"].stop
    title = featurized.features.output_indices_[TITLE_SCORES]
    classes = np.array(sorted(featurized.class_counts))
    params = classifier_params(config.model, n_jobs=1)
    del params["n_jobs"]  # lightgbm.dask runs one LightGBM thread per worker thread
    scores = (title.start, title.stop)
    sample_x, sample_y = _gathered(client, results, ("train_x", "train_y"), SCALE_SAMPLE_ROWS)
    scale = fitted_scale(title_margin(sample_x, scores), np.searchsorted(classes, sample_y))
    meta = sparse.csr_matrix((0, width), dtype=np.float32)
    chunks_x, chunks_y, chunks_init = [], [], []
    # One chunk per worker, stacked where its partitions lie: LightGBM's ranks follow the chunk order, and
    # however the scheduler places lightgbm.dask's own per-chunk tasks, each rank trains on the same rows.
    for position, worker in enumerate(workers):
        mine = [result for index, result in enumerate(results) if index % len(workers) == position]
        rows = sum(featurized.partition_rows[index][TRAIN] for index in range(position, len(results), len(workers)))
        stacked = client.submit(_stack_training_rows, *mine, scores, scale, workers=[worker], pure=False)
        x = client.submit(item, stacked, "train_x", workers=[worker])
        y = client.submit(item, stacked, "train_y", workers=[worker])
        init = client.submit(item, stacked, "train_init", workers=[worker])
        chunks_x.append(da.from_delayed(x, shape=(rows, width), dtype=np.float32, meta=meta))
        chunks_y.append(da.from_delayed(y, shape=(rows,), dtype=object))
        chunks_init.append(da.from_delayed(init, shape=(rows, len(classes)), dtype=np.float64))
    booster = margin_booster(params, len(classes))
    # A stand-in for the client that lightgbm.dask only calls methods on (compute, gather, submit, who_has...).
    classifier = DaskLGBMClassifier(client=cast("Client", ChunkOrderClient(client)), **booster)
    classifier.fit(da.concatenate(chunks_x), da.concatenate(chunks_y), init_score=da.concatenate(chunks_init))
    local = classifier.to_local()
    validation = _validation_sample(client, results)
    start = scale * title_margin(validation[0], scores)
    best = _best_iteration(local, *validation, config.model.early_stopping_rounds, start=start)
    local.booster_.best_iteration = best
    align_thresholds_to_float32(local)
    fitted = MarginBoostedClassifier.from_fitted(local, scale=scale, scores=scores, booster=params)
    fitted.keep_better(*validation)
    calibration = calibrate(fitted, *validation)
    logger.info(
        "fitted",
        extra={"best_iteration": best if fitted.uses_trees_ else 0, "rounds": config.model.n_estimators,
               "temperature": calibration.temperature, "shipped": fitted.shipped_},
    )  # fmt: skip
    return fitted


def fit_reranker(client: Client, config: TrainConfig, featurized: Featurized, results: list[Future]) -> Any:
    """The candidate re-ranker, fitted here on a sample of the training rows gathered from the cluster.

    Its features are a dozen per candidate, learnt by one binary model: it needs far fewer rows than the title
    models. The sample is the shuffled partitions' first RERANK_TRAIN_ROWS rows plus up to RERANK_CLASS_ROWS
    rows of every class they lack, so each class the title model proposes is learnt. Its classes are the title
    model's; its served statistics come from every training row (only the columns they read are gathered); its
    out-of-fold statistics are kept by product, as the local engine's are; early stopping watches the
    validation sample.
    """
    layout = FeatureLayout.of(featurized.features, TITLE_SCORES)
    classes = featurized.features.named_transformers_[TITLE_SCORES].classes_
    matrix, labels, groups = _reranker_sample(client, results, classes)
    reranker = CandidateReranker(
        layout=layout,
        separator=config.data.path_separator,
        booster=reranker_params(config.model, n_jobs=config.model.n_jobs),
    )
    validation = _validation_sample(client, results)
    reranker.fit(
        matrix,
        labels,
        classes=classes,
        statistics_rows=_statistics_rows(client, results, layout),
        groups=groups,
        eval_set=[validation],
        callbacks=[early_stopping(config.model.early_stopping_rounds, verbose=False)],
    )
    align_thresholds_to_float32(reranker.model_)
    calibrate(reranker, *validation)
    logger.info(
        "fitted",
        # Its booster, rebuilt from the aligned model string, keeps the best iteration's trees and no best_iteration.
        extra={"design": "rerank", "rows": matrix.shape[0], "best_iteration": reranker.booster_.current_iteration()},
    )
    return reranker


def _reranker_sample(client: Client, results: list[Future], classes: np.ndarray) -> list[Any]:
    """The re-ranker's training rows: the first RERANK_TRAIN_ROWS, then rows of each class those lack."""
    keys = ("train_x", "train_y", "train_group")
    matrix, labels, groups = _gathered(client, results, keys, RERANK_TRAIN_ROWS)
    missing = np.setdiff1d(classes, labels)
    if not missing.size:
        return [matrix, labels, groups]
    pieces = client.gather([client.submit(_class_rows, result, missing, RERANK_CLASS_ROWS) for result in results])
    extra_labels = np.concatenate([piece[1] for piece in pieces])
    keep = _first_per_class(extra_labels, RERANK_CLASS_ROWS)
    extra_matrix = sparse.vstack([piece[0] for piece in pieces], format="csr")[keep]
    return [
        sparse.vstack([matrix, extra_matrix], format="csr"),
        np.concatenate([labels, extra_labels[keep]]),
        np.concatenate([groups, np.concatenate([piece[2] for piece in pieces])[keep]]),
    ]


def _class_rows(result: dict[str, Any], classes: np.ndarray, per_class: int) -> tuple[Any, np.ndarray, np.ndarray]:
    """Up to `per_class` training rows of each of `classes` in one featurized partition."""
    labels = result["train_y"]
    rows = np.flatnonzero(np.isin(labels, classes))
    rows = rows[_first_per_class(labels[rows], per_class)]
    return result["train_x"][rows], labels[rows], result["train_group"][rows]


def _first_per_class(labels: np.ndarray, per_class: int) -> np.ndarray:
    """Positions of the first `per_class` rows of each label, in their order."""
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    starts = np.searchsorted(sorted_labels, sorted_labels, side="left")
    return np.sort(order[np.arange(len(labels)) - starts < per_class])


def _statistics_rows(client: Client, results: list[Future], layout: FeatureLayout) -> tuple[sparse.csr_matrix, Any]:
    """Every training row's label and the feature columns the re-ranker's statistics read (numerics, hashed
    blocks), gathered here: a few values per row, never the whole feature matrix."""
    columns = np.unique(
        [column for _, column in layout.numeric]
        + [column for _, start, stop in layout.buckets for column in range(start, stop)]
    )
    pieces = client.gather([client.submit(_statistic_columns, result, columns) for result in results])
    return sparse.vstack([piece[0] for piece in pieces], format="csr"), np.concatenate([piece[1] for piece in pieces])


def _statistic_columns(result: dict[str, Any], columns: np.ndarray) -> tuple[sparse.csr_matrix, np.ndarray]:
    """One partition's training rows with only `columns` kept (at their places) and their labels."""
    matrix = result["train_x"]
    narrow = matrix[:, columns]
    kept = sparse.csr_matrix((narrow.data, columns[narrow.indices], narrow.indptr), shape=matrix.shape)
    return kept, result["train_y"]


class ChunkOrderClient:
    """The client, except that `who_has` answers in the order of the futures asked about.

    lightgbm.dask numbers its LightGBM machines (ranks) in the order `who_has` lists the chunks, and
    `Client.who_has` collects the keys in a set, whose order changes with every process's string hashing:
    the same rows then went to different ranks from run to run, and the model changed (macro-F1 0.81 or
    0.84 on a small catalogue). In chunk order, rank i always trains on worker i's rows.
    """

    def __init__(self, client: Client) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        """Everything else is the client's."""
        return getattr(self._client, name)

    def who_has(self, futures: list[Future], **kwargs: Any) -> dict[Any, Any]:
        """Where each future's data lies, in the order of `futures`."""
        found = self._client.who_has(futures, **kwargs)
        return {future.key: found[future.key] for future in futures}


def _stack_training_rows(*args: Any) -> dict[str, Any]:
    """One worker's training rows (the featurized partitions, then the title scores' columns and the margin's scale)
    as one matrix, one label array and their starting raw scores."""
    *results, scores, scale = args
    matrix = sparse.vstack([result["train_x"] for result in results], format="csr")
    return {
        "train_x": matrix,
        "train_y": np.concatenate([result["train_y"] for result in results]),
        "train_init": scale * title_margin(matrix, scores),
    }


def _best_iteration(
    classifier: Any, matrix: sparse.csr_matrix, labels: np.ndarray, patience: int, *, start: np.ndarray
) -> int:
    """Early stopping's choice, replayed from the rows' starting raw scores `start`: the round with the least
    validation log-loss, stopping after `patience` rounds without improvement."""
    booster = classifier.booster_
    codes = np.searchsorted(classifier.classes_, labels)
    raw = np.array(start, dtype=np.float64)
    best, best_loss = 1, np.inf
    for iteration in range(booster.current_iteration()):
        raw += booster.predict(matrix, raw_score=True, start_iteration=iteration, num_iteration=1).reshape(raw.shape)
        shifted = np.exp(raw - raw.max(axis=1, keepdims=True))
        loss = log_loss(codes, shifted / shifted.sum(axis=1, keepdims=True), labels=range(raw.shape[1]))
        if loss < best_loss:
            best, best_loss = iteration + 1, loss
        elif iteration + 1 - best >= patience:
            break
    return best


def _validation_sample(client: Client, results: list[Future]) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Validation rows gathered here, partitions in order, up to VALIDATION_SAMPLE_ROWS."""
    matrix, labels = _gathered(client, results, ("validation_x", "validation_y"), VALIDATION_SAMPLE_ROWS)
    return matrix, labels


def _gathered(client: Client, results: list[Future], keys: tuple[str, ...], limit: int) -> list[Any]:
    """The first `limit` rows of the featurized partitions, in order: a CSR matrix for the first key (a
    matrix), an array for each other key."""
    pieces = first_rows(
        (client.gather([client.submit(item, result, key) for key in keys]) for result in results),
        limit,
        rows=lambda piece: len(piece[1]),
    )
    matrix = sparse.vstack([piece[0] for piece in pieces], format="csr")[:limit]
    return [matrix, *(np.concatenate([piece[i] for piece in pieces])[:limit] for i in range(1, len(keys)))]
