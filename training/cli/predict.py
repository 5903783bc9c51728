"""`make predict`: score a whole catalogue with the exported ONNX graph, on this machine or on a Dask cluster.

One Dask graph either way: the catalogue is read file by file (CSV, TSV or Parquet, a file, a glob or a folder,
local or `s3://` through pyarrow's filesystems), each partition is scored by onnxruntime in the worker that
holds it — rows sorted by title length and run in chunks, as the function does — and the answers are
written as Parquet: the input's id columns, `label`, `confidence`, the top three classes, and the predicted
category path: `path` (the deepest node's whole path, as the API names it) and `level_1_confidence` ...
`level_D_confidence` (D the taxonomy's depth, 1 for flat labels; empty below a shallow leaf), as the graph computes
them. `--engine local` runs the graph in this process with a progress bar; `--engine dask` on a `LocalCluster` (or
the cluster at DASK_SCHEDULER_ADDRESS) and prints the dashboard link. Strings are read by training's own
normaliser (`training.data.clean.text_values`: missing → "", an integral id 42.0 → "42", as the API reads them);
numbers by training's own parser (`training.data.clean.parse_numbers`); a missing number scores as missing, as
the API does for an omitted field.

Rows the API would refuse (a string longer than the model's `max_length`, 2,000 by default; a title of whitespace
and zero-width characters alone; a number that is no number, such as "$12.99" or a date, or is negative, infinite
or beyond float32) are not scored:
they keep their ids with an empty label and say why in `refused` (the field at fault and what is wrong with it, as the
API's 422 names it), and the summary counts them (`refused_rows`). The answers are written
to a staging folder beside OUT and moved in only when every partition is written: OUT must not exist or be an
empty folder (`--replace` swaps an old one out after success), so a failed run leaves nothing and a second run
never mixes its files with the first's.
"""

from __future__ import annotations

import json
import logging
import math
import re
import shutil
import sys
import uuid
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import dask
import dask.dataframe as dd
import dask.threaded
import numpy as np
import onnxruntime as ort
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import typer
from pyarrow import fs as pafs

from handler.decisions import ACCEPT, DEFAULT_TARGET_PRECISION, REVIEW, Thresholds, decide, read_operating_points
from handler.exceptions import ModelLoadError
from handler.explain import occlusions
from handler.model import Model, check_golden_examples, read_metadata, session_options
from handler.schemas import blank_reason, not_blank_regex
from training.cli.entry import run
from training.cli.logging_setup import configure_logging
from training.cli.out_folder import check_local
from training.columns import GRAPH_OUTPUTS
from training.config import MAX_TEXT_LENGTH, load_config
from training.data.clean import column_name_fixes, number_faults, parse_numbers, repeated_headers, text_values
from training.data.sources import (
    catalogue_files,
    check_files,
    first_rows,
    is_bytes,
    layout_hint,
    read_file,
)
from training.engines.dask.cluster import dask_client
from training.exceptions import DataValidationError, TrainingError
from training.feedback.review_queue import accepted_above_category
from training.model.hierarchy import hierarchy_from_metadata
from training.model.metadata import METADATA_KEY

CHUNK_ROWS = 256
TOP_K = 3
# Files a warning names beside the first (the others are counted).
MAX_NAMED_FILES = 5
# Column names (lower-cased, spaces removed) that identify a listing without ending in "id": copied by default.
LISTING_CODES = frozenset({"sku", "ean", "gtin", "upc", "asin", "uuid", "guid"})
# A name ending in the word "id": `id`, `Merchant ID`, `merchant_id`, `productId`, `ProductID` (not `Paid`, `Valid`).
ID_WORD = re.compile(r"(?:^|[\s_.\-])(?:id|Id|ID)$|(?<=[a-z0-9])(?:Id|ID)$")
WORD_SEPARATORS = re.compile(r"[\s_.\-]+")
# The files a run writes into OUT (Dask's Parquet parts): all a folder REPLACE=1 deletes may hold.
PREDICTION_PART = re.compile(r"part\.\d+\.parquet")
# Columns every part of a run's predictions holds (older runs' too): Parquet parts without them are someone else's data.
PREDICTION_COLUMNS = frozenset({"label", "confidence"})
# Why a row whose every input column holds its own name is not scored (exports joined one after another, each with
# its header: as a listing its title would be "Product Title", its price refused as no number).
REPEATED_HEADER = "the row repeats the header line (exports joined one after another, each with its header)"
logger = logging.getLogger(__name__)
app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@cache
def model_metadata(model_bytes: bytes) -> dict[str, Any]:
    """The metadata training embedded in the graph (parsed once per process, not once per partition)."""
    return json.loads(_session(model_bytes).get_modelmeta().custom_metadata_map[METADATA_KEY])


