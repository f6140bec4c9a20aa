"""Cleaning rules (CONTRACT sections 2-3): pure, table-driven, no database."""

from __future__ import annotations

import io
import json

import pytest

from fleettickets.clean import HEADER, INC_CLEANING, CleanStats, Reject, clean_rows, record_cleaner
from fleettickets.errors import RefusedFile
from tests.helpers import csv_text, record


def clean(text: str, rejects: list[Reject] | None = None) -> tuple[list[tuple[int, str, dict]], CleanStats]:
    stats = CleanStats()
    sink = rejects.append if rejects is not None else None
    rows = [(line, tid, json.loads(raw)) for line, tid, raw in clean_rows(io.StringIO(text, newline=""), stats, sink)]
    return rows, stats


def decode(data: bytes) -> str:
    """As the loader reads bytes: UTF-8 with or without BOM, newlines untouched."""
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="").read()


def test_record_cleaning():
    header = [
        "ticket_id",
        "region",
        "raw_status",
        "week_start",
        "department",
        "bucket",
        "service_type",
        "mttr",
        "brand_new_column",
    ]
    raw = record_cleaner(header, INC_CLEANING)(
        ["WOT1", "NAIROBI West", "  in progress ", "2026-06-15", "Field", "pending", "inc", "", "kept"]
    )
    assert raw == {
        "ticket_id": "WOT1",
        "region": "nairobi west",
        "raw_status": "IN PROGRESS",
        "bucket": "pending",
        "service_type": "inc",
        "mttr": None,
        "brand_new_column": "kept",
    }


def test_rows_keep_every_contract_column_but_the_removed_seven():
    rows, stats = clean(csv_text([record("WOT1")]))
    assert [r[:2] for r in rows] == [(2, "WOT1")]
    raw = rows[0][2]
    assert set(raw) == set(HEADER) - {
        "week_start",
        "week_end",
        "source_s3_bucket",
        "source_s3_key",
        "source_snapshot_id",
        "department",
        "source_type",
    }
    assert raw["latitude"] is None and raw["region"] == "nairobi" and raw["raw_status"] == "IN PROGRESS"
    assert (stats.rows_read, stats.rows_kept) == (1, 1)


def test_column_order_is_irrelevant():
    shuffled = list(reversed(HEADER))
    rows, _ = clean(csv_text([record("WOT1", cluster="Kisumu")], columns=shuffled))
    assert rows[0][2]["cluster"] == "Kisumu" and rows[0][1] == "WOT1"


def test_sentinel_and_alarms_are_dropped_and_counted():
    text = csv_text(
        [
            record("WOT1", is_alarm="TRUE"),
            record("WOT2", is_alarm="t"),
            record("WOT3", is_alarm="yes"),
            record("WOT4", is_alarm="1"),
            record("WOT5", is_alarm="false"),
            record("WOT6", is_alarm="maybe"),
            record("WOT7", is_alarm=""),
        ],
        sentinel=True,
    )
    rows, stats = clean(text)
    assert [r[1] for r in rows] == ["WOT5", "WOT6", "WOT7"]
    assert (stats.rows_read, stats.sentinel_dropped, stats.alarms_dropped, stats.malformed) == (8, 1, 4, 0)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('"WOT9","too","few"\n', "expected 32 fields, found 3"),
        ('"' + '","'.join(["WOT9"] + [""] * 32) + '"\n', "expected 32 fields, found 33"),
        ('"' + '","'.join([""] * 32) + '"\n', "empty ticket_id"),
        ('"' + '","'.join(["   "] + [""] * 31) + '"\n', "empty ticket_id"),
        ('"' + '","'.join(["WOT9", "a\x00b"] + [""] * 30) + '"\n', "a value contains a NUL character"),
    ],
)
def test_malformed_rows_are_skipped_with_line_and_reason(line, reason):
    good = [record(f"WOT{i}") for i in range(200)]
    text = csv_text(good[:100]) + line + csv_text(good[100:]).split("\n", 1)[1]
    rejects: list[Reject] = []
    rows, stats = clean(text, rejects)
    assert len(rows) == 200 and stats.malformed == 1
    assert stats.first_malformed == [(102, reason)]
    assert rejects == [Reject(102, reason, line)]


