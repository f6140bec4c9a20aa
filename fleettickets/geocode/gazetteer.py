"""Reviewing and fixing the gazetteers by hand (the work is in SQL: migrations/R__20_geocode.sql)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import psycopg

from fleettickets.errors import FleetError

Kind = Literal["cluster", "location"]  # the two gazetteers (the CLI offers these as choices)


@dataclass(frozen=True)
class Entry:
    kind: Kind
    key: str
    cluster: str
    status: str
    verified: bool
    provider: str
    display_name: str | None
    latitude: float | None
    longitude: float | None
    distance_km: float | None
    detail: str | None


def entries(
    conn: psycopg.Connection, *, kind: Kind | None = None, status: str | None = None, unverified: bool = False
) -> list[Entry]:
    rows = conn.execute(
        "SELECT kind, key, cluster, status, verified, provider, display_name, latitude, longitude, distance_km,"
        " detail FROM tickets.gazetteer"
        " WHERE (%(kind)s::text IS NULL OR kind = %(kind)s) AND (%(status)s::text IS NULL OR status = %(status)s)"
        " AND (NOT %(unverified)s OR NOT verified) ORDER BY kind, cluster, key",
        {"kind": kind, "status": status, "unverified": unverified},
    ).fetchall()
    return [Entry(*row) for row in rows]


def verify(conn: psycopg.Connection, kind: Kind, key: str) -> None:
    with conn.transaction():
        if not conn.execute("SELECT tickets.verify_entry(%s, %s)", (kind, key)).fetchone()[0]:
            raise FleetError(f"no {kind} entry {key!r} in the gazetteer (see `fleettickets gazetteer list`)")


def set_point(conn: psycopg.Connection, kind: Kind, key: str, lng: float, lat: float) -> int:
    """Set a point by hand (it becomes verified); returns how many tickets moved."""
    if not (-180 <= lng <= 180 and -90 <= lat <= 90):
        raise FleetError(f"not a position: latitude {lat}, longitude {lng}")
    with conn.transaction():
        moved = conn.execute("SELECT tickets.set_entry_point(%s, %s, %s, %s)", (kind, key, lng, lat)).fetchone()[0]
    if moved is None:
        raise FleetError(f"no {kind} entry {key!r} in the gazetteer (see `fleettickets gazetteer list`)")
    return moved
