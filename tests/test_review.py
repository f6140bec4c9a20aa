"""The review queue (tickets.review_queue, `fleettickets review --list`) and the page's writes."""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from typer.testing import CliRunner

from devtools import review_page
from devtools.geocoder import Feature
from fleettickets.cli import app
from fleettickets.errors import FleetError
from fleettickets.geocode import gazetteer
from fleettickets.geocode.run import geocode_clusters, geocode_locations
from fleettickets.review import queue, server
from tests.helpers import add_tickets, env, quiet, settings


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


KWA = "kwa reuben, nairobi west, kenya"
CODES = "nw_fdt_07, nairobi west, kenya"


def role_of(url: str) -> str:
    return psycopg.conninfo.conninfo_to_dict(url)["user"]


def state(url: str, key: str, kind: str = "location") -> dict:
    """The entry as stored, whole (the trail's before and after are these)."""
    with psycopg.connect(url) as c:
        return c.execute("SELECT tickets.gazetteer_row(%s, %s)", (kind, key)).fetchone()[0]


def test_a_placed_or_confirmed_label_leaves_the_queue(geocoder, reviewed):
    environ = env(geocoder, reviewed)
    runner = CliRunner()
    placed = runner.invoke(
        app, ["gazetteer", "set", "location", CODES, "--lat", "-1.30", "--lng", "36.79"], env=environ
    )
    assert placed.exit_code == 0 and "(verified); 2 ticket(s) moved (placement #1)" in placed.stdout
    verified = runner.invoke(app, ["gazetteer", "verify", "location", "kileleswa, nairobi west, kenya"], env=environ)
    assert verified.exit_code == 0 and "(placement #2)" in verified.stdout
    listing = runner.invoke(app, ["review", "--list", "--limit", "2"], env=environ)
    assert listing.exit_code == 0, listing.output
    lines = listing.stdout.strip().splitlines()
    assert lines[-1] == "2 entries to review"
    assert lines[1].split()[:4] == ["3", "3", "not_found", "Nairobi"]
    assert KWA in lines[1] and "rejected" in lines[2]
    assert "fdt_07" not in listing.stdout and "kileleswa" not in listing.stdout


def test_review_list_prints_the_number_it_sorts_by(geocoder, reviewed):
    listing = CliRunner().invoke(app, ["review", "--list"], env=env(geocoder, reviewed))
    header, *rows, summary = listing.stdout.strip().splitlines()
    assert header.split()[:3] == ["off", "open", "reason"] and summary == "5 entries to review"
    # off: open tickets away from a location point, the order; open: all of the label's open tickets
    assert [tuple(row.split()[:3]) for row in rows] == [
        ("3", "3", "not_found"),
        ("2", "2", "codes_only"),
        ("1", "1", "rejected"),
        ("0", "1", "match"),  # one open ticket, already at the reused point: after those that move
        ("0", "1", "far"),
    ]


def test_gazetteer_list_shows_the_provider_and_where_a_reuse_came_from(geocoder, reviewed):
    listing = CliRunner().invoke(app, ["gazetteer", "list", "--kind", "location"], env=env(geocoder, reviewed))
    assert listing.exit_code == 0, listing.output
    lines = {
        key: line
        for line in listing.stdout.splitlines()
        for key in ["kileleswa", "ngong", "nw_fdt_07"]
        if f" {key}, " in line
    }
    assert lines["kileleswa"].split()[:4] == ["location", "ok", "unverified", "match"]
    assert "match of 'kileleshwa, nairobi west, kenya'" in lines["kileleswa"]
    assert lines["ngong"].split()[:4] == ["location", "ok", "unverified", "locationiq"]
    assert lines["nw_fdt_07"].split()[3] == "codes"


def test_gazetteer_set_refuses_a_location_outside_kenya_or_beyond_the_guard(geocoder, reviewed):
    environ = env(geocoder, reviewed)
    for lat, lng, message in [
        ("-6.80", "39.27", "error: refused: -6.80000, 39.27000 is outside Kenya"),
        ("-1.31", "36.40", "error: refused: -1.31000, 36.40000 is 42.2 km from the Nairobi West point (guard 25 km)"),
    ]:
        result = CliRunner().invoke(app, ["gazetteer", "set", "location", KWA, "--lat", lat, "--lng", lng], env=environ)
        assert result.exit_code == 1 and result.output.strip() == message
    with psycopg.connect(reviewed) as c:
        assert c.execute("SELECT verified FROM tickets.geo_locations WHERE query = %s", (KWA,)).fetchone() == (False,)
        assert c.execute("SELECT count(*) FROM tickets.placements").fetchone() == (0,)


