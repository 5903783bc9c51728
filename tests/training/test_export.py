"""ONNX export: the graph reproduces the Python pipeline, and the gate catches a graph that does not."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import numpy_helper
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.compose import ColumnTransformer

from handler.model import OUTPUTS as handler_outputs
from training.columns import GRAPH_OUTPUTS, LABEL
from training.data.synthetic import generate_catalogue
from training.exceptions import ExportParityError
from training.model import parity as parity_module
from training.model.export import TARGET_OPSET
from training.model.features import Float32Numeric, TitleScores
from training.model.metadata import read_metadata
from training.model.onnx_ops import register_converters, text_ops_model
from training.model.parity import (
    ADVERSARIAL_TITLES,
    adversarial_frame,
    check_parity,
    enforce_parity,
    onnx_feeds,
    run_onnx,
    sweep_text_ops,
)
from training.model.top_classes import TopClasses
from training.text import dropped_ranges


def test_graph_takes_raw_columns_and_returns_label_probabilities_and_path(small_config, small_model_bytes):
    session = ort.InferenceSession(small_model_bytes)

    inputs = {i.name: (i.type, i.shape) for i in session.get_inputs()}
    outputs = [o.name for o in session.get_outputs()]

    assert inputs == {
        "title": ("tensor(string)", [None, 1]),
        "seller_id": ("tensor(string)", [None, 1]),
        "brand": ("tensor(string)", [None, 1]),
        "price": ("tensor(float)", [None, 1]),
    }
    assert outputs == ["label", "probabilities", "path_nodes", "path_confidence"]


def test_metadata_is_embedded(small_model_bytes, small_pipeline):
    metadata = read_metadata(onnx.load_from_string(small_model_bytes))

    assert metadata["classes"] == list(small_pipeline.classes_)
    assert metadata["inputs"][0] == {
        "name": "title",
        "type": "string",
        "required": True,
        "default": None,
        "max_length": 2000,
        "dropped": dropped_ranges(),
    }
    assert [0x200B, 0x200F] in metadata["inputs"][0]["dropped"]  # zero-width space and joiners, direction marks
    assert metadata["inputs"][3] == {"name": "price", "type": "float", "required": False, "default": None}


def test_parity_on_test_split_and_adversarial_rows(small_config, small_splits, small_pipeline, small_model_bytes):
    adversarial = adversarial_frame(small_splits.test, small_config.data)

    report = check_parity(
        small_pipeline, small_model_bytes, (small_splits.test, adversarial), small_config.data, tolerance=1e-5
    )

    assert report.adversarial_rows == len(adversarial) >= len(ADVERSARIAL_TITLES)
    assert report.label_agreement == 1.0
    assert report.max_abs_diff <= 1e-5
    enforce_parity(report)


@pytest.mark.parametrize(("gap", "agreement"), [(1e-9, 1.0), (0.1, 0.0)])
def test_a_near_tie_the_graph_breaks_the_other_way_is_agreement_and_a_real_difference_is_not(
    small_config, small_splits, small_pipeline, small_model_bytes, monkeypatch, gap, agreement
):
    # GIVEN a pipeline that prefers, by `gap`, the class the graph ranks second (as float64 breaks a tie float32 sees)
    predict_top = parity_module.predict_top

    def runner_up_first(pipeline, frame):
        top = predict_top(pipeline, frame)
        indices, probabilities = top.indices.copy(), top.probabilities.copy()
        indices[:, [0, 1]] = indices[:, [1, 0]]
        probabilities[:, 0] = probabilities[:, 1] + gap
        return TopClasses(indices, probabilities)

    monkeypatch.setattr(parity_module, "predict_top", runner_up_first)
    test = small_splits.test.head(50)

    report = check_parity(small_pipeline, small_model_bytes, (test, test.head(0)), small_config.data, tolerance=1e-5)

    # THEN a tie within the tolerance is the same answer, and a lead beyond it a disagreement
    assert report.label_agreement == agreement


def test_adversarial_rows_include_every_hostile_value(small_config, small_splits):
    frame = adversarial_frame(small_splits.test, small_config.data)

    assert set(ADVERSARIAL_TITLES) <= set(frame["title"])
    assert "never-seen-before" in set(frame["seller_id"])
    assert frame["price"].isna().any()
    assert frame["price"].dtype == np.float32


def test_one_row_and_an_all_empty_batch_run(small_config, small_model_bytes):
    session = ort.InferenceSession(small_model_bytes)
    empty = {"title": [""], "seller_id": [""], "brand": [""], "price": [np.nan]}
    feeds = {k: np.array(v, dtype=np.float32 if k == "price" else object).reshape(-1, 1) for k, v in empty.items()}

    labels, probabilities, path_nodes, path_confidence = session.run(None, feeds)

    assert labels.shape == (1,)
    assert probabilities.shape == (1, 10)
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    # a flat model's path: the leaf and its probability
    assert path_nodes.shape == path_confidence.shape == (1, 1)
    assert path_confidence[0, 0] == probabilities.max()


def test_a_rows_answer_does_not_depend_on_its_batch(small_config, small_splits, small_model_bytes):
    rows = pd.concat([small_splits.test, adversarial_frame(small_splits.test, small_config.data)], ignore_index=True)

    batch_labels, batch_probabilities = run_onnx(small_model_bytes, rows, small_config.data)
    alone = [run_onnx(small_model_bytes, rows.iloc[[i]], small_config.data) for i in range(len(rows))]

    assert batch_labels.tolist() == [labels[0] for labels, _ in alone]
    assert np.abs(batch_probabilities - np.vstack([p for _, p in alone])).max() <= 1e-6


def test_numeric_features_are_the_same_bits_in_a_batch_and_alone():
    # onnxruntime's vectorised and scalar float kernels may round differently; the numeric block must not
    # depend on either (a Log here differed by one ulp on ~2 % of prices between the two).
    register_converters()
    block = ColumnTransformer([("price_value", Float32Numeric(), ["price"])], sparse_threshold=0.0)
    prices = np.random.default_rng(0).lognormal(5, 1.2, size=5_000).astype(np.float32)
    block.fit(pd.DataFrame({"price": prices}))
    graph = to_onnx(block, initial_types=[("price", FloatTensorType([None, 1]))], target_opset=TARGET_OPSET)
    session = ort.InferenceSession(graph.SerializeToString())

    (batch,) = session.run(None, {"price": prices.reshape(-1, 1)})
    alone = np.vstack([session.run(None, {"price": prices[i : i + 1].reshape(-1, 1)})[0] for i in range(len(prices))])

    assert np.array_equal(batch.view(np.int32), alone.view(np.int32))
    assert np.array_equal(batch.ravel(), block.transform(pd.DataFrame({"price": prices})).ravel())


def test_title_scores_are_the_same_bits_in_the_graph():
    # The graph sums each row's (count · idf)² run by run in ascending bucket order, as scikit-learn's normalize
    # sums a CSR row: titles with repeated words and characters, blank ones, one long one, all to the last bit.
    register_converters()
    catalogue = generate_catalogue(2_000, seed=3)
    odd = ["tv tv tv 55 55 55 tv", "", "   ", "a", "aaaa aaaa aaaa", "x" * 3_000]
    frame = pd.DataFrame({"title": [*catalogue["title"], *odd]})
    labels = [*catalogue["category"], *catalogue["category"][: len(odd)]]
    block = ColumnTransformer([("title_scores", TitleScores(n_features=2**12), ["title"])], sparse_threshold=0.0)
    block.fit(frame, labels)
    graph = to_onnx(block, initial_types=[("title", StringTensorType([None, 1]))], target_opset=TARGET_OPSET)

    (scores,) = ort.InferenceSession(graph.SerializeToString()).run(
        None, {"title": frame[["title"]].to_numpy(dtype=object)}
    )

    assert np.array_equal(scores.view(np.int32), np.asarray(block.transform(frame), dtype=np.float32).view(np.int32))


def test_gate_fails_on_a_deliberately_broken_graph(small_config, small_splits, small_pipeline, small_model_bytes):
    # GIVEN a graph whose title-model weights were perturbed slightly, as a faulty converter might
    model = onnx.load_from_string(small_model_bytes)
    weights = max(
        model.graph.initializer, key=lambda t: np.prod(t.dims) if t.data_type == onnx.TensorProto.DOUBLE else 0
    )
    broken = numpy_helper.to_array(weights) * 1.01
    weights.CopyFrom(numpy_helper.from_array(broken, weights.name))

    # WHEN the gate compares it with the Python pipeline
    report = check_parity(
        small_pipeline,
        model.SerializeToString(),
        (small_splits.test, adversarial_frame(small_splits.test, small_config.data)),
        small_config.data,
        tolerance=1e-5,
    )

    # THEN it fails, and says by how much
    assert not report.passed
    with pytest.raises(ExportParityError, match=r"ONNX parity gate failed: .* max \|Δp\|"):
        enforce_parity(report)


def test_onnx_scores_match_on_the_test_split(small_config, small_splits, small_pipeline, small_model_bytes):
    session = ort.InferenceSession(small_model_bytes)

    labels, *_ = session.run(None, onnx_feeds(small_splits.test, small_config.data))

    assert (labels == small_pipeline.predict(small_splits.test)).all()
    assert (labels == small_splits.test[LABEL].to_numpy()).mean() > 0.6


def test_every_code_point_is_lowered_and_tokenised_alike_on_both_sides():
    checked, mismatched = sweep_text_ops()

    assert checked == 0x110000 - 0x800  # every code point but the surrogates
    assert mismatched == []


def test_sweep_catches_a_graph_whose_unicode_table_differs():
    # GIVEN the text graph with RE2's named classes, whose tables are newer than Python 3.12's
    model = text_ops_model()
    tokenizer = next(node for node in model.graph.node if any(a.name == "tokenexp" for a in node.attribute))
    pattern = next(a for a in tokenizer.attribute if a.name == "tokenexp")
    pattern.s = rb"[\p{L}\p{N}_]{2,}"

    # WHEN every code point runs through it
    _, mismatched = sweep_text_ops(ort.InferenceSession(model.SerializeToString()))

    # THEN the CJK Extension I block (Unicode 15.1) is reported
    assert "U+2EC00..U+2EDFF" in mismatched


def test_onnx_tooling_reads_the_exported_graph(small_model_bytes, tmp_path):
    # GIVEN the exported model on disk (onnx's shape inference once crashed the process on it: in a subprocess)
    path = tmp_path / "model.onnx"
    path.write_bytes(small_model_bytes)
    check = (
        "import onnx, sys; model = onnx.load(sys.argv[1]); onnx.shape_inference.infer_shapes(model, strict_mode=True);"
        " onnx.checker.check_model(model, full_check=True)"
    )

    # WHEN onnx infers its shapes and checks it in full
    result = subprocess.run([sys.executable, "-c", check, str(path)], capture_output=True, text=True, timeout=120)

    # THEN both pass
    assert result.returncode == 0, result.stderr


def test_sweep_catches_a_graph_that_folds_a_code_point_otherwise():
    # GIVEN the text graph with fullwidth "ａ" folded to "b" instead of "a"
    model = text_ops_model()
    fold = next(node for node in model.graph.node if node.op_type == "If")
    branch = next(attribute.g for attribute in fold.attribute if attribute.name == "then_branch")
    lookup = next(node for node in branch.node if node.op_type == "LabelEncoder")
    keys, values = (next(a for a in lookup.attribute if a.name == name) for name in ("keys_strings", "values_strings"))
    values.strings[list(keys.strings).index("ａ".encode())] = b"b"

    # WHEN every code point runs through it
    _, mismatched = sweep_text_ops(ort.InferenceSession(model.SerializeToString()))

    # THEN the block holding U+FF41 is reported
    assert any(int(low[2:], 16) <= 0xFF41 <= int(high[2:], 16) for low, high in (m.split("..") for m in mismatched))


def _fullwidth(text: str) -> str:
    """ASCII letters, digits and punctuation as their fullwidth forms, spaces as ideographic spaces."""
    return "".join("\u3000" if c == " " else chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def test_titles_that_look_alike_get_the_same_answer(small_config, small_splits, small_model_bytes):
    # GIVEN test rows with an accented word, and the same titles spelled in ways that look alike
    rows = small_splits.test.head(16).assign(title=lambda frame: frame["title"] + " Café")
    spellings = [
        rows["title"].map(_fullwidth),
        rows["title"].str.replace("é", "e\u0301"),  # the accent as a combining mark
        rows["title"].str.replace(r"(\w)(\w)", "\\1\u00ad\\2", n=1, regex=True),  # a soft hyphen in a word
        "\ufeff" + rows["title"].str.replace(" ", " \u200b"),  # a byte-order mark, zero-width spaces
    ]

    # WHEN the graph answers each
    _, expected = run_onnx(small_model_bytes, rows, small_config.data)

    # THEN every spelling gets exactly the plain titles' probabilities
    for titles in spellings:
        _, probabilities = run_onnx(small_model_bytes, rows.assign(title=titles), small_config.data)
        assert np.array_equal(probabilities, expected), titles.iloc[0]


ANY_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),  # every plane, assigned or not, private use; no surrogates
        st.sampled_from(["İ", "ı", "ß", "ẞ", "ς", "Σ", "ﬁ", "\u0301", "\u202e", "\u200b", "\x00", "\U0002ebf0"]),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(titles=st.lists(ANY_TEXT, min_size=1, max_size=8))
def test_onnx_and_python_agree_on_any_unicode_title(
    titles, small_config, small_splits, small_pipeline, small_model_bytes
):
    rows = small_splits.test.head(len(titles)).copy()
    rows["title"] = titles

    labels, probabilities = run_onnx(small_model_bytes, rows, small_config.data)

    expected = small_pipeline.predict_proba(rows[list(small_config.data.columns)])
    assert (labels == small_pipeline.classes_[expected.argmax(axis=1)]).all()
    assert np.abs(probabilities - expected).max() <= 1e-5


def test_the_graph_outputs_are_the_ones_the_function_reads():
    # The two sides name them apart (the handler never imports training): the contract is that they agree.
    assert handler_outputs == GRAPH_OUTPUTS
