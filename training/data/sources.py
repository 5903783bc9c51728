"""Where catalogues are read from: a CSV/TSV/Parquet file, a glob or a folder, local or s3:// (pyarrow's filesystems).

One reader for every command and engine (`make train` local and Dask, `make check-data`, `make predict`), so a
file reads the same way wherever it goes. It refuses, with one line naming the file, what would otherwise be
read silently wrong or without bound: a CSV line longer than MAX_LINE_BYTES (memory stays bounded whatever the
file holds), duplicate column names (pandas would rename the second to `name.1`), nested Parquet columns among
the ones the command reads, and a file without one of those columns.

pyarrow's S3 filesystem honours AWS_ENDPOINT_URL, so a local S3 (moto, MinIO) works as the real one does.
s3fs is not used: it pins an aiobotocore that conflicts with the boto3 the project pins.
"""

from __future__ import annotations

import codecs
import csv
import fnmatch
import io
import logging
import re
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from training.data.clean import QUOTED, column_name_fixes, joined_items_advice
from training.exceptions import DataValidationError

if TYPE_CHECKING:
    from collections.abc import Iterable
    from decimal import Decimal

FORMATS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet"}
# A folder named `column=value`: a partitioned dataset's (Spark's `partitionBy`, Hive's, pyarrow's
# `write_to_dataset`), whose files do not hold that column; Hive writes a missing value as its own name.
PARTITION = re.compile(r"([^=]+)=(.*)")
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
# A text file compressed with gzip, as BigQuery, Spark and `gzip` name it (`export-000.csv.gz`): read as it streams.
GZIP_SUFFIX = ".gz"
# A gzip file this small may hold nothing (20 bytes of header and trailer, plus the name `gzip` records): one byte is
# read to tell, where a Hadoop job's empty partition compressed (`part-r-00003.gz`) would otherwise refuse its folder.
SMALL_GZIP_BYTES = 1024
# The text formats, by their field delimiter (a .tsv file is a Google Merchant Center feed's usual form).
DELIMITERS = {"csv": ",", "tsv": "\t"}
# What to do about a file cut by another delimiter than its name says (a comma in every column name: a .tsv that is
# comma-separated, since a .csv is cut by its commas).
DELIMITER_ADVICE = {
    ",": "name it .csv",
    "\t": "name it .tsv, or save it comma-separated",
    ";": "save it comma-separated",
    "|": "save it comma-separated",
    "~": "save it comma-separated",
}
# What to do with a text file that is not UTF-8 (Excel's plain "CSV" is Windows-1252): every reader says it.
SAVE_AS_UTF8 = "save it as UTF-8 (in Excel: 'CSV UTF-8 (Comma delimited)')"
# Excel's tab-delimited 'Unicode Text' is UTF-16, and it saves no tab-delimited UTF-8.
SAVE_TSV_AS_UTF8 = (
    "save it as UTF-8 (Excel's 'Unicode Text' is UTF-16: convert it, e.g. `iconv -f UTF-16 -t UTF-8`, or save it as "
    "'CSV UTF-8 (Comma delimited)' and name it .csv)"
)
# What a file named .csv may really be, by its first bytes (an .xlsx workbook is a ZIP archive; bzip2, zstd and lz4
# are read only under their suffixes).
ARCHIVES = {
    b"\x1f\x8b": "gzip-compressed", b"PK\x03\x04": "a ZIP archive or an Excel workbook", b"BZh": "bzip2-compressed",
    b"\x28\xb5\x2f\xfd": "zstd-compressed", b"\x04\x22\x4d\x18": "lz4-compressed",
}  # fmt: skip
# pandas' C parser on a row with more fields than the header ("Expected 12 fields in line 101, saw 13").
FIELD_COUNT = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
# pandas' C parser on a quote that no later quote closes; its row counts the header as 0.
OPEN_QUOTE = re.compile(r"EOF inside string starting at row (\d+)")
# How many rows below a text file's first line are searched for its real header (`misplaced_header_hint`).
HEADER_SEARCH_ROWS = 10
# UTF-8's byte-order mark as text, as a tool may write it into the first field, inside its quotes.
BOM = "\ufeff"
# The byte-order marks a UTF-16 or UTF-32 file starts with (Excel's "Unicode Text" export, Windows PowerShell 5's `>`),
# UTF-32's first: its little-endian one starts with UTF-16's.
BYTE_ORDER_MARKS = {
    b"\xff\xfe\x00\x00": "UTF-32", b"\x00\x00\xfe\xff": "UTF-32", b"\xff\xfe": "UTF-16", b"\xfe\xff": "UTF-16",
}  # fmt: skip
# Names in a folder that are no data (hidden files and folders; Spark's _SUCCESS, Parquet's _metadata, __MACOSX).
IGNORED_PREFIXES = (".", "_")
# Files beside the data that are never data, whatever the folder: Windows' thumbnails and folder settings, Athena's
# result metadata (`….csv.metadata`), the folder markers of EMR and the S3 console (`…_$folder$`).
SIDECAR = re.compile(r"(?i)(?:^|/)(?:thumbs\.db|desktop\.ini)$|\.metadata$|_\$folder\$$")
# Parquet's integer types as pandas' nullable ones, which hold a missing value without turning to float64; booleans
# likewise (`_typed_column`).
NULLABLE_TYPES = {
    pa.int8(): pd.Int8Dtype(), pa.int16(): pd.Int16Dtype(), pa.int32(): pd.Int32Dtype(), pa.int64(): pd.Int64Dtype(),
    pa.uint8(): pd.UInt8Dtype(), pa.uint16(): pd.UInt16Dtype(), pa.uint32(): pd.UInt32Dtype(),
    pa.uint64(): pd.UInt64Dtype(), pa.bool_(): pd.BooleanDtype(),
}  # fmt: skip
# The largest whole number a float64 holds exactly: a decimal id column beyond it is never read as floats.
EXACT_FLOAT_INTEGER = 2**53
# The longest CSV line read. A row the API would take is far shorter (a few fields of ≤ 2,000 characters); a
# longer line is refused after reading at most this much of it, so one 2 GB line cannot take the machine down.
MAX_LINE_BYTES = 4 << 20
# What ends a line: "\n", "\r\n", and "\r" alone (old Mac exports), as pandas reads them.
LINE_BREAK = re.compile(rb"\r\n?|\n")
READ_BYTES = 1 << 16
# Where a user finds how a config maps a file's columns.
CONFIGS = "configs/*.yaml shows how"
# A first-line cell that is a listing's value, not a column's name (`headerless_hint`): a title of this many words
# or more, or a number, a price or a path of category ids.
HEADERLESS_WORDS = 5
DATA_CELL = re.compile(r"[-+]?\d+(?:[.,]\d+)?|\d+(?:\s*[>/|]\s*\d+)+")

