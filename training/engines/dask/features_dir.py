"""The FEATURES folder (`make train ENGINE=dask FEATURES=<folder or s3://...>`): featurized partitions kept for a rerun.

Each run writes under the key of what the features depend on (the data and config fingerprint and the version
of this code) and in a folder of its own, so runs of other data, config or code never mix:

    <FEATURES>/<key>/<run>/part-NNNNN.npz    one featurized partition per file (numpy arrays, no pickles)
    <FEATURES>/<key>/<run>/state.joblib      what the LightGBM stage starts from (fitted features, sizes...)
    <FEATURES>/<key>/manifest.json           published last, in one atomic write: the run, every file's
                                             SHA-256 and an HMAC of it all

A run that dies mid-featurize publishes no manifest, so its files are never read. A rerun reads a
published run only if the manifest's HMAC verifies with this machine's key (`FEATURES_KEY`, or a random key
kept in ~/.cache/product-classifier/features.key), and each file only if its SHA-256 matches: the state is
unpickled only once it is known to be what a run holding the key wrote, never whatever someone with write
access to the prefix put there. Anything else is featurized again.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import os
import secrets
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import joblib
import numpy as np
from pyarrow import fs as pafs
from scipy import sparse

from training.engines.dask.prepare import SPLIT_NAMES
from training.environment import environment_setting

if TYPE_CHECKING:
    from training.engines.dask.featurize import Featurized

STATE_FILE = "state.joblib"
MANIFEST_FILE = "manifest.json"
KEY_ENV = "FEATURES_KEY"
KEY_FILE = Path.home() / ".cache" / "product-classifier" / "features.key"
TRAINING_ROOT = Path(__file__).resolve().parents[2]
logger = logging.getLogger(__name__)


class FeaturesIntegrityError(Exception):
    """A file of a published FEATURES run does not match the checksum its manifest records."""


@dataclass(frozen=True)
class FeaturesDir:
    """One run's place in the FEATURES folder, opened: a pyarrow filesystem, the key's folder and the run.

    Picklable, so the workers that featurize a partition write it there themselves.
    """

    filesystem: pafs.FileSystem
    path: str
    run: str
    fingerprint: str

    @classmethod
    def open(cls, features_dir: str, fingerprint: str) -> FeaturesDir:
        """The folder for this data and config (`fingerprint`) and this code, under `features_dir` (local or s3://).

        Args:
            features_dir: The FEATURES folder.
            fingerprint: What the features depend on in the data and config (`Catalogue.fingerprint`).
        """
        uri = features_dir if "://" in features_dir else str(Path(features_dir).resolve())
        filesystem, root = pafs.FileSystem.from_uri(uri)
        key = hashlib.sha256(f"{fingerprint}\n{code_version()}".encode()).hexdigest()[:32]
        return cls(filesystem, f"{root.rstrip('/')}/{key}", uuid.uuid4().hex, fingerprint)

    def write_partition(self, index: int, result: dict[str, Any]) -> str:
        """One featurized partition (CSR matrices and labels per split) as an .npz of this run; its SHA-256."""
        arrays: dict[str, np.ndarray] = {}
        for key, value in result.items():
            if key.endswith("_x"):
                arrays |= {f"{key}_{attr}": getattr(value, attr) for attr in ("data", "indices", "indptr")}
                arrays[f"{key}_shape"] = np.asarray(value.shape)
            else:
                arrays[key] = value
        buffer = io.BytesIO()
        np.savez(buffer, allow_pickle=False, **arrays)
        return self._write(f"{self.run}/{partition_name(index)}", buffer.getvalue())

    def publish(self, featurized: Featurized, partition_digests: list[str]) -> None:
        """Write the state, then the signed manifest naming this run: the run becomes readable in one write."""
        buffer = io.BytesIO()
        joblib.dump(featurized, buffer)
        files = {partition_name(index): digest for index, digest in enumerate(partition_digests)}
        files[STATE_FILE] = self._write(f"{self.run}/{STATE_FILE}", buffer.getvalue())
        manifest = {"fingerprint": self.fingerprint, "code_version": code_version(), "run": self.run, "files": files}
        signed = manifest | {"hmac": _sign(manifest)}
        staged = f"{self.path}/{MANIFEST_FILE}.{self.run}"
        with self.filesystem.open_output_stream(staged) as handle:
            handle.write(json.dumps(signed, indent=1).encode())
        # A rename on a local disk; S3 has none, but one object is written whole or not at all.
        self.filesystem.move(staged, f"{self.path}/{MANIFEST_FILE}")

    def read_published(self) -> tuple[Featurized, FeaturesDir, list[str]] | None:
        """The published run for this data, config and code, verified: its state, its folder, its part digests.

        None when there is none, or when its manifest or state does not verify (then featurize again).
        """
        manifest = self._verified_manifest()
        if manifest is None:
            return None
        published = FeaturesDir(self.filesystem, self.path, manifest["run"], self.fingerprint)
        try:
            state = published.read_file(STATE_FILE, manifest["files"][STATE_FILE])
        except (FeaturesIntegrityError, FileNotFoundError, KeyError, OSError) as exc:
            logger.warning("FEATURES state does not verify; featurizing again", extra=self._extra(str(exc)))
            return None
        featurized = joblib.load(io.BytesIO(state))
        digests = [manifest["files"][partition_name(index)] for index in range(len(featurized.partition_rows))]
        return featurized, published, digests

    def read_partition(self, index: int, digest: str) -> dict[str, Any]:
        """One featurized partition of this run, read back from its .npz once its SHA-256 matches `digest`.

        Raises:
            FeaturesIntegrityError: The file is not what the publishing run wrote.
        """
        stored = np.load(io.BytesIO(self.read_file(partition_name(index), digest)), allow_pickle=False)
        matrices = [f"{name}_x" for name in SPLIT_NAMES.values()]
        result: dict[str, Any] = {
            key: sparse.csr_matrix(
                (stored[f"{key}_data"], stored[f"{key}_indices"], stored[f"{key}_indptr"]),
                shape=tuple(stored[f"{key}_shape"]),
            )
            for key in matrices
        }
        parts_of_matrices = {f"{key}_{part}" for key in matrices for part in ("data", "indices", "indptr", "shape")}
        return result | {key: stored[key] for key in stored.files if key not in parts_of_matrices}

    def read_file(self, name: str, digest: str) -> bytes:
        """A file of this run, if its SHA-256 is `digest`.

        Raises:
            FeaturesIntegrityError: It is not.
        """
        with self.filesystem.open_input_stream(f"{self.path}/{self.run}/{name}") as handle:
            data = handle.read()
        if not hmac.compare_digest(hashlib.sha256(data).hexdigest(), digest):
            raise FeaturesIntegrityError(f"{self.path}/{self.run}/{name} does not match its published SHA-256")
        return data

    def _verified_manifest(self) -> dict[str, Any] | None:
        """The key's manifest if there is one, signed with this machine's key, for this data, config and code."""
        location = f"{self.path}/{MANIFEST_FILE}"
        if self.filesystem.get_file_info(location).type != pafs.FileType.File:
            return None
        with self.filesystem.open_input_stream(location) as handle:
            try:
                signed = json.loads(handle.read())
                manifest = {key: signed[key] for key in ("fingerprint", "code_version", "run", "files")}
                signature = str(signed["hmac"])
            except (ValueError, KeyError, TypeError):
                logger.warning("FEATURES manifest unreadable; featurizing again", extra=self._extra("unreadable"))
                return None
        if not hmac.compare_digest(signature, _sign(manifest)):
            logger.warning("FEATURES manifest not signed with this key; featurizing again", extra=self._extra("hmac"))
            return None
        if manifest["fingerprint"] != self.fingerprint or manifest["code_version"] != code_version():
            logger.info("FEATURES run made from other data, config or code; featurizing again", extra=self._extra())
            return None
        return manifest

    def _write(self, name: str, data: bytes) -> str:
        """Write one file under the key's folder; its SHA-256. The run's folder is made by its first file, so a
        rerun that reads a published run leaves no empty folder behind."""
        self.filesystem.create_dir(f"{self.path}/{self.run}", recursive=True)
        with self.filesystem.open_output_stream(f"{self.path}/{name}") as handle:
            handle.write(data)
        return hashlib.sha256(data).hexdigest()

    def _extra(self, reason: str = "") -> dict[str, str]:
        """The folder (and why), for log lines."""
        return {"folder": self.path, "reason": reason}


def partition_name(index: int) -> str:
    """The file name of partition `index`."""
    return f"part-{index:05d}.npz"


def code_version() -> str:
    """A digest of the training code, the libraries the features are computed with and Python's Unicode tables.

    Another version of any may featurize differently (or pickle differently), so it gets another key: the tables
    decide which characters make words and which the fold of look-alike spellings rewrites (`training.text`).
    """
    from importlib.metadata import version

    digest = hashlib.sha256()
    for path in sorted(TRAINING_ROOT.rglob("*.py")):
        digest.update(str(path.relative_to(TRAINING_ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    for package in ("numpy", "scipy", "scikit-learn", "lightgbm", "pandas", "joblib"):
        digest.update(f"{package}=={version(package)}\n".encode())
    digest.update(f"unicode=={unicodedata.unidata_version}\n".encode())
    return digest.hexdigest()


def _sign(manifest: dict[str, Any]) -> str:
    """The manifest's HMAC-SHA256 under this machine's key."""
    message = json.dumps(manifest, sort_keys=True).encode()
    return hmac.new(_key(), message, hashlib.sha256).hexdigest()


def _key() -> bytes:
    """FEATURES_KEY, or this user's random key (created on first use, readable by this user only)."""
    if key := environment_setting(KEY_ENV, ""):
        return key.encode()
    if not KEY_FILE.exists():
        KEY_FILE.parent.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another run created it just now
            pass
        else:
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_hex(32))
    return KEY_FILE.read_text().strip().encode()
