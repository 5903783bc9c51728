"""What a person should label first, out of captured traffic (`make review-queue`).

Each captured listing (deduplicated by `listing_id`, the digest of its inputs; the latest answer kept, with how
often and when it was seen) is queued for every reason that applies, in this order of priority:

- `review`: the live model sent it to review, at the target precision it answered at (the deployment's, or the
  caller's own `target_precision`);
- `challenger`: a challenger model (B=) answers differently, so labelling it decides between them;
- `new_<field>`: a brand, seller or other hashed field the training catalogue never had;
- `low_confidence`: the live model's confidence is under the threshold.

Listings with more reasons come first, then by their strongest reason, then by lower confidence; a listing with
no reason is not queued. Each row carries the live model's top three suggestions and path, so a reviewer picks
a label rather than types it, and an empty `label` column to fill in for `make train CORRECTIONS=`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pyarrow import fs as pafs

from training.data.sources import FORMATS, delimiter_hint, read_file
from training.exceptions import DataValidationError
from training.text import without_dropped

if TYPE_CHECKING:
    from collections.abc import Sequence

    from training.feedback.capture import Captured

REASONS = ("review", "challenger", "new", "low_confidence")
SUGGESTIONS = 3
# The column a reviewer fills in; `make train CORRECTIONS=` reads it.
LABEL_COLUMN = "label"
# What makes a spreadsheet take a text cell for a formula (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# What `spreadsheet_safe` writes after a `'`: those, and a `'` itself (so one `'` always comes off again).
QUOTED_STARTS = (*FORMULA_STARTS, "'")
# Text a spreadsheet turns into a number, a date, a time or a truth value, and saves so: a seller id 000123 as 123, a
# listing id of 20 digits as 1.23457E+19 (one of about 12,000 hex digests is all digits), 1e5 as 100000, (123) as
# -123, 3/4, 5-Jan, 12 May and SEPT2 (a month and a day run together, as gene names taught the world) as dates, 12 PM
# as a time, TRUE as a truth value.
_NUMBER = r"[$€£¥]?[\d.,]*\d[\d.,]*(?:[eE][+-]?\d+)?%?"
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?"
    r"|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DATE = (
    rf"\d+[/-]\d+(?:[/-]\d+)?|\d{{1,2}}[-\s/]{_MONTH}(?:[-\s/,]+\d{{1,4}})?"
    rf"|{_MONTH}[-\s/]?\d{{1,4}}(?:[-\s/,]+\d{{1,4}})?"
)
_TIME = r"(?:\d+:\d+(?::\d+)?(?:\s*[ap]\.?m\.?)?|\d{1,2}\s*[ap]\.?m\.?)"
SPREADSHEET_VALUE = re.compile(
    rf"\s*(?:{_NUMBER}|\(\s*{_NUMBER}\s*\)|\d+\s+\d+/\d+|(?:{_DATE})(?:[\sT]+{_TIME})?|{_TIME}|true|false)\s*",
    re.IGNORECASE,
)


def read_review_file(path: str | Path, role: str, *, required: Sequence[str]) -> pd.DataFrame:
    """A review queue as a reviewer saved it, every cell text and a blank one "": what `make train CORRECTIONS=`
    and `make compare REVIEWED=` (`role`) read. It is read as a catalogue is (`training.data.sources.read_file`: by its
    suffix, comma or tab, a BOM and any line end; two columns of one name, two reviewers' `label` say, refused), and
    a cell the queue wrote spreadsheet-safe (`'=…`) reads as it was captured (`spreadsheet_safe`).

    Raises:
        DataValidationError: The file is missing, empty, not CSV/TSV/Parquet or not UTF-8 text, a row has more fields
            than the others, its rows hold data beyond its header, two columns share a name, or it lacks a `required`
            column (with a hint when another delimiter than the comma cuts its header).
    """
    location = Path(path)
    expected = f"the review queue with `{LABEL_COLUMN}` filled in"
    if location.is_dir():
        raise DataValidationError(
            f"{role} {path} is a folder: name its files, comma-separated ({role}=round1.csv,round2.csv, oldest first)"
        )
    if not location.is_file():
        raise DataValidationError(f"{role} file not found: {path} ({expected})")
    if location.suffix.lower() not in FORMATS:
        raise DataValidationError(
            f"{role} {path}: save it as CSV (.csv), as `make review-queue` wrote it; {location.suffix or 'no'} "
            "suffix is no format this reads"
        )
    try:
        frame = read_file(str(location.resolve()), pafs.LocalFileSystem())
    except DataValidationError as exc:
        raise DataValidationError(f"{role} {exc}") from None
    missing = [column for column in required if column not in frame.columns]
    if missing:
        near = [f"{found!r} for {column!r}" for column in missing for found in frame.columns
                if str(found).strip().lower() == column.lower()]  # fmt: skip
        renamed = f" (the header has {', '.join(near)}: name it exactly so)" if near else ""
        raise DataValidationError(
            f"{role} {path}: missing column(s) {missing}{renamed}; pass {expected}, as `make review-queue` wrote it, "
            "with every column (an input the captured listings never had: add it with empty cells)"
            f"{delimiter_hint(frame.columns)}"
        )
    return frame.astype(object).where(frame.notna(), "").map(lambda cell: _as_captured(str(cell)))


def labelled_rows(table: pd.DataFrame, role: str, path: str | Path) -> pd.DataFrame:
    """The rows of a review file (`read_review_file`) a reviewer labelled: a label of invisible characters alone (a
    zero-width space) is no label, as the catalogue's are read, for training and `make compare` alike.

    Raises:
        DataValidationError: No row is labelled.
    """
    labelled = table[table[LABEL_COLUMN].map(lambda label: without_dropped(label).strip() != "")]
    if labelled.empty:
        raise DataValidationError(
            f"{role} {path}: no row has a `{LABEL_COLUMN}`; fill in the label of the listings you reviewed"
        )
    return labelled


def canonical_labels(labels: pd.Series, aliases: dict[str, str]) -> pd.Series:
    """A reviewer's labels as training reads the catalogue's: outer spaces off, then `data.label_aliases`."""
    return labels.str.strip().replace(aliases)


def save_for_spreadsheets(frame: pd.DataFrame, path: Path) -> None:
    """Write a CSV a person opens in a spreadsheet: `spreadsheet_safe`, and with a BOM, so Excel opens it as UTF-8
    (without one it reads the text in the Windows code page, which mangles every title beyond ASCII a reviewer then
    saves back); every reader here, and pandas, skips it."""
    spreadsheet_safe(frame).to_csv(path, index=False, encoding="utf-8-sig")


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with every text cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab or carriage
    return first) written after a `'`, as OWASP advises for CSV files opened in Excel: captured listings are what
    anyone sent the API. So is text a spreadsheet would turn into a number or a date (`SPREADSHEET_VALUE`), which
    it would save changed. A cell that starts with `'` gets one more, so `read_review_file`, which takes one off
    again, reads every cell as it was captured, whether the spreadsheet kept the added `'` or not, but for one kind:
    a captured `'` before such text (`'123`, `'=x`) loses that `'` where the spreadsheet drops the added one."""
    return frame.map(lambda cell: f"'{cell}" if isinstance(cell, str) and _quoted(cell) else cell)


def _quoted(cell: str) -> bool:
    """Whether `spreadsheet_safe` writes the text cell after a `'`."""
    return cell.startswith(QUOTED_STARTS) or SPREADSHEET_VALUE.fullmatch(cell) is not None


def _as_captured(cell: str) -> str:
    """A cell as captured: without the one `'` that `spreadsheet_safe` put before it."""
    return cell[1:] if cell.startswith("'") and _quoted(cell[1:]) else cell


def latest_listings(captured: Captured, *, challenger_version: str | None = None) -> pd.DataFrame:
    """One row per listing: its latest record, with times_seen, first_seen and last_seen (the frame is oldest first,
    by the time itself: the text of times in two zones does not sort).

    With `challenger_version`, the version a challenger answers as, a listing's record is the latest another version
    answered where there is one: the queue reads the live model's answers (its decisions, its confidence, its label
    against the challenger's), and while a canary serves the challenger beside it, the challenger's own records are
    not the live model's; they would always agree with it, and hide every listing the two answer differently.
    """
    frame = captured.frame
    seen = frame.groupby("listing_id", sort=False)["time"].agg(["size", "first", "last"])
    if challenger_version is not None:
        by_challenger = frame["model_version"].astype(str).eq(challenger_version).to_numpy()
        frame = pd.concat([frame[by_challenger], frame[~by_challenger]])
    latest = frame.drop_duplicates("listing_id", keep="last").set_index("listing_id")
    latest["times_seen"] = seen["size"]
    latest["first_seen"] = seen["first"]
    latest["last_seen"] = seen["last"]
    return latest.reset_index()


def build_review_queue(
    captured: Captured,
    *,
    known: dict[str, set[str]],
    challenger: list[str] | None,
    low_confidence: float,
    limit: int,
    reviewed: frozenset[str] = frozenset(),
    challenger_version: str | None = None,
) -> tuple[pd.DataFrame, int]:
    """The listings to label first, best first (see the module docstring), and how many had a reason to be.

    Args:
        captured: What the classifier captured.
        known: Per hashed input (brand, seller, ...), the values of the training catalogue.
        challenger: The challenger's label of each of `latest_listings(captured, challenger_version=…)`'s rows, or
            None.
        reviewed: Listings labelled already (those the challenger was given as corrections): never queued.
        challenger_version: The version the challenger answers as (see `latest_listings`).
        low_confidence: Confidence under which an answer is queued.
        limit: Most rows returned (only those are laid out for the reviewer).
    """
    listings = latest_listings(captured, challenger_version=challenger_version)
    reasons = pd.DataFrame(index=listings.index)
    reasons["review"] = listings["decision"].eq("review")
    reasons["leaf_review"] = accepted_above_category(
        listings["decision"], listings["decision_label"], listings["model_label"]
    )
    reasons["challenger"] = (
        pd.Series(challenger, index=listings.index).ne(listings["model_label"]) if challenger is not None else False
    )
    new = pd.Series("", index=listings.index)
    for field, values in known.items():
        if field in listings:
            text = listings[field].fillna("").astype(str).str.strip()
            is_new = text.ne("") & ~text.isin(values)
            new = new.where(~is_new, new + np.where(new.eq(""), "", ";") + f"new_{field}")
    reasons["new"] = new.ne("")
    reasons["low_confidence"] = listings["confidence"].astype(float) < low_confidence
    reasons.loc[listings["listing_id"].isin(reviewed).to_numpy()] = False
    parts = zip(
        np.where(reasons["review"], "review", ""),
        np.where(reasons["leaf_review"], "leaf_review", ""),
        np.where(reasons["challenger"], "challenger", ""),
        new.to_numpy(),
        np.where(reasons["low_confidence"], "low_confidence", ""),
        strict=True,
    )
    named = [";".join(part for part in row if part) for row in parts]
    strongest = reasons.to_numpy().argmax(axis=1)
    listings = listings.assign(
        reasons=named,
        challenger_label=challenger if challenger is not None else None,
        _count=reasons.sum(axis=1).to_numpy(),
        _strongest=strongest,
    )
    queued = listings[listings["_count"] > 0].sort_values(
        ["_count", "_strongest", "confidence"], ascending=[False, True, True], kind="stable"
    )
    return _reviewer_columns(queued.head(limit), captured.inputs), len(queued)


def accepted_above_category(decision: pd.Series, decision_label: pd.Series, label: pd.Series) -> pd.Series:
    """Which answers were accepted at a level above their category ("right department, unsure leaf"): the
    department is filed, and the category goes to review. A decision that names no level (a record of a model
    without operating points) is the category's."""
    return decision.eq("accept") & decision_label.fillna(label).ne(label)


def _reviewer_columns(queued: pd.DataFrame, inputs: list[str]) -> pd.DataFrame:
    """The queue as a reviewer reads it: why, the listing, an empty label, then what the model suggests."""
    suggestions: dict[str, list[Any]] = {}
    for rank in range(1, SUGGESTIONS + 1):
        suggestions[f"suggestion_{rank}"] = [_top(top, rank - 1, "label") for top in queued["top_k"]]
        suggestions[f"suggestion_{rank}_probability"] = [_top(top, rank - 1, "probability") for top in queued["top_k"]]
    path = [" > ".join(f"{n['name']} ({n['confidence']:.2f})" for n in nodes or []) for nodes in queued["path"]]
    return pd.DataFrame(
        {"listing_id": queued["listing_id"], "reasons": queued["reasons"]}
        | {name: queued[name] for name in inputs}
        | {LABEL_COLUMN: ""}
        | suggestions
        | {
            "path": path,
            "model_label": queued["model_label"],
            "confidence": queued["confidence"].round(4),
            "decision": queued["decision"],
            # Whole numbers, blank where a record has none (a float column would write 2.0 beside the blanks).
            "decision_level": pd.to_numeric(queued["decision_level"], errors="coerce").astype("Int64"),
            "challenger_label": queued["challenger_label"],
            "model_version": queued["model_version"],
            "times_seen": queued["times_seen"],
            "first_seen": queued["first_seen"],
            "last_seen": queued["last_seen"],
        }
    ).reset_index(drop=True)


def _top(top: Any, index: int, key: str) -> Any:
    """One field of the index-th suggestion, or None when the record has fewer."""
    return top[index][key] if isinstance(top, list) and len(top) > index else None
