"""A data-quality report on a raw catalogue: what real exports contain and what training would do with it.

It reads the frame as loaded (before cleaning), never changes it, and says: rows in and what cleaning would drop and
why (counted by the training's own cleaning, `training.data.clean`, so the two cannot disagree); per-class counts of
the rows training keeps, and the labels left without one; labels that are a missing value written out ("null",
"unknown"); label variants that are one class spelled twice (the same name once case, spacing, punctuation, HTML
escapes, `&` read as `and` and a plural `s` are ignored; with path labels, siblings under the same parent only) with
a ready-to-paste `label_aliases` block, and near misses (siblings a letter or two apart) as notes only, since a real
taxonomy has distinct siblings such as "Planes", "Planers" and "Pliers"; identical titles with different labels;
missing-value rates; numeric values that do not parse (units, thousands separators); duplicate rows (on the model's
columns, as training drops them); small classes and what `split.small_classes` does with them; near-constant input
columns; config column names that differ from the file's only by whitespace or case; and labels written as a JSON or
Python list (`["Footwear >> Boots"]`, `['Audio', 'Headsets']`) or as JSON records, which training would take as
written; titles that rows of several product ids carry; path labels that are several paths joined by commas,
semicolons, bars or line breaks (a shop export's listing filed under several categories); titles spanning several
lines (an unclosed quote).

`refusals` are what training refuses the whole file for (`make check-data` exits 1 on them, strict or not);
`problems` (refusals first) are what `data.strict` fails on; `notes` are worth reading but never fail a run.
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype

from training.columns import GROUP, LABEL
from training.config import SplitConfig
from training.data.clean import (
    QUOTED,
    UNGROUPED,
    check_label_aliases,
    check_repeated_headers,
    column_name_fixes,
    configured_columns,
    drop_unusable_rows,
    empty_level_labels,
    label_texts,
    model_columns,
    normalised_titles,
    number_advice,
    parse_numbers,
    repeated_headers,
    require_two_classes,
    unusable_rows,
)
from training.data.html_text import HTML_TAG, unescaped_html
from training.data.label_checks import (
    INTEGRAL_FLOAT,
    aliases_block,
    category_variants,
    depth_variants,
    escaped_commas,
    id_prefixed_paths,
    json_label,
    label_variants,
    near_misses,
    numbered_labels,
    placeholder_labels,
    records,
    repeated_levels,
    several_categories,
    several_paths,
    unset_path_separator,
    unspaced_separators,
)
from training.data.sources import catalogue_files, first_rows, layout_hint
from training.data.split import TEST, VALIDATION, assign_splits, check_held_out, product_keys
from training.data.tail import plan_small_classes, planned_catalogue, products_per_class
from training.exceptions import DataValidationError, TrainingError
from training.text import reads_as_empty

if TYPE_CHECKING:
    from collections.abc import Callable

    from training.config import DataConfig

logger = logging.getLogger(__name__)

# Beyond this many classes (or small classes), reports name the extremes only: at 5,000 leaves a full list is a
# 200 kB log line nobody reads.
LISTED_CLASSES = 30
# Where the whole report, every variant group included, is printed when the summary caps a list.
WHOLE_REPORT = "`python -m training.cli.check_data --json`"
NEAR_CONSTANT_SHARE = 0.99
MAX_EXAMPLES = 5
# What to do about a column of integers written as floats, ids or labels.
AS_INTEGERS = "write the column as integers (pandas: .astype('Int64') before to_csv) or as Parquet"
# The longest text a finding quotes whole.
MAX_QUOTED = 120
# Below U+0800, the code points a catalogue's text is written in (`_shop_script`).
SHOP_SCRIPTS = ((0xA0, 0x17F), (0x370, 0x3FF), (0x400, 0x4FF), (0x5D0, 0x5EA), (0x600, 0x6FF))
# A number written with dots between groups of three digits and nothing else (German and Dutch thousands).
DOT_THOUSANDS = r"[1-9]\d{0,2}(?:\.\d{3})+"
# Titles that several product ids carry, on at least this share of the kept rows, are worth a note.
SHARED_TITLES_SHARE = 0.01
# An input and the label that determine each other on this share of rows name one thing (`label_leaks`).
LEAK_SHARE = 0.99
# A number as Excel writes a long one it shows rounded (4.41E+12): an id written so has lost its digits.
SCIENTIFIC = r"\d+(?:[.,]\d+)?[eE]\+\d+"
# A class holding this share of the kept rows is worth a note: the figures over all rows are mostly its own.
MAJORITY_SHARE = 0.9
# One product id holding this share of the kept rows, of several classes, is worth a note (`catch_all_product`).
CATCH_ALL_SHARE = 0.1
# Product ids of several rows of which this share carries several classes name something else than products.
PRODUCTS_ACROSS_CLASSES_SHARE = 0.1
# A hashed input with a distinct value on this share of the kept rows, of at least so many, names rows, not sellers.
ROW_UNIQUE_SHARE, ROW_UNIQUE_MIN_ROWS = 0.95, 100


@dataclass
class DataReport:
    """The report's findings; `problems` lists the suspected ones (what `data.strict` fails on), `refusals` first: the
    problems for which training refuses the whole file, whatever `data.strict` says.

    `dropped` and `rows_out` are what training's cleaning (and `split.small_classes: drop`) drops and keeps;
    `class_counts` are the rows per label as cleaning keeps them, and `trained_class_counts` per class the run
    learns, once `split.small_classes` has folded (`parent`) or dropped (`drop`) the small ones;
    `duplicate_rows` are the rows it drops as duplicates of another row on the model's columns (columns the model
    never reads do not count).
    """

    source: str
    rows_in: int
    dropped: dict[str, int]
    rows_out: int
    class_counts: dict[str, int]
    trained_class_counts: dict[str, int] = field(default_factory=dict)
    label_variants: list[dict[str, Any]] = field(default_factory=list)
    near_misses: list[dict[str, Any]] = field(default_factory=list)
    conflicting_titles: dict[str, Any] = field(default_factory=dict)
    titles_across_products: dict[str, Any] = field(default_factory=dict)
    catch_all_product: dict[str, Any] = field(default_factory=dict)
    products_across_classes: dict[str, Any] = field(default_factory=dict)
    missing_rates: dict[str, float] = field(default_factory=dict)
    unparsable_numbers: dict[str, dict[str, Any]] = field(default_factory=dict)
    duplicate_rows: int = 0
    small_classes: dict[str, int] = field(default_factory=dict)
    small_class_plan: dict[str, Any] = field(default_factory=dict)
    near_constant_columns: dict[str, float] = field(default_factory=dict)
    row_unique_hashed: list[str] = field(default_factory=list)
    column_name_fixes: dict[str, str] = field(default_factory=dict)
    rows_without_product: int = 0
    placeholder_labels: dict[str, int] = field(default_factory=dict)
    classes_without_rows: list[str] = field(default_factory=list)
    blank_rows: int = 0
    layout_hint: str = ""
    multiline_titles: dict[str, Any] = field(default_factory=dict)
    mojibake: dict[str, Any] = field(default_factory=dict)
    html_escaped_titles: dict[str, Any] = field(default_factory=dict)
    html_tagged_titles: dict[str, Any] = field(default_factory=dict)
    dot_thousands: dict[str, dict[str, Any]] = field(default_factory=dict)
    float_ids: dict[str, str] = field(default_factory=dict)
    padded_values: dict[str, dict[str, Any]] = field(default_factory=dict)
    float_labels: str | None = None
    label_leaks: dict[str, dict[str, Any]] = field(default_factory=dict)
    title_leaves: dict[str, Any] = field(default_factory=dict)
    scientific_ids: dict[str, dict[str, Any]] = field(default_factory=dict)
    path_separator: str | None = None
    empty_level_labels: list[str] = field(default_factory=list)
    unspaced_separators: list[str] = field(default_factory=list)
    category_variants: list[list[str]] = field(default_factory=list)
    repeated_levels: dict[str, str] = field(default_factory=dict)
    id_prefixed_paths: dict[str, str] = field(default_factory=dict)
    nested_paths: dict[str, Any] = field(default_factory=dict)
    numbered_labels: list[str] = field(default_factory=list)
    max_text_length: int = 2000
    missing_columns: list[str] = field(default_factory=list)
    # The report read only the catalogue's first rows, this many (the Dask engine's); None: it read every row.
    first_rows: int | None = None
    refusals: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def build_report(
    raw: pd.DataFrame,
    config: DataConfig,
    *,
    source: str,
    split: SplitConfig | None = None,
    first_file: str | None = None,
) -> DataReport:
    """Examine a raw catalogue against its config.

    Args:
        raw: The catalogue as read (strings, missing as NaN).
        config: The column roles and label aliases.
        source: Where it came from, for the report.
        split: How small classes are treated (`split.min_class_products`, `split.small_classes`).
        first_file: The catalogue's first file, whose first rows may show a header below its first line when
            configured columns are missing (read only then).

    Returns:
        The findings; nothing is raised for bad data (that is what the report is for).
    """
    fixes = column_name_fixes(raw.columns, configured_columns(config))
    frame = raw.rename(columns={found: wanted for wanted, found in fixes.items()})
    # The training's own cleaning, leniently (a report describes any file): the counts are what training drops.
    rows = model_columns(frame, config, source, lenient=True)
    no_label, no_title, long = unusable_rows(rows, config.text, max_length=config.max_text_length)
    kept, dropped = drop_unusable_rows(rows, config.text, max_length=config.max_text_length)
    labels, titles = rows[LABEL], rows[config.text]
    usable = ~no_label & ~no_title
    counts = {str(label): int(count) for label, count in kept[LABEL].value_counts().items()}
    unusable = sorted(set(map(str, labels[~no_label].unique())) - set(counts))
    split = split or SplitConfig()
    placeholders = placeholder_labels(counts, separator=config.path_separator)
    listing_columns = {config.columns[config.text], config.target}
    real = {label: count for label, count in counts.items() if label not in placeholders}
    products = products_per_class(kept)
    plan = plan_small_classes(products, split, config.path_separator)
    # `split.small_classes: drop` takes these rows out of the run after cleaning: counted with what cleaning drops.
    small_dropped = int(kept[LABEL].isin(plan.dropped).sum())
    planned, folded_copies = planned_catalogue(kept, plan)
    report = DataReport(
        source=source,
        rows_in=len(raw),
        dropped={
            "no_label": dropped["dropped_no_label"],
            "empty_title": dropped["dropped_empty_title"],
            "too_long": dropped["dropped_too_long"],
            "duplicates": dropped["dropped_duplicates"] + folded_copies,
            "small_classes": small_dropped,
        },
        max_text_length=config.max_text_length,
        missing_columns=[column for column in dict.fromkeys(configured_columns(config)) if column not in frame],
        rows_out=len(planned),
        class_counts=counts,
        label_variants=(spelt := label_variants(real, separator=config.path_separator))
        + depth_variants(real, separator=config.path_separator, taken={label for g in spelt for label in g["labels"]}),
        near_misses=near_misses(real, separator=config.path_separator),
        placeholder_labels=placeholders,
        classes_without_rows=unusable,
        # Over the rows that train: a pair of titles too long to train on is no noise in the training data.
        conflicting_titles=conflicting_titles(titles[usable & ~long], labels[usable & ~long]),
        titles_across_products=titles_across_products(kept[config.text], kept[GROUP]) if config.group else {},
        catch_all_product=catch_all_product(kept[GROUP], kept[LABEL]) if config.group else {},
        products_across_classes=products_across_classes(kept[GROUP], kept[LABEL], config.group),
        missing_rates={str(c): round(float(raw[c].isna().mean()), 4) for c in raw.columns},
        # A header line among the rows is refused as such, not as its 'price' being no number.
        unparsable_numbers=unparsable_numbers(
            frame[~np.isin(np.arange(len(frame)), repeated_headers(frame, configured_columns(config)))], config
        ),
        # Rows of the file that repeat another: the copies folding made are counted as dropped, and are no problem.
        duplicate_rows=dropped["dropped_duplicates"],
        small_classes={str(label): int(n) for label, n in products.items() if n < split.min_class_products},
        small_class_plan=plan.to_dict(),
        near_constant_columns=near_constant_columns(
            frame[[c for c in dict.fromkeys(config.columns.values()) if c in frame]]
        ),
        row_unique_hashed=row_unique_hashed(kept, config),
        column_name_fixes=fixes,
        # Over every row: the row an unclosed quote made of the listings after it has no label of its own.
        multiline_titles=multiline_titles(titles, len(raw.columns)),
        mojibake=mojibake(pd.concat([titles[usable], labels[usable]], ignore_index=True)),
        html_escaped_titles=html_escaped_titles(titles[usable]),
        html_tagged_titles=html_tagged_titles(titles[usable]),
        dot_thousands=dot_thousands(frame, config),
        float_ids=float_ids(frame, config),
        padded_values=padded_values(frame, config),
        float_labels=_integral_floats(frame, config.target),
        label_leaks=label_leaks(kept, config),
        title_leaves=title_leaves(planned, config),
        scientific_ids=scientific_ids(frame, config),
        path_separator=config.path_separator,
        empty_level_labels=empty_level_labels(counts, config.path_separator),
        unspaced_separators=unspaced_separators(list(counts), config.path_separator),
        category_variants=category_variants(list(counts), config.path_separator),
        repeated_levels=repeated_levels(list(counts), config.path_separator),
        id_prefixed_paths=id_prefixed_paths(list(counts), config.path_separator),
        nested_paths=nested_paths(list(counts)),
        numbered_labels=numbered_labels(list(real)),
        rows_without_product=int(rows[GROUP].str.startswith(UNGROUPED)[usable].sum()),
        # Only when both columns are there: a file without them has every row "blank".
        blank_rows=int((no_label & titles.map(reads_as_empty).astype(bool)).sum())
        if listing_columns <= set(frame)
        else 0,
        layout_hint=_layout_hint(raw, config, first_file),
    )
    report.trained_class_counts = {str(label): int(count) for label, count in planned[LABEL].value_counts().items()}
    report.refusals = _refusals(report) + _rule_refusals(frame, config, planned, split, source)
    report.problems = report.refusals + _problems(report)
    report.notes = _notes(report, plan.describe())
    return report


def multiline_titles(titles: pd.Series, fields: int) -> dict[str, Any]:
    """Titles holding a line break: legal in a quoted CSV field, and what one unbalanced quote makes of the records
    after it, merged into one title. `records` counts those with a line after a break that reads as a record of the
    file (as many commas or tabs as its `fields` have between them, two at least): the mark of merged records, which
    a title written over two lines lacks."""
    texts = titles.astype(str)
    breaks = texts.str.count(r"\r\n?|\n")
    broken = breaks > 0
    if not broken.any():
        return {}
    separators = max(fields - 1, 2)  # one comma is a title's own as often as a record's
    merged = texts[broken].map(
        lambda text: any(max(line.count(","), line.count("\t")) >= separators for line in text.splitlines()[1:])
    )
    shown = titles[broken][merged] if merged.any() else titles[broken]
    examples = [str(t)[:MAX_QUOTED] for t in shown.head(MAX_EXAMPLES // 2 + 1)]
    return {"rows": int(broken.sum()), "lines": int(breaks.sum()), "records": int(merged.sum()), "examples": examples}


def html_escaped_titles(titles: pd.Series) -> dict[str, Any]:
    """Titles holding HTML escapes (`Tom &amp; Jerry`, `caf&eacute;`), as a web export leaves them: the model learns
    `amp` and `eacute` as words of the title, where the API is sent `&` and `é`."""
    return _titles_holding(titles, lambda text: "&" in text and unescaped_html(text) != text)


def html_tagged_titles(titles: pd.Series) -> dict[str, Any]:
    """Titles holding HTML tags (`<strong>Sale</strong> Acme TV<br>`), as a web export may leave them: the model
    learns `strong` and `br` as words of the title, where the API is sent plain text."""
    return _titles_holding(titles, lambda text: "<" in text and HTML_TAG.search(text) is not None)


def _titles_holding(titles: pd.Series, holds: Callable[[str], bool]) -> dict[str, Any]:
    """How many titles `holds` is true of, and three to show; empty when none."""
    texts = titles.dropna().astype(str)
    found = texts[texts.map(holds)]
    if found.empty:
        return {}
    return {"rows": len(found), "examples": [text[:MAX_QUOTED] for text in found.drop_duplicates().head(3)]}


def mojibake(texts: pd.Series) -> dict[str, Any]:
    """Texts that are UTF-8 read as Windows-1252 (or Latin-1) and saved again, as a spreadsheet does when it opens
    a UTF-8 CSV in a Western code page: `KÃ¼hlschrÃ¤nke` for `Kühlschränke`. Such a label is a second class of the
    same category, and such a title hashes to other n-grams than the listings the API will be sent."""
    distinct = pd.Series(texts.dropna().astype(str).unique())
    garbled = {text: meant for text in distinct[~distinct.map(str.isascii)] if (meant := _unmangled(text))}
    if not garbled:
        return {}
    rows = int(texts.isin(garbled.keys()).sum())
    examples = [f"{text[:MAX_QUOTED]} (meant: {meant[:MAX_QUOTED]})" for text, meant in list(garbled.items())[:3]]
    return {"rows": rows, "examples": examples}


def _unmangled(text: str) -> str | None:
    """The text a mangled one was, when encoding it back to a Western code page, or the Cyrillic one
    (`BoutonniГЁre`), gives other, valid UTF-8 in scripts shops write (`NESCAFÉ®` encodes back to valid UTF-8 too,
    but it would mean an IPA letter). Real Cyrillic text does not encode back to valid UTF-8: its letters are lead
    bytes in cp1251, two of them never a character."""
    for codepage in ("cp1252", "latin-1", "cp1251"):
        try:
            meant = text.encode(codepage).decode("utf-8")
        except UnicodeError:
            continue
        written = all(character.isascii() or _shop_script(ord(character)) for character in meant)
        return meant if meant != text and written else None
    return None


def _shop_script(code: int) -> bool:
    """Whether a code point is of text a catalogue holds: Latin-1 and Latin Extended-A, Greek, Cyrillic, Hebrew and
    Arabic letters, punctuation, currency and letterlike signs, or anything from U+0800 on (CJK and the like), where
    two mangled characters cannot land by chance."""
    return any(low <= code <= high for low, high in SHOP_SCRIPTS) or code >= 0x800


def label_leaks(rows: pd.DataFrame, config: DataConfig) -> dict[str, dict[str, Any]]:
    """Per input other than the title (by its file column), on the rows that have it (half of them at least): how
    much it and the label determine each other, when both ways reach LEAK_SHARE over two labels at least. Such a
    column names the category itself (a category id beside the category's name, a re-coded copy), so the model
    learns to read the answer off it and its figures look near perfect. Its values must tell the labels apart beyond
    the largest class's share (Goodman and Kruskal's lambda), or a constant column would "name" a catalogue that is
    nearly all one class."""
    found: dict[str, dict[str, Any]] = {}
    labels = rows[LABEL].astype(str)
    if labels.nunique() < 2:
        return found
    for name, column in config.columns.items():
        if name == config.text or name not in rows:
            continue
        values = rows[name]
        present = values.notna() & (values.astype(str).str.strip() != "")
        if present.mean() < 0.5:
            continue
        pairs = pd.DataFrame({"value": values[present].astype(str), "label": labels[present]}).value_counts()
        total = int(present.sum())
        by_value, by_label = (float(pairs.groupby(level=level).max().sum()) / total for level in (0, 1))
        largest = float(pairs.groupby(level=1).sum().max()) / total
        told_apart = (by_value - largest) / (1 - largest) if largest < 1 else 0.0
        if min(told_apart, by_label) >= LEAK_SHARE:
            found[column] = {"input": name, "share": round(min(by_value, by_label), 4)}
    return found


def title_leaves(rows: pd.DataFrame, config: DataConfig) -> dict[str, Any]:
    """The path labels whose last level is the title of their one product (Flipkart's `product_category_tree` ends
    in the product's name), when a tenth of the labels or more are: how many, and one to show. Each such label is a
    class of one product, learnt but never evaluated, that the model can answer only for that product. A class whose
    listings carry other titles too is a category whatever its listings are called ('Bananas' under `Fresh >
    Bananas`)."""
    separator = (config.path_separator or "").strip()
    if not separator or rows.empty:
        return {}
    # Each label's distinct titles, as the model reads them: a label of one title is a label of one product.
    pairs = pd.DataFrame({
        "label": rows[LABEL].astype(str), "title": rows[config.text].astype(str).str.strip().str.casefold(),
    }).drop_duplicates()  # fmt: skip
    alone = pairs[~pairs["label"].duplicated(keep=False) & pairs["label"].str.contains(separator, regex=False)]
    leaves = alone["label"].str.rsplit(separator, n=1).str[-1].str.strip().str.casefold()
    titled = alone.loc[leaves == alone["title"], "label"].tolist()
    labels = pairs["label"].nunique()
    if len(titled) < 2 or len(titled) * 10 < labels:
        return {}
    return {"labels": len(titled), "of": labels, "example": titled[0]}


def scientific_ids(frame: pd.DataFrame, config: DataConfig) -> dict[str, dict[str, Any]]:
    """Per id column (a text input other than the title, the product column `data.group`): the values written in
    scientific notation (`4.41E+12`), as Excel writes a long number it shows rounded, when they are 1 % of the
    column or three values at least. The digits it did not show are gone from the file, so distinct ids (EANs,
    products) became one, and none matches the id a request sends."""
    named = [config.columns[name] for name in config.columns if name not in config.numeric and name != config.text]
    found = {}
    for column in dict.fromkeys([*named, *([config.group] if config.group else [])]):
        if column not in frame:
            continue
        values = frame[column].dropna()
        text = values[values.map(lambda value: isinstance(value, str))].astype(str).str.strip()
        written = text[text.str.fullmatch(SCIENTIFIC)]
        if len(written) >= max(3, 0.01 * len(text)):
            found[column] = {"count": len(written), "examples": written.unique()[:3].tolist()}
    return found


def dot_thousands(frame: pd.DataFrame, config: DataConfig) -> dict[str, dict[str, Any]]:
    """Per numeric input's text column: the values written as dot-grouped thousands (`3.245`, `1.299.000`; never
    `0.250`), when they are most of its values with a point and none has cents (`12.99`). As German and Dutch
    exports write 3245 they read as 3.245, a number like any other, so nothing refuses them: a factor of a thousand
    off, unless the file means three decimals."""
    found = {}
    for name in config.numeric:
        column = config.columns[name]
        if column not in frame or is_numeric_dtype(frame[column]):
            continue
        values = frame[column].dropna()
        text = values[values.map(lambda value: isinstance(value, str))].astype(str).str.strip()
        pointed = text[text.str.contains(".", regex=False)]
        grouped = pointed[pointed.str.fullmatch(DOT_THOUSANDS)]
        cents = pointed.str.fullmatch(r"\d*\.\d{1,2}").any()  # a price with cents: the point is a decimal point
        if len(grouped) and len(grouped) * 2 >= len(pointed) and not cents:
            found[column] = {"count": len(grouped), "examples": list(grouped.unique()[:MAX_EXAMPLES])}
    return found


def float_ids(frame: pd.DataFrame, config: DataConfig) -> dict[str, str]:
    """Per hashed input's text column whose every value is an integer written as a float
    (`98.0`), as pandas writes an integer column with gaps to CSV: an example. Read as text they hash as `98.0`, where
    the API reads a JSON 98 as "98" (and the same column from Parquet gives "98"), so every id would hash elsewhere
    when served. Only whole columns: one id spelt `98.0` among others is as the file means it."""
    found = {}
    for column in dict.fromkeys(config.columns[name] for name in config.hashed):
        example = _integral_floats(frame, column)
        if example:
            found[column] = example
    return found


def padded_values(frame: pd.DataFrame, config: DataConfig) -> dict[str, dict[str, Any]]:
    """Per hashed input's text column, the values with spaces at their ends (`"Fogg "`, an export's padding): how
    many rows, and a few examples. The model hashes `"Fogg "` and `"Fogg"` as two sellers or brands, and a caller
    that sends the name trimmed, as most do, gets the one training barely saw."""
    found = {}
    for column in dict.fromkeys(config.columns[name] for name in config.hashed):
        cells = _text_cells(frame, column)
        if cells is None:
            continue
        _, text = cells
        stripped = text.str.strip()
        padded = text[(text != stripped) & (stripped != "")]  # a blank one is a missing value, said elsewhere
        if len(padded):
            found[column] = {"rows": len(padded), "examples": list(dict.fromkeys(padded))[:3]}
    return found


def _text_cells(frame: pd.DataFrame, column: str) -> tuple[pd.Series, pd.Series] | None:
    """A text column's values (missing ones left out) and those of them that are strings; None for a column the
    frame lacks or holds as numbers."""
    if column not in frame or is_numeric_dtype(frame[column]):
        return None
    values = frame[column].dropna()
    return values, values[values.map(lambda value: isinstance(value, str))].astype(str)


def _integral_floats(frame: pd.DataFrame, column: str) -> str | None:
    """A value of a text column whose every value is an integer written as a float (`98.0`), else None."""
    cells = _text_cells(frame, column)
    if cells is None:
        return None
    values, text = cells
    if len(text) and len(text) == len(values) and text.str.fullmatch(INTEGRAL_FLOAT.pattern).all():
        return str(text.iloc[0])
    return None


def conflicting_titles(titles: pd.Series, labels: pd.Series) -> dict[str, Any]:
    """Identical titles (as the model reads them: `normalised_titles`) filed under different labels."""
    normalised = normalised_titles(titles)
    per_title = pd.DataFrame({"title": normalised, "label": labels.astype(str)}).groupby("title")["label"]
    spread = per_title.nunique()
    conflicted = spread[spread > 1]
    examples = {
        _shortened(title): sorted(per_title.get_group(title).unique()) for title in conflicted.index[:MAX_EXAMPLES]
    }
    rows = int(normalised.isin(conflicted.index).sum())
    return {"titles": len(conflicted), "rows": rows, "examples": examples}


def _shortened(text: str) -> str:
    """Text quoted in a finding, cut to MAX_QUOTED characters."""
    return text if len(text) <= MAX_QUOTED else f"{text[:MAX_QUOTED]}…"


def titles_across_products(titles: pd.Series, products: pd.Series) -> dict[str, Any]:
    """Titles (as the model reads them) that rows of several product ids carry: a product's variants each under an
    id of their own (a size, a colour: Lazada's SKUs), or one listing repeated. Rows without an id (grouped by
    their title anyway) do not count; the example is the title most ids carry."""
    with_id = _with_id(products).to_numpy()
    normalised = normalised_titles(titles[with_id])
    per_title = pd.DataFrame({"title": normalised.to_numpy(), "product": products[with_id].to_numpy()})
    spread = per_title.groupby("title")["product"].nunique()
    shared = spread[spread > 1].sort_values(ascending=False, kind="stable")
    if shared.empty:
        return {}
    return {
        "titles": len(shared), "rows": int(normalised.isin(shared.index).sum()), "example": shared.index[0],
        "products": int(shared.iloc[0]),
    }  # fmt: skip


def catch_all_product(products: pd.Series, labels: pd.Series) -> dict[str, Any]:
    """The product id that holds the most rows, when it holds CATCH_ALL_SHARE of them or more across several
    classes: a placeholder an export wrote where it had no id (`GENERIC`, `0`), whose rows the split deals to one
    split together, every class's; rows without an id (grouped by their title) do not count."""
    with_id = _with_id(products)
    counts = products[with_id].value_counts()
    if counts.empty or counts.iloc[0] < CATCH_ALL_SHARE * len(products):
        return {}
    product = counts.index[0]
    classes = labels[products == product].nunique()
    if classes < 2:
        return {}
    return {"product": str(product), "rows": int(counts.iloc[0]), "share": float(counts.iloc[0] / len(products)),
            "classes": int(classes)}  # fmt: skip


