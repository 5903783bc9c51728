"""Markdown tables of whatever a catalogue holds: a "|" or a line break in a category name or a title would end a
row early, and the table would read as other columns."""

from __future__ import annotations

from typing import Any


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table, each value one cell."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    """A value as one cell: its lines joined by spaces, its "|" escaped."""
    return " ".join(str(value).splitlines()).replace("|", "\\|")
