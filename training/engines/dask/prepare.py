"""Stage 1, read/split: every row cleaned where it lies and given its split, fold and sample draw by hashes.

Each row's split (70/10/20), stacking fold and sample draw come from hashes of its product (of the whole row
without products), so they do not depend on how the data is partitioned; each class's three lowest-drawn
products are then placed in test, validation and train (`split_floors`), so a class of a handful of products
is in every split. Rows are then shuffled by product
into partitions of about PARTITION_ROWS: a file sorted by category cannot leave a worker without a class, and
a product's rows (with its extra training text) stay together. The data report covers the first REPORT_ROWS
raw rows; the data's digest covers all of it.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from dask import delayed

from training.columns import GROUP, LABEL
from training.data.clean import check_label_aliases, model_rows, require_two_classes
from training.data.digest import combined_sha256, file_sha256, rows_sha256
from training.data.report import build_report, log_report
from training.data.split import check_class_sizes, check_split_coverage
from training.engines.dask.catalogue import PARTITION_ROWS

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from distributed import Client, Future

    from training.config import TrainConfig
    from training.data.report import DataReport
    from training.engines.dask.catalogue import Catalogue

REPORT_ROWS = 200_000
# The columns stage 1 adds to every row: its split (and the draw that chose it), stacking fold, sample draw in
# [0, 1) and shuffle key.
SPLIT, SPLIT_DRAW, FOLD, DRAW, KEY = "_split", "_split_draw", "_fold", "_draw", "_key"
TRAIN, VALIDATION, TEST = 0, 1, 2
# Where each class's lowest-drawn products go, whatever their draws (`split_floors`).
FLOORS = (TEST, VALIDATION, TRAIN)
SPLIT_NAMES = {TRAIN: "train", VALIDATION: "validation", TEST: "test"}
logger = logging.getLogger(__name__)


def prepare_partitions(client: Client, config: TrainConfig, catalogue: Catalogue) -> tuple[list[Future], pd.Series]:
    """Clean, split and shuffle by product; return the partitions (held on the cluster) and class counts."""
    meta = prepared_partition(catalogue.raw._meta, config, catalogue.source)
    prepared = catalogue.raw.map_partitions(prepared_partition, config, catalogue.source, meta=meta)
    prepared = client.persist(prepared)
    floors = split_floors(prepared.map_partitions(lowest_draws, meta=lowest_draws(meta)).compute())
    prepared = client.persist(prepared.map_partitions(apply_split_floors, floors, meta=meta))
    counts = prepared.groupby([SPLIT, LABEL], observed=True).size().compute()
    check_prepared_counts(counts, config)
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


def prepared_partition(raw: pd.DataFrame, config: TrainConfig, source: str) -> pd.DataFrame:
    """Clean one raw partition and give each row its split, fold, sample draw and shuffle key (from hashes)."""
    frame, _ = model_rows(raw, config.data, source)
    key = frame[GROUP] if GROUP in frame.columns else frame.copy()
    seed = config.split.seed
    split_draw = _uniform(key, "split", seed)
    test, validation = config.split.test_fraction, config.split.validation_fraction
    split = np.where(split_draw < test, TEST, np.where(split_draw < test + validation, VALIDATION, TRAIN))
    frame[SPLIT] = split.astype(np.int8)
    frame[SPLIT_DRAW] = split_draw
    frame[FOLD] = (_hash(key, "fold", seed) % np.uint64(config.features.stacking_folds)).astype(np.int8)
    frame[DRAW] = _uniform(key, "draw", seed)
    frame[KEY] = _hash(key, "key", seed)
    return frame


def split_floors(lowest: pd.DataFrame) -> pd.DataFrame:
    """Each class's products with the lowest split draws, assigned test, validation and train in that order.

    Hash draws split products 70/10/20 whatever their class, so a class of a dozen products often has none in
    validation (0.9^12 ≈ 28 %), and a taxonomy's long tail then fails the split. Like the local engine's
    stratified split, every class keeps one product in each split: the three lowest draws of each class are
    placed, every other product keeps its draw's split. It depends on the products, not on partitioning.

    Args:
        lowest: (label, split draw) pairs of products, at least each class's FLOORS lowest (`lowest_draws`
            of every partition).
    """
    placed = lowest_draws(lowest)
    placed[SPLIT] = np.asarray(FLOORS, dtype=np.int8)[placed.groupby(LABEL, observed=True).cumcount().to_numpy()]
    return placed.reset_index(drop=True)


def apply_split_floors(part: pd.DataFrame, floors: pd.DataFrame) -> pd.DataFrame:
    """`part` with the floor products of `split_floors` in their assigned split."""
    assigned = part[[LABEL, SPLIT_DRAW]].merge(floors, on=[LABEL, SPLIT_DRAW], how="left")[SPLIT].to_numpy()
    placed = ~pd.isna(assigned)
    part = part.copy()
    part.loc[placed, SPLIT] = assigned[placed].astype(np.int8)
    return part


def lowest_draws(part: pd.DataFrame) -> pd.DataFrame:
    """Each class's FLOORS lowest distinct split draws in one partition."""
    distinct = part[[LABEL, SPLIT_DRAW]].drop_duplicates().sort_values([LABEL, SPLIT_DRAW])
    return distinct.groupby(LABEL, observed=True).head(len(FLOORS)).reset_index(drop=True)


def check_prepared_counts(counts: pd.Series, config: TrainConfig) -> None:
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


def report_and_digest(client: Client, config: TrainConfig, catalogue: Catalogue) -> tuple[DataReport, str]:
    """The data report of the first REPORT_ROWS raw rows, and the data's sha256 (files) or row digest (synthetic)."""
    raw = catalogue.raw
    frames = first_rows((raw.get_partition(index).compute() for index in range(raw.npartitions)), REPORT_ROWS)
    report = build_report(pd.concat(frames, ignore_index=True).head(REPORT_ROWS), config.data, source=catalogue.source)
    log_report(report, strict=config.data.strict)
    if catalogue.filesystem is not None:
        digests = client.gather(client.map(file_sha256, catalogue.files, filesystem=catalogue.filesystem))
    else:
        parts = [delayed(rows_sha256)(part) for part in catalogue.raw.to_delayed()]
        digests = client.gather(client.compute(parts))
    return report, combined_sha256(digests)


def gather_rows(client: Client, parts: list[Future], split: int, limit: int, config: TrainConfig) -> pd.DataFrame:
    """Rows of one split gathered here, partitions in order, up to `limit`: inputs and label."""
    columns = [*config.data.columns, LABEL]
    frames = first_rows((client.submit(_rows_of, part, split, columns).result() for part in parts), limit)
    return pd.concat(frames, ignore_index=True).head(limit)


def first_rows(pieces: Iterator[Any], limit: int, rows: Callable[[Any], int] = len) -> list[Any]:
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


def _hash(key: pd.Series | pd.DataFrame, purpose: str, seed: int) -> np.ndarray:
    """A 64-bit hash of each row's key (its product, or the whole row without products), a stream per purpose."""
    return pd.util.hash_pandas_object(key, index=False, hash_key=_hash_key(purpose, seed)).to_numpy()


def _hash_key(purpose: str, seed: int) -> str:
    """pandas' 16-character hash key, one per purpose and seed."""
    return hashlib.sha256(f"{purpose}:{seed}".encode()).hexdigest()[:16]


def _uniform(key: pd.Series | pd.DataFrame, purpose: str, seed: int) -> np.ndarray:
    """Each row's key hash as a number in [0, 1)."""
    return (_hash(key, purpose, seed) >> np.uint64(11)).astype(np.float64) * 2.0**-53
