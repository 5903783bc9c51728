"""What a run shows: MLflow run names and tags, importance by feature group, confusions at any scale."""

from __future__ import annotations

import copy
import warnings
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from training.reporting.plots import (
    describe_group,
    gain_by_group,
    plot_confusion_matrix,
    plot_feature_importance,
    shown,
)
from training.reporting.tracking import describe_data, name_run, run_tags

STARTED = datetime(2026, 11, 27, 4, 31, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("source", "described"),
    [
        ("synthetic(rows=10000, seed=42)", "synthetic-10000rows"),
        ("data/pricerunner_aggregate.csv", "pricerunner_aggregate"),
        ("/abs/path/export.parquet", "export"),
        ("s3://bucket/export/*.parquet", "export"),
        ("s3://bucket/export/", "export"),
        ("exports/part-*.csv", "exports"),
        ("*.csv", "data"),
    ],
)
def test_describe_data_names_the_data_shortly(source, described):
    assert describe_data(source) == described


@pytest.mark.parametrize(
    ("config", "source", "name"),
    [
        ("pricerunner", "data/pricerunner_aggregate.csv", "pricerunner-pricerunner_aggregate-20261127T043105Z"),
        ("synthetic", "synthetic(rows=3000, seed=42)", "synthetic-3000rows-20261127T043105Z"),
        ("my", "s3://bucket/export/", "my-export-20261127T043105Z"),
    ],
)
def test_run_name_says_config_data_and_time(config, source, name):
    assert name_run(config, source, STARTED) == name


def test_run_tags_carry_engine_and_categories():
    tags = run_tags(engine="dask", classes=["TVs", "CPUs"], config_name="c", source="x.csv", sha256="ab")

    assert tags == {
        "engine": "dask", "categories": "2", "category_names": "TVs, CPUs", "config": "c", "data": "x",
        "data_sha256": "ab",
    }  # fmt: skip


def test_run_tags_cut_a_long_category_list():
    tags = run_tags(
        engine="local", classes=[f"class {i}" for i in range(5_000)], config_name="c", source="x", sha256=""
    )

    assert tags["categories"] == "5000"
    assert len(tags["category_names"]) <= 1001


def test_gain_is_summed_per_feature_block():
    names = np.array(
        ["title_scores__score_TVs", "title_scores__score_CPUs", "brand_hash__bucket_763", "price_value__price"]
    )

    assert gain_by_group(names, np.array([5.0, 3.0, 1.5, 0.5])) == {
        "title_scores": 8.0,
        "brand_hash": 1.5,
        "price_value": 0.5,
    }


@pytest.mark.parametrize(
    ("block", "label"),
    [
        ("title_scores", "title scores (linear title model)"),
        ("seller_id_hash", "seller_id (hashed)"),
        ("title_brand_hash", "brand from the title (hashed)"),
        ("brand_price_band", "brand × price band"),
        ("price_value", "price"),
        ("other", "other"),
    ],
)
def test_feature_groups_read_as_features(block, label):
    assert describe_group(block) == label


def _confusions(classes: int, rows: int = 3_000) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    names = np.array([f"class {i:03d}" for i in range(classes)])
    labels = rng.integers(0, classes, rows)
    predicted = np.where(rng.random(rows) < 0.8, labels, (labels + 1) % classes)
    return pd.Series(names[labels]), names[predicted], names


@pytest.mark.parametrize("classes", [5, 60])
def test_confusion_plot_is_written_at_any_scale(tmp_path, classes):
    labels, predicted, names = _confusions(classes)

    path = plot_confusion_matrix(labels, predicted, names, tmp_path / "confusion.png")

    with Image.open(path) as image:
        width, height = image.size
    # 60 classes: the most-confused pairs, a fixed-width chart, instead of an unreadable 60 × 60 matrix
    assert (width, height) == ((750, 600) if classes == 5 else (1100, 1050))


@pytest.mark.parametrize("classes", [5, 60])
def test_confusion_plot_keeps_room_for_real_category_names(tmp_path, classes):
    labels, predicted, names = _confusions(classes)
    department = "Home Decor & Festive Needs >> Candles & Fragrances >> Home Fragrances >> Aroma Oil & Diffuser Sets"
    long_names = {name: f"{department} >> {name}" for name in names}

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns when the tick labels leave the axes no room
        plot_confusion_matrix(
            labels.map(long_names),
            np.vectorize(long_names.get)(predicted),
            np.vectorize(long_names.get)(names),
            tmp_path / "confusion.png",
        )


@pytest.mark.parametrize("classes", [5, 60])
def test_category_names_the_plot_font_cannot_draw_are_written_legibly_without_a_warning(tmp_path, classes):
    # GIVEN Japanese category names (matplotlib's font has no CJK glyph) and one priced with "$" (mathtext's marker)
    labels, predicted, names = _confusions(classes)
    japanese = {name: f"家電 > テレビ {name}" for name in names} | {names[0]: "Gifts $10-$50"}

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Glyph 23478 missing from font(s) DejaVu Sans", once per character
        plot_confusion_matrix(
            labels.map(japanese),
            np.vectorize(japanese.get)(predicted),
            np.vectorize(japanese.get)(names),
            tmp_path / "confusion.png",
        )

    # THEN each shows as its escapes, so two names stay two, and "$" as itself
    assert shown("家電 > テレビ") == "\\u5bb6\\u96fb > \\u30c6\\u30ec\\u30d3"
    assert shown("Gifts $10-$50") == "Gifts \\$10-\\$50"
    assert shown("Télévisions") == "Télévisions"


@pytest.mark.parametrize("trees", [True, False])
def test_feature_importance_plot_is_written_and_says_when_the_trees_were_dropped(tmp_path, small_pipeline, trees):
    pipeline = copy.deepcopy(small_pipeline)
    pipeline.named_steps["classifier"].uses_trees_ = trees

    path = plot_feature_importance(pipeline, tmp_path / "importance.png")

    with Image.open(path) as image:
        assert image.size[0] == (1300 if trees else 800)  # the two panels, or the one line that says why not
