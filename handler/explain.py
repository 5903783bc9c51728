"""Why the model chose what it chose: each title word's and each other field's effect on the answered class.

By occlusion, with the served graph itself: the listing is scored with each title word removed (every occurrence
of it) and with each other field left out (as if the request had omitted it), in the same batched call that
answers it (one call costs less than the answer's and the occlusions' apart), and each effect is the answered
class's probability with the word or field minus without it: a word that raised the answer has a positive delta.
The explanation therefore never disagrees with the answer, is deterministic, and is bounded: at most
MAX_EXPLAINED_WORDS distinct words (the first ones of the title) and one row per other field.
`training`'s tests hold it to the same computation done with the Python pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from handler.schemas import not_blank_regex

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
    words, fields = _explained(row, text=text, inputs=inputs)
    title = str(row.get(text) or "")
    rows = [row | {text: " ".join(w for w in title.split() if w.lower() != word)} for word in words]
    rows += [row | {name: None} for name in fields]
    return words, fields, rows


def scored_rows(rows: list[dict[str, Any]], *, text: str, inputs: list[dict[str, Any]]) -> int:
    """How many rows the graph scores to answer and explain `rows`: each listing and each of its occlusions."""
    return sum(1 + sum(map(len, _explained(row, text=text, inputs=inputs))) for row in rows)


def _explained(row: dict[str, Any], *, text: str, inputs: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """The words (the first MAX_EXPLAINED_WORDS distinct ones) and the fields given, that explain=true explains."""
    title = str(row.get(text) or "")
    title_spec = next((spec for spec in inputs if spec["name"] == text), {})
    # A "word" the graph reads as nothing (a lone zero-width space) cannot change the answer: no slot for it.
    readable = not_blank_regex(title_spec.get("dropped", []))
    words = list(dict.fromkeys(word.lower() for word in title.split() if readable.search(word)))[:MAX_EXPLAINED_WORDS]
    fields = [spec["name"] for spec in inputs if spec["name"] != text and row.get(spec["name"]) not in (None, "")]
    return words, fields


def predict_explained(model: Model, rows: list[dict[str, Any]]) -> list[tuple[Prediction, Explanation]]:
    """Answer and explain rows with one call of the model's graph: each row followed by its occlusions."""
    plans = [occlusions(row, text=model.text_input, inputs=model.inputs) for row in rows]
    scored = iter(model.predict([each for row, plan in zip(rows, plans, strict=True) for each in (row, *plan[2])]))
    explained = []
    for words, fields, occluded in plans:
        answer = next(scored)
        index = model.classes.index(answer.label)
        probability = float(answer.probabilities[index])
        effects = [probability - float(next(scored).probabilities[index]) for _ in occluded]
        by_word = sorted(zip(words, effects[: len(words)], strict=True), key=lambda item: -abs(item[1]))
        fields_effects = list(zip(fields, effects[len(words) :], strict=True))
        explained.append((answer, Explanation(answer.label, by_word, fields_effects)))
    return explained