# -- the trail: every hand change is a placement, undo is "revert placement N" ------------------------


def test_every_hand_change_is_a_placement_with_who_when_before_and_after(geocoder, reviewed):
    environ = env(geocoder, reviewed)
    runner = CliRunner()
    role = role_of(reviewed)
    match = "kileleswa, nairobi west, kenya"
    before = state(reviewed, KWA)
    assert (
        runner.invoke(
            app,
            ["gazetteer", "set", "location", KWA, "--lat", "-1.2950", "--lng", "36.7700", "--reviewer", "Amina"],
            env=environ,
        ).exit_code
        == 0
    )
    after = state(reviewed, KWA)
    assert runner.invoke(app, ["gazetteer", "verify", "location", match], env=environ).exit_code == 0
    again = runner.invoke(app, ["gazetteer", "verify", "location", match], env=environ)
    assert again.exit_code == 0 and "verified already: nothing recorded" in again.stdout
    with psycopg.connect(reviewed) as c:
        trail = c.execute(
            "SELECT id, kind, key, action, reverts, db_role, reviewer, before, after,"
            " placed_at > now() - interval '1 hour' FROM tickets.placements ORDER BY id"
        ).fetchall()
    assert trail[0] == (1, "location", KWA, "set", None, role, "Amina", before, after, True)
    assert trail[1][:7] == (2, "location", match, "verify", None, role, None)
    assert (trail[1][7]["verified"], trail[1][8]["verified"]) == (False, True) and len(trail) == 2

    history = runner.invoke(app, ["gazetteer", "history", KWA], env=environ)
    assert history.exit_code == 0, history.output
    line, summary = history.stdout.strip().splitlines()
    assert summary == "1 placement(s)"
    assert re.fullmatch(
        rf"#1 +location {re.escape(KWA)}  set by Amina \(role {role}\) at \d{{4}}-\d\d-\d\d \d\d:\d\d EAT:"
        r" not_found -> ok -1\.29500,36\.77000 verified",
        line,
    ), line
    # a verified point keeps its provenance: who placed it, and when
    listing = runner.invoke(app, ["gazetteer", "list", "--kind", "location"], env=environ)
    placed = next(x for x in listing.stdout.splitlines() if KWA in x)
    assert placed.split()[:4] == ["location", "ok", "verified", "manual"]
    assert f"#1 set by Amina (role {role}) at " in placed


def test_a_revert_puts_the_entry_back_whole_and_is_itself_a_placement(geocoder, reviewed):
    environ = env(geocoder, reviewed)
    runner = CliRunner()
    match = "kileleswa, nairobi west, kenya"  # a reuse: match_of, candidates, a point, a strategy
    before = state(reviewed, match)
    assert (
        runner.invoke(
            app, ["gazetteer", "set", "location", match, "--lat", "-1.2800", "--lng", "36.7850"], env=environ
        ).exit_code
        == 0
    )
    reverted = runner.invoke(app, ["gazetteer", "revert", "1", "--reviewer", "Otieno"], env=environ)
    assert reverted.exit_code == 0, reverted.output
    assert reverted.stdout.strip() == (
        f"reverted placement #1: location {match!r} as it was before it (placement #2); 1 ticket(s) moved"
    )
    assert state(reviewed, match) == before and before["match_of"] and before["geom"]
    # the revert is in the trail too, and can be reverted in turn; placement 1 cannot be reverted again
    twice = runner.invoke(app, ["gazetteer", "revert", "1"], env=environ)
    assert twice.exit_code == 1
    assert twice.output.startswith(
        f"error: placement 1 not reverted: location {match!r} has changed since, by placement 2"
        f" (revert by Otieno (role {role_of(reviewed)}) at "
    )
    assert runner.invoke(app, ["gazetteer", "revert", "2"], env=environ).exit_code == 0
    assert state(reviewed, match)["provider"] == "manual"
    missing = runner.invoke(app, ["gazetteer", "revert", "99"], env=environ)
    assert (missing.exit_code, missing.output.strip()) == (
        1,
        "error: no placement 99 (see `fleettickets gazetteer history`)",
    )


