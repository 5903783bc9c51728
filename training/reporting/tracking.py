"""MLflow tracking: where runs go, and what each run records and registers."""

from __future__ import annotations

import logging
import os
import re
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

import mlflow
import mlflow.onnx
from mlflow import MlflowClient
from mlflow.models import infer_signature

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    import numpy as np
    import onnx

SERVING_REQUIREMENTS = ("onnxruntime", "onnx", "numpy")
CANDIDATE_ALIAS = "candidate"
logger = logging.getLogger(__name__)


def configure_tracking(project_root: Path, experiment: str) -> str:
    """Point MLflow at `MLFLOW_TRACKING_URI`, or a sqlite store in the project, and return the experiment id.

    A new experiment keeps its artifacts in `mlartifacts/` beside the store rather than in the current
    directory, so runs started from anywhere land in one place.
    """
    uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{project_root / 'mlruns.db'}"
    mlflow.set_tracking_uri(uri)
    existing = mlflow.get_experiment_by_name(experiment)
    if existing is not None:
        return existing.experiment_id
    location = (project_root / "mlartifacts").as_uri() if uri.startswith("sqlite:") else None
    return mlflow.create_experiment(experiment, artifact_location=location)


@contextmanager
def tracked_run(
    project_root: Path, *, experiment: str, run_name: str, tags: dict[str, str] | None = None
) -> Iterator[str]:
    """An MLflow run around the block, marked FAILED if the block raises; yields the run's id.

    Args:
        project_root: Where the default sqlite store lives (see `configure_tracking`).
        experiment: The experiment's name, created when new.
        run_name: The run's name (see `name_run`).
        tags: Tags to search runs by (see `run_tags`).
    """
    experiment_id = configure_tracking(project_root, experiment)
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags) as run:
        yield run.info.run_id


def name_run(config_name: str, source: str, started: datetime) -> str:
    """A run name saying which config, which data and when: `pricerunner-pricerunner_aggregate-20261127T0431Z`.

    Args:
        config_name: The config's `name`.
        source: Where the data came from: a path, glob or s3:// address, or `synthetic(rows=..., seed=...)`.
        started: When the run started.
    """
    data = describe_data(source)
    # The synthetic config on synthetic data reads `synthetic-10000rows-…`, not `synthetic-synthetic-…`.
    named = data if data == config_name or data.startswith(f"{config_name}-") else f"{config_name}-{data}"
    return f"{named}-{started.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def describe_data(source: str) -> str:
    """A short name for the data: `synthetic-10000rows`, a file's stem, or a folder's or glob's last plain part."""
    synthetic = re.fullmatch(r"synthetic\(rows=(\d+).*\)", source)
    if synthetic:
        return f"synthetic-{synthetic.group(1)}rows"
    parts = [part for part in PurePosixPath(source.split("://", 1)[-1]).parts if not re.search(r"[*?\[]", part)]
    return PurePosixPath(parts[-1]).stem if parts else "data"


def run_tags(*, engine: str, classes: list[str], config_name: str, source: str, sha256: str) -> dict[str, str]:
    """Tags to find a run by: engine, number of categories (and their names while short), config and data."""
    names = ", ".join(classes)
    return {
        "engine": engine,
        "categories": str(len(classes)),
        "category_names": names if len(names) <= 1000 else f"{names[:1000]}…",
        "config": config_name,
        "data": describe_data(source),
        "data_sha256": sha256,
    }


def run_started() -> datetime:
    """Now, in UTC: when a run is named."""
    return datetime.now(UTC)


def log_onnx_model(
    model: onnx.ModelProto,
    *,
    input_example: dict[str, np.ndarray],
    output_example: dict[str, np.ndarray],
    registered_model: str,
    model_version: str,
) -> str:
    """Log the ONNX model with its signature, register a new version and alias it as the candidate.

    Returns:
        The registered version number, as MLflow numbers them.
    """
    info = mlflow.onnx.log_model(
        model,
        name="model",
        signature=infer_signature(input_example, output_example),
        input_example=input_example,
        registered_model_name=registered_model,
        onnx_execution_providers=["CPUExecutionProvider"],
        # Named, not inferred: MLflow's inference imports the model in a subprocess (~5 s per run).
        pip_requirements=[f"{name}=={metadata.version(name)}" for name in SERVING_REQUIREMENTS],
    )
    version = str(info.registered_model_version)
    client = MlflowClient()
    client.set_registered_model_alias(registered_model, CANDIDATE_ALIAS, version)
    client.set_model_version_tag(registered_model, version, "model_version", model_version)
    logger.info("registered", extra={"model": registered_model, "version": version, "alias": CANDIDATE_ALIAS})
    return version


def log_run_record(
    params: dict[str, Any], metrics: dict[str, float], files: list[Path], documents: dict[str, Any]
) -> None:
    """Log params, scalar metrics, files (plots) and JSON documents (reports) to the active run."""
    mlflow.log_params(params)
    mlflow.log_metrics(metrics)
    for path in files:
        mlflow.log_artifact(str(path))
    for name, document in documents.items():
        mlflow.log_dict(document, name)
