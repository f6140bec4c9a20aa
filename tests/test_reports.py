"""Phase-2 analytics and dispatch, with exact numbers on a small hand-built feed."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import psycopg
import pytest
from typer.testing import CliRunner

from fleettickets import reports
from fleettickets.cli import app
from tests.helpers import dispatch_feed, one, report_feed

D = Decimal


def report(conn, name: str, start: str = "2026-06-15", end: str = "2026-06-22") -> list[tuple]:
    return reports.run(conn, name, date.fromisoformat(start), date.fromisoformat(end)).rows


def test_daily_flow_uses_eat_days(conn):
    report_feed(conn)
    assert report(conn, "daily") == [
        (date(2026, 6, 15), 3, 0),
        (date(2026, 6, 16), 1, 3),  # F closed at 00:30 EAT on the 16th
        (date(2026, 6, 17), 1, 0),
        (date(2026, 6, 18), 0, 1),
        (date(2026, 6, 19), 0, 0),
        (date(2026, 6, 20), 0, 0),
        (date(2026, 6, 21), 1, 0),
        (date(2026, 6, 22), 0, 1),
    ]


def test_mttr_trend_source_and_wall_clock_side_by_side(conn):
    report_feed(conn)
    assert report(conn, "mttr") == [
        # source minutes 90, 660, 1200, 1800; wall clock 90, 1440, 4320 (C has no created_at_service)
        (date(2026, 6, 15), 4, D("930.0"), D("1620.0"), 3, D("1440.0"), D("3744.0")),
        (date(2026, 6, 22), 1, D("120.0"), D("120.0"), 1, D("120.0"), D("120.0")),
    ]


def test_sla_compliance_source_vs_the_48_hour_rule(conn):
    report_feed(conn)
    assert report(conn, "sla") == [
        (date(2026, 6, 15), "C1", "Alpha", 3, 3, 0, 2, 1, 0),  # B: 'Compliant' at 72 h
        (date(2026, 6, 15), "C2", "Bravo", 1, 0, 1, 1, 0, 0),  # C: 'Breached' at 11 h (first_seen clock)
        (date(2026, 6, 22), "C1", "Alpha", 1, 1, 0, 1, 0, 0),
    ]


def test_team_closures(conn):
    report_feed(conn)
    assert report(conn, "teams") == [
        (date(2026, 6, 15), "Alpha", "O2", 2),
        (date(2026, 6, 15), "Alpha", "O1", 1),
        (date(2026, 6, 15), "Bravo", "O1", 1),
        (date(2026, 6, 22), "Alpha", "O1", 1),
    ]


def test_data_quality(conn):
    report_feed(conn)
    assert report(conn, "quality") == [
        ("tickets", D(6)),
        ("share_missing_created_at_service", D("0.1667")),
        ("share_missing_assigned_team", D("0.1667")),
        ("content_lag_hours", D("59.0")),
    ]  # 2026-06-24 12:00 vs the newest update, 2026-06-22 01:00


def test_ranges_are_inclusive_eat_days(conn):
    report_feed(conn)
    assert report(conn, "daily", "2026-06-16", "2026-06-16") == [(date(2026, 6, 16), 1, 3)]
    assert report(conn, "teams", "2026-06-22", "2026-06-22") == [(date(2026, 6, 22), "Alpha", "O1", 1)]


def nearest(conn, *args) -> list[tuple]:
    return conn.execute(
        "SELECT ticket_id, metres, geo_source FROM reporting.fn_nearest_open_tickets(36.80, -1.30"
        + "".join(f", {a}" for a in args)
        + ")"
    ).fetchall()


def test_nearest_open_tickets_in_order_with_radius_and_precision(conn):
    dispatch_feed(conn)
    found = nearest(conn)
    assert [r[0] for r in found] == ["G", "H", "I", "K"]
    assert [round(r[1], -2) for r in found] == [1100, 1700, 6000, 12400]
    assert [r[0] for r in nearest(conn, 2)] == ["G", "H"]
    assert [r[0] for r in nearest(conn, 10, 3000)] == ["G", "H"]
    assert nearest(conn, 10, "NULL", "'location'") == [("I", found[2][1], "location")]


def test_nearest_uses_the_gist_index(conn):
    conn.execute("SET LOCAL fleettickets.geom_resolved = 'on'")
    conn.execute(
        "INSERT INTO tickets.inc (ticket_id, raw, geom, geo_source) SELECT 'N' || g,"
        ' \'{"is_actionable": "true"}\', ST_SetSRID(ST_MakePoint(34 + (g % 97) * 0.07, -4 + (g % 89) * 0.09), 4326),'
        " 'cluster' FROM generate_series(1, 5000) g"
    )
    conn.execute("ANALYZE tickets.inc")
    plan = "\n".join(
        r[0] for r in conn.execute("EXPLAIN SELECT * FROM reporting.fn_nearest_open_tickets(36.8, -1.3, 10)")
    )
    assert "Index Scan using inc_geog_gist" in plan and "Order By: (geog <->" in plan


@pytest.fixture
def reports_db(db_url) -> str:
    with psycopg.connect(db_url, autocommit=True) as c:
        report_feed(c)
        dispatch_feed(c)
    return db_url


def test_report_cli_formats(reports_db):
    env = {"DATABASE_URL": reports_db}
    as_json = CliRunner().invoke(
        app, ["report", "teams", "--from", "2026-06-15", "--to", "2026-06-22", "--format", "json"], env=env
    )
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout)[0] == {"week": "2026-06-15", "team": "Alpha", "owner": "O2", "closed": 2}
    as_csv = CliRunner().invoke(
        app, ["report", "daily", "--from", "2026-06-16", "--to", "2026-06-16", "--format", "csv"], env=env
    )
    assert as_csv.stdout == "day,created,closed\n2026-06-16,1,3\n"
    table = CliRunner().invoke(app, ["report", "sla", "--from", "2026-06-15", "--to", "2026-06-22"], env=env)
    assert table.exit_code == 0 and "Alpha" in table.stdout and table.stdout.strip().endswith("3 row(s)")
    near = CliRunner().invoke(
        app, ["nearest", "--lng", "36.80", "--lat", "-1.30", "--limit", "2", "--format", "json"], env=env
    )
    assert [r["ticket_id"] for r in json.loads(near.stdout)] == ["G", "H"]


@pytest.mark.parametrize(
    ("start", "end", "days"),
    [
        (None, None, ("2026-05-16", "2026-06-15")),  # the 30 days up to today (EAT)
        ("2026-06-01", None, ("2026-06-01", "2026-06-15")),
        (None, "2026-06-10", ("2026-05-11", "2026-06-10")),
        ("2026-06-10", "2026-06-10", ("2026-06-10", "2026-06-10")),
    ],
)
def test_the_days_a_report_covers(start, end, days):
    first, last = reports.days(start, end, today=date(2026, 6, 15))
    assert (first.isoformat(), last.isoformat()) == days


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "daily", "--from", "15/06/2026"], "--from must be a date like 2026-06-15"),
        (["report", "daily", "--from", "2026-06-20", "--to", "2026-06-10"], "--from 2026-06-20 is after --to"),
    ],
)
def test_report_cli_refuses_bad_arguments(reports_db, args, message):
    result = CliRunner().invoke(app, args, env={"DATABASE_URL": reports_db})
    assert result.exit_code == 1 and message in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["report", "weather"],
            "error: Invalid value for 'name': Value error, 'weather' is not one of 'daily', 'backlog', 'mttr', "
            "'sla', 'teams', 'quality'. (see `fleettickets report --help`)",
        ),
        (
            ["report", "daily", "--format", "xml"],
            "error: Invalid value for '--format': Value error, 'xml' is not one of 'table', 'json', 'csv'. "
            "(see `fleettickets report --help`)",
        ),
        (
            ["nearest", "--lng", "36.8", "--lat", "-1.3", "--precision", "exact"],
            "error: Invalid value for '--precision': Value error, 'exact' is not one of 'location', 'cluster', "
            "'feed'. (see `fleettickets nearest --help`)",
        ),
        (
            ["gazetteer", "verify", "town", "Nakuru"],
            "error: Invalid value for 'kind': Value error, 'town' is not one of 'cluster', 'location'. "
            "(see `fleettickets gazetteer verify --help`)",
        ),
        (
            ["nearest", "--lat", "-1.3"],
            "error: Missing option '--lng'. (see `fleettickets nearest --help`)",
        ),
        (["weather"], "error: No such command 'weather'. (see `fleettickets --help`)"),
    ],
)
def test_a_usage_error_is_one_line_and_exit_2(args, message):
    """A value not among a command's choices, a missing option or command: typer refuses it before any
    work, as one line (not typer's framed usage text)."""
    result = CliRunner().invoke(app, args, env={}, prog_name="fleettickets")
    assert result.exit_code == 2
    assert result.stderr == message + "\n"


def test_backlog_report_reads_the_daily_snapshot(conn):
    conn.execute(
        "INSERT INTO reporting.inc_daily_backlog VALUES ('2026-06-15', 'C1', 'Alpha', 5, 2, 1, 1),"
        " ('2026-06-15', 'C2', '', 3, 0, 2, 0)"
    )
    assert report(conn, "backlog", "2026-06-15", "2026-06-16") == [
        (date(2026, 6, 15), 8, 2, 3, 1, True),
        (date(2026, 6, 16), None, None, None, None, False),  # after the last day observed: no data, not 0
    ]
    assert one(conn, "SELECT count(*) FROM reporting.fn_backlog('2026-06-01', '2026-06-30')") == 30
