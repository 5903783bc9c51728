"""Read what the classifier captured (`handler.capture`): a local folder or an s3:// prefix, as one frame.

Whatever carried the records there, they read the same: JSON lines written by `make serve CAPTURE=`, the gzip
objects the stack's Firehose stream writes (log messages extracted, one per line), or the raw CloudWatch Logs
subscription envelopes a stream without decompression would store (gzip JSON with the lines in `logEvents`).
Lines that are not capture records (other log lines) are skipped; a record is kept when its time is at or after
`since`.
"""

from __future__ import annotations

import gzip
import json
import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from pyarrow import fs as pafs

from handler.events import encodes_as_utf8
from training.data.sources import ignored_below
from training.exceptions import DataValidationError

if TYPE_CHECKING:
    from collections.abc import Iterator

# The record layout this reader knows (`handler.capture.CAPTURE_VERSION`).
CAPTURE_VERSION = 1
GZIP_MAGIC = b"\x1f\x8b"
NO_TIME = datetime.min.replace(tzinfo=UTC)
logger = logging.getLogger(__name__)
# Columns of the frame besides one per model input; the answer's `label` is `model_label` (`label` is what a
# reviewer says).
RECORD_COLUMNS = {
    "listing_id": "listing_id", "time": "time", "request_id": "request_id", "model_version": "model_version",
    "model_label": "label", "confidence": "confidence", "top_k": "top_k", "path": "path", "decision": "decision",
    "decision_level": "decision_level", "decision_label": "decision_label", "target_precision": "target_precision",
}  # fmt: skip


@dataclass(frozen=True)
class Captured:
    """Captured listings: one row per record, with the inputs as columns, and where they were read from."""

    frame: pd.DataFrame
    inputs: list[str]
    source: str
    malformed: int = 0

    def window(self) -> tuple[str, str] | None:
        """The first and last capture time, or None when nothing was captured."""
        if self.frame.empty:
            return None
        return str(self.frame["time"].min()), str(self.frame["time"].max())


def read_capture(location: str, *, since: datetime | None = None) -> Captured:
    """Every capture record under `location` (a folder or s3:// prefix, read recursively), oldest first.

    Raises:
        DataValidationError: The location does not exist, a file cannot be read, or it holds no well-formed
            capture record (those with fields of other types than the handler writes are counted, then skipped).
    """
    found = list(_records(location))
    well_formed = [record for record in found if _well_formed(record)]
    malformed = len(found) - len(well_formed)
    # Oldest first by the time itself: "18:00+02:00" is before "17:00Z", which a sort of the text puts first.
    dated = sorted(((_time(record), record) for record in well_formed), key=lambda pair: pair[0])
    records = [record for moment, record in dated if since is None or moment >= since]
    if malformed:
        logger.warning("malformed capture records skipped", extra={"records": malformed, "location": location})
    if not records:
        when = f" since {since.isoformat()}" if since else ""
        skipped = f" ({malformed} malformed record(s) skipped)" if malformed else ""
        raise DataValidationError(f"no captured listings{when} under {location}{skipped}")
    inputs = list(dict.fromkeys(name for record in records for name in record.get("inputs", {})))
    rows = [
        {name: record.get("inputs", {}).get(name) for name in inputs}
        | {column: record.get(key) for column, key in RECORD_COLUMNS.items()}
        for record in records
    ]
    frame = pd.DataFrame(rows, columns=[*inputs, *RECORD_COLUMNS])
    return Captured(frame=frame, inputs=inputs, source=location, malformed=malformed)


def is_capture(location: str) -> bool:
    """Whether `location` holds capture records (so `make compare DATA=` compares on live traffic).

    Raises:
        DataValidationError: A file under it cannot be read: neither reader could use the folder.
    """
    try:
        filesystem, files = _files(location)
    except DataValidationError:
        return False
    return next(_file_records(filesystem, files), None) is not None


