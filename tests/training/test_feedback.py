"""The feedback loop's offline parts: reading captured traffic, the review queue, corrections and their split."""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from training.cli.compare import app as compare_app
from training.cli.review_queue import app as review_queue_app
from training.cli.train import app as train_app
from training.columns import CATALOGUE, CORRECTION, FEEDBACK_FIELDS, GROUP, LABEL, LISTING, SOURCE
from training.config import DEFAULT_CONFIG_PATH, load_config
from training.data.clean import prepare_catalogue
from training.data.load import load_catalogue
from training.data.split import catalogue_products, product_ids, product_keys, split_catalogue
from training.data.tail import TailPlan
from training.engines.local import fit_locally
from training.exceptions import DataValidationError, TrainingError
from training.feedback.capture import is_capture, parse_since, read_capture
from training.feedback.corrections import add_corrections, merge_rounds, read_corrections
from training.feedback.review_queue import build_review_queue, latest_listings, read_review_file, spreadsheet_safe
from training.feedback.served import served_labels
from training.model.metadata import input_schema
from training.reporting.compare import agreement_report

if TYPE_CHECKING:
    from pathlib import Path


def record(title: str, *, label: str = "TVs", confidence: float = 0.9, decision: str = "accept", brand: str = "acme",
           time: str = "2026-12-01T10:00:00.000Z", listing: str | None = None, item: int = 0) -> dict:  # fmt: skip
    return {
        "capture": 1, "time": time, "request_id": "r1", "item": item, "model_version": "v1",
        "listing_id": listing or title,
        "inputs": {"title": title, "seller_id": "s1", "brand": brand, "price": 10.0},
        "label": label, "confidence": confidence, "decision": decision, "decision_level": 1,
        "top_k": [{"label": label, "probability": confidence}, {"label": "Fridges", "probability": 0.05}],
        "path": [{"name": label, "node": label, "level": 1, "confidence": confidence}],
    }  # fmt: skip


def test_capture_reads_json_lines_gzip_and_cloudwatch_envelopes_and_skips_other_lines(tmp_path: Path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "capture-1.jsonl").write_text(json.dumps(record("one")) + "\n" + '{"level": "INFO"}\nnot json\n')
    (tmp_path / "b.gz").write_bytes(gzip.compress((json.dumps(record("two")) + json.dumps(record("three"))).encode()))
    envelope = {"messageType": "DATA_MESSAGE", "logEvents": [
        {"id": "1", "timestamp": 0, "message": json.dumps(record("four"))},
        {"id": "2", "timestamp": 0, "message": "START RequestId: x"},
    ]}  # fmt: skip
    (tmp_path / "firehose-raw").write_bytes(gzip.compress(json.dumps(envelope).encode()))

    (tmp_path / "a" / ".ipynb_checkpoints").mkdir()  # a notebook's copy of a file it opened: not more traffic
    (tmp_path / "a" / ".ipynb_checkpoints" / "capture-1.jsonl").write_text(json.dumps(record("copy")) + "\n")

    captured = read_capture(str(tmp_path))

    assert sorted(captured.frame["title"]) == ["four", "one", "three", "two"]
    assert captured.inputs == ["title", "seller_id", "brand", "price"]
    assert set(captured.frame["model_label"]) == {"TVs"}
    assert is_capture(str(tmp_path))


def test_since_keeps_later_records_and_an_empty_capture_is_one_clear_error(tmp_path: Path):
    lines = [record("old", time="2026-11-01T00:00:00Z"), record("new", time="2026-12-02T00:00:00Z")]
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))

    assert list(read_capture(str(tmp_path), since=parse_since("2026-12-01")).frame["title"]) == ["new"]
    with pytest.raises(DataValidationError, match="no captured listings since"):
        read_capture(str(tmp_path), since=parse_since("2027-01-01"))
    with pytest.raises(DataValidationError, match="SINCE must be"):
        parse_since("yesterday")
    assert not is_capture(str(tmp_path / "missing"))


@pytest.mark.parametrize("layout", ["year={}/month={}/day={}", "{}/{}/{}"], ids=["firehose", "local server"])
def test_since_leaves_day_folders_before_it_unread(tmp_path: Path, layout: str):
    # GIVEN a capture prefix filed by day, whose old days hold a damaged object (an interrupted copy), kept in a
    # folder whose own path looks like an older day (a backup of 2025/06/01, shop 1042/7/3)
    tmp_path = tmp_path / "backup" / "2025" / "06" / "01" / "1042" / "7" / "3" / "capture"
    for day, title in (("2026/11/30", "old"), ("2026/12/01", "arrived at midnight"), ("2026/12/02", "new")):
        folder = tmp_path / layout.format(*day.split("/"))
        folder.mkdir(parents=True)
        time = f"{day.replace('/', '-')}T00:00:00Z" if title != "arrived at midnight" else "2026-11-30T23:59:59Z"
        (folder / "part.jsonl").write_text(json.dumps(record(title, time=time)) + "\n")
    (tmp_path / layout.format("2026", "11", "30") / "cut.gz").write_bytes(gzip.compress(b"x" * 100)[:20])

    captured = read_capture(str(tmp_path), since=parse_since("2026-12-01"))

    # THEN the old days are never opened, and a record filed a day late is read and left out by its own time
    assert list(captured.frame["title"]) == ["new"]
    with pytest.raises(DataValidationError, match="unreadable gzip"):
        read_capture(str(tmp_path))


def test_a_capture_time_without_a_zone_is_read_as_utc(tmp_path: Path):
    # GIVEN a record written by another tool, its time without a zone
    lines = [record("old", time="2026-12-05T10:00:00"), record("new", time="2026-12-05T11:00:00")]
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))

    assert list(read_capture(str(tmp_path), since=parse_since("2026-12-05T10:30")).frame["title"]) == ["new"]


def test_a_capture_time_in_utc_written_with_a_lower_case_z_is_read(tmp_path: Path):
    # GIVEN RFC 3339 times another tool wrote with a lower-case `z` (and `t`)
    lines = [record("one", time="2026-12-07T18:54:38.154z"), record("two", time="2026-12-07t18:55:00z")]
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))

    captured = read_capture(str(tmp_path))

    assert list(captured.frame["title"]) == ["one", "two"]
    assert captured.skipped_text() == ""
    assert list(read_capture(str(tmp_path), since=parse_since("2026-12-07t18:54:50z")).frame["title"]) == ["two"]


def test_the_queue_ranks_review_then_challenger_then_new_brands_then_low_confidence(tmp_path: Path):
    # (a listing accepted at its department alone, its category left to a person, is queued after those sent whole)
    department = record("department only", label="Electronics > TVs") | {"decision_label": "Electronics"}
    lines = [
        record("sure and known") | {"decision_label": "TVs"},
        record("unsure", confidence=0.3),
        record("new brand", brand="zzz-new"),
        record("sent to review", decision="review", confidence=0.6),
        department,
        record("challenged"),
        record("unsure", confidence=0.35, time="2026-12-01T11:00:00Z"),  # seen twice: one row, the latest answer
    ]
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    captured = read_capture(str(tmp_path))
    # One label per listing, in the order of their latest records (`latest_listings`): "unsure" last.
    challenger = ["TVs", "TVs", "TVs", "Electronics > TVs", "Fridges", "TVs"]

    queue, qualified = build_review_queue(
        captured, known={"brand": {"acme"}}, challenger=challenger, low_confidence=0.5, limit=10
    )

    assert list(queue["title"]) == ["sent to review", "department only", "challenged", "new brand", "unsure"]
    assert qualified == 5
    assert list(queue["reasons"]) == ["review", "leaf_review", "challenger", "new_brand", "low_confidence"]
    unsure = queue[queue["title"] == "unsure"].iloc[0]
    assert unsure["times_seen"] == 2
    assert unsure["confidence"] == 0.35
    assert unsure["suggestion_1"] == "TVs"
    assert unsure["suggestion_2"] == "Fridges"
    assert unsure["label"] == ""
    # every column beside the inputs and the label is one no input may be named (the config refuses them)
    assert set(queue.columns) - {*captured.inputs, "label"} <= FEEDBACK_FIELDS
    assert set(captured.frame.columns) - set(captured.inputs) <= FEEDBACK_FIELDS
    assert unsure["path"] == "TVs (0.35)"


