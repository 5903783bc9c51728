"""Load a catalogue for the local engine: read it (or generate the synthetic one), report, clean.

It reads with `training.data.sources`, the reader of the Dask engine and `make predict`: a CSV, TSV or Parquet file,
a glob or a folder of them, local or s3://.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from training.columns import LABEL
from training.data.clean import (
    column_name_fixes,
    configured_columns,
    model_rows,
    prepare_catalogue,
    require_two_classes,
)
from training.data.digest import combined_sha256, csv_sha256, file_sha256
from training.data.long_tail import catalogue_classes, generate_long_tail_catalogue, taxonomy_name, taxonomy_paths
from training.data.report import build_report, log_report
from training.data.sources import catalogue_files, read_file
from training.data.synthetic import generate_catalogue
from training.data.tail import treat_small_classes
from training.data.taxonomy import generate_taxonomy_catalogue
from training.exceptions import DataValidationError

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from pyarrow.fs import FileSystem

    from training.config import TrainConfig
    from training.data.report import DataReport
    from training.data.tail import TailPlan

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RawCatalogue:
    """The catalogue as read (or generated), before cleaning.

    Attributes:
        frame: Every column as text, missing values as NaN.
        source: Where it came from: the file's path, or `synthetic(rows=..., seed=...)`.
        sha256: The file's digest (the generated CSV's for synthetic data).
        files: Each file read and its rows, in the frame's order (empty for synthetic data).
    """

    frame: pd.DataFrame
    source: str
    sha256: str
    files: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class LoadedCatalogue:
    """A catalogue ready for the local engine: cleaned, small classes treated (`tail`), with its source, digest and
    data report, and the provenance of the reviewed listings merged into it (empty without)."""

    frame: pd.DataFrame
    source: str
    sha256: str
    report: DataReport
    tail: TailPlan
    corrections: dict[str, Any] = field(default_factory=dict)


def load_catalogue(config: TrainConfig, data: str | Path | None) -> LoadedCatalogue:
    """Read, report on and clean the catalogue, and treat its small classes (`split.small_classes`).

    Args:
        config: The resolved config.
        data: A CSV/TSV/Parquet file, glob or folder (local or s3://), or None for the synthetic catalogue.

    Raises:
        DataValidationError: Bad data, or (with data.strict) any problem the report suspects.
    """
    raw = load_raw(config, data)
    logger.info("loaded", extra={"source": raw.source, "rows": len(raw.frame)})
    try:
        report = build_report(raw.frame, config.data, source=raw.source, split=config.split)
        log_report(report, strict=config.data.strict)
        frame = prepare_catalogue(raw.frame, config.data, source=raw.source)
    except DataValidationError:
        raise_in_its_file(raw, config)
        raise
    frame, tail = treat_small_classes(frame, config)
    require_two_classes(frame[LABEL].nunique(), raw.source, after="cleaning and split.small_classes")
    return LoadedCatalogue(frame=frame, source=raw.source, sha256=raw.sha256, report=report, tail=tail)


def learnt_catalogue(config: TrainConfig, data: str | Path | None) -> tuple[pd.DataFrame, RawCatalogue]:
    """The catalogue as a run learns it, without its data report (`load_catalogue` logs one): cleaned and its small
    classes treated, so its labels are the classes a model trained on it answers with; and the raw catalogue it came
    from.

    Raises:
        DataValidationError: As `load_raw` and `prepare_catalogue` raise.
    """
    raw = load_raw(config, data)
    frame, _ = treat_small_classes(prepare_catalogue(raw.frame, config.data, source=raw.source), config)
    return frame, raw


def load_raw(config: TrainConfig, data: str | Path | None, *, required: Iterable[str] | None = None) -> RawCatalogue:
    """The raw catalogue: the files `data` names, or the synthetic one when `data` is None.

    Args:
        config: The resolved config.
        data: A CSV/TSV/Parquet file, glob or folder, local or s3://; None for the synthetic catalogue.
        required: Columns every file must have; by default every column the config names.

    Raises:
        DataValidationError: Nothing matches, or a file is unreadable or lacks a required column.
    """
    if data is None and config.synthetic_taxonomy:
        rows, seed, taxonomy = config.synthetic_rows, config.split.seed, config.synthetic_taxonomy
        classes = catalogue_classes(
            taxonomy_paths(taxonomy, seed=seed), categories=config.synthetic_categories, seed=seed
        )
        frame = generate_long_tail_catalogue(rows, classes, seed=seed)
        source = (
            f"synthetic-long-tail(taxonomy={taxonomy_name(taxonomy)}, rows={rows}, classes={len(classes)}, seed={seed})"
        )
        return _synthetic(frame, source, config)
    if data is None and config.synthetic_categories:
        rows, leaves, seed = config.synthetic_rows, config.synthetic_categories, config.split.seed
        frame = generate_taxonomy_catalogue(rows, leaves, seed=seed)
        return _synthetic(frame, f"synthetic-taxonomy(rows={rows}, categories={leaves}, seed={seed})", config)
    if data is None:
        frame = generate_catalogue(config.synthetic_rows, seed=config.split.seed)
        return _synthetic(frame, f"synthetic(rows={config.synthetic_rows}, seed={config.split.seed})", config)
    named = configured_columns(config.data)
    filesystem, files = catalogue_files(str(data))
    frames = read_files(filesystem, files, required=named if required is None else required, named=named)
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    digest = combined_sha256([file_sha256(path, filesystem) for path in files])
    parts = tuple((path, len(part)) for path, part in zip(files, frames, strict=True))
    return RawCatalogue(frame=frame, source=str(data), sha256=digest, files=parts)


def _synthetic(frame: pd.DataFrame, source: str, config: TrainConfig) -> RawCatalogue:
    """The synthetic catalogue, once it is known to have the config's columns: a config of another catalogue given
    no DATA would otherwise fail on "missing columns" as if a file were wrong.

    Raises:
        DataValidationError: The config names columns the synthetic catalogue lacks.
    """
    missing = [column for column in dict.fromkeys(configured_columns(config.data)) if column not in frame.columns]
    misspelt = column_name_fixes(frame.columns, missing)  # the data report names those, with the fix
    missing = [column for column in missing if column not in misspelt]
    if missing:
        raise DataValidationError(
            f"no DATA given, so the synthetic catalogue was generated, and it has no column {missing} that config "
            f"{config.name!r} names: pass DATA= the catalogue that config describes"
        )
    return RawCatalogue(frame=frame, source=source, sha256=csv_sha256(frame))


def raise_in_its_file(raw: RawCatalogue, config: TrainConfig) -> None:
    """Clean a catalogue read from files file by file, so that a bad value is reported with its own file and row
    (the whole catalogue's error names what DATA named, a folder or a glob, and a row of all its files together);
    returns if none fails.

    Raises:
        DataValidationError: From the first file with a value training refuses.
    """
    start = 0
    for path, rows in raw.files:
        model_rows(raw.frame.iloc[start : start + rows].reset_index(drop=True), config.data, path)
        start += rows


def read_catalogue(data: str | Path, *, required: Iterable[str] = (), named: Iterable[str] = ()) -> pd.DataFrame:
    """Every file `data` names as one frame; CSV cells as text, so ids such as "007" keep their leading zeros.

    Args:
        data: A CSV/TSV/Parquet file, glob or folder, local or s3://.
        required: Columns every file must have.
        named: Columns the config names: a later file must have each one the first file has (a file lacking
            one would otherwise fill it with missing values without a word).

    Raises:
        DataValidationError: Nothing matches, or a file is unreadable or lacks a required column.
    """
    filesystem, files = catalogue_files(str(data))
    frames = read_files(filesystem, files, required=required, named=named)
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def read_files(
    filesystem: FileSystem, files: list[str], *, required: Iterable[str] = (), named: Iterable[str] = ()
) -> list[pd.DataFrame]:
    """Each of `files` as a frame (`read_catalogue`'s arguments)."""
    frames = [read_file(files[0], filesystem, required=required)]
    later = [*required, *(column for column in named if column in frames[0].columns)]
    frames += [read_file(path, filesystem, required=later) for path in files[1:]]
    return frames
