"""The review queue (tickets.review_queue, `fleettickets review --list`) and the page's writes."""

from __future__ import annotations

import functools
import http.server
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from typer.testing import CliRunner

from devtools import review_page
from devtools.geocoder import DevGeocoder, Feature
from fleettickets.cli import app
from fleettickets.geocode.run import geocode_clusters, geocode_locations
from fleettickets.review import queue, server
from tests.helpers import KEY, add_tickets, env, quiet, settings


@pytest.fixture
def geocoder() -> Iterator[DevGeocoder]:
    with DevGeocoder(key=KEY) as g:
        yield g


@pytest.fixture
def reviewed(geocoder, db_url) -> str:
    """Nairobi West and Nakuru geocoded, with one label of each kind the queue lists."""
    rows = [
        ("A1", "Nairobi West", "NW_Kileleshwa", "true"),
        ("A2", "Nairobi West", "Lavington FDT3", "true"),
        ("A3", "Nairobi West", "Kilimani", "true"),
        ("B1", "Nairobi West", "NW_Kwa Reuben_FDT_02", "true"),  # no map knows it
        ("B2", "Nairobi West", "Kwa Reuben", "true"),
        ("B3", "Nairobi West", "ADR_MNT_Kwa Reuben", "true"),
        ("B4", "Nairobi West", "Kwa Reuben", "false"),  # closed: not counted
        ("C1", "Nairobi West", "NW_FDT_07", "true"),  # codes only
        ("C2", "Nairobi West", "NW_FDT_07", "true"),
        ("D1", "Nairobi West", "Kileleswa", "true"),  # a reuse of Kileleshwa
        ("E1", "Nairobi West", "Ngong", "true"),  # a real town, 15 km out: far from the others
        ("F1", "Nakuru", "NW_Milimani", "true"),  # only beyond the guard: rejected
    ]
    add_tickets(db_url, rows)
    geocode_clusters(settings(geocoder, db_url), quiet(), apply=True)
    geocoder.forget("Milimani")
    geocoder.world.append(Feature("Milimani", "suburb", 36.30, -0.52, ("Nakuru", "Nakuru County", "Kenya"), 0.3))
    geocode_locations(settings(geocoder, db_url), quiet(), apply=True)
    return db_url


def test_the_queue_lists_each_kind_of_unplaced_label_most_open_tickets_first(reviewed):
    with psycopg.connect(reviewed) as c:
        got = queue.entries(c)
    assert [(e.key, e.reason, e.tickets, e.off_location) for e in got] == [
        ("kwa reuben, nairobi west, kenya", "not_found", 3, 3),
        ("nw_fdt_07, nairobi west, kenya", "codes_only", 2, 2),
        ("milimani, nakuru, kenya", "rejected", 1, 1),
        ("kileleswa, nairobi west, kenya", "match", 1, 0),  # already at a location point: after
        ("ngong, nairobi west, kenya", "far", 1, 0),
    ]
    first, _, rejected, match, far = got
    assert (first.cluster, first.cluster_latitude, first.cluster_longitude) == ("Nairobi West", -1.31, 36.78)
    assert first.latitude is None and first.candidates == []
    assert match.detail.startswith("match of 'Kileleshwa'") and match.latitude == pytest.approx(-1.281)
    assert rejected.candidates == [
        {
            "name": "Milimani, Nakuru, Nakuru County, Kenya",
            "kind": "place/suburb",
            "lng": 36.3,
            "lat": -0.52,
            "km": 34.36,
        }
    ]
    assert far.provider == "locationiq" and far.candidates[0]["name"].startswith("Ngong")


def test_a_code_only_label_is_a_place_of_its_own_never_asked(geocoder, reviewed):
    assert not any("FDT" in q for q in geocoder.queries())
    again = geocode_locations(settings(geocoder, reviewed), quiet(), apply=True, retry_failed=True)
    assert not any("FDT" in q for q in geocoder.queries()) and again.matched == 0


def test_a_placed_or_confirmed_label_leaves_the_queue(geocoder, reviewed):
    environ = env(geocoder, reviewed)
    runner = CliRunner()
    placed = runner.invoke(
        app,
        ["gazetteer", "set", "location", "nw_fdt_07, nairobi west, kenya", "--lat", "-1.30", "--lng", "36.79"],
        env=environ,
    )
    assert placed.exit_code == 0 and "2 ticket(s) moved" in placed.stdout
    assert (
        runner.invoke(app, ["gazetteer", "verify", "location", "kileleswa, nairobi west, kenya"], env=environ).exit_code
        == 0
    )
    listing = runner.invoke(app, ["review", "--list", "--limit", "2"], env=environ)
    assert listing.exit_code == 0, listing.output
    lines = listing.stdout.strip().splitlines()
    assert lines[-1] == "2 entries to review"
    assert lines[0].split()[:3] == ["3", "not_found", "Nairobi"]
    assert "kwa reuben, nairobi west, kenya" in lines[0] and "rejected" in lines[1]
    assert "fdt_07" not in listing.stdout and "kileleswa" not in listing.stdout