def test_while_a_canary_serves_the_challenger_its_own_answers_do_not_hide_a_disagreement(tmp_path: Path):
    # GIVEN traffic the live version v1 and the canary v2 both answered; v2 answered "disputed" last
    canary = {"model_version": "v2"}
    lines = [
        record("disputed", time="2026-12-01T10:00:00Z"),
        record("disputed", label="Fridges", time="2026-12-01T11:00:00Z") | canary,
        record("only the canary saw it", label="Fridges") | canary,
    ]
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    captured = read_capture(str(tmp_path))
    listings = latest_listings(captured, challenger_version="v2")
    # WHEN v2 is the challenger, answering as it served
    challenger = ["Fridges" for _ in range(len(listings))]

    queue, _ = build_review_queue(
        captured, known={}, challenger=challenger, low_confidence=0.5, limit=10, challenger_version="v2"
    )

    # THEN the listing is queued against the live version's answer, and the canary agrees with itself elsewhere
    assert list(queue["title"]) == ["disputed"]
    assert queue.iloc[0]["model_label"] == "TVs"
    assert queue.iloc[0]["challenger_label"] == "Fridges"
    assert queue.iloc[0]["times_seen"] == 2


INPUTS = ["title", "seller_id", "brand", "price"]


def _reviewed(tmp_path: Path, labels: list[str]) -> Path:
    rows = [{"listing_id": f"l{i}", "title": f"item {i}", "seller_id": "", "brand": "acme", "price": "12.5",
             "label": label, "first_seen": "2026-12-01T00:00:00Z", "last_seen": "2026-12-02T00:00:00Z"}
            for i, label in enumerate(labels)]  # fmt: skip
    path = tmp_path / "reviewed.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _read(path: Path, *, allow: bool = False):
    data = load_config(DEFAULT_CONFIG_PATH).data
    return read_corrections(path, data=data, classes={"TVs", "Fridges"}, allow_new_classes=allow)


def test_a_listing_id_a_spreadsheet_padded_is_the_listing_it_names(tmp_path: Path):
    # GIVEN a reviewed file whose ids picked up outer spaces in a spreadsheet
    path = _reviewed(tmp_path, ["TVs", "Fridges"])
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.assign(listing_id=" " + frame["listing_id"] + " ").to_csv(path, index=False)

    # THEN training records the ids as captured, the ones `make compare` leaves out of its figures
    assert _read(path).provenance["corrected_listings"] == ["l0", "l1"]


def test_corrections_keep_labelled_rows_with_provenance(tmp_path: Path):
    found = _read(_reviewed(tmp_path, ["TVs", "\u200b", "Fridges"]))  # an invisible label is no label

    assert list(found.frame[LABEL]) == ["TVs", "Fridges"]
    assert set(found.frame[SOURCE]) == {CORRECTION}
    assert found.frame["price"].tolist() == [12.5, 12.5]
    assert found.frame["seller_id"].tolist() == ["", ""]  # cleaned as the catalogue is: a missing id is ""
    assert found.provenance["rows"] == 2
    assert found.provenance["unlabelled_rows"] == 1
    assert found.provenance["superseded_rows"] == 0
    assert (found.provenance["window_start"], found.provenance["window_end"]) == (
        "2026-12-01T00:00:00.000Z", "2026-12-02T00:00:00.000Z")  # fmt: skip


def test_a_second_review_round_adds_to_the_first_and_a_listing_reviewed_again_takes_the_later_label(
    tmp_path: Path, caplog
):
    # GIVEN two rounds of review: l1 reviewed in both, relabelled in the second, and l2 only in the second
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    first = _read(_reviewed(tmp_path / "one", ["TVs", "TVs"]))
    second = _read(_reviewed(tmp_path / "two", ["", "Fridges", "Fridges"]))

    merged = merge_rounds([first, second], classes={"TVs", "Fridges"})

    # THEN every listing reviewed trains once, with its latest label, and the run records both files
    assert dict(zip(merged.frame[LISTING], merged.frame[LABEL], strict=True)) == {
        "l0": "TVs",
        "l1": "Fridges",
        "l2": "Fridges",
    }
    assert merged.provenance["rows"] == 3
    assert merged.provenance["superseded_rows"] == 1
    assert merged.provenance["unlabelled_rows"] == 1
    assert merged.provenance["corrected_listings"] == ["l0", "l1", "l2"]
    assert merged.provenance["file"] == f"{tmp_path / 'one' / 'reviewed.csv'}, {tmp_path / 'two' / 'reviewed.csv'}"
    assert merge_rounds([first], classes={"TVs"}) is first
    warned = [entry.getMessage() for entry in caplog.records if entry.levelname == "WARNING"]
    assert warned == [
        f"CORRECTIONS {tmp_path / 'one' / 'reviewed.csv'}, {tmp_path / 'two' / 'reviewed.csv'}: 1 listing(s) were "
        "given different labels, e.g. [\"l1: 'TVs' then 'Fridges'\"]: the last label read is kept (files in the order "
        "CORRECTIONS names them, oldest first; rows top to bottom)"
    ]


def test_a_listing_sent_again_in_capitals_trains_with_its_last_label_and_a_warning(tmp_path: Path, caplog):
    # GIVEN two captured listings the model reads as one ('item 0' and 'ITEM  0'), labelled differently
    path = _reviewed(tmp_path, ["TVs", "Fridges"])
    rows = pd.read_csv(path, dtype=str, keep_default_na=False)
    rows.loc[1, "title"] = "ITEM  0"
    rows.to_csv(path, index=False)

    merged = merge_rounds([_read(path)], classes={"TVs", "Fridges"})

    # THEN both listing ids train (the model records each as given) with the label read last, and a warning names them
    assert (list(merged.frame[LISTING]), list(merged.frame[LABEL])) == (["l0", "l1"], ["Fridges", "Fridges"])
    assert merged.provenance["corrected_listings"] == ["l0", "l1"]
    warned = [entry.getMessage() for entry in caplog.records if entry.levelname == "WARNING"]
    assert any("1 listing(s) were given different labels, e.g. [\"l0 / l1: 'TVs' then 'Fridges'\"]" in line
               for line in warned), warned  # fmt: skip


def test_a_listing_retyped_in_a_later_round_takes_its_label_with_a_warning(tmp_path: Path, caplog):
    # GIVEN l1 labelled TVs, then in a second round with its title retyped and labelled Fridges
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    first = _read(_reviewed(tmp_path / "one", ["TVs", "TVs"]))
    path = _reviewed(tmp_path / "two", ["", "Fridges"])
    rows = pd.read_csv(path, dtype=str, keep_default_na=False)
    rows.loc[1, "title"] = "item one"
    rows.to_csv(path, index=False)

    merged = merge_rounds([first, _read(path)], classes={"TVs", "Fridges"})

    assert dict(zip(merged.frame[LISTING], merged.frame[LABEL], strict=True)) == {"l0": "TVs", "l1": "Fridges"}
    assert "1 listing(s) were given different labels, e.g. [\"l1: 'TVs' then 'Fridges'\"]" in caplog.text


def test_two_review_files_of_the_same_bytes_are_refused(tmp_path: Path):
    (tmp_path / "copy").mkdir()
    first = _read(_reviewed(tmp_path, ["TVs"]))
    second = _read(_reviewed(tmp_path / "copy", ["TVs"]))

    with pytest.raises(DataValidationError, match="hold the same bytes: name each review round's file once"):
        merge_rounds([first, second], classes={"TVs", "Fridges"})


def test_rows_of_empty_cells_alone_are_not_counted_as_listings_left_unreviewed(tmp_path: Path):
    path = _reviewed(tmp_path, ["TVs", ""])
    path.write_text(path.read_text() + ",,,,,,,\n,,,,,,,\n")

    assert _read(path).provenance["unlabelled_rows"] == 1


def test_a_corrections_file_named_twice_is_refused_before_training(tmp_path: Path):
    path = _reviewed(tmp_path, ["TVs"])

    result = CliRunner().invoke(
        train_app, ["--corrections", f"{path},{tmp_path}/../{tmp_path.name}/reviewed.csv", "--out", str(tmp_path / "o")]
    )

    assert result.exit_code == 1
    assert f"CORRECTIONS names {path} twice (the second time as {tmp_path}/../" in result.output
    assert not (tmp_path / "o").exists()


def test_a_corrections_list_naming_no_file_is_refused_before_training(tmp_path: Path):
    result = CliRunner().invoke(train_app, ["--corrections", " , ", "--out", str(tmp_path / "o")])

    assert result.exit_code == 1
    assert "CORRECTIONS names no file (' , '): give one, or several comma-separated" in result.output
    assert not (tmp_path / "o").exists()


