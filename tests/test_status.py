"""`fleettickets status`: what an operator reads on a normal morning, as JSON with its exit codes,
and on a database that is not migrated yet."""

from __future__ import annotations

import json

import psycopg
from typer.testing import CliRunner

from fleettickets import migrate
from fleettickets.cli import app


def test_status_tells_the_truth(loaded):
    result = CliRunner().invoke(app, ["status"], env={"DATABASE_URL": loaded})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "last check    none yet"  # a --csv load is not a check of the bucket
    assert lines[1].startswith("newest snap.  2026-06-15T07-00-00 EAT (") and lines[1].endswith("-00.csv")
    assert lines[2].startswith("last load     ") and "2026-06-15T07-00-00.csv" in lines[2]
    assert "read 6, kept 4, inserted 4, updated 0, unchanged 0, stale 0, malformed 0" in lines[3]
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
