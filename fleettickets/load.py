"""Loading one file's cleaned rows: COPY into a session temp table, then one set-based merge in SQL.

All in one transaction: the file's rows, the merge, its entry in the load history and the
freshness row commit together or not at all, so a run stopped anywhere leaves each file applied
and recorded, or not applied at all. The merge itself (last occurrence wins, unchanged rows
untouched, a row older than the stored one not written, nothing deleted) is tickets.merge_stage()
(migrations/R__40_ingest.sql).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields

import psycopg
from psycopg.types.json import Jsonb

from fleettickets import loads
from fleettickets.clean import CleanStats
from fleettickets.datasets import Dataset
from fleettickets.db import first_line
from fleettickets.errors import DatabaseError
from fleettickets.loads import Source


@dataclass(frozen=True)
class MergeCounts:
    rows_staged: int
    tickets: int  # distinct ticket_ids among the staged rows
    inserted: int
    updated: int
    unchanged: int
    stale: int  # rows older than the stored ones (CONTRACT 1b): not written
    events: int  # history rows written (tickets.inc_events)

    def __add__(self, other: MergeCounts) -> MergeCounts:
        return MergeCounts(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


NO_COUNTS = MergeCounts(0, 0, 0, 0, 0, 0, 0)


def stage(conn: psycopg.Connection, rows: Iterable[tuple[int, str, str]]) -> None:
    """COPY cleaned (line, ticket_id, raw) rows into the session's pg_temp.stage, made if need be."""
    conn.execute("SELECT tickets.begin_stage()")
    with conn.cursor().copy("COPY stage (line, ticket_id, raw) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def load(
    conn: psycopg.Connection,
    dataset: Dataset,
    source: Source,
    rows: Iterable[tuple[int, str, str]],
    stats: CleanStats,
    *,
    apply: bool,
    backlog: bool = True,
) -> MergeCounts:
    """Stage and merge one file's `rows`; commit only when `apply` and the file is not refused.
    `backlog`: refresh the day's backlog (the last file of that day in a run).

    A dry run does the same work and rolls back: its counts are what applying this file alone to the
    database as it is now would do (in a dry run of several files, each is counted so, not after the
    ones before it).
    """
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        # inside an open transaction this one would be a savepoint of it: no file's own commit
        raise RuntimeError("a file is loaded in a transaction of its own: the connection must be idle")
    started = time.monotonic()
    try:
        with conn.transaction(force_rollback=not apply):
            stage(conn, rows)
            stats.check(empty_ok=source.kind == "change")  # nothing changed is a valid change file
            counts = MergeCounts(
                *conn.execute(
                    "SELECT * FROM tickets.merge_stage(%s, %s, %s, %s, p_history := %s, p_backlog := %s)",
                    (dataset.table, apply, source.key, source.stamp, dataset.history, backlog),
                ).fetchone()
            )
            if apply:
                recorded = {
                    "source_etag": source.etag,
                    "kind": source.kind,
                    **stats.as_dict(),
                    **asdict(counts),
                    "load_seconds": round(time.monotonic() - started, 3),
                }
                conn.execute(
                    "SELECT tickets.record_import(%s, %s, %s, %s)",
                    (dataset.name, source.key, source.stamp, Jsonb(recorded)),
                )
                loads.record(conn, source, "applied", recorded)
    except psycopg.Error as e:
        raise DatabaseError(
            f"loading into tickets.{dataset.table} failed, nothing was written: {first_line(e)}"
        ) from None
    return counts
