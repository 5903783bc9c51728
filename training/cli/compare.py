"""`make compare A=<model> B=<model> DATA= CONFIG=`: two models on the same rows, side by side.

When DATA is captured traffic (a `make serve CAPTURE=` folder or the stack's s3:// capture prefix), the rows are
unlabelled: the report is how often B answers as A, overall and by department, with bootstrap intervals, and
with REVIEWED= (a review queue with labels filled in) accuracy and macro-F1 on the reviewed listings as below.
MIN_AGREEMENT= makes it a gate: exit 1 when the lower bound of the agreement is under it.

Each model is an ONNX file or an MLflow model URI (`models:/synthetic/3`, `models:/pricerunner@production`: a model
is registered under its catalogue config's `name`; `runs:/<id>/model`). Both score the same rows of DATA (by default
its held-out test split under CONFIG's seed, refused for a model that records another split, whose training
products are among those rows, and without the rows of products a model given by its MLflow URI trained on by its
run's record; `--on all` for every row, of a catalogue only: captured traffic has no split, and ON= is refused
there; two models of other classes or of inputs of other names or types are refused too): macro-F1 and accuracy
with paired bootstrap confidence intervals of the difference B − A, McNemar's exact test on the rows exactly one gets
right, per-class gains and losses, and the rows they label differently. Printed, written to OUT
(comparison.md, comparison.json, disagreements.csv) and logged to MLflow as a run of CONFIG's experiment.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import onnx
import pandas as pd
import typer

from training.cli.catalogue_options import Categories, Rows, Taxonomy, listed_files, resolve_config
from training.cli.entry import run
from training.cli.logging_setup import configure_logging
from training.cli.out_folder import check_out_dir
from training.columns import CORRECTED_LISTINGS, FOLDED_CLASSES, GROUP, LABEL
from training.config import DEFAULT_CONFIG_PATH, PROJECT_ROOT
from training.data.clean import UNGROUPED, renamed_by_the_fold
from training.data.load import learnt_catalogue
from training.data.split import catalogue_products, product_ids, product_keys, products_named, split_catalogue
from training.exceptions import TrainingError
from training.feedback.capture import is_capture, parse_since, read_capture
from training.feedback.corrections import reviewed_listings
from training.feedback.review_queue import (
    LABEL_COLUMN,
    canonical_labels,
    latest_listings,
    save_for_spreadsheets,
)
from training.feedback.served import listing_rows, served_labels
from training.model.metadata import blank_ids_named_by_row, read_metadata, titles_named_unfolded
from training.reporting.compare import (
    agreement_report,
    check_held_out,
    check_knows_labels,
    check_same_classes,
    check_same_taxonomy,
    compare_predictions,
    disagreements,
    render_agreement,
    render_comparison,
    score_model,
)
from training.reporting.model_reference import in_mlflow, read_model

if TYPE_CHECKING:
    from training.config import DataConfig

logger = logging.getLogger(__name__)
app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
def main(
    a: Annotated[str, typer.Option("--a", help="Model A: an .onnx file or models:/name/version (the reference).")],
    b: Annotated[str, typer.Option("--b", help="Model B: an .onnx file or models:/name@alias (the challenger).")],
    data: Annotated[str | None, typer.Option(help="Catalogue CSV both models score; omit for synthetic.")] = None,
    config: Annotated[Path, typer.Option(help="YAML config naming the columns.")] = DEFAULT_CONFIG_PATH,
    rows: Rows = None,
    categories: Categories = None,
    taxonomy: Taxonomy = None,
    on: Annotated[
        str | None, typer.Option(help="A catalogue only: test (DATA's held-out test split, the default) or all.")
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for comparison.md/.json and disagreements.csv.")] = Path(
        "comparison"
    ),
    resamples: Annotated[int, typer.Option(min=1, help="Paired bootstrap resamples.")] = 1000,
    reviewed: Annotated[
        str | None,
        typer.Option(help="Captured traffic only: review queue CSVs with `label` filled in, comma-separated."),
    ] = None,
    since: Annotated[str | None, typer.Option(help="Captured traffic only: listings at or after this time.")] = None,
    min_agreement: Annotated[
        float | None, typer.Option(min=0, max=1, help="Captured traffic only: fail under this agreement.")
    ] = None,
) -> None:
    """Compare two models on the same rows and report whether B's difference from A is more than noise."""
    configure_logging()
    try:
        resolved = resolve_config(config, data=data, rows=rows, categories=categories, taxonomy=taxonomy)
        if on not in (None, "test", "all"):
            raise TrainingError(f"--on must be test or all, got {on!r}")
        live = data if data and is_capture(data) else None
        if live and on is not None:
            raise TrainingError(
                "--on: for a catalogue only (its held-out test split or all of it); captured traffic has no split, "
                "and every captured listing is compared"
            )
        model_a, model_b = read_model(a, name="A"), read_model(b, name="B")
        if model_a == model_b:
            logger.warning(f"A ({a}) and B ({b}) are the same model: every figure compares it with itself")
        check_out_dir(out, what="the comparison")
        if live:
            _compare_live(model_a, model_b, a=a, b=b, data=live, out=out, resamples=resamples, reviewed=reviewed,
                          since=since, min_agreement=min_agreement, data_config=resolved.data)  # fmt: skip
            return
        live_only = {"--reviewed": reviewed, "--since": since, "--min-agreement": min_agreement}
        given = [name for name, value in live_only.items() if value is not None]
        if given:
            raise TrainingError(
                f"{', '.join(given)}: for captured traffic only (DATA= a capture folder), and "
                + (f"DATA {data} holds no capture record" if data else "no DATA= was given (the synthetic catalogue)")
                + "; a catalogue is compared on its labels"
            )
        frame, raw = learnt_catalogue(resolved, data or None)
        if on != "all":
            catalogue_products = product_ids(product_keys(frame))
            frame = split_catalogue(frame, resolved.split).test
        predicted_a = score_model(model_a, frame, resolved.data, name="A")
        predicted_b = score_model(model_b, frame, resolved.data, name="B")
        # after scoring, which names a file that is no model, or other inputs, first
        metadata = {
            name: read_metadata(onnx.load_model_from_string(model)) for name, model in (("A", model_a), ("B", model_b))
        }
        left_out: dict[str, Any] | None = None
        if on != "all":
            for name in ("A", "B"):
                check_held_out(metadata[name], resolved, name=name)
            why = _named_otherwise(frame, metadata, text=resolved.data.text)
            why |= _trained_on(frame, {"A": a, "B": b}, metadata, sha256=raw.sha256, catalogue=catalogue_products)
            taken, counted = np.zeros(len(frame), dtype=bool), {}
            for reason, leaves in why.items():  # each row counted under the first reason that leaves it out
                counted[reason] = int((leaves & ~taken).sum())
                taken |= leaves
            kept = ~taken
            if not kept.any():
                raise TrainingError(
                    f"none of the {len(frame):,} test rows is left to compare on (see above): pass ON=all (--on all) "
                    "to compare on every row knowingly"
                )
            left_out = {"test_rows": len(frame), "rows": int(taken.sum()), "why": counted}
            frame, predicted_a, predicted_b = frame[kept], predicted_a[kept], predicted_b[kept]
        labels = frame[LABEL].to_numpy()
        for name in ("A", "B"):
            check_knows_labels(metadata[name], labels, name=name)
        check_same_classes(metadata)
    except TrainingError as exc:
        logger.error(str(exc))
        raise typer.Exit(code=1) from None
    report = compare_predictions(
        labels, predicted_a, predicted_b, products=frame[GROUP].to_numpy(), resamples=resamples
    )
    report["left_out"] = left_out
    report["on"] = on or "test"
    listing = disagreements(frame[resolved.input_names], labels, predicted_a, predicted_b)
    text = render_comparison(report, listing, a=a, b=b)
    out.mkdir(parents=True, exist_ok=True)
    (out / "comparison.md").write_text(text)
    # A synthetic catalogue is named by what made it: its registered name says its taxonomy and rows.
    source = {"data": data} | ({} if data else {"synthetic": resolved.registered_name})
    (out / "comparison.json").write_text(json.dumps(report | {"a": a, "b": b} | source, indent=2) + "\n")
    save_for_spreadsheets(listing, out / "disagreements.csv")
    _log_to_mlflow(resolved.experiment, out, report, a=a, b=b)
    typer.echo(text)


