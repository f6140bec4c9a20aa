"""`fleettickets history rebuild`: recover the event history from the archived snapshots.

Every stamped file in automations/inc/processed/ is replayed in stamp order against a scratch
copy of the state (never against tickets.inc), writing one event per ticket per change, then
the daily backlog is rebuilt for the days covered. Idempotent: the event log and the backlog are
emptied first, in the same transaction, so a rebuild that fails leaves the old history intact.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TextIO

from fleettickets import db
from fleettickets.bucket import Bucket
from fleettickets.clean import CleanStats, clean_rows, text_stream
from fleettickets.config import Settings
from fleettickets.console import Reporter
from fleettickets.errors import RefusedFile
from fleettickets.load import stage
from fleettickets.migrate import open_current
from fleettickets.snapshot import EAT, PREFIX, PROCESSED_PREFIX


@dataclass
class RebuildResult:
    outcome: str  # rebuilt | dry-run | locked
    snapshots: int = 0
    events: int = 0
    skipped: int = 0  # refused files
    seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"{self.outcome} history: snapshots={self.snapshots} events={self.events} skipped={self.skipped} "
            f"seconds={self.seconds:.1f}"
        )


def _rows_unless_refused(text: TextIO, stats: CleanStats, refused: list[str]) -> Iterator[tuple[int, str, str]]:
    """The file's clean rows; a file refused part-way just ends (its reason lands in `refused`), so the
    COPY closes normally and the rebuild's transaction goes on with the next file."""
    try:
        yield from clean_rows(text, stats)
    except RefusedFile as e:
        refused.append(str(e))


def rebuild(settings: Settings, reporter: Reporter, *, apply: bool) -> RebuildResult:
    started = time.monotonic()
    bucket = Bucket(settings)
    snapshots = sorted(bucket.list_snapshots(PROCESSED_PREFIX), key=lambda s: s.stamp)
    reporter.step(f"listed s3://{bucket.name}/{PROCESSED_PREFIX}: {len(snapshots)} archived snapshot(s)")
    result = RebuildResult("rebuilt" if apply else "dry-run", len(snapshots))
    if not apply:
        reporter.step("dry run: would empty the event history and replay them in stamp order")
        return result
    with open_current(settings.require_database(), lock_key=db.LOCK_INGEST) as (conn, free):
        if not free:
            reporter.step("an ingest is running: try again when it is done")
            result.outcome = "locked"
            return result
        with conn.transaction():
            conn.execute("SELECT tickets.begin_replay()")
            with reporter.progress("replaying snapshots", len(snapshots)) as advance:
                for snapshot in snapshots:
                    stats = CleanStats()
                    refused: list[str] = []
                    with text_stream(bucket.open(snapshot)) as text:
                        stage(conn, _rows_unless_refused(text, stats, refused))
                    refusal = refused[0] if refused else stats.refusal()
                    if refusal:
                        reporter.step(f"skipped {snapshot.name}: {refusal}")
                        conn.execute("TRUNCATE pg_temp.inc_stage")
                        result.skipped += 1
                    else:
                        result.events += conn.execute(
                            # named as it was ingested, like the live events
                            "SELECT tickets.replay_inc_stage(%s, %s)",
                            (PREFIX + snapshot.name, snapshot.stamp),
                        ).fetchone()[0]
                    advance(1)
            if snapshots:
                first, last = snapshots[0].stamp.astimezone(EAT).date(), snapshots[-1].stamp.astimezone(EAT).date()
                conn.execute("SELECT reporting.refresh_daily_backlog(%s, %s)", (first, last))
                reporter.step(f"rebuilt the daily backlog for {first} .. {last}")
    result.seconds = time.monotonic() - started
    return result
