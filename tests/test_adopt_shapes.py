"""The take-over on seed-era databases of shapes this package was not designed for
(tests/seed_era.py SHAPES): each adopted with nothing lost, or refused in one line naming what it
cannot carry; a filled column with no place here is left only when the operator names it."""

from __future__ import annotations

import psycopg
import pytest

from fleettickets.geocode.places import location_key
from tests.helpers import one
from tests.seed_era import Seed, catalog_and_counts, fleettickets, kept_in, reshape

# What the loader's database says, whatever its shape: read before the shape is made, and from
# this package's tables after adoption. Points to six decimals (0.1 m: the numeric shape's), keys
# and ETags apart (this package's own).
WHAT_IT_SAYS = {
    "tickets": "SELECT ticket_id, raw::jsonb, ST_AsText(geom, 6), geo_source, ingested_at FROM tickets.inc ORDER BY 1",
    "crq": "SELECT ticket_id, raw::jsonb, ST_AsText(geom, 6), geo_source, ingested_at FROM tickets.crq ORDER BY 1",
    "clusters": "SELECT cluster::text, status::text, ST_AsText(geom, 6), verified FROM tickets.geo_clusters ORDER BY 1",
    "cluster times": "SELECT cluster::text, geocoded_at FROM tickets.geo_clusters ORDER BY 1",
    "locations": "SELECT place::text, cluster::text, status::text, display_name::text, ST_AsText(geom, 6),"
    " distance_km, verified, geocoded_at FROM tickets.geo_locations ORDER BY 1, 2",
    "envelope": "SELECT dataset::text, source_key::text, snapshot_at, ingested_at, metadata::jsonb - 'source_etag'"
    " FROM tickets.import_meta",
}


def what_it_says(url: str) -> dict[str, list[tuple]]:
    with psycopg.connect(url) as c:
        return {part: c.execute(query).fetchall() for part, query in WHAT_IT_SAYS.items()}


@pytest.mark.parametrize(
    ("shape", "lines", "not_kept"),
    [
        (
            "reconstructed",
            [
                # 81: one place only a CRQ ticket names (tests/seed_era.py fill_crq)
                "tickets.geo_locations.place: absent, derived by this package's rules: 81 from the tickets' labels,"
                " 199 from the query",
                "tickets.geo_locations.updated_at (timestamp with time zone): a timestamp of the same row, carried as"
                " geocoded_at",
                "tickets.import_meta.updated_at (timestamp with time zone): a timestamp of the same row, carried as"
                " ingested_at",
            ],
            {"cluster times"},  # the clusters' updated_at was never filled: geocoded_at is the adoption's time
        ),
        (
            "renamed",
            [
                "tickets.geo_clusters.position (geometry(Point,4326)): the same point, carried as geom",
                "tickets.geo_clusters.last_geocoded (timestamp with time zone): a timestamp of the same row, carried"
                " as geocoded_at",
                "tickets.import_meta.loaded_at (timestamp with time zone): a timestamp of the same row, carried as"
                " ingested_at",
            ],
            set(),
        ),
        (
            "derivable",
            [
                "tickets.geo_locations.place and cluster: absent, derived by this package's rules: 81 from the"
                " tickets' labels, 199 from the query"
            ],
            set(),
        ),
        ("varchar", [], set()),
        (
            "numeric coordinates",
            ["tickets.geo_locations.lat, lon (numeric(9,6)): a point's coordinates, carried as geom"],
            set(),
        ),
        ("json", [], set()),
        (
            "naive timestamps",
            [
                "tickets.inc.ingested_at (timestamp without time zone): read as EAT",
                "tickets.import_meta.snapshot_at (timestamp without time zone): read as EAT",
            ],
            set(),
        ),
    ],
)
def test_a_seed_era_database_of_another_shape_is_adopted_with_nothing_lost(seed_era, shape, lines, not_kept):
    url = seed_era(Seed(tickets=100, crq=5))
    before = what_it_says(url)
    reshape(url, shape)

    planned = fleettickets(url, "adopt", "plan")
    result = fleettickets(url, "adopt", "apply")

    assert result.exit_code == 0, result.output
    assert planned.exit_code == 0 and all(line in planned.output.splitlines() for line in lines), planned.output
    after = what_it_says(url)
    assert {part: rows for part, rows in after.items() if part not in not_kept} == {
        part: rows for part, rows in before.items() if part not in not_kept
    }
    with psycopg.connect(url) as c:
        # this package's keys and spellings (CRQ's too): every ticket where the gazetteers put it, as the loader had it
        rekeyed = (
            "SELECT count(*) FROM tickets.geo_locations WHERE query = lower(place || ', ' || cluster || ', kenya')"
        )
        assert one(c, rekeyed) == 280
        assert one(c, "SELECT tickets.reresolve_geom()") == 0


