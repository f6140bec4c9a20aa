"""Geocoding against the strict stand-in provider (devtools.geocoder), over HTTP."""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from devtools.geocoder import DevGeocoder, Feature
from fleettickets import migrate
from fleettickets.cli import app
from fleettickets.config import Settings
from fleettickets.errors import GeocoderError
from fleettickets.geocode import providers
from fleettickets.geocode.places import STRATEGY
from fleettickets.geocode.providers import RateLimiter
from fleettickets.geocode.run import geocode_clusters, geocode_locations
from tests.helpers import KEY, add_tickets, env, insert_ticket, quiet, settings, wait_until
from tests.released import DEPLOYED, write_released

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def tickets(db_url) -> str:
    """Open tickets over three clusters, with the spellings the field crews use."""
    add_tickets(
        db_url,
        [
            ("T1", "Nairobi West", "NW_Kileleshwa_FDT_03", "true"),
            ("T2", "Nairobi West", "ADR_MNT_KILELESHWA SDUS3", "true"),
            ("T3", "Nairobi West", "Kileleshwa FDT7", "true"),
            ("T4", "Nairobi West", "NW_Lavington", "true"),
            ("T5", "Nakuru", "NW_Milimani_FDT_02", "true"),
            ("T6", "Kisumu", "Milimani SDUS 4", "true"),
            ("T7", "Kisumu", "FDT_12", "true"),  # nothing but codes
            ("T8", "Nairobi West", "NW_Karen", "false"),  # closed: no precise geocoding
        ],
    )
    return db_url


def positions(url: str) -> dict[str, tuple[str, float | None, float | None]]:
    with psycopg.connect(url) as c:
        rows = c.execute(
            "SELECT ticket_id, geo_source, round(latitude::numeric, 4)::float8,"
            " round(longitude::numeric, 4)::float8 FROM tickets.inc ORDER BY 1"
        ).fetchall()
    return {r[0]: r[1:] for r in rows}


def entry(url: str, table: str, key: str) -> tuple:
    column = "cluster" if table == "geo_clusters" else "query"
    with psycopg.connect(url) as c:
        return c.execute(
            f"SELECT status, detail, round(ST_Y(geom)::numeric, 4)::float8, round(ST_X(geom)::numeric, 4)::float8,"
            f" strategy FROM tickets.{table} WHERE {column} = %s",
            (key,),
        ).fetchone()


def geocode_all(g: DevGeocoder, url: str, provider: str = "locationiq") -> None:
    geocode_clusters(settings(g, url, provider), quiet(), apply=True)
    geocode_locations(settings(g, url, provider), quiet(), apply=True)


# -- asking the best-practice way ------------------------------------------------------------------


def test_clusters_then_locations_position_every_open_ticket(geocoder, tickets):
    clusters = geocode_clusters(settings(geocoder, tickets), quiet(), apply=True)
    assert (clusters.distinct, clusters.to_ask, clusters.statuses["ok"]) == (3, 3, 3)
    assert geocoder.queries() == ["Nairobi West", "Kisumu", "Nakuru"]  # the name alone, most tickets first
    assert positions(tickets)["T5"] == ("cluster", -0.303, 36.08)  # Nakuru the city, not the county's centroid
    locations = geocode_locations(settings(geocoder, tickets), quiet(), apply=True)
    # Kileleshwa x3 spellings -> one request; Lavington; Milimani twice (two clusters, two places)
    assert sorted(geocoder.queries()[3:]) == ["Kileleshwa", "Lavington", "Milimani", "Milimani"]
    assert locations.requests == 4 and locations.statuses["ok"] == 4
    assert locations.skipped["name is only codes: tickets"] == 1
    got = positions(tickets)
    assert got["T1"] == got["T2"] == got["T3"] == ("location", -1.281, 36.783)
    assert got["T5"] == ("location", -0.293, 36.074) and got["T6"] == ("location", -0.101, 34.757)
    assert got["T7"] == ("cluster", -0.092, 34.768)  # codes only: the cluster point
    assert got["T8"] == ("cluster", -1.31, 36.78)  # closed tickets get no precise query
    with psycopg.connect(tickets) as c:
        feature = c.execute(
            "SELECT f FROM jsonb_array_elements(reporting.fn_tickets_for_map() -> 'features') f WHERE f ->> 'id' = 'T1'"
        ).fetchone()[0]
        assert feature["geometry"]["coordinates"] == [36.783, -1.281]
        assert feature["properties"]["geo_source"] == "location"
        strategies = c.execute(
            "SELECT DISTINCT strategy FROM tickets.geo_locations UNION SELECT strategy FROM tickets.geo_clusters"
        ).fetchall()
    assert strategies == [(2,)]


def test_location_requests_follow_the_contract(geocoder, tickets):
    geocode_all(geocoder, tickets)
    nakuru = next(h for h in geocoder.hits if h.params["q"] == "Milimani" and "-0.52783" in h.params["viewbox"])
    assert nakuru.path == "/v1/search"
    assert {k: v for k, v in nakuru.params.items() if k != "viewbox"} == {
        "key": KEY,
        "q": "Milimani",
        "format": "json",
        "limit": "5",
        "countrycodes": "ke",
        "bounded": "1",
    }
    west, south, east, north = (float(v) for v in nakuru.params["viewbox"].split(","))
    assert (round(west, 3), round(south, 3), round(east, 3), round(north, 3)) == (35.855, -0.528, 36.305, -0.078)


