"""ONNX converters for the transformers in `features.py`, registered with skl2onnx.

Each converter emits the same arithmetic as the Python `transform`, so the parity gate can demand identical
outputs. Text is lower-cased by StringNormalizer, folded by a LabelEncoder (`fold_compatibility`) and split by
onnxruntime's `com.microsoft` Tokenizer;
strings are hashed by its MurmurHash3, the function scikit-learn's FeatureHasher uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

import numpy as np
from onnx import AttributeProto, TensorProto, helper
from onnx.numpy_helper import from_array
from onnxmltools.convert import convert_lightgbm
from onnxmltools.convert.common import data_types as onnxmltools_types
from skl2onnx import _parse as skl2onnx_parse
from skl2onnx import update_registered_converter
from skl2onnx.common.data_types import FloatTensorType, StringTensorType

from training.model.features import (
    FirstTokenHashed,
    Float32Numeric,
    HashedCategory,
    PriceBandCross,
    TitleCandidates,
    TitleScores,
)
from training.model.margin import MarginBoostedClassifier
from training.model.pins import require_pinned
from training.model.reranker import CandidateReranker
from training.model.title_tree import CLEARED_SHARE
from training.text import NO_TOKEN, ONNX_LOCALE, compatibility_folds, onnx_token_pattern, whitespace_characters

if TYPE_CHECKING:
    import onnx
    from skl2onnx.common._container import ModelComponentContainer
    from skl2onnx.common._topology import Operator, Scope

    from training.model.calibration import Calibration

# `register_converters` extends skl2onnx's private `do_not_merge_columns`: refuse any other version at import.
require_pinned("skl2onnx")

# Pads the Tokenizer's ragged output. Longer than one character, it can be neither a character nor a word.
PAD = "<pad>"
INT32_MIN = -(2**31)
MICROSOFT_DOMAIN = "com.microsoft"
ML_DOMAIN = "ai.onnx.ml"
# Strings a round of `_joined` concatenates. A round of its Loop costs more than its concatenations, so fewer, wider
# rounds are faster; wider than four were no faster on a title.
JOIN_FAN_IN = 4
# Each graph under construction's normalised titles and their padded characters (`_Graph._folded`), by input.
_NORMALISED: WeakKeyDictionary[ModelComponentContainer, dict[str, tuple[str, str]]] = WeakKeyDictionary()
# The ops outside the default domain that `_Graph` and `_ProtoGraph` write, with their version.
DOMAINS = {"Tokenizer": (MICROSOFT_DOMAIN, 1), "MurmurHash3": (MICROSOFT_DOMAIN, 1), "LabelEncoder": (ML_DOMAIN, 2)}


def lower_attributes() -> dict[str, Any]:
    """StringNormalizer's attributes: lower-case with the locale the Python side mirrors."""
    return {"case_change_action": "LOWER", "is_case_sensitive": 0, "locale": ONNX_LOCALE}


def word_tokenizer_attributes(pad: str) -> dict[str, Any]:
    """Tokenizer attributes for words: the explicit code-point class of `features.onnx_token_pattern`."""
    return {"mark": 0, "mincharnum": 1, "pad_value": pad, "tokenexp": onnx_token_pattern()}


def character_tokenizer_attributes() -> dict[str, Any]:
    """Tokenizer attributes that split a string into its code points."""
    return {"mark": 0, "mincharnum": 1, "pad_value": PAD, "separators": [""]}


def text_ops_model() -> onnx.ModelProto:
    """A graph of just the text steps the converters use: [N] strings → normalised, word tokens, characters.

    The parity gate runs every code point through it, so a Unicode table that differs between this Python
    and this onnxruntime fails `make train` instead of skewing predictions.
    """
    graph = _ProtoGraph("text_ops")
    lowered = graph.node("StringNormalizer", ["text"], **lower_attributes())
    normalised, split = fold_compatibility(graph, lowered)
    words = graph.node("Tokenizer", [normalised], **word_tokenizer_attributes(PAD))
    characters = fold_whitespace(graph, split)
    graph.nodes_ += [
        helper.make_node("Identity", [normalised], ["normalised"]),
        helper.make_node("Identity", [words], ["words"]),
        helper.make_node("Identity", [characters], ["characters"]),
    ]
    outputs = [
        helper.make_tensor_value_info(name, TensorProto.STRING, None) for name in ("normalised", "words", "characters")
    ]
    text = helper.make_tensor_value_info("text", TensorProto.STRING, [None])
    opsets = [helper.make_opsetid("", 20), helper.make_opsetid(MICROSOFT_DOMAIN, 1), helper.make_opsetid(ML_DOMAIN, 2)]
    model = helper.make_model(graph.graph([text], outputs), opset_imports=opsets)
    declare_tokenizer_outputs(model.graph)
    return model


def declare_tokenizer_outputs(graph: onnx.GraphProto) -> None:
    """Declare each Tokenizer output of the graph a [N, T] string tensor.

    onnx has no schema for onnxruntime's com.microsoft ops, so its shape inference leaves their outputs untyped, and
    on the fold's LabelEncoder, which reads the Tokenizer's characters, an untyped input crashes it (a segmentation
    fault in onnx 1.23, not an error): declared, `onnx.shape_inference` and `onnx.checker`'s full check run on every
    exported model.
    """
    declared = {info.name for info in graph.value_info}
    for node in graph.node:
        if node.op_type == "Tokenizer":
            graph.value_info.extend(
                helper.make_tensor_value_info(name, TensorProto.STRING, [None, None])
                for name in node.output
                if name not in declared
            )
        for attribute in node.attribute:  # an If's branches, a Loop's body
            if attribute.type == AttributeProto.GRAPH:
                declare_tokenizer_outputs(attribute.g)


