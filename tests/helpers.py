"""Small helpers shared by the tests."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from psycopg.types.json import Jsonb

from devtools.geocoder import DevGeocoder
from fleettickets.clean import HEADER
from fleettickets.config import Settings
from fleettickets.console import Reporter

EAT = timezone(timedelta(hours=3))
INC_PREFIX = "automations/inc/"  # where the exporter writes INC (CONTRACT 1): the default layout
CRQ_PREFIX = "automations/crq/"
KEY = "sekrit-key-0123456789"  # the one key the `geocoder` fixture's stand-in accepts


def eat_text(moment: datetime) -> str:
    """A moment as the feed writes it: EAT wall clock, no offset."""
    return moment.astimezone(EAT).strftime("%Y-%m-%d %H:%M:%S")


def insert_ticket(conn: psycopg.Connection, ticket_id: str, **raw: object) -> None:
    conn.execute("INSERT INTO tickets.inc (ticket_id, raw) VALUES (%s, %s)", (ticket_id, Jsonb(raw)))


def add_tickets(url: str, rows: list[tuple[str, str, str, str]]) -> None:
    """(ticket_id, cluster, location_name, is_actionable) rows, committed."""
    with psycopg.connect(url, autocommit=True) as c:
        for tid, cluster, name, open_ in rows:
            insert_ticket(c, tid, cluster=cluster, location_name=name, is_actionable=open_)


def add_cluster(conn: psycopg.Connection, cluster: str, lng: float, lat: float, status: str = "ok") -> None:
    conn.execute(
        "INSERT INTO tickets.geo_clusters (cluster, query, provider, status, geom)"
        " VALUES (%s, %s, 'test', %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326))",
        (cluster, f"{cluster}, Kenya", status, lng, lat),
    )


def settings(g: DevGeocoder, url: str, provider: str = "locationiq", rate: float = 50, key: str = KEY) -> Settings:
    """Settings that reach the database at `url` and the stand-in geocoder `g`."""
    return Settings(
        database_url=url, geocoder_provider=provider, geocoder_api_key=key, geocoder_base_url=g.url, geocoder_rate=rate
    )


def env(g: DevGeocoder, url: str, rate: float = 50) -> dict[str, str]:
    """The same as a CLI run's environment."""
    return {"DATABASE_URL": url, "GEOCODER_API_KEY": KEY, "GEOCODER_BASE_URL": g.url, "GEOCODER_RATE": str(rate)}


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


def wait_until(condition: Callable[[], bool], what: str, seconds: float = 60) -> None:
    """Return once `condition()` holds: for what another thread or process does in its own time.
    `seconds` is a hang guard, not a speed check."""
    give_up = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > give_up:
            pytest.fail(f"{what}: not within {seconds:g} s")
        time.sleep(0.01)


def csv_text(
    records: list[dict[str, str]], *, sentinel: bool = False, crlf: bool = False, columns: list[str] | None = None
) -> str:
    from devtools.feed import write_csv

    out = io.StringIO()
    write_csv(out, iter(records), sentinel=sentinel, crlf=crlf, columns=columns or list(HEADER))
    return out.getvalue()


def report_feed(conn: psycopg.Connection) -> None:
    """Six tickets over two weeks (EAT wall clock), worked out by hand in the report tests."""
    closed = {"is_actionable": "false", "bucket": "closed"}
    rows = {
        "A": dict(
            cluster="C1",
            assigned_team="Alpha",
            owner="O1",
            created_at_service="2026-06-15 08:00",
            closed_at="2026-06-16 08:00",
            mttr="20",
            sla_status="Compliant",
            **closed,
        ),
        "B": dict(
            cluster="C1",
            assigned_team="Alpha",
            owner="O2",
            created_at_service="2026-06-15 10:00",
            closed_at="2026-06-18 10:00",
            mttr="30",
            sla_status="Compliant",
            **closed,
        ),
        "C": dict(
            cluster="C2",
            assigned_team="Bravo",
            owner="O1",
            first_seen_at="2026-06-16 09:00",
            closed_at="2026-06-16 20:00",
            mttr="11",
            sla_status="Breached",
            **closed,
        ),
        "D": dict(cluster="C2", owner="O3", created_at_service="2026-06-17 23:30", is_actionable="true"),
        "E": dict(
            cluster="C1",
            assigned_team="Alpha",
            owner="O1",
            created_at_service="2026-06-21 23:00",
            closed_at="2026-06-22 01:00",
            mttr="2",
            sla_status="Compliant",
            updated_at="2026-06-22 01:00",
            **closed,
        ),
        "F": dict(
            cluster="C1",
            assigned_team="Alpha",
            owner="O2",
            created_at_service="2026-06-15 23:00",
            closed_at="2026-06-16 00:30",
            mttr="1.5",
            sla_status="Compliant",
            **closed,
        ),
    }
    for tid, raw in rows.items():
        raw.setdefault("first_seen_at", raw.get("created_at_service"))
        insert_ticket(conn, tid, **raw)
    conn.execute("SELECT tickets.record_import('inc', 'k', '2026-06-24 12:00+03', '{}')")


def dispatch_feed(conn: psycopg.Connection) -> None:
    """Open tickets at known distances from (36.80, -1.30), one closed; worked out in the dispatch tests."""
    add_cluster(conn, "C2", 36.90, -1.25)
    insert_ticket(conn, "G", is_actionable="true", latitude="-1.30", longitude="36.81")  # 1.1 km, feed
    insert_ticket(conn, "H", is_actionable="true", latitude="-1.315", longitude="36.80")  # 1.7 km, feed
    insert_ticket(conn, "K", is_actionable="true", cluster="C2")  # cluster point, 12.4 km
    insert_ticket(conn, "Z", is_actionable="false", latitude="-1.30", longitude="36.80")  # closed: never
    conn.execute(
        "INSERT INTO tickets.geo_locations (query, place, cluster, provider, status, geom)"
        " VALUES ('x, c2, kenya', 'X', 'C2', 'test', 'ok', ST_SetSRID(ST_MakePoint(36.85, -1.28), 4326))"
    )
    conn.execute("INSERT INTO tickets.geo_location_names VALUES ('NW_X', 'C2', 'x, c2, kenya')")
    insert_ticket(conn, "I", is_actionable="true", cluster="C2", location_name="NW_X")  # 6.0 km, location