def test_a_folder_of_reviewed_rounds_is_refused_saying_to_name_its_files(tmp_path: Path):
    _reviewed(tmp_path, ["TVs"])

    result = CliRunner().invoke(train_app, ["--corrections", str(tmp_path), "--out", str(tmp_path / "o")])

    assert result.exit_code == 1
    assert f"CORRECTIONS {tmp_path} is a folder: name its files, comma-separated" in result.output
    assert not (tmp_path / "o").exists()


def test_a_new_class_spelt_two_ways_across_rounds_is_refused(tmp_path: Path):
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    first = _read(_reviewed(tmp_path / "one", ["Coffee Machines"]), allow=True)
    second = _read(_reviewed(tmp_path / "two", ["", "coffee machines"]), allow=True)

    with pytest.raises(DataValidationError, match="the new class 'Coffee Machines' is also spelt 'coffee machines'"):
        merge_rounds([first, second], classes={"TVs", "Fridges"})
    with pytest.raises(DataValidationError, match="is also spelt"):
        _read(_reviewed(tmp_path, ["Coffee Machines", "coffee machines"]), allow=True)


def test_the_capture_window_is_compared_as_times_and_written_in_utc(tmp_path: Path):
    # GIVEN times in two zones: 18:00+02:00 is 16:00Z, before 17:00Z, though its text sorts after it
    lines = [record("later", time="2026-12-06T17:00:00Z"), record("earlier", time="2026-12-06T18:00:00+02:00")]
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))

    assert read_capture(str(tmp_path)).window() == ("2026-12-06T16:00:00.000Z", "2026-12-06T17:00:00.000Z")

    # AND a reviewed file's window, its times in two zones, is read so too
    path = _reviewed(tmp_path, ["TVs", "Fridges"])
    rows = pd.read_csv(path, dtype=str, keep_default_na=False)
    rows["first_seen"] = ["2026-12-06T17:00:00Z", "2026-12-06T18:00:00+02:00"]
    rows["last_seen"] = ["2026-12-07T09:00:00Z", "2026-12-07T10:00:00-02:00"]
    rows.to_csv(path, index=False)
    provenance = _read(path).provenance
    assert (provenance["window_start"], provenance["window_end"]) == (
        "2026-12-06T16:00:00.000Z", "2026-12-07T12:00:00.000Z")  # fmt: skip


