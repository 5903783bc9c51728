"""Loading, checking, cleaning and splitting a catalogue."""

from __future__ import annotations

import gzip
import re
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from training.cli.check_data import app as check_data_app
from training.columns import GROUP, LABEL
from training.config import DEFAULT_CONFIG_PATH, SplitConfig, load_config
from training.data.clean import prepare_catalogue
from training.data.load import load_catalogue, read_catalogue
from training.data.report import build_report
from training.data.split import split_catalogue
from training.data.synthetic import generate_catalogue
from training.exceptions import DataValidationError
from training.model.metadata import input_schema

if TYPE_CHECKING:
    from pathlib import Path

CONFIG = load_config(DEFAULT_CONFIG_PATH).data


def _catalogue(rows: int = 400) -> pd.DataFrame:
    return generate_catalogue(rows, seed=0).astype({"price": str})


@pytest.mark.parametrize("header", [b'\xef\xbb\xbf"Product ID",title', b'"\xef\xbb\xbfProduct ID",title'])
def test_a_byte_order_mark_before_or_inside_the_first_names_quotes_is_no_part_of_it(tmp_path: Path, header):
    path = tmp_path / "c.csv"
    path.write_bytes(header + b"\n007,tv\n")

    assert list(read_catalogue(path, required=["Product ID"]).columns) == ["Product ID", "title"]


def test_a_whole_last_line_without_a_line_break_is_read(tmp_path: Path):
    path = tmp_path / "c.csv"
    path.write_text("title,seller_id,category\nacme tv,s1,TVs\nacme phone,s2,")

    assert read_catalogue(path)["title"].tolist() == ["acme tv", "acme phone"]
    # AND so is a short last line where the export leaves out trailing empty fields on other lines too
    path.write_bytes(b"title,label,price\r\nRed shirt,Tops,\r\nGreen shirt,Tops\r\nBlue jeans,Bottoms")
    assert read_catalogue(path)["title"].tolist() == ["Red shirt", "Green shirt", "Blue jeans"]


def test_read_catalogue_keeps_ids_as_text(tmp_path: Path):
    path = tmp_path / "c.csv"
    path.write_text("title,seller_id\nphone,007\n")

    assert read_catalogue(path)["seller_id"].tolist() == ["007"]


@pytest.mark.parametrize("shards", [1, 3])
def test_gzipped_csv_shards_read_as_the_plain_file(tmp_path: Path, shards):
    # GIVEN a catalogue exported as gzip-compressed CSV, whole or in shards (BigQuery's, Spark's `part-*.csv.gz`)
    catalogue = _catalogue()
    catalogue.to_csv(tmp_path / "plain.csv", index=False)
    (tmp_path / "export").mkdir()
    for number, part in enumerate(np.array_split(np.arange(len(catalogue)), shards)):
        catalogue.iloc[part].to_csv(tmp_path / "export" / f"part-{number:03}.csv.gz", index=False)

    # WHEN it is read THEN it is read as the plain file is, ids kept as text
    pd.testing.assert_frame_equal(
        read_catalogue(tmp_path / "export").drop(columns="_source", errors="ignore"),
        read_catalogue(tmp_path / "plain.csv").drop(columns="_source", errors="ignore"),
    )


def test_an_empty_shard_in_a_folder_is_left_out_with_a_warning(tmp_path: Path, caplog):
    # GIVEN an export folder with an empty partition's file of 0 bytes (Hadoop's and Spark's `part-00002`)
    catalogue = _catalogue()
    (tmp_path / "export").mkdir()
    catalogue.iloc[:200].to_csv(tmp_path / "export" / "part-00000.csv", index=False)
    catalogue.iloc[200:].to_csv(tmp_path / "export" / "part-00001.csv", index=False)
    (tmp_path / "export" / "part-00002.csv").write_bytes(b"")
    (tmp_path / "export" / "part-00003").write_bytes(b"")  # Hadoop's names carry no suffix
    (tmp_path / "export" / "part-00004.csv.gz").write_bytes(gzip.compress(b""))  # nothing, compressed: 20 bytes

    # WHEN it is read THEN every row of the other shards is, and the empty ones are named
    read = read_catalogue(tmp_path / "export")
    assert read["title"].tolist() == catalogue["title"].tolist()
    assert "left out 3 empty file(s): ['part-00002.csv', 'part-00003', 'part-00004.csv.gz']" in caplog.text
    # AND a folder of empty files only is refused, as one empty file is
    (tmp_path / "none").mkdir()
    (tmp_path / "none" / "part-00000.csv").write_bytes(b"")
    with pytest.raises(DataValidationError, match=r"every file .*none holds is empty: \['part-00000.csv'\]"):
        read_catalogue(tmp_path / "none")


