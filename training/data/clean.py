"""Check a raw catalogue against its config and clean it into the model's columns.

Cleaning rules (the only changes made to the rows; everything else happens inside the exported graph, so
serving sees exactly what training saw):
- string inputs: read by `text_values`, the one normaliser training (both engines) and `make predict` share: a
  missing value becomes "" (the value the API uses for an omitted field), an integral number its integer text
  (42 and 42.0 → "42", as the API reads a JSON id), anything else (fractions, booleans, dates, lists) is refused;
- numeric inputs: must parse as numbers ≥ 0; a missing value stays NaN (LightGBM's "missing");
- rows with a missing target or a title the model reads as empty (`unusable_rows`) are dropped, as are rows with
  a string longer than data.max_text_length (the API's limit: it refuses them) and duplicate rows (on the model's
  columns);
- nothing else: titles are lower-cased, folded (look-alike spellings and whitespace) and tokenized by the graph itself.

Both engines clean with `model_rows` (the Dask engine partition by partition), and the data report counts
what `unusable_rows` and `drop_unusable_rows` would drop, so the report and training cannot disagree.
"""

from __future__ import annotations

import logging
import re
import reprlib
import unicodedata
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_datetime64_any_dtype, is_string_dtype, is_timedelta64_dtype

from training.columns import EXTRA_TEXT, GROUP, LABEL
from training.data.html_text import html_as_text
from training.exceptions import ConfigError, DataValidationError
from training.text import lower_like_onnx, normalise_like_onnx, reads_as_empty, without_dropped

if TYPE_CHECKING:
    from collections.abc import Iterable

    from training.config import DataConfig

# Integral ids beyond this are refused, as the API refuses them (handler/schemas.py MAX_INTEGER_ID).
MAX_INTEGER_ID = 10**15
# How a value is quoted in a message (an offending cell, a report's example): whole up to 60 characters.
QUOTED = reprlib.Repr(maxstring=60, maxother=60)
# The largest number a numeric input takes: the graph reads float32, and the API refuses anything larger.
FLOAT32_MAX = float(np.finfo(np.float32).max)
# A number written with a decimal comma, as much of Europe writes prices ("2,56", "1.299,00", "€ 19,90").
DECIMAL_COMMA = re.compile(r"^\D*(?:\d{1,3}(?:[.\s]\d{3})+|\d+),\d{1,2}\D*$")
# A price as Google Merchant Center writes it: the number, a space and its ISO 4217 currency code ("15.00 USD").
CURRENCY_AMOUNT = re.compile(r"^\s*(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+))\s+(?P<code>[A-Z]{3})\s*$")
# A row without a product id is its title's product, named this and a hash of the title (`own_products`).
UNGROUPED = "(no product id) "
logger = logging.getLogger(__name__)
# What an export writes for no value (compared lower-cased, without outer spaces): in a number's cell, read as missing
# as an empty cell is (a spreadsheet's error value, "#VALUE!", is a formula that failed, and is refused there).
MISSING_NUMBERS = frozenset({
    "-", "--", "\u2013", "\u2014", "?", "n/a", "na", "#n/a", "nan", "null", "none", "nil", "undefined", "unknown",
    "missing", "not available", "not applicable",
})  # fmt: skip
# Values that mean "none" for a product id (it names no product) and a label (it is no category:
# `training.data.label_checks.placeholder_labels`).
PLACEHOLDERS = MISSING_NUMBERS | frozenset({
    "uncategorized", "uncategorised", "no category",
    # A spreadsheet's error values, in English and as German, French, Spanish, Italian and Portuguese Excel write
    # them: a formula that failed is no category.
    "#ref!", "#value!", "#div/0!", "#name?", "#null!", "#num!", "#spill!", "#calc!", "#nv", "#wert!", "#bezug!",
    "#zahl!", "#valeur!", "#nom?", "#nombre!", "#valor!", "#n/d", "#nome?", "#nombre?", "#div/0",
    # A shop's default category ("Uncategorized", WooCommerce's) as shops in other languages name it.
    "unkategorisiert", "ohne kategorie", "non classé", "sans catégorie", "sin categoría", "sin categorizar",
    "senza categoria", "sem categoria", "ongecategoriseerd", "okategoriserad", "ukategoriseret", "bez kategorii",
    "без категории", "kategorisiz", "未分類", "未分类", "미분류",
    # An empty list or record, as an export that writes categories as a JSON or Python list leaves one empty.
    "[]", "{}", "[[]]", '[""]', "['']",
})  # fmt: skip


