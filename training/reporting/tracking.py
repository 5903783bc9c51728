"""MLflow tracking: where runs go, and what each run records and registers."""

from __future__ import annotations

import logging
import re
import tempfile
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import mlflow
import mlflow.artifacts
import mlflow.onnx
import numpy as np
import onnx
from google.protobuf.message import DecodeError
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

from training.environment import environment_setting

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

SERVING_REQUIREMENTS = ("onnxruntime", "onnx", "numpy")
CANDIDATE_ALIAS = "candidate"
# The artifact recording which products a run's model trained on (sorted uint64 ids).
TRAINED_PRODUCTS = "trained_products.npy"
PRODUCTION_ALIAS = "production"
# The models a new one must not be worse than: what serves and what it would replace.
CHAMPION_ALIASES = (PRODUCTION_ALIAS, CANDIDATE_ALIAS)
# What a person does with a version no champion could be compared with (a class added through corrections, say).
BY_HAND = (
    "it stays registered: judge it (make compare, on captured traffic for other classes), then set its alias by hand "
    "in MLflow (the model's Aliases, or MlflowClient().set_registered_model_alias)"
)
# What reading a logged model raises when its files are gone or damaged (a missing `.data` file of its large
# initializers fails onnx's checks).
UNREADABLE_MODEL = (MlflowException, OSError, DecodeError, onnx.checker.ValidationError)
logger = logging.getLogger(__name__)