def test_a_revert_after_a_change_outside_the_trail_is_refused(geocoder, reviewed):
    with psycopg.connect(reviewed) as c:
        placed = gazetteer.set_point(c, "location", KWA, 36.77, -1.295)
        c.execute("UPDATE tickets.geo_locations SET detail = 'edited by hand in SQL' WHERE query = %s", (KWA,))
        c.commit()
        with pytest.raises(FleetError, match=r"has changed since, not by a placement \(a geocoding run or another"):
            gazetteer.revert(c, placed.placement)
    assert state(reviewed, KWA)["detail"] == "edited by hand in SQL"


def test_a_revert_that_cannot_write_the_entry_back_whole_is_refused(reviewed):
    """The check that guards a revert against losing a column restore_gazetteer_row does not write."""
    with psycopg.connect(reviewed, autocommit=True) as c:
        c.execute("ALTER TABLE tickets.geo_locations ADD COLUMN note text")  # a column added later ...
        c.execute("UPDATE tickets.geo_locations SET note = 'before' WHERE query = %s", (KWA,))
        placed = gazetteer.set_point(c, "location", KWA, 36.77, -1.295)
        # ... that a placement changed (as set_entry_point would, had it learnt to write it)
        c.execute("UPDATE tickets.geo_locations SET note = 'after' WHERE query = %s", (KWA,))
        c.execute(
            "UPDATE tickets.placements SET after = tickets.gazetteer_row('location', %s) WHERE id = %s",
            (KWA, placed.placement),
        )
        kept = state(reviewed, KWA)
        with pytest.raises(FleetError, match="cannot be written back whole"):
            gazetteer.revert(c, placed.placement)
        assert state(reviewed, KWA) == kept
        assert c.execute("SELECT count(*) FROM tickets.placements").fetchone() == (1,)


# -- the page's server -------------------------------------------------------------------------------


@pytest.fixture
def page(reviewed) -> Iterator[tuple[str, server.Review]]:
    """The review page on a free loopback port, no tiles (no test reaches the internet)."""
    review = server.Review(reviewed, server.new_token(), tiles="", reviewer="Wanjiru")
    with review_page.running(review) as base:
        yield base, review


def placements(url: str) -> int:
    with psycopg.connect(url) as c:
        return c.execute("SELECT count(*) FROM tickets.placements").fetchone()[0]


def test_every_request_needs_the_token_and_a_write_needs_it_in_the_header(page, reviewed):
    base, review = page
    for path in ("/", "/api/queue", "/static/review.js", "/static/leaflet/leaflet.js"):
        assert httpx.get(base + path).status_code == 403, path
        assert httpx.get(base + path, params={"token": "wrong"}).status_code == 403, path
        assert httpx.get(base + path, params={"token": review.token}).status_code == 200, path
        assert httpx.get(base + path, cookies={server.COOKIE: review.token}).status_code == 200, path
    body = {"key": KWA, "lat": -1.30, "lng": 36.79}
    cookie = {server.COOKIE: review.token}
    refused = httpx.post(base + "/api/place", json=body, params={"token": review.token}, cookies=cookie)
    assert refused.status_code == 403 and "header" in refused.json()["error"]
    wrong = httpx.post(base + "/api/place", json=body, headers=dict([server.PAGE_HEADER]), cookies={server.COOKIE: "x"})
    assert wrong.status_code == 403
    preflight = httpx.request("OPTIONS", base + "/api/place", headers={"Origin": "https://evil.example"})
    assert preflight.status_code in (403, 405) and "access-control-allow-origin" not in preflight.headers
    assert placements(review.database_url) == 0
    # the page's own write: its cookie and its header (which a page of another origin cannot send)
    placed = httpx.post(base + "/api/place", json=body, headers=dict([server.PAGE_HEADER]), cookies=cookie)
    assert placed.status_code == 200 and placements(review.database_url) == 1