logger = logging.getLogger(__name__)


def catalogue_files(data: str) -> tuple[pafs.FileSystem, list[str]]:
    """The CSV/TSV/Parquet files `data` names: a file, a glob (`*` in the last part) or a folder, local or s3://.

    An empty file in a folder or glob is left out, with a warning: a shard with no rows, as Hadoop and Spark jobs
    write for an empty partition (`part-00003`, or `part-00003.csv.gz` compressed), holds nothing to read. Named
    on its own, it is refused.

    Raises:
        DataValidationError: Nothing readable matches, or every file that does is empty.
    """
    location = data if "://" in data else str(Path(data).resolve())
    pattern = None
    if "*" in PurePosixPath(location).name:
        location, pattern = str(PurePosixPath(location).parent), PurePosixPath(location).name
        if "://" in data:
            location = data.rsplit("/", 1)[0]
    try:
        filesystem, root = pafs.FileSystem.from_uri(location)
        info = filesystem.get_file_info(root)
    except (OSError, ValueError) as exc:
        raise DataValidationError(f"cannot open {data}: {exc}") from exc
    listed: dict[str, pafs.FileInfo] = {}  # a folder's files, of which the empty ones are left out
    if info.type == pafs.FileType.File and pattern is None:
        candidates = [root]
    elif info.type == pafs.FileType.Directory:
        selector = pafs.FileSelector(root, recursive=pattern is None)
        files_found = [item for item in filesystem.get_file_info(selector) if item.is_file]
        listed = {item.path: item for item in files_found if not ignored_below(item.path, root)}
        candidates = sorted(listed)
    else:
        raise DataValidationError(f"data not found: {data}")
    named = [path for path in candidates if pattern is None or fnmatch.fnmatch(PurePosixPath(path).name, pattern)]
    inside = {path: path.removeprefix(root).lstrip("/") for path in named}
    empty = {path for path in named if path in listed and _empty(filesystem, listed[path])}
    skipped = [inside[path] for path in named if path in empty]
    named = [path for path in named if path not in empty]
    files = [path for path in named if file_format(path)]
    if not files and skipped:
        raise DataValidationError(f"every file {data} holds is empty: {skipped[:5]}")
    if not files:
        others = sorted({PurePosixPath(path).suffix.lower() for path in named} - {""})
        renamed = "; a comma- or tab-separated .txt file needs only renaming" if ".txt" in others else ""
        # The API's captured traffic is no catalogue: it has no labels to train on, and its own commands.
        captured = (
            "; captured traffic (.jsonl) is read by make review-queue and make compare" if ".jsonl" in others else ""
        )
        saved = f"save them as .csv, .tsv or .parquet{renamed}{captured}"
        found = f" (found {', '.join(others[:5])} files: {saved})" if others else ""
        raise DataValidationError(f"no CSV, TSV or Parquet files match {data}{found}")
    unread = [inside[path] for path in named if path not in files and not SIDECAR.search(path)]
    if unread:
        # Their rows would be left out without a word: a `b.csv.gz` beside `a.csv` is half the catalogue.
        suffix = Counter(_suffix(path) for path in files).most_common(1)[0][0]
        nested = any("/" in relative for relative in inside.values())
        glob = "" if nested else f", or name the files to read with a glob ('{location.rstrip('/')}/*{suffix}')"
        raise DataValidationError(
            f"{data} holds {len(unread)} file(s) that are not CSV, TSV or Parquet and would not be read: "
            f"{unread[:5]}; save them as .csv, .tsv or .parquet, or move them out{glob}"
        )
    if skipped:
        logger.warning("%s: left out %d empty file(s): %s", data, len(skipped), skipped[:5])
    return filesystem, files


