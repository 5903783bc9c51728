"""How the graph reads text, in Python: lower-casing, the fold of look-alike spellings, whitespace folding, word
tokens, n-grams (stdlib only).

The exported graph lower-cases with ONNX's StringNormalizer, folds with a lookup table built here
(`compatibility_folds`) and splits with onnxruntime's Tokenizer; these
functions do exactly the same in Python, character for character, so the features computed at training time
are the ones the graph computes at serving time (`training.model.features` builds on them, and the data
report folds titles with them so it sees titles as the model does). Shared by `training.model` and
`training.data`, which do not import each other, so it sits at the bottom with the config.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

# The locale ONNX's StringNormalizer lowercases with; C.UTF-8 exists on Lambda and lowercases non-ASCII letters.
ONNX_LOCALE = "C.UTF-8"
# Stands for "no token" when a title has none; it can never be a token itself (tokens are letters/digits).
NO_TOKEN = "#"
# Unicode general categories whose characters make up words, as in scikit-learn's `\w\w+`, plus "_".
WORD_CATEGORIES = ("L", "N")
MAX_CODE_POINT = 0x10FFFF
# Dropped by the fold (`compatibility_folds`), with the format characters (Unicode category Cf): the combining marks
# a decomposed Latin letter carries (so "e" + U+0301 reads as "é" does; per code point, a mark cannot know the letter
# before it), the combining grapheme joiner among them, and the variation selectors.
INVISIBLE_MARKS = (range(0x0300, 0x0370), range(0xFE00, 0xFE10), range(0xE0100, 0xE01F0))


@cache
def word_character_ranges() -> tuple[tuple[int, int], ...]:
    r"""The code points that make up words, as closed ranges, from this Python's Unicode tables.

    Tokens are maximal runs of two or more of these. Both sides get the class as explicit ranges (Python's
    `re` and the graph's RE2 pattern) instead of `\w` or `\p{L}`: the two libraries ship different Unicode
    versions (RE2's knows CJK Extension I, Python 3.12's does not), and a named class would silently tokenise
    new code points differently. Explicit ranges are the same set on both sides for every code point.
    """
    ranges: list[tuple[int, int]] = []
    for code_point in range(MAX_CODE_POINT + 1):
        character = chr(code_point)
        if character != "_" and unicodedata.category(character)[0] not in WORD_CATEGORIES:
            continue
        if ranges and ranges[-1][1] == code_point - 1:
            ranges[-1] = (ranges[-1][0], code_point)
        else:
            ranges.append((code_point, code_point))
    return tuple(ranges)


@cache
def token_pattern() -> str:
    """The word pattern for Python's `re`: two or more word characters, named by code point."""
    ranges = "".join(f"\\U{low:08X}-\\U{high:08X}" for low, high in word_character_ranges())
    return f"[{ranges}]{{2,}}"


@cache
def onnx_token_pattern() -> str:
    """The same pattern in RE2 syntax for the graph's Tokenizer."""
    ranges = "".join(f"\\x{{{low:X}}}-\\x{{{high:X}}}" for low, high in word_character_ranges())
    return f"[{ranges}]{{2,}}"


@cache
def _token_regex() -> re.Pattern[str]:
    """The compiled Python pattern."""
    return re.compile(token_pattern())


def lower_like_onnx(text: str) -> str:
    """Lower-case one character at a time, as ONNX's StringNormalizer does.

    `str.lower` applies context rules (a final Σ becomes ς) and multi-character mappings (İ becomes i̇);
    the graph maps each character to exactly one, so the Python side must too.
    """
    if text.isascii():
        return text.lower()
    return "".join(character.lower()[0] for character in text)


@cache
def compatibility_folds() -> dict[str, str]:
    """The code points the graph rewrites after lower-casing, each with what it becomes ("" when dropped).

    So that titles that look alike read alike: fullwidth `ＴＶ` becomes `tv`, the ligature `ﬁ` becomes `fi`, `é`
    and `e` + a combining accent both become `e`, and an invisible character (a soft hyphen or a zero-width space
    inside a word, a variation selector) is dropped. Each code point is decomposed by NFKD and lower-cased like the
    graph; a Latin letter's accents are left out, as `handler/dimensions.py` leaves them out of class names, but a mark
    on another script makes another word ("ガ" is not "カ", "й" is not "и") and stays. A fold never turns a word
    character into a non-word one or back, nor a visible character into a space: `™` does not become the word `tm`,
    nor `½` a `1⁄2` that splits a number, nor `´` a space. Hangul syllables keep their form (Python does not decompose
    them with `unicodedata.decomposition`). The folds are made one code point at a time, never across neighbours, so
    the graph can do the same with a lookup table, which it carries, fixed at training time.
    """
    folds = {}
    for code_point in range(MAX_CODE_POINT + 1):
        character = chr(code_point)
        if code_point in _invisible_marks() or unicodedata.category(character) == "Cf":
            folded = ""
        elif unicodedata.decomposition(character):
            folded = lower_like_onnx(_without_latin_accents(unicodedata.normalize("NFKD", character)))
            # A mark the fold drops on its own would make the fold's own result fold again.
            if folded.isspace() or any(
                _is_word(part) != _is_word(character) or ord(part) in _invisible_marks() for part in folded
            ):
                continue
        else:
            continue
        # Lower-casing comes first: the graph never looks up a character that lower-casing changes.
        if folded != character and lower_like_onnx(character) == character:
            folds[character] = folded
    return folds


def reads_as_empty(text: str) -> bool:
    """Whether the graph reads the text as nothing: whitespace and code points the fold drops (a zero-width space, a
    soft hyphen, the BOM) alone. Training learns nothing from such a text, and the API refuses such a title."""
    return not normalise_like_onnx(text).strip()


def without_dropped(text: str) -> str:
    """The text without the code points the fold drops (a zero-width space, a soft hyphen, the BOM): what the model
    never sees, so two names that differ only by them are one name to it."""
    return text.translate(_dropped_table())


@cache
def _dropped_table() -> dict[int, None]:
    """`str.translate`'s table deleting the code points the fold drops."""
    return {ord(character): None for character, folded in compatibility_folds().items() if not folded}


def dropped_ranges() -> list[list[int]]:
    """The code points the fold drops (`compatibility_folds` maps them to ""), as [first, last] ranges.

    A title of nothing but these and whitespace reads as empty to the model: training drops its row, as it drops a
    blank title, and the model's metadata carries the ranges so the API refuses such a title as it refuses a blank
    one (the graph's table, and so the ranges, are fixed at training time by that Python's Unicode version).
    """
    ranges: list[list[int]] = []
    for code_point in sorted(ord(character) for character, folded in compatibility_folds().items() if not folded):
        if ranges and ranges[-1][1] == code_point - 1:
            ranges[-1][1] = code_point
        else:
            ranges.append([code_point, code_point])
    return ranges


@cache
def _invisible_marks() -> frozenset[int]:
    """`INVISIBLE_MARKS`' code points."""
    return frozenset(code_point for block in INVISIBLE_MARKS for code_point in block)


def _without_latin_accents(decomposed: str) -> str:
    """The decomposed text without the combining marks that follow an ASCII letter (or its other marks)."""
    kept: list[str] = []
    for character in decomposed:
        if not (unicodedata.combining(character) and kept and kept[-1].isascii()):
            kept.append(character)
    return "".join(kept)


def _is_word(character: str) -> bool:
    """Whether the character can be part of a word token."""
    return _token_regex().fullmatch(character * 2) is not None


def normalise_like_onnx(text: str) -> str:
    """The text as the graph reads it: lower-cased (`lower_like_onnx`), then folded (`compatibility_folds`)."""
    lowered = lower_like_onnx(text)
    if lowered.isascii():
        return lowered
    folds = compatibility_folds()
    return "".join(folds.get(character, character) for character in lowered)


@cache
def whitespace_characters() -> tuple[str, ...]:
    """The code points `str.split()` splits on (`str.isspace`: tab, NBSP, the U+2000 spaces, ...).

    The graph folds exactly this set (as explicit strings, not a regex class), so a title's characters are the
    same on both sides whatever spaces it carries; the parity gate's code-point sweep checks it.
    """
    return tuple(chr(point) for point in range(MAX_CODE_POINT + 1) if chr(point).isspace())


def fold_whitespace(text: str) -> str:
    """Leading and trailing whitespace dropped, every inner run of it one plain space, as the graph does."""
    return " ".join(text.split())


def word_tokens(lowered: str) -> list[str]:
    """The words of already normalised text (`normalise_like_onnx`), in order."""
    return _token_regex().findall(lowered)


def word_ngrams(text: str, n_max: int) -> list[str]:
    """Word 1..n_max-grams of the normalised text, words joined by one space."""
    tokens = word_tokens(normalise_like_onnx(text))
    return [" ".join(tokens[i : i + n]) for n in range(1, n_max + 1) for i in range(len(tokens) - n + 1)]


def char_ngrams(text: str, n_min: int, n_max: int) -> list[str]:
    """Character n_min..n_max-grams of the normalised, whitespace-folded text (an inner space is a character).

    Words ignore whitespace by construction; characters see it, so it is folded first: `"  tv\u00a0 55 "` and
    `"tv 55"` have the same features.
    """
    folded = fold_whitespace(normalise_like_onnx(text))
    return [folded[i : i + n] for n in range(n_min, n_max + 1) for i in range(len(folded) - n + 1)]


def first_token(text: str) -> str:
    """The first word of the normalised text, or `NO_TOKEN` when it has none."""
    match = _token_regex().search(normalise_like_onnx(text))
    return match.group(0) if match else NO_TOKEN