def fold_compatibility(graph: _Graph | _ProtoGraph, lowered: str) -> tuple[str, str]:
    """[N] lower-cased strings → the same with `compatibility_folds()` applied, as `training.text.normalise_like_onnx`,
    and their code points, [N, L+1] right-padded with PAD.

    Each string is split into its code points, which are looked up in the table and joined back. Almost no title
    holds a code point to fold, so the table is first asked only whether a batch does (one integer lookup per
    character), and an If passes the batch through untouched when it does not, with the split it made: the title
    scores' character n-grams take that split rather than split the title again. A folded batch is split anew.
    """
    folds = compatibility_folds()
    split = graph.node("Tokenizer", [lowered], **character_tokenizer_attributes())
    characters = pad_column(graph, lowered, split, PAD)  # an all-empty batch splits into [N, 0]
    flags = graph.node(
        "LabelEncoder", [characters], keys_strings=list(folds), values_int64s=[1] * len(folds), default_int64=0
    )
    any_folded = graph.node("Cast", [graph.node("ReduceMax", [flags], keepdims=0)], to=TensorProto.BOOL)

    folding = graph.subgraph()
    # The padding becomes "" and a character without a fold the default, PAD, which no other lookup returns.
    looked_up = folding.node(
        "LabelEncoder",
        [characters],
        keys_strings=[*folds, PAD],
        values_strings=[*folds.values(), ""],
        default_string=PAD,
    )
    pieces = folding.node("Where", [folding.node("Equal", [looked_up, folding.string(PAD)]), characters, looked_up])
    joined = folding.node("Reshape", [_joined(folding, pieces), folding.ints([-1])])
    resplit = pad_column(folding, joined, folding.node("Tokenizer", [joined], **character_tokenizer_attributes()), PAD)
    unchanged = graph.subgraph()
    passed, passed_characters = unchanged.node("Identity", [lowered]), unchanged.node("Identity", [characters])
    normalised, normalised_characters = graph.nodes(
        "If",
        [any_folded],
        2,
        then_branch=folding.graph([], [_strings_info(joined, 1), _strings_info(resplit, 2)]),
        else_branch=unchanged.graph([], [_strings_info(passed, 1), _strings_info(passed_characters, 2)]),
    )
    return normalised, normalised_characters


def _joined(graph: _ProtoGraph, pieces: str) -> str:
    """[N, W] strings → [N, 1], each row's strings concatenated in order.

    ONNX has no string reduction, so each round of a Loop concatenates every JOIN_FAN_IN neighbours (StringConcat)
    until one column is left: ⌈log W⌉ rounds to that base, four for a title of 64 characters and its padding.
    """
    width = graph.node("Gather", [graph.node("Shape", [pieces]), graph.ints([1], scalar=True)])
    more_than_one = graph.node("Greater", [width, graph.ints([1], scalar=True)])
    body = graph.subgraph()
    iteration, condition, state = (f"{body.prefix}_{name}" for name in ("iteration", "condition", "state"))
    shape = body.node("Shape", [state])
    rows = body.node("Slice", [shape, body.ints([0]), body.ints([1])])
    blank = body.node("Expand", [body.string(""), body.node("Concat", [rows, body.ints([JOIN_FAN_IN - 1])], axis=0)])
    padded = body.node("Concat", [state, blank], axis=1)  # up to a whole group of "" after the last string
    stretched = body.node(
        "Add", [body.node("Slice", [shape, body.ints([1]), body.ints([2])]), body.ints([JOIN_FAN_IN - 1])]
    )
    groups = body.node("Div", [stretched, body.ints([JOIN_FAN_IN])])
    whole = body.node(
        "Slice", [padded, body.ints([0]), body.node("Mul", [groups, body.ints([JOIN_FAN_IN])]), body.ints([1])]
    )
    grouped = body.node("Reshape", [whole, body.node("Concat", [rows, groups, body.ints([JOIN_FAN_IN])], axis=0)])
    joined, *rest = body.nodes("Split", [grouped], JOIN_FAN_IN, axis=2, num_outputs=JOIN_FAN_IN)
    for part in rest:
        joined = body.node("StringConcat", [joined, part])
    joined = body.node("Reshape", [joined, body.node("Concat", [rows, groups], axis=0)])
    again = body.node("Squeeze", [body.node("Greater", [groups, body.ints([1])])])
    loop_body = body.graph(
        [
            helper.make_tensor_value_info(iteration, TensorProto.INT64, []),
            helper.make_tensor_value_info(condition, TensorProto.BOOL, []),
            _strings_info(state, 2),
        ],
        [helper.make_tensor_value_info(again, TensorProto.BOOL, []), _strings_info(joined, 2)],
    )
    return graph.node("Loop", ["", more_than_one, pieces], body=loop_body)


def _strings_info(name: str, rank: int) -> onnx.ValueInfoProto:
    """A subgraph input's or output's type: a string tensor of the rank, sizes unknown."""
    return helper.make_tensor_value_info(name, TensorProto.STRING, [None] * rank)


def pad_column(graph: _Graph | _ProtoGraph, texts: str, tokens: str, pad: str) -> str:
    """Append one `pad` column to the [N, T] tokens of [N] texts: an all-empty batch yields [N, 0] tokens, which later
    slices cannot take."""
    shape = graph.node("Concat", [graph.node("Shape", [texts]), graph.ints([1])], axis=0)
    padding = graph.node("Expand", [graph.string(pad), shape])
    return graph.node("Concat", [tokens, padding], axis=1)