def prepare_catalogue(raw: pd.DataFrame, config: DataConfig, *, source: str = "data") -> pd.DataFrame:
    """Check the raw frame against the config and return the model's columns, cleaned.

    Args:
        raw: The catalogue as read (or generated).
        config: Which columns play which role.
        source: Where the frame came from, for error messages.

    Returns:
        A frame with one column per model input, `label`, and `group`: the product column, or the title's product
        when the config names none (`title_products`).

    Raises:
        DataValidationError: A column is missing, a numeric column holds text or negative values, or
            fewer than two classes remain.
    """
    check_columns(raw.columns, config, source)
    if raw.empty:
        raise DataValidationError(f"{source}: no rows")
    check_label_aliases(label_texts(raw[config.target], config.target, source), config.label_aliases)
    frame, dropped = model_rows(raw, config, source)
    logger.info("cleaned", extra={"rows_in": len(raw), **dropped, "rows_out": len(frame)})
    rules = ", ".join(f"{count:,} {rule.removeprefix('dropped_').replace('_', ' ')}" for rule, count in dropped.items()
                      if count)  # fmt: skip
    require_two_classes(frame[LABEL].nunique(), source, after=f"cleaning ({len(frame):,} of {len(raw):,} rows kept"
                        + (f"; dropped: {rules})" if rules else ")"))  # fmt: skip
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
        hint = "".join(
            f" Did you mean {found!r} for {wanted!r}?{_decomposed(found, wanted)}" for wanted, found in fixes.items()
        )
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
    frame, dropped = drop_unusable_rows(
        model_columns(raw, config, source), config.text, max_length=config.max_text_length
    )
    broken = empty_level_labels(frame[LABEL].unique(), config.path_separator)
    if broken:
        raise DataValidationError(
            f"{source}: category {broken[0]!r} has an empty level between path separators "
            f"{config.path_separator!r} ({len(broken)} label(s) like it): fix the labels, or set data.path_separator "
            "to the separator the labels really use"
        )
    return frame, dropped


def empty_level_labels(labels: Iterable[Any], separator: str | None) -> list[str]:
    """The path labels with an empty level ("A >  > B", "A > > B", a leading or trailing separator, also with its
    outer spaces trimmed away as a spreadsheet trims "A > B >"): the category tree has no node for them."""
    if not separator:
        return []
    core = separator.strip()

    def empty(level: str) -> bool:
        level = level.strip()
        return not level or (bool(core) and (level.startswith(core) or level.endswith(core)))

    return [str(label) for label in labels if any(empty(level) for level in str(label).split(separator))]