def _named_otherwise(frame: pd.DataFrame, metadata: dict[str, dict[str, Any]], *, text: str) -> dict[str, np.ndarray]:
    """The test rows a model named otherwise than this run does, by why (left out: which of them it trained on is
    unknown): those without a product id when a model named each such row by the whole row (as models did before
    titles named them), and those whose titles the fold of look-alike spellings changes when a model named products
    by the title lower-cased alone (before the fold)."""
    split_records = {name: model.get("training_data", {}).get("split") or {} for name, model in metadata.items()}
    left_out: dict[str, np.ndarray] = {}
    older = [name for name, record in split_records.items() if blank_ids_named_by_row(record)]
    blank = frame[GROUP].str.startswith(UNGROUPED).to_numpy()
    if older and blank.any():
        logger.warning(
            "left out %d test rows without a product id: model %s named each by the whole row, so which of them it "
            "trained on is unknown", int(blank.sum()), " and ".join(older),
        )  # fmt: skip
        left_out["without a product id (a model named each by the whole row)"] = blank
    unfolded = [name for name, record in split_records.items() if titles_named_unfolded(record)]
    renamed = renamed_by_the_fold(frame[text])
    if unfolded and renamed.any():
        logger.warning(
            "left out %d test rows whose titles the fold of look-alike spellings changes: model %s named their "
            "products by the title lower-cased alone, so which of them it trained on is unknown",
            int(renamed.sum()), " and ".join(unfolded),
        )  # fmt: skip
        left_out[
            "whose titles the fold of look-alike spellings changes (a model named products by unfolded titles)"
        ] = renamed
    return left_out