def parse_since(text: str | None) -> datetime | None:
    """SINCE= as an aware time: an ISO date or date-time (UTC unless it says otherwise).

    Raises:
        DataValidationError: It is not one.
    """
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise DataValidationError(f"SINCE must be an ISO date or time such as 2026-12-01, got {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _records(location: str) -> Iterator[dict[str, Any]]:
    """Capture records of every file under `location`, file by file."""
    return _file_records(*_files(location))


def _file_records(filesystem: pafs.FileSystem, files: list[str]) -> Iterator[dict[str, Any]]:
    """Capture records of these files, in order. Gzip is recognised by its bytes, not by the file's name: a
    Firehose object is gzip whatever it is called, and a damaged one is named as such (a file of another codec
    that cannot be read is named too)."""
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
                raise DataValidationError(f"{path}: unreadable gzip ({exc})") from exc
        for value in _json_values(data.decode("utf-8", errors="replace")):
            yield from _capture_records(value)


def _files(location: str) -> tuple[pafs.FileSystem, list[str]]:
    """The files under a folder or s3:// prefix (or the one file it names), but those no export means as data
    (`ignored_below`: hidden ones, those in hidden folders)."""
    where = location if "://" in location else str(Path(location).resolve())
    try:
        filesystem, root = pafs.FileSystem.from_uri(where)
        info = filesystem.get_file_info(root)
    except (OSError, ValueError) as exc:
        raise DataValidationError(f"cannot open {location}: {exc}") from exc
    if info.type == pafs.FileType.File:
        return filesystem, [root]
    if info.type != pafs.FileType.Directory:
        raise DataValidationError(f"capture not found: {location}")
    found = filesystem.get_file_info(pafs.FileSelector(root, recursive=True))
    files = [item.path for item in found if item.is_file and not ignored_below(item.path, root)]
    return filesystem, sorted(files)


def _json_values(text: str) -> Iterator[Any]:
    """Each JSON value of the text: one per line, or several back to back (Firehose without a delimiter)."""
    decoder = json.JSONDecoder()
    position, end = 0, len(text)
    while position < end:
        while position < end and text[position].isspace():
            position += 1
        if position >= end:
            return
        try:
            value, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError:
            # Not JSON from here (another log line, or a record cut short): read on from the next object or line,
            # so a cut record does not take the records written after it on the same line (Firehose's).
            starts = [found for found in (text.find("{", position + 1), text.find("\n", position)) if found >= 0]
            position = min(starts) if starts else end
            continue
        yield value


def _capture_records(value: Any) -> Iterator[dict[str, Any]]:
    """The capture records in one JSON value: itself, or the messages of a CloudWatch Logs envelope."""
    if not isinstance(value, dict):
        return
    if value.get("capture") == CAPTURE_VERSION:
        yield value
    elif value.get("messageType") == "DATA_MESSAGE" and isinstance(value.get("logEvents"), list):
        for event in value["logEvents"]:
            if not isinstance(event, dict):
                continue
            for message in _json_values(str(event.get("message", ""))):
                if isinstance(message, dict) and message.get("capture") == CAPTURE_VERSION:
                    yield message


def _well_formed(record: dict[str, Any]) -> bool:
    """Whether the fields the readers use have the types `handler.capture` writes: inputs an object of text, finite
    numbers and nulls, named apart from the record's own fields; the listing id, time and label text; confidence a
    finite number; suggestions and path lists of objects with a text name and a finite number each. Text must be
    valid Unicode (the API refuses a lone surrogate, so only a damaged file holds one)."""
    top_k, path, inputs = record.get("top_k") or [], record.get("path") or [], record.get("inputs")
    return (
        isinstance(inputs, dict)
        and not set(inputs) & set(RECORD_COLUMNS)
        and all(value is None or _finite(value) or _text(value) for value in inputs.values())
        and all(_text(record.get(key)) for key in ("listing_id", "time", "label"))
        and _time(record) > NO_TIME
        and _finite(record.get("confidence"))
        and isinstance(top_k, list)
        and all(_named(item, "label", "probability") for item in top_k)
        and isinstance(path, list)
        and all(_named(node, "name", "confidence") for node in path)
    )


def _named(item: Any, name: str, number: str) -> bool:
    """An object whose `name` is text and whose `number` is a finite number."""
    return isinstance(item, dict) and isinstance(item.get(name), str) and _finite(item.get(number))


def _text(value: Any) -> bool:
    """Text that can be written as UTF-8 (a lone surrogate cannot), as the handler checks its events' text."""
    return isinstance(value, str) and encodes_as_utf8(value)


def _finite(value: Any) -> bool:
    """A JSON number that is finite (not a bool, which JSON keeps apart)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _time(record: dict[str, Any]) -> datetime:
    """A record's capture time, UTC unless it says otherwise (NO_TIME for one without a time that parses)."""
    try:
        moment = datetime.fromisoformat(str(record["time"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return NO_TIME
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