def products_across_classes(products: pd.Series, labels: pd.Series, column: str | None) -> dict[str, Any]:
    """The product ids of several rows that carry several classes, when they are PRODUCTS_ACROSS_CLASSES_SHARE of
    those ids or more: a product has one category, so `column` (data.group) names something else (a merchant, a
    brand), and the split, which deals an id's rows to one split together, would put one product's listings in
    train and in test. Rows without an id do not count; a few ids across classes are label noise, not this."""
    if column is None:
        return {}
    with_id = _with_id(products)
    classes = labels[with_id].groupby(products[with_id].to_numpy()).agg(["size", "nunique"])
    several = classes[classes["size"] > 1]
    across = several[several["nunique"] > 1]
    if across.empty or len(across) < PRODUCTS_ACROSS_CLASSES_SHARE * len(several):
        return {}
    example = across["nunique"].idxmax()
    named = sorted(map(str, labels[with_id][products[with_id] == example].unique()))[:3]
    return {"column": column, "ids": len(across), "of": len(several), "rows": int(across["size"].sum()),
            "example": str(example), "classes": named}  # fmt: skip


def _with_id(products: pd.Series) -> pd.Series:
    """The rows whose product is named by an id (not grouped by their title for want of one)."""
    return ~products.astype(str).str.startswith(UNGROUPED)


