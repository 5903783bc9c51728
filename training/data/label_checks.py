"""Label spellings that make one category two, or a missing value a category: checks the data report runs.

A real export spells a class more than one way ("Fridge-Freezers", "fridge freezers "), writes "N/A" for no
category, joins several category paths into one label, or writes the path as a JSON list. Each check here finds one
such pattern; `training.data.report` turns what they find into problems and notes, and `label_key` is the one
folding of a name that the report, the long-tail policy and the corrections share.
"""

from __future__ import annotations

import ast
import json
import logging
import re
import unicodedata
from itertools import combinations
from typing import Any

import yaml

from training.data.clean import PLACEHOLDERS
from training.data.html_text import unescaped_html
from training.text import without_dropped

logger = logging.getLogger(__name__)

# Near misses are looked for only between short sibling names: long ones differ by a couple of letters legitimately.
SHORT_LABEL = 24
MAX_EDIT_DISTANCE = 2
# A word up to this long may differ by one letter only ("Tires" and "Tubes" are two letters apart, and two words).
ONE_LETTER_WORD = 8
# Near misses are looked for among at most this many short names under one parent (measured: 5,000 flat categories
# take 3.5 s and 215 MB); past it only spellings count.
MAX_SIBLINGS = 5_000
# Longer labels are never parsed as a list or record (`json_label`): a path is short, a pasted document is not.
MAX_LISTED_LABEL = 2_000
# The breadcrumb marks of category paths, and the share of labels holding one that says a config should set it as
# `data.path_separator` (`unset_path_separator`).
BREADCRUMBS = (" > ", " >> ", " / ", " | ", " › ", " » ", " → ")
BREADCRUMB_SHARE = 0.5
# The same marks unspaced, as some exports write paths ('Appliances/Fridges'), and the comma PrestaShop joins with.
UNSPACED_BREADCRUMBS = (">", "/", "|", ",")
# What shop exports join a listing's several category paths with (`several_paths`).
PATH_JOINERS = (",", ";", "|", "\n")
# How WooCommerce writes a comma inside a category name, its joiner being a comma (`several_paths`).
ESCAPED_COMMA = "\\,"
_DIGITS = re.compile(r"\d+")
# An integer written as a float, as pandas writes an integer column with gaps to CSV (`104.0`): the integer's group.
INTEGRAL_FLOAT = re.compile(r"(-?\d+)\.0+")
# Unicode categories of characters that show as nothing or as another does (`aliases_block` escapes them).
UNSEEN_CATEGORIES = {"Mn", "Me", "Cf", "Cc", "Zs", "Zl", "Zp", "Co", "Cs"}
# A category id before a path: `123 - A > B` (Google's taxonomy file with ids) or `gid://shopify/TaxonomyCategory/
# ap-2 : A > B` (Shopify's); the path is what follows it. Spaces around Google's hyphen: `4-Wheel Drive` is a name.
ID_PREFIX = re.compile(r"^\s*(?:\d+\s+-\s+|gid://\S+\s*:\s*)")
# Folded away by `label_key`, breadcrumb marks among them: a flat label written "A>B" once and "A > B" elsewhere.
_PUNCTUATION = re.compile(r"[\s\-_/\\.,;:&+'\"()>|»›→]+")


def placeholder_labels(counts: dict[str, int], *, separator: str | None) -> dict[str, int]:
    """Labels that are a missing value written out ("null", "N/A", "unknown", "-"), whole or as a path's last level:
    an export's way of leaving the category empty, which training would learn, and the model answer, as a category.

    Args:
        counts: Rows per label.
        separator: `data.path_separator` ("N/A" is one name even where "/" separates levels).
    """
    found = {}
    for label, count in counts.items():
        leaf = label.rsplit(separator.strip(), 1)[-1] if separator and separator.strip() else label
        if label.strip().lower() in PLACEHOLDERS or leaf.strip().lower() in PLACEHOLDERS:
            found[label] = count
    return found


