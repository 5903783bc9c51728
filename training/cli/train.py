"""Train, evaluate, export and parity-check the classifier, tracked in MLflow; the `make train` CLI."""

from __future__ import annotations

import json
import logging
import platform
import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import replace
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Annotated, Any

import mlflow
import typer
from distributed import KilledWorker
from lightgbm import early_stopping
from lightgbm.basic import LightGBMError

from training.columns import GROUP, LABEL, extra_text_columns
from training.config import DEFAULT_CONFIG_PATH, PROJECT_ROOT, TrainConfig, load_config, to_params
from training.data.load import LoadedCatalogue, load_catalogue
from training.data.report import summary_text
from training.data.split import split_catalogue
from training.engines.dask.cluster import dask_client
from training.engines.dask.train import open_catalogue, train_on_cluster
from training.exceptions import DataValidationError, TrainingError
from training.model.export import (
    adversarial_frame,
    align_thresholds_to_float32,
    check_parity,
    embed_metadata,
    enforce_parity,
    golden_examples,
    input_schema,
    json_inputs,
    onnx_feeds,
    parity_report_dict,
    run_onnx,
    to_onnx_model,
)
from training.model.pipeline import TITLE_SCORES, FittedModel, build_pipeline, stacked_training_matrix
from training.reporting.evaluate import classification_metrics, plot_confusion_matrix, plot_feature_importance
from training.reporting.model_card import confusion_highlights, render_model_card
from training.reporting.tracking import configure_tracking, log_onnx_model, log_run_record

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd
    from sklearn.pipeline import Pipeline

    from training.data.split import Splits

LIBRARIES = ("numpy", "scikit-learn", "lightgbm", "onnx", "onnxruntime", "skl2onnx", "onnxmltools", "mlflow")
logger = logging.getLogger(__name__)
app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


def fit_model(config: TrainConfig, splits: Splits) -> Pipeline:
    """Fit the features on train, then LightGBM with early stopping on the validation split.

    Returns:
        The fitted pipeline, thresholds aligned to float32 (see `align_thresholds_to_float32`).
    """
    pipeline = build_pipeline(config.data, config.features, config.model)
    features = pipeline.named_steps["features"]
    train_matrix = stacked_training_matrix(
        features,
        splits.train,
        splits.train[LABEL],
        splits.train.get(GROUP),
        text=config.data.text,
        folds=config.features.stacking_folds,
        extra_text=extra_text_columns(splits.train),
        n_jobs=config.model.n_jobs,
    )
    validation_matrix = features.transform(splits.validation)
    logger.info("features", extra={"rows": train_matrix.shape[0], "columns": train_matrix.shape[1]})
    classifier = pipeline.named_steps["classifier"]
    with warnings.catch_warnings():
        # LightGBM 4.7 deprecates eval_set for eval_X/eval_y, but its eval_y path cannot encode string labels.
        warnings.filterwarnings("ignore", message=".*eval_set.*deprecated")
        classifier.fit(
            train_matrix,
            splits.train[LABEL],
            eval_set=[(validation_matrix, splits.validation[LABEL])],
            callbacks=[early_stopping(config.model.early_stopping_rounds, verbose=False)],
        )
    align_thresholds_to_float32(classifier)
    logger.info("fitted", extra={"best_iteration": classifier.best_iteration_, "classes": len(classifier.classes_)})
    return pipeline


def fit_locally(config: TrainConfig, catalogue: LoadedCatalogue) -> FittedModel:
    """The local engine: the catalogue in this process's memory, split, fitted and scored here."""
    frame, source, digest, report = catalogue.frame, catalogue.source, catalogue.sha256, catalogue.report
    splits = split_catalogue(frame, config.split)
    pipeline = fit_model(config, splits)
    title_model = pipeline.named_steps["features"].named_transformers_[TITLE_SCORES]
    return FittedModel(
        pipeline=pipeline,
        test=splits.test,
        test_labels=splits.test[LABEL],
        probabilities=pipeline.predict_proba(splits.test),
        baseline_predicted=title_model.predict(splits.test[[config.data.text]]),
        class_counts=splits.train[LABEL].value_counts(),
        sizes={
            "rows": len(frame),
            "n_train": len(splits.train),
            "n_validation": len(splits.validation),
            "n_test": len(splits.test),
        },
        source=source,
        sha256=digest,
        report=report,
    )


