"""One ingest run of a dataset: list its files, apply each pending one in order, archive.

Which files are pending and in what order is fleettickets.pending (pure); each file is cleaned
(fleettickets.clean) and loaded in its own transaction together with its entry in the load history
(fleettickets.load), then archived. A run stopped anywhere leaves each file applied and recorded,
or not applied at all; the next run goes on from there. Nothing is archived unless its data is
committed (or was already). Library entry points return an IngestResult (outcome + counts) for the
CLI to print and the tests to assert on.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import psycopg

from fleettickets import db, loads
from fleettickets.archive import Archiver
from fleettickets.bucket import Bucket
from fleettickets.clean import CleanStats, Reject, clean_rows, rejects_writer, text_stream
from fleettickets.config import Settings
from fleettickets.console import Advance, Reporter
from fleettickets.datasets import Dataset, dataset, newest_word
from fleettickets.deadline import run_deadline
from fleettickets.errors import LockHeldTooLong, RefusedFile
from fleettickets.load import NO_COUNTS, MergeCounts, load
from fleettickets.loads import Source
from fleettickets.migrate import open_current
from fleettickets.pending import RunPlan, plan_run
from fleettickets.snapshot import EAT, FUTURE_TOLERANCE, FeedFile, in_future, parse_stamp


@dataclass
class IngestResult:
    outcome: str  # ingested | unchanged | refused | dry-run | no-snapshot | locked
    source: str  # the newest file applied (or looked at)
    stats: CleanStats | None = None  # summed over the files applied
    counts: MergeCounts | None = None
    files: Counter[str] = field(default_factory=Counter)  # applied, by kind
    archived: int = 0
    refused: list[FeedFile] = field(default_factory=list)  # files refused whole: left in place
    seconds: float = 0.0
    alert: str | None = None  # why the run must exit non-zero though it did its work (a stale feed, ...)

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
            parts.append(
                f"inserted={c.inserted} updated={c.updated} unchanged={c.unchanged} stale={c.stale} events={c.events}"
            )
        if self.files:
            parts.append(f"snapshots={self.files['snapshot']} changes={self.files['change']}")
        if self.refused:
            parts.append(f"refused={len(self.refused)}")
        parts.append(f"archived={self.archived} seconds={self.seconds:.1f}")
        return " ".join(parts)

    def add(self, stats: CleanStats, counts: MergeCounts | None, kind: str | None = None) -> None:
        """Count a file in: its rows, its merge (none in a dry run without a database), its kind (a
        bucket file's)."""
        if self.stats is None:
            self.stats = CleanStats()
        self.stats.add(stats)
        if counts:
            self.counts = (self.counts or NO_COUNTS) + counts
        if kind:
            self.files[kind] += 1


# A file this small (a change file of 300 rows is ~150 KB) is fetched and cleaned on a thread of its
# own while the file before it merges; a bigger one (a full snapshot) is streamed when its turn
# comes: memory stays flat either way.
READ_AHEAD_BYTES = 4 << 20

Rows = Iterable[tuple[int, str, str]]


def _clean(
    stream: BinaryIO, data: Dataset, on_reject: Callable[[Reject], None] | None, advance: Advance = lambda n: None
) -> tuple[CleanStats, Rows]:
    """A file's rows, cleaned by the dataset's rules as they are read; the stats fill as they go."""
    stats = CleanStats()
    rows = clean_rows(text_stream(stream, advance), stats, on_reject, cleaning=data.cleaning, key=data.key)
    return stats, rows


class _Reader:
    """The files' cleaned rows, one file after the other: a small file is fetched and cleaned on a
    thread of its own while the file before it merges (the main thread then waits on the server,
    the GIL released); a big one is streamed when its turn comes, under a progress bar when shown."""

    def __init__(self, bucket: Bucket, data: Dataset, files: list[FeedFile], reporter: Reporter, shown: bool) -> None:
        self.bucket, self.data, self.files, self.reporter, self.shown = bucket, data, files, reporter, shown
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead")
        self.ahead: dict[FeedFile, Future[tuple[CleanStats, list[tuple[int, str, str]], list[Reject]]]] = {}

    def __enter__(self) -> _Reader:
        self._read_ahead(0)
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    @contextmanager
    def rows(self, at: int, on_reject: Callable[[Reject], None] | None) -> Iterator[tuple[CleanStats, Rows]]:
        """File `at`'s stats and rows (the stats complete once the rows are read)."""
        self._read_ahead(at + 1)  # the next file is read while this one merges
        file = self.files[at]
        if file in self.ahead:
            stats, rows, rejected = self.ahead.pop(file).result()
            for reject in rejected if on_reject else ():
                on_reject(reject)
            yield stats, rows
            return
        with (
            closing(self.bucket.open(file)) as stream,
            _progress(self.reporter, self.shown, f"reading {file.name}", file.size) as progress,
        ):
            yield _clean(stream, self.data, on_reject, progress)

    def _read_ahead(self, at: int) -> None:
        if at < len(self.files) and (self.files[at].size or 0) <= READ_AHEAD_BYTES:
            self.ahead[self.files[at]] = self.pool.submit(self._whole, self.files[at])

    def _whole(self, file: FeedFile) -> tuple[CleanStats, list[tuple[int, str, str]], list[Reject]]:
        rejects: list[Reject] = []
        with closing(self.bucket.open(file)) as stream:
            stats, rows = _clean(stream, self.data, rejects.append)
            return stats, list(rows), rejects


def _process(
    conn: psycopg.Connection | None,
    data: Dataset,
    source: Source,
    stats: CleanStats,
    rows: Rows,
    *,
    apply: bool,
    backlog: bool,
    reporter: Reporter,
) -> MergeCounts | None:
    """Load one file's cleaned rows (with a database; else only read them); one line says what it held and did."""
    started = time.monotonic()
    name = source.key.rsplit("/", 1)[-1]
    name = data.changes_dir + name if source.kind == "change" else name
    if conn is None:
        for _ in rows:
            pass
        stats.check(empty_ok=source.kind == "change")
        counts = None
    else:
        counts = load(conn, data, source, rows, stats, apply=apply, backlog=backlog)
    line = (
        f"cleaned {name}: {stats.rows_read:,} rows read, {stats.rows_kept:,} kept, {stats.alarms_dropped:,} alarms "
        f"and {stats.sentinel_dropped:,} sentinel dropped, {stats.malformed:,} malformed"
    )
    if counts:
        line += (
            f"; {'merged' if apply else 'would merge'}: {counts.inserted:,} inserted, {counts.updated:,} updated, "
            f"{counts.unchanged:,} unchanged, {counts.stale:,} stale"
            + (
                f" ({counts.rows_staged - counts.tickets:,} in-file duplicates, last wins)"
                if counts.rows_staged > counts.tickets
                else ""
            )
        )
    reporter.step(f"{line} ({time.monotonic() - started:.1f}s)")
    if stats.malformed:
        reporter.step(f"malformed rows skipped: {stats.describe_malformed()} (in {name})")
    return counts


@contextmanager
def _progress(reporter: Reporter, shown: bool, description: str, total: float | None) -> Iterator[Advance]:
    """A progress display when `shown` (one at a time: rich draws one live display)."""
    if not shown:
        yield lambda n: None
        return
    with reporter.progress(description, total) as advance:
        yield advance


@contextmanager
def _session(
    settings: Settings, data: Dataset, apply: bool, reporter: Reporter
) -> Iterator[tuple[psycopg.Connection | None, db.LockHolder | None]]:
    """(connection, holder): the database for a run, holding the dataset's ingest lock when
    applying; `holder` is who has it when another run does (then nothing may be done).

    A dry run needs no lock and, without DATABASE_URL, no database: it then parses only.
    A lock held for longer than the run deadline is a stuck run: LockHeldTooLong, not a quiet exit.
    """
    if not apply and not settings.database_url:
        reporter.step("no DATABASE_URL: dry run parses the file only")
        yield None, None
        return
    lock_key = data.lock if apply else None
    with open_current(
        settings.require_database(), lock_key=lock_key, deadline_seconds=settings.run_deadline_seconds
    ) as (conn, free):
        if free:
            yield conn, None
            return
        holder = db.lock_holder(conn, data.lock) or db.LockHolder(0, None, None, None, None)
        held = (datetime.now(UTC) - holder.since).total_seconds() if holder.since else None
        since = f" since {holder.since.astimezone(EAT):%Y-%m-%d %H:%M:%S} EAT ({held / 60:.0f} min)" if held else ""
        if held is not None and held > settings.run_deadline_seconds:
            raise LockHeldTooLong(
                f"the ingest lock has been held by {holder.describe()}{since}, longer than the run "
                f"deadline ({settings.run_deadline_minutes:g} min, FLEETTICKETS_RUN_DEADLINE_MINUTES): a stuck run? "
                f"End it with SELECT pg_terminate_backend({holder.pid}) if it does not finish"
            )
        reporter.step(f"another ingest is running: {holder.describe()}{since}: nothing to do")
        yield conn, holder


def _newest_seen(conn: psycopg.Connection | None, data: Dataset) -> datetime | None:
    """The newest file stamp ever seen for the dataset: the exporter's last sign of life."""
    if conn is None:
        return None
    row = conn.execute("SELECT newest_at FROM tickets.feed_check WHERE dataset = %s", (data.name,)).fetchone()
    conn.commit()
    return row[0] if row else None


def _record_check(conn: psycopg.Connection, data: Dataset, outcome: str | None, file: FeedFile | None) -> datetime:
    """Record a successful check of the feed (outcome) and the newest file it saw, in its own small
    transaction: ticket data is not touched. Returns the newest stamp known."""
    key, stamp = (file.key, file.stamp) if file else (None, None)
    newest = conn.execute("SELECT tickets.record_check(%s, %s, %s, %s)", (data.name, outcome, key, stamp)).fetchone()[0]
    conn.commit()
    return newest


def _record_future(conn: psycopg.Connection, data: Dataset, file: FeedFile | None) -> None:
    """The file this check refused as stamped in the future (None: there was none), for status."""
    conn.execute(
        "SELECT tickets.record_future(%s, %s, %s)", (data.name, *((file.key, file.stamp) if file else (None, None)))
    )
    conn.commit()


def _future_alert(future: list[FeedFile], now: datetime) -> str | None:
    if not future:
        return None
    more = f" (and {len(future) - 1} more)" if len(future) > 1 else ""
    return (
        f"{_ahead(future[-1].name + more, now)}: refused, not archived; the files not in the future were taken."
        " Fix the exporter's clock or rename the file"
    )


def _ahead(name: str, now: datetime) -> str:
    hours = FUTURE_TOLERANCE.seconds // 3600
    return f"{name} is stamped more than {hours} h ahead of now ({now.astimezone(EAT):%Y-%m-%dT%H-%M-%S} EAT)"


def _age_alert(data: Dataset, stamp: datetime | None, max_age_hours: float | None, now: datetime) -> str | None:
    """The freshness alarm: the age of the newest file the exporter produced (the same measure as
    `status --max-age-hours`)."""
    if max_age_hours is None:
        return None
    what = newest_word(data.name)
    if stamp is None:
        return f"no {what} has ever been seen (--max-age-hours {max_age_hours:g}): is the exporter running?"
    age = (now - stamp).total_seconds() / 3600
    if age > max_age_hours:
        return (
            f"the newest {what} ({stamp.astimezone(EAT):%Y-%m-%dT%H-%M-%S} EAT) is {age:.1f} h old, "
            f"more than --max-age-hours {max_age_hours:g}: is the exporter running?"
        )
    return None


def ingest_bucket(
    settings: Settings,
    reporter: Reporter,
    *,
    apply: bool,
    dataset_name: str = "inc",
    rejects: Path | None = None,
    max_age_hours: float | None = None,
) -> IngestResult:
    started = time.monotonic()
    now = datetime.now(UTC)
    data = dataset(settings, dataset_name)
    bucket = Bucket(settings)
    where = f"s3://{bucket.name}/{data.prefix}"
    future = None
    with run_deadline(settings.run_deadline_seconds), _session(settings, data, apply, reporter) as (conn, holder):
        if holder:
            newest_seen = _newest_seen(conn, data)
            result = IngestResult("locked", where)
        else:
            # Listed only under the lock: a listing taken before another run finished would name
            # files that run has since applied and archived.
            listed = bucket.list_files(data, "snapshot") + bucket.list_files(data, "change")
            plan = plan_run(
                listed,
                loads.applied(conn, data.name, listed) if conn else set(),
                loads.last_snapshot_etag(conn, data.name) if conn else None,
                loads.newest_applied(conn, data.name) if conn else None,
                now,
            )
            if conn:
                conn.commit()
            _say_listed(reporter, where, listed, plan)
            result = _apply_plan(conn, bucket, data, plan, apply=apply, reporter=reporter, rejects=rejects)
            if apply and conn:
                newest_seen = _record_check(conn, data, result.outcome, plan.newest)
                _record_future(conn, data, plan.future[-1] if plan.future else None)
            else:
                newest_seen = max(
                    (s for s in (plan.newest and plan.newest.stamp, _newest_seen(conn, data)) if s), default=None
                )
            future = _future_alert(plan.future, now)
    age = _age_alert(data, newest_seen, max_age_hours, now)
    result.alert = "; ".join(a for a in (result.alert, future, age) if a) or None
    result.seconds = time.monotonic() - started
    return result


def _say_listed(reporter: Reporter, where: str, listed: list[FeedFile], plan: RunPlan) -> None:
    kinds = Counter(f.kind for f in listed)
    reporter.step(
        f"listed {where}: {kinds['snapshot']} snapshot(s), {kinds['change']} change file(s)"
        + (f", {len(plan.future)} stamped ahead of now" if plan.future else "")
        + f"; {len(plan.apply)} to apply"
    )
    if plan.unchanged:
        reporter.step(f"{plan.unchanged.name} has the ETag of the last snapshot applied: unchanged, skipped")


def _apply_plan(
    conn: psycopg.Connection | None,
    bucket: Bucket,
    data: Dataset,
    plan: RunPlan,
    *,
    apply: bool,
    reporter: Reporter,
    rejects: Path | None,
) -> IngestResult:
    """Apply the plan's files in order, each in its own transaction, archiving each once committed;
    then the rest the plan archives."""
    latest = plan.apply[-1] if plan.apply else plan.unchanged or plan.newest
    result = IngestResult(
        "ingested" if plan.apply else "unchanged" if latest else "no-snapshot", latest.key if latest else ""
    )
    if not latest:
        reporter.step("no file to ingest")
        result.source = f"s3://{bucket.name}/{data.prefix}"
    files = plan.apply
    many = len(files) > 1  # then a bar over the files, else one over the file's bytes
    last_of_day = _last_of_each_day(files)
    with (
        Archiver(bucket, data, conn, reporter) as archiver,
        _Reader(bucket, data, files, reporter, shown=not many) as reader,
    ):
        with rejects_writer(rejects) as rejects_for, _progress(reporter, many, "applying files", len(files)) as advance:
            for at, file in enumerate(files):
                try:
                    with reader.rows(at, rejects_for(file.name)) as (stats, rows):
                        counts = _process(
                            conn,
                            data,
                            Source.of(data.name, file),
                            stats,
                            rows,
                            apply=apply,
                            backlog=file in last_of_day,
                            reporter=reporter,
                        )
                except RefusedFile as e:
                    # Nothing of it was written; the files after it still apply (the version rule keeps
                    # a fixed copy, applied later, from rolling anything back). It stays in place, and
                    # the run exits non-zero until it is fixed or removed.
                    reporter.step(f"refused {file.name}: {e}; nothing of it was written, left in place")
                    result.refused.append(file)
                    result.alert = f"{file.name} was refused ({e}) and left in place: fix or remove it" + (
                        f" ({len(result.refused) - 1} more refused, listed above)" if len(result.refused) > 1 else ""
                    )
                    continue
                result.add(stats, counts, file.kind)
                if counts and counts.stale and file in plan.late:
                    reporter.step(
                        f"{file.name} came after files stamped later: its {counts.stale:,} stale row(s) were never"
                        " the stored state, so the event history skips them; `fleettickets history rebuild --apply`"
                        " replays the archive in stamp order"
                    )
                if apply:
                    archiver.hand(file)
                advance(1)
        # Older snapshots are archived as superseded only by a newest snapshot that was taken.
        taken = not any(f.kind == "snapshot" for f in result.refused)
        rest = plan.done + (plan.superseded if taken else []) + ([plan.unchanged] if plan.unchanged else [])
        if not apply:
            result.outcome = "dry-run"
            if plan.apply or rest:
                reporter.step(
                    f"dry run: would apply {len(plan.apply)} file(s); "
                    f"would archive {len(plan.apply) - len(result.refused) + len(rest)} file(s) to processed/"
                    + (" (each file counted against the database as it is now)" if many else "")
                )
            return result
        if plan.unchanged and conn:
            loads.record(conn, Source.of(data.name, plan.unchanged), "unchanged", {})
            conn.commit()
        result.archived = archiver.finish(rest)
        if not result.files and result.outcome == "ingested":
            result.outcome = "refused"  # every file it tried
        return result


def _last_of_each_day(files: list[FeedFile]) -> set[FeedFile]:
    """The last file of each EAT day among `files` (in order): it refreshes that day's backlog, which
    is the state once all of the day's files are in (a file of the same day left for the next run
    refreshes it then)."""
    last: dict[object, FeedFile] = {}
    for f in files:
        last[f.stamp.astimezone(EAT).date()] = f
    return set(last.values())


def ingest_csv(
    settings: Settings,
    path: Path,
    reporter: Reporter,
    *,
    apply: bool,
    dataset_name: str = "inc",
    rejects: Path | None = None,
) -> IngestResult:
    """A local file of the dataset, loaded as a full snapshot: no ETag, no archive.

    Its stamp is its file name's, when it is named as the exporter names files
    (YYYY-MM-DDTHH-mm-ss.csv); a file named otherwise is stamped now. Either way a row older than the
    stored one is not written (CONTRACT 1b): an old file loads only what is newer than the database.
    """
    started = time.monotonic()
    data = dataset(settings, dataset_name)
    if not path.is_file():
        raise RefusedFile(f"{path}: no such file")
    stamp = parse_stamp(path.name)
    now = datetime.now(UTC)
    if stamp and in_future(stamp, now):
        raise RefusedFile(
            f"{_ahead(path.name, now)}: it would pass for the newest snapshot. Nothing was written;"
            " fix the stamp in its name"
        )
    result = IngestResult("ingested" if apply else "dry-run", str(path))
    with run_deadline(settings.run_deadline_seconds), _session(settings, data, apply, reporter) as (conn, holder):
        if holder:
            result.outcome = "locked"
            result.seconds = time.monotonic() - started
            return result
        source = Source(data.name, "csv", str(path), size=path.stat().st_size, stamp=stamp)
        with (
            open(path, "rb") as stream,
            rejects_writer(rejects) as rejects_for,
            reporter.progress(f"reading {path.name}", source.size) as progress,
        ):
            stats, rows = _clean(stream, data, rejects_for(path.name), progress)
            counts = _process(conn, data, source, stats, rows, apply=apply, backlog=True, reporter=reporter)
        result.add(stats, counts)
        if apply and stamp:
            _record_check(conn, data, None, FeedFile(str(path), stamp))
    result.seconds = time.monotonic() - started
    return result