def fold_whitespace(graph: _Graph | _ProtoGraph, characters: str) -> str:
    """[N, L] characters (right-padded with PAD) → the characters of each whitespace-folded row, right-padded.

    As `training.text.fold_whitespace`: leading and trailing whitespace go, an inner run becomes one " ". A
    whitespace character is kept (as " ") when the character before it is not whitespace and a non-whitespace
    character follows somewhere; kept characters are then moved left in order (a stable sort by position,
    dropped ones after) and the rest becomes PAD. Whitespace is `whitespace_characters()`, compared one by one.
    """
    spaces = graph.node(
        "Equal", [graph.node("Unsqueeze", [characters, graph.ints([2])]), graph.strings(whitespace_characters())]
    )
    is_space = graph.node(
        "Cast",
        [graph.node("ReduceMax", [graph.node("Cast", [spaces], to=TensorProto.INT32), graph.ints([2])], keepdims=0)],
        to=TensorProto.BOOL,
    )
    solid = graph.node("Not", [graph.node("Or", [is_space, graph.node("Equal", [characters, graph.string(PAD)])])])
    solid_count = graph.node("Cast", [solid], to=TensorProto.INT64)
    seen = graph.node("CumSum", [solid_count, graph.ints([1], scalar=True)])
    total = graph.node("ReduceSum", [solid_count, graph.ints([1])], keepdims=1)
    more_follow = graph.node("Greater", [graph.node("Sub", [total, seen]), graph.ints([0])])
    width = graph.node("Gather", [graph.node("Shape", [characters]), graph.ints([1])])
    position = graph.node(
        "Range", [graph.ints([0], scalar=True), graph.node("Squeeze", [width]), graph.ints([1], scalar=True)]
    )
    # solid[j - 1], False in the first column
    before = graph.node(
        "Concat",
        [
            graph.node("Slice", [solid, graph.ints([0]), graph.ints([1]), graph.ints([1])]),
            graph.node("Slice", [solid, graph.ints([0]), graph.ints([-1]), graph.ints([1])]),
        ],
        axis=1,
    )
    after_solid = graph.node("And", [before, graph.node("Greater", [position, graph.ints([0])])])
    keep = graph.node("Or", [solid, graph.node("And", [is_space, graph.node("And", [after_solid, more_follow])])])
    key = graph.node("Where", [keep, position, graph.node("Add", [position, width])])
    _, order = graph.nodes("TopK", [key, width], 2, axis=1, largest=0, sorted=1)
    spaced = graph.node("Where", [is_space, graph.string(" "), characters])
    moved = graph.node("GatherElements", [spaced, order], axis=1)
    kept = graph.node("GatherElements", [keep, order], axis=1)
    return graph.node("Where", [kept, moved, graph.string(PAD)])


def register_converters() -> None:
    """Make skl2onnx aware of this project's transformers; safe to call more than once."""
    update_registered_converter(HashedCategory, "ProductHashedCategory", _hashed_shape, _convert_hashed_category)
    update_registered_converter(FirstTokenHashed, "ProductFirstTokenHashed", _hashed_shape, _convert_first_token)
    update_registered_converter(PriceBandCross, "ProductPriceBandCross", _hashed_shape, _convert_price_band_cross)
    update_registered_converter(Float32Numeric, "ProductFloat32Numeric", _same_shape, _convert_float32_numeric)
    update_registered_converter(TitleScores, "ProductTitleScores", _scores_shape, _convert_title_scores)
    update_registered_converter(TitleCandidates, "ProductTitleCandidates", _candidates_shape, _convert_title_candidates)
    update_registered_converter(
        CandidateReranker,
        "ProductCandidateReranker",
        _classifier_shape,
        _convert_candidate_reranker,
        options={"nocl": [False], "zipmap": [False]},
    )
    update_registered_converter(
        MarginBoostedClassifier,
        "ProductMarginBoostedClassifier",
        _classifier_shape,
        _convert_margin_boosted,
        options={"nocl": [False], "zipmap": [False]},
    )
    # skl2onnx concatenates a transformer's columns into one tensor unless its class is in this tuple; the
    # cross reads a string and a float column, which cannot share a tensor. There is no public switch for it.
    if PriceBandCross not in skl2onnx_parse.do_not_merge_columns:
        skl2onnx_parse.do_not_merge_columns += (PriceBandCross,)


def _hashed_shape(operator: Operator) -> None:
    """Output is [N, n_features] float32."""
    n_rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = FloatTensorType([n_rows, operator.raw_operator.n_features])


def _same_shape(operator: Operator) -> None:
    """Output has the input's shape, as float32."""
    operator.outputs[0].type = FloatTensorType(operator.inputs[0].type.shape)


def _scores_shape(operator: Operator) -> None:
    """Output is [N, number of SVM outputs] float32."""
    n_rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = FloatTensorType([n_rows, operator.raw_operator.svm_.coef_.shape[0]])


def _candidates_shape(operator: Operator) -> None:
    """Output is [N, 2 × candidates] float32."""
    n_rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = FloatTensorType([n_rows, 2 * operator.raw_operator.n_candidates])


def _classifier_shape(operator: Operator) -> None:
    """Outputs are the [N] labels and the [N, classes] probabilities."""
    n_rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = StringTensorType([n_rows])
    operator.outputs[1].type = FloatTensorType([n_rows, len(operator.raw_operator.classes_)])


def _convert_hashed_category(scope: Scope, operator: Operator, container: ModelComponentContainer) -> None:
    """[N,1] strings → one-hot of their hash bucket."""
    _emit_one_hot(scope, container, operator.inputs[0].full_name, operator)