def text_values(values: pd.Series, *, column: str, source: str, missing: Any = "") -> pd.Series:
    """A column read as the API reads a string field: text as it is, an integral number as its integer text.

    Parquet exports hold ids as integers, or as float64 when a nullable integer column has gaps: `42.0` must
    become "42", as the API turns a JSON 42 or 42.0 into "42", or the id hashes to another bucket.

    Args:
        values: The column as read (CSV: text; Parquet: any flat type).
        column: Its name, for the error.
        source: Where it came from, for the error.
        missing: What a missing value becomes ("" for inputs, NaN for the target).

    Raises:
        DataValidationError: A value is neither text nor an integral number within ±MAX_INTEGER_ID.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(object)
    present = values.notna()
    if pd.api.types.is_bool_dtype(values.dtype) or pd.api.types.is_datetime64_any_dtype(values.dtype):
        _refuse_text(values, column, source, present)
    if pd.api.types.is_numeric_dtype(values.dtype):
        numbers = values[present].astype("float64")
        bad = (numbers % 1 != 0) | (numbers.abs() > MAX_INTEGER_ID)
        if bad.any():
            _refuse_text(values, column, source, present & bad.reindex(values.index, fill_value=False))
        text = values.astype(object)
        text[present] = values[present].astype("int64").astype(str)
    elif pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        text = values.astype(object)
    else:
        text = values.map(lambda value: _scalar_text(value, column, source), na_action="ignore").astype(object)
        if (present & text.isna()).any():
            _refuse_text(values, column, source, present & text.isna())
    return text.where(present, missing)


def model_columns(raw: pd.DataFrame, config: DataConfig, source: str, *, lenient: bool = False) -> pd.DataFrame:
    """The model's columns of `raw` (inputs, label, group, extra text), parsed, before any row is dropped.

    Args:
        raw: The catalogue as read.
        config: Which columns play which role.
        source: Where the frame came from, for error messages.
        lenient: For the data report, which must describe any file: a missing column counts as all missing,
            and a number training would refuse (`parse_numbers`) counts as missing instead of failing.

    Raises:
        DataValidationError: Not lenient, and a numeric column holds text or negative values.
    """
    if lenient:
        absent = [column for column in dict.fromkeys(configured_columns(config)) if column not in raw]
        raw = raw.assign(**dict.fromkeys(absent, np.nan)) if absent else raw
    else:
        check_repeated_headers(raw, config, source)
    frame = pd.DataFrame({name: raw[csv] for name, csv in config.columns.items()})
    for name, csv in config.columns.items():
        if name in config.numeric:
            frame[name] = _parse_numeric(
                raw[csv], name, csv, source, lenient=lenient, currency=config.currency.get(name),
                titles=raw[config.columns[config.text]],
            )  # fmt: skip
        else:
            frame[name] = text_values(raw[csv], column=csv, source=source)
    labels = text_values(raw[config.target], column=config.target, source=source, missing=np.nan)
    frame[LABEL] = labels.replace(config.label_aliases) if config.label_aliases else labels
    if config.group:
        products = product_ids(raw[config.group], column=config.group, source=source)
        frame[GROUP] = own_products(products, frame[config.text])
    else:
        frame[GROUP] = title_products(frame[config.text])
    # Extra training text never reaches the API, so its length never drops a row: the title model reads its start,
    # as a page shows it (a Shopify `Body (HTML)`'s tags and escapes are no words of a title).
    for index, column in enumerate(config.training_text):
        extra = text_values(raw[column], column=column, source=source).map(html_as_text)
        frame[f"{EXTRA_TEXT}{index}"] = extra.str.slice(0, config.max_text_length)
    return frame


def repeated_headers(raw: pd.DataFrame, columns: Iterable[str]) -> np.ndarray:
    """The positions of the rows that repeat the header: every one of `columns` (those a config or a model reads)
    holds its own name, as where exports were joined one after another (`cat`), each with its header. A title "title"
    filed under "category" is no listing anyone sells."""
    named = [column for column in dict.fromkeys(columns) if column in raw]
    if len(named) < 2 or not all(pd.api.types.is_string_dtype(raw[column].dtype) for column in named):
        return np.array([], dtype=np.intp)
    # Each column is read at the rows the columns before it left: a catalogue's rows are read once, not per column.
    rows = np.arange(len(raw))
    for column in named:
        # Excel's "CSV UTF-8" starts every export with a byte-order mark, the second header's too.
        cells = raw[column].iloc[rows].astype(str).str.strip().str.lstrip("\ufeff")
        rows = rows[(cells == column.strip()).to_numpy()]
    return rows


def check_repeated_headers(raw: pd.DataFrame, config: DataConfig, source: str) -> None:
    """Refuse a catalogue with header lines among its rows: training would learn one as a listing, or stop at its
    price ('price' is no number) with advice about currency symbols.

    Raises:
        DataValidationError: Naming the first such row and how many there are.
    """
    found = repeated_headers(raw, configured_columns(config))
    if len(found):
        first = _data_row(raw[config.target], int(found[0]))
        raise DataValidationError(
            f"{source}: {len(found)} data row(s) repeat the header, the first is data row {first}: the file looks like "
            "exports joined one after another, each with its header; delete the repeated header lines"
        )


def product_ids(values: pd.Series, *, column: str, source: str) -> pd.Series:
    """The product column as text. It is never an API input, so an integer column's ids are their decimal text
    whatever their size (16-digit marketplace ids, unsigned hash keys); any other column is read as the inputs are.
    """
    if pd.api.types.is_integer_dtype(values.dtype):
        return values.astype(str).where(values.notna(), "").astype(object)
    return text_values(values, column=column, source=source)


def written_as_missing(ids: pd.Series) -> pd.Series:
    """Which ids (text) name nothing: empty, spaces, or a missing value written out (PLACEHOLDERS: "N/A", "null")."""
    written = ids.str.strip().str.lower()
    return (written == "") | written.isin(PLACEHOLDERS)


def own_products(groups: pd.Series, titles: pd.Series) -> pd.Series:
    """The product column with each row that has none made its title's product: an export with gaps in its product
    ids would otherwise deal all of them, as one product "", to one split. An id of spaces or a missing value written
    out ("N/A", "null") names no product either. The name depends on the title alone, so both engines and every later
    catalogue deal it alike."""
    missing = written_as_missing(groups).to_numpy()
    if not missing.any():
        return groups
    named = groups.to_numpy(dtype=object, copy=True)
    named[missing] = (UNGROUPED + title_products(titles[missing])).to_numpy()  # by position: an index may repeat
    return pd.Series(named, index=groups.index, name=groups.name)


def title_products(titles: pd.Series) -> pd.Series:
    """Each row's product when no column names one: its title as the model reads it (`normalised_titles`), as a
    16-hex-digit hash.

    Copies of one listing from several sellers, or at several prices, are one product, so they never fall on both
    sides of the split (a copy in train would flatter the test figures) nor into two stacking folds."""
    names = pd.util.hash_pandas_object(normalised_titles(titles), index=False).map("{:016x}".format).to_numpy()
    return pd.Series(names, index=titles.index, name=GROUP, dtype=object)


def normalised_titles(titles: pd.Series) -> pd.Series:
    """Titles compared as the model reads them: normalised as the graph normalises them, whitespace folded (each
    distinct title once: a catalogue repeats its titles)."""
    codes, distinct = pd.factorize(titles.fillna("").astype(str))
    folded = np.array([" ".join(normalise_like_onnx(text).split()) for text in distinct], dtype=object)
    return pd.Series(folded[codes] if len(codes) else [], index=titles.index, dtype=object)


def renamed_by_the_fold(titles: pd.Series) -> np.ndarray:
    """Which titles the fold of look-alike spellings changes: a model recorded before it (`titles_named_unfolded`)
    named their products by the title lower-cased alone, so it may have trained on them under another name."""
    codes, distinct = pd.factorize(titles.fillna("").astype(str))
    changed = np.array([normalise_like_onnx(text) != lower_like_onnx(text) for text in distinct], dtype=bool)
    return changed[codes] if len(codes) else np.zeros(0, dtype=bool)


def unusable_rows(frame: pd.DataFrame, text: str, *, max_length: int) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Masks of the rows cleaning drops before de-duplication: no label (or one of whitespace and invisible characters
    alone, a zero-width space say, which would train as a class no one can read); with a label, a title the model
    reads as empty (whitespace and characters the fold drops, such as zero-width spaces, alone); with both, a string
    longer than `max_length` (the API refuses such a row, so training does not learn from it).

    Args:
        frame: The model's columns (see `model_columns`).
        text: The title input's name.
        max_length: The longest string a row may carry (data.max_text_length).
    """
    invisible = {label for label in frame[LABEL].dropna().unique() if not without_dropped(str(label)).strip()}
    no_label = frame[LABEL].isna() | frame[LABEL].isin(invisible)
    no_title = frame[text].map(reads_as_empty).astype(bool) & ~no_label
    return no_label, no_title, too_long(frame, max_length) & ~no_label & ~no_title


