"""Loading cleaned rows: COPY into a session temp table, then one set-based merge in SQL.

All in one transaction: the file's rows, the merge and the freshness row commit together or not
at all. The merge itself (last occurrence wins, unchanged rows untouched, nothing deleted) is
tickets.merge_inc_stage() (migrations/R__40_ingest.sql).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime

import psycopg
from psycopg.types.json import Jsonb

from fleettickets.clean import CleanStats
from fleettickets.db import first_line
from fleettickets.errors import DatabaseError


@dataclass(frozen=True)
class MergeCounts:
    rows_staged: int
    tickets: int  # distinct ticket_ids among the staged rows
    inserted: int
    updated: int
    unchanged: int
    events: int  # history rows written (tickets.inc_events)


def stage(conn: psycopg.Connection, rows: Iterable[tuple[int, str, str]]) -> None:
    """COPY cleaned (line, ticket_id, raw) rows into the session's pg_temp.inc_stage, made if need be."""
    conn.execute("SELECT tickets.begin_inc_stage()")
    with conn.cursor().copy("COPY inc_stage (line, ticket_id, raw) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def load(
    conn: psycopg.Connection,
    rows: Iterable[tuple[int, str, str]],
    stats: CleanStats,
    *,
    apply: bool,
    source_key: str,
    snapshot_at: datetime | None,
    metadata: dict[str, object],
) -> MergeCounts:
    """Stage and merge `rows`; commit only when `apply` and the file is not refused.

    A dry run does the same work and rolls back, so its counts are exactly what an apply would do.
    """
    started = time.monotonic()
    try:
        with conn.transaction(force_rollback=not apply):
            stage(conn, rows)
            stats.check()
            counts = MergeCounts(
                *conn.execute(
                    "SELECT * FROM tickets.merge_inc_stage(%s, %s, %s)", (apply, source_key, snapshot_at)
                ).fetchone()
            )
            if apply:
                conn.execute(
                    "SELECT tickets.record_import('inc', %s, %s, %s)",
                    (
                        source_key,
                        snapshot_at,
                        Jsonb(
                            {
                                **metadata,
                                **stats.as_dict(),
                                **asdict(counts),
                                "load_seconds": round(time.monotonic() - started, 3),
                            }
                        ),
                    ),
                )
    except psycopg.Error as e:
        raise DatabaseError(f"loading into tickets.inc failed, nothing was written: {first_line(e)}") from None
    return counts
