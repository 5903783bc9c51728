"""Champion/challenger: a new model moves the `candidate` alias only if it is not worse than the champion on the
same held-out rows, nor than its same-run linear baseline."""

from __future__ import annotations

import json
from dataclasses import replace
from types import SimpleNamespace

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient
from typer.testing import CliRunner

from training.cli.train import app, classes_thinned, never_trained_on, shrunk
from training.columns import CORRECTED_LISTINGS, CORRECTED_PRODUCT, CORRECTED_PRODUCTS
from training.config import DEFAULT_CONFIG_PATH
from training.data.split import catalogue_products, product_ids, products_named
from training.data.synthetic import generate_catalogue
from training.reporting.tracking import BY_HAND, ChampionComparison, current_champions, decide_promotion

CHAMPION = "test-model v1 (@candidate)"


def _validation(model: float, baseline: float, low: float, high: float) -> dict[str, float]:
    return {
        "validation_macro_f1": model,
        "validation_baseline_macro_f1": baseline,
        "validation_difference_ci_low": low,
        "validation_difference_ci_high": high,
    }


def _against(theirs: float, ours: float, low: float, high: float, *, comparable: bool = True) -> ChampionComparison:
    reason = "" if comparable else "it answers other classes (3 differ, e.g. ['Drones'])"
    return ChampionComparison(CHAMPION, comparable, reason, theirs, ours, low, high, 500)


AHEAD = (0.90, 0.85, 0.03, 0.07)  # the model against its baseline: ahead, beyond noise


@pytest.mark.parametrize(
    ("validation", "champion", "promoted", "why"),
    [
        (AHEAD, None, True, "the first version of its name"),
        (
            (0.80, 0.85, -0.09, -0.02),
            None,
            False,
            "below its linear baseline's 0.8500, worse beyond noise and promotion_tolerance",
        ),
        # within the tolerance by its point estimate, below it by the interval's whole: worse beyond noise
        (
            (0.845, 0.85, -0.03, -0.011),
            None,
            False,
            "the 95 % interval of the difference -0.0300 … -0.0110 lies wholly",
        ),
        # below by more than the tolerance by its point estimate, but the interval reaches above: nothing shows it worse
        ((0.83, 0.85, -0.05, 0.01), None, True, "the first version of its name"),
        (AHEAD, _against(0.91, 0.905, -0.01, 0.004), True, "not worse than the champion"),
        (AHEAD, _against(0.95, 0.90, -0.08, -0.02), False, "below the champion test-model v1 (@candidate)'s 0.9500 on"),
        (AHEAD, _against(0.95, 0.90, -0.08, 0.01), True, "not worse than the champion test-model v1 (@candidate)"),
        ((0.80, 0.85, -0.09, -0.02), _against(0.70, 0.80, 0.05, 0.15), False, "below its linear baseline"),
        (
            AHEAD,
            _against(0.70, 0.90, 0.1, 0.3, comparable=False),
            False,
            "not compared with test-model v1 (@candidate)",
        ),
    ],
)
def test_the_promotion_rule_fails_only_a_model_its_interval_shows_worse(validation, champion, promoted, why):
    champions = [champion] if champion else []
    decision = decide_promotion(validation=_validation(*validation), tolerance=0.01, champions=champions)

    assert decision.promoted is promoted
    assert why in decision.reason


@pytest.mark.parametrize(
    ("validation", "champion", "doubt"),
    [
        (AHEAD, None, ""),
        (
            (0.845, 0.85, -0.03, 0.02),
            None,
            "worse than its linear baseline by more than promotion_tolerance 0.01 (95 %",
        ),
        (AHEAD, _against(0.91, 0.905, -0.005, 0.004), ""),
        (AHEAD, _against(0.95, 0.90, -0.08, 0.01), "worse than the champion test-model v1 (@candidate) by more than"),
    ],
)
def test_a_promotion_validation_cannot_vouch_for_says_what_it_could_not_rule_out(validation, champion, doubt):
    # GIVEN an interval that straddles −tolerance (or one wholly above it)
    champions = [champion] if champion else []
    decision = decide_promotion(validation=_validation(*validation), tolerance=0.01, champions=champions)

    # THEN the model is promoted, and the decision says what validation could not rule out
    assert decision.promoted is True
    assert (doubt in decision.doubt) if doubt else decision.doubt == ""


