"""Request and response models. The request fields are built from the model's own input schema.

Unknown fields are rejected (422) rather than ignored: a misspelt optional field would otherwise be
silently replaced by its default and change the prediction without a word.
"""

from __future__ import annotations

import re
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    StringConstraints,
    create_model,
)
from pydantic_core import PydanticCustomError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

# The largest finite float32: a bigger JSON number would reach the graph as +inf.
FLOAT32_MAX = 3.4028234663852886e38
# Integer ids beyond this are refused rather than turned into 16+ digit strings.
MAX_INTEGER_ID = 10**15
# Unicode's last code point (`training.text` has its own: the two towers do not import each other), and how many
# `dropped` ranges a model's metadata may list (a table of this Unicode's has ~25; a longer one slows every start).
MAX_CODE_POINT = 0x10FFFF
MAX_DROPPED_RANGES = 1_000
SURROGATES = range(0xD800, 0xE000)
# A required text (the title) must hold a character the model reads: training drops rows whose title is whitespace
# (Python's str.isspace) and code points the graph drops (zero-width spaces, soft hyphens; the model's metadata
# lists them as `dropped` ranges) alone, so the model never learned from one. The JSON Schema pattern lists them
# explicitly: `\s` differs between regex dialects (ECMAScript's omits U+001C-U+001F and U+0085), and clients and
# schemathesis read the pattern with their own.
WHITESPACE_RANGES = (
    (0x09, 0x0D), (0x1C, 0x20), (0x85, 0x85), (0xA0, 0xA0), (0x1680, 0x1680), (0x2000, 0x200A), (0x2028, 0x2029),
    (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000),
)  # fmt: skip


class ClassProbability(BaseModel):
    """One class and its probability."""

    label: str
    probability: float


class PathNode(BaseModel):
    """One level of the predicted category path."""

    name: str = Field(description="The node's own name: the last segment of its path (e.g. 'Audio').")
    node: str = Field(description="The node's whole path (e.g. 'Electronics > Audio'); the leaf's is its label.")
    level: int = Field(ge=1, description="1 for the top-level department, then one more per level down.")
    confidence: float = Field(description="The summed probability of every category under this node.")


LABEL_DESCRIPTION = (
    "The predicted category. With min_confidence: the deepest node of the predicted path whose confidence reaches "
    "it (its whole path), or '' (the root, level 0) when even the department is below it."
)
CONFIDENCE_DESCRIPTION = "The label's probability; with min_confidence, that node's confidence (1 for the root)."
LEVEL_DESCRIPTION = "Only with min_confidence: how deep the label is (1 = department, 0 = root)."
PATH_DESCRIPTION = (
    "The predicted category's path, department first, one entry per level down to the predicted category; "
    "confidence never increases with depth. A model trained on flat labels answers one level."
)


DECISION_DESCRIPTION = (
    "accept: file it without a person, at `decision_label` (`decision_level` deep: the answered category, or an "
    "ancestor when only that reaches the target); review: send it to a person. Taken at `target_precision` from "
    "the thresholds training chose on validation. Absent for a model trained before operating points existed."
)


class WordEffect(BaseModel):
    """How much one title word raised (+) or lowered (−) the answered category's probability."""

    word: str
    delta: float = Field(description="The probability with the word minus without it (every occurrence removed).")


class FieldEffect(BaseModel):
    """How much one other field raised (+) or lowered (−) the answered category's probability."""

    field: str
    delta: float = Field(description="The probability with the field minus with it left out (as if omitted).")


class Explanation(BaseModel):
    """Why the answer: the effect of each title word and each other field, computed by the served graph itself."""

    label: str = Field(description="The answered category the effects are measured on.")
    words: list[WordEffect] = Field(description="The title's words (the first 12 distinct), largest effect first.")
    fields: list[FieldEffect] = Field(description="Each other field the request gave, in the model's input order.")


class PredictionResponse(BaseModel):
    """The answer for one product."""

    label: str = Field(description=LABEL_DESCRIPTION)
    confidence: float = Field(description=CONFIDENCE_DESCRIPTION)
    level: int | None = Field(None, ge=0, description=LEVEL_DESCRIPTION)
    top_k: list[ClassProbability] = Field(description="The most probable categories, most probable first.")
    path: list[PathNode] = Field(description=PATH_DESCRIPTION)
    decision: Literal["accept", "review"] | None = Field(None, description=DECISION_DESCRIPTION)
    target_precision: float | None = Field(None, description="The precision the decision was taken at.")
    decision_level: int | None = Field(None, ge=0, description="How deep the accepted node is; 0 for review.")
    decision_label: str | None = Field(None, description="The accepted node's whole path; '' for review.")
    explanation: Explanation | None = Field(None, description="Only with explain=true.")
    model_version: str


