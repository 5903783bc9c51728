"""Class names as CloudWatch dimension values, which must be ASCII.

Real taxonomies are full of "é", "ü" and "–"; a non-ASCII dimension value makes PutMetricData (and an EMF line)
drop the series. The classifier writes and the drift monitor queries the same spelling: accents are dropped
("Café" → "Cafe") and any other character is written as its Python escape ("–" → "\\u2013"). Two classes
that differ only in a Latin letter's accents share one series; marks on other scripts are kept, escaped, since they
make another word (Thai tone marks, Japanese voicing: "ガ" is not "カ"), recomposed so each escapes as one
character. A value longer than CloudWatch takes (1,024 characters; a Cyrillic path of ~175 letters escapes past it)
keeps its start and ends in a digest of the whole, so it stays one series of its own.
"""

from __future__ import annotations

import hashlib
import unicodedata

# CloudWatch's longest dimension value.
MAX_VALUE_LENGTH = 1024
DIGEST_LENGTH = 16


def dimension_value(name: str) -> str:
    """`name` spelt in ASCII, as a metric dimension value."""
    kept: list[str] = []
    for character in unicodedata.normalize("NFKD", name):
        if not (unicodedata.combining(character) and kept and kept[-1].isascii()):
            kept.append(character)
    value = unicodedata.normalize("NFC", "".join(kept)).encode("ascii", "backslashreplace").decode("ascii")
    if len(value) <= MAX_VALUE_LENGTH:
        return value
    digest = hashlib.sha256(value.encode("ascii")).hexdigest()[:DIGEST_LENGTH]
    return f"{value[: MAX_VALUE_LENGTH - DIGEST_LENGTH - 1]}~{digest}"