def _empty(filesystem: pafs.FileSystem, item: pafs.FileInfo) -> bool:
    """Whether a listed file holds no bytes, or (a small .gz file) no bytes once decompressed. A .gz file that is no
    gzip data is not empty: reading it says what it is."""
    if item.size == 0:
        return True
    if item.size is None or item.size > SMALL_GZIP_BYTES or not item.path.lower().endswith(GZIP_SUFFIX):
        return False
    try:
        with _open(filesystem, item.path) as stream:
            return not stream.read(1)
    except (OSError, pa.ArrowInvalid):
        return False


def ignored_below(path: str, root: str) -> bool:
    """Whether a file found in the folder `root` is one no export means as data: its name, or a folder's it is in
    below `root`, starts with "." or "_" (`.ipynb_checkpoints/`, `__MACOSX/._export.csv`, `_SUCCESS`), the names
    pyarrow's datasets and Spark skip. A file named on its own is always read."""
    inside = PurePosixPath(path).relative_to(root) if path.startswith(root) else PurePosixPath(PurePosixPath(path).name)
    return any(part.startswith(IGNORED_PREFIXES) for part in inside.parts)


def read_file(
    path: str, filesystem: pafs.FileSystem, *, required: Iterable[str] = (), flat: Iterable[str] = ()
) -> pd.DataFrame:
    """One file as a frame; CSV cells as text, so ids such as "007" keep their zeros.

    Args:
        path: The file, on `filesystem`.
        filesystem: Where it lies.
        required: Columns the caller reads: each must be present, flat (not a nested Parquet type) and unique.
        flat: Columns the caller reads where present (optional inputs): each must be flat.

    Raises:
        DataValidationError: The file cannot be read or parsed, has a line over MAX_LINE_BYTES, duplicate or
            missing columns, or a nested column among `required`; the message names the file.
    """
    required = list(dict.fromkeys(required))
    try:
        with _open(filesystem, path) as handle:
            delimiter = _delimiter(path)
            if delimiter:
                stream = _BoundedLines(handle, path, delimiter)
                try:
                    frame = pd.read_csv(stream, sep=delimiter, dtype=str, keep_default_na=False, na_values=[""])
                except pd.errors.ParserError as exc:
                    hint = delimiter_hint(stream.header_names())
                    reason = _parser_reason(exc, path, filesystem, delimiter, cut=bool(hint))
                    raise DataValidationError(f"cannot read {path}: {reason or unreadable_reason(exc)}{hint}") from exc
                frame = trailing_fields_restored(frame, stream.header_names(), path)
                rows = frame.head(HEADER_SEARCH_ROWS)  # with every column: a title line's blank cells drop them
                frame, names = _header(frame, stream, path)
                _check_whole(frame, stream.unterminated_fields(), path)
            else:
                # ParquetFile, not read_table: the dataset reader fails on two columns of one name before
                # _check_names can say so.
                table = pq.ParquetFile(handle).read()
                _check_flat(table.schema, [*required, *flat], path)
                # Without pandas' metadata, a frame saved with an index (set_index("sku")) keeps it as a column.
                # Integers stay integers where a value is missing: as float64 a 19-digit id would be rounded.
                # Dates as datetime64, booleans with gaps as pandas' boolean, bytes as Arrow's: never object columns,
                # which Dask turns into text ("True", "2024-01-01") that training would then take as ids.
                frame = table.to_pandas(ignore_metadata=True, types_mapper=_typed_column, date_as_object=False)
                names = list(table.schema.names)
                frame = _decimals_as_text(frame, table.schema)
                rows = None  # Parquet's columns are its schema's: no line holds a header
    except pd.errors.EmptyDataError as exc:
        raise DataValidationError(f"data file is empty: {path}") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, pa.ArrowInvalid, pa.ArrowMemoryError, OSError) as exc:
        raise DataValidationError(f"cannot read {path}: {unreadable_reason(exc, path, filesystem)}") from exc
    partitions = {name: value for name, value in partition_values(path).items() if name not in frame.columns}
    if partitions:
        frame = frame.assign(
            **{name: pd.Series(value, index=frame.index, dtype=object) for name, value in partitions.items()}
        )
        names += list(partitions)
    _check_names(names, frame.columns, required, path, rows=rows)
    return frame


