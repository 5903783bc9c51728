"""`make review-queue CAPTURE= OUT=review.csv [SINCE=] [LIMIT=] [B=challenger.onnx] [REVIEWED=] [DATA=] [CONFIG=]`.

Reads what the classifier captured (a folder from `make serve CAPTURE=`, or the stack's s3:// capture prefix),
and writes the listings a person should label first (`training.feedback.review_queue`) as a CSV with an empty
`label` column: fill it in and train on it with `make train CORRECTIONS=`. DATA (and CONFIG) name the catalogue
the live model learnt from (the synthetic one by default, as for `make train`), whose brands and sellers are the
known ones.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import numpy as np
import onnx
import typer

from training.cli.catalogue_options import Categories, Rows, Taxonomy, listed_files, resolve_config
from training.cli.entry import run
from training.cli.logging_setup import configure_logging
from training.cli.out_folder import URI, check_local, check_out_dir
from training.columns import CORRECTED_LISTINGS, LABEL
from training.config import DEFAULT_CONFIG_PATH
from training.data.load import learnt_catalogue
from training.exceptions import TrainingError
from training.feedback.capture import parse_since, read_capture
from training.feedback.corrections import reviewed_listings
from training.feedback.review_queue import (
    build_review_queue,
    latest_listings,
    save_for_spreadsheets,
)
from training.feedback.served import listing_rows, served_labels
from training.model.metadata import input_schema, read_metadata
from training.reporting.compare import MIN_KNOWN_LABELS, check_knows_answers
from training.reporting.model_reference import read_model

if TYPE_CHECKING:
    import pandas as pd

    from training.config import DataConfig, TrainConfig
    from training.feedback.capture import Captured

logger = logging.getLogger(__name__)
app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
def main(
    capture: Annotated[str, typer.Option(help="Captured traffic: a folder or s3://bucket/prefix.")],
    out: Annotated[Path, typer.Option(help="The review queue CSV to write.")] = Path("review.csv"),
    since: Annotated[str | None, typer.Option(help="Only listings captured at or after this ISO date/time.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Most listings in the queue.")] = 500,
    b: Annotated[
        str | None, typer.Option("--b", help="A challenger .onnx or models:/…: queue what it answers otherwise.")
    ] = None,
    data: Annotated[str | None, typer.Option(help="The live model's training catalogue; omit for synthetic.")] = None,
    config: Annotated[Path, typer.Option(help="YAML config naming the catalogue's columns.")] = DEFAULT_CONFIG_PATH,
    rows: Rows = None,
    categories: Categories = None,
    taxonomy: Taxonomy = None,
    low_confidence: Annotated[float, typer.Option(min=0, max=1, help="Queue answers below this confidence.")] = 0.5,
    replace: Annotated[bool, typer.Option(help="Overwrite an existing OUT (labels filled in there are lost).")] = False,
    reviewed: Annotated[
        str | None, typer.Option(help="Earlier rounds' reviewed queues, comma-separated: their labelled listings are "
                                      "never queued again.")
    ] = None,
) -> None:  # fmt: skip
    """Write the captured listings a person should label first, with the model's suggestions."""
    configure_logging()
    try:
        rounds = listed_files(reviewed, "REVIEWED")
        _check_out(out, replace=replace, reads={"REVIEWED": list(rounds), "DATA": [data]})
        resolved = resolve_config(config, data=data, rows=rows, categories=categories, taxonomy=taxonomy)
        model_b = read_model(b, name="B") if b else None
        # What the live model (trained with this config) takes: a record the API refused was never answered.
        captured = read_capture(capture, since=parse_since(since), schema=input_schema(resolved.data))
        catalogue, _ = learnt_catalogue(resolved, data)  # the catalogue the live model learnt from
        captured = _served_as_trained(captured, catalogue, resolved, source=data or "the synthetic catalogue")
        earlier = _labelled_listings(rounds, resolved.data)
        challenger, given_b, version_b = _challenger_labels(model_b, captured) if model_b else (None, frozenset(), None)
        queue, qualified = build_review_queue(
            captured,
            known=_known_values(catalogue, resolved),
            challenger=challenger,
            reviewed=given_b | earlier,
            challenger_version=version_b,
            low_confidence=low_confidence,
            limit=limit,
        )
    except TrainingError as exc:
        logger.error(str(exc))
        raise typer.Exit(code=1) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    save_for_spreadsheets(queue, out)
    captured_listings = captured.frame["listing_id"].nunique()
    skipped = f"; capture records skipped: {captured.skipped_text()}" if captured.skipped_text() else ""
    if given_b:
        skipped += f"; {len(given_b)} listing(s) B was given as corrections never queued (reviewed already)"
    if earlier:
        # Those B was given are counted above: a listing is counted once, under the first reason.
        again = captured.frame["listing_id"].isin(earlier - given_b).groupby(captured.frame["listing_id"]).any().sum()
        skipped += f"; {again} listing(s) labelled in REVIEWED never queued again"
    if queue.empty:
        typer.echo(
            f"0 listings to review of {captured_listings} captured (written, empty, to {out}): every answer was "
            f"accepted, confident, of a known brand and seller, and agreed with B if given; nothing to correct yet"
            f"{skipped}"
        )
        return
    reasons = Counter(reason for named in queue["reasons"] for reason in named.split(";"))
    if data is None and any(reason.startswith("new_") for reason in reasons):
        logger.warning(
            "new brands and sellers are those the synthetic catalogue lacks (no DATA=); for a live model trained on "
            "a catalogue of your own, pass that DATA= and CONFIG=, or most of its listings are queued as new (for "
            "a synthetic one, the ROWS=, CATEGORIES= or TAXONOMY= that made it)"
        )
    left = qualified - len(queue)
    cut = f"; LIMIT {limit} left out {left} more that qualified" if left else ""
    typer.echo(
        f"{len(queue)} listing(s) to review (of {captured_listings} captured{cut}{skipped}) in {out}: "
        + ", ".join(f"{reason} {count}" for reason, count in reasons.most_common())
        + f". Fill in `label`, then `make train CORRECTIONS={out}"
        + (f" DATA={data}" if data else "")
        + (f" CONFIG={config}" if config != DEFAULT_CONFIG_PATH else "")
        + "`."
    )


