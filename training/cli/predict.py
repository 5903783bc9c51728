"""`make predict`: score a whole catalogue with the exported ONNX graph, on this machine or on a Dask cluster.

One Dask graph either way: the catalogue is read file by file (CSV or Parquet, a file, a glob or a folder,
local or `s3://` through pyarrow's filesystems), each partition is scored by onnxruntime in the worker that
holds it — rows sorted by title length and run in chunks, as the function does — and the answers are
written as Parquet: the input's id columns, `label`, `confidence` and the top three classes. `--engine
local` runs the graph in this process with a progress bar; `--engine dask` on a `LocalCluster` (or the
cluster at DASK_SCHEDULER_ADDRESS) and prints the dashboard link. Missing strings score as "" and
missing or unparsable numbers as missing, as the API does for omitted fields.
"""

from __future__ import annotations

import json
import logging
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import dask
import dask.dataframe as dd
import dask.threaded
import numpy as np
import onnxruntime as ort
import pandas as pd
import pyarrow.parquet as pq
import typer

from training.cli.logging_setup import configure_logging
from training.config import load_config
from training.data.sources import catalogue_files, read_file
from training.engines.dask.cluster import dask_client
from training.exceptions import DataValidationError, TrainingError
from training.model.metadata import METADATA_KEY

CHUNK_ROWS = 256
TOP_K = 3
logger = logging.getLogger(__name__)
app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@cache
def model_metadata(model_bytes: bytes) -> dict[str, Any]:
    """The metadata training embedded in the graph (parsed once per process, not once per partition)."""
    return json.loads(_session(model_bytes).get_modelmeta().custom_metadata_map[METADATA_KEY])


def score_partition(
    frame: pd.DataFrame, model_bytes: bytes, *, columns: dict[str, str], ids: list[str]
) -> pd.DataFrame:
    """Score one partition: id columns, label, confidence and the top classes, in the partition's row order."""
    session = _session(model_bytes)
    metadata = model_metadata(model_bytes)
    classes = np.asarray(metadata["classes"], dtype=object)
    feeds = _feeds(frame, metadata["inputs"], columns)
    text = next(spec["name"] for spec in metadata["inputs"] if spec.get("required"))
    order = np.argsort(
        np.fromiter((len(t) for t in feeds[text][:, 0]), dtype=np.int64, count=len(frame)), kind="stable"
    )
    probabilities = np.zeros((len(frame), len(classes)), dtype=np.float32)
    for start in range(0, len(frame), CHUNK_ROWS):
        rows = order[start : start + CHUNK_ROWS]
        _, chunk = session.run(["label", "probabilities"], {name: array[rows] for name, array in feeds.items()})
        probabilities[rows] = chunk
    best = np.argsort(-probabilities, axis=1, kind="stable")[:, :TOP_K]
    result = frame[ids].reset_index(drop=True).copy()
    result["label"] = classes[best[:, 0]]
    result["confidence"] = probabilities[np.arange(len(frame)), best[:, 0]]
    for k in range(min(TOP_K, len(classes))):
        result[f"top_{k + 1}_label"] = classes[best[:, k]]
        result[f"top_{k + 1}_probability"] = probabilities[np.arange(len(frame)), best[:, k]]
    return result


