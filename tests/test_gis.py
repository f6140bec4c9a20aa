"""How GIS tools see the schema, with GDAL itself (Debian's gdal-bin): every layer the README names
opens without an error, the map layer leads with its key, and the map payload reads as GeoJSON.

scripts/test installs gdal-bin and sets FLEETTICKETS_TEST_REQUIRE_GDAL, so there a missing ogrinfo
fails; a developer running pytest without gdal-bin sees these tests skipped, with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest
from geojson_pydantic import FeatureCollection

from tests.helpers import add_cluster, eat_text, insert_ticket, one

GDAL_MISSING = "ogrinfo/ogr2ogr not found: apt-get install -y --no-install-recommends gdal-bin"


def gdal(tool: str, *args: str, url: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a GDAL tool; with `url`, its password travels in PGPASSWORD, never in the arguments
    (which a failing assertion would print)."""
    if shutil.which(tool) is None:
        if os.environ.get("FLEETTICKETS_TEST_REQUIRE_GDAL"):
            pytest.fail(GDAL_MISSING)
        pytest.skip(GDAL_MISSING)
    env = dict(os.environ)
    password = psycopg.conninfo.conninfo_to_dict(url).get("password") if url else None
    if password:
        env["PGPASSWORD"] = str(password)
    return subprocess.run([tool, *args], capture_output=True, text=True, timeout=60, check=False, env=env)


def pg_source(url: str) -> str:
    """The database as GDAL's PostgreSQL driver takes it: PG: and libpq key=value pairs from the same
    URL as the tests' (the password goes through gdal()'s environment)."""
    params = psycopg.conninfo.conninfo_to_dict(url)
    params.pop("password", None)
    return "PG:" + psycopg.conninfo.make_conninfo("", **params)


@pytest.fixture
def gis_db(db_url) -> str:
    with psycopg.connect(db_url, autocommit=True) as c:
        add_cluster(c, "C1", 36.78, -1.31)
        insert_ticket(
            c, "O1", is_actionable="true", cluster="C1", created_at_service="2026-06-15 08:00", owner="J. Mwangi"
        )
        insert_ticket(c, "O2", is_actionable="true", latitude="-1.29", longitude="36.80")
        insert_ticket(c, "C9", is_actionable="false", cluster="C1", closed_at=eat_text(one(c, "SELECT now()")))
        insert_ticket(c, "N1", is_actionable="true", cluster="Nowhere")
    return db_url


def summary(url: str, layer: str) -> str:
    result = gdal("ogrinfo", "-ro", "-so", pg_source(url), layer, url=url)
    assert result.returncode == 0 and "ERROR" not in result.stderr, result.stderr
    return result.stdout


@pytest.mark.parametrize(
    ("layer", "count"),
    [("reporting.inc_map", 4), ("tickets.inc_open_sla(geom)", 3), ("tickets.inc(geom)", 4)],
)
def test_each_layer_the_readme_names_opens_cleanly(gis_db, layer, count):
    text = summary(gis_db, layer)
    assert "Geometry: Point" in text and f"Feature Count: {count}" in text
    assert 'ID["EPSG",4326]' in text


def test_the_map_layer_leads_with_its_key_and_has_typed_fields(gis_db):
    text = summary(gis_db, "reporting.inc_map")
    fields = [line.split(":")[0] for line in text.split("Geometry Column = geom\n", 1)[1].splitlines()]
    assert fields[0] == "ticket_id"  # QGIS takes a view's first column as its key
    assert "hours_open: Real" in text and "closed_at: DateTime" in text and "geog" not in text


def test_the_listing_shows_the_map_layer_with_one_geometry(gis_db):
    result = gdal("ogrinfo", "-ro", pg_source(gis_db), url=gis_db)
    assert result.returncode == 0, result.stderr
    assert "reporting.inc_map (Point)" in result.stdout


def test_ogr2ogr_exports_the_map_layer_as_valid_geojson(gis_db, tmp_path):
    out = tmp_path / "map.geojson"
    result = gdal("ogr2ogr", "-f", "GeoJSON", str(out), pg_source(gis_db), "reporting.inc_map", url=gis_db)
    assert result.returncode == 0 and "ERROR" not in result.stderr, result.stderr
    collection = FeatureCollection.model_validate_json(out.read_text())
    assert sorted(f.properties["ticket_id"] for f in collection.features) == ["C9", "N1", "O1", "O2"]


@pytest.mark.parametrize("function", ["fn_tickets_for_map", "fn_tickets_for_map_by_position"])
def test_gdal_reads_the_map_payload_as_geojson_with_typed_fields(gis_db, tmp_path, function):
    with psycopg.connect(gis_db) as c:
        payload = one(c, f"SELECT reporting.{function}(p_open_only := false)::text")
    path = Path(tmp_path / "payload.geojson")
    path.write_text(payload)
    result = gdal("ogrinfo", "-ro", "-so", "-al", str(path))
    assert result.returncode == 0 and "ERROR" not in result.stderr and "Warning" not in result.stderr, result.stderr
    features = len(json.loads(payload)["features"])
    assert f"Feature Count: {features}" in result.stdout
    if function == "fn_tickets_for_map":
        assert "hours_open: Real" in result.stdout and "closed_at: DateTime" in result.stdout
        assert "ticket_id: String" in result.stdout and "owner: String" in result.stdout
    else:
        assert "tickets: Integer" in result.stdout and "ticket_ids: StringList" in result.stdout
