"""Connections and advisory locks. Every connection failure becomes one DatabaseError line."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from fleettickets.config import redact_url
from fleettickets.errors import DatabaseError

# Advisory lock keys: one per kind of run, so an ingest and a geocode may overlap but two
# ingests may not. Session-level locks die with the connection: a killed run never leaves a
# stale lock behind.
LOCK_MIGRATE = 0x666C_7401
LOCK_INGEST = 0x666C_7402
LOCK_GEOCODE = 0x666C_7403


def connect(url: str, *, autocommit: bool = False) -> psycopg.Connection:
    try:
        return psycopg.connect(url, autocommit=autocommit, connect_timeout=10, application_name="fleettickets")
    except psycopg.Error as e:
        raise DatabaseError(f"cannot connect to the database at {redact_url(url)}: {first_line(e)}") from None


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


@contextmanager
def advisory_lock(conn: psycopg.Connection, key: int, *, wait: bool) -> Iterator[bool]:
    """Hold a session advisory lock for the block; yields False if `wait` is off and it is taken."""
    if wait:
        conn.execute("SELECT pg_advisory_lock(%s)", (key,))
        got = True
    else:
        got = bool(conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0])
    if not conn.autocommit:
        conn.commit()
    try:
        yield got
    finally:
        if got and not conn.closed:
            if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                conn.rollback()
            conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
            if not conn.autocommit:
                conn.commit()
