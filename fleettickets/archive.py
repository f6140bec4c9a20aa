"""A run's archive: each file moved to processed/ once its data is committed (or was already), in the
order they are handed over, on a thread of its own, so the store's round trips for one file overlap
the next file's load. What reached processed/ is marked in the load history; if a run stops half-way,
the load history says which files are applied, and the next run archives the rest."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress

import psycopg

from fleettickets import loads
from fleettickets.bucket import Archived, Bucket
from fleettickets.console import Reporter
from fleettickets.datasets import Dataset
from fleettickets.errors import ArchiveError, StoreError
from fleettickets.snapshot import FeedFile


class Archiver:
    def __init__(self, bucket: Bucket, data: Dataset, conn: psycopg.Connection | None, reporter: Reporter) -> None:
        self.bucket, self.data, self.conn, self.reporter = bucket, data, conn, reporter
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="archive")
        self.handed: list[tuple[FeedFile, Future[Archived]]] = []
        self.moved: list[FeedFile] = []

    def hand(self, file: FeedFile) -> None:
        """Move `file` once the moves handed before it are done."""
        self.handed.append((file, self.pool.submit(self.bucket.archive, file, self.data.archive_key(file))))

    def finish(self, rest: list[FeedFile]) -> int:
        """Archive `rest` too, wait for every move; the number moved. A store failure is an
        ArchiveError once the others are done: the data is committed whatever happens here."""
        for file in sorted(rest, key=lambda f: f.order):
            self.hand(file)
        failed = self._settle()
        if self.moved:
            self.reporter.step(f"archived {len(self.moved)} file(s) to processed/")
        if failed:
            raise ArchiveError(
                f"the data is committed, but archiving {failed[0].name} failed ({failed[1]}); {len(self.moved)} "
                "file(s) were moved: the load history knows what was applied, the next run archives the rest"
            )
        return len(self.moved)

    def _settle(self) -> tuple[FeedFile, StoreError] | None:
        """Wait for the moves handed over, say what became of each, mark those done in the load
        history; the first store failure, if any."""
        failed = None
        done = []
        for file, future in self.handed:
            try:
                outcome = future.result()
            except StoreError as e:
                failed = failed or (file, e)
                continue
            if outcome == "archived":
                done.append(file)
            elif outcome == "changed":
                self.reporter.step(f"{file.name} changed after it was read (no longer ETag {file.etag}): left in place")
            else:
                self.reporter.step(f"{file.name} is gone from the bucket and not in processed/: someone moved it")
        self.handed.clear()
        if self.conn and done:
            loads.mark_archived(self.conn, self.data.name, done)
        self.moved += done
        return failed

    def __enter__(self) -> Archiver:
        return self

    def __exit__(self, *exc: object) -> None:
        """However the run ends, the moves already handed over (of committed files) finish, and
        those done are marked, as far as the database still answers."""
        self.pool.shutdown(wait=True)
        # the run is failing already: a database that no longer answers only loses the marks
        with suppress(psycopg.Error):
            self._settle()