def too_long(frame: pd.DataFrame, max_length: int) -> pd.Series:
    """Rows with a text column (the inputs; extra training text is cut to the limit, the label and group are never
    sent to the API) over `max_length`."""
    columns = [name for name in frame.columns if name not in (LABEL, GROUP) and frame[name].dtype == object]
    mask = pd.Series(False, index=frame.index)
    for name in columns:
        mask |= frame[name].str.len().gt(max_length)
    return mask


def drop_unusable_rows(frame: pd.DataFrame, text: str, *, max_length: int) -> tuple[pd.DataFrame, dict[str, int]]:
    """Drop rows without a label or title or with a too-long string, then duplicate rows; count each rule."""
    no_label, no_title, long_rows = unusable_rows(frame, text, max_length=max_length)
    cleaned = frame[~no_label & ~no_title & ~long_rows]
    deduplicated = cleaned.drop_duplicates()
    dropped = {
        "dropped_no_label": int(no_label.sum()),
        "dropped_empty_title": int(no_title.sum()),
        "dropped_too_long": int(long_rows.sum()),
        "dropped_duplicates": len(cleaned) - len(deduplicated),
    }
    return deduplicated.reset_index(drop=True), dropped


def label_texts(values: pd.Series, column: str, source: str) -> set[str]:
    """The distinct labels of a target column as training reads them: a Parquet category id 404 is "404"."""
    distinct = values.dropna().drop_duplicates()
    return set(text_values(distinct, column=column, source=source, missing=np.nan))


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


