"""One ingest run: find the snapshot, skip it if unchanged, clean and load it, archive.

Library entry points return an IngestResult (outcome + counts) for the CLI to print and the
tests to assert on. Nothing is archived unless its data is committed (or was already).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import psycopg

from fleettickets import db
from fleettickets.bucket import Bucket
from fleettickets.clean import CleanStats, clean_rows, rejects_writer, text_stream
from fleettickets.config import Settings
from fleettickets.console import Reporter
from fleettickets.deadline import run_deadline
from fleettickets.errors import ArchiveError, LockHeldTooLong, RefusedFile, StoreError
from fleettickets.load import MergeCounts, load
from fleettickets.migrate import open_current
from fleettickets.snapshot import EAT, FUTURE_TOLERANCE, PREFIX, Snapshot, in_future, newest, parse_stamp


@dataclass
class IngestResult:
    outcome: str  # ingested | unchanged | stale | dry-run | no-snapshot | locked
    source: str
    stats: CleanStats | None = None
    counts: MergeCounts | None = None
    archived: int = 0
    seconds: float = 0.0
    alert: str | None = None  # set when --max-age-hours finds the feed too old

    def summary(self) -> str:
        parts = [self.outcome, self.source]
        if self.stats:
            s = self.stats
            parts.append(
                f"read={s.rows_read} kept={s.rows_kept} alarms={s.alarms_dropped} "
                f"sentinel={s.sentinel_dropped} malformed={s.malformed}"
            )
        if self.counts:
            c = self.counts
            parts.append(f"inserted={c.inserted} updated={c.updated} unchanged={c.unchanged} events={c.events}")
        parts.append(f"archived={self.archived} seconds={self.seconds:.1f}")
        return " ".join(parts)


def _process(
    conn: psycopg.Connection | None,
    stream: BinaryIO,
    *,
    name: str,
    size: int | None,
    apply: bool,
    source_key: str,
    snapshot_at: datetime | None,
    etag: str | None,
    reporter: Reporter,
    rejects: Path | None,
) -> tuple[CleanStats, MergeCounts | None]:
    """Clean the stream and (with a database) stage and merge it; the summary's counts."""
    stats = CleanStats()
    started = time.monotonic()
    with rejects_writer(rejects) as on_reject, reporter.progress(f"reading {name}", size) as advance:
        text = text_stream(stream, advance)
        rows = clean_rows(text, stats, on_reject)
        if conn is None:
            for _ in rows:
                pass
            stats.check()
            counts = None
        else:
            counts = load(
                conn,
                rows,
                stats,
                apply=apply,
                source_key=source_key,
                snapshot_at=snapshot_at,
                metadata={"source_etag": etag},
            )
    reporter.step(
        f"cleaned {name}: {stats.rows_read:,} rows read, {stats.rows_kept:,} kept, {stats.alarms_dropped:,} alarms "
        f"and {stats.sentinel_dropped:,} sentinel dropped, {stats.malformed:,} malformed "
        f"({time.monotonic() - started:.1f}s)"
    )
    if stats.malformed:
        reporter.step(f"malformed rows skipped: {stats.describe_malformed()}")
    if counts:
        verb = "merged" if apply else "would merge"
        reporter.step(
            f"{verb}: {counts.inserted:,} inserted, {counts.updated:,} updated, {counts.unchanged:,} unchanged"
            + (
                f" ({counts.rows_staged - counts.tickets:,} in-file duplicates, last wins)"
                if counts.rows_staged > counts.tickets
                else ""
            )
        )
    return stats, counts


@contextmanager
def _session(
    settings: Settings, apply: bool, reporter: Reporter
) -> Iterator[tuple[psycopg.Connection | None, db.LockHolder | None]]:
    """(connection, holder): the database for a run, holding the ingest lock when applying;
    `holder` is who has it when another run does (then nothing may be done).

    A dry run needs no lock and, without DATABASE_URL, no database: it then parses only.
    A lock held for longer than the run deadline is a stuck run: RunDeadline, not a quiet exit.
    """
    if not apply and not settings.database_url:
        reporter.step("no DATABASE_URL: dry run parses the file only")
        yield None, None
        return
    lock_key = db.LOCK_INGEST if apply else None
    with open_current(
        settings.require_database(), lock_key=lock_key, deadline_seconds=settings.run_deadline_seconds
    ) as (conn, free):
        if free:
            yield conn, None
            return
        holder = db.lock_holder(conn, db.LOCK_INGEST) or db.LockHolder(0, None, None, None, None)
        held = (datetime.now(UTC) - holder.since).total_seconds() if holder.since else None
        since = f" since {holder.since.astimezone(EAT):%Y-%m-%d %H:%M:%S} EAT ({held / 60:.0f} min)" if held else ""
        if held is not None and held > settings.run_deadline_seconds:
            raise LockHeldTooLong(
                f"the ingest lock has been held by {holder.describe()}{since}, longer than the run deadline "
                f"({settings.run_deadline_minutes:g} min, FLEETTICKETS_RUN_DEADLINE_MINUTES): a stuck run? "
                f"End it with SELECT pg_terminate_backend({holder.pid}) if it does not finish"
            )
        reporter.step(f"another ingest is running: {holder.describe()}{since}: nothing to do")
        yield conn, holder


