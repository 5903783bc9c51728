"""The data-quality report on small hand-made catalogues, each carrying a problem real exports have."""

from __future__ import annotations

import json
import logging
import random
import string
import unicodedata
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from training.cli.check_data import app as check_data_app
from training.columns import LABEL
from training.config import DataConfig, SplitConfig
from training.data.clean import prepare_catalogue
from training.data.label_checks import (
    aliases_block,
    depth_variants,
    label_variants,
    near_misses,
    placeholder_labels,
)
from training.data.long_tail import GOOGLE_SHAPE, TAXONOMY_PLACES, generate_shaped_paths, read_taxonomy_file
from training.data.report import build_report, log_report, summary_text
from training.data.taxonomy import PATH_SEPARATOR, generate_taxonomy_catalogue
from training.exceptions import ConfigError, DataValidationError

CONFIG = DataConfig(
    columns={"title": "title", "seller_id": "seller_id", "price": "price"},
    target="category",
    text="title",
    hashed=("seller_id",),
    numeric=("price",),
)


def _frame(rows: int = 40, **overrides) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "title": [f"product {i} {'tv' if i % 2 else 'phone'}" for i in range(rows)],
            "seller_id": [f"s{i % 7}" for i in range(rows)],
            "price": [str(round(float(p), 2)) for p in rng.uniform(10, 900, rows)],
            "category": ["TVs" if i % 2 else "Mobile Phones" for i in range(rows)],
        }
    )
    for column, values in overrides.items():
        frame[column] = values
    return frame


def test_a_clean_catalogue_has_no_problems():
    report = build_report(_frame(), CONFIG, source="clean.csv")

    assert report.problems == []
    assert report.rows_in == report.rows_out == 40
    assert report.class_counts == {"TVs": 20, "Mobile Phones": 20}


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (["Dishwashers", "dishwasher"], {"Dishwashers", "dishwasher"}),
        (["Washing Machine", "Washing Machines"], {"Washing Machine", "Washing Machines"}),
        (["Fridge-Freezers", "Fridge Freezers"], {"Fridge-Freezers", "Fridge Freezers"}),
        (["TVs", "  TVs "], {"  TVs ", "TVs"}),
        (
            ["Bowls, Feeders & Waterers", "bowls feeders and waterers"],
            {"Bowls, Feeders & Waterers", "bowls feeders and waterers"},
        ),
        (["Pets > Cat Food", "pets>cat foods"], {"Pets > Cat Food", "pets>cat foods"}),
        # the same letters in two Unicode forms: 'é' as one code point (NFC) and as 'e' plus an accent (NFD)
        (["Télévisions", "Te\u0301le\u0301visions"], {"Télévisions", "Te\u0301le\u0301visions"}),
        # a zero-width space or joiner a CMS left in: invisible, yet another class to training
        (["Electronics > Audio", "Electronics\u200b > Audio"], {"Electronics > Audio", "Electronics\u200b > Audio"}),
        (["Audio", "Au\u200ddio\ufeff"], {"Audio", "Au\u200ddio\ufeff"}),
        # an HTML escape a web shop's export left in
        (["Toys & Games", "Toys &amp; Games"], {"Toys & Games", "Toys &amp; Games"}),
        (["Toys & Games", "Toys &amp;amp; Games"], {"Toys & Games", "Toys &amp;amp; Games"}),
        (["Bath & Body", "Bath and Body"], {"Bath & Body", "Bath and Body"}),
        (["Bath & Body", "Bath + Body"], {"Bath & Body", "Bath + Body"}),
        # `&` before a word is no escape, however HTML would read `&not` or `&micro`
        (["Laptops & Notebooks", "Laptops&notebooks"], {"Laptops & Notebooks", "Laptops&notebooks"}),
        (["Ovens & Microwaves", "Ovens&microwaves"], {"Ovens & Microwaves", "Ovens&microwaves"}),
    ],
)
def test_label_variants_are_suspected(labels, expected):
    counts = {labels[0]: 100, labels[1]: 3}

    (variant,) = label_variants(counts, separator=" > ")

    assert set(variant["labels"]) == expected
    assert variant["suggested"] == labels[0]


@pytest.mark.parametrize("other", ["Electronics>Audio>Headphones", "Electronics » Audio » Headphones"])
def test_flat_labels_that_differ_in_how_a_breadcrumb_is_spaced_or_marked_are_variants(other):
    # GIVEN a feed without data.path_separator whose category is a breadcrumb written two ways
    (variant,) = label_variants({"Electronics > Audio > Headphones": 100, other: 3})

    assert variant["suggested"] == "Electronics > Audio > Headphones"


def test_the_suggested_aliases_leave_one_spelling_of_each_department():
    # GIVEN a department spelt two ways, each leaf more often one way or the other
    counts = {"Footwear > Boots": 10, "footwear > Boots": 20, "Footwear > Sandals": 30, "footwear > Sandals": 5}

    suggested = {variant["suggested"] for variant in label_variants(counts, separator=" > ")}

    # THEN every suggestion spells it as the catalogue mostly does (40 rows against 25), not as each leaf does
    assert suggested == {"Footwear > Boots", "Footwear > Sandals"}


def test_the_suggested_spelling_has_no_spaces_at_its_ends_even_when_rarer():
    # GIVEN an export whose commonest spelling of a class carries a trailing space
    (variant,) = label_variants({"Laptops ": 100, "Laptops": 3})

    # THEN the merge goes to the trimmed spelling, which the API would answer as it is
    assert variant["suggested"] == "Laptops"


def test_a_separator_spaced_in_some_labels_and_not_in_others_is_a_problem():
    # GIVEN path labels split by ">" where some exports space it and others do not
    labels = ["Electronics > TVs", "Electronics>Phones", "Electronics>Cameras", "Home > Fridges"]
    config = _with_paths(CONFIG, ">")

    report = build_report(_frame(len(labels) * 5, category=labels * 5), config, source="spacing.csv")

    # THEN the department spelt 'Electronics ' and 'Electronics' is named: two branches of the tree
    assert report.category_variants == [["Electronics", "Electronics "]]
    assert any("spelt more than one way" in problem for problem in report.problems)


def test_distinct_classes_are_not_taken_for_variants():
    real = ["Fridges", "Freezers", "Fridge Freezers", "TVs", "CPUs", "Mobile Phones", "Microwaves", "Dishwashers"]
    # Amazon's: an `&` is a word of the name, not punctuation to drop
    real += ["Remote & App Controlled Vehicle Parts", "Remote & App Controlled Vehicles & Parts"]

    assert label_variants(dict.fromkeys(real, 10)) == []
    assert near_misses(dict.fromkeys(real, 10)) == []


@pytest.mark.parametrize(
    ("typo", "real"),
    [
        ("Microwave ovns", "Microwave ovens"),
        ("Fridge Freezrs", "Fridge Freezers"),
        ("FridgeFreezers", "Fridge Freezers"),
    ],
)
def test_typos_are_near_misses_a_note_never_a_paste_ready_merge(typo, real):
    counts = {real: 100, typo: 3}

    assert label_variants(counts) == []
    (miss,) = near_misses(counts)
    assert set(miss["labels"]) == {real, typo}


def test_typos_are_found_among_a_thousand_sibling_categories():
    # GIVEN a flat taxonomy of 1,000 categories with three typos planted, and two names that differ in a number
    rng = random.Random(7)
    names = {"Category " + "".join(rng.choice(string.ascii_lowercase) for _ in range(10)) for _ in range(1_000)}
    real = sorted(names)[:3]
    swapped = real[1][:-2] + real[1][-1] + real[1][-2]
    typos = {real[0]: real[0][:-1], real[1]: swapped, real[2]: real[2][:12] + "x" + real[2][12:]}
    counts = dict.fromkeys([*names, *typos.values(), "Series 7 Accessories", "Series 8 Accessories"], 5)

    found = near_misses(counts)

    # THEN exactly the planted pairs are near misses (the classes differing in a number are two classes)
    assert sorted(sorted(miss["labels"]) for miss in found) == sorted(sorted(pair) for pair in typos.items())