def test_a_dataset_partitioned_by_its_category_reads_the_category_from_its_folders(tmp_path: Path):
    # GIVEN a catalogue written as a partitioned dataset (Spark's partitionBy): the label lives in the folder names
    import pyarrow as pa
    import pyarrow.parquet as pq

    catalogue = _catalogue().assign(category=lambda frame: frame["category"].replace({"TVs": "TVs & Video / 4K"}))
    pq.write_to_dataset(pa.Table.from_pandas(catalogue, preserve_index=False), tmp_path / "hive", ["category"])

    # WHEN it is read THEN every row has its category back, as the unpartitioned file has it
    read = read_catalogue(tmp_path / "hive")
    by_title = ["title", "seller_id", "category"]
    pd.testing.assert_frame_equal(
        read[by_title].sort_values(by_title).reset_index(drop=True),
        catalogue[by_title].astype(str).sort_values(by_title).reset_index(drop=True),
        check_dtype=False,
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "data not found"), ("", "data file is empty"), (b"\xff\xfe\x00bad", "cannot read")],
)
def test_unreadable_files_are_named(tmp_path: Path, content, message):
    path = tmp_path / "c.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)

    with pytest.raises(DataValidationError, match=message):
        read_catalogue(path)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.drop(columns=["seller_id"]), r"missing column 'seller_id' \(input 'seller_id'\)"),
        (lambda f: f.rename(columns={"category": "Category"}), r"missing column 'category' \(target\)"),
        (
            lambda f: f.assign(price=["12.5"] * (len(f) - 1) + ["cheap"]),
            r"column 'price' must be numeric, found 'cheap'",
        ),
        (lambda f: f.assign(price="-3"), "column 'price' must be ≥ 0"),
        (lambda f: f.assign(price="inf"), "column 'price' must be a finite number up to 3.403e\\+38 .* found 'inf'"),
        (lambda f: f.assign(price="1e39"), "column 'price' must be a finite number .* found '1e39' in data row 1"),
        (lambda f: f.assign(price=pd.Timestamp("2026-01-01")), "column 'price' must be numeric, found Timestamp"),
        (lambda f: f.assign(price=True), "column 'price' must be numeric, found True in data row 1"),
        (lambda f: f.assign(category="TVs"), r"the target has 1 class\(es\)"),
        (lambda f: f.head(0), "no rows"),
    ],
)
def test_bad_catalogues_fail_with_a_specific_message(mutate, message):
    with pytest.raises(DataValidationError, match=message):
        prepare_catalogue(mutate(_catalogue()), CONFIG, source="test.csv")


def test_a_currency_price_names_the_files_column_and_how_to_write_it():
    # GIVEN a Shopify-style export whose price column is "Variant Price", written as currency
    config = replace(CONFIG, columns=CONFIG.columns | {"price": "Variant Price"})
    frame = _catalogue().rename(columns={"price": "Variant Price"})
    frame.loc[3, "Variant Price"] = "$1,299.00"

    with pytest.raises(DataValidationError) as info:
        prepare_catalogue(frame, config, source="products.csv")

    assert str(info.value) == (
        "products.csv: column 'Variant Price' must be numeric, found '$1,299.00' in data row 4; write numbers without "
        "currency symbols or thousands separators (1299.00), unknown ones empty"
    )


def test_a_currency_symbol_where_data_currency_is_set_says_the_setting_reads_a_code():
    # GIVEN an Amazon India export ("₹1,099") with data.currency set, as its user expected it to read the symbol
    frame = _catalogue().assign(price="₹1,099")

    with pytest.raises(DataValidationError) as info:
        prepare_catalogue(frame, replace(CONFIG, currency={"price": "INR"}), source="amazon.csv")

    assert str(info.value).endswith(
        "write numbers without currency symbols or thousands separators (1299.00), unknown ones empty; price's "
        "data.currency reads a code after the number (1099.00 INR), not a symbol"
    )


