"""`make train`: fit with the chosen engine, then evaluate, export and gate, record the run, write the artifacts.

`run_training` reads as the pipeline does: an engine (`training.engines`) fits the model and scores the test
split; `_run` then takes the same steps for either engine, inside one MLflow run: evaluate → build the
metadata → export and gate → record the run and stage the artifacts on OUT's file system → register → move them
into OUT. Serving cannot tell which engine trained the model.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import onnx
import pandas as pd
import typer

from training.cli.catalogue_options import Categories, Rows, Taxonomy, listed_files, resolve_config
from training.cli.entry import run
from training.cli.logging_setup import configure_logging
from training.cli.out_folder import URI, check_out_dir, check_writable_folder, staging_folder
from training.columns import CORRECTED_LISTINGS, CORRECTED_PRODUCTS, FOLDED_CLASSES, LABEL
from training.config import DEFAULT_CONFIG_PATH, PROJECT_ROOT, SplitConfig, TrainConfig, to_params
from training.data.clean import renamed_by_the_fold
from training.data.load import load_catalogue
from training.data.report import summary_text
from training.data.split import catalogue_products, products_named
from training.engines.local import fit_locally
from training.exceptions import DataValidationError, TrainingError
from training.model.calibration import MIN_ACCEPTED_ROWS
from training.model.export import to_onnx_model
from training.model.features import TitleCandidates
from training.model.hierarchy import build_hierarchy
from training.model.metadata import (
    blank_ids_named_by_row,
    build_metadata,
    embed_metadata,
    new_model_version,
    products_named_by,
    read_metadata,
    split_record,
    titles_named_unfolded,
)
from training.model.parity import (
    adversarial_frame,
    check_parity,
    enforce_parity,
    golden_examples,
    onnx_feeds,
    parity_report_dict,
    run_onnx,
)
from training.model.pipeline import TITLE_SCORES
from training.reporting.artifacts import move_artifacts, write_artifacts, write_summary
from training.reporting.compare import compare_predictions, score_model
from training.reporting.confidence import (
    accepts_nothing,
    calibration_metadata,
    confidence_metrics,
    confidence_report,
    short_of_target,
    thresholds,
)
from training.reporting.evaluate import band_metrics, enforce_baseline, evaluate_test, validation_comparison
from training.reporting.levels import evaluate_levels, scalar_metrics
from training.reporting.model_card import confusion_highlights, render_model_card
from training.reporting.plots import (
    plot_confusion_matrix,
    plot_coverage_curve,
    plot_feature_importance,
    plot_reliability,
)
from training.reporting.tracking import (
    ChampionComparison,
    current_champions,
    decide_promotion,
    describe_data,
    log_onnx_model,
    log_run_record,
    log_trained_products,
    name_run,
    record_promotion,
    run_started,
    run_tags,
    tracked_run,
    trained_products,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from training.data.load import LoadedCatalogue
    from training.engines.fitted import FittedModel
    from training.model.parity import ParityReport
    from training.reporting.evaluate import Evaluation
    from training.reporting.tracking import Champion, Promotion

# Imported on every Dask worker before any task runs (see `dask_client`): the stages' code and its imports.
DASK_WORKER_MODULES = ("training.engines.dask.train",)
# metrics.json keeps these; the summary printed at the end leaves them out (one entry per class or threshold).
LONG_SUMMARY_KEYS = ("per_class", "per_level", "coverage", "bands", "operating_points")
# What a failed Dask run can keep of its work.
FEATURES_RERUN = "With FEATURES=<folder> a rerun starts at the LightGBM stage."
# Summary entries that are text, not numbers: MLflow records them as params.
TEXT_SUMMARY = ("shipped", "title_fit", "onnx_sha256")
# A challenger meets its champion only on at least this many validation rows the champion never trained on.
MIN_CHAMPION_ROWS = 200
# A class of which the catalogue holds under 1/SHARE_DROP of the rows the champion's did, with at least
# SHARE_DROP_ROWS comparison rows at the champion's share: the catalogue changed under it (`classes_thinned`).
SHARE_DROP, SHARE_DROP_ROWS = 5, 10
# A catalogue of under 1/CATALOGUE_SHRINK of the rows the champion's had is no catalogue to judge it on (`shrunk`).
CATALOGUE_SHRINK = 2
logger = logging.getLogger(__name__)
app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


def run_training(
    config: TrainConfig,
    *,
    data_path: Path | str | None,
    out_dir: Path,
    engine: str = "local",
    features_dir: str | None = None,
    corrections: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The whole offline pipeline, ending with the artifacts in `out_dir` and a registered model version.

    Both engines end in the same export, gates and records, so serving cannot tell which one trained the
    model. The MLflow run starts only once the model is fitted, so bad data (found while loading or fitting)
    leaves nothing in MLflow; a failed parity gate leaves the MLflow run marked FAILED, registers nothing and
    writes nothing to `out_dir`.

    Args:
        config: The resolved config.
        data_path: A CSV/TSV/Parquet file, glob or folder, local or s3:// (both engines read it alike), or None
            for the synthetic catalogue.
        out_dir: Where model.onnx, model.json, metrics.json and the plots go.
        engine: "local" (this process) or "dask" (the cluster at DASK_SCHEDULER_ADDRESS or a LocalCluster).
        features_dir: With dask, the FEATURES folder keeping the featurized partitions for a rerun.
        corrections: Reviewed review-queue CSVs, oldest first, whose listings join the catalogue and train (local
            engine; a listing reviewed in several takes the latest label).

    Returns:
        The run summary written to metrics.json.

    Raises:
        TrainingError: Bad data or config, a failed conversion or a failed parity gate.
    """
    check_out_dir(out_dir)
    if engine == "local" and features_dir:
        raise DataValidationError("FEATURES= keeps the Dask engine's featurized partitions: use it with ENGINE=dask")
    if features_dir and not URI.match(features_dir):  # an s3:// folder is checked as it is written
        check_writable_folder(Path(features_dir), what="the featurized partitions", role="FEATURES")
    if engine == "local":
        catalogue = load_catalogue(config, str(data_path) if data_path else None)
        if corrections:
            catalogue = _with_corrections(config, catalogue, corrections)
        return _run(config, out_dir, lambda: fit_locally(config, catalogue), engine=engine)
    if engine != "dask":
        raise DataValidationError(f"ENGINE must be local or dask, got {engine!r}")
    if corrections:
        raise DataValidationError(
            "CORRECTIONS= merges reviewed listings with ENGINE=local only; for Dask, add them to the catalogue as rows "
            "of its own columns: the review queue names them by the model's inputs, so rename them to the config's "
            "data.columns and `label` to data.target, and give each a product id (data.group) of its own"
        )
    return _run_on_dask(config, str(data_path) if data_path else None, out_dir, features_dir)


