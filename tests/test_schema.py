"""The schema's rules (CONTRACT section 4), table-driven against the real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from psycopg.types.json import Jsonb

from tests.helpers import add_cluster, eat_text, insert_ticket, one

U = UTC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-06-15 17:00:00", datetime(2026, 6, 15, 14, 0, tzinfo=U)),  # EAT = UTC+3
        ("2026-06-15T17:00:00", datetime(2026, 6, 15, 14, 0, tzinfo=U)),
        ("2026-06-15 17:00", datetime(2026, 6, 15, 14, 0, tzinfo=U)),
        ("2026-06-15T17:05", datetime(2026, 6, 15, 14, 5, tzinfo=U)),
        ("2026-06-15 17:00:07.5", datetime(2026, 6, 15, 14, 0, 7, 500000, tzinfo=U)),
        ("2026-06-15 17:00:07.123456", datetime(2026, 6, 15, 14, 0, 7, 123456, tzinfo=U)),
        ("2026-06-15 17:00:00Z", datetime(2026, 6, 15, 17, 0, tzinfo=U)),
        ("2026-06-15T17:00Z", datetime(2026, 6, 15, 17, 0, tzinfo=U)),
        ("2026-06-15 17:00:00+03:00", datetime(2026, 6, 15, 14, 0, tzinfo=U)),
        ("2026-06-15 17:00:00+0000", datetime(2026, 6, 15, 17, 0, tzinfo=U)),
        ("2026-06-15 17:00+00", datetime(2026, 6, 15, 17, 0, tzinfo=U)),
        ("2026-06-15 17:00:00-05:00", datetime(2026, 6, 15, 22, 0, tzinfo=U)),
        ("2026-06-15 17:00:07.25+05:30", datetime(2026, 6, 15, 11, 30, 7, 250000, tzinfo=U)),
        ("2026-01-01 01:00:00", datetime(2025, 12, 31, 22, 0, tzinfo=U)),  # crosses the year in UTC
        ("2024-02-29 10:00", datetime(2024, 2, 29, 7, 0, tzinfo=U)),  # leap year
        ("2000-02-29 10:00", datetime(2000, 2, 29, 7, 0, tzinfo=U)),  # divisible by 400
        ("2026-02-29 10:00", None),  # not a leap year
        ("1900-02-29 10:00", None),  # divisible by 100
        ("2026-04-31 10:00", None),
        ("2026-13-45 25:61", None),
        ("2026-00-10 10:00", None),
        ("2026-06-15 24:00", None),
        ("2026-06-15 23:60", None),
        ("2026-06-15 17:00:60", None),
        ("2026-06-15 17:00-00", datetime(2026, 6, 15, 17, 0, tzinfo=U)),
        ("2026-06-15 17:00+14:00", datetime(2026, 6, 15, 3, 0, tzinfo=U)),
        ("2026-06-15 17:00:00+25:00", None),  # no such offset
        ("2026-06-15 17:00:00+03:61", None),
        ("0000-01-01 00:00", None),  # there is no year 0
        ("2026-06-15 05:00 pm", None),
        ("2026-06-15 17:00:00 EAT", None),
        ("2026-06-15 17:00:00 Africa/Nairobi", None),
        ("2026-0a-15 17:00", None),
        ("epoch", None),
        ("2026-06-15 17:00:00.1234567", None),  # more than microseconds
        ("2026-06-15 17:00:00+3", None),
        ("2026-06-15", None),
        (" 2026-06-15 17:00", None),
        ("15/06/2026 17:00", None),
        ("now", None),
        ("junk", None),
        ("", None),
        (None, None),
    ],
)
def test_eat_ts(conn, text, expected):
    assert one(conn, "SELECT tickets.eat_ts(%s)", (text,)) == expected


def test_eat_ts_is_immutable_and_strict(conn):
    # immutable: generated columns demand it; strict: a NULL (most empty fields) costs no call
    assert conn.execute(
        "SELECT provolatile, proisstrict FROM pg_proc WHERE oid = 'tickets.eat_ts'::regproc"
    ).fetchone() == (
        "i",
        True,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("True", True),
        ("t", True),
        ("1", True),
        ("yes", True),
        ("YES", True),
        ("false", False),
        ("FALSE", False),
        ("f", False),
        ("0", False),
        ("no", False),
        ("No", False),
        (" true ", True),
        ("", None),
        ("maybe", None),
        ("2", None),
        (None, None),
    ],
)
def test_booleans(conn, text, expected):
    insert_ticket(conn, "B1", is_actionable=text)
    assert one(conn, "SELECT is_actionable FROM tickets.inc") is expected


@pytest.mark.parametrize(
    ("hours", "minutes"),
    [
        ("12.5", 750),
        ("0", 0),
        ("1", 60),
        ("0.025", 2),
        ("-0.025", -2),
        ("0.0125", 1),
        ("2.999", 180),
        (" 3.5 ", 210),
        (".5", 30),
        ("", None),
        ("abc", None),
        ("1e3", None),
        ("NaN", None),
        ("99999999999", None),
        (None, None),
    ],
)
def test_mttr_hours_to_rounded_minutes(conn, hours, minutes):
    insert_ticket(conn, "M1", mttr=hours)
    assert one(conn, "SELECT mttr FROM tickets.inc") == minutes


@pytest.mark.parametrize(
    ("lat", "lng", "expected"),
    [
        ("-1.2921", "36.8219", (-1.2921, 36.8219, "feed")),
        ("90", "180", (90.0, 180.0, "feed")),
        ("-90", "-180", (-90.0, -180.0, "feed")),
        ("0", "36.8", (0.0, 36.8, "feed")),
        ("0", "0", (None, None, "none")),  # both zero is "no position"
        ("91", "36.8", (None, None, "none")),
        ("-1.29", "181", (None, None, "none")),
        ("abc", "36.8", (None, None, "none")),
        ("-1.29", "", (None, None, "none")),
        (None, None, (None, None, "none")),
    ],
)
def test_feed_coordinates(conn, lat, lng, expected):
    insert_ticket(conn, "F1", latitude=lat, longitude=lng)
    row = conn.execute("SELECT latitude, longitude, geo_source FROM tickets.inc").fetchone()
    assert row == expected


def test_typed_columns_have_the_seed_names(conn):
    columns = [
        r[0]
        for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'tickets' AND table_name = 'inc'"
            " ORDER BY ordinal_position"
        )
    ]
    for name in (
        "ticket_id",
        "raw",
        "geom",
        "geo_source",
        "ingested_at",
        "normalized_status",
        "raw_status",
        "bucket",
        "is_actionable",
        "cluster",
        "region",
        "location_name",
        "assigned_team",
        "owner",
        "sla_status",
        "mttr",
        "created_at_service",
        "scheduled_at",
        "closed_at",
        "first_seen_at",
        "last_seen_at",
        "source_created_at",
        "source_updated_at",
        "latitude",
        "longitude",
        "geog",
    ):
        assert name in columns
    for dropped in ("is_alarm", "is_auto_created", "is_auto_closed", "service_type"):
        assert dropped not in columns
    generated = {
        r[0]
        for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'tickets' AND table_name = 'inc'"
            " AND is_generated = 'ALWAYS'"
        )
    }
    assert generated == set(columns) - {"ticket_id", "raw", "geom", "geo_source", "ingested_at", "row_stamp"}
    assert one(conn, "SELECT indexdef FROM pg_indexes WHERE indexname = 'inc_geog_gist'").endswith("USING gist (geog)")


def test_changed_raw_retypes_the_row_and_re_resolves_its_position(conn):
    add_cluster(conn, "Kisumu Central", 34.76, -0.09)
    insert_ticket(conn, "R1", is_actionable="true", cluster="Nairobi", created_at_service="2026-06-15 17:00")
    conn.execute(
        "UPDATE tickets.inc SET raw = %s",
        (
            Jsonb(
                {
                    "is_actionable": "false",
                    "cluster": "Kisumu Central",
                    "created_at_service": "2026-06-16 08:00",
                    "region": "west",
                    "mttr": "2",
                }
            ),
        ),
    )
    row = conn.execute(
        "SELECT is_actionable, cluster, created_at_service, region, mttr, geo_source, longitude,"
        " round(ST_X(geog::geometry)::numeric, 2)::float8 FROM tickets.inc"
    ).fetchone()
    assert row == (False, "Kisumu Central", datetime(2026, 6, 16, 5, 0, tzinfo=U), "west", 120, "cluster", 34.76, 34.76)


def test_reresolve_moves_tickets_after_a_gazetteer_change(conn):
    insert_ticket(conn, "G1", cluster="Kisumu Central", location_name="NW_Milimani FDT_02")
    insert_ticket(conn, "G2", cluster="Nakuru")
    assert one(conn, "SELECT count(*) FROM tickets.inc WHERE geo_source = 'none'") == 2
    add_cluster(conn, "Kisumu Central", 34.76, -0.09)
    assert one(conn, "SELECT tickets.reresolve_geom()") == 1
    conn.execute(
        "INSERT INTO tickets.geo_locations (query, place, cluster, provider, status, geom)"
        " VALUES ('milimani, kisumu central, kenya', 'milimani', 'Kisumu Central', 'test', 'ok',"
        " ST_SetSRID(ST_MakePoint(34.75, -0.10), 4326))"
    )
    conn.execute(
        "INSERT INTO tickets.geo_location_names VALUES ('NW_Milimani FDT_02', 'Kisumu Central',"
        " 'milimani, kisumu central, kenya')"
    )
    assert one(conn, "SELECT tickets.reresolve_geom(ARRAY['Kisumu Central'])") == 1
    assert conn.execute("SELECT ticket_id, geo_source, latitude, longitude FROM tickets.inc ORDER BY 1").fetchall() == [
        ("G1", "location", -0.10, 34.75),
        ("G2", "none", None, None),
    ]
    assert one(conn, "SELECT tickets.reresolve_geom()") == 0  # nothing left to move


def sla_row(conn, ticket_id):
    return conn.execute(
        "SELECT sla_state, sla_clock_source FROM tickets.inc_open_sla WHERE ticket_id = %s", (ticket_id,)
    ).fetchone()


@pytest.mark.parametrize(
    ("age", "state"),
    [
        (timedelta(hours=48, minutes=1), "breached"),
        (timedelta(hours=48), "breached"),
        (timedelta(hours=47, minutes=59), "at_risk"),
        (timedelta(hours=36), "at_risk"),
        (timedelta(hours=35, minutes=59), "ok"),
        (timedelta(0), "ok"),
    ],
)
def test_sla_state_boundaries(conn, age, state):
    now = one(conn, "SELECT now()")  # the view's clock: the transaction's start
    insert_ticket(conn, "S1", is_actionable="true", created_at_service=eat_text(now - age))
    assert sla_row(conn, "S1") == (state, "created_at_service")


def test_sla_clock_falls_back_to_first_seen_at(conn):
    now = one(conn, "SELECT now()")
    insert_ticket(conn, "S2", is_actionable="true", first_seen_at=eat_text(now - timedelta(hours=40)))
    insert_ticket(conn, "S3", is_actionable="true")
    insert_ticket(conn, "S4", is_actionable="false", created_at_service=eat_text(now))
    assert sla_row(conn, "S2") == ("at_risk", "first_seen_at")
    assert sla_row(conn, "S3") == ("unknown", None)
    assert sla_row(conn, "S4") is None  # closed tickets are not in the view
    hours = one(conn, "SELECT hours_open FROM tickets.inc_open_sla WHERE ticket_id = 'S2'")
    assert 39.9 < float(hours) < 40.1


def test_map_open_only_vs_all_lng_lat_order_and_freshness(conn):
    add_cluster(conn, "Nairobi West", 36.78, -1.31)
    insert_ticket(conn, "O1", is_actionable="true", cluster="Nairobi West", mttr="1.5")
    insert_ticket(conn, "C1", is_actionable="false", cluster="Nairobi West")
    insert_ticket(conn, "N1", is_actionable="true", cluster="Nowhere")
    conn.execute(
        "SELECT tickets.record_import('inc', 'automations/inc/2026-06-15T17-00-00.csv',"
        ' \'2026-06-15 14:00+00\', \'{"source_etag": "abc", "inserted": 3}\')'
    )

    open_only = one(conn, "SELECT reporting.fn_tickets_for_map()")
    assert open_only["type"] == "FeatureCollection"
    assert [f["id"] for f in open_only["features"]] == ["O1"]
    feature = open_only["features"][0]
    assert feature["geometry"] == {"type": "Point", "coordinates": [36.78, -1.31]}  # [lng, lat]
    assert feature["properties"]["sla_state"] == "unknown"  # no clock; the lean properties carry no mttr
    assert feature["properties"]["geo_source"] == "cluster"
    assert "raw" not in feature["properties"] and "geog" not in feature["properties"]
    summary = open_only["summary"]
    assert (summary["tickets"], summary["geocoded"], summary["by_geo_source"]) == (2, 1, {"cluster": 1, "none": 1})
    assert summary["freshness"]["source_key"] == "automations/inc/2026-06-15T17-00-00.csv"
    assert summary["freshness"]["source_etag"] == "abc"
    assert summary["freshness"]["snapshot_at"].startswith("2026-06-15T14:00:00")

    everything = one(conn, "SELECT reporting.fn_tickets_for_map(p_open_only := false)")
    assert [f["id"] for f in everything["features"]] == ["C1", "O1"]
    assert everything["summary"]["tickets"] == 3


def test_map_on_an_empty_table(conn):
    result = one(conn, "SELECT reporting.fn_tickets_for_map()")
    assert result["features"] == [] and result["summary"]["tickets"] == 0 and result["summary"]["freshness"] is None