def require_two_classes(classes: int, source: str, *, after: str = "cleaning") -> None:
    """A classifier needs at least two classes.

    Args:
        classes: How many remain.
        source: Where the catalogue came from, for the message.
        after: What removed the others, for the message: cleaning, or `split.small_classes: drop` too.

    Raises:
        DataValidationError: Fewer remain.
    """
    if classes < 2:
        raise DataValidationError(f"{source}: the target has {classes} class(es) after {after}; at least 2 are needed")


def _parse_numeric(
    column: pd.Series, name: str, csv: str, source: str, *, lenient: bool, currency: str | None, titles: pd.Series
) -> pd.Series:
    """Parse numeric input `name` as float32, naming (by the file's column `csv`) the first value the API would refuse
    unless lenient, and when that row's title (of `titles`) spans lines, the unclosed quote that most likely made
    it: the fields of the last line it took land in the columns after the title."""
    values, invalid = parse_numbers(column, currency=currency)
    if invalid.any() and not lenient:
        row = int(np.flatnonzero(invalid.to_numpy())[0])
        cell, number = column.iloc[row], _data_row(column, row)
        found, value = QUOTED.repr(cell.item() if isinstance(cell, np.generic) else cell), values.iloc[row]
        hint = f"; {number_advice([cell], name, currency=currency)}" if np.isnan(value) else ""
        if np.isnan(value) and CURRENCY_AMOUNT.match(str(cell)):
            wanted = f"must hold prices in {currency}" if currency else "holds a price with its currency code"
            reason = f"{wanted}, found {found}"
        elif np.isnan(value):
            reason = f"must be numeric, found {found}"
        elif value < 0:
            reason = f"must be ≥ 0, found {value}"
        else:
            reason = f"must be a finite number up to {FLOAT32_MAX:.4g} (as the API takes it), found {found}"
        breaks = len(re.findall(r"\r\n?|\n", str(titles.iloc[row])))
        if breaks:
            hint = (
                f"; that row's title spans {breaks + 1} lines: a quote in it that is never closed read the lines "
                "after it into it, so close or remove that quote"
            )
        raise DataValidationError(f"{source}: column '{csv}' {reason} in data row {number}{hint}")
    return values.mask(invalid).astype(np.float32)