def test_opencage_requests_and_answers(geocoder, tickets):
    geocode_all(geocoder, tickets, "opencage")
    assert positions(tickets)["T5"] == ("location", -0.293, 36.074)
    hit = next(h for h in geocoder.hits if h.params.get("proximity") == "-0.30300,36.08000")
    assert hit.path == "/geocode/v1/json"
    assert {k: v for k, v in hit.params.items() if k != "bounds"} == {
        "q": "Milimani",
        "key": KEY,
        "countrycode": "ke",
        "limit": "5",
        "no_annotations": "1",
        "proximity": "-0.30300,36.08000",
    }


@pytest.mark.parametrize("provider", ["locationiq", "opencage"])
def test_ambiguous_name_with_two_towns_in_the_box_takes_the_nearer(geocoder, db_url, provider):
    # Kitengela's box reaches Nairobi: both Milimanis come back; Nairobi's is the more prominent
    add_tickets(db_url, [("K1", "Kitengela", "NW_Milimani_FDT_02", "true")])
    geocode_all(geocoder, db_url, provider)
    assert positions(db_url)["K1"] == ("location", -1.47, 36.965)


@pytest.mark.parametrize("provider", ["locationiq", "opencage"])
def test_a_place_missing_from_its_box_is_not_found_never_another_towns(geocoder, db_url, provider):
    add_tickets(db_url, [("M1", "Machakos", "NW_Milimani", "true"), ("M2", "Machakos", "NW_Mjini", "true")])
    geocode_all(geocoder, db_url, provider)
    got = positions(db_url)
    assert got["M1"] == ("cluster", -1.517, 37.263) and got["M2"] == ("location", -1.52, 37.263)
    assert entry(db_url, "geo_locations", "milimani, machakos, kenya")[0] == "not_found"


def test_a_place_only_beyond_the_guard_is_rejected_with_the_nearest_distance(geocoder, tickets):
    geocode_clusters(settings(geocoder, tickets), quiet(), apply=True)
    geocoder.forget("Milimani")
    # in the box's corner: inside the box, beyond the guard
    geocoder.world.append(Feature("Milimani", "suburb", 36.30, -0.52, ("Nakuru", "Nakuru County", "Kenya"), 0.3))
    result = geocode_locations(settings(geocoder, tickets), quiet(), apply=True)
    assert result.statuses["rejected"] == 1 and result.statuses["not_found"] == 1  # Kisumu's is gone
    status, detail, lat, _, _ = entry(tickets, "geo_locations", "milimani, nakuru, kenya")
    assert status == "rejected" and lat is None
    assert detail == "nearest of 1 candidate(s) 34.4 km from the Nakuru point (guard 25 km)"
    with psycopg.connect(tickets) as c:
        distance = c.execute("SELECT distance_km FROM tickets.geo_locations WHERE status = 'rejected'").fetchone()[0]
        accepted = c.execute("SELECT max(distance_km) FROM tickets.geo_locations WHERE status = 'ok'").fetchone()[0]
    assert distance == pytest.approx(34.4, abs=0.05) and accepted <= 25
    assert positions(tickets)["T5"] == ("cluster", -0.303, 36.08)


def test_a_provider_ignoring_the_box_cannot_place_a_ticket_in_another_town(geocoder, tickets):
    geocode_clusters(settings(geocoder, tickets), quiet(), apply=True)
    kisumu = {"lat": "-0.1010", "lon": "34.7570", "display_name": "Milimani, Kisumu, Kenya", "class": "place"}
    nairobi = {"lat": "-1.2905", "lon": "36.8005", "display_name": "Milimani, Nairobi, Kenya", "class": "place"}
    geocoder.script = [(200, [nairobi, kisumu])] * 4  # every place gets both Milimanis
    result = geocode_locations(settings(geocoder, tickets), quiet(), apply=True)
    assert (result.statuses["not_found"], result.statuses["ok"], result.statuses["rejected"]) == (2, 1, 1)
    assert entry(tickets, "geo_locations", "kileleshwa, nairobi west, kenya")[0] == "not_found"  # not its name
    status, detail, *_ = entry(tickets, "geo_locations", "milimani, nakuru, kenya")
    assert status == "rejected" and detail.startswith("nearest of 2 candidate(s) 135.9 km")
    got = positions(tickets)
    assert got["T5"] == ("cluster", -0.303, 36.08) and got["T6"] == ("location", -0.101, 34.757)


def test_administrative_areas_are_no_location(geocoder, tickets):
    geocode_clusters(settings(geocoder, tickets), quiet(), apply=True)
    county = {"lat": "-1.30", "lon": "36.85", "display_name": "Nairobi County, Kenya", "class": "boundary",
              "type": "administrative"}  # fmt: skip
    geocoder.script = [(200, [county])]
    geocode_locations(settings(geocoder, tickets), quiet(), apply=True, limit=1)
    status, detail, *_ = entry(tickets, "geo_locations", "kileleshwa, nairobi west, kenya")
    assert status == "not_found" and detail == "1 candidate(s), none a place named 'Kileleshwa'"


