"""Ordered SQL migrations with a checksummed ledger (tickets.schema_migrations), as Flyway does.

Versioned files (`NN_name.sql`) hold table changes and history, each applied once, in order.
Repeatable files (`R__name.sql`) hold the current definition of functions and views, each in one
place; after the versioned files, all of them are applied again, in name order, whenever one of
them changed or a versioned file was applied. Each file runs in its own transaction together with
its ledger row, so a failing file leaves the database and the ledger exactly as they were. An
applied versioned file whose content changed stops the run before anything is applied, unless the
change is a reviewed one listed in SUPERSEDED. A versioned file numbered below the highest applied
one is refused (out of order). An advisory lock serialises concurrent runners.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from fleettickets import catalog, db
from fleettickets.console import Reporter
from fleettickets.errors import DatabaseError, MigrationBusy, MigrationError

FILE_NAME = re.compile(r"^(\d+)_([A-Za-z0-9_]+)\.sql$")
REPEATABLE_NAME = re.compile(r"^R__([A-Za-z0-9_]+)\.sql$")

# The ledger must exist before migration 01 can be recorded, so it is created here. A ledger made
# before repeatable files existed (version its primary key) gains a type column: a repeatable row
# has no version and is unique by script.
LEDGER_DDL = """
CREATE SCHEMA IF NOT EXISTS tickets;
CREATE TABLE IF NOT EXISTS tickets.schema_migrations (
    version      integer PRIMARY KEY,
    name         text NOT NULL,
    script       text NOT NULL,
    checksum     text NOT NULL,
    applied_at   timestamptz NOT NULL DEFAULT now(),
    applied_by   text NOT NULL DEFAULT current_user,
    execution_ms integer NOT NULL
);
DO $$
BEGIN
    IF to_regclass('tickets.schema_migrations_repeatable_key') IS NULL THEN
        ALTER TABLE tickets.schema_migrations
            DROP CONSTRAINT schema_migrations_pkey,
            ALTER COLUMN version DROP NOT NULL,
            ADD COLUMN type text NOT NULL DEFAULT 'versioned',
            ADD CONSTRAINT schema_migrations_type CHECK ((type = 'versioned') = (version IS NOT NULL)
                                                         AND type IN ('versioned', 'repeatable'));
        CREATE UNIQUE INDEX schema_migrations_version_key ON tickets.schema_migrations (version);
        CREATE UNIQUE INDEX schema_migrations_repeatable_key ON tickets.schema_migrations (script)
            WHERE type = 'repeatable';
    END IF;
