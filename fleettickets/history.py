"""`fleettickets history rebuild`: recover the event history from the archived files.

Every stamped INC file in processed/ (snapshots) and processed/changes/ (change files) is
replayed in the order they apply against a scratch copy of the state (never against tickets.inc),
under the live merge's version rule, writing one event per ticket per change; then the daily
backlog is rebuilt for the days covered. Idempotent: the event log and the backlog are emptied
first, in the same transaction, so a rebuild that fails leaves the old history intact.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TextIO

from fleettickets.bucket import Bucket
from fleettickets.clean import CleanStats, clean_rows, text_stream
from fleettickets.config import Settings
from fleettickets.console import Reporter
from fleettickets.datasets import Dataset, declared
from fleettickets.errors import RefusedFile
from fleettickets.load import stage
from fleettickets.migrate import open_current
from fleettickets.snapshot import EAT


@dataclass
class RebuildResult:
    outcome: str  # rebuilt | dry-run | locked
    files: int = 0  # archived files replayed (or skipped)
    events: int = 0
    skipped: int = 0  # refused files
    seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"{self.outcome} history: files={self.files} events={self.events} skipped={self.skipped} "
            f"seconds={self.seconds:.1f}"
        )


def _rows_unless_refused(
    text: TextIO, data: Dataset, stats: CleanStats, refused: list[str]
) -> Iterator[tuple[int, str, str]]:
    """The file's clean rows; a file refused part-way just ends (its reason lands in `refused`), so the
    COPY closes normally and the rebuild's transaction goes on with the next file."""
    try:
        yield from clean_rows(text, stats, cleaning=data.cleaning, key=data.key)
    except RefusedFile as e:
        refused.append(str(e))


def rebuild(settings: Settings, reporter: Reporter, *, apply: bool) -> RebuildResult:
    started = time.monotonic()
    bucket = Bucket(settings)
    inc = next(d for d in declared(settings).values() if d.history)  # the dataset whose history is kept
    files = sorted(
        bucket.list_files(inc, "snapshot", processed=True) + bucket.list_files(inc, "change", processed=True),
        key=lambda f: f.order,
    )
    reporter.step(
        f"listed s3://{bucket.name}/{inc.prefix}processed/: {len(files)} archived file(s)"
        f" ({sum(f.kind == 'change' for f in files)} change file(s))"
    )
    result = RebuildResult("rebuilt" if apply else "dry-run", len(files))
    if not apply:
        reporter.step("dry run: would empty the event history and replay them in stamp order")
        return result
    with open_current(settings.require_database(), lock_key=inc.lock) as (conn, free):
        if not free:
            reporter.step("an ingest is running: try again when it is done")
            result.outcome = "locked"
            return result
        with conn.transaction():
            conn.execute("SELECT tickets.begin_replay()")
            with reporter.progress("replaying files", len(files)) as advance:
                for file in files:
                    stats = CleanStats()
                    refused: list[str] = []
                    with text_stream(bucket.open(file)) as text:
                        stage(conn, _rows_unless_refused(text, inc, stats, refused))
                    refusal = refused[0] if refused else stats.refusal(empty_ok=file.kind == "change")
                    if refusal:
                        reporter.step(f"skipped {file.name}: {refusal}")
                        conn.execute("TRUNCATE pg_temp.stage")
                        result.skipped += 1
                    else:
                        result.events += conn.execute(
                            # named as it was ingested, like the live events
                            "SELECT tickets.replay_stage(%s, %s)",
                            (inc.prefix_of(file.kind) + file.name, file.stamp),
                        ).fetchone()[0]
                    advance(1)
            if files:
                first, last = files[0].stamp.astimezone(EAT).date(), files[-1].stamp.astimezone(EAT).date()
                conn.execute("SELECT reporting.refresh_daily_backlog(%s, %s)", (first, last))
                reporter.step(f"rebuilt the daily backlog for {first} .. {last}")
    result.seconds = time.monotonic() - started
    return result
