"""One bad value never refuses a file: typed conversions are total, over-long keys are row rejects,
only a real NUL is a NUL, a complete last row without a newline is kept, stamps are ASCII digits."""

from __future__ import annotations

import random
import string

import psycopg
import pytest
from typer.testing import CliRunner

from fleettickets.clean import MAX_KEY_LENGTH, CleanStats, Reject, clean_rows
from fleettickets.cli import app
from fleettickets.snapshot import feed_file, newest, parse_stamp
from tests.helpers import INC_PREFIX as PREFIX
from tests.helpers import csv_text, one, record

# Incompressible: PostgreSQL compresses a long index entry, so "x" * 3000 would fit in a btree.
LONG = "".join(random.Random(11).choices(string.ascii_letters + string.digits, k=3000))
DIGITS = "9" * 5000


@pytest.mark.parametrize(
    ("sql", "value", "expected"),
    [
        ("tickets.hours_to_minutes(%s)", "12.5\u2003", 750),  # em space
        ("tickets.hours_to_minutes(%s)", "\u00a012.5", 750),  # no-break space
        ("tickets.hours_to_minutes(%s)", DIGITS, None),
        ("tickets.hours_to_minutes(%s)", "1." + "9" * 20000, None),  # beyond numeric's 16,383 decimals
        ("tickets.hours_to_minutes(%s)", "NaN", None),
        ("tickets.hours_to_minutes(%s)", "Infinity", None),
        ("tickets.hours_to_minutes(%s)", "\u0661\u0662", None),  # Arabic-Indic digits
        ("tickets.num(%s)", "-1.29\u3000", -1.29),  # ideographic space
        ("tickets.num(%s)", "9" * 200000, None),
        ("tickets.num(%s)", "-Infinity", None),
        ("tickets.num(%s)", "1e5", None),
        ("tickets.num(%s)", " 36.8 ", 36.8),
        ("tickets.eat_ts(%s)", "2026-06-15 08:00:00\u2003", None),
        ("tickets.eat_ts(%s)", "\uff12\uff10\uff12\uff16-06-15 08:00", None),  # full-width digits
        ("tickets.eat_ts(%s)", LONG, None),
        ("tickets.to_bool(%s)", LONG, None),
    ],
)
def test_typed_conversions_are_total(conn, sql, value, expected):
    got = one(conn, f"SELECT {sql}", (value,))
    assert (float(got) if got is not None and not isinstance(got, int) else got) == expected


def load_one_bad(db_url, tmp_path, **bad: str):
    """200 good rows and one with `bad` values (one in 201: within the 1 % rule), through the CLI."""
    rows = (
        [record(f"W{i:04d}") for i in range(100)]
        + [{**record("BAD1"), **bad}]
        + [record(f"W{i:04d}") for i in range(100, 200)]
    )
    path = tmp_path / "2026-06-15T07-00-00.csv"
    path.write_text(csv_text(rows))
    rejects = tmp_path / "rejects.csv"
    return CliRunner().invoke(
        app, ["ingest", "--csv", str(path), "--apply", "--rejects", str(rejects)], env={"DATABASE_URL": db_url}
    ), rejects


@pytest.mark.parametrize(
    ("bad", "column", "expected"),
    [
        ({"mttr": "12.5\u2003"}, "mttr", 750),
        ({"mttr": DIGITS}, "mttr", None),
        ({"mttr": "1." + "9" * 20000}, "mttr", None),  # more decimals than numeric holds
        ({"mttr": "NaN"}, "mttr", None),
        ({"latitude": "-1.29\u3000", "longitude": "36.80"}, "latitude", -1.29),
        ({"latitude": DIGITS, "longitude": "36.80"}, "latitude", None),
        ({"latitude": "Infinity", "longitude": "NaN"}, "latitude", None),
        ({"created_at_service": "2026-06-15 08:00\u2003"}, "created_at_service", None),
        ({"normalized_status": LONG}, "length(normalized_status)", 3000),  # a hash index: no size limit
        ({"owner": LONG, "bucket": LONG}, "length(owner)", 3000),
    ],
)
def test_one_bad_value_loads_its_row_and_the_file(db_url, tmp_path, bad, column, expected):
    result, _ = load_one_bad(db_url, tmp_path, **bad)
    assert result.exit_code == 0, result.output
    assert "kept=201" in result.stdout and "inserted=201" in result.stdout
    with psycopg.connect(db_url) as c:
        assert one(c, f"SELECT {column} FROM tickets.inc WHERE ticket_id = 'BAD1'") == expected