def test_prices_with_their_currency_code_are_read_in_the_configured_currency_alone():
    # GIVEN a Merchant Center feed's prices ("15.00 USD"), one missing
    frame = _catalogue(20).assign(price=[f"{index}.50 USD" for index in range(20)])
    frame.loc[4, "price"] = None
    in_usd = replace(CONFIG, currency={"price": "USD"})

    prices = prepare_catalogue(frame, in_usd)["price"]

    assert prices.iloc[3] == pytest.approx(3.5)
    assert np.isnan(prices.iloc[4])
    # AND without data.currency such a price is refused, naming the setting
    with pytest.raises(DataValidationError) as unset:
        prepare_catalogue(frame, CONFIG, source="feed.tsv")
    assert str(unset.value) == (
        "feed.tsv: column 'price' holds a price with its currency code, found '0.50 USD' in data row 1; set "
        "data.currency: {price: USD} in the config to read such prices as their number (every price must then be in "
        "that currency: the model reads the number alone), or write plain numbers"
    )
    # AND a price in another currency is refused, row by row, whichever file or partition holds it
    frame.loc[7, "price"] = "7.50 EUR"
    with pytest.raises(DataValidationError) as other:
        prepare_catalogue(frame, in_usd, source="feed.tsv")
    assert str(other.value).startswith(
        "feed.tsv: column 'price' must hold prices in USD, found '7.50 EUR' in data row 8; convert them to USD, "
        "price's data.currency"
    )
    assert prepare_catalogue(frame.iloc[6:8].assign(price="7.50 EUR"), replace(CONFIG, currency={"price": "EUR"}))[
        "price"
    ].tolist() == [7.5, 7.5]
    # AND the model records it, for bulk scoring to read prices alike and the API to name the unit
    assert {spec["name"]: spec.get("currency") for spec in input_schema(in_usd)}["price"] == "USD"


@pytest.mark.parametrize("written", ["2,56", "1366,38", "1.299,00"])  # 1366,38: four digits before the comma
def test_a_decimal_comma_price_is_told_to_use_a_decimal_point_not_to_drop_the_comma(written):
    frame = _catalogue()
    frame.loc[0, "price"] = written  # 2.56 written as much of Europe writes it; without the comma it would be 256

    advice = rf"found '{re.escape(written)}' in data row 1; write plain numbers with a decimal point"
    with pytest.raises(DataValidationError, match=advice):
        prepare_catalogue(frame, CONFIG, source="products.csv")


def test_cleaning_fills_missing_strings_drops_unlabelled_empty_and_duplicate_rows():
    raw = _catalogue(50)
    raw.loc[0, "seller_id"] = np.nan
    raw.loc[1, "category"] = np.nan
    raw.loc[2, "title"] = "   "
    raw.loc[3, "price"] = np.nan
    raw = pd.concat([raw, raw.iloc[[10]]], ignore_index=True)

    frame = prepare_catalogue(raw, CONFIG)

    assert len(frame) == 50 - 2
    assert frame.loc[0, "seller_id"] == ""
    assert np.isnan(frame["price"]).sum() >= 1
    assert frame["price"].dtype == np.float32
    assert set(frame.columns) == {"title", "seller_id", "brand", "price", LABEL, GROUP}


def test_grouped_split_never_shares_a_product_and_holds_out_about_the_fractions():
    frame = prepare_catalogue(_catalogue(3_000), CONFIG)

    splits = split_catalogue(frame, SplitConfig())

    groups = [set(part[GROUP]) for part in (splits.train, splits.validation, splits.test)]
    assert not groups[0] & groups[1]
    assert not groups[0] & groups[2]
    assert not groups[1] & groups[2]
    assert sum(map(len, (splits.train, splits.validation, splits.test))) == len(frame)
    for part in (splits.train, splits.validation, splits.test):
        assert set(part[LABEL]) == set(frame[LABEL])
    products = frame[GROUP].nunique()
    assert 0.15 < len(groups[2]) / products < 0.25
    assert 0.06 < len(groups[1]) / products < 0.14


