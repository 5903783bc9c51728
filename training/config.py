"""The one typed training config: dataclasses with defaults, filled from a YAML file and CLI overrides."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from training.columns import FEEDBACK_FIELDS, GRAPH_OUTPUTS, INTERNAL_PREFIX, LABEL
from training.exceptions import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_PATH = PROJECT_ROOT / "configs" / "synthetic.yaml"
# The API's default MAX_TEXT_LENGTH (handler/settings.py; tests/training/test_hostile_files.py holds them equal).
MAX_TEXT_LENGTH = 2000
# An input name the ONNX converter keeps as it is (skl2onnx rewrites any other character to "_", and prefixes a
# leading digit): letters, digits and "_", not starting with a digit.
WORD = re.compile(r"[^\W\d]\w*")
# What a class with fewer than split.min_class_products products gets (training/data/tail.py).
SMALL_CLASS_POLICIES = ("train", "parent", "drop")
# The smallest whole number each count setting takes: below it a library fails deep inside a fit (or, for
# hash_buckets 0, the process dies of a division by zero without a word).
WHOLE_MINIMUMS = {
    "features": {
        "hash_buckets": 1, "text_buckets": 1, "word_ngram_max": 1, "stacking_folds": 2, "price_bands": 1,
        "linear_sample_rows": 1, "weights_per_bucket": 1,
    },
    "model": {
        "n_estimators": 1, "num_leaves": 2, "min_child_samples": 1, "early_stopping_rounds": 1, "candidates": 2,
        "multiclass_max_classes": 2,
    },
    "split": {"min_class_products": 1, "seed": 0},
}  # fmt: skip
# The largest each size setting takes: beyond it a fit allocates gigabytes (text_buckets 2**32: 64 GiB) or dies
# inside LightGBM (hash_buckets 1e11; num_leaves above its 131,072), character n-grams longer than words only slow a
# run down, and a million rounds, each on every class, would run for days (the Dask engine trains every round).
WHOLE_MAXIMUMS = {
    "features": {"hash_buckets": 2**20, "text_buckets": 2**24, "word_ngram_max": 6, "stacking_folds": 20},
    "model": {"num_leaves": 131_072, "n_estimators": 100_000},
}
MAX_CHAR_NGRAM = 10
# The synthetic catalogue's size settings (ROWS=, CATEGORIES= as a config's keys): a billion rows would not fit.
SYNTHETIC_LIMITS = {"synthetic_rows": (1, 100_000_000), "synthetic_categories": (2, 100_000)}
# Each fraction or rate setting's bounds: above the first (from it, for baseline_tolerance), up to the second.
POSITIVE = (0.0, float("inf"))
FRACTION_BOUNDS = {
    "features": {"svm_c": POSITIVE},
    "model": {"learning_rate": POSITIVE, "colsample_bytree": (0.0, 1.0), "baseline_tolerance": (0.0, 1.0)},
    "split": {"test_fraction": (0.0, 1.0), "validation_fraction": (0.0, 1.0)},
}
# The synthetic catalogue's rows unless a config or ROWS= says otherwise.
DEFAULT_SYNTHETIC_ROWS = 10_000
INCLUSIVE_LOWER = {"baseline_tolerance", "promotion_tolerance"}
# The same for the top-level settings.
TOP_LEVEL_BOUNDS = {"parity_tolerance": (0.0, 1.0), "promotion_tolerance": (-1.0, 1.0)}


@dataclass(frozen=True)
class DataConfig:
    """Maps the catalogue's CSV columns to the roles the pipeline knows.

    Attributes:
        columns: Model input name → CSV column. Input names become the ONNX graph's input names.
        target: CSV column holding the category.
        text: Input name of the title.
        hashed: Input names of high-cardinality categoricals, each with its own hasher.
        numeric: Input names of numeric columns (e.g. price); log-transformed.
        group: CSV column identifying the product, for a grouped split; None → each title is a product.
        brand_from_title: Derive a brand feature from the title's first token (catalogues without brand).
        brand_price_cross: (brand input, price input) to cross as brand × price band; None → no cross.
        training_text: CSV columns whose distinct values are extra training examples of the row's class (e.g. a
            catalogue's canonical product name). They teach the title model only: never a model input, never
            read at inference, and taken only from training groups (validation/test names never leak in).
        label_aliases: Label spellings to map before training, variant → canonical (`make check-data` suggests
            them); every canonical label must occur in the data.
        strict: Fail (exit 1, nothing written) when the data report suspects any problem; for CI.
        allow_new_classes: `make train CORRECTIONS=` may add classes the catalogue lacks (a reviewer's new label);
            off, such a label is refused, since a typo would otherwise become a class of one row.
        max_text_length: Longest string a row may carry in any text column (the API's MAX_TEXT_LENGTH, 2,000 by
            default): longer rows are dropped in training and counted, and refused by `make predict`. Recorded
            in the model's input schema, so bulk scoring applies the limit the model was trained with.
        currency: Per numeric input whose prices are written with their currency after them ("15.00 USD", as
            Google Merchant Center feeds write them), its ISO 4217 code ({price: USD}): such a price is read as its
            number when its code is this one and refused in any other, the same in every file and engine; recorded
            on the model's input, whose bulk scoring reads prices alike. An input without one refuses a price with a
            currency code, naming the setting to add.
        path_separator: When set, labels are category paths ("Electronics > Audio > Headphones") and every answer
            carries the predicted path with a confidence per level (training/model/hierarchy.py); a label without
            the separator is a one-level path. None: every label is flat (a one-level path).
    """

    columns: dict[str, str]
    target: str
    text: str
    hashed: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()
    group: str | None = None
    brand_from_title: bool = False
    brand_price_cross: tuple[str, str] | None = None
    training_text: tuple[str, ...] = ()
    label_aliases: dict[str, str] = field(default_factory=dict)
    strict: bool = False
    allow_new_classes: bool = False
    max_text_length: int = MAX_TEXT_LENGTH
    path_separator: str | None = None
    currency: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FeatureConfig:
    """Feature settings.

    Attributes:
        hash_buckets: Buckets per hashed categorical (one-hot, materialised densely in ONNX: keep small).
        text_buckets: Buckets per n-gram kind (word, character) of the title's linear model.
        word_ngram_max: Longest word n-gram of the title.
        char_ngrams: (shortest, longest) character n-gram of the title; None for words only.
        svm_c: Inverse regularisation of the title's linear SVM.
        stacking_folds: Folds for the out-of-fold title scores LightGBM trains on.
        price_bands: Quantile bands of the brand × price-band cross.
        linear_sample_rows: With ENGINE=dask, the title model and its out-of-fold copies are fitted on a
            class-stratified sample of about this many training rows (all of them when there are fewer).
        weights_per_bucket: With the rerank design, non-zero title weights kept per n-gram bucket (over the
            edges of the title model's tree; one edge per class when flat).
        title_fit: With the rerank design, how the title SVM is fitted: "tree" (one SVM per node of the path
            labels' tree, `training.model.title_tree`), "flat" (one-vs-rest over every class on every row), or
            "auto": flat while its cost is minutes, tree above (`training.model.pipeline.resolve_title_fit`).
    """

    hash_buckets: int = 1024
    text_buckets: int = 2**15
    word_ngram_max: int = 2
    char_ngrams: tuple[int, int] | None = (2, 4)
    svm_c: float = 0.5
    stacking_folds: int = 5
    price_bands: int = 8
    linear_sample_rows: int = 1_500_000
    weights_per_bucket: int = 64
    title_fit: str = "auto"


@dataclass(frozen=True)
class ModelConfig:
    """LightGBM settings; `n_estimators` is an upper bound that early stopping cuts short."""

    n_estimators: int = 400
    learning_rate: float = 0.1
    num_leaves: int = 31
    min_child_samples: int = 10
    colsample_bytree: float = 0.3
    # LightGBM's extremely randomised trees (one random threshold tried per feature and split), in either design.
    extra_trees: bool = False
    early_stopping_rounds: int = 40
    n_jobs: int = 2
    # multiclass (LightGBM over every class's title score), rerank (one LightGBM re-ranks the title model's
    # top `candidates`), or auto: multiclass up to `multiclass_max_classes` classes, rerank above.
    design: str = "auto"
    multiclass_max_classes: int = 30
    candidates: int = 20
    # How far the model's validation macro-F1 may fall below its own linear baseline's and still ship (with a
    # warning): small validation splits are noisy; beyond this the run fails.
    baseline_tolerance: float = 0.01


@dataclass(frozen=True)
class SplitConfig:
    """How products are split (`training.data.split`) and what happens to classes too small to split.

    Attributes:
        test_fraction, validation_fraction: The shares of products (rows without a product column) held out.
        seed: Seeds the hash that deals each product its split.
        min_class_products: A class with fewer products (rows without a product column) is small.
        small_classes: What a small class gets (`training.data.tail`): "train" keeps all its rows in train (it is
            learnt and reported as not evaluated), "parent" folds it into its parent category (path labels) until
            the parent is large enough, "drop" leaves it out of the run (counted in the data report).
    """

    test_fraction: float = 0.2
    validation_fraction: float = 0.1
    seed: int = 42
    min_class_products: int = 5
    small_classes: str = "train"


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run needs; logged as MLflow params so a run can be reproduced from its record."""

    name: str
    data: DataConfig
    features: FeatureConfig = field(default_factory=FeatureConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    synthetic_rows: int = DEFAULT_SYNTHETIC_ROWS
    # Leaves of a synthetic three-level taxonomy (`training.data.taxonomy`, path labels); None → the default
    # ten-category catalogue. With synthetic_taxonomy: how many of that taxonomy's classes to keep.
    synthetic_categories: int | None = None
    # A real taxonomy's tree and a long tail (`training.data.long_tail`): google, google-shape or a taxonomy file;
    # None → no such catalogue.
    synthetic_taxonomy: str | None = None
    experiment: str = "product-classifier"
    # The MLflow registered model this run's version joins; None → named after the catalogue (`registered_name`).
    registered_model: str | None = None
    parity_tolerance: float = 1e-5
    # How much lower a new model's macro-F1 may be than the champion's (on the same held-out rows) or its
    # same-run linear baseline's and still move the `candidate` alias.
    promotion_tolerance: float = 0.001

    @property
    def registered_name(self) -> str:
        """The registered model's name: `registered_model`, else the config's name and, for a synthetic catalogue
        with a taxonomy, its shape (`synthetic-1000-categories`, `synthetic-google-shape`), and for one of other than
        the default rows, their number (`synthetic-20000-rows`): one registered model per catalogue, so models of
        other classes never compete for one alias, nor models whose product ids name other products (a synthetic
        catalogue's ids are generated with its rows; `make train` adds its seed too, `synthetic-seed-7`, as
        `registered_model`, since only it knows that no DATA was given)."""
        if self.registered_model:
            return self.registered_model
        name = self.name
        if self.synthetic_taxonomy:
            name = f"{name}-{Path(self.synthetic_taxonomy).stem}"
        elif self.synthetic_categories:
            name = f"{name}-{self.synthetic_categories}-categories"
        if self.synthetic_rows != DEFAULT_SYNTHETIC_ROWS:
            name = f"{name}-{self.synthetic_rows}-rows"
        return name

    @property
    def input_names(self) -> list[str]:
        """The model's inputs in graph order."""
        return list(self.data.columns)


def load_config(path: Path, **overrides: Any) -> TrainConfig:
    """Read a YAML config and apply top-level overrides (None values are ignored).

    Args:
        path: YAML file with the sections of `TrainConfig`.
        **overrides: Top-level fields to replace, e.g. `synthetic_rows=1000`.

    Returns:
        The resolved config.

    Raises:
        ConfigError: The file is missing, is not valid YAML, or names an unknown or invalid setting.
    """
    try:
        raw = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except IsADirectoryError as exc:
        raise ConfigError(f"config file {path} is a folder; name a YAML file such as configs/synthetic.yaml") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not UTF-8 text (byte {exc.start + 1}); save it as UTF-8") from exc
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {_yaml_problem(exc)}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path} must hold a mapping of settings")
    raw.update({key: value for key, value in overrides.items() if value is not None})
    try:
        config = _build(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"config file {path}: {exc}") from exc
    _check(config, path)
    return config


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping: it keeps the last silently, so a second
    `data:` section would train on its settings alone, without a word of the first."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *anchor` brings keys a written key may override: only written keys are checked
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, list | dict):
                continue  # unhashable: SafeLoader names it as it always has
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} is given twice (only one would count)", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's error on one line: the problem at its line and column (PyYAML's own text quotes the lines around it,
    with a caret, over several lines)."""
    problem = getattr(exc, "problem", None)
    mark = getattr(exc, "problem_mark", None)
    if problem is None or mark is None:
        return " ".join(str(exc).split())
    context = getattr(exc, "context", None)
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" + (f" ({context})" if context else "")


def to_params(config: TrainConfig) -> dict[str, Any]:
    """Flatten the config into `section.key` params for MLflow."""
    params: dict[str, Any] = {}
    for key, value in dataclasses.asdict(config).items():
        if isinstance(value, dict) and key != "data":
            params.update({f"{key}.{inner}": inner_value for inner, inner_value in value.items()})
        elif key == "data":
            params.update({f"data.{inner}": str(inner_value) for inner, inner_value in value.items()})
        else:
            params[key] = value
    return params


def _build(raw: dict[str, Any]) -> TrainConfig:
    """Construct the dataclasses, rejecting unknown keys by name."""
    data = _data_section(raw.pop("data", None) or {})
    features = _numbers(_section(raw, "features"))
    if isinstance(features.get("char_ngrams"), list):
        features["char_ngrams"] = tuple(features["char_ngrams"])
    if "name" not in raw:
        raise TypeError("name is missing: name the catalogue (name: my-shop), which names its registered model")
    return TrainConfig(
        data=DataConfig(**_known(data, DataConfig, "data.")),
        features=FeatureConfig(**_known(features, FeatureConfig, "features.")),
        model=ModelConfig(**_known(_numbers(_section(raw, "model")), ModelConfig, "model.")),
        split=SplitConfig(**_known(_numbers(_section(raw, "split")), SplitConfig, "split.")),
        **_known(_numbers(raw, TOP_LEVEL_BOUNDS), TrainConfig, ""),
    )


def _known(settings: dict[str, Any], kind: type, prefix: str) -> dict[str, Any]:
    """`settings`, or a TypeError naming the first one `kind` has no field for, and those it has."""
    known = [field.name for field in dataclasses.fields(kind)]
    unknown = [key for key in settings if key not in known]
    if unknown:
        raise TypeError(f"unknown setting {prefix}{unknown[0]} (the settings there: {', '.join(known)})")
    return settings


def _section(raw: dict[str, Any], name: str) -> dict[str, Any]:
    """A section's settings (taken out of `raw`), or a TypeError when it is not a mapping (an empty one, `model:`,
    is no settings; `model: false` is no mapping, and would otherwise be read as the defaults without a word)."""
    section = raw.pop(name, None)
    section = {} if section is None else section
    if not isinstance(section, dict):
        raise TypeError(f"{name} must be a mapping of settings, got {section!r}")
    return dict(section)


def _data_section(raw: Any) -> dict[str, Any]:
    """The data section with each setting of the type it needs, or a TypeError naming the first that is not.

    YAML gives a numbered header (`title: 1`) as a number, which is the column named "1"; a role's list written
    without brackets (`hashed: seller_id`) is that one name, not its letters.
    """
    if not isinstance(raw, dict):
        raise TypeError(f"data must be a mapping of settings, got {raw!r}")
    data = dict(raw)
    columns = data.get("columns")
    if not isinstance(columns, dict) or not columns:
        raise TypeError(f"data.columns must map each model input to its column (title: Product Title), got {columns!r}")
    if not all(isinstance(name, str) for name in columns):
        raise TypeError(f"data.columns: input names must be text, got {list(columns)}")
    data["columns"] = {name: _column_name(f"data.columns.{name}", column) for name, column in columns.items()}
    for key in ("target", "text"):
        data[key] = _column_name(f"data.{key}", data.get(key))
    if data.get("group") is not None:
        data["group"] = _column_name("data.group", data["group"])
    for key in ("hashed", "numeric", "training_text"):
        names = data.get(key) or ()
        names = [names] if isinstance(names, str | int) and not isinstance(names, bool) else names
        if not isinstance(names, list | tuple):
            raise TypeError(f"data.{key} must be a list of names, got {names!r}")
        data[key] = tuple(_column_name(f"data.{key}", name) for name in names)
    aliases = data.get("label_aliases") or {}
    if not isinstance(aliases, dict):
        raise TypeError(f"data.label_aliases must map each variant label to its canonical label, got {aliases!r}")
    data["label_aliases"] = {str(k): str(v) for k, v in aliases.items()}
    cross = data.get("brand_price_cross")
    if cross:
        if not isinstance(cross, list | tuple) or len(cross) != 2:
            raise TypeError(f"data.brand_price_cross must be [brand input, price input], got {cross!r}")
        data["brand_price_cross"] = tuple(_column_name("data.brand_price_cross", name) for name in cross)
    for key in ("strict", "brand_from_title", "allow_new_classes"):
        if key in data and not isinstance(data[key], bool):
            raise TypeError(f"data.{key} must be true or false, got {data[key]!r}")
    return data


def _check_input_names(path: Path, data: DataConfig) -> None:
    """Each input name must be a word that is not a graph output: it names the ONNX graph's input, which the converter
    would rename otherwise ("Variant Price" becomes "Variant_Price", "probabilities" another name), so the graph
    would not take the field it was trained on; nor a field captured traffic's files keep beside the inputs.

    Raises:
        ConfigError: An input name is not such a word.
    """
    for name, column in data.columns.items():
        if name in GRAPH_OUTPUTS:
            problem = f"is the name of one of the graph's outputs {list(GRAPH_OUTPUTS)}"
        elif name in FEEDBACK_FIELDS:
            problem = "is a field of captured traffic's records and of the review queue, beside the inputs"
        elif not WORD.fullmatch(name):
            problem = "must be one word (letters, digits and '_', not starting with a digit)"
        else:
            continue
        suggestion = re.sub(r"\W+", "_", name).strip("_").lower()
        taken = {*GRAPH_OUTPUTS, *FEEDBACK_FIELDS, *data.columns}
        if not WORD.fullmatch(suggestion) or suggestion in taken:
            suggestion = next(f"input_{n}" for n in range(1, len(data.columns) + 2) if f"input_{n}" not in data.columns)
        raise ConfigError(
            f"config file {path}: input name {name!r} {problem}: it names the ONNX graph's input and the API's "
            f"field. Map the column under another name in data.columns ({suggestion}: {column}) and use that name "
            "in the roles (text, hashed, numeric)"
        )


def _column_name(setting: str, value: Any) -> str:
    """A column or input name as text: a whole number is the column of that name; anything else is refused."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"{setting} must be a column or input name, got {value!r}")