def test_gazetteer_set_refuses_a_location_outside_kenya_or_beyond_the_guard(geocoder, reviewed):
    environ = env(geocoder, reviewed)
    key = "kwa reuben, nairobi west, kenya"
    for lat, lng, message in [
        ("-6.80", "39.27", "error: refused: -6.80000, 39.27000 is outside Kenya"),
        ("-1.31", "36.40", "error: refused: -1.31000, 36.40000 is 42.2 km from the Nairobi West point (guard 25 km)"),
    ]:
        result = CliRunner().invoke(app, ["gazetteer", "set", "location", key, "--lat", lat, "--lng", lng], env=environ)
        assert result.exit_code == 1 and result.output.strip() == message
    with psycopg.connect(reviewed) as c:
        assert c.execute("SELECT verified FROM tickets.geo_locations WHERE query = %s", (key,)).fetchone() == (False,)


# -- the page's server -------------------------------------------------------------------------------


@pytest.fixture
def page(reviewed) -> Iterator[tuple[str, server.Review]]:
    """The review page on a free loopback port, no tiles (no test reaches the internet)."""
    review = server.Review(reviewed, server.new_token(), tiles="")
    with review_page.running(review) as base:
        yield base, review


def state(url: str, key: str) -> dict:
    with psycopg.connect(url) as c:
        return c.execute("SELECT tickets.location_entry(%s)", (key,)).fetchone()[0]


def test_every_request_needs_the_token_and_a_write_needs_it_in_the_header(page):
    base, review = page
    for path in ("/", "/api/queue", "/static/review.js", "/static/leaflet/leaflet.js"):
        assert httpx.get(base + path).status_code == 403, path
        assert httpx.get(base + path, params={"token": "wrong"}).status_code == 403, path
        assert httpx.get(base + path, params={"token": review.token}).status_code == 200, path
    body = {"key": "kwa reuben, nairobi west, kenya", "lat": -1.30, "lng": 36.79}
    cookie = {server.COOKIE: review.token}
    refused = httpx.post(base + "/api/place", json=body, params={"token": review.token}, cookies=cookie)
    assert refused.status_code == 403 and "header" in refused.json()["error"]
    preflight = httpx.request("OPTIONS", base + "/api/place", headers={"Origin": "https://evil.example"})
    assert preflight.status_code in (403, 405) and "access-control-allow-origin" not in preflight.headers
    assert review.undo == []


def test_a_placement_moves_the_tickets_and_undo_puts_the_entry_back(page, reviewed):
    base, review = page
    key = "kwa reuben, nairobi west, kenya"
    before = state(reviewed, key)
    headers = {server.HEADER: review.token}
    for lat, lng, problem in [(-6.8, 39.27, "outside Kenya"), (-1.31, 36.40, "guard 25 km")]:
        refused = httpx.post(base + "/api/place", json={"key": key, "lat": lat, "lng": lng}, headers=headers)
        assert refused.status_code == 422 and problem in refused.json()["error"]
    placed = httpx.post(base + "/api/place", json={"key": key, "lat": -1.2950, "lng": 36.7700}, headers=headers)
    assert placed.json() == {"moved": 4, "undo": 1}  # the closed ticket of that name too
    after = state(reviewed, key)
    assert (after["status"], after["provider"], after["verified"]) == ("ok", "manual", True)
    queue_now = httpx.get(base + "/api/queue", headers=headers).json()
    assert key not in [e["key"] for e in queue_now["entries"]] and queue_now["undo"] == 1
    with psycopg.connect(reviewed) as c:
        assert c.execute(
            "SELECT count(*) FROM tickets.review_tickets(%s) WHERE geo_source = 'location'", (key,)
        ).fetchone() == (3,)
    undone = httpx.post(base + "/api/undo", headers=headers)
    assert undone.json() == {"moved": 4, "key": key, "undo": 0}
    assert state(reviewed, key) == before
    assert httpx.post(base + "/api/undo", headers=headers).status_code == 409


def test_the_page_never_carries_the_database_password(page, reviewed):
    base, review = page
    password = psycopg.conninfo.conninfo_to_dict(reviewed)["password"]
    for path in ("/", "/api/queue", "/api/tickets?key=x"):
        assert password not in httpx.get(base + path, params={"token": review.token}).text


