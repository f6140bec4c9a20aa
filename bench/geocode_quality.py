"""Geocoding quality on a generated feed, against the stand-in provider in naive mode.

Ingests a ~31,000-ticket snapshot (a dozen clusters, location names wrapped in network codes),
then runs `geocode clusters` and `geocode locations` against fleettickets.devgeocoder, which
answers a place name with the first place of that name anywhere (so e.g. Nakuru's Milimani comes
back as Kisumu's): the guard must reject those. Prints the figures; nothing is asserted.

    python bench/geocode_quality.py [--tickets 31434]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import throwaway_database
from fleettickets.config import Settings
from fleettickets.devdata import Feed, write_snapshot
from fleettickets.devgeocoder import DevGeocoder
from fleettickets.geocode.run import geocode_clusters, geocode_locations
from fleettickets.ingest import ingest_csv
from fleettickets.report import Reporter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=31434)
    args = parser.parse_args()
    quiet = Reporter(open("/dev/null", "w"), interactive=False)  # noqa: SIM115
    with tempfile.TemporaryDirectory() as tmp, throwaway_database() as url, DevGeocoder(naive=True) as provider:
        path = Path(tmp) / "2026-06-15T07-00-00.csv"
        write_snapshot(path, Feed(args.tickets))
        settings = Settings(
            database_url=url, geocoder_api_key="bench", geocoder_base_url=provider.url, geocoder_rate=500
        )
        ingest_csv(settings, path, quiet, apply=True)
        clusters = geocode_clusters(settings, quiet, apply=True)
        first = geocode_locations(settings, quiet, apply=True)
        second = geocode_locations(replace(settings, geocoder_rate=1), quiet, apply=True)
        with psycopg.connect(url) as c:
            total, located, positioned, beyond = c.execute(
                "SELECT count(*), count(*) FILTER (WHERE geo_source = 'location'),"
                " count(*) FILTER (WHERE geo_source <> 'none'),"
                " (SELECT count(*) FROM tickets.geo_locations WHERE status = 'ok' AND distance_km > 25)"
                " FROM tickets.inc WHERE is_actionable"
            ).fetchone()
            names = c.execute(
                "SELECT count(DISTINCT (location_name, cluster)) FROM tickets.inc WHERE is_actionable"
            ).fetchone()[0]
    print(f"actionable tickets          {total:,}")
    print(f"distinct names -> places    {names:,} -> {first.distinct:,}")
    print(f"positioned at all           {positioned / total:.2%}")
    print(f"at location precision      {located / total:.2%}")
    print(f"rejected by the guard       {first.statuses['rejected']:,} place(s)")
    print(f"accepted beyond 25 km       {beyond}")
    print(
        f"requests per distinct place {first.requests / max(first.to_ask, 1):.2f} (clusters: "
        f"{clusters.requests} for {clusters.distinct})"
    )
    print(f"second run                  {second.requests} requests, {second.seconds:.2f} s")
    print(f"provider saw                {provider.requests} requests in all")


if __name__ == "__main__":
    main()