def _metadata_of(model: Path, model_bytes: bytes) -> dict[str, Any]:
    """The model's metadata, or one line saying why the file is not a model `make train` wrote: the function's own
    load checks (the metadata fits the graph, the golden examples answer as training recorded), so a model the
    function would refuse is never scored in bulk.

    Raises:
        DataValidationError: onnxruntime cannot load it, it carries no metadata of ours, or the function would refuse
            it.
    """
    try:
        session = _session(model_bytes)
    except Exception as exc:  # onnxruntime raises its own untyped errors for a file that is no graph
        reason = f"not a graph onnxruntime can load ({' '.join(str(exc).split())[:200]})"
        raise DataValidationError(f"MODEL {model} is {reason}: pass a model.onnx that `make train` wrote") from None
    try:
        metadata = read_metadata(session, model)
    except ModelLoadError as exc:  # its message names the file and what to do, as the function logs it
        raise DataValidationError(str(exc)) from None
    try:
        check_golden_examples(Model(session, metadata, chunk=CHUNK_ROWS, load_seconds=0.0))
    except ModelLoadError as exc:
        raise DataValidationError(f"MODEL {model}: {exc}") from None
    return metadata


def score_partition(
    frame: pd.DataFrame,
    model_bytes: bytes,
    *,
    columns: dict[str, str],
    ids: list[str],
    target: float | None = None,
    explain: bool = False,
    sources: tuple[str, ...] = (),
    partition_info: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Score one partition: id columns, label, confidence, the top classes, the predicted path (its names and each
    level's confidence), with `target` the decision at that precision (as the API takes it), and with `explain` each
    row's explanation as JSON (as the API gives it), in the partition's row order. Partition i is file `sources[i]`
    (Dask passes `partition_info`), which an error names."""
    session = _session(model_bytes)
    metadata = model_metadata(model_bytes)
    classes = np.asarray(metadata["classes"], dtype=object)
    paths, depth = _display_paths(model_bytes)
    number = partition_info["number"] if partition_info is not None else 0  # the type sample is the first file's
    source = sources[number] if sources else "data"
    feeds = _feeds(frame, metadata["inputs"], columns, source)
    text = next(spec["name"] for spec in metadata["inputs"] if spec.get("required"))
    reasons = _refusals(feeds, metadata["inputs"], frame, columns)
    reasons[repeated_headers(frame, [*columns.values(), *ids])] = REPEATED_HEADER
    refused = pd.notna(reasons)
    if partition_info is not None:  # a partition of the data, not the row that gives the output's types
        _warn_of_multiline_titles(feeds[text][:, 0], source)
    lengths = np.fromiter((len(t) for t in feeds[text][:, 0]), dtype=np.int64, count=len(frame))
    # Refused rows are never run (and sort last): every chunk's padded width stays within the limit.
    order = np.argsort(np.where(refused, np.iinfo(np.int64).max, lengths), kind="stable")[: int((~refused).sum())]
    # Only each row's TOP_K classes are kept, chunk by chunk: a partition's whole probability matrix (and its
    # argsort) is rows × classes, 2 GB and 4 GB for 100,000 rows at 5,000 categories.
    top_k = min(TOP_K, len(classes))
    best = np.tile(np.arange(top_k), (len(frame), 1))
    top = np.full((len(frame), top_k), np.nan, dtype=np.float32)
    nodes = np.full((len(frame), depth), -1, dtype=np.int64)
    confidence = np.full((len(frame), depth), np.nan, dtype=np.float32)
    explanations = np.full(len(frame), None, dtype=object)
    for start in range(0, len(order), CHUNK_ROWS):
        rows = order[start : start + CHUNK_ROWS]
        feed = {name: array[rows] for name, array in feeds.items()}
        _, chunk, nodes[rows], confidence[rows] = session.run(list(GRAPH_OUTPUTS), feed)
        ranked = np.argsort(-np.nan_to_num(chunk, nan=-1.0), axis=1, kind="stable")[:, :top_k]
        best[rows], top[rows] = ranked, np.take_along_axis(chunk, ranked, axis=1)
        if explain:
            explanations[rows] = _explanations(session, metadata["inputs"], feed, chunk, ranked[:, 0], text)
    # A probability, as the API serves it: a department's float32 sum may round to 1.0000001.
    np.minimum(confidence, 1.0, out=confidence)
    deepest = nodes[np.arange(len(frame)), np.maximum((nodes >= 0).sum(axis=1) - 1, 0)]
    result = pd.DataFrame({column: _id_text(frame[column]) for column in ids}).reset_index(drop=True)
    result["label"] = np.where(refused, None, classes[best[:, 0]])  # type: ignore[call-overload]
    result["confidence"] = top[:, 0]
    for k in range(top_k):
        result[f"top_{k + 1}_label"] = np.where(refused, None, classes[best[:, k]])  # type: ignore[call-overload]
        result[f"top_{k + 1}_probability"] = top[:, k]
    result["path"] = np.where(refused, None, paths[deepest])  # type: ignore[call-overload]
    for level in range(depth):
        result[f"level_{level + 1}_confidence"] = np.where(nodes[:, level] >= 0, confidence[:, level], np.nan)
    result["refused"] = reasons
    thresholds = _thresholds(metadata, target) if target is not None else None
    if target is not None and thresholds is not None:
        result = result.assign(**_decisions(thresholds, target, result, (nodes, confidence, paths), refused))
    if explain:
        result["explanation"] = explanations
    return result


def predict_catalogue(
    *,
    model: Path,
    data: str,
    out: Path,
    engine: str,
    config: Path | None,
    ids: list[str] | None,
    replace: bool = False,
    target_precision: float = DEFAULT_TARGET_PRECISION,
    explain: bool = False,
) -> dict[str, Any]:
    """Read, score and write into a staging folder, then move it to `out`; returns a summary (with how many rows were
    accepted at each level and how many go to review, when the model records operating points).

    Raises:
        TrainingError: The model, data, columns, OUT or engine are not usable; the message says how to fix it.
            Nothing is left in or beside `out` then.
    """
    if engine not in {"local", "dask"}:
        raise DataValidationError(f"ENGINE must be local or dask, got {engine!r}")
    if model.is_dir():
        raise DataValidationError(
            f"MODEL {model} is a folder; pass the model file in it (MODEL={model / 'model.onnx'})"
        )
    if not model.is_file():
        raise DataValidationError(
            f"model not found: {model}; pass MODEL=<path to a model.onnx> (`make train` writes artifacts/model.onnx, "
            "or OUT/model.onnx with OUT=), or run `make train` if there is none yet"
        )
    model_bytes = model.read_bytes()
    metadata = _metadata_of(model, model_bytes)
    check_out(out, replace=replace)
    filesystem, files = catalogue_files(data)
    check_data_outside(data, files, filesystem, out)
    columns = input_columns(metadata, config)
    optional = {spec["name"] for spec in metadata["inputs"] if not spec.get("required")}
    # An optional input's column may be absent, but where a Parquet file has it, it must be flat as the others.
    flat = [column for name, column in columns.items() if name in optional]
    first = read_file(files[0], filesystem, flat=flat)
    absent = {name: column for name, column in columns.items() if column not in first.columns}
    missing = {name: column for name, column in absent.items() if name not in optional}
    if missing:
        rows = first_rows(files[0], filesystem)
        hint = layout_hint(first.columns, missing.values(), rows) or _predictions_hint(first.columns)
        advice = "" if hint else " The model reads them from the columns it was trained on; pass CONFIG= to map them."
        named = ", ".join(f"{column!r} (input {name!r})" for name, column in missing.items())
        raise DataValidationError(f"{files[0]}: missing column {named}; found {list(first.columns)}{hint}.{advice}")
    thresholds = _thresholds(metadata, target_precision)
    ids = list(
        dict.fromkeys(_id_columns(ids or [], first.columns) or _default_ids(first.columns, columns, metadata, config))
    )
    unknown = [column for column in ids if column not in first.columns]
    if unknown:
        raise DataValidationError(f"{files[0]}: id column(s) {unknown} not among its columns {list(first.columns)}")
    if not ids:
        logger.warning(
            "no id column to copy beside the answers (none is named like an id or a listing code): they line up with "
            "the listings by their order alone, file by file; name one with --id (ID=) to join them back by it",
            extra={"file": files[0], "columns": [str(column) for column in first.columns][:10]},
        )
    # Every file is checked for the columns before scoring starts (a later file may lack one), and as it is read;
    # an optional input's column may be absent from any file (its rows score it as missing).
    required = [*(column for name, column in columns.items() if name not in optional), *ids]
    found = {files[0]: list(first.columns)} | check_files(files[1:], filesystem, required=required, flat=flat)
    _warn_of_absent_inputs(found, columns, optional)
    catalogue = dd.from_map(read_file, files, filesystem=filesystem, required=required, flat=flat, meta=first.iloc[:0])
    blob = dask.delayed(model_bytes, pure=True)
    options: dict[str, Any] = {"columns": columns, "ids": ids, "explain": explain}
    options["target"] = target_precision if thresholds else None
    # The output's types come from scoring one row: a blank stand-in when the first file holds only its header.
    sample = first.head(1) if len(first) else first.iloc[:0].reindex([0])
    meta = score_partition(sample, model_bytes, **options, sources=(files[0],)).iloc[:0]
    answers = set(score_partition(sample, model_bytes, **options | {"ids": []}, sources=(files[0],)).columns)
    overwritten = [column for column in ids if column in answers]
    if overwritten:
        raise DataValidationError(
            f"id column(s) {overwritten} would be overwritten by the answer's own column(s) of that name; leave "
            "them out of --id (ID=), or rename them in the file"
        )
    scored = catalogue.map_partitions(score_partition, blob, **options, sources=tuple(files), meta=meta)
    staging = _staging_folder(out)
    try:
        writing = scored.to_parquet(
            str(staging), write_index=False, schema=_schema(meta), compute=False, name_function=_part_name(scored)
        )
        _compute(writing, engine)
        parts = sorted(staging.glob("*.parquet"))
        rows = sum(pq.ParquetFile(path).metadata.num_rows for path in parts)
        if not rows:
            raise DataValidationError(f"no rows to score in {data}: its files hold a header and nothing else")
        reasons = _refusal_reasons(parts)  # a row is left without a label exactly where it is refused
        refused = sum(reasons.values())
        decisions = _decision_summary(parts) if thresholds else None
        _publish(staging, out, replace=replace)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if refused:
        every = f"none of the {rows:,} rows was scored: " if refused == rows else ""
        logger.warning(
            f"{every}rows not scored: the API would refuse them (a text over the model's max_length, a blank title, a "
            "number that is no number, such as '$12.99', or is negative or infinite); the `refused` column says why",
            extra={"rows": refused, "reasons": reasons},
        )
    summary: dict[str, Any] = {
        "model_version": metadata.get("model_version"),
        "files": len(files),
        "rows": rows,
        "refused_rows": refused,
        "out": str(out),
    }
    if reasons:
        summary["refused_by_reason"] = reasons
    if decisions is not None:
        summary["decisions"] = {"target_precision": target_precision} | decisions
        logger.info("decisions", extra=summary["decisions"])
    return summary


def _refusal_reasons(parts: list[Path]) -> dict[str, int]:
    """How many rows each reason refused, most first (the `refused` column of the written parts)."""
    counts: dict[str, int] = {}
    for path in parts:
        column = pq.read_table(path, columns=["refused"]).column("refused").drop_null().to_pylist()
        for reason in column:
            counts[reason] = counts.get(reason, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: -item[1]))


def _id_text(values: pd.Series) -> pd.Series:
    """An id column as text, whatever type its file gave it (one export's SKUs are int64, the next one's strings, and
    every part of the output must have one schema); whole numbers as their integer text, as training reads ids."""
    present = values.notna()
    if pd.api.types.is_float_dtype(values.dtype):
        # Each value on its own: a whole one beyond int64 (1e20) has no Int64, and one fraction in the column must
        # not turn the column's whole numbers into "1.0".
        return values.map(_float_id, na_action="ignore").where(present, None).astype(object)
    if pd.api.types.is_unsigned_integer_dtype(values.dtype):
        values = values.astype("UInt64")  # past 2^63 an unsigned id has no Int64
    if isinstance(values.dtype, pd.ArrowDtype) and is_bytes(values.dtype.pyarrow_dtype):
        return values.map(_bytes_id, na_action="ignore").where(present, None).astype(object)
    return values.astype(str).where(present, None).astype(object)


def _bytes_id(value: bytes) -> str:
    """A binary id as its UTF-8 text; a byte that is no UTF-8 (a packed key, a hash) as its `\\xNN` escape, so every
    id is copied (only an id whose own text reads `\\xNN` could then read like another's bytes)."""
    return bytes(value).decode("utf-8", errors="backslashreplace")


def _float_id(value: float) -> str:
    """A float id as text: a whole number as its integer text, any other as Python writes it."""
    return str(int(value)) if math.isfinite(value) and float(value).is_integer() else repr(float(value))


def _default_ids(found: pd.Index, columns: dict[str, str], metadata: dict[str, Any], config: Path | None) -> list[str]:
    """The columns copied beside the answers unless --id names them: those named like an id (`… ID`, `…_id`) or a
    listing code (SKU, EAN, GTIN, UPC, ASIN) and the product column (CONFIG's `data.group`, else the one the model
    recorded), never a model input."""
    recorded = (metadata.get("training_data", {}).get("split") or {}).get("group")
    group = load_config(config).data.group if config else recorded
    named = [column for column in found if _names_a_listing(column) or column == group]
    return [column for column in named if column not in columns.values()]


def _names_a_listing(column: str) -> bool:
    """Whether a column's name says it identifies the listing: an id, or a listing code (`SKU`, `Variant SKU`)."""
    words = WORD_SEPARATORS.split(column.strip().lower())
    return (
        bool(ID_WORD.search(column.strip()))
        or column.lower().replace(" ", "") in LISTING_CODES
        or (words[-1] in LISTING_CODES)
    )


def _id_columns(given: list[str], found: pd.Index) -> list[str]:
    """The columns --id (ID=) names: each value a column of the file, or a comma-separated list of them."""
    return [
        column
        for value in given
        for column in ([value] if value in found else [part.strip() for part in value.split(",") if part.strip()])
    ]


def input_columns(metadata: dict[str, Any], config: Path | None) -> dict[str, str]:
    """Which file column feeds each model input: CONFIG's mapping when given, else the columns the model was trained
    from (its metadata records them), else the inputs' own names."""
    if config:
        data = load_config(config).data
        mapped = dict(data.columns)
        unmapped = [spec["name"] for spec in metadata["inputs"] if spec["name"] not in mapped]
        if unmapped:
            raise DataValidationError(
                f"CONFIG {config} maps no column to the model's input(s) {unmapped}; add them to its data.columns"
            )
        _check_currency(data.currency, metadata, config)
        return {spec["name"]: mapped[spec["name"]] for spec in metadata["inputs"]}
    recorded = metadata.get("columns")
    if isinstance(recorded, dict) and set(recorded) == {spec["name"] for spec in metadata["inputs"]}:
        return {str(name): str(column) for name, column in recorded.items()}
    return {spec["name"]: spec["name"] for spec in metadata["inputs"]}


def _check_currency(currency: dict[str, str], metadata: dict[str, Any], config: Path) -> None:
    """CONFIG's `data.currency` must be the model's: prices are read as the model was trained on them, so another
    currency would be ignored and every price refused row by row.

    Raises:
        DataValidationError: Naming the first input whose currency differs.
    """
    trained = {spec["name"]: spec.get("currency") for spec in metadata["inputs"] if spec["type"] == "float"}
    for name, code in currency.items():
        if name in trained and trained[name] != code:
            how = f"in {trained[name]}" if trained[name] else "as plain numbers"
            raise DataValidationError(
                f"CONFIG {config} reads {name} in {code}, but the model was trained on it {how}, and reads it so: "
                f"convert the file's prices, or drop data.currency's {name} from the config"
            )


def check_out(out: Path, *, replace: bool) -> None:
    """OUT must be a new or empty local folder, or (with `replace`) a folder of earlier predictions and nothing else:
    replacing deletes it, and a folder that holds anything else (the data, notes, a working directory) is not ours
    to delete.

    Raises:
        DataValidationError: OUT is a URI or a file, a non-empty folder without `replace`, or one holding anything
            but a run's Parquet parts.
    """
    check_local(out, role="PREDICTIONS (OUT)", what="the predictions")
    if out.exists() and not out.is_dir():
        raise DataValidationError(f"OUT {out} is a file; name a folder for the predictions")
    entries = sorted(out.iterdir()) if out.is_dir() else []
    if entries and not replace:
        raise DataValidationError(
            f"OUT {out} is not empty; choose a new folder, or pass --replace (REPLACE=1) to replace it after success"
        )
    others = [entry.name for entry in entries if not (entry.is_file() and PREDICTION_PART.fullmatch(entry.name))]
    if others:
        raise DataValidationError(
            f"OUT {out} holds {others[:3]}{' and more' if len(others) > 3 else ''}, which `make predict` did not "
            "write: REPLACE=1 replaces only a folder of earlier predictions (part.N.parquet); choose a new folder"
        )
    foreign = [entry.name for entry in entries if not _predictions_part(entry)]
    if foreign:
        raise DataValidationError(
            f"OUT {out} holds Parquet parts without the predictions' columns ({', '.join(sorted(PREDICTION_COLUMNS))})"
            f", e.g. {foreign[:3]}, which `make predict` did not write (a dataset Dask wrote names its parts alike): "
            "REPLACE=1 replaces only a folder of earlier predictions; choose a new folder"
        )


def _predictions_part(path: Path) -> bool:
    """Whether a Parquet part holds a run's predictions (`PREDICTION_COLUMNS`): Dask names any dataset's parts so."""
    try:
        return PREDICTION_COLUMNS.issubset(pq.read_schema(path).names)
    except (OSError, pa.ArrowInvalid):
        return False


def _part_name(scored: dd.DataFrame) -> Any:
    """Dask's part names, zero-padded to as many digits as the last one's (`part.07.parquet`), so the parts sort by
    name in input order: pandas and pyarrow read a folder's parts in text order, where part.10 comes before part.2."""
    width = len(str(max(scored.npartitions - 1, 0)))
    return lambda index: f"part.{index:0{width}d}.parquet"


def check_data_outside(data: str, files: list[str], filesystem: pafs.FileSystem, out: Path) -> None:
    """DATA must not be read from inside OUT, which a replacing run deletes once it has scored it; nor OUT be written
    inside a DATA folder, whose next run would read the predictions as listings.

    Raises:
        DataValidationError: A local data file lies under OUT, or OUT under the local DATA folder.
    """
    if not isinstance(filesystem, pafs.LocalFileSystem):
        return
    inside = [path for path in files if Path(path).resolve().is_relative_to(out.resolve())]
    if inside:
        raise DataValidationError(
            f"DATA {inside[0]} is inside OUT {out}, which the predictions replace: write them to another folder"
        )
    if Path(data).is_dir() and out.resolve().is_relative_to(Path(data).resolve()):
        raise DataValidationError(
            f"OUT {out} is inside DATA {data}: the next run on DATA would read the predictions as listings; write "
            "them to a folder outside it"
        )


def _predictions_hint(columns: pd.Index) -> str:
    """ " (…)" when the columns are those `make predict` writes (DATA given its own output), else ""."""
    if {"label", "confidence", "refused", "decision"} <= set(map(str, columns)):
        return " (these are the columns `make predict` writes: give DATA the catalogue, not a folder of predictions)"
    return ""


@app.command()
def main(
    model: Annotated[Path, typer.Option(help="The exported ONNX graph.")] = Path("artifacts/model.onnx"),
    data: Annotated[str, typer.Option(help="CSV/TSV/Parquet file, glob or folder; local or s3://.")] = "",
    out: Annotated[Path, typer.Option(help="Parquet folder for the predictions.")] = Path("predictions.parquet"),
    engine: Annotated[str, typer.Option(help="local (this process) or dask (a cluster).")] = "local",
    config: Annotated[Path | None, typer.Option(help="Config mapping inputs to the data's columns.")] = None,
    id_column: Annotated[
        list[str] | None,
        typer.Option(
            "--id",
            help="Column(s) to copy beside the answers (repeat it, or separate them by commas), instead of those "
            "named like ids and data.group.",
        ),
    ] = None,
    replace: Annotated[bool, typer.Option(help="Replace a non-empty OUT after the new predictions are done.")] = False,
    target_precision: Annotated[
        str, typer.Option(help="The precision to decide accept or review at: one of the model's operating points.")
    ] = str(DEFAULT_TARGET_PRECISION),
    explain: Annotated[
        bool, typer.Option(help="Add each row's explanation (title words' and fields' effects).")
    ] = False,
) -> None:
    """Score a catalogue in bulk with the ONNX graph."""
    configure_logging()
    try:
        if not data:
            raise DataValidationError("set DATA=<CSV/TSV/Parquet file, glob or folder> to score")
        summary = predict_catalogue(
            model=model, data=data, out=out, engine=engine, config=config, ids=id_column, replace=replace,
            target_precision=_precision(target_precision), explain=explain,
        )  # fmt: skip
    except TrainingError as exc:
        logger.error(str(exc))
        raise typer.Exit(code=1) from None
    typer.echo(json.dumps(summary, indent=2))


def _precision(text: str) -> float:
    """TARGET_PRECISION as a number, checked here so that text is one line, not typer's usage box.

    Raises:
        DataValidationError: Not a finite number.
    """
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise DataValidationError(f"TARGET_PRECISION must be a number such as 0.98, got {text!r}")
    return value


def _compute(writing: Any, engine: str) -> None:
    """Run the writing graph on this machine's threads or on a Dask cluster."""
    if engine == "dask":
        with dask_client("training.cli.predict"):
            dask.compute(writing)
        return
    from dask.diagnostics import ProgressBar

    with ProgressBar(out=sys.stderr):  # stdout carries the JSON summary alone
        # The threaded scheduler itself, not its name: given a name, dask imports distributed (~1 s) to look
        # for a running client, which bulk scoring on this machine never has.
        dask.compute(writing, scheduler=dask.threaded.get)


def _schema(meta: pd.DataFrame) -> pa.Schema:
    """The output's Arrow schema, declared: text columns as strings (an empty partition cannot show their type)."""
    return pa.schema([(str(name), _arrow_type(dtype)) for name, dtype in meta.dtypes.items()])


def _arrow_type(dtype: Any) -> pa.DataType:
    """Numbers and booleans as themselves (nullable ones too), everything else as text."""
    if pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
        return pa.from_numpy_dtype(getattr(dtype, "numpy_dtype", dtype))
    return pa.string()


def _staging_folder(out: Path) -> Path:
    """A new folder beside OUT (same filesystem, so the final move is a rename).

    Raises:
        DataValidationError: OUT's parent cannot be written.
    """
    staging = out.parent / f".{out.name}.staging-{uuid.uuid4().hex[:12]}"
    try:
        staging.mkdir(parents=True)
    except OSError as exc:
        raise DataValidationError(f"cannot write OUT {out}: {exc.strerror or exc}") from exc
    return staging


def _publish(staging: Path, out: Path, *, replace: bool) -> None:
    """Move the finished staging folder to OUT. Without `replace`, OUT must still be missing or empty: a rename onto a
    folder that something wrote into meanwhile (another run, a note) fails rather than delete it. With `replace`, OUT
    is checked again (`check_out`: still predictions and nothing else), swapped out, then deleted.

    Raises:
        DataValidationError: OUT was written into while the run scored, or cannot be written.
    """
    if replace and out.exists():
        check_out(out, replace=True)
        old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:12]}"
        out.rename(old)
        staging.rename(out)
        shutil.rmtree(old, ignore_errors=True)
        return
    try:
        staging.rename(out)
    except OSError as exc:
        if not out.is_dir():
            raise DataValidationError(f"cannot publish the predictions to OUT {out}: {exc.strerror or exc}") from exc
        held = sorted(entry.name for entry in out.iterdir())
        raise DataValidationError(
            f"OUT {out} was written into while this run scored (it now holds {held[:3]}"
            f"{' and more' if len(held) > 3 else ''}): its predictions are not published over it; run again into a "
            "new folder"
        ) from exc


def _thresholds(metadata: dict[str, Any], target: float) -> Thresholds | None:
    """The thresholds decisions are taken with at `target`, None for a model that records no operating points.

    Raises:
        DataValidationError: `target` is not one of the model's operating points.
    """
    depth = hierarchy_from_metadata(metadata["taxonomy"]).depth
    try:
        points = read_operating_points(metadata, depth)
    except ValueError as exc:
        raise DataValidationError(f"the model's operating points are malformed: {exc}") from exc
    if points is None:
        return None
    found = points.find(target)
    if found is None:
        raise DataValidationError(
            f"TARGET_PRECISION {target} is not one of the model's operating points {points.targets}"
        )
    return found


def _decisions(
    thresholds: Thresholds, target: float, result: pd.DataFrame, path: tuple[np.ndarray, np.ndarray, np.ndarray],
    refused: np.ndarray,
) -> dict[str, Any]:  # fmt: skip
    """Each scored row's decision at `target`, taken by the function's own rule (`handler.decisions.decide`).

    Args:
        thresholds: The target's thresholds.
        target: The target precision.
        result: The scored rows (their `path` and `confidence`).
        path: The rows' path nodes and confidences, and every node's display path.
        refused: The rows left unscored.
    """
    nodes, confidence, names = path
    decided = []
    for skip, label, score, row, values in zip(
        refused, result["path"], result["confidence"], nodes, confidence, strict=True
    ):
        steps = [(names[node], float(value)) for node, value in zip(row, values, strict=True) if node >= 0]
        decided.append(None if skip else decide(thresholds, target, label=label, confidence=float(score), path=steps))
    return {
        "decision": [d.decision if d else None for d in decided],
        "decision_level": pd.array([d.level if d else None for d in decided], dtype="Int64"),
        "decision_label": [d.label if d else None for d in decided],
    }


def _decision_summary(parts: list[Path]) -> dict[str, Any]:
    """How many rows were accepted at each level and how many go to review, whole or their category alone (accepted
    at a level above it, "right department, unsure leaf"): what a team plans its reviewers by."""
    columns = ["label", "decision", "decision_level", "decision_label"]
    tables = [pq.read_table(path, columns=columns).to_pandas() for path in parts]
    decided = pd.concat(tables, ignore_index=True).dropna(subset=["decision"])
    accepted = decided[decided["decision"] == ACCEPT]
    return {
        "accepted": len(accepted),
        "accepted_by_level": {
            int(level): int(n) for level, n in accepted["decision_level"].value_counts().sort_index().items()
        },
        "review": int((decided["decision"] == REVIEW).sum()),
        "leaf_review": int(
            accepted_above_category(decided["decision"], decided["decision_label"], decided["label"]).sum()
        ),
    }


def _explanations(
    session: ort.InferenceSession, inputs: list[dict[str, Any]], feed: dict[str, np.ndarray], probabilities: np.ndarray,
    answered: np.ndarray, text: str,
) -> list[str]:  # fmt: skip
    """Each row's explanation as JSON, computed as the API computes it (`handler.explain.occlusions`, one batched
    run): the answered class's probability with each title word and each other field, minus without it."""
    found = []
    for index in range(len(answered)):
        row = {spec["name"]: _request_value(feed[spec["name"]][index, 0], spec) for spec in inputs}
        words, fields, rows = occlusions(row, text=text, inputs=inputs)
        effects: list[float] = []
        if rows:
            occluded = _feeds(pd.DataFrame(rows), inputs, {spec["name"]: spec["name"] for spec in inputs}, "data")
            scored = session.run(["probabilities"], occluded)[0][:, answered[index]]
            effects = (float(probabilities[index, answered[index]]) - scored.astype(float)).tolist()
        ranked = sorted(zip(words, effects[: len(words)], strict=True), key=lambda item: -abs(item[1]))
        found.append(json.dumps({"words": [{"word": w, "delta": d} for w, d in ranked],
                                 "fields": [{"field": f, "delta": d}
                                            for f, d in zip(fields, effects[len(words) :], strict=True)]}))  # fmt: skip
    return found


def _warn_of_absent_inputs(found: dict[str, list[str]], columns: dict[str, str], optional: set[str]) -> None:
    """Say which files lack an optional input's column: their rows score it as missing, as the API scores an omitted
    field (a later file may lack what the first has). One line per set of absent inputs, however many files."""
    lacking: dict[tuple[str, ...], list[str]] = {}
    for path, names in found.items():
        absent = tuple(sorted(name for name, column in columns.items() if name in optional and column not in names))
        if absent:
            lacking.setdefault(absent, []).append(path)
    for inputs, paths in lacking.items():
        wanted = sorted(columns[name] for name in inputs)
        # A column spelt otherwise (`Price` for `price`) is a config away from being read, not missing.
        fixes = column_name_fixes(found[paths[0]], wanted)
        advice = f"; the file names {fixes} otherwise: pass a CONFIG whose data.columns name them so" if fixes else ""
        logger.warning(
            f"optional inputs not in the file: scored as missing, as the API scores an omitted field{advice}",
            extra={"inputs": list(inputs), "columns": wanted,
                   "files": len(paths), "file": paths[0], "other_files": paths[1:MAX_NAMED_FILES]},
        )  # fmt: skip


def _warn_of_multiline_titles(titles: np.ndarray, source: str) -> None:
    """Say when titles span several lines: legal in a quoted field, and what one unclosed quote makes of the rows
    after it (in a TSV feed, which quotes nothing), merged into one title and scored as one listing."""
    broken = sum(1 for title in titles if "\n" in title or "\r" in title)
    if broken:
        logger.warning(
            "titles span several lines: where a quote in the file is not closed, the rows after it were read into "
            "one title and scored as one listing (make check-data names them)",
            extra={"file": source, "rows": broken},
        )


def _request_value(value: Any, spec: dict[str, Any]) -> Any:
    """A fed value as a request would carry it: NaN as None (missing), text as it is."""
    if spec["type"] == "float":
        return None if np.isnan(value) else float(value)
    return str(value)


def _refusals(
    feeds: dict[str, np.ndarray], inputs: list[dict[str, Any]], frame: pd.DataFrame, columns: dict[str, str]
) -> np.ndarray:
    """Why the API would refuse each row with a 422 (None for a row it answers), naming the first field at fault as
    its 422 would: a string longer than its input's max_length, a required string (the title) without a character
    the model reads, a number the API refuses (`_feeds` makes each one infinite; the frame's cell says why)."""
    reasons = np.full(len(next(iter(feeds.values()))), None, dtype=object)
    for spec in inputs:
        values = feeds[spec["name"]][:, 0]
        faults: list[tuple[np.ndarray, Any]]
        if spec["type"] == "float":
            refused = np.isinf(values)
            faults = [(refused, _number_faults(frame[columns[spec["name"]]], spec) if refused.any() else "")]
        else:
            limit = int(spec.get("max_length") or MAX_TEXT_LENGTH)
            faults = [
                (
                    np.fromiter((len(value) > limit for value in values), bool, len(values)),
                    f"longer than {limit:,} characters",
                )
            ]
            if spec.get("required"):
                dropped = spec.get("dropped", [])
                readable = not_blank_regex(dropped)
                faults.append(
                    (
                        np.fromiter((readable.search(value) is None for value in values), bool, len(values)),
                        f"empty, or {blank_reason(dropped)} alone",
                    )
                )
        for fault, why in faults:
            reasons = np.where(fault & pd.isna(reasons), np.char.add(f"{spec['name']}: ", why), reasons)
    return reasons


def _number_faults(values: pd.Series, spec: dict[str, Any]) -> np.ndarray:
    """Each refused number's reason as text (the others' are never read)."""
    return number_faults(values, currency=spec.get("currency")).fillna("").to_numpy(str)


@cache
def _display_paths(model_bytes: bytes) -> tuple[np.ndarray, int]:
    """Each taxonomy node's whole path, by node id, as the API names it (its names joined with the labels' own
    separator: a leaf's is its label), and the taxonomy's depth (built once per process)."""
    hierarchy = hierarchy_from_metadata(model_metadata(model_bytes)["taxonomy"])
    separator = hierarchy.separator or ""
    names = [
        separator.join(hierarchy.names[step] for step in hierarchy.path(node)) for node in range(len(hierarchy.names))
    ]
    return np.asarray(names, dtype=object), hierarchy.depth


def _session(model_bytes: bytes) -> ort.InferenceSession:
    """One onnxruntime session per process and model, single-threaded (one per Dask worker thread)."""
    return ort.InferenceSession(model_bytes, sess_options=session_options(1), providers=["CPUExecutionProvider"])


def _feeds(
    frame: pd.DataFrame, inputs: list[dict[str, Any]], columns: dict[str, str], source: str
) -> dict[str, np.ndarray]:
    """[N,1] tensors per input: strings ("" when missing), float32 numbers (NaN when missing, infinite when the API
    would refuse them); an input whose column the frame lacks is missing."""
    feeds = {}
    for spec in inputs:
        column = columns[spec["name"]]
        # An optional input's column the file lacks is missing on every row, as an omitted field is to the API.
        values = frame[column] if column in frame.columns else pd.Series(None, index=frame.index, dtype=object)
        if spec["type"] == "float":
            # Training's parse. A value training and the API refuse (text such as "$12.99", a date, beyond float32)
            # becomes infinite, which `_refusals` leaves unscored, without numpy's overflow warning on the cast.
            parsed, invalid = parse_numbers(values, currency=spec.get("currency"))
            numbers = np.where(invalid.to_numpy(), np.inf, parsed.to_numpy(np.float64))
            feeds[spec["name"]] = numbers.astype(np.float32).reshape(-1, 1)
        else:
            text = text_values(values, column=columns[spec["name"]], source=source, missing=spec.get("default") or "")
            feeds[spec["name"]] = text.to_numpy(object).reshape(-1, 1)
    return feeds


if __name__ == "__main__":
    run(app)
