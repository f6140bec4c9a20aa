"""Geocoding against a local HTTP server speaking LocationIQ's and OpenCage's formats."""

from __future__ import annotations

import itertools
import json
import time

import psycopg
import pytest
from typer.testing import CliRunner
from werkzeug import Request, Response

from fleettickets.cli import app
from fleettickets.config import Settings
from fleettickets.devgeocoder import places
from fleettickets.errors import GeocoderError
from fleettickets.geocode.providers import RateLimiter
from fleettickets.geocode.run import geocode_clusters, geocode_locations
from tests.helpers import insert_ticket, quiet

KEY = "sekrit-key-0123456789"


class FakeProvider:
    """Knows every cluster and place of the generator; `naive` answers ignore the context (the
    first place of that name anywhere), as a real provider may. `script` queues special answers."""

    def __init__(self, httpserver) -> None:
        self.hits: list[tuple[float, str]] = []
        self.script: list[tuple[int, object]] = []
        self.naive = False
        self.known, self.first_by_name = places()
        httpserver.expect_request("/v1/search").respond_with_handler(self.locationiq)
        httpserver.expect_request("/geocode/v1/json").respond_with_handler(self.opencage)
        self.base = httpserver.url_for("/").rstrip("/")

    def answer(self, request: Request) -> tuple[int, object] | tuple[float, float, str] | None:
        query = request.args.get("q", "")
        self.hits.append((time.monotonic(), query))
        if self.script:
            return self.script.pop(0)
        if self.naive:
            return self.first_by_name.get(query.split(",")[0].strip().lower())
        return self.known.get(query.lower())

    def locationiq(self, request: Request) -> Response:
        assert request.args["key"] == KEY and request.args["countrycodes"] == "ke"
        found = self.answer(request)
        if found is None:
            return Response(json.dumps({"error": "Unable to geocode"}), 404, content_type="application/json")
        if isinstance(found[0], int):
            return Response(json.dumps(found[1]), found[0], content_type="application/json")
        lng, lat, name = found
        body = [{"lat": str(lat), "lon": str(lng), "display_name": name, "class": "place"}]
        return Response(json.dumps(body), 200, content_type="application/json")

    def opencage(self, request: Request) -> Response:
        assert request.args["key"] == KEY and request.args["countrycode"] == "ke"
        found = self.answer(request)
        if found is not None and isinstance(found[0], int):
            return Response(json.dumps(found[1]), found[0], content_type="application/json")
        results = [] if found is None else [{"geometry": {"lat": found[1], "lng": found[0]}, "formatted": found[2]}]
        body = {"results": results, "status": {"code": 200, "message": "OK"}}
        return Response(json.dumps(body), 200, content_type="application/json")

    def settings(self, url: str, provider: str = "locationiq", rate: float = 50) -> Settings:
        return Settings(
            database_url=url,
            geocoder_provider=provider,
            geocoder_api_key=KEY,
            geocoder_base_url=self.base,
            geocoder_rate=rate,
        )

    def env(self, url: str, rate: float = 50) -> dict[str, str]:
        return {
            "DATABASE_URL": url,
            "GEOCODER_API_KEY": KEY,
            "GEOCODER_BASE_URL": self.base,
            "GEOCODER_RATE": str(rate),
        }

    def queries(self) -> list[str]:
        return [q for _, q in self.hits]


@pytest.fixture
def provider(httpserver) -> FakeProvider:
    return FakeProvider(httpserver)