def configure_tracking(project_root: Path, experiment: str) -> str:
    """Point MLflow at `MLFLOW_TRACKING_URI`, or a sqlite store in the project, and return the experiment id.

    A new experiment keeps its artifacts in `mlartifacts/` beside the store rather than in the current
    directory, so runs started from anywhere land in one place.
    """
    uri = environment_setting("MLFLOW_TRACKING_URI", f"sqlite:///{project_root / 'mlruns.db'}")
    mlflow.set_tracking_uri(uri)
    existing = mlflow.get_experiment_by_name(experiment)
    if existing is not None:
        return existing.experiment_id
    # Beside the sqlite file itself (not the project): a store elsewhere, as in tests, keeps its artifacts there.
    store = Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else project_root / "mlruns.db"
    location = (store.resolve().parent / "mlartifacts").as_uri() if uri.startswith("sqlite:") else None
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
    """Log the ONNX model with its signature and register a new version (`record_promotion` moves the alias).

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
    MlflowClient().set_model_version_tag(registered_model, version, "model_version", model_version)
    logger.info("registered", extra={"model": registered_model, "version": version})
    return version


@dataclass(frozen=True)
class Champion:
    """A registered version a new one is measured against (`current_champions`): the version at `production` or at
    `candidate`, or a later one no alias holds, the newest or one left for a person (promoted or not, so a weaker
    model never takes the alias from a better one that was left unpromoted).

    Attributes:
        alias: The alias it holds, or None for a version without one.
        version: Its registered version number.
        run_id: The MLflow run that trained it.
        model_bytes: Its graph (empty when it cannot be read).
        unreadable: Why its graph cannot be read (its files moved or deleted), or nothing.
        waiting: Whether it was left for a person to decide (`BY_HAND`), rather than being the newest version.
    """

    alias: str | None
    version: str
    run_id: str
    model_bytes: bytes
    unreadable: str = ""
    waiting: bool = False

    def describe(self, registered_model: str) -> str:
        """`pricerunner v3 (@candidate)`, `pricerunner v4 (waiting for a person, no alias)`, or `pricerunner v5
        (newest, no alias)`."""
        held = (
            f"@{self.alias}" if self.alias else "waiting for a person, no alias" if self.waiting else "newest, no alias"
        )
        return f"{registered_model} v{self.version} ({held})"


@dataclass(frozen=True)
class ChampionComparison:
    """The champion and the new model on the validation rows whose products the champion never trained on.

    Attributes:
        champion: `Champion.describe`.
        comparable: Whether the two could be compared (same classes and inputs, the champion's training products on
            record, enough rows); `reason` says why not.
        champion_macro_f1, macro_f1: Each one's macro-F1 on those rows.
        ci_low, ci_high: The paired bootstrap interval of the difference (new − champion).
        rows: How many rows.
        set_aside: A version no alias holds that answers other classes or takes other inputs: another experiment
            under the name, never promoted, which cannot be compared and so neither judges nor blocks the new one.
    """

    champion: str
    comparable: bool
    reason: str = ""
    champion_macro_f1: float | None = None
    macro_f1: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    rows: int = 0
    set_aside: bool = False


@dataclass(frozen=True)
class Promotion:
    """Whether a new version earned the candidate alias, and why (the run summary's `promotion`); decided on
    validation, never on the test split, which is kept for the reported figures. `doubt` says, when it was promoted,
    what validation could not rule out, or that only the tolerance let it pass."""

    promoted: bool
    reason: str
    validation_macro_f1: float
    validation_baseline_macro_f1: float
    tolerance: float
    champions: list[dict[str, Any]]
    doubt: str = ""

    def to_dict(self) -> dict[str, Any]:
        """As JSON."""
        return asdict(self)


def current_champions(registered_model: str) -> list[Champion]:
    """The versions at `production` and at `candidate` (one version holding both counts once), and the versions after
    them no alias holds that are the newest or were left for a person to decide (`BY_HAND`); none when the name has
    no version yet.

    Both aliases, because a new version takes the candidate alias from one and goes on to replace the other: compared
    with production alone, a model better than a weak production version would replace a stronger candidate. The
    later ones, because a version left unpromoted must not be leapfrogged by a run that meets only the older
    champions (one on a tenth of the catalogue, say): the newest, and every one still waiting for a person, however
    many runs came after it, until a later version holds an alias (a person set it, or a run the aliased champions
    judged took it past one set aside: `ChampionComparison.set_aside`).
    """
    client = MlflowClient()
    champions: dict[str, Champion] = {}
    for alias in CHAMPION_ALIASES:
        try:
            found = client.get_model_version_by_alias(registered_model, alias)
        except MlflowException:
            continue
        if str(found.version) not in champions:
            champions[str(found.version)] = _champion(registered_model, alias, found)
    versions = sorted(client.search_model_versions(f"name = '{registered_model}'"), key=lambda v: int(v.version))
    aliased = max(map(int, champions), default=0)
    for found in versions:
        waiting = str(found.tags.get("promotion", "")).endswith(BY_HAND)
        later = int(found.version) > aliased and str(found.version) not in champions
        if later and (waiting or found is versions[-1]):
            champions[str(found.version)] = _champion(registered_model, None, found, waiting=waiting)
    return list(champions.values())


def trained_products(run_id: str) -> np.ndarray | None:
    """The product ids a run trained on (its TRAINED_PRODUCTS artifact), or None when it recorded none."""
    try:
        path = mlflow.artifacts.download_artifacts(artifact_uri=f"runs:/{run_id}/{TRAINED_PRODUCTS}")
    except (MlflowException, OSError):
        return None
    return np.load(path, allow_pickle=False)


def products_trained_on(uri: str) -> np.ndarray | None:
    """The products the model at an MLflow URI (`models:/name/3`, `models:/name@alias`, `runs:/<id>/model`) trained
    on, from its run's record; None when MLflow cannot say (no such run, or it recorded none)."""
    try:
        run_id = mlflow.models.get_model_info(uri).run_id
    except (MlflowException, OSError):
        return None
    return trained_products(run_id) if run_id else None


def log_trained_products(products: np.ndarray) -> None:
    """Record in the active run which products the model trained on (sorted 64-bit ids), so a later model is compared
    with it only on rows it never saw. MLflow keeps it; the artifacts folder does not (serving never needs it)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / TRAINED_PRODUCTS
        np.save(path, np.unique(products).astype(np.uint64), allow_pickle=False)
        mlflow.log_artifact(str(path))


def read_registered_onnx(uri: str) -> bytes:
    """The ONNX graph of a logged or registered model (`models:/name/3`, `models:/name@alias`, `runs:/...`),
    whole: MLflow saves every initializer of 1 KB or more to a file beside model.onnx (a taxonomy's ancestor
    table at 1,000 classes), which the .onnx file's bytes alone only name.

    Raises:
        FileNotFoundError: The location holds no .onnx file; the others of `UNREADABLE_MODEL`: it cannot be read.
    """
    folder = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))
    graph = next(folder.rglob("*.onnx"), None)
    if graph is None:
        raise FileNotFoundError("no .onnx file there")
    return onnx.load_model(str(graph), load_external_data=True).SerializeToString()


def decide_promotion(
    *, validation: dict[str, float], tolerance: float, champions: Sequence[ChampionComparison]
) -> Promotion:
    """The champion/challenger rule, on validation only, by the metric it names.

    A new model earns the candidate alias when it is not worse than its same-run linear baseline and either its name
    has no version yet or it is not worse than each champion on the validation rows that champion never trained on.
    Each comparison reads the paired bootstrap interval of the macro-F1 difference (new − other) on the same rows,
    as the ship gate does: the new model is worse when the whole interval lies below −`tolerance`, and is then not
    promoted; when the interval straddles −`tolerance`, validation cannot tell, nothing shows it worse, and it is
    promoted with `doubt` saying what validation could not rule out (logged as a warning). A point estimate alone
    would decide ties by noise: an equally good model scores lower on about half of all validation splits. A
    champion it cannot be compared with (`ChampionComparison.reason`: other classes or inputs, no record of its
    training products, too few such rows, a class the catalogue all but lost, files gone) leaves it registered but
    not promoted: a person decides (by setting the alias in MLflow), never an accident of what was trained last. But
    for one set aside (`ChampionComparison.set_aside`: an unpromoted experiment of other classes or inputs under the
    name), which is named in the reason and neither judges nor blocks, as long as another champion was compared:
    otherwise one such experiment would stop every later run, the same model retrained included.

    Args:
        validation: `validation_comparison`'s figures of this run.
        tolerance: How much worse (macro-F1) still counts as not worse; below zero, a margin to beat.
        champions: The comparisons with the champions (`current_champions`), none when the name has no version yet.
    """
    model, baseline = validation["validation_macro_f1"], validation["validation_baseline_macro_f1"]
    base: dict[str, Any] = {"validation_macro_f1": model, "validation_baseline_macro_f1": baseline}
    base |= {"tolerance": tolerance, "champions": [asdict(champion) for champion in champions]}
    against_baseline = _Difference(
        "its linear baseline", "", model, baseline,
        validation["validation_difference_ci_low"], validation["validation_difference_ci_high"],
    )  # fmt: skip
    if refusal := against_baseline.refusal(tolerance):
        return Promotion(False, f"validation {refusal}", **base)
    doubts = [against_baseline.doubt(tolerance)]
    if not champions:
        reason = "the first version of its name; not worse than its linear baseline on validation"
        return Promotion(True, reason, **base, doubt=_doubt(doubts))
    judged = [champion for champion in champions if not champion.set_aside] or list(champions)
    for champion in judged:
        if not champion.comparable:
            reason = f"not compared with {champion.champion}: {champion.reason}; {BY_HAND}"
            return Promotion(False, reason, **base)
    reasons = []
    for champion in judged:
        against = _Difference.with_champion(champion)
        if refusal := against.refusal(tolerance):
            return Promotion(False, refusal, **base)
        doubts.append(against.doubt(tolerance))
        reasons.append(f"{champion.champion} ({against.ours:.4f} vs {against.theirs:.4f}{against.rows}; "
                       f"{against.interval})")  # fmt: skip
    reason = f"not worse than the champion {' nor '.join(reasons)}"
    aside = [f"{champion.champion}: {champion.reason}" for champion in champions if champion.set_aside]
    if aside:
        reason += f"; set aside, as another experiment under this name: {'; '.join(aside)}"
    return Promotion(True, reason, **base, doubt=_doubt(doubts))


@dataclass(frozen=True)
class _Difference:
    """The new model's macro-F1 against another's on the same rows (`rows`: " on 500 validation rows …", or ""
    for all of them), with the paired bootstrap interval of new − other."""

    other: str
    rows: str
    ours: float
    theirs: float
    low: float
    high: float

    @classmethod
    def with_champion(cls, champion: ChampionComparison) -> _Difference:
        """A comparable champion's figures.

        Raises:
            ValueError: The comparison lacks a figure a comparable one has.
        """
        figures = (champion.macro_f1, champion.champion_macro_f1, champion.ci_low, champion.ci_high)
        if any(figure is None for figure in figures):
            raise ValueError(f"the comparison with {champion.champion} is comparable but lacks figures: {figures}")
        ours, theirs, low, high = (float(figure or 0.0) for figure in figures)
        rows = f" on {champion.rows:,} validation rows it never trained on"
        return cls(f"the champion {champion.champion}", rows, ours, theirs, low, high)

    @property
    def interval(self) -> str:
        """The interval, as the reasons state it."""
        return f"95 % interval of the difference {self.low:+.4f} … {self.high:+.4f}"

    def refusal(self, tolerance: float) -> str:
        """Why the new model may not take the alias, or nothing: the whole interval is below −`tolerance`."""
        bound = _bound(tolerance)
        if self.high >= -tolerance:
            return ""
        if tolerance < 0:
            return (
                f"macro-F1 {self.ours:.4f} does not beat {self.other}'s {self.theirs:.4f} by the margin {-tolerance} "
                f"(promotion_tolerance {tolerance}){self.rows}: the {self.interval} lies wholly below {bound}"
            )
        return (
            f"macro-F1 {self.ours:.4f} is below {self.other}'s {self.theirs:.4f}{self.rows}, worse beyond noise and "
            f"promotion_tolerance {tolerance}: the {self.interval} lies wholly below {bound}"
        )

    def doubt(self, tolerance: float) -> str:
        """The caveats on a new model that is not refused, or nothing: that it is worse and only the tolerance let it
        pass, and what validation could not rule out."""
        caveats = []
        if self.high < 0 < tolerance:
            caveats.append(
                f"it is worse than {self.other} (the whole {self.interval} is below 0), let pass by "
                f"promotion_tolerance {tolerance}"
            )
        if self.low < -tolerance:
            beyond = (
                f"falls short of beating {self.other} by the margin {-tolerance}" if tolerance < 0 else
                f"is worse than {self.other} by more than promotion_tolerance {tolerance}"
            )  # fmt: skip
            caveats.append(f"validation cannot rule out that it {beyond} ({self.interval})")
        return "; ".join(caveats)


def _bound(tolerance: float) -> str:
    """−`tolerance`, signed, never "-0"."""
    return f"{-tolerance + 0.0:+g}"


def _doubt(doubts: list[str]) -> str:
    """The caveats on a promoted model, or nothing."""
    return "; ".join(doubt for doubt in doubts if doubt)


def _champion(registered_model: str, alias: str | None, version: Any, *, waiting: bool = False) -> Champion:
    """A registered version as a Champion, with its graph, or why it cannot be read: a champion whose files are gone
    is one the new version cannot be compared with, not a reason to lose a fitted model to a traceback."""
    number = str(version.version)
    try:
        graph = read_registered_onnx(f"models:/{registered_model}/{number}")
    except UNREADABLE_MODEL as exc:
        unreadable = f"its files are missing from the artifact store or damaged: {exc}"
        return Champion(alias, number, str(version.run_id), b"", unreadable=unreadable, waiting=waiting)
    return Champion(alias, number, str(version.run_id), graph, waiting=waiting)


def record_promotion(registered_model: str, version: str, promotion: Promotion) -> None:
    """Move the candidate alias to `version` if it was promoted; record the decision on the version and the run."""
    client = MlflowClient()
    if promotion.promoted:
        client.set_registered_model_alias(registered_model, CANDIDATE_ALIAS, version)
    client.set_model_version_tag(registered_model, version, "promotion", promotion.reason)
    mlflow.set_tag("promoted", str(promotion.promoted).lower())
    mlflow.log_dict(promotion.to_dict(), "promotion.json")
    level = logging.INFO if promotion.promoted and not promotion.doubt else logging.WARNING
    extra = {"model": registered_model, "version": version, "reason": promotion.reason}
    if promotion.doubt:
        extra["doubt"] = promotion.doubt
    logger.log(level, "promoted" if promotion.promoted else "recorded, not promoted", extra=extra)


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
