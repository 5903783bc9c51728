"""Read what the classifier captured (`handler.capture`): a local folder or an s3:// prefix, as one frame.

Whatever carried the records there, they read the same: JSON lines written by `make serve CAPTURE=`, the gzip
objects the stack's Firehose stream writes (log messages extracted, one per line), or the raw CloudWatch Logs
subscription envelopes a stream without decompression would store (gzip JSON with the lines in `logEvents`).
Lines that are not capture records (other log lines) are skipped; a record is kept when its time is at or after
`since`. Records that cannot be used are skipped and counted by why (`Captured.skipped`): cut short, of another
record layout, malformed (fields of other types than the handler writes, inputs the API refuses by the served
model's input schema, or text that is not UTF-8: a damaged file), or re-delivered (Firehose and CloudWatch Logs
deliver at least once, and a prefix copied twice holds each record twice; the handler writes each listing's place in
its request, so a listing sent twice in one request is two records, not a re-delivery). A file that holds no capture
record and is no UTF-8 text (an archive, a codec under another suffix, UTF-16 text) is counted too, and named
(`Captured.unreadable`): its records cannot be.
"""

from __future__ import annotations

import gzip
import json
import logging
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import Enum
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import pandas as pd
from pyarrow import fs as pafs
from pydantic import BaseModel, ValidationError

from handler.capture import time_text
from handler.events import all_text_encodes_as_utf8
from handler.schemas import build_product_model
from training.config import MAX_TEXT_LENGTH
from training.data.clean import FLOAT32_MAX
from training.data.sources import FORMATS, archive_kind, byte_order_mark, ignored_below
from training.exceptions import DataValidationError

if TYPE_CHECKING:
    from collections.abc import Iterator

# The record layout this reader knows (`handler.capture.CAPTURE_VERSION`).
CAPTURE_VERSION = 1
GZIP_MAGIC = b"\x1f\x8b"
# The day folders a capture is filed under: Firehose's `year=2026/month=12/day=07/` (template.yaml) or the local
# server's `2026/12/07/` (`handler.capture`).
DAY_FOLDERS = re.compile(r"(?:^|/)(?:year=)?(\d{4})/(?:month=)?(\d{1,2})/(?:day=)?(\d{1,2})/")
NO_TIME = datetime.min.replace(tzinfo=UTC)
# Where an object that failed to parse held this, it was a capture record cut short.
CAPTURE_KEY = '"capture"'
# Why records were skipped (`Captured.skipped`'s keys), as the summaries say it.
SKIPPED_AS = {
    "cut_short": "cut short", "other_layout": f"of another record layout (this reader knows capture {CAPTURE_VERSION})",
    "malformed": "malformed", "redelivered": "re-delivered",
    "unreadable_files": (
        "file(s) of no UTF-8 text, their records uncounted (decompress them, or name them by their codec: .gz, .bz2, "
        ".zst, .lz4; save text as UTF-8)"
    ),
}  # fmt: skip
# Unreadable files named in the summaries, at most.
SHOWN = 3
logger = logging.getLogger(__name__)
# Columns of the frame besides one per model input; the answer's `label` is `model_label` (`label` is what a
# reviewer says).
RECORD_COLUMNS = {
    "listing_id": "listing_id", "time": "time", "request_id": "request_id", "model_version": "model_version",
    "model_label": "label", "confidence": "confidence", "top_k": "top_k", "path": "path", "decision": "decision",
    "decision_level": "decision_level", "decision_label": "decision_label", "target_precision": "target_precision",
}  # fmt: skip


class Cut(Enum):
    """What the readers yield for a capture record cut short (text that does not parse)."""

    RECORD = "cut"


@dataclass(frozen=True)
class Unreadable:
    """What the readers yield for a file that holds no capture record and is no UTF-8 text: where, and what it is."""

    path: str
    why: str


