"""The load history (tickets.loads, migration 40): which feed files were applied, when, with what
counts. It decides what is pending, as Snowpipe's load history does, not the archive: a file is its
key and ETag, and one recorded here is never applied again, even when its archive failed."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from fleettickets.console import Table
from fleettickets.snapshot import FeedFile

Identity = tuple[str, str | None]  # (key, ETag)


@dataclass(frozen=True)
class Source:
    """A file as the load history names it: a bucket file, or a local one (--csv: no ETag)."""

    dataset: str
    kind: str  # snapshot | change | csv
    key: str
    etag: str | None = None
    size: int | None = None
    stamp: datetime | None = None

    @classmethod
    def of(cls, dataset: str, file: FeedFile) -> Source:
        return cls(dataset, file.kind, file.key, file.etag, file.size, file.stamp)


def applied(conn: psycopg.Connection, dataset: str, files: Iterable[FeedFile]) -> set[Identity]:
    """The identities among `files` the history already holds (applied, or skipped as unchanged)."""
    keys = sorted({f.key for f in files})
    if not keys:
        return set()
    rows = conn.execute(
        "SELECT source_key, etag FROM tickets.loads WHERE dataset = %s AND source_key = ANY (%s)", (dataset, keys)
    ).fetchall()
    return {(key, etag) for key, etag in rows}


def last_snapshot_etag(conn: psycopg.Connection, dataset: str) -> str | None:
    """The ETag of the newest snapshot the history holds: a newest snapshot with the same one is the
    exporter re-sending the same bytes (CONTRACT 1: skipped as unchanged)."""
    row = conn.execute(
        "SELECT etag FROM tickets.loads WHERE dataset = %s AND kind = 'snapshot'"
        " ORDER BY stamp DESC NULLS LAST, load_id DESC LIMIT 1",
        (dataset,),
    ).fetchone()
    return row[0] if row else None


def record(conn: psycopg.Connection, source: Source, outcome: str, counts: dict[str, Any]) -> None:
    """In the transaction that applied the file (or decided to skip it)."""
    conn.execute(
        "INSERT INTO tickets.loads (dataset, kind, source_key, etag, size, stamp, outcome, counts)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (source.dataset, source.kind, source.key, source.etag, source.size, source.stamp, outcome, Jsonb(counts)),
    )


def mark_archived(conn: psycopg.Connection, dataset: str, files: list[FeedFile]) -> None:
    if files:
        conn.execute(
            "UPDATE tickets.loads l SET archived_at = now() FROM unnest(%s::text[], %s::text[]) AS f (key, etag)"
            " WHERE l.dataset = %s AND l.source_key = f.key AND l.etag = f.etag AND l.archived_at IS NULL",
            ([f.key for f in files], [f.etag for f in files], dataset),
        )
        conn.commit()


def listing(conn: psycopg.Connection, dataset: str | None, limit: int) -> Table:
    """The last `limit` files decided on, newest first (of one dataset, or of all)."""
    cursor = conn.execute(
        """
        SELECT to_char(loaded_at AT TIME ZONE 'Africa/Nairobi', 'YYYY-MM-DD HH24:MI:SS') AS loaded_eat, dataset, kind,
               source_key AS file, outcome, (counts ->> 'rows_kept')::int AS kept,
               (counts ->> 'inserted')::int AS inserted, (counts ->> 'updated')::int AS updated,
               (counts ->> 'unchanged')::int AS unchanged, (counts ->> 'stale')::int AS stale,
               CASE WHEN kind = 'csv' THEN NULL ELSE archived_at IS NOT NULL END AS archived
          FROM tickets.loads
         WHERE %(dataset)s::text IS NULL OR dataset = %(dataset)s
         ORDER BY load_id DESC LIMIT %(limit)s
        """,
        {"dataset": dataset, "limit": limit},
    )
    return Table([c.name for c in cursor.description], cursor.fetchall())