def test_a_frame_without_products_is_split_by_row():
    frame = prepare_catalogue(_catalogue(1_000), CONFIG).drop(columns=[GROUP])

    splits = split_catalogue(frame, SplitConfig())

    assert set(splits.test[LABEL]) == set(frame[LABEL])
    assert 150 < len(splits.test) < 250
    assert sum(map(len, (splits.train, splits.validation, splits.test))) == len(frame)


@pytest.mark.parametrize(
    ("minimum", "message"),
    [
        (5, "every class has fewer than split.min_class_products (5) products"),
        # nothing left to lower: the catalogue itself is too small
        (
            1,
            "the catalogue has too few products (3) to hold any out (each is dealt train, validation or test by a hash",
        ),
    ],
)
def test_a_catalogue_too_small_to_hold_any_product_out_says_what_to_change(minimum, message):
    frame = prepare_catalogue(_catalogue(1_000).head(3), CONFIG)

    with pytest.raises(DataValidationError, match=re.escape(message)) as error:
        split_catalogue(frame, SplitConfig(min_class_products=minimum))
    assert ("lower split.min_class_products" in str(error.value)) == (minimum > 1)


def test_without_a_product_column_each_title_is_a_product():
    # GIVEN an export without a product column that lists each title from three sellers, written three ways
    raw = _catalogue(1_000).drop(columns=["product_id"])
    sellers = [
        raw.assign(seller_id="a"),
        raw.assign(seller_id="b", title=raw["title"].str.upper()),
        raw.assign(seller_id="c", title="  " + raw["title"].str.replace(" ", "  ")),
    ]
    frame = prepare_catalogue(pd.concat(sellers, ignore_index=True), replace(CONFIG, group=None))

    splits = split_catalogue(frame, SplitConfig())

    # THEN no title is on both sides of the split, which still holds out its fractions
    parts = (splits.train, splits.validation, splits.test)
    titles = [set(part["title"].str.lower().str.split().str.join(" ")) for part in parts]
    assert not titles[0] & titles[1]
    assert not titles[0] & titles[2]
    assert not titles[1] & titles[2]
    assert frame[GROUP].nunique() == raw["title"].str.lower().nunique()
    assert 0.15 < len(splits.test) / len(frame) < 0.25
    assert sum(map(len, (splits.train, splits.validation, splits.test))) == len(frame)


def test_a_row_without_a_product_id_is_its_titles_product():
    # GIVEN an export whose product id is blank on 40 % of its rows
    raw = _catalogue(3_000)
    blank = np.arange(len(raw)) % 5 < 2
    raw.loc[blank, "product_id"] = np.nan

    frame = prepare_catalogue(raw, CONFIG)
    splits = split_catalogue(frame, SplitConfig())

    # THEN such rows are one product per title (up to case and spacing), named by the title alone, and the split
    # keeps its fractions
    ungrouped = frame[GROUP].str.startswith("(no product id) ")
    assert frame.loc[ungrouped, GROUP].nunique() == frame.loc[ungrouped, "title"].nunique()
    variant = raw[blank].head(1).assign(title=lambda rows: " " + rows["title"].str.upper() + " ", seller_id="other")
    regrouped = prepare_catalogue(pd.concat([raw, variant], ignore_index=True), CONFIG)
    assert regrouped[GROUP].iloc[-1] == frame.loc[ungrouped, GROUP].iloc[0]
    assert prepare_catalogue(raw.iloc[::-1], CONFIG)[GROUP].sort_values().tolist() == sorted(frame[GROUP])
    assert 0.15 < len(splits.test) / len(frame) < 0.25
    assert "have no product id" in " ".join(build_report(raw, CONFIG, source="x").notes)
    # two exports concatenated keep their own row numbers: the index repeats
    twice = pd.concat([raw.iloc[:100], raw.iloc[:100].assign(title=raw["title"].iloc[:100] + " v2")])
    assert prepare_catalogue(twice, CONFIG)[GROUP].str.startswith("(no product id) ").sum() == 2 * blank[:100].sum()


