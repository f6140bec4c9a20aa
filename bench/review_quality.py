"""Typo-tolerant reuse and the review queue, on the strict stand-in and a realistic feed.

Ingests a snapshot drawn from devtools.geocoder.REVIEW_FIELD (the quality benchmark's field plus
misspelt and extra-word labels of mapped places, and labels of network codes alone at fixed
spots), geocodes it as shipped against devtools.geocoder (LocationIQ's format), then:

- reuse: the variant labels' tickets at location precision; reuses that took another place's
  point (wrong place: another name than the variant's own, or > 5 km from the truth; Makongeni is
  in two towns, Milimani in six); requests beyond one per place asked;
- review: a reviewer in Chromium (Debian's, headless, through playwright) places the queue's
  first 20 entries at their true spots on the page: select, click the map there, confirm; each
  placement timed from Confirm to the page's answer (the tickets re-resolved within it); then
  the share of actionable tickets at location precision.

Prints the figures; nothing is asserted.

    python bench/review_quality.py [--tickets 31434] [--placements 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import throwaway_database
from devtools import review_page
from devtools.feed import Feed, write_snapshot
from devtools.geocoder import REVIEW_FIELD, VARIANTS, DevGeocoder, true_points
from fleettickets.config import Settings
from fleettickets.console import Reporter
from fleettickets.geocode.places import distance_km, normalise, strip_codes
from fleettickets.geocode.run import geocode_clusters, geocode_locations
from fleettickets.ingest import ingest_csv
from fleettickets.review import server

QUIET = Reporter(open("/dev/null", "w"), interactive=False)  # noqa: SIM115
WRONG_KM = 5.0
CHROMIUM = "/usr/bin/chromium"  # Debian's (scripts/lib.sh installs it): no browser download


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


def review(url: str, placements: int) -> list[tuple[float, float]]:
    """A reviewer in Chromium places the queue's first entries at their true spots: select the
    entry, click the map there, confirm. Seconds from the click on Confirm to the page's answer
    (the point written, the tickets moved) and to the page ready with the next entry, each."""
    truth = {(c, normalise(p)): xy for (c, p), xy in true_points(REVIEW_FIELD).items()}
    page = server.Review(url, server.new_token(), tiles="")
    seconds: list[tuple[float, float]] = []
    with review_page.running(page) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        tab = browser.new_page(viewport={"width": 1280, "height": 760})
        tab.goto(f"{base}/?token={page.token}")
        tab.wait_for_selector("#queue li.selected")
        entries = tab.evaluate("entries")[:placements]
        for e in entries:
            tab.locator(f"#queue li[data-key={json.dumps(e['key'])}]").click()
            tab.wait_for_function("k => selected && selected.key === k", arg=e["key"])
            lng, lat = truth[(e["cluster"], normalise(e["place"]))]
            x, y = tab.evaluate("p => { const c = map.latLngToContainerPoint(p); return [c.x, c.y]; }", [lat, lng])
            tab.click("#map", position={"x": x, "y": y})
            started = time.monotonic()
            with tab.expect_response(lambda r: r.url.endswith("/api/place")):
                tab.click("#confirm")
            moved = time.monotonic() - started  # the point written, the tickets moved
            tab.wait_for_function(
                "() => document.getElementById('status').textContent.startsWith('placed')"
                " || document.getElementById('status').className === 'error'"
            )
            seconds.append((moved, time.monotonic() - started))
            if tab.locator("#status.error").count():
                print(f"  refused {e['key']}: {tab.locator('#status').inner_text()}")
        browser.close()
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
        "seconds per placement to move its tickets (median / max)": f"{statistics.median(m for m, _ in seconds):.3f}"
        f" / {max(m for m, _ in seconds):.3f}",
        "seconds to the page ready for the next (median / max)": f"{statistics.median(r for _, r in seconds):.3f}"
        f" / {max(r for _, r in seconds):.3f}",
    }
    width = max(map(len, rows)) + 2
    for k, v in rows.items():
        print(f"{k:<{width}}{v}")


if __name__ == "__main__":
    main()