def test_the_page_allows_no_inline_script(page):
    base, review = page
    got = httpx.get(base + "/", params={"token": review.token})
    policy = dict(part.strip().split(" ", 1) for part in got.headers["content-security-policy"].split(";"))
    assert policy["script-src"] == "'self'" and policy["default-src"] == "'none'"
    assert "unsafe" not in got.headers["content-security-policy"]
    assert not re.search(r"<script(?![^>]*\bsrc=)|\son[a-z]+\s*=", got.text, re.IGNORECASE)
    assert "innerHTML" not in (Path(server.STATIC) / "review.js").read_text()
    tiles = server.content_security_policy("https://{s}.tile.example.org/{z}/{x}/{y}.png")
    assert "img-src 'self' data: https://*.tile.example.org;" in tiles


def test_a_placement_moves_the_tickets_and_undo_puts_the_entry_back(page, reviewed):
    base, review = page
    before = state(reviewed, KWA)
    headers = {server.HEADER: review.token}
    for lat, lng, problem in [(-6.8, 39.27, "outside Kenya"), (-1.31, 36.40, "guard 25 km")]:
        refused = httpx.post(base + "/api/place", json={"key": KWA, "lat": lat, "lng": lng}, headers=headers)
        assert refused.status_code == 422 and problem in refused.json()["error"]
    placed = httpx.post(base + "/api/place", json={"key": KWA, "lat": -1.2950, "lng": 36.7700}, headers=headers)
    assert placed.json() == {"placement": 1, "moved": 4}  # the closed ticket of that name too
    after = state(reviewed, KWA)
    assert (after["status"], after["provider"], after["verified"]) == ("ok", "manual", True)
    queue_now = httpx.get(base + "/api/queue", headers=headers).json()
    assert KWA not in [e["key"] for e in queue_now["entries"]]
    with psycopg.connect(reviewed) as c:
        assert c.execute(
            "SELECT count(*) FROM tickets.review_tickets(%s) WHERE geo_source = 'location'", (KWA,)
        ).fetchone() == (3,)
        assert c.execute("SELECT reviewer FROM tickets.placements WHERE id = 1").fetchone() == ("Wanjiru",)
    undone = httpx.post(base + "/api/revert", json={"placement": 1}, headers=headers)
    assert undone.json() == {"placement": 2, "reverted": 1, "key": KWA, "moved": 4}
    assert state(reviewed, KWA) == before
    again = httpx.post(base + "/api/revert", json={"placement": 1}, headers=headers)
    assert again.status_code == 409 and "changed since, by placement 2" in again.json()["error"]
    assert httpx.post(base + "/api/revert", json={"placement": "x"}, headers=headers).status_code == 400


def test_a_placement_waiting_on_a_lock_holds_no_other_request(page, reviewed):
    """The page's handlers wait on the database in the threadpool, not in the event loop: while a
    placement is blocked (another session holds its entry's row lock), the queue still answers."""
    base, review = page
    headers = {server.HEADER: review.token}
    answers: list[httpx.Response] = []
    with psycopg.connect(reviewed) as holder:
        holder.execute("SELECT FROM tickets.geo_locations WHERE query = %s FOR UPDATE", (KWA,))
        body = {"key": KWA, "lat": -1.2950, "lng": 36.7700}
        placing = threading.Thread(
            target=lambda: answers.append(httpx.post(base + "/api/place", json=body, headers=headers, timeout=120))
        )
        placing.start()
        with psycopg.connect(reviewed, autocommit=True) as watcher:
            hang_guard = time.monotonic() + 60
            while not watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY (pg_blocking_pids(pid))",
                (holder.info.backend_pid,),
            ).fetchone()[0]:
                assert time.monotonic() < hang_guard, "the placement never reached the lock"
                time.sleep(0.02)
        listing = httpx.get(base + "/api/queue", headers=headers, timeout=30)  # a hang guard, not a measure
        assert listing.status_code == 200 and KWA in [e["key"] for e in listing.json()["entries"]]
        assert placing.is_alive() and answers == []  # still waiting on the lock
        holder.rollback()
    placing.join(60)
    assert answers[0].json() == {"placement": 1, "moved": 4}


def test_the_page_never_carries_the_database_password(page, reviewed):
    base, review = page
    password = psycopg.conninfo.conninfo_to_dict(reviewed)["password"]
    for path in ("/", "/api/queue", "/api/tickets?key=x"):
        assert password not in httpx.get(base + path, params={"token": review.token}).text


