"""Load, check, clean and split a product catalogue.

Cleaning rules (the only changes made to the rows; everything else happens inside the exported graph, so
serving sees exactly what training saw):
- string inputs: a missing value becomes "" (the value the API uses for an omitted field);
- numeric inputs: must parse as numbers ≥ 0; a missing value stays NaN (LightGBM's "missing");
- rows with a missing target or an empty title are dropped, as are exact duplicate rows;
- nothing else: titles are lower-cased and tokenized by the graph itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from training.columns import EXTRA_TEXT, GROUP, LABEL
from training.data.report import column_name_fixes
from training.exceptions import ConfigError, DataValidationError

if TYPE_CHECKING:
    from pathlib import Path

    from training.config import DataConfig, SplitConfig

# Each class needs rows in train, validation and test; fewer than this cannot be split honestly.
MIN_ROWS_PER_CLASS = 10
MIN_PRODUCTS_PER_CLASS = 5
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Splits:
    """Train, validation and test frames, each with the input columns plus `label`."""

    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame


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


def prepare_catalogue(raw: pd.DataFrame, config: DataConfig, *, source: str = "data") -> pd.DataFrame:
    """Check the raw frame against the config and return the model's columns, cleaned.

    Args:
        raw: The catalogue as read (or generated).
        config: Which columns play which role.
        source: Where the frame came from, for error messages.

    Returns:
        A frame with one column per model input, `label`, and `group` when the config names one.

    Raises:
        DataValidationError: A column is missing, a numeric column holds text or negative values, or
            fewer than two classes remain.
    """
    check_columns(raw.columns, config, source)
    if raw.empty:
        raise DataValidationError(f"{source}: no rows")
    check_label_aliases(set(raw[config.target].dropna()), config.label_aliases)
    frame, dropped = model_rows(raw, config, source)
    logger.info("cleaned", extra={"rows_in": len(raw), **dropped, "rows_out": len(frame)})
    require_two_classes(frame[LABEL].nunique(), source)
    return frame


def check_columns(found: pd.Index, config: DataConfig, source: str) -> None:
    """Every configured column must be in the data; suggest near-miss header names.

    Raises:
        DataValidationError: Naming each missing column and its role.
    """
    roles = {**{csv: f"input '{name}'" for name, csv in config.columns.items()}, config.target: "target"}
    if config.group:
        roles[config.group] = "group"
    roles |= {column: "training text" for column in config.training_text}
    missing = [f"'{column}' ({role})" for column, role in roles.items() if column not in found]
    if missing:
        fixes = column_name_fixes(found, list(roles))
        hint = "".join(f" Did you mean {found!r} for {wanted!r}?" for wanted, found in fixes.items())
        raise DataValidationError(
            f"{source}: missing column {', '.join(missing)}; found {list(found)}.{hint} "
            "Fix the CSV header or the config."
        )


def model_rows(raw: pd.DataFrame, config: DataConfig, source: str) -> tuple[pd.DataFrame, dict[str, int]]:
    """The model's columns of `raw`, parsed and cleaned, and how many rows each rule dropped.

    Row by row, so it can run on each partition of a larger catalogue on its own.
    """
    frame = pd.DataFrame({name: raw[csv] for name, csv in config.columns.items()})
    for name in config.columns:
        if name in config.numeric:
            frame[name] = _parse_numeric(raw[config.columns[name]], name, source)
        else:
            frame[name] = raw[config.columns[name]].fillna("").astype(str)
    labels = raw[config.target]
    frame[LABEL] = labels.replace(config.label_aliases) if config.label_aliases else labels
    if config.group:
        frame[GROUP] = raw[config.group].fillna("").astype(str)
    for index, column in enumerate(config.training_text):
        frame[f"{EXTRA_TEXT}{index}"] = raw[column].fillna("").astype(str)
    return _clean(frame, config.text)


def check_label_aliases(present: set[str], aliases: dict[str, str]) -> None:
    """Every alias must map to a label the data contains.

    Raises:
        ConfigError: An alias maps to a label the data does not contain.
    """
    unknown = sorted(target for target in set(aliases.values()) if target not in present)
    if unknown:
        raise ConfigError(
            f"data.label_aliases maps to {unknown[0]!r}, which is not a label in the data; "
            f"labels are {sorted(map(str, present))[:20]}"
        )


def require_two_classes(classes: int, source: str) -> None:
    """A classifier needs at least two classes.

    Raises:
        DataValidationError: Fewer remain after cleaning.
    """
    if classes < 2:
        raise DataValidationError(f"{source}: the target has {classes} class(es) after cleaning; at least 2 are needed")


def split_catalogue(frame: pd.DataFrame, config: SplitConfig) -> Splits:
    """Split into train/validation/test, by product group when there is one, stratified by label.

    Raises:
        DataValidationError: A class has too few rows (or products) to appear in every split.
    """
    _check_class_sizes(frame)
    holdout = config.test_fraction + config.validation_fraction
    rest, test = _split(frame, config.test_fraction, config.seed)
    train, validation = _split(rest, config.validation_fraction / (1 - config.test_fraction), config.seed + 1)
    for name, part in (("train", train), ("validation", validation), ("test", test)):
        absent = sorted(set(frame[LABEL]) - set(part[LABEL]))
        if absent:
            raise DataValidationError(
                f"class {absent[0]!r} has no rows in the {name} split: it has too few "
                f"{'products' if GROUP in frame else 'rows'} for a {holdout:.0%} holdout. "
                "Add rows for it or drop it from the data."
            )
    logger.info("split", extra={"train": len(train), "validation": len(validation), "test": len(test)})
    return Splits(train=train, validation=validation, test=test)


def _parse_numeric(column: pd.Series, name: str, source: str) -> pd.Series:
    """Parse a numeric input as float32, naming the first offending value."""
    values = pd.to_numeric(column, errors="coerce")
    bad = values.isna() & column.notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataValidationError(
            f"{source}: column '{name}' must be numeric, found {column.iloc[row]!r} in data row {row + 1}"
        )
    if (values < 0).any():
        row = int(np.flatnonzero((values < 0).to_numpy())[0])
        raise DataValidationError(
            f"{source}: column '{name}' must be ≥ 0, found {values.iloc[row]} in data row {row + 1}"
        )
    return values.astype(np.float32)


def _clean(frame: pd.DataFrame, text: str) -> tuple[pd.DataFrame, dict[str, int]]:
    """Drop rows without a label or title and exact duplicates; count what each rule dropped."""
    no_label = frame[LABEL].isna() | (frame[LABEL].astype(str).str.strip() == "")
    no_title = frame[text].str.strip() == ""
    cleaned = frame[~no_label & ~no_title]
    deduplicated = cleaned.drop_duplicates()
    dropped = {
        "dropped_no_label": int(no_label.sum()),
        "dropped_empty_title": int((no_title & ~no_label).sum()),
        "dropped_duplicates": len(cleaned) - len(deduplicated),
    }
    return deduplicated.reset_index(drop=True), dropped


def _check_class_sizes(frame: pd.DataFrame) -> None:
    """Fail early, naming the class, when one is too small to split."""
    counts = frame[LABEL].value_counts()
    small = counts[counts < MIN_ROWS_PER_CLASS]
    if not small.empty:
        raise DataValidationError(
            f"class {small.index[0]!r} has {int(small.iloc[0])} rows; each class needs at least "
            f"{MIN_ROWS_PER_CLASS} to appear in train, validation and test. Add rows for it or drop it."
        )


def _split(frame: pd.DataFrame, fraction: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out about `fraction` of the frame: whole products when grouped, stratified by label either way."""
    if GROUP not in frame:
        keep, hold = train_test_split(frame, test_size=fraction, stratify=frame[LABEL], random_state=seed)
        return keep, hold
    # Stratify the products, not the rows: each product counts once, under its (first) label.
    products = frame.groupby(GROUP, sort=False)[LABEL].first()
    _check_products_per_class(products)
    _, held_products = train_test_split(
        products.index.to_numpy(), test_size=fraction, stratify=products.to_numpy(), random_state=seed
    )
    held = frame[GROUP].isin(held_products)
    return frame[~held], frame[held]


def _check_products_per_class(products: pd.Series) -> None:
    """A grouped split needs each class to have products for train, validation and test."""
    counts = products.value_counts()
    small = counts[counts < MIN_PRODUCTS_PER_CLASS]
    if not small.empty:
        raise DataValidationError(
            f"class {small.index[0]!r} has {int(small.iloc[0])} product(s); a grouped split needs at least "
            f"{MIN_PRODUCTS_PER_CLASS} per class. Add products for it or drop it."
        )
