"""Shared by the benchmarks: a throwaway migrated database, generated rows, timing, peak memory."""

from __future__ import annotations

import io
import os
import resource
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from devtools.feed import Feed, write_csv
from fleettickets import migrate
from fleettickets.clean import CleanStats, clean_rows
from fleettickets.console import Reporter

ADMIN_URL = os.environ.get(
    "FLEETTICKETS_BENCH_ADMIN_URL",
    os.environ.get("FLEETTICKETS_TEST_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
)


def url_for(name: str) -> str:
    params = psycopg.conninfo.conninfo_to_dict(ADMIN_URL)
    params["dbname"] = name
    return psycopg.conninfo.make_conninfo(**params)


@contextmanager
def throwaway_database() -> Iterator[str]:
    """A migrated database named fleettickets_bench_*, dropped afterwards."""
    name = f"fleettickets_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        migrate.migrate(url_for(name), Reporter(open(os.devnull, "w")))  # noqa: SIM115
        yield url_for(name)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextmanager
def timed() -> Iterator[list[float]]:
    box: list[float] = []
    started = time.perf_counter()
    yield box
    box.append(time.perf_counter() - started)


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def stage_rows(conn: psycopg.Connection, rows: int, changed_every: int) -> int:
    """bench_stage: `rows` cleaned generated rows (line, ticket_id, raw); bench_stage_changed: the same
    with every `changed_every`-th ticket's owner changed. Returns the rows staged."""
    buffer = io.StringIO()
    write_csv(buffer, Feed(int(rows / 0.6)).snapshot(0))  # ~34 % alarms are dropped: enough to keep `rows`
    buffer.seek(0)
    conn.execute("CREATE UNLOGGED TABLE bench_stage (line int, ticket_id text, raw jsonb)")
    with conn.cursor().copy("COPY bench_stage FROM STDIN") as copy:
        for n, row in enumerate(clean_rows(buffer, CleanStats())):
            if n == rows:
                break
            copy.write_row(row)
    conn.execute(
        "CREATE UNLOGGED TABLE bench_stage_changed AS SELECT line, ticket_id,"
        " CASE WHEN line %% %s = 0 THEN raw || jsonb_build_object('owner', 'changed') ELSE raw END AS raw"
        " FROM bench_stage",
        (changed_every,),
    )
    conn.execute("ANALYZE bench_stage")
    conn.commit()
    return conn.execute("SELECT count(*) FROM bench_stage").fetchone()[0]


# Runs one CLI command in a fresh interpreter and reports its own peak RSS.
CHILD = """
import resource, sys
from fleettickets.cli import app
try:
    app(sys.argv[1:], prog_name="fleettickets")
except SystemExit as e:
    code = e.code
print("PEAK_RSS_MB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def run_cli(args: list[str], url: str | None, extra: dict[str, str] | None = None) -> tuple[float, float, str]:
    """(seconds, peak RSS in MB, the last line it printed) of one command in a fresh interpreter."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | (extra or {})
    if url:
        env["DATABASE_URL"] = url
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", CHILD, *args], env=env, capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - started
    lines = out.stdout.strip().splitlines()
    rss = float(lines[-1].split()[1])
    return seconds, rss, lines[-2]
