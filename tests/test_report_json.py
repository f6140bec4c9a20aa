"""What analysts read: typed JSON (read back by polars, strictly), backlog gaps, and day series that
hold in every session time zone."""

from __future__ import annotations

import io
import json
from datetime import date, datetime
from decimal import Decimal

import polars as pl
import psycopg
import pytest
from typer.testing import CliRunner

from fleettickets import jsonout, reports
from fleettickets.cli import app
from fleettickets.console import Table
from tests.helpers import dispatch_feed, insert_ticket, report_feed

RANGE = ["--from", "2026-06-13", "--to", "2026-06-23"]


@pytest.fixture
def analytics_db(db_url) -> str:
    with psycopg.connect(db_url, autocommit=True) as c:
        report_feed(c)
        dispatch_feed(c)
        c.execute(
            "INSERT INTO reporting.inc_daily_backlog VALUES ('2026-06-15', 'C1', 'Alpha', 5, 2, 1, 1),"
            " ('2026-06-17', 'C2', '', 3, 0, 2, 0)"
        )
    return db_url


def polars_type(values: list) -> pl.DataType | None:
    """The dtype a column of these library values must have in JSON (None: only nulls)."""
    kinds = {type(v) for v in values if v is not None}
    if not kinds:
        return None
    (kind,) = kinds  # one Python type per column
    return {
        bool: pl.Boolean,
        int: pl.Int64,
        Decimal: pl.Float64,
        float: pl.Float64,
        str: pl.String,
        date: pl.Date,
        datetime: pl.Datetime("us", "UTC"),
    }[kind]


def check_typed(table: Table, text: str) -> pl.DataFrame:
    """The JSON read by polars twice: inferred (numbers must come back numbers) and against the
    schema the library's own values call for (a string where a number belongs fails)."""
    schema = {c: polars_type([row[i] for row in table.rows]) for i, c in enumerate(table.columns)}
    inferred = pl.read_json(io.StringIO(text)).schema
    for column, dtype in schema.items():
        if dtype is not None:  # dates and moments are ISO strings in JSON: polars infers String
            assert inferred[column] == (pl.String if dtype in (pl.Date, pl.Datetime("us", "UTC")) else dtype), column
    frame = pl.read_json(io.StringIO(text), schema={c: t or pl.Null for c, t in schema.items()})
    assert frame.height == len(table.rows)
    assert frame.null_count().row(0) == tuple(sum(r[i] is None for r in table.rows) for i in range(len(table.columns)))
    return frame


@pytest.mark.parametrize("name", list(reports.REPORTS))
def test_every_report_in_json_reads_back_typed(analytics_db, name):
    out = CliRunner().invoke(app, ["report", name, *RANGE, "--format", "json"], env={"DATABASE_URL": analytics_db})
    assert out.exit_code == 0, out.output
    with psycopg.connect(analytics_db) as c:
        table = reports.run(c, name, date(2026, 6, 13), date(2026, 6, 23))
    assert table.rows, "each report has rows to type-check"
    frame = check_typed(table, out.stdout)
    if name == "quality":
        assert frame.schema["value"] == pl.Float64


def test_nearest_in_json_reads_back_typed(analytics_db):
    args = ["nearest", "--lng", "36.80", "--lat", "-1.30", "--format", "json"]
    out = CliRunner().invoke(app, args, env={"DATABASE_URL": analytics_db})
    assert out.exit_code == 0, out.output
    with psycopg.connect(analytics_db) as c:
        table = reports.nearest(c, 36.80, -1.30, 10, None, None)
    frame = check_typed(table, out.stdout)
    assert frame.height == 4


