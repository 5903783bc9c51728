"""`make train ENGINE=dask`: the same pipeline, fitted partition by partition on a Dask cluster.

The stages, each timed:
1. read/split: the catalogue is read file by file (or generated on the workers, a partition each), cleaned
   row by row, and every row gets its split, its stacking fold and its sample draw from hashes of its product
   (of the row without products), so the split does not depend on how the data is partitioned. Rows are then
   shuffled by product into partitions of about PARTITION_ROWS: a file sorted by category cannot leave a worker
   without a class, and a product's rows (with its extra training text) stay together.
2. linear sample fits: the title model and its K out-of-fold copies (fold = hash(product) mod K) are fitted
   on a deterministic, class-stratified sample of training products capped at features.linear_sample_rows,
   as K + 1 tasks side by side.
3. featurize: each partition becomes float32 CSR features on its worker, training rows scored by the copy
   that never saw their fold. With FEATURES=<folder> the featurized partitions and the fitted features are
   written there, and a rerun with the same data and config starts from them at the LightGBM stage.
4. LightGBM: `DaskLGBMClassifier` on partitions pinned round robin to the workers (the result depends on
   which worker holds which rows), after checking that every worker holds every class (lightgbm.dask
   otherwise dies with a socket error). lightgbm.dask has no early stopping: all configured rounds are
   trained and the best iteration, by early stopping's own rule on validation log-loss, is kept.
5. evaluation: the test split is scored on the workers; the parity gate and the golden examples use a test
   sample gathered to this process, as does the data report (the first REPORT_ROWS raw rows).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any, cast

import dask.array as da
import dask.dataframe as dd
import joblib
import numpy as np
import pandas as pd
from dask import delayed
from lightgbm.dask import DaskLGBMClassifier
from pyarrow import fs as pafs
from scipy import sparse
from sklearn.metrics import log_loss
from sklearn.pipeline import Pipeline

from training.columns import GROUP, LABEL, extra_text_columns
from training.data.clean import check_columns, check_label_aliases, model_rows, require_two_classes
from training.data.digest import combined_sha256, file_sha256, rows_sha256
from training.data.report import build_report, log_report
from training.data.sources import catalogue_files, read_file
from training.data.split import check_class_sizes, check_split_coverage
from training.data.synthetic import generate_catalogue, generate_partition
from training.exceptions import DataValidationError
from training.model.export import align_thresholds_to_float32
from training.model.features import TitleScores
from training.model.pipeline import TITLE_SCORES, FittedModel, build_features, classifier_params

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from distributed import Client, Future
    from sklearn.compose import ColumnTransformer

    from training.config import TrainConfig
    from training.data.report import DataReport

PARTITION_ROWS = 100_000
REPORT_ROWS = 200_000
TEST_SAMPLE_ROWS = 20_000
VALIDATION_SAMPLE_ROWS = 50_000
# The driver fits the stateless blocks and the price bands on this many training rows (the title model it
# then replaces with the one fitted on the cluster); a class keeps at least MIN_FIT_ROWS_PER_CLASS of them.
FIT_SAMPLE_ROWS = 5_000
MIN_FIT_ROWS_PER_CLASS = 20
MIN_SAMPLE_ROWS_PER_CLASS = 1_000
SPLIT, FOLD, DRAW, KEY = "_split", "_fold", "_draw", "_key"
TRAIN, VALIDATION, TEST = 0, 1, 2
SPLIT_NAMES = {TRAIN: "train", VALIDATION: "validation", TEST: "test"}
STATE_FILE = "state.joblib"
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Catalogue:
    """A catalogue on the cluster, not yet read: the raw partitions and what they are."""

    raw: dd.DataFrame
    source: str
    files: tuple[str, ...]
    filesystem: pafs.FileSystem | None
    fingerprint: str


@dataclass
class Featurized:
    """What the LightGBM stage starts from, and what a FEATURES folder keeps so a rerun can start there."""

    fingerprint: str
    features: ColumnTransformer
    partition_rows: list[dict[int, int]]
    partition_classes: list[list[str]]
    class_counts: dict[str, int]
    test_sample: pd.DataFrame
    source: str
    sha256: str
    report: DataReport


def open_catalogue(config: TrainConfig, data: str | None) -> Catalogue:
    """The raw catalogue as Dask partitions: one per file, or synthetic ones generated on the workers.

    Raises:
        DataValidationError: No readable files match, or a configured column is missing.
    """
    if data is None:
        rows = config.synthetic_rows
        count = -(-rows // PARTITION_ROWS)
        sizes = [rows // count + (1 if index < rows % count else 0) for index in range(count)]
        source = f"synthetic(rows={rows}, seed={config.split.seed}, partitions={count})"
        meta = generate_catalogue(20, seed=0).iloc[:0]
        raw = dd.from_map(
            synthetic_partition, list(enumerate(sizes)), seed=config.split.seed, parts=count, total_rows=rows, meta=meta
        )
        return Catalogue(raw, source, (), None, _fingerprint(config, source))
    filesystem, files = catalogue_files(data)
    first = read_file(files[0], filesystem)
    check_columns(first.columns, config.data, files[0])
    raw = dd.from_map(read_file, files, filesystem=filesystem, meta=first.iloc[:0])
    listing = [(info.path, info.size, str(info.mtime)) for info in filesystem.get_file_info(files)]
    return Catalogue(raw, data, tuple(files), filesystem, _fingerprint(config, json.dumps(listing)))


def synthetic_partition(spec: tuple[int, int], *, seed: int, parts: int, total_rows: int) -> pd.DataFrame:
    """One partition of the synthetic catalogue; a single partition is exactly `generate_catalogue(rows, seed)`.

    Otherwise all partitions share one set of products, brands and sellers (see `generate_partition`).
    """
    index, rows = spec
    if parts == 1:
        return generate_catalogue(rows, seed=seed)
    return generate_partition(index, rows, total_rows=total_rows, seed=seed)


def train_on_cluster(
    client: Client, config: TrainConfig, catalogue: Catalogue, features_dir: str | None
) -> FittedModel:
    """The whole fit on the cluster; the result is exported and gated exactly as the local engine's.

    Args:
        client: A connected Dask client (see `training.engines.dask.cluster.dask_client`).
        config: The resolved config.
        catalogue: The data, from `open_catalogue`.
        features_dir: Where to keep the featurized partitions for a rerun (local or s3://); None to keep none.

    Raises:
        DataValidationError: Bad data, or a class missing from a split, a fold or a worker.
    """
    timings: dict[str, float] = {}
    featurized = _read_state(features_dir, catalogue.fingerprint) if features_dir else None
    if featurized is None:
        featurized, results = featurize(client, config, catalogue, features_dir, timings)
    else:
        logger.info("reusing featurized partitions", extra={"folder": features_dir})
        results = _load_partitions(client, featurized, features_dir)
    fitted = fit_and_evaluate(client, config, featurized, results, timings)
    peaks = client.run(_peak_rss_mb)
    return replace(fitted, engine_stats={"stage_seconds": timings, "worker_peak_rss_mb": sorted(peaks.values())})


def featurize(
    client: Client, config: TrainConfig, catalogue: Catalogue, cache: str | None, timings: dict[str, float]
) -> tuple[Featurized, list[Future]]:
    """Stages 1–3: read, split, fit the title models, featurize; written to the FEATURES folder when given."""
    with _stage(timings, "read/split"):
        report, sha256 = _report_and_digest(client, config, catalogue)
        parts, counts = _prepare(client, config, catalogue)
    with _stage(timings, "linear sample fits"):
        title_models = _fit_title_models(client, config, parts, counts)
        features = _driver_features(config, parts, counts, title_models[-1])
    with _stage(timings, "featurize"):
        fold_models = client.scatter(title_models[:-1], broadcast=True)
        shared = client.scatter(features, broadcast=True)
        workers = worker_order(client)
        location = _cache_location(cache)
        results = [
            client.submit(
                featurize_partition,
                part,
                shared,
                fold_models,
                index=index,
                location=location,
                workers=[workers[index % len(workers)]],
                pure=False,
            )
            for index, part in enumerate(parts)
        ]
        summaries = client.gather(client.map(_summary, results))
        test_sample = _gather_rows(client, parts, TEST, TEST_SAMPLE_ROWS, config)
    featurized = Featurized(
        fingerprint=catalogue.fingerprint,
        features=features,
        partition_rows=[summary["rows"] for summary in summaries],
        partition_classes=[summary["classes"] for summary in summaries],
        class_counts={str(label): int(n) for label, n in counts.loc[TRAIN].items()},
        test_sample=test_sample,
        source=catalogue.source,
        sha256=sha256,
        report=report,
    )
    if location is not None:
        _write_state(location, featurized)
    return featurized, results


def fit_and_evaluate(
    client: Client, config: TrainConfig, featurized: Featurized, results: list[Future], timings: dict[str, float]
) -> FittedModel:
    """Stages 4–5: LightGBM on the featurized partitions, then the test split scored on the workers."""
    classes = sorted(featurized.class_counts)
    with _stage(timings, "LightGBM"):
        check_class_coverage(worker_order(client), featurized.partition_classes, classes)
        classifier = _fit_lightgbm(client, config, featurized, results)
    with _stage(timings, "evaluation"):
        shared = client.scatter([classifier, featurized.features], broadcast=True)
        scored = client.gather([client.submit(score_test, result, *shared, pure=False) for result in results])
    test_labels = np.concatenate([labels for labels, _, _ in scored])
    pipeline = Pipeline([("features", featurized.features), ("classifier", classifier)])
    rows = [sum(rows.values()) for rows in featurized.partition_rows]
    return FittedModel(
        pipeline=pipeline,
        test=featurized.test_sample,
        test_labels=pd.Series(test_labels, name=LABEL),
        probabilities=np.concatenate([probabilities for _, probabilities, _ in scored]),
        baseline_predicted=np.concatenate([baseline for _, _, baseline in scored]),
        class_counts=pd.Series(featurized.class_counts),
        sizes={
            "rows": int(sum(rows)),
            "n_train": _split_rows(featurized, TRAIN),
            "n_validation": _split_rows(featurized, VALIDATION),
            "n_test": _split_rows(featurized, TEST),
        },
        source=featurized.source,
        sha256=featurized.sha256,
        report=featurized.report,
    )


def worker_order(client: Client) -> list[str]:
    """The workers' addresses ordered by worker name: partition i goes to worker i mod n.

    Names, not addresses: a LocalCluster's workers get new ports on every start but the same names, so a rerun
    pins the same rows to the same worker (and LightGBM rank), which is what makes it give the same model.
    """
    workers = client.scheduler_info(n_workers=-1)["workers"]
    return sorted(workers, key=lambda address: (str(workers[address].get("name")), address))


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
                "Add products of those classes, or use fewer WORKERS. Nothing was written."
            )


def prepared_partition(raw: pd.DataFrame, config: TrainConfig, source: str) -> pd.DataFrame:
    """Clean one raw partition and give each row its split, fold, sample draw and shuffle key (from hashes)."""
    frame, _ = model_rows(raw, config.data, source)
    key = frame[GROUP] if GROUP in frame.columns else frame.copy()
    seed = config.split.seed
    split_draw = _uniform(key, "split", seed)
    test, validation = config.split.test_fraction, config.split.validation_fraction
    split = np.where(split_draw < test, TEST, np.where(split_draw < test + validation, VALIDATION, TRAIN))
    frame[SPLIT] = split.astype(np.int8)
    frame[FOLD] = (_hash(key, "fold", seed) % np.uint64(config.features.stacking_folds)).astype(np.int8)
    frame[DRAW] = _uniform(key, "draw", seed)
    frame[KEY] = _hash(key, "key", seed)
    return frame


def sample_counts(
    part: pd.DataFrame, rates: dict[str, float], config: TrainConfig
) -> tuple[sparse.csr_matrix, np.ndarray, np.ndarray]:
    """The sampled training rows of one partition as title-model examples: counts, labels, folds.

    A product's extra training text joins once per distinct text, as in the local engine.
    """
    rows = part[(part[SPLIT] == TRAIN) & (part[DRAW] < part[LABEL].map(rates).astype(float))]
    block = _title_block(config)
    owners = rows[GROUP] if GROUP in rows else rows[KEY].astype(str)
    texts = [rows[config.data.text]]
    labels = [rows[LABEL].to_numpy(object)]
    folds = [rows[FOLD].to_numpy()]
    extra = [
        pd.DataFrame({"owner": owners, "text": rows[column], "label": rows[LABEL], "fold": rows[FOLD]})
        for column in extra_text_columns(rows)
    ]
    if extra:
        table = pd.concat(extra, ignore_index=True)
        table = table[table["text"].str.strip() != ""].drop_duplicates(["owner", "text", "label"])
        texts.append(table["text"])
        labels.append(table["label"].to_numpy(object))
        folds.append(table["fold"].to_numpy())
    counts = sparse.vstack([block.count(text.to_numpy(object)) for text in texts], format="csr")
    return counts, np.concatenate(labels), np.concatenate(folds)


def fit_title_model(
    held_out: int, params: dict[str, Any], *samples: tuple[sparse.csr_matrix, np.ndarray, np.ndarray]
) -> TitleScores:
    """Fit one title model on the sample without fold `held_out` (-1: the final model, on all of it)."""
    counts = sparse.vstack([s[0][s[2] != held_out] for s in samples], format="csr")
    labels = np.concatenate([s[1][s[2] != held_out] for s in samples])
    return TitleScores(**params).fit_counts(counts, labels)


def featurize_partition(
    part: pd.DataFrame,
    features: ColumnTransformer,
    fold_models: list[TitleScores],
    *,
    index: int,
    location: tuple[pafs.FileSystem, str] | None,
) -> dict[str, Any]:
    """Float32 CSR features and labels per split; training rows get their fold's out-of-fold title scores."""
    result: dict[str, Any] = {}
    for split, name in SPLIT_NAMES.items():
        rows = part[part[SPLIT] == split]
        if split == TRAIN:
            matrix = _out_of_fold_matrix(rows, features, fold_models)
        else:
            matrix = sparse.csr_matrix(features.transform(rows), dtype=np.float32)
        result[f"{name}_x"] = matrix.astype(np.float32)
        result[f"{name}_y"] = rows[LABEL].to_numpy().astype(str)
    if location is not None:
        filesystem, folder = location
        arrays: dict[str, np.ndarray] = {}
        for key, value in result.items():
            if key.endswith("_x"):
                arrays |= {f"{key}_{attr}": getattr(value, attr) for attr in ("data", "indices", "indptr")}
                arrays[f"{key}_shape"] = np.asarray(value.shape)
            else:
                arrays[key] = value
        buffer = io.BytesIO()
        np.savez(buffer, allow_pickle=False, **arrays)
        with filesystem.open_output_stream(f"{folder}/part-{index:05d}.npz") as handle:
            handle.write(buffer.getvalue())
    return result


def score_test(
    result: dict[str, Any], classifier: Any, features: ColumnTransformer
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The test rows of one partition: labels, LightGBM's probabilities, and the title model's own labels."""
    matrix, labels = result["test_x"], result["test_y"]
    if matrix.shape[0] == 0:
        return labels, np.zeros((0, len(classifier.classes_))), labels
    title = features.named_transformers_[TITLE_SCORES]
    columns = features.output_indices_[TITLE_SCORES]
    scores = matrix[:, columns].toarray()
    if scores.shape[1] == 1:
        baseline = title.classes_[(scores[:, 0] > 0).astype(int)]
    else:
        baseline = title.classes_[scores.argmax(axis=1)]
    return labels, classifier.predict_proba(matrix), baseline


def _prepare(client: Client, config: TrainConfig, catalogue: Catalogue) -> tuple[list[Future], pd.Series]:
    """Clean, split and shuffle by product; return the partitions (held on the cluster) and class counts."""
    meta = prepared_partition(catalogue.raw._meta, config, catalogue.source)
    prepared = catalogue.raw.map_partitions(prepared_partition, config, catalogue.source, meta=meta)
    prepared = client.persist(prepared)
    counts = prepared.groupby([SPLIT, LABEL], observed=True).size().compute()
    _check_splits(counts, config)
    total = int(counts.sum())
    partitions = max(2 * len(client.nthreads()), -(-total // PARTITION_ROWS))
    # The shuffle delivers a partition's pieces in arrival order: sorting by every column makes it one order.
    order = [KEY, *config.data.columns, LABEL]
    shuffled = prepared.shuffle(on=KEY, npartitions=partitions).map_partitions(
        lambda part: part.sort_values(order, kind="stable").reset_index(drop=True), meta=meta
    )
    parts = client.compute(shuffled.to_delayed())
    del prepared
    logger.info("prepared", extra={"rows": total, "partitions": partitions})
    return parts, counts


def _check_splits(counts: pd.Series, config: TrainConfig) -> None:
    """Each class needs rows in every split, and at least MIN_ROWS_PER_CLASS in all (as the local split checks).

    Raises:
        DataValidationError: Naming the first class that falls short.
    """
    by_class = counts.groupby(level=1).sum()
    require_two_classes(len(by_class), "data")
    if config.data.label_aliases:
        check_label_aliases(set(map(str, by_class.index)), config.data.label_aliases)
    check_class_sizes(by_class)
    present = counts.index.get_level_values(0)
    check_split_coverage(
        set(by_class.index),
        {name: set(counts.loc[split].index) if split in present else set() for split, name in SPLIT_NAMES.items()},
        grouped=config.data.group is not None,
        holdout=config.split.test_fraction + config.split.validation_fraction,
    )


def _fit_title_models(client: Client, config: TrainConfig, parts: list[Future], counts: pd.Series) -> list[Any]:
    """The K out-of-fold title models and the final one, fitted as K + 1 tasks on the class-stratified sample.

    Raises:
        DataValidationError: A fold's sample lacks a class (too few products of it for the folds).
    """
    train_counts = counts.loc[TRAIN]
    rate = min(1.0, config.features.linear_sample_rows / float(train_counts.sum()))
    rates = {str(label): max(rate, min(1.0, MIN_SAMPLE_ROWS_PER_CLASS / float(n))) for label, n in train_counts.items()}
    samples = client.map(sample_counts, parts, rates=rates, config=config)
    params = _title_block(config).get_params()
    folds = config.features.stacking_folds
    models = client.gather(
        [client.submit(fit_title_model, fold, params, *samples, pure=False) for fold in [*range(folds), -1]]
    )
    del samples
    classes = len(models[-1].classes_)
    for model in models[:-1]:
        if len(model.classes_) != classes:
            raise DataValidationError(
                f"a stacking fold saw {len(model.classes_)} of {classes} classes: some class has fewer than "
                f"{folds} products. Add rows for it or lower features.stacking_folds."
            )
    logger.info("title models", extra={"sample_rate": round(rate, 4), "models": len(models)})
    return models


def _driver_features(config: TrainConfig, parts: list[Future], counts: pd.Series, title: TitleScores) -> Any:
    """Fit the feature blocks on a small training sample here, then put in the title model fitted on the cluster."""
    train_counts = counts.loc[TRAIN]
    rate = min(1.0, FIT_SAMPLE_ROWS / float(train_counts.sum()))
    rates = {str(label): max(rate, min(1.0, MIN_FIT_ROWS_PER_CLASS / float(n))) for label, n in train_counts.items()}
    client = parts[0].client
    frames = client.gather(client.map(_draw_rows, parts, rates=rates))
    sample = pd.concat(frames, ignore_index=True)
    features = build_features(config.data, config.features)
    features.fit(sample, sample[LABEL])
    name, _, columns = features.transformers_[0]
    if name != TITLE_SCORES:
        raise AssertionError("the title scores must be the first feature block")
    # The blocks' layout (output_indices_) is unchanged: the cluster's model scores the same classes.
    features.transformers_[0] = (name, title, columns)
    return features


def _draw_rows(part: pd.DataFrame, rates: dict[str, float]) -> pd.DataFrame:
    """Training rows of one partition drawn at their class's rate."""
    return part[(part[SPLIT] == TRAIN) & (part[DRAW] < part[LABEL].map(rates).astype(float))]


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
                    scores[held] = model.score_counts(counts[held])
            blocks.append(sparse.csr_matrix(scores))
        else:
            blocks.append(sparse.csr_matrix(transformer.transform(rows[columns])))
    return sparse.hstack(blocks, format="csr", dtype=np.float32)


def _fit_lightgbm(client: Client, config: TrainConfig, featurized: Featurized, results: list[Future]) -> Any:
    """All configured rounds on the cluster, then the best iteration by validation log-loss, then truncation."""
    workers = worker_order(client)
    width = featurized.features.output_indices_["remainder"].stop
    meta = sparse.csr_matrix((0, width), dtype=np.float32)
    chunks_x, chunks_y = [], []
    # One chunk per worker, stacked where its partitions lie: LightGBM's ranks follow the chunk order, and
    # however the scheduler places lightgbm.dask's own per-chunk tasks, each rank trains on the same rows.
    for position, worker in enumerate(workers):
        mine = [result for index, result in enumerate(results) if index % len(workers) == position]
        rows = sum(featurized.partition_rows[index][TRAIN] for index in range(position, len(results), len(workers)))
        stacked = client.submit(_stack_training_rows, *mine, workers=[worker], pure=False)
        x = client.submit(_item, stacked, "train_x", workers=[worker])
        y = client.submit(_item, stacked, "train_y", workers=[worker])
        chunks_x.append(da.from_delayed(x, shape=(rows, width), dtype=np.float32, meta=meta))
        chunks_y.append(da.from_delayed(y, shape=(rows,), dtype=object))
    params = classifier_params(config.model, n_jobs=1)
    del params["n_jobs"]  # lightgbm.dask runs one LightGBM thread per worker thread
    # A stand-in for the client that lightgbm.dask only calls methods on (compute, gather, submit, who_has...).
    classifier = DaskLGBMClassifier(client=cast("Client", _ChunkOrderClient(client)), **params)
    classifier.fit(da.concatenate(chunks_x), da.concatenate(chunks_y))
    local = classifier.to_local()
    best = _best_iteration(local, *_validation_sample(client, results), config.model.early_stopping_rounds)
    local.booster_.best_iteration = best
    align_thresholds_to_float32(local)
    logger.info("fitted", extra={"best_iteration": best, "rounds": config.model.n_estimators})
    return local


class _ChunkOrderClient:
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


def _stack_training_rows(*results: dict[str, Any]) -> dict[str, Any]:
    """One worker's training rows as one matrix and one label array."""
    return {
        "train_x": sparse.vstack([result["train_x"] for result in results], format="csr"),
        "train_y": np.concatenate([result["train_y"] for result in results]),
    }


def _best_iteration(classifier: Any, matrix: sparse.csr_matrix, labels: np.ndarray, patience: int) -> int:
    """Early stopping's choice, replayed: the round with the least validation log-loss, stopping after
    `patience` rounds without improvement."""
    booster = classifier.booster_
    codes = np.searchsorted(classifier.classes_, labels)
    raw = np.zeros((matrix.shape[0], len(classifier.classes_)))
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
    pairs = _first_rows(
        (client.gather([client.submit(_item, result, "validation_x"), client.submit(_item, result, "validation_y")])
         for result in results),
        VALIDATION_SAMPLE_ROWS,
        rows=lambda pair: len(pair[1]),
    )  # fmt: skip
    matrix = sparse.vstack([matrix for matrix, _ in pairs], format="csr")
    return matrix[:VALIDATION_SAMPLE_ROWS], np.concatenate([labels for _, labels in pairs])[:VALIDATION_SAMPLE_ROWS]


def _gather_rows(client: Client, parts: list[Future], split: int, limit: int, config: TrainConfig) -> pd.DataFrame:
    """Rows of one split gathered here, partitions in order, up to `limit`: inputs and label."""
    columns = [*config.data.columns, LABEL]
    frames = _first_rows((client.submit(_rows_of, part, split, columns).result() for part in parts), limit)
    return pd.concat(frames, ignore_index=True).head(limit)


def _first_rows(pieces: Iterator[Any], limit: int, rows: Callable[[Any], int] = len) -> list[Any]:
    """Fetch pieces (partitions' rows) in order until they hold `limit` rows; `rows` counts a piece's rows."""
    taken: list[Any] = []
    count = 0
    for piece in pieces:
        taken.append(piece)
        count += rows(piece)
        if count >= limit:
            break
    return taken


def _rows_of(part: pd.DataFrame, split: int, columns: list[str]) -> pd.DataFrame:
    """One split's rows of a partition, model columns only."""
    return part.loc[part[SPLIT] == split, columns]


def _report_and_digest(client: Client, config: TrainConfig, catalogue: Catalogue) -> tuple[DataReport, str]:
    """The data report of the first REPORT_ROWS raw rows, and the data's sha256 (files) or row digest (synthetic)."""
    raw = catalogue.raw
    frames = _first_rows((raw.get_partition(index).compute() for index in range(raw.npartitions)), REPORT_ROWS)
    report = build_report(pd.concat(frames, ignore_index=True).head(REPORT_ROWS), config.data, source=catalogue.source)
    log_report(report, strict=config.data.strict)
    if catalogue.filesystem is not None:
        digests = client.gather(client.map(file_sha256, catalogue.files, filesystem=catalogue.filesystem))
    else:
        parts = [delayed(rows_sha256)(part) for part in catalogue.raw.to_delayed()]
        digests = client.gather(client.compute(parts))
    return report, combined_sha256(digests)


def _hash(key: pd.Series | pd.DataFrame, purpose: str, seed: int) -> np.ndarray:
    """A 64-bit hash of each row's key (its product, or the whole row without products), a stream per purpose."""
    return pd.util.hash_pandas_object(key, index=False, hash_key=_hash_key(purpose, seed)).to_numpy()


def _hash_key(purpose: str, seed: int) -> str:
    """pandas' 16-character hash key, one per purpose and seed."""
    return hashlib.sha256(f"{purpose}:{seed}".encode()).hexdigest()[:16]


def _uniform(key: pd.Series | pd.DataFrame, purpose: str, seed: int) -> np.ndarray:
    """Each row's key hash as a number in [0, 1)."""
    return (_hash(key, purpose, seed) >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _title_block(config: TrainConfig) -> TitleScores:
    """An unfitted title model with the configured settings (it counts n-grams without fitting)."""
    features = config.features
    return TitleScores(features.text_buckets, features.word_ngram_max, features.char_ngrams, features.svm_c)


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    """Rows per split and training classes of a featurized partition."""
    return {
        "rows": {split: int(result[f"{name}_y"].shape[0]) for split, name in SPLIT_NAMES.items()},
        "classes": sorted(set(result["train_y"].tolist())),
    }


def _item(result: dict[str, Any], key: str) -> Any:
    """One array of a featurized partition."""
    return result[key]


def _split_rows(featurized: Featurized, split: int) -> int:
    """Rows of one split across the partitions."""
    return int(sum(rows[split] for rows in featurized.partition_rows))


def _fingerprint(config: TrainConfig, data: str) -> str:
    """What the featurized partitions depend on: the config and the data (its files' names, sizes, times)."""
    return hashlib.sha256(json.dumps([asdict(config), data], sort_keys=True, default=str).encode()).hexdigest()


def _cache_location(cache: str | None) -> tuple[pafs.FileSystem, str] | None:
    """The FEATURES folder as a pyarrow filesystem and path (created), or None."""
    if not cache:
        return None
    from pathlib import Path

    filesystem, folder = pafs.FileSystem.from_uri(cache if "://" in cache else str(Path(cache).resolve()))
    filesystem.create_dir(folder, recursive=True)
    return filesystem, folder


def _write_state(location: tuple[pafs.FileSystem, str], featurized: Featurized) -> None:
    """Everything but the partitions, written last: a folder with a state file is complete."""
    filesystem, folder = location
    buffer = io.BytesIO()
    joblib.dump(featurized, buffer)
    with filesystem.open_output_stream(f"{folder}/{STATE_FILE}") as handle:
        handle.write(buffer.getvalue())


def _read_state(cache: str, fingerprint: str) -> Featurized | None:
    """The folder's featurized state if it was made from this data and config, else None."""
    location = _cache_location(cache)
    if location is None:
        return None
    filesystem, folder = location
    if filesystem.get_file_info(f"{folder}/{STATE_FILE}").type != pafs.FileType.File:
        return None
    with filesystem.open_input_stream(f"{folder}/{STATE_FILE}") as handle:
        featurized = joblib.load(io.BytesIO(handle.read()))
    if featurized.fingerprint != fingerprint:
        logger.info("FEATURES folder was made from other data or config; featurizing again", extra={"folder": cache})
        return None
    return featurized


def _load_partitions(client: Client, featurized: Featurized, cache: str | None) -> list[Future]:
    """The featurized partitions read back from the FEATURES folder, each on the worker it is pinned to."""
    location = _cache_location(cache)
    if location is None:
        raise AssertionError("no featurized partitions in memory and no FEATURES folder")
    workers = worker_order(client)
    return [
        client.submit(_read_partition, location, index, workers=[workers[index % len(workers)]], pure=False)
        for index in range(len(featurized.partition_rows))
    ]


def _read_partition(location: tuple[pafs.FileSystem, str], index: int) -> dict[str, Any]:
    """One featurized partition from its .npz."""
    filesystem, folder = location
    with filesystem.open_input_stream(f"{folder}/part-{index:05d}.npz") as handle:
        stored = np.load(io.BytesIO(handle.read()))
    result: dict[str, Any] = {}
    for name in SPLIT_NAMES.values():
        key = f"{name}_x"
        parts = (stored[f"{key}_data"], stored[f"{key}_indices"], stored[f"{key}_indptr"])
        result[key] = sparse.csr_matrix(parts, shape=tuple(stored[f"{key}_shape"]))
        result[f"{name}_y"] = stored[f"{name}_y"]
    return result


def _peak_rss_mb() -> int:
    """This worker process's peak resident memory."""
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


@contextmanager
def _stage(timings: dict[str, float], name: str) -> Iterator[None]:
    """Log a stage's wall time and keep it for the run summary."""
    started = time.perf_counter()
    yield
    timings[name] = round(time.perf_counter() - started, 2)
    logger.info("stage done", extra={"stage": name, "seconds": timings[name]})