def test_line_numbers_count_physical_lines_of_multiline_values():
    text = csv_text(
        [record("WOT1", owner="M. Achieng\n(acting)"), record("WOT2", location_name='Ruaka, "Block" A'), record("WOT3")]
    )
    rows, _ = clean(text)
    assert [(line, tid) for line, tid, _ in rows] == [(2, "WOT1"), (4, "WOT2"), (5, "WOT3")]
    assert rows[0][2]["owner"] == "M. Achieng\n(acting)"
    assert rows[1][2]["location_name"] == 'Ruaka, "Block" A'


@pytest.mark.parametrize(("bom", "crlf"), [(False, False), (True, False), (False, True), (True, True)])
def test_bom_and_line_endings(bom, crlf):
    data = csv_text([record("WOT1", owner="two\r\nlines"), record("WOT2")], crlf=crlf).encode()
    rows, stats = clean(decode(b"\xef\xbb\xbf" + data if bom else data))
    assert [r[1] for r in rows] == ["WOT1", "WOT2"] and stats.malformed == 0
    assert rows[0][2]["owner"] == "two\r\nlines"  # quoted line breaks are data, kept as sent


def test_truncated_last_row_is_malformed_not_loaded_half():
    text = csv_text([record(f"WOT{i}") for i in range(150)])
    cut = text[: text.rindex('"J. Mwangi"') + 5]  # mid-quote, in the last row
    rows, stats = clean(cut)
    assert len(rows) == 149 and stats.malformed == 1
    # cut inside a quoted value, the last record reads as fewer fields (csv ends the value at the end of file)
    assert stats.first_malformed == [(151, "expected 32 fields, found 13")]
    assert stats.refusal() is None  # 1 of 150 rows (0.67 %) is within the 1 % rule


def test_cut_inside_the_last_field_with_the_right_field_count_is_still_malformed():
    text = csv_text([record(f"WOT{i}") for i in range(150)])
    cut = text[:-3]  # '..."inc"\n' -> '..."in'
    rows, stats = clean(cut)
    assert len(rows) == 149 and stats.first_malformed == [(151, "the file ends inside this row (truncated upload?)")]


def test_duplicates_are_all_passed_on_for_the_merge_to_keep_the_last():
    rows, _ = clean(csv_text([record("WOT1", owner="first"), record("WOT1", owner="second")]))
    assert [(line, raw["owner"]) for line, _, raw in rows] == [(2, "first"), (3, "second")]


def test_blank_lines_are_not_rows():
    rows, stats = clean(csv_text([record("WOT1")]) + "\n\n")
    assert len(rows) == 1 and stats.rows_read == 1 and stats.malformed == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ('"id","cluster"\n"WOT1","x"\n', "no ticket_id column"),
        ('"ticket_id","cluster","cluster"\n"WOT1","x","y"\n', "names cluster more than once"),
    ],
)
def test_files_refused_at_the_header(text, message):
    with pytest.raises(RefusedFile, match=message):
        clean(text)


def test_more_than_one_percent_malformed_is_refused():
    good = csv_text([record(f"WOT{i}") for i in range(98)])
    _, stats = clean(good + '"bad1"\n"bad2"\n')
    assert stats.malformed == 2 and stats.rows_read == 100
    assert stats.refusal().startswith("2 of 100 rows are malformed (2.0%, limit 1%)")
    _, ok = clean(csv_text([record(f"WOT{i}") for i in range(99)]) + '"bad"\n')
    assert ok.refusal() is None  # exactly 1 %


def test_no_valid_rows_is_refused():
    _, stats = clean(csv_text([record("WOT1", is_alarm="true")], sentinel=True))
    assert stats.refusal() == "no valid data rows (2 read)"


def test_invalid_utf8_is_refused():
    data = csv_text([record("WOT1")]).encode() + b'"WOT2","\xff\xfe"\n'
    stats = CleanStats()
    stream = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")
    with pytest.raises(RefusedFile, match="not valid UTF-8"):
        list(clean_rows(stream, stats))