def unparsable_numbers(frame: pd.DataFrame, config: DataConfig) -> dict[str, dict[str, Any]]:
    """Per numeric input's column: how many present values training refuses (text that is no number, a negative,
    infinite or beyond float32, a price in another currency than `data.currency`'s: `clean.parse_numbers`), with
    examples and what to do."""
    found = {}
    for name in config.numeric:
        column, currency = config.columns[name], config.currency.get(name)
        if column not in frame:
            continue
        values = frame[column]
        _, bad = parse_numbers(values, currency=currency)
        if bad.any():
            examples = [str(v) for v in values[bad].unique()[:MAX_EXAMPLES]]
            advice = number_advice(examples, name, currency=currency)
            found[column] = {"count": int(bad.sum()), "examples": examples, "advice": advice}
    return found


def row_unique_hashed(kept: pd.DataFrame, config: DataConfig) -> list[str]:
    """The hashed inputs (by their column) whose value differs on nearly every kept row (a listing or offer id
    mapped as a seller): no value recurs, so hashing it teaches the model nothing, and every request's is new."""
    if len(kept) < ROW_UNIQUE_MIN_ROWS:
        return []
    return [
        config.columns[name]
        for name in config.hashed
        if name in kept and kept[name].nunique() >= ROW_UNIQUE_SHARE * len(kept)
    ]