@pytest.mark.parametrize(
    ("interval", "promoted", "said"),
    [
        (
            (0.03, 0.07),
            False,
            "does not beat its linear baseline's 0.8500 by the margin 0.2 (promotion_tolerance -0.2)",
        ),
        ((0.03, 0.25), True, "short of beating its linear baseline by the margin 0.2"),
    ],
)
def test_a_negative_tolerance_is_a_margin_to_beat_and_said_so(interval, promoted, said):
    # GIVEN a model ahead of its baseline, and a promotion tolerance of -0.2: it must beat it by 0.2
    decision = decide_promotion(validation=_validation(0.90, 0.85, *interval), tolerance=-0.2, champions=[])

    # THEN the decision names the margin, never "below" a model it is ahead of
    assert decision.promoted is promoted
    assert said in (decision.reason + decision.doubt)
    assert "below its linear baseline" not in decision.reason


def test_a_model_worse_beyond_noise_that_only_a_wide_tolerance_lets_pass_is_said_so():
    # GIVEN a champion far better than the new model, and a promotion tolerance of 0.5
    champion = _against(0.80, 0.50, -0.38, -0.24)

    decision = decide_promotion(validation=_validation(*AHEAD), tolerance=0.5, champions=[champion])

    # THEN it is promoted, as the tolerance asks, and the decision says that only the tolerance let it pass
    assert decision.promoted is True
    assert decision.doubt == (
        "it is worse than the champion test-model v1 (@candidate) (the whole 95 % interval of the difference -0.3800 … "
        "-0.2400 is below 0), let pass by promotion_tolerance 0.5"
    )


def test_a_model_worse_yet_within_the_tolerance_keeps_the_doubt_validation_leaves():
    # GIVEN an interval wholly below 0 that reaches below -tolerance too
    decision = decide_promotion(
        validation=_validation(*AHEAD), tolerance=0.01, champions=[_against(0.9, 0.885, -0.03, -0.005)]
    )

    # THEN both are said: it is worse, and it may be worse by more than the tolerance
    assert decision.promoted is True
    assert "let pass by promotion_tolerance 0.01; validation cannot rule out that it is worse than the champion" in (
        decision.doubt
    )


def test_a_tolerance_of_zero_is_stated_as_zero():
    decision = decide_promotion(validation=_validation(0.80, 0.85, -0.09, -0.02), tolerance=0.0, champions=[])

    assert decision.reason.endswith("lies wholly below +0")


def test_a_model_must_not_be_worse_than_the_candidate_it_replaces_nor_production():
    # GIVEN a weak version in production and a stronger one holding candidate
    weak = replace(_against(0.80, 0.90, 0.06, 0.14), champion="test-model v1 (@production)")
    strong = replace(_against(0.95, 0.90, -0.08, -0.02), champion="test-model v3 (@candidate)")

    # WHEN a new model better than production but worse than the candidate is decided
    decision = decide_promotion(validation=_validation(*AHEAD), tolerance=0.01, champions=[weak, strong])

    # THEN it does not take the candidate alias from the stronger version
    assert decision.promoted is False
    assert "below the champion test-model v3 (@candidate)'s 0.9500" in decision.reason
    assert [champion["champion"] for champion in decision.champions] == [weak.champion, strong.champion]


