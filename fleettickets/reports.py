"""Phase-2 reports: SQL functions in `reporting` (migrations/R__50_reports.sql), each over a range of EAT days."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal

import psycopg

from fleettickets.console import Table
from fleettickets.errors import FleetError

# How precisely a ticket is positioned (tickets.inc.geo_source): dispatch may ask for one kind only.
Precision = Literal["location", "cluster", "feed"]

REPORTS = {
    "daily": ("reporting.fn_daily_flow", "creations and closures per EAT day"),
    "backlog": ("reporting.fn_backlog", "open backlog per EAT day (from the event history)"),
    "mttr": ("reporting.fn_mttr_trend", "MTTR per week: the source's and wall-clock, median and p90 (minutes)"),
    "sla": ("reporting.fn_sla_compliance", "SLA of closed tickets per week, cluster, team: source vs 48 h rule"),
    "teams": ("reporting.fn_team_closures", "closures per week, team and owner"),
    "quality": ("reporting.fn_data_quality", "missing clocks and teams, content lag"),
}


DEFAULT_DAYS = 30


def days(start: str | None, end: str | None, *, today: date) -> tuple[date, date]:
    """The EAT days a report covers, from --from and --to (YYYY-MM-DD): by default the 30 days up to today."""
    last = _day(end, "--to") if end else today
    first = _day(start, "--from") if start else last - timedelta(days=DEFAULT_DAYS)
    if first > last:
        raise FleetError(f"--from {first} is after --to {last}")
    return first, last


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise FleetError(f"{option} must be a date like 2026-06-15, not {text!r}") from None


def run(conn: psycopg.Connection, name: str, start: date, end: date) -> Table:
    function, _ = REPORTS[name]
    cur = conn.execute(f"SELECT * FROM {function}(%s, %s)", (start, end))  # function: from REPORTS only
    return Table([c.name for c in cur.description], cur.fetchall())


def nearest(
    conn: psycopg.Connection, lng: float, lat: float, limit: int, radius_km: float | None, precision: Precision | None
) -> Table:
    cur = conn.execute(
        "SELECT * FROM reporting.fn_nearest_open_tickets(%s, %s, %s, %s, %s)",
        (lng, lat, limit, radius_km * 1000 if radius_km is not None else None, precision),
    )
    return Table([c.name for c in cur.description], cur.fetchall())
