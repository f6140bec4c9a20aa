"""Connections and advisory locks. Every connection failure becomes one DatabaseError line.

No session can hang a run: TCP keepalives on both ends find a dead peer within about a minute,
statements and idle transactions end at the run's deadline, and a lock wait gives up after
LOCK_TIMEOUT_SECONDS. A peer that is alive but stalled (its kernel still answers keepalives) is
cut by the run's own deadline (fleettickets.deadline), which shuts every open session's socket.
"""

from __future__ import annotations

import os
import socket
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import psycopg

from fleettickets.config import DEFAULT_RUN_DEADLINE_MINUTES, redact_url
from fleettickets.errors import DatabaseError

# Advisory lock keys: one per kind of run, so an ingest and a geocode may overlap but two
# ingests of one dataset may not (an INC and a CRQ ingest may: they share no table). Session-level
# locks die with the connection: a killed run never leaves a stale lock behind.
LOCK_MIGRATE = 0x666C_7401
LOCK_INGEST = 0x666C_7402  # INC (the key of every release before CRQ was loaded too)
LOCK_GEOCODE = 0x666C_7403
LOCK_INGEST_CRQ = 0x666C_7404

LOCK_TIMEOUT_SECONDS = 60
CONNECT_TIMEOUT_SECONDS = 10
# Client side: probe an idle connection after 30 s, every 10 s, give up after 3 misses; and
# give up on data the peer never acknowledges after 60 s (tcp_user_timeout).
_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 60_000,
}

_open: weakref.WeakSet[psycopg.Connection] = weakref.WeakSet()


def connect(
    url: str,
    *,
    autocommit: bool = False,
    deadline_seconds: float = DEFAULT_RUN_DEADLINE_MINUTES * 60,
    connect_timeout: int = CONNECT_TIMEOUT_SECONDS,
) -> psycopg.Connection:
    """A session whose statements and idle transactions end at `deadline_seconds`."""
    limit_ms = max(1, round(deadline_seconds * 1000))
    # The server's side of the same limits: its keepalives, and its own timeouts, so a session
    # whose client vanished releases its locks.
    options = " ".join(
        f"-c {name}={value}"
        for name, value in (
            ("statement_timeout", limit_ms),
            ("idle_in_transaction_session_timeout", limit_ms),
            ("lock_timeout", LOCK_TIMEOUT_SECONDS * 1000),
            ("tcp_keepalives_idle", 30),
            ("tcp_keepalives_interval", 10),
            ("tcp_keepalives_count", 3),
        )
    )
    try:
        given = psycopg.conninfo.conninfo_to_dict(url).get("options")
        conn = psycopg.connect(
            url,
            autocommit=autocommit,
            connect_timeout=connect_timeout,
            application_name="fleettickets",
            options=f"{given} {options}" if given else options,
            **_KEEPALIVES,
        )
    except psycopg.Error as e:
        raise DatabaseError(f"cannot connect to the database at {redact_url(url)}: {first_line(e)}") from None
    _open.add(conn)
    return conn


def cut_all() -> None:
    """Shut the socket of every open session: whatever waits on one fails at once instead of
    hanging on a stalled peer. The server ends each session (and its locks) when it notices."""
    for conn in list(_open):
        try:
            if conn.closed:
                continue
            with socket.socket(fileno=os.dup(conn.pgconn.socket)) as sock:
                sock.shutdown(socket.SHUT_RDWR)
        except (OSError, psycopg.Error):
            continue


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


@contextmanager
def advisory_lock(conn: psycopg.Connection, key: int, *, wait: bool) -> Iterator[bool]:
    """Hold a session advisory lock for the block; yields False if `wait` is off and it is taken.

    When the block fails, the session is closed rather than unlocked: ending it releases the lock,
    and it cannot hang on a connection that is the reason for the failure."""
    if wait:
        conn.execute("SELECT pg_advisory_lock(%s)", (key,))
        got = True
    else:
        got = bool(conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0])
    if not conn.autocommit:
        conn.commit()
    try:
        yield got
    except BaseException:
        conn.close()
        raise
    if got and not conn.closed:
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.rollback()
        conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
        if not conn.autocommit:
            conn.commit()


@dataclass(frozen=True)
class LockHolder:
    pid: int  # the holder's server process
    user: str | None
    client: str | None  # its address: a container's own IP, a host
    state: str | None  # active, idle, idle in transaction ...
    since: datetime | None  # when its session began: a run takes its lock as it connects

    def describe(self) -> str:
        where = f" from {self.client}" if self.client else ""
        state = f", {self.state}" if self.state else ""
        return f"server pid {self.pid} (user {self.user or '?'}{where}{state})"


def lock_holder(conn: psycopg.Connection, key: int) -> LockHolder | None:
    """Who holds advisory lock `key` in this database (pg_locks + pg_stat_activity), if anyone."""
    row = conn.execute(
        """
        SELECT l.pid, a.usename, a.client_addr::text, a.state, a.backend_start
          FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
         WHERE l.locktype = 'advisory' AND l.granted
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND l.classid = (%(key)s::bigint >> 32)::oid AND l.objid = (%(key)s::bigint & 4294967295)::oid
           AND l.objsubid = 1
         LIMIT 1
        """,
        {"key": key},
    ).fetchone()
    if not conn.autocommit:
        conn.commit()
    return LockHolder(*row) if row else None