# -- the page in a real browser: Debian's chromium (scripts/lib.sh installs it), driven by playwright ---

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "review.png"
# Set to refresh docs/review.png from the test that places, confirms and undoes (docs/development.md);
# otherwise the screenshot goes to the test's temporary directory: no test writes a tracked file.
REFRESH_SCREENSHOT = "FLEETTICKETS_TEST_REFRESH_SCREENSHOT"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium for the module; each test's pages open in contexts of their own (own cookies)."""
    assert CHROMIUM.exists(), "Debian's chromium is missing: apt-get install chromium (./scripts/test does)"
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        yield launched
        launched.close()


def open_page(where: Browser | BrowserContext, base: str, token: str) -> Page:
    tab = where.new_page()
    tab.set_viewport_size({"width": 1280, "height": 760})
    tab.goto(f"{base}/?token={token}")
    tab.wait_for_selector("#queue li.selected")
    return tab


def click_map_at(tab: Page, lat: float, lng: float) -> None:
    """A real click on the map where (lat, lng) is drawn."""
    x, y = tab.evaluate(
        "([lat, lng]) => { const p = map.latLngToContainerPoint([lat, lng]); return [p.x, p.y]; }", [lat, lng]
    )
    tab.click("#map", position={"x": x, "y": y})


def place_in(tab: Page, key: str, lat: float, lng: float) -> None:
    """Select the entry, click the map there, confirm, and wait for the page's answer."""
    tab.locator(f"#queue li[data-key='{key}']").click()
    tab.wait_for_function("k => selected && selected.key === k", arg=key)
    click_map_at(tab, lat, lng)
    tab.click("#confirm")
    tab.wait_for_function("() => document.getElementById('status').textContent.startsWith('placed')")


def status_after_undo(tab: Page) -> str:
    tab.click("#undo")
    tab.wait_for_function(
        "() => document.getElementById('status').textContent.startsWith('undone')"
        " || document.getElementById('status').className === 'error'"
    )
    return tab.locator("#status").inner_text()


def test_in_chromium_the_page_lists_places_confirms_and_undoes(browser, page, reviewed, tmp_path):
    base, review = page
    tab = browser.new_page(viewport={"width": 1280, "height": 760})
    refused = tab.goto(base + "/")
    assert refused.status == 403 and "forbidden" in tab.content()
    tab = open_page(browser, base, review.token)
    tab.wait_for_load_state("networkidle")  # the selected entry's tickets drawn too (the screenshot)
    assert tab.locator("#queue li").count() == 5
    assert "Kwa Reuben" in tab.locator("#queue li.selected").inner_text()
    assert tab.locator("#undo").is_disabled()
    before = state(reviewed, KWA)

    click_map_at(tab, -1.2950, 36.7700)
    assert tab.locator("#confirm").is_enabled()
    shot = tmp_path / "review.png"
    tab.screenshot(path=str(shot))
    assert shot.read_bytes().startswith(b"\x89PNG")
    if os.environ.get(REFRESH_SCREENSHOT):
        shutil.copyfile(shot, SCREENSHOT)
    tab.click("#confirm")
    tab.wait_for_function("() => document.getElementById('status').textContent.startsWith('placed')")
    assert tab.locator("#status").inner_text() == "placed: 4 ticket(s) moved (placement #1)"
    after = state(reviewed, KWA)
    assert after["verified"] and after["provider"] == "manual"
    assert tab.locator("#queue li").count() == 4
    assert "FDT_07" in tab.locator("#queue li.selected").inner_text().upper()  # the queue moved on

    assert status_after_undo(tab) == "undone: placement #1 reverted, 4 ticket(s) moved back"
    assert state(reviewed, KWA) == before and tab.locator("#queue li").count() == 5
    assert tab.locator("#undo").is_disabled()

    tab.evaluate("map.setView([-1.31, 36.6], 9, {animate: false})")
    click_map_at(tab, -1.31, 36.40)  # beyond the guard: refused with the reason, nothing written
    tab.click("#confirm")
    tab.wait_for_selector("#status.error")
    assert "guard 25 km" in tab.locator("#status").inner_text() and state(reviewed, KWA) == before


