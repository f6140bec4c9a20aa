"""Ordered SQL migrations with a checksummed ledger (tickets.schema_migrations), as Flyway does.

Each file runs in its own transaction together with its ledger row, so a failing file leaves
the database and the ledger exactly as they were. An applied file whose content changed stops
the run before anything is applied. An advisory lock serialises concurrent runners.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from fleettickets import db
from fleettickets.errors import DatabaseError, MigrationBusy, MigrationError
from fleettickets.report import Reporter

FILE_NAME = re.compile(r"^(\d+)_([A-Za-z0-9_]+)\.sql$")

# The ledger must exist before migration 01 can be recorded, so it is created here.
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
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def script(self) -> str:
        return self.path.name

    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8-sig")

    def checksum(self) -> str:
        return checksum(self.path.read_bytes())


@dataclass
class MigrationStatus:
    applied: list[tuple[int, str, str]] = field(default_factory=list)  # (version, script, applied_at)
    pending: list[Migration] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # applied scripts whose file differs now
    missing: list[str] = field(default_factory=list)  # applied scripts with no file here


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
    directory = directory or migrations_dir()
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = FILE_NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files must be named NN_name.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"{path.name} and {found[version].script} share version {version}")
        found[version] = Migration(version, match.group(2), path)
    if not found:
        raise MigrationError(f"no migrations found in {directory}")
    return [found[v] for v in sorted(found)]


def read_status(conn: psycopg.Connection, migrations: list[Migration]) -> MigrationStatus:
    status = MigrationStatus()
    if conn.execute("SELECT to_regclass('tickets.schema_migrations')").fetchone()[0] is None:
        status.pending = list(migrations)
        return status
    rows = conn.execute(
        "SELECT version, script, checksum, applied_at::text FROM tickets.schema_migrations ORDER BY version"
    ).fetchall()
    by_version = {m.version: m for m in migrations}
    for version, script, recorded, applied_at in rows:
        status.applied.append((version, script, applied_at))
        migration = by_version.get(version)
        if migration is None:
            status.missing.append(script)
        elif migration.checksum() != recorded:
            status.changed.append(migration.script)
    applied_versions = {row[0] for row in rows}
    status.pending = [m for m in migrations if m.version not in applied_versions]
    return status


def migrate(url: str, reporter: Reporter, directory: Path | None = None) -> MigrateResult:
    migrations = discover(directory)
    result = MigrateResult()
    with db.connect(url, autocommit=True) as conn, _migrate_lock(conn):
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
                "is this an older release than the database?"
            )
        result.already_applied = len(status.applied)
        for migration in status.pending:
            started = time.monotonic()
            try:
                with conn.transaction():
                    conn.execute(migration.sql())
                    conn.execute(
                        "INSERT INTO tickets.schema_migrations (version, name, script, checksum, execution_ms)"
                        " VALUES (%s, %s, %s, %s, %s)",
                        (
                            migration.version,
                            migration.name,
                            migration.script,
                            migration.checksum(),
                            round((time.monotonic() - started) * 1000),
                        ),
                    )
            except psycopg.errors.LockNotAvailable:
                raise MigrationBusy(
                    f"migration {migration.script} waited over {db.LOCK_TIMEOUT_SECONDS} s for a table in use "
                    "(a running ingest?) and was rolled back: it will be retried"
                ) from None
            except psycopg.Error as e:
                raise MigrationError(
                    f"migration {migration.script} failed and was rolled back: {db.first_line(e)}{hint(str(e))}"
                ) from None
            reporter.step(f"applied {migration.script} ({time.monotonic() - started:.2f}s)")
            result.applied.append(migration.script)
    return result


@contextmanager
def _migrate_lock(conn: psycopg.Connection) -> Iterator[None]:
    """One migrate at a time (two containers starting together): the second waits, within the
    session's lock timeout."""
    try:
        with db.advisory_lock(conn, db.LOCK_MIGRATE, wait=True):
            yield
    except psycopg.errors.LockNotAvailable:
        raise MigrationBusy(
            f"another migrate has held the migration lock for over {db.LOCK_TIMEOUT_SECONDS} s: it will be retried"
        ) from None


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
