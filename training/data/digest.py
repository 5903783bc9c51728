"""The sha256 digests that identify a run's training data in the model's metadata and the MLflow record."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from pathlib import Path

    from pyarrow import fs as pafs

CHUNK_BYTES = 1 << 20


def file_sha256(path: str | Path, filesystem: pafs.FileSystem | None = None) -> str:
    """A file's sha256, read in chunks: a local file, or one on a pyarrow filesystem (read where it lies).

    Args:
        path: The file.
        filesystem: The pyarrow filesystem holding `path`; None for a local path.
    """
    digest = hashlib.sha256()
    with open(path, "rb") if filesystem is None else filesystem.open_input_stream(str(path)) as handle:
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def csv_sha256(frame: pd.DataFrame) -> str:
    """The sha256 of a generated catalogue as the CSV it would be written as (the local engine's synthetic data)."""
    return hashlib.sha256(frame.to_csv(index=False).encode()).hexdigest()


def rows_sha256(frame: pd.DataFrame) -> str:
    """The sha256 of a generated partition's row hashes (the Dask engine's synthetic data, partition by partition)."""
    return hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()).hexdigest()


def combined_sha256(digests: list[str]) -> str:
    """One digest for several files or partitions: the only one's, or the sha256 of them all in order."""
    return digests[0] if len(digests) == 1 else hashlib.sha256("".join(digests).encode()).hexdigest()
