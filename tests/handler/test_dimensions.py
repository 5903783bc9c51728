"""Class names as metric dimension values: ASCII, and spelt as the drift monitor queries them."""

from __future__ import annotations

import pytest

from drift_monitor.dimensions import dimension_value as monitor_spelling
from handler.dimensions import dimension_value

NAMES = ["Café > Thé", "Home – Garden", "Bücher", "Électroménager > Réfrigérateurs", "日本語", "Plain > Leaf", "",
         "ガム", "カム", "ไม้", "ไม"]  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_every_class_name_becomes_an_ascii_dimension_value_the_monitor_spells_alike(name):
    value = dimension_value(name)

    assert value.isascii()
    assert value == monitor_spelling(name)


def test_accents_are_dropped_and_other_characters_escaped_so_distinct_names_stay_distinct():
    assert dimension_value("Café > Thé") == "Cafe > The"
    assert dimension_value("Home – Garden") == "Home \\u2013 Garden"
    assert dimension_value("Plain > Leaf") == "Plain > Leaf"
    assert len({dimension_value(name) for name in NAMES}) == len(NAMES)


def test_a_name_longer_than_cloudwatch_takes_keeps_a_series_of_its_own():
    # GIVEN two long Cyrillic paths that differ only at their end, each over 1,024 characters once escaped
    first, second = "Бытовая техника > " * 12 + "Холодильники", "Бытовая техника > " * 12 + "Морозильники"

    values = [dimension_value(first), dimension_value(second)]

    # THEN each fits CloudWatch's 1,024 characters, the monitor spells it alike, and the two stay apart
    assert all(len(value) <= 1024 and value.isascii() for value in values)
    assert values == [monitor_spelling(first), monitor_spelling(second)]
    assert values[0] != values[1]
    assert len(first.encode("ascii", "backslashreplace")) > 1024