def test_a_label_outside_the_taxonomy_is_refused_unless_new_classes_are_allowed(tmp_path: Path):
    path = _reviewed(tmp_path, ["TVs", "Tvs"])

    with pytest.raises(DataValidationError, match=r"not classes of the catalogue, e.g. \['Tvs'\]") as refused:
        _read(path)
    # (saying what the first such label is, when it is a class spelt otherwise, a missing value or a path's end)
    assert "e.g. ['Tvs'] (label 'Tvs' is the class 'TVs' spelt another way; write" in str(refused.value)
    # AND even where new classes are allowed, a class spelt another way or a missing value written out is no class
    with pytest.raises(DataValidationError, match="label 'Tvs' is the class 'TVs' spelt another way"):
        _read(path, allow=True)
    with pytest.raises(DataValidationError, match="label '#N/A' is a missing value written out"):
        _read(_reviewed(tmp_path, ["TVs", "#N/A"]), allow=True)
    assert _read(_reviewed(tmp_path, ["TVs", "Air Fryers"]), allow=True).provenance["new_classes"] == 1
    with pytest.raises(DataValidationError, match="no row has a `label`"):
        _read(_reviewed(tmp_path, ["", ""]))
    with pytest.raises(DataValidationError, match="not found"):
        _read(tmp_path / "missing.csv")
    excel = tmp_path / "excel.csv"  # saved by Excel as Windows-1252
    excel.write_bytes(_reviewed(tmp_path, ["TVs"]).read_text().replace("item 0", "k\u00fchl").encode("cp1252"))
    with pytest.raises(DataValidationError, match=r"excel\.csv: it is not UTF-8 text \(line 2 holds byte 0xfc"):
        _read(excel)
    workbook = tmp_path / "workbook.csv"  # an .xlsx saved under a .csv name
    workbook.write_bytes(b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\xe9\xff")
    with pytest.raises(DataValidationError, match=r"workbook\.csv: it is a ZIP archive or an Excel workbook, not CSV"):
        _read(workbook)


@pytest.mark.parametrize(
    ("label", "refused"),
    [
        ("Nodapuze", "ends the path of the class 'Home > Kitchen > Nodapuze': write the whole path"),
        ("kitchen > nodapuze", "ends the path of the class 'Home > Kitchen > Nodapuze'"),
        ("Home > Kitchen", None),  # a class at an inner node, as a catalogue may file listings
        ("Garden > Nodapuze", None),  # a leaf of that name under another department
        ("Garden", None),  # a department of the tree, though a path ends in a category of its name
        ("Shoes", "ends the path of the class 'Kids > Shoes' and 1 more: write the whole path"),
    ],
)
def test_a_new_path_label_that_ends_a_class_path_is_refused_naming_the_whole_path(tmp_path: Path, label, refused):
    # GIVEN path labels, new classes allowed, and a reviewer who wrote a leaf's name, or part of its path
    data = replace(load_config(DEFAULT_CONFIG_PATH).data, path_separator=" > ")
    classes = {"Home > Kitchen > Nodapuze", "Home > Bath", "Home > Outdoor > Garden", "Garden > Sheds", "Men > Shoes",
               "Kids > Shoes"}  # fmt: skip

    def read():
        return read_corrections(_reviewed(tmp_path, [label]), data=data, classes=classes, allow_new_classes=True)

    if refused:
        with pytest.raises(DataValidationError, match=refused):
            read()
    else:
        assert read().provenance["new_classes"] == 1


def test_a_label_the_config_aliases_is_read_as_its_class(tmp_path: Path):
    data = replace(load_config(DEFAULT_CONFIG_PATH).data, label_aliases={"Televisions": "TVs"})

    found = read_corrections(_reviewed(tmp_path, ["Televisions", "Fridges"]), data=data, classes={"TVs", "Fridges"},
                             allow_new_classes=False)  # fmt: skip

    assert list(found.frame[LABEL]) == ["TVs", "Fridges"]


def _listings(titles: list[str], source: str, labels: list[str] | str) -> pd.DataFrame:
    """Rows of one seller, brand and price: a product each (the catalogue's `g…`, a correction's own)."""
    products = [f"g{i}" if source == CATALOGUE else f"correction:{i}" for i in range(len(titles))]
    return pd.DataFrame({"title": titles, "seller_id": "s", "brand": "b", "price": 1.0, LABEL: labels,
                         GROUP: products, SOURCE: source})  # fmt: skip


def test_corrections_always_train_and_never_duplicate_a_held_out_listing():
    config = load_config(DEFAULT_CONFIG_PATH)
    catalogue = _listings([f"product {i}" for i in range(400)], CATALOGUE, ["TVs", "Fridges"] * 200)
    held_out = split_catalogue(catalogue, config.split).test.iloc[0]
    corrections = _listings([f"new {i}" for i in range(100)] + [held_out["title"]], CORRECTION, "TVs")

    splits = split_catalogue(pd.concat([catalogue, corrections], ignore_index=True), config.split)

    trained = splits.train[splits.train[SOURCE] == CORRECTION]
    assert len(trained) == 100
    assert held_out["title"] not in set(trained["title"])
    assert (splits.validation[SOURCE] == CATALOGUE).all()
    assert (splits.test[SOURCE] == CATALOGUE).all()


def test_a_correction_replaces_the_catalogue_row_it_corrects():
    # GIVEN a training listing of the catalogue filed as a fridge, reviewed as a TV (sent again in capitals)
    config = load_config(DEFAULT_CONFIG_PATH)
    catalogue = _listings([f"acme product {i}" for i in range(400)], CATALOGUE, ["TVs", "Fridges"] * 200)
    trained = split_catalogue(catalogue, config.split).train
    wrong = trained[trained[LABEL] == "Fridges"].iloc[0]
    corrections = _listings([wrong["title"].upper(), "new listing"], CORRECTION, "TVs")

    splits = split_catalogue(pd.concat([catalogue, corrections], ignore_index=True), config.split)

    # THEN the reviewer's label trains in place of the catalogue's, never beside it; the rest of the catalogue stays
    assert wrong["title"] not in set(pd.concat([splits.train, splits.validation, splits.test])["title"])
    assert list(splits.train.loc[splits.train[SOURCE] == CORRECTION, LABEL]) == ["TVs", "TVs"]
    assert len(splits.train) == len(trained) - 1 + 2


def test_corrections_of_every_training_listing_of_a_class_leave_it_learnt(caplog):
    # GIVEN reviewers who relabelled every training listing of the fridges, whose held-out listings stay fridges
    config = load_config(DEFAULT_CONFIG_PATH)
    catalogue = _listings([f"acme product {i}" for i in range(400)], CATALOGUE, ["TVs", "Fridges"] * 200)
    trained = split_catalogue(catalogue, config.split).train
    fridges = trained[trained[LABEL] == "Fridges"]
    corrections = _listings(list(fridges["title"]), CORRECTION, "TVs")

    splits = split_catalogue(pd.concat([catalogue, corrections], ignore_index=True), config.split)

    # THEN the class still has training rows (its held-out rows meet a class it learnt), and a warning says why
    assert (splits.train[LABEL] == "Fridges").sum() == len(fridges)
    assert "corrections relabel every training listing of 1 class(es), e.g. ['Fridges']" in caplog.text


def test_a_held_out_listing_sent_again_in_capitals_or_other_spacing_never_trains(caplog):
    # GIVEN a catalogue with a product column, and reviewed copies of a held-out listing written as the API may
    # receive it again: in capitals, with doubled spaces, with a trailing space (the model reads all of them alike)
    config = load_config(DEFAULT_CONFIG_PATH)
    catalogue = _listings([f"acme product {i}" for i in range(400)], CATALOGUE, ["TVs", "Fridges"] * 200)
    title = split_catalogue(catalogue, config.split).test.iloc[0]["title"]
    corrections = _listings([title.upper(), title.replace(" ", "  "), title + " ", "new listing"], CORRECTION, "TVs")

    splits = split_catalogue(pd.concat([catalogue, corrections], ignore_index=True), config.split)

    # THEN only the new listing trains, and the round mostly dropped is a warning, not an INFO line
    assert list(splits.train.loc[splits.train[SOURCE] == CORRECTION, "title"]) == ["new listing"]
    (warned,) = [record for record in caplog.records if record.levelname == "WARNING"]
    assert warned.getMessage().startswith("3 of 4 corrections dropped")


def test_where_titles_name_products_a_correction_of_a_held_out_title_never_trains(tmp_path: Path):
    # GIVEN a catalogue without a product column, and reviewed listings, one of them a held-out product's title
    # written otherwise, sold by another seller at another price, and filed under a new (so small) class
    config = load_config(DEFAULT_CONFIG_PATH)
    data = replace(config.data, group=None)
    raw = pd.DataFrame({
        "title": [f"product {i}" for i in range(400)], "seller_id": "s", "brand": "b", "price": "1.0",
        "category": ["TVs", "Fridges"] * 200,
    })  # fmt: skip
    catalogue = prepare_catalogue(raw, data).assign(**{SOURCE: CATALOGUE})
    held_out = split_catalogue(catalogue, config.split).test.iloc[0]["title"]
    reviewed = _reviewed(tmp_path, ["Radios", "TVs", "TVs"])
    frame = pd.read_csv(reviewed, dtype=str, keep_default_na=False)
    frame.loc[0, ["title", "seller_id", "price"]] = ["  " + held_out.upper(), "other seller", "99"]
    frame.to_csv(reviewed, index=False)
    corrections = read_corrections(reviewed, data=data, classes={"TVs", "Fridges"}, allow_new_classes=True).frame

    splits = split_catalogue(pd.concat([catalogue, corrections], ignore_index=True), config.split)

    # THEN it is left out, and its product stays held out; the other two train
    trained = splits.train[splits.train[SOURCE] == CORRECTION]
    assert list(trained["title"]) == ["item 1", "item 2"]
    assert held_out in set(splits.test["title"])


def test_agreement_has_exact_intervals_overall_and_per_department():
    a = np.array(["A > x"] * 90 + ["B > y"] * 10)
    b = a.copy()
    b[:9] = "A > z"  # B differs on 10 % of department A

    report = agreement_report(a, b, np.array([label.split(" > ")[0] for label in a]))

    assert report["agreement"]["agreement"] == pytest.approx(0.91)
    assert report["agreement"]["ci_low"] < 0.91 < report["agreement"]["ci_high"]
    worst, best = report["departments"]
    assert (worst["department"], worst["rows"], worst["agreement"]) == ("A", 90, pytest.approx(0.9))
    # 10 listings all agreeing say agreement is likely high, not that it is 100 %: 0.025 ** (1 / 10) at 95 %
    assert (best["department"], best["agreement"], best["ci_high"]) == ("B", 1.0, 1.0)
    assert best["ci_low"] == pytest.approx(0.025**0.1)


def test_two_agreeing_listings_pass_no_agreement_gate():
    report = agreement_report(np.array(["TVs", "Fridges"]), np.array(["TVs", "Fridges"]), np.array(["TVs", "Fridges"]))

    assert report["agreement"]["agreement"] == 1.0
    assert report["agreement"]["ci_low"] < 0.2


def test_a_listing_labelled_twice_trains_once_with_its_last_label_and_a_warning(tmp_path: Path, caplog):
    path = _reviewed(tmp_path, ["TVs", "", "Fridges"])
    rows = pd.read_csv(path, keep_default_na=False)
    rows.loc[2, "listing_id"] = "l0"  # the reviewer changed their mind further down the file

    rows.to_csv(path, index=False)
    found = _read(path)

    assert list(found.frame[LABEL]) == ["Fridges"]
    assert (found.provenance["unlabelled_rows"], found.provenance["superseded_rows"]) == (1, 1)
    assert "1 listing(s) were given different labels, e.g. [\"l0: 'TVs' then 'Fridges'\"]" in caplog.text


@pytest.mark.parametrize("written", ["", "N/A", " null "])
def test_listings_added_by_hand_without_an_id_are_each_a_listing_of_their_own(tmp_path: Path, written: str):
    # GIVEN four labelled rows whose listing_id a reviewer left blank or wrote as missing (added by hand), one of them
    # pasted twice
    path = _reviewed(tmp_path, ["TVs", "Fridges", "TVs", "Fridges", "Fridges"])
    rows = pd.read_csv(path, keep_default_na=False).assign(listing_id=written)
    rows.loc[4, "title"] = rows.loc[3, "title"]
    rows.to_csv(path, index=False)

    found = _read(path)

    # THEN each distinct row trains, and only the repeat is superseded
    assert sorted(found.frame["title"]) == ["item 0", "item 1", "item 2", "item 3"]
    assert found.provenance["superseded_rows"] == 1


def test_a_labelled_row_training_cannot_use_is_counted_and_not_recorded_as_trained_on(tmp_path: Path):
    # GIVEN a reviewed listing whose title is empty
    path = _reviewed(tmp_path, ["TVs", "Fridges"])
    rows = pd.read_csv(path, keep_default_na=False)
    rows.loc[1, "title"] = ""
    rows.to_csv(path, index=False)

    found = _read(path)

    # THEN it is counted as dropped, and `make compare REVIEWED=` may still score the models on it
    assert (found.provenance["rows"], found.provenance["dropped_rows"]) == (1, 1)
    assert found.provenance["corrected_listings"] == ["l0"]


def test_a_review_file_whose_rows_end_in_a_comma_is_read_by_its_header(tmp_path: Path):
    # GIVEN a review file saved by a tool that ends every row in a comma
    path = _reviewed(tmp_path, ["TVs", "Fridges"])
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], *(f"{line}," for line in lines[1:])]) + "\n")

    found = _read(path)

    # THEN each value is read under its own column (pandas alone shifts them by one)
    assert found.frame[["title", LABEL]].to_dict("records") == [
        {"title": "item 0", LABEL: "TVs"}, {"title": "item 1", LABEL: "Fridges"}]  # fmt: skip


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (lambda lines: [lines[0], f"{lines[1]},TVs", f"{lines[2]},"], "extra fields hold data (line 2: ['TVs'])"),
        (
            lambda lines: [lines[0], lines[1], f"{lines[2]},x,y"],
            "line 3 has 10 fields where the rows before it have 8: a field holding the delimiter without quotes",
        ),
        (lambda lines: [], "file is empty"),
    ],
    ids=["data-beyond-the-header", "one-ragged-row", "empty"],
)
def test_a_review_file_that_cannot_be_read_as_its_header_says_is_one_clear_error(tmp_path: Path, rows, expected):
    path = _reviewed(tmp_path, ["TVs", "Fridges"])
    path.write_text("\n".join(rows(path.read_text().splitlines())))

    with pytest.raises(DataValidationError, match=re.escape(expected)):
        _read(path)


