"""Reviewing and fixing the gazetteers by hand (the work is in SQL: migrations/R__20_geocode.sql).

Every hand change is a placement in tickets.placements (migration 32): who, when, the entry
before and after. Undo is `revert(N)`, taken from that trail, refused if the entry changed since.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Literal, TypeVar

import psycopg

from fleettickets.errors import FleetError
from fleettickets.geocode.places import GUARD_KM, in_kenya, placement_problem

Kind = Literal["cluster", "location"]  # the two gazetteers (the CLI offers these as choices)
T = TypeVar("T")


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
    match_of: str | None  # a reuse: the entry it took its point from
    placement: int | None  # its last placement, if any (its provenance) ...
    placed: str | None  # ... said as 'set by alice (role fleet) at 2026-06-15 09:30 EAT'


@dataclass(frozen=True)
class Placement:
    """One hand change, as `gazetteer history` lists it."""

    id: int
    kind: Kind
    key: str
    action: str  # set | verify | revert
    reverts: int | None
    placed_at: datetime
    described: str  # 'set by alice (role fleet) at 2026-06-15 09:30 EAT'
    status_before: str
    verified_before: bool
    latitude_before: float | None
    longitude_before: float | None
    status_after: str
    verified_after: bool
    latitude_after: float | None
    longitude_after: float | None


@dataclass(frozen=True)
class Placed:
    placement: int  # its number in the trail (`gazetteer revert N`)
    moved: int  # tickets whose position changed


@dataclass(frozen=True)
class Reverted:
    placement: int  # the revert's own number (it can be reverted in turn)
    kind: Kind
    key: str
    moved: int


def entries(
    conn: psycopg.Connection, *, kind: Kind | None = None, status: str | None = None, unverified: bool = False
) -> list[Entry]:
    return _select(
        conn,
        Entry,
        "tickets.gazetteer WHERE (%(kind)s::text IS NULL OR kind = %(kind)s)"
        " AND (%(status)s::text IS NULL OR status = %(status)s) AND (NOT %(unverified)s OR NOT verified)"
        " ORDER BY kind, cluster, key",
        {"kind": kind, "status": status, "unverified": unverified},
    )


def verify(conn: psycopg.Connection, kind: Kind, key: str, reviewer: str | None = None) -> int | None:
    """Mark an entry checked; returns its placement, None if it was verified already (no change)."""
    with conn.transaction():
        row = conn.execute("SELECT placement FROM tickets.verify_entry(%s, %s, %s)", (kind, key, reviewer)).fetchone()
    if row is None:
        raise _missing(kind, key)
    return row[0]


def set_point(
    conn: psycopg.Connection, kind: Kind, key: str, lng: float, lat: float, reviewer: str | None = None
) -> Placed:
    """Set a point by hand (it becomes verified), recorded as a placement. The review page writes
    through here too. A location must be in Kenya and within the guard of its cluster's point."""
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
        row = conn.execute(
            "SELECT placement, moved FROM tickets.set_entry_point(%s, %s, %s, %s, %s)", (kind, key, lng, lat, reviewer)
        ).fetchone()
    if row is None:
        raise _missing(kind, key)
    return Placed(*row)


def revert(conn: psycopg.Connection, placement: int, reviewer: str | None = None) -> Reverted:
    """Put the entry back as it was before that placement, unless it has changed since (refused,
    in one line naming the change); the revert is recorded as a placement too."""
    try:
        with conn.transaction():
            row = conn.execute(
                "SELECT placement, entry_kind, entry_key, moved FROM tickets.revert_placement(%s, %s)",
                (placement, reviewer),
            ).fetchone()
    except psycopg.errors.RaiseException as e:  # the refusal the SQL states: the user's one line
        raise FleetError(e.diag.message_primary or str(e)) from None
    return Reverted(*row)


def history(
    conn: psycopg.Connection, *, kind: Kind | None = None, key: str | None = None, limit: int | None = None
) -> list[Placement]:
    """The placements of one entry (or of all), the latest first."""
    return _select(
        conn,
        Placement,
        "tickets.placement_history WHERE (%(kind)s::text IS NULL OR kind = %(kind)s)"
        " AND (%(key)s::text IS NULL OR key = %(key)s) ORDER BY id DESC LIMIT %(limit)s",
        {"kind": kind, "key": key, "limit": limit},
    )


def _select(conn: psycopg.Connection, row: type[T], source: str, params: dict[str, object]) -> list[T]:
    """Rows of a view as dataclasses whose fields are named like its columns."""
    columns = ", ".join(f.name for f in fields(row))  # type: ignore[arg-type]
    return [row(*values) for values in conn.execute(f"SELECT {columns} FROM {source}", params)]


def _missing(kind: Kind, key: str) -> FleetError:
    return FleetError(f"no {kind} entry {key!r} in the gazetteer (see `fleettickets gazetteer list`)")