def numbers_as_text(value: object, path: str = "") -> list[str]:
    """Every leaf that is a string holding a number: the sign of a Decimal written as text."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in numbers_as_text(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in numbers_as_text(v, f"{path}[{i}]")]
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return []
        return [path]
    return []


def test_status_in_json_reads_back_typed(analytics_db):
    out = CliRunner().invoke(app, ["status", "--json"], env={"DATABASE_URL": analytics_db})
    assert out.exit_code == 0, out.output
    assert numbers_as_text(json.loads(out.stdout)) == []
    schema = pl.read_json(io.StringIO(out.stdout)).schema
    assert schema["tickets"] == pl.Struct({"open": pl.Int64, "total": pl.Int64, "closed": pl.Int64})
    migrations = {f.name: f.dtype for f in schema["migrations"].fields}
    assert migrations["applied"] == pl.Int64
    last = {f.name: f.dtype for f in schema["last_ingest"].fields}  # its fields are the freshness issue's
    assert all(dtype != pl.String for name, dtype in last.items() if name.endswith(("_hours", "_seconds")))


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (Decimal("549.90"), "549.9"),
        (Decimal("6"), "6.0"),  # a numeric column is a float column, whatever the value
        (Decimal("NaN"), "null"),
        (None, "null"),
        (7, "7"),
        (date(2026, 6, 15), '"2026-06-15"'),
        (datetime.fromisoformat("2026-06-15T17:00:00+03:00"), '"2026-06-15T14:00:00Z"'),
        ([Decimal("1.5"), {"k": Decimal("2")}], '[1.5, {"k": 2.0}]'),
    ],
)
def test_json_values(value, written):
    assert jsonout.dumps(value) == written


def test_json_refuses_what_it_does_not_know():
    with pytest.raises(TypeError):
        jsonout.dumps(object())


def backlog(conn: psycopg.Connection, start: str, end: str) -> list[tuple]:
    return conn.execute("SELECT * FROM reporting.fn_backlog(%s, %s)", (start, end)).fetchall()


def test_backlog_days_without_history_are_null_and_the_first_day_is_marked(conn):
    conn.execute(
        "INSERT INTO reporting.inc_daily_backlog VALUES ('2026-06-15', 'C1', 'Alpha', 5, 2, 1, 1),"
        " ('2026-06-15', 'C2', '', 3, 0, 2, 0), ('2026-06-17', 'C1', 'Alpha', 4, 0, 1, 1)"
    )
    assert backlog(conn, "2026-06-13", "2026-06-19") == [
        (date(2026, 6, 13), None, None, None, None, False),  # before history began
        (date(2026, 6, 14), None, None, None, None, False),
        (date(2026, 6, 15), 8, 2, 3, 1, True),  # the start: every ticket open then counts as opened
        (date(2026, 6, 16), 0, 0, 0, 0, False),  # inside history, nothing open, nothing happened: a real 0
        (date(2026, 6, 17), 4, 0, 1, 1, False),
        (date(2026, 6, 18), None, None, None, None, False),  # not observed yet (e.g. today before an ingest)
        (date(2026, 6, 19), None, None, None, None, False),
    ]


def test_backlog_with_no_history_at_all_is_all_null(conn):
    rows = backlog(conn, "2026-06-13", "2026-06-14")
    assert [r[1:] for r in rows] == [(None, None, None, None, False)] * 2


def test_backlog_in_csv_and_table_shows_gaps_as_empty(analytics_db):
    env = {"DATABASE_URL": analytics_db}
    as_csv = CliRunner().invoke(
        app, ["report", "backlog", "--from", "2026-06-14", "--to", "2026-06-15", "--format", "csv"], env=env
    )
    assert (
        as_csv.stdout
        == "day,open,opened,closed,breached,history_start\n2026-06-14,,,,,False\n2026-06-15,5,2,1,1,True\n"
    )
    table = CliRunner().invoke(app, ["report", "backlog", "--from", "2026-06-14", "--to", "2026-06-15"], env=env)
    cells = [
        [c.strip() for c in line.split("│")[1:-1]] for line in table.stdout.splitlines() if line.startswith("│ 2026")
    ]
    assert cells == [["2026-06-14", "", "", "", "", "no"], ["2026-06-15", "5", "2", "1", "1", "yes"]]


# Days on which the session's clock skips midnight: DST starts at 00:00 (Santiago, Beirut), or the
# day does not exist at all (Kiritimati moved across the date line).
DST_DAYS = [
    ("America/Santiago", "2026-09-04", "2026-09-08"),
    ("America/Santiago", "2026-04-03", "2026-04-07"),  # DST ends: midnight comes twice
    ("Asia/Beirut", "2026-03-27", "2026-03-31"),
    ("Pacific/Kiritimati", "1994-12-29", "1995-01-02"),
]


@pytest.mark.parametrize(("zone", "start", "end"), DST_DAYS)
@pytest.mark.parametrize("function", ["reporting.fn_daily_flow", "reporting.fn_backlog", "reporting.days"])
def test_day_series_are_whole_in_every_session_time_zone(conn, zone, start, end, function):
    conn.execute("SELECT set_config('TimeZone', %s, true)", (zone,))
    days = [r[0] for r in conn.execute(f"SELECT * FROM {function}(%s, %s)", (start, end))]
    first = date.fromisoformat(start)
    assert days == [date.fromordinal(first.toordinal() + n) for n in range(5)]


@pytest.mark.parametrize(("zone", "start", "end"), DST_DAYS)
def test_backlog_rebuild_covers_every_day_in_every_session_time_zone(conn, zone, start, end):
    insert_ticket(conn, "T1", is_actionable="true", created_at_service=f"{start} 08:00")
    conn.execute(
        "INSERT INTO tickets.inc_events (ticket_id, observed_at, kind, new_status, is_open, changed)"
        " VALUES ('T1', (%s::date + time '09:00') AT TIME ZONE 'Africa/Nairobi', 'created', 'open', true, '{}')",
        (start,),
    )
    conn.execute("SELECT set_config('TimeZone', %s, true)", (zone,))
    conn.execute("SELECT reporting.refresh_daily_backlog(%s, %s)", (start, end))
    rows = conn.execute("SELECT day, open FROM reporting.inc_daily_backlog ORDER BY day").fetchall()
    first = date.fromisoformat(start)
    assert rows == [(date.fromordinal(first.toordinal() + n), 1) for n in range(5)]