def test_sibling_categories_a_letter_apart_are_never_suggested_for_a_merge():
    # GIVEN real sibling categories of a public taxonomy that differ by a letter or two, and the same names in
    # different branches
    names = ["Hardware > Tools > Planes", "Hardware > Tools > Planers", "Hardware > Tools > Pliers",
             "Pets > Cat Supplies > Cat Food", "Pets > Cat Supplies > Cat Food > Prescription Cat Food",
             "Pets > Cat Supplies > Cat Treats", "Pets > Dog Supplies > Dog Food", "Electronics > Accessories",
             "Home > Accessories", "Electronics > Memory > RAM", "Electronics > Memory > ROM"]  # fmt: skip

    report = build_report(_frame(len(names) * 5, category=names * 5), _with_paths(CONFIG), source="taxonomy.csv")

    # THEN nothing is paste-ready config; the near misses are notes among siblings only
    assert report.label_variants == []
    # whole or as a path's leaf, whatever separates the levels; a real name that merely sounds empty is kept
    found = placeholder_labels({"N/A": 3, "Food/Unknown": 2, "Other": 9, "None of the above": 1}, separator="/")
    assert found == {"N/A": 3, "Food/Unknown": 2}
    # a spreadsheet's error values and a shop's default category in other languages are no category either
    written = {"#REF!": 2, "#WERT!": 1, "#NV": 1, "Unkategorisiert": 4, "Non classé": 2, "未分類": 3, "Toys": 9}
    assert placeholder_labels(written, separator=None) == {name: n for name, n in written.items() if name != "Toys"}
    assert "suggested config (" not in summary_text(report)
    pairs = [set(miss["labels"]) for miss in report.near_misses]
    assert {"Hardware > Tools > Planes", "Hardware > Tools > Planers"} in pairs
    assert {"Electronics > Memory > RAM", "Electronics > Memory > ROM"} in pairs
    assert not any("Home > Accessories" in pair for pair in pairs)
    assert not any(problem.startswith("label variants") for problem in report.problems)


def test_no_merge_is_suggested_for_a_taxonomy_of_the_google_taxonomys_shape():
    # GIVEN the names of a generated taxonomy shaped like Google's (siblings sharing words, near spellings)
    paths = generate_shaped_paths(GOOGLE_SHAPE, seed=0)

    assert label_variants(dict.fromkeys(paths, 10), separator=PATH_SEPARATOR) == []


def test_the_real_google_taxonomy_gets_no_merge_suggestion():
    path = TAXONOMY_PLACES[0]
    if not path.exists():
        pytest.skip(f"{path} not found: download Google's taxonomy-with-ids.en-US.txt there (data/README.md)")
    paths = read_taxonomy_file(path)

    assert len(paths) > 5_000
    assert label_variants(dict.fromkeys(paths, 10), separator=PATH_SEPARATOR) == []
    assert depth_variants(dict.fromkeys(paths, 10), separator=PATH_SEPARATOR) == []


def test_a_taxonomy_file_is_read_as_paths_and_a_file_of_other_lines_is_refused(tmp_path):
    taxonomy = tmp_path / "taxonomy.txt"
    taxonomy.write_text("# Google_Product_Taxonomy_Version: 2021-09-21\n1 - Animals\n3237 - Animals > Live Animals\n")
    config = tmp_path / "config.yaml"
    config.write_text('name: shop\ndata:\n  columns: {title: Title}\n  target: Category\n  path_separator: " > "\n')

    assert read_taxonomy_file(taxonomy) == ["Animals", "Animals > Live Animals"]
    with pytest.raises(DataValidationError, match="is no taxonomy: only 1 of its 5 lines are category paths"):
        read_taxonomy_file(config)


def test_the_suggested_spelling_is_a_clean_one_where_the_group_has_one():
    # GIVEN variants whose most frequent spelling carries a BOM, a zero-width space or a leading space
    counts = {"\ufeffBags": 20, "Bags": 5, "Hats\u200b": 9, "hats": 3, " Shoes": 20, "shoes": 5}

    suggested = {variant["suggested"] for variant in label_variants(counts)}

    # THEN the alias names a spelling the API can answer as it is
    assert suggested == {"Bags", "hats", "shoes"}
    # AND never at the cost of a second spelling of a department
    paths = {"Electronics > TVs ": 100, "electronics > TVs": 10, "Electronics > Phones": 50}
    assert [variant["suggested"] for variant in label_variants(paths, separator=" > ")] == ["Electronics > TVs "]


def test_a_category_written_at_another_depth_of_the_tree_is_a_variant_with_the_path_suggested():
    # GIVEN path labels, some leaves written alone and some paths under the shop's root category (Magento's)
    paths = replace(CONFIG, path_separator=" > ")
    labels = (
        ["Electronics > TVs"] * 12 + ["TVs"] * 3 + ["Home > Fridges"] * 10 + ["Default Category > Home > Fridges"] * 5
    )
    labels += ["Home > Accessories"] * 5 + ["Car > Accessories"] * 3 + ["Accessories"] * 2
    labels += ["Home > Garden"] * 3 + ["Garden"] * 3 + ["Garden > Tools"] * 3  # a department, and a class of its own
    labels += ["Books"] * 6 + ["Kids > Books"] * 2  # a department of its own, larger than the path ending in it
    frame = _frame(len(labels), category=labels)

    report = build_report(frame, paths, source="x")

    # THEN each is a variant of the path, which the suggested aliases map it to; a leaf ending several paths is none
    aliases = yaml.safe_load(aliases_block(report.label_variants))["data"]["label_aliases"]
    assert aliases == {"TVs": "Electronics > TVs", "Default Category > Home > Fridges": "Home > Fridges"}
    prepared = prepare_catalogue(frame, replace(paths, label_aliases=aliases))
    assert set(prepared[LABEL]) == {"Electronics > TVs", "Home > Fridges", "Home > Accessories", "Car > Accessories",
                                    "Accessories", "Home > Garden", "Garden", "Garden > Tools", "Books",
                                    "Kids > Books"}  # fmt: skip


def test_an_alias_that_differs_by_a_character_no_one_sees_is_written_escaped():
    # GIVEN spellings of one category that differ by a combining accent and a no-break space
    decomposed = unicodedata.normalize("NFD", "Réfrigérateurs")
    variants = [
        {"labels": {decomposed: 3, "Réfrigérateurs": 10}, "suggested": "Réfrigérateurs"},
        {"labels": {"Fridge\u00a0Freezers": 2, "Fridge Freezers": 9}, "suggested": "Fridge Freezers"},
    ]

    block = aliases_block(variants)

    # THEN the block shows where they differ, and pastes back as the labels themselves
    assert '"Re\\u0301frige\\u0301rateurs": Réfrigérateurs' in block
    assert '"Fridge\\u00a0Freezers": Fridge Freezers' in block
    assert yaml.safe_load(block)["data"]["label_aliases"] == {
        decomposed: "Réfrigérateurs", "Fridge\u00a0Freezers": "Fridge Freezers"
    }  # fmt: skip


def test_suggested_aliases_paste_into_a_config_and_apply():
    frame = _frame(category=["Dishwashers"] * 30 + ["dishwasher"] * 10)
    report = build_report(frame, CONFIG, source="x")
    block = aliases_block(report.label_variants)

    assert block == "data:\n  label_aliases:\n    dishwasher: Dishwashers"
    aliased = DataConfig(**{**CONFIG.__dict__, "label_aliases": {"dishwasher": "Dishwashers"}})
    prepared = prepare_catalogue(
        frame.assign(category=["Dishwashers"] * 20 + ["dishwasher"] * 10 + ["TVs"] * 10), aliased
    )
    assert set(prepared[LABEL]) == {"Dishwashers", "TVs"}
    assert "suggested config (merge into the config's data: section" in summary_text(report)


@pytest.mark.parametrize(
    "label",
    [
        '["Watches >> Wrist Watches"]',
        'D\'Signer: "Pro" #1',
        "back\\slash & {braces}",
        " Küche – Töpfe ",
        "- yes",
        "null",
    ],
)
def test_suggested_aliases_are_valid_yaml_for_any_label(label):
    variants = [{"labels": {label: 3, label.upper(): 9}, "suggested": label.upper()}]

    parsed = yaml.safe_load(aliases_block(variants))

    assert parsed == {"data": {"label_aliases": {label: label.upper()}}}


def test_hashed_values_with_spaces_at_their_ends_are_a_problem():
    # GIVEN a BigBasket export whose brand-like seller ids carry a trailing space on some rows
    sellers = [f"s{i % 7}" + (" " if i % 5 == 0 else "") for i in range(40)]

    report = build_report(_frame(seller_id=sellers), CONFIG, source="bigbasket.csv")

    [problem] = [problem for problem in report.problems if "spaces at their ends" in problem]
    assert problem.startswith("column 'seller_id': 8 values have spaces at their ends, e.g. 's0 ', 's5 ', 's3 '")
    assert not any("spaces at their ends" in p for p in build_report(_frame(), CONFIG, source="x").problems)


def test_labels_written_as_json_lists_are_pointed_out():
    listed = ['["Electronics >> TVs"]' if i % 2 else "[Mobile Phones]" for i in range(40)]

    report = build_report(_frame(category=listed), CONFIG, source="export.csv")

    [note] = [note for note in report.notes if "written as a list" in note]
    assert note.startswith("1 of 2 labels are written as a list")
    assert "write 'Electronics >> TVs' in the file" in note
    assert not any("written as a list" in note for note in build_report(_frame(), CONFIG, source="x").notes)