def _previous(conn: psycopg.Connection | None, now: datetime) -> tuple[str | None, datetime | None, datetime | None]:
    """ETag and stamp of the last successful ingest, and the newest snapshot stamp ever seen. A last
    stamp in the future (loaded before that was refused) is no reference for older-than checks."""
    if conn is None:
        return None, None, None
    row = conn.execute(
        "SELECT m.metadata->>'source_etag', m.snapshot_at, c.newest_at"
        " FROM (SELECT 'inc' AS dataset) d"
        " LEFT JOIN tickets.import_meta m USING (dataset) LEFT JOIN tickets.feed_check c USING (dataset)"
    ).fetchone()
    conn.commit()
    last_stamp = None if row[1] and in_future(row[1], now) else row[1]
    return row[0], last_stamp, row[2]


def _record_check(conn: psycopg.Connection, outcome: str | None, key: str | None, stamp: datetime | None) -> datetime:
    """Record a successful check of the feed (outcome) and the newest snapshot it saw, in its own
    small transaction: ticket data is not touched. Returns the newest stamp known."""
    newest = conn.execute("SELECT tickets.record_check('inc', %s, %s, %s)", (outcome, key, stamp)).fetchone()[0]
    conn.commit()
    return newest


def _record_future(conn: psycopg.Connection, snapshot: Snapshot | None) -> None:
    """The snapshot this check refused as stamped in the future (None: there was none), for status."""
    conn.execute(
        "SELECT tickets.record_future('inc', %s, %s)", (snapshot.key, snapshot.stamp) if snapshot else (None, None)
    )
    conn.commit()


def _future_alert(future: list[Snapshot], now: datetime) -> str | None:
    if not future:
        return None
    more = f" (and {len(future) - 1} more)" if len(future) > 1 else ""
    return (
        f"{_ahead(future[-1].name + more, now)}: refused, not archived; the newest snapshot not in the future"
        " was taken. Fix the exporter's clock or rename the file"
    )


def _ahead(name: str, now: datetime) -> str:
    hours = FUTURE_TOLERANCE.seconds // 3600
    return f"{name} is stamped more than {hours} h ahead of now ({now.astimezone(EAT):%Y-%m-%dT%H-%M-%S} EAT)"


def _age_alert(stamp: datetime | None, max_age_hours: float | None, now: datetime) -> str | None:
    """The freshness alarm: the age of the newest snapshot the exporter produced (the same measure
    as `status --max-age-hours`)."""
    if max_age_hours is None:
        return None
    if stamp is None:
        return f"no snapshot has ever been seen (--max-age-hours {max_age_hours:g}): is the exporter running?"
    age = (now - stamp).total_seconds() / 3600
    if age > max_age_hours:
        return (
            f"the newest snapshot ({stamp.astimezone(EAT):%Y-%m-%dT%H-%M-%S} EAT) is {age:.1f} h old, "
            f"more than --max-age-hours {max_age_hours:g}: is the exporter running?"
        )
    return None


def ingest_bucket(
    settings: Settings,
    reporter: Reporter,
    *,
    apply: bool,
    rejects: Path | None = None,
    max_age_hours: float | None = None,
) -> IngestResult:
    started = time.monotonic()
    now = datetime.now(UTC)
    bucket = Bucket(settings)
    source = f"s3://{bucket.name}/{PREFIX}"
    with run_deadline(settings.run_deadline_seconds), _session(settings, apply, reporter) as (conn, holder):
        if holder:
            _, _, newest_seen = _previous(conn, now)
            result = IngestResult("locked", source)
        else:
            # Listed only under the lock: a listing taken before another run finished would name
            # files that run has since archived.
            listed = bucket.list_snapshots()
            future = sorted((s for s in listed if in_future(s.stamp, now)), key=lambda s: s.stamp)
            snapshots = [s for s in listed if not in_future(s.stamp, now)]
            latest = newest(snapshots)
            reporter.step(
                f"listed {source}: {len(listed)} snapshot(s)"
                + (f", {len(future)} stamped ahead of now" if future else "")
            )
            last_etag, last_stamp, newest_seen = _previous(conn, now)
            result, done = _ingest_newest(
                conn, bucket, latest, snapshots, last_etag, last_stamp, apply, reporter, rejects
            )
            seen = (latest.key, latest.stamp) if latest else (None, None)
            if apply:
                newest_seen = _record_check(conn, result.outcome, *seen)
                _record_future(conn, future[-1] if future else None)
                result.archived = _archive(bucket, done, reporter)
            else:
                newest_seen = max((s for s in (seen[1], newest_seen) if s), default=None)
                if done:
                    reporter.step(f"dry run: would archive {len(done)} file(s) to processed/")
            result.alert = _future_alert(future, now)
    age = _age_alert(newest_seen, max_age_hours, now)
    result.alert = "; ".join(a for a in (result.alert, age) if a) or None
    result.seconds = time.monotonic() - started
    return result


