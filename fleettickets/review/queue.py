"""The review queue: the labels whose open tickets a reviewer should place (tickets.review_queue,
migrations/R__20_geocode.sql), those whose placement would move the most open tickets first."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import psycopg


@dataclass(frozen=True)
class Entry:
    key: str  # the location entry (`gazetteer set location KEY`)
    place: str
    cluster: str
    reason: str  # not_found | rejected | error | codes_only | match | far
    status: str
    provider: str
    detail: str | None
    latitude: float | None  # the entry's point, if it has one
    longitude: float | None
    cluster_latitude: float | None
    cluster_longitude: float | None
    candidates: list[dict[str, Any]]  # what the provider answered: name, kind, lng, lat, km
    tickets: int  # open tickets with this label
    off_location: int  # of them, not at location precision now

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def entries(conn: psycopg.Connection, limit: int | None = None) -> list[Entry]:
    rows = conn.execute(
        "SELECT key, place, cluster, reason, status, provider, detail, latitude, longitude, cluster_latitude,"
        " cluster_longitude, candidates, tickets, off_location FROM tickets.review_queue LIMIT %s",
        (limit,),
    ).fetchall()
    return [Entry(*row) for row in rows]


def ticket_points(conn: psycopg.Connection, key: str) -> list[dict[str, Any]]:
    """Where the open tickets of a queue entry are now (tickets.review_tickets)."""
    rows = conn.execute("SELECT ticket_id, geo_source, latitude, longitude FROM tickets.review_tickets(%s)", (key,))
    return [{"ticket_id": t, "geo_source": s, "lat": y, "lng": x} for t, s, y, x in rows]
