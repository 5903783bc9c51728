"""Reviewed listings as training rows (`make train CORRECTIONS=reviewed.csv`, or several rounds' files).

A correction is a row of the review queue whose `label` a person filled in (rows left empty were not reviewed
and are skipped). It joins the catalogue with `source = correction` and always trains: it is never dealt to
validation or test, so the figures a model is gated and reported on stay those of the catalogue's own held-out
products (a correction identical to a held-out listing is dropped, `training.data.split`). A label outside the
catalogue's classes is refused unless `data.allow_new_classes` is set, because a typo would otherwise become a
class of one row.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, replace
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from handler.capture import time_text
from training.columns import CATALOGUE, CORRECTED_LISTINGS, CORRECTED_PRODUCT, CORRECTION, GROUP, LABEL, LISTING, SOURCE
from training.data.clean import PLACEHOLDERS, model_rows, title_products, written_as_missing
from training.data.label_checks import label_key, path_key
from training.data.split import listing_keys
from training.data.tail import apply_plan
from training.exceptions import DataValidationError
from training.feedback.capture import parse_time
from training.feedback.review_queue import canonical_labels, labelled_rows, read_review_file

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

    from training.config import DataConfig
    from training.data.load import LoadedCatalogue

LISTING_ID = "listing_id"
# Unknown labels named in an error, at most.
SHOWN = 5
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Corrections:
    """Reviewed listings ready to join the catalogue, and where they came from (logged with the run).

    Attributes:
        frame: One row per reviewed listing: the model inputs, `label`, `group` and `source`.
        provenance: The file, its sha256, the rows read and kept, the capture window they were seen in, and the
            reviewed listings' ids.
    """

    frame: pd.DataFrame
    provenance: dict[str, Any]


def read_corrections(
    path: str | Path, *, data: DataConfig, classes: Iterable[str], allow_new_classes: bool
) -> Corrections:
    """The reviewed rows of a review-queue CSV whose `label` is filled in, cleaned as catalogue rows are.

    Args:
        path: The CSV `make review-queue` wrote (its listing columns are the model's input names), labels filled in.
        data: The catalogue's column roles: the corrections become rows of the same columns.
        classes: The catalogue's labels: its classes, and those the small-class policy folded or dropped.
        allow_new_classes: Take labels outside `classes` (data.allow_new_classes).

    Raises:
        DataValidationError: The file is missing or lacks columns, no row is labelled, or a label is unknown.
    """
    # Every model input, as a catalogue must hold them: a column the reviewer deleted would train as missing values.
    raw = read_review_file(path, "CORRECTIONS", required=(LISTING_ID, LABEL, *data.columns))
    labelled = with_listing_ids(labelled_rows(raw, "CORRECTIONS", path), data)
    _warn_relabelled(labelled[LISTING_ID], canonical_labels(labelled[LABEL], data.label_aliases), [str(path)])
    reviewed = labelled.drop_duplicates("listing_id", keep="last")
    # Compared as the catalogue's labels were: after data.label_aliases (the small-class policy's folded and
    # dropped labels are among `classes`; `add_corrections` applies it).
    unknown = sorted(set(canonical_labels(reviewed[LABEL], data.label_aliases)) - set(classes))
    if unknown and not allow_new_classes:
        known = _known_names(classes, data.path_separator)
        why = next(filter(None, (_no_new_class(label, *known, data.path_separator) for label in unknown)), "")
        # A label the setting would refuse too is not told to set it.
        allow = "" if why else " or set data.allow_new_classes: true to add new classes"
        raise DataValidationError(
            f"{path}: {len(unknown)} label(s) are not classes of the catalogue, e.g. {unknown[:SHOWN]}"
            + (f" ({why})" if why else "")
            + f"; fix them (the suggestion columns hold the exact names){allow}"
        )
    _check_new_classes(unknown, classes, path, separator=data.path_separator)
    _check_one_spelling(unknown, [str(path)])
    # A reviewed listing is a product of its own (its listing id) where the catalogue names products by a column,
    # and its title's product where titles name them, so a listing of a held-out title stays out of training.
    by_listing = replace(data, group=LISTING_ID)
    frame, dropped = model_rows(_as_catalogue(reviewed, by_listing), by_listing, str(path))
    if sum(dropped.values()):
        logger.warning("reviewed listings dropped", extra={"file": str(path), **dropped})
    frame[LISTING] = frame[GROUP].astype(str)
    kept = sorted(set(frame[LISTING]))
    frame[GROUP] = CORRECTED_PRODUCT + frame[LISTING] if data.group else title_products(frame[data.text])
    frame[SOURCE] = CORRECTION
    provenance = {
        "file": str(path),
        "sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest(),
        "rows": len(frame),
        # Rows of empty cells alone (a spreadsheet's trailing commas) are no listings, reviewed or not.
        "unlabelled_rows": int((raw != "").any(axis=1).sum()) - len(labelled),
        "superseded_rows": len(labelled) - len(reviewed),
        # Labelled, but with an empty title or a text over data.max_text_length: never trained on.
        "dropped_rows": len(reviewed) - len(frame),
        "new_classes": len(unknown),
        **_window(reviewed),
        CORRECTED_LISTINGS: kept,
    }
    return Corrections(frame=frame.reset_index(drop=True), provenance=provenance)


def merge_rounds(rounds: list[Corrections], *, classes: Iterable[str]) -> Corrections:
    """Several review rounds' corrections as one, in the order given: a listing reviewed in more than one takes its
    latest label (the later file's), counted in `superseded_rows`, so a second round never drops the first's. The
    same listing as the model reads it (the same title in capitals, or with other spacing, under another listing id: a
    listing sent twice so) takes the latest label too, so two labels never train side by side; each such listing id
    still trains, so the model records every one it was given.

    Args:
        rounds: Each file's corrections (`read_corrections`), oldest first.
        classes: The catalogue's labels, as `read_corrections` took them: the merged rounds' new classes are counted
            once, however many rounds name them.
    """
    files = [found.provenance["file"] for found in rounds]
    _check_read_once(rounds)
    given = pd.concat([found.frame for found in rounds], ignore_index=True)
    # One listing: the rows of one listing id (retyped by a reviewer or not, its latest inputs count) and the rows the
    # model reads as those inputs.
    listing = pd.Series(listing_keys(given), index=given.index).groupby(given[LISTING]).transform("last")
    _warn_relabelled(listing, given[LABEL], files, listings=given[LISTING])
    relabelled = given[LABEL].groupby(listing).transform("last")
    latest = given.assign(**{LABEL: relabelled}).drop_duplicates(LISTING, keep="last").reset_index(drop=True)
    if len(rounds) == 1 and relabelled.eq(given[LABEL]).all() and len(latest) == len(given):
        return rounds[0]
    _check_one_spelling(sorted(set(latest[LABEL]) - set(classes)), files)
    provenances = [found.provenance for found in rounds]
    starts = [found["window_start"] for found in provenances if found["window_start"]]
    ends = [found["window_end"] for found in provenances if found["window_end"]]
    provenance = {
        "file": ", ".join(found["file"] for found in provenances),
        "sha256": ", ".join(found["sha256"] for found in provenances),
        "rows": len(latest),
        "unlabelled_rows": sum(found["unlabelled_rows"] for found in provenances),
        "superseded_rows": sum(found["superseded_rows"] for found in provenances) + len(given) - len(latest),
        "dropped_rows": sum(found["dropped_rows"] for found in provenances),
        "new_classes": len(set(latest[LABEL]) - set(classes)),
        # Every round writes times as the handler does (UTC, one width), so their text sorts as the times do.
        "window_start": min(starts, default=""),
        "window_end": max(ends, default=""),
        CORRECTED_LISTINGS: sorted(set(latest[LISTING])),
    }
    return Corrections(frame=latest, provenance=provenance)


def _check_read_once(rounds: list[Corrections]) -> None:
    """Each round's file once: a copy of a file (`review.csv` and `review (1).csv`) would count its rows twice.

    Raises:
        DataValidationError: Two files hold the same bytes.
    """
    seen: dict[str, str] = {}
    for found in rounds:
        first = seen.setdefault(found.provenance["sha256"], found.provenance["file"])
        if first != found.provenance["file"]:
            raise DataValidationError(
                f"CORRECTIONS {first} and {found.provenance['file']} hold the same bytes: name each review round's "
                "file once"
            )


def _warn_relabelled(
    keys: pd.Series, labels: pd.Series, files: list[str], *, listings: pd.Series | None = None
) -> None:
    """Warn of listings labelled more than once with different labels (`keys`: a listing id, or the inputs as the
    model reads them), naming a few: the last label read is kept, so two reviewers who disagree, or round files named
    newest first, would otherwise settle it unseen."""
    read = pd.DataFrame({"key": keys.to_numpy(), "label": labels.to_numpy(),
                         "listing": (listings if listings is not None else keys).to_numpy()})  # fmt: skip
    relabelled = read[read.groupby("key", sort=False)["label"].transform("nunique").to_numpy() > 1]
    if relabelled.empty:
        return
    examples = [
        f"{' / '.join(dict.fromkeys(rows['listing']))}: {' then '.join(repr(label) for label in rows['label'])}"
        for _, rows in islice(relabelled.groupby("key", sort=False), SHOWN)
    ]
    logger.warning(
        f"CORRECTIONS {', '.join(files)}: {relabelled['key'].nunique()} listing(s) were given different labels, e.g. "
        f"{examples}: the last label read is kept (files in the order CORRECTIONS names them, oldest first; rows top "
        "to bottom)"
    )


def _check_one_spelling(new: list[str], files: list[str]) -> None:
    """A new class must be spelt one way, in one file and across rounds: 'Coffee Machines' and 'coffee machines'
    would train as two classes of one category.

    Raises:
        DataValidationError: Naming the two spellings.
    """
    by_key: dict[str, str] = {}
    for label in new:
        spelt = by_key.setdefault(label_key(label), label)
        if spelt != label:
            raise DataValidationError(
                f"CORRECTIONS {', '.join(files)}: the new class {spelt!r} is also spelt {label!r}; write it one way "
                "in every file"
            )


def _window(reviewed: pd.DataFrame) -> dict[str, str]:
    """The capture window the reviewed listings were seen in: the earliest `first_seen` and the latest `last_seen`,
    compared as times (the text of times in two zones does not sort), written as the handler writes times (UTC); ""
    where no cell holds a time."""
    start, end = min(_times(reviewed, "first_seen"), default=None), max(_times(reviewed, "last_seen"), default=None)
    return {"window_start": time_text(start) if start else "", "window_end": time_text(end) if end else ""}


def _times(reviewed: pd.DataFrame, column: str) -> list[datetime]:
    """The times of a column of the queue (none when a reviewer deleted it; a cell that is no time is left out)."""
    return [moment for cell in reviewed.get(column, []) if (moment := parse_time(cell))]


def _check_new_classes(new: list[str], classes: Iterable[str], path: str | Path, *, separator: str | None) -> None:
    """A new class must be one: not a class of the catalogue spelt another way ('coffee machines'), which would
    split it in two, nor a missing value written out ('#N/A'), which the model would learn to answer, nor, with path
    labels, the end of a class's path ('Headphones' for 'Electronics > Audio > Headphones'), which would become a
    department of its own. A path above a class's ('Electronics > Audio') is a class at an inner node, as a
    catalogue may have.

    Raises:
        DataValidationError: Naming such a label, and the class it spells.
    """
    known = _known_names(classes, separator)
    for label in new:
        why = _no_new_class(label, *known, separator)
        if why:
            raise DataValidationError(f"{path}: {why}")


def _known_names(
    classes: Iterable[str], separator: str | None
) -> tuple[dict[str, str], dict[tuple[str, ...], list[str]]]:
    """The classes by their folded name (`label_key`), and by the shorter ends of their paths (`_path_ends`)."""
    classes = list(classes)
    return {label_key(name): name for name in classes}, _path_ends(classes, separator)


def _no_new_class(
    label: str, by_key: dict[str, str], ends: dict[tuple[str, ...], list[str]], separator: str | None
) -> str | None:
    """Why a label outside the classes is no new class (`_check_new_classes`), with what to write; None if it may be
    one."""
    spelt = by_key.get(label_key(label))
    if spelt is not None:
        return (
            f"label {label!r} is the class {spelt!r} spelt another way; write the class's exact name (the suggestion "
            "columns hold it), or map the spelling in data.label_aliases"
        )
    if label.strip().lower() in PLACEHOLDERS:
        return (
            f"label {label!r} is a missing value written out, not a category; leave the cell empty for a listing you "
            "did not review"
        )
    wholes = ends.get(path_key(label, separator), [])
    if wholes:
        more = f" and {len(wholes) - 1} more" if len(wholes) > 1 else ""
        return (
            f"label {label!r} ends the path of the class {wholes[0]!r}{more}: write the whole path (the suggestion "
            "columns hold it); as it is, it would be a department of its own"
        )
    return None


def _path_ends(classes: list[str], separator: str | None) -> dict[tuple[str, ...], list[str]]:
    """Each shorter end of the classes' paths, its levels folded as `path_key` folds them, and the classes it ends,
    sorted (none for flat labels). An end that is also a category of the tree, from its department down ('Garden'
    beside 'Home > Outdoor > Garden' and 'Garden > Sheds'), is a category a correction may name."""
    if not separator:
        return {}
    keys = [path_key(label, separator) for label in classes]
    nodes = {key[:depth] for key in keys for depth in range(1, len(key) + 1)}
    ends: dict[tuple[str, ...], list[str]] = {}
    for label, key in sorted(zip(classes, keys, strict=True)):
        for start in range(1, len(key)):
            if key[start:] not in nodes:
                ends.setdefault(key[start:], []).append(label)
    return ends


def reviewed_listings(path: str | Path, data: DataConfig) -> pd.DataFrame:
    """The labelled rows of a reviewed queue given as REVIEWED= (`make compare`, `make review-queue`), each with its
    listing id, read as training reads corrections.

    Raises:
        DataValidationError: The file is not a review queue with `listing_id` and `label`, or no row is labelled.
    """
    table = read_review_file(path, "REVIEWED", required=(LISTING_ID, LABEL))
    return with_listing_ids(labelled_rows(table, "REVIEWED", path), data)


def with_listing_ids(labelled: pd.DataFrame, data: DataConfig) -> pd.DataFrame:
    """The labelled rows, each with a listing id: a row added by hand without one (or with "N/A", as a product id
    written so names no product) gets a digest of its inputs, so it is a listing of its own (and the same row
    pasted twice is one), never merged with every other blank id. Ids are read without outer spaces (a
    spreadsheet's), as training and `make compare` must read the same file alike."""
    labelled = labelled.assign(**{LISTING_ID: labelled[LISTING_ID].str.strip()})
    blank = written_as_missing(labelled[LISTING_ID])
    if not blank.any():
        return labelled
    inputs = [name for name in data.columns if name in labelled.columns]
    digests = pd.util.hash_pandas_object(labelled.loc[blank, inputs], index=False).map("manual-{:016x}".format)
    return labelled.assign(**{LISTING_ID: labelled[LISTING_ID].mask(blank, digests)})


def _as_catalogue(reviewed: pd.DataFrame, data: DataConfig) -> pd.DataFrame:
    """The reviewed rows under the catalogue's own column names (empty cells missing), to be cleaned like it: a
    number the catalogue would refuse (`1.199,00`) is refused here too, in the file's own data row."""
    raw = pd.DataFrame(index=reviewed.index)
    for name, column in data.columns.items():
        raw[column] = reviewed[name].replace("", None) if name in reviewed else None
    raw[data.target] = reviewed[LABEL].str.strip()
    raw[LISTING_ID] = reviewed["listing_id"]
    for column in data.training_text:
        raw[column] = None
    return raw


def add_corrections(catalogue: LoadedCatalogue, corrections: Corrections) -> LoadedCatalogue:
    """The catalogue with the corrections appended (the small-class policy applied to their labels too), every row
    tagged with its `source`, and their provenance."""
    frame = catalogue.frame.assign(**{SOURCE: CATALOGUE})
    given = corrections.frame
    added = apply_plan(given.reindex(columns=[*frame.columns, LISTING]), catalogue.tail)
    merged = pd.concat([frame, added], ignore_index=True)
    logger.info("corrections merged", extra={"rows": len(added), "catalogue_rows": len(frame)})
    # A correction labelled with a class `split.small_classes: drop` took out of the run leaves with that class.
    provenance = corrections.provenance | {"rows": len(added), "dropped_small_classes": len(given) - len(added)}
    return replace(catalogue, frame=merged, corrections=provenance)