END $$;
"""

# Reviewed edits of applied versioned files: (script, checksum it had) -> the ledger accepts that
# old checksum and records the file's current one, as Flyway's `repair` does for a known edit. Any
# other edit is still refused. Issue 14 moved every function and view out of the versioned files
# into the R__ files, which a database upgrading past these edits applies in the same run; the old
# checksums are those of main before that move (01-15 as deployed, 16-21 as merged).
SUPERSEDED: frozenset[tuple[str, str]] = frozenset(
    {
        ("01_tickets_schema.sql", "f683d184c61b69cd9846c7ee465fadaba9a5eb1054f62665196112adb9557379"),
        ("02_import_meta.sql", "39190f14f99d44b02790719986c162ce77dbb7aad11ffe40bf263e8faf6f6c81"),
        ("08_inc_open_sla_view.sql", "a5db089a7db1e50cf1e1c33cc932a1ba8697ceed64b64d9f42bea32084c61648"),
        ("09_map_typed_properties.sql", "d0657931e49313161067a9debe2793ff8095254cb4baa785a4e11728d4ec66a1"),
        ("10_ingest_merge.sql", "c2311df486ff3394cb71d224a2a6b70ef02c3b99c32a042354a9b07e4bf049d2"),
        ("11_gazetteer_writes.sql", "68bd9e2ab74311a43b1e0ab2b2c2f94d0f5778c9fc5492afc4bd94e9711b74b4"),
        ("12_pipeline_status.sql", "ccb4a3ff092819aa2ceacba8e42672b5c04f72a7ceccefba6d012b04db213763"),
        ("13_inc_history.sql", "22d1c9e83dad5f5d386f163fde12beb35ba93c1f72f6640306f9db3a6bcd501f"),
        ("14_reports_and_dispatch.sql", "47e6db4e6d1b1e5e19fac41b39ae3f59949724a5f2c0399e4e3230d91070a254"),
        ("15_backlog_late_snapshots.sql", "ea26cf81a0b3344f2342143cb89a257ae6c0339099fd560303720972e8317577"),
        ("16_geocode_candidates.sql", "821419516ba9225f61a5c2e8d659a223ee2edc9c26199f02308e868ebe7d155d"),
        ("17_nearest_by_urgency.sql", "65db79710e56a39a674eaaa47dbb70098103c148b49231782760614598f1e71c"),
        ("18_feed_checks.sql", "04d3c4bf3b6974790b503f2cc63b8d5aa7557eacb4f00a85fb449369a14b6d92"),
        ("20_lean_map.sql", "ad9331629ba450ec4ae10f4b137e82a3bf57abc582520ec9631651db07646766"),
        ("21_report_gaps_and_days.sql", "3ec3e1e2277922442e2998f2c895d676f6d8973fa4934851a1e33432d0f79b13"),
        # Issue 25: the data fixes of 18 and 25 became functions of their own (APPLIED_AGAIN).
        ("18_feed_checks.sql", "01af64ffe63d866d8ec01171d0056b0f4bf4f3b987f282256b21ac3ec5f52b8a"),
        ("25_future_snapshots.sql", "6b31ab8e792d24517acf061eda70ef88b8bb701bc7861395c42affdb7675cb09"),
    }
)
# Reviewed edits that gave a file's data fix a function of its own (tickets.data_fix_NN_name(),
# docs/migrations.md): a database that applied the file before has no such function, so the file
# is applied again as the edit is recorded. Such a file is idempotent, as a data fix must be.
APPLIED_AGAIN = frozenset({"18_feed_checks.sql", "25_future_snapshots.sql"})


@dataclass(frozen=True)
class Migration:
    version: int | None  # None: a repeatable file
    name: str
    path: Path

    @property
    def script(self) -> str:
        return self.path.name

    @property
    def repeatable(self) -> bool:
        return self.version is None

    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8-sig")

    def checksum(self) -> str:
        return checksum(self.path.read_bytes())


@dataclass
class MigrationStatus:
    applied: list[tuple[int | None, str, str]] = field(default_factory=list)  # (version, script, applied_at)
    pending: list[Migration] = field(default_factory=list)  # versioned never applied, repeatable changed
    changed: list[str] = field(default_factory=list)  # applied versioned scripts whose file differs now
    missing: list[str] = field(default_factory=list)  # applied scripts with no file here
    future: list[str] = field(default_factory=list)  # applied versioned scripts numbered above every file here
    superseded: list[Migration] = field(default_factory=list)  # applied before a reviewed edit (SUPERSEDED)
    out_of_order: list[str] = field(default_factory=list)  # pending versioned, numbered below the highest applied
    highest: str | None = None  # the applied versioned script with the highest number


@dataclass
class MigrateResult:
    applied: list[str] = field(default_factory=list)
    already_applied: int = 0


def checksum(content: bytes) -> str:
    """sha256 of the file's text, blind to a BOM and to CRLF/CR line endings (another OS's checkout)."""
    text = content.decode("utf-8-sig").replace("\r\n", "\n").replace("\r", "\n")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def migrations_dir() -> Path:
    """The packaged migrations in an installed wheel, else the repository's top-level folder."""
    packaged = Path(__file__).with_name("migrations")
    return packaged if packaged.is_dir() else Path(__file__).resolve().parent.parent / "migrations"


