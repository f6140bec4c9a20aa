"""Typo-tolerant reuse and the review queue, on the strict stand-in and a realistic feed.

Ingests a snapshot drawn from devtools.geocoder.REVIEW_FIELD (the quality benchmark's field plus
misspelt and extra-word labels of mapped places, and labels of network codes alone at fixed
spots), geocodes it as shipped against devtools.geocoder (LocationIQ's format), then:

- reuse: the variant labels' tickets at location precision; reuses that took another place's
  point (wrong place: another name than the variant's own, or > 5 km from the truth; Makongeni is
  in two towns, Milimani in six); requests beyond one per place asked;
- review: the queue's first 20 entries placed at their true spots through the review page's own
  HTTP API (POST /api/place with the token, as its Confirm button does), each placement timed
  from request to answer (the tickets re-resolved within it); then the share of actionable
  tickets at location precision.

Prints the figures; nothing is asserted.

    python bench/review_quality.py [--tickets 31434] [--placements 20]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psycopg
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import throwaway_database
from devtools.feed import Feed, write_snapshot
from devtools.geocoder import REVIEW_FIELD, VARIANTS, DevGeocoder, true_points
from fleettickets.config import Settings
from fleettickets.geocode.places import distance_km, normalise, strip_codes
from fleettickets.geocode.run import geocode_clusters, geocode_locations
from fleettickets.ingest import ingest_csv
from fleettickets.report import Reporter
from fleettickets.review import server

QUIET = Reporter(open("/dev/null", "w"), interactive=False)  # noqa: SIM115
WRONG_KM = 5.0


def at_location(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as c:
        return c.execute(
            "SELECT count(*) FILTER (WHERE geo_source = 'location'), count(*) FROM tickets.inc WHERE is_actionable"
        ).fetchone()


def variant_figures(url: str) -> tuple[int, int, int, int]:
    """(variant tickets at location precision, variant tickets, reuses, wrong-place reuses)."""
    truth = {(c, normalise(p)): xy for (c, p), xy in true_points(REVIEW_FIELD).items()}
    variants = {(c, normalise(v)): normalise(true) for (c, v), true in VARIANTS.items()}
    located = total = 0
    with psycopg.connect(url) as c:
        for name, cluster, source in c.execute(
            "SELECT location_name, cluster, geo_source FROM tickets.inc WHERE is_actionable"
        ):
            if (cluster, normalise(strip_codes(name))) in variants:
                total += 1
                located += source == "location"
        reuses = c.execute(
            "SELECT l.place, l.cluster, s.place, ST_X(l.geom), ST_Y(l.geom) FROM tickets.geo_locations l"
            " JOIN tickets.geo_locations s ON s.query = l.match_of WHERE l.provider = 'match'"
        ).fetchall()
    wrong = sum(
        variants.get((cluster, normalise(place))) != normalise(source)
        or distance_km(x, y, *truth[(cluster, normalise(place))]) > WRONG_KM
        for place, cluster, source, x, y in reuses
    )
    return located, total, len(reuses), wrong


def review(url: str, placements: int) -> list[float]:
    """Place the queue's first entries at their true spots through the page's API; seconds each."""
    truth = {(c, normalise(p)): xy for (c, p), xy in true_points(REVIEW_FIELD).items()}
    page = server.Review(url, server.new_token(), tiles="")
    sock = socket.create_server(("127.0.0.1", 0))
    running = uvicorn.Server(uvicorn.Config(server.create_app(page), log_level="warning", access_log=False))
    thread = threading.Thread(target=running.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not running.started:
        time.sleep(0.01)
    base, headers = f"http://127.0.0.1:{sock.getsockname()[1]}", {server.HEADER: page.token}
    seconds: list[float] = []
    try:
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            entries = client.get("/api/queue").json()["entries"][:placements]
            for e in entries:
                lng, lat = truth[(e["cluster"], normalise(e["place"]))]
                started = time.monotonic()
                answer = client.post("/api/place", json={"key": e["key"], "lat": lat, "lng": lng})
                seconds.append(time.monotonic() - started)
                if answer.status_code != 200:
                    print(f"  refused {e['key']}: {answer.json()['error']}")
    finally:
        running.should_exit = True
        thread.join(5)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=31434)
    parser.add_argument("--placements", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, throwaway_database() as url, DevGeocoder(key="bench") as geocoder:
        path = Path(tmp) / "2026-06-15T07-00-00.csv"
        write_snapshot(path, Feed(args.tickets, clusters=REVIEW_FIELD))
        settings = Settings(
            database_url=url,
            geocoder_provider="locationiq",
            geocoder_api_key="bench",
            geocoder_base_url=geocoder.url,
            geocoder_rate=500,
        )
        ingest_csv(settings, path, QUIET, apply=True)
        geocode_clusters(settings, QUIET, apply=True)
        first = geocode_locations(settings, QUIET, apply=True)
        located, variant_tickets, reuses, wrong = variant_figures(url)
        before, actionable = at_location(url)
        with psycopg.connect(url) as c:
            queued = c.execute("SELECT count(*), coalesce(sum(off_location), 0) FROM tickets.review_queue").fetchone()
        seconds = review(url, args.placements)
        after, _ = at_location(url)
    rows = {
        "actionable tickets": f"{actionable:,}",
        "variant labels' tickets at location precision": f"{located}/{variant_tickets} "
        f"({located / variant_tickets:.1%})",
        "reuses (matches) / wrong-place reuses": f"{reuses} / {wrong}",
        "requests, first locations run / places asked": f"{first.requests} / {first.to_ask} "
        f"(extra: {first.requests - first.to_ask})",
        "at location precision after geocoding": f"{before / actionable:.1%} "
        f"(without the reuse: {(before - located) / actionable:.1%})",
        "review queue: entries / tickets off location": f"{queued[0]} / {queued[1]:,}",
        f"after placing the first {len(seconds)} at their true spots": f"{after / actionable:.1%}",
        "seconds per placement (median / max)": f"{statistics.median(seconds):.3f} / {max(seconds):.3f}",
    }
    width = max(map(len, rows)) + 2
    for k, v in rows.items():
        print(f"{k:<{width}}{v}")


if __name__ == "__main__":
    main()
