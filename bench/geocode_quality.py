"""Geocoding quality on a realistic feed against the strict stand-in, both providers, old vs new strategy.

Ingests a ~31,000-ticket snapshot drawn from devtools.geocoder.FIELD (15 clusters; ambiguous place
names such as Milimani in six towns; a few local names no map knows; location names wrapped in
network codes), then, for LocationIQ and OpenCage in turn, against devtools.geocoder
(which matches every query word as Nominatim does):

- old: the first strategy, replayed through the same provider classes: "cluster, Kenya" and
  "place, cluster, Kenya", limit=1, the first answer taken, the 25 km guard;
- new: `geocode clusters` + `geocode locations` as shipped, then a second run.

Ground truth: each ticket is where its place really is, plus a few hundred metres of scatter
(fixed by its id). Then a junk run (the provider answers NaN/1e999 for a while), the value of a
fallback query, and whether the feed's region could choose among cluster candidates. Prints the
figures; nothing is asserted. The shipped strategy's first locations run goes at 20 requests/s
and the shortest span of 20 intervals the stand-in saw is printed (tests/test_geocode.py checks the spacing too).

    python bench/geocode_quality.py [--tickets 31434]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import throwaway_database
from devtools.feed import Feed, write_snapshot
from devtools.geocoder import FIELD, UNMAPPED, DevGeocoder, Hit, ambiguous_names, true_points
from fleettickets.config import Settings
from fleettickets.console import Reporter
from fleettickets.geocode.places import GUARD_KM, choose_location, distance_km, in_kenya, strip_codes
from fleettickets.geocode.providers import provider_for
from fleettickets.geocode.run import geocode_clusters, geocode_locations
from fleettickets.ingest import ingest_csv

RATE = 20  # requests/s of the shipped strategy's first run (the rest runs at 500/s)
WRONG_TOWN_KM = 5.0  # a location point this far from the truth is another town's place
QUIET = Reporter(open("/dev/null", "w"), interactive=False)  # noqa: SIM115


@dataclass(frozen=True)
class Ticket:
    ticket_id: str
    cluster: str
    place: str  # the place words (codes stripped)
    truth: tuple[float, float]


@dataclass
class Figures:
    tickets: int = 0
    location: int = 0
    positioned: int = 0
    errors: list[float] | None = None
    wrong_town: int = 0  # location-precision tickets of ambiguous names placed in another town
    wrong_town_places: int = 0
    findable_lost: int = 0  # mapped places (findable near their cluster) left without a location point
    findable: int = 0
    beyond_guard: int = 0
    requests: int = 0
    places: int = 0
    clusters_requests: int = 0
    second_run: int = 0

    def row(self) -> dict[str, str]:
        e = sorted(self.errors or [0.0])
        p90 = e[min(len(e) - 1, int(0.9 * len(e)))]
        return {
            "at location precision": f"{self.location / self.tickets:.1%}",
            "positioned at all": f"{self.positioned / self.tickets:.1%}",
            "error median km": f"{statistics.median(e):.2f}",
            "error p90 km": f"{p90:.2f}",
            "error max km": f"{e[-1]:.1f}",
            "tickets > 2 km off": f"{sum(x > 2 for x in e):,}",
            "tickets > 25 km off": f"{sum(x > 25 for x in e):,}",
            "wrong-town accepts (ambiguous)": f"{self.wrong_town_places} places, {self.wrong_town} tickets",
            "findable places lost": f"{self.findable_lost} of {self.findable}",
            "accepted beyond 25 km": f"{self.beyond_guard}",
            "requests per place, 1st run": f"{self.requests / max(self.places, 1):.2f} ({self.requests}/{self.places})",
            "cluster requests": f"{self.clusters_requests}",
            "requests on a 2nd run": f"{self.second_run}",
        }


def load_tickets(url: str) -> list[Ticket]:
    truth = {(c, p.casefold()): xy for (c, p), xy in true_points().items()}
    with psycopg.connect(url) as c:
        rows = c.execute("SELECT ticket_id, cluster, location_name FROM tickets.inc WHERE is_actionable").fetchall()
    out = []
    for tid, cluster, name in rows:
        place = strip_codes(name)
        x, y = truth[(cluster, place.casefold())]
        rng = random.Random(tid)  # a customer's premises: a few hundred metres from the place's point
        dx, dy = rng.gauss(0, 0.3), rng.gauss(0, 0.3)
        out.append(Ticket(tid, cluster, place, (x + dx / 111.0, y + dy / 111.0)))
    return out


def evaluate(
    tickets: list[Ticket], points: dict[str, tuple[str, float | None, float | None]], ambiguous: set[str]
) -> Figures:
    """points: ticket_id -> (geo_source, lng, lat)."""
    f = Figures(tickets=len(tickets), errors=[])
    wrong_places: set[tuple[str, str]] = set()
    lost: set[tuple[str, str]] = set()
    findable: set[tuple[str, str]] = set()
    for t in tickets:
        source, lng, lat = points[t.ticket_id]
        mapped = (t.cluster, t.place) not in UNMAPPED
        if mapped:
            findable.add((t.cluster, t.place))
        if source == "none" or lng is None:
            if mapped:
                lost.add((t.cluster, t.place))
            continue
        f.positioned += 1
        error = distance_km(lng, lat, *t.truth)
        f.errors.append(error)
        if source == "location":
            f.location += 1
            if t.place in ambiguous and error > WRONG_TOWN_KM:
                f.wrong_town += 1
                wrong_places.add((t.cluster, t.place))
        elif mapped:
            lost.add((t.cluster, t.place))
    f.wrong_town_places, f.findable_lost, f.findable = len(wrong_places), len(lost), len(findable)
    return f


def old_strategy(settings: Settings, tickets: list[Ticket], ambiguous: set[str]) -> Figures:
    """The first strategy, replayed: limit=1, first answer, context in the query, the guard."""
    provider = provider_for(settings)
    centres: dict[str, tuple[float, float] | None] = {}
    for cluster in sorted({t.cluster for t in tickets}):
        outcome = provider.lookup(f"{cluster}, Kenya", limit=1)
        first = outcome.candidates[0] if outcome.status == "ok" else None
        centres[cluster] = (first.lng, first.lat) if first and in_kenya(first.lng, first.lat) else None
    cluster_requests = provider.requests
    located: dict[tuple[str, str], tuple[float, float] | None] = {}
    for cluster, place in sorted({(t.cluster, t.place) for t in tickets}):
        centre = centres[cluster]
        if centre is None:
            continue
        outcome = provider.lookup(f"{place}, {cluster}, Kenya", limit=1)
        first = outcome.candidates[0] if outcome.status == "ok" else None
        ok = first is not None and distance_km(*centre, first.lng, first.lat) <= GUARD_KM
        located[(cluster, place)] = (first.lng, first.lat) if ok else None
    provider.close()
    points = {}
    for t in tickets:
        spot, centre = located.get((t.cluster, t.place)), centres[t.cluster]
        if spot:
            points[t.ticket_id] = ("location", *spot)
        elif centre:
            points[t.ticket_id] = ("cluster", *centre)
        else:
            points[t.ticket_id] = ("none", None, None)
    f = evaluate(tickets, points, ambiguous)
    f.requests, f.places = provider.requests - cluster_requests, len(located)
    f.clusters_requests = cluster_requests  # the guard held, and nothing was cached to re-use
    return f


def shortest_span(hits: list[Hit], rate: int) -> float:
    """The shortest time the stand-in saw between a request and the rate-th after it (one second
    or more: never more than `rate` intervals in a second)."""
    starts = [h.at for h in hits]
    return min((b - a for a, b in zip(starts, starts[rate:], strict=False)), default=float("nan"))


def new_strategy(
    settings: Settings, url: str, tickets: list[Ticket], ambiguous: set[str], geocoder: DevGeocoder
) -> tuple[Figures, float]:
    """The shipped strategy, and the shortest span of RATE intervals in its first locations run."""
    paced = replace(settings, geocoder_rate=RATE)
    clusters = geocode_clusters(paced, QUIET, apply=True)
    asked_before = len(geocoder.hits)
    first = geocode_locations(paced, QUIET, apply=True)
    span = shortest_span(geocoder.hits[asked_before:], RATE)
    again = geocode_clusters(replace(settings, geocoder_rate=1), QUIET, apply=True)
    second = geocode_locations(replace(settings, geocoder_rate=1), QUIET, apply=True)
    with psycopg.connect(url) as c:
        points = {
            r[0]: (r[1], r[2], r[3])
            for r in c.execute("SELECT ticket_id, geo_source, longitude, latitude FROM tickets.inc WHERE is_actionable")
        }
        beyond = c.execute(
            "SELECT count(*) FROM tickets.geo_locations WHERE status = 'ok' AND distance_km > %s", (GUARD_KM,)
        ).fetchone()[0]
    f = evaluate(tickets, points, ambiguous)
    f.requests, f.places, f.clusters_requests = first.requests, first.to_ask, clusters.requests
    f.beyond_guard, f.second_run = beyond, again.requests + second.requests
    return f, span


def fallback_value(settings: Settings, url: str) -> tuple[int, int]:
    """(requests, places gained) of one more query per place left without a point: the place words,
    no box, the same chooser."""
    with psycopg.connect(url) as c:
        left = c.execute(
            "SELECT l.place, l.cluster, ST_X(c.geom), ST_Y(c.geom) FROM tickets.geo_locations l"
            " JOIN tickets.geo_clusters c USING (cluster) WHERE l.status <> 'ok' AND c.status = 'ok'"
        ).fetchall()
    provider = provider_for(settings)
    gained = 0
    for place, cluster, x, y in left:
        outcome = provider.lookup(place, limit=5)
        if outcome.status == "ok" and choose_location(outcome.candidates, place, (x, y), cluster, GUARD_KM).candidate:
            gained += 1
    provider.close()
    return provider.requests, gained


def junk_run(settings: Settings, url: str, geocoder: DevGeocoder, answers: int) -> tuple[int, int, int, str]:
    """(junk answers, error outcomes, junk points stored, what the next run made of them) on a fresh
    gazetteer: the first `answers` location requests get NaN / 1e999 back."""
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("DELETE FROM tickets.geo_locations")
        c.execute("SELECT tickets.reresolve_geom()")
    bodies = [b'[{"lat": "NaN", "lon": "36.8", "display_name": "x"}]', b'[{"lat": "-1.2", "lon": "1e999"}]']
    geocoder.script = [(200, bodies[i % 2]) for i in range(answers)]
    first = geocode_locations(settings, QUIET, apply=True)
    with psycopg.connect(url) as c:
        stored = c.execute(
            "SELECT (SELECT count(*) FROM tickets.geo_locations WHERE NOT tickets.is_position(geom))"
            " + (SELECT count(*) FROM tickets.inc WHERE NOT tickets.is_position(geom))"
        ).fetchone()[0]
    second = geocode_locations(settings, QUIET, apply=True)
    return answers, first.statuses["error"], stored, f"{second.requests} re-asked: {dict(second.statuses)}"


def region_value(geocoder: DevGeocoder) -> tuple[int, int]:
    """(clusters whose name has several place candidates in Kenya, of them where the feed's region
    word appears in some candidate's address and so could choose)."""
    several = decided = 0
    for cluster, (region, *_rest) in FIELD.items():
        found = geocoder.search(cluster, country="ke", drop_context=False, box=None)
        places = [f for f in found if not f.admin and not f.road]  # a road named after the town is no candidate
        if len(places) > 1:
            several += 1
            decided += any(region.casefold() in f.display_name.casefold() for f in places)
    return several, decided


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=31434)
    parser.add_argument("--junk", type=int, default=20, help="junk answers in the junk run")
    args = parser.parse_args()
    results: dict[str, dict[str, dict[str, str]]] = {}
    extras: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "2026-06-15T07-00-00.csv"
        write_snapshot(path, Feed(args.tickets, clusters=FIELD))
        for name in ("locationiq", "opencage"):
            with throwaway_database() as url, DevGeocoder(key="bench") as geocoder:
                settings = Settings(
                    database_url=url,
                    geocoder_provider=name,
                    geocoder_api_key="bench",
                    geocoder_base_url=geocoder.url,
                    geocoder_rate=500,
                )
                ingest_csv(settings, path, QUIET, apply=True)
                tickets = load_tickets(url)
                ambiguous = ambiguous_names(geocoder.world)
                old = old_strategy(settings, tickets, ambiguous)
                new, span = new_strategy(settings, url, tickets, ambiguous, geocoder)
                extras[f"{name}: rate, locations run"] = (
                    f"GEOCODER_RATE {RATE}: any {RATE + 1} consecutive requests spanned >= {span:.3f} s"
                )
                requests, gained = fallback_value(settings, url)
                extras[f"{name}: a fallback query (no box)"] = f"{requests} more requests, {gained} places gained"
                junk, errors, stored, resolved = junk_run(settings, url, geocoder, args.junk)
                extras[f"{name}: junk answers"] = (
                    f"{junk} -> {errors} error outcomes, {stored} junk points stored; next run {resolved}"
                )
                results[name] = {"old": old.row(), "new": new.row()}
                if name == "locationiq":
                    several, decided = region_value(geocoder)
                    extras["clusters with several place candidates"] = (
                        f"{several} (the region word could pick {decided})"
                    )
                    named = {t.place for t in tickets}
                    extras["actionable tickets"] = f"{len(tickets):,} at {len({(t.cluster, t.place) for t in tickets})}"
                    extras["actionable tickets"] += f" places; ambiguous names {len(named & ambiguous)}"
                    unmapped = sum((t.cluster, t.place) in UNMAPPED for t in tickets) / len(tickets)
                    extras["unmapped share (ceiling)"] = (
                        f"{unmapped:.1%} of tickets are at places no map knows: at most {1 - unmapped:.1%}"
                    )
    measures = list(results["locationiq"]["old"])
    width = max(map(len, measures)) + 2
    print(f"{'':<{width}}" + "".join(f"{p + ' ' + s:>24}" for p in results for s in ("old", "new")))
    for m in measures:
        print(f"{m:<{width}}" + "".join(f"{results[p][s][m]:>24}" for p in results for s in ("old", "new")))
    print()
    for k, v in extras.items():
        print(f"{k:<44}{v}")


if __name__ == "__main__":
    main()
