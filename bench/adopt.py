"""Adoption of a seed-era database: how long `fleettickets adopt apply` takes, and how long the map's readers
wait meanwhile.

    .venv/bin/python -m bench.adopt [--tickets 200000]

Builds the earlier loader's database (tests/seed_era.sql: 300 gazetteer rows, a third verified, a
tenant's view on tickets.inc_open_sla) in a throwaway database, then adopts it while a second
session calls reporting.fn_tickets_for_map() in a loop (each call timed) and a third reads the
tenant's view. Prints the adoption's time, the readers' calls and their slowest wait, and the rows
and verified points before and after.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
import uuid

import psycopg

from bench.common import ADMIN_URL, url_for
from fleettickets.adopt.apply import adopt
from fleettickets.console import Reporter
from tests.seed_era import Seed, build

VERIFIED = """
SELECT (SELECT count(*) FROM tickets.geo_locations WHERE verified) + (SELECT count(*) FROM tickets.geo_clusters
 WHERE verified), (SELECT md5(string_agg(place || cluster || ST_AsText(geom), ',' ORDER BY place, cluster))
 FROM tickets.geo_locations WHERE verified)
"""
LOCK_WAIT_LIMIT_S = 1


def reader(url: str, query: str, stop: threading.Event, waits: list[float], errors: list[str]) -> None:
    with psycopg.connect(url, autocommit=True) as c:
        # A call that waits longer than this on a lock fails and is counted: "not blocked for
        # more than a few seconds", measured rather than inferred from the calls' times.
        c.execute(f"SET lock_timeout = '{LOCK_WAIT_LIMIT_S}s'")
        while not stop.is_set():
            started = time.perf_counter()
            try:
                c.execute(query).fetchone()
            except psycopg.Error as e:
                errors.append(str(e).splitlines()[0])
            waits.append(time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=200_000)
    args = parser.parse_args()
    name = f"fleettickets_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    url = url_for(name)
    try:
        started = time.monotonic()
        build(url, Seed(tickets=args.tickets, crq=500, foreign_view=True))
        print(
            f"seed-era database: {args.tickets:,} tickets, 300 gazetteer rows,"
            f" built in {time.monotonic() - started:.1f} s"
        )
        with psycopg.connect(url) as c:
            verified_before = c.execute(VERIFIED).fetchone()
        stop = threading.Event()
        readers = {
            "reporting.fn_tickets_for_map()": "SELECT reporting.fn_tickets_for_map()",
            "reporting.v_dispatch_board": "SELECT count(*) FROM reporting.v_dispatch_board",
        }
        waits: dict[str, list[float]] = {k: [] for k in readers}
        errors: list[str] = []
        threads = [threading.Thread(target=reader, args=(url, q, stop, waits[k], errors)) for k, q in readers.items()]
        for t in threads:
            t.start()
        time.sleep(2)  # the readers' own pace before adoption: at least two calls each
        while min(len(w) for w in waits.values()) < 2:
            time.sleep(0.1)
        paces = {k: (len(w), max(w)) for k, w in waits.items()}
        result = adopt(url, Reporter(open("/dev/null", "w")), apply=True)  # noqa: SIM115
        time.sleep(1)
        stop.set()
        for t in threads:
            t.join()
        print(f"adopt: {result.seconds:.1f} s")
        for k, w in waits.items():
            before_n, before_max = paces[k]
            during = w[before_n:]
            print(
                f"  {k}: {len(during)} call(s) during and after, median {statistics.median(during) * 1000:.0f} ms,"
                f" slowest {max(during):.2f} s (before adoption: slowest {before_max:.2f} s of {before_n})"
            )
        print(
            f"  reader errors (a lock wait over {LOCK_WAIT_LIMIT_S} s is one): {len(errors)}"
            + (f" (first: {errors[0]})" if errors else "")
        )
        with psycopg.connect(url) as c:
            verified_after = c.execute(VERIFIED).fetchone()
        lost = {t: n - result.after.get(t, 0) for t, n in result.before.items()}
        print(f"  rows lost per table: {lost}")
        print(
            f"  verified points: {verified_before[0]} before, {verified_after[0]} after,"
            f" same: {verified_before[1] == verified_after[1]}"
        )
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


if __name__ == "__main__":
    main()