def test_a_cluster_known_only_as_a_county_gets_the_county_point(geocoder, tickets):
    county = {"lat": "-0.5", "lon": "36.08", "display_name": "Nakuru County, Kenya", "class": "boundary",
              "type": "administrative"}  # fmt: skip
    geocoder.script = [(200, [county])]
    geocode_clusters(settings(geocoder, tickets), quiet(), apply=True, limit=1)
    status, detail, lat, lng, _ = entry(tickets, "geo_clusters", "Nairobi West")
    assert (status, lat, lng) == ("ok", -0.5, 36.08) and "administrative area" in detail


def test_cluster_outside_kenya_is_rejected(geocoder, tickets):
    kampala = {"lat": "0.35", "lon": "32.58", "display_name": "Kampala, Uganda", "class": "place", "type": "city"}
    geocoder.script = [(200, [kampala])]
    result = geocode_clusters(settings(geocoder, tickets), quiet(), apply=True, limit=1)
    assert result.statuses["rejected"] == 1
    assert entry(tickets, "geo_clusters", "Nairobi West")[:2] == ("rejected", "outside Kenya (0.3500, 32.5800)")


# -- once per place, cached, the rate held ---------------------------------------------------------


def test_second_run_sends_nothing_and_waits_for_nothing(geocoder, tickets, monkeypatch):
    geocode_all(geocoder, tickets)
    before = geocoder.requests
    assert before == 3 + 4  # one request per cluster and per distinct place
    waits = []
    monkeypatch.setattr(RateLimiter, "wait", lambda self: waits.append(1))
    again = geocode_locations(settings(geocoder, tickets, rate=2), quiet(), apply=True)
    clusters = geocode_clusters(settings(geocoder, tickets, rate=2), quiet(), apply=True)
    assert geocoder.requests == before
    assert again.requests == clusters.requests == 0 and again.cached == 4 and clusters.cached == 3
    assert waits == []  # cache hits never wait on the limiter


def test_rate_limiter_spaces_request_starts():
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 6))
        now[0] += seconds

    limiter = RateLimiter(2, clock=lambda: now[0], sleep=sleep)
    limiter.wait()  # the first request goes at once
    limiter.wait()
    now[0] += 0.2  # some work between requests counts towards the interval
    limiter.wait()
    now[0] += 5  # after a pause nothing is owed
    limiter.wait()
    assert slept == [0.5, 0.3]


def test_every_request_of_a_run_waits_on_one_limiter_at_the_set_rate(geocoder, tickets, monkeypatch):
    """With the limiter's spacing proven on a fake clock above, a run holds the rate if each of its
    requests passes the run's one limiter, set to GEOCODER_RATE: no wall clock needed."""
    waits: list[tuple[int, float]] = []
    monkeypatch.setattr(RateLimiter, "wait", lambda self: waits.append((id(self), self.interval)))
    geocode_clusters(settings(geocoder, tickets, rate=8), quiet(), apply=True)
    clusters = waits[:]
    geocode_locations(settings(geocoder, tickets, rate=8), quiet(), apply=True)
    locations = waits[len(clusters) :]
    assert (len(clusters), len(locations)) == (3, 4) and len(geocoder.hits) == 7
    for run in (clusters, locations):
        assert len(set(run)) == 1 and run[0][1] == 1 / 8


def test_not_found_is_cached_and_asked_again_only_with_retry_failed(geocoder, tickets):
    geocode_clusters(settings(geocoder, tickets), quiet(), apply=True)
    lavington = next(f for f in geocoder.world if f.name == "Lavington")
    geocoder.forget("Lavington")
    first = geocode_locations(settings(geocoder, tickets), quiet(), apply=True)
    assert first.statuses["not_found"] == 1 and positions(tickets)["T4"][0] == "cluster"
    assert geocode_locations(settings(geocoder, tickets), quiet(), apply=True).requests == 0
    geocoder.world.append(lavington)
    retried = geocode_locations(settings(geocoder, tickets), quiet(), apply=True, retry_failed=True)
    assert retried.requests == 1 and retried.statuses["ok"] == 1
    assert positions(tickets)["T4"] == ("location", -1.279, 36.769)


def test_limit_caps_the_requests(geocoder, tickets):
    geocode_clusters(settings(geocoder, tickets), quiet(), apply=True)
    result = geocode_locations(settings(geocoder, tickets), quiet(), apply=True, limit=1)
    assert result.requests == 1 and result.to_ask == 1
    assert geocoder.queries()[-1] == "Kileleshwa"  # the place with most tickets first


def test_dry_run_sends_nothing_and_says_what_it_would_do(geocoder, tickets):
    result = CliRunner().invoke(app, ["geocode", "clusters"], env=env(geocoder, tickets, rate=1))
    assert result.exit_code == 0, result.output
    assert "clusters: 3 distinct, 0 cached, 3 to ask; dry run: would send about 3 request(s), ~3 s at 1/s" in (
        result.stdout
    )
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("dry-run clusters: distinct=3 cached=0 asked=3 reasked=0 requests=0")
    assert geocoder.hits == []
    locations = CliRunner().invoke(app, ["geocode", "locations"], env=env(geocoder, tickets))
    assert "4 skipped (cluster not geocoded)" in locations.stdout and geocoder.hits == []


