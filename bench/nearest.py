"""Dispatch query time: the 10 nearest open tickets among 100,000, by KNN on the GiST index.

Fills tickets.inc with open tickets scattered over Kenya, then times
reporting.fn_nearest_open_tickets() from random points (and prints the plan once); then again
with a tenth of them moved onto 12 shared points (cluster centres), where ties are sorted by urgency.

    python bench/nearest.py [--tickets 100000] [--queries 1000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import throwaway_database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1000)
    args = parser.parse_args()
    rng = random.Random(1)
    with throwaway_database() as url, psycopg.connect(url) as conn:
        conn.execute("SET fleettickets.geom_resolved = 'on'")  # positions given here: no trigger
        conn.execute(
            "INSERT INTO tickets.inc (ticket_id, raw, geom, geo_source)"
            " SELECT 'T' || g, jsonb_build_object('is_actionable', 'true', 'cluster', 'C' || g %% 12,"
            "        'created_at_service', to_char(now() - (g %% 96) * interval '1 hour', 'YYYY-MM-DD HH24:MI')),"
            "        ST_SetSRID(ST_MakePoint(34 + random() * 7.5, -4.5 + random() * 9), 4326), 'location'"
            " FROM generate_series(1, %s) g",
            (args.tickets,),
        )
        conn.execute("ANALYZE tickets.inc")
        conn.commit()
        plan = [r[0] for r in conn.execute("EXPLAIN SELECT * FROM reporting.fn_nearest_open_tickets(36.8, -1.3, 10)")]
        print("plan: " + " | ".join(line.strip() for line in plan[:4]))
        report(conn, args, "scattered", lambda: (34 + rng.random() * 7.5, -4.5 + rng.random() * 9))
        conn.execute(
            "UPDATE tickets.inc SET geom = ST_SetSRID(ST_MakePoint(34.5 + (n % 12) * 0.6, -4 + (n % 12) * 0.7), 4326)"
            " FROM (SELECT ticket_id, row_number() OVER () AS n FROM tickets.inc) t"
            " WHERE t.ticket_id = tickets.inc.ticket_id AND t.n % 10 = 0"
        )
        conn.execute("ANALYZE tickets.inc")
        conn.commit()

        def by_a_shared_point() -> tuple[float, float]:
            n = rng.randrange(12)
            return 34.5 + n * 0.6 + rng.uniform(-0.05, 0.05), -4 + n * 0.7 + rng.uniform(-0.05, 0.05)

        report(conn, args, "a tenth on 12 shared points, the van next to one", by_a_shared_point)


def report(
    conn: psycopg.Connection, args: argparse.Namespace, what: str, points: Callable[[], tuple[float, float]]
) -> None:
    times = []
    for _ in range(args.queries):
        lng, lat = points()
        started = time.perf_counter()
        found = conn.execute("SELECT * FROM reporting.fn_nearest_open_tickets(%s, %s, 10)", (lng, lat)).fetchall()
        times.append((time.perf_counter() - started) * 1000)
        assert len(found) == 10
    times.sort()
    print(f"10 nearest among {args.tickets:,} open tickets ({what}), {args.queries} queries (ms):")
    print(f"  median {statistics.median(times):.2f}  p95 {times[int(len(times) * 0.95)]:.2f}  max {times[-1]:.2f}")


if __name__ == "__main__":
    main()