@dataclass(frozen=True)
class Captured:
    """Captured listings: one row per record, with the inputs as columns, and where they were read from."""

    frame: pd.DataFrame
    inputs: list[str]
    source: str
    skipped: dict[str, int] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)

    def skipped_text(self) -> str:
        """The records skipped, by why ("2 cut short, 1 re-delivered"), and the files that could not be read, or ""
        when none were."""
        return _skipped_text(self.skipped, self.unreadable)

    def window(self) -> tuple[str, str] | None:
        """The first and last capture time, or None when nothing was captured (the frame is oldest first)."""
        if self.frame.empty:
            return None
        return str(self.frame["time"].iloc[0]), str(self.frame["time"].iloc[-1])


def read_capture(
    location: str, *, since: datetime | None = None, schema: list[dict[str, Any]] | None = None
) -> Captured:
    """Every capture record under `location` (a folder or s3:// prefix, read recursively), oldest first.

    Args:
        location: A folder or s3:// prefix, or one file.
        since: Only records captured at or after this time.
        schema: The served model's input schema (its metadata's `inputs`, or `input_schema` of its config): a record
            whose inputs the API refuses by it is malformed. None checks only the types the handler writes.

    Raises:
        DataValidationError: The location does not exist, a file cannot be read, or it holds no usable capture
            record (unusable ones are counted, then skipped: see the module docstring).
    """
    usable, skipped, unreadable = _usable(list(_records(location, since)), schema)
    skipped_text = _skipped_text(skipped, unreadable)
    if skipped_text:
        logger.warning(f"capture records skipped: {skipped_text}", extra={"location": location, **skipped})
    # Oldest first by the time itself: "18:00+02:00" is before "17:00Z", which a sort of the text puts first. Those
    # captured before `since` were left out as they were read (`_records`).
    kept = sorted(((_time(record), record) for record in usable), key=lambda pair: pair[0])
    if not kept:
        when = f" since {since.isoformat()}" if since else ""
        skipped_text = f" (skipped: {skipped_text})" if skipped_text else ""
        raise DataValidationError(f"no captured listings{when} under {location}{skipped_text}")
    inputs = list(dict.fromkeys(name for _, record in kept for name in record.get("inputs", {})))
    # Times in the one form the handler writes (UTC), whatever zone a record's was in: they are compared as text
    # downstream (first_seen, last_seen, the window).
    rows = [
        {name: record.get("inputs", {}).get(name) for name in inputs}
        | {column: record.get(key) for column, key in RECORD_COLUMNS.items()}
        | {"time": time_text(moment)}
        for moment, record in kept
    ]
    frame = pd.DataFrame(rows, columns=[*inputs, *RECORD_COLUMNS])
    return Captured(frame=frame, inputs=inputs, source=location, skipped=skipped, unreadable=unreadable)


def is_capture(location: str) -> bool:
    """Whether `location` holds capture records (so `make compare DATA=` compares on live traffic).

    Raises:
        DataValidationError: A file under it cannot be read: neither reader could use the folder.
    """
    try:
        filesystem, _, files = _files(location)
    except DataValidationError:
        return False
    if any(not isinstance(found, Unreadable) for found in _file_records(filesystem, files)):
        return True
    # Captured traffic with no record yet (an empty .jsonl the server made) is still no catalogue: say so as such.
    suffixes = {PurePosixPath(path).suffix.lower() for path in files}
    return ".jsonl" in suffixes and not suffixes & set(FORMATS)


def parse_since(text: str | None) -> datetime | None:
    """SINCE= as an aware time: an ISO date or date-time (UTC unless it says otherwise).

    Raises:
        DataValidationError: It is not one.
    """
    if not text:
        return None
    moment = parse_time(text)
    if moment is None:
        raise DataValidationError(f"SINCE must be an ISO date or time such as 2026-12-01, got {text!r}") from None
    return moment


def parse_time(text: Any) -> datetime | None:
    """A capture time in UTC (read as UTC unless it says otherwise); None for text that is no ISO time, or one
    beyond what UTC can write ('9999-12-31T23:30:00-01:00' is in the year 10000 there). RFC 3339's `z` for UTC may
    be lower-case."""
    try:
        moment = datetime.fromisoformat(re.sub(r"[Zz]$", "+00:00", str(text)))
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        return None