def _check_whole(frame: pd.DataFrame, last: tuple[str, int] | None, path: str) -> None:
    """A text file must not end in a row cut short: a last line without a line break after it, with fewer fields
    than the header, where no row before it lacks all the fields it lacks (a download, copy or export stopped
    mid-row; pandas fills the fields a row lacks as missing). An export that leaves out trailing empty fields leaves
    rows so on other lines too, and is read as written.

    Raises:
        DataValidationError: The last row is cut short.
    """
    if last is None or last[1] >= frame.shape[1] or len(frame) < 2:
        return
    line, fields = last
    if not frame.iloc[:-1, fields:].isna().all(axis=1).any():
        raise DataValidationError(
            f"{path}: its last line has {fields} of the header's {frame.shape[1]} fields and no line break after it "
            f"({line[:80]!r}), where every row before it has some of the rest: the file looks cut short (a "
            "download, copy or export stopped mid-row); get it whole again, or delete that line"
        )


def partition_values(path: str) -> dict[str, str | None]:
    """The columns a file's folders hold (`Category Label=TVs/part-0.parquet`), as a partitioned dataset writes them:
    names and values URL-decoded, Hive's missing value as missing. A column the file holds itself is the file's."""
    found: dict[str, str | None] = {}
    for part in PurePosixPath(path).parent.parts:
        if named := PARTITION.fullmatch(part):
            found[unquote(named[1])] = None if named[2] == HIVE_NULL else unquote(named[2])
    return found


def _decimals_as_text(frame: pd.DataFrame, schema: pa.Schema) -> pd.DataFrame:
    """Parquet decimal columns (Spark's and Oracle's ids: decimal(20,0); prices: decimal(10,2)): a column of whole
    values as their integer text ("127", not "127.00": the API reads a JSON 127 as "127"), any other as float64, which
    a string input refuses for its fractions as training refuses a float id's, unless a value is beyond 2^53, where
    floats would round ids into one another: then each value as its text. Decimal objects would reach the engines as
    "127.00" (Dask turns object columns into strings)."""
    for position, kind in enumerate(schema.types):
        if pa.types.is_decimal(kind):
            values = frame.iloc[:, position]
            present = values.dropna()
            if present.map(lambda value: value == value.to_integral_value()).all():
                typed = values.map(_whole_text, na_action="ignore").astype(object)
            elif present.map(lambda value: abs(value) <= EXACT_FLOAT_INTEGER).all():
                typed = values.astype("float64")
            else:  # beyond 2^53 a float rounds ids into one another: each value as it is written
                typed = values.map(_decimal_text, na_action="ignore").astype(object)
            frame.isetitem(position, typed)
    return frame


def _whole_text(value: Decimal) -> str:
    """A whole decimal as its integer text."""
    return str(int(value))


def _decimal_text(value: Decimal) -> str:
    """A decimal as plain text: a whole one as its integer, any other without trailing zeros or an exponent."""
    return _whole_text(value) if value == value.to_integral_value() else format(value.normalize(), "f")


def _typed_column(kind: pa.DataType) -> Any:
    """The pandas type a Parquet column is read as: pandas' nullable integers and booleans, Arrow's own for bytes and
    times (never an object column); None for pyarrow's default."""
    if kind in NULLABLE_TYPES:
        return NULLABLE_TYPES[kind]
    return pd.ArrowDtype(kind) if is_bytes(kind) or pa.types.is_time(kind) else None


def is_bytes(kind: pa.DataType) -> bool:
    """Whether a Parquet column holds raw bytes (binary of any width): no text until it is decoded."""
    return pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or pa.types.is_fixed_size_binary(kind)