def _with_corrections(config: TrainConfig, catalogue: LoadedCatalogue, paths: tuple[str, ...]) -> LoadedCatalogue:
    """The catalogue with the reviewed listings of `paths` merged in (`training.feedback.corrections`)."""
    from training.feedback.corrections import add_corrections, merge_rounds, read_corrections

    tail = catalogue.tail
    labels = set(catalogue.frame[LABEL]) | set(tail.folded) | set(tail.dropped)
    rounds = [
        read_corrections(path, data=config.data, classes=labels, allow_new_classes=config.data.allow_new_classes)
        for path in paths
    ]
    return add_corrections(catalogue, merge_rounds(rounds, classes=labels))


def _run_on_dask(config: TrainConfig, data: str | None, out_dir: Path, features_dir: str | None) -> dict[str, Any]:
    """`_run` with the Dask engine, inside a cluster; a cluster failure becomes one clear TrainingError."""
    # Imported here, not at the top: a local run needs neither Dask nor distributed (~1 s of imports).
    from lightgbm.basic import LightGBMError

    from training.engines.dask.catalogue import open_catalogue
    from training.engines.dask.cluster import dask_client
    from training.engines.dask.train import train_on_cluster

    catalogue = open_catalogue(config, data)
    try:
        with dask_client(*DASK_WORKER_MODULES, rerun=FEATURES_RERUN, reads_text=True) as client:
            return _run(
                config, out_dir, lambda: train_on_cluster(client, config, catalogue, features_dir), engine="dask"
            )
    except LightGBMError as exc:
        raise TrainingError(
            f"LightGBM failed on the Dask cluster ({exc}); nothing was written. A worker lost mid-fit (over "
            f"WORKER_MEMORY) ends so too: raise WORKER_MEMORY or WORKERS. {FEATURES_RERUN}"
        ) from exc