def discover(directory: Path | None = None) -> list[Migration]:
    """Every migration in the order it applies: the versioned files by number, then the repeatable
    ones by name (a repeatable file may use what the files before it define)."""
    directory = directory or migrations_dir()
    found: dict[int, Migration] = {}
    repeatable: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        if match := REPEATABLE_NAME.match(path.name):
            repeatable.append(Migration(None, match.group(1), path))
            continue
        match = FILE_NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files must be named NN_name.sql or R__name.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"{path.name} and {found[version].script} share version {version}")
        found[version] = Migration(version, match.group(2), path)
    if not found:
        raise MigrationError(f"no migrations found in {directory}")
    return [found[v] for v in sorted(found)] + repeatable


def read_status(conn: psycopg.Connection, migrations: list[Migration]) -> MigrationStatus:
    refuse_unadopted(conn)
    status = MigrationStatus()
    if conn.execute("SELECT to_regclass('tickets.schema_migrations')").fetchone()[0] is None:
        status.pending = list(migrations)
        return status
    kind = "type" if _has_type_column(conn) else "'versioned'"
    rows = conn.execute(
        f"SELECT version, {kind} = 'repeatable', script, checksum, applied_at::text FROM tickets.schema_migrations"
        " ORDER BY version NULLS LAST, script"
    ).fetchall()
    by_version = {m.version: m for m in migrations if not m.repeatable}
    by_script = {m.script: m for m in migrations if m.repeatable}
    recorded_repeatable: dict[str, str] = {}
    for version, is_repeatable, script, recorded, applied_at in rows:
        status.applied.append((version, script, applied_at))
        migration = by_script.get(script) if is_repeatable else by_version.get(version)
        if migration is None and not is_repeatable and version > max(by_version, default=0):
            status.future.append(script)
        elif migration is None:
            status.missing.append(script)
        elif is_repeatable:
            recorded_repeatable[script] = recorded
        elif migration.checksum() != recorded:
            if (migration.script, recorded) in SUPERSEDED:
                status.superseded.append(migration)
            else:
                status.changed.append(migration.script)
    applied_versions = {row[0] for row in rows if not row[1]}
    top = max(applied_versions, default=None)
    if top is not None:
        status.highest = by_version[top].script if top in by_version else str(top)
    status.pending = [m for m in by_version.values() if m.version not in applied_versions]
    status.out_of_order = [m.script for m in status.pending if top is not None and m.version < top]
    if status.future:
        # A newer release migrated this database (a rolled-back image, or the old container during
        # a deploy): its definitions are newer than these files, so nothing here is pending, and a
        # repeatable file it added is not missing (Flyway, likewise, ignores future migrations).
        in_ledger = {script for _version, is_repeatable, script, *_ in rows if is_repeatable}
        status.missing = [script for script in status.missing if script not in in_ledger]
        return status
    status.pending += [m for m in by_script.values() if recorded_repeatable.get(m.script) != m.checksum()]
    return status


def _has_type_column(conn: psycopg.Connection) -> bool:
    """A ledger from before repeatable files has no type column until the next migrate adds it."""
    return bool(
        conn.execute(
            "SELECT 1 FROM pg_attribute WHERE attrelid = 'tickets.schema_migrations'::regclass"
            " AND attname = 'type' AND NOT attisdropped"
        ).fetchone()
    )


def migrate(url: str, reporter: Reporter, directory: Path | None = None) -> MigrateResult:
    migrations = discover(directory)
    with db.connect(url, autocommit=True) as conn, holding(conn, db.LOCK_MIGRATE), _one_line(conn):
        refuse_unadopted(conn)
        return apply_all(conn, migrations, reporter)


def refuse_unadopted(conn: psycopg.Connection) -> None:
    """A tickets schema with tables but no ledger of ours is another loader's (Flyway's baseline
    check): it is never migrated silently."""
    found = catalog.not_ours(conn)
    if found:
        raise MigrationError(
            f"the database holds {found}: it was built by another loader, and nothing was changed; "
            "see how fleettickets would take it over with `fleettickets adopt plan`"
            " (alias `fleettickets migrate --adopt --dry-run`)"
        )


