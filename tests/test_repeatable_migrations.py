"""Repeatable migrations (R__name.sql) and the ledger's Flyway checks, against a real server.

An existing database moves over with no manual step: databases built by the released runner from
the released files (01-15 as deployed, 01-21 as on main before issue 14) upgrade with one
`migrate` and end with the same schema as a fresh database.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from fleettickets import migrate
from fleettickets.cli import app
from fleettickets.errors import MigrationError
from tests.conftest import database_url
from tests.helpers import quiet
from tests.pgcluster import PG_BIN
from tests.released import DEPLOYED, MAIN_BEFORE, migrate_as_released

REPO = Path(__file__).resolve().parent.parent


SCHEMA = {
    "functions": """
        SELECT p.oid::regprocedure::text, pg_get_functiondef(p.oid)
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname IN ('tickets', 'reporting') ORDER BY 1""",
    "views": """
        SELECT c.oid::regclass::text, pg_get_viewdef(c.oid)
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname IN ('tickets', 'reporting') AND c.relkind = 'v' ORDER BY 1""",
    "columns": """
        SELECT c.oid::regclass::text, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid), a.attgenerated
          FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
          LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE n.nspname IN ('tickets', 'reporting') AND a.attnum > 0 AND NOT a.attisdropped
         ORDER BY 1, a.attnum""",
    "constraints": """
        SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
          FROM pg_constraint WHERE connamespace IN ('tickets'::regnamespace, 'reporting'::regnamespace)
         ORDER BY 1, 2""",
    "indexes": """
        SELECT indexname, indexdef FROM pg_indexes WHERE schemaname IN ('tickets', 'reporting') ORDER BY 1""",
    "triggers": """
        SELECT tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
         WHERE c.relnamespace IN ('tickets'::regnamespace, 'reporting'::regnamespace) AND NOT t.tgisinternal
         ORDER BY 1""",
    "types": """
        SELECT t.oid::regtype::text FROM pg_type t
         WHERE t.typnamespace IN ('tickets'::regnamespace, 'reporting'::regnamespace) ORDER BY 1""",
}


def schema(url: str) -> dict[str, list[tuple]]:
    with psycopg.connect(url) as c:
        return {kind: c.execute(query).fetchall() for kind, query in SCHEMA.items()}


def dump(url: str) -> str:
    """pg_dump --schema-only, less the random key of its \\restrict lines."""
    params = psycopg.conninfo.conninfo_to_dict(url)
    out = subprocess.run(
        [
            str(PG_BIN / "pg_dump"),
            "--schema-only",
            "-h",
            params["host"],
            "-p",
            str(params["port"]),
            "-U",
            params["user"],
        ],
        env={"PGPASSWORD": str(params.get("password", "")), "PGDATABASE": params["dbname"], "PATH": os.defpath},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return "\n".join(line for line in out.splitlines() if not line.startswith(("\\restrict", "\\unrestrict")))


def ledger(url: str) -> list[tuple]:
    with psycopg.connect(url) as c:
        return c.execute(
            "SELECT version, type, script, checksum FROM tickets.schema_migrations ORDER BY version NULLS LAST, script"
        ).fetchall()


def expected_ledger() -> list[tuple]:
    kind = {True: "repeatable", False: "versioned"}
    return [(m.version, kind[m.repeatable], m.script, m.checksum()) for m in migrate.discover()]


def copy_migrations(tmp_path: Path) -> Path:
    target = tmp_path / "migrations"
    shutil.copytree(REPO / "migrations", target)
    return target


def test_each_function_and_view_is_defined_in_one_file():
    """A reader finds each definition once: no two files create the same function or view."""
    definition = re.compile(r"CREATE (?:OR REPLACE )?(FUNCTION|VIEW) ([a-z_]+\.[a-z_][a-z0-9_]*)", re.IGNORECASE)
    where: dict[str, list[str]] = {}
    for m in migrate.discover():
        for kind, name in definition.findall(m.sql()):
            where.setdefault(f"{kind.lower()} {name}", []).append(m.script)
    twice = {name: files for name, files in where.items() if len(files) > 1}
    # The functions stored columns are computed with are part of their table (see README): 19 made
    # the number conversions total, a change that had to say what becomes of the rows stored.
    assert twice == {
        "function tickets.num": ["01_tickets_schema.sql", "19_total_conversions.sql"],
        "function tickets.hours_to_minutes": ["06_inc_mttr_minutes.sql", "19_total_conversions.sql"],
    }
    views = {name for name in where if name.startswith("view ")}
    assert all(where[name][0].startswith("R__") for name in views)


@pytest.mark.parametrize("release", [DEPLOYED, MAIN_BEFORE])
def test_an_existing_database_upgrades_with_no_manual_step(release, databases):
    old, fresh = database_url(databases.create()), database_url(databases.create())
    released = migrate_as_released(old, release)
    with psycopg.connect(old) as c:  # some data, positioned by the released trigger
        c.execute(
            "INSERT INTO tickets.geo_clusters (cluster, query, provider, status, geom)"
            " VALUES ('NRB', 'nrb', 'test', 'ok', ST_SetSRID(ST_MakePoint(36.8, -1.3), 4326))"
        )
        c.execute(
            "INSERT INTO tickets.inc (ticket_id, raw) VALUES ('T1', %s)",
            ('{"cluster": "NRB", "is_actionable": "true", "first_seen_at": "2026-01-01 08:00"}',),
        )

    pending = [m.script for m in migrate.discover() if m.repeatable or m.script not in released]
    with psycopg.connect(old) as c:  # what `migrate --status` and `status` see before the upgrade
        before = migrate.read_status(c, migrate.discover())
    assert before.changed == before.missing == before.out_of_order == []
    assert before.superseded and {m.script for m in before.superseded} <= set(released)
    assert [m.script for m in before.pending] == pending
    result = migrate.migrate(old, quiet())
    migrate.migrate(fresh, quiet())

    assert result.applied == pending
    assert ledger(old) == ledger(fresh) == expected_ledger()
    assert schema(old) == schema(fresh)
    assert dump(old) == dump(fresh)
    with psycopg.connect(old) as c:
        assert c.execute("SELECT geo_source, sla_state FROM tickets.inc_open_sla").fetchall() == [
            ("cluster", "breached")
        ]
    assert migrate.migrate(old, quiet()).applied == []


def test_an_edited_repeatable_file_is_applied_again_and_the_others_with_it(empty_db_url, tmp_path):
    folder = copy_migrations(tmp_path)
    migrate.migrate(empty_db_url, quiet(), folder)
    before = {row[2]: row for row in ledger(empty_db_url)}
    status = folder / "R__80_status.sql"
    status.write_text(status.read_text().replace("'open_by_sla_state'", "'open_by_sla'"))

    result = migrate.migrate(empty_db_url, quiet(), folder)

    assert result.applied == [m.script for m in migrate.discover(folder) if m.repeatable]
    after = {row[2]: row for row in ledger(empty_db_url)}
    assert after["R__80_status.sql"][3] == migrate.checksum(status.read_bytes()) != before["R__80_status.sql"][3]
    assert len(after) == len(before)  # one row per repeatable file, updated in place
    with psycopg.connect(empty_db_url) as c:
        assert "open_by_sla" in c.execute("SELECT reporting.fn_pipeline_status()").fetchone()[0]
    assert migrate.migrate(empty_db_url, quiet(), folder).applied == []


def test_a_failing_repeatable_file_leaves_its_row_and_the_database_as_they_were(empty_db_url, tmp_path):
    folder = copy_migrations(tmp_path)
    migrate.migrate(empty_db_url, quiet(), folder)
    before = ledger(empty_db_url)
    status = folder / "R__80_status.sql"
    status.write_text(status.read_text() + "\nSELECT no_such_function();\n")
    with pytest.raises(MigrationError, match=r"R__80_status\.sql failed and was rolled back"):
        migrate.migrate(empty_db_url, quiet(), folder)
    assert ledger(empty_db_url) == before


def test_an_unknown_edit_of_a_versioned_file_is_still_refused(db_url, tmp_path):
    """Only the reviewed old checksums are accepted; 01's current text plus one comment is not one."""
    folder = copy_migrations(tmp_path)
    first = folder / "01_tickets_schema.sql"
    first.write_text(first.read_text() + "\n-- an innocent edit\n")
    with pytest.raises(MigrationError, match=r"01_tickets_schema\.sql has been edited"):
        migrate.migrate(db_url, quiet(), folder)