def number_advice(values: Iterable[Any], name: str, *, currency: str | None = None) -> str:
    """How to write the numbers `values` fail to be: with a decimal point when they use a decimal comma ("2,56" is
    2.56, and taking its comma for a thousands separator would make it 256), else without currency symbols or
    thousands separators; for a price with a currency code, how to read it (input `name`'s `data.currency`)."""
    if any(DECIMAL_COMMA.match(str(value)) for value in values):
        return "write plain numbers with a decimal point (1299.00, not € 1.299,00), unknown ones empty"
    amounts = [amount for value in values if (amount := CURRENCY_AMOUNT.match(str(value)))]
    others = sorted({amount["code"] for amount in amounts} - {currency})
    if others and currency:
        return (
            f"convert them to {currency}, {name}'s data.currency (the model reads the number alone, so 10 "
            f"{others[0]} and 10 {currency} would be one price), unknown ones empty"
        )
    if others:
        return (
            f"set data.currency: {{{name}: {others[0]}}} in the config to read such prices as their number (every "
            f"{name} must then be in that currency: the model reads the number alone), or write plain numbers"
        )
    if amounts:
        return "write prices of 0 or more, unknown ones empty"
    plain = "write numbers without currency symbols or thousands separators (1299.00), unknown ones empty"
    if currency:  # a symbol ("₹1,099") is not what data.currency reads
        return f"{plain}; {name}'s data.currency reads a code after the number (1099.00 {currency}), not a symbol"
    return plain


def number_faults(column: pd.Series, *, currency: str | None = None) -> pd.Series:
    """Why the API would refuse each value of a numeric column, in a few words a refused row can carry (None for a
    value it takes): a price in another currency is told apart from text that is no number, as training's error
    tells them apart, so a team knows to convert it rather than clean it."""
    values, invalid = parse_numbers(column, currency=currency)
    faults = pd.Series(None, index=column.index, dtype=object)
    for position in np.flatnonzero(invalid.to_numpy()):
        faults.iloc[position] = _number_fault(column.iloc[position], values.iloc[position], currency)
    return faults


def _number_fault(cell: Any, value: float, currency: str | None) -> str:
    """Why the API refuses one value `parse_numbers` marked invalid (`value`, its parse)."""
    if value < 0:
        return "below 0"
    if not np.isnan(value):
        return f"not a finite number up to {FLOAT32_MAX:.4g}"
    text = str(cell)
    if amount := CURRENCY_AMOUNT.match(text):
        if currency:
            return f"a price in {amount['code']}; the model reads prices in {currency}, convert it"
        return f"a price in {amount['code']}; the model reads plain numbers, write the number alone"
    if DECIMAL_COMMA.match(text):
        return "a number with a decimal comma; write it with a decimal point"
    return "not a number (no currency symbols or thousands separators)"


def _no_number_text(column: pd.Series) -> np.ndarray:
    """The cells of text that stand for no number, blank or saying so (`MISSING_NUMBERS`), as a NumPy mask (a column
    of Arrow nulls alone, a blank price column, has no boolean to fill its gaps with): none in a column of numbers,
    vectorised for a text column."""
    said = MISSING_NUMBERS | {""}
    if column.dtype == object:
        cells = (isinstance(value, str) and value.strip().lower() in said for value in column)
        return np.fromiter(cells, bool, len(column))
    if is_string_dtype(column.dtype):
        return column.str.strip().str.lower().isin(said).fillna(False).to_numpy(bool)
    return np.zeros(len(column), dtype=bool)


def _stripped(column: pd.Series) -> pd.Series:
    """Text cells without the spaces at their ends, Unicode's too: pandas reads '12.99 ' as a number but not '12.99'
    and a no-break space, as a spreadsheet pastes it."""
    if column.dtype == object:
        return column.map(lambda value: value.strip() if isinstance(value, str) else value)
    return column.str.strip() if is_string_dtype(column.dtype) else column


def parse_numbers(column: pd.Series, *, currency: str | None = None) -> tuple[pd.Series, pd.Series]:
    """A numeric column parsed as float64, and the mask of present values a request could not carry: text that is
    no number, a negative number, an infinite one or one beyond float32 (the API refuses each). Dates, durations and
    booleans are no numbers (the API's strict float refuses true): as one, a date is a count of units since 1970,
    and the unit is the file's choice. A price with its currency code, as Google Merchant Center feeds write them
    ("15.00 USD"), is its number when the code is `currency` (`data.currency`), and refused otherwise: the number is
    all a request carries. Decided value by value, so every partition and file of a catalogue reads alike."""
    dtype = column.dtype
    if any(check(dtype) for check in (is_datetime64_any_dtype, is_timedelta64_dtype, is_bool_dtype)):
        return pd.Series(np.nan, index=column.index), column.notna()
    # A blank text cell is a missing number, as a CSV's empty cell is (a Parquet export writes "" for unknown), and
    # so is a cell that says it is missing ("N/A", "-", "null").
    column = _stripped(column.mask(_no_number_text(column)))
    values = pd.to_numeric(column, errors="coerce").astype("float64")
    unparsed = np.flatnonzero((values.isna() & column.notna()).to_numpy())
    if currency and len(unparsed):
        amounts = column.iloc[unparsed].astype(str).str.extract(CURRENCY_AMOUNT).reset_index(drop=True)
        priced = amounts[amounts["code"] == currency]
        numbers = values.to_numpy(copy=True)
        numbers[unparsed[priced.index]] = pd.to_numeric(priced["number"]).to_numpy("float64")
        values = pd.Series(numbers, index=column.index)
    invalid = column.notna() & (values.isna() | (values < 0) | ~(values.abs() <= FLOAT32_MAX))
    return values, invalid