@pytest.mark.parametrize(
    ("save", "expected"),
    [
        # two reviewers, each in a column headed label: one's labels would be lost
        (
            lambda frame, path: (
                frame.assign(other=frame["label"]).rename(columns={"other": "label"}).to_csv(path, index=False)
            ),
            "duplicate column name(s) ['label']",
        ),
        # a reviewer deleted columns: the listings would train with those inputs missing
        (
            lambda frame, path: frame.drop(columns=["brand", "price"]).to_csv(path, index=False),
            "missing column(s) ['brand', 'price']",
        ),
        # a header retyped: the column is there, under another spelling
        (
            lambda frame, path: frame.rename(columns={"label": "Label "}).to_csv(path, index=False),
            "missing column(s) ['label'] (the header has 'Label ' for 'label': name it exactly so)",
        ),
        # Excel's sep= first line
        (
            lambda frame, path: path.write_text("sep=,\n" + frame.to_csv(index=False)),
            "delete its first line, Excel's `sep=` line",
        ),
        (lambda frame, path: path.with_suffix(".xlsx").write_bytes(b"PK"), "save it as CSV (.csv)"),
    ],
    ids=["two-label-columns", "deleted-columns", "retyped-header", "sep-line", "xlsx"],
)
def test_a_review_file_a_spreadsheet_changed_is_refused_in_one_line(tmp_path: Path, save, expected):
    path = _reviewed(tmp_path, ["TVs", "Fridges"])
    save(pd.read_csv(path, dtype=str, keep_default_na=False), path)

    with pytest.raises(DataValidationError, match=re.escape(expected)):
        _read(path.with_suffix(".xlsx") if expected.startswith("save it") else path)


def test_a_tab_separated_review_file_is_read_by_its_suffix(tmp_path: Path):
    path = _reviewed(tmp_path, ["TVs", "Fridges"])
    pd.read_csv(path, dtype=str).to_csv(path.with_suffix(".tsv"), index=False, sep="\t")

    assert _read(path.with_suffix(".tsv")).frame[LABEL].tolist() == ["TVs", "Fridges"]


def test_a_correction_of_a_class_the_small_class_policy_dropped_leaves_with_it_and_is_counted_so(tmp_path: Path):
    # GIVEN a catalogue whose class "Fridges" split.small_classes: drop took out, and corrections of both classes
    catalogue = load_catalogue(load_config(DEFAULT_CONFIG_PATH), None)
    plan = TailPlan(policy="drop", min_products=5, small=1, dropped=("Fridges",))
    corrections = _read(_reviewed(tmp_path, ["TVs", "Fridges"]))

    merged = add_corrections(replace(catalogue, tail=plan), corrections)

    # THEN the "Fridges" correction is not trained on, and is counted as left with its class (not as held out)
    assert (merged.frame[SOURCE] == CORRECTION).sum() == 1
    assert (merged.corrections["rows"], merged.corrections["dropped_small_classes"]) == (1, 1)


def test_a_run_records_as_corrected_only_the_listings_that_trained(tmp_path: Path, small_config):
    # GIVEN reviewed listings: two new ones, a copy of a held-out listing, and one of a class `drop` took out
    catalogue = load_catalogue(small_config, None)
    held_out = split_catalogue(catalogue.frame, small_config.split).test.iloc[0]
    path = _reviewed(tmp_path, ["TVs", "TVs", str(held_out[LABEL]), "Fridges"])
    rows = pd.read_csv(path, dtype=str, keep_default_na=False)
    rows.loc[2, INPUTS] = [str(held_out[name]) for name in INPUTS]
    rows.to_csv(path, index=False)
    corrections = read_corrections(path, data=small_config.data, classes=set(catalogue.frame[LABEL]),
                                   allow_new_classes=False)  # fmt: skip
    plan = TailPlan(policy="drop", min_products=5, small=1, dropped=("Fridges",))

    fitted = fit_locally(small_config, add_corrections(replace(catalogue, tail=plan), corrections))

    # THEN the model records the two that trained (the other two never did), and its rows are those it split
    assert (fitted.corrections["corrected_listings"], fitted.corrections["rows"]) == (["l0", "l1"], 2)
    assert fitted.sizes["rows"] == fitted.sizes["n_train"] + fitted.sizes["n_validation"] + fitted.sizes["n_test"]


def test_where_titles_name_products_a_run_records_the_products_only_its_corrections_trained(
    tmp_path: Path, small_config
):
    # GIVEN a catalogue without a product column (a product is its title), and three reviewed listings of new titles
    config = replace(small_config, data=replace(small_config.data, group=None))
    catalogue = load_catalogue(config, None)
    corrections = read_corrections(_reviewed(tmp_path, ["TVs", "TVs", "TVs"]), data=config.data,
                                   classes=set(catalogue.frame[LABEL]), allow_new_classes=False)  # fmt: skip

    fitted = fit_locally(config, add_corrections(catalogue, corrections))

    # THEN a later run tells the catalogue's products from the corrections' among those the model trained on: what
    # is left of its record once they are taken out is all the catalogue's, and the three titles are what went
    record = {"training_data": {"split": {"group": None}} | fitted.corrections}
    own = catalogue_products(fitted.trained_products, record)
    assert np.isin(own, product_ids(product_keys(catalogue.frame))).all()
    assert len(fitted.trained_products) - len(own) == 3


def test_a_run_none_of_whose_corrections_trained_says_so_and_why(tmp_path: Path, small_config, caplog):
    # GIVEN reviewed listings none of which can train: a copy of a held-out listing, one of a class `drop` took out,
    # and one whose title is blank
    catalogue = load_catalogue(small_config, None)
    held_out = split_catalogue(catalogue.frame, small_config.split).test.iloc[0]
    path = _reviewed(tmp_path, [str(held_out[LABEL]), "Fridges", "TVs"])
    rows = pd.read_csv(path, dtype=str, keep_default_na=False)
    rows.loc[0, INPUTS] = [str(held_out[name]) for name in INPUTS]
    rows.loc[2, "title"] = "   "
    rows.to_csv(path, index=False)
    corrections = read_corrections(path, data=small_config.data, classes=set(catalogue.frame[LABEL]),
                                   allow_new_classes=False)  # fmt: skip
    plan = TailPlan(policy="drop", min_products=5, small=1, dropped=("Fridges",))

    fit_locally(small_config, add_corrections(replace(catalogue, tail=plan), corrections))

    # THEN a warning says none of the three trained, with the count of each reason
    warned = [entry.getMessage() for entry in caplog.records if entry.levelname == "WARNING"]
    assert (
        "none of the 3 corrections trained: 1 dropped by cleaning (an empty title, or a text over "
        "data.max_text_length), 1 of a class `split.small_classes: drop` took out of the run, 1 of a held-out "
        "listing (their inputs are a validation or test listing's)"
    ) in warned


def test_a_review_queue_out_under_a_file_is_one_line_before_any_reading(tmp_path: Path):
    (tmp_path / "notes.txt").write_text("mine")

    result = CliRunner().invoke(
        review_queue_app, ["--capture", str(tmp_path / "none"), "--out", str(tmp_path / "notes.txt" / "q.csv")]
    )

    assert result.exit_code == 1
    assert f"OUT {tmp_path / 'notes.txt'} is a file; name a folder for the review queue" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("read", "out"),
    [
        (["--reviewed", "round1.csv"], "round1.csv"),
        (["--reviewed", "round0.csv,round1.csv"], "round1.csv"),
        (["--data", "catalogue.csv"], "catalogue.csv"),
        (["--data", "exports"], "exports/queue.csv"),
        (["--data", "exports/*.csv"], "exports/queue.csv"),
    ],
)
def test_a_review_queue_never_replaces_what_it_reads(tmp_path: Path, read: list[str], out: str):
    # GIVEN labelled rounds and a catalogue where a REPLACE=1 queue would be written
    (tmp_path / "exports").mkdir()
    for name in ("round0.csv", "round1.csv", "catalogue.csv", "exports/part.csv"):
        (tmp_path / name).write_text("labelled\n")
    arguments = [*read[:1], ",".join(str(tmp_path / name) for name in read[1].split(","))]

    result = CliRunner().invoke(
        review_queue_app, ["--capture", str(tmp_path / "none"), "--out", str(tmp_path / out), "--replace", *arguments]
    )

    # THEN it is refused before anything is read or written
    assert result.exit_code == 1
    assert f"OUT {tmp_path / out} is where {read[0][2:].upper()}=" in result.output
    assert (tmp_path / "round1.csv").read_text() == (tmp_path / "catalogue.csv").read_text() == "labelled\n"


