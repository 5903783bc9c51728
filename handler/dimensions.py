"""Class names as CloudWatch dimension values, which must be ASCII.

Real taxonomies are full of "é", "ü" and "–"; a non-ASCII dimension value makes PutMetricData (and an EMF line)
drop the series. The classifier writes and the drift monitor queries the same spelling: accents are dropped
("Café" → "Cafe") and any other character is written as its Python escape ("–" → "\\u2013"). Two classes
that differ only in accents share one series.
"""

from __future__ import annotations

import unicodedata


def dimension_value(name: str) -> str:
    """`name` spelt in ASCII, as a metric dimension value."""
    decomposed = unicodedata.normalize("NFKD", name)
    unaccented = "".join(character for character in decomposed if not unicodedata.combining(character))
    return unaccented.encode("ascii", "backslashreplace").decode("ascii")