def test_verified_entries_are_never_overwritten(geocoder, tickets):
    geocode_clusters(settings(geocoder, tickets), quiet(), apply=True)
    geocoder.forget("Lavington")
    geocode_locations(settings(geocoder, tickets), quiet(), apply=True)
    environ = env(geocoder, tickets)
    fixed = CliRunner().invoke(
        app,
        ["gazetteer", "set", "location", "lavington, nairobi west, kenya", "--lat", "-1.2795", "--lng", "36.7695"],
        env=environ,
    )
    assert fixed.exit_code == 0, fixed.output
    assert "(verified); 1 ticket(s) moved" in fixed.stdout
    assert positions(tickets)["T4"] == ("location", -1.2795, 36.7695)
    geocoder.world.append(Feature("Lavington", "suburb", 36.70, -1.30, ("Nairobi", "Kenya"), 0.3))
    result = geocode_locations(settings(geocoder, tickets), quiet(), apply=True, retry_failed=True)
    assert result.requests == 0 and positions(tickets)["T4"] == ("location", -1.2795, 36.7695)
    listing = CliRunner().invoke(app, ["gazetteer", "list", "--kind", "location", "--unverified"], env=environ)
    assert "lavington" not in listing.stdout and listing.stdout.strip().endswith("4 entries")  # and FDT_12
    verify = CliRunner().invoke(app, ["gazetteer", "verify", "cluster", "Nakuru"], env=environ)
    assert verify.exit_code == 0 and "verified cluster 'Nakuru'" in verify.stdout
    missing = CliRunner().invoke(app, ["gazetteer", "verify", "cluster", "Atlantis"], env=environ)
    assert missing.exit_code == 1 and "no cluster entry 'Atlantis'" in missing.stderr


# -- moving from the old strategy's cache ----------------------------------------------------------


def old_cache(url: str) -> None:
    """What the first strategy left: the county's centroid for Nakuru, a wrong-city reject, a
    verified hand fix, a not_found; every row strategy 1 (the migration's default)."""
    with psycopg.connect(url, autocommit=True) as c:
        for cluster, status, lng, lat in [
            ("Nairobi West", "ok", 36.78, -1.31),
            ("Nakuru", "ok", 36.08, -0.50),
            ("Kisumu", "ok", 34.768, -0.092),
        ]:
            c.execute(
                "INSERT INTO tickets.geo_clusters (cluster, query, provider, status, geom)"
                " VALUES (%s, %s, 'locationiq', %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326))",
                (cluster, f"{cluster}, Kenya", status, lng, lat),
            )
        for key, place, cluster, status, point, verified in [
            ("kileleshwa, nairobi west, kenya", "Kileleshwa", "Nairobi West", "not_found", None, False),
            ("lavington, nairobi west, kenya", "Lavington", "Nairobi West", "ok", (36.7695, -1.2795), True),
            ("milimani, nakuru, kenya", "Milimani", "Nakuru", "rejected", None, False),
            ("milimani, kisumu, kenya", "Milimani", "Kisumu", "ok", (34.757, -0.101), False),
        ]:
            c.execute(
                "INSERT INTO tickets.geo_locations (query, place, cluster, provider, status, geom, verified)"
                " VALUES (%s, %s, %s, 'locationiq', %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326), %s)",
                (key, place, cluster, status, *(point or (None, None)), verified),
            )
        c.execute(
            "INSERT INTO tickets.geo_location_names SELECT n, cluster, query FROM tickets.geo_locations,"
            " unnest(CASE place WHEN 'Kileleshwa' THEN ARRAY['NW_Kileleshwa_FDT_03', 'ADR_MNT_KILELESHWA SDUS3',"
            " 'Kileleshwa FDT7'] WHEN 'Lavington' THEN ARRAY['NW_Lavington'] WHEN 'Milimani' THEN"
            " ARRAY['NW_Milimani_FDT_02', 'Milimani SDUS 4'] END) n"
        )
        c.execute("SELECT tickets.reresolve_geom()")


def test_old_strategy_entries_are_asked_again_once_within_limit(geocoder, tickets):
    old_cache(tickets)
    assert positions(tickets)["T5"] == ("cluster", -0.5, 36.08)  # the county centroid, 22 km off
    dry = CliRunner().invoke(app, ["geocode", "clusters"], env=env(geocoder, tickets, rate=1))
    assert "3 to ask (3 decided by an older strategy, asked again once); dry run: would send about 3 request(s)" in (
        dry.stdout
    )
    geocode_clusters(settings(geocoder, tickets), quiet(), apply=True)
    assert positions(tickets)["T5"] == ("cluster", -0.303, 36.08)
    dry = CliRunner().invoke(app, ["geocode", "locations"], env=env(geocoder, tickets, rate=0.5))
    assert dry.exit_code == 0, dry.output
    assert "3 to ask (3 decided by an older strategy, asked again once)" in dry.stdout  # not the verified one
    assert "would send about 3 request(s), ~6 s at 0.5/s" in dry.stdout
    first = geocode_locations(settings(geocoder, tickets), quiet(), apply=True, limit=2)
    assert first.requests == 2 and first.reasked == 2
    rest = geocode_locations(settings(geocoder, tickets), quiet(), apply=True)
    assert rest.requests == 1 and rest.to_ask == 1
    assert geocode_locations(settings(geocoder, tickets), quiet(), apply=True, retry_failed=False).requests == 0
    got = positions(tickets)
    assert got["T1"] == ("location", -1.281, 36.783)  # found now (context words made it not_found)
    assert got["T5"] == ("location", -0.293, 36.074)  # the reject is re-decided
    assert got["T4"] == ("location", -1.2795, 36.7695)  # verified: never touched
    assert entry(tickets, "geo_locations", "lavington, nairobi west, kenya")[4] == 1
    assert "Lavington" not in geocoder.queries()


