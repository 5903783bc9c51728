"""Stage 1, read/split: every row cleaned where it lies, its small classes treated, its split dealt by a hash.

Rows are cleaned partition by partition, the small-class policy (`training.data.tail`) is planned from the
products per class and applied where the rows lie, and each product is dealt its split by the very hash and rules
of the local engine (`training.data.split`): a product's split depends on its own id only, a small class's
products train, and a class whose products all drew validation or test keeps its highest-drawn one in train. Those
two overrides need only class-sized facts and the few products of small classes, gathered here. Each row also
gets a stacking fold and a sample draw from hashes of its product, so none of it depends on partitioning. Rows are
then shuffled by product into partitions of about PARTITION_ROWS: a file sorted by category cannot leave a worker
without a class, and a product's rows (with its extra training text) stay together. The data report covers the
first REPORT_ROWS raw rows; the data's digest covers all of it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import dask.dataframe as dd
import numpy as np
import pandas as pd
from dask import delayed

from training.columns import LABEL
from training.data.clean import check_label_aliases, label_texts, model_rows, require_two_classes
from training.data.digest import combined_sha256, file_sha256, rows_sha256
from training.data.report import build_report, log_report
from training.data.split import (
    SPLIT_NAMES,
    TEST,
    TRAIN,
    VALIDATION,
    check_held_out,
    draw_splits,
    hash_values,
    product_ids,
    product_keys,
    small_classes,
    train_floor_products,
    uniform_hash,
)
from training.data.tail import apply_plan, plan_small_classes
from training.engines.dask.catalogue import PARTITION_ROWS
from training.exceptions import DataValidationError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from distributed import Client, Future

    from training.config import TrainConfig
    from training.data.report import DataReport
    from training.data.tail import TailPlan
    from training.engines.dask.catalogue import Catalogue

REPORT_ROWS = 200_000
# The columns stage 1 adds to every row: its split (and the draw that chose it), its product's hash, stacking fold,
# sample draw in [0, 1) and shuffle key.
SPLIT, SPLIT_DRAW, PRODUCT, FOLD, DRAW, KEY = "_split", "_split_draw", "_product", "_fold", "_draw", "_key"
__all__ = ["SPLIT_NAMES", "TEST", "TRAIN", "VALIDATION"]
logger = logging.getLogger(__name__)


def prepare_partitions(
    client: Client, config: TrainConfig, catalogue: Catalogue
) -> tuple[list[Future], pd.Series, pd.Series, TailPlan]:
    """Clean, treat small classes, split and shuffle by product.

    Returns:
        The partitions (held on the cluster), rows per (split, class), products per class and the small-class plan.
    """
    # A file's partition names the file in its errors (one partition per file; the synthetic catalogue has none).
    raw = catalogue.raw
    sources = catalogue.files if len(catalogue.files) == raw.npartitions else (catalogue.source,) * raw.npartitions
    # Each partition is cleaned once, for its rows and for its counts.
    pieces = client.persist(
        [
            delayed(_cleaned_and_counted, nout=3)(part, config, source)
            for part, source in zip(raw.to_delayed(), sources, strict=True)
        ]
    )
    tallied = client.compute(delayed(_summed)([piece[1] for piece in pieces]))
    if config.data.label_aliases:
        # On the labels as read, before any row is dropped, as the local engine checks them.
        labels = client.compute(delayed(set().union)(*[piece[2] for piece in pieces])).result()
        check_label_aliases(labels, config.data.label_aliases)
    meta = cleaned_partition(raw._meta, config, "meta")
    cleaned = client.persist(dd.from_delayed([piece[0] for piece in pieces], meta=meta, verify_meta=False))
    del pieces
    tail = plan_small_classes(_products_per_class(cleaned), config.split, config.data.path_separator)
    meta = prepared_partition(cleaned._meta, config, tail)
    prepared = client.persist(cleaned.map_partitions(prepared_partition, config, tail, meta=meta))
    products = _products_per_class(prepared)
    forced = forced_products(prepared, small_classes(products, config.split.min_class_products))
    prepared = client.persist(prepared.map_partitions(train_products, forced, meta=meta))
    counts = prepared.groupby([SPLIT, LABEL], observed=True).size().compute()
    check_prepared_counts(counts, config, catalogue.source)
    partitions = max(2 * len(client.nthreads()), -(-int(counts.sum()) // PARTITION_ROWS))
    # The shuffle delivers a partition's pieces in arrival order: sorting by every column makes it one order. A
    # row and its copies share a product, hence a partition: the copies another file held go there, as the local
    # engine drops every copy of a row of the catalogue (each file's own were dropped as it was cleaned).
    order = [KEY, *config.data.columns, LABEL]
    shuffled = prepared.shuffle(on=KEY, npartitions=partitions).map_partitions(
        lambda part: part.sort_values(order, kind="stable").drop_duplicates().reset_index(drop=True), meta=meta
    )
    parts = client.compute(shuffled.to_delayed())
    del prepared, cleaned
    before = int(counts.sum())
    counts = pd.concat(client.gather(client.map(_split_class_counts, parts))).groupby(level=[0, 1]).sum()
    cleaning = tallied.result()
    copies = before - int(counts.sum())
    cleaning |= {
        "dropped_duplicates": cleaning["dropped_duplicates"] + copies,
        "rows_out": cleaning["rows_out"] - copies,
    }
    # The data report reads the first REPORT_ROWS rows only: this line counts what cleaning dropped from them all.
    logger.log(
        logging.WARNING if cleaning["rows_out"] < cleaning["rows_in"] else logging.INFO, "cleaned", extra=cleaning
    )
    logger.info("prepared", extra={"rows": int(counts.sum()), "partitions": partitions, **tail.to_dict()})
    return parts, counts, products, tail


def prepared_partition(frame: pd.DataFrame, config: TrainConfig, tail: TailPlan) -> pd.DataFrame:
    """One cleaned partition with the small-class plan applied and each row's split by its draw, product hash,
    fold, sample draw and shuffle key (all from hashes of its product)."""
    frame = apply_plan(frame, tail).reset_index(drop=True)
    key, seed = product_keys(frame), config.split.seed
    draws = uniform_hash(key, "split", seed)
    return frame.assign(**{
        SPLIT_DRAW: draws,
        SPLIT: draw_splits(draws, config.split),
        PRODUCT: product_ids(key),
        FOLD: (hash_values(key, "fold", seed) % np.uint64(config.features.stacking_folds)).astype(np.int8),
        DRAW: uniform_hash(key, "draw", seed),
        KEY: hash_values(key, "key", seed),
    })  # fmt: skip


def forced_products(prepared: dd.DataFrame, small: set[str]) -> np.ndarray:
    """The products that train whatever their draw: those of small classes, then each class's train floor (its
    highest-drawn product when none of its products is in train); see `training.data.split`.

    Only class-sized facts and the products of small or train-less classes (a handful each) reach this process.
    """
    pairs = prepared[[PRODUCT, LABEL, SPLIT_DRAW, SPLIT]].drop_duplicates([PRODUCT, LABEL])
    forced = set(pairs[pairs[LABEL].isin(list(small))][PRODUCT].compute())
    trains = ((pairs[SPLIT] == TRAIN) | pairs[PRODUCT].isin(list(forced))).astype(np.int8)
    has_train = pairs.assign(_trains=trains).groupby(LABEL, observed=True)["_trains"].max().compute()
    lacking = list(has_train[has_train == 0].index)
    if lacking:
        candidates = pairs[pairs[LABEL].isin(lacking)].compute()
        renamed = candidates.rename(columns={PRODUCT: "product", SPLIT_DRAW: "draw", SPLIT: "split"})
        forced |= train_floor_products(renamed)
    return np.asarray(sorted(forced), dtype=np.uint64)


def train_products(part: pd.DataFrame, forced: np.ndarray) -> pd.DataFrame:
    """`part` with the rows of the `forced` products in train."""
    part = part.copy()
    part.loc[np.isin(part[PRODUCT].to_numpy(), forced), SPLIT] = np.int8(TRAIN)
    return part


def check_prepared_counts(counts: pd.Series, config: TrainConfig, source: str) -> None:
    """At least two classes must remain, and validation and test must hold rows.

    Raises:
        DataValidationError: Fewer than two classes remain, or a held-out split is empty.
    """
    require_two_classes(counts.index.get_level_values(1).nunique(), source, after="cleaning and split.small_classes")
    present = counts.groupby(level=0).sum()
    check_held_out({name: int(present.get(split, 0)) for split, name in SPLIT_NAMES.items() if split != TRAIN},
                   config.split)  # fmt: skip


def report_and_digest(client: Client, config: TrainConfig, catalogue: Catalogue) -> tuple[DataReport, str]:
    """The data report of the first REPORT_ROWS raw rows, and the data's sha256 (files) or row digest (synthetic)."""
    raw = catalogue.raw
    frames = first_rows((raw.get_partition(index).compute() for index in range(raw.npartitions)), REPORT_ROWS)
    head = pd.concat(frames, ignore_index=True).head(REPORT_ROWS)
    try:
        report = build_report(head, config.data, source=catalogue.source, split=config.split)
    except DataValidationError:
        # A value training refuses, named in its own file and row when partitions are files, as the workers would.
        if len(catalogue.files) == raw.npartitions:
            for frame, source in zip(frames, catalogue.files, strict=False):
                model_rows(frame.reset_index(drop=True), config.data, source)
        raise
    # A catalogue of REPORT_ROWS rows or more: what the report counts is its start, which it then says.
    report.first_rows = REPORT_ROWS if len(head) == REPORT_ROWS else None
    log_report(report, strict=config.data.strict)
    if catalogue.filesystem is not None:
        digests = client.gather(client.map(file_sha256, catalogue.files, filesystem=catalogue.filesystem))
    else:
        parts = [delayed(rows_sha256)(part) for part in catalogue.raw.to_delayed()]
        digests = client.gather(client.compute(parts))
    return report, combined_sha256(digests)


