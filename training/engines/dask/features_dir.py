"""The FEATURES folder (`make train ENGINE=dask FEATURES=<folder or s3://...>`): featurized partitions kept for a rerun.

Stage 3 writes every featurized partition there as `part-NNNNN.npz` and, last, the state the LightGBM stage
starts from (`state.joblib`: the fitted features, partition sizes and classes, test sample, data report).
A folder with a state file is complete; a rerun with the same data and config (same fingerprint) reads it
and starts at the LightGBM stage.
"""

from __future__ import annotations

import io
import logging
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import joblib
import numpy as np
from pyarrow import fs as pafs
from scipy import sparse

from training.engines.dask.prepare import SPLIT_NAMES

if TYPE_CHECKING:
    from training.engines.dask.featurize import Featurized

STATE_FILE = "state.joblib"
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeaturesDir:
    """The FEATURES folder, opened: a pyarrow filesystem and the folder's path on it.

    Picklable, so the workers that featurize a partition write it there themselves.
    """

    filesystem: pafs.FileSystem
    path: str

    @classmethod
    def open(cls, features_dir: str) -> FeaturesDir:
        """The folder `features_dir` names (local or s3://), created if new."""
        uri = features_dir if "://" in features_dir else str(Path(features_dir).resolve())
        filesystem, path = pafs.FileSystem.from_uri(uri)
        filesystem.create_dir(path, recursive=True)
        return cls(filesystem, path)

    def write_partition(self, index: int, result: dict[str, Any]) -> None:
        """One featurized partition (CSR matrices and labels per split) as an .npz, without pickles."""
        arrays: dict[str, np.ndarray] = {}
        for key, value in result.items():
            if key.endswith("_x"):
                arrays |= {f"{key}_{attr}": getattr(value, attr) for attr in ("data", "indices", "indptr")}
                arrays[f"{key}_shape"] = np.asarray(value.shape)
            else:
                arrays[key] = value
        buffer = io.BytesIO()
        np.savez(buffer, allow_pickle=False, **arrays)
        with self.filesystem.open_output_stream(self._partition_path(index)) as handle:
            handle.write(buffer.getvalue())

    def read_partition(self, index: int) -> dict[str, Any]:
        """One featurized partition, read back from its .npz."""
        with self.filesystem.open_input_stream(self._partition_path(index)) as handle:
            stored = np.load(io.BytesIO(handle.read()))
        result: dict[str, Any] = {}
        for name in SPLIT_NAMES.values():
            key = f"{name}_x"
            parts = (stored[f"{key}_data"], stored[f"{key}_indices"], stored[f"{key}_indptr"])
            result[key] = sparse.csr_matrix(parts, shape=tuple(stored[f"{key}_shape"]))
            result[f"{name}_y"] = stored[f"{name}_y"]
        return result

    def write_state(self, featurized: Featurized) -> None:
        """Everything but the partitions, written last: a folder with a state file is complete."""
        buffer = io.BytesIO()
        joblib.dump(featurized, buffer)
        with self.filesystem.open_output_stream(f"{self.path}/{STATE_FILE}") as handle:
            handle.write(buffer.getvalue())

    def read_state(self, fingerprint: str) -> Featurized | None:
        """The folder's state if it is complete and was made from this data and config, else None."""
        if self.filesystem.get_file_info(f"{self.path}/{STATE_FILE}").type != pafs.FileType.File:
            return None
        with self.filesystem.open_input_stream(f"{self.path}/{STATE_FILE}") as handle:
            try:
                featurized = joblib.load(io.BytesIO(handle.read()))
            except (pickle.UnpicklingError, AttributeError, ImportError, EOFError):
                # Written by another version of this code (its classes moved or changed): featurize again.
                logger.info("FEATURES folder was made by other code; featurizing again", extra=self._extra())
                return None
        if featurized.fingerprint != fingerprint:
            logger.info(
                "FEATURES folder was made from other data or config; featurizing again", extra={"folder": self.path}
            )
            return None
        return featurized

    def _partition_path(self, index: int) -> str:
        """Where partition `index` is kept."""
        return f"{self.path}/part-{index:05d}.npz"

    def _extra(self) -> dict[str, str]:
        """The folder, for log lines."""
        return {"folder": self.path}