def _usable(
    found: list[dict[str, Any] | Cut | Unreadable], schema: list[dict[str, Any]] | None
) -> tuple[list[dict[str, Any]], dict[str, int], dict[str, str]]:
    """The records this reader can use, each once, how many were skipped by why, and the files that could not be read
    with what each is (see the module docstring)."""
    unreadable = {item.path: item.why for item in found if isinstance(item, Unreadable)}
    read = [item for item in found if not isinstance(item, Unreadable)]
    records = [record for record in read if not isinstance(record, Cut)]
    known = [record for record in records if type(record["capture"]) is int and record["capture"] == CAPTURE_VERSION]
    well_formed = _accepted([record for record in known if _well_formed(record)], schema)
    unique = list({_identity(record): record for record in well_formed}.values())
    skipped = {
        "cut_short": len(read) - len(records),
        "other_layout": len(records) - len(known),
        "malformed": len(known) - len(well_formed),
        "redelivered": len(well_formed) - len(unique),
        "unreadable_files": len(unreadable),
    }
    return unique, skipped, unreadable


def _skipped_text(skipped: dict[str, int], unreadable: dict[str, str]) -> str:
    """Skipped records by why ("2 cut short, 1 re-delivered"), then the files that could not be read, the first
    SHOWN named with what each is; "" when none were."""
    text = ", ".join(f"{count} {SKIPPED_AS[why]}" for why, count in skipped.items() if count)
    named = [f"{path} ({why})" for path, why in list(unreadable.items())[:SHOWN]]
    more = ", …" if len(unreadable) > SHOWN else ""
    return f"{text}: {', '.join(named)}{more}" if named else text


def _records(location: str, since: datetime | None = None) -> Iterator[dict[str, Any] | Cut | Unreadable]:
    """Capture records of every file under `location`, file by file (`Cut.RECORD` for one cut short, `Unreadable`
    for a file that is no text), but those captured before `since`: left unread where a folder's date says the
    whole folder is older (Firehose's `year=/month=/day=` prefixes, the local server's `YYYY/MM/DD`), dropped as
    read otherwise, so a long prefix costs the memory of its window, not of its whole history."""
    filesystem, root, files = _files(location)
    if since is None:
        yield from _file_records(filesystem, files)
        return
    first_day = since.astimezone(UTC).date()
    recent = [path for path in files if (day := _folder_day(path.removeprefix(root))) is None or day >= first_day]
    for found in _file_records(filesystem, recent):
        if not (isinstance(found, dict) and (moment := parse_time(found.get("time"))) and moment < since):
            yield found


def _folder_day(path: str) -> date | None:
    """The day the folders of a capture file name below the capture's location (the day its records arrived: none
    was captured later; the deepest such folders, the ones the capture was filed by), or None."""
    named = next(reversed(list(DAY_FOLDERS.finditer(path))), None)
    if named is None:
        return None
    try:
        return date(*map(int, named.groups()))
    except ValueError:
        return None


def _file_records(filesystem: pafs.FileSystem, files: list[str]) -> Iterator[dict[str, Any] | Cut | Unreadable]:
    """Capture records of these files, in order, of any layout version (`Cut.RECORD` for one cut short). Gzip is
    recognised by its bytes, not by the file's name: a Firehose object is gzip whatever it is called, and a damaged
    one is named as such (a file of another codec that cannot be read is named too). Bytes that are not UTF-8 are
    kept as lone surrogates, so the record holding them is counted malformed rather than read with U+FFFD in its
    text; a file without a record that is no UTF-8 text at all is `Unreadable`, with what it is."""
    for path in files:
        # gzip by its bytes (a Firehose object need not be named .gz); bz2, zstd and lz4 by the file's suffix
        compression = None if path.endswith(".gz") else "detect"
        try:
            with filesystem.open_input_stream(path, compression=compression) as stream:
                data = stream.read()
        except OSError as exc:
            raise DataValidationError(f"cannot read {path}: {exc}") from exc
        if data.startswith(GZIP_MAGIC):
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError) as exc:
                raise DataValidationError(
                    f"{path}: unreadable gzip ({exc}); copy it again, or move it out of the capture (an interrupted "
                    "copy, `aws s3 sync` say, leaves one cut short)"
                ) from exc
        text = data.decode("utf-8", errors="surrogateescape")
        found = [record for value in _json_values(text) for record in _capture_records(value)]
        why = None if found else _not_text(data)
        if why:
            yield Unreadable(path, why)
        yield from found


