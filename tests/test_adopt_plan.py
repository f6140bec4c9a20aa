"""The take-over's plan from the catalog's facts alone (fleettickets/adopt/plan.py, pure): what it
carries, derives, recognises, leaves when named and refuses."""

from __future__ import annotations

import pytest

from fleettickets.adopt.locations import Location, label_keys, locate, rekey
from fleettickets.adopt.plan import Facts, plan, unknown_values
from fleettickets.catalog import Column, Dependant
from fleettickets.geocode.places import location_key, read_label, strip_codes

T = "text"
INC = [Column("ticket_id", T, False), Column("raw", "jsonb", False), Column("geom", "geometry(Point,4326)", False),
       Column("geo_source", T, False), Column("ingested_at", "timestamp with time zone", False),
       Column("cluster", T, True)]  # fmt: skip


def facts(**changes) -> Facts:
    base = dict(
        tables={"inc": INC, "schema_migrations": [Column("filename", T, False)]},
        rows={"inc": 3},
        filled={},
        other_objects=[],
        dependants=[],
        taken_names=[],
        extensions=[],
    )
    return Facts(**{**base, **changes})


def with_column(name: str, column: Column | None, table: list[Column] = INC) -> list[Column]:
    kept = [c for c in table if c.name != name]
    return [*kept, column] if column else kept


@pytest.mark.parametrize(
    ("tables", "filled", "refusal"),
    [
        ({"inc": INC}, {}, None),
        ({"inc": with_column("raw", Column("raw", "json", False))}, {}, None),
        ({"inc": with_column("raw", Column("raw", "text", False))}, {}, None),
        ({"inc": with_column("ticket_id", Column("ticket_id", "character varying(32)", False))}, {}, None),
        ({"inc": with_column("geom", Column("geom", "geography(Point,4326)", False))}, {}, None),
        ({"inc": with_column("geom", None)}, {}, None),  # positions resolved from the gazetteers
        ({"inc": with_column("raw", None)}, {}, "tickets.inc: no column raw"),
        ({"inc": with_column("raw", Column("raw_json", "jsonb", False))}, {}, "tickets.inc: no column raw"),
        ({"inc": with_column("raw", Column("raw", "integer", False))}, {}, "tickets.inc: column raw is integer"),
        ({"inc": [*INC, Column("notes", T, False)]}, {("inc", "notes"): 4}, "tickets.inc.notes (text) holds 4"),
        ({"inc": [*INC, Column("notes", T, False)]}, {("inc", "notes"): 0}, None),
        ({"inc": [*INC, Column("legacy", T, True)]}, {}, None),  # generated: derived from raw
        ({"inc": INC, "notes": [Column("id", T, False)]}, {}, "tickets.notes is not a table of the earlier loader"),
        ({"crq": INC}, {}, "no tickets.inc"),
    ],
)
def test_the_plan_maps_what_it_can_and_names_what_it_cannot(tables, filled, refusal):
    p = plan(facts(tables=tables, filled=filled), "tickets_adopted_20261205")
    if refusal is None:
        assert p.refusals == []
    else:
        assert any(r.startswith(refusal) for r in p.refusals), p.refusals


def test_the_plan_refuses_key_collisions_and_foreign_dependants():
    p = plan(
        facts(
            locations=[
                ("Kilimani, Nairobi, Kenya", "Kilimani", "Nairobi"),
                ("kilimani|nairobi", "KILIMANI", "Nairobi"),
            ],
            dependants=[
                Dependant("reporting.v_board", "view", "tickets.inc_open_sla"),
                Dependant("reporting.v_raw", "view", "tickets.inc"),
            ],
            extensions=["postgis"],
            taken_names=["reporting.inc_map"],
        ),
        "k",
    )
    assert p.shared_views == ["inc_open_sla"]
    assert "reporting.v_board reads tickets.inc_open_sla: kept working, re-pointed at the adopted tickets" in p.lines
    joined = "\n".join(p.refusals)
    assert "'Kilimani, Nairobi, Kenya' and 'kilimani|nairobi' are the same place ('kilimani, nairobi, kenya')" in joined
    assert "reporting.v_raw depends on tickets.inc: it would break or keep reading the old table" in joined
    assert "extension postgis is installed in the tickets schema" in joined
    assert "reporting.inc_map exists and is not the earlier loader's" in joined


TZ, NAIVE = "timestamp with time zone", "timestamp without time zone"
CLUSTERS = [Column("cluster", T, False), Column("query", T, False), Column("provider", T, False),
            Column("status", T, False), Column("geom", "geometry(Point,4326)", False),
            Column("verified", "boolean", False)]  # fmt: skip