def _run(config: TrainConfig, out_dir: Path, fit: Callable[[], FittedModel], *, engine: str) -> dict[str, Any]:
    """Fit, then inside an MLflow run evaluate, build the metadata, export and gate, record and write the files to a
    staging folder on OUT's file system (`staging_folder`), register, then move them into OUT."""
    started, started_at = time.perf_counter(), run_started()
    # Fitted before the MLflow run starts: data that cannot be trained on (a class too small to split, one
    # class left) fails here and leaves nothing in MLflow, not even a FAILED run or a new experiment.
    fitted = fit()
    train_seconds = time.perf_counter() - started
    with _writing(out_dir):
        staged = staging_folder(out_dir)
    with (
        staged as tmp,
        tracked_run(
            PROJECT_ROOT,
            experiment=config.experiment,
            run_name=name_run(config.name, fitted.source, started_at),
            tags=run_tags(
                engine=engine,
                classes=[str(label) for label in fitted.pipeline.classes_],
                config_name=config.name,
                source=fitted.source,
                sha256=fitted.sha256,
            ),
        ) as run_id,
    ):
        staging = Path(tmp)
        evaluation = _evaluate(fitted)
        hierarchy = build_hierarchy(fitted.pipeline.classes_, separator=config.data.path_separator)
        levels = evaluate_levels(fitted.test_labels, fitted.test_top, fitted.pipeline.classes_, hierarchy)
        confidence = confidence_report(
            classes=fitted.pipeline.classes_,
            hierarchy=hierarchy,
            calibration=fitted.pipeline.named_steps["classifier"].calibration_,
            test=(fitted.test_labels.to_numpy(), fitted.test_top),
            validation=(fitted.validation_labels, fitted.validation_top),
        )
        short = short_of_target(confidence["operating_points"], len(fitted.test_labels))
        if accepts_nothing(confidence["operating_points"]):
            logger.warning(
                f"no operating point accepts anything: at no threshold were {MIN_ACCEPTED_ROWS} or more of the "
                f"{len(fitted.validation_labels):,} validation answers right often enough, so every answer is sent to "
                "review (more validation products, a larger catalogue, give the thresholds something to stand on)"
            )
        if short:
            logger.warning(
                "operating points short of their targets on test (thresholds chosen on few validation rows; the "
                f"model card shows each): {'; '.join(short)}"
            )
        created_at, model_version = new_model_version(run_id)
        metadata = build_metadata(
            config,
            run_id=run_id,
            created_at=created_at,
            model_version=model_version,
            classes=fitted.pipeline.classes_,
            class_counts=fitted.class_counts,
            training_data={"source": fitted.source, "sha256": fitted.sha256, "rows": fitted.sizes["rows"]}
            | _corrections_record(fitted)
            | ({FOLDED_CLASSES: dict(fitted.tail.folded)} if fitted.tail.folded else {}),
            metrics=evaluation.headline() | {"ece": confidence["ece_after"]},
            example=fitted.test.iloc[0],
        )
        # What serving decides "accept or review" with: thresholds chosen on validation (training.reporting.confidence).
        metadata["calibration"] = calibration_metadata(confidence)
        metadata["operating_points"] = thresholds(confidence["operating_points"])
        model, model_bytes, parity = _export_and_gate(config, fitted, metadata)
        summary = _summarise(fitted, evaluation, parity, train_seconds=train_seconds, model_bytes=model_bytes)
        summary |= scalar_metrics(levels) | confidence_metrics(confidence)
        with _writing(out_dir):  # the plots and the model card, into the staging folder and MLflow
            _record_run(
                staging, config, fitted, evaluation, metadata=metadata, summary=summary, parity=parity, levels=levels,
                confidence=confidence,
            )  # fmt: skip
        enforce_parity(parity)
        enforce_baseline(summary, tolerance=config.model.baseline_tolerance)
        with _writing(out_dir):
            write_artifacts(staging, model_bytes=model_bytes, metadata=metadata, parity=parity, report=fitted.report)
        registered_version, promotion = _register(config, fitted, model, model_bytes, model_version, validation=summary)
        summary |= {
            "promotion": promotion.to_dict(),
            "mlflow_run_id": run_id,
            "model_version": model_version,
            "registered_model": config.registered_name,
            "registered_version": registered_version,
            "total_seconds": round(time.perf_counter() - started, 2),
            "created_at": created_at,
            "per_class": evaluation.metrics["per_class"],
            "bands": evaluation.metrics["bands"],
            "small_class_policy": fitted.tail.to_dict(),
            "per_level": levels["per_level"],
            "coverage": levels["coverage"],
            "operating_points": confidence["operating_points"],
        } | fitted.engine_stats
        with _writing(out_dir, registered=f"{config.registered_name} version {registered_version}"):
            write_summary(staging, summary)
            move_artifacts(staging, out_dir)
    logger.info(
        "done", extra={k: summary[k] for k in ("macro_f1", "baseline_macro_f1", "model_version", "mlflow_run_id")}
    )
    return summary