def label_variants(counts: dict[str, int], *, separator: str | None = None) -> list[dict[str, Any]]:
    """Groups of labels that are one class spelled more than once, each with a suggestion: the same name once case,
    spacing, punctuation, HTML escapes, `&` read as `and` and a plural `s` are ignored, level by level of the
    path (so only siblings under the same parent can match), and a category id without the zeros the catalogue pads
    its ids with (`_id_width`: 104 as a numeric column reads the '0104' a text export keeps).

    The suggestion spells the categories above its leaf as the whole catalogue mostly does, the department first
    (`_node_spellings`), so the suggested aliases leave one spelling of a department, not one per leaf; then it is a
    spelling without spaces at its ends or invisible characters (an alias to "Laptops " or "\u200bLaptops" would have
    the API answer it so), where the group has one; then the one whose leaf is spelt as usual; then the most
    frequent. A real taxonomy's siblings may differ by a letter ("Planes", "Planers", "Pliers"); those are
    `near_misses`, never a ready-to-paste merge. A category id written as a float (`104.0`, from a CSV whose id
    column had gaps) is the id, and ranks below the id's own spelling as the one to suggest.
    """
    groups: dict[tuple[str, ...], list[str]] = {}
    width = _id_width(list(counts))
    for label in counts:
        integral = INTEGRAL_FLOAT.fullmatch(label.strip())
        text = integral[1] if integral else label.strip()
        padded = width and text.isdigit() and len(text) <= width
        groups.setdefault((text.zfill(width),) if padded else path_key(text, separator), []).append(label)
    spellings = _node_spellings(counts, separator)
    return [
        {
            "labels": {label: counts[label] for label in group},
            "suggested": max(group, key=lambda lab: _preferred(lab, counts, spellings, separator)),
        }
        for group in groups.values()
        if len(group) > 1
    ]


def depth_variants(
    counts: dict[str, int], *, separator: str | None, taken: set[str] | frozenset[str] = frozenset()
) -> list[dict[str, Any]]:
    """Groups of labels that name one category at two depths of the tree, as `label_variants` lists groups: a leaf
    written alone ('TVs') beside the one path that ends in it ('Electronics > TVs'), which would train as a department
    of its own, suggesting the path; and a path under an extra top level ('Default Category > Electronics > TVs', as
    Magento exports its root category) beside the same path without it, suggesting the path without it (every
    category then under its own department, whichever way each was written). A leaf that ends several paths
    ('Accessories'), that is a department with categories of its own, or that holds more rows than the path (a
    department 'Books' beside 'Kids > Books') names none of them.
    Labels in `taken` (already in a spelling group) are left to that group.
    """
    if not separator or not separator.strip():
        return []
    by_key: dict[tuple[str, ...], list[str]] = {}
    for label in counts:
        if label not in taken:
            by_key.setdefault(path_key(label, separator), []).append(label)
    ending: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    departments = {key[:1] for key in by_key if len(key) > 1}
    for key in by_key:
        if len(key) > 1:
            ending.setdefault(key[-1:], []).append(key)
    groups: list[dict[str, Any]] = []
    grouped: set[tuple[str, ...]] = set()
    rows = {key: sum(counts[label] for label in labels) for key, labels in by_key.items()}
    for key, labels in by_key.items():
        leaf_of = ending.get(key, []) if len(key) == 1 and key not in departments else []
        if len(leaf_of) == 1 and rows[key] < rows[leaf_of[0]]:
            other: tuple[str, ...] | None = leaf_of[0]
        else:
            other = key[1:] if len(key) > 2 and key[1:] in by_key else None
        if other is None or key in grouped or other in grouped:
            continue
        grouped |= {key, other}
        group = {label: counts[label] for label in labels + by_key[other]}
        groups.append({"labels": group, "suggested": max(by_key[other], key=group.__getitem__)})
    return groups


def _id_width(labels: list[str]) -> int:
    """The width a catalogue pads its category ids to with zeros, when every id written with a leading zero has that
    one width (a text export of fixed-width ids, '0104'); 0 when none has one, or ids of several widths do (codes of
    varying width, where '011' and '11' are two codes)."""
    widths = {len(label.strip()) for label in labels if label.strip().isdigit() and label.strip().startswith("0")}
    return widths.pop() if len(widths) == 1 else 0


def _node_spellings(counts: dict[str, int], separator: str | None) -> dict[tuple[str, ...], tuple[str, ...]]:
    """Each category of the tree (its path folded as `path_key` folds it) and its usual spelling (its levels without
    outer spaces): the one with the most rows under it."""
    rows: dict[tuple[str, ...], dict[tuple[str, ...], int]] = {}
    for label, count in counts.items():
        for key, spelt in _nodes(label, separator):
            found = rows.setdefault(key, {})
            found[spelt] = found.get(spelt, 0) + count
    return {key: max(found, key=found.__getitem__) for key, found in rows.items()}