def _trained_on(
    frame: pd.DataFrame,
    references: dict[str, str],
    metadata: dict[str, dict[str, Any]],
    *,
    sha256: str,
    catalogue: np.ndarray,
) -> dict[str, np.ndarray]:
    """The test rows of products a model trained on, by each one's record of them, by model (left out).

    The split is a hash of each product, but a product of a class small in the catalogue a model trained on trains
    whole: had the catalogue fewer products of that class then, the model trained on products that are test products
    now. A model given by its MLflow URI has its run's record of the products it trained on, and their rows are left
    out; a file carries none, so when it trained on other data than DATA this is said. When DATA (its products,
    `catalogue`) names under half of the products a model's record holds, its ids were written otherwise or it is
    another catalogue: rows the model trained on may look new, which is said.
    """
    left_out: dict[str, np.ndarray] = {}
    products: np.ndarray | None = None
    for name, reference in references.items():
        seen = _recorded_products(reference)
        if seen is None:
            digest = metadata[name].get("training_data", {}).get("sha256")
            if digest != sha256:
                data = "other data than DATA" if digest else "data it records no digest of"
                record, remedy = (
                    ("its run holds", "") if in_mlflow(reference) else
                    ("its file holds", " (give it as its models:/ URI to leave them out)")
                )  # fmt: skip
                logger.warning(
                    f"model {name} trained on {data}, and {record} no record of the products it trained on: a class "
                    f"with few products there trained them all, so some of these test rows may be of products it "
                    f"trained on{remedy}"
                )
            continue
        own = catalogue_products(seen, metadata[name])
        named, few = products_named(own, catalogue)
        if few:
            logger.warning(
                f"DATA names {named:,} of the {len(own):,} products model {name} trained on (its run's record): the "
                "products' ids are written otherwise there (zero-padded, or read as numbers) or it is another "
                "catalogue, so test rows of products it trained on cannot be told and left out; compare on the "
                "catalogue it trained on"
            )
        products = product_ids(product_keys(frame)) if products is None else products
        trained = np.isin(products, seen)
        if trained.any():
            logger.warning(
                "left out %d test rows of products model %s trained on (its run's record of them; their class had "
                "few products in the catalogue it trained on)", int(trained.sum()), name,
            )  # fmt: skip
            left_out[f"of products model {name} trained on (its run's record)"] = trained
    return left_out


def _recorded_products(reference: str) -> np.ndarray | None:
    """The products the model at an MLflow URI trained on, by its run's record; None for a file or no record."""
    if not in_mlflow(reference):
        return None
    from training.reporting.tracking import products_trained_on

    return products_trained_on(reference)