LOCATIONS = [Column("query", "character varying(255)", False), Column("cluster", T, False),
             Column("provider", T, False), Column("status", T, False), Column("verified", "boolean", False),
             Column("lat", "numeric(9,6)", False), Column("lon", "numeric(9,6)", False)]  # fmt: skip


@pytest.mark.parametrize(
    ("table", "columns", "leave", "selects", "line"),
    [
        # a timestamp of the same row, by another name: the last change first, then the first moment
        (
            "geo_clusters",
            [*CLUSTERS, Column("created_at", TZ, False), Column("updated_at", TZ, False)],
            (),
            {"geocoded_at": "coalesce(o.updated_at, o.created_at, now())"},
            "tickets.geo_clusters.created_at (timestamp with time zone): a timestamp of the same row, carried as"
            " geocoded_at where updated_at is empty",
        ),
        (
            "geo_clusters",
            [*CLUSTERS, Column("last_geocoded", NAIVE, False)],
            (),
            {"geocoded_at": "coalesce((o.last_geocoded AT TIME ZONE 'Africa/Nairobi'), now())"},
            "tickets.geo_clusters.last_geocoded (timestamp without time zone): a timestamp of the same row, carried as"
            " geocoded_at",
        ),
        (
            "inc",
            [*INC, Column("updated_at", TZ, False)],
            (),
            {"ingested_at": "coalesce(o.ingested_at, o.updated_at, now())"},
            "tickets.inc.updated_at (timestamp with time zone): a timestamp of the same row, carried as ingested_at"
            " where ingested_at is empty",
        ),
        # a point as two numbers, or a point column by another name
        (
            "geo_locations",
            LOCATIONS,
            (),
            {
                "geom": "CASE WHEN o.lat::double precision IS NOT NULL AND o.lon::double precision IS NOT NULL THEN"
                " ST_SetSRID(ST_MakePoint(o.lon::double precision, o.lat::double precision), 4326) END",
                "query": "k.new",
                "place": "k.place",
                "cluster": "k.cluster",
            },
            "tickets.geo_locations.lat, lon (numeric(9,6)): a point's coordinates, carried as geom",
        ),
        (
            "geo_clusters",
            [*with_column("geom", Column("position", "geography(Point,4326)", False), CLUSTERS)],
            (),
            {"geom": "o.position::geometry"},
            "tickets.geo_clusters.position (geography(Point,4326)): the same point, carried as geom",
        ),
        # derived by this package's rules
        (
            "geo_locations",
            LOCATIONS,
            (),
            {},
            "tickets.geo_locations.place: absent, derived by this package's rules:"
            " 0 from the tickets' labels, 1 from the query",
        ),
        # a filled column with no home: left only when named
        (
            "geo_clusters",
            [*CLUSTERS, Column("attempts", "integer", False)],
            ("tickets.geo_clusters.attempts",),
            {},
            "tickets.geo_clusters.attempts (integer): 7 value(s) with no place here, left in k (--leave)",
        ),
    ],
)
def test_the_plan_carries_what_means_the_same_and_says_so(table, columns, leave, selects, line):
    p = plan(
        facts(
            tables={"inc": INC, table: columns},
            filled={(table, "attempts"): 7},
            locations=[("Place 7, Cluster 8, Kenya", None, "Cluster 8")],
        ),
        "k",
        leave,
    )
    assert p.refusals == []
    assert p.selects[table] | selects == p.selects[table]
    assert line in p.lines


@pytest.mark.parametrize(
    ("columns", "leave", "refusal"),
    [
        (
            [*CLUSTERS, Column("attempts", "integer", False)],
            (),
            "tickets.geo_clusters.attempts (integer) holds 7 value(s) with no place here: to adopt without them"
            " (they stay in k), name it: --leave tickets.geo_clusters.attempts",
        ),
        (
            CLUSTERS,
            ("tickets.geo_clusters.verified",),
            "--leave tickets.geo_clusters.verified: the plan leaves no such column (only a filled one with no place"
            " here)",
        ),
        (
            [*CLUSTERS, Column("updated_at", "text", False)],
            (),  # a timestamp is recognised by its type too
            "tickets.geo_clusters.updated_at (text) holds 7 value(s) with no place here",
        ),
        (
            with_column("status", Column("status", "integer", False), CLUSTERS),
            (),
            "tickets.geo_clusters: column status is integer, which cannot become text without loss",
        ),
    ],
)
def test_the_plan_refuses_what_it_would_leave_unnamed(columns, leave, refusal):
    p = plan(
        facts(
            tables={"inc": INC, "geo_clusters": columns},
            filled={("geo_clusters", c): 7 for c in ("attempts", "updated_at")},
        ),
        "k",
        leave,
    )
    assert any(r.startswith(refusal) for r in p.refusals), p.refusals