def test_in_chromium_two_tabs_each_undo_their_own_placement(browser, page, reviewed):
    base, review = page
    context = browser.new_context()  # one browser, one cookie, two tabs (or two dispatchers)
    first, second = open_page(context, base, review.token), open_page(context, base, review.token)
    kwa_before = state(reviewed, KWA)
    place_in(first, KWA, -1.2950, 36.7700)
    place_in(second, CODES, -1.3000, 36.7900)
    assert status_after_undo(first) == "undone: placement #1 reverted, 4 ticket(s) moved back"
    assert state(reviewed, KWA) == kwa_before  # the first tab's placement went ...
    assert state(reviewed, CODES)["verified"]  # ... the second tab's stays
    first.reload()  # the tab's own placements survive a reload (and a restart of the server)
    first.wait_for_selector("#queue li.selected")
    assert first.locator("#undo").is_disabled() and second.locator("#undo").is_enabled()
    context.close()


def test_in_chromium_undo_after_a_gazetteer_set_is_refused_naming_who_set_it(browser, geocoder, page, reviewed):
    base, review = page
    tab = open_page(browser, base, review.token)
    place_in(tab, KWA, -1.2950, 36.7700)
    # meanwhile, someone fixes the same entry from the command line
    fixed = CliRunner().invoke(
        app,
        ["gazetteer", "set", "location", KWA, "--lat", "-1.2900", "--lng", "36.7800", "--reviewer", "Amina"],
        env=env(geocoder, reviewed),
    )
    assert fixed.exit_code == 0
    kept = state(reviewed, KWA)
    said = status_after_undo(tab)
    assert tab.locator("#status.error").count() == 1
    assert said.startswith(
        f"placement 1 not reverted: location '{KWA}' has changed since, by placement 2"
        f" (set by Amina (role {role_of(reviewed)}) at "
    ), said
    assert state(reviewed, KWA) == kept  # the later fix is not lost


def test_a_placement_made_on_the_page_is_reverted_after_a_restart(geocoder, reviewed):
    review = server.Review(reviewed, server.new_token(), tiles="")
    with review_page.running(review) as base:
        before = state(reviewed, KWA)
        placed = httpx.post(
            base + "/api/place",
            json={"key": KWA, "lat": -1.2950, "lng": 36.7700},
            headers={server.HEADER: review.token},
        )
        assert placed.json()["placement"] == 1
    environ = env(geocoder, reviewed)  # the page has stopped: the trail is in the database
    history = CliRunner().invoke(app, ["gazetteer", "history"], env=environ)
    assert f"#1     location {KWA}  set by {role_of(reviewed)} at " in history.stdout
    reverted = CliRunner().invoke(app, ["gazetteer", "revert", "1"], env=environ)
    assert reverted.exit_code == 0, reverted.output
    assert state(reviewed, KWA) == before


def test_in_chromium_the_token_leaves_the_address_bar_and_a_reload_still_works(browser, page, reviewed):
    base, review = page
    tab = open_page(browser, base, review.token)
    assert tab.url == base + "/"  # out of the address bar and the tab's history
    assert tab.evaluate("document.cookie") == ""  # HttpOnly: the page's script never holds it
    tab.reload()
    tab.wait_for_selector("#queue li.selected")
    assert tab.locator("#queue li").count() == 5 and tab.locator("#status.error").count() == 0
    place_in(tab, KWA, -1.2950, 36.7700)  # a write, from the cookie and the page's own header
    assert state(reviewed, KWA)["verified"]
    assert review.token not in tab.content()


def test_in_chromium_a_cross_site_form_post_changes_nothing(browser, page, reviewed, tmp_path):
    base, review = page
    tab = open_page(browser, base, review.token)  # the reviewer's cookie is set in this browser
    before = state(reviewed, KWA)
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
    assert state(reviewed, KWA) == before and placements(reviewed) == 0


# -- everything the page shows is text ----------------------------------------------------------------

MARKUP = ('<img src=x onerror="window.pwned=1">', "<script>window.pwned=2</script>", "<b>bold</b> &amp; co")
HOSTILE_LABELS = [  # (cluster, location_name) of open tickets
    ("Nakuru", "NW_Milimani"),  # its candidates carry MARKUP
    ("Nairobi West", '<img src=x onerror="window.pwned=3">'),
    ("Nairobi West", "<script>window.pwned=4</script> Kwa Reuben"),
    ("<b>Nairobi</b> West", "Kwa Reuben"),
]


