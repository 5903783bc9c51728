"""ONNX converters for the transformers in `features.py`, registered with skl2onnx.

Each converter emits the same arithmetic as the Python `transform`, so the parity gate can demand identical
outputs. Hashing uses onnxruntime's `com.microsoft` MurmurHash3, the function scikit-learn's `murmurhash3_32`
implements.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from onnx import TensorProto
from skl2onnx import _parse as skl2onnx_parse
from skl2onnx import update_registered_converter
from skl2onnx.common.data_types import FloatTensorType

from training.features import (
    NO_TOKEN,
    ONNX_LOCALE,
    ONNX_TOKEN_PATTERN,
    FirstTokenHashed,
    HashedCategory,
    LogNumeric,
    PriceBandCross,
)

if TYPE_CHECKING:
    from skl2onnx.common._container import ModelComponentContainer
    from skl2onnx.common._topology import Operator, Scope


def register_converters() -> None:
    """Make skl2onnx aware of this project's transformers; safe to call more than once."""
    update_registered_converter(HashedCategory, "ProductHashedCategory", _hashed_shape, _convert_hashed_category)
    update_registered_converter(FirstTokenHashed, "ProductFirstTokenHashed", _hashed_shape, _convert_first_token)
    update_registered_converter(PriceBandCross, "ProductPriceBandCross", _hashed_shape, _convert_price_band_cross)
    update_registered_converter(LogNumeric, "ProductLogNumeric", _log_shape, _convert_log_numeric)
    # skl2onnx concatenates a transformer's columns into one tensor unless its class is in this tuple; the
    # cross reads a string and a float column, which cannot share a tensor. There is no public switch for it.
    if PriceBandCross not in skl2onnx_parse.do_not_merge_columns:
        skl2onnx_parse.do_not_merge_columns += (PriceBandCross,)


def _hashed_shape(operator: Operator) -> None:
    """Output is [N, n_features] float32."""
    n_rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = FloatTensorType([n_rows, operator.raw_operator.n_features])


def _log_shape(operator: Operator) -> None:
    """Output has the input's shape, as float32."""
    operator.outputs[0].type = FloatTensorType(operator.inputs[0].type.shape)


def _convert_hashed_category(scope: Scope, operator: Operator, container: ModelComponentContainer) -> None:
    """[N,1] strings → one-hot of their hash."""
    _emit_one_hot(scope, container, operator.inputs[0].full_name, operator)


def _convert_first_token(scope: Scope, operator: Operator, container: ModelComponentContainer) -> None:
    """[N,1] titles → lowercase → first token (or NO_TOKEN) → one-hot of its hash."""
    flat = _name(scope, "flat_title")
    container.add_node("Reshape", [operator.inputs[0].full_name, _const(scope, container, "shape", [-1])], flat)
    lowered = _name(scope, "lowered")
    container.add_node(
        "StringNormalizer",
        flat,
        lowered,
        name=_name(scope, "StringNormalizer"),
        case_change_action="LOWER",
        is_case_sensitive=0,
        locale=ONNX_LOCALE,
    )
    tokens = _name(scope, "tokens")
    container.add_node(
        "Tokenizer",
        lowered,
        tokens,
        op_domain="com.microsoft",
        op_version=1,
        name=_name(scope, "Tokenizer"),
        mark=0,
        mincharnum=1,
        pad_value=NO_TOKEN,
        tokenexp=ONNX_TOKEN_PATTERN,
    )
    # A batch whose titles hold no token at all comes back as [N, 0]: append a NO_TOKEN column so that
    # column 0 always exists and is NO_TOKEN exactly when the title had no token.
    padding = _name(scope, "padding")
    pad_shape = _name(scope, "pad_shape")
    container.add_node("Shape", flat, pad_shape)
    pad_shape_2d = _name(scope, "pad_shape_2d")
    container.add_node("Concat", [pad_shape, _const(scope, container, "one", [1])], pad_shape_2d, axis=0)
    container.add_node(
        "Expand", [_const_str(scope, container, "no_token", NO_TOKEN), pad_shape_2d], padding, name=_name(scope, "Pad")
    )
    padded = _name(scope, "padded")
    container.add_node("Concat", [tokens, padding], padded, axis=1)
    first = _name(scope, "first_token")
    container.add_node("Slice", [padded, *_slice_args(scope, container, 0, 1)], first)
    _emit_one_hot(scope, container, first, operator)


