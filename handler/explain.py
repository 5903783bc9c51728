"""Why the model chose what it chose: each title word's and each other field's effect on the answered class.

By occlusion, with the served graph itself: the listing is scored again with each title word removed (every
occurrence of it) and with each other field left out (as if the request had omitted it), in one batched call, and
each effect is the answered class's probability with the word or field minus without it: a word that raised the
answer has a positive delta. The explanation therefore never disagrees with the answer, is deterministic, and is
bounded: at most MAX_EXPLAINED_WORDS distinct words (the first ones of the title) and one row per other field.
`training`'s tests hold it to the same computation done with the Python pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from handler.model import Model, Prediction

# Distinct title words explained per listing: one graph row each (the cost of explain=true grows with it).
MAX_EXPLAINED_WORDS = 12


@dataclass(frozen=True)
class Explanation:
    """The answered class's probability deltas: per title word (largest effect first) and per other field."""

    label: str
    words: list[tuple[str, float]]
    fields: list[tuple[str, float]]


def occlusions(
    row: dict[str, Any], *, text: str, inputs: list[dict[str, Any]]
) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    """The words and fields to explain, and the rows that leave each out (words first, then fields, in order).

    Args:
        row: The request's fields.
        text: The title input's name.
        inputs: The model's input schema (name, type, default).
    """
    title = str(row.get(text) or "")
    words = list(dict.fromkeys(word.lower() for word in title.split()))[:MAX_EXPLAINED_WORDS]
    rows = [row | {text: " ".join(w for w in title.split() if w.lower() != word)} for word in words]
    fields = [spec["name"] for spec in inputs if spec["name"] != text and row.get(spec["name"]) not in (None, "")]
    rows += [row | {name: None} for name in fields]
    return words, fields, rows


def explain(model: Model, row: dict[str, Any], answer: Prediction) -> Explanation:
    """Explain one answered listing with one batched call of the model's graph (see the module docstring)."""
    words, fields, rows = occlusions(row, text=model.text_input, inputs=model.inputs)
    index = model.classes.index(answer.label)
    probability = float(answer.probabilities[index])
    effects = [probability - float(p.probabilities[index]) for p in model.predict(rows)] if rows else []
    by_word = sorted(zip(words, effects[: len(words)], strict=True), key=lambda item: -abs(item[1]))
    return Explanation(answer.label, by_word, list(zip(fields, effects[len(words) :], strict=True)))