def test_the_seed_database_reconstructed_from_the_readme_keeps_its_timestamps(seed_era):
    """Issue 25: on an independently reconstructed seed database, `migrate --adopt --dry-run` and
    `--adopt` both stopped with `cannot adopt: tickets.geo_locations: no column place (and 2 more,
    listed above)` (the place this package's rules derive; an updated_at refused as "values with no
    place here")."""
    url = seed_era(Seed(tickets=40), "reconstructed")
    with psycopg.connect(url) as c:
        stamps = c.execute("SELECT query, updated_at FROM tickets.geo_locations ORDER BY 1").fetchall()
        loaded = one(c, "SELECT updated_at FROM tickets.import_meta")

    for args in (("migrate", "--adopt", "--dry-run"), ("migrate", "--adopt")):
        result = fleettickets(url, *args)
        assert result.exit_code == 0, result.output

    with psycopg.connect(url) as c:
        kept = kept_in(url)
        assert (
            c.execute(
                f"SELECT o.query, n.geocoded_at FROM {kept}.geo_locations o"
                " JOIN tickets.geo_locations n ON n.query = lower(o.query) ORDER BY 1"
            ).fetchall()
            == stamps
        )
        assert one(c, "SELECT ingested_at FROM tickets.import_meta") == loaded


REFUSED = {
    "opaque keys": "tickets.geo_locations: 280 entries whose place and cluster neither the tickets' labels nor the"
    " query give (first: 'loc-",
    "coded status": "tickets.geo_clusters: column status is integer, which cannot become text without loss",
    "bookkeeping": "tickets.geo_locations.attempts (integer) holds 280 value(s) with no place here: to adopt without"
    " them (they stay in tickets_adopted_",
}


@pytest.mark.parametrize("shape", list(REFUSED))
def test_a_seed_era_database_that_cannot_be_carried_is_refused_naming_what(seed_era, shape):
    url = seed_era(Seed(tickets=40), shape)
    before = catalog_and_counts(url)
    for args in (("adopt", "plan"), ("adopt", "apply")):
        result = fleettickets(url, *args)
        assert result.exit_code == 1
        errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and errors[0].startswith(f"error: cannot adopt: {REFUSED[shape]}"), result.output
        assert errors[0].endswith("; nothing was changed")
        assert catalog_and_counts(url) == before


def test_a_filled_column_with_no_place_here_is_left_only_when_named(seed_era):
    url = seed_era(Seed(tickets=40), "bookkeeping")
    before = catalog_and_counts(url)

    one_named = fleettickets(url, "adopt", "apply", "--leave", "tickets.inc.loaded_by")
    assert one_named.exit_code == 1
    assert "REFUSED  tickets.geo_locations.attempts (integer) holds 280 value(s)" in one_named.output
    assert "REFUSED  tickets.inc.loaded_by" not in one_named.output
    assert catalog_and_counts(url) == before
    mistyped = fleettickets(url, "adopt", "plan", "--leave", "tickets.inc.loaded", "--leave", "tickets.inc.loaded_by")
    assert "REFUSED  --leave tickets.inc.loaded: the plan leaves no such column" in mistyped.output

    result = fleettickets(
        url, "migrate", "--adopt", "--leave", "tickets.geo_locations.attempts", "--leave", "tickets.inc.loaded_by"
    )

    assert result.exit_code == 0, result.output
    kept = kept_in(url)
    lines = result.output.splitlines()
    assert (
        f"tickets.geo_locations.attempts (integer): 280 value(s) with no place here, left in {kept} (--leave)" in lines
    )
    assert f"tickets.inc.loaded_by (text): 40 value(s) with no place here, left in {kept} (--leave)" in lines
    assert "tickets.geo_locations.last_error: empty, not carried" in lines
    assert (
        "tickets.geo_locations.created_at (timestamp with time zone): a timestamp of the same row, carried as"
        " geocoded_at where geocoded_at is empty" in lines
    )
    with psycopg.connect(url) as c:
        assert one(c, f"SELECT count(attempts) FROM {kept}.geo_locations") == 280  # kept, readable
        notes = one(c, "SELECT notes FROM tickets.adoptions")
        assert f"tickets.inc.loaded_by (text): 40 value(s) with no place here, left in {kept} (--leave)" in notes
    assert fleettickets(url, "migrate", "--leave", "tickets.inc.loaded_by").exit_code == 2  # only with --adopt