@pytest.fixture
def tickets(db_url) -> str:
    """Open tickets over three clusters, with the spellings the field crews use."""
    with psycopg.connect(db_url, autocommit=True) as c:
        for tid, cluster, name, open_ in [
            ("T1", "Nairobi West", "NW_Kileleshwa_FDT_03", "true"),
            ("T2", "Nairobi West", "ADR_MNT_KILELESHWA SDUS3", "true"),
            ("T3", "Nairobi West", "Kileleshwa FDT7", "true"),
            ("T4", "Nairobi West", "NW_Lavington", "true"),
            ("T5", "Nakuru", "NW_Milimani_FDT_02", "true"),
            ("T6", "Kisumu", "Milimani SDUS 4", "true"),
            ("T7", "Kisumu", "FDT_12", "true"),  # nothing but codes
            ("T8", "Nairobi West", "NW_Karen", "false"),  # closed: no precise geocoding
        ]:
            insert_ticket(c, tid, cluster=cluster, location_name=name, is_actionable=open_)
    return db_url


def positions(url: str) -> dict[str, tuple[str, float | None, float | None]]:
    with psycopg.connect(url) as c:
        rows = c.execute(
            "SELECT ticket_id, geo_source, round(latitude::numeric, 4)::float8,"
            " round(longitude::numeric, 4)::float8 FROM tickets.inc ORDER BY 1"
        ).fetchall()
    return {r[0]: r[1:] for r in rows}


def test_clusters_then_locations_position_every_open_ticket(provider, tickets):
    settings = provider.settings(tickets)
    clusters = geocode_clusters(settings, quiet(), apply=True)
    assert (clusters.distinct, clusters.to_ask, clusters.statuses["ok"]) == (3, 3, 3)
    assert positions(tickets)["T1"] == ("cluster", -1.31, 36.78)
    locations = geocode_locations(settings, quiet(), apply=True)
    # Kileleshwa x3 spellings -> one request; Lavington; Milimani twice (two clusters, two places)
    assert sorted(provider.queries()[3:]) == [
        "Kileleshwa, Nairobi West, Kenya",
        "Lavington, Nairobi West, Kenya",
        "Milimani, Kisumu, Kenya",
        "Milimani, Nakuru, Kenya",
    ]
    assert locations.statuses["ok"] == 4 and locations.skipped["name is only codes: tickets"] == 1
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
        sla = c.execute(
            "SELECT round(ST_Y(geog::geometry)::numeric, 3)::float8 FROM tickets.inc_open_sla WHERE ticket_id = 'T5'"
        ).fetchone()[0]
        assert sla == -0.293


def test_second_run_sends_nothing_and_waits_for_nothing(provider, tickets, monkeypatch):
    geocode_clusters(provider.settings(tickets), quiet(), apply=True)
    geocode_locations(provider.settings(tickets), quiet(), apply=True)
    before = len(provider.hits)
    waits = []
    monkeypatch.setattr(RateLimiter, "wait", lambda self: waits.append(1))
    again = geocode_locations(provider.settings(tickets, rate=2), quiet(), apply=True)
    clusters = geocode_clusters(provider.settings(tickets, rate=2), quiet(), apply=True)
    assert len(provider.hits) == before
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


def test_wrong_city_result_is_rejected_and_the_ticket_keeps_its_cluster_point(provider, tickets):
    geocode_clusters(provider.settings(tickets), quiet(), apply=True)
    provider.naive = True  # 'Milimani' -> the first Milimani, in Kisumu, whatever the context
    result = geocode_locations(provider.settings(tickets), quiet(), apply=True)
    assert result.statuses["rejected"] == 1
    got = positions(tickets)
    assert got["T5"] == ("cluster", -0.303, 36.08)  # Nakuru's point, not Kisumu's Milimani
    with psycopg.connect(tickets) as c:
        status, distance, detail = c.execute(
            "SELECT status, distance_km, detail FROM tickets.geo_locations WHERE query = 'milimani, nakuru, kenya'"
        ).fetchone()
    assert status == "rejected" and 140 < distance < 160 and "guard 25 km" in detail
    with psycopg.connect(tickets) as c:
        accepted = c.execute("SELECT max(distance_km) FROM tickets.geo_locations WHERE status = 'ok'").fetchone()[0]
    assert accepted <= 25