@pytest.mark.parametrize("name", ["q.parquet", "q.xlsx", "q.tsv", "q"])
def test_a_review_queue_out_not_named_csv_is_one_line_before_any_reading(tmp_path: Path, name: str):
    # the queue is CSV whatever its name, and the next step reads a file by its suffix
    result = CliRunner().invoke(review_queue_app, ["--capture", str(tmp_path / "none"), "--out", str(tmp_path / name)])

    assert result.exit_code == 1
    assert f"OUT {tmp_path / name}: the review queue is written as CSV; name it .csv" in result.output
    assert "capture not found" not in result.output
    assert not (tmp_path / name).exists()


@pytest.mark.parametrize(
    ("reference", "said"),
    [
        ("{tmp}", "{tmp} is a folder: pass the model.onnx inside it"),
        ("models:/synthetic/2", "MLflow has no ONNX model at models:/synthetic/2: "),
        ("{tmp}/junk.onnx", "model B is not an ONNX model: {tmp}/junk.onnx (pass a model.onnx `make train` wrote)"),
        # a failed copy, and bytes that parse as an ONNX graph of nothing: never dropped without a word
        ("{tmp}/empty.onnx", "model B is no model `make train` wrote: {tmp}/empty.onnx is empty"),
        ("{tmp}/bare.onnx", "{tmp}/bare.onnx is an ONNX graph without its 'product_classifier' metadata"),
        ("{tmp}/absent.onnx", "model B file not found: {tmp}/absent.onnx"),
    ],
    ids=["folder", "registered", "not-onnx", "empty", "no-metadata", "absent"],
)
def test_a_challenger_is_taken_and_named_as_make_compare_takes_its_models(
    tmp_path: Path, monkeypatch, no_aws_credentials, reference: str, said: str
):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlruns.db'}")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "junk.onnx").write_text("not a model")
    (tmp_path / "models" / "empty.onnx").write_bytes(b"")
    (tmp_path / "models" / "bare.onnx").write_bytes(b"\x08\x07")
    (tmp_path / "c.jsonl").write_text(json.dumps(record("one")) + "\n")
    model = reference.format(tmp=tmp_path / "models")

    result = CliRunner().invoke(
        review_queue_app, ["--capture", str(tmp_path / "c.jsonl"), "--out", str(tmp_path / "q.csv"), "--b", model]
    )

    assert result.exit_code == 1
    assert said.format(tmp=tmp_path / "models") in result.output
    assert "Traceback" not in result.output


def test_a_capture_with_nothing_to_review_says_so_instead_of_asking_for_labels(tmp_path: Path):
    # GIVEN one captured answer: accepted, confident, of a seller and brand the training catalogue has
    config = load_config(DEFAULT_CONFIG_PATH, synthetic_rows=300)
    known = load_catalogue(config, None).frame.iloc[0]
    line = record("a title", confidence=0.99) | {"inputs": {"title": "a title", "seller_id": known["seller_id"],
                                                            "brand": known["brand"], "price": 10.0}}  # fmt: skip
    (tmp_path / "c.jsonl").write_text(json.dumps(line) + "\n")

    result = CliRunner().invoke(
        review_queue_app, ["--capture", str(tmp_path), "--out", str(tmp_path / "q.csv"), "--rows", "300"]
    )

    assert result.exit_code == 0, result.output
    assert "0 listings to review of 1 captured" in result.output
    assert "CORRECTIONS=" not in result.output


def test_a_capture_of_a_model_of_another_taxonomy_is_refused_and_a_stray_version_left_out(tmp_path: Path):
    # GIVEN v1's answers, classes of the synthetic catalogue, and v2's, of a taxonomy it lacks
    def capture(known: int, other: int) -> Path:
        lines = [record(f"a{i}", confidence=0.2) for i in range(known)]
        lines += [record(f"b{i}", label="Garden > Sheds", time="2026-12-02T10:00:00.000Z", confidence=0.2)
                  | {"model_version": "v2"} for i in range(other)]  # fmt: skip
        folder = tmp_path / f"c{known}-{other}"
        folder.mkdir()
        (folder / "c.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
        return folder

    def queue(folder: Path):
        out = folder / "q.csv"
        return CliRunner().invoke(review_queue_app, ["--capture", str(folder), "--out", str(out), "--rows", "300"]), out

    # WHEN most answers are of the other taxonomy, THEN the queue is refused, naming the version
    refused, out = queue(capture(3, 4))
    assert refused.exit_code == 1
    assert (
        "4 of the 7 captured answers are classes the synthetic catalogue does not have, e.g. ['Garden > Sheds'] (model "
        "version(s) ['v2']): the model that gave them was trained on another catalogue"
    ) in refused.output
    assert "pass the DATA= and CONFIG= the live model was trained with" in refused.output
    assert not out.exists()
    # WHEN a few are (a stray test's model), THEN its listings are left out, with a warning naming it
    kept, out = queue(capture(6, 2))
    assert kept.exit_code == 0, kept.output
    assert "model version v2 answered 2 of its 2 captured listings with classes the synthetic catalogue" in kept.output
    assert "so its listings are left out" in kept.output
    assert sorted(pd.read_csv(out, encoding="utf-8-sig")["title"]) == [f"a{i}" for i in range(6)]


def test_listings_labelled_in_an_earlier_round_are_never_queued_again(tmp_path: Path):
    # GIVEN three unsure answers, and last round's queue, in which a reviewer labelled one of them
    lines = [record(f"t{i}", confidence=0.2) for i in range(3)]
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    pd.DataFrame({"listing_id": ["t0", "t1"], "label": ["TVs", ""]}).to_csv(tmp_path / "round1.csv", index=False)

    arguments = ["--capture", str(tmp_path / "c.jsonl"), "--out", str(tmp_path / "q.csv"), "--rows", "300"]
    result = CliRunner().invoke(review_queue_app, [*arguments, "--reviewed", str(tmp_path / "round1.csv")])

    # THEN the labelled one is left out, and said to be
    assert result.exit_code == 0, result.output
    assert sorted(pd.read_csv(tmp_path / "q.csv", encoding="utf-8-sig")["listing_id"]) == ["t1", "t2"]
    assert "1 listing(s) labelled in REVIEWED never queued again" in result.output


def test_a_capture_lacking_an_input_of_the_configs_model_is_refused(tmp_path: Path):
    line = record("a title")
    line["inputs"] = {"title": "a title", "merchant_id": "m1", "price": 10.0}
    (tmp_path / "c.jsonl").write_text(json.dumps(line) + "\n")

    result = CliRunner().invoke(
        review_queue_app, ["--capture", str(tmp_path), "--out", str(tmp_path / "q.csv"), "--rows", "300"]
    )

    assert result.exit_code == 1
    assert "the captured listings lack the input(s) ['seller_id', 'brand'] the config's model takes" in result.output
    assert not (tmp_path / "q.csv").exists()


@pytest.mark.parametrize(
    "damaged",
    [gzip.compress(json.dumps(record("cut")).encode())[:30], b"\x1f\x8b not gzip at all"],
    ids=["truncated", "gzip-magic-only"],
)
@pytest.mark.parametrize("name", ["part-0001.gz", "part-0001"])
def test_a_damaged_gzip_capture_object_is_named_whatever_it_is_called(tmp_path: Path, damaged: bytes, name: str):
    (tmp_path / "z-good.jsonl").write_text(json.dumps(record("one")) + "\n")
    (tmp_path / name).write_bytes(damaged)

    with pytest.raises(DataValidationError, match=f"{name}: unreadable gzip"):
        read_capture(str(tmp_path))
    # and `make compare DATA=`, reading it first, says the same instead of taking the folder for a catalogue
    with pytest.raises(DataValidationError, match=f"{name}: unreadable gzip"):
        is_capture(str(tmp_path))


@pytest.mark.parametrize(
    "broken",
    [{"inputs": None}, {"confidence": "high"}, {"confidence": float("nan")}, {"listing_id": 7}, {"time": 123},
     {"label": None}, {"top_k": {"label": "TVs"}}, {"top_k": ["TVs"]}, {"top_k": [{"probability": 0.5}]},
     {"path": [{"name": "TVs"}]}, {"path": [{"confidence": 0.5}]},
     # what the API never writes: a lone surrogate, an input of another type or named like a record field, no time
     {"inputs": {"title": "tv \ud800"}}, {"inputs": {"title": "tv", "price": [1]}},
     {"inputs": {"title": "tv", "listing_id": "x"}}, {"time": "yesterday"},
     {"inputs": {"title": "tv", "price": 1e300}},  # beyond float32: the API refuses it, so never answered it
     {"inputs": {"title": "tv", "price": 10**400}}],  # an integer no float holds
)  # fmt: skip
def test_capture_records_of_other_types_than_the_handler_writes_are_counted_and_skipped(tmp_path: Path, broken):
    lines = [record("good"), record("odd") | broken]
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))

    captured = read_capture(str(tmp_path))

    assert list(captured.frame["title"]) == ["good"]
    assert captured.skipped_text() == "1 malformed"
    result = CliRunner().invoke(
        review_queue_app, ["--capture", str(tmp_path), "--out", str(tmp_path / "q.csv"), "--rows", "300"]
    )
    assert result.exit_code == 0, result.output
    assert "capture records skipped: 1 malformed" in result.output