# A place the loader cached that only a CRQ ticket names, in a cluster the cluster gazetteer does
# not know and whose name holds a comma: its query reads two ways ("Kimbo" in "Ruiru, Kiambu
# Road", or "Kimbo, Ruiru" in "Kiambu Road"), so only the CRQ ticket's label says which.
KIMBO_QUERY, KIMBO, RUIRU, KIMBO_LABEL = (
    "Kimbo, Ruiru, Kiambu Road, Kenya",
    "Kimbo",
    "Ruiru, Kiambu Road",
    "ADR_Kimbo SDUS2",
)
KIMBO_POINT = "POINT(36.96 -1.15)"


@pytest.mark.parametrize("shape", [None, "derivable"])
def test_a_place_only_a_crq_ticket_names_is_placed_by_its_label_and_its_ticket_stays_there(seed_era, shape):
    """The take-over read the labels of tickets.inc only: without place and cluster columns such an
    entry was refused as one "neither the tickets' labels nor the query" place; with them, the CRQ
    spelling was not linked, so this package's rule moved the ticket off the place."""
    url = seed_era(Seed(tickets=40))
    with psycopg.connect(url) as c:
        c.execute(
            "INSERT INTO tickets.geo_locations (query, place, cluster, provider, status, display_name, geom, verified)"
            " VALUES (%s, %s, %s, 'locationiq', 'ok', 'Kimbo, Ruiru', ST_GeomFromText(%s, 4326), true)",
            (KIMBO_QUERY, KIMBO, RUIRU, KIMBO_POINT),
        )
        c.execute(
            "INSERT INTO tickets.crq (ticket_id, raw) VALUES ('CRQ9', jsonb_build_object('ticket_id', 'CRQ9',"
            " 'cluster', %s::text, 'location_name', %s::text, 'install', 'fibre'))",
            (RUIRU, KIMBO_LABEL),
        )
        assert c.execute("SELECT geo_source, ST_AsText(geom) FROM tickets.crq").fetchall() == [
            ("location", KIMBO_POINT)
        ]
    if shape:
        reshape(url, shape)

    result = fleettickets(url, "adopt", "apply")

    assert result.exit_code == 0, result.output
    key = location_key(KIMBO, RUIRU)
    with psycopg.connect(url) as c:
        assert c.execute(
            "SELECT place, cluster, verified, ST_AsText(geom) FROM tickets.geo_locations WHERE query = %s", (key,)
        ).fetchall() == [(KIMBO, RUIRU, True, KIMBO_POINT)]
        assert c.execute(
            "SELECT location_name, cluster FROM tickets.geo_location_names WHERE query = %s", (key,)
        ).fetchall() == [(KIMBO_LABEL, RUIRU)]
        assert c.execute("SELECT geo_source, ST_AsText(geom) FROM tickets.crq").fetchall() == [
            ("location", KIMBO_POINT)
        ]
        assert one(c, "SELECT tickets.reresolve_geom()") == 0  # this package's rule keeps it where the loader had it


def test_a_loader_database_without_tickets_crq_is_adopted_with_the_labels_of_inc(seed_era):
    url = seed_era(Seed(tickets=40), "derivable")
    with psycopg.connect(url) as c:
        c.execute("DROP TABLE tickets.crq")

    result = fleettickets(url, "adopt", "apply")

    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1].startswith("adopted: tickets.geo_clusters 20 -> 20")
    with psycopg.connect(url) as c:
        assert one(c, "SELECT count(*) FROM tickets.crq") == 0  # this package's, empty
        assert one(c, "SELECT count(*) FROM tickets.geo_location_names") > 0
        assert one(c, "SELECT tickets.reresolve_geom()") == 0