def test_an_error_while_asking_again_keeps_the_old_point_and_asks_again_next_run(geocoder, tickets):
    old_cache(tickets)
    geocoder.script = [(500, {})] * 15  # three clusters, five attempts each: every one an error
    down = geocode_clusters(settings(geocoder, tickets, rate=500), quiet(), apply=True)
    assert down.statuses["error"] == 3 and down.verified_kept == 0
    assert entry(tickets, "geo_clusters", "Nakuru") == ("ok", None, -0.5, 36.08, 1)  # point and strategy kept
    assert positions(tickets)["T5"] == ("cluster", -0.5, 36.08)  # still on the map
    geocoder.script = [(500, {})] * 15
    down = geocode_locations(settings(geocoder, tickets, rate=500), quiet(), apply=True)
    assert down.statuses["error"] == 3
    assert entry(tickets, "geo_locations", "milimani, kisumu, kenya") == ("ok", None, -0.101, 34.757, 1)
    assert entry(tickets, "geo_locations", "milimani, nakuru, kenya")[0] == "rejected"  # an answer, kept too
    assert positions(tickets)["T6"] == ("location", -0.101, 34.757)
    again = geocode_clusters(settings(geocoder, tickets, rate=500), quiet(), apply=True)
    assert again.reasked == 3 and again.statuses["ok"] == 3  # the new strategy's answer replaces it
    assert entry(tickets, "geo_clusters", "Nakuru")[0::4] == ("ok", STRATEGY)
    assert positions(tickets)["T5"] == ("cluster", -0.303, 36.08)


def test_migration_16_turns_cached_junk_into_errors(empty_db_url, tmp_path):
    target = write_released(DEPLOYED, tmp_path / "migrations")  # 01-15 as deployed databases ran them
    migrate.migrate(empty_db_url, quiet(), target)
    with psycopg.connect(empty_db_url, autocommit=True) as c:
        c.execute(
            "INSERT INTO tickets.geo_clusters (cluster, query, provider, status, geom) VALUES"
            " ('A', 'A, Kenya', 'x', 'ok', ST_SetSRID(ST_MakePoint('NaN'::float8, 1), 4326)),"
            " ('B', 'B, Kenya', 'x', 'ok', ST_SetSRID(ST_MakePoint(36.8, -1.3), 4326))"
        )
        insert_ticket(c, "J1", cluster="A", is_actionable="true")
        insert_ticket(c, "J2", cluster="B", is_actionable="true")
    shutil.rmtree(target)
    shutil.copytree(REPO / "migrations", target)
    migrate.migrate(empty_db_url, quiet(), target)
    with psycopg.connect(empty_db_url) as c:
        rows = c.execute(
            "SELECT cluster, status, geom IS NULL, strategy FROM tickets.geo_clusters ORDER BY 1"
        ).fetchall()
        assert rows == [("A", "error", True, 1), ("B", "ok", False, 1)]
        assert c.execute("SELECT ticket_id, geo_source FROM tickets.inc ORDER BY 1").fetchall() == [
            ("J1", "none"),
            ("J2", "cluster"),
        ]
        with pytest.raises(psycopg.errors.CheckViolation):
            c.execute("UPDATE tickets.geo_clusters SET geom = ST_SetSRID(ST_MakePoint(200, 1), 4326)")


def test_migration_34_drops_the_matching_across_clusters_and_the_one_by_one_save(db_url):
    with psycopg.connect(db_url, autocommit=True) as c:  # as migrations 30-31 left a database
        c.execute(
            "CREATE FUNCTION tickets.name_similarity(p_names text[], p_known text[])"
            " RETURNS TABLE (name text, known text, similarity real) LANGUAGE sql STABLE"
            " AS $$ SELECT n, k, similarity(n, k) FROM unnest(p_names) n CROSS JOIN unnest(p_known) k $$"
        )
        c.execute(
            "CREATE FUNCTION tickets.save_match(p_query text, p_source text, p_detail text) RETURNS boolean"
            " LANGUAGE sql AS $$ SELECT false $$"
        )
        c.execute((REPO / "migrations" / "34_name_matches_by_cluster.sql").read_text())  # run again
    with psycopg.connect(db_url) as c:
        left = c.execute(
            "SELECT oid::regprocedure::text FROM pg_proc WHERE proname IN ('name_similarity', 'save_match')"
        ).fetchall()
    assert left == [("tickets.name_similarity(text[],text[],text[],text[],double precision)",)]