def gather_rows(
    client: Client, parts: list[Future], split: int, limit: int, config: TrainConfig, *, products: bool = False
) -> pd.DataFrame:
    """Rows of one split gathered here, partitions in order, up to `limit`: inputs and label (and with `products`
    each row's product id, PRODUCT)."""
    columns = [*config.data.columns, LABEL, *([PRODUCT] if products else [])]
    frames = first_rows((client.submit(_rows_of, part, split, columns).result() for part in parts), limit)
    return pd.concat(frames, ignore_index=True).head(limit)


def gather_class_rows(
    client: Client, parts: list[Future], split: int, classes: list[str], config: TrainConfig
) -> pd.DataFrame:
    """One row of each of `classes` in one split, gathered here: inputs and label."""
    columns = [*config.data.columns, LABEL]
    if not classes:
        return pd.DataFrame(columns=columns)
    frames = client.gather([client.submit(_class_rows, part, split, classes, columns) for part in parts])
    return pd.concat(frames, ignore_index=True).groupby(LABEL, sort=True).head(1).reset_index(drop=True)


def trained_products(client: Client, parts: list[Future]) -> np.ndarray:
    """The sorted ids of every product with training rows."""
    found = client.gather([client.submit(_products_of, part, TRAIN) for part in parts])
    return np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.uint64)


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


