"""The offline commands hold against a careless or hostile file as the API holds against a request (issue 21).

A corpus of bad files, generated small (the 2 GB one sparse), goes through `make train` (local engine),
`make check-data` (strict) and `make predict`: each must end in one error line, exit 1, and write nothing —
no artifacts, no MLflow run, no OUT, no staging folder left beside it.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import replace
from datetime import date, time
from decimal import Decimal
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from handler import schemas
from handler.settings import Settings
from training.cli import predict as predict_module
from training.cli.check_data import app as check_data_app
from training.cli.compare import app as compare_app
from training.cli.predict import app as predict_app
from training.cli.review_queue import app as review_queue_app
from training.cli.train import app as train_app
from training.columns import EXTRA_TEXT, GROUP
from training.config import DEFAULT_CONFIG_PATH, MAX_TEXT_LENGTH, load_config
from training.data import clean
from training.data.clean import prepare_catalogue
from training.data.load import load_catalogue, read_catalogue
from training.data.synthetic import generate_catalogue
from training.engines.dask.prepare import cleaned_partition
from training.exceptions import DataValidationError

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

HEADER = "title,seller_id,brand,price,category,product_id"
ROW = "bosch sms46 dishwasher,s1,bosch,399,Dishwashers,p1"


def _csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _two_gigabyte_line(path: Path) -> Path:
    """A header and one 2 GB line, sparse on disk: no newline ever ends it."""
    with path.open("wb") as handle:
        handle.write(f"{HEADER}\n".encode())
        handle.truncate(2 << 30)
    return path


def _parquet(path: Path, table: pa.Table) -> Path:
    pq.write_table(table, path)
    return path


def _frame_table(**columns: pa.Array) -> pa.Table:
    base = {
        "title": pa.array(["bosch dishwasher", "lg tv"]),
        "seller_id": pa.array(["s1", "s2"]),
        "brand": pa.array(["bosch", "lg"]),
        "price": pa.array([399.0, 599.0]),
        "category": pa.array(["Dishwashers", "TVs"]),
        "product_id": pa.array(["p1", "p2"]),
    }
    return pa.table(base | columns)


def _beside_a_compressed_export(folder: Path) -> Path:
    (folder / "notes").mkdir(parents=True)
    _csv(folder / "a.csv", f"{HEADER}\n{ROW}\n")
    _bytes(folder / "b.csv.gz", gzip.compress(f"{HEADER}\n{ROW}\n".encode()))
    _csv(folder / "notes" / "d.txt", f"{HEADER}\n{ROW}\n")
    return folder


def _second_file_lacks_a_column(folder: Path) -> Path:
    folder.mkdir()
    _csv(folder / "a.csv", f"{HEADER}\n{ROW}\n")
    _csv(folder / "b.csv", "seller_id,brand,price,category,product_id\ns2,lg,599,TVs,p2\n")  # no title
    return folder


# name → (builder, what the one error line says); every command must refuse each of them
CORPUS: dict[str, tuple[Callable[[Path], Path], str]] = {
    "semicolon-delimited": (
        lambda d: _csv(d / "semi.csv", HEADER.replace(",", ";") + "\n" + ROW.replace(",", ";") + "\n"),
        "(the file looks ';'-delimited: save it comma-separated)",
    ),
    "tab-delimited, commas in its rows": (
        lambda d: _csv(
            d / "tabs.csv", HEADER.replace(",", "\t") + "\n" + ROW.replace(",", "\t") + "\nlg tv, 55in\ts2\n"
        ),
        ": line 3 has 2 fields where the rows before it have 1 (the file looks '\\t'-delimited: name it "
        ".tsv, or save it comma-separated)",
    ),
    "tilde-delimited, commas in its rows (a Spanish grocery scrape)": (
        lambda d: _csv(d / "tilde.csv", HEADER.replace(",", "~") + "\n" + ROW.replace(",", "~") + "\nlg tv, 55in~s2\n"),
        "(the file looks '~'-delimited: save it comma-separated)",
    ),
    "semicolon-delimited, a decimal comma in the first row": (
        lambda d: _csv(d / "semi-comma.csv", HEADER.replace(",", ";") + "\n" + ROW.replace(",", ";") + ",50\n"),
        "the file looks ';'-delimited: save it comma-separated",
    ),
    "tab-delimited, a comma in the first row": (
        lambda d: _csv(d / "tab-comma.csv", HEADER.replace(",", "\t") + "\n" + ROW.replace(",", "\t") + ", 2 year\n"),
        "the file looks '\\t'-delimited: name it .tsv, or save it comma-separated",
    ),
    "Excel's sep= first line": (
        lambda d: _csv(d / "excel-sep.csv", f"sep=,\n{HEADER}\n{ROW}\n"),
        "delete its first line, Excel's `sep=` line, so the header comes first",
    ),
    "a title line above the header": (
        lambda d: _csv(d / "banner.csv", f"Product export 2024-05-01\n{HEADER}\n{ROW}\n"),
        "its first line ('Product export 2024-05-01') names one column: if it is a title or a note above the header, "
        "delete the lines above the header",
    ),
    "a header naming its first column alone": (
        lambda d: _csv(d / "one-name.csv", f"title\n{ROW}\n"),
        "name every column in the header",
    ),
    "header only": (lambda d: _csv(d / "header.csv", HEADER + "\n"), "no rows"),
    "Windows-1252 export": (
        lambda d: _bytes(
            d / "cp1252.csv", f"{HEADER}\nbosch sp\u00fclmaschine,s1,bosch,399,Dishwashers,p1\n".encode("cp1252")
        ),
        "not UTF-8 text (line 2 holds byte 0xfc, which cannot be decoded); save it as UTF-8",
    ),
    "UTF-16 export (Excel's Unicode Text)": (
        lambda d: _bytes(d / "utf16.csv", f"{HEADER}\n{ROW}\n".encode("utf-16")),
        "it is UTF-16 text (its first bytes say so); save it as UTF-8",
    ),
    "UTF-16 tab-separated export (Excel's Unicode Text, named .tsv)": (
        lambda d: _bytes(d / "utf16.tsv", f"{HEADER}\n{ROW}\n".replace(",", "\t").encode("utf-16")),
        "it is UTF-16 text (its first bytes say so); save it as UTF-8 (Excel's 'Unicode Text' is UTF-16: convert it",
    ),
    "UTF-16 without a byte-order mark (its ASCII reads as UTF-8 with NUL bytes)": (
        lambda d: _bytes(d / "utf16le.csv", f"{HEADER}\n{ROW}\n".encode("utf-16-le")),
        "its header holds NUL bytes, as UTF-16 or UTF-32 text without a byte-order mark does; save it as UTF-8",
    ),
    "UTF-16 without a byte-order mark, with a letter beyond ASCII": (
        lambda d: _bytes(
            d / "utf16de.csv", f"{HEADER}\nbosch sp\u00fclmaschine,s1,bosch,399,Dishwashers,p1\n".encode("utf-16-le")
        ),
        "it holds NUL bytes, as UTF-16 or UTF-32 text without a byte-order mark does; save it as UTF-8",
    ),
    "UTF-32 export": (
        lambda d: _bytes(d / "utf32.csv", f"{HEADER}\n{ROW}\n".encode("utf-32")),
        "it is UTF-32 text (its first bytes say so); save it as UTF-8",
    ),
    "one Windows-1252 row deep in a UTF-8 export": (
        lambda d: _bytes(
            d / "one-row.csv",
            f"{HEADER}\n".encode()
            + f"{ROW}\n".encode() * 3_000
            + "caf\u00e9 machine,s1,b,9,Coffee,p9\n".encode("cp1252"),
        ),
        "it is not UTF-8 text (line 3,002 holds byte 0xe9, which cannot be decoded)",
    ),
    "a MacRoman row in an old Mac export (lines ended by CR alone)": (
        lambda d: _bytes(
            d / "mac.csv", f"{HEADER}\r{ROW}\r".encode() + "caf\u00e9,s1,b,9,Coffee,p9\r".encode("mac-roman")
        ),
        "it is not UTF-8 text (line 3 holds byte 0x8e, which cannot be decoded)",
    ),
    "a Latin-1 export with a pound sign in a later column than the umlaut below it": (
        lambda d: _bytes(
            d / "latin1.csv",
            f"{HEADER}\ndeal,s1,b\u00a3,9,Coffee,p1\n{ROW}\nk\u00fchl,s1,b,9,Fridges,p9\n".encode("latin-1"),
        ),
        "it is not UTF-8 text (line 2 holds byte 0xa3, which cannot be decoded)",
    ),
    "a row mid-file with an unquoted comma": (
        lambda d: _csv(d / "comma.csv", f"{HEADER}\n" + f"{ROW}\n" * 50 + "bosch, 60 cm,s1,bosch,399,Dishwashers,p2\n"),
        "line 52 has 7 fields where the rows before it have 6: a field holding the delimiter without quotes around it",
    ),
    "a row mid-file ending in empty fields beyond the header's": (
        lambda d: _csv(d / "trailing.csv", f"{HEADER}\n" + f"{ROW}\n" * 50 + f"{ROW},,\n"),
        "line 52 has 8 fields where the rows before it have 6, its last 2 empty: delimiters left at the end of the "
        "line",
    ),
    "a header below an Amazon flat file's template row": (
        lambda d: _csv(d / "flat-file.csv", "TemplateType=fptcustom,Version=2023" + "," * 4 + f"\n{HEADER}\n{ROW}\n"),
        "(the header looks to be the file's row 2: delete the 1 row(s) above it, so it comes first)",
    ),
    "11 bytes of garbage": (lambda d: _csv(d / "garbage.csv", "\x07garbage!\x01\n"), "missing column"),
    "duplicate column names": (
        lambda d: _csv(d / "dup.csv", f"title,{HEADER}\njunk,{ROW}\n"),
        "duplicate column name(s) ['title']",
    ),
    "duplicate column names, lines ended by CR alone (an old Mac export)": (
        lambda d: _csv(d / "dup-cr.csv", f"title,{HEADER}\rjunk,{ROW}\r"),
        "duplicate column name(s) ['title']",
    ),
    "duplicate Parquet column names": (
        lambda d: _parquet(d / "dup.parquet", pa.table([pa.array(["a"]), pa.array(["b"])], names=["title", "title"])),
        "duplicate column name(s) ['title']",
    ),
    "gzip-compressed file named .csv": (
        lambda d: _bytes(d / "zipped.csv", gzip.compress(f"{HEADER}\n{ROW}\n".encode() * 50)),
        "it is gzip-compressed, not CSV text: decompress it",
    ),
    "a CSV cut short mid-row (an interrupted download)": (
        lambda d: _csv(d / "cut.csv", f"{HEADER}\n{ROW}\n" + ROW.rsplit(",", 3)[0]),
        "its last line has 3 of the header's 6 fields and no line break after it",
    ),
    "gzip-compressed CSV cut short": (
        lambda d: _bytes(d / "cut.csv.gz", gzip.compress(f"{HEADER}\n{ROW}\n".encode() * 50)[:-12]),
        "it is named .csv.gz but its bytes are not gzip data, or are cut short",
    ),
    "list title": (
        lambda d: _parquet(d / "list.parquet", _frame_table(title=pa.array([["a"], ["b"]]))),
        "column 'title' is a nested",
    ),
    "struct seller": (
        lambda d: _parquet(d / "struct.parquet", _frame_table(seller_id=pa.array([{"id": 1}, {"id": 2}]))),
        "column 'seller_id' is a nested",
    ),
    "fractional float ids": (
        lambda d: _parquet(d / "float.parquet", _frame_table(seller_id=pa.array([1.5, 2.0]))),
        "column 'seller_id' (float64) holds 1.5",
    ),
    # Object columns that Dask (make predict, ENGINE=dask) would turn into text ("True", "2024-01-01", "12.5")
    "dates as brands (Parquet date32)": (
        lambda d: _parquet(d / "dates.parquet", _frame_table(brand=pa.array([date(2024, 1, 1), None], pa.date32()))),
        "column 'brand' (datetime64[ms]) holds Timestamp('2024-01-01 00:00:00')",
    ),
    "booleans with a gap as seller ids": (
        lambda d: _parquet(d / "flags.parquet", _frame_table(seller_id=pa.array([True, None]))),
        "column 'seller_id' (boolean) holds True",
    ),
    "times as seller ids (Parquet time64)": (
        lambda d: _parquet(d / "times.parquet", _frame_table(seller_id=pa.array([time(1, 2), None], pa.time64("us")))),
        "column 'seller_id' (time64[us][pyarrow]) holds datetime.time(1, 2)",
    ),
    "a fractional Parquet decimal as a seller id": (
        lambda d: _parquet(
            d / "decimal.parquet",
            _frame_table(seller_id=pa.array([Decimal("41.5"), Decimal("7")], pa.decimal128(20, 2))),
        ),
        "column 'seller_id' (float64) holds 41.5",
    ),
    "second file lacks a column": (lambda d: _second_file_lacks_a_column(d / "folder"), "b.csv: missing column"),
    "empty folder": (lambda d: (d / "empty").mkdir() or d / "empty", "no CSV, TSV or Parquet files match"),
    "a folder holding a file of another kind beside its CSV (its rows would be left out)": (
        lambda d: _beside_a_compressed_export(d / "mixed"),
        "holds 1 file(s) that are not CSV, TSV or Parquet and would not be read: ['notes/d.txt']",
    ),
    "a comma-separated file named .tsv": (
        lambda d: _csv(d / "feed.tsv", f"{HEADER}\n{ROW}\n"),
        "(the file looks ','-delimited: name it .csv)",
    ),
    "captured traffic given as a catalogue": (
        lambda d: (d / "capture").mkdir() or _csv(d / "capture" / "capture-1.jsonl", '{"capture": 1}\n').parent,
        "(found .jsonl files: save them as .csv, .tsv or .parquet; captured traffic (.jsonl) is read by make "
        "review-queue and make compare)",
    ),
    "a feed saved as .txt": (
        lambda d: _csv(d / "feed.txt", HEADER.replace(",", "\t") + "\n"),
        "(found .txt files: save them as .csv, .tsv or .parquet; a comma- or tab-separated .txt file needs only "
        "renaming)",
    ),
    "rows with a field the header does not name": (
        lambda d: _csv(d / "extra.csv", f"{HEADER}\n{ROW},note\nlg oled tv,s2,lg,599,TVs,p2,\n"),
        "its rows have 7 fields but its header names 6 columns, and the extra fields hold data (line 2: ['note'])",
    ),
    "2 GB two-line CSV (sparse)": (lambda d: _two_gigabyte_line(d / "huge.csv"), "a line is longer than 4 MiB"),
}


def test_an_excel_export_whose_header_ends_in_blank_cells_is_read(tmp_path: Path):
    # GIVEN two exports whose headers end in two and in one blank cell, as Excel saves a sheet with empty columns
    folder = tmp_path / "excel"
    folder.mkdir()
    _csv(folder / "a.csv", f"{HEADER},,\n{ROW},,\n")
    _csv(folder / "b.csv", f"{HEADER},\nlg oled tv,s2,lg,599,TVs,p2,\n")

    report = CliRunner().invoke(check_data_app, ["--data", str(folder)])
    loaded = read_catalogue(folder)

    # THEN both rows are read, without the unnamed columns; a repeated real name is still refused (see CORPUS)
    assert "2 rows in, 2 kept" in report.output
    assert "missing column" not in report.output
    assert list(loaded.columns) == HEADER.split(",")


def test_a_tab_separated_merchant_center_feed_is_read_by_its_tabs(tmp_path: Path):
    # GIVEN a Google Merchant Center feed as Merchant Center exports it: tab-separated, commas and inches in titles
    rows = [HEADER.split(","), ['samsung 55" tv, 4k', "s1", "samsung", "499", "TVs", "p1"]]
    _csv(tmp_path / "feed.tsv", "\n".join("\t".join(row) for row in rows) + "\n")

    # THEN every field is read whole, under its own column
    assert read_catalogue(tmp_path / "feed.tsv").to_dict("records") == [dict(zip(*rows, strict=True))]


def test_an_export_that_ends_every_row_in_a_comma_is_read_by_its_header(tmp_path: Path):
    # GIVEN an export whose data rows end in one and in two empty fields the header does not name
    folder = tmp_path / "trailing"
    folder.mkdir()
    _csv(folder / "a.csv", f"{HEADER}\n{ROW},\n")
    _csv(folder / "b.csv", f"{HEADER}\nlg oled tv,s2,lg,599,TVs,p2,,\n")

    loaded = read_catalogue(folder)

    # THEN every value is read under its own column (pandas alone shifts them by one: titles read from the sellers)
    assert loaded.to_dict("records") == [
        dict(zip(HEADER.split(","), ROW.split(","), strict=True)),
        dict(zip(HEADER.split(","), ["lg oled tv", "s2", "lg", "599", "TVs", "p2"], strict=True)),
    ]


def test_an_export_whose_lines_end_in_cr_alone_is_read_whatever_its_size(tmp_path: Path):
    # GIVEN an old Mac export (every line ended by "\r" alone) of more than the longest line read, 4 MiB
    rows = 120_000
    _csv(tmp_path / "mac.csv", "\r".join([HEADER, *[ROW] * rows]) + "\r")
    assert (tmp_path / "mac.csv").stat().st_size > 4 << 20

    # THEN it is read row by row (it was one line over the limit, refused)
    assert len(read_catalogue(tmp_path / "mac.csv")) == rows


def test_a_parquet_frame_saved_with_its_index_keeps_the_index_as_a_column(tmp_path: Path):
    # GIVEN a catalogue saved by pandas with its product id as the index
    frame = pd.DataFrame([dict(zip(HEADER.split(","), ROW.split(","), strict=True))])
    frame.set_index("product_id").to_parquet(tmp_path / "indexed.parquet")

    loaded = read_catalogue(tmp_path / "indexed.parquet")

    # THEN the product id is a column like any other
    assert loaded["product_id"].tolist() == ["p1"]


@pytest.fixture
def tracking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    return uri


@pytest.fixture
def strict_config(tmp_path: Path) -> Path:
    config = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    config["data"]["strict"] = True
    path = tmp_path / "strict.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _one_error_line(result) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if " ERROR " in line]
    assert len(errors) == 1, result.output
    return errors[0]


def _written(folder: Path) -> set[str]:
    return {path.name for path in folder.iterdir()}


@pytest.mark.parametrize("case", list(CORPUS))
def test_train_refuses_with_one_line_and_writes_nothing(case, tracking, tmp_path):
    build, message = CORPUS[case]
    data = build(tmp_path)
    before = _written(tmp_path)

    result = CliRunner().invoke(train_app, ["--data", str(data), "--out", str(tmp_path / "out")])

    assert message in _one_error_line(result)
    assert _written(tmp_path) == before  # no out/, no mlruns.db


@pytest.mark.parametrize("case", list(CORPUS))
def test_strict_check_data_refuses_with_one_line(case, strict_config, tmp_path):
    build, message = CORPUS[case]
    data = build(tmp_path)

    result = CliRunner().invoke(check_data_app, ["--data", str(data), "--config", str(strict_config)])

    line = _one_error_line(result)
    # a file it can read is reported on, and strict mode fails on the problem the report names
    assert message in line or ("data.strict" in line and message in result.output)


@pytest.mark.parametrize("case", list(CORPUS))
def test_predict_refuses_with_one_line_and_leaves_no_out(case, model_path, tmp_path):
    build, message = CORPUS[case]
    data = build(tmp_path)
    before = _written(tmp_path)

    result = CliRunner().invoke(
        predict_app, ["--model", str(model_path), "--data", str(data), "--out", str(tmp_path / "o")]
    )

    assert message in _one_error_line(result)
    assert _written(tmp_path) == before


def test_check_data_names_the_problems_training_refuses(tmp_path, strict_config):
    # GIVEN a catalogue without its target column
    data = _csv(tmp_path / "c.csv", "title,seller_id,brand,price,product_id\nlg tv,s1,lg,5,p1\n")

    # WHEN check-data reports on it
    result = CliRunner().invoke(check_data_app, ["--data", str(data), "--config", str(strict_config)])

    # THEN the missing column and the empty result are what training refuses the file for, and it fails
    assert (
        "refused: missing column 'category' (named in the config; if the file names it otherwise, pass CONFIG="
        in result.output
    )
    assert "refused: no rows to train on: 1 rows in, 0 kept" in result.output
    assert result.exit_code == 1
    # AND its summary counts no rows as dropped for a missing label: the column is missing, not the labels
    assert "1 rows in; 1 of the config's columns are missing from the file (below)" in result.output
    assert "without label" not in result.output


def test_check_data_on_a_file_cut_by_another_delimiter_is_one_refusal_saying_so(tmp_path, strict_config):
    # GIVEN a continental Excel export: semicolons, so no column of the config is found
    data = _csv(tmp_path / "semi.csv", HEADER.replace(",", ";") + "\n" + ROW.replace(",", ";") + "\n")

    result = CliRunner().invoke(check_data_app, ["--data", str(data), "--config", str(strict_config)])

    # THEN one refusal names the columns and the delimiter, and nothing follows from it as a problem of its own
    [refusal] = [line for line in result.output.splitlines() if line.startswith("refused:")]
    assert "missing column(s) 'brand', 'price', 'seller_id', 'title', 'category'" in refusal
    assert "the file looks ';'-delimited: save it comma-separated" in refusal
    assert "problem:" not in result.output
    assert result.exit_code == 1


def test_check_data_fails_as_training_does_on_a_currency_price_without_strict(tmp_path):
    # GIVEN a Shopify-style export with prices written as currency, checked without data.strict
    data = _csv(tmp_path / "c.csv", f"{HEADER}\n{ROW.replace(',399,', ',"$1,299.00",')}\nlg tv,s2,lg,599,TVs,p2\n")

    checked = CliRunner().invoke(check_data_app, ["--data", str(data)])
    trained = CliRunner().invoke(train_app, ["--data", str(data), "--out", str(tmp_path / "out")])

    # THEN check-data says training refuses it, and exits 1, as training then does
    assert "refused: numeric column 'price' has 1 values that are not numbers" in checked.output
    assert "training would refuse this file" in checked.output
    assert checked.exit_code == 1
    assert "column 'price' must be numeric, found '$1,299.00' in data row 1" in _one_error_line(trained)


def test_the_offline_limits_are_the_apis():
    assert load_config(DEFAULT_CONFIG_PATH).data.max_text_length == MAX_TEXT_LENGTH == Settings().max_text_length
    assert clean.FLOAT32_MAX == schemas.FLOAT32_MAX
    assert clean.MAX_INTEGER_ID == schemas.MAX_INTEGER_ID


def _predict(model_path: Path, data: Path, out: Path | str, *extra: str):
    return CliRunner().invoke(predict_app, ["--model", str(model_path), "--data", str(data), "--out", str(out), *extra])


@pytest.fixture
def twenty_rows(tmp_path: Path) -> Path:
    path = tmp_path / "rows.csv"
    generate_catalogue(20, seed=5).to_csv(path, index=False)
    return path


def test_predict_refuses_a_non_empty_out_and_replaces_it_only_when_asked(model_path, twenty_rows, tmp_path):
    # GIVEN a first run's OUT, and a folder of the user's own Parquet files
    out = tmp_path / "out"
    assert _predict(model_path, twenty_rows, out).exit_code == 0
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "keep.parquet").write_bytes(b"mine")

    # WHEN predict runs into either again, without and with --replace
    again = _predict(model_path, twenty_rows, out)
    foreign = _predict(model_path, twenty_rows, theirs)
    replaced = _predict(model_path, twenty_rows, out, "--replace")

    # THEN a non-empty OUT is refused untouched; --replace swaps in exactly the new run's rows
    assert "is not empty" in _one_error_line(again)
    assert "is not empty" in _one_error_line(foreign)
    assert (theirs / "keep.parquet").read_bytes() == b"mine"
    assert replaced.exit_code == 0, replaced.output
    assert len(pd.read_parquet(out)) == 20
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".")]


def test_predictions_inside_the_data_folder_or_taken_for_data_are_one_line_saying_so(model_path, tmp_path):
    # GIVEN a folder of catalogue files, and the predictions of an earlier run
    data = tmp_path / "catalogue"
    data.mkdir()
    generate_catalogue(20, seed=5).to_parquet(data / "part.0.parquet")
    earlier = tmp_path / "earlier"
    assert _predict(model_path, data, earlier).exit_code == 0

    # WHEN the predictions are to be written inside the data folder, or the earlier ones are given as the data
    inside = _predict(model_path, data, data / "predictions")
    as_data = _predict(model_path, earlier, tmp_path / "again")

    # THEN each is one line saying what happened, and nothing is written inside the data
    assert "is inside DATA" in _one_error_line(inside)
    assert "the next run on DATA would read the predictions as listings" in _one_error_line(inside)
    assert "these are the columns `make predict` writes" in _one_error_line(as_data)
    assert sorted(path.name for path in data.iterdir()) == ["part.0.parquet"]


def test_replace_never_deletes_a_folder_predict_did_not_write(model_path, twenty_rows, tmp_path, monkeypatch):
    # GIVEN the data's own folder, and a folder of earlier predictions used as the data
    data = tmp_path / "catalogue"
    data.mkdir()
    generate_catalogue(20, seed=5).to_parquet(data / "part.0.parquet")
    (data / "notes.md").write_text("mine")
    earlier = tmp_path / "earlier"
    assert _predict(model_path, twenty_rows, earlier).exit_code == 0
    monkeypatch.chdir(tmp_path)

    # WHEN predict replaces either, or is told to write to object storage
    into_data = _predict(model_path, data / "part.0.parquet", data, "--replace")
    onto_itself = _predict(model_path, earlier, earlier, "--replace")
    to_s3 = _predict(model_path, twenty_rows, "s3://bucket/predictions")

    # THEN each is one line, and nothing is deleted or written
    assert "which `make predict` did not write" in _one_error_line(into_data)
    assert "is inside OUT" in _one_error_line(onto_itself)
    assert "is not a local folder" in _one_error_line(to_s3)
    assert sorted(path.name for path in data.iterdir()) == ["notes.md", "part.0.parquet"]
    assert len(pd.read_parquet(earlier)) == 20
    assert not (tmp_path / "s3:").exists()


@pytest.mark.parametrize(("out", "message"), [("rows.csv", "is a file"), ("rows.csv/sub", "cannot write OUT")])
def test_predict_refuses_an_out_it_cannot_use(model_path, twenty_rows, tmp_path, out, message):
    before = _written(tmp_path)

    result = _predict(model_path, twenty_rows, tmp_path / out)

    assert message in _one_error_line(result)
    assert _written(tmp_path) == before


def test_a_failure_mid_run_leaves_no_out_and_no_staging(model_path, tmp_path):
    # GIVEN a folder whose second file only fails once its rows are read (a fractional id)
    folder = tmp_path / "data"
    folder.mkdir()
    generate_catalogue(20, seed=5).to_csv(folder / "a.csv", index=False)
    generate_catalogue(20, seed=6).assign(seller_id=2.5).to_parquet(folder / "b.parquet")
    before = _written(tmp_path)

    result = _predict(model_path, folder, tmp_path / "out")

    assert "holds 2.5" in _one_error_line(result)
    assert _written(tmp_path) == before


NOT_A_NUMBER = "price: not a number (no currency symbols or thousands separators)"
BLANK = "title: empty, or whitespace or zero-width characters alone"


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("title", "x" * 1_000_000, "title: longer than 2,000 characters"),  # the API's limit
        ("title", " \t ", BLANK),
        ("title", "\u200b\u00ad\u2060", BLANK),  # zero-width space, soft hyphen, word joiner: the graph drops them
        ("price", "inf", "price: not a finite number up to 3.403e+38"),
        ("price", "1e300", "price: not a finite number up to 3.403e+38"),  # beyond float32
        ("price", "-5", "price: below 0"),
        ("price", "$1,299.00", NOT_A_NUMBER),  # a currency string: training refuses it, the API answers 422
        ("price", "2026-12-05", NOT_A_NUMBER),
        ("price", "1.299,00", "price: a number with a decimal comma; write it with a decimal point"),
        ("price", "12.99 EUR", "price: a price in EUR; the model reads plain numbers, write the number alone"),
    ],
)
def test_predict_does_not_score_a_row_the_api_refuses(model_path, tmp_path, column, value, reason):
    # GIVEN 20 rows, one of which the API would refuse with a 422
    frame = generate_catalogue(20, seed=5).astype({"price": str})
    frame.loc[7, column] = value
    data = tmp_path / "rows.csv"
    frame.to_csv(data, index=False)

    # WHEN they are scored
    result = _predict(model_path, data, tmp_path / "out")

    # THEN that row keeps its id without a label, says why, is counted, and the others are scored
    assert result.exit_code == 0, result.output
    assert '"refused_rows": 1' in result.output
    scored = pd.read_parquet(tmp_path / "out")
    assert scored["label"].isna().tolist() == [index == 7 for index in range(20)]
    assert scored["refused"].fillna("").tolist() == [reason if index == 7 else "" for index in range(20)]
    assert json.loads(result.stdout)["refused_by_reason"] == {reason: 1}


def test_a_file_every_row_of_which_is_refused_says_so_with_the_reasons(model_path, tmp_path):
    # GIVEN an Amazon India export whose every price carries the rupee sign
    data = tmp_path / "amazon.csv"
    generate_catalogue(6, seed=5).assign(price="₹1,099").to_csv(data, index=False)

    result = _predict(model_path, data, tmp_path / "out")

    # THEN the run says no row was scored and why, in its warning and its summary
    assert result.exit_code == 0, result.output
    (warning,) = [line for line in result.output.splitlines() if "rows not scored" in line]
    assert "none of the 6 rows was scored" in warning
    [(reason, count)] = json.loads(result.stdout)["refused_by_reason"].items()
    assert count == 6
    assert reason.startswith("price:")


def test_training_drops_and_counts_rows_over_the_limit(tmp_path):
    # GIVEN a catalogue with three titles over the API's limit, as CSV (the shared reader)
    config = load_config(DEFAULT_CONFIG_PATH)
    frame = generate_catalogue(400, seed=5)
    frame.loc[[3, 40, 41], "title"] = ["y" * 1_000_000, "z" * (MAX_TEXT_LENGTH + 1), "w" * MAX_TEXT_LENGTH]
    data = tmp_path / "c.csv"
    frame.to_csv(data, index=False)

    # WHEN the local engine loads it (both engines clean with the same model_rows)
    loaded = load_catalogue(config, str(data))

    # THEN the two over the limit are dropped and counted; one at the limit is kept
    assert loaded.report.dropped["too_long"] == 2
    assert loaded.frame["title"].str.len().max() == MAX_TEXT_LENGTH
    assert "2 rows have a text longer than 2000 characters" in " ".join(loaded.report.problems)


def test_the_dask_engine_cleans_a_partition_as_the_local_engine_does():
    # GIVEN a raw partition with a title over the limit and float64 ids (a nullable integer column read back)
    config = load_config(DEFAULT_CONFIG_PATH)
    raw = generate_catalogue(200, seed=5)
    raw.loc[4, "title"] = "v" * (MAX_TEXT_LENGTH + 1)
    raw["seller_id"] = [float(index) for index in range(200)]

    # WHEN the Dask engine prepares it (stage 1, on a worker) and the local engine cleans it
    on_dask = cleaned_partition(raw, config, "part-0")
    local = prepare_catalogue(raw, config.data)

    # THEN both keep the same rows with the same text
    assert len(on_dask) == len(local) == 199
    assert sorted(on_dask["seller_id"]) == sorted(local["seller_id"])
    assert "4" not in set(local["seller_id"])
    assert "5" in set(local["seller_id"])


def test_label_aliases_apply_to_integer_category_ids_in_parquet(tmp_path: Path):
    # GIVEN Google category ids stored as int64, one of them retired, and a config merging it into its successor
    frame = generate_catalogue(400, seed=5)
    ids = {name: 100 + code for code, name in enumerate(sorted(frame["category"].unique()))}
    frame["category"] = frame["category"].map(ids).astype("int64")
    frame.loc[:9, "category"] = 99
    frame.to_parquet(tmp_path / "ids.parquet")
    config = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    config["data"]["label_aliases"] = {99: 100}
    (tmp_path / "ids.yaml").write_text(yaml.safe_dump(config))

    report = CliRunner().invoke(
        check_data_app, ["--data", str(tmp_path / "ids.parquet"), "--config", str(tmp_path / "ids.yaml")]
    )
    catalogue = prepare_catalogue(pd.read_parquet(tmp_path / "ids.parquet"), load_config(tmp_path / "ids.yaml").data)

    # THEN the alias is read as the label text training uses ("99" → "100"), by the report and training alike
    assert report.exit_code == 0, report.output
    assert "not a label in the data" not in report.output
    assert "99" not in set(catalogue["label"])


def test_a_long_training_text_is_cut_and_never_drops_its_row(tmp_path: Path):
    # GIVEN a catalogue whose extra training text (a product description) runs past the API's text limit
    frame = generate_catalogue(200, seed=5).assign(description="fits every kitchen " * 200)
    config = replace(load_config(DEFAULT_CONFIG_PATH).data, training_text=("description",))

    cleaned = prepare_catalogue(frame, config)

    # THEN every row trains, with the description's start as its extra text
    assert len(cleaned) == len(frame.drop_duplicates(subset=["title", "seller_id", "brand", "price", "category"]))
    assert cleaned[f"{EXTRA_TEXT}0"].str.len().max() == config.max_text_length


def test_product_ids_past_the_apis_integer_limit_group_the_split(tmp_path: Path):
    # GIVEN 16-digit marketplace product ids stored as int64 (never an API input, so the API's ±1e15 does not apply)
    frame = generate_catalogue(400, seed=5)
    frame["product_id"] = frame["product_id"].factorize()[0].astype("int64") + 4_000_000_000_000_000
    frame.to_parquet(tmp_path / "big-ids.parquet")

    cleaned = prepare_catalogue(pd.read_parquet(tmp_path / "big-ids.parquet"), load_config(DEFAULT_CONFIG_PATH).data)

    assert cleaned[GROUP].str.startswith("4000000000000").all()
    assert cleaned[GROUP].nunique() == frame["product_id"].nunique()


def test_product_ids_past_float64s_precision_with_gaps_keep_every_digit(tmp_path: Path):
    # GIVEN 19-digit product ids stored as int64 with some missing, as a warehouse export writes a nullable BIGINT
    frame = generate_catalogue(400, seed=5)
    ids = frame["product_id"].factorize()[0].astype("int64") + 1_234_567_890_123_456_789
    frame["product_id"] = pd.array(ids, dtype="Int64")
    frame.loc[::10, "product_id"] = pd.NA
    frame.to_parquet(tmp_path / "nullable-ids.parquet")

    cleaned = prepare_catalogue(
        read_catalogue(tmp_path / "nullable-ids.parquet"), load_config(DEFAULT_CONFIG_PATH).data
    )

    # THEN each id is its exact decimal text (as float64, neighbouring ids became one), and a row without one is
    # grouped by its title
    named = cleaned[GROUP][~cleaned[GROUP].str.startswith(clean.UNGROUPED)]
    assert set(named) <= {str(value) for value in ids}
    assert named.nunique() == frame["product_id"].dropna().nunique()


@pytest.mark.parametrize("written", [" ", "N/A", "null", " - "])
def test_a_product_id_written_as_a_missing_value_names_no_product(tmp_path: Path, written: str):
    # GIVEN an export that writes a missing product id as spaces or a placeholder on a fifth of its rows
    frame = generate_catalogue(400, seed=5)
    frame.loc[::5, "product_id"] = written
    frame.to_csv(tmp_path / "gaps.csv", index=False)

    cleaned = prepare_catalogue(read_catalogue(tmp_path / "gaps.csv"), load_config(DEFAULT_CONFIG_PATH).data)

    # THEN those rows are grouped by their titles, as rows without an id are, never dealt to one split as one product
    ungrouped = cleaned[GROUP].str.startswith(clean.UNGROUPED)
    assert cleaned.loc[ungrouped, GROUP].nunique() > 1
    assert written.strip() not in set(cleaned[GROUP])


@pytest.mark.parametrize("mark", ["", "\ufeff"], ids=["plain", "byte-order marks"])
def test_exports_joined_with_their_headers_are_refused_naming_the_header_rows(tmp_path: Path, mark: str):
    # GIVEN two exports joined by `cat`, each with its header (and Excel's byte-order mark): the second header is a
    # row of the file
    first, second = generate_catalogue(200, seed=5), generate_catalogue(200, seed=6)
    joined = mark + first.to_csv(index=False) + mark + second.to_csv(index=False)
    (tmp_path / "joined.csv").write_text(joined)

    report = CliRunner().invoke(check_data_app, ["--data", str(tmp_path / "joined.csv")])
    with pytest.raises(DataValidationError, match="1 data row\\(s\\) repeat the header, the first is data row 201"):
        prepare_catalogue(read_catalogue(tmp_path / "joined.csv"), load_config(DEFAULT_CONFIG_PATH).data)

    # THEN the report refuses it as training does, rather than learning a listing titled "title", and never as a
    # price with currency symbols
    assert report.exit_code == 1
    assert "repeat the header" in report.output
    assert "currency symbols" not in report.output


def test_a_product_column_of_one_value_is_named_as_the_cause(tmp_path: Path):
    # GIVEN an export whose product ids a spreadsheet rounded into one number
    frame = generate_catalogue(400, seed=5).assign(product_id="5.01E+12")
    frame.to_csv(tmp_path / "rounded.csv", index=False)

    report = CliRunner().invoke(check_data_app, ["--data", str(tmp_path / "rounded.csv")])

    assert report.exit_code == 1
    assert "every row has the same product id" in report.output


def test_files_beside_the_data_that_are_never_data_are_left_out_quietly(tmp_path: Path):
    # GIVEN an Athena result prefix copied down (a CSV and its .metadata), with Windows' Thumbs.db and an S3 marker
    folder = tmp_path / "results"
    folder.mkdir()
    _csv(folder / "query-1.csv", f"{HEADER}\n{ROW}\n")
    for name in ("query-1.csv.metadata", "Thumbs.db", "desktop.ini", "part=1_$folder$"):
        _bytes(folder / name, b"\x00\x01")

    # THEN the CSV is read, and nothing is refused
    assert len(read_catalogue(folder)) == 1


@pytest.mark.parametrize("command", ["train", "compare", "review-queue", "predict"])
def test_an_out_in_object_storage_is_refused_as_typed_and_nothing_is_written(
    command, model_path, tmp_path, monkeypatch
):
    # GIVEN OUT=s3://…, which a Path reads as the local folder s3:/…
    monkeypatch.chdir(tmp_path)
    apps = {"train": train_app, "compare": compare_app, "review-queue": review_queue_app, "predict": predict_app}
    arguments = {
        "train": ["--rows", "300", "--out", "s3://bucket/run"],
        "compare": ["--a", str(model_path), "--b", str(model_path), "--out", "s3://bucket/run"],
        "review-queue": ["--capture", str(tmp_path), "--out", "s3://bucket/run/review.csv"],
        "predict": ["--model", str(model_path), "--data", str(tmp_path), "--out", "s3://bucket/run"],
    }

    result = CliRunner().invoke(apps[command], arguments[command])

    # THEN it is one line naming OUT as typed, before any work, and no local folder named s3: is made
    line = _one_error_line(result)
    assert "OUT s3://bucket/run" in line.replace("(OUT)", "OUT")
    assert f"is not a local {'file' if command == 'review-queue' else 'folder'}" in line
    assert not (tmp_path / "s3:").exists()


def test_predictions_of_many_files_read_back_in_the_inputs_order(model_path, tmp_path):
    # GIVEN a catalogue exported as twelve files (pandas and pyarrow read a folder's parts in text order, where
    # part.10 would come before part.2)
    data = tmp_path / "export"
    data.mkdir()
    frame = generate_catalogue(60, seed=5)
    for index in range(12):
        frame.iloc[index * 5 : (index + 1) * 5].to_csv(data / f"f{index:02d}.csv", index=False)

    result = _predict(model_path, data, tmp_path / "out")

    # THEN the answers, read back as any reader does, line up with the listings; and stdout is the summary alone
    assert result.exit_code == 0, result.output
    assert pd.read_parquet(tmp_path / "out")["product_id"].tolist() == frame["product_id"].astype(str).tolist()
    assert json.loads(result.stdout)["rows"] == 60


def _writing_meanwhile(monkeypatch, path: Path) -> None:
    """Have the next runs' scoring end with someone writing `path` (a note) into OUT."""
    compute = predict_module._compute

    def meanwhile(writing, engine):
        compute(writing, engine)
        path.write_text("mine")

    monkeypatch.setattr(predict_module, "_compute", meanwhile)