def test_category_paths_written_as_json_lists_are_a_problem_once_labels_are_split_as_paths():
    # GIVEN Flipkart's product_category_tree: each path a one-item JSON list, its levels joined by " >> "
    listed = ['["Jewellery >> Rings"]' if i % 2 else '["Watches >> Wrist Watches"]' for i in range(40)]

    as_paths = build_report(_frame(category=listed), _with_paths(CONFIG, " >> "), source="flipkart.csv")
    flat = build_report(_frame(category=listed), CONFIG, source="flipkart.csv")

    # THEN split as paths, the brackets would become the department's and the leaf's: a problem saying what to write
    [problem] = [problem for problem in as_paths.problems if "category paths written as a list" in problem]
    assert problem.startswith("2 labels are category paths written as a list")
    assert "'[\"Jewellery' … 'Rings\"]'" in problem or "'[\"Watches' … 'Wrist Watches\"]'" in problem
    assert (
        "write 'Jewellery >> Rings' in the file" in problem or "write 'Watches >> Wrist Watches' in the file" in problem
    )
    # learnt as flat labels, they stay a note
    assert not any("category paths written as a list" in problem for problem in flat.problems)


def test_labels_written_as_json_lists_of_levels_are_pointed_out_as_paths():
    # GIVEN a Shopee export: each category a JSON list of its levels, some levels with commas of their own
    listed = ['["Audio", "Earphones, Headphones & Headsets"]' if i % 2 else '["Home", "Lighting"]' for i in range(40)]

    report = build_report(_frame(category=listed), CONFIG, source="export.csv")

    [note] = [note for note in report.notes if "written as a list" in note]
    assert "2 of 2 labels are written as a list" in note
    assert "write its levels as one path, 'Home > Lighting' and set data.path_separator to it" in note
    paths = build_report(_frame(category=listed), _with_paths(CONFIG), source="export.csv")
    assert any("one path, 'Home > Lighting'" in n and "set data.path_separator" not in n for n in paths.notes)
    several = build_report(_frame(category=['["A > B", "C > D"]'] * 40), _with_paths(CONFIG), source="x").notes
    assert any("it holds several category paths (['A > B', 'C > D']): keep one per listing" in n for n in several)
    # the same lists as pandas saves a list column, in Python's notation ("['Home', 'Lighting']")
    python = build_report(_frame(category=[str(json.loads(label)) for label in listed]), CONFIG, source="x").notes
    assert any("2 of 2 labels are written as a list" in n and "one path, 'Home > Lighting'" in n for n in python)


def test_labels_written_as_lists_are_never_told_to_split_at_their_commas():
    # GIVEN Amazon's `category`, each a list of levels, the commas between them no path separator
    listed = [str(["Clothing", "Women's Clothing", leaf]) for leaf in ("Dresses", "Tops, Tees & Blouses")] * 20

    report = build_report(_frame(category=listed), CONFIG, source="meta.csv")

    assert not any("data.path_separator: ','" in note for note in report.notes)
    assert any("2 of 2 labels are written as a list" in note for note in report.notes)


def test_labels_written_as_lists_of_paths_are_pointed_out_and_several_paths_are_a_problem():
    # GIVEN Amazon's 2014 `categories`: a Python list of paths, each a list of levels, some listings under two
    one = str([["Clothing", "Women", "Dresses"]])
    two = str([["Clothing", "Men", "Jackets"], ["Clothing", "Men"]])

    alone = build_report(_frame(category=[one] * 40), CONFIG, source="meta.csv")
    joined = build_report(_frame(category=[one, two] * 20), CONFIG, source="meta.csv")

    assert any("1 of 1 labels are written as lists of category paths" in note for note in alone.notes)
    [problem] = [problem for problem in joined.problems if "lists of category paths" in problem]
    assert "each combination of paths trains as a class of its own" in problem
    assert "one path ('Clothing > Men > Jackets' and data.path_separator set to its separator)" in problem
    assert not any("data.path_separator: ','" in note for note in joined.notes)


def test_titles_holding_html_tags_are_noted_and_angle_brackets_in_words_are_not():
    titles = ["<strong>Sale</strong> Acme TV", "Acme mug<br/>", 'Acme <span class="x">kettle</span>'] * 10
    plain = ["I <3 my Acme TV", "Acme cable 3 > 2 m", "Acme USB cable <Type C> 1m"] * 10

    report = build_report(_frame(title=titles + plain[:10]), CONFIG, source="web.csv")

    assert report.html_tagged_titles["rows"] == 30
    assert any("30 titles hold HTML tags" in note and "strip the tags" in note for note in report.notes)
    assert build_report(_frame(title=plain + plain[:10]), CONFIG, source="x").html_tagged_titles == {}


def test_an_empty_list_for_a_label_is_a_missing_value_written_out():
    report = build_report(_frame(category=["[]", "[[]]", "TVs", "Fridges"] * 10), CONFIG, source="meta.csv")

    assert report.placeholder_labels == {"[]": 10, "[[]]": 10}
    assert not any("lists of category paths" in line for line in [*report.notes, *report.problems])


def test_titles_holding_html_escapes_are_noted_and_a_bare_ampersand_is_not():
    titles = ["Tom &amp; Jerry mug", "caf&eacute; press", "Salt & pepper mill", "Ovens&microwaves set"] * 10

    report = build_report(_frame(title=titles), CONFIG, source="web.csv")

    assert report.html_escaped_titles["rows"] == 20
    assert any("20 titles hold HTML escapes" in note and "html.unescape" in note for note in report.notes)
    assert build_report(_frame(), CONFIG, source="x").html_escaped_titles == {}


def test_an_empty_input_column_is_called_empty():
    report = build_report(_frame(seller_id=[None] * 40), CONFIG, source="x")

    assert "column 'seller_id' is empty" in report.problems
    assert not any("near-constant" in problem for problem in report.problems)


def test_labels_written_as_json_objects_are_pointed_out():
    # GIVEN an Amazon scrape whose breadcrumbs are JSON records, URLs and all
    crumbs = '[{"name": "Pet Supplies", "url": "https://x/1"}, {"name": "Birds", "url": "https://x/2"}]'

    report = build_report(_frame(category=[crumbs, '{"name": "Pet Supplies"}'] * 20), CONFIG, source="x")

    assert any("2 of 2 labels are JSON objects" in note for note in report.notes)
    assert not any("JSON objects" in note for note in build_report(_frame(), CONFIG, source="x").notes)


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        # a shop export that files some listings under two categories in one cell (WooCommerce, Magento) (commas), or
        # joins them with a semicolon (BigCommerce), a bar or a line break; a comma inside a name is no joiner
        (
            [
                "Clothing > Tshirts", "Clothing > Hoodies, Clothing > Sale", "Clothing, Clothing > Caps",
                "Home, Garden & Tools > Sheds, Huts > Tall", "Clothing > Socks;Clothing > Sale",
                "Clothing > Hats|Clothing", "Clothing > Tops\nClothing > Sale",
            ],
            "5 labels hold several category paths, joined (e.g. 'Clothing > Hoodies, Clothing > Sale')",
        ),
        # WooCommerce's category and a tag such as "Sale" in one cell, beside leaf names that hold commas
        (
            [
                "Electronics > Phones", "Electronics > Phones, Sale", "Kitchen > Microwaves",
                "Kitchen > Microwaves, Sale, New", "Electronics > Phones, New", "Toys > Dolls, Playsets & Toy Figures",
                "Beauty > Bath", "Beauty > Bath, Body & Spa",
            ],
            "3 labels hold several category paths, joined (e.g. 'Electronics > Phones, Sale')",
        ),
        # WooCommerce escapes a comma inside a name with a backslash: the joining comma is the other one
        (
            [
                "Food\\, Drink > Coffee", "Food\\, Drink > Coffee, Food\\, Drink", "Home > Sheds",
                "Home > Sheds, Home",
            ],
            "2 labels hold several category paths, joined (e.g. 'Food\\\\, Drink > Coffee, Food\\\\, Drink')",
        ),
    ],
    ids=["several paths", "a path and tags", "escaped commas"],
)  # fmt: skip
def test_a_cell_of_several_categories_is_a_problem_and_a_comma_in_a_name_is_not(labels, expected):
    rows = [labels[i % len(labels)] for i in range(10 * len(labels))]

    report = build_report(_frame(len(rows), category=rows), _with_paths(CONFIG), source="x")

    several = [problem for problem in report.problems if "several category paths" in problem]
    assert len(several) == 1
    assert several[0].startswith(expected)


def test_labels_holding_a_comma_escaped_with_a_backslash_are_a_problem():
    labels = ["Food\\, Drink > Coffee", "Home > Sheds"] * 20

    report = build_report(_frame(category=labels), _with_paths(CONFIG), source="woo.csv")

    assert any(
        p.startswith("1 labels hold a comma escaped with a backslash (e.g. 'Food\\\\, Drink > Coffee')")
        for p in report.problems
    )