@pytest.mark.parametrize("files", [2, 1])
@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"price": ["12"] * 4 + ["-3"] + ["12"] * 35}, r"export/b\.parquet: column 'price' must be ≥ 0, found -3.0"),
        # found by the data report, which reads the files together, and still named in its own file
        (
            {"seller_id": [1.0] * 4 + [2.5] + [1.0] * 35},
            r"export/b\.parquet: column 'seller_id' \(\w+\) holds 2.5( \(float\))?",
        ),
    ],
    ids=["negative-price", "fractional-id"],
)
def test_a_bad_value_in_a_folder_of_files_is_named_by_its_file_and_row(tmp_path: Path, files: int, bad, message):
    folder = tmp_path / "export"
    folder.mkdir()
    if files == 2:
        _catalogue(300).to_parquet(folder / "a.parquet")
    _catalogue(40).assign(**bad).to_parquet(folder / "b.parquet")

    with pytest.raises(DataValidationError, match=f"{message} in data row 5"):
        load_catalogue(load_config(DEFAULT_CONFIG_PATH), folder)
    # AND the data report, which reads the files together, names it alike (not the folder and row 305)
    checked = CliRunner().invoke(check_data_app, ["--data", str(folder)])
    assert checked.exit_code == 1
    assert re.search(f"{message} in data row 5", checked.output), checked.output


def test_adding_or_removing_products_never_moves_another_across_the_split():
    # GIVEN a catalogue and the same catalogue with 2 % of its products removed and 300 new ones added
    frame = prepare_catalogue(_catalogue(3_000), CONFIG)
    products = frame[GROUP].unique()
    removed = set(products[::50])
    added = prepare_catalogue(generate_catalogue(600, seed=9).astype({"price": str}), CONFIG)
    added[GROUP] = "new-" + added[GROUP]
    changed = pd.concat([frame[~frame[GROUP].isin(removed)], added], ignore_index=True)

    # WHEN both are split
    before, after = split_catalogue(frame, SplitConfig()), split_catalogue(changed, SplitConfig())

    # THEN every product present in both is in the same split
    parts = zip(
        (before.train, before.validation, before.test), (after.train, after.validation, after.test), strict=True
    )
    for old, new in parts:
        kept = set(old[GROUP]) - removed
        assert kept <= set(new[GROUP])


@pytest.mark.parametrize("grouped", [True, False])
def test_small_classes_train_on_every_product_and_no_class_is_refused(grouped):
    # GIVEN 600 classes of 8 products and 50 classes of one to four products (one row each)
    products = np.arange(4_800)
    labels = [f"leaf {i % 600}" for i in products] + [f"tail {i % 50}" for i in range(125)]
    frame = pd.DataFrame(
        {"title": [f"item {i}" for i in range(len(labels))], LABEL: labels, GROUP: np.arange(len(labels))}
    )
    if not grouped:
        frame = frame.drop(columns=[GROUP])

    splits = split_catalogue(frame, SplitConfig())

    # THEN every class trains, the tail only in train, and nothing is lost
    assert splits.train[LABEL].nunique() == 650
    held_out = pd.concat([splits.validation, splits.test])
    assert not held_out[LABEL].str.startswith("tail").any()
    assert sum(map(len, (splits.train, splits.validation, splits.test))) == len(frame)


def test_a_class_whose_products_all_drew_held_out_keeps_one_in_train():
    # GIVEN classes of five products, some of which draw validation or test for all five
    frame = pd.DataFrame({LABEL: [f"c{i // 5}" for i in range(10_000)], GROUP: [f"p{i}" for i in range(10_000)]})

    splits = split_catalogue(frame, SplitConfig())

    assert splits.train[LABEL].nunique() == 2_000
    assert splits.test[LABEL].nunique() < 2_000  # classes without a test product are simply not evaluated


