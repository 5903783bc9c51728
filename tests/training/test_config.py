"""The training config: defaults, overrides and the errors a user sees for a bad file."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from training.cli.catalogue_options import resolve_config
from training.config import DEFAULT_CONFIG_PATH, PROJECT_ROOT, load_config, to_params
from training.exceptions import ConfigError

if TYPE_CHECKING:
    from pathlib import Path


def test_shipped_configs_load():
    synthetic = load_config(DEFAULT_CONFIG_PATH)
    pricerunner = load_config(PROJECT_ROOT / "configs" / "pricerunner.yaml")

    assert synthetic.input_names == ["title", "seller_id", "brand", "price"]
    assert synthetic.data.brand_price_cross == ("brand", "price")
    assert pricerunner.input_names == ["title", "merchant_id"]
    assert pricerunner.data.brand_from_title
    assert pricerunner.features.char_ngrams == (1, 5)
    assert pricerunner.model.extra_trees
    assert not synthetic.model.extra_trees


def test_explicit_override_wins_over_file_value():
    config = load_config(DEFAULT_CONFIG_PATH, synthetic_rows=123, experiment=None)

    assert config.synthetic_rows == 123
    assert config.experiment == "product-classifier"


def test_params_are_flat_and_cover_every_section():
    params = to_params(load_config(DEFAULT_CONFIG_PATH))

    assert params["model.learning_rate"] == 0.1
    assert params["model.extra_trees"] is False
    assert params["features.text_buckets"] == 2**15
    assert params["split.seed"] == 42
    assert params["data.target"] == "category"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("name: x\ndata: [unclosed", r"is not valid YAML: expected ',' or '\]', but got '<stream end>' at line 2"),
        ("name: x\ndata:\n  - a\n b: 2\n", r"is not valid YAML: expected <block end>, .* at line 4, column 2 \(while"),
        ("- a list", "must hold a mapping"),
        # PyYAML keeps the last of a key given twice: the first data section would be lost without a word
        (
            "name: x\ndata: {columns: {t: T}, target: y, text: t}\ndata: {columns: {t: T}, target: y, text: t}",
            "the key 'data' is given twice .*at line 3, column 1",
        ),
        ("name: x\nbase: &b {a: 1}\ndata: {columns: {t: T}, target: y, text: t}", r"unknown setting base \(the sett"),
        ("data: {columns: {t: T}, target: y, text: t}", "name is missing: name the catalogue"),
        ("name: shop@eu\ndata: {columns: {t: T}, target: y, text: t}", "name must be text without '/', ':', '@'"),
        ("name: x\nmodel: false\ndata: {columns: {t: T}, target: y, text: t}", "model must be a mapping of settings"),
        ("name:\ndata: {columns: {t: T}, target: y, text: t}", "name must be text without"),
        (
            "name: ..\ndata: {columns: {t: T}, target: y, text: t}",
            "name must be text without '/', ':', '@' or quotes, and",
        ),
        ("name: x\nexperiment: ''\ndata: {columns: {t: T}, target: y, text: t}", "experiment must be text"),
        ("name: x\nsynthetic_rows: -5\ndata: {columns: {t: T}, target: y, text: t}", "synthetic_rows must be a whol"),
        ("name: x\nsynthetic_rows: lots\ndata: {columns: {t: T}, target: y, text: t}", "synthetic_rows must be a w"),
        (
            "name: x\ndata: {columns: {t: T, b: B, p: P}, target: y, text: t, hashed: [b], numeric: [p], "
            "brand_price_cross: [p, b]}",
            r"data.brand_price_cross must be \[a hashed input, a numeric input\]",
        ),
        ("name: x\ndata: {columns: {t: T}, target: y, text: t}\nmodel: {learning_rate: .inf}", "learning_rate must"),
        ("name: x\ndata: {columns: {t: T}, target: y, text: t}\nfeatures: {char_ngrams: [1, 1000]}", "≤ 10"),
        ("name: x\ndata: {columns: {t: T}, target: y, text: t}\nfeatures: {text_buckets: 4294967296}", "1 to 16,7"),
        (
            "name: x\ndata: {columns: {t: T}, target: y, text: t}\nmodel: {trees: 3}",
            r"unknown setting model.trees \(the settings there: n_estimators, learning_rate,",
        ),
        ("name: x\ndata: {columns: {t: T}, target: y, text: title}", "text input 'title' is not one of data.columns"),
        (
            "name: x\ndata: {columns: {t: T}, target: y, text: t}\n"
            "split: {test_fraction: 0.6, validation_fraction: 0.5}",
            "split fractions must add up to less than 1",
        ),
        ("name: x\ndata: {columns: {t: T}, target: y, text: t, path_separator: ''}", "path_separator must be a non-"),
        ("name: x\ndata: {columns: {t: T}, target: y, text: t, path_separator: 3}", "path_separator must be a non-"),
        (
            "name: x\ndata: {columns: {t: T, p: P}, target: y, text: t, numeric: [p], currency: {p: usd}}",
            r"data.currency must map numeric inputs .* got \{'p': 'usd'\}",
        ),
        (
            "name: x\ndata: {columns: {t: T, p: P}, target: y, text: t, numeric: [p], currency: USD}",
            r"data.currency must map numeric inputs \['p'\] to ISO 4217 codes, such as \{price: USD\}; got 'USD'",
        ),
        (
            "name: x\ndata: {columns: {t: T, p: P}, target: y, text: t, numeric: [p], currency: {t: USD}}",
            "data.currency must map numeric inputs",
        ),
        (
            "name: x\npromotion_tolerance: 2\ndata: {columns: {t: T}, target: y, text: t}",
            "promotion_tolerance must be a number from -1 up to 1, got 2",
        ),
        (
            "name: x\nparity_tolerance: tiny\ndata: {columns: {t: T}, target: y, text: t}",
            "parity_tolerance must be a number above 0 up to 1, got 'tiny'",
        ),
        (
            'name: "macy\'s"\ndata: {columns: {t: T}, target: y, text: t}',
            "name must be text without '/', ':', '@' or quotes",
        ),
        ("name: x\ndata: {columns: {t: T}, target: y, text: t}\nmodel: {extra_trees: 'yes'}", "extra_trees must be tr"),
        ("name: x\ndata: {columns: {t: T, c: y}, target: y, text: t}", "target column 'y' is also a model input"),
        ("name: x\ndata: {columns: [t], target: y, text: t}", "data.columns must map each model input to its column"),
        ("name: x\ndata: {columns: , target: y, text: t}", "data.columns must map each model input to its column"),
        ("name: x\ndata: {columns: {t: T}, target: [y], text: t}", "data.target must be a column or input name"),
        ("name: x\ndata: {columns: {t: T}, target: y, text: t, group: [p]}", "data.group must be a column or input"),
        ("name: x\ndata: {columns: {t: T}, target: y, text: t, group: y}", "data.group is the target column 'y'"),
        ("name: x\ndata: {columns: {t: T}, target: y, text: t, label_aliases: [a]}", "label_aliases must map each"),
        ("name: x\ndata: {columns: {t: T}, target: y, text: t, strict: 'no'}", "data.strict must be true or false"),
        ("name: x\ndata: {columns: {t: T, p: P}, target: y, text: t, numeric: [t]}", "input 't' is given more than"),
        ("name: x\ndata: {columns: {t: T}, target: y, text: t}\nfeatures: [1]", "features must be a mapping"),
        ("name: shop/fr:v1\ndata: {columns: {t: T}, target: y, text: t}", "name must be text without '/'"),
        ("name: x\nregistered_model: a/b\ndata: {columns: {t: T}, target: y, text: t}", "registered_model must be"),
        *[
            (
                f"name: x\ndata: {{columns: {{t: T, {name}: D}}, target: y, text: t, hashed: ['{name}']}}",
                f"input name '{name}' is the pipeline's own",
            )
            for name in ("label", "_group", "_source", "_extra_text0", "_split")
        ],
        *[
            (
                f"name: x\ndata: {{columns: {{t: T, '{name}': D}}, target: y, text: t, numeric: ['{name}']}}",
                f"input name '{name}' {problem}",
            )
            for name, problem in [
                ("Variant Price", "must be one word"),  # Shopify's column, mapped as it is named
                ("price-usd", "must be one word"),
                ("2nd_title", "must be one word"),
                ("price in €", "must be one word"),
                ("probabilities", "is the name of one of the graph's outputs"),
                ("path_nodes", "is the name of one of the graph's outputs"),
                ("confidence", "is a field of captured traffic's records"),
            ]
        ],
        *[
            (f"name: x\ndata: {{columns: {{t: T}}, target: y, text: t}}\n{section}: {{{name}: {value}}}", message)
            for section, name, value, message in [
                (
                    "features",
                    "hash_buckets",
                    0,
                    "features.hash_buckets must be a whole number from 1 to 1,048,576, got 0",
                ),
                ("features", "stacking_folds", 1, "features.stacking_folds must be a whole number from 2 to 20"),
                ("features", "text_buckets", 2.5, "features.text_buckets must be a whole number from 1 to"),
                ("model", "n_estimators", 0, "model.n_estimators must be a whole number from 1 to 100,000, got 0"),
                ("model", "num_leaves", 1, "model.num_leaves must be a whole number from 2 to 131,072"),
                ("model", "num_leaves", 10**11, "model.num_leaves must be a whole number from 2 to 131,072"),
                ("model", "n_estimators", 10**6, "model.n_estimators must be a whole number from 1 to 100,000"),
                ("model", "design", "[auto]", r"model.design must be auto, multiclass or rerank, got \['auto'\]"),
                ("features", "title_fit", "{a: 1}", r"features.title_fit must be auto, tree or flat, got \{'a': 1\}"),
                ("model", "learning_rate", 0, r"model.learning_rate must be a number above 0 \(finite\), got 0"),
                ("model", "colsample_bytree", 1.5, "model.colsample_bytree must be a number above 0 up to 1, got 1.5"),
                ("model", "baseline_tolerance", -0.1, "model.baseline_tolerance must be a number from 0 up to 1"),
                ("split", "test_fraction", 0, "split.test_fraction must be a number above 0 up to 1, got 0"),
                ("split", "validation_fraction", -0.1, "split.validation_fraction must be a number above 0 up to 1"),
                ("features", "char_ngrams", "[4, 2]", "features.char_ngrams must be \\[shortest, longest\\]"),
                ("features", "char_ngrams", "false", "features.char_ngrams must be \\[shortest, longest\\]"),
                ("model", "n_jobs", 0, "model.n_jobs must be a whole number other than 0"),
                ("split", "seed", -1, "split.seed must be a whole number of at least 0, got -1"),
                ("split", "test_fraction", "abc", "split.test_fraction must be a number above 0 up to 1, got 'abc'"),
            ]
        ],
    ],
)
def test_bad_config_is_a_config_error_naming_the_problem(tmp_path: Path, content: str, message: str):
    path = tmp_path / "config.yaml"
    path.write_text(content)

    with pytest.raises(ConfigError, match=message) as raised:
        load_config(path)
    assert "\n" not in str(raised.value)


def test_an_input_name_the_graph_keeps_loads_whatever_its_script(tmp_path: Path):
    path = tmp_path / "words.yaml"
    path.write_text("name: x\ndata: {columns: {título: T, preis_2: P}, target: y, text: título, numeric: [preis_2]}")

    assert list(load_config(path).data.columns) == ["título", "preis_2"]


def test_a_rate_written_with_an_exponent_is_the_number_it_reads_as(tmp_path: Path):
    # PyYAML (YAML 1.1) reads 1e-3, without a dot, as text
    path = tmp_path / "config.yaml"
    path.write_text("name: x\ndata: {columns: {t: T}, target: y, text: t}\nmodel: {learning_rate: 1e-3}\n"
                    "split: {test_fraction: 1e-1}\npromotion_tolerance: 1e-3\nparity_tolerance: 1e-5\n")  # fmt: skip

    config = load_config(path)

    assert (config.model.learning_rate, config.split.test_fraction) == (0.001, 0.1)
    assert (config.promotion_tolerance, config.parity_tolerance) == (0.001, 0.00001)


def test_yaml_shorthands_read_as_the_names_they_spell(tmp_path: Path):
    # GIVEN numbered headers, and role lists of one name written without brackets
    path = tmp_path / "config.yaml"
    path.write_text("name: x\ndata: {columns: {t: 1, s: 2}, target: 3, text: t, hashed: s, group: 4}\n")

    data = load_config(path).data

    # THEN the columns are named by those numbers, and `hashed: s` is the input s, not its letters
    assert (data.columns, data.target, data.group, data.hashed) == ({"t": "1", "s": "2"}, "3", "4", ("s",))


def test_missing_config_file_is_named(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"config file not found: .*nope\.yaml"):
        load_config(tmp_path / "nope.yaml")


def test_each_synthetic_catalogue_registers_under_its_own_name():
    # a synthetic catalogue's product ids are generated with its rows: another size names other products
    assert load_config(DEFAULT_CONFIG_PATH).registered_name == "synthetic"
    assert load_config(DEFAULT_CONFIG_PATH, synthetic_rows=2_000).registered_name == "synthetic-2000-rows"
    assert (
        load_config(DEFAULT_CONFIG_PATH, synthetic_rows=200_000, synthetic_categories=1_000).registered_name
        == "synthetic-1000-categories-200000-rows"
    )
    assert load_config(DEFAULT_CONFIG_PATH, synthetic_rows=2_000, registered_model="mine").registered_name == "mine"


@pytest.mark.parametrize("options", [{"rows": "3000"}, {"categories": "12"}, {"taxonomy": "google-shape"}])
def test_the_synthetic_catalogues_options_never_rename_the_model_of_a_catalogue_read_from_files(options):
    # ROWS=, CATEGORIES= and TAXONOMY= are ignored with DATA=: the same catalogue's model keeps its one name
    given = {"rows": None, "categories": None, "taxonomy": None} | options

    assert resolve_config(DEFAULT_CONFIG_PATH, data="catalogue.csv", **given).registered_name == "synthetic"


def test_a_merge_key_brings_settings_a_written_key_may_override(tmp_path: Path):
    merged = tmp_path / "merged.yaml"
    merged.write_text("name: x\ndata: {columns: {t: T}, target: y, text: t}\nsplit:\n  <<: {seed: 3}\n  seed: 4\n")

    assert load_config(merged).split.seed == 4


def test_a_config_that_is_not_utf8_text_or_is_a_folder_is_named(tmp_path: Path):
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("name: Kühlschränke\n".encode("latin-1"))

    with pytest.raises(ConfigError, match=r"latin\.yaml is not UTF-8 text \(byte 8\); save it as UTF-8"):
        load_config(latin)
    with pytest.raises(ConfigError, match="is a folder; name a YAML file"):
        load_config(tmp_path)