def test_not_found_is_cached_and_asked_again_only_with_retry_failed(provider, tickets):
    geocode_clusters(provider.settings(tickets), quiet(), apply=True)
    provider.known.pop("lavington, nairobi west, kenya")
    first = geocode_locations(provider.settings(tickets), quiet(), apply=True)
    assert first.statuses["not_found"] == 1
    assert positions(tickets)["T4"][0] == "cluster"
    assert geocode_locations(provider.settings(tickets), quiet(), apply=True).requests == 0
    provider.known["lavington, nairobi west, kenya"] = (36.769, -1.279, "Lavington")
    retried = geocode_locations(provider.settings(tickets), quiet(), apply=True, retry_failed=True)
    assert retried.requests == 1 and retried.statuses["ok"] == 1
    assert positions(tickets)["T4"] == ("location", -1.279, 36.769)


def test_429_without_retry_after_is_retried(provider, tickets):
    provider.script = [(429, {"error": "Rate Limited Second"}), (429, {"error": "Rate Limited Minute"})]
    result = geocode_clusters(provider.settings(tickets), quiet(), apply=True, limit=1)
    assert result.statuses["ok"] == 1 and result.requests == 3


def test_server_errors_give_up_as_error_which_is_not_final(provider, tickets):
    provider.script = [(500, {})] * 5
    result = geocode_clusters(provider.settings(tickets, rate=200), quiet(), apply=True)
    assert result.statuses["error"] == 1 and result.statuses["ok"] == 2 and result.requests == 7
    again = geocode_clusters(provider.settings(tickets, rate=200), quiet(), apply=True)
    assert again.requests == 1 and again.statuses["ok"] == 1  # the error was asked again


def test_bad_key_stops_at_once_keeps_what_was_done_and_prints_no_secret(provider, tickets):
    provider.script = [
        (200, [{"lat": "-1.31", "lon": "36.78", "display_name": "Nairobi West"}]),
        (401, {"error": "Invalid key"}),
    ]
    result = CliRunner().invoke(app, ["geocode", "clusters", "--apply"], env=provider.env(tickets))
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: locationiq refused the request (HTTP 401): invalid API key (GEOCODER_API_KEY)"
    )
    assert len(provider.hits) == 2  # stopped at once: the third cluster was never asked
    assert KEY not in result.output
    assert "re-resolved positions: 5 ticket(s) moved" in result.stdout  # the first answer was kept and used
    with psycopg.connect(tickets) as c:
        assert c.execute("SELECT count(*) FROM tickets.geo_clusters").fetchone()[0] == 1


def test_daily_quota_stops_the_run(provider, tickets):
    provider.script = [(429, {"error": "Rate Limited Day"})]
    with pytest.raises(GeocoderError, match="daily request quota"):
        geocode_clusters(provider.settings(tickets), quiet(), apply=True)


def test_the_rate_limit_holds_across_the_run(provider, tickets):
    geocode_clusters(provider.settings(tickets, rate=8), quiet(), apply=True)
    geocode_locations(provider.settings(tickets, rate=8), quiet(), apply=True)
    times = [t for t, _ in provider.hits]
    assert len(times) == 7
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps[3:]) >= 0.9 / 8  # within one run, starts are at least 1/rate apart


def test_limit_caps_the_requests(provider, tickets):
    geocode_clusters(provider.settings(tickets), quiet(), apply=True)
    result = geocode_locations(provider.settings(tickets), quiet(), apply=True, limit=1)
    assert result.requests == 1 and result.to_ask == 1
    assert provider.queries()[-1] == "Kileleshwa, Nairobi West, Kenya"  # the place with most tickets first


def test_dry_run_sends_nothing_and_says_what_it_would_do(provider, tickets):
    result = CliRunner().invoke(app, ["geocode", "clusters"], env=provider.env(tickets, rate=1))
    assert result.exit_code == 0, result.output
    assert "clusters: 3 distinct, 0 cached, 3 to ask; dry run: would send about 3 request(s), ~3 s at 1/s" in (
        result.stdout
    )
    assert result.stdout.strip().splitlines()[-1].startswith("dry-run clusters: distinct=3 cached=0 asked=3 requests=0")
    assert provider.hits == []
    locations = CliRunner().invoke(app, ["geocode", "locations"], env=provider.env(tickets))
    assert "4 skipped (cluster not geocoded)" in locations.stdout and provider.hits == []