def _numbers(section: dict[str, Any], bounds: dict[str, Any] | None = None) -> dict[str, Any]:
    """The section with each rate written like `1e-3` as the number it is: YAML 1.1 (PyYAML) reads an exponent
    without a dot as text. `bounds` names the rates (by default those of every section's FRACTION_BOUNDS)."""
    rates = set(bounds) if bounds is not None else {name for found in FRACTION_BOUNDS.values() for name in found}
    for name, value in section.items():
        if name in rates and isinstance(value, str):
            with contextlib.suppress(ValueError):  # not a number: _check_ranges names it
                section[name] = float(value)
    return section


def _check(config: TrainConfig, path: Path) -> None:
    """Every role must name a declared input, and an input has one kind: text, hashed or numeric."""
    for setting in ("name", "registered_model"):
        value = getattr(config, setting)
        if (value is not None or setting == "name") and (
            not isinstance(value, str) or not value.strip(". ") or set(value) & set("/:@'\"")
        ):
            raise ConfigError(
                f"config file {path}: {setting} must be text without '/', ':', '@' or quotes, and more than dots (it "
                f"names the MLflow registered model, which models:/name@alias URIs name), got {value!r}"
            )
    if not isinstance(config.experiment, str) or not config.experiment.strip():
        raise ConfigError(
            f"config file {path}: experiment must be text (the MLflow experiment's name), got {config.experiment!r}"
        )
    data = config.data
    roles = [("text", data.text), *[("hashed", name) for name in data.hashed], *[("numeric", n) for n in data.numeric]]
    kinds = [name for _, name in roles]
    twice = sorted({name for name in kinds if kinds.count(name) > 1})
    if twice:
        raise ConfigError(
            f"config file {path}: input '{twice[0]}' is given more than one of the roles text, hashed and numeric; "
            "give it one"
        )
    if data.brand_price_cross:
        roles += [("brand_price_cross", name) for name in data.brand_price_cross]
        brand, price = data.brand_price_cross
        if brand not in data.hashed or price not in data.numeric:
            raise ConfigError(
                f"config file {path}: data.brand_price_cross must be [a hashed input, a numeric input] (its brand, "
                f"then its price), got {list(data.brand_price_cross)}"
            )
    for role, name in roles:
        if name not in data.columns:
            raise ConfigError(
                f"config file {path}: {role} input '{name}' is not one of data.columns {list(data.columns)}"
            )
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in data.label_aliases.items()):
        raise ConfigError(f"config file {path}: data.label_aliases must map label strings to label strings")
    chained = sorted(set(data.label_aliases) & set(data.label_aliases.values()))
    if chained:
        raise ConfigError(f"config file {path}: label_aliases maps to {chained[0]!r}, which is itself an alias")
    taken = [name for name in data.columns if name == LABEL or name.startswith(INTERNAL_PREFIX)]
    if taken:
        raise ConfigError(
            f"config file {path}: input name '{taken[0]}' is the pipeline's own: '{LABEL}' holds the category and "
            f"names starting with '{INTERNAL_PREFIX}' its other columns; name the input otherwise in data.columns "
            f"(e.g. '{taken[0].strip(INTERNAL_PREFIX)}_value') and in the roles that name it"
        )
    _check_input_names(path, data)
    inputs = set(data.columns.values())
    if data.group == data.target:
        raise ConfigError(
            f"config file {path}: data.group is the target column '{data.target}': each category would be one "
            "product; name the column that identifies a product (or leave group out: a product is then its title)"
        )
    if data.target in inputs:
        raise ConfigError(
            f"config file {path}: the target column '{data.target}' is also a model input; the model would read the "
            "answer it is asked for: map another column"
        )
    for column in data.training_text:
        if column in inputs or column == data.target:
            raise ConfigError(
                f"config file {path}: training_text column '{column}' is a model input or the target; it must be "
                "a separate column (e.g. a canonical product name) that the model never reads"
            )
    if isinstance(data.max_text_length, bool) or not isinstance(data.max_text_length, int) or data.max_text_length < 1:
        raise ConfigError(f"config file {path}: data.max_text_length must be a positive integer")
    if not isinstance(data.currency, dict) or not all(
        name in data.numeric and isinstance(code, str) and re.fullmatch(r"[A-Z]{3}", code)
        for name, code in data.currency.items()
    ):
        raise ConfigError(
            f"config file {path}: data.currency must map numeric inputs {list(data.numeric)} to ISO 4217 codes, such "
            f"as {{price: USD}}; got {data.currency!r}"
        )
    separator = data.path_separator
    if separator is not None and (not isinstance(separator, str) or not separator):
        raise ConfigError(
            f"config file {path}: data.path_separator must be a non-empty string such as ' > ' (or left out for flat "
            f"labels), got {separator!r}"
        )
    _check_ranges(config, path)
    if not 0 < config.split.test_fraction + config.split.validation_fraction < 1:
        raise ConfigError(f"config file {path}: split fractions must add up to less than 1")
    if config.split.small_classes not in SMALL_CLASS_POLICIES:
        raise ConfigError(
            f"config file {path}: split.small_classes must be one of {', '.join(SMALL_CLASS_POLICIES)}, got "
            f"{config.split.small_classes!r}"
        )
    # Compared with a tuple, not a set: a list or a mapping where a word belongs cannot be hashed.
    if config.model.design not in ("auto", "multiclass", "rerank"):
        raise ConfigError(
            f"config file {path}: model.design must be auto, multiclass or rerank, got {config.model.design!r}"
        )
    if not isinstance(config.model.extra_trees, bool):
        raise ConfigError(
            f"config file {path}: model.extra_trees must be true or false, got {config.model.extra_trees!r}"
        )
    if config.features.title_fit not in ("auto", "tree", "flat"):
        raise ConfigError(
            f"config file {path}: features.title_fit must be auto, tree or flat, got {config.features.title_fit!r}"
        )