def test_path_labels_with_an_empty_level_or_without_the_separator_are_problems():
    paths = _with_paths(CONFIG)
    broken = ["Home > Cooling > Fridges" if i % 2 else "Home >  > TVs" for i in range(40)]

    report = build_report(_frame(category=broken), paths, source="x")

    assert report.empty_level_labels == ["Home >  > TVs"]
    assert any("1 labels have an empty level between path separators" in p for p in report.problems)
    with pytest.raises(DataValidationError, match="category 'Home >  > TVs' has an empty level"):
        prepare_catalogue(_frame(category=broken), paths, source="x")
    other = build_report(_frame(category=[label.replace(" > ", " >> ") for label in broken]), paths, source="x")
    assert any(
        "no label contains data.path_separator" in problem
        and problem.endswith("the labels use ' >> ': set data.path_separator to it")
        for problem in other.problems
    )
    assert not any("path_separator" in problem for problem in build_report(_frame(), CONFIG, source="x").problems)


@pytest.mark.parametrize("label", ["Home > Fridges >", "> Home > Fridges", "Home > > Fridges"])
def test_a_separator_with_its_outer_spaces_trimmed_still_leaves_an_empty_level(label):
    # GIVEN a path label whose trailing or doubled separator lost a space (a spreadsheet trims its cells)
    labels = ["Home > Fridges" if i % 2 else label for i in range(40)]

    # THEN it is refused as an empty level, not trained as a category named "Fridges >", and no more is asked of it
    # (spacing a trailing mark would not mend it)
    report = build_report(_frame(category=labels), _with_paths(CONFIG), source="x")
    assert report.empty_level_labels == [label]
    assert report.unspaced_separators == []
    with pytest.raises(DataValidationError, match="has an empty level"):
        prepare_catalogue(_frame(category=labels), _with_paths(CONFIG), source="x")


def test_path_labels_that_would_grow_a_second_branch_for_one_category_are_problems():
    # GIVEN paths whose separator lost its spaces after a department, and a department in another case
    labels = ["Electronics > Phones", "Electronics>TVs", "electronics > Laptops", "Home > Kitchen > Ovens",
              "Home > Kitchen>Fridges", "Audio/Video > Cables"]  # fmt: skip

    report = build_report(_frame(60, category=[labels[i % 6] for i in range(60)]), _with_paths(CONFIG), source="x")

    # THEN both are named, and a name that merely holds the character ('Audio/Video' under ' / ') is not
    assert report.unspaced_separators == ["Electronics>TVs", "Home > Kitchen>Fridges"]
    assert report.category_variants == [["Electronics", "electronics"]]
    assert any("2 labels hold '>' without the spaces of data.path_separator" in p for p in report.problems)
    assert any("1 categories of the tree are spelt more than one way ('Electronics' / 'electronics')" in p
               for p in report.problems)  # fmt: skip
    assert not any("accents encoded two ways" in p for p in report.problems)
    # AND a department whose accent one export wrote as a letter and a combining mark is said to be so
    accents = ["Cafe\u0301 > Cups", "Caf\u00e9 > Glasses", "Home > Pots", "Home > Pans"]
    encoded = build_report(_frame(60, category=[accents[i % 4] for i in range(60)]), _with_paths(CONFIG), source="x")
    assert any("their accents encoded two ways: save the file's text as NFC" in p for p in encoded.problems)
    slashes = _with_paths(CONFIG, " / ")
    named = build_report(_frame(category=["Audio/Video / Cables", "Home / Fans"] * 20), slashes, source="x")
    assert named.unspaced_separators == []


def test_a_catalogue_training_could_hold_no_product_out_of_is_refused_as_training_refuses_it():
    # GIVEN a catalogue whose every class has fewer products than split.min_class_products
    frame = _frame(40, product_id=[f"p{i}" for i in range(40)])
    config = replace(CONFIG, group="product_id")

    report = build_report(frame, config, source="x", split=SplitConfig(min_class_products=30))

    # THEN the report refuses it in training's own words, and with room to hold products out it does not
    assert any(r.startswith("the validation split is empty: every class has fewer") for r in report.refusals)
    assert build_report(frame, config, source="x", split=SplitConfig(min_class_products=5)).refusals == []


@pytest.mark.parametrize("last_category", ["TVs", ""])  # "": the merged row lost its label, its listings too
def test_a_title_running_over_several_lines_is_a_problem(tmp_path, last_category):
    # GIVEN a CSV export whose one unclosed quote runs the listings after it into one title
    path = tmp_path / "export.csv"
    rows = [f"product {i},s{i},{i}0,{'TVs' if i % 2 else 'Mobile Phones'}" for i in range(40)]
    rows[10] = '"acme 55 tv,s10,100,TVs'
    path.write_text("title,seller_id,price,category\n" + "\n".join(rows) + f'\nlast one",s1,5,{last_category}\n')

    report = build_report(pd.read_csv(path, dtype=str), CONFIG, source=str(path))

    # THEN it is a problem (data.strict fails on it) counting the lines read into the title, never a quiet note
    assert (report.multiline_titles["rows"], report.multiline_titles["lines"]) == (1, 30)
    assert any(
        "1 titles span several lines (30 line breaks in all)" in problem
        and "a quote in the file is not closed" in problem
        for problem in report.problems
    )
    assert build_report(_frame(), CONFIG, source="x").multiline_titles == {}


def test_a_two_column_titles_comma_after_a_line_break_is_no_merged_record():
    frame = pd.DataFrame({"title": ["red shirt\nsize M, cotton"] * 20 + ["tv"] * 20, "category": ["Tops", "TVs"] * 20})

    report = build_report(frame, replace(CONFIG, columns={"title": "title"}, hashed=(), numeric=()), source="x")

    assert report.multiline_titles["records"] == 0


def test_a_title_written_over_two_lines_in_a_closed_quote_is_a_note_not_a_problem(tmp_path):
    # GIVEN a CSV export whose titles (a comma among their words) are quoted and written over two lines
    path = tmp_path / "export.csv"
    rows = [f'"product {i}, black\nwith remote",s{i},{i}0,{"TVs" if i % 2 else "Mobile Phones"}' for i in range(40)]
    path.write_text("title,seller_id,price,category\n" + "\n".join(rows) + "\n")

    report = build_report(pd.read_csv(path, dtype=str), CONFIG, source=str(path))

    # THEN every listing is read, and the line breaks are a note that data.strict does not fail on
    assert report.rows_out == 40
    assert not any("span several lines" in problem for problem in report.problems)
    assert any("40 titles span several lines" in note and "no quote left open" in note for note in report.notes)


def test_an_alias_to_an_unknown_label_is_a_config_error():
    aliased = DataConfig(**{**CONFIG.__dict__, "label_aliases": {"tv": "Televisions"}})

    with pytest.raises(ConfigError, match="label_aliases maps to 'Televisions', which is not a label in the data"):
        prepare_catalogue(_frame(), aliased)
    assert any("maps to 'Televisions'" in refusal for refusal in build_report(_frame(), aliased, source="x").refusals)


def test_what_training_refuses_by_its_own_rules_the_report_refuses_too():
    one_class = build_report(_frame(category="TVs"), CONFIG, source="one.csv")
    renamed = build_report(_frame().rename(columns={"title": "Title"}), CONFIG, source="renamed.csv")

    assert one_class.refusals == [
        "one.csv: the target has 1 class(es) after cleaning and split.small_classes; at least 2 are needed"
    ]
    assert renamed.refusals == [
        "config column 'title' matches file column 'Title' only up to whitespace/case: use 'Title'"
    ]


def test_conflicting_labels_for_identical_titles():
    frame = _frame()
    frame.loc[0, "title"] = "Bosch KUR15 Fridge"
    frame.loc[1, "title"] = "bosch  kur15 fridge"  # same title once lower-cased and whitespace-folded

    report = build_report(frame, CONFIG, source="x")

    assert report.conflicting_titles["titles"] == 1
    assert report.conflicting_titles["rows"] == 2


def test_label_noise_is_counted_over_the_rows_that_train_and_quoted_short():
    # GIVEN two identical titles of different labels too long to train on, and two short ones of 300 characters
    frame = _frame()
    frame.loc[[0, 1], "title"] = "x" * 2_500
    frame.loc[[2, 3], "title"] = "y" * 300
    config = DataConfig(**{**CONFIG.__dict__, "max_text_length": 2_000})

    report = build_report(frame, config, source="x")

    # THEN only the pair that trains is noise in the training data, and its title is quoted cut
    assert (report.conflicting_titles["titles"], report.conflicting_titles["rows"]) == (1, 2)
    assert [len(title) for title in report.conflicting_titles["examples"]] == [121]


