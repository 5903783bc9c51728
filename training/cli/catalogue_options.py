"""The catalogue a command reads: DATA, or the synthetic one that ROWS, CATEGORIES and TAXONOMY describe.

`make train`, `make check-data`, `make compare` and `make review-queue` take the same three options, so a model
trained on `CATEGORIES=1000 ROWS=200000` is compared, checked and queued against that catalogue rather than the
default 10-category one.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from training.config import DEFAULT_SYNTHETIC_ROWS, SYNTHETIC_LIMITS, TrainConfig, load_config
from training.data.taxonomy import PATH_SEPARATOR
from training.exceptions import DataValidationError

# The most synthetic rows ROWS= asks for, and the fewest and most categories CATEGORIES= does (the config's bounds).
MAX_SYNTHETIC_ROWS = SYNTHETIC_LIMITS["synthetic_rows"][1]
FEWEST_CATEGORIES, MOST_CATEGORIES = SYNTHETIC_LIMITS["synthetic_categories"]

Rows = Annotated[str | None, typer.Option(help="Rows of synthetic data, a whole number > 0 (ignored with --data).")]
Categories = Annotated[
    str | None,
    typer.Option(help="Leaves of a synthetic 3-level taxonomy with path labels; with --taxonomy, classes kept."),
]
Taxonomy = Annotated[
    str | None,
    typer.Option(help="A long-tailed catalogue on a real taxonomy: google, google-shape or a taxonomy file."),
]


def resolve_config(
    config: Path, *, data: str | None, rows: str | None, categories: str | None, taxonomy: str | None
) -> TrainConfig:
    """The config with the synthetic catalogue's options, its labels read as paths when that catalogue has them.

    Raises:
        TrainingError: The config is invalid, or ROWS or CATEGORIES is not a whole number above zero.
    """
    resolved = load_config(
        config,
        synthetic_rows=parse_rows(rows),
        synthetic_categories=parse_categories(categories),
        synthetic_taxonomy=taxonomy or None,
    )
    if data:
        # The synthetic catalogue's options say nothing of a catalogue read from files, and must not name its
        # registered model (`TrainConfig.registered_name`): ROWS=3000 with DATA= is the same catalogue's model.
        return replace(resolved, synthetic_rows=DEFAULT_SYNTHETIC_ROWS, synthetic_categories=None,
                       synthetic_taxonomy=None)  # fmt: skip
    synthetic_paths = resolved.synthetic_categories or resolved.synthetic_taxonomy
    if not synthetic_paths or resolved.data.path_separator is not None:
        return resolved
    return replace(resolved, data=replace(resolved.data, path_separator=PATH_SEPARATOR))


def listed_files(listed: str | None, role: str) -> tuple[str, ...]:
    """A make variable's files (CORRECTIONS=, REVIEWED=): comma-separated, as ID= takes several columns (a make
    variable is one word list).

    Raises:
        DataValidationError: A file is named twice: its rows would count twice, each a later round of itself; or the
            variable is given and names none (`REVIEWED=" , "`).
    """
    files = tuple(name.strip() for name in (listed or "").split(",") if name.strip())
    if listed is not None and listed.strip() and not files:
        raise DataValidationError(f"{role} names no file ({listed!r}): give one, or several comma-separated")
    paths = [Path(name).resolve() for name in files]
    for index, path in enumerate(paths):
        if path in paths[:index]:
            first = files[paths.index(path)]
            also = f" (the second time as {files[index]})" if files[index] != first else ""
            raise DataValidationError(f"{role} names {first} twice{also}: name each review round's file once")
    return files


def parse_rows(rows: str | None) -> int | None:
    """ROWS as a number of synthetic rows, checked here so a bad value is one line, not a traceback.

    Args:
        rows: The value as typed (`ROWS=` reaches the CLI as text), or None.

    Returns:
        The number of rows, or None when not given.

    Raises:
        DataValidationError: Not a whole number greater than zero.
    """
    number = _whole_number(rows, "ROWS must be a whole number of synthetic rows greater than 0 (e.g. ROWS=10000)")
    if number is not None and number > MAX_SYNTHETIC_ROWS:
        raise DataValidationError(f"ROWS must be at most {MAX_SYNTHETIC_ROWS:,} synthetic rows, got {rows!r}")
    return number


def parse_categories(categories: str | None) -> int | None:
    """CATEGORIES as a number of taxonomy leaves, checked like ROWS (the taxonomy itself needs at least two).

    Raises:
        DataValidationError: Not a whole number from FEWEST_CATEGORIES to MOST_CATEGORIES.
    """
    rule = (
        f"CATEGORIES must be a whole number of leaf categories from {FEWEST_CATEGORIES} to {MOST_CATEGORIES:,} "
        "(e.g. CATEGORIES=100)"
    )
    number = _whole_number(categories, rule)
    if number is not None and not FEWEST_CATEGORIES <= number <= MOST_CATEGORIES:
        raise DataValidationError(f"{rule}, got {categories!r}")
    return number


def _whole_number(text: str | None, rule: str) -> int | None:
    """A whole number above zero as typed (digits, `_` or `,` separators), None when not given."""
    if text is None or text.strip() == "":
        return None
    digits = text.strip().replace("_", "").replace(",", "")
    if not (digits.isascii() and digits.isdigit()) or int(digits) < 1:
        renamed = " (make compare takes ON=test|all for which rows to compare)" if digits in ("test", "all") else ""
        raise DataValidationError(f"{rule}, got {text!r}{renamed}")
    return int(digits)