def test_a_product_filed_under_two_labels_stays_whole():
    # GIVEN products whose offers carry two labels (label noise), one of them a small class
    frame = pd.DataFrame({
        LABEL: ["TVs", "Monitors"] * 200 + ["TVs"] * 400 + ["Typewriters"],
        GROUP: [f"p{i // 2}" for i in range(400)] + [f"q{i}" for i in range(400)] + ["p7"],
    })  # fmt: skip

    splits = split_catalogue(frame, SplitConfig())

    parts = [set(part[GROUP]) for part in (splits.train, splits.validation, splits.test)]
    assert not parts[0] & parts[1]
    assert not parts[0] & parts[2]
    assert not parts[1] & parts[2]
    assert "p7" in parts[0]  # a product of a small class trains with all its offers


def test_quotes_escaped_with_a_backslash_are_named_with_how_to_export_them(tmp_path: Path):
    # GIVEN a CSV as MySQL or PostgreSQL's text format writes a quote inside a field: \"
    path = tmp_path / "dump.csv"
    path.write_text('title,seller_id,category\n"acme 55\\" tv, black",s1,TVs\n"acme 40\\" tv, white",s2,TVs\n')

    # THEN the refusal says what the backslash is and how to export the file
    with pytest.raises(DataValidationError, match=re.escape('escapes a quote inside a field as \\"')):
        read_catalogue(path)


def test_a_missing_column_among_many_says_how_many_more_were_found(tmp_path: Path):
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(25)) + "\n" + ",".join("x" * 25) + "\n")

    with pytest.raises(
        DataValidationError, match=r"missing column\(s\) \['title'\]; found \['c0', .*'c19'\] and 5 more"
    ):
        read_catalogue(path, required=["title"])


def test_fewer_than_two_classes_after_cleaning_says_what_cleaning_dropped():
    # GIVEN a limit no title fits (data.max_text_length: 1): every row is dropped as too long
    frame = _catalogue(50)

    with pytest.raises(
        DataValidationError, match=r"0 class\(es\) after cleaning \(0 of 50 rows kept; dropped: 50 too "
    ):
        prepare_catalogue(frame, replace(CONFIG, max_text_length=1), source="products.csv")


@pytest.mark.parametrize("missing", [["", "  "], ["N/A", " - "], ["null", "NaN"], ["\u2014", "\u2013\u00a0"]])
def test_blank_prices_in_a_text_column_are_missing_as_a_csvs_empty_cells_are(missing):
    # GIVEN prices held as text, with blanks for unknown ones or text saying so (a feed's "N/A", "-")
    frame = _catalogue(50).astype({"price": object})
    frame.loc[[1, 2], "price"] = missing

    prepared = prepare_catalogue(frame, CONFIG, source="export.parquet")

    blank = prepared["title"].isin(frame.loc[[1, 2], "title"])
    assert blank.sum() == 2
    assert prepared.loc[blank, "price"].isna().all()


def test_a_price_with_a_no_break_space_at_its_end_is_its_number_as_with_a_space():
    # GIVEN prices as a spreadsheet pastes them: a no-break space or a thin space beside the number
    frame = _catalogue(50).astype({"price": object})
    frame.loc[[1, 2, 3], "price"] = ["12.99 ", "12.99\u00a0", "\u200912.99"]

    prepared = prepare_catalogue(frame, CONFIG, source="export.csv")

    pasted = prepared["title"].isin(frame.loc[[1, 2, 3], "title"])
    assert prepared.loc[pasted, "price"].tolist() == pytest.approx([12.99] * 3)


@pytest.mark.parametrize(
    "above",
    [
        # Amazon's flat-file template row: a few named cells, the rest blank
        "TemplateType=fptcustom,Version=2023.0315,The top rows are for Amazon.com use only" + "," * 4 + "\n",
        # a report's title line, padded with commas as Excel saves it
        "Product export 2024-05-01" + "," * 6 + "\n",
        # a title line holding other delimiters, which must not pass for the file's
        "Product export | Shop A; 2024" + "," * 6 + "\n",
    ],
)
def test_a_header_below_the_first_line_is_named_with_the_lines_to_delete(tmp_path, above):
    path = tmp_path / "export.csv"
    path.write_text(above + generate_catalogue(5, seed=1).to_csv(index=False))

    with pytest.raises(
        DataValidationError, match=r"header looks to be the file.s row 2: delete the 1 row\(s\) above it"
    ):
        read_catalogue(path, required=["title", "category"])