@contextmanager
def _writing(out_dir: Path, *, registered: str | None = None) -> Iterator[None]:
    """A failure to write the run's files (a full disk, a folder that refuses them; the MLflow store's too, where the
    block records the run) as one line; after the model was registered (`registered` names its version), saying so,
    since some or all of its files are then missing from OUT.

    Raises:
        TrainingError: For an OSError in the block.
    """
    try:
        yield
    except OSError as exc:
        after = f"; {registered} was registered all the same, and OUT may lack some of its files" if registered else ""
        raise TrainingError(f"cannot write the run's files (OUT {out_dir}, or the MLflow store): {exc}{after}") from exc


def _evaluate(fitted: FittedModel) -> Evaluation:
    """The model's and the linear baseline's test metrics, logged."""
    evaluation = evaluate_test(
        fitted.test_labels, fitted.test_top, fitted.pipeline.classes_, fitted.baseline_predicted, fitted.class_products
    )
    logger.info(
        "evaluated",
        extra={
            "macro_f1": round(evaluation.metrics["macro_f1"], 4),
            "baseline_macro_f1": round(evaluation.baseline["macro_f1"], 4),
        },
    )
    if evaluation.metrics["classes_evaluated"] < 2:
        logger.warning(
            f"the test split holds rows of {evaluation.metrics['classes_evaluated']} of the "
            f"{evaluation.metrics['classes_learnt']} classes learnt: its macro-F1 says nothing of the others, which "
            "trained whole (fewer than split.min_class_products products each); make publish refuses such a model"
        )
    return evaluation


def _export_and_gate(
    config: TrainConfig, fitted: FittedModel, metadata: dict[str, Any]
) -> tuple[onnx.ModelProto, bytes, ParityReport]:
    """Export the graph, embed its golden examples (added to `metadata`) and run the parity gate on it: the test
    rows, a training row of every class without test rows (so the tail's answers are checked too) and the
    adversarial rows.

    The gate's verdict is only enforced after the run is recorded, so a failed gate is on record too.
    """
    model = to_onnx_model(fitted.pipeline, config.data, metadata)
    metadata["golden_examples"] = golden_examples(model.SerializeToString(), fitted.test, config.data)
    embed_metadata(model, metadata)
    model_bytes = model.SerializeToString()
    parity = check_parity(
        fitted.pipeline,
        model_bytes,
        (pd.concat([fitted.test, fitted.unevaluated]), adversarial_frame(fitted.test, config.data)),
        config.data,
        tolerance=config.parity_tolerance,
    )
    return model, model_bytes, parity


