"""`make train ENGINE=dask`: the same pipeline, fitted partition by partition on a Dask cluster.

The stages, each timed, each in its own module:
1. read/split (`prepare`): the catalogue is read file by file (or generated on the workers), cleaned row by
   row, split by hashes of each row's product and shuffled by product into partitions.
2. linear sample fits (`title_models`): the title model and its K out-of-fold copies, fitted on a
   deterministic, class-stratified sample of training products as K + 1 tasks side by side.
3. featurize (`featurize`): each partition becomes float32 CSR features on its worker, training rows scored
   by the copy that never saw their fold. With FEATURES=<folder> (`features_dir`) the featurized partitions
   are kept, and a rerun with the same data and config starts from them at the LightGBM stage.
4. LightGBM (`boosting`): `DaskLGBMClassifier` on partitions pinned round robin to the workers, the best
   iteration chosen by early stopping's rule replayed on validation log-loss.
5. evaluation (here): the test split is scored on the workers; the parity gate and the golden examples use a
   test sample gathered to this process.
The result is a `FittedModel`, exported and gated exactly as the local engine's.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from training.columns import LABEL
from training.engines.dask.boosting import VALIDATION_SAMPLE_ROWS, check_class_coverage, fit_lightgbm, fit_reranker
from training.engines.dask.cluster import worker_order
from training.engines.dask.features_dir import FeaturesDir
from training.engines.dask.featurize import FILE_DIGEST, Featurized, featurize_partition, item, partition_summary
from training.engines.dask.prepare import (
    FOLD,
    PRODUCT,
    TEST,
    TRAIN,
    VALIDATION,
    gather_class_rows,
    gather_rows,
    prepare_partitions,
    report_and_digest,
    train_fold_classes,
    trained_products,
)
from training.engines.dask.title_models import fit_features_on_sample, fit_title_models
from training.engines.fitted import FittedModel
from training.engines.peak_rss import own_peak_rss_mb
from training.model.pipeline import RERANK, resolve_design, resolve_title_fit
from training.model.stacking import require_two_fold_classes
from training.model.top_classes import TopClasses, classifier_top

if TYPE_CHECKING:
    from collections.abc import Iterator

    from distributed import Client, Future

    from training.config import TrainConfig
    from training.engines.dask.catalogue import Catalogue

TEST_SAMPLE_ROWS = 20_000
logger = logging.getLogger(__name__)
# One split of a partition, scored: labels, the model's best classes, the title model's own labels.
Scored = tuple[np.ndarray, TopClasses, np.ndarray, np.ndarray]


def train_on_cluster(
    client: Client, config: TrainConfig, catalogue: Catalogue, features_dir: str | None
) -> FittedModel:
    """The whole fit on the cluster; the result is exported and gated exactly as the local engine's.

    Args:
        client: A connected Dask client (see `training.engines.dask.cluster.dask_client`).
        config: The resolved config.
        catalogue: The data, from `open_catalogue`.
        features_dir: The FEATURES folder keeping the featurized partitions for a rerun (local or s3://);
            None to keep none.

    Raises:
        DataValidationError: Bad data, or a class missing from a split, a fold or a worker.
    """
    timings: dict[str, float] = {}
    folder = FeaturesDir.open(features_dir, catalogue.fingerprint) if features_dir else None
    published = folder.read_published() if folder else None
    if published is None:
        featurized, results = featurize_catalogue(client, config, catalogue, folder, timings)
    else:
        featurized, run, digests = published
        logger.info("reusing featurized partitions", extra={"folder": f"{run.path}/{run.run}"})
        workers = worker_order(client)
        results = [
            client.submit(run.read_partition, index, digest, workers=[workers[index % len(workers)]], pure=False)
            for index, digest in enumerate(digests)
        ]
    fitted = fit_and_evaluate(client, config, featurized, results, timings)
    peaks = client.run(own_peak_rss_mb)
    return replace(fitted, engine_stats={"stage_seconds": timings, "worker_peak_rss_mb": sorted(peaks.values())})


def featurize_catalogue(
    client: Client,
    config: TrainConfig,
    catalogue: Catalogue,
    folder: FeaturesDir | None,
    timings: dict[str, float],
) -> tuple[Featurized, list[Future]]:
    """Stages 1–3: read and split, fit the title models, featurize; kept in the FEATURES folder when given."""
    with _stage(timings, "read/split"):
        report, sha256 = report_and_digest(client, config, catalogue)
        parts, counts, products, tail = prepare_partitions(client, config, catalogue)
    # The report read the first rows only; the classes the run learns, and their rows, are the whole catalogue's.
    report.trained_class_counts = {str(label): int(n) for label, n in counts.groupby(level=1).sum().items()}
    design = resolve_design(config.model, counts.loc[TRAIN].size)
    # The title models are fitted on a sample of at most features.linear_sample_rows training rows.
    sampled = min(int(counts.loc[TRAIN].sum()), config.features.linear_sample_rows)
    config = replace(config, features=resolve_title_fit(config.features, sampled, counts.loc[TRAIN].size))
    _check_dealt_classes(client, config, parts, counts, design)
    with _stage(timings, "linear sample fits"):
        title_models = fit_title_models(client, config, parts, counts, design)
        features = fit_features_on_sample(config, parts, counts, title_models[-1], design)
    with _stage(timings, "featurize"):
        fold_models = client.scatter(title_models[:-1], broadcast=True)
        shared = client.scatter(features, broadcast=True)
        workers = worker_order(client)
        results = [
            client.submit(
                featurize_partition,
                part,
                shared,
                fold_models,
                index=index,
                folder=folder,
                workers=[workers[index % len(workers)]],
                pure=False,
            )
            for index, part in enumerate(parts)
        ]
        summaries = client.gather(client.map(partition_summary, results))
        test_sample = gather_rows(client, parts, TEST, TEST_SAMPLE_ROWS, config)
        unevaluated_sample = gather_class_rows(client, parts, TRAIN, _untested_classes(counts), config)
        validation_sample = gather_rows(client, parts, VALIDATION, VALIDATION_SAMPLE_ROWS, config, products=True)
        trained = trained_products(client, parts)
    featurized = Featurized(
        fingerprint=catalogue.fingerprint,
        features=features,
        partition_rows=[summary["rows"] for summary in summaries],
        partition_classes=[summary["classes"] for summary in summaries],
        class_counts={str(label): int(n) for label, n in counts.loc[TRAIN].items()},
        class_products={str(label): int(n) for label, n in products.items()},
        tail=tail,
        test_sample=test_sample,
        unevaluated_sample=unevaluated_sample,
        validation_sample=validation_sample,
        trained_products=trained,
        source=catalogue.source,
        sha256=sha256,
        report=report,
    )
    if folder is not None:
        folder.publish(featurized, client.gather(client.map(item, results, [FILE_DIGEST] * len(results))))
    return featurized, results


def fit_and_evaluate(
    client: Client, config: TrainConfig, featurized: Featurized, results: list[Future], timings: dict[str, float]
) -> FittedModel:
    """Stages 4–5: LightGBM on the featurized partitions, then the test split scored on the workers."""
    classes = sorted(featurized.class_counts)
    with _stage(timings, "LightGBM"):
        if resolve_design(config.model, len(classes)) == RERANK:
            classifier = fit_reranker(client, config, featurized, results)
        else:
            check_class_coverage(worker_order(client), featurized.partition_classes, classes)
            classifier = fit_lightgbm(client, config, featurized, results)
    with _stage(timings, "evaluation"):
        shared = client.scatter(classifier, broadcast=True)
        both = client.gather([client.submit(score_splits, result, shared, pure=False) for result in results])
        scored, validated = [test for test, _ in both], [validation for _, validation in both]
    test_labels = np.concatenate([labels for labels, *_ in scored])
    pipeline = Pipeline([("features", featurized.features), ("classifier", classifier)])
    rows = [sum(rows.values()) for rows in featurized.partition_rows]
    return FittedModel(
        pipeline=pipeline,
        test=featurized.test_sample,
        unevaluated=featurized.unevaluated_sample,
        test_labels=pd.Series(test_labels, name=LABEL),
        test_top=TopClasses.concatenate([top for _, top, *_ in scored]),
        baseline_predicted=np.concatenate([baseline for _, _, baseline, _ in scored]),
        validation_labels=np.concatenate([labels for labels, *_ in validated]),
        validation_top=TopClasses.concatenate([top for _, top, *_ in validated]),
        validation_baseline_predicted=np.concatenate([baseline for _, _, baseline, _ in validated]),
        validation_label_products=np.concatenate([products for *_, products in validated]),
        validation=featurized.validation_sample.drop(columns=[PRODUCT]),
        validation_products=featurized.validation_sample[PRODUCT].to_numpy(),
        trained_products=featurized.trained_products,
        class_counts=pd.Series(featurized.class_counts),
        class_products=pd.Series(featurized.class_products),
        tail=featurized.tail,
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


def score_splits(result: dict[str, Any], classifier: Any) -> tuple[Scored, Scored]:
    """The test and the validation rows of one partition, each scored by `score_split`."""
    return score_split(result, classifier, "test"), score_split(result, classifier, "validation")


def score_split(result: dict[str, Any], classifier: Any, split: str) -> Scored:
    """One split's rows of a partition: labels, the model's best classes, the title model's own labels, and the
    rows' products."""
    matrix, labels, products = result[f"{split}_x"], result[f"{split}_y"], result[f"{split}_product"]
    if matrix.shape[0] == 0:
        return labels, TopClasses(np.zeros((0, 1), dtype=np.int64), np.zeros((0, 1))), labels, products
    return labels, classifier_top(classifier, matrix), result[f"{split}_baseline"], products


def _check_dealt_classes(
    client: Client, config: TrainConfig, parts: list[Future], counts: pd.Series, design: str
) -> None:
    """Before minutes of fitting, what the title models' folds and LightGBM's workers need of the training rows as
    they are dealt: (rerank) every fold's complement two classes, (multiclass) every class on every worker.

    Raises:
        DataValidationError: Naming the classes, and what to change.
    """
    pairs = client.gather(client.map(train_fold_classes, parts))
    every = pd.concat(pairs, ignore_index=True)
    if design == RERANK:
        for fold in range(config.features.stacking_folds):
            require_two_fold_classes(every.loc[every[FOLD] != fold, LABEL].to_numpy(), config.features.stacking_folds)
    else:
        classes = sorted(map(str, counts.loc[TRAIN].index))
        check_class_coverage(worker_order(client), [sorted(map(str, set(pair[LABEL]))) for pair in pairs], classes)


def _untested_classes(counts: pd.Series) -> list[str]:
    """The classes with training rows and no test rows."""
    tested = set(counts.loc[TEST].index) if TEST in counts.index.get_level_values(0) else set()
    return sorted(set(counts.loc[TRAIN].index) - tested)


def _split_rows(featurized: Featurized, split: int) -> int:
    """Rows of one split across the partitions."""
    return int(sum(rows[split] for rows in featurized.partition_rows))


@contextmanager
def _stage(timings: dict[str, float], name: str) -> Iterator[None]:
    """Log a stage's wall time and keep it for the run summary."""
    started = time.perf_counter()
    yield
    timings[name] = round(time.perf_counter() - started, 2)
    logger.info("stage done", extra={"stage": name, "seconds": timings[name]})