# -- what providers do on a bad day ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "body"),
    [
        ("locationiq", b'[{"lat": "NaN", "lon": "36.78", "display_name": "Kileleshwa, Nairobi", "class": "place"}]'),
        ("locationiq", b'[{"lat": "-1.28", "lon": "1e999", "display_name": "Kileleshwa, Nairobi"}]'),
        ("locationiq", b'[{"lat": "-91.5", "lon": "36.78", "display_name": "Kileleshwa, Nairobi"}]'),
        ("locationiq", b'[{"lat": "-1,28", "lon": "36.78", "display_name": "Kileleshwa, Nairobi"}]'),
        ("locationiq", b'[{"lon": "36.78", "display_name": "Kileleshwa, Nairobi"}]'),
        ("opencage", b'{"results": [{"geometry": {"lat": NaN, "lng": 36.78}, "formatted": "Kileleshwa"}]}'),
        ("opencage", b'{"results": [{"geometry": {"lat": -1.28, "lng": 1e999}, "formatted": "Kileleshwa"}]}'),
        ("opencage", b'{"results": [{"geometry": {"lat": -1.28, "lng": -Infinity}, "formatted": "Kileleshwa"}]}'),
        ("opencage", b'{"results": [{"geometry": {"lat": true, "lng": 36.78}, "formatted": "Kileleshwa"}]}'),
    ],
)
def test_junk_coordinates_are_an_error_never_a_point(geocoder, tickets, provider, body):
    geocode_clusters(settings(geocoder, tickets, provider), quiet(), apply=True)
    geocoder.script = [(200, body)]
    result = geocode_locations(settings(geocoder, tickets, provider), quiet(), apply=True, limit=1)
    assert result.statuses["error"] == 1 and result.requests == 1  # not retried in the run: the answer is junk
    status, detail, lat, *_ = entry(tickets, "geo_locations", "kileleshwa, nairobi west, kenya")
    assert status == "error" and lat is None and detail.startswith("junk coordinates in the answer (lat ")
    assert positions(tickets)["T1"] == ("cluster", -1.31, 36.78)
    with psycopg.connect(tickets) as c:
        coordinates = c.execute(
            "SELECT f -> 'geometry' -> 'coordinates' FROM jsonb_array_elements(reporting.fn_tickets_for_map()"
            " -> 'features') f WHERE f ->> 'id' = 'T1'"
        ).fetchone()[0]
        near = c.execute("SELECT ticket_id, geo_source FROM reporting.fn_nearest_open_tickets(36.78, -1.31, 1)")
        assert coordinates == [36.78, -1.31] and near.fetchone()[1] == "cluster"
    again = geocode_locations(settings(geocoder, tickets, provider), quiet(), apply=True)
    assert again.statuses["ok"] == 4 and positions(tickets)["T1"] == ("location", -1.281, 36.783)  # asked again


@pytest.mark.parametrize("provider", ["locationiq", "opencage"])
def test_places_named_like_roads_or_spelled_otherwise_are_found_where_they_are(geocoder, db_url, provider):
    add_tickets(
        db_url,
        [
            ("N1", "Nairobi West", "NW_Ngong_FDT_01", "true"),  # Ngong Road passes 1 km from the cluster point
            ("N2", "Nairobi West", "Kangemi FDT3", "true"),  # the map says Kang'emi
            ("N3", "Nairobi West", "NW_Langata", "true"),  # the map says Lang'ata
            ("N4", "Nairobi West", "ADR_MNT_Lang\u2019ata", "true"),
        ],
    )
    geocode_clusters(settings(geocoder, db_url, provider), quiet(), apply=True)
    result = geocode_locations(settings(geocoder, db_url, provider), quiet(), apply=True)
    assert result.statuses["ok"] == 4 and result.requests == 4
    assert positions(db_url) == {
        "N1": ("location", -1.361, 36.652),  # Ngong town, 15 km out, not the road
        "N2": ("location", -1.265, 36.746),
        "N3": ("location", -1.347, 36.764),
        "N4": ("location", -1.347, 36.764),
    }
    assert entry(db_url, "geo_locations", "langata, nairobi west, kenya")[0] == "ok"  # keys keep the feed's spelling


def test_429_without_retry_after_is_retried(geocoder, tickets):
    geocoder.script = [(429, {"error": "Rate Limited Second"}), (429, {"error": "Rate Limited Minute"})]
    result = geocode_clusters(settings(geocoder, tickets), quiet(), apply=True, limit=1)
    assert result.statuses["ok"] == 1 and result.requests == 3


def test_server_errors_give_up_as_error_which_is_not_final(geocoder, tickets):
    geocoder.script = [(500, {})] * 5
    result = geocode_clusters(settings(geocoder, tickets, rate=200), quiet(), apply=True)
    assert result.statuses["error"] == 1 and result.statuses["ok"] == 2 and result.requests == 7
    again = geocode_clusters(settings(geocoder, tickets, rate=200), quiet(), apply=True)
    assert again.requests == 1 and again.statuses["ok"] == 1  # the error was asked again


