"""The review queue (tickets.review_queue, `fleettickets review --list`) and the page's writes."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from typer.testing import CliRunner

from devtools.geocoder import DevGeocoder, Feature
from fleettickets.cli import app
from fleettickets.geocode.run import geocode_clusters, geocode_locations
from fleettickets.review import queue
from tests.helpers import quiet
from tests.test_geocode import KEY, add_tickets, env, settings


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
        ("kileleswa, nairobi west, kenya", "match", 1, 0),
        ("milimani, nakuru, kenya", "rejected", 1, 1),
        ("ngong, nairobi west, kenya", "far", 1, 0),
    ]
    first, _, match, rejected, far = got
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
