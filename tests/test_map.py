"""The map payload (migration 20): same features as before, lean typed properties, the same bytes in
every session time zone, a bounding box, a cap on closed tickets, and the by-position variant."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, timedelta
from pathlib import Path

import polars as pl
import psycopg
import pytest
from geojson_pydantic import FeatureCollection

from tests.helpers import add_cluster, eat_text, insert_ticket, one

ZONES = ("UTC", "Africa/Nairobi", "America/Santiago", "Asia/Beirut", "Pacific/Kiritimati")
PROPERTIES = {
    "ticket_id",
    "normalized_status",
    "cluster",
    "location_name",
    "assigned_team",
    "owner",
    "sla_state",
    "hours_open",
    "closed_at",
    "geo_source",
}


def tickets(conn: psycopg.Connection) -> None:
    """Open tickets in every SLA state, closed ones recent and old, one unplaced, one without a status."""
    now = one(conn, "SELECT now()")  # the transaction's: the map's hours_open counts from it too

    def ago(hours: float) -> str:
        return eat_text(now - timedelta(hours=hours))

    add_cluster(conn, "C1", 36.78, -1.31)
    add_cluster(conn, "C2", 37.00, -1.00)
    insert_ticket(
        conn,
        "O1",
        is_actionable="true",
        cluster="C1",
        created_at_service=ago(10),
        assigned_team="Alpha",
        owner="J. Otieno",
    )
    insert_ticket(conn, "O2", is_actionable="true", latitude="-1.29", longitude="36.80", created_at_service=ago(40))
    insert_ticket(conn, "O3", is_actionable="true", cluster="C2", first_seen_at=ago(50), normalized_status="pending")
    insert_ticket(conn, "O4", is_actionable="true", cluster="C1")  # no clock at all: unknown
    insert_ticket(conn, "N1", is_actionable="true", cluster="Nowhere")  # no position: counted, not drawn
    insert_ticket(conn, "C1", is_actionable="false", cluster="C1", created_at_service=ago(60), closed_at=ago(48))
    insert_ticket(conn, "C2", is_actionable="false", latitude="-1.29", longitude="36.80", closed_at=ago(24 * 30))
    insert_ticket(conn, "X1", is_actionable="maybe", cluster="C2")  # not a boolean: not open
    conn.execute(
        "SELECT tickets.record_import('inc', 'automations/inc/2026-06-15T17-00-00.csv',"
        ' \'2026-06-15 17:00+03\', \'{"source_etag": "abc", "inserted": 3}\')'
    )
    # later runs found byte-identical exports: nothing loaded, but the feed was checked and is live
    conn.execute(
        "SELECT tickets.record_check('inc', 'unchanged', 'automations/inc/2026-06-16T12-00-00.csv',"
        " '2026-06-16 12:00+03')"
    )


@pytest.fixture
def map_conn(conn: psycopg.Connection) -> psycopg.Connection:
    tickets(conn)
    # the function as migration 09 left it (before the R__ files), to compare with
    conn.execute((Path(__file__).with_name("map_before_20.sql")).read_text())
    return conn


def features(payload: dict) -> dict[str, list[float]]:
    return {f["id"]: f["geometry"]["coordinates"] for f in payload["features"]}


@pytest.mark.parametrize(("call", "before"), [("()", "()"), ("(p_open_only := false)", "(false)")])
def test_the_dashboards_two_calls_return_the_same_features_as_before(map_conn, call, before):
    new = one(map_conn, f"SELECT reporting.fn_tickets_for_map{call}")
    old = one(map_conn, f"SELECT pg_temp.map_before_20{before}")
    assert list(features(new)) == list(features(old))  # same tickets, same order (ticket_id)
    assert features(new) == features(old)  # same points, [lng, lat]
    for key in ("open_only", "tickets", "geocoded", "by_geo_source"):
        assert new["summary"][key] == old["summary"][key]
    assert new["summary"]["freshness"]["source_etag"] == "abc"


@pytest.mark.parametrize("function", ["fn_tickets_for_map", "fn_tickets_for_map_by_position"])
def test_freshness_has_the_last_load_the_last_check_and_the_newest_snapshot(map_conn, function):
    freshness = one(map_conn, f"SELECT reporting.{function}()")["summary"]["freshness"]
    checked = one(map_conn, "SELECT reporting.utc_text(now())")
    assert freshness == {
        "source_key": "automations/inc/2026-06-15T17-00-00.csv",  # the last load, as before
        "snapshot_at": "2026-06-15T14:00:00Z",
        "ingested_at": checked,
        "source_etag": "abc",
        "inserted": 3,
        "checked_at": checked,  # the last successful run, which loaded nothing
        "newest_snapshot_key": "automations/inc/2026-06-16T12-00-00.csv",
        "newest_snapshot_at": "2026-06-16T09:00:00Z",
    }


def test_freshness_of_a_feed_checked_but_never_loaded(conn):
    conn.execute("SELECT tickets.record_check('inc', 'no-snapshot', NULL, NULL)")
    freshness = one(conn, "SELECT reporting.fn_tickets_for_map()")["summary"]["freshness"]
    assert freshness["source_key"] is None and freshness["newest_snapshot_at"] is None
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", freshness["checked_at"])


def test_open_only_by_default_all_on_request(map_conn):
    assert list(features(one(map_conn, "SELECT reporting.fn_tickets_for_map()"))) == ["O1", "O2", "O3", "O4"]
    everything = one(map_conn, "SELECT reporting.fn_tickets_for_map(p_open_only := false)")
    assert list(features(everything)) == ["C1", "C2", "O1", "O2", "O3", "O4", "X1"]
    assert everything["summary"]["tickets"] == 8 and everything["summary"]["geocoded"] == 7


def test_properties_are_the_listed_typed_columns(map_conn):
    payload = one(map_conn, "SELECT reporting.fn_tickets_for_map(p_open_only := false)")
    by_id = {f["id"]: f["properties"] for f in payload["features"]}
    assert all(set(p) == PROPERTIES for p in by_id.values())
    assert {t: p["sla_state"] for t, p in by_id.items()} == {
        "O1": "ok",
        "O2": "at_risk",
        "O3": "breached",
        "O4": "unknown",
        "C1": "closed",
        "C2": "closed",
        "X1": "closed",
    }
    assert isinstance(by_id["O2"]["hours_open"], float) and 39.9 <= by_id["O2"]["hours_open"] <= 40.1
    assert by_id["O4"]["hours_open"] is None and by_id["C1"]["hours_open"] is None
    closed = (one(map_conn, "SELECT now()") - timedelta(hours=48)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert by_id["C1"]["closed_at"] == closed and by_id["O1"]["closed_at"] is None
    assert by_id["O1"]["assigned_team"] == "Alpha" and by_id["O1"]["geo_source"] == "cluster"
    assert by_id["O2"]["geo_source"] == "feed" and by_id["O3"]["normalized_status"] == "pending"
    assert by_id["O1"]["owner"] == "J. Otieno" and by_id["O2"]["owner"] is None


def test_ticket_id_is_a_property_too_and_first_in_the_type(map_conn):
    payload = one(map_conn, "SELECT reporting.fn_tickets_for_map(p_open_only := false)")
    assert all(f["properties"]["ticket_id"] == f["id"] for f in payload["features"])  # a GL promoteId
    attributes = [
        r[0]
        for r in map_conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'reporting.map_ticket_properties'::regclass"
            " AND attnum > 0 ORDER BY attnum"
        )
    ]
    assert attributes[:1] == ["ticket_id"] and set(attributes) == PROPERTIES


@pytest.mark.parametrize("function", ["fn_tickets_for_map", "fn_tickets_for_map_by_position"])
def test_the_same_bytes_in_every_session_time_zone(map_conn, function):
    texts = set()
    for zone in ZONES:  # one transaction: now(), and so hours_open, stays put
        map_conn.execute("SELECT set_config('TimeZone', %s, true)", (zone,))
        texts.add(one(map_conn, f"SELECT reporting.{function}(p_open_only := false)::text"))
    assert len(texts) == 1
    text = texts.pop()
    stamps = re.findall(r'"\d{4}-\d\d-\d\dT[^"]*"', text)
    assert stamps and all(re.fullmatch(r'"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"', s) for s in stamps)
    assert '"snapshot_at": "2026-06-15T14:00:00Z"' in text
    assert '"newest_snapshot_at": "2026-06-16T09:00:00Z"' in text and '"checked_at": "' in text


def test_a_bounding_box_and_a_cap_on_closed_tickets(map_conn):
    box = one(
        map_conn,
        "SELECT reporting.fn_tickets_for_map(p_open_only := false, p_bbox := ARRAY[36.79, -1.3, 36.81, -1.28])",
    )
    assert list(features(box)) == ["C2", "O2"]
    assert box["summary"]["bbox"] == [36.79, -1.3, 36.81, -1.28] and box["summary"]["tickets"] == 2
    week = one(map_conn, "SELECT reporting.fn_tickets_for_map(p_open_only := false, p_closed_within_days := 7)")
    assert list(features(week)) == ["C1", "O1", "O2", "O3", "O4"]  # C2 closed 30 days ago; X1 has no closed_at
    assert week["summary"]["closed_within_days"] == 7
    capped_open = one(map_conn, "SELECT reporting.fn_tickets_for_map(p_closed_within_days := 7)")
    assert capped_open["features"] == one(map_conn, "SELECT reporting.fn_tickets_for_map()")["features"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ("p_bbox := ARRAY[36.0, -1.3, 36.8]", "p_bbox must be ARRAY[west, south, east, north]"),
        ("p_bbox := ARRAY[36.0, -1.0, 36.8, -1.3]", "p_bbox must be ARRAY[west, south, east, north]"),
        ("p_bbox := ARRAY[36.0, NULL, 36.8, -1.3]", "p_bbox must be ARRAY[west, south, east, north]"),
        ("p_bbox := ARRAY[36.0, -91, 36.8, -1.3]", "p_bbox must be ARRAY[west, south, east, north]"),
        ("p_closed_within_days := -1", "p_closed_within_days must be 0 or more"),
    ],
)
@pytest.mark.parametrize("function", ["fn_tickets_for_map", "fn_tickets_for_map_by_position"])
def test_bad_arguments_are_refused_in_one_line(map_conn, function, args, message):
    with pytest.raises(psycopg.errors.RaiseException, match=re.escape(message)):
        map_conn.execute(f"SELECT reporting.{function}({args})")


def test_by_position_one_marker_per_point_with_counts_and_ids(map_conn):
    payload = one(map_conn, "SELECT reporting.fn_tickets_for_map_by_position(p_open_only := false)")
    points = {tuple(f["geometry"]["coordinates"]): f for f in payload["features"]}
    assert set(points) == {(36.78, -1.31), (36.8, -1.29), (37.0, -1.0)}
    c1 = points[(36.78, -1.31)]
    assert re.fullmatch(r"[0-9a-z]{12}", c1["id"])  # the point's geohash: a stable marker key
    assert c1["properties"] == {
        "tickets": 3,
        "breached": 0,
        "at_risk": 0,
        "ok": 1,
        "unknown": 1,
        "closed": 1,
        "cluster": "C1",
        "geo_source": "cluster",
        "ticket_ids": ["O1", "C1", "O4"],  # the longest open first, then by id
    }
    assert points[(37.0, -1.0)]["properties"]["breached"] == 1
    assert payload["summary"] == one(map_conn, "SELECT reporting.fn_tickets_for_map(p_open_only := false)")["summary"]
    capped = one(map_conn, "SELECT reporting.fn_tickets_for_map_by_position(p_open_only := false, p_max_ids := 1)")
    assert {tuple(f["geometry"]["coordinates"]): f["properties"]["ticket_ids"] for f in capped["features"]} == {
        (36.78, -1.31): ["O1"],
        (36.8, -1.29): ["O2"],
        (37.0, -1.0): ["O3"],
    }
    everything = one(
        map_conn, "SELECT reporting.fn_tickets_for_map_by_position(p_open_only := false, p_max_ids := NULL)"
    )
    assert sum(len(f["properties"]["ticket_ids"]) for f in everything["features"]) == 7


@pytest.mark.parametrize(
    "call",
    [
        "fn_tickets_for_map()",
        "fn_tickets_for_map(p_open_only := false)",
        "fn_tickets_for_map_by_position()",
        "fn_tickets_for_map_by_position(p_open_only := false)",
        "fn_tickets_for_map(p_bbox := ARRAY[0, 0, 1, 1])",  # nothing inside: an empty collection
    ],
)
def test_every_payload_is_valid_geojson(map_conn, call):
    payload = one(map_conn, f"SELECT reporting.{call}")
    collection = FeatureCollection.model_validate(payload)  # RFC 7946 models, strict about structure
    for feature in collection.features:
        lng, lat = feature.geometry.coordinates
        assert -180 <= lng <= 180 and -90 <= lat <= 90 and lng > 30  # [lng, lat]: Kenya's longitudes


def test_the_map_layer_view_has_ticket_id_first_and_one_geometry(map_conn):
    columns = [
        r[0]
        for r in map_conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'reporting.inc_map'::regclass AND attnum > 0"
            " ORDER BY attnum"
        )
    ]
    assert columns[0] == "ticket_id" and "geom" in columns and "geog" not in columns
    rows = one(map_conn, "SELECT count(*) FROM reporting.inc_map")
    assert rows == one(map_conn, "SELECT count(DISTINCT ticket_id) FROM reporting.inc_map") == 8


def test_the_properties_read_back_typed_in_polars(map_conn):
    payload = one(map_conn, "SELECT reporting.fn_tickets_for_map(p_open_only := false)::text")
    properties = json.dumps([f["properties"] for f in json.loads(payload)["features"]])
    schema = {
        "ticket_id": pl.String,
        "normalized_status": pl.String,
        "cluster": pl.String,
        "location_name": pl.String,
        "assigned_team": pl.String,
        "owner": pl.String,
        "sla_state": pl.String,
        "hours_open": pl.Float64,
        "closed_at": pl.Datetime("us", "UTC"),
        "geo_source": pl.String,
    }
    frame = pl.read_json(io.StringIO(properties), schema=schema)  # strict: a number in quotes fails
    assert frame.height == 7 and frame["hours_open"].null_count() == 4 and frame["closed_at"].null_count() == 5
    inferred = pl.read_json(io.StringIO(properties)).schema
    assert inferred["hours_open"] == pl.Float64 and inferred["closed_at"] == pl.String