class BatchPrediction(BaseModel):
    """The answer for one product of a batch."""

    label: str = Field(description=LABEL_DESCRIPTION)
    confidence: float = Field(description=CONFIDENCE_DESCRIPTION)
    level: int | None = Field(None, ge=0, description=LEVEL_DESCRIPTION)
    top_k: list[ClassProbability]
    path: list[PathNode] = Field(description=PATH_DESCRIPTION)
    decision: Literal["accept", "review"] | None = Field(None, description=DECISION_DESCRIPTION)
    target_precision: float | None = Field(None, description="The precision the decision was taken at.")
    decision_level: int | None = Field(None, ge=0, description="How deep the accepted node is; 0 for review.")
    decision_label: str | None = Field(None, description="The accepted node's whole path; '' for review.")
    explanation: Explanation | None = Field(None, description="Only with explain=true.")


class BatchResponse(BaseModel):
    """Answers in the order of the request's items."""

    predictions: list[BatchPrediction]
    model_version: str


class HealthResponse(BaseModel):
    """Liveness: the function only serves once its model is loaded."""

    status: str
    model_loaded: bool
    model_version: str


class TaxonomySummary(BaseModel):
    """The shape of the category tree (the tree itself stays in the model file: it can have thousands of nodes)."""

    depth: int = Field(description="Levels of the deepest path; 1 for a model trained on flat labels.")
    separator: str | None = Field(description="What joins the levels of a class label; null for flat labels.")
    nodes_per_level: list[int] = Field(description="Nodes at each level, the departments first.")


class OperatingPoint(BaseModel):
    """One target precision a request may ask for, with the thresholds chosen on validation and what they gave."""

    target_precision: float
    threshold: float = Field(description="The answered category's confidence at or above which it is accepted.")
    level_thresholds: list[float] = Field(
        description="Per path level (department first), for backing off; above 1 accepts nothing (the deepest level "
        "always: no answer lies below it)."
    )
    test_coverage: float | None = Field(
        description="The share of test listings accepted: at the category, or with path labels at a level of its path."
    )
    test_precision: float | None = Field(description="How often those were right (at the level accepted).")


class ModelResponse(BaseModel):
    """What the served model is."""

    model_version: str
    trained_at: str | None
    classes: list[str]
    inputs: list[dict[str, Any]]
    metrics: dict[str, Any]
    training_data: dict[str, Any] | None
    library_versions: dict[str, str] | None
    class_shares: dict[str, float] | None = Field(description="Each class's share of the training rows.")
    taxonomy: TaxonomySummary
    calibration: dict[str, float | list[float] | None] | None = Field(
        description="The temperature, the re-ranker's 'none of the candidates' logit and the log-scale of a row's "
        "logits at each knot of its lead over the runner-up, all fitted on validation."
    )
    operating_points: list[OperatingPoint] = Field(
        description="The target precisions a request may ask for (target_precision), with their thresholds."
    )
    golden_examples: list[dict[str, Any]] = Field(
        description="Rows with the label, probabilities and path training computed (the first 30, fewer at more "
        "than 666 classes: at most 20,000 probabilities in all; the pre-traffic check replays the whole set from "
        "the release artifact); back-off cases add `min_confidence` and the `back_off` answer (label, level)."
    )


class ErrorResponse(BaseModel):
    """A 4xx/5xx body: what went wrong and, for validation, which field."""

    error: str
    detail: list[dict[str, Any]] | None = None


def build_product_model(
    inputs: list[dict[str, Any]], *, max_text_length: int, example: dict[str, Any] | None
) -> type[BaseModel]:
    """A pydantic model with one field per model input, named in JSON by the input's name (dump it by alias).

    Strings are length-capped; categoricals also take integers (ids such as 42, served as "42"); numbers
    must be finite, ≥ 0 and within float32. Optional fields may be omitted or null and then take the model's
    default. The attributes are `input_0`, `input_1`, ...: an input may be named like one of pydantic's own
    (`model_config`, `json`, `copy`), which as an attribute would fail or shadow it.
    """
    text = Annotated[StrictStr, StringConstraints(max_length=max_text_length)]
    integer_id = Annotated[StrictInt, Field(ge=-MAX_INTEGER_ID, le=MAX_INTEGER_ID)]
    # The validator turns an integer into its text before the length check; the schema says both are accepted.
    category = Annotated[text, BeforeValidator(_integer_as_text, json_schema_input_type=text | integer_id)]
    fields: dict[str, Any] = {}
    for index, spec in enumerate(inputs):
        name = spec["name"]
        field: tuple[Any, Any]
        if spec["type"] == "float":
            number = Annotated[float, Field(ge=0, le=FLOAT32_MAX, allow_inf_nan=False, strict=True)]
            unit = f" in {spec['currency']}" if isinstance(spec.get("currency"), str) else ""
            field = (number | None, Field(None, alias=name, description=f"{name}{unit}; missing means unknown."))
        elif spec.get("required"):
            dropped = spec.get("dropped", [])
            reason = blank_reason(dropped)
            required = Annotated[text, AfterValidator(_not_blank(not_blank_regex(dropped), reason))]
            description = f"{name}; must contain a character the model reads: not {reason} alone."
            pattern = not_blank_pattern(dropped)
            field = (required, Field(alias=name, description=description, json_schema_extra={"pattern": pattern}))
        else:
            default = spec.get("default", "")
            description = f"{name} (an integer id is read as its decimal string); missing means {default!r}."
            field = (category | None, Field(None, alias=name, description=description))
        fields[f"input_{index}"] = field
    config = ConfigDict(extra="forbid", json_schema_extra={"examples": [example]} if example else None)
    return create_model("Product", __config__=config, **fields)