def _summarise(
    fitted: FittedModel, evaluation: Evaluation, parity: ParityReport, *, train_seconds: float, model_bytes: bytes
) -> dict[str, Any]:
    """The run's scalar results: metrics, baseline, parity, sizes (the start of metrics.json), and the graph's
    sha256, which ties these gates to the exact file `make publish` uploads."""
    metrics, baseline = evaluation.metrics, evaluation.baseline
    classifier = fitted.pipeline.named_steps["classifier"]
    title = fitted.pipeline.named_steps["features"].named_transformers_[TITLE_SCORES]
    return (
        {
            "accuracy": metrics["accuracy"],
            "macro_f1": metrics["macro_f1"],
            "log_loss": metrics["log_loss"],
            "baseline_accuracy": baseline["accuracy"],
            "baseline_macro_f1": baseline["macro_f1"],
            "parity_label_agreement": parity.label_agreement,
            "parity_max_abs_diff": parity.max_abs_diff,
            "parity_passed": parity.passed,
            "train_seconds": round(train_seconds, 2),
            "n_train": fitted.sizes["n_train"],
            "n_validation": fitted.sizes["n_validation"],
            "n_test": fitted.sizes["n_test"],
            "parity_rows": parity.rows,
            # 0 when the trees were dropped (the title model alone shipped).
            "best_iteration": classifier.booster_.current_iteration()
            if getattr(classifier, "uses_trees_", True)
            else 0,
            # Whether the trees were kept (MarginBoostedClassifier.keep_better); the re-ranker always ships LightGBM.
            "shipped": classifier.shipped_,
            # 0: multiclass design; otherwise the candidates the title model proposes to the re-ranker.
            "candidates": getattr(title, "n_candidates", 0),
            # The re-ranker's title fit as `features.title_fit` (auto) decided it: down the category tree, or flat.
            "title_fit": ("tree" if title.separator else "flat") if isinstance(title, TitleCandidates) else "",
            "onnx_bytes": len(model_bytes),
            "onnx_sha256": hashlib.sha256(model_bytes).hexdigest(),
            "classes_learnt": metrics["classes_learnt"],
            "classes_evaluated": metrics["classes_evaluated"],
            "classes_not_evaluated": metrics["classes_not_evaluated"],
            "small_classes": fitted.tail.small,
            "small_classes_folded": len(fitted.tail.folded),
            "small_classes_dropped": len(fitted.tail.dropped),
            "corrections": fitted.corrections.get("rows", 0),
            "corrections_dropped_held_out": fitted.corrections.get("dropped_held_out", 0),
            "corrections_dropped_small_classes": fitted.corrections.get("dropped_small_classes", 0),
            "corrections_replaced_catalogue_rows": fitted.corrections.get("replaced_catalogue_rows", 0),
        }
        | band_metrics(metrics["bands"])
        | validation_comparison(
            fitted.validation_labels,
            fitted.validation_predicted,
            fitted.validation_baseline_predicted,
            products=fitted.validation_label_products,
        )
    )


def _record_run(
    staging: Path,
    config: TrainConfig,
    fitted: FittedModel,
    evaluation: Evaluation,
    *,
    metadata: dict[str, Any],
    summary: dict[str, Any],
    parity: ParityReport,
    levels: dict[str, Any],
    confidence: dict[str, Any],
) -> None:
    """Write the model card, the data report and the plots to `staging`, and log them with the run to MLflow."""
    classes, labels, predicted = fitted.pipeline.classes_, fitted.test_labels, evaluation.predicted
    (staging / "model_card.md").write_text(
        render_model_card(
            config=config,
            metadata=metadata,
            summary=summary,
            per_class=evaluation.metrics["per_class"],
            confusions=confusion_highlights(labels, predicted),
            parity=parity,
            report=fitted.report,
            levels=levels,
            bands=evaluation.metrics["bands"],
            tail=fitted.tail,
            confidence=confidence,
        )
    )
    (staging / "data_report.txt").write_text(summary_text(fitted.report) + "\n")
    documents = [
        plot_confusion_matrix(labels, predicted, classes, staging / "confusion_matrix.png"),
        plot_feature_importance(fitted.pipeline, staging / "feature_importance.png"),
        plot_coverage_curve(levels["coverage"], staging / "coverage_curve.png"),
        plot_reliability(confidence, staging / "reliability.png"),
        staging / "data_report.txt",
        staging / "model_card.md",
    ]
    log_run_record(
        to_params(config)
        | {"data_source": fitted.source, "data_sha256": fitted.sha256}
        | {key: summary[key] for key in TEXT_SUMMARY}
        | {
            f"corrections.{key}": value
            for key, value in fitted.corrections.items()
            if key not in (CORRECTED_LISTINGS, CORRECTED_PRODUCTS)
        },
        {key: float(value) for key, value in summary.items() if key not in TEXT_SUMMARY}
        | _stage_metrics(fitted.engine_stats),
        documents,
        {
            "per_class_report.json": evaluation.metrics["per_class"],
            "baseline_per_class_report.json": evaluation.baseline["per_class"],
            "parity_report.json": parity_report_dict(parity),
            "levels_report.json": levels,
            "confidence_report.json": confidence,
            "data_report.json": fitted.report.to_dict(),
        },
    )