def _convert_first_token(scope: Scope, operator: Operator, container: ModelComponentContainer) -> None:
    """[N,1] titles → first word (or NO_TOKEN) → one-hot of its hash bucket."""
    graph = _Graph(scope, container)
    words = graph.tokens(graph.normalised(operator.inputs[0].full_name), pad=NO_TOKEN)
    first = graph.node("Slice", [words, graph.ints([0]), graph.ints([1]), graph.ints([1])])
    _emit_one_hot(scope, container, first, operator)


def _convert_price_band_cross(scope: Scope, operator: Operator, container: ModelComponentContainer) -> None:
    """[N,1] brand and [N,1] price → "brand|band" → one-hot of its hash bucket."""
    graph = _Graph(scope, container)
    brand, price = (variable.full_name for variable in operator.inputs)
    edges = graph.floats(operator.raw_operator.edges_)
    above = graph.node("Cast", [graph.node("GreaterOrEqual", [price, edges])], to=TensorProto.INT64)
    band = graph.node("Cast", [graph.node("ReduceSum", [above, graph.ints([1])], keepdims=1)], to=TensorProto.STRING)
    key = graph.node("StringConcat", [graph.node("StringConcat", [brand, graph.string("|")]), band])
    _emit_one_hot(scope, container, key, operator)


def _convert_float32_numeric(scope: Scope, operator: Operator, container: ModelComponentContainer) -> None:
    """x → x: the float32 input is the feature."""
    container.add_node("Identity", operator.inputs[0].full_name, operator.outputs[0].full_name)


def _convert_title_scores(scope: Scope, operator: Operator, container: ModelComponentContainer) -> None:
    """[N,1] titles → every class's linear score, float32."""
    scores = _title_scores(_Graph(scope, container), operator.raw_operator, operator.inputs[0].full_name)
    container.add_node("Cast", scores, operator.outputs[0].full_name, to=TensorProto.FLOAT)


def _convert_title_candidates(scope: Scope, operator: Operator, container: ModelComponentContainer) -> None:
    """[N,1] titles → the top candidates' scores then class indices (as float32), like `transform_counts`."""
    graph = _Graph(scope, container)
    model = operator.raw_operator
    scores = graph.node("Cast", [_title_scores(graph, model, operator.inputs[0].full_name)], to=TensorProto.FLOAT)
    values, indices = graph.nodes("TopK", [scores, graph.ints([model.n_candidates])], 2, axis=1, largest=1, sorted=1)
    candidates = [values, graph.node("Cast", [indices], to=TensorProto.FLOAT)]
    container.add_node("Concat", candidates, operator.outputs[0].full_name, axis=1)


def _title_scores(graph: _Graph, model: TitleScores, titles: str) -> str:
    """[N,1] titles → hashed word and character n-grams → TF-IDF → L2 → SVM scores, [N, classes] float64.

    No [N, buckets] matrix is ever built: scores are sums of per-n-gram weights, and the L2 norm comes from
    the per-row bucket counts (`_squared_norms`). Padding n-grams go to an extra bucket whose weights are
    zero. Dense weights (`TitleScores`) are gathered as whole rows; pruned ones (`TitleCandidates`) are each
    bucket's few (class, weight) pairs, added into the scores with ScatterElements.
    """
    n_buckets = model.n_features
    pad_bucket = len(model.idf_)
    normalised = graph.normalised(titles)

    words = graph.tokens(normalised, pad=PAD)
    buckets = [
        graph.gram_buckets(words, n, " ", n_buckets=n_buckets, offset=0, pad_bucket=pad_bucket)
        for n in range(1, model.word_ngram_max + 1)
    ]
    if model.char_ngrams:
        characters = graph.characters(titles)
        low, high = model.char_ngrams
        buckets += [
            graph.gram_buckets(characters, n, "", n_buckets=n_buckets, offset=n_buckets, pad_bucket=pad_bucket)
            for n in range(low, high + 1)
        ]
    bucket = graph.node("Concat", buckets, axis=1)
    norm = graph.node("Sqrt", [_squared_norms(graph, bucket, np.append(model.idf_, 0.0))])
    # scikit-learn's normalize leaves an all-zero row as it is: divide by 1 instead of 0.
    is_zero = graph.node("Equal", [norm, graph.constant(np.float64(0.0))])
    safe_norm = graph.node(
        "Unsqueeze", [graph.node("Where", [is_zero, graph.constant(np.float64(1.0)), norm]), graph.ints([1])]
    )
    if isinstance(model, TitleCandidates):
        n_rows = graph.node("Gather", [graph.node("Shape", [bucket]), graph.ints([0])])
        flat = graph.ints([0, -1])  # [N, grams, kept] → [N, grams × kept]
        edges = np.vstack([model.bucket_edges_, np.zeros((1, model.bucket_edges_.shape[1]), np.int64)])
        weights = np.vstack([model.bucket_weights_, np.zeros((1, model.bucket_weights_.shape[1]), np.float32)])
        gram_edges = graph.node(
            "Reshape", [graph.node("Gather", [graph.constant(edges, TensorProto.INT64), bucket]), flat]
        )
        gram_weights = graph.node(
            "Cast", [graph.node("Gather", [graph.constant(weights, TensorProto.FLOAT), bucket])], to=TensorProto.DOUBLE
        )
        # One column per edge, and a last one that stays 0: the padding of paths shorter than the longest.
        shape = graph.node("Concat", [n_rows, graph.ints([model.linear_.n_edges + 1])], axis=0)
        zeros = graph.node("ConstantOfShape", [shape], value=_double_tensor(0.0))
        edge_raw = graph.node(
            "ScatterElements",
            [zeros, gram_edges, graph.node("Reshape", [gram_weights, flat])],
            axis=1,
            reduction="add",
        )
        # Each edge's margin (the padding edge's stays 0), `hinged` down a tree as `TitleCandidates.score_counts`.
        edge_intercept = graph.constant(np.append(model.edge_intercept_, 0.0))
        margins = graph.node("Add", [graph.node("Div", [edge_raw, safe_norm]), edge_intercept])
        if model.hinge_:
            zero, share = graph.constant(np.float64(0.0)), graph.constant(np.float64(CLEARED_SHARE))
            margins = graph.node("Add", [graph.node("Min", [margins, zero]), graph.node("Mul", [margins, share])])
        # Edges by rows ([edges, N]), as `score_counts`: each class's step gathers a whole row of N scores, several
        # times faster than gathering columns of [N, edges] one float at a time.
        edges_by_row = graph.node("Transpose", [margins], perm=[1, 0])
        steps = [
            graph.node("Gather", [edges_by_row, graph.constant(model.path_edges_[:, step], TensorProto.INT64)], axis=0)
            for step in range(model.path_edges_.shape[1])
        ]
        raw = steps[0]
        for step in steps[1:]:
            raw = graph.node("Add", [raw, step])
        return graph.node("Transpose", [raw], perm=[1, 0])
    n_classes = model.svm_.coef_.shape[0]
    weights = np.vstack([model.idf_[:, None] * model.svm_.coef_.T, np.zeros((1, n_classes))])
    raw = graph.node(
        "ReduceSum", [graph.node("Gather", [graph.constant(weights), bucket]), graph.ints([1])], keepdims=0
    )
    scaled = graph.node("Div", [raw, safe_norm])
    return graph.node("Add", [scaled, graph.constant(model.svm_.intercept_.astype(np.float64))])


