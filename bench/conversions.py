"""What the total typed conversions (migration 19) cost against the ones they replaced.

Evaluates, over N generated feed values, the number conversions the generated columns run on
every upserted row (mttr -> minutes; latitude/longitude -> the feed point) with the shipped
functions and with the previous definitions (migrations 01 and 06, re-created under _v1 names),
alternating runs; prints the median seconds and microseconds per row. Nothing is asserted.

    python bench/conversions.py [--rows 300000] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import throwaway_database

PREVIOUS = r"""
CREATE FUNCTION tickets.num_v1(v text) RETURNS numeric LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN v ~ '^\s*[-+]?(\d+(\.\d*)?|\.\d+)\s*$' THEN v::numeric END
$$;
CREATE FUNCTION tickets.hours_to_minutes_v1(v text) RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN v ~ '^\s*[-+]?(\d{1,7}(\.\d*)?|\.\d+)\s*$' THEN round(v::numeric * 60)::integer END
$$;
CREATE FUNCTION tickets.feed_point_v1(raw jsonb) RETURNS geometry LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN tickets.num_v1(raw ->> 'latitude') BETWEEN -90 AND 90
         AND tickets.num_v1(raw ->> 'longitude') BETWEEN -180 AND 180
         AND NOT (tickets.num_v1(raw ->> 'latitude') = 0 AND tickets.num_v1(raw ->> 'longitude') = 0)
        THEN ST_SetSRID(ST_MakePoint(tickets.num_v1(raw ->> 'longitude')::float8,
                                     tickets.num_v1(raw ->> 'latitude')::float8), 4326)
    END
$$;
"""

# Today's feed: mttr on closed tickets (about half), no coordinates; 2 % with coordinates.
VALUES = """
CREATE TABLE bench_values AS
SELECT jsonb_build_object(
    'mttr', CASE WHEN i %% 2 = 0 THEN round((random() * 200)::numeric, 2)::text END,
    'latitude', CASE WHEN i %% 50 = 0 THEN (-1.2 - random() / 10)::text END,
    'longitude', CASE WHEN i %% 50 = 0 THEN (36.8 + random() / 10)::text END) AS raw
FROM generate_series(1, %(rows)s) i
"""

QUERY = (
    "SELECT count(tickets.{minutes}(raw ->> 'mttr')), count(ST_Y(tickets.{point}(raw))), "
    "count(ST_X(tickets.{point}(raw))) FROM bench_values"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with throwaway_database() as url, psycopg.connect(url, autocommit=True) as conn:
        conn.execute(PREVIOUS)
        conn.execute(VALUES, {"rows": args.rows})
        conn.execute("ANALYZE bench_values")
        variants = {
            "previous (01, 06)": QUERY.format(minutes="hours_to_minutes_v1", point="feed_point_v1"),
            "total (19)": QUERY.format(minutes="hours_to_minutes", point="feed_point"),
        }
        times: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.runs):
            for name, sql in variants.items():
                started = time.perf_counter()
                conn.execute(sql).fetchone()
                times[name].append(time.perf_counter() - started)
    print(f"mttr + latitude + longitude conversions over {args.rows:,} rows (median of {args.runs})")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<20} {median:6.3f} s  {median / args.rows * 1e6:6.2f} us/row")


if __name__ == "__main__":
    main()