def _not_text(data: bytes) -> str | None:
    """What a file's bytes are when they are no UTF-8 text, by their first bytes as the catalogue reader names them
    (an archive, a codec read only under its suffix, UTF-16 or UTF-32 by its byte-order mark); None for UTF-8 text
    (another log's lines hold no capture record, and are no loss)."""
    archive = archive_kind(data)
    if archive:
        return archive
    encoding = byte_order_mark(data)
    if encoding:
        return f"{encoding} text, its first bytes say so"
    if b"\x00" in data:
        return "NUL bytes, as UTF-16 or UTF-32 text without a byte-order mark holds"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"byte 0x{data[exc.start : exc.start + 1].hex()} at offset {exc.start:,} is not UTF-8"
    return None


def _files(location: str) -> tuple[pafs.FileSystem, str, list[str]]:
    """The files under a folder or s3:// prefix (or the one file it names), but those no export means as data
    (`ignored_below`: hidden ones, those in hidden folders), and the folder they lie below (the file, for one)."""
    where = location if "://" in location else str(Path(location).resolve())
    try:
        filesystem, root = pafs.FileSystem.from_uri(where)
        info = filesystem.get_file_info(root)
    except (OSError, ValueError) as exc:
        raise DataValidationError(f"cannot open {location}: {exc}") from exc
    if info.type == pafs.FileType.File:
        return filesystem, root, [root]
    if info.type != pafs.FileType.Directory:
        raise DataValidationError(f"capture not found: {location}")
    found = filesystem.get_file_info(pafs.FileSelector(root, recursive=True))
    files = [item.path for item in found if item.is_file and not ignored_below(item.path, root)]
    return filesystem, root, sorted(files)


def _json_values(text: str) -> Iterator[Any]:
    """Each JSON value of the text: one per line, or several back to back (Firehose without a delimiter); `Cut.RECORD`
    for text that does not parse (or nests deeper than Python's recursion limit) where it held a capture record."""
    decoder = json.JSONDecoder()
    position, end = 0, len(text)
    while position < end:
        while position < end and text[position].isspace():
            position += 1
        if position >= end:
            return
        start = position
        try:
            value, position = decoder.raw_decode(text, position)
            if isinstance(value, str) and text[position : position + 2].lstrip().startswith(":"):
                # A member of an object whose opening brace is gone (a record damaged at its start).
                raise json.JSONDecodeError("a member outside an object", text, start)
        except (json.JSONDecodeError, RecursionError):
            # Not JSON from here (another log line, or a record cut short): read on from the next object or line,
            # so a cut record does not take the records written after it on the same line (Firehose's).
            position = start
            starts = [found for found in (text.find("{", position + 1), text.find("\n", position)) if found >= 0]
            resume = min(starts) if starts else end
            if text.startswith(("{", CAPTURE_KEY), position) and CAPTURE_KEY in text[position:resume]:
                yield Cut.RECORD
            position = resume
            continue
        yield value


def _capture_records(value: Any) -> Iterator[dict[str, Any] | Cut]:
    """The capture records in one JSON value (`Cut.RECORD` for one cut short): itself, or the messages of a
    CloudWatch Logs envelope."""
    if isinstance(value, Cut) or _is_capture(value):
        yield value
    elif isinstance(value, dict) and value.get("messageType") == "DATA_MESSAGE":
        events = value.get("logEvents")
        for event in events if isinstance(events, list) else []:
            if not isinstance(event, dict):
                continue
            for message in _json_values(str(event.get("message", ""))):
                if isinstance(message, Cut) or _is_capture(message):
                    yield message