def _check_out(out: Path, *, replace: bool, reads: dict[str, list[str | None]]) -> None:
    """OUT must be a new .csv file, or an old queue with `replace`, and none of the files the run reads (`reads`, by
    the variable naming them): a second run would otherwise overwrite the labels a reviewer filled in, or the
    catalogue itself, and the queue is written as CSV whatever its name (`make train CORRECTIONS=` reads a file by
    its suffix, so CSV under another one would be read as that format, or refused).

    Raises:
        TrainingError: OUT is a folder, not named .csv, one of the files read, or inside a folder read, exists and
            `replace` is off, or its folder cannot be made or written.
    """
    check_local(out, role="OUT", what="the review queue", kind="file")
    if out.is_dir():
        raise TrainingError(f"OUT {out} is a folder; name the review queue's CSV file")
    if out.suffix.lower() != ".csv":
        raise TrainingError(f"OUT {out}: the review queue is written as CSV; name it .csv (a spreadsheet opens that)")
    target = out.resolve()
    for role, names in reads.items():
        for name in filter(None, names):
            # A glob reads its folder (`folder/*.csv`); an s3:// location is no local file.
            read = None if URI.match(name) else (Path(name).parent if "*" in name else Path(name)).resolve()
            if read is not None and (read == target or read in target.parents):
                raise TrainingError(
                    f"OUT {out} is where {role}={name} is read from: the queue would overwrite it, or be read as "
                    "part of it next time; choose another file"
                )
    if out.exists() and not replace:
        raise TrainingError(
            f"OUT {out} exists (a queue someone may be labelling); choose a new file, or pass --replace (REPLACE=1) "
            "to overwrite it"
        )
    check_out_dir(out.parent, what="the review queue")