@pytest.mark.parametrize("mark", [" > ", " >> ", " | "])
def test_path_labels_without_a_path_separator_are_pointed_out(mark):
    labels = [f"Electronics{mark}TVs", f"Electronics{mark}Audio{mark}Headphones", f"Home{mark}Fridges", "Gift Cards"]

    notes = build_report(_frame(40, category=[labels[i % 4] for i in range(40)]), CONFIG, source="x").notes
    with_separator = build_report(
        _frame(40, category=[labels[i % 4] for i in range(40)]), _with_paths(CONFIG, mark), source="x"
    )

    assert any(f"joined by {mark!r}" in note and f"set data.path_separator: {mark!r}" in note for note in notes)
    assert not any("no data.path_separator is set" in note for note in with_separator.notes)
    assert not any("no data.path_separator is set" in note for note in build_report(_frame(), CONFIG, source="x").notes)


@pytest.mark.parametrize(
    ("labels", "mark"),
    [
        # BigCommerce's paths, and PrestaShop's: their first levels recur, as departments do
        (["Appliances/Fridges", "Appliances/Freezers", "Appliances/Ovens", "TV/Sets", "TV/Mounts", "Gifts"], "/"),
        (["Home,Appliances,Fridges", "Home,Appliances,Ovens", "Home,Garden,Sheds", "Toys,Dolls"], ","),
        # names that merely hold the character: every first part differs
        (["Audio/Video", "CD/DVD", "Fridges", "TVs/Monitors"], None),
    ],
)
def test_unspaced_path_labels_without_a_path_separator_are_pointed_out(labels, mark):
    frame = _frame(40 * len(labels), category=[labels[i % len(labels)] for i in range(40 * len(labels))])

    notes = [note for note in build_report(frame, CONFIG, source="x").notes if "no data.path_separator is set" in note]

    assert [f"set data.path_separator: {mark!r}" in note for note in notes] == ([True] if mark else [])


def _with_paths(config: DataConfig, separator: str = PATH_SEPARATOR) -> DataConfig:
    return DataConfig(**{**config.__dict__, "path_separator": separator})


def test_path_labels_ending_in_their_listings_own_title_are_a_problem():
    # GIVEN Flipkart's category trees, which end in the product's own name, beside ordinary paths
    titles = [f"Alisha Solid Women's Cycling Shorts {i}" for i in range(20)] + ["acme tv"] * 20
    labels = [f"Clothing > Shorts > {title.upper()}" for title in titles[:20]] + ["Electronics > TVs"] * 20

    report = build_report(_frame(title=titles, category=labels), _with_paths(CONFIG, " > "), source="flipkart.csv")

    assert report.title_leaves == {"labels": 20, "of": 21, "example": labels[0]}
    assert any("20 of the 21 labels end in their listing's own title" in p for p in report.problems)
    # AND folded into their parents (split.small_classes: parent), no such class trains
    folding = SplitConfig(small_classes="parent")
    folded = build_report(_frame(title=titles, category=labels), _with_paths(CONFIG, " > "), source="x", split=folding)
    assert folded.title_leaves == {}
    # AND classes whose listings are titled by their category, among other titles, are categories
    generic = [f"Fresh > {fruit}" for fruit in ("Bananas", "Apples", "Pears", "Plums")] * 10
    titled = [
        label.split(" > ")[1] if i < 20 else f"organic {label.split(' > ')[1]} {i}" for i, label in enumerate(generic)
    ]
    assert (
        build_report(_frame(title=titled, category=generic), _with_paths(CONFIG, " > "), source="x").title_leaves == {}
    )


def test_missing_values_units_commas_duplicates_small_classes_and_constant_columns():
    frame = _frame(rows=60)
    frame.loc[0, "price"] = "1,299.00"
    frame.loc[1, "price"] = "45 kg"
    frame.loc[9:11, "price"] = ["inf", "1e39", "-2"]  # numbers training refuses, as the API does
    frame.loc[2, "title"] = None
    frame.loc[3, "category"] = None
    frame.loc[5] = frame.loc[4]
    frame.loc[6:8, "category"] = "Smartwatches"
    frame["seller_id"] = "s1"
    frame["country"] = ["DE"] * 60  # constant, but no input: not reported

    report = build_report(frame, CONFIG, source="x")

    assert report.unparsable_numbers["price"]["count"] == 5
    assert set(report.unparsable_numbers["price"]["examples"]) == {"1,299.00", "45 kg", "inf", "1e39", "-2"}
    assert report.missing_rates["title"] == pytest.approx(1 / 60, abs=1e-4)
    assert report.dropped == {"no_label": 1, "empty_title": 1, "too_long": 0, "duplicates": 1, "small_classes": 0}
    assert report.duplicate_rows == 1
    assert report.small_classes == {"Smartwatches": 3}
    assert report.near_constant_columns == {"seller_id": 1.0}
    assert len(report.problems) == 4  # numbers, constant column, duplicates, missing label/title
    # a small class is not a problem: it trains on all its rows, and the report says so
    assert report.notes == [
        "1 classes have fewer than 5 products (split.small_classes: train): 1 train on all their rows (learnt, "
        "not evaluated)"
    ]


def test_column_names_off_by_whitespace_or_case_get_a_fix():
    frame = _frame().rename(columns={"title": " Title ", "category": "CATEGORY"})

    report = build_report(frame, CONFIG, source="x")

    assert report.column_name_fixes == {"title": " Title ", "category": "CATEGORY"}
    assert any("use ' Title '" in problem for problem in report.problems)
    # a header saved with decomposed accents (macOS) looks like the configured name, and is told so
    german = replace(CONFIG, columns={**CONFIG.columns, "title": "Größe"})
    decomposed = _frame().rename(columns={"title": unicodedata.normalize("NFD", "Größe")})
    assert build_report(decomposed, german, source="x").column_name_fixes == {"Größe": "Gro\u0308ße"}
    with pytest.raises(DataValidationError, match=r"\(the file writes its accents decomposed: rename the column"):
        prepare_catalogue(decomposed, german, source="x")


def test_check_data_cli_prints_the_report_and_strict_mode_fails(tmp_path):
    csv = tmp_path / "catalogue.csv"
    _frame(category=["Dishwashers"] * 30 + ["dishwasher"] * 10).to_csv(csv, index=False)
    config = tmp_path / "config.yaml"
    body = (
        "name: t\ndata:\n  columns: {title: title, seller_id: seller_id, price: price}\n  target: category\n"
        "  text: title\n  hashed: [seller_id]\n  numeric: [price]\n"
    )
    config.write_text(body)
    strict = tmp_path / "strict.yaml"
    strict.write_text(body + "  strict: true\n")

    lenient = CliRunner().invoke(check_data_app, ["--data", str(csv), "--config", str(config)])
    failing = CliRunner().invoke(check_data_app, ["--data", str(csv), "--config", str(strict)])

    assert lenient.exit_code == 0
    assert "dishwasher: Dishwashers" in lenient.output
    assert failing.exit_code == 1


def test_the_report_counts_exactly_what_training_drops():
    # GIVEN rows that differ only in a column the model never reads, or in how the same price is written
    frame = _frame(rows=40)
    frame["sku"] = [f"sku-{i}" for i in range(40)]
    inputs = ["title", "seller_id", "price", "category"]
    frame.loc[1, inputs] = frame.loc[0, inputs]
    frame.loc[3, inputs] = frame.loc[2, inputs]
    frame.loc[2, "price"], frame.loc[3, "price"] = "10", "10.0"
    frame.loc[5, "title"] = "   "
    frame.loc[6, "title"] = "\u200b \u00ad\ufeff"  # zero-width space, soft hyphen, BOM: the graph drops them all

    # WHEN the report describes it and training cleans it
    report = build_report(frame, CONFIG, source="x")
    cleaned = prepare_catalogue(frame, CONFIG)

    # THEN both drop the same rows: titles the model reads as empty; duplicates judged on the model's columns and
    # parsed values
    assert report.dropped == {"no_label": 0, "empty_title": 2, "too_long": 0, "duplicates": 2, "small_classes": 0}
    assert report.duplicate_rows == 2
    assert report.rows_out == len(cleaned) == 36


def test_the_report_describes_a_file_training_would_reject():
    frame = _frame().drop(columns=["title"])
    frame.loc[0, "price"] = "-3"

    report = build_report(frame, CONFIG, source="x")

    assert report.rows_in == 40
    assert report.dropped == {"no_label": 0, "empty_title": 40, "too_long": 0, "duplicates": 0, "small_classes": 0}
    assert report.rows_out == 0