@pytest.mark.parametrize(
    "damaged", [record("MARK"), record("bad") | {"model_version": "MARK"}, record("bad") | {"request_id": "MARK"}]
)
def test_a_record_with_bytes_that_are_not_utf8_is_counted_malformed_not_read_with_replacement_marks(
    tmp_path: Path, damaged: dict
):
    # GIVEN a capture file in which a record's text (any of it) holds a cp1252 byte
    text = json.dumps(record("good")) + "\n" + json.dumps(damaged) + "\n"
    (tmp_path / "c.jsonl").write_bytes(text.encode().replace(b"MARK", b"caf\xe9"))

    captured = read_capture(str(tmp_path))

    assert list(captured.frame["title"]) == ["good"]
    assert captured.skipped_text() == "1 malformed"


def test_a_redelivered_record_counts_once_and_a_listing_sent_twice_in_one_request_twice(tmp_path: Path):
    # GIVEN a record delivered twice (and the prefix copied twice), and one listing sent twice in one request
    once, twice = record("once"), [record("twice", item=0), record("twice", item=1)]
    text = "".join(json.dumps(line) + "\n" for line in [once, once, *twice])
    (tmp_path / "a.jsonl").write_text(text)
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / "a.jsonl").write_text(text)

    captured = read_capture(str(tmp_path))
    listings = latest_listings(captured).set_index("title")

    assert listings["times_seen"].to_dict() == {"once": 1, "twice": 2}
    assert captured.skipped_text() == "5 re-delivered"


def test_cut_records_and_records_of_another_layout_are_counted(tmp_path: Path):
    newer = record("newer") | {"capture": 2}
    text = json.dumps(record("one")) + "\n" + json.dumps(record("cut"))[:80] + "\n" + json.dumps(newer) + "\n"
    # (and markers no layout writes: a record edited by hand, or by another tool)
    text += json.dumps(record("text") | {"capture": "1"}) + "\n" + json.dumps(record("true") | {"capture": True}) + "\n"
    # (and a record damaged at its start, its opening brace lost)
    text += json.dumps(record("headless"))[1:] + "\n"
    (tmp_path / "c.jsonl").write_text(text + "[" * 100_000 + "\n" + "a log line\n")

    captured = read_capture(str(tmp_path))

    assert list(captured.frame["title"]) == ["one"]
    assert captured.skipped_text() == "2 cut short, 3 of another record layout (this reader knows capture 1)"
    (tmp_path / "c.jsonl").write_text(json.dumps(newer) + "\n")
    with pytest.raises(DataValidationError, match=r"no captured listings under .* \(skipped: 1 of another record"):
        read_capture(str(tmp_path))
    # AND a catalogue whose cell holds such an object is no capture
    (tmp_path / "c.jsonl").unlink()
    (tmp_path / "feed.tsv").write_text('title\tcategory\nacme tv {"capture": "4K"}\tTVs\n')
    assert not is_capture(str(tmp_path))


def test_records_after_a_cut_one_on_the_same_line_are_read(tmp_path: Path):
    # GIVEN a Firehose object of records back to back, the second cut short, and an envelope whose events are no
    # objects
    text = json.dumps(record("one")) + json.dumps(record("cut"))[:80] + json.dumps(record("three"))
    (tmp_path / "fh.gz").write_bytes(gzip.compress(text.encode()))
    envelope = {"messageType": "DATA_MESSAGE", "logEvents": ["oops", 7]}
    (tmp_path / "raw.gz").write_bytes(gzip.compress(json.dumps(envelope).encode()))

    # THEN the records after the cut one are read
    assert sorted(read_capture(str(tmp_path)).frame["title"]) == ["one", "three"]


def test_records_are_ordered_by_their_time_whatever_its_zone(tmp_path: Path):
    lines = [record("later", time="2026-12-06T17:00:00Z"), record("earlier", time="2026-12-06T18:00:00+02:00")]
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))

    assert list(read_capture(str(tmp_path)).frame["title"]) == ["earlier", "later"]


def test_the_queue_says_how_many_qualifying_listings_limit_left_out(tmp_path: Path):
    lines = [record(f"unsure {i}", confidence=0.1 + i / 100) for i in range(5)]
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))

    result = CliRunner().invoke(
        review_queue_app,
        ["--capture", str(tmp_path), "--out", str(tmp_path / "q.csv"), "--rows", "300", "--limit", "2"],
    )

    assert result.exit_code == 0, result.output
    assert "2 listing(s) to review (of 5 captured; LIMIT 2 left out 3 more that qualified)" in result.output
    assert list(pd.read_csv(tmp_path / "q.csv")["title"]) == ["unsure 0", "unsure 1"]


def test_a_captured_formula_is_written_inert_and_read_back_as_captured(tmp_path: Path):
    # GIVEN listings anyone could send the API, whose text a spreadsheet would run as a formula
    formula = '=HYPERLINK("http://x.example","click")'
    lines = [record(formula, confidence=0.2, brand="+evil"), record("-40 degree freezer", confidence=0.3),
             record("'=not a formula", confidence=0.3, brand="'quoted")]  # fmt: skip
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))

    result = CliRunner().invoke(
        review_queue_app, ["--capture", str(tmp_path), "--out", str(tmp_path / "q.csv"), "--rows", "300"]
    )

    # THEN no cell of the queue starts like a formula
    assert result.exit_code == 0, result.output
    written = pd.read_csv(tmp_path / "q.csv", dtype=str, keep_default_na=False)
    assert not written.map(lambda cell: cell.startswith(("=", "+", "-", "@"))).any().any()
    # AND labelled and read back as corrections, each listing trains with its text as captured
    written["label"] = "TVs"
    written.to_csv(tmp_path / "q.csv", index=False)
    found = _read(tmp_path / "q.csv")
    assert sorted(found.frame["title"]) == sorted([formula, "-40 degree freezer", "'=not a formula"])
    assert {"+evil", "'quoted"} <= set(found.frame["brand"])


@pytest.mark.parametrize(
    ("cell", "quoted"),
    [("000123", True), ("1e5", True), ("(123)", True), ("3/4", True), ("5-Jan", True), ("12 May", True),
     ("SEPT2", True), ("MARCH1", True), ("Dec1", True), ("12 PM", True), ("3pm", True), ("11:30", True),
     ("true", True), ("tv 55", False), ("march", False), ("DECT phone", False), ("samsung ue49", False),
     ("5 amp", False)],
)  # fmt: skip
def test_text_a_spreadsheet_would_read_as_a_number_date_or_time_is_written_quoted(cell: str, quoted: bool):
    written = spreadsheet_safe(pd.DataFrame({"brand": [cell]}))["brand"].iloc[0]

    assert written == (f"'{cell}" if quoted else cell)


def _as_a_spreadsheet_saves(cell: str) -> str:
    """A cell as Excel saves it in its General format: a number shown with six significant digits at most, a truth
    value in capitals."""
    if cell.lower() in ("true", "false"):
        return cell.upper()
    try:
        return format(float(cell), "G")
    except ValueError:
        return cell


