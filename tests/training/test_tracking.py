"""Where MLflow runs and their artifacts go."""

from __future__ import annotations

import mlflow

from training.config import PROJECT_ROOT
from training.reporting.tracking import configure_tracking


def test_a_sqlite_store_elsewhere_keeps_its_artifacts_beside_it(tmp_path, monkeypatch):
    # A test's (or a user's) store outside the project must not write into the project's mlartifacts/.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'store' / 'mlruns.db'}")
    (tmp_path / "store").mkdir()

    experiment_id = configure_tracking(PROJECT_ROOT, "somewhere-else")

    location = mlflow.get_experiment(experiment_id).artifact_location
    assert location == (tmp_path / "store" / "mlartifacts").as_uri()