def dropped_problem(dropped: Any) -> str | None:
    """What is wrong with a title's `dropped` ranges from a model's metadata, or None.

    Each is [first, last] with first <= last, both whole numbers of Unicode outside the surrogates (whose escapes
    side by side would read as one character to ECMAScript), and there are at most MAX_DROPPED_RANGES of them.
    """
    valid = (
        isinstance(dropped, list)
        and len(dropped) <= MAX_DROPPED_RANGES
        and all(
            isinstance(bounds, list)
            and len(bounds) == 2
            and all(type(point) is int and 0 <= point <= MAX_CODE_POINT for point in bounds)
            and bounds[0] <= bounds[1]
            and not (bounds[0] < SURROGATES.stop and bounds[1] >= SURROGATES.start)
            for bounds in dropped
        )
    )
    if valid:
        return None
    return (
        f"the title's 'dropped' must be a list of at most {MAX_DROPPED_RANGES:,} [first, last] code points up to "
        f"{MAX_CODE_POINT:#x}, first <= last, none a surrogate: re-export the model with `make train`"
    )


def blank_reason(dropped: list[list[int]]) -> str:
    """What a blank title is made of, for a model that drops the `dropped` code points (none: an older model)."""
    return "whitespace or zero-width characters" if dropped else "whitespace"


def not_blank_regex(dropped: Sequence[Sequence[int]]) -> re.Pattern[str]:
    """`not_blank_pattern` compiled, once per process and set of ranges: explain asks for it per listing."""
    return _compiled_not_blank(tuple(tuple(bounds) for bounds in dropped))


@cache
def _compiled_not_blank(dropped: tuple[tuple[int, ...], ...]) -> re.Pattern[str]:
    return re.compile(not_blank_pattern(dropped))


def not_blank_pattern(dropped: Sequence[Sequence[int]]) -> str:
    """The pattern a title matches when it holds a character that is neither whitespace nor one of the `dropped`
    code point ranges (the model's metadata's, for its title; checked by `dropped_problem`).

    BMP code points are written as \\uXXXX, which Python and ECMAScript read alike; above U+FFFF no escape is read
    alike by both, so those are the characters themselves, as ECMAScript reads them with the `u` flag that JSON
    Schema specifies for its patterns (and Ajv uses).
    """
    ranges = sorted([*WHITESPACE_RANGES, *(tuple(bounds) for bounds in dropped)])
    members = "".join(_escaped(first) + (f"-{_escaped(last)}" if last > first else "") for first, last in ranges)
    return f"[^{members}]"


def _escaped(code_point: int) -> str:
    """One code point as a character class writes it (see `not_blank_pattern`)."""
    return f"\\u{code_point:04x}" if code_point <= 0xFFFF else chr(code_point)


def _not_blank(readable: re.Pattern[str], reason: str) -> Callable[[str], str]:
    """A validator refusing a text without a character `readable` finds, as training drops such rows."""
    message = f"must contain a character the model reads, not {reason} alone (training drops such titles)"

    def validate(value: str) -> str:
        if readable.search(value) is None:
            raise PydanticCustomError("string_blank", message)
        return value

    return validate


def _integer_as_text(value: Any) -> Any:
    """Ids often arrive as JSON numbers: 42 (or 42.0, an integer to JSON Schema) means "42".

    Booleans and fractional numbers stay invalid, as `string_type`, saying a whole number would do.
    """
    if type(value) is bool or (type(value) is float and not value.is_integer()):
        raise PydanticCustomError("string_type", "Input should be a valid string, or a whole number (an id)")
    if type(value) is float:
        value = int(value)
    if type(value) is not int:
        return value
    if abs(value) > MAX_INTEGER_ID:
        raise ValueError(f"integer ids must lie within ±{MAX_INTEGER_ID}; send longer ids as strings")
    return str(value)


def build_batch_model(product: type[BaseModel], *, max_batch: int) -> type[BaseModel]:
    """`{"items": [product, ...]}` with 1..max_batch items."""
    config = ConfigDict(extra="forbid")
    items = (list[product], Field(min_length=1, max_length=max_batch, description=f"1 to {max_batch} products."))  # type: ignore[valid-type]
    return create_model("BatchRequest", __config__=config, items=items)