def run_training(
    config: TrainConfig,
    *,
    data_path: Path | str | None,
    out_dir: Path,
    engine: str = "local",
    features_dir: str | None = None,
) -> dict[str, Any]:
    """The whole offline pipeline, ending with the artifacts in `out_dir` and a registered model version.

    Both engines end in the same export, gates and records, so serving cannot tell which one trained the
    model. Data problems are found before anything is recorded; a failed parity gate leaves the MLflow run
    marked FAILED, registers nothing and writes nothing to `out_dir`.

    Args:
        config: The resolved config.
        data_path: A catalogue CSV (dask: also a glob or folder of CSV/Parquet, local or s3://), or None for
            the synthetic catalogue.
        out_dir: Where model.onnx, model.json, metrics.json and the plots go.
        engine: "local" (this process) or "dask" (the cluster at DASK_SCHEDULER_ADDRESS or a LocalCluster).
        features_dir: With dask, a folder for the featurized partitions, reused by a rerun.

    Returns:
        The run summary written to metrics.json.

    Raises:
        TrainingError: Bad data or config, a failed conversion or a failed parity gate.
    """
    if engine == "local":
        catalogue = load_catalogue(config, Path(data_path) if data_path else None)
        return _track(config, out_dir, lambda: fit_locally(config, catalogue))
    if engine != "dask":
        raise DataValidationError(f"ENGINE must be local or dask, got {engine!r}")
    catalogue = open_catalogue(config, str(data_path) if data_path else None)
    try:
        with dask_client("training.engines.dask.train") as client:
            return _track(config, out_dir, lambda: train_on_cluster(client, config, catalogue, features_dir))
    except (KilledWorker, LightGBMError) as exc:
        raise TrainingError(
            f"the Dask cluster failed ({type(exc).__name__}: {exc}); nothing was written. A worker that exceeds "
            "WORKER_MEMORY is restarted and its task retried, then given up on: raise WORKER_MEMORY or WORKERS. "
            "With FEATURES=<folder> a rerun starts at the LightGBM stage."
        ) from exc