def _convert_price_band_cross(scope: Scope, operator: Operator, container: ModelComponentContainer) -> None:
    """[N,1] brand and [N,1] price → "brand|band" → one-hot of its hash."""
    brand, price = (variable.full_name for variable in operator.inputs)
    edges = _name(scope, "edges")
    container.add_initializer(
        edges, TensorProto.FLOAT, [len(operator.raw_operator.edges_)], operator.raw_operator.edges_
    )
    above = _name(scope, "above")
    container.add_node("GreaterOrEqual", [price, edges], above)
    above_int = _name(scope, "above_int")
    container.add_node("Cast", above, above_int, to=TensorProto.INT64)
    band = _name(scope, "band")
    container.add_node("ReduceSum", [above_int, _const(scope, container, "axis", [1])], band, keepdims=1)
    band_text = _name(scope, "band_text")
    container.add_node("Cast", band, band_text, to=TensorProto.STRING)
    with_bar = _name(scope, "with_bar")
    container.add_node("StringConcat", [brand, _const_str(scope, container, "bar", "|")], with_bar)
    key = _name(scope, "cross_key")
    container.add_node("StringConcat", [with_bar, band_text], key)
    _emit_one_hot(scope, container, key, operator)


def _convert_log_numeric(scope: Scope, operator: Operator, container: ModelComponentContainer) -> None:
    """x → Log(x + 1), the order of operations `LogNumeric.transform` uses."""
    shifted = _name(scope, "shifted")
    container.add_node("Add", [operator.inputs[0].full_name, _const_float(scope, container, "one_f", 1.0)], shifted)
    container.add_node("Log", shifted, operator.outputs[0].full_name)


def _emit_one_hot(scope: Scope, container: ModelComponentContainer, strings: str, operator: Operator) -> None:
    """[N,1] strings → MurmurHash3 (unsigned, seed 0) mod n → one-hot [N, n] float32 into the operator's output."""
    n_features = operator.raw_operator.n_features
    hashed = _name(scope, "hashed")
    container.add_node("MurmurHash3", strings, hashed, op_domain="com.microsoft", op_version=1, positive=1, seed=0)
    hashed_int = _name(scope, "hashed_int")
    container.add_node("Cast", hashed, hashed_int, to=TensorProto.INT64)
    bucket = _name(scope, "bucket")
    container.add_node("Mod", [hashed_int, _const(scope, container, "n_features", [n_features])], bucket)
    flat_bucket = _name(scope, "flat_bucket")
    container.add_node("Reshape", [bucket, _const(scope, container, "shape", [-1])], flat_bucket)
    values = _name(scope, "onehot_values")
    container.add_initializer(values, TensorProto.FLOAT, [2], [0.0, 1.0])
    container.add_node(
        "OneHot", [flat_bucket, _const(scope, container, "depth", [n_features]), values], operator.outputs[0].full_name
    )


def _slice_args(scope: Scope, container: ModelComponentContainer, start: int, end: int) -> list[str]:
    """Starts, ends and axes inputs of a Slice over axis 1."""
    return [
        _const(scope, container, "start", [start]),
        _const(scope, container, "end", [end]),
        _const(scope, container, "axes", [1]),
    ]


def _const(scope: Scope, container: ModelComponentContainer, hint: str, values: list[int]) -> str:
    """An int64 initializer."""
    name = _name(scope, hint)
    container.add_initializer(name, TensorProto.INT64, [len(values)], values)
    return name


def _const_float(scope: Scope, container: ModelComponentContainer, hint: str, value: float) -> str:
    """A float32 scalar initializer."""
    name = _name(scope, hint)
    container.add_initializer(name, TensorProto.FLOAT, [], [value])
    return name


def _const_str(scope: Scope, container: ModelComponentContainer, hint: str, value: str) -> str:
    """A string scalar initializer."""
    name = _name(scope, hint)
    container.add_initializer(name, TensorProto.STRING, [], [value.encode("utf-8")])
    return name


def _name(scope: Scope, hint: str) -> str:
    """A graph-unique variable name."""
    return scope.get_unique_variable_name(hint)