def _squared_norms(graph: _Graph, bucket: str, idf: np.ndarray) -> str:
    """Each row's squared L2 norm of its TF-IDF vector, [N] float64, from its n-grams' buckets [N, grams].

    Sorting each row's buckets (TopK over the row) puts equal buckets side by side: a run's length is the bucket's
    count c, and the row's sum of (c · idf)² takes one term per run, in ascending bucket order, the order in which
    scikit-learn's `normalize` sums a CSR row, so both give the same float64 to the last bit. `Unique` over
    row-offset keys found the same runs but was the costliest node of a batch (37 % of a 1,000-row PriceRunner run).
    """
    shape = graph.node("Shape", [bucket])
    n_rows = graph.node("Slice", [shape, graph.ints([0]), graph.ints([1])])
    grams = graph.node("Slice", [shape, graph.ints([1]), graph.ints([2])])
    one_column = graph.node("Concat", [n_rows, graph.ints([1])], axis=0)
    ordered, _ = graph.nodes("TopK", [bucket, grams], 2, axis=1, largest=0, sorted=1)
    no_bucket = graph.node("ConstantOfShape", [one_column], value=from_array(np.array([-1], dtype=np.int64)))
    all_but_last = graph.node("Slice", [ordered, graph.ints([0]), graph.ints([-1]), graph.ints([1])])
    previous = graph.node("Concat", [no_bucket, all_but_last], axis=1)
    starts = graph.node("Not", [graph.node("Equal", [ordered, previous])])
    one = graph.ints([1], scalar=True)
    run = graph.node("Sub", [graph.node("CumSum", [graph.node("Cast", [starts], to=TensorProto.INT64), one]), one])
    zeros = graph.node("ConstantOfShape", [shape], value=_double_tensor(0.0))
    ones = graph.node("ConstantOfShape", [shape], value=_double_tensor(1.0))
    run_lengths = graph.node("ScatterElements", [zeros, run, ones], axis=1, reduction="add")
    counts = graph.node("GatherElements", [run_lengths, run], axis=1)
    weighted = graph.node("Mul", [counts, graph.node("Gather", [graph.constant(idf), ordered])])
    # One term per run (at its first gram), summed along the row in order into a single column.
    terms = graph.node(
        "Mul", [graph.node("Mul", [weighted, weighted]), graph.node("Cast", [starts], to=TensorProto.DOUBLE)]
    )
    column = graph.node("ConstantOfShape", [shape], value=from_array(np.array([0], dtype=np.int64)))
    row_zeros = graph.node("ConstantOfShape", [one_column], value=_double_tensor(0.0))
    sums = graph.node("ScatterElements", [row_zeros, column, terms], axis=1, reduction="add")
    return graph.node("Reshape", [sums, graph.ints([-1])])


