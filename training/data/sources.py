"""Where catalogues are read from: a CSV/Parquet file, a glob or a folder, local or s3:// (pyarrow's filesystems).

pyarrow's S3 filesystem honours AWS_ENDPOINT_URL, so a local S3 (moto, MinIO) works as the real one does.
s3fs is not used: it pins an aiobotocore that conflicts with the boto3 the project pins.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path, PurePosixPath

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from training.exceptions import DataValidationError

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def catalogue_files(data: str) -> tuple[pafs.FileSystem, list[str]]:
    """The CSV/Parquet files `data` names: a file, a glob (`*` in the last part) or a folder, local or s3://.

    Raises:
        DataValidationError: Nothing readable matches.
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
    if info.type == pafs.FileType.File and pattern is None:
        candidates = [root]
    elif info.type == pafs.FileType.Directory:
        selector = pafs.FileSelector(root, recursive=pattern is None)
        candidates = sorted(item.path for item in filesystem.get_file_info(selector) if item.is_file)
    else:
        raise DataValidationError(f"data not found: {data}")
    files = [
        path
        for path in candidates
        if PurePosixPath(path).suffix.lower() in FORMATS
        and (pattern is None or fnmatch.fnmatch(PurePosixPath(path).name, pattern))
    ]
    if not files:
        raise DataValidationError(f"no CSV or Parquet files match {data}")
    return filesystem, files


def read_file(path: str, filesystem: pafs.FileSystem) -> pd.DataFrame:
    """One file as a frame; CSV cells as text, so ids such as "007" keep their zeros.

    Raises:
        DataValidationError: The file cannot be read or parsed, naming it.
    """
    try:
        with filesystem.open_input_file(path) as handle:
            if FORMATS[PurePosixPath(path).suffix.lower()] == "csv":
                return pd.read_csv(handle, dtype=str, keep_default_na=False, na_values=[""])
            return pq.read_table(handle).to_pandas()
    except pd.errors.EmptyDataError as exc:
        raise DataValidationError(f"data file is empty: {path}") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, pa.ArrowInvalid, OSError) as exc:
        raise DataValidationError(f"cannot read {path}: {exc}") from exc