def _usual_nodes(
    label: str, spellings: dict[tuple[str, ...], tuple[str, ...]], separator: str | None
) -> tuple[bool, ...]:
    """Whether each category of the label's path, from the department down, is spelt as the catalogue mostly spells
    it: compared in that order, a label that spells its department as usual comes first."""
    return tuple(spellings[key] == spelt for key, spelt in _nodes(label, separator))


def _nodes(label: str, separator: str | None) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """The label's path and each category above it: folded (`path_key`) and as the label spells its levels."""
    key = path_key(label, separator)
    levels = [label] if not separator or len(key) == 1 else label.split(separator.strip())
    levels = [level.strip() for level in levels]
    return [(key[:depth], tuple(levels[:depth])) for depth in range(1, len(key) + 1)]


def _preferred(
    label: str, counts: dict[str, int], spellings: dict[tuple[str, ...], tuple[str, ...]], separator: str | None
) -> tuple[Any, ...]:
    """How a spelling ranks as the one to keep (`label_variants`): its categories above the leaf spelt as usual,
    then clean, then not an id written as a float, then its leaf spelt as usual, then the most rows."""
    usual = _usual_nodes(label, spellings, separator)
    as_float = bool(INTEGRAL_FLOAT.fullmatch(label.strip()))
    return (*usual[:-1], _clean(label), not as_float, usual[-1:], counts[label])


def _clean(label: str) -> bool:
    """Whether a spelling has neither spaces at its ends nor characters the model's fold drops (a BOM, a zero-width
    space a CMS left in)."""
    return label == without_dropped(label).strip()


def near_misses(counts: dict[str, int], *, separator: str | None = None) -> list[dict[str, Any]]:
    """Sibling labels (same parent) whose short names look like a typo of each other (`_typo_budget`) and are not
    the same name: possibly a typo, possibly two real categories. Notes, never config."""
    siblings: dict[tuple[str, ...], dict[str, list[str]]] = {}
    for label in counts:
        key = path_key(label, separator)
        siblings.setdefault(key[:-1], {}).setdefault(key[-1], []).append(label)
    found = []
    for names in siblings.values():
        short = sorted((name for name in names if len(name) <= SHORT_LABEL), key=len)
        if len(short) > MAX_SIBLINGS:
            logger.info("near misses not looked for", extra={"siblings": len(short)})
            continue
        for a, b in _close_pairs(short):
            distance = _edit_distance(a, b)
            if distance <= _typo_budget(a, b):
                pair = [*names[a][:1], *names[b][:1]]
                found.append({"labels": {label: counts[label] for label in pair}, "distance": distance})
    return found


def _close_pairs(names: list[str]) -> list[tuple[str, str]]:
    """The pairs of `names` (in their order) that may be within MAX_EDIT_DISTANCE edits and carry the same numbers
    ("Series 7" and "Series 8" are two classes, never a typo).

    Two names within k edits become one string once each loses at most k letters, so only names that share such a
    string are paired: linear in the names, where comparing every pair took minutes for a thousand siblings.
    """
    sharing: dict[tuple[tuple[str, ...], str], list[int]] = {}
    for index, name in enumerate(names):
        numbers = tuple(_DIGITS.findall(name))
        for shorter in _deletions(name, MAX_EDIT_DISTANCE):
            sharing.setdefault((numbers, shorter), []).append(index)
    pairs = {(i, j) for group in sharing.values() for i, j in combinations(group, 2)}
    return [(names[i], names[j]) for i, j in sorted(pairs)]


def _deletions(name: str, limit: int) -> set[str]:
    """`name` with up to `limit` of its letters deleted, each way."""
    found = {name}
    for _ in range(limit):
        found |= {variant[:at] + variant[at + 1 :] for variant in found for at in range(len(variant))}
    return found


def aliases_block(variants: list[dict[str, Any]]) -> str:
    """A `label_aliases` YAML block mapping every suspected variant to its suggested spelling, dumped by PyYAML so
    any label (quotes, brackets, backslashes) pastes back as itself; a label holding a character no one sees (a
    combining accent, a zero-width or no-break space) is written with it escaped (`\\u0301`), or the alias and its
    target would read the same on the screen."""
    aliases = {
        label: variant["suggested"]
        for variant in variants
        for label in variant["labels"]
        if label != variant["suggested"]
    }
    lines = [f"    {_yaml_scalar(label)}: {_yaml_scalar(meant)}" for label, meant in aliases.items()]
    return "\n".join(["data:", "  label_aliases:" + ("" if lines else " {}"), *lines])


