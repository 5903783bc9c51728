"""Champion/challenger: a new model moves the `candidate` alias only if it is not worse than the champion on the
same held-out rows, nor than its same-run linear baseline."""

from __future__ import annotations

import json

import mlflow
import pytest
import yaml
from mlflow import MlflowClient
from typer.testing import CliRunner

from training.cli.train import app
from training.config import DEFAULT_CONFIG_PATH
from training.reporting.tracking import decide_promotion

CHAMPION = "test-model v1 (@candidate)"


@pytest.mark.parametrize(
    ("macro_f1", "baseline", "champion", "promoted", "why"),
    [
        (0.90, 0.85, None, True, "no comparable champion"),
        (0.84, 0.85, None, True, "no comparable champion"),  # within the tolerance of its baseline
        (0.80, 0.85, None, False, "below its linear baseline's 0.8500"),
        (0.90, 0.85, (CHAMPION, 0.91, 0.905, 500), True, "not worse than the champion"),
        (0.90, 0.85, (CHAMPION, 0.95, 0.90, 500), False, "below the champion test-model v1 (@candidate)'s 0.9500"),
        (0.80, 0.85, (CHAMPION, 0.70, 0.80, 500), False, "below its linear baseline"),
    ],
)
def test_the_promotion_rule(macro_f1, baseline, champion, promoted, why):
    decision = decide_promotion(macro_f1=macro_f1, baseline_macro_f1=baseline, tolerance=0.01, champion=champion)

    assert decision.promoted is promoted
    assert why in decision.reason


def _config(tmp_path, name, **model):
    config = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    config |= {"synthetic_rows": 2_500, "experiment": "test", "registered_model": "test-model"}
    config["features"] = {"text_buckets": 4096, "stacking_folds": 3, "char_ngrams": [2, 3]}
    config["model"] = {"n_estimators": 40} | model
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.slow
def test_only_a_model_that_is_not_worse_moves_the_candidate_alias(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)

    def train(config, out):
        result = CliRunner().invoke(app, ["--config", str(config), "--out", str(tmp_path / out)])
        assert result.exit_code == 0, result.output
        return json.loads((tmp_path / out / "metrics.json").read_text())["promotion"]

    def candidate():
        mlflow.set_tracking_uri(uri)
        return str(MlflowClient().get_model_version_by_alias("test-model", "candidate").version)

    # GIVEN a first model: there is no champion yet
    first = train(_config(tmp_path, "good"), "one")
    assert first["promoted"] is True
    assert candidate() == "1"

    # WHEN the same model is trained again THEN it is compared with v1 on its own held-out rows, and promoted
    second = train(_config(tmp_path, "good"), "two")
    assert second["promoted"] is True
    assert second["champion"] == "test-model v1 (@candidate)"
    assert second["champion_macro_f1"] == pytest.approx(second["macro_f1_on_champion_rows"], abs=0.02)
    assert candidate() == "2"

    # WHEN a model worse than its own linear baseline ships (the ship gate's model.baseline_tolerance widened, as a
    # user may) THEN it is registered but not promoted
    weak = _config(tmp_path, "weak", n_estimators=1, learning_rate=0.01, num_leaves=2, baseline_tolerance=1.0)
    third = train(weak, "three")
    assert third["promoted"] is False
    assert "below its linear baseline" in third["reason"]
    assert candidate() == "2"
    version = MlflowClient().get_model_version("test-model", "3")
    assert version.tags["promotion"] == third["reason"]
