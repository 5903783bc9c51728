"""`make check-data`: the data-quality report of a catalogue, printed, without training anything."""

from __future__ import annotations

import json
import logging
from pathlib import Path  # noqa: TC003 - typer reads the annotations at run time
from typing import TYPE_CHECKING, Annotated

import typer

from training.cli.catalogue_options import Categories, Rows, Taxonomy, resolve_config
from training.cli.entry import run
from training.cli.logging_setup import configure_logging
from training.config import DEFAULT_CONFIG_PATH
from training.data.clean import configured_columns
from training.data.load import load_raw, raise_in_its_file
from training.data.report import build_report, summary_text
from training.exceptions import DataValidationError, TrainingError

if TYPE_CHECKING:
    from training.config import TrainConfig
    from training.data.load import RawCatalogue

logger = logging.getLogger(__name__)
app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
def main(
    data: Annotated[
        str | None, typer.Option(help="CSV/TSV/Parquet file, glob or folder; local or s3://. Omit for synthetic.")
    ] = None,
    config: Annotated[Path, typer.Option(help="YAML config mapping CSV columns to roles.")] = DEFAULT_CONFIG_PATH,
    rows: Rows = None,
    categories: Categories = None,
    taxonomy: Taxonomy = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole report as JSON.")] = False,
) -> None:
    """Print the report; exit 1 when training would refuse the file, or data.strict is set and problems are
    suspected."""
    configure_logging()
    try:
        resolved = resolve_config(config, data=data, rows=rows, categories=categories, taxonomy=taxonomy)
        # No column is required here: a missing one is reported (a problem) rather than refused unread.
        raw = load_raw(resolved, data, required=())
        first_file = raw.files[0][0] if raw.files else None
        try:
            report = build_report(
                raw.frame, resolved.data, source=raw.source, split=resolved.split, first_file=first_file
            )
        except DataValidationError as exc:
            raise _in_its_file(raw, resolved) or exc from None
    except TrainingError as exc:
        logger.error(str(exc))
        raise typer.Exit(code=1) from None
    typer.echo(json.dumps(report.to_dict(), indent=2) if as_json else summary_text(report))
    if report.refusals:
        # The report counts refused numbers over all files together, naming no place: training's own error does.
        first = _in_its_file(raw, resolved) if report.unparsable_numbers else None
        where = f" (training stops first at: {first})" if first and str(first) not in report.refusals[0] else ""
        logger.error(f"training would refuse this file: {report.refusals[0]}{where}")
        raise typer.Exit(code=1)
    if resolved.data.strict and report.problems:
        logger.error(f"data.strict: {len(report.problems)} suspected problem(s); fix them or set label_aliases")
        raise typer.Exit(code=1)


def _in_its_file(raw: RawCatalogue, config: TrainConfig) -> DataValidationError | None:
    """Training's own error for the first value it refuses, naming its file and data row (the report reads the files
    together, so its own findings name DATA, a folder say, and a row of all its files); None when every configured
    column is there and cleaning each file passes, or when a column is missing (the report says which)."""
    if any(column not in raw.frame.columns for column in configured_columns(config.data)):
        return None
    try:
        raise_in_its_file(raw, config)
    except DataValidationError as exc:
        return exc
    return None


if __name__ == "__main__":
    run(app)
