"""Load a catalogue for the local engine: read the file (or generate the synthetic one), report, clean."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from training.data.clean import prepare_catalogue
from training.data.digest import csv_sha256, file_sha256
from training.data.report import build_report, log_report
from training.data.synthetic import generate_catalogue
from training.data.taxonomy import generate_taxonomy_catalogue
from training.exceptions import DataValidationError

if TYPE_CHECKING:
    from pathlib import Path

    from training.config import TrainConfig
    from training.data.report import DataReport

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RawCatalogue:
    """The catalogue as read (or generated), before cleaning.

    Attributes:
        frame: Every column as text, missing values as NaN.
        source: Where it came from: the file's path, or `synthetic(rows=..., seed=...)`.
        sha256: The file's digest (the generated CSV's for synthetic data).
    """

    frame: pd.DataFrame
    source: str
    sha256: str


@dataclass(frozen=True)
class LoadedCatalogue:
    """A catalogue ready for the local engine: cleaned, with its source, digest and data report."""

    frame: pd.DataFrame
    source: str
    sha256: str
    report: DataReport


def load_catalogue(config: TrainConfig, data_path: Path | None) -> LoadedCatalogue:
    """Read, report on and clean the catalogue.

    Args:
        config: The resolved config.
        data_path: A catalogue CSV, or None for the synthetic catalogue.

    Raises:
        DataValidationError: Bad data, or (with data.strict) any problem the report suspects.
    """
    raw = load_raw(config, data_path)
    logger.info("loaded", extra={"source": raw.source, "rows": len(raw.frame)})
    report = build_report(raw.frame, config.data, source=raw.source)
    log_report(report, strict=config.data.strict)
    frame = prepare_catalogue(raw.frame, config.data, source=raw.source)
    return LoadedCatalogue(frame=frame, source=raw.source, sha256=raw.sha256, report=report)


def load_raw(config: TrainConfig, data_path: Path | None) -> RawCatalogue:
    """The raw catalogue: the file, or the synthetic one when `data_path` is None.

    Raises:
        DataValidationError: The file is missing, empty or not CSV.
    """
    if data_path is None and config.synthetic_categories:
        rows, leaves, seed = config.synthetic_rows, config.synthetic_categories, config.split.seed
        frame = generate_taxonomy_catalogue(rows, leaves, seed=seed)
        source = f"synthetic-taxonomy(rows={rows}, categories={leaves}, seed={seed})"
        return RawCatalogue(frame=frame, source=source, sha256=csv_sha256(frame))
    if data_path is None:
        frame = generate_catalogue(config.synthetic_rows, seed=config.split.seed)
        source = f"synthetic(rows={config.synthetic_rows}, seed={config.split.seed})"
        return RawCatalogue(frame=frame, source=source, sha256=csv_sha256(frame))
    return RawCatalogue(frame=read_catalogue(data_path), source=str(data_path), sha256=file_sha256(data_path))


def read_catalogue(path: Path) -> pd.DataFrame:
    """Read a CSV with every column as text, so ids such as "007" keep their leading zeros.

    Raises:
        DataValidationError: The file is missing, empty or not CSV.
    """
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except FileNotFoundError as exc:
        raise DataValidationError(f"data file not found: {path}") from exc
    except pd.errors.EmptyDataError as exc:
        raise DataValidationError(f"data file is empty: {path}") from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataValidationError(f"data file {path} is not a readable UTF-8 CSV: {exc}") from exc
