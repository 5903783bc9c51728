"""Where MLflow runs and their artifacts go."""

from __future__ import annotations

import mlflow
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from training.config import PROJECT_ROOT
from training.reporting.tracking import (
    configure_tracking,
    current_champions,
    log_onnx_model,
    read_registered_onnx,
)


def test_a_sqlite_store_elsewhere_keeps_its_artifacts_beside_it(tmp_path, monkeypatch):
    # A test's (or a user's) store outside the project must not write into the project's mlartifacts/.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'store' / 'mlruns.db'}")
    (tmp_path / "store").mkdir()

    experiment_id = configure_tracking(PROJECT_ROOT, "somewhere-else")

    location = mlflow.get_experiment(experiment_id).artifact_location
    assert location == (tmp_path / "store" / "mlartifacts").as_uri()


def _lookup_model() -> tuple[onnx.ModelProto, np.ndarray, np.ndarray]:
    """A graph that looks a row up in a 3-level ancestor table of 24 KB (MLflow writes initializers of 1 KB or more to
    a .data file beside model.onnx), the table, and an example row number."""
    table = np.arange(3 * 1000, dtype=np.int64).reshape(3, 1000)
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "row"], ["picked"], axis=0)],
        "lookup",
        [helper.make_tensor_value_info("row", TensorProto.INT64, [1])],
        [helper.make_tensor_value_info("picked", TensorProto.INT64, [1, 1000])],
        initializer=[numpy_helper.from_array(table, "table")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model, table, np.array([2], dtype=np.int64)


def test_a_registered_model_is_read_back_whole_with_its_large_initializers(tmp_path, monkeypatch):
    # MLflow writes initializers of 1 KB or more beside model.onnx: the champion must still load and run.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlruns.db'}")
    experiment_id = configure_tracking(PROJECT_ROOT, "external-data")
    model, table, example = _lookup_model()
    with mlflow.start_run(experiment_id=experiment_id):  # not the default experiment: it keeps artifacts in ./mlruns
        version = log_onnx_model(
            model,
            input_example={"row": example},
            output_example={"picked": table[example]},
            registered_model="external-data-model",
            model_version="test",
        )

    session = ort.InferenceSession(read_registered_onnx(f"models:/external-data-model/{version}"))

    np.testing.assert_array_equal(session.run(None, {"row": example})[0], table[[2]])


@pytest.mark.parametrize("gone", ["*.onnx", "*.data"])
def test_a_champion_whose_files_are_gone_is_named_unreadable_not_a_traceback(tmp_path, monkeypatch, gone):
    # GIVEN a registered version whose graph, or the file beside it holding its large initializers, was removed (a
    # cleaned-up artifact store)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlruns.db'}")
    experiment_id = configure_tracking(PROJECT_ROOT, "gone")
    model, table, example = _lookup_model()
    with mlflow.start_run(experiment_id=experiment_id):
        log_onnx_model(model, input_example={"row": example}, output_example={"picked": table[example]},
                       registered_model="gone-model", model_version="test")  # fmt: skip
    removed = list((tmp_path / "mlartifacts").rglob(gone))
    assert removed
    for path in removed:
        path.unlink()

    # WHEN the champions are looked up
    (champion,) = current_champions("gone-model")

    # THEN it is there, marked unreadable, for the run to say it could not be compared
    assert champion.version == "1"
    assert champion.model_bytes == b""
    assert champion.unreadable.startswith("its files are missing from the artifact store or damaged")
