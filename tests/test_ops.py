"""Operations: status, configuration, run_ingest.sh, the README's queries, the deployment files."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from devtools.geocoder import DevGeocoder
from fleettickets import migrate
from fleettickets.cli import app
from fleettickets.config import load_settings, redact, redact_url
from fleettickets.errors import ConfigError
from fleettickets.geocode.run import geocode_clusters, geocode_locations
from fleettickets.ingest import ingest_csv
from tests.conftest import CONTRACT_NAMES
from tests.helpers import csv_text, quiet, record

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def loaded(db_url, tmp_path) -> str:
    """A database after one ingest and geocoding: what an operator sees on a normal morning."""
    path = tmp_path / "2026-06-15T07-00-00.csv"
    path.write_text(
        csv_text(
            [
                record("T1"),
                record("T2", location_name="NW_Lavington"),
                record("T3", cluster="Kisumu", location_name="X"),
                record("T4", is_actionable="false", bucket="closed"),
                record("T5", is_alarm="true"),
            ],
            sentinel=True,
        )
    )
    settings = load_settings({"DATABASE_URL": db_url})
    ingest_csv(settings, path, quiet(), apply=True)
    with DevGeocoder() as provider:
        geo = load_settings(
            {"DATABASE_URL": db_url, "GEOCODER_API_KEY": "k", "GEOCODER_BASE_URL": provider.url, "GEOCODER_RATE": "100"}
        )
        geocode_clusters(geo, quiet(), apply=True)
        geocode_locations(geo, quiet(), apply=True)
    return db_url


def test_status_tells_the_truth(loaded):
    result = CliRunner().invoke(app, ["status"], env={"DATABASE_URL": loaded})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "last check    none yet"  # a --csv load is not a check of the bucket
    assert lines[1].startswith("newest snap.  2026-06-15T07-00-00 EAT (") and lines[1].endswith("-00.csv")
    assert lines[2].startswith("last load     ") and "2026-06-15T07-00-00.csv" in lines[2]
    assert "read 6, kept 4, inserted 4, updated 0, unchanged 0, malformed 0" in lines[3]
    assert lines[4] == "tickets       4 (3 open, 1 closed)"
    assert lines[5] == "positions     location 3, cluster 1, feed 0, none 0"
    assert lines[6] == "gazetteer     clusters  ok 2, not_found 0, rejected 0, error 0, unverified 2"
    assert lines[7] == "gazetteer     locations ok 2, not_found 1, rejected 0, error 0, unverified 3"
    assert lines[8].startswith("open by SLA   breached 3,")
    assert lines[9] == f"migrations    {len(migrate.discover())} applied, 0 pending"


def test_status_json_and_health_exit_codes(loaded):
    result = CliRunner().invoke(app, ["status", "--json"], env={"DATABASE_URL": loaded})
    report = json.loads(result.stdout)
    assert report["tickets"] == {"total": 4, "open": 3, "closed": 1}
    assert report["last_ingest"]["source_etag"] is None and report["problems"] == []
    with psycopg.connect(loaded) as c:  # the newest snapshot: an hour old
        c.execute("UPDATE tickets.feed_check SET newest_at = now() - interval '1 hour'")
    assert CliRunner().invoke(app, ["status", "--max-age-hours", "2"], env={"DATABASE_URL": loaded}).exit_code == 0
    with psycopg.connect(loaded) as c:
        c.execute("UPDATE tickets.feed_check SET newest_at = now() - interval '30 hours'")
    stale = CliRunner().invoke(app, ["status", "--max-age-hours", "26"], env={"DATABASE_URL": loaded})
    assert stale.exit_code == 1 and "the newest snapshot is 30.0 h old, more than 26 h" in stale.stderr


def test_status_on_a_new_database_says_what_to_do(empty_db_url):
    result = CliRunner().invoke(app, ["status"], env={"DATABASE_URL": empty_db_url})
    assert result.exit_code == 1
    assert "last load     none yet" in result.stdout
    assert "migration(s) pending (next: 01_tickets_schema.sql): run `fleettickets migrate`" in result.stderr


def test_readme_queries_run_against_the_real_schema(loaded):
    readme = (REPO / "README.md").read_text()
    block = re.search(r"## Querying\s+```sql\n(.*?)```", readme, re.S).group(1)
    sql = re.sub(r"--[^\n]*", "", block).replace(":lng", "36.78").replace(":lat", "-1.28")
    statements = [s.strip() for s in sql.split(";") if s.strip()]
    assert len(statements) == 9
    with psycopg.connect(loaded) as c:
        results = [c.execute(s).fetchall() for s in statements]
    assert results[0][0][0]["summary"]["tickets"] == 3
    assert results[4] == [] or results[4][0][0] is not None
    nearest = results[5]
    assert [r[0] for r in nearest] == ["T1", "T2", "T3"]  # Kileleshwa ~0.4 km, Lavington ~1.2 km, Kisumu
    assert 300 < nearest[0][3] < 500


def test_run_ingest_sh_end_to_end(store, empty_db_url, tmp_path):
    store.put("automations/inc/2026-06-15T07-00-00.csv", csv_text([record("T1"), record("T2")]))
    with DevGeocoder() as provider:
        env = {
            **{k: v for k, v in os.environ.items() if k not in CONTRACT_NAMES},
            **store.env(empty_db_url),
            "GEOCODER_API_KEY": "k",
            "GEOCODER_BASE_URL": provider.url,
            "GEOCODER_RATE": "100",
            "GEOCODE_BUDGET": "5",
            "FLEETTICKETS_MAX_AGE_HOURS": "",  # the file is stamped months ago: no freshness alarm here
        }
        result = subprocess.run([str(REPO / "run_ingest.sh")], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "migrations: applied" in out and "ingested automations/inc/2026-06-15T07-00-00.csv" in out
    assert "geocoded clusters:" in out and "geocoded locations:" in out
    with psycopg.connect(empty_db_url) as c:
        assert c.execute("SELECT geo_source, count(*) FROM tickets.inc GROUP BY 1").fetchall() == [("location", 2)]


def test_run_ingest_sh_fails_fast_on_a_missing_variable(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in CONTRACT_NAMES}
    result = subprocess.run([str(REPO / "run_ingest.sh")], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode != 0 and "DATABASE_URL: is not set (see .env.example)" in result.stderr


def test_env_file_is_read_and_real_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("DATABASE_URL=postgresql://a:pw@h/db\nRUSTFS_BUCKET=from-file\nGEOCODER_RATE=2\n")
    settings = load_settings({"RUSTFS_BUCKET": "from-env"}, env_file)
    assert (settings.database_url, settings.s3_bucket, settings.geocoder_rate) == (
        "postgresql://a:pw@h/db",
        "from-env",
        2.0,
    )
    defaults = load_settings({}, tmp_path / "missing.env")
    assert (defaults.s3_bucket, defaults.s3_region, defaults.geocoder_provider, defaults.geocoder_rate) == (
        "tickets",
        "us-east-1",
        "locationiq",
        1.0,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"GEOCODER_PROVIDER": "google"}, "GEOCODER_PROVIDER must be one of locationiq, opencage"),
        ({"GEOCODER_RATE": "fast"}, "GEOCODER_RATE must be a positive number"),
        ({"GEOCODER_RATE": "0"}, "GEOCODER_RATE must be a positive number"),
    ],
)
def test_bad_settings_are_refused(env, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        load_settings(env, tmp_path / "none")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql://fleet:s3cret@db.internal:5433/tracksolid_db",
            "postgresql://fleet:***@db.internal:5433/tracksolid_db",
        ),
        ("postgresql://fleet@db/x", "postgresql://fleet@db:5432/x"),
        ("host=db user=fleet password=s3cret dbname=x", "postgresql://fleet:***@db:5432/x"),
        ("not a url at all", "<unparseable connection string>"),
    ],
)
def test_redact_url(url, shown):
    assert redact_url(url) == shown


def test_secrets_seen_in_settings_are_redacted_everywhere(tmp_path):
    load_settings(
        {
            "DATABASE_URL": "postgresql://u:pass-word-1@h/d",
            "GEOCODER_API_KEY": "key-abc-123",
            "RUSTFS_SECRET_KEY": "s3-secret-9",
        },
        tmp_path / "none",
    )
    assert redact("a pass-word-1 b key-abc-123 c s3-secret-9") == "a *** b *** c ***"


def test_migrate_names_a_missing_postgis():
    assert "apt-get install postgresql-15-postgis-3" in migrate.hint(
        'could not open extension control file "/usr/share/postgresql/15/extension/postgis.control"'
    )
    assert migrate.hint("syntax error at or near x") == ""


def test_env_example_names_every_setting():
    text = (REPO / ".env.example").read_text()
    for name in CONTRACT_NAMES:
        assert re.search(rf"^{name}=", text, re.M), name


def test_dockerfile_runs_only_tested_commands():
    dockerfile = (REPO / "Dockerfile").read_text()
    assert 'CMD ["python", "-m", "fleettickets.health"]' in dockerfile  # tests/test_deploy.py
    assert 'CMD ["python", "-m", "fleettickets.worker"]' in dockerfile
    assert "USER fleet" in dockerfile and "COPY migrations" in dockerfile
    assert "-r /tmp/requirements.lock" in dockerfile


def test_verbose_shows_the_detail_but_never_the_password():
    env = {"DATABASE_URL": "postgresql://fleet:sup3r-secret@127.0.0.1:9/x"}
    plain = CliRunner().invoke(app, ["status"], env=env)
    assert plain.exit_code == 1 and "Traceback" not in plain.stderr
    verbose = CliRunner().invoke(app, ["--verbose", "status"], env=env)
    assert verbose.exit_code == 1 and "Traceback" in verbose.stderr and "DatabaseError" in verbose.stderr
    assert "sup3r-secret" not in verbose.output


@pytest.mark.parametrize(
    "args",
    [
        ["status"],
        ["migrate"],
        ["ingest", "--from-bucket", "--apply"],
        ["geocode", "clusters"],
        ["report", "daily"],
        ["gazetteer", "list"],
    ],
)
def test_no_env_file_and_no_database_url_is_one_line(args):
    result = CliRunner().invoke(app, args, env={})
    assert result.exit_code == 1
    assert result.stderr.startswith("error: DATABASE_URL is not set") or result.stderr.startswith(
        "error: RUSTFS_ENDPOINT, RUSTFS_ACCESS_KEY, RUSTFS_SECRET_KEY not set"
    )
    assert result.stderr.count("\n") == 1


def test_malformed_database_url_is_one_line():
    result = CliRunner().invoke(app, ["status"], env={"DATABASE_URL": "postgresql://fleet:pw@host:notaport/db x"})
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: DATABASE_URL is malformed") or result.stderr.startswith(
        "error: cannot connect to the database"
    )
    assert ":pw@" not in result.output