def test_slow_answers_wait_and_too_slow_ones_are_errors(geocoder, tickets, monkeypatch):
    geocoder.delay_s = 0.3
    slow = geocode_clusters(settings(geocoder, tickets, rate=200), quiet(), apply=True, limit=1)
    assert slow.statuses["ok"] == 1 and slow.requests == 1
    monkeypatch.setattr(providers, "TIMEOUT_S", 0.1)
    with pytest.raises(GeocoderError, match=r"5 request\(s\) in a row timed out"):  # no answer all run: a failed run
        geocode_clusters(settings(geocoder, tickets, rate=200), quiet(), apply=True, limit=1)
    assert entry(tickets, "geo_clusters", "Kisumu")[:2] == ("error", "gave up after 5 attempts (ReadTimeout)")


def test_a_provider_that_only_times_out_ends_the_run_after_three_places(geocoder, db_url, monkeypatch):
    add_tickets(db_url, [(f"D{n}", "Nairobi East", name, "true") for n, name in enumerate(
        ["Donholm", "Donholm", "Buruburu", "Embakasi", "Umoja", "Kayole", "Majengo"])])  # fmt: skip
    geocode_clusters(settings(geocoder, db_url, rate=500), quiet(), apply=True)
    geocode_locations(settings(geocoder, db_url, rate=500), quiet(), apply=True, limit=1)  # Donholm
    geocoder.delay_s = 0.5  # it still accepts connections, but answers nothing in time
    monkeypatch.setattr(providers, "TIMEOUT_S", 0.05)
    before = geocoder.requests
    result = CliRunner().invoke(app, ["geocode", "locations", "--apply"], env=env(geocoder, db_url, rate=500))
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: locationiq did not answer at 127.0.0.1: 15 request(s) in a row timed out after 0.05 s"
        " (check the provider's status page and the network); what was resolved is kept"
    )
    # the stand-in counts a request when its thread reads it, which on a loaded machine can be after
    # the client gave up on it: wait for the 15th, then no more came
    wait_until(lambda: geocoder.requests - before >= 15, "the stand-in never saw 15 requests")
    assert geocoder.requests - before == 15 and KEY not in result.output  # 3 places x 5 attempts, then stop
    assert positions(db_url)["D0"] == ("location", -1.296, 36.893)  # kept
    with psycopg.connect(db_url) as c:
        statuses = c.execute("SELECT status, count(*) FROM tickets.geo_locations GROUP BY 1 ORDER BY 1").fetchall()
    assert statuses == [("error", 3), ("ok", 1)]  # two more places never asked


def test_bad_key_stops_at_once_keeps_what_was_done_and_prints_no_secret(geocoder, tickets):
    geocoder.script = [(200, [{"lat": "-1.31", "lon": "36.78", "display_name": "Nairobi West"}]), (401, {})]
    result = CliRunner().invoke(app, ["geocode", "clusters", "--apply"], env=env(geocoder, tickets))
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: locationiq refused the request (HTTP 401): invalid API key (GEOCODER_API_KEY)"
    )
    assert geocoder.requests == 2  # stopped at once: the third cluster was never asked
    assert KEY not in result.output
    assert "re-resolved positions: 5 ticket(s) moved" in result.stdout  # the first answer was kept and used
    with psycopg.connect(tickets) as c:
        assert c.execute("SELECT count(*) FROM tickets.geo_clusters").fetchone()[0] == 1


def test_the_stand_in_refuses_a_wrong_key(geocoder, tickets):
    with pytest.raises(GeocoderError, match="invalid API key"):
        geocode_clusters(settings(geocoder, tickets, key="wrong"), quiet(), apply=True)
    with pytest.raises(GeocoderError, match="invalid API key"):
        geocode_clusters(settings(geocoder, tickets, "opencage", key="wrong"), quiet(), apply=True)


def test_daily_quota_stops_the_run(geocoder, tickets):
    geocoder.script = [(429, {"error": "Rate Limited Day"})]
    with pytest.raises(GeocoderError, match="daily request quota"):
        geocode_clusters(settings(geocoder, tickets), quiet(), apply=True)


def test_opencage_quota_stops(geocoder, tickets):
    geocoder.script = [(402, {"status": {"code": 402, "message": "quota exceeded"}})]
    with pytest.raises(GeocoderError, match=r"opencage refused the request \(HTTP 402\): the request quota"):
        geocode_clusters(settings(geocoder, tickets, "opencage"), quiet(), apply=True)


def test_an_unreachable_provider_ends_the_run_with_one_line(tickets):
    unreachable = {"DATABASE_URL": tickets, "GEOCODER_API_KEY": KEY, "GEOCODER_BASE_URL": "http://127.0.0.1:9"}
    result = CliRunner().invoke(app, ["geocode", "clusters", "--apply"], env={**unreachable, "GEOCODER_RATE": "500"})
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: locationiq could not be reached at 127.0.0.1: 15 request(s) in a row failed to connect"
        " (check GEOCODER_BASE_URL and the network); what was resolved is kept"
    )
    with psycopg.connect(tickets) as c:
        details = c.execute("SELECT DISTINCT status, detail FROM tickets.geo_clusters").fetchall()
    assert details == [("error", "gave up after 5 attempts (ConnectError)")] and KEY not in result.output