def _yaml_scalar(text: str) -> str:
    """One string as a YAML scalar: PyYAML's, or double-quoted with its unseen characters escaped."""
    if not any(_unseen(character) for character in text):
        return yaml.safe_dump(text, allow_unicode=True, width=float("inf")).removesuffix("\n...\n").rstrip("\n")
    escaped = "".join(
        (f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08x}") if _unseen(c) else c.replace("\\", "\\\\")
        for c in text
    )
    return '"' + escaped.replace('"', '\\"') + '"'


def _unseen(character: str) -> bool:
    """Whether a character shows as nothing, or as another does: a mark, a format or control character, a space
    other than the plain one."""
    return character != " " and unicodedata.category(character) in UNSEEN_CATEGORIES


def unset_path_separator(labels: list[str], separator: str | None) -> str | None:
    """The breadcrumb mark most labels hold when no `data.path_separator` is set ('Footwear > Boots' throughout;
    unspaced, 'Appliances/Fridges' as BigCommerce writes paths, or PrestaShop's 'Home,Appliances,Fridges', when the
    first levels recur, as departments do, where names merely holding the character, 'Audio/Video', do not): such
    labels train flat, each a department of its own, without the tree's departments and back-off answers."""
    # A label written as a list has its own note: its commas separate items, not levels.
    labels = [label for label in labels if json_label(label) is None]
    if separator or not labels:
        return None
    shares = {mark: sum(mark in label for label in labels) / len(labels) for mark in BREADCRUMBS}
    mark, share = max(shares.items(), key=lambda item: item[1])
    if share >= BREADCRUMB_SHARE:
        return mark
    listed = several_categories(labels, separator)  # listed categories, not paths: a note would say set it
    for mark in UNSPACED_BREADCRUMBS:
        if any(mark in label for label in listed):
            continue
        marked = [label for label in labels if mark in label]
        departments = {label.split(mark)[0].strip() for label in marked}
        if len(marked) >= BREADCRUMB_SHARE * len(labels) and len(departments) * 2 <= len(marked):
            return mark
    return None


def several_paths(labels: list[str], separator: str | None) -> list[str]:
    """The path labels that are several categories joined by commas, semicolons, bars or line breaks (PATH_JOINERS):
    every part is a path or a department of the catalogue, starting at a department, and one at least is a path
    ('Clothing > Tshirts, Clothing > Hoodies'; WooCommerce's 'Clothing, Clothing > Hoodies'; BigCommerce's 'Shop
    All/TVs;Shop All/Sale'); or one part is another label of the catalogue, a path, and the others are the flat tags
    a shop files listings under besides their category, each a name it joins to two paths at least (WooCommerce's
    'Electronics > Phones, Sale' beside 'Electronics > Phones' and 'Kitchen > Microwaves, Sale'). A comma inside a
    category name ('Home, Garden & Tools > Sheds'; 'Beauty > Bath, Body & Spa' beside 'Beauty > Bath') leaves a part
    that starts nowhere, or a tag no other path has."""
    if not separator:
        return []
    departments = {label.split(separator)[0].strip() for label in labels}
    known = {label.strip() for label in labels}
    several: set[str] = set()
    tagged: dict[str, tuple[str, list[str]]] = {}  # label: its path and its tags
    for label in labels:
        for joiner in (joiner for joiner in PATH_JOINERS if joiner not in separator):
            parts = _parts(label, joiner)
            paths = [part for part in parts if separator in part]
            if len(parts) < 2 or not paths:
                continue
            if all(part.split(separator)[0].strip() in departments for part in parts):
                several.add(label)
                break
            if len(paths) == 1 and paths[0] in known and all(parts):
                tagged[label] = (paths[0], [part for part in parts if part != paths[0]])
                break
    tag_paths: dict[str, set[str]] = {}
    for path, tags in tagged.values():
        for tag in tags:
            tag_paths.setdefault(tag, set()).add(path)
    several |= {label for label, (_, tags) in tagged.items() if all(len(tag_paths[tag]) >= 2 for tag in tags)}
    return [label for label in labels if label in several]


