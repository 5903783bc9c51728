"""ROWS as `make train` passes it: a whole number of synthetic rows, or one line saying what is wrong."""

from __future__ import annotations

import pytest

from training.cli.catalogue_options import parse_categories, parse_rows
from training.exceptions import DataValidationError


@pytest.mark.parametrize(
    ("text", "rows"), [(None, None), ("", None), ("50", 50), ("1_000_000", 1_000_000), ("10,000", 10_000)]
)
def test_parse_rows_reads_whole_numbers(text, rows):
    assert parse_rows(text) == rows


@pytest.mark.parametrize("text", ["-5", "0", "abc", "1.5", "1e6", "²"])
def test_parse_rows_refuses_anything_else_in_one_line(text):
    with pytest.raises(
        DataValidationError, match=r"^ROWS must be a whole number of synthetic rows greater than 0"
    ) as info:
        parse_rows(text)

    assert repr(text) in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("text", ["abc", "0", "-3", "2.5", "1", "100001"])
def test_parse_categories_refuses_anything_but_a_whole_number_of_categories_in_one_line(text):
    # one category, or more than the config allows, is CATEGORIES' fault: never named as the config file's
    with pytest.raises(DataValidationError, match=r"^CATEGORIES must be a whole number of leaf categories") as info:
        parse_categories(text)

    assert repr(text) in str(info.value)
    assert "from 2 to 100,000" in str(info.value)


def test_parse_categories_reads_whole_numbers():
    assert (parse_categories(None), parse_categories("5,000")) == (None, 5_000)
