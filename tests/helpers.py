"""Small helpers shared by the tests."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta, timezone

import psycopg
from psycopg.types.json import Jsonb

from fleettickets.report import Reporter

EAT = timezone(timedelta(hours=3))


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