def test_a_model_not_worse_than_either_champion_names_both():
    first = replace(_against(0.88, 0.90, 0.01, 0.03), champion="test-model v1 (@production)")
    second = replace(_against(0.89, 0.90, 0.0, 0.02), champion="test-model v3 (@candidate)")

    decision = decide_promotion(validation=_validation(*AHEAD), tolerance=0.01, champions=[first, second])

    assert decision.promoted is True
    assert "not worse than the champion test-model v1 (@production) (0.9000 vs 0.8800" in decision.reason
    assert " nor test-model v3 (@candidate) (0.9000 vs 0.8900" in decision.reason


def test_an_unpromoted_experiment_of_another_kind_neither_judges_nor_blocks_a_model_the_champion_judged():
    # GIVEN the candidate, and a later unpromoted version that takes other inputs (another config under the name)
    candidate = replace(_against(0.89, 0.90, 0.0, 0.02), champion="test-model v1 (@candidate)")
    experiment = ChampionComparison(
        "test-model v2 (newest, no alias)", comparable=False, reason="it takes other inputs", set_aside=True
    )

    decision = decide_promotion(validation=_validation(*AHEAD), tolerance=0.01, champions=[candidate, experiment])
    alone = decide_promotion(validation=_validation(*AHEAD), tolerance=0.01, champions=[experiment])

    # THEN the retrained model is judged by the candidate, the experiment named; with nothing else, a person decides
    assert decision.promoted is True
    assert "not worse than the champion test-model v1 (@candidate) (0.9000 vs 0.8900" in decision.reason
    assert "set aside, as another experiment under this name: test-model v2 (newest, no alias): it takes other" in (
        decision.reason
    )
    assert alone.promoted is False
    assert alone.reason.endswith(BY_HAND)


@pytest.mark.parametrize(
    ("record", "kept"),
    [
        ({"products": "title"}, [True, False]),
        (None, [True, False]),
        ({"products": "title", "titles": "folded"}, [True, True]),
    ],
)
def test_a_champion_that_named_products_by_unfolded_titles_meets_only_titles_the_fold_leaves(record, kept):
    # GIVEN validation rows of products a champion never trained on, one with a title the fold changes (the champion,
    # recorded before the fold, named its product by the title lower-cased alone: perhaps one it trained on)
    titles = pd.DataFrame({"title": ["acme kettle 2l", "ＡＣＭＥ Café kettle"]})
    fitted = SimpleNamespace(validation=titles, validation_products=np.array(["p1", "p2"]))

    # WHEN the rows to compare on are chosen
    rows = never_trained_on(fitted, np.array(["p0"]), record, text="title")

    # THEN that row is left out when the champion's record predates the fold
    assert rows.tolist() == kept


def _fitted(class_counts: dict[str, int], rows: int) -> SimpleNamespace:
    return SimpleNamespace(class_counts=pd.Series(class_counts), sizes={"rows": rows})


@pytest.mark.parametrize(
    ("ours", "rows", "labels", "thinned"),
    [
        # an export cut short: "b" kept 2 % of its rows, and validation has none
        ({"a": 2_100, "b": 42}, 3_000, ["a"] * 300, "'b': about 59 against 3,000"),
        # the catalogue grew tenfold in "a" alone: "b" kept its rows, its share fell
        ({"a": 21_000, "b": 2_100}, 33_000, ["a"] * 3_000 + ["b"] * 300, ""),
        # "b" lost its rows but validation still holds many of them: the comparison judges it
        ({"a": 2_100, "b": 42}, 3_000, ["a"] * 300 + ["b"] * 150, ""),
    ],
)
def test_a_class_the_catalogue_all_but_lost_is_named_only_when_validation_cannot_judge_it(ours, rows, labels, thinned):
    # GIVEN a champion that learnt "a" and "b" half and half from a catalogue of 6,000 rows
    champion = {"class_shares": {"a": 0.5, "b": 0.5}, "training_data": {"rows": 6_000}}

    said = classes_thinned(champion, _fitted(ours, rows), np.array(labels))

    assert (thinned in said and "the catalogue changed under them" in said) if thinned else said == ""