def _scalar_text(value: Any, column: str, source: str) -> str | None:
    """One value of a mixed column as text, by the rules of `text_values`; None for a value the API would refuse
    (the caller names its row)."""
    if isinstance(value, str):
        return value
    integer = isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)
    if integer and abs(int(value)) <= MAX_INTEGER_ID:
        return str(int(value))
    if isinstance(value, float | np.floating) and float(value).is_integer() and abs(float(value)) <= MAX_INTEGER_ID:
        return str(int(value))
    if isinstance(value, list | tuple | dict | np.ndarray):
        of_text = not isinstance(value, dict) and all(isinstance(item, str) for item in value)
        advice = f"; {joined_items_advice(column)}" if of_text else ""
        raise DataValidationError(
            f"{source}: column {column!r} is a nested column (it holds {type(value).__name__} values); it must hold "
            f"plain text or numbers{advice}"
        )
    return None


def joined_items_advice(column: str) -> str:
    """What to write for a column of lists of text (a warehouse's category path, or tags): one text of its items."""
    return (
        "write its items as one text (a category path's levels joined by one separator, which the config names as "
        f"data.path_separator; in SQL, array_join({column}, ' > ') or ARRAY_TO_STRING)"
    )


def _refuse_text(values: pd.Series, column: str, source: str, bad: pd.Series) -> None:
    """Raise for the first value of a string input that is not text or an integral id."""
    row = int(np.flatnonzero(bad.to_numpy())[0])
    value = values.iloc[row]
    value = value.item() if isinstance(value, np.generic) else value
    # A mixed column's dtype says nothing of the value: its own type does.
    kind = f" ({type(value).__name__})" if values.dtype == object else ""
    whole = (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, float) and value.is_integer()
    )
    advice = ""
    if whole and abs(value) > MAX_INTEGER_ID:
        # A float has already rounded an id past 2**53: only its source still knows the digits.
        stored = "export the column again from its source as text" if isinstance(value, float) else "store it as text"
        advice = f"; {stored} (the API is sent longer ids as strings)"
    raise DataValidationError(
        f"{source}: column {column!r} ({values.dtype}) holds {value!r}{kind} in data row {_data_row(values, row)}; "
        f"a string input must hold text or integral ids within ±{MAX_INTEGER_ID:.0e}{advice}"
    )


def _data_row(values: pd.Series, position: int) -> int:
    """The 1-based data row of the value at `position`: its index label, which a frame of some of a file's rows
    (the labelled rows of a corrections file) keeps from the file; its position in any other frame."""
    label = values.index[position]
    return int(label) + 1 if isinstance(label, int | np.integer) else position + 1


def _decomposed(found: str, wanted: str) -> str:
    """What tells two names that look alike apart: the file's written with decomposed accents (as macOS saves)."""
    if found != wanted and unicodedata.normalize("NFC", found) == unicodedata.normalize("NFC", wanted):
        return " (the file writes its accents decomposed: rename the column, typing its name again)"
    return ""


def _name_key(name: str) -> str:
    """A column name with case and all whitespace folded away, its accents composed (a header saved decomposed, as
    macOS may, looks like the configured name and is not equal to it)."""
    return "".join(unicodedata.normalize("NFC", name).split()).casefold()
