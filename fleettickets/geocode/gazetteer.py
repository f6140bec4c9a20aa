"""Reviewing and fixing the gazetteers by hand (the work is in SQL: migrations/R__20_geocode.sql)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import psycopg
from psycopg.types.json import Jsonb

from fleettickets.errors import FleetError
from fleettickets.geocode.places import GUARD_KM, in_kenya, placement_problem

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
            raise _missing(kind, key)


def set_point(conn: psycopg.Connection, kind: Kind, key: str, lng: float, lat: float) -> int:
    """Set a point by hand (it becomes verified); returns how many tickets moved. The review page
    writes through here too. A location must be in Kenya and within the guard of its cluster's point."""
    if not (-180 <= lng <= 180 and -90 <= lat <= 90):
        raise FleetError(f"not a position: latitude {lat}, longitude {lng}")
    if kind == "location":
        where = conn.execute("SELECT * FROM tickets.location_cluster_point(%s)", (key,)).fetchone()
        if where is None:
            raise _missing(kind, key)
        cluster, x, y = where
        if problem := placement_problem(lng, lat, (x, y) if x is not None else None, cluster, GUARD_KM):
            raise FleetError(f"refused: {problem}")
    elif not in_kenya(lng, lat):
        raise FleetError(f"refused: {lat:.5f}, {lng:.5f} is outside Kenya")
    with conn.transaction():
        moved = conn.execute("SELECT tickets.set_entry_point(%s, %s, %s, %s)", (kind, key, lng, lat)).fetchone()[0]
    if moved is None:
        raise _missing(kind, key)
    return moved


def location_entry(conn: psycopg.Connection, key: str) -> dict[str, object]:
    """A location entry as it is now, whole (for restore)."""
    row = conn.execute("SELECT tickets.location_entry(%s)", (key,)).fetchone()[0]
    if row is None:
        raise _missing("location", key)
    return row


def restore(conn: psycopg.Connection, entry: dict[str, object]) -> int:
    """Put a location entry back as location_entry() read it; returns how many tickets moved."""
    with conn.transaction():
        moved = conn.execute("SELECT tickets.restore_location_entry(%s)", (Jsonb(entry),)).fetchone()[0]
    if moved is None:
        raise _missing("location", str(entry.get("query")))
    return moved


def _missing(kind: Kind, key: str) -> FleetError:
    return FleetError(f"no {kind} entry {key!r} in the gazetteer (see `fleettickets gazetteer list`)")
