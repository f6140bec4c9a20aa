"""Phase-2 reports: SQL functions in `reporting` (migrations/R__50_reports.sql), each over a range of EAT days."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date

import psycopg

from fleettickets import jsonout

REPORTS = {
    "daily": ("reporting.fn_daily_flow", "creations and closures per EAT day"),
    "backlog": ("reporting.fn_backlog", "open backlog per EAT day (from the event history)"),
    "mttr": ("reporting.fn_mttr_trend", "MTTR per week: the source's and wall-clock, median and p90 (minutes)"),
    "sla": ("reporting.fn_sla_compliance", "SLA of closed tickets per week, cluster, team: source vs 48 h rule"),
    "teams": ("reporting.fn_team_closures", "closures per week, team and owner"),
    "quality": ("reporting.fn_data_quality", "missing clocks and teams, content lag"),
}


@dataclass(frozen=True)
class Table:
    columns: list[str]
    rows: list[tuple]

    def as_json(self) -> str:
        return jsonout.dumps([dict(zip(self.columns, row, strict=True)) for row in self.rows])

    def as_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self.columns)
        writer.writerows(self.rows)
        return out.getvalue()


def run(conn: psycopg.Connection, name: str, start: date, end: date) -> Table:
    function, _ = REPORTS[name]
    cur = conn.execute(f"SELECT * FROM {function}(%s, %s)", (start, end))  # function: from REPORTS only
    return Table([c.name for c in cur.description], cur.fetchall())


def nearest(
    conn: psycopg.Connection, lng: float, lat: float, limit: int, radius_km: float | None, precision: str | None
) -> Table:
    cur = conn.execute(
        "SELECT * FROM reporting.fn_nearest_open_tickets(%s, %s, %s, %s, %s)",
        (lng, lat, limit, radius_km * 1000 if radius_km is not None else None, precision),
    )
    return Table([c.name for c in cur.description], cur.fetchall())