def test_text_a_spreadsheet_would_turn_into_a_number_survives_a_round_trip_through_one(tmp_path: Path):
    # GIVEN captured listings whose text a spreadsheet reads as a number or a date: a listing id of 20 digits (a
    # digest that happens to be all digits), a seller id with leading zeros, a brand in exponent form, a date
    lines = [record("2024", listing="12345678901234567890", confidence=0.2), record("tv 55", confidence=0.2)]
    lines[0]["inputs"] |= {"seller_id": "000123", "brand": "1e5"}
    lines[1]["inputs"] |= {"seller_id": "3/4", "brand": "true"}
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = CliRunner().invoke(
        review_queue_app, ["--capture", str(tmp_path), "--out", str(tmp_path / "q.csv"), "--rows", "300"]
    )
    assert result.exit_code == 0, result.output

    # WHEN a spreadsheet opens the queue (reading each cell that is a number as one), is labelled and saves it
    opened = pd.read_csv(tmp_path / "q.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    opened = opened.map(_as_a_spreadsheet_saves)
    opened["label"] = "TVs"
    opened.to_csv(tmp_path / "q.csv", index=False)

    # THEN each listing trains under its own id, with its text as captured
    found = _read(tmp_path / "q.csv")
    assert found.provenance["corrected_listings"] == sorted(["12345678901234567890", "tv 55"])
    assert sorted(found.frame["title"]) == ["2024", "tv 55"]
    assert sorted(found.frame["seller_id"]) == ["000123", "3/4"]
    assert sorted(found.frame["brand"]) == ["1e5", "true"]


@pytest.mark.parametrize(("price", "row"), [("1.199,00", 2), ("1099 €", 2), ("-5", 2)])
def test_a_correction_is_refused_for_a_number_the_catalogue_refuses_in_its_own_data_row(tmp_path: Path, price, row):
    # GIVEN a reviewed file whose first row is unlabelled, and whose labelled second row has a price as text
    path = _reviewed(tmp_path, ["", "TVs", "Fridges"])
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[1, "price"] = price
    frame.to_csv(path, index=False)

    with pytest.raises(DataValidationError, match=f"column 'price' .* in data row {row}"):
        _read(path)


@pytest.mark.parametrize("role", ["corrections", "reviewed"])
def test_a_semicolon_review_file_is_named_as_such(tmp_path: Path, role: str):
    path = _reviewed(tmp_path, ["TVs", "Fridges"])
    pd.read_csv(path, dtype=str).to_csv(path, index=False, sep=";")

    read = _read if role == "corrections" else lambda path: read_review_file(path, "REVIEWED", required=("label",))

    with pytest.raises(DataValidationError, match="looks ';'-delimited: save it comma-separated"):
        read(path)


def test_a_capture_compressed_by_hand_is_read_by_its_suffix(tmp_path: Path):
    import bz2

    (tmp_path / "c.jsonl.bz2").write_bytes(bz2.compress((json.dumps(record("one")) + "\n").encode()))

    assert list(read_capture(str(tmp_path)).frame["title"]) == ["one"]


def test_capture_files_that_are_no_utf8_text_are_counted_and_named_never_lost_silently(tmp_path: Path):
    import bz2
    import zipfile

    # GIVEN beside a good file: a zip, bzip2 under a suffix no codec has, UTF-16 as Windows PowerShell 5's `>` writes
    # it, and a file with no capture record that is no UTF-8 text
    lines = json.dumps(record("lost")) + "\n"
    (tmp_path / "a.jsonl").write_text(json.dumps(record("one")) + "\n")
    with zipfile.ZipFile(tmp_path / "part2.zip", "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("part2.jsonl", lines)
    (tmp_path / "part3.jsonl.bz").write_bytes(bz2.compress(lines.encode()))
    (tmp_path / "b.jsonl").write_bytes(lines.encode("utf-16"))
    (tmp_path / "c.jsonl").write_bytes(b"\xe9t\xe9\n")

    captured = read_capture(str(tmp_path))

    assert list(captured.frame["title"]) == ["one"]
    assert captured.skipped["unreadable_files"] == 4
    assert captured.skipped_text().startswith("4 file(s) of no UTF-8 text, their records uncounted")
    assert (
        f"{tmp_path / 'b.jsonl'} (UTF-16 text, its first bytes say so), "
        f"{tmp_path / 'c.jsonl'} (byte 0xe9 at offset 0 is not UTF-8), "
        f"{tmp_path / 'part2.zip'} (a ZIP archive or an Excel workbook), …"
    ) in captured.skipped_text()
    # AND a capture of such files alone is no capture, named so
    (tmp_path / "a.jsonl").unlink()
    with pytest.raises(DataValidationError, match=r"no captured listings under .* \(skipped: 4 file\(s\) of no UTF-8"):
        read_capture(str(tmp_path))


@pytest.mark.parametrize(
    "refused",
    [{"price": "12,50"}, {"price": -5}, {"title": ""}, {"title": "   "}, {"title": "x" * 40_000}, {"title": 12345}],
    ids=["price-as-text", "negative-price", "empty-title", "blank-title", "overlong-title", "title-a-number"],
)
def test_a_record_whose_inputs_the_api_refuses_is_malformed_never_queued_nor_scored(
    model_path: Path, tmp_path: Path, refused: dict
):
    # GIVEN a capture holding a record the API would have refused (so never answered) beside ones it answered
    lines = [record(f"kaito oled tv {size} inch", item=size) for size in range(30, 40)]
    bad = record("refused", listing="refused")
    bad["inputs"] |= refused
    (tmp_path / "capture").mkdir()
    (tmp_path / "capture" / "c.jsonl").write_text("".join(json.dumps(line) + "\n" for line in [*lines, bad]))
    schema = input_schema(load_config(DEFAULT_CONFIG_PATH).data)

    captured = read_capture(str(tmp_path / "capture"), schema=schema)

    assert "refused" not in set(captured.frame["listing_id"])
    assert captured.skipped_text() == "1 malformed"
    # AND a challenger scores the rest, the record neither queued nor stopping it
    result = CliRunner().invoke(
        review_queue_app, ["--capture", str(tmp_path / "capture"), "--out", str(tmp_path / "q.csv"), "--rows", "300",
                           "--b", str(model_path)]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "capture records skipped: 1 malformed" in result.output
    assert "refused" not in set(pd.read_csv(tmp_path / "q.csv", dtype=str)["listing_id"])
    # AND so does make compare on that traffic
    compared = CliRunner().invoke(
        compare_app, ["--a", str(model_path), "--b", str(model_path), "--data", str(tmp_path / "capture"),
                      "--out", str(tmp_path / "cmp"), "--resamples", "50"]
    )  # fmt: skip
    assert compared.exit_code == 0, compared.output


def test_a_captured_value_the_model_cannot_read_is_one_error_not_a_traceback(model_path: Path):
    # a price as text, which the API refuses, so only a file it did not write holds it
    with pytest.raises(TrainingError, match="model B cannot answer a captured listing"):
        served_labels(model_path.read_bytes(), [{"title": "tv", "price": "abc"}], name="B")


def test_a_catalogue_whose_titles_say_capture_is_not_taken_for_captured_traffic(tmp_path: Path):
    (tmp_path / "feed.tsv").write_text('id\ttitle\tcategory\n1\tNikon "capture" kit {new}\tCameras\n')

    assert not is_capture(str(tmp_path / "feed.tsv"))


def test_live_traffic_is_never_compared_across_taxonomies(model_path: Path, taxonomy_model_path: Path, tmp_path: Path):
    # GIVEN traffic the live model (flat classes) answered, and a challenger trained on a path taxonomy
    (tmp_path / "capture").mkdir()
    lines = [record(f"kaito oled tv {size} inch", item=size) for size in range(30, 60)]
    (tmp_path / "capture" / "c.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))

    result = CliRunner().invoke(
        compare_app, ["--a", str(model_path), "--b", str(taxonomy_model_path), "--data", str(tmp_path / "capture"),
                      "--out", str(tmp_path / "cmp")]
    )  # fmt: skip

    # THEN it is refused, not reported as 0 % agreement
    assert result.exit_code == 1
    assert "trained on different taxonomies" in result.output
    assert not (tmp_path / "cmp").exists()

    # AND a review queue with that challenger is refused too, not every listing queued as answered otherwise
    queued = CliRunner().invoke(
        review_queue_app, ["--capture", str(tmp_path / "capture"), "--b", str(taxonomy_model_path), "--out",
                           str(tmp_path / "q.csv"), "--rows", "300"]
    )  # fmt: skip
    assert queued.exit_code == 1
    assert "model B has the classes of only 0% of the live model's answers" in queued.output
    assert not (tmp_path / "q.csv").exists()


def test_a_capture_time_utc_cannot_write_is_malformed_and_titles_are_held_to_the_apis_limit(tmp_path: Path):
    # GIVEN a record whose time is in the year 10000 in UTC, and a 600-character title the API answered, read with the
    # schema of a model trained with data.max_text_length 500
    beyond = record("far", time="9999-12-31T23:30:00-01:00")
    long = record("a " * 300, listing="long")
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(line) + "\n" for line in (record("tv"), beyond, long)))
    schema = input_schema(replace(load_config(DEFAULT_CONFIG_PATH).data, max_text_length=500))

    captured = read_capture(str(tmp_path), schema=schema)

    # THEN the first is malformed, never a traceback; the title the API took is read
    assert captured.skipped["malformed"] == 1
    assert sorted(captured.frame["listing_id"]) == ["long", "tv"]