def _compare_live(
    model_a: bytes, model_b: bytes, *, a: str, b: str, data: str, out: Path, resamples: int, reviewed: str | None,
    since: str | None, min_agreement: float | None, data_config: DataConfig,
) -> None:  # fmt: skip
    """Compare on captured traffic (see the module docstring); exit 1 when MIN_AGREEMENT is not met.

    Raises:
        TrainingError: No capture there, a model taking inputs the capture lacks, models of different taxonomies, or
            a REVIEWED file that is unreadable, matches none of the captured listings or names labels neither model has.
    """
    metadata = {
        name: read_metadata(onnx.load_model_from_string(model)) for name, model in (("A", model_a), ("B", model_b))
    }
    # A record whose inputs the reference (the live model) refuses was never answered, and neither model could score it.
    captured = read_capture(data, since=parse_since(since), schema=metadata["A"]["inputs"])
    for name, found in metadata.items():
        lacking = sorted({spec["name"] for spec in found["inputs"]} - set(captured.inputs))
        if lacking:
            raise TrainingError(
                f"model {name} takes input(s) {lacking} the capture does not hold (it holds "
                f"{sorted(captured.inputs)}): compare models of the served model's inputs"
            )
    listings = latest_listings(captured)
    rows = listing_rows(listings, captured.inputs)
    predicted_a = np.array(served_labels(model_a, rows, name="A"))
    predicted_b = np.array(served_labels(model_b, rows, name="B"))
    check_same_taxonomy(metadata, {"A": predicted_a, "B": predicted_b})
    # The config's separator, else the one model A recorded (a capture comes without a config).
    separator = data_config.path_separator or (metadata["A"].get("taxonomy") or {}).get("separator")
    departments = np.array([label.split(separator)[0].strip() if separator else label for label in predicted_a])
    # A model given a listing as a correction answers it as it was taught: such listings measure nothing.
    corrected = listings["listing_id"].isin(_given_as_corrections(metadata)).to_numpy()
    if corrected.all():
        raise TrainingError(
            f"every listing captured in {data} was given to a model as a correction; compare on traffic captured "
            "since (SINCE=)"
        )
    scored = ~corrected
    report = agreement_report(predicted_a[scored], predicted_b[scored], departments[scored])
    report["left_out_as_corrections"] = int(corrected.sum())
    reviewed_report = None
    if reviewed is not None:
        labels, unmatched = _reviewed_labels(listed_files(reviewed, "REVIEWED"), listings["listing_id"], data_config)
        if any(unmatched.values()):
            logger.warning("reviewed rows not compared", extra={"file": str(reviewed), **unmatched})
        known = labels != ""
        if not known.any():
            since_text = f" since {since}" if since else ""
            raise TrainingError(f"REVIEWED {reviewed}: none of its labelled listings is in this capture{since_text}")
        trained = corrected & known
        if trained.any():
            logger.warning(
                "reviewed listings left out: a model was given them as corrections (CORRECTIONS=)",
                extra={"rows": int(trained.sum())},
            )
        known &= ~trained
        if not known.any():
            raise TrainingError(
                f"REVIEWED {reviewed}: every labelled listing of this capture was given to a model as a correction; "
                "compare on listings reviewed since (a new review queue, SINCE=)"
            )
        labels = _folded_as_trained(labels, metadata)
        classes = set(metadata["A"]["classes"]) | set(metadata["B"]["classes"])
        unknown = sorted(str(label) for label in set(labels[known]) - classes)
        if unknown:
            raise TrainingError(
                f"REVIEWED {reviewed}: {len(unknown)} label(s) are classes of neither model, e.g. {unknown[:5]}; fix "
                "them (the suggestion columns hold the exact names)"
            )
        reviewed_report = compare_predictions(labels[known], predicted_a[known], predicted_b[known],
                                              resamples=resamples)  # fmt: skip
        reviewed_report |= {"left_out_as_corrections": int(trained.sum())} | unmatched
    text = render_agreement(report, reviewed_report, a=a, b=b, data=data, skipped=captured.skipped_text())
    out.mkdir(parents=True, exist_ok=True)
    (out / "comparison.md").write_text(text)
    records = {why: count for why, count in captured.skipped.items() if why != "unreadable_files"}
    summary = report | {"reviewed": reviewed_report, "a": a, "b": b, "data": data, "window": captured.window(),
                        "skipped_records": records, "unreadable_files": captured.unreadable}  # fmt: skip
    (out / "comparison.json").write_text(json.dumps(summary, indent=2) + "\n")
    differ = (predicted_a != predicted_b) & scored
    differing = listings.loc[differ, ["listing_id", *captured.inputs]]
    differing = differing.assign(a=predicted_a[differ], b=predicted_b[differ])
    save_for_spreadsheets(differing, out / "disagreements.csv")
    typer.echo(text)
    low = report["agreement"]["ci_low"]
    if min_agreement is not None and low < min_agreement:
        logger.error(f"agreement on captured traffic is at least {low:.2%} (95 % lower bound), under MIN_AGREEMENT "
                     f"{min_agreement:.2%}: B answers too differently from A")  # fmt: skip
        raise typer.Exit(code=1)