@pytest.mark.parametrize(("rows", "said"), [(2_999, "holds 2,999 rows against the champion's 6,000 (under 1/2)"),
                                           (3_000, ""), (60_000, "")])  # fmt: skip
def test_a_catalogue_under_half_the_champions_cannot_judge_it(rows, said):
    # GIVEN a champion trained on 6,000 rows; a sample of its catalogue would hold a few hundred validation rows
    champion = {"class_shares": {"a": 0.5, "b": 0.5}, "training_data": {"rows": 6_000}}

    reason = shrunk(champion, _fitted({"a": rows // 2, "b": rows - rows // 2}, rows))

    assert (said in reason and "set the alias yourself" in reason) if said else reason == ""


def _config(tmp_path, name, rows=2_500, text_buckets=4096, **model):
    config = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    config |= {"synthetic_rows": rows, "experiment": "test", "registered_model": "test-model"}
    config["features"] = {"text_buckets": text_buckets, "stacking_folds": 3, "char_ngrams": [2, 3]}
    config["model"] = {"n_estimators": 40} | model
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.slow
def test_later_versions_no_alias_holds_are_champions_while_they_wait_or_are_the_newest(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlruns.db'}")
    client = MlflowClient()
    client.create_registered_model("shop")
    for _ in range(5):
        client.create_model_version("shop", source=str(tmp_path / "gone"))
    # GIVEN v1 at production, v2 at candidate, v3 left for a person to decide, then v4 and v5 found worse
    client.set_registered_model_alias("shop", "production", "1")
    client.set_registered_model_alias("shop", "candidate", "2")
    client.set_model_version_tag("shop", "3", "promotion", f"not compared with shop v2 (@candidate): …; {BY_HAND}")
    for version in ("4", "5"):
        client.set_model_version_tag("shop", version, "promotion", "macro-F1 0.8000 is below …")

    # THEN a new run meets v3 still, however many runs came after it, and the newest: without them, a run that v3
    # or v5 is better than could take the alias over it
    assert [(c.version, c.alias) for c in current_champions("shop")] == [
        ("1", "production"), ("2", "candidate"), ("3", None), ("5", None)
    ]  # fmt: skip
    # AND a reason names each for what it is
    assert [c.describe("shop") for c in current_champions("shop")][2:] == [
        "shop v3 (waiting for a person, no alias)", "shop v5 (newest, no alias)"
    ]  # fmt: skip
    # AND once a later version holds the alias, that version and production alone
    client.set_registered_model_alias("shop", "candidate", "5")
    assert [(c.version, c.alias) for c in current_champions("shop")] == [("1", "production"), ("5", "candidate")]


def test_only_a_model_that_is_not_worse_moves_the_candidate_alias(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)

    def train(config, out, *extra):
        result = CliRunner().invoke(app, ["--config", str(config), "--out", str(tmp_path / out), *extra])
        assert result.exit_code == 0, result.output
        return json.loads((tmp_path / out / "metrics.json").read_text())["promotion"]

    def candidate():
        mlflow.set_tracking_uri(uri)
        return str(MlflowClient().get_model_version_by_alias("test-model", "candidate").version)

    # GIVEN a first model: there is no champion yet
    first = train(_config(tmp_path, "good"), "one")
    assert first["promoted"] is True, first["reason"]
    assert candidate() == "1"

    # WHEN the same model is trained again THEN it meets v1 on validation rows v1 never trained on (the split is a
    # hash of each product, so those are all of them), and is promoted
    second = train(_config(tmp_path, "good"), "two")
    assert second["promoted"] is True, second["reason"]
    (champion,) = second["champions"]
    assert champion["champion"] == "test-model v1 (@candidate)"
    assert champion["rows"] > 200
    assert champion["champion_macro_f1"] == pytest.approx(champion["macro_f1"], abs=0.02)
    assert candidate() == "2"

    # GIVEN v1 in production and v2 the candidate: a new version must be compared with both
    MlflowClient().set_registered_model_alias("test-model", "production", "1")

    # WHEN a far worse model ships (its titles hashed into 16 buckets, one stump; the ship gate's
    # model.baseline_tolerance widened, as a user may) THEN its interval shows it worse: registered, not promoted
    weak = _config(tmp_path, "weak", text_buckets=16, n_estimators=1, num_leaves=2, baseline_tolerance=1.0)
    third = train(weak, "three")
    assert third["promoted"] is False, third
    assert "worse beyond noise" in third["reason"]
    champions = [champion["champion"] for champion in third["champions"]]
    assert champions == ["test-model v1 (@production)", "test-model v2 (@candidate)"]
    assert candidate() == "2"
    version = MlflowClient().get_model_version("test-model", "3")
    assert version.tags["promotion"] == third["reason"]

    # WHEN a model of other classes is trained under the same name THEN it is not compared, and not promoted
    other = train(_config(tmp_path, "good"), "four", "--categories", "40", "--rows", "4000")
    assert other["promoted"] is False
    assert "not compared with test-model v1 (@production): it answers other classes" in other["reason"]
    assert other["reason"].endswith("then set its alias by hand in MLflow (the model's Aliases, or "
                                    "MlflowClient().set_registered_model_alias)")  # fmt: skip
    assert candidate() == "2"

    # WHEN a model names its products otherwise (no product column: each title its own) THEN the champion's record
    # of what it trained on cannot say which of these rows it saw: not compared, and not promoted
    by_rows = _config(tmp_path, "rows")
    by_rows.write_text(by_rows.read_text().replace("group: product_id", "group: null"))
    fifth = train(by_rows, "five")
    assert fifth["promoted"] is False
    assert (
        "not compared with test-model v1 (@production): it names its products by column 'product_id', this run by "
        "titles (no data.group)"
    ) in fifth["reason"]
    assert candidate() == "2"


def _promotion(tmp_path, config, out, *extra):
    """`make train` with the config into tmp_path/out; the promotion decision it recorded."""
    result = CliRunner().invoke(app, ["--config", str(config), "--out", str(tmp_path / out), *extra])
    assert result.exit_code == 0, result.output
    return json.loads((tmp_path / out / "metrics.json").read_text())["promotion"]


@pytest.fixture
def catalogue(tmp_path, monkeypatch):
    """A catalogue of 8,000 rows in tmp_path/full.csv, with an MLflow store of the test's own there."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlruns.db'}")
    monkeypatch.chdir(tmp_path)
    catalogue = generate_catalogue(8_000, seed=4)
    catalogue.to_csv(tmp_path / "full.csv", index=False)
    return catalogue


@pytest.mark.slow
def test_a_model_on_a_tenth_of_the_data_never_takes_over_from_a_better_unpromoted_one(tmp_path, catalogue):
    tenth_products = catalogue["product_id"].drop_duplicates().sample(frac=0.1, random_state=0)
    catalogue[catalogue["product_id"].isin(tenth_products)].to_csv(tmp_path / "tenth.csv", index=False)

    def train(config, data, out):
        return _promotion(tmp_path, config, out, "--data", str(data))

    # GIVEN a version left unpromoted (a promotion tolerance below zero: it had to beat its baseline by 0.2)
    full = _config(tmp_path, "full")
    full.write_text(yaml.safe_dump(yaml.safe_load(full.read_text()) | {"promotion_tolerance": -0.2}))
    assert train(full, tmp_path / "full.csv", "full")["promoted"] is False

    # WHEN a model trained on a tenth of the same catalogue follows (no alias is held by anyone)
    tenth = train(_config(tmp_path, "tenth"), tmp_path / "tenth.csv", "tenth")

    # THEN the unpromoted version is its champion, and the model on a tenth of the data does not take the alias
    assert [champion["champion"] for champion in tenth["champions"]] == ["test-model v1 (newest, no alias)"]
    assert tenth["promoted"] is False, tenth["reason"]


@pytest.mark.slow
def test_a_model_of_a_catalogue_that_all_but_lost_a_class_is_not_judged_on_rows_without_it(tmp_path, catalogue):
    # an export cut short: one class keeps 2 of its products
    lost = catalogue["category"].value_counts().index[0]
    kept = catalogue.loc[catalogue["category"] == lost, "product_id"].drop_duplicates().head(2)
    thinned = catalogue[(catalogue["category"] != lost) | catalogue["product_id"].isin(kept)]
    thinned.to_csv(tmp_path / "thinned.csv", index=False)

    def train(data, out):
        return _promotion(tmp_path, _config(tmp_path, out), out, "--data", str(data))

    # GIVEN a champion trained on the whole catalogue
    assert train(tmp_path / "full.csv", "full")["promoted"] is True

    # WHEN a model of the thinned catalogue follows: its validation rows hold none of that class's
    challenger = train(tmp_path / "thinned.csv", "thinned")

    # THEN those rows cannot judge it on that class, and it is not promoted
    assert challenger["promoted"] is False, challenger["reason"]
    assert f"(e.g. {lost!r}: " in challenger["reason"]
    assert "the catalogue changed under them" in challenger["reason"]


@pytest.mark.slow
def test_a_catalogue_whose_product_ids_were_rewritten_does_not_judge_the_champion_on_what_it_trained_on(
    tmp_path, catalogue
):
    # GIVEN a champion trained on the catalogue
    assert _promotion(tmp_path, _config(tmp_path, "full"), "full", "--data", str(tmp_path / "full.csv"))["promoted"]

    # WHEN the same listings come back with their product ids zero-padded (as another export writes them)
    padded = catalogue.assign(product_id=catalogue["product_id"].astype(str).str.zfill(8))
    padded.to_csv(tmp_path / "padded.csv", index=False)
    challenger = _promotion(tmp_path, _config(tmp_path, "padded"), "padded", "--data", str(tmp_path / "padded.csv"))

    # THEN its rows, the champion's training rows among them, are not taken for rows it never saw: a person decides
    assert challenger["promoted"] is False, challenger["reason"]
    assert "names 0 of the" in challenger["reason"]
    assert "the products' ids were written otherwise" in challenger["reason"]
    (champion,) = challenger["champions"]
    assert champion["comparable"] is False


def test_a_champions_corrections_do_not_make_its_own_catalogue_look_like_another():
    # GIVEN a champion that trained on 10 of the catalogue's products and 30 reviewed listings, each a product of its
    # own where a column names products
    catalogue = product_ids(pd.Series([f"p{i}" for i in range(10)]))
    listings = [f"l{i}" for i in range(30)]
    seen = np.concatenate([catalogue, product_ids(pd.Series([CORRECTED_PRODUCT + listing for listing in listings]))])
    champion = {"training_data": {"split": {"group": "product_id"}, CORRECTED_LISTINGS: listings}}

    # THEN the same catalogue names all its products; without the corrections' record, under half of them
    assert products_named(catalogue_products(seen, champion), catalogue) == (10, False)
    assert products_named(seen, catalogue) == (10, True)


def test_where_titles_name_products_a_champions_corrections_do_not_make_its_catalogue_look_like_another():
    # GIVEN a champion whose products are its titles, trained on 10 of the catalogue's and 30 reviewed listings' titles
    catalogue = product_ids(pd.Series([f"title {i}" for i in range(10)]))
    corrected = product_ids(pd.Series([f"captured title {i}" for i in range(30)]))
    listings = [f"l{i}" for i in range(30)]
    seen = np.concatenate([catalogue, corrected])
    record = {CORRECTED_LISTINGS: listings, CORRECTED_PRODUCTS: [str(product) for product in corrected]}
    champion = {"training_data": {"split": {"group": None}} | record}

    # THEN the same catalogue names all its products; a champion trained before the record, under half of them
    assert products_named(catalogue_products(seen, champion), catalogue) == (10, False)
    older = {"training_data": {"split": {"group": None}, CORRECTED_LISTINGS: listings}}
    assert products_named(catalogue_products(seen, older), catalogue) == (10, True)


@pytest.mark.slow
def test_the_synthetic_catalogue_of_another_seed_is_registered_under_a_name_of_its_own(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlruns.db'}")
    monkeypatch.chdir(tmp_path)
    config = yaml.safe_load(_config(tmp_path, "base", rows=1_500).read_text())
    del config["registered_model"]
    (tmp_path / "named.yaml").write_text(yaml.safe_dump(config))
    generate_catalogue(1_500, seed=7).to_csv(tmp_path / "shop.csv", index=False)

    def registered(out, *extra):
        arguments = ["--config", str(tmp_path / "named.yaml"), "--out", str(tmp_path / out), "--seed", "7", *extra]
        result = CliRunner().invoke(app, arguments)
        assert result.exit_code == 0, result.output
        return json.loads((tmp_path / out / "metrics.json").read_text())["registered_model"]

    # the seed generates the synthetic catalogue, so its product ids name other products; a file's stay its own, and
    # the synthetic catalogue's size (synthetic_rows: 1500 in this config) says nothing of it
    assert registered("synthetic") == "synthetic-1500-rows-seed-7"
    assert registered("file", "--data", str(tmp_path / "shop.csv")) == "synthetic"
    # and the default config, which describes the synthetic catalogue, registers a file's model under the file's name:
    # a team's `make train DATA=shop.csv` and the demo `make train` never compete for one alias
    assert registered("default", "--data", str(tmp_path / "shop.csv"), "--config", str(DEFAULT_CONFIG_PATH)) == "shop"


def test_a_run_interrupted_between_registering_and_deciding_names_the_version_it_left(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlruns.db'}")

    def interrupted(**_):
        raise KeyboardInterrupt

    monkeypatch.setattr("training.cli.train.decide_promotion", interrupted)

    result = CliRunner().invoke(
        app, ["--config", str(_config(tmp_path, "base", rows=600)), "--out", str(tmp_path / "o")]
    )

    assert result.exit_code != 0
    assert "interrupted: test-model v1 was registered, but whether it is promoted was never decided" in result.output


@pytest.mark.slow
def test_another_config_under_the_name_does_not_stop_the_first_ones_retrains(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlruns.db'}")
    full = _config(tmp_path, "full")
    title_only = yaml.safe_load(full.read_text())
    title_only["data"] |= {"columns": {"title": "title"}, "hashed": [], "numeric": [], "brand_price_cross": None}
    (tmp_path / "title.yaml").write_text(yaml.safe_dump(title_only))

    def promotion(config, out: str) -> dict:
        result = CliRunner().invoke(app, ["--config", str(config), "--out", str(tmp_path / out)])
        assert result.exit_code == 0, result.output
        return json.loads((tmp_path / out / "metrics.json").read_text())["promotion"]

    # GIVEN v1 at candidate, then v2 of a title-only config under the same name: not compared, so not promoted
    assert promotion(full, "v1")["promoted"] is True
    assert "it takes other inputs" in promotion(tmp_path / "title.yaml", "v2")["reason"]

    # WHEN the first config is trained again
    again = promotion(full, "v3")

    # THEN the candidate judges it, and the experiment is named, not in its way
    assert again["promoted"] is True, again["reason"]
    assert (
        "set aside, as another experiment under this name: test-model v2 (waiting for a person, no alias): it "
        "takes other inputs" in again["reason"]
    )