def _convert_candidate_reranker(scope: Scope, operator: Operator, container: ModelComponentContainer) -> None:
    """[N, features] → the re-ranker's labels and probabilities, step for step as `CandidateReranker`."""
    model = operator.raw_operator
    layout = model.layout
    graph = _Graph(scope, container)
    features = operator.inputs[0].full_name

    def columns(start: int, stop: int) -> str:
        return graph.node("Slice", [features, graph.ints([start]), graph.ints([stop]), graph.ints([1])])

    statistics = model.statistics_
    n_classes = len(model.classes_)
    start, stop = layout.candidates
    k = (stop - start) // 2
    scores = columns(start, start + k)
    classes = graph.node("Cast", [columns(start + k, stop)], to=TensorProto.INT64)
    shape = graph.node("Shape", [scores])
    per_candidate = [
        scores,
        graph.node("Expand", [graph.floats(np.arange(k)), shape]),
        graph.node("Sub", [graph.node("Slice", [scores, graph.ints([0]), graph.ints([1]), graph.ints([1])]), scores]),
        graph.node("Gather", [graph.floats(statistics.share), classes]),
    ]
    for j, (_, column) in enumerate(layout.numeric):
        value = columns(column, column + 1)
        median = graph.node("Gather", [graph.floats(statistics.median[j]), classes])
        spread = graph.node("Gather", [graph.floats(statistics.spread[j]), classes])
        per_candidate += [
            graph.node("Div", [value, median]),
            graph.node("Div", [graph.node("Sub", [value, median]), spread]),
        ]
    for j, (_, first, last) in enumerate(layout.buckets):
        bucket = graph.node("ArgMax", [columns(first, last)], axis=1, keepdims=1)
        key = graph.node(
            "Mod",
            [
                graph.node("Add", [graph.node("Mul", [bucket, graph.ints([n_classes])]), classes]),
                graph.ints([model.pair_table_size_]),
            ],
        )
        rows_with_class = graph.node("Gather", [graph.floats(statistics.pair_counts[j]), key])
        bucket_rows = graph.node(
            "Add", [graph.node("Gather", [graph.floats(statistics.bucket_counts[j]), bucket]), graph.floats(1.0)]
        )
        per_candidate += [rows_with_class, graph.node("Div", [rows_with_class, bucket_rows])]
    if model.separator:
        parents = graph.node("Gather", [graph.constant(model.parents_, TensorProto.INT64), classes])
        same = graph.node(
            "Equal",
            [graph.node("Unsqueeze", [parents, graph.ints([2])]), graph.node("Unsqueeze", [parents, graph.ints([1])])],
        )
        sharing = graph.node(
            "ReduceSum", [graph.node("Cast", [same], to=TensorProto.FLOAT), graph.ints([2])], keepdims=0
        )
        best_parent = graph.node("Slice", [parents, graph.ints([0]), graph.ints([1]), graph.ints([1])])
        per_candidate += [
            sharing,
            graph.node("Cast", [graph.node("Equal", [parents, best_parent])], to=TensorProto.FLOAT),
        ]
    stacked = graph.node(
        "Concat", [graph.node("Unsqueeze", [column, graph.ints([2])]) for column in per_candidate], axis=2
    )
    flat = graph.node("Reshape", [stacked, graph.ints([-1, len(per_candidate)])])

    raw = graph.node("Reshape", [_raw_tree_scores(graph, model.model_, flat, len(per_candidate)), shape])
    raw = _lead_scaled(graph, raw, getattr(model, "calibration_", None))
    n_rows = graph.node("Gather", [shape, graph.ints([0])])
    none_logit = getattr(model, "none_logit_", None)
    if none_logit is None:
        normalised = graph.node("Softmax", [raw], axis=1)
    else:
        # The calibrated "none of the candidates" logit joins the softmax and its share is dropped.
        column = graph.node("Concat", [n_rows, graph.ints([1])], axis=0)
        none = graph.node("Expand", [graph.floats(np.array([[none_logit]])), column])
        with_none = graph.node("Softmax", [graph.node("Concat", [raw, none], axis=1)], axis=1)
        normalised = graph.node("Slice", [with_none, graph.ints([0]), graph.ints([k]), graph.ints([1])])
    zeros = graph.node(
        "ConstantOfShape",
        [graph.node("Concat", [n_rows, graph.ints([n_classes])], axis=0)],
        value=from_array(np.array([0.0], dtype=np.float32)),
    )
    probabilities = operator.outputs[1].full_name
    container.add_node("ScatterElements", [zeros, classes, normalised], probabilities, axis=1)
    best = graph.node("ArgMax", [probabilities], axis=1, keepdims=0)
    labels = graph.strings(tuple(str(label) for label in model.classes_))
    container.add_node("Gather", [labels, best], operator.outputs[0].full_name)


def _convert_margin_boosted(scope: Scope, operator: Operator, container: ModelComponentContainer) -> None:
    """[N, features] → labels and probabilities: softmax(scale · title scores + trees), as
    `MarginBoostedClassifier` (without the trees when it dropped them)."""
    model = operator.raw_operator
    graph = _Graph(scope, container)
    features = operator.inputs[0].full_name
    start, stop = model.scores
    margin = graph.node("Slice", [features, graph.ints([start]), graph.ints([stop]), graph.ints([1])])
    if stop - start == 1:  # a two-class title model's one score is the second class's margin; the first's is 0
        zeros = graph.node("Mul", [margin, graph.floats(0.0)])
        margin = graph.node("Concat", [zeros, margin], axis=1)
    scale = graph.floats(model.scale_)
    raw = graph.node("Mul", [margin, scale])
    if model.uses_trees_:
        raw = graph.node("Add", [raw, _raw_tree_scores(graph, model.model_, features, model.model_.n_features_in_)])
    raw = _lead_scaled(graph, raw, getattr(model, "calibration_", None))
    probabilities = operator.outputs[1].full_name
    container.add_node("Softmax", [raw], probabilities, axis=1)
    best = graph.node("ArgMax", [probabilities], axis=1, keepdims=0)
    labels = graph.strings(tuple(str(label) for label in model.classes_))
    container.add_node("Gather", [labels, best], operator.outputs[0].full_name)


