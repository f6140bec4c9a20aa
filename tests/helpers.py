"""Small helpers shared by the tests."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta, timezone

import psycopg
from psycopg.types.json import Jsonb

from fleettickets.clean import HEADER
from fleettickets.console import Reporter

EAT = timezone(timedelta(hours=3))
INC_PREFIX = "automations/inc/"  # where the exporter writes INC (CONTRACT 1): the default layout
CRQ_PREFIX = "automations/crq/"


def eat_text(moment: datetime) -> str:
    """A moment as the feed writes it: EAT wall clock, no offset."""
    return moment.astimezone(EAT).strftime("%Y-%m-%d %H:%M:%S")


def insert_ticket(conn: psycopg.Connection, ticket_id: str, **raw: object) -> None:
    conn.execute("INSERT INTO tickets.inc (ticket_id, raw) VALUES (%s, %s)", (ticket_id, Jsonb(raw)))


def add_cluster(conn: psycopg.Connection, cluster: str, lng: float, lat: float, status: str = "ok") -> None:
    conn.execute(
        "INSERT INTO tickets.geo_clusters (cluster, query, provider, status, geom)"
        " VALUES (%s, %s, 'test', %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326))",
        (cluster, f"{cluster}, Kenya", status, lng, lat),
    )


def one(conn: psycopg.Connection, sql: str, params: tuple = ()) -> object:
    return conn.execute(sql, params).fetchone()[0]


def pretty(value: object) -> str:
    return json.dumps(value, indent=1, default=str)


def quiet() -> Reporter:
    """A reporter whose lines go nowhere (read them back from .out if needed)."""
    return Reporter(io.StringIO(), interactive=False)


def record(ticket_id: str, **values: str) -> dict[str, str]:
    """A feed row with every contract column: an open ticket unless told otherwise."""
    row = dict.fromkeys(HEADER, "")
    row.update(
        ticket_id=ticket_id,
        raw_status="In Progress",
        normalized_status="in_progress",
        bucket="pending",
        is_actionable="true",
        is_alarm="false",
        is_auto_created="false",
        is_auto_closed="false",
        cluster="Nairobi West",
        region="NAIROBI",
        location_name="NW_Kileleshwa_FDT_03",
        assigned_team="Alpha Fibre",
        owner="J. Mwangi",
        sla_status="Compliant",
        created_at_service="2026-06-15 08:00:00",
        first_seen_at="2026-06-15 08:20:00",
        last_seen_at="2026-06-15 08:20:00",
        created_at="2026-06-15 08:05:00",
        updated_at="2026-06-15 08:20:00",
        week_start="2026-06-15",
        week_end="2026-06-21",
        source_s3_bucket="n8n",
        source_s3_key="wm_task/x.xlsx",
        source_snapshot_id="snap-1",
        department="Field Ops",
        source_type="wm_task",
        service_type="inc",
    )
    row.update(values)
    return row


def csv_text(
    records: list[dict[str, str]], *, sentinel: bool = False, crlf: bool = False, columns: list[str] | None = None
) -> str:
    from devtools.feed import write_csv

    out = io.StringIO()
    write_csv(out, iter(records), sentinel=sentinel, crlf=crlf, columns=columns or list(HEADER))
    return out.getvalue()
