"""Check a raw catalogue against its config and clean it into the model's columns.

Cleaning rules (the only changes made to the rows; everything else happens inside the exported graph, so
serving sees exactly what training saw):
- string inputs: a missing value becomes "" (the value the API uses for an omitted field);
- numeric inputs: must parse as numbers ≥ 0; a missing value stays NaN (LightGBM's "missing");
- rows with a missing target or an empty title are dropped, as are duplicate rows (on the model's columns);
- nothing else: titles are lower-cased and tokenized by the graph itself.

Both engines clean with `model_rows` (the Dask engine partition by partition), and the data report counts
what `unusable_rows` and `drop_unusable_rows` would drop, so the report and training cannot disagree.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from training.columns import EXTRA_TEXT, GROUP, LABEL
from training.exceptions import ConfigError, DataValidationError

if TYPE_CHECKING:
    from training.config import DataConfig

logger = logging.getLogger(__name__)


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


def column_name_fixes(found: pd.Index | list[str], wanted: list[str]) -> dict[str, str]:
    """Configured names missing from the file whose file column differs only by whitespace or case."""
    present = set(found)
    by_key = {_name_key(str(column)): str(column) for column in found}
    return {name: by_key[_name_key(name)] for name in wanted if name not in present and _name_key(name) in by_key}


def configured_columns(config: DataConfig) -> list[str]:
    """Every file column the config names."""
    named = [*config.columns.values(), config.target, *config.training_text]
    return [*named, config.group] if config.group else named


def model_rows(raw: pd.DataFrame, config: DataConfig, source: str) -> tuple[pd.DataFrame, dict[str, int]]:
    """The model's columns of `raw`, parsed and cleaned, and how many rows each rule dropped.

    Row by row, so it can run on each partition of a larger catalogue on its own.
    """
    return drop_unusable_rows(model_columns(raw, config, source), config.text)


def model_columns(raw: pd.DataFrame, config: DataConfig, source: str, *, lenient: bool = False) -> pd.DataFrame:
    """The model's columns of `raw` (inputs, label, group, extra text), parsed, before any row is dropped.

    Args:
        raw: The catalogue as read.
        config: Which columns play which role.
        source: Where the frame came from, for error messages.
        lenient: For the data report, which must describe any file: a missing column counts as all missing,
            and a number that does not parse or is negative stays as missing or as it is instead of failing.

    Raises:
        DataValidationError: Not lenient, and a numeric column holds text or negative values.
    """
    if lenient:
        absent = [column for column in dict.fromkeys(configured_columns(config)) if column not in raw]
        raw = raw.assign(**dict.fromkeys(absent, np.nan)) if absent else raw
    frame = pd.DataFrame({name: raw[csv] for name, csv in config.columns.items()})
    for name in config.columns:
        if name in config.numeric:
            frame[name] = _parse_numeric(raw[config.columns[name]], name, source, lenient=lenient)
        else:
            frame[name] = raw[config.columns[name]].fillna("").astype(str)
    labels = raw[config.target]
    frame[LABEL] = labels.replace(config.label_aliases) if config.label_aliases else labels
    if config.group:
        frame[GROUP] = raw[config.group].fillna("").astype(str)
    for index, column in enumerate(config.training_text):
        frame[f"{EXTRA_TEXT}{index}"] = raw[column].fillna("").astype(str)
    return frame


def unusable_rows(frame: pd.DataFrame, text: str) -> tuple[pd.Series, pd.Series]:
    """Masks of the rows cleaning drops before de-duplication: no label, and (with a label) an empty title.

    Args:
        frame: The model's columns (see `model_columns`).
        text: The title input's name.
    """
    no_label = frame[LABEL].isna() | (frame[LABEL].astype(str).str.strip() == "")
    no_title = frame[text].str.strip() == ""
    return no_label, no_title & ~no_label


def drop_unusable_rows(frame: pd.DataFrame, text: str) -> tuple[pd.DataFrame, dict[str, int]]:
    """Drop rows without a label or title, then duplicate rows; count what each rule dropped."""
    no_label, no_title = unusable_rows(frame, text)
    cleaned = frame[~no_label & ~no_title]
    deduplicated = cleaned.drop_duplicates()
    dropped = {
        "dropped_no_label": int(no_label.sum()),
        "dropped_empty_title": int(no_title.sum()),
        "dropped_duplicates": len(cleaned) - len(deduplicated),
    }
    return deduplicated.reset_index(drop=True), dropped


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


def _parse_numeric(column: pd.Series, name: str, source: str, *, lenient: bool) -> pd.Series:
    """Parse a numeric input as float32, naming the first offending value unless lenient."""
    values = pd.to_numeric(column, errors="coerce")
    bad = values.isna() & column.notna()
    if bad.any() and not lenient:
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataValidationError(
            f"{source}: column '{name}' must be numeric, found {column.iloc[row]!r} in data row {row + 1}"
        )
    if (values < 0).any() and not lenient:
        row = int(np.flatnonzero((values < 0).to_numpy())[0])
        raise DataValidationError(
            f"{source}: column '{name}' must be ≥ 0, found {values.iloc[row]} in data row {row + 1}"
        )
    return values.astype(np.float32)


def _name_key(name: str) -> str:
    """A column name with case and all whitespace folded away."""
    return "".join(name.split()).casefold()