@pytest.fixture
def hostile(geocoder, db_url) -> str:
    """Provider names, feed labels and a cluster that carry markup (OpenStreetMap is editable by
    anyone; so is a ticket's free text)."""
    add_tickets(db_url, [(f"H{i}", cluster, label, "true") for i, (cluster, label) in enumerate(HOSTILE_LABELS)])
    geocode_clusters(settings(geocoder, db_url), quiet(), apply=True)
    with psycopg.connect(db_url) as c:
        gazetteer.set_point(c, "cluster", "<b>Nairobi</b> West", 36.78, -1.31)
    geocoder.forget("Milimani")
    for i, markup in enumerate(MARKUP):  # beyond the guard: the reviewer sees them as candidates
        geocoder.world.append(Feature("Milimani", "suburb", 36.30, -0.48 - 0.02 * i, (markup, "Kenya"), 0.3))
    geocode_locations(settings(geocoder, db_url), quiet(), apply=True)
    return db_url


def test_in_chromium_markup_from_a_provider_or_the_feed_is_shown_as_text_and_runs_nothing(browser, hostile):
    review = server.Review(hostile, server.new_token(), tiles="")
    with review_page.running(review) as base:
        tab = browser.new_page(viewport={"width": 1280, "height": 760})
        dialogs: list[str] = []
        tab.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        tab.add_init_script(
            "window.violations = []; document.addEventListener("
            "'securitypolicyviolation', (e) => window.violations.push(e.violatedDirective));"
        )
        tab.goto(f"{base}/?token={review.token}")
        tab.wait_for_selector("#queue li.selected")
        entries = tab.evaluate("entries")
        labels = [li.inner_text() for li in tab.locator("#queue li b").all()]
        assert sorted(label.split(". ", 1)[1] for label in labels) == sorted(e["place"] for e in entries)
        assert '<img src=x onerror="window.pwned=3">' in [e["place"] for e in entries]
        assert "<b>Nairobi</b> West · not found" in tab.locator("#queue").inner_text()
        names = []
        for e in entries:
            tab.locator(f"#queue li[data-key={json.dumps(e['key'])}]").click()
            tab.wait_for_function("k => selected && selected.key === k", arg=e["key"])  # markers drawn
            markers = tab.locator("#map path.leaflet-interactive")
            assert markers.count() == len(e["candidates"])
            for index, candidate in enumerate(e["candidates"]):
                markers.nth(index).hover()
                tooltip = tab.locator(".leaflet-tooltip")
                assert tooltip.evaluate("t => t.textContent") == f"{candidate['name']} ({candidate['km']} km)"
                assert tooltip.evaluate("t => t.children.length === 1 && t.children[0].children.length === 0")
                names.append(candidate["name"])
                tab.mouse.move(0, 0)
                tab.wait_for_function("() => !document.querySelector('.leaflet-tooltip')")  # faded out
        assert sorted(names) == sorted(f"Milimani, {markup}, Kenya" for markup in MARKUP)
        assert tab.evaluate("window.pwned") is None and dialogs == []
        assert tab.locator("img[src='x']").count() == 0
        # the second line of defence: markup that did reach the page as HTML runs nothing either
        tab.evaluate(
            "() => { const d = document.createElement('div');"
            " d.innerHTML = '<img src=x onerror=\"window.pwned=5\">'; document.body.append(d); }"
        )
        tab.wait_for_function("() => window.violations.includes('script-src-attr')")
        assert tab.evaluate("window.pwned") is None
        assert tab.evaluate("window.violations") == ["script-src-attr"]  # Leaflet and the page need nothing else


def test_review_on_a_port_in_use_is_one_line(geocoder, db_url):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = CliRunner().invoke(app, ["review", "--port", str(port)], env=env(geocoder, db_url))
    assert result.exit_code == 1
    assert result.output.strip() == f"error: cannot listen on 127.0.0.1:{port}: Address already in use"


def test_review_on_another_address_warns_that_the_token_crosses_the_network_in_clear(geocoder, db_url):
    with socket.create_server(("127.0.0.2", 0)) as taken:
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            app, ["review", "--host", "127.0.0.2", "--port", str(port)], env=env(geocoder, db_url)
        )
    warning = result.stdout.splitlines()[0]
    assert warning.startswith("warning: binding 127.0.0.2: ")
    assert "token crosses the network in clear" in warning and "TLS" in warning and "SSH tunnel" in warning


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