def check_files(
    files: list[str], filesystem: pafs.FileSystem, *, required: Iterable[str], flat: Iterable[str] = ()
) -> dict[str, list[str]]:
    """Every file's header has the required columns, unique, and those and the `flat` ones (read where present) flat:
    read before any work starts (a few bytes each).

    Returns:
        Each file's columns.

    Raises:
        DataValidationError: Naming the first file that is unreadable or lacks a column.
    """
    required = list(dict.fromkeys(required))
    columns: dict[str, list[str]] = {}
    for path in files:
        try:
            with _open(filesystem, path) as handle:
                delimiter = _delimiter(path)
                if delimiter:
                    stream = _BoundedLines(handle, path, delimiter)
                    header = pd.read_csv(stream, sep=delimiter, dtype=str, nrows=0)
                    header, names = _header(header, stream, path)
                    found = header.columns
                else:
                    schema = pq.read_schema(handle)
                    _check_flat(schema, [*required, *flat], path)
                    found, names = pd.Index(schema.names), list(schema.names)
            partitions = [name for name in partition_values(path) if name not in found]
            found, names = found.append(pd.Index(partitions)), names + partitions
        except pd.errors.EmptyDataError as exc:
            raise DataValidationError(f"data file is empty: {path}") from exc
        except (pd.errors.ParserError, UnicodeDecodeError, pa.ArrowInvalid, OSError) as exc:
            raise DataValidationError(f"cannot read {path}: {unreadable_reason(exc, path, filesystem)}") from exc
        rows = first_rows(path, filesystem) if any(column not in found for column in required) else None
        _check_names(names, found, required, path, rows=rows)
        columns[path] = [str(name) for name in found]
    return columns


def first_rows(path: str, filesystem: pafs.FileSystem) -> pd.DataFrame | None:
    """A text file's first rows below its first line, every column kept, to look for a header further down
    (`misplaced_header_hint`); no rows where they do not parse, and None for Parquet, which has no lines."""
    delimiter = _delimiter(path)
    if not delimiter:
        return None
    try:
        with _open(filesystem, path) as handle:
            stream = _BoundedLines(handle, path, delimiter)
            return pd.read_csv(stream, sep=delimiter, dtype=str, keep_default_na=False, nrows=HEADER_SEARCH_ROWS)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError, DataValidationError):
        return pd.DataFrame()


def _text_header(stream: _BoundedLines, path: str) -> list[str]:
    """A text file's column names as written, refusing a header of NUL bytes between its letters: UTF-16 or UTF-32
    without a byte-order mark reads as UTF-8 whose every name is missing, which would be reported as such.

    Raises:
        DataValidationError: The header holds NUL bytes.
    """
    names = stream.header_names()
    if any("\x00" in name for name in names):
        raise DataValidationError(
            f"cannot read {path}: its header holds NUL bytes, as UTF-16 or UTF-32 text without a byte-order mark "
            f"does; {_save_as_utf8(path)}"
        )
    return names


def _save_as_utf8(path: str) -> str:
    """How to save a text file as UTF-8, keeping its delimiter."""
    return SAVE_TSV_AS_UTF8 if _delimiter(path) == "\t" else SAVE_AS_UTF8


def _delimiter(path: str) -> str | None:
    """The field delimiter a text file is read by, by its suffix; None for Parquet."""
    return DELIMITERS.get(file_format(path) or "")


def file_format(path: str) -> str | None:
    """The format a file is read as, by its name (`FORMATS`; a .csv.gz or .tsv.gz as its text); None: not read."""
    return FORMATS.get(_suffix(path).removesuffix(GZIP_SUFFIX))


def _suffix(path: str) -> str:
    """A file's format suffix: `.csv` for `a.csv` and for `a.csv.gz` (a gzipped Parquet file is no format)."""
    name = PurePosixPath(path)
    if name.suffix.lower() == GZIP_SUFFIX and DELIMITERS.get(FORMATS.get(name.with_suffix("").suffix.lower(), "")):
        return name.with_suffix("").suffix.lower() + GZIP_SUFFIX
    return name.suffix.lower()


def _open(filesystem: pafs.FileSystem, path: str) -> pa.NativeFile:
    """A file's bytes as they are read: decompressed as they stream for a .gz name."""
    if path.lower().endswith(GZIP_SUFFIX):
        return filesystem.open_input_stream(path, compression="gzip")
    return filesystem.open_input_file(path)


def delimiter_hint(columns: Iterable[Any]) -> str:
    """What to do about a file whose header, as read, is still cut by a delimiter at least once per column ("" when
    not: a comma file may well name a column "Category|Path"): a .csv read by commas, or a .tsv read by tabs, whose
    real delimiter is another."""
    names = [str(column) for column in columns]
    delimiter = next((d for d in DELIMITER_ADVICE if sum(name.count(d) for name in names) >= len(names)), None)
    return f" (the file looks {delimiter!r}-delimited: {DELIMITER_ADVICE[delimiter]})" if delimiter else ""


