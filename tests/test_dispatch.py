"""Dispatch: nearest open tickets, and at the same distance the most urgent first."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import psycopg
from typer.testing import CliRunner

from fleettickets.cli import app
from tests.helpers import add_cluster, eat_text, insert_ticket


def ago(hours: float) -> str:
    return eat_text(datetime.now(UTC) - timedelta(hours=hours))


def shared_point(conn: psycopg.Connection) -> None:
    """Five tickets on one cluster point 5 km from the van, one with a precise point nearer."""
    add_cluster(conn, "C", 36.845, -1.30)
    for tid, clock in [("OK10", ago(10)), ("BR60", ago(60)), ("AR40", ago(40)), ("NOCLOCK", None), ("BR100", ago(100))]:
        insert_ticket(conn, tid, is_actionable="true", cluster="C", created_at_service=clock)
    insert_ticket(conn, "NEAR", is_actionable="true", latitude="-1.30", longitude="36.81", created_at_service=ago(1))
    insert_ticket(conn, "SHUT", is_actionable="false", cluster="C", created_at_service=ago(200))


def nearest(conn: psycopg.Connection, limit: int = 10, precision: str | None = None) -> list[tuple]:
    return conn.execute(
        "SELECT ticket_id, sla_state, metres, geo_source"
        " FROM reporting.fn_nearest_open_tickets(36.80, -1.30, %s, NULL, %s)",
        (limit, precision),
    ).fetchall()


def test_same_distance_breached_then_at_risk_then_ok_longest_open_first(conn):
    shared_point(conn)
    found = nearest(conn)
    assert [r[0] for r in found] == ["NEAR", "BR100", "BR60", "AR40", "OK10", "NOCLOCK"]
    assert [r[1] for r in found] == ["ok", "breached", "breached", "at_risk", "ok", "unknown"]
    assert [r[3] for r in found] == ["feed"] + ["cluster"] * 5  # every row says how precise it is
    assert len({r[2] for r in found[1:]}) == 1


def test_a_limit_inside_a_tie_keeps_the_most_urgent(conn):
    shared_point(conn)
    assert [r[0] for r in nearest(conn, 2)] == ["NEAR", "BR100"]
    assert [r[0] for r in nearest(conn, 3)] == ["NEAR", "BR100", "BR60"]
    assert nearest(conn, 1, "cluster")[0][0] == "BR100"
    assert nearest(conn, 10, "location") == []


def test_nearest_cli_shows_state_and_precision(db_url):
    with psycopg.connect(db_url, autocommit=True) as c:
        shared_point(c)
    args = ["nearest", "--lng", "36.80", "--lat", "-1.30", "--limit", "3", "--format", "csv"]
    result = CliRunner().invoke(app, args, env={"DATABASE_URL": db_url})
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["ticket_id"], r["sla_state"], r["geo_source"]) for r in rows] == [
        ("NEAR", "ok", "feed"),
        ("BR100", "breached", "cluster"),
        ("BR60", "breached", "cluster"),
    ]