def _lead_scaled(graph: _Graph, raw: str, calibration: Calibration | None) -> str:
    """[N, k] logits → each row's times exp(s(its lead)), as `training.model.lead_temperature`: the lead from TopK,
    s(lead) = s(0) + Σ slope · (lead clipped to the segment − the segment's start), linear between the knots and
    constant past the last. Without lead scales the logits pass unchanged."""
    if calibration is None or not calibration.lead_knots:
        return raw
    knots, values = np.asarray(calibration.lead_knots), np.asarray(calibration.lead_log_scales)

    top_two, _ = graph.nodes("TopK", [raw, graph.ints([2])], 2, axis=1, largest=1, sorted=1)
    lead = graph.node(
        "Sub",
        [
            graph.node("Slice", [top_two, graph.ints([0]), graph.ints([1]), graph.ints([1])]),
            graph.node("Slice", [top_two, graph.ints([1]), graph.ints([2]), graph.ints([1])]),
        ],
    )
    starts, ends = graph.floats(knots[None, :-1]), graph.floats(knots[None, 1:])
    along = graph.node("Sub", [graph.node("Min", [graph.node("Max", [lead, starts]), ends]), starts])
    slopes = graph.floats((np.diff(values) / np.diff(knots))[:, None])
    log_scale = graph.node("Add", [graph.node("MatMul", [along, slopes]), graph.floats(values[:1])])
    return graph.node("Mul", [raw, graph.node("Exp", [log_scale])])


def _raw_tree_scores(graph: _Graph, booster: Any, features: str, n_features: int) -> str:
    """[rows, features] → a LightGBM model's raw scores [rows, classes] ([rows, 1] when binary), as a
    TreeEnsembleRegressor.

    onnxmltools converts the model to a classifier whose post-transform applies the softmax or a LOGISTIC that
    saturates (onnxruntime clamps its input to about ±18), which would flatten the ratios between unlikely
    candidates; the trees themselves are taken from its conversion and summed raw here, as LightGBM sums them.
    """
    converted = convert_lightgbm(
        booster, initial_types=[("features", onnxmltools_types.FloatTensorType([None, n_features]))], zipmap=False
    )
    (ensemble,) = [node for node in converted.graph.node if node.op_type == "TreeEnsembleClassifier"]
    attributes = {attribute.name: helper.get_attribute_value(attribute) for attribute in ensemble.attribute}
    renamed = {"class_ids": "target_ids", "class_nodeids": "target_nodeids", "class_treeids": "target_treeids"}
    regressor = {name: value for name, value in attributes.items() if name.startswith("nodes_")}
    regressor |= {renamed[name]: attributes[name] for name in renamed}
    output = graph.scope.get_unique_variable_name("raw_scores")
    graph.container.add_node(
        "TreeEnsembleRegressor",
        [features],
        [output],
        name=graph.scope.get_unique_operator_name("TreeEnsembleRegressor"),
        op_domain="ai.onnx.ml",
        op_version=1,
        target_weights=attributes["class_weights"],
        n_targets=int(max(attributes["class_ids"])) + 1,
        aggregate_function="SUM",
        post_transform="NONE",
        **regressor,
    )
    return output


def _emit_one_hot(scope: Scope, container: ModelComponentContainer, strings: str, operator: Operator) -> None:
    """[N,1] strings → one-hot [N, n] float32 of their hash bucket, into the operator's output."""
    graph = _Graph(scope, container)
    n_features = operator.raw_operator.n_features
    bucket = graph.node("Reshape", [graph.hash_buckets(strings, n_features), graph.ints([-1])])
    values = graph.constant(np.array([0.0, 1.0], dtype=np.float32), TensorProto.FLOAT)
    container.add_node("OneHot", [bucket, graph.ints([n_features]), values], operator.outputs[0].full_name)


def _double_tensor(value: float) -> TensorProto:
    """A one-element float64 tensor for ConstantOfShape."""
    return from_array(np.array([value], dtype=np.float64))