def trailing_fields_restored(frame: pd.DataFrame, names: list[str], path: str | Path) -> pd.DataFrame:
    """A CSV whose rows all have more fields than its header, read as its header says.

    pandas takes the extra leading fields of such a file for the index and shifts every column by them: an export
    that ends each row with a comma would have its titles read from the column before. Empty extra fields (the
    trailing comma; missing or "", however the file was read) are dropped; extra fields that hold data have no
    column to go to, and the file is refused.

    Raises:
        DataValidationError: Some extra field holds data.
    """
    if isinstance(frame.index, pd.RangeIndex):
        return frame
    extra = frame.index.nlevels
    restored = frame.reset_index()
    restored.columns = pd.Index([*names, *range(extra)])
    trailing = restored.iloc[:, len(names) :].replace("", np.nan)
    if trailing.notna().to_numpy().any():
        row = int(trailing.notna().any(axis=1).to_numpy().argmax())
        one_cell = names and not any(str(n).strip() for n in names[1:])
        cut = delimiter_hint(names).strip(" ()")
        if one_cell and str(names[0]).lower().startswith("sep="):
            advice = "delete its first line, Excel's `sep=` line, so the header comes first"
        elif one_cell and not cut:
            advice = (
                f"its first line ({QUOTED.repr(str(names[0]))}) names one column: if it is a title or a note above "
                "the header, delete the lines above the header so it comes first; else name every column in the header"
            )
        elif restored.iloc[row].astype(str).str.contains("\\", regex=False).any():
            advice = (
                "a field there holds a backslash: the file escapes a quote inside a field as \\\" (MySQL's and "
                "PostgreSQL's text format), which CSV reads as the end of the field; export it as CSV writes a quote "
                'there, doubled ("") (PostgreSQL: COPY ... WITH CSV; pandas: to_csv without escapechar)'
            )
        else:
            advice = cut or "name every column in the header"
        raise DataValidationError(
            f"{path}: its rows have {len(names) + extra} fields but its header names {len(names)} columns, and the "
            f"extra fields hold data (line {row + 2}: {trailing.iloc[row].dropna().tolist()[:3]}); {advice}"
        )
    return restored.iloc[:, : len(names)]


def _header(frame: pd.DataFrame, stream: _BoundedLines, path: str) -> tuple[pd.DataFrame, list[str]]:
    """A text file's frame and column names as written, with a byte-order mark inside the first name's quotes taken
    off (a tool that quotes every field after writing the mark, U+FEFF, into the first; one before the quote is read
    as the encoding's), and the unnamed columns left out (`_without_unnamed`)."""
    names = _text_header(stream, path)
    if names:
        names = [names[0].removeprefix(BOM), *names[1:]]
    if len(frame.columns) and str(frame.columns[0]).startswith(BOM):
        frame = frame.rename(columns={frame.columns[0]: str(frame.columns[0]).removeprefix(BOM)})
    return _without_unnamed(frame, names)


def _without_unnamed(frame: pd.DataFrame, names: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """A CSV's columns without those whose header cell is blank: an Excel export ends its header with empty cells
    for empty columns, which no config can name (pandas would call them "Unnamed: N", numbered per file)."""
    named = [bool(str(name).strip()) for name in names]
    if all(named) or len(named) != frame.shape[1]:
        return frame, names
    return frame.loc[:, named], [name for name, keep in zip(names, named, strict=True) if keep]


def _check_names(
    names: list[str], found: pd.Index, required: list[str], path: str, *, rows: pd.DataFrame | None = None
) -> None:
    """No duplicate column names; every required column present (`rows`, the file's first rows, may show the header
    below the first line)."""
    duplicated = sorted(name for name, count in Counter(names).items() if count > 1)
    if duplicated:
        raise DataValidationError(f"{path}: duplicate column name(s) {duplicated}; give every column its own name")
    missing = [column for column in required if column not in found]
    if missing:
        fixes = column_name_fixes(found, missing)
        shown = f"{list(found)[:20]}" + (f" and {len(found) - 20} more" if len(found) > 20 else "")
        hints = [f"Did you mean {got!r} for {wanted!r}?" for wanted, got in fixes.items()]
        cut = layout_hint(found, missing, rows)
        if len(fixes) < len(missing) and not cut:
            hints.append(f"If the file names them otherwise, pass CONFIG= a config that maps its columns ({CONFIGS}).")
        raise DataValidationError(" ".join([f"{path}: missing column(s) {missing}; found {shown}{cut}.", *hints]))


def layout_hint(found: Iterable[Any], missing: Iterable[str], rows: pd.DataFrame | None) -> str:
    """What the file's layout says to fix when columns are missing, " (…)" or "": a header below the first line,
    when `rows` (a text file's first rows; None for Parquet, which has no lines) show one, else another delimiter,
    else no header line at all. A title line above the header may hold a ';' or '|': the header found below it says
    more."""
    if rows is None:
        return delimiter_hint(found)
    return misplaced_header_hint(rows, missing) or delimiter_hint(found) or headerless_hint(found)


def headerless_hint(found: Iterable[Any]) -> str:
    """ " (…)" when most of the names pandas took from the first line read as a listing's values (a title of five words
    or more, a number, a path of numbers): a file without a header line, as Rakuten's catalogue TSV is; else ""."""
    names = [str(name) for name in found]
    values = [name for name in names if len(name.split()) >= HEADERLESS_WORDS or DATA_CELL.fullmatch(name.strip())]
    if not names or len(values) * 2 <= len(names):
        return ""
    return (
        f" (its first line, {QUOTED.repr(names[:3])}, reads as a listing, not a header: add a header line above it "
        "that names the columns as the config does)"
    )


def misplaced_header_hint(rows: pd.DataFrame, missing: Iterable[str]) -> str:
    """Where the header is when one of a text file's first rows names every column the config misses (an Amazon
    flat file's template rows, or a report's title line, above it): " (…)", else "". pandas took the first line for
    the header, so each column would be missing, and a config that maps them would not help."""
    wanted = {str(name).strip() for name in missing}
    for position in range(len(rows)):
        if wanted <= {str(cell).strip() for cell in rows.iloc[position].tolist()}:
            row = position + 2  # rows as pandas reads them: a blank line is none, a quoted line break joins two
            above = f"delete the {row - 1} row(s) above it, so it comes first"
            return f" (the header looks to be the file's row {row}: {above})"
    return ""


def _check_flat(schema: pa.Schema, required: list[str], path: str) -> None:
    """The columns read must be flat: a list or struct would otherwise be scored as its `str()`."""
    for column in required:
        index = schema.get_field_index(column)
        kind = schema.field(index).type if index >= 0 else None
        if kind is not None and pa.types.is_nested(kind):
            # A list of strings is a warehouse's category path (or tags): one text of its levels is what is read.
            listed = pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)
            of_text = listed and (pa.types.is_string(kind.value_type) or pa.types.is_large_string(kind.value_type))
            advice = f"; {joined_items_advice(column)}" if of_text else ""
            raise DataValidationError(
                f"{path}: column {column!r} is a nested Parquet column ({kind}); it must hold plain text or numbers"
                f"{advice}"
            )