def test_a_provider_lost_for_a_short_run_still_fails_and_keeps_what_was_resolved(geocoder, tickets):
    geocode_clusters(settings(geocoder, tickets), quiet(), apply=True)
    gone = Settings(
        database_url=tickets, geocoder_api_key=KEY, geocoder_base_url="http://127.0.0.1:9", geocoder_rate=500
    )
    with pytest.raises(GeocoderError, match="5 request"):
        geocode_locations(gone, quiet(), apply=True, limit=1)
    assert positions(tickets)["T1"] == ("cluster", -1.31, 36.78)


def test_a_provider_going_down_mid_run_stops_it_after_three_places(geocoder, db_url):
    add_tickets(db_url, [(f"D{n}", "Nairobi East", name, "true") for n, name in enumerate(
        ["Donholm", "Donholm", "Buruburu", "Embakasi", "Umoja", "Kayole", "Majengo"])])  # fmt: skip
    geocode_clusters(settings(geocoder, db_url, rate=500), quiet(), apply=True)
    geocoder.down_after = 2  # the cluster, then Donholm (most tickets)
    with pytest.raises(GeocoderError, match=r": 15 request\(s\) in a row failed to connect"):
        geocode_locations(settings(geocoder, db_url, rate=500), quiet(), apply=True)
    assert positions(db_url)["D0"] == ("location", -1.296, 36.893)  # kept, and its tickets moved
    with psycopg.connect(db_url) as c:
        statuses = c.execute("SELECT status, count(*) FROM tickets.geo_locations GROUP BY 1 ORDER BY 1").fetchall()
    assert statuses == [("error", 3), ("ok", 1)]  # stopped after three places: three more never asked


def test_missing_key_is_one_line(tickets):
    result = CliRunner().invoke(app, ["geocode", "clusters", "--apply"], env={"DATABASE_URL": tickets})
    assert result.exit_code == 1 and result.stderr.startswith("error: GEOCODER_API_KEY is not set")


# -- typo-tolerant reuse -----------------------------------------------------------------------------


def test_a_misspelt_place_takes_the_known_places_point_as_a_match_with_no_extra_request(geocoder, tickets):
    add_tickets(
        tickets,
        [
            ("S1", "Nairobi West", "NW_Kileleswa_FDT_04", "true"),  # a letter dropped
            ("S2", "Kisumu", "Milimani B", "true"),  # a trailing letter
            ("S3", "Kisumu", "NW_Kwa Reuben", "true"),  # nothing like it is known in Kisumu
        ],
    )
    geocode_clusters(settings(geocoder, tickets), quiet(), apply=True)
    result = geocode_locations(settings(geocoder, tickets), quiet(), apply=True)
    # each place asked once, as any new place is; the reuse asks nothing
    assert sorted(geocoder.queries()[3:]) == [
        "Kileleshwa",
        "Kileleswa",
        "Kwa Reuben",
        "Lavington",
        "Milimani",
        "Milimani",
        "Milimani B",
    ]
    assert result.matched == 2 and "matched=2" in result.summary()
    got = positions(tickets)
    assert got["S1"] == got["T1"] == ("location", -1.281, 36.783)
    assert got["S2"] == got["T6"] == ("location", -0.101, 34.757)
    assert got["S3"] == ("cluster", -0.092, 34.768)
    with psycopg.connect(tickets) as c:
        row = c.execute(
            "SELECT provider, match_of, verified, detail FROM tickets.geo_locations WHERE query = %s",
            ("kileleswa, nairobi west, kenya",),
        ).fetchone()
    assert row[:3] == ("match", "kileleshwa, nairobi west, kenya", False)
    assert row[3].startswith("match of 'Kileleshwa' (similarity 0.6")
    again = geocode_locations(settings(geocoder, tickets), quiet(), apply=True, retry_failed=True)
    assert again.requests == 1 and again.matched == 0  # only Kwa Reuben is asked again; the match is final


def test_a_reuse_never_crosses_clusters_nor_the_guard_nor_a_verified_entry(geocoder, tickets):
    add_tickets(
        tickets,
        [
            ("X1", "Kisumu", "Lavingtone", "true"),  # Lavington is known, in Nairobi West only
            ("X2", "Nairobi West", "Karenn", "true"),  # Karen: set by hand 40 km away
            ("X3", "Nakuru", "Milimanii", "true"),  # verified as not found: left alone
        ],
    )
    geocode_clusters(settings(geocoder, tickets), quiet(), apply=True)
    with psycopg.connect(tickets, autocommit=True) as c:
        for key, place, cluster in [
            ("karen, nairobi west, kenya", "Karen", "Nairobi West"),
            ("milimanii, nakuru, kenya", "Milimanii", "Nakuru"),
        ]:
            c.execute(
                "SELECT tickets.save_location(%s, %s, %s, 'test', 'not_found', NULL, NULL, NULL, NULL, NULL,"
                " %s, 2::smallint)",
                (key, place, cluster, [place]),
            )
        c.execute("SELECT tickets.set_entry_point('location', 'karen, nairobi west, kenya', 36.40, -1.31)")
        c.execute("SELECT tickets.verify_entry('location', 'milimanii, nakuru, kenya')")
    result = geocode_locations(settings(geocoder, tickets), quiet(), apply=True)
    assert "Milimanii" not in geocoder.queries() and result.matched == 0
    got = positions(tickets)
    assert got["X1"][0] == got["X2"][0] == got["X3"][0] == "cluster"
