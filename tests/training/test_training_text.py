"""Extra training text (data.training_text): it teaches the title model, from training groups only."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy import sparse

from training.columns import EXTRA_TEXT
from training.config import DEFAULT_CONFIG_PATH, load_config
from training.data.clean import prepare_catalogue
from training.data.split import split_catalogue
from training.data.synthetic import generate_catalogue
from training.engines.local import fit_model
from training.model.features import hash_counts
from training.model.pipeline import TITLE_SCORES
from training.model.stacking import ExtraExamples

CANARY = "zqxcanary"


@pytest.fixture(scope="module")
def setting():
    config = load_config(DEFAULT_CONFIG_PATH, synthetic_rows=1_500)
    features = replace(config.features, text_buckets=2**12, stacking_folds=3)
    config = replace(config, features=features, model=replace(config.model, n_estimators=20))
    raw = generate_catalogue(1_500, seed=4)
    raw["canonical name"] = "canonical " + raw["product_id"].astype(str)
    with_text = replace(config, data=replace(config.data, training_text=("canonical name",)))
    splits = split_catalogue(prepare_catalogue(raw, with_text.data), with_text.split)
    return config, with_text, splits


def _canary_idf(pipeline, n_features):
    block = pipeline.named_steps["features"].named_transformers_[TITLE_SCORES]
    bucket = int(hash_counts([[CANARY]], n_features).indices[0])
    return block.idf_[bucket]


def _with_canary(frame, column=f"{EXTRA_TEXT}0"):
    return frame.assign(**{column: f"{CANARY} product"})


@pytest.mark.slow
def test_names_of_validation_and_test_products_never_reach_the_model(setting):
    # GIVEN a canary word that only validation and test products' names carry
    config, with_text, splits = setting
    leaky = replace(splits, validation=_with_canary(splits.validation), test=_with_canary(splits.test))

    # WHEN the model trains with training text, and once without any
    trained = fit_model(with_text, leaky)
    baseline = fit_model(config, splits)

    # THEN the canary's bucket was seen by no more documents than without the extra text at all
    n_features = config.features.text_buckets
    assert _canary_idf(trained, n_features) == _canary_idf(baseline, n_features)


@pytest.mark.slow
def test_names_of_training_products_do_teach_the_title_model(setting):
    config, with_text, splits = setting
    taught = replace(splits, train=_with_canary(splits.train))

    trained = fit_model(with_text, taught)
    baseline = fit_model(config, splits)

    n_features = config.features.text_buckets
    assert _canary_idf(trained, n_features) < _canary_idf(baseline, n_features)


@pytest.mark.slow
def test_names_the_model_reads_as_empty_teach_nothing(setting):
    # GIVEN training products whose names are zero-width spaces, soft hyphens and a BOM: nothing the graph reads
    config, with_text, splits = setting
    invisible = replace(splits, train=splits.train.assign(**{f"{EXTRA_TEXT}0": "\u200b \u00ad\ufeff"}))
    without = replace(splits, train=splits.train.drop(columns=[f"{EXTRA_TEXT}0"]))

    # WHEN the model trains with them as training text, and once without any
    trained = fit_model(with_text, invisible)
    baseline = fit_model(config, without)

    # THEN the title model saw the same documents: no name became an example of the "no token" stand-in
    idf = [pipeline.named_steps["features"].named_transformers_[TITLE_SCORES].idf_ for pipeline in (trained, baseline)]
    np.testing.assert_array_equal(*idf)


def test_a_fold_takes_only_the_extra_text_of_its_own_groups():
    extras = ExtraExamples(
        counts=sparse.csr_matrix(np.eye(4)),
        labels=np.array(["a", "b", "a", "b"]),
        owners=np.array(["p1", "p2", "p3", "p4"]),
    )

    counts, labels = extras.of(np.array(["p1", "p3", "p9"]))

    assert counts.toarray().tolist() == [[1, 0, 0, 0], [0, 0, 1, 0]]
    assert labels.tolist() == ["a", "a"]


def test_html_training_text_teaches_the_text_a_page_shows():
    # GIVEN a Shopify export whose product description (HTML) is the extra training text
    raw = generate_catalogue(40, seed=4)
    raw["Body (HTML)"] = (
        '<meta charset="utf-8"><style>p {color: red}</style><p>Bosch <strong>fridge</strong> &amp; freezer</p>'
        "<br/>55&quot; wide<o:p></o:p><blockquote></blockquote>"
        "&lt;br&gt;<script>track()</script>"
    )
    config = load_config(DEFAULT_CONFIG_PATH, synthetic_rows=40)
    data = replace(config.data, training_text=("Body (HTML)",))

    extra = prepare_catalogue(raw, data)[f"{EXTRA_TEXT}0"]

    # THEN its tags are no words of it, and its escapes are what they stand for
    assert set(extra.str.split().map(tuple)) == {("Bosch", "fridge", "&", "freezer", '55"', "wide")}


def test_a_training_text_column_may_not_be_an_input(tmp_path):
    from training.exceptions import ConfigError

    path = tmp_path / "c.yaml"
    path.write_text(
        "name: t\ndata:\n  columns: {title: title}\n  target: category\n  text: title\n  training_text: [title]\n"
    )

    with pytest.raises(ConfigError, match="training_text column 'title' is a model input or the target"):
        load_config(path)