LABELLED = {
    "place 7, cluster 8, kenya": ("Place 7", "Cluster 8"),
    "ruaka town, kiambu, kenya": ("Ruaka Town", "Kiambu"),
}


@pytest.mark.parametrize(
    ("query", "place", "cluster", "found"),
    [
        ("anything", "Kileleshwa", "Nairobi West", ("Kileleshwa", "Nairobi West", "stored")),
        ("Ruaka Town, Kiambu, Kenya", None, None, ("Ruaka Town", "Kiambu", "labels")),
        ("ruaka town, kiambu, kenya", None, "Kiambu", ("Ruaka Town", "Kiambu", "labels")),
        ("Ruaka Town, Kiambu, Kenya", None, "Thika", None),  # the label's cluster is not the entry's
        ("Lavington, Nairobi West, Kenya", None, None, ("Lavington", "Nairobi West", "query")),  # a known cluster
        ("Kasarani, Mwiki, Nairobi East, Kenya", None, None, ("Kasarani, Mwiki", "Nairobi East", "query")),
        ("Kasarani, Mwiki, Thika Road, Kenya", None, None, None),  # two readings, no cluster known: not guessed
        ("Kasarani, Mwiki, Thika Road, Kenya", "Kasarani", None, ("Kasarani", "Mwiki, Thika Road", "query")),
        ("Kasarani, Mwiki, Thika Road, Kenya", None, "Thika Road", ("Kasarani, Mwiki", "Thika Road", "query")),
        ("Githurai 45, Roysambu", None, None, ("Githurai 45", "Roysambu", "query")),  # the only reading
        ("loc-0017", None, None, None),
        (", Nairobi West, Kenya", None, None, None),
    ],
)
def test_a_locations_place_and_cluster_come_from_the_labels_or_its_query(query, place, cluster, found):
    assert locate(query, place, cluster, LABELLED, ["Nairobi West", "Nairobi East"]) == found


def test_rekeying_links_each_label_to_its_entry_and_finds_two_entries_of_one_place():
    key = "ruaka town, kiambu, kenya"
    found = rekey(
        [("Ruaka Town, Kiambu, Kenya", None, None), ("RUAKA TOWN, Kiambu, Kenya", None, "Kiambu"), ("x", None, None)],
        [("NW_Ruaka Town_FDT_07", "Kiambu"), ("ADR_MNT_Ruaka Town SDUS3", "Kiambu"), ("NW_FDT_07", "Kiambu")],
        ["Kiambu"],
    )
    assert found.locations == [
        Location("Ruaka Town, Kiambu, Kenya", key, "Ruaka Town", "Kiambu"),
        Location("RUAKA TOWN, Kiambu, Kenya", key, "Ruaka Town", "Kiambu"),
    ]
    assert found.same_place == [("Ruaka Town, Kiambu, Kenya", "RUAKA TOWN, Kiambu, Kenya", key)]
    assert found.unplaced == ["x"]
    assert found.whence == {"labels": 2}
    assert found.spellings == [("ADR_MNT_Ruaka Town SDUS3", "Kiambu", key), ("NW_Ruaka Town_FDT_07", "Kiambu", key)]


def test_label_keys_are_the_geocoding_runs_rule():
    """The same reading as a geocoding run's (places.read_label): a label of codes alone is an entry of
    its own, as the run keys it."""
    labels = [("NW_Ruaka Town_FDT_07", "Kiambu"), ("NW_FDT_07", "Kiambu")]
    assert label_keys(labels) == [
        ("NW_FDT_07", "Kiambu", read_label("NW_FDT_07", "Kiambu").place, read_label("NW_FDT_07", "Kiambu").key),
        ("NW_Ruaka Town_FDT_07", "Kiambu", "Ruaka Town", location_key(strip_codes("NW_Ruaka Town_FDT_07"), "Kiambu")),
    ]


ALLOWED = {("inc", "geo_source"): frozenset({"feed", "location", "cluster", "none"})}


@pytest.mark.parametrize(
    ("values", "refusals"),
    [
        ({("inc", "geo_source"): {"location", "none"}}, []),
        (
            {("inc", "geo_source"): {"location", "gps", "GPS"}},
            ["tickets.inc.geo_source has values fleettickets does not know: GPS, gps"],
        ),
        ({("inc", "note"): {"anything"}}, []),  # no CHECK lists its values
    ],
)
def test_values_a_check_does_not_allow_refuse(values, refusals):
    assert unknown_values(values, ALLOWED) == refusals