def test_verified_entries_are_never_overwritten(provider, tickets):
    geocode_clusters(provider.settings(tickets), quiet(), apply=True)
    provider.known.pop("lavington, nairobi west, kenya")
    geocode_locations(provider.settings(tickets), quiet(), apply=True)
    env = provider.env(tickets)
    fixed = CliRunner().invoke(
        app,
        ["gazetteer", "set", "location", "lavington, nairobi west, kenya", "--lat", "-1.2795", "--lng", "36.7695"],
        env=env,
    )
    assert fixed.exit_code == 0, fixed.output
    assert "(verified); 1 ticket(s) moved" in fixed.stdout
    assert positions(tickets)["T4"] == ("location", -1.2795, 36.7695)
    provider.known["lavington, nairobi west, kenya"] = (30.0, 0.0, "elsewhere")
    result = geocode_locations(provider.settings(tickets), quiet(), apply=True, retry_failed=True)
    assert result.requests == 0 and positions(tickets)["T4"] == ("location", -1.2795, 36.7695)
    listing = CliRunner().invoke(app, ["gazetteer", "list", "--kind", "location", "--unverified"], env=env)
    assert "lavington" not in listing.stdout and listing.stdout.strip().endswith("3 entries")
    verify = CliRunner().invoke(app, ["gazetteer", "verify", "cluster", "Nakuru"], env=env)
    assert verify.exit_code == 0 and "verified cluster 'Nakuru'" in verify.stdout
    missing = CliRunner().invoke(app, ["gazetteer", "verify", "cluster", "Atlantis"], env=env)
    assert missing.exit_code == 1 and "no cluster entry 'Atlantis'" in missing.stderr


def test_opencage_format(provider, tickets):
    settings = provider.settings(tickets, provider="opencage")
    geocode_clusters(settings, quiet(), apply=True)
    provider.known.pop("lavington, nairobi west, kenya")
    result = geocode_locations(settings, quiet(), apply=True)
    assert result.statuses["ok"] == 3 and result.statuses["not_found"] == 1
    assert positions(tickets)["T1"] == ("location", -1.281, 36.783)


def test_opencage_quota_stops(provider, tickets):
    provider.script = [(402, {"status": {"code": 402, "message": "quota exceeded"}})]
    with pytest.raises(GeocoderError, match=r"opencage refused the request \(HTTP 402\): the request quota"):
        geocode_clusters(provider.settings(tickets, provider="opencage"), quiet(), apply=True)


def test_cluster_outside_kenya_is_rejected(provider, tickets):
    provider.known["nakuru, kenya"] = (32.58, 0.35, "Kampala, Uganda")
    result = geocode_clusters(provider.settings(tickets), quiet(), apply=True)
    assert result.statuses["rejected"] == 1 and positions(tickets)["T5"] == ("none", None, None)


def test_unreachable_provider_is_an_error_outcome_and_no_secret_leaks(tickets):
    settings = Settings(
        database_url=tickets, geocoder_api_key=KEY, geocoder_base_url="http://127.0.0.1:9", geocoder_rate=500
    )
    result = geocode_clusters(settings, quiet(), apply=True, limit=1)
    assert result.statuses["error"] == 1
    with psycopg.connect(tickets) as c:
        detail = c.execute("SELECT detail FROM tickets.geo_clusters").fetchone()[0]
    assert detail == "gave up after 5 attempts (ConnectError)" and KEY not in detail


def test_missing_key_is_one_line(tickets):
    result = CliRunner().invoke(app, ["geocode", "clusters", "--apply"], env={"DATABASE_URL": tickets})
    assert result.exit_code == 1 and result.stderr.startswith("error: GEOCODER_API_KEY is not set")