def near_constant_columns(raw: pd.DataFrame) -> dict[str, float]:
    """Columns whose most common value (missing included) covers at least NEAR_CONSTANT_SHARE of the rows (given the
    model's input columns: a constant column the model never reads is no problem, even for `data.strict`)."""
    if raw.empty:
        return {}
    shares = {str(c): float(raw[c].value_counts(dropna=False, normalize=True).iloc[0]) for c in raw.columns}
    return {column: round(share, 4) for column, share in shares.items() if share >= NEAR_CONSTANT_SHARE}


def log_report(report: DataReport, *, strict: bool) -> None:
    """Log the report's summary, its problems as warnings (a run trains on despite them, and a terminal or a log
    filter should not let them pass as chatter); with `strict`, any suspected problem stops the run.

    Raises:
        DataValidationError: `strict` and the report found a problem.
    """
    for line in summary_text(report).splitlines():
        logger.log(logging.WARNING if line.startswith(("problem: ", "refused: ")) else logging.INFO, line)
    if strict and report.problems:
        raise DataValidationError(
            f"data.strict: the data report found {len(report.problems)} problem(s), first: {report.problems[0]}. "
            "Run `make check-data` for the whole report. Nothing was written."
        )


def summary_text(report: DataReport) -> str:
    """The report as a few lines for a terminal or a log."""
    if report.missing_columns:
        # What rows would be dropped for says nothing of a file without the columns: a missing label is no empty one.
        missing = len(report.missing_columns)
        lines = [
            f"data report for {report.source}{_read_part(report)}: {report.rows_in} rows in; {missing} of the "
            "config's columns are missing from the file (below): training refuses it"
        ]
    else:
        lines = [
            f"data report for {report.source}{_read_part(report)}: {report.rows_in} rows in, {report.rows_out} kept "
            f"(dropped: {report.dropped['no_label']} without label{_blank_part(report)}, "
            f"{report.dropped['empty_title']} with empty "
            f"title, {report.dropped.get('too_long', 0)} over {report.max_text_length} characters, "
            f"{report.dropped['duplicates']} duplicates in the model's columns{_small_classes_dropped(report)}); "
            f"{len(report.trained_class_counts)} classes{_labels_read(report)}",
            "classes: " + class_summary(report.trained_class_counts),
        ]
    lines += [f"refused: {refusal} (training refuses the file)" for refusal in report.refusals]
    lines += [f"problem: {problem}" for problem in report.problems[len(report.refusals) :]]
    lines += [] if report.problems else ["no suspected problems"]
    lines += [f"note: {note}" for note in report.notes[:LISTED_CLASSES]]
    if len(report.notes) > LISTED_CLASSES:
        lines.append(f"note: and {len(report.notes) - LISTED_CLASSES} more notes ({WHOLE_REPORT} lists every one)")
    variants = report.label_variants
    if variants:
        lines += [
            "suggested config (merge into the config's data: section; a second top-level data: would replace it):",
            aliases_block(variants[:LISTED_CLASSES]),
        ]
    if len(variants) > LISTED_CLASSES:
        lines.append(f"    # and {len(variants) - LISTED_CLASSES} more groups: {WHOLE_REPORT} lists every one")
    return "\n".join(lines)