def test_predict_never_publishes_over_what_was_written_into_out_while_it_scored(
    model_path, twenty_rows, tmp_path, monkeypatch
):
    # GIVEN an empty OUT, and a folder of earlier predictions, into each of which someone writes a note while a run
    # scores (or another run its predictions)
    empty, earlier = tmp_path / "empty", tmp_path / "earlier"
    empty.mkdir()
    assert _predict(model_path, twenty_rows, earlier).exit_code == 0
    _writing_meanwhile(monkeypatch, empty / "notes.txt")
    plain = _predict(model_path, twenty_rows, empty)
    _writing_meanwhile(monkeypatch, earlier / "notes.txt")
    replacing = _predict(model_path, twenty_rows, earlier, "--replace")

    # THEN neither run deletes the note: one line each says so, and nothing is left beside OUT
    assert "was written into while this run scored" in _one_error_line(plain)
    assert "which `make predict` did not write" in _one_error_line(replacing)
    assert (empty / "notes.txt").read_text() == (earlier / "notes.txt").read_text() == "mine"
    assert sorted(path.name for path in earlier.iterdir()) == ["notes.txt", "part.0.parquet"]
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".")]


def test_replace_never_deletes_a_parquet_dataset_that_holds_no_predictions(model_path, twenty_rows, tmp_path):
    # GIVEN the user's own listings written by Dask, whose parts are named as a run's are
    listings = tmp_path / "listings"
    listings.mkdir()
    generate_catalogue(20, seed=5).to_parquet(listings / "part.0.parquet")

    replaced = _predict(model_path, twenty_rows, listings, "--replace")

    assert "holds Parquet parts without the predictions' columns (confidence, label)" in _one_error_line(replaced)
    assert len(pd.read_parquet(listings)) == 20


def test_predict_refuses_a_nested_optional_input_for_the_file(model_path, tmp_path):
    # GIVEN a warehouse export whose price, an optional input, is a struct of amount and currency
    frame = generate_catalogue(4, seed=5)
    table = pa.Table.from_pandas(frame.drop(columns=["price"]), preserve_index=False)
    prices = pa.array([{"amount": 9.5, "currency": "EUR"}] * len(frame))
    pq.write_table(table.append_column("price", prices), tmp_path / "export.parquet")

    result = _predict(model_path, tmp_path / "export.parquet", tmp_path / "out")

    # THEN the file is refused in one line naming the column, as a nested required input is, not row by row
    assert "column 'price' is a nested Parquet column" in _one_error_line(result)
    assert not (tmp_path / "out").exists()