def apply_all(conn: psycopg.Connection, migrations: list[Migration], reporter: Reporter) -> MigrateResult:
    """Every pending file, in order, on `conn` (the caller holds the migration lock). On an
    autocommit connection each file commits with its ledger row; inside a transaction (adoption)
    each is a savepoint of it."""
    result = MigrateResult()
    conn.execute(LEDGER_DDL)
    status = read_status(conn, migrations)
    if status.changed:
        raise MigrationError(
            f"applied migration {status.changed[0]} has been edited since it ran (checksum mismatch): "
            "restore it and put the change in a new migration file"
        )
    if status.missing:
        raise MigrationError(
            f"the database has applied {status.missing[0]}, which is not in {migrations[0].path.parent}: "
            "was it deleted? restore it"
        )
    if status.out_of_order:
        raise MigrationError(
            f"{status.out_of_order[0]} is numbered below {status.highest}, which is already applied: "
            "out-of-order migrations are refused; renumber it above the highest applied one"
        )
    if status.future:
        reporter.step(f"the database is ahead of this release (it has applied {status.future[-1]}): nothing to apply")
        return result
    for migration in status.superseded:
        with conn.transaction():
            if migration.script in APPLIED_AGAIN:
                conn.execute(migration.sql())
            conn.execute(
                "UPDATE tickets.schema_migrations SET checksum = %s WHERE version = %s",
                (migration.checksum(), migration.version),
            )
        again = " and applied it again" if migration.script in APPLIED_AGAIN else ""
        reporter.step(f"recorded the reviewed edit of {migration.script}{again}")
    result.already_applied = len(status.applied)
    versioned = [m for m in status.pending if not m.repeatable]
    for migration in versioned:
        _apply(conn, migration, reporter)
        result.applied.append(migration.script)
    # All of them, in order, when any changed: a file that drops and recreates a view whose
    # dependants live in a later file gets them back. So does a versioned file that did so.
    if versioned or any(m.repeatable for m in status.pending):
        for migration in (m for m in migrations if m.repeatable):
            _apply(conn, migration, reporter)
            result.applied.append(migration.script)
    return result


RECORD_VERSIONED = """
INSERT INTO tickets.schema_migrations (version, name, script, checksum, execution_ms)
VALUES (%(version)s, %(name)s, %(script)s, %(checksum)s, %(ms)s)
"""
RECORD_REPEATABLE = """
INSERT INTO tickets.schema_migrations (version, type, name, script, checksum, execution_ms)
VALUES (NULL, 'repeatable', %(name)s, %(script)s, %(checksum)s, %(ms)s)
ON CONFLICT (script) WHERE type = 'repeatable' DO UPDATE
    SET checksum = EXCLUDED.checksum, applied_at = now(), applied_by = current_user,
        execution_ms = EXCLUDED.execution_ms
"""


def _apply(conn: psycopg.Connection, migration: Migration, reporter: Reporter) -> None:
    """One file and its ledger row, in one transaction."""
    started = time.monotonic()
    try:
        with conn.transaction():
            conn.execute(migration.sql())
            conn.execute(
                RECORD_REPEATABLE if migration.repeatable else RECORD_VERSIONED,
                {
                    "version": migration.version,
                    "name": migration.name,
                    "script": migration.script,
                    "checksum": migration.checksum(),
                    "ms": round((time.monotonic() - started) * 1000),
                },
            )
    except psycopg.errors.LockNotAvailable:
        raise _table_in_use(f"migration {migration.script}") from None
    except psycopg.errors.DependentObjectsStillExist as e:
        raise MigrationError(f"migration {migration.script} was rolled back: {_dependants(conn, e)}") from None
    except psycopg.Error as e:
        if conn.broken:  # the server went away, not the file's fault: worth another try
            raise DatabaseError(f"lost the database while applying {migration.script}: {db.first_line(e)}") from None
        raise MigrationError(
            f"migration {migration.script} failed and was rolled back: {db.first_line(e)}{hint(str(e))}"
        ) from None
    reporter.step(f"applied {migration.script} ({time.monotonic() - started:.2f}s)")


