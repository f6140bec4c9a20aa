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
    return {(key, etag) for key, etag in conn.execute("SELECT * FROM tickets.loaded_files(%s, %s)", (dataset, keys))}


def last_snapshot_etag(conn: psycopg.Connection, dataset: str) -> str | None:
    """The ETag of the newest snapshot the history holds: a newest snapshot with the same one is the
    exporter re-sending the same bytes (CONTRACT 1: skipped as unchanged)."""
    return conn.execute("SELECT tickets.last_snapshot_etag(%s)", (dataset,)).fetchone()[0]


def newest_applied(conn: psycopg.Connection, dataset: str) -> datetime | None:
    """The newest stamp among the files applied: a file stamped before it arrives late."""
    return conn.execute("SELECT tickets.newest_applied(%s)", (dataset,)).fetchone()[0]


def record(conn: psycopg.Connection, source: Source, outcome: str, counts: dict[str, Any]) -> None:
    """In the transaction that applied the file (or decided to skip it)."""
    conn.execute(
        "SELECT tickets.record_load(%s, %s, %s, %s, %s, %s, %s, %s)",
        (source.dataset, source.kind, source.key, source.etag, source.size, source.stamp, outcome, Jsonb(counts)),
    )


def mark_archived(conn: psycopg.Connection, dataset: str, files: list[FeedFile]) -> None:
    if files:
        conn.execute(
            "SELECT tickets.mark_archived(%s, %s, %s)", (dataset, [f.key for f in files], [f.etag for f in files])
        )
        conn.commit()


def listing(conn: psycopg.Connection, dataset: str | None, limit: int) -> Table:
    """The last `limit` files decided on, newest first (of one dataset, or of all)."""
    cursor = conn.execute(
        "SELECT loaded_eat, dataset, kind, file, outcome, kept, inserted, updated, unchanged, stale, archived"
        " FROM tickets.load_history WHERE %(dataset)s::text IS NULL OR dataset = %(dataset)s"
        " ORDER BY load_id DESC LIMIT %(limit)s",
        {"dataset": dataset, "limit": limit},
    )
    return Table([c.name for c in cursor.description], cursor.fetchall())