def _read_part(report: DataReport) -> str:
    """What of the catalogue the report read, for the summary's first line ("" when all of it)."""
    return f" (its first {report.first_rows:,} rows only)" if report.first_rows else ""


def _small_classes_dropped(report: DataReport) -> str:
    """The rows `split.small_classes: drop` takes out, for the summary's first line ("" when none)."""
    rows, classes = report.dropped.get("small_classes", 0), report.small_class_plan.get("dropped", 0)
    return f", {rows} in the {classes} small classes split.small_classes drops" if rows else ""


def _labels_read(report: DataReport) -> str:
    """How many labels were read, for the summary's first line, when `split.small_classes` changed that ("" if not)."""
    read, trained = len(report.class_counts), len(report.trained_class_counts)
    if read == trained:
        return ""
    policy = report.small_class_plan["policy"]
    return f" ({read} labels read, {read - trained} fewer after split.small_classes: {policy})"


def class_summary(counts: dict[str, int]) -> str:
    """Rows per class: every class when there are few, else the count, median and the smallest and largest."""
    ordered = sorted(counts.items())
    if len(ordered) <= LISTED_CLASSES:
        return ", ".join(f"{label} {count}" for label, count in ordered)
    by_size = sorted(ordered, key=lambda item: item[1])
    median = by_size[len(by_size) // 2][1]
    smallest = ", ".join(f"{label} {count}" for label, count in by_size[:5])
    largest = ", ".join(f"{label} {count}" for label, count in by_size[-5:])
    return f"{len(ordered)} classes, median {median} rows; smallest: {smallest}; largest: {largest}"


def _layout_hint(raw: pd.DataFrame, config: DataConfig, first_file: str | None) -> str:
    """`sources.layout_hint` for the configured columns the catalogue lacks, reading the first file's first rows only
    when some are missing."""
    missing = [column for column in dict.fromkeys(configured_columns(config)) if column not in raw]
    rows = first_rows(first_file, catalogue_files(first_file)[0]) if missing and first_file else None
    return layout_hint(raw.columns, missing, rows)


def _refusals(report: DataReport) -> list[str]:
    """One sentence per problem training refuses the file for: a missing column, nothing left to train on, a number
    the API would refuse, a path label with an empty level."""
    # A file cut by another delimiter lacks every column: the delimiter is to fix, not the config.
    if report.layout_hint and report.missing_columns:
        # One line: each missing column, and the rows no label reached, follow from the layout.
        missing = ", ".join(map(repr, report.missing_columns))
        return [f"missing column(s) {missing} (named in the config){report.layout_hint}"]
    config_advice = "; if the file names it otherwise, pass CONFIG= a config that maps it"
    refusals = [f"missing column {column!r} (named in the config{config_advice})" for column in report.missing_columns]
    if not report.rows_out:
        refusals.append(f"no rows to train on: {report.rows_in} rows in, 0 kept")
    refusals += [
        f"numeric column {column!r} has {found['count']} values that are not numbers ≥ 0 within float32, e.g. "
        f"{found['examples']}: {found['advice']}"
        for column, found in report.unparsable_numbers.items()
    ]
    if report.empty_level_labels:
        refusals.append(
            f"{len(report.empty_level_labels)} labels have an empty level between path separators "
            f"{report.path_separator!r}, e.g. {report.empty_level_labels[:MAX_EXAMPLES]}: fix the labels"
        )
    refusals += [
        f"config column {wanted!r} matches file column {found!r} only up to whitespace/case: use {found!r}"
        for wanted, found in report.column_name_fixes.items()
    ]
    return refusals


def _rule_refusals(
    frame: pd.DataFrame, config: DataConfig, planned: pd.DataFrame, split: SplitConfig, source: str
) -> list[str]:
    """What training's own checks refuse, in their words: header lines among the rows, a label alias to no label of
    the data, and (when any row is left: no rows at all is a refusal of its own) fewer than two classes once small
    classes are dealt with, or no product held out for validation or test.

    Args:
        frame: The catalogue as read.
        config: The column roles and label aliases.
        planned: The rows training keeps, small classes dealt with as `split.small_classes` says.
        split: How products are split.
        source: Where the catalogue came from, for the messages.
    """
    found = []
    checks = [lambda: check_repeated_headers(frame, config, source)]
    if config.target in frame:
        checks.append(
            lambda: check_label_aliases(label_texts(frame[config.target], config.target, source), config.label_aliases)
        )
    if len(planned):
        checks.append(
            lambda: require_two_classes(planned[LABEL].nunique(), source, after="cleaning and split.small_classes")
        )
        checks.append(lambda: _check_split(planned, split))
    for check in checks:
        try:
            check()
        except TrainingError as exc:
            found.append(str(exc))
    return found


def _check_split(planned: pd.DataFrame, split: SplitConfig) -> None:
    """Training's split of these rows holds products out for validation and for test (`check_held_out`)."""
    dealt = assign_splits(product_keys(planned), planned[LABEL], split)
    held_out = {"validation": int((dealt == VALIDATION).sum()), "test": int((dealt == TEST).sum())}
    check_held_out(held_out, split, products=planned[GROUP] if GROUP in planned.columns else None)


def _encoded_alike(spellings: list[str]) -> str:
    """ " (…)" when the spellings read the same and differ only in how their accents are encoded (a letter and a
    combining accent, NFD, beside the accented letter, NFC), which no one can see in the message; else ""."""
    if len({unicodedata.normalize("NFC", spelling) for spelling in spellings}) > 1:
        return ""
    return " (the same letters, their accents encoded two ways: save the file's text as NFC)"


def _problems(report: DataReport) -> list[str]:
    """One sentence per suspected problem training goes on with (it drops or keeps the rows)."""
    problems = []
    if report.dropped.get("too_long"):
        problems.append(
            f"{report.dropped['too_long']} rows have a text longer than {report.max_text_length} characters "
            "(the API refuses them; training drops them)"
        )
    problems += [
        f"label variants {sorted(variant['labels'])} look like one class (suggest {variant['suggested']!r})"
        for variant in report.label_variants[:LISTED_CLASSES]
    ]
    if len(report.label_variants) > LISTED_CLASSES:
        more = len(report.label_variants) - LISTED_CLASSES
        problems.append(f"and {more} more groups of label variants ({WHOLE_REPORT} lists every one)")
    if report.conflicting_titles.get("titles"):
        problems.append(
            f"{report.conflicting_titles['titles']} identical titles carry different labels "
            f"({report.conflicting_titles['rows']} rows), e.g. {report.conflicting_titles['examples']}"
        )
    if report.placeholder_labels:
        shown = sorted(report.placeholder_labels.items(), key=lambda item: -item[1])[:MAX_EXAMPLES]
        problems.append(
            f"{len(report.placeholder_labels)} labels look like missing values, "
            + ", ".join(f"{label!r} ({count} rows)" for label, count in shown)
            + ": training learns each as a category and the model will answer it; give those listings their real "
            "category, or leave the cells empty (rows without a label are skipped)"
        )
    separator = report.path_separator
    if separator and report.class_counts and not any(separator in label for label in report.class_counts):
        used = unset_path_separator(list(report.class_counts), None)
        advice = f"the labels use {used!r}: set data.path_separator to it" if used else "set the separator they use"
        problems.append(
            f"no label contains data.path_separator {separator!r} (e.g. {next(iter(report.class_counts))!r}): every "
            f"label would train as a department of its own; {advice}"
        )
    if separator and report.unspaced_separators:
        problems.append(
            f"{len(report.unspaced_separators)} labels hold {separator.strip()!r} without the spaces of "
            f"data.path_separator {separator!r} right after a category of the tree (e.g. "
            f"{QUOTED.repr(report.unspaced_separators[0])}): each trains as one level named so, a department of its "
            f"own; write them with {separator!r}"
        )
    if report.category_variants:
        groups = report.category_variants[:MAX_EXAMPLES]
        spellings = "; ".join(" / ".join(map(repr, group)) + _encoded_alike(group) for group in groups)
        problems.append(
            f"{len(report.category_variants)} categories of the tree are spelt more than one way ({spellings}): each "
            "spelling is a branch of its own, its listings split between them; spell each category one way in the data"
        )
    if report.numbered_labels:
        unnamed = set(report.numbered_labels) | set(report.placeholder_labels)
        named = next(label for label in report.class_counts if label not in unnamed)
        problems.append(
            f"{len(report.numbered_labels)} labels are bare numbers (e.g. {report.numbered_labels[0]!r}) beside "
            f"labels that name their categories (e.g. {QUOTED.repr(named)}): category ids, as Google's taxonomy "
            "numbers its categories? each trains as a class apart from the category it numbers; map them to the "
            "names in data.label_aliases"
        )
    if report.repeated_levels:
        label, once = next(iter(report.repeated_levels.items()))
        problems.append(
            f"{len(report.repeated_levels)} labels repeat a category right below itself (e.g. {QUOTED.repr(label)} "
            f"beside {QUOTED.repr(once)}): each repeat is a branch of its own, its listings split from the other's; "
            "write each category once (data.label_aliases can map the labels as they are)"
        )
    if report.id_prefixed_paths:
        label, path = next(iter(report.id_prefixed_paths.items()))
        problems.append(
            f"{len(report.id_prefixed_paths)} path labels start with a category id (e.g. {QUOTED.repr(label)}), as "
            "Google's taxonomy file with ids writes them: the id joins the department, so each leaf's department is "
            f"one of its own and no level is shared; write the path alone ({QUOTED.repr(path)})"
        )
    # Labels that join a listing's several categories, as path labels and as flat ones: what each trains as.
    joined = {
        "hold several category paths, joined (e.g. {}), as shop exports write a listing filed under several "
        "categories: each would train as one deep path; keep one category per listing (its most specific path: a "
        "shop may list a category's parent first)":
        several_paths(list(report.class_counts), separator),
        "list several categories, joined (e.g. {}), as a PIM or shop exports a product filed under several: each "
        "combination would train as a class of its own; keep one category per listing":
        several_categories(list(report.class_counts), separator),
        "hold a comma escaped with a backslash (e.g. {}), as WooCommerce exports a comma inside a category name: "
        "the model would learn and answer the backslash; write the comma alone (keeping one category per listing)":
        escaped_commas(list(report.class_counts)),
    }  # fmt: skip
    problems += [f"{len(found)} labels {said.format(QUOTED.repr(found[0]))}" for said, found in joined.items() if found]
    problems += [
        f"column {column!r} is empty"
        if report.missing_rates.get(column) == 1.0
        else f"column {column!r} is near-constant ({share:.0%} one value)"
        for column, share in report.near_constant_columns.items()
    ]
    if report.multiline_titles.get("records"):
        found = report.multiline_titles
        problems.append(
            f"{found['rows']} titles span several lines ({found['lines']} line breaks in all), e.g. "
            f"{found['examples']}: where a quote in the file is not closed, the lines after it are read into one "
            "title and their listings lost; close or remove the quote (a title meant to span lines: join its lines)"
        )
    if report.mojibake:
        found = report.mojibake
        problems.append(
            f"{found['rows']} titles or labels look like UTF-8 read in a Western (or Cyrillic) code page and saved "
            f"again, e.g. "
            f"{found['examples']}: export the catalogue again as UTF-8 (a spreadsheet: open the CSV through its import "
            "with UTF-8, or save as 'CSV UTF-8')"
        )
    grouped = {label for variant in report.label_variants for label in variant["labels"]}
    padded = [label for label in report.class_counts if label != label.strip() and label not in grouped]
    if padded:
        problems.append(
            f"{len(padded)} labels have spaces at their ends, e.g. {', '.join(map(QUOTED.repr, padded[:3]))}: "
            "the model learns them so and the API answers them so, where a team matches its categories by name; "
            "write them without"
        )
    learnt = len(report.trained_class_counts)
    held_out = learnt - int(report.small_class_plan.get("train_only", 0))
    if learnt > 1 and held_out < 2:
        problems.append(
            f"only {held_out} of the {learnt} classes learnt have split.min_class_products "
            f"({report.small_class_plan.get('min_products')}) products or more: the others train whole, so the test "
            "figures, macro-F1 included, are of one class at most and say nothing of the rest; add products of the "
            "small classes, or lower split.min_class_products"
        )
    if found := report.products_across_classes:
        problems.append(
            f"{found['ids']} of the {found['of']} product ids of several rows (data.group {found['column']!r}) carry "
            f"several classes ({found['rows']:,} rows; e.g. {QUOTED.repr(found['example'])}: {found['classes']}): a "
            "product has one category, so the column names something else (a merchant, a brand?), and one product's "
            "listings can land in train and in test, which flatters the test figures; set data.group to the column "
            "that names the product"
        )
    for column, found in report.padded_values.items():
        problems.append(
            f"column {column!r}: {found['rows']:,} values have spaces at their ends, e.g. "
            f"{', '.join(map(QUOTED.repr, found['examples']))}: the model learns them apart from the same names "
            "without, and a caller that sends them trimmed gets the name training barely saw; write them without"
        )
    for column, example in report.float_ids.items():
        problems.append(
            f"column {column!r} holds integers written as floats ({example!r}) in every row, as pandas writes an "
            "integer column with gaps to CSV: they hash as written, where the API reads a JSON "
            f"{example.split('.')[0]} as {example.split('.')[0]!r}, so served listings would hash elsewhere; "
            f"{AS_INTEGERS}"
        )
    if report.float_labels:
        example = report.float_labels
        problems.append(
            f"every label is an integer written as a float ({example!r}), as pandas writes an integer column with "
            f"gaps to CSV: the model would answer {example!r} where the catalogue means {example.split('.')[0]!r} (and "
            f"the same labels from Parquet or an integer column are other classes); {AS_INTEGERS}"
        )
    for column, found in report.dot_thousands.items():
        problems.append(
            f"column {column!r}: {found['count']} values are written like thousands with a dot, e.g. "
            f"{found['examples']}, and read as decimals (3.245, not 3245); if they are thousands, write them without "
            "the dot"
        )
    for column, found in report.label_leaks.items():
        problems.append(
            f"column {column!r} (input {found['input']!r}) and the label determine each other on "
            f"{found['share']:.1%} of the rows that have it: it names the category, so the model would read the answer "
            "off it and its figures flatter it; unless every listing the API is sent carries it, take it out of "
            "data.columns"
        )
    if report.title_leaves:
        found = report.title_leaves
        problems.append(
            f"{found['labels']} of the {found['of']} labels end in their listing's own title (e.g. "
            f"{QUOTED.repr(found['example'])}): each is a class of one product, learnt but never evaluated, which the "
            "model can answer only for that product; take that last level off the labels, or set "
            "split.small_classes: parent to fold such classes into the category above"
        )
    for column, found in report.scientific_ids.items():
        problems.append(
            f"column {column!r}: {found['count']} ids are written in scientific notation, e.g. {found['examples']}, as "
            "Excel writes a long number: the digits it did not show are lost, so distinct ids became one; export "
            "the column again as text (in Excel, format it as Text before saving)"
        )
    if report.duplicate_rows:
        problems.append(
            f"{report.duplicate_rows} rows repeat another in every column the model reads (inputs, category, product "
            "id), other columns aside: all but one of each are dropped"
        )
    if report.nested_paths.get("several"):
        problems.append(_nested_paths_text(report))
    if separator:
        problems += _listed_paths(report, separator)
    unlabelled = report.dropped["no_label"] - report.blank_rows
    # Without its columns every row lacks a label or title: the missing column is the refusal to read.
    if (unlabelled or report.dropped["empty_title"]) and not report.missing_columns:
        problems.append(f"{unlabelled} rows without label and {report.dropped['empty_title']} with an empty title")
    return problems


def _notes(report: DataReport, small_classes: str) -> list[str]:
    """What is worth knowing but never fails a run: small classes and what happens to them, near-miss labels."""
    notes = [small_classes] if report.small_classes else []
    largest = max(report.class_counts.items(), key=lambda item: item[1], default=None)
    if largest and len(report.class_counts) > 1 and largest[1] >= MAJORITY_SHARE * sum(report.class_counts.values()):
        share = largest[1] / sum(report.class_counts.values())
        notes.append(
            f"one class holds {share:.1%} of the rows ({QUOTED.repr(largest[0])}): accuracy, and the precision an "
            "operating point is chosen at, are mostly that class's; macro-F1 and the model card's figures by class say "
            "how the others fare"
        )
    mark = unset_path_separator(list(report.class_counts), report.path_separator)
    if mark:
        example = next(label for label in report.class_counts if mark in label)
        notes.append(
            f"most labels are category paths joined by {mark!r} (e.g. {example!r}), but no data.path_separator is "
            f"set: each trains as a flat class; set data.path_separator: {mark!r} for the tree (its departments, "
            "answers that back off to a parent, drift by department)"
        )
    if report.rows_without_product:
        notes.append(
            f"{report.rows_without_product} rows have no product id (data.group): each is grouped with the rows of "
            "the same title and no id in the split, so listings of one product titled differently, or with an id on "
            "other rows, may land in different splits"
        )
    if report.row_unique_hashed:
        notes.append(
            f"hashed column(s) {report.row_unique_hashed} hold a value of their own on nearly every row (a listing or "
            "offer id?): no value recurs, so the model learns nothing from them; map a column whose values recur "
            "(the seller, the brand) or leave them out of data.hashed"
        )
    catch_all = report.catch_all_product
    if catch_all:
        notes.append(
            f"product id {QUOTED.repr(catch_all['product'])} holds {catch_all['rows']} rows ({catch_all['share']:.0%}) "
            f"of {catch_all['classes']} classes: a placeholder an export wrote where it had no id? The split deals a "
            "product's rows to one split together, so all of these train, or are held out, at once; give them their "
            "own ids, or leave the cell empty (a row without an id is its title's product)"
        )
    shared = report.titles_across_products
    if shared.get("rows", 0) >= SHARED_TITLES_SHARE * max(report.rows_out, 1):
        notes.append(
            f"{shared['titles']} titles are carried by rows of several product ids ({shared['rows']} rows; e.g. "
            f"{QUOTED.repr(shared['example'])} by {shared['products']}): if those are one product's variants, each "
            "with an id of its own (a size, a colour), copies of it land in train and in test and flatter the test "
            "figures; set data.group to a column that names the whole product (a parent id), not each variant"
        )
    if report.classes_without_rows:
        notes.append(
            f"{len(report.classes_without_rows)} labels have no row training can use (an empty title, a text over "
            f"{report.max_text_length} characters), e.g. {report.classes_without_rows[:MAX_EXAMPLES]}: they are not "
            "learnt"
        )
    if report.multiline_titles and not report.multiline_titles.get("records"):
        found = report.multiline_titles
        notes.append(
            f"{found['rows']} titles span several lines ({found['lines']} line breaks in all), e.g. "
            f"{found['examples']}, as a quoted CSV field may: no line after a break reads as a record of the file, so "
            "no quote left open merged listings; the model reads a line break as a space"
        )
    if report.blank_rows:
        notes.append(
            f"{report.blank_rows} rows have neither a title nor a label (an export's variant or image rows): skipped"
        )
    parsed = _json_labels(report)
    listed = _string_lists(parsed)
    if listed:
        example, items = next(iter(listed.items()))
        notes.append(
            f"{len(listed)} of {len(report.class_counts)} labels are written as a list (e.g. {example!r}): the "
            f"model learns and answers them as written, brackets and quotes included; {_json_advice(items, report)}"
        )
    if report.nested_paths and not report.nested_paths["several"]:
        notes.append(_nested_paths_text(report))
    encoded = [label for label, value in parsed.items() if records(value)]
    if encoded:
        notes.append(
            f"{len(encoded)} of {len(report.class_counts)} labels are JSON objects (e.g. "
            f"{QUOTED.repr(encoded[0])}): the model learns and answers them as written; write each one's category "
            "path in the file"
        )
    if report.html_escaped_titles:
        found = report.html_escaped_titles
        notes.append(
            f"{found['rows']} titles hold HTML escapes, e.g. {found['examples']}: the model learns 'amp' or 'eacute' "
            "as a word of them, where the API is sent '&' and 'é'; unescape them in the file (Python: html.unescape)"
        )
    if report.html_tagged_titles:
        found = report.html_tagged_titles
        notes.append(
            f"{found['rows']} titles hold HTML tags, e.g. {found['examples']}: the model learns 'br' or 'strong' as "
            "a word of them, where the API is sent plain text; strip the tags in the file"
        )
    for miss in report.near_misses:
        (a, rows_a), (b, rows_b) = miss["labels"].items()
        notes.append(
            f"labels {a!r} ({rows_a} rows) and {b!r} ({rows_b} rows) differ by {miss['distance']} letter(s): if one is "
            "a typo of the other, map it with data.label_aliases; if they are two categories, nothing to do"
        )
    return notes


def nested_paths(labels: list[str]) -> dict[str, Any]:
    """The labels written as lists of paths, each a list of level names (Amazon's `categories`:
    `[['Clothing', 'Women', 'Dresses']]`): how many, one to show (one listing several paths, where any does) with its
    first path's levels, and whether any lists several, whose combination trains as a class (a problem; else a
    note). Empty when none is."""
    nested = {
        label: paths
        for label in labels
        if (value := json_label(label)) is not None
        and all(isinstance(item, list) and all(isinstance(level, str) for level in item) for item in value)
        and (paths := [item for item in value if item])  # `[[]]` is a missing value written out
    }
    if not nested:
        return {}
    several = [label for label, paths in nested.items() if len(paths) > 1]
    example = several[0] if several else next(iter(nested))
    return {"labels": len(nested), "example": example, "levels": nested[example][0], "several": bool(several)}


def _blank_part(report: DataReport) -> str:
    """How many of the rows without a label are blank rows (an export's variant or image rows), skipped as such."""
    return f" ({report.blank_rows} of them blank rows)" if report.blank_rows else ""


def _nested_paths_text(report: DataReport) -> str:
    """What the report says of `nested_paths`, as a problem or a note."""
    found = report.nested_paths
    path = (report.path_separator or " > ").join(found["levels"])
    setting = "" if report.path_separator else " and data.path_separator set to its separator"
    what = "each combination of paths trains as a class of its own" if found["several"] else "each trains as written"
    return (
        f"{found['labels']} of {len(report.class_counts)} labels are written as lists of category paths, each a list "
        f"of levels (e.g. {QUOTED.repr(found['example'])}): {what}, brackets and quotes included; keep one path per "
        f"listing (its most specific), its levels written as one path ({QUOTED.repr(path)}{setting})"
    )


def _listed_paths(report: DataReport, separator: str) -> list[str]:
    """The problem of category paths written as a JSON list where `separator` splits labels into paths: the brackets
    and quotes would become part of the tree's first and last levels. Empty when no label is one."""
    listed = _string_lists(_json_labels(report))
    split = {label: items for label, items in listed.items() if any(separator in item for item in items)}
    if not split:
        return []
    label, items = next(iter(split.items()))
    levels = label.split(separator)
    return [
        f"{len(split)} labels are category paths written as a list (e.g. {QUOTED.repr(label)}): split at "
        f"data.path_separator {separator!r}, its brackets and quotes become part of the category "
        f"tree ({QUOTED.repr(levels[0])} … {QUOTED.repr(levels[-1])}); {_json_advice(items, report)}"
    ]


def _json_labels(report: DataReport) -> dict[str, list[Any]]:
    """The labels written as JSON (or as Python writes a list), each with its items (`json_label`)."""
    return {label: value for label in report.class_counts if (value := json_label(label)) is not None}


def _string_lists(parsed: dict[str, list[Any]]) -> dict[str, list[str]]:
    """Of the labels written as JSON (`_json_labels`), those that are lists of strings, each with its items."""
    return {label: value for label, value in parsed.items() if all(isinstance(item, str) for item in value)}


def _json_advice(items: list[str], report: DataReport) -> str:
    """What to write instead of a label written as a JSON list: its one path, its levels as a path, or one of its
    several paths."""
    separator = report.path_separator or " > "
    if len(items) == 1:
        return f"write {items[0]!r} in the file"
    if any(separator in item for item in items):
        return f"it holds several category paths ({items[:2]}): keep one per listing"
    named = "" if report.path_separator else " and set data.path_separator to it"
    return f"write its levels as one path, {separator.join(items)!r}{named}"