def _table_in_use(what: str) -> MigrationBusy:
    return MigrationBusy(
        f"{what} waited over {db.LOCK_TIMEOUT_SECONDS} s for a table in use (a running ingest?) and was rolled back:"
        " it will be retried"
    )


def _dependants(conn: psycopg.Connection, error: psycopg.Error) -> str:
    """Another tenant's objects stand on what a file drops or changes: name each, and what to do.
    Nothing of theirs is dropped for us (no CASCADE)."""
    found = catalog.foreign_dependants(conn, ["tickets"], catalog.reporting_names(migrations_dir()))
    if not found:
        return db.first_line(error)
    named = "; ".join(f"{d.dependant} depends on {d.on}" for d in found)
    return f"{named}: ask their owner to drop them, migrate, then create them again"


@contextmanager
def _one_line(conn: psycopg.Connection) -> Iterator[None]:
    """A database error outside the files themselves (the ledger, say, in a database where this role
    may not create a schema) is one line too: a lost server is worth another try, the rest is not."""
    try:
        yield
    except psycopg.errors.LockNotAvailable:
        raise _table_in_use("migrate") from None
    except psycopg.Error as e:
        if conn.broken:
            raise DatabaseError(f"lost the database while migrating: {db.first_line(e)}") from None
        raise MigrationError(f"cannot migrate: {db.first_line(e)}") from None


# Who holds each lock, for the line that ends a wait for it.
HOLDERS = {
    db.LOCK_MIGRATE: "another migrate has held the migration lock",
    db.LOCK_INGEST: "an ingest has held the ingest lock",
    db.LOCK_INGEST_CRQ: "a CRQ ingest has held its ingest lock",
    db.LOCK_GEOCODE: "a geocoding run has held the geocoding lock",
}


@contextmanager
def holding(conn: psycopg.Connection, *keys: int) -> Iterator[None]:
    """Each lock of `keys`, in turn, held for the block: one migrate at a time (two containers
    starting together), and a take-over waits for the runs that write. Each is waited for within
    the session's lock timeout; past it, one line says who held it (migrate's and the take-over's
    alike)."""
    with ExitStack() as held:
        for key in keys:
            try:
                held.enter_context(db.advisory_lock(conn, key, wait=True))
            except psycopg.errors.LockNotAvailable:
                raise MigrationBusy(
                    f"{HOLDERS[key]} for over {db.LOCK_TIMEOUT_SECONDS} s: nothing was changed;"
                    " try again once it is done"
                ) from None
        yield


def hint(error: str) -> str:
    """What to do about a failure whose cause is the server, not the migration."""
    text = error.lower()
    if "postgis" not in text or "extension" not in text:
        return ""
    if "permission denied" in text:
        return " (only a superuser can create PostGIS: as one, run CREATE EXTENSION postgis in this database)"
    return " (PostGIS is not installed on the database server: apt-get install postgresql-15-postgis-3)"


def ensure_current(conn: psycopg.Connection) -> None:
    """Refuse to work on a database whose schema is missing or behind this release."""
    status = read_status(conn, discover())
    if not status.applied:
        raise DatabaseError("the database has no fleettickets schema yet: run `fleettickets migrate` first")
    if status.pending:
        raise DatabaseError(
            f"{len(status.pending)} migration(s) pending (next: {status.pending[0].script}): "
            "run `fleettickets migrate` first"
        )


@contextmanager
def open_current(
    url: str, *, lock_key: int | None = None, deadline_seconds: float | None = None
) -> Iterator[tuple[psycopg.Connection, bool]]:
    """(connection, free): a database whose schema is current, holding the session advisory lock
    `lock_key` when one is given; free is False when another run holds that lock."""
    limits = {} if deadline_seconds is None else {"deadline_seconds": deadline_seconds}
    with db.connect(url, **limits) as conn:
        ensure_current(conn)
        conn.commit()
        if lock_key is None:
            yield conn, True
            return
        with db.advisory_lock(conn, lock_key, wait=False) as free:
            yield conn, free