def _ingest_newest(
    conn: psycopg.Connection | None,
    bucket: Bucket,
    latest: Snapshot | None,
    snapshots: list[Snapshot],
    last_etag: str | None,
    last_stamp: datetime | None,
    apply: bool,
    reporter: Reporter,
    rejects: Path | None,
) -> tuple[IngestResult, list[Snapshot]]:
    """What to do with the newest snapshot (load, skip as unchanged, refuse as stale), and the
    files to archive once that is done."""
    if latest is None:
        reporter.step("no snapshot to ingest")
        return IngestResult("no-snapshot", f"s3://{bucket.name}/{PREFIX}"), []
    reporter.step(f"newest: {latest.name} (etag {latest.etag}, {latest.size or 0:,} bytes)")
    done = sorted((s for s in snapshots if s.stamp <= latest.stamp), key=lambda s: s.stamp)
    if last_stamp and latest.stamp < last_stamp:
        # Left behind by an interrupted archive: loading them would roll tickets back in time.
        reporter.step(
            f"{latest.name} is older than the last ingested snapshot ({last_stamp:%Y-%m-%dT%H-%M-%S}): not loaded"
        )
        return IngestResult("stale", latest.key), done
    if last_etag and last_etag == latest.etag:
        reporter.step(f"{latest.name} has the ETag of the last ingested file: unchanged, skipped")
        return IngestResult("unchanged", latest.key), done
    stream = bucket.open(latest)
    try:
        stats, counts = _process(
            conn,
            stream,
            name=latest.name,
            size=latest.size,
            apply=apply,
            source_key=latest.key,
            snapshot_at=latest.stamp,
            etag=latest.etag,
            reporter=reporter,
            rejects=rejects,
        )
    finally:
        stream.close()
    return IngestResult("ingested" if apply else "dry-run", latest.key, stats, counts), done


def _archive(bucket: Bucket, snapshots: list[Snapshot], reporter: Reporter) -> int:
    """Oldest first, the newest last: if this stops half-way, the next run's ETag check is cheap."""
    moved = 0
    for snapshot in snapshots:
        try:
            archived = bucket.archive(snapshot)
        except StoreError as e:
            raise ArchiveError(
                f"the data is committed, but archiving stopped after {moved} of {len(snapshots)} file(s): {e}; "
                "the next run will skip the unchanged file and archive the rest"
            ) from None
        if archived is None:
            reporter.step(f"{snapshot.name} changed after it was read (no longer ETag {snapshot.etag}): left in place")
            continue
        moved += 1
    if moved:
        reporter.step(f"archived {moved} file(s) to processed/")
    return moved


def ingest_csv(
    settings: Settings,
    path: Path,
    reporter: Reporter,
    *,
    apply: bool,
    rejects: Path | None = None,
    force: bool = False,
) -> IngestResult:
    """A local snapshot file: no ETag, no archive.

    Its stamp is its file name's, when it is named as the exporter names snapshots
    (YYYY-MM-DDTHH-mm-ss.csv). A stamped file older than the last ingested snapshot would roll
    tickets back and write false reopen/close events: --apply refuses it unless `force`. A file
    named otherwise has no stamp and is not checked (nor counted as a sign of the exporter's life).
    """
    started = time.monotonic()
    if not path.is_file():
        raise RefusedFile(f"{path}: no such file")
    stamp = parse_stamp(path.name)
    now = datetime.now(UTC)
    if stamp and in_future(stamp, now):
        raise RefusedFile(
            f"{_ahead(path.name, now)}: it would pass for the newest snapshot. Nothing was written;"
            " fix the stamp in its name"
        )
    with run_deadline(settings.run_deadline_seconds), _session(settings, apply, reporter) as (conn, holder):
        if holder:
            return IngestResult("locked", str(path), seconds=time.monotonic() - started)
        _, last_stamp, _ = _previous(conn, now)
        if apply and stamp and last_stamp and stamp < last_stamp and not force:
            raise RefusedFile(
                f"{path.name} is stamped {stamp:%Y-%m-%dT%H-%M-%S} EAT, older than the last ingested snapshot "
                f"({last_stamp.astimezone(EAT):%Y-%m-%dT%H-%M-%S} EAT): loading it would roll tickets back. "
                "Nothing was written; add --force to load it anyway"
            )
        with open(path, "rb") as stream:
            stats, counts = _process(
                conn,
                stream,
                name=path.name,
                size=path.stat().st_size,
                apply=apply,
                source_key=str(path),
                snapshot_at=stamp,
                etag=None,
                reporter=reporter,
                rejects=rejects,
            )
        if apply and stamp:
            _record_check(conn, None, str(path), stamp)
    return IngestResult(
        "ingested" if apply else "dry-run", str(path), stats, counts, seconds=time.monotonic() - started
    )
