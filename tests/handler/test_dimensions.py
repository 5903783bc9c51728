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