def test_a_report_of_thousands_of_classes_stays_a_few_short_lines():
    # GIVEN 3,000 classes of 2-4 rows each (a long-tailed taxonomy)
    rows = 9_000
    frame = _frame(rows, category=[f"Dept > Cat {i % 300} > Leaf {i % 3_000}" for i in range(rows)])
    frame.loc[: rows // 3, "category"] = "Dept > Cat 0 > Leaf 0"

    text = summary_text(build_report(frame, CONFIG, source="taxonomy.csv"))

    # THEN the classes and the small ones are summarised, not listed
    assert "3000 classes, median" in text
    assert "note: 2999 classes have fewer than 5 products" in text
    assert len(text) < 2_000
    assert max(len(line) for line in text.splitlines()) < 600


def test_hundreds_of_label_variants_are_capped_with_how_many_more():
    # GIVEN 200 classes each also spelled in lower case (200 groups of variants)
    rows = 800
    frame = _frame(rows, category=[f"{'Leaf' if i % 2 else 'leaf'} {i // 2 % 200}" for i in range(rows)])

    report = build_report(frame, CONFIG, source="variants.csv")
    text = summary_text(report)

    # THEN the report keeps all 200 groups, but the summary names 30 and says how many more
    assert len(report.label_variants) == 200
    assert "and 170 more groups of label variants (`python -m training.cli.check_data --json` lists" in text
    assert "    # and 170 more groups:" in text
    assert len(text.splitlines()) < 150


def test_check_data_on_a_5000_category_taxonomy_prints_a_few_short_lines(tmp_path):
    # GIVEN a generated 5,000-leaf taxonomy catalogue of 30,000 rows, written as a user's CSV
    path = tmp_path / "taxonomy.csv"
    generate_taxonomy_catalogue(30_000, 5_000, seed=42).to_csv(path, index=False)

    # WHEN `make check-data DATA=` reports on it
    result = CliRunner().invoke(check_data_app, ["--data", str(path)])

    # THEN the classes and the small ones are summarised in a few lines, none of them long
    assert result.exit_code == 0, result.output
    assert "5000 classes, median" in result.output
    assert len(result.output.splitlines()) < 15
    assert max(len(line) for line in result.output.splitlines()) < 600


def test_check_data_reports_on_the_synthetic_catalogue_that_rows_and_categories_describe():
    result = CliRunner().invoke(check_data_app, ["--categories", "40", "--rows", "3000"])

    assert result.exit_code == 0, result.output
    assert "synthetic-taxonomy(rows=3000, categories=40, seed=42): 3000 rows in" in result.output
    assert "40 classes" in result.output
    assert "no suspected problems" in result.output


def test_without_a_product_column_small_classes_are_counted_in_titles():
    # GIVEN an export without a product column whose listings repeat each title from four sellers (BigBasket's):
    # two classes of 12 rows, 3 titles each
    frame = _frame(rows=24, title=[f"product {i // 4} {'tv' if i // 4 % 2 else 'phone'}" for i in range(24)])
    frame["category"] = ["TVs" if i // 4 % 2 else "Mobile Phones" for i in range(24)]

    report = build_report(frame, CONFIG, source="x.csv", split=SplitConfig(min_class_products=5))

    # THEN each class has 3 products (titles), not 12: both are small
    assert report.small_classes == {"TVs": 3, "Mobile Phones": 3}


def test_titles_that_several_product_ids_carry_are_a_note():
    # GIVEN a marketplace export that gives each size of a product an id of its own (Lazada's SKUs)
    frame = _frame(rows=24, title=[f"Shirt {i // 3} Blue" for i in range(24)], sku=[f"sku-{i}" for i in range(24)])

    report = build_report(frame, replace(CONFIG, group="sku"), source="x.csv")
    by_shirt = build_report(frame.assign(sku=[f"shirt-{i // 3}" for i in range(24)]), replace(CONFIG, group="sku"),
                            source="x.csv")  # fmt: skip

    assert report.titles_across_products == {"titles": 8, "rows": 24, "example": "shirt 0 blue", "products": 3}
    blank_ids = build_report(frame.assign(sku=[f"sku-{i // 3}" if i % 3 else "" for i in range(24)]),
                             replace(CONFIG, group="sku"), source="x.csv")  # fmt: skip
    assert blank_ids.titles_across_products == {}
    assert any("8 titles are carried by rows of several product ids" in note for note in report.notes)
    assert not any("several product ids" in note for note in by_shirt.notes)


def test_rows_with_neither_title_nor_label_are_a_note_not_a_problem():
    # GIVEN a Shopify export: each product's first row is the listing, its variant and image rows are blank there
    frame = _frame()
    blank = pd.DataFrame(
        {"title": [None] * 30, "seller_id": ["s1"] * 30, "price": ["9.5"] * 30, "category": [None] * 30}
    )
    unlabelled = _frame(rows=2).assign(category=None)

    report = build_report(pd.concat([frame, blank], ignore_index=True), CONFIG, source="shopify.csv")
    mixed = build_report(pd.concat([frame, blank, unlabelled], ignore_index=True), CONFIG, source="shopify.csv")

    # THEN the blank rows are skipped with a note (data.strict does not fail on them); listings without label are not
    assert report.problems == []
    assert report.dropped["no_label"] == report.blank_rows == 30
    assert "30 rows have neither a title nor a label (an export's variant or image rows): skipped" in report.notes
    assert "2 rows without label and 0 with an empty title" in mixed.problems
    # and the summary's count of rows without label says how many of them were blank, as the note does
    assert "(dropped: 32 without label (30 of them blank rows), 0 with empty title" in summary_text(mixed)


def test_labels_that_are_missing_values_written_out_are_a_problem_never_merged():
    # GIVEN an export that writes a missing category as "unknown", "Null", "null" or "N/A" (Open Food Facts does)
    labels = ["TVs", "Mobile Phones"] * 10 + ["unknown"] * 8 + ["Null"] * 5 + ["null"] * 4 + ["N/A"] * 3
    frame = _frame(rows=40, category=labels)

    report = build_report(frame, CONFIG, source="x.csv")

    # THEN they are named, largest first, and no alias would merge "Null" and "null" into a class
    assert report.placeholder_labels == {"unknown": 8, "Null": 5, "null": 4, "N/A": 3}
    assert any(
        problem.startswith("4 labels look like missing values, 'unknown' (8 rows), 'Null' (5 rows), 'null' (4 rows)")
        and "give those listings their real category, or leave the cells empty" in problem
        for problem in report.problems
    )
    assert report.label_variants == []


def test_a_class_whose_only_rows_training_drops_is_not_counted_and_is_named():
    # GIVEN a class whose one listing has an empty title (an Open Food Facts export had one)
    frame = _frame()
    frame.loc[40] = {"title": " ", "seller_id": "s1", "price": "3.5", "category": "Plant-based foods"}

    report = build_report(frame, CONFIG, source="x.csv")

    # THEN the report counts the classes training learns, and says which one it will not
    assert set(report.class_counts) == {"TVs", "Mobile Phones"}
    assert report.classes_without_rows == ["Plant-based foods"]
    assert any("1 labels have no row training can use" in note for note in report.notes)


def test_rows_that_split_small_classes_drop_takes_out_are_counted_as_dropped():
    # GIVEN two classes of 20 products and one of 2, under split.small_classes: drop
    frame = _frame(rows=42)
    frame.loc[40:, "category"] = "Drones"

    report = build_report(frame, CONFIG, source="x.csv", split=SplitConfig(small_classes="drop"))

    # THEN its 2 rows are counted among the dropped, and the rows kept are those training keeps
    assert report.dropped["small_classes"] == 2
    assert report.rows_out == 40
    assert "40 kept (dropped: 0 without label" in summary_text(report)
    assert "0 duplicates in the model's columns, 2 in the 1 small classes split.small_classes drops)" in summary_text(
        report
    )
    # AND the classes it lists are those the run learns, whose rows are the rows kept
    assert set(report.trained_class_counts) == set(report.class_counts) - {"Drones"}
    assert sum(report.trained_class_counts.values()) == report.rows_out
    assert "; 2 classes (3 labels read, 1 fewer after split.small_classes: drop)" in summary_text(report)
    assert "Drones" not in summary_text(report).splitlines()[1]


def test_classes_split_small_classes_folds_are_listed_as_their_parent():
    # GIVEN path labels, one leaf with 2 products under split.small_classes: parent
    frame = _frame(rows=42)
    frame["category"] = ["A > TVs"] * 20 + ["B > Phones"] * 20 + ["B > Phones > Rugged"] * 2
    config = replace(CONFIG, path_separator=" > ")

    report = build_report(frame, config, source="x.csv", split=SplitConfig(small_classes="parent"))

    # THEN the folded leaf's rows count for its parent, the class the run learns
    assert report.trained_class_counts == {"A > TVs": 20, "B > Phones": 22}


def test_text_saved_again_in_a_western_code_page_is_a_problem_naming_what_it_meant():
    # GIVEN a German export opened as Windows-1252 and saved again: half its labels and titles mangled
    frame = _frame(40, category=["Kühlschränke", "Gefrierschränke"] * 20)
    mangled = frame.index % 4 == 0
    for column in ("title", "category"):
        frame.loc[mangled, column] = (
            frame.loc[mangled, column]
            .str.replace("product", "Größe")
            .map(lambda text: text.encode("utf-8").decode("cp1252"))
        )

    report = build_report(frame, CONFIG, source="export.csv")

    # THEN it is a problem (data.strict fails on it), naming a mangled text and what it meant; Japanese is no mojibake
    problem = next(problem for problem in report.problems if "Western (or Cyrillic) code page" in problem)
    assert "GrÃ¶ÃŸe 0 phone (meant: Größe 0 phone)" in problem
    assert report.mojibake["rows"] == 20
    assert not build_report(_frame(40, category=["冷蔵庫", "冷凍庫"] * 20), CONFIG, source="jp.csv").mojibake
    # an accented capital before a sign could be decoded too, into a letter no shop writes: it is no mojibake
    assert not build_report(_frame(40, title=["NESCAFÉ® Gold", "CAFÉ™ x"] * 20), CONFIG, source="b.csv").mojibake
    # AND a label read in the Cyrillic code page (as the copy of Google's taxonomy here has one) is named, while
    # Russian text is none
    cyrillic = build_report(_frame(40, category=["Corsage & BoutonniГЁre Pins", "TVs"] * 20), CONFIG, source="c")
    assert "Corsage & BoutonniГЁre Pins (meant: Corsage & Boutonnière Pins)" in str(cyrillic.mojibake["examples"])
    russian = ["Холодильники с морозильной камерой", "Ёлочные игрушки"] * 20
    assert not build_report(_frame(40, category=russian), CONFIG, source="ru.csv").mojibake


def test_prices_written_as_dot_grouped_thousands_are_a_problem():
    # GIVEN German prices: 3245 and 1299 written "3.245" and "1.299", beside a few whole prices
    prices = ["3.245", "1.299", "12.500", "899"] * 10
    report = build_report(_frame(40, price=prices), CONFIG, source="preise.csv")
    usual = build_report(_frame(40, price=["3.24", "1299.00", "12.5", "899"] * 10), CONFIG, source="prices.csv")
    # three decimals beside a price with cents, and weights under one, are decimals
    mixed = build_report(_frame(40, price=["3.245", "1.299", "12.99", "899"] * 10), CONFIG, source="mixed.csv")
    weights = build_report(_frame(40, price=["0.250", "0.500", "0.750", "1"] * 10), CONFIG, source="kg.csv")

    # THEN they are named, since nothing else refuses them; the others are not
    assert report.dot_thousands == {"price": {"count": 30, "examples": ["3.245", "1.299", "12.500"]}}
    assert any("read as decimals (3.245, not 3245)" in problem for problem in report.problems)
    assert usual.dot_thousands == mixed.dot_thousands == weights.dot_thousands == {}


def test_an_input_that_names_the_category_is_a_problem():
    # GIVEN a category id beside the category's name, configured as an input, and a seller id that merely leans
    # toward a category (as a specialist shop's does)
    categories = [f"Category {i % 8}" for i in range(400)]
    frame = _frame(400, category=categories, seller_id=[f"C{i % 8:03d}" for i in range(400)])
    leaning = _frame(400, category=categories, seller_id=[f"s{i % 8 if i % 10 else 9}" for i in range(400)])

    report = build_report(frame, CONFIG, source="ids-and-names.csv")

    # THEN the id is named, with what to do; the seller that leans is no problem
    assert report.label_leaks == {"seller_id": {"input": "seller_id", "share": 1.0}}
    assert any("'seller_id' (input 'seller_id') and the label determine each other" in p for p in report.problems)
    assert build_report(leaning, CONFIG, source="shops.csv").label_leaks == {}
    # AND an id blank on a few rows still names the category; one seller in a catalogue nearly all of one class does not
    gaps = frame.assign(seller_id=[None if i % 20 == 0 else value for i, value in enumerate(frame["seller_id"])])
    assert build_report(gaps, CONFIG, source="gaps.csv").label_leaks["seller_id"]["share"] == 1.0
    skewed = _frame(400, category=["Fridges"] * 396 + ["TVs"] * 4, seller_id="s1")
    assert build_report(skewed, CONFIG, source="one-shop.csv").label_leaks == {}


def test_ids_excel_wrote_in_scientific_notation_are_a_problem():
    # GIVEN EAN-like seller ids saved by Excel, which shows a long number rounded (4.41E+12), and plain ids with an E
    excel = _frame(40, seller_id=[f"{4 + i % 5}.{i % 97:02d}E+12" for i in range(40)])
    codes = _frame(40, seller_id=["SKU-2E+4"] + [f"s{i}" for i in range(39)])

    report = build_report(excel, CONFIG, source="excel.csv")

    assert report.scientific_ids["seller_id"]["count"] == 40
    assert any("ids are written in scientific notation" in problem for problem in report.problems)
    assert build_report(codes, CONFIG, source="codes.csv").scientific_ids == {}


def test_a_catalogue_nearly_all_of_one_class_says_what_its_figures_mean():
    frame = _frame(400, category=["Fridge Freezers"] * 396 + ["TVs"] * 4)

    notes = build_report(frame, CONFIG, source="skewed.csv").notes

    assert any("one class holds 99.0% of the rows ('Fridge Freezers')" in note for note in notes)
    assert not any("one class holds" in note for note in build_report(_frame(), CONFIG, source="even.csv").notes)


@pytest.mark.parametrize(
    ("labels", "flagged"),
    [
        # a PIM's categories column: each product filed under several, listed
        (["master_fridges,promo_summer", "promo_summer,master_tvs", "master_fridges,print_2024", "master_tvs"], 2),
        # a shop's category with a flat tag, where the tag joins two at least
        (["TVs", "Fridges", "TVs;Sale", "Fridges;Sale"], 2),
        # as above, the names holding a comma WooCommerce escapes
        (["Food\\, Drink", "Home\\, Garden", "Food\\, Drink;Sale", "Home\\, Garden;Sale"], 2),
        # names that hold a comma, and a path written with commas: no part is another label's
        (["Dolls, Playsets & Toy Figures", "Dolls", "Arts & Crafts"], 0),
        (["Home,Appliances,Fridges", "Home,Appliances,Freezers", "Home,Garden,Sheds"], 0),
        # a path written with commas whose leaves repeat under several parents: each level keeps its place
        ([f"Home,{who},{what}" for who in ("Men", "Women", "Kids") for what in ("Shoes", "Shirts", "Jackets")], 0),
    ],
)
def test_flat_labels_listing_several_categories_are_a_problem(labels, flagged):
    frame = _frame(40 * len(labels), category=[labels[i % len(labels)] for i in range(40 * len(labels))])

    report = build_report(frame, CONFIG, source="pim.csv")

    # (a part joined once, print_2024 in the first case, and no label on its own, leaves its label unflagged)
    problems = [problem for problem in report.problems if "list several categories" in problem]
    assert [int(problem.split()[0]) for problem in problems] == ([flagged] if flagged else [])
    # AND listed categories are never also called paths to set a separator for
    assert not (flagged and any("no data.path_separator is set" in note for note in report.notes))


def test_a_category_repeated_below_itself_is_a_problem_and_a_catch_all_leaf_is_not():
    config = replace(CONFIG, path_separator=" > ")
    labels = [
        "Appliances > Appliances > Dishwashers",
        "Appliances > Dishwashers",
        "Cameras > Cameras",
        "Cameras > Lenses",
    ]
    frame = _frame(400, category=[labels[i % 4] for i in range(400)])

    report = build_report(frame, config, source="shop.csv")

    assert report.repeated_levels == {"Appliances > Appliances > Dishwashers": "Appliances > Dishwashers"}
    assert any("1 labels repeat a category right below itself" in problem for problem in report.problems)


def test_paths_that_start_with_a_category_id_are_a_problem_naming_the_path_alone():
    # GIVEN labels from Google's taxonomy file with ids, where every leaf's id joins its department
    config = replace(CONFIG, path_separator=" > ")
    labels = ["450637 - Clothing > Dresses", "248001 - Clothing > Jackets", "67863 - Electronics > Monitors"]
    report = build_report(_frame(300, category=[labels[i % 3] for i in range(300)]), config, source="feed.csv")

    assert report.id_prefixed_paths == {label: label.split(" - ")[1] for label in labels}
    assert any(
        "3 path labels start with a category id" in problem and "write the path alone ('" in problem
        for problem in report.problems
    )
    # AND names that merely start with a number, or flat labels, pass
    named = ["3D Printers > Filament", "4-Wheel Drive > Tyres", "3-in-1 Printers > Laser", "450637 - Dresses"]
    frame = _frame(300, category=[named[i % 4] for i in range(300)])
    assert build_report(frame, config, source="x").id_prefixed_paths == {}


def test_category_ids_beside_category_names_are_a_problem_and_leading_zeros_a_variant():
    # GIVEN a feed giving Google's category id for some listings and the path for others, and two exports of one
    # catalogue whose ids one wrote as text ('0104') and the other as numbers (104)
    config = replace(CONFIG, path_separator=" > ")
    mixed = _frame(40, category=["686", "Home > Kitchen > Refrigerators"] * 20)
    ids = _frame(40, category=["0104", "104", "0107", "107"] * 10)

    mixed_report, ids_report = build_report(mixed, config, source="feed.tsv"), build_report(ids, CONFIG, source="ids")

    assert mixed_report.numbered_labels == ["686"]
    assert any("1 labels are bare numbers (e.g. '686')" in problem for problem in mixed_report.problems)
    assert sorted(map(sorted, (variant["labels"] for variant in ids_report.label_variants))) == [
        ["0104", "104"],
        ["0107", "107"],
    ]
    assert ids_report.numbered_labels == []  # labels that are all ids name nothing else
    # AND codes of varying width, where '011' and '11' are two codes (UN CPC's), are no variants
    codes = _frame(40, category=["011", "11", "0111", "111"] * 10)
    assert build_report(codes, CONFIG, source="cpc").label_variants == []


def test_check_data_says_each_refusal_once(tmp_path):
    # GIVEN two exports joined one after another, each with its header
    text = generate_taxonomy_catalogue(40, 4, seed=1).to_csv(index=False)
    path = tmp_path / "joined.csv"
    path.write_text(text + text)

    result = CliRunner().invoke(check_data_app, ["--data", str(path)])

    [error] = [line for line in result.output.splitlines() if " ERROR " in line]
    assert result.exit_code == 1
    assert error.count("repeat the header") == 1


def test_a_training_run_logs_the_reports_problems_as_warnings_and_the_rest_as_info(caplog):
    # GIVEN a catalogue with a problem (an empty input column), loaded as a training run loads it
    report = build_report(_frame(seller_id=[None] * 40), CONFIG, source="x")

    with caplog.at_level(logging.INFO, logger="training.data.report"):
        log_report(report, strict=False)

    levels = {record.getMessage().split(":")[0]: record.levelname for record in caplog.records}
    assert levels["problem"] == "WARNING"
    assert levels["data report for x"] == "INFO"


def test_a_label_of_invisible_characters_alone_is_no_label():
    # GIVEN a label a CMS left as a zero-width space (or a BOM and spaces)
    report = build_report(_frame(category=["\u200b", "\ufeff ", "TVs", "Fridges"] * 10), CONFIG, source="x")

    # THEN its rows are counted without a label, never trained as a class no one can read
    assert report.dropped["no_label"] == 20
    assert set(report.trained_class_counts) == {"TVs", "Fridges"}


def test_one_product_id_holding_a_tenth_of_the_rows_of_several_classes_is_noted():
    config = replace(CONFIG, group="product_id")
    products = ["GENERIC"] * 20 + [f"p{i}" for i in range(80)]
    frame = _frame(100, product_id=products, category=["TVs", "Fridges"] * 50)

    report = build_report(frame, config, source="export.csv")

    assert report.catch_all_product == {"product": "GENERIC", "rows": 20, "share": 0.2, "classes": 2}
    assert any("product id 'GENERIC' holds 20 rows (20%) of 2 classes" in note for note in report.notes)
    # AND a product of one class, however large, is a product
    assert (
        build_report(frame.assign(category=["TVs"] * 20 + ["Fridges"] * 80), config, source="x").catch_all_product == {}
    )


def test_labels_with_spaces_at_their_ends_are_a_problem_unless_a_variant_names_them():
    frame = _frame(40, category=["  CPUs  ", "Fridges\t"] * 20)

    report = build_report(frame, CONFIG, source="x")

    assert any("2 labels have spaces at their ends, e.g. '  CPUs  ', 'Fridges\\t':" in p for p in report.problems)
    # AND a label whose clean spelling is in the data is a variant of it, suggested by the variants' aliases
    variant = build_report(_frame(40, category=["CPUs ", "CPUs", "TVs", "TVs"] * 10), CONFIG, source="x")
    assert not any("spaces at their ends" in p for p in variant.problems)


def test_a_catalogue_of_one_class_that_can_be_held_out_is_a_problem():
    # GIVEN 40 products of TVs and 3 of CPUs, under 5 products a class trains whole
    config = replace(CONFIG, group="product_id")
    products = [f"p{i}" for i in range(40)] + ["c1", "c2", "c3"]
    frame = _frame(43, product_id=products, category=["TVs"] * 40 + ["CPUs"] * 3)

    report = build_report(frame, config, source="x")

    # THEN the test figures would be of TVs alone, and the report says so
    assert any("only 1 of the 2 classes learnt have split.min_class_products (5)" in p for p in report.problems)
    assert not any("classes learnt have" in p for p in build_report(_frame(), CONFIG, source="x").problems)


def test_ids_written_as_floats_in_every_row_are_a_problem_and_one_such_id_is_not():
    # GIVEN seller ids as pandas writes an integer column with gaps to CSV
    frame = _frame(40, seller_id=[f"{i % 7}.0" for i in range(40)])

    report = build_report(frame, CONFIG, source="x")

    # THEN the column is named with an example and what the API would read instead
    assert report.float_ids == {"seller_id": "0.0"}
    assert any("column 'seller_id' holds integers written as floats ('0.0')" in p for p in report.problems)
    # AND a column with other ids too is as the file means it
    mixed = _frame(40, seller_id=[f"{i % 7}.0" for i in range(39)] + ["s1"])
    assert build_report(mixed, CONFIG, source="x").float_ids == {}


def test_category_ids_written_as_floats_are_variants_of_the_ids_and_in_every_row_a_problem():
    # GIVEN a catalogue of two exports, one writing its category ids as integers and one as floats (a CSV of a
    # column with gaps), and a CSV export of floats alone
    joined = _frame(40, category=["104", "104.0", "107", "107.0"] * 10)
    floats = _frame(40, category=["104.0", "107.0"] * 20)

    joined_report, floats_report = build_report(joined, CONFIG, source="x"), build_report(floats, CONFIG, source="x")

    # THEN each float is a variant of its id, the id the spelling kept
    assert sorted((sorted(v["labels"]), v["suggested"]) for v in joined_report.label_variants) == [
        (["104", "104.0"], "104"),
        (["107", "107.0"], "107"),
    ]
    assert joined_report.float_labels is None
    # AND labels that are all floats are a problem naming what the model would answer
    assert floats_report.float_labels == "104.0"
    assert any("the model would answer '104.0' where the catalogue means '104'" in p for p in floats_report.problems)
    # AND a decimal that is no integer is a name of its own
    decimals = build_report(_frame(40, category=["1.5", "1", "2.0"] * 13 + ["2"]), CONFIG, source="x")
    assert [sorted(variant["labels"]) for variant in decimals.label_variants] == [["2", "2.0"]]


def test_a_group_column_whose_ids_carry_several_classes_is_a_problem_naming_it():
    # GIVEN data.group mapped to the merchant: each of 10 merchants sells TVs and phones
    config = replace(CONFIG, group="merchant")
    frame = _frame(100, merchant=[f"m{i // 10}" for i in range(100)])

    report = build_report(frame, config, source="export.csv")

    # THEN it is a problem naming the column and an id with its classes
    assert any(
        "10 of the 10 product ids of several rows (data.group 'merchant') carry several classes (100 rows; e.g. 'm0'"
        in problem
        and "set data.group to the column that names the product" in problem
        for problem in report.problems
    )
    # AND products of one class each, with a few ids across classes (label noise), are no problem
    products = [f"p{i // 2}" for i in range(100)]
    labels = ["TVs" if i // 2 % 2 else "Mobile Phones" for i in range(100)]
    labels[1] = "TVs" if labels[0] == "Mobile Phones" else "Mobile Phones"
    noisy = _frame(100, product_id=products, category=labels)
    assert build_report(noisy, replace(CONFIG, group="product_id"), source="x").products_across_classes == {}


def test_a_hashed_column_unique_on_nearly_every_row_is_noted():
    frame = _frame(200, seller_id=[f"offer-{i}" for i in range(200)])

    report = build_report(frame, CONFIG, source="x")

    assert report.row_unique_hashed == ["seller_id"]
    assert any("hold a value of their own on nearly every row" in note for note in report.notes)
    assert build_report(_frame(200), CONFIG, source="x").row_unique_hashed == []
