"""What every step of the take-over shares: one session holding the locks, in which any failure
is one line and leaves nothing behind; and the names of the schemas it keeps things in."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import psycopg

from fleettickets import catalog, db
from fleettickets import migrate as migrations
from fleettickets.errors import MigrationError
from fleettickets.snapshot import EAT

KEPT_PREFIX = "tickets_adopted_"  # the loader's objects, kept by an adoption
SET_ASIDE_PREFIX = "tickets_replaced_"  # this package's, set aside by the way back
ADOPT_REFUSED = "cannot adopt"  # how an adoption's refusal begins


class AdoptRefused(MigrationError):
    """The database cannot be taken over (or handed back) as it is; nothing was changed."""


@contextmanager
def session(url: str, refused: str) -> Iterator[psycopg.Connection]:
    """A connection holding the migration lock and the ingest (INC's and CRQ's) and geocoding locks
    (no run of this package writes meanwhile), each waited for within the lock timeout. A database error inside the
    block is one line, `<refused>: <what the server said>; nothing was changed`; on any failure the
    session is closed, and its transaction with it."""
    with (
        db.connect(url) as conn,
        migrations.holding(conn, db.LOCK_MIGRATE, db.LOCK_INGEST, db.LOCK_INGEST_CRQ, db.LOCK_GEOCODE),
    ):
        try:
            yield conn
        except psycopg.Error as e:
            raise AdoptRefused(f"{refused}: {db.first_line(e)}; nothing was changed") from None


def kept_name(conn: psycopg.Connection, today: datetime, prefix: str = KEPT_PREFIX) -> str:
    """tickets_adopted_YYYYMMDD, with _2, _3 ... when that schema exists already."""
    base = f"{prefix}{today.astimezone(EAT):%Y%m%d}"
    name, n = base, 1
    while catalog.schema_exists(conn, name):
        n += 1
        name = f"{base}_{n}"
    return name