def train_fold_classes(part: pd.DataFrame) -> pd.DataFrame:
    """The distinct (stacking fold, class) pairs of a partition's training rows."""
    return part.loc[part[SPLIT] == TRAIN, [FOLD, LABEL]].drop_duplicates()


def _rows_of(part: pd.DataFrame, split: int, columns: list[str]) -> pd.DataFrame:
    """One split's rows of a partition, model columns only."""
    return part.loc[part[SPLIT] == split, columns]


def _products_of(part: pd.DataFrame, split: int) -> np.ndarray:
    """The distinct product ids of one split of a partition."""
    return np.unique(part.loc[part[SPLIT] == split, PRODUCT].to_numpy())


def _class_rows(part: pd.DataFrame, split: int, classes: list[str], columns: list[str]) -> pd.DataFrame:
    """One row of each of `classes` in one split of a partition, model columns only."""
    rows = part.loc[(part[SPLIT] == split) & part[LABEL].isin(classes), columns]
    return rows.groupby(LABEL, sort=False).head(1)


def cleaned_partition(raw: pd.DataFrame, config: TrainConfig, source: str) -> pd.DataFrame:
    """One raw partition cleaned as the local engine cleans (`training.data.clean.model_rows`); errors name
    `source`."""
    return _cleaned_and_counted(raw, config, source)[0]


def _cleaned_and_counted(
    raw: pd.DataFrame, config: TrainConfig, source: str
) -> tuple[pd.DataFrame, dict[str, int], set[str]]:
    """`cleaned_partition`, the rows it read, dropped by each rule and kept (the local engine's "cleaned"), and its
    labels as read (before any row is dropped: what `data.label_aliases` must name)."""
    frame, dropped = model_rows(raw, config.data, source)
    labels = label_texts(raw[config.data.target], config.data.target, source) if config.data.label_aliases else set()
    return frame, {"rows_in": len(raw), **dropped, "rows_out": len(frame)}, labels


def _summed(tallies: list[dict[str, int]]) -> dict[str, int]:
    """The partitions' tallies, key by key."""
    return {key: sum(tally[key] for tally in tallies) for key in tallies[0]}


def _split_class_counts(part: pd.DataFrame) -> pd.Series:
    """Rows per (split, label) of one partition."""
    return part.groupby([SPLIT, LABEL], observed=True).size()


def _products_per_class(frame: dd.DataFrame) -> pd.Series:
    """Distinct products per label across the partitions, counted by their 64-bit ids (`PRODUCT`)."""
    if PRODUCT in frame.columns:
        return frame[[PRODUCT, LABEL]].drop_duplicates().groupby(LABEL, observed=True).size().compute()
    keys = frame.map_partitions(lambda part: part.assign(**{PRODUCT: product_ids(product_keys(part))}))
    return keys[[PRODUCT, LABEL]].drop_duplicates().groupby(LABEL, observed=True).size().compute()