# -- the page in a real browser: Debian's chromium (scripts/lib.sh installs it), driven by playwright ---

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "review.png"


@pytest.fixture
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), "Debian's chromium is missing: apt-get install chromium (./scripts/test does)"
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        yield launched
        launched.close()


def click_map_at(tab: Page, lat: float, lng: float) -> None:
    """A real click on the map where (lat, lng) is drawn."""
    x, y = tab.evaluate(
        "([lat, lng]) => { const p = map.latLngToContainerPoint([lat, lng]); return [p.x, p.y]; }", [lat, lng]
    )
    tab.click("#map", position={"x": x, "y": y})


def test_in_chromium_the_page_lists_places_confirms_and_undoes(browser, page, reviewed):
    base, review = page
    tab = browser.new_page(viewport={"width": 1280, "height": 760})
    refused = tab.goto(base + "/")
    assert refused.status == 403 and "forbidden" in tab.content()
    tab.goto(f"{base}/?token={review.token}")
    tab.wait_for_selector("#queue li.selected")
    tab.wait_for_load_state("networkidle")  # the selected entry's tickets drawn too
    assert tab.locator("#queue li").count() == 5
    assert "Kwa Reuben" in tab.locator("#queue li.selected").inner_text()
    key = "kwa reuben, nairobi west, kenya"
    before = state(reviewed, key)

    click_map_at(tab, -1.2950, 36.7700)
    assert tab.locator("#confirm").is_enabled()
    tab.screenshot(path=str(SCREENSHOT))
    tab.click("#confirm")
    tab.wait_for_function("document.getElementById('status').textContent.startsWith('placed')")
    assert tab.locator("#status").inner_text() == "placed: 4 ticket(s) moved"
    after = state(reviewed, key)
    assert after["verified"] and after["provider"] == "manual"
    assert tab.locator("#queue li").count() == 4
    assert "FDT_07" in tab.locator("#queue li.selected").inner_text().upper()  # the queue moved on

    tab.click("#undo")
    tab.wait_for_function("document.getElementById('status').textContent.startsWith('undone')")
    assert state(reviewed, key) == before and tab.locator("#queue li").count() == 5

    tab.evaluate("map.setView([-1.31, 36.6], 9, {animate: false})")
    click_map_at(tab, -1.31, 36.40)  # beyond the guard: refused with the reason, nothing written
    tab.click("#confirm")
    tab.wait_for_selector("#status.error")
    assert "guard 25 km" in tab.locator("#status").inner_text() and state(reviewed, key) == before


def test_in_chromium_a_cross_site_form_post_changes_nothing(browser, page, reviewed, tmp_path):
    base, review = page
    tab = browser.new_page()
    tab.goto(f"{base}/?token={review.token}")  # the reviewer's cookie is set in this browser
    tab.wait_for_selector("#queue li.selected")
    key = "kwa reuben, nairobi west, kenya"
    before = state(reviewed, key)
    (tmp_path / "index.html").write_text(
        f'<form id="f" method="post" action="{base}/api/place?token={review.token}"'
        ' enctype="text/plain"><input name=\'{"key": "kwa reuben, nairobi west, kenya", "lat": -1.29, "lng": 36.77,'
        ' "x": "\' value=\'"}\'></form><script>document.getElementById("f").submit()</script>'
    )
    other = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    )
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        with tab.expect_navigation(url=f"{base}/api/place*"):
            tab.goto(f"http://localhost:{other.server_address[1]}/index.html")
        assert "forbidden" in tab.content()
    finally:
        other.shutdown()
    assert state(reviewed, key) == before and review.undo == []


def test_review_on_a_port_in_use_is_one_line(geocoder, db_url):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = CliRunner().invoke(app, ["review", "--port", str(port)], env=env(geocoder, db_url))
    assert result.exit_code == 1
    assert result.output.strip() == f"error: cannot listen on 127.0.0.1:{port}: Address already in use"


def test_review_serves_on_loopback_and_prints_the_url_with_its_token_never_the_password(geocoder, reviewed):
    environ = {**os.environ, **env(geocoder, reviewed)}
    command = [sys.executable, "-m", "fleettickets", "review", "--port", "0", "--tiles", ""]
    with subprocess.Popen(command, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as served:
        try:
            line = served.stdout.readline().strip()
            url = line.split()[2]
            assert line.startswith("review page: http://127.0.0.1:") and "?token=" in url
            assert httpx.get(url).status_code == 200
            assert httpx.get(url.split("?")[0]).status_code == 403
        finally:
            served.terminate()
            out, err = served.communicate(timeout=10)
    password = psycopg.conninfo.conninfo_to_dict(reviewed)["password"]
    assert password not in line + out + err
