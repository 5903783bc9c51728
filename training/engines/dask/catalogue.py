"""The catalogue as the Dask engine sees it: raw partitions, one per file (or generated on the workers).

Nothing is read here: `open_catalogue` lists the files, checks the first one's columns and describes the
partitions; the workers read them in stage 1 (`training.engines.dask.prepare`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import dask.dataframe as dd

from training.data.clean import configured_columns
from training.data.long_tail import (
    catalogue_classes,
    generate_long_tail_catalogue,
    generate_long_tail_partition,
    taxonomy_name,
    taxonomy_paths,
)
from training.data.sources import catalogue_files, check_files, read_file
from training.data.synthetic import generate_catalogue, generate_partition
from training.data.taxonomy import generate_taxonomy_catalogue, generate_taxonomy_partition

if TYPE_CHECKING:
    import pandas as pd
    from pyarrow import fs as pafs

    from training.config import TrainConfig

# Rows per partition: of the generated synthetic catalogue, and after the shuffle by product.
PARTITION_ROWS = 100_000


@dataclass(frozen=True)
class Catalogue:
    """A catalogue on the cluster, not yet read: the raw partitions and what they are."""

    raw: dd.DataFrame
    source: str
    files: tuple[str, ...]
    filesystem: pafs.FileSystem | None
    fingerprint: str


def open_catalogue(config: TrainConfig, data: str | None) -> Catalogue:
    """The raw catalogue as Dask partitions: one per file, or synthetic ones generated on the workers.

    Raises:
        DataValidationError: No readable files match, or a configured column is missing.
    """
    if data is None:
        return _synthetic_catalogue(config)
    filesystem, files = catalogue_files(data)
    # Every file's header is checked here, before a cluster or an MLflow run starts, and again as it is read.
    required = configured_columns(config.data)
    first = read_file(files[0], filesystem, required=required)
    check_files(files[1:], filesystem, required=required)
    raw = dd.from_map(read_file, files, filesystem=filesystem, required=required, meta=first.iloc[:0])
    listing = [(info.path, info.size, str(info.mtime)) for info in filesystem.get_file_info(files)]
    return Catalogue(raw, data, tuple(files), filesystem, fingerprint(config, json.dumps(listing)))


def synthetic_partition(spec: tuple[int, int], *, seed: int, parts: int, total_rows: int) -> pd.DataFrame:
    """One partition of the synthetic catalogue; a single partition is exactly `generate_catalogue(rows, seed)`.

    Otherwise all partitions share one set of products, brands and sellers (see `generate_partition`).
    """
    index, rows = spec
    if parts == 1:
        return generate_catalogue(rows, seed=seed)
    return generate_partition(index, rows, total_rows=total_rows, seed=seed)


def taxonomy_partition(spec: tuple[int, int, int], *, seed: int, parts: int, total_rows: int,
                       categories: int) -> pd.DataFrame:  # fmt: skip
    """One partition (index, first offer, rows) of the synthetic taxonomy catalogue; a single partition is
    exactly `generate_taxonomy_catalogue(rows, categories, seed)`, as locally."""
    index, first_offer, rows = spec
    if parts == 1:
        return generate_taxonomy_catalogue(rows, categories, seed=seed)
    return generate_taxonomy_partition(
        index, rows, first_offer=first_offer, total_rows=total_rows, categories=categories, seed=seed
    )


def long_tail_partition(spec: tuple[int, int, int], *, seed: int, parts: int, total_rows: int,
                        classes: list[str]) -> pd.DataFrame:  # fmt: skip
    """One partition (index, first offer, rows) of the long-tailed catalogue on a real taxonomy; a single
    partition is exactly `generate_long_tail_catalogue(rows, classes, seed)`, as locally."""
    index, first_offer, rows = spec
    if parts == 1:
        return generate_long_tail_catalogue(rows, classes, seed=seed)
    return generate_long_tail_partition(
        index, rows, first_offer=first_offer, total_rows=total_rows, classes=classes, seed=seed
    )


def fingerprint(config: TrainConfig, data: str) -> str:
    """What the featurized partitions depend on: the config and the data (its files' names, sizes, times)."""
    return hashlib.sha256(json.dumps([asdict(config), data], sort_keys=True, default=str).encode()).hexdigest()


def _synthetic_catalogue(config: TrainConfig) -> Catalogue:
    """The synthetic catalogue (the taxonomy one with CATEGORIES) as partitions of about PARTITION_ROWS rows,
    each generated on a worker from the seed, so the catalogue never passes through the driver."""
    rows, seed, categories = config.synthetic_rows, config.split.seed, config.synthetic_categories
    count = -(-rows // PARTITION_ROWS)
    sizes = [rows // count + (1 if index < rows % count else 0) for index in range(count)]
    specs = [(index, sum(sizes[:index]), size) for index, size in enumerate(sizes)]
    if config.synthetic_taxonomy:
        taxonomy = config.synthetic_taxonomy
        classes = catalogue_classes(taxonomy_paths(taxonomy, seed=seed), categories=categories, seed=seed)
        source = (f"synthetic-long-tail(taxonomy={taxonomy_name(taxonomy)}, rows={rows}, classes={len(classes)}, "
                  f"seed={seed}, partitions={count})")  # fmt: skip
        raw = dd.from_map(long_tail_partition, specs, seed=seed, parts=count, total_rows=rows, classes=classes,
                          meta=generate_long_tail_catalogue(20, classes[:2], seed=0).iloc[:0])  # fmt: skip
        return Catalogue(raw, source, (), None, fingerprint(config, source))
    if categories is None:
        source = f"synthetic(rows={rows}, seed={seed}, partitions={count})"
        raw = dd.from_map(synthetic_partition, list(enumerate(sizes)), seed=seed, parts=count, total_rows=rows,
                          meta=generate_catalogue(20, seed=0).iloc[:0])  # fmt: skip
        return Catalogue(raw, source, (), None, fingerprint(config, source))
    source = f"synthetic-taxonomy(rows={rows}, categories={categories}, seed={seed}, partitions={count})"
    # A taxonomy needs two leaves: a CATEGORIES=1 run fails here, on the driver, with the local engine's message.
    meta = generate_taxonomy_catalogue(20, min(categories, 2), seed=0).iloc[:0]
    raw = dd.from_map(taxonomy_partition, specs, seed=seed, parts=count, total_rows=rows, categories=categories,
                      meta=meta)  # fmt: skip
    return Catalogue(raw, source, (), None, fingerprint(config, source))