@pytest.mark.parametrize("column", ["ticket_id", "cluster", "location_name", "assigned_team"])
def test_an_over_long_key_is_a_rejected_row_not_a_failed_file(db_url, tmp_path, column):
    bad = {column: LONG}
    result, rejects = load_one_bad(db_url, tmp_path, **bad)
    assert result.exit_code == 0, result.output
    assert "kept=200 alarms=0 sentinel=0 malformed=1" in result.stdout and "inserted=200" in result.stdout
    reason = f"{column} is longer than {MAX_KEY_LENGTH} characters"
    assert f"line 102: {reason}" in result.stdout
    assert f"102,{reason}," in rejects.read_text()
    with psycopg.connect(db_url) as c:
        assert one(c, "SELECT count(*) FROM tickets.inc") == 200


def test_a_key_of_exactly_the_limit_is_kept(db_url, tmp_path):
    result, _ = load_one_bad(db_url, tmp_path, cluster="C" * MAX_KEY_LENGTH, ticket_id="T" * MAX_KEY_LENGTH)
    assert result.exit_code == 0 and "kept=201" in result.stdout, result.output
    with psycopg.connect(db_url) as c:
        assert one(c, "SELECT length(ticket_id) FROM tickets.inc WHERE length(ticket_id) > 5") == MAX_KEY_LENGTH


def clean(text: str) -> tuple[list[tuple[int, str, str]], CleanStats, list[Reject]]:
    stats, rejects = CleanStats(), []
    rows = list(clean_rows(iter(text.splitlines(keepends=True)), stats, rejects.append))
    return rows, stats, rejects


def test_the_six_characters_backslash_u0000_are_text_not_a_nul():
    rows, stats, _ = clean(csv_text([record("WOT1", owner="C:\\u0000\\temp"), record("WOT2")]))
    assert [r[1] for r in rows] == ["WOT1", "WOT2"] and stats.malformed == 0
    assert '"owner":"C:\\\\u0000\\\\temp"' in rows[0][2]


def test_a_real_nul_is_still_a_malformed_row():
    rows, _, rejects = clean(csv_text([record("WOT1", owner="a\x00b"), record("WOT2")]))
    assert [r[1] for r in rows] == ["WOT2"] and rejects[0].reason == "a value contains a NUL character"


def test_a_complete_last_row_without_a_final_newline_is_kept():
    text = csv_text([record(f"WOT{i}") for i in range(3)])
    assert text.endswith("\n")
    rows, stats, _ = clean(text[:-1])
    assert [r[1] for r in rows] == ["WOT0", "WOT1", "WOT2"] and stats.malformed == 0
    assert stats.refusal() is None  # a small file is not refused for it


def test_a_small_file_without_a_final_newline_loads(db_url, tmp_path):
    path = tmp_path / "2026-06-15T07-00-00.csv"
    path.write_text(csv_text([record("WOT1"), record("WOT2")]).rstrip("\n"))
    result = CliRunner().invoke(app, ["ingest", "--csv", str(path), "--apply"], env={"DATABASE_URL": db_url})
    assert result.exit_code == 0 and "inserted=2" in result.stdout, result.output


def test_a_last_row_cut_inside_a_quoted_value_is_still_malformed():
    text = csv_text([record(f"WOT{i}") for i in range(3)])
    rows, stats, _ = clean(text[:-3])  # '..."inc"\n' -> '..."in'
    assert len(rows) == 2 and stats.first_malformed == [(4, "the file ends inside this row (truncated upload?)")]


@pytest.mark.parametrize(
    "name",
    [
        "\u0662\u0660\u0662\u0666-06-15T09-00-00.csv",  # Arabic-Indic year
        "2026-06-15T\u0669\u0669-00-00.csv",
        "\uff12\uff10\uff12\uff16-06-15T09-00-00.csv",  # full-width
        "2026-06-15T09-00-0\u0665.csv",
    ],
)
def test_stamps_are_ascii_digits_only(name):
    assert parse_stamp(name) is None
    assert feed_file(PREFIX + name, prefix=PREFIX) is None


def test_a_look_alike_stamp_never_passes_for_the_newest(store, db_url):
    real = PREFIX + "2026-06-15T08-00-00.csv"
    fake = PREFIX + "\u0662\u0660\u0669\u0669-06-15T08-00-00.csv"  # "2099" in Arabic-Indic digits
    store.put(real, csv_text([record("WOT1")]))
    store.put(fake, csv_text([record("FAKE")]))
    result = CliRunner().invoke(app, ["ingest", "--from-bucket", "--apply"], env=store.env(db_url))
    assert result.exit_code == 0, result.output
    assert f"ingested {real}" in result.stdout
    with psycopg.connect(db_url) as c:
        assert c.execute("SELECT ticket_id FROM tickets.inc").fetchall() == [("WOT1",)]
    assert store.keys(PREFIX) == sorted([fake, PREFIX + "processed/2026-06-15T08-00-00.csv"])  # never moved
    assert newest([s for s in (feed_file(k, prefix=PREFIX) for k in (real, fake)) if s]).key == real