def _folded_as_trained(labels: np.ndarray, metadata: dict[str, dict]) -> np.ndarray:
    """Reviewed labels as training reads corrections: a leaf that `split.small_classes: parent` folded (each model
    records what its plan folded, `training_data.folded_classes`) is the class it became, where neither model answers
    the leaf itself and both answer that class. Any other label stays as written: a class one model added through
    corrections is that model's to get right, and a misspelt leaf is refused, never read as its parent."""
    either = set(metadata["A"]["classes"]) | set(metadata["B"]["classes"])
    both = set(metadata["A"]["classes"]) & set(metadata["B"]["classes"])
    folded: dict[str, str] = {}
    for found in metadata.values():
        recorded = found.get("training_data", {}).get(FOLDED_CLASSES) or {}
        folded |= {leaf: into for leaf, into in recorded.items() if leaf not in either and into in both}
    return np.array([folded.get(label, label) for label in labels], dtype=str)


def _given_as_corrections(metadata: dict[str, dict]) -> set[str]:
    """The listings either model was given as corrections (`training_data.corrected_listings`)."""
    return {listing for found in metadata.values()
            for listing in found.get("training_data", {}).get(CORRECTED_LISTINGS, [])}  # fmt: skip


def _reviewed_labels(
    paths: tuple[str, ...], listing_ids: pd.Series, data: DataConfig
) -> tuple[np.ndarray, dict[str, int]]:
    """The reviewers' label of each listing ("" where it was not reviewed), read as training reads corrections
    (after `data.label_aliases`; a row added by hand without a listing id is a listing of its own; the rounds'
    files oldest first, as CORRECTIONS= takes them), and the labelled rows no listing takes: those not in this
    capture (or before SINCE), and those a later row of the same listing superseded.

    Raises:
        TrainingError: The file is missing or is not a review queue.
    """
    labelled = pd.concat([reviewed_listings(path, data) for path in paths], ignore_index=True)
    labels = labelled.drop_duplicates("listing_id", keep="last").set_index("listing_id")[LABEL_COLUMN]
    by_listing = canonical_labels(labels, data.label_aliases).to_dict()
    found = np.array([by_listing.get(listing, "") for listing in listing_ids], dtype=str)
    unmatched = {
        "not_in_capture": int((~labels.index.isin(listing_ids)).sum()),
        "superseded": len(labelled) - len(labels),
    }
    return found, unmatched


def _log_to_mlflow(experiment: str, out: Path, report: dict, *, a: str, b: str) -> None:
    """The comparison as an MLflow run: the differences as metrics, the report files as artifacts."""
    import mlflow

    from training.reporting.tracking import tracked_run

    with tracked_run(PROJECT_ROOT, experiment=experiment, run_name="compare"):
        mlflow.set_tags({"comparison.a": a, "comparison.b": b})
        mlflow.log_metrics(
            {f"{metric}.{key}": report[metric][key] for metric in ("macro_f1", "accuracy") for key in report[metric]}
            | {"mcnemar_p_value": report["mcnemar"]["p_value"], "rows": report["rows"]}
        )
        for name in ("comparison.md", "comparison.json", "disagreements.csv"):
            mlflow.log_artifact(str(out / name))


if __name__ == "__main__":
    run(app)