def _parts(label: str, joiner: str) -> list[str]:
    """The label's parts between joiners, a joiner escaped with a backslash (WooCommerce's `\\,` in a name) kept."""
    return [part.strip() for part in re.split(rf"(?<!\\){re.escape(joiner)}", label)]


def escaped_commas(labels: list[str]) -> list[str]:
    """The labels holding a comma escaped with a backslash, as WooCommerce exports a comma inside a category name
    ('Food\\, Beverages & Tobacco'): the model would learn and answer the backslash."""
    return [label for label in labels if ESCAPED_COMMA in label]


def several_categories(labels: list[str], separator: str | None) -> list[str]:
    """The flat labels that list several categories joined by commas, semicolons, bars or line breaks, as a PIM
    exports a product's categories ('master_fridges,promo_summer,print_2024', Akeneo's): every part is a label of the
    catalogue or a part other labels join too, and one part at least is a label of its own ('TVs;Sale' beside 'TVs')
    or stands first in one label and later in another, as listed categories do and a path's levels never do. Each
    combination would train as a class of its own. A name that holds a comma ('Dolls, Playsets & Toy Figures') has a
    part no other label joins; a path written with commas ('Home,Men,Shoes', 'Home,Women,Shoes') keeps each level in
    its place. Path labels: `several_paths`."""
    if separator:
        return []
    known = {label.strip() for label in labels}
    split: dict[str, list[str]] = {}
    for label in labels:
        parts = next((parts for joiner in PATH_JOINERS if len(parts := _parts(label, joiner)) > 1), [])
        if all(parts) and len(parts) > 1:
            split[label] = parts
    joined: dict[str, set[str]] = {}
    places: dict[str, set[bool]] = {}  # whether a part stands first, in the labels it is in
    for label, parts in split.items():
        for place, part in enumerate(parts):
            joined.setdefault(part, set()).add(label)
            places.setdefault(part, set()).add(place == 0)
    return [
        label
        for label, parts in split.items()
        if all(part in known or len(joined[part]) >= 2 for part in parts)
        and any(part in known or len(places[part]) == 2 for part in parts)
    ]


def numbered_labels(labels: list[str]) -> list[str]:
    """The labels that are a bare number (a category's id: Google's taxonomy numbers its categories, and a feed may
    give the id for some listings and the path for others) where other labels name their categories: each id trains
    as a class apart from the category it numbers. Labels that are all ids pass."""
    numbers = [label for label in labels if label.strip().isdigit()]
    named = any(any(character.isalpha() for character in label) for label in labels)
    return numbers if named else []


def id_prefixed_paths(labels: list[str], separator: str | None) -> dict[str, str]:
    """The path labels that start with a category id ('450637 - Clothing > Dresses', as Google's taxonomy file with
    ids writes its lines), each with its path alone: the id joins the department, so each leaf's department is one of
    its own and the tree shares no level between leaves."""
    if not separator:
        return {}
    return {label: ID_PREFIX.sub("", label) for label in labels if separator in label and ID_PREFIX.match(label)}


def repeated_levels(labels: list[str], separator: str | None) -> dict[str, str]:
    """The path labels with a category above the leaf repeated right below itself ('Appliances > Appliances >
    Dishwashers'), each with the path the tree has without the repeat ('Appliances > Dishwashers', a label's or a
    category above one's): the repeat makes a branch of its own, its listings split from the other's. A leaf named as
    its parent ('Cameras > Cameras' beside 'Cameras > Lenses') is a shop's catch-all, and passes."""
    if not separator:
        return {}
    keys = {label: path_key(label, separator) for label in labels}
    nodes = {key[:depth]: label for label, key in keys.items() for depth in range(1, len(key) + 1)}
    found = {}
    for label, key in keys.items():
        last = len(key) - 1
        once = tuple(level for depth, level in enumerate(key) if depth in (0, last) or level != key[depth - 1])
        if once != key and once in nodes:
            found[label] = separator.join(nodes[once].split(separator)[: len(once)])
    return found