def _served_as_trained(captured: Captured, catalogue: pd.DataFrame, config: TrainConfig, *, source: str) -> Captured:
    """The captured listings, which must come from a model trained on this catalogue with this config: a capture of
    another model's inputs makes a queue without the columns training needs, and one of another taxonomy suggests
    classes the catalogue lacks, so every label a reviewer copies from the suggestions would be refused. One capture
    prefix spans every version the function served: a version whose answers are mostly other classes (the taxonomy
    before a change, a stray test's model) among versions that fit is left out, with a warning naming it.

    Raises:
        TrainingError: The capture lacks a configured input, or its answers are mostly not the catalogue's classes.
    """
    retry = (
        "pass the DATA= and CONFIG= the live model was trained with (for the synthetic catalogue, the ROWS=, "
        "CATEGORIES= or TAXONOMY= that made it)"
    )
    lacking = [name for name in config.data.columns if name not in captured.inputs]
    if lacking:
        raise TrainingError(
            f"the captured listings lack the input(s) {lacking} the config's model takes (they hold "
            f"{captured.inputs}): they were answered by a model of another config; {retry}"
        )
    frame = captured.frame
    known = frame["model_label"].isin(set(catalogue[LABEL])).to_numpy()
    if known.mean() < MIN_KNOWN_LABELS:
        raise TrainingError(
            f"{(~known).sum():,} of the {len(frame):,} captured answers are classes {source} does not have, e.g. "
            f"{_examples(frame[~known])}: the model that gave them was trained on another catalogue, so its "
            f"suggestions are labels training would refuse; {retry}"
        )
    kept = np.ones(len(frame), dtype=bool)
    for version, rows in frame.groupby("model_version", sort=False, dropna=False).indices.items():
        if known[rows].mean() >= MIN_KNOWN_LABELS:
            continue
        kept[rows] = False
        times = frame["time"].iloc[rows]
        logger.warning(
            f"model version {version} answered {(~known[rows]).sum():,} of its {len(rows):,} captured listings with "
            f"classes {source} does not have, e.g. {_examples(frame.iloc[rows][~known[rows]])} (captured "
            f"{times.iloc[0]} to {times.iloc[-1]}): a model of another catalogue, so its listings are left out"
        )
    return dataclasses.replace(captured, frame=frame[kept].reset_index(drop=True))


def _examples(answers: pd.DataFrame) -> str:
    """A few of the answers' classes, and the versions that gave them, for a message."""
    classes = sorted(set(answers["model_label"].astype(str)))[:3]
    versions = sorted(set(answers["model_version"].astype(str)))[:3]
    return f"{classes} (model version(s) {versions})"


def _labelled_listings(files: tuple[str, ...], data: DataConfig) -> frozenset[str]:
    """The listings labelled in earlier rounds' reviewed queues."""
    return frozenset(listing for path in files for listing in reviewed_listings(path, data)["listing_id"])


def _known_values(catalogue: pd.DataFrame, config: TrainConfig) -> dict[str, set[str]]:
    """Each hashed input's values in the catalogue the live model learnt from."""
    return {
        name: set(catalogue[name].dropna().astype(str).str.strip()) for name in config.data.hashed if name in catalogue
    }


def _challenger_labels(model: bytes, captured: Captured) -> tuple[list[str], frozenset[str], str]:
    """The challenger's label for each listing of the queue (`latest_listings` order), as it would serve them, the
    captured listings it was given as corrections (it answers them as it was taught: no reason to review them
    again), and the version it answers as.

    Raises:
        TrainingError: The graph is not a model the function can load.
    """
    metadata = read_metadata(onnx.load_model_from_string(model))
    version = str(metadata.get("model_version", "unversioned"))  # as the function records it
    listings = latest_listings(captured, challenger_version=version)
    labels = served_labels(model, listing_rows(listings, captured.inputs), name="B")
    # A challenger of another taxonomy would queue every listing as "answered otherwise".
    check_knows_answers(metadata, listings["model_label"].to_numpy(), name="model B", other="the live model")
    given = listings["listing_id"].isin(metadata.get("training_data", {}).get(CORRECTED_LISTINGS, []))
    return labels, frozenset(listings.loc[given, "listing_id"]), version


if __name__ == "__main__":
    run(app)
