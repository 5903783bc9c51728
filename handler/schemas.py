"""Request and response models. The request fields are built from the model's own input schema.

Unknown fields are rejected (422) rather than ignored: a misspelt optional field would otherwise be
silently replaced by its default and change the prediction without a word.
"""

from __future__ import annotations

from typing import Annotated, Any

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

# The largest finite float32: a bigger JSON number would reach the graph as +inf.
FLOAT32_MAX = 3.4028234663852886e38
# Integer ids beyond this are refused rather than turned into 16+ digit strings.
MAX_INTEGER_ID = 10**15
# A required text (the title) must hold a non-whitespace character: training drops rows whose title is empty or
# whitespace only (Python's str.strip), so the model never learned from one. The pattern lists Python's
# whitespace explicitly: `\s` differs between regex dialects (ECMAScript's omits U+001C-U+001F and U+0085), and
# clients and schemathesis read this JSON Schema pattern with their own.
NOT_BLANK_PATTERN = r"[^\u0009-\u000d\u001c-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"


class ClassProbability(BaseModel):
    """One class and its probability."""

    label: str
    probability: float


class PredictionResponse(BaseModel):
    """The answer for one product."""

    label: str = Field(description="The predicted category.")
    confidence: float = Field(description="The predicted category's probability.")
    top_k: list[ClassProbability] = Field(description="The most probable categories, most probable first.")
    model_version: str


class BatchPrediction(BaseModel):
    """The answer for one product of a batch."""

    label: str
    confidence: float
    top_k: list[ClassProbability]


class BatchResponse(BaseModel):
    """Answers in the order of the request's items."""

    predictions: list[BatchPrediction]
    model_version: str


class HealthResponse(BaseModel):
    """Liveness: the function only serves once its model is loaded."""

    status: str
    model_loaded: bool
    model_version: str


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
    golden_examples: list[dict[str, Any]] = Field(
        description="Rows with the label and probabilities training computed; the pre-traffic check replays them."
    )


class ErrorResponse(BaseModel):
    """A 4xx/5xx body: what went wrong and, for validation, which field."""

    error: str
    detail: list[dict[str, Any]] | None = None


def build_product_model(
    inputs: list[dict[str, Any]], *, max_text_length: int, example: dict[str, Any] | None
) -> type[BaseModel]:
    """A pydantic model with one field per model input.

    Strings are length-capped; categoricals also take integers (ids such as 42, served as "42"); numbers
    must be finite, ≥ 0 and within float32. Optional fields may be omitted or null and then take the model's
    default.
    """
    text = Annotated[StrictStr, StringConstraints(max_length=max_text_length)]
    integer_id = Annotated[StrictInt, Field(ge=-MAX_INTEGER_ID, le=MAX_INTEGER_ID)]
    # The validator turns an integer into its text before the length check; the schema says both are accepted.
    category = Annotated[text, BeforeValidator(_integer_as_text, json_schema_input_type=text | integer_id)]
    fields: dict[str, Any] = {}
    for spec in inputs:
        name = spec["name"]
        if spec["type"] == "float":
            number = Annotated[float, Field(ge=0, le=FLOAT32_MAX, allow_inf_nan=False, strict=True)]
            fields[name] = (number | None, Field(None, description=f"{name}; missing means unknown."))
        elif spec.get("required"):
            required = Annotated[text, AfterValidator(_not_blank)]
            description = f"{name}; must contain a non-whitespace character."
            fields[name] = (required, Field(description=description, json_schema_extra={"pattern": NOT_BLANK_PATTERN}))
        else:
            default = spec.get("default", "")
            description = f"{name} (an integer id is read as its decimal string); missing means {default!r}."
            fields[name] = (category | None, Field(None, description=description))
    config = ConfigDict(extra="forbid", json_schema_extra={"examples": [example]} if example else None)
    return create_model("Product", __config__=config, **fields)


def _not_blank(value: str) -> str:
    """Refuse an empty or whitespace-only text, as training drops such rows."""
    if not value.strip():
        raise PydanticCustomError(
            "string_blank", "must contain a non-whitespace character (training drops empty or whitespace-only titles)"
        )
    return value


def _integer_as_text(value: Any) -> Any:
    """Ids often arrive as JSON numbers: 42 (or 42.0, an integer to JSON Schema) means "42".

    Booleans and fractional numbers stay invalid.
    """
    if type(value) is float and value.is_integer():
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