def unspaced_separators(labels: list[str], separator: str | None) -> list[str]:
    """The path labels where a level holds the separator without its spaces right after a category the tree knows
    ('Electronics>TVs' where ' > ' separates levels and 'Electronics' is a department): a separator typed without
    its spaces, which makes 'Electronics>TVs' a department of its own. A name that merely holds the character
    ('Audio/Video' where ' / ' separates) follows no category of the tree, and a trailing mark with nothing after it
    ('Home > Fridges >', a level left empty: `empty_level_labels`) wants deleting, not spacing."""
    core = separator.strip() if separator else ""
    if not separator or not core or core == separator:
        return []
    paths = [[level.strip() for level in label.split(separator)] for label in labels]
    nodes = {tuple(path[:depth]) for path in paths for depth in range(1, len(path) + 1)}
    return [
        label
        for label, path in zip(labels, paths, strict=True)
        if any(
            core in level and level.split(core, 1)[1].strip() and (*path[:depth], level.split(core)[0].strip()) in nodes
            for depth, level in enumerate(path)
        )
    ]


def category_variants(labels: list[str], separator: str | None) -> list[list[str]]:
    """The categories above the leaves spelt more than one way ('Electronics' and 'electronics', as `label_key`
    folds them, under the same parent; 'Electronics ' and 'Electronics' where some labels space the separator and
    others do not): each spelling is a branch of the tree of its own."""
    if not separator:
        return []
    spellings: dict[tuple[str, ...], set[str]] = {}
    for label in labels:
        levels = label.split(separator)
        for depth in range(1, len(levels)):
            node = separator.join(levels[:depth])
            spellings.setdefault(path_key(node, separator), set()).add(node)
    return [sorted(group) for group in spellings.values() if len(group) > 1]


def json_label(label: str) -> list[Any] | None:
    """A label written as JSON, as some exports write category paths: a list ('["A >> B"]', '["A", "B"]', a list of
    breadcrumb records) or one record, as a list of its items; also as Python writes them ("['A', 'B']", a list
    column saved by pandas). None for any other label or an empty list."""
    if not (label.startswith(("[", "{")) and label.endswith(("]", "}"))) or len(label) > MAX_LISTED_LABEL:
        return None
    try:
        parsed = json.loads(label)
    except ValueError:
        try:
            parsed = ast.literal_eval(label)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return None
    items = [parsed] if isinstance(parsed, dict) else parsed
    return items if isinstance(items, list) and items else None


def records(items: list[Any]) -> bool:
    """Whether a JSON label's items are records (an export's breadcrumbs, URLs and all)."""
    return all(isinstance(item, dict) for item in items)


def path_key(label: str, separator: str | None) -> tuple[str, ...]:
    """Each level of a label's path folded as `label_key` folds a name:
    'Kitchen > Fridge-Freezers' → ('kitchen', 'fridge freezer')."""
    levels = label.split(separator.strip()) if separator and separator.strip() else [label]
    return tuple(label_key(level) for level in levels)


def label_key(label: str) -> str:
    """HTML escapes a web export left in ('Toys &amp; Games'), Unicode forms (an 'é' typed as 'e' and an accent), the
    invisible code points the model's fold drops (a zero-width space a CMS left in:
    `training.text.without_dropped`), case, whitespace, punctuation and a plural ending folded away, and `&` and
    a spaced `+` read as `and`: 'Fridge-Freezers' → 'fridge freezer', 'Bath & Body' and 'Bath and Body' → 'bath
    and body' (but 'Vehicles & Parts' is not 'Vehicle Parts')."""
    text = without_dropped(unicodedata.normalize("NFKC", unescaped_html(label))).casefold()
    text = text.replace(" + ", " and ").replace("&", " and ")
    return " ".join(_singular(word) for word in _PUNCTUATION.sub(" ", text).split())


def _singular(word: str) -> str:
    """A crude English singular: enough to fold 'machines'/'machine' and 'boxes'/'box'."""
    if len(word) > 4 and word.endswith(("ches", "shes", "sses", "xes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _typo_budget(a: str, b: str) -> int:
    """How many letters apart two names may be and still look like a typo: when they differ in one word, one letter
    (two when that word is longer than ONE_LETTER_WORD); otherwise one letter in all (a missing space)."""
    words_a, words_b = a.split(), b.split()
    differing = [(x, y) for x, y in zip(words_a, words_b, strict=False) if x != y]
    if len(words_a) == len(words_b) and len(differing) == 1:
        x, y = differing[0]
        return 1 if max(len(x), len(y)) <= ONE_LETTER_WORD else MAX_EDIT_DISTANCE
    return 1


def _edit_distance(a: str, b: str) -> int:
    """Levenshtein distance."""
    previous = list(range(len(b) + 1))
    for i, left in enumerate(a, 1):
        current = [i]
        for j, right in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (left != right)))
        previous = current
    return previous[-1]
