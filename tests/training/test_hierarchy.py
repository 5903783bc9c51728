"""Category paths: the tree built from path labels, the graph's path outputs against numpy's, the parity gate
on a small taxonomy model, the golden back-off cases and the compact metadata."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper
from typer.testing import CliRunner

from training.cli import train as train_cli
from training.columns import PATH_CONFIDENCE_OUTPUT, PATH_NODES_OUTPUT
from training.config import DEFAULT_CONFIG_PATH, load_config
from training.data.clean import prepare_catalogue
from training.data.split import split_catalogue
from training.data.taxonomy import PATH_SEPARATOR, generate_taxonomy_catalogue
from training.engines.local import fit_model
from training.exceptions import DataValidationError, ExportError
from training.model.export import to_onnx_model
from training.model.hierarchy import build_hierarchy, hierarchy_from_metadata, path_outputs
from training.model.metadata import input_schema, read_metadata
from training.model.parity import adversarial_frame, check_parity, golden_examples
from training.model.path_graph import add_path_outputs
from training.model.top_classes import TopClasses

if TYPE_CHECKING:
    from training.config import TrainConfig

# "A > B" is a class and the parent of "A > B > C"; "D" is a one-level path.
MIXED = ["A > B", "A > B > C", "A > E", "D"]


@pytest.mark.parametrize(
    ("classes", "separator", "names", "parents", "leaf_nodes"),
    [
        (["TVs", "CPUs"], None, ["CPUs", "TVs"], [-1, -1], [1, 0]),
        (["A > B", "A > C", "D > E"], " > ", ["A", "D", "B", "C", "E"], [-1, -1, 0, 0, 1], [2, 3, 4]),
        (MIXED, " > ", ["A", "D", "B", "E", "C"], [-1, -1, 0, 0, 2], [2, 4, 3, 1]),
        (["A > B"], None, ["A > B"], [-1], [0]),  # no separator: every label flat
        (["A/B", "C"], "/", ["A", "C", "B"], [-1, -1, 0], [2, 1]),
    ],
)
def test_tree_has_a_node_per_prefix(classes, separator, names, parents, leaf_nodes):
    hierarchy = build_hierarchy(classes, separator=separator)

    assert (hierarchy.names, hierarchy.parents, hierarchy.leaf_nodes) == (names, parents, leaf_nodes)
    assert [hierarchy.full_name(node) for node in hierarchy.leaf_nodes] == classes


def test_an_empty_path_segment_is_named():
    with pytest.raises(DataValidationError, match=r"category 'A >  > B' has an empty level"):
        build_hierarchy(["A >  > B", "C"], separator=" > ")


def test_a_node_that_is_also_a_class_sums_itself_and_its_descendants():
    # GIVEN "A > B" (0.3) with its child "A > B > C" (0.4) predicted, "A > E" 0.2 and "D" 0.1
    hierarchy = build_hierarchy(MIXED, separator=" > ")
    probabilities = np.array([[0.3, 0.4, 0.2, 0.1], [0.1, 0.1, 0.1, 0.7]])

    # WHEN the path is computed
    nodes, confidence = path_outputs(TopClasses.from_dense(probabilities), hierarchy)

    # THEN A = 0.9, A > B = 0.7, A > B > C = 0.4; "D" is one level deep with zero padding
    assert [[hierarchy.full_name(n) if n >= 0 else None for n in row] for row in nodes] == [
        ["A", "A > B", "A > B > C"],
        ["D", None, None],
    ]
    np.testing.assert_allclose(confidence, [[0.9, 0.7, 0.4], [0.7, 0.0, 0.0]])


@pytest.mark.parametrize("classes", [MIXED, ["x", "y", "z"], [f"d{i % 3} > c{i % 5} > l{i}" for i in range(40)]])
def test_graph_path_outputs_equal_numpy(classes):
    # GIVEN a graph whose only step is the probabilities, with the path step appended
    graph = helper.make_graph(
        [helper.make_node("Identity", ["raw"], ["probabilities"])],
        "probabilities_only",
        [helper.make_tensor_value_info("raw", TensorProto.FLOAT, [None, len(classes)])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, len(classes)])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    metadata: dict = {}
    add_path_outputs(model, metadata, classes=classes, separator=" > ", probabilities="probabilities")
    onnx.checker.check_model(model, full_check=True)
    probabilities = np.random.default_rng(0).dirichlet(np.full(len(classes), 0.3), size=200).astype(np.float32)

    # WHEN onnxruntime and numpy compute the path
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    nodes, confidence = session.run([PATH_NODES_OUTPUT, PATH_CONFIDENCE_OUTPUT], {"raw": probabilities})
    expected_nodes, expected_confidence = path_outputs(
        TopClasses.from_dense(probabilities), hierarchy_from_metadata(metadata["taxonomy"])
    )

    # THEN they agree, and confidence never increases down the path
    np.testing.assert_array_equal(nodes, expected_nodes)
    np.testing.assert_allclose(confidence, expected_confidence, atol=1e-6)
    assert nodes.dtype == np.int64
    assert confidence.dtype == np.float32
    assert (np.diff(confidence, axis=1) <= 1e-6).all()


def test_path_outputs_cannot_be_added_twice():
    graph = helper.make_graph(
        [helper.make_node("Identity", ["raw"], ["probabilities"])],
        "g",
        [helper.make_tensor_value_info("raw", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2])],
    )
    model = helper.make_model(graph)
    add_path_outputs(model, {}, classes=["a", "b"], separator=None, probabilities="probabilities")

    with pytest.raises(ExportError, match="cannot add path outputs"):
        add_path_outputs(model, {}, classes=["a", "b"], separator=None, probabilities="probabilities")


@pytest.fixture(scope="module")
def taxonomy_config() -> TrainConfig:
    """The default config shrunk, reading path labels."""
    config = load_config(DEFAULT_CONFIG_PATH)
    features = replace(config.features, text_buckets=2**12, stacking_folds=3)
    return replace(
        config,
        data=replace(config.data, path_separator=PATH_SEPARATOR),
        features=features,
        model=replace(config.model, n_estimators=40),
    )


@pytest.fixture(scope="module")
def taxonomy_fit(taxonomy_config):
    """A pipeline on 3,000 rows of a 30-leaf taxonomy, its splits and its exported graph."""
    splits = split_catalogue(
        prepare_catalogue(generate_taxonomy_catalogue(3_000, 30, seed=5), taxonomy_config.data), taxonomy_config.split
    )
    pipeline = fit_model(taxonomy_config, splits)
    metadata = {"classes": list(pipeline.classes_), "inputs": input_schema(taxonomy_config.data)}
    return pipeline, splits, to_onnx_model(pipeline, taxonomy_config.data, metadata).SerializeToString()


def test_parity_gate_holds_the_path_on_a_taxonomy_model(taxonomy_config, taxonomy_fit):
    pipeline, splits, model_bytes = taxonomy_fit

    report = check_parity(
        pipeline,
        model_bytes,
        (splits.test, adversarial_frame(splits.test, taxonomy_config.data)),
        taxonomy_config.data,
        tolerance=1e-5,
    )

    assert report.path_agreement == 1.0
    assert report.path_max_abs_diff <= 1e-5
    assert report.passed


def test_taxonomy_metadata_is_compact(taxonomy_fit):
    pipeline, _, model_bytes = taxonomy_fit

    taxonomy = read_metadata(onnx.load_from_string(model_bytes))["taxonomy"]

    # 3 departments, 9 categories, 30 leaves; each name once, not once per class that shares it
    assert len(taxonomy["names"]) == len(taxonomy["parents"]) == 42
    assert taxonomy["separator"] == PATH_SEPARATOR
    assert len(json.dumps(taxonomy)) < len(json.dumps(list(pipeline.classes_)))
    hierarchy = hierarchy_from_metadata(taxonomy)
    assert [hierarchy.full_name(node) for node in hierarchy.leaf_nodes] == list(pipeline.classes_)


def test_golden_examples_carry_paths_and_back_off_cases(taxonomy_config, taxonomy_fit):
    _, splits, model_bytes = taxonomy_fit

    examples = golden_examples(model_bytes, splits.test, taxonomy_config.data)

    assert all(example["path"][-1]["node"] == example["label"] for example in examples)
    back_offs = [example for example in examples if "min_confidence" in example]
    assert back_offs
    for example in back_offs:
        path, threshold = example["path"], example["min_confidence"]
        # the leaf is below the threshold, its parent above it: the answer is the parent, one level up
        assert path[-1]["confidence"] < threshold <= path[-2]["confidence"]
        assert example["back_off"] == {"label": path[-2]["node"], "level": len(path) - 1}


def test_make_train_with_categories_reads_path_labels(monkeypatch):
    seen = {}
    monkeypatch.setattr(train_cli, "configure_logging", lambda: None)
    monkeypatch.setattr(train_cli, "run_training", lambda config, **_: seen.setdefault("config", config) and {})

    result = CliRunner().invoke(train_cli.app, ["--rows", "100", "--categories", "30"])

    assert result.exit_code == 0, result.output
    assert seen["config"].data.path_separator == PATH_SEPARATOR