def _register(
    config: TrainConfig, fitted: FittedModel, model: onnx.ModelProto, model_bytes: bytes, model_version: str, *,
    validation: dict[str, float],
) -> tuple[str, Promotion]:  # fmt: skip
    """Log the graph with a signature from five test rows and register it under the catalogue's name; it becomes the
    candidate only if it is not worse than its baseline nor the champions on validation (`decide_promotion`)."""
    sample = fitted.test.head(5)
    sample_labels, sample_probabilities = run_onnx(model_bytes, sample, config.data)
    name = config.registered_name
    champions = current_champions(name)
    log_trained_products(fitted.trained_products)
    version = log_onnx_model(
        model,
        input_example=onnx_feeds(sample, config.data),
        output_example={"label": sample_labels, "probabilities": sample_probabilities},
        registered_model=name,
        model_version=model_version,
    )
    try:
        comparisons = [_against_champion(champion, model_bytes, fitted, config) for champion in champions]
        promotion = decide_promotion(validation=validation, tolerance=config.promotion_tolerance, champions=comparisons)
        record_promotion(name, version, promotion)
    except BaseException as exc:
        # Registered, but never decided: a later run meets it as the newest version, which nothing would explain.
        stopped = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"failed ({type(exc).__name__})"
        logger.error(
            f"{stopped}: {name} v{version} was registered, but whether it is promoted was never decided (it holds "
            "no alias, and no reason); the next run is compared with it as the newest version: delete the version if "
            "it should not count"
        )
        raise
    return version, promotion


def _against_champion(
    champion: Champion, model_bytes: bytes, fitted: FittedModel, config: TrainConfig
) -> ChampionComparison:
    """The champion and the new model on the validation rows whose products the champion never trained on (its run's
    record of them), when the two answer the same classes from the same inputs."""
    name = champion.describe(config.registered_name)
    if champion.unreadable:
        reason = f"its model cannot be read: {champion.unreadable}"
        return ChampionComparison(name, comparable=False, reason=reason)
    theirs, ours = (read_metadata(onnx.load_model_from_string(b)) for b in (champion.model_bytes, model_bytes))
    # An unpromoted version of another kind is another experiment under the name (`ChampionComparison.set_aside`).
    experiment = champion.alias is None
    if theirs["classes"] != ours["classes"]:
        changed = set(ours["classes"]) ^ set(theirs["classes"])
        reason = f"it answers other classes ({len(changed)} differ, e.g. {sorted(changed)[:3]})"
        return ChampionComparison(name, comparable=False, reason=reason, set_aside=experiment)
    if [(spec["name"], spec["type"]) for spec in theirs["inputs"]] != [
        (spec["name"], spec["type"]) for spec in ours["inputs"]
    ]:
        # by name and type: a price hashed as text in one and numeric in the other cannot be fed the same rows
        return ChampionComparison(name, comparable=False, reason="it takes other inputs", set_aside=experiment)
    recorded = theirs.get("training_data", {}).get("split")
    theirs_by, ours_by = products_named_by(recorded or {}), products_named_by(split_record(config))
    if recorded is not None and theirs_by != ours_by:
        # Its record of trained products holds other ids: every row would look new, the rows it trained on too.
        reason = f"it names its products by {theirs_by}, this run by {ours_by}"
        return ChampionComparison(name, comparable=False, reason=reason)
    blank = fitted.report.rows_without_product
    if recorded is not None and blank_ids_named_by_row(recorded) and blank:
        reason = (
            f"it named each of the {blank} rows without a product id by the whole row, as models did before titles "
            "named them: its record of trained products cannot say which of them it saw"
        )
        return ChampionComparison(name, comparable=False, reason=reason)
    seen = trained_products(champion.run_id)
    if seen is None:
        return ChampionComparison(name, comparable=False, reason="its run has no record of the products it trained on")
    unseen = never_trained_on(fitted, seen, recorded, text=config.data.text)
    rows = fitted.validation[unseen]
    if len(rows) < MIN_CHAMPION_ROWS:
        reason = f"only {len(rows)} validation rows are of products it never trained on (need {MIN_CHAMPION_ROWS})"
        return ChampionComparison(name, comparable=False, reason=reason, rows=len(rows))
    labels = rows[LABEL].to_numpy()
    unjudged = (
        shrunk(theirs, fitted) or products_renamed(seen, theirs, fitted) or classes_thinned(theirs, fitted, labels)
    )
    if unjudged:
        return ChampionComparison(name, comparable=False, reason=unjudged, rows=len(rows))
    report = compare_predictions(
        labels,
        score_model(champion.model_bytes, rows, config.data, name=name),
        score_model(model_bytes, rows, config.data, name="new"),
        products=fitted.validation_products[unseen],
    )["macro_f1"]
    return ChampionComparison(
        name, comparable=True, champion_macro_f1=report["a"], macro_f1=report["b"], ci_low=report["ci_low"],
        ci_high=report["ci_high"], rows=len(rows),
    )  # fmt: skip