class _Graph:
    """Small helpers that add uniquely named nodes and constants to the graph under construction."""

    def __init__(self, scope: Scope, container: ModelComponentContainer) -> None:
        self.scope = scope
        self.container = container

    def node(self, op_type: str, inputs: list[str], **attributes: object) -> str:
        """Add a node with one output and return the output's name."""
        return self.nodes(op_type, inputs, 1, **attributes)[0]

    def nodes(self, op_type: str, inputs: list[str], n_outputs: int, **attributes: object) -> list[str]:
        """Add a node with several outputs and return their names."""
        outputs = [self.scope.get_unique_variable_name(op_type.lower()) for _ in range(n_outputs)]
        domain, version = DOMAINS.get(op_type, ("", None))
        self.container.add_node(
            op_type,
            inputs,
            outputs,
            name=self.scope.get_unique_operator_name(op_type),
            op_domain=domain,
            op_version=version,
            **attributes,
        )
        return outputs

    def subgraph(self) -> _ProtoGraph:
        """An empty graph for a branch or loop body, its names unique in this graph."""
        return _ProtoGraph(self.scope.get_unique_variable_name("subgraph"))

    def constant(self, value: np.ndarray | np.floating, dtype: int = TensorProto.DOUBLE) -> str:
        """An initializer holding `value`."""
        array = np.asarray(value)
        name = self.scope.get_unique_variable_name("constant")
        self.container.add_initializer(name, dtype, list(array.shape), array.ravel().tolist())
        return name

    def floats(self, values: np.ndarray | float) -> str:
        """A float32 initializer holding `values` (the precision of the features and the tree scores)."""
        return self.constant(np.asarray(values, dtype=np.float32), TensorProto.FLOAT)

    def ints(self, values: list[int], *, scalar: bool = False) -> str:
        """An int64 initializer (a scalar when asked)."""
        name = self.scope.get_unique_variable_name("ints")
        self.container.add_initializer(name, TensorProto.INT64, [] if scalar else [len(values)], values)
        return name

    def string(self, value: str) -> str:
        """A string scalar initializer."""
        name = self.scope.get_unique_variable_name("string")
        self.container.add_initializer(name, TensorProto.STRING, [], [value.encode("utf-8")])
        return name

    def strings(self, values: tuple[str, ...]) -> str:
        """A 1-D string initializer."""
        name = self.scope.get_unique_variable_name("strings")
        self.container.add_initializer(name, TensorProto.STRING, [len(values)], [v.encode("utf-8") for v in values])
        return name

    def normalised(self, titles: str) -> str:
        """[N,1] → [N] lower-cased and compatibility-folded strings (`training.text.normalise_like_onnx`).

        Once per input and graph: the first word (the brand) and the title scores read the same titles, and each
        fold costs a request its lookups.
        """
        return self._folded(titles)[0]

    def _folded(self, titles: str) -> tuple[str, str]:
        """The titles' normalised strings and their padded characters (`fold_compatibility`), made once."""
        made = _NORMALISED.setdefault(self.container, {})
        if titles not in made:
            flat = self.node("Reshape", [titles, self.ints([-1])])
            made[titles] = fold_compatibility(self, self.node("StringNormalizer", [flat], **lower_attributes()))
        return made[titles]

    def tokens(self, normalised: str, *, pad: str) -> str:
        """[N] → [N, T+1] regex matches, right-padded with `pad`; the extra column keeps T+1 ≥ 1."""
        tokens = self.node("Tokenizer", [normalised], **word_tokenizer_attributes(pad))
        return pad_column(self, normalised, tokens, pad)

    def characters(self, titles: str) -> str:
        """[N,1] titles → [N, L+1] single characters of the normalised, whitespace-folded text, right-padded with PAD
        (the split the fold made: `fold_compatibility`)."""
        return fold_whitespace(self, self._folded(titles)[1])

    def gram_buckets(self, pieces: str, n: int, separator: str, *, n_buckets: int, offset: int, pad_bucket: int) -> str:
        """[N, T] padded pieces → [N, T-n+1] hash buckets of their n-grams; grams that reach a pad → pad_bucket."""
        parts = [self._shifted(pieces, k, n) for k in range(n)]
        gram = parts[0]
        for part in parts[1:]:
            joined = self.node("StringConcat", [gram, self.string(separator)]) if separator else gram
            gram = self.node("StringConcat", [joined, part])
        bucket = self.node("Add", [self.hash_buckets(gram, n_buckets), self.ints([offset])])
        # Pads only trail, so a gram is whole exactly when its last piece is not a pad.
        reaches_pad = self.node("Equal", [parts[-1], self.string(PAD)])
        return self.node("Where", [reaches_pad, self.ints([pad_bucket]), bucket])

    def hash_buckets(self, strings: str, n_features: int) -> str:
        """FeatureHasher's bucket: signed MurmurHash3 (seed 0), |h| mod n, with its special case for INT32_MIN."""
        hashed = self.node("Cast", [self.node("MurmurHash3", [strings], positive=0, seed=0)], to=TensorProto.INT64)
        is_min = self.node("Equal", [hashed, self.ints([INT32_MIN])])
        magnitude = self.node("Where", [is_min, self.ints([2**31 - 1 - (n_features - 1)]), self.node("Abs", [hashed])])
        return self.node("Mod", [magnitude, self.ints([n_features])])

    def _shifted(self, pieces: str, k: int, n: int) -> str:
        """Columns k .. T-n+k of pieces: the k-th piece of every n-gram."""
        end = -(n - 1 - k) if n - 1 - k else 2**62
        return self.node("Slice", [pieces, self.ints([k]), self.ints([end]), self.ints([1])])


class _ProtoGraph:
    """`_Graph`'s node and constant helpers for a graph built by hand (`text_ops_model`, a branch, a loop body)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.nodes_: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._subgraphs = 0

    def node(self, op_type: str, inputs: list[str], **attributes: object) -> str:
        """Add a node with one output and return the output's name."""
        return self.nodes(op_type, inputs, 1, **attributes)[0]

    def nodes(self, op_type: str, inputs: list[str], n_outputs: int, **attributes: Any) -> list[str]:
        """Add a node with several outputs and return their names."""
        outputs = [f"{self.prefix}_{len(self.nodes_)}_{index}" for index in range(n_outputs)]
        domain, _ = DOMAINS.get(op_type, ("", None))
        self.nodes_.append(helper.make_node(op_type, inputs, outputs, domain=domain or None, **attributes))
        return outputs

    def subgraph(self) -> _ProtoGraph:
        """An empty graph for a branch or loop body, its names unique in this graph."""
        self._subgraphs += 1
        return _ProtoGraph(f"{self.prefix}_subgraph{self._subgraphs}")

    def graph(self, inputs: list[onnx.ValueInfoProto], outputs: list[onnx.ValueInfoProto]) -> onnx.GraphProto:
        """The nodes and constants added so far, as a graph with these inputs and outputs."""
        return helper.make_graph(self.nodes_, self.prefix, inputs, outputs, initializer=self.initializers)

    def ints(self, values: list[int], *, scalar: bool = False) -> str:
        """An int64 initializer (a scalar when asked)."""
        return self._constant(TensorProto.INT64, [] if scalar else [len(values)], values)

    def string(self, value: str) -> str:
        """A string scalar initializer."""
        return self._constant(TensorProto.STRING, [], [value.encode("utf-8")])

    def strings(self, values: tuple[str, ...]) -> str:
        """A 1-D string initializer."""
        return self._constant(TensorProto.STRING, [len(values)], [value.encode("utf-8") for value in values])

    def _constant(self, dtype: int, shape: list[int], values: list[Any]) -> str:
        """Add an initializer and return its name."""
        name = f"{self.prefix}_constant_{len(self.initializers)}"
        self.initializers.append(helper.make_tensor(name, dtype, shape, values))
        return name