def _is_capture(value: Any) -> bool:
    """A capture record of any layout: an object whose `capture` marker is a whole number, as every layout writes it,
    or another marker (`"1"`, `true`: counted as another layout, not passed over as a line of another log) on an
    object of a record's shape (its `inputs` and `time`); a text cell `{"capture": "4K"}` is no record."""
    if not isinstance(value, dict) or "capture" not in value:
        return False
    return type(value["capture"]) is int or {"inputs", "time"} <= value.keys()


def _identity(record: dict[str, Any]) -> str:
    """What two deliveries of one record share and two records never do (the handler writes the request id and
    the listing's place in it)."""
    return json.dumps(record, sort_keys=True, ensure_ascii=False)


def _well_formed(record: dict[str, Any]) -> bool:
    """Whether the fields the readers use have the types `handler.capture` writes: inputs an object of text, finite
    numbers within float32 (the API refuses any other, so none was answered) and nulls, named apart from the
    record's own fields; the listing id, time and label text; confidence a
    finite number; suggestions and path lists of objects with a text name and a finite number each. Every text must
    be valid Unicode (the API refuses a lone surrogate, so only a damaged file holds one)."""
    top_k, path, inputs = record.get("top_k") or [], record.get("path") or [], record.get("inputs")
    return (
        all_text_encodes_as_utf8(record)
        and isinstance(inputs, dict)
        and not set(inputs) & set(RECORD_COLUMNS)
        and all(value is None or isinstance(value, str) or _number(value) for value in inputs.values())
        and all(isinstance(record.get(key), str) for key in ("listing_id", "time", "label"))
        and _time(record) > NO_TIME
        and _finite(record.get("confidence"))
        and isinstance(top_k, list)
        and all(_named(item, "label", "probability") for item in top_k)
        and isinstance(path, list)
        and all(_named(node, "name", "confidence") for node in path)
    )


def _accepted(records: list[dict[str, Any]], schema: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The records whose inputs the API takes, validated as the API validates a request (`handler.schemas`, built
    from the served model's input `schema`, with the API's own text limit, MAX_TEXT_LENGTH, not the model's): a price
    as text ("12,50") or below 0, an empty title or one over the limit was refused, so never answered, and it would
    stop a challenger's scoring or block training on a corrections file. Only the inputs the capture holds are
    checked: read with another model's config, it lacks some, and no record is at fault for that."""
    if schema is None:
        return records
    held = {name for record in records for name in record["inputs"]}
    specs = [spec for spec in schema if spec["name"] in held]
    product = build_product_model(specs, max_text_length=MAX_TEXT_LENGTH, example=None)
    names = [spec["name"] for spec in specs]
    return [record for record in records if _takes(product, record["inputs"], names)]


def _takes(product: type[BaseModel], inputs: dict[str, Any], names: list[str]) -> bool:
    """Whether the API's request model takes the inputs of these names (a record without one lacks it, as a request
    would)."""
    try:
        product.model_validate({name: inputs[name] for name in names if name in inputs})
    except ValidationError:
        return False
    return True


def _named(item: Any, name: str, number: str) -> bool:
    """An object whose `name` is text and whose `number` is a finite number."""
    return isinstance(item, dict) and isinstance(item.get(name), str) and _finite(item.get(number))


def _number(value: Any) -> bool:
    """A number the API takes as an input: finite and within float32."""
    return _finite(value) and abs(value) <= FLOAT32_MAX


def _finite(value: Any) -> bool:
    """A JSON number that is finite (not a bool, which JSON keeps apart; an integer always is, whatever its size)."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def _time(record: dict[str, Any]) -> datetime:
    """A record's capture time (NO_TIME for one without a time that parses)."""
    return parse_time(record.get("time")) or NO_TIME