def _track(config: TrainConfig, out_dir: Path, fit: Callable[[], FittedModel]) -> dict[str, Any]:
    """Fit inside an MLflow run, then evaluate, export, gate, record and publish to `out_dir`."""
    started = time.perf_counter()
    experiment_id = configure_tracking(PROJECT_ROOT, config.experiment)

    with (
        mlflow.start_run(experiment_id=experiment_id, run_name=config.name) as run,
        tempfile.TemporaryDirectory() as tmp,
    ):
        staging = Path(tmp)
        fit_started = time.perf_counter()
        fitted = fit()
        train_seconds = time.perf_counter() - fit_started
        pipeline, test_labels, probabilities = fitted.pipeline, fitted.test_labels, fitted.probabilities
        predicted = pipeline.classes_[probabilities.argmax(axis=1)]
        test_metrics = classification_metrics(test_labels, predicted, probabilities, pipeline.classes_)
        baseline_metrics = classification_metrics(test_labels, fitted.baseline_predicted)
        logger.info(
            "evaluated",
            extra={
                "macro_f1": round(test_metrics["macro_f1"], 4),
                "baseline_macro_f1": round(baseline_metrics["macro_f1"], 4),
            },
        )

        created_at = datetime.now(UTC).isoformat(timespec="seconds")
        model_version = f"{created_at[:19].replace('-', '').replace(':', '').replace('T', '.')}-{run.info.run_id[:8]}"
        metadata = {
            "model_version": model_version,
            "created_at": created_at,
            "mlflow_run_id": run.info.run_id,
            "config_name": config.name,
            "classes": [str(label) for label in pipeline.classes_],
            # What the scheduled drift check compares the live traffic's predicted class mix with.
            "class_shares": _class_shares(fitted.class_counts),
            "inputs": input_schema(config.data),
            "outputs": {"label": "label", "probabilities": "probabilities"},
            # The file's name, not its path: GET /model serves this and must not reveal the trainer's folders.
            "training_data": {
                "source": _source_name(fitted.source),
                "sha256": fitted.sha256,
                "rows": fitted.sizes["rows"],
            },
            "metrics": {key: test_metrics[key] for key in ("accuracy", "macro_f1", "log_loss")}
            | {"baseline_macro_f1": baseline_metrics["macro_f1"]},
            "library_versions": {name: version(name) for name in LIBRARIES} | {"python": platform.python_version()},
            "example": json_inputs(fitted.test.iloc[0], config.data),
        }
        model = to_onnx_model(pipeline, config.data, metadata)
        metadata["golden_examples"] = golden_examples(model.SerializeToString(), fitted.test, config.data)
        embed_metadata(model, metadata)
        model_bytes = model.SerializeToString()
        parity = check_parity(
            pipeline,
            model_bytes,
            (fitted.test, adversarial_frame(fitted.test, config.data)),
            config.data,
            tolerance=config.parity_tolerance,
        )
        summary = {
            "accuracy": test_metrics["accuracy"],
            "macro_f1": test_metrics["macro_f1"],
            "log_loss": test_metrics["log_loss"],
            "baseline_accuracy": baseline_metrics["accuracy"],
            "baseline_macro_f1": baseline_metrics["macro_f1"],
            "parity_label_agreement": parity.label_agreement,
            "parity_max_abs_diff": parity.max_abs_diff,
            "parity_passed": parity.passed,
            "train_seconds": round(train_seconds, 2),
            "n_train": fitted.sizes["n_train"],
            "n_validation": fitted.sizes["n_validation"],
            "n_test": fitted.sizes["n_test"],
            "parity_rows": parity.rows,
            "best_iteration": pipeline.named_steps["classifier"].booster_.current_iteration(),
            "onnx_bytes": len(model_bytes),
        }
        (staging / "model_card.md").write_text(
            render_model_card(
                config=config,
                metadata=metadata,
                summary=summary,
                per_class=test_metrics["per_class"],
                confusions=confusion_highlights(test_labels, predicted),
                parity=parity,
                report=fitted.report,
            )
        )
        (staging / "data_report.txt").write_text(summary_text(fitted.report) + "\n")
        documents = [
            plot_confusion_matrix(test_labels, predicted, pipeline.classes_, staging / "confusion_matrix.png"),
            plot_feature_importance(pipeline, staging / "feature_importance.png"),
            staging / "data_report.txt",
            staging / "model_card.md",
        ]
        log_run_record(
            to_params(config) | {"data_source": fitted.source, "data_sha256": fitted.sha256},
            {key: float(value) for key, value in summary.items()} | _flat_stats(fitted.engine_stats),
            documents,
            {
                "per_class_report.json": test_metrics["per_class"],
                "baseline_per_class_report.json": baseline_metrics["per_class"],
                "parity_report.json": parity_report_dict(parity),
                "data_report.json": fitted.report.to_dict(),
            },
        )
        enforce_parity(parity)

        sample = fitted.test.head(5)
        sample_labels, sample_probabilities = run_onnx(model_bytes, sample, config.data)
        registered_version = log_onnx_model(
            model,
            input_example=onnx_feeds(sample, config.data),
            output_example={"label": sample_labels, "probabilities": sample_probabilities},
            registered_model=config.registered_model,
            model_version=model_version,
        )
        summary |= {
            "mlflow_run_id": run.info.run_id,
            "model_version": model_version,
            "registered_model": config.registered_model,
            "registered_version": registered_version,
            "total_seconds": round(time.perf_counter() - started, 2),
            "created_at": created_at,
            "per_class": test_metrics["per_class"],
        } | fitted.engine_stats
        (staging / "model.onnx").write_bytes(model_bytes)
        (staging / "model.json").write_text(json.dumps(metadata, indent=2))
        (staging / "metrics.json").write_text(json.dumps(summary, indent=2))
        (staging / "parity_report.json").write_text(json.dumps(parity_report_dict(parity), indent=2))
        (staging / "data_report.json").write_text(json.dumps(fitted.report.to_dict(), indent=2))
        _publish_locally(staging, out_dir)
    logger.info(
        "done", extra={k: summary[k] for k in ("macro_f1", "baseline_macro_f1", "model_version", "mlflow_run_id")}
    )
    return summary