def test_a_versioned_file_numbered_below_the_highest_applied_is_refused(db_url, tmp_path, monkeypatch):
    folder = copy_migrations(tmp_path)
    (folder / "99_next.sql").write_text("SELECT 1;")
    migrate.migrate(db_url, quiet(), folder)
    (folder / "50_late.sql").write_text("CREATE TABLE tickets.should_not_exist (x int);")
    with pytest.raises(MigrationError) as refused:
        migrate.migrate(db_url, quiet(), folder)
    assert str(refused.value) == (
        "50_late.sql is numbered below 99_next.sql, which is already applied: "
        "out-of-order migrations are refused; renumber it above the highest applied one"
    )
    with psycopg.connect(db_url) as c:
        assert c.execute("SELECT to_regclass('tickets.should_not_exist')").fetchone()[0] is None
    monkeypatch.setattr(migrate, "migrations_dir", lambda: folder)
    monkeypatch.setenv("DATABASE_URL", db_url)
    status = CliRunner().invoke(app, ["migrate", "--status"])
    assert status.exit_code == 1
    assert "pending  50_late.sql  (out of order: below 99_next.sql, refused)" in status.output.splitlines()


def test_status_names_an_applied_file_missing_here(db_url, tmp_path, monkeypatch):
    folder = copy_migrations(tmp_path)
    (folder / "10_ingest_merge.sql").unlink()
    monkeypatch.setattr(migrate, "migrations_dir", lambda: folder)
    monkeypatch.setenv("DATABASE_URL", db_url)
    result = CliRunner().invoke(app, ["migrate", "--status"])
    assert result.exit_code == 1
    assert f"MISSING  10_ingest_merge.sql  (applied, not in {folder})" in result.output.splitlines()
    status = CliRunner().invoke(app, ["status"])
    assert status.exit_code == 1
    assert "applied migration 10_ingest_merge.sql is missing from this release" in status.output
