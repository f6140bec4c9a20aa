"""Shared by the benchmarks: a throwaway migrated database, generated rows, timing, peak memory."""

from __future__ import annotations

import os
import resource
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from fleettickets import migrate
from fleettickets.report import Reporter

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