def _check_whole(setting: str, value: Any, minimum: int, maximum: int | None, path: Path) -> None:
    """A count setting is a whole number from `minimum` (up to `maximum`, when it has one).

    Raises:
        ConfigError: Naming the setting and the range.
    """
    whole = not isinstance(value, bool) and isinstance(value, int)
    if not whole or value < minimum or (maximum is not None and value > maximum):
        wanted = f"from {minimum} to {maximum:,}" if maximum is not None else f"of at least {minimum}"
        raise ConfigError(f"config file {path}: {setting} must be a whole number {wanted}, got {value!r}")


def _check_ranges(config: TrainConfig, path: Path) -> None:
    """Counts are whole numbers from their minimum up, fractions and rates lie within their bounds."""
    for section, minimums in WHOLE_MINIMUMS.items():
        for name, minimum in minimums.items():
            maximum = WHOLE_MAXIMUMS.get(section, {}).get(name)
            _check_whole(f"{section}.{name}", getattr(getattr(config, section), name), minimum, maximum, path)
    for name, (least, most) in SYNTHETIC_LIMITS.items():
        if getattr(config, name) is not None:
            _check_whole(name, getattr(config, name), least, most, path)
    settings = [(f"{section}.{name}", getattr(getattr(config, section), name), limits)
                for section, bounds in FRACTION_BOUNDS.items() for name, limits in bounds.items()]  # fmt: skip
    settings += [(name, getattr(config, name), limits) for name, limits in TOP_LEVEL_BOUNDS.items()]
    for setting, value, (low, high) in settings:
        inclusive = setting.rsplit(".", 1)[-1] in INCLUSIVE_LOWER
        number = not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)
        if not number or not (low <= value if inclusive else low < value) or not value <= high:
            upper = " (finite)" if high == float("inf") else f" up to {high:g}"
            wanted = f"{'from' if inclusive else 'above'} {low:g}{upper}"
            raise ConfigError(f"config file {path}: {setting} must be a number {wanted}, got {value!r}")
    jobs = config.model.n_jobs
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs == 0:
        raise ConfigError(
            f"config file {path}: model.n_jobs must be a whole number other than 0 (-1: all cores), got {jobs!r}"
        )
    ngrams = config.features.char_ngrams
    if ngrams is not None and not (
        isinstance(ngrams, tuple)
        and len(ngrams) == 2
        and all(isinstance(n, int) and not isinstance(n, bool) for n in ngrams)
        and 1 <= ngrams[0] <= ngrams[1] <= MAX_CHAR_NGRAM
    ):
        raise ConfigError(
            f"config file {path}: features.char_ngrams must be [shortest, longest] with 1 ≤ shortest ≤ longest "
            f"≤ {MAX_CHAR_NGRAM} (or null for words only), got {ngrams!r}"
        )