def archive_kind(start: bytes) -> str | None:
    """What a file named .csv really is when its first bytes are an archive's (`ARCHIVES`), else None."""
    return next((kind for magic, kind in ARCHIVES.items() if start.startswith(magic)), None)


def byte_order_mark(start: bytes) -> str | None:
    """The encoding ("UTF-16", "UTF-32") whose byte-order mark a file starts with (`BYTE_ORDER_MARKS`), else None."""
    return next((encoding for mark, encoding in BYTE_ORDER_MARKS.items() if start.startswith(mark)), None)


def unreadable_reason(exc: BaseException, path: str = "", filesystem: pafs.FileSystem | None = None) -> str:
    """Why a file could not be read, on one line; for text that is not UTF-8, what it is or where it stops being
    UTF-8, and what to do about it (the codec's own message gives a position within a block, which names no place in
    the file)."""
    if isinstance(exc, UnicodeDecodeError):
        advice = _save_as_utf8(path)
        start = bytes(exc.object)
        archive = archive_kind(start)
        if archive:
            return f"it is {archive}, not CSV text: decompress it, or export the sheet as CSV"
        encoding = byte_order_mark(start)
        if encoding:
            return f"it is {encoding} text (its first bytes say so); {advice}"
        if b"\x00" in start[:READ_BYTES]:
            return f"it holds NUL bytes, as UTF-16 or UTF-32 text without a byte-order mark does; {advice}"
        found = _first_undecodable_line(path, filesystem) if filesystem is not None else None
        if found:
            where = f"line {found[0]:,} holds byte 0x{found[1]}, which"
        else:
            where = f"byte 0x{exc.object[exc.start : exc.start + 1].hex()}"
        return f"it is not UTF-8 text ({where} cannot be decoded); {advice}"
    if path.lower().endswith(GZIP_SUFFIX) and any(word in str(exc).lower() for word in ("zlib", "compress", "gzip")):
        cause = " ".join(str(exc).split())
        return (
            f"it is named {_suffix(path)} but its bytes are not gzip data, or are cut short ({cause}): compress it "
            "again with gzip, or name it for what it is"
        )
    return " ".join(str(exc).split())