@app.command()
def main(
    data: Annotated[
        str | None,
        typer.Option(help="Catalogue CSV (dask: also a glob or folder of CSV/Parquet, or s3://); omit for synthetic."),
    ] = None,
    config: Annotated[Path, typer.Option(help="YAML config mapping CSV columns to roles.")] = DEFAULT_CONFIG_PATH,
    out: Annotated[Path, typer.Option(help="Folder for model.onnx, model.json and metrics.json.")] = Path("artifacts"),
    rows: Annotated[int | None, typer.Option(help="Rows of synthetic data (ignored with --data).")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the split (and of the synthetic data).")] = None,
    engine: Annotated[
        str, typer.Option(help="local (this process) or dask (DASK_SCHEDULER_ADDRESS or a LocalCluster).")
    ] = "local",
    features: Annotated[
        str | None, typer.Option(help="dask: folder (or s3://) keeping the featurized partitions for a rerun.")
    ] = None,
) -> None:
    """Train the product classifier and export it as one ONNX graph that passed the parity gate."""
    configure_logging()
    try:
        resolved = load_config(config, synthetic_rows=rows)
        if seed is not None:
            resolved = _with_seed(resolved, seed)
        summary = run_training(resolved, data_path=data, out_dir=out, engine=engine, features_dir=features)
    except TrainingError as exc:
        logger.error(str(exc))
        raise typer.Exit(code=1) from None
    typer.echo(json.dumps({k: v for k, v in summary.items() if k != "per_class"}, indent=2))


def _class_shares(counts: pd.Series) -> dict[str, float]:
    """Each class's share of the training rows."""
    shares = counts / counts.sum()
    return {str(label): float(share) for label, share in shares.sort_index().items()}


def _source_name(source: str) -> str:
    """The data's file name, not its path: GET /model serves this and must not reveal the trainer's folders."""
    return source if source.startswith("synthetic(") else PurePosixPath(source.rstrip("/")).name


def _flat_stats(stats: dict[str, Any]) -> dict[str, float]:
    """An engine's stage times as MLflow metrics."""
    return {f"stage_seconds.{name.replace('/', '_').replace(' ', '_')}": float(seconds)
            for name, seconds in stats.get("stage_seconds", {}).items()}  # fmt: skip


def _publish_locally(staging: Path, out_dir: Path) -> None:
    """Move the finished files into `out_dir` only once all of them exist."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in sorted(staging.iterdir()):
        shutil.move(str(path), out_dir / path.name)
    logger.info("artifacts written", extra={"folder": str(out_dir)})


def _with_seed(config: TrainConfig, seed: int) -> TrainConfig:
    """The config with another split seed."""
    return replace(config, split=replace(config.split, seed=seed))


class _KeyValueFormatter(logging.Formatter):
    """Appends a record's `extra=` fields as key=value, so structured logs stay readable in a terminal."""

    _standard = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        """Standard line plus the extra fields."""
        extras = " ".join(f"{key}={value}" for key, value in record.__dict__.items() if key not in self._standard)
        return f"{super().format(record)} {extras}".rstrip()


def configure_logging() -> None:
    """One handler on stderr for the CLI; libraries' chatter is kept at WARNING."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_KeyValueFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    for noisy in ("mlflow", "alembic", "urllib3", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


if __name__ == "__main__":
    app()