def predict_catalogue(
    *, model: Path, data: str, out: Path, engine: str, config: Path | None, ids: list[str] | None
) -> dict[str, Any]:
    """Read, score and write; returns a summary.

    Raises:
        TrainingError: The model, data, columns or engine are not usable; the message says how to fix it.
    """
    if engine not in {"local", "dask"}:
        raise DataValidationError(f"ENGINE must be local or dask, got {engine!r}")
    if not model.is_file():
        raise DataValidationError(
            f"model not found: {model}; pass MODEL=<path to a model.onnx> (`make train` writes artifacts/model.onnx, "
            "or OUT/model.onnx with OUT=), or run `make train` if there is none yet"
        )
    model_bytes = model.read_bytes()
    metadata = model_metadata(model_bytes)
    filesystem, files = catalogue_files(data)
    first = read_file(files[0], filesystem)
    columns = dict(load_config(config).data.columns) if config else {s["name"]: s["name"] for s in metadata["inputs"]}
    missing = [f"{column!r} (input {name!r})" for name, column in columns.items() if column not in first.columns]
    if missing:
        raise DataValidationError(
            f"{files[0]}: missing column {', '.join(missing)}; found {list(first.columns)}. Pass CONFIG= to map them."
        )
    ids = ids or [c for c in first.columns if c.lower().replace(" ", "").endswith("id") and c not in columns.values()]
    unknown = [column for column in ids if column not in first.columns]
    if unknown:
        raise DataValidationError(f"id column(s) {unknown} not in {list(first.columns)}")
    catalogue = dd.from_map(read_file, files, filesystem=filesystem, meta=first.iloc[:0])
    blob = dask.delayed(model_bytes, pure=True)
    meta = score_partition(first.head(1), model_bytes, columns=columns, ids=ids).iloc[:0]
    scored = catalogue.map_partitions(score_partition, blob, columns=columns, ids=ids, meta=meta)
    writing = scored.to_parquet(str(out), write_index=False, compute=False)
    if engine == "dask":
        with dask_client("training.cli.predict"):
            dask.compute(writing)
    else:
        from dask.diagnostics import ProgressBar

        with ProgressBar():
            # The threaded scheduler itself, not its name: given a name, dask imports distributed (~1 s) to look
            # for a running client, which bulk scoring on this machine never has.
            dask.compute(writing, scheduler=dask.threaded.get)
    rows = sum(pq.ParquetFile(path).metadata.num_rows for path in sorted(out.glob("*.parquet")))
    return {"model_version": metadata.get("model_version"), "files": len(files), "rows": rows, "out": str(out)}


@app.command()
def main(
    model: Annotated[Path, typer.Option(help="The exported ONNX graph.")] = Path("artifacts/model.onnx"),
    data: Annotated[str, typer.Option(help="CSV/Parquet file, glob or folder; local or s3://.")] = "",
    out: Annotated[Path, typer.Option(help="Parquet folder for the predictions.")] = Path("predictions.parquet"),
    engine: Annotated[str, typer.Option(help="local (this process) or dask (a cluster).")] = "local",
    config: Annotated[Path | None, typer.Option(help="Config mapping inputs to the data's columns.")] = None,
    id_column: Annotated[list[str] | None, typer.Option("--id", help="Id column(s) to copy (default: *ID).")] = None,
) -> None:
    """Score a catalogue in bulk with the ONNX graph."""
    configure_logging()
    try:
        if not data:
            raise DataValidationError("set DATA=<CSV/Parquet file, glob or folder> to score")
        summary = predict_catalogue(model=model, data=data, out=out, engine=engine, config=config, ids=id_column)
    except TrainingError as exc:
        logger.error(str(exc))
        raise typer.Exit(code=1) from None
    typer.echo(json.dumps(summary, indent=2))


@cache
def _session(model_bytes: bytes) -> ort.InferenceSession:
    """One onnxruntime session per process and model, single-threaded (one per Dask worker thread)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model_bytes, sess_options=options, providers=["CPUExecutionProvider"])


def _feeds(frame: pd.DataFrame, inputs: list[dict[str, Any]], columns: dict[str, str]) -> dict[str, np.ndarray]:
    """[N,1] tensors per input: strings ("" when missing), float32 numbers (NaN when missing or unparsable)."""
    feeds = {}
    for spec in inputs:
        values = frame[columns[spec["name"]]]
        if spec["type"] == "float":
            feeds[spec["name"]] = pd.to_numeric(values, errors="coerce").to_numpy(np.float32).reshape(-1, 1)
        else:
            default = spec.get("default") or ""
            feeds[spec["name"]] = (
                values.astype(object).where(values.notna(), default).astype(str).to_numpy(object).reshape(-1, 1)
            )
    return feeds


if __name__ == "__main__":
    app()