def _parser_reason(
    exc: pd.errors.ParserError, path: str, filesystem: pafs.FileSystem, delimiter: str, *, cut: bool
) -> str | None:
    """pandas' "Expected 12 fields in line 101, saw 13" or "EOF inside string starting at row 2001" in words, by the
    file's own line (pandas counts a record whose quoted field spans lines once), with what causes it; without the
    advice when the file is cut by another delimiter (`cut`: that hint says what to do). None for another parser
    error."""
    quote = OPEN_QUOTE.search(str(exc))
    if quote:
        record = int(quote.group(1)) + 1
        line, _ = _record_line(path, filesystem, delimiter, record) or (record, [])
        return (
            f"the quote that opens a field on line {line:,} is never closed, so every line after it would be read into "
            'that field; close the quote, or remove it (a " that is part of the text, as in 55" TV: put the whole '
            'field in quotes and write that " twice)'
        )
    fields = FIELD_COUNT.search(str(exc))
    if not fields:
        return None
    wanted, record, saw = (int(number) for number in fields.groups())
    line, cells = _record_line(path, filesystem, delimiter, record) or (record, [])
    found = f"line {line:,} has {saw} fields where the rows before it have {wanted}"
    if cut:
        return found
    if len(cells) > wanted and not any(cell.strip() for cell in cells[wanted:]):
        return (
            f"{found}, its last {len(cells) - wanted} empty: delimiters left at the end of the line (a spreadsheet "
            "leaves them where cells beside the table were cleared; a file whose every line ends in them is read), "
            "to delete, or a field holding the delimiter without quotes around it, which moved the fields after it "
            "one place on, to quote"
        )
    return (
        f"{found}: a field holding the delimiter without quotes around it, or a quote opened on an earlier line and "
        "not closed; quote such fields or delete the stray delimiter or quote"
    )


def _record_line(path: str, filesystem: pafs.FileSystem, delimiter: str, record: int) -> tuple[int, list[str]] | None:
    """The file line where record `record` (1-based, the header first) starts and its fields, as Python's csv module
    reads the records; None if the file cannot be read again so."""
    try:
        with _open(filesystem, path) as handle:
            reader = csv.reader(io.TextIOWrapper(handle, encoding="utf-8-sig", newline=""), delimiter=delimiter)
            line = 1
            for number, cells in enumerate(reader, start=1):
                if number == record:
                    return line, cells
                line = reader.line_num + 1
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    return None


def _first_undecodable_line(path: str, filesystem: pafs.FileSystem) -> tuple[int, str] | None:
    """The line where the file stops being UTF-8 and the byte there (hex), read again block by block; None if it
    cannot tell (pandas' own error holds a byte of whichever block it decoded, often of another line).

    Lines are counted by "\n", or by "\r" in a file whose first block has no "\n" (an old Mac export).
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    line, newline = 1, ""
    try:
        with _open(filesystem, path) as handle:
            while chunk := handle.read(READ_BYTES):
                newline = newline or ("\n" if b"\n" in chunk else "\r")
                try:
                    line += decoder.decode(chunk).count(newline)
                except UnicodeDecodeError as exc:
                    block = bytes(exc.object)
                    return line + block[: exc.start].count(newline.encode()), block[exc.start : exc.start + 1].hex()
            decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:  # a character cut short by the end of the file
        return line, bytes(exc.object)[exc.start : exc.start + 1].hex()
    except OSError:
        return None
    return None


class _BoundedLines(io.RawIOBase):
    """A binary stream over a file that fails as soon as one line exceeds MAX_LINE_BYTES; keeps the header, and the
    line being read (at the end, the text after the last line break: `unterminated_fields`)."""

    def __init__(self, handle: pa.NativeFile, path: str, delimiter: str = ",") -> None:
        self._handle = handle
        self._path = path
        self._delimiter = delimiter
        self._header: bytes | None = None
        self._start = b""
        self._last = b""

    def readable(self) -> bool:
        """A read-only stream."""
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        """Read the next block and check the length of every line it ends or continues."""
        chunk = self._handle.read(min(len(buffer), READ_BYTES))
        pieces = LINE_BREAK.split(chunk)
        continued = len(self._last) + len(pieces[0])  # the line the block goes on with
        if self._header is None:
            self._start += pieces[0] if len(self._start) < MAX_LINE_BYTES else b""
            if len(pieces) > 1:
                self._header = self._start
        longest = max([continued, *map(len, pieces[1:])])
        if longest > MAX_LINE_BYTES:
            raise DataValidationError(
                f"{self._path}: a line is longer than {MAX_LINE_BYTES // (1 << 20)} MiB; no listing is that long "
                "(is it the right file, or one whose lines are not separated by newlines?)"
            )
        self._last = pieces[-1] if len(pieces) > 1 else self._last + pieces[0]
        buffer[: len(chunk)] = chunk
        return len(chunk)

    def unterminated_fields(self) -> tuple[str, int] | None:
        """Read to its end, the file's last line when no line break follows it, and its fields; None when one
        does, or the line holds a quote (one cut inside a quoted field is an unclosed quote, refused as such)."""
        last = self._last.decode("utf-8", errors="replace")
        if not last.strip() or '"' in last:
            return None
        return last, len(next(csv.reader([last], delimiter=self._delimiter), []))

    def header_names(self) -> list[str]:
        """The first line's column names as written (before pandas renames a duplicate to `name.1`)."""
        header = (self._header if self._header is not None else self._start).decode("utf-8-sig", errors="replace")
        try:
            return next(csv.reader([header], delimiter=self._delimiter), [])
        except csv.Error:
            return []