def products_renamed(seen: np.ndarray, champion: dict[str, Any], fitted: FittedModel) -> str:
    """Why a catalogue that names few of the champion's products cannot judge it, or nothing.

    The comparison rows are the validation rows whose product ids the champion's record does not name. A catalogue
    that writes the same products' ids otherwise (zero-padded, or read as numbers on the way) names none of them, so
    the rows it trained on would count as new to it, and it would be judged on what it memorised; another catalogue
    under the config's name looks the same. A person decides; a catalogue that lost or gained some products is
    compared as usual.
    """
    ours = np.concatenate([fitted.trained_products, fitted.validation_products])
    seen = catalogue_products(seen, champion)
    named, few = products_named(seen, ours)
    if not few:
        return ""
    return (
        f"this run's catalogue names {named:,} of the {len(seen):,} products it trained on (under half): the "
        "products' ids were written otherwise (zero-padded, or read as numbers) or this is another catalogue, so rows "
        "it trained on would count as new to it; compare the two yourself (make compare) and set the alias if this "
        "one is meant"
    )


def shrunk(champion: dict[str, Any], fitted: FittedModel) -> str:
    """Why a catalogue far smaller than the champion's cannot judge it, or nothing.

    The comparison rows are this run's validation rows, drawn from this run's catalogue: a sample of the champion's
    (a quarter of it, say) holds a few hundred of them, whose interval is too wide to call the model that learnt from
    four times fewer rows worse, so it would pass as "not worse" and take the alias from the better one. A person
    decides; a catalogue that grew, or lost a few products, is compared as usual.
    """
    theirs, ours = int(champion["training_data"]["rows"]), int(fitted.sizes["rows"])
    if ours * CATALOGUE_SHRINK >= theirs:
        return ""
    return (
        f"this run's catalogue holds {ours:,} rows against the champion's {theirs:,} (under 1/{CATALOGUE_SHRINK}): its "
        "validation rows cannot tell a model that learnt from fewer rows from a better one; train on the whole "
        "catalogue, or set the alias yourself if the smaller one is meant"
    )


def classes_thinned(champion: dict[str, Any], fitted: FittedModel, labels: np.ndarray) -> str:
    """Why the comparison rows cannot judge classes the catalogue all but lost since the champion, or nothing.

    The comparison is on this run's validation rows, drawn from this run's catalogue: a class that lost most of its
    rows there (a filter gone wrong, an export cut short) has few or none of them, so the comparison cannot see the
    new model unlearn it, and macro-F1 leaves a class without rows out. Such a class is one the catalogue holds under
    1/SHARE_DROP of the rows of, told by its share of the training rows times the catalogue's rows (the champion
    records no more, and a class that only grew slower than the others is not one that shrank), and of which the
    comparison holds too few rows to judge.
    """
    shares = pd.Series(champion.get("class_shares", {}), dtype=float)
    theirs = shares * champion["training_data"]["rows"]
    ours = (fitted.class_counts / fitted.class_counts.sum() * fitted.sizes["rows"]).reindex(shares.index).fillna(0.0)
    # As many comparison rows as the champion's mix would give the class, and as it has.
    expected, present = shares * len(labels), pd.Series(labels).value_counts().reindex(shares.index).fillna(0)
    lacking = present < np.maximum(SHARE_DROP_ROWS, expected / SHARE_DROP)
    thinned = theirs[(expected >= SHARE_DROP_ROWS) & (ours * SHARE_DROP < theirs) & lacking]
    if thinned.empty:
        return ""
    label = str(thinned.idxmax())
    return (
        f"this run's catalogue holds {len(thinned)} class(es) at under 1/{SHARE_DROP} of the rows the champion's did "
        f"(e.g. {label!r}: about {ours[label]:,.0f} against {theirs[label]:,.0f}), and its validation rows hold "
        f"{int(present[label])} of that class's: the catalogue changed under them, and these rows cannot judge the "
        "new model on them"
    )


def never_trained_on(
    fitted: FittedModel, seen: np.ndarray, recorded: dict[str, Any] | None, *, text: str
) -> np.ndarray:
    """Which validation rows are of products the champion, which trained on products `seen`, never trained on.

    A champion recorded before look-alike spellings were folded named a product by its lower-cased title alone: a
    row whose title the fold changes may be of a product it trained on under its old name, so it is left out.
    """
    unseen = ~np.isin(fitted.validation_products, seen)
    if titles_named_unfolded(recorded or {}):
        unseen &= ~renamed_by_the_fold(fitted.validation[text])
    return unseen