def test_a_category_path_stored_as_a_list_of_levels_is_refused_with_how_to_join_it(tmp_path):
    # GIVEN a warehouse dump whose category path is a list column, as Spark and BigQuery store arrays
    frame = generate_catalogue(4, seed=1).assign(category=[["Home", "Dishwashers"]] * 4)
    frame.to_parquet(tmp_path / "dump.parquet")

    with pytest.raises(
        DataValidationError,
        match=r"joined by one separator, which the config names as data.path_separator; in SQL, array_join",
    ):
        read_catalogue(tmp_path / "dump.parquet", required=["title", "category"])
    # AND `make check-data`, which reads every column and refuses it while cleaning, advises alike
    with pytest.raises(DataValidationError, match=r"is a nested column .*; write its items as one text"):
        prepare_catalogue(read_catalogue(tmp_path / "dump.parquet"), CONFIG, source="dump.parquet")


def test_a_file_without_a_header_line_is_named_so(tmp_path):
    # GIVEN Rakuten's catalogue TSV: a title and a path of category ids per line, and no header
    path = tmp_path / "rdc-catalog-train.tsv"
    path.write_text("Kaito piece landscape puzzle 1000 red 615\t357>2741>1274\nBrio cushion pillow foam\t789>791\n")

    with pytest.raises(DataValidationError, match=r"reads as a listing, not a header: add a header line above it"):
        read_catalogue(path, required=["Title", "Category"])
    # AND a Parquet file, which has no lines, is never told to add a header line
    pd.DataFrame({0: ["Kaito piece landscape puzzle 1000 red 615"], 1: ["357>2741"]}).to_parquet(tmp_path / "d.parquet")
    with pytest.raises(DataValidationError) as parquet:
        read_catalogue(tmp_path / "d.parquet", required=["Title", "Category"])
    assert "header line" not in str(parquet.value)
    # AND a header of a few long names is still a header
    named = tmp_path / "named.csv"
    named.write_text("Title of the product listing,Category\nacme tv,TVs\n")
    with pytest.raises(DataValidationError) as raised:
        read_catalogue(named, required=["title", "category"])
    assert "reads as a listing" not in str(raised.value)


def test_a_quote_never_closed_is_named_by_the_line_it_opens_on(tmp_path):
    # GIVEN a tab-separated export whose 4th line opens a quote (an inch mark) no later quote closes
    path = tmp_path / "export.tsv"
    path.write_text('title\tcategory\n"two\nlines"\tTVs\nplain\tTVs\n"55 inch tv\tTVs\nmore\tTVs\n')

    with pytest.raises(DataValidationError, match=r"the quote that opens a field on line 5 is never closed") as raised:
        read_catalogue(path)
    assert "close the quote, or remove it" in str(raised.value)


def test_a_number_refused_in_a_row_whose_title_spans_lines_names_the_unclosed_quote(tmp_path):
    # GIVEN a CSV whose unclosed quote reads the lines after it into one title, shifting a seller id into the price
    lines = generate_catalogue(6, seed=1).to_csv(index=False).splitlines()
    lines[2] = lines[2].replace(",", ',"', 1)
    lines[4] = lines[4].replace(",s7921,", ',s7921",', 1)
    path = tmp_path / "export.csv"
    path.write_text("\n".join(lines) + "\n")
    raw = read_catalogue(path)

    with pytest.raises(
        DataValidationError, match=r"that row's title spans 3 lines: a quote in it that is never closed"
    ):
        prepare_catalogue(raw, CONFIG, source=str(path))


def test_a_ragged_row_is_named_by_the_files_own_line_past_a_title_spanning_lines(tmp_path):
    # GIVEN a quoted title over two lines (legal), then a row with an unquoted comma on the file's 5th line
    lines = generate_catalogue(3, seed=1).to_csv(index=False).splitlines()
    spanning = '"two\nlines"' + lines[1][lines[1].index(",") :]
    broken = lines[3].replace(",", ", 60 cm,", 1)
    path = tmp_path / "export.csv"
    path.write_text("\n".join([lines[0], spanning, lines[2], broken]) + "\n")

    with pytest.raises(DataValidationError, match=r"line 5 has 8 fields where the rows before it have 7: a field"):
        read_catalogue(path)
