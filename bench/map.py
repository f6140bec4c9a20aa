"""The map payload: reporting.fn_tickets_for_map and its aggregated variant, against a floor.

Ingests a generated feed (default 180,000 tickets: ~118,000 kept, ~20,000 of them open), geocodes
it against the stand-in provider (so the open tickets share ~40 points: cluster and place points), then
times each call as the dashboard makes it (`SELECT f(...)::text`, median of --runs) beside a
minimal GeoJSON query over the same open tickets (id, point, five properties, json_build_object),
and prints bytes per feature, gzipped size, and whether the bytes are the same in every session
time zone. Nothing is asserted.

    python bench/map.py [--tickets 180000] [--runs 5]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import throwaway_database
from devtools.feed import Feed, write_snapshot
from devtools.geocoder import DevGeocoder
from fleettickets.config import Settings
from fleettickets.console import Reporter
from fleettickets.geocode.run import geocode_clusters, geocode_locations
from fleettickets.ingest import ingest_csv

# The floor: the least a GeoJSON payload of the open tickets can cost.
MINIMAL = """
SELECT json_build_object('type', 'FeatureCollection', 'features', json_agg(json_build_object(
           'type', 'Feature', 'id', ticket_id,
           'geometry', json_build_object('type', 'Point', 'coordinates', json_build_array(ST_X(geom), ST_Y(geom))),
           'properties', json_build_object('normalized_status', normalized_status, 'cluster', cluster,
                                           'location_name', location_name, 'assigned_team', assigned_team,
                                           'owner', owner)) ORDER BY ticket_id))::text
  FROM tickets.inc WHERE is_actionable AND geom IS NOT NULL
"""

# Migration 09's function (to_jsonb of the whole row), as it was before migration 20, as
# pg_temp.map_before_20 (the migrations keep only the current definition).
BEFORE = (Path(__file__).resolve().parent.parent / "tests" / "map_before_20.sql").read_text()

CALLS = {
    "minimal GeoJSON (floor)": MINIMAL,
    "before: migration 09, open only": "SELECT pg_temp.map_before_20()::text",
    "fn_tickets_for_map()": "SELECT reporting.fn_tickets_for_map()::text",
    "fn_tickets_for_map_by_position()": "SELECT reporting.fn_tickets_for_map_by_position()::text",
    "fn_tickets_for_map(p_open_only := false)": "SELECT reporting.fn_tickets_for_map(p_open_only := false)::text",
    "... p_open_only := false, p_closed_within_days := 7": (
        "SELECT reporting.fn_tickets_for_map(p_open_only := false, p_closed_within_days := 7)::text"
    ),
    "... p_bbox := Nairobi": ("SELECT reporting.fn_tickets_for_map(p_bbox := ARRAY[36.65, -1.45, 37.05, -1.15])::text"),
}
ZONES = ("UTC", "Africa/Nairobi", "America/Santiago", "Asia/Beirut", "Pacific/Kiritimati")


def load(url: str, tickets: int) -> None:
    """A generated snapshot, ingested and geocoded as production does it."""
    quiet = Reporter(open("/dev/null", "w"), interactive=False)  # noqa: SIM115
    with tempfile.TemporaryDirectory() as tmp, DevGeocoder() as provider:
        path = Path(tmp) / "2026-06-15T07-00-00.csv"
        write_snapshot(path, Feed(tickets))
        settings = Settings(
            database_url=url, geocoder_api_key="bench", geocoder_base_url=provider.url, geocoder_rate=500
        )
        ingest_csv(settings, path, quiet, apply=True)
        geocode_clusters(settings, quiet, apply=True)
        geocode_locations(settings, quiet, apply=True)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE tickets.inc")


def measure(conn: psycopg.Connection, runs: int) -> dict[str, tuple[float, str]]:
    """Each call's median time and its payload; the calls take turns, so load on the machine hits all alike."""
    times: dict[str, list[float]] = {name: [] for name in CALLS}
    texts: dict[str, str] = {}
    for _ in range(runs):
        for name, sql in CALLS.items():
            started = time.perf_counter()
            texts[name] = conn.execute(sql).fetchone()[0]
            times[name].append(time.perf_counter() - started)
    return {name: (statistics.median(times[name]), texts[name]) for name in CALLS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=180_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with throwaway_database() as url:
        started = time.perf_counter()
        load(url, args.tickets)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(BEFORE)
            total, open_, positioned, positions = conn.execute(
                "SELECT count(*), count(*) FILTER (WHERE is_actionable),"
                " count(*) FILTER (WHERE is_actionable AND geom IS NOT NULL),"
                " count(DISTINCT geom) FILTER (WHERE is_actionable) FROM tickets.inc"
            ).fetchone()
            print(f"{total:,} tickets, {open_:,} open, {positioned:,} positioned, at {positions} points")
            print(f"(loaded and geocoded in {time.perf_counter() - started:.0f} s)")
            print(f"{'call':<52} {'median s':>9} {'features':>9} {'bytes':>12} {'B/feature':>9} {'gzip':>10}")
            results = measure(conn, args.runs)
            floor = results["minimal GeoJSON (floor)"][0]
            for name, (seconds, text) in results.items():
                features = text.count('"Feature"')
                size = len(text.encode())
                print(
                    f"{name:<52} {seconds:>9.3f} {features:>9,} {size:>12,} {size / max(features, 1):>9.0f}"
                    f" {len(gzip.compress(text.encode())):>10,}  ({seconds / floor:.1f}x floor)"
                )
            for new, old in (("()", "()"), ("(p_open_only := false)", "(false)")):
                started = time.perf_counter()
                size = conn.execute(f"SELECT octet_length(pg_temp.map_before_20{old}::text)").fetchone()[0]
                seconds = time.perf_counter() - started
                same, features = conn.execute(
                    "SELECT jsonb_path_query_array(b, '$.features[*].id')"
                    " = jsonb_path_query_array(a, '$.features[*].id')"
                    " AND jsonb_path_query_array(b, '$.features[*].geometry')"
                    " = jsonb_path_query_array(a, '$.features[*].geometry'), jsonb_array_length(a -> 'features')"
                    f" FROM pg_temp.map_before_20{old} b, reporting.fn_tickets_for_map{new} a"
                ).fetchone()
                print(
                    f"fn_tickets_for_map{new}: {'the same' if same else 'DIFFERENT'} {features:,} features as"
                    f" migration 09's, which took {seconds:.2f} s for {size:,} bytes"
                )
            for call in ("fn_tickets_for_map", "fn_tickets_for_map_by_position"):
                digests = set()
                with conn.transaction():  # one transaction: now(), and so hours_open, stays put
                    for zone in ZONES:
                        conn.execute("SELECT set_config('TimeZone', %s, true)", (zone,))
                        text = conn.execute(f"SELECT reporting.{call}(p_open_only := false)::text").fetchone()[0]
                        digests.add(hashlib.sha256(text.encode()).hexdigest())
                print(f"{call}: {'the same bytes' if len(digests) == 1 else 'DIFFERENT bytes'} in {', '.join(ZONES)}")


if __name__ == "__main__":
    main()