def _corrections_record(fitted: FittedModel) -> dict[str, list[str]]:
    """The reviewed listings the run was given as corrections, by id, and where titles name products the products
    only they trained, for the model's metadata (none: nothing)."""
    return {
        key: fitted.corrections[key] for key in (CORRECTED_LISTINGS, CORRECTED_PRODUCTS) if fitted.corrections.get(key)
    }


@app.command()
def main(
    data: Annotated[
        str | None,
        typer.Option(help="CSV/TSV/Parquet file, glob or folder; local or s3://. Omit for the synthetic catalogue."),
    ] = None,
    config: Annotated[Path, typer.Option(help="YAML config mapping CSV columns to roles.")] = DEFAULT_CONFIG_PATH,
    out: Annotated[Path, typer.Option(help="Folder for model.onnx, model.json and metrics.json.")] = Path("artifacts"),
    rows: Rows = None,
    categories: Categories = None,
    taxonomy: Taxonomy = None,
    seed: Annotated[int | None, typer.Option(min=0, help="Seed of the split (and of the synthetic data).")] = None,
    engine: Annotated[
        str, typer.Option(help="local (this process) or dask (DASK_SCHEDULER_ADDRESS or a LocalCluster).")
    ] = "local",
    features: Annotated[
        str | None, typer.Option(help="dask: folder (or s3://) keeping the featurized partitions for a rerun.")
    ] = None,
    corrections: Annotated[
        str | None,
        typer.Option(
            help="A reviewed `make review-queue` CSV (label filled in): its listings join train. Several rounds: "
            "their files comma-separated, oldest first (a listing reviewed twice takes the later label)."
        ),
    ] = None,
) -> None:
    """Train the product classifier and export it as one ONNX graph that passed the parity gate."""
    configure_logging()
    try:
        resolved = resolve_config(config, data=data, rows=rows, categories=categories, taxonomy=taxonomy)
        if seed is not None:
            resolved = _with_seed(resolved, seed)
        if data is None:
            resolved = _named_by_synthetic_seed(resolved)
        elif config.resolve() == DEFAULT_CONFIG_PATH.resolve():
            resolved = _named_by_data(resolved, data)
        summary = run_training(
            resolved,
            data_path=data,
            out_dir=out,
            engine=engine,
            features_dir=features,
            corrections=listed_files(corrections, "CORRECTIONS"),
        )
    except TrainingError as exc:
        logger.error(str(exc))
        raise typer.Exit(code=1) from None
    typer.echo(json.dumps({k: v for k, v in summary.items() if k not in LONG_SUMMARY_KEYS}, indent=2))


def _stage_metrics(stats: dict[str, Any]) -> dict[str, float]:
    """An engine's stage times as MLflow metrics."""
    return {f"stage_seconds.{name.replace('/', '_').replace(' ', '_')}": float(seconds)
            for name, seconds in stats.get("stage_seconds", {}).items()}  # fmt: skip


def _with_seed(config: TrainConfig, seed: int) -> TrainConfig:
    """The config with another split seed."""
    return replace(config, split=replace(config.split, seed=seed))


def _named_by_data(config: TrainConfig, data: str) -> TrainConfig:
    """The default config names the synthetic catalogue: with DATA, the model is registered under the data's own name
    (`describe_data`: `catalogue` for DATA=catalogue.csv, a folder's or glob's last plain part), so a team's catalogue
    and the demo `make train` never compete for one alias, nor score each other on products whose ids name others."""
    if config.registered_model:
        return config
    name = re.sub(r"[^\w.-]+", "-", describe_data(data)).strip("-.") or "catalogue"
    # DATA=synthetic.csv must not join the demo's name either.
    return replace(config, registered_model=name if name != config.registered_name else f"{name}-catalogue")


def _named_by_synthetic_seed(config: TrainConfig) -> TrainConfig:
    """For the synthetic catalogue, which the split seed also generates, a registered name of its own per seed other
    than the default (`synthetic-seed-7`): another seed's product ids name other products, so its models must not
    compete for one alias with the default's (a model was scored on a catalogue it never saw, and lost the alias)."""
    if config.registered_model or config.split.seed == SplitConfig.seed:
        return config
    return replace(config, registered_model=f"{config.registered_name}-seed-{config.split.seed}")


if __name__ == "__main__":
    run(app)
