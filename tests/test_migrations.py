"""The migration runner and its ledger, against a real server."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from fleettickets import migrate
from fleettickets.cli import app
from fleettickets.errors import MigrationError
from tests.conftest import database_url
from tests.helpers import quiet

REPO = Path(__file__).resolve().parent.parent


def ledger(url: str) -> list[tuple]:
    with psycopg.connect(url) as c:
        return c.execute(
            "SELECT version, script, checksum, applied_by, execution_ms FROM tickets.schema_migrations ORDER BY version"
        ).fetchall()


def copy_migrations(tmp_path: Path) -> Path:
    target = tmp_path / "migrations"
    shutil.copytree(REPO / "migrations", target)
    return target


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (b"SELECT 1;\nSELECT 2;\n", b"SELECT 1;\r\nSELECT 2;\r\n"),
        (b"SELECT 1;\n", b"\xef\xbb\xbfSELECT 1;\n"),
        (b"SELECT 1;\n", b"SELECT 1;\r"),
    ],
)
def test_checksum_ignores_line_endings_and_bom(a, b):
    assert migrate.checksum(a) == migrate.checksum(b)


def test_checksum_sees_an_edit():
    assert migrate.checksum(b"SELECT 1;\n") != migrate.checksum(b"SELECT 2;\n")


def test_files_are_discovered_in_numeric_order():
    names = [m.script for m in migrate.discover()]
    assert names[:8] == [
        "01_tickets_schema.sql",
        "02_import_meta.sql",
        "03_inc_columns.sql",
        "04_inc_latlng.sql",
        "05_inc_geography.sql",
        "06_inc_mttr_minutes.sql",
        "07_inc_drop_service_type.sql",
        "08_inc_open_sla_view.sql",
    ]
    versioned = [m for m in migrate.discover() if not m.repeatable]
    repeatable = [m for m in migrate.discover() if m.repeatable]
    assert [m.version for m in versioned] == sorted(m.version for m in versioned)
    assert migrate.discover() == versioned + sorted(repeatable, key=lambda m: m.script)  # repeatable ones last


def test_badly_named_file_is_refused(tmp_path):
    (tmp_path / "1-oops.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=r"1-oops\.sql"):
        migrate.discover(tmp_path)


def test_migrate_twice_applies_each_file_once(empty_db_url):
    first = migrate.migrate(empty_db_url, quiet())
    second = migrate.migrate(empty_db_url, quiet())
    assert len(first.applied) == len(migrate.discover())
    assert second.applied == [] and second.already_applied == len(first.applied)
    rows = ledger(empty_db_url)
    assert [r[1] for r in rows] == first.applied
    assert all(
        r[2] == m.checksum() and r[3] == "postgres" and r[4] >= 0 for r, m in zip(rows, migrate.discover(), strict=True)
    )


def test_cli_and_run_migrations_py(empty_db_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", empty_db_url)
    result = CliRunner().invoke(app, ["migrate"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == f"migrations: applied {len(migrate.discover())}, already applied 0"
    again = subprocess.run([sys.executable, str(REPO / "run_migrations.py")], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == f"migrations: applied 0, already applied {len(migrate.discover())}"


def test_status_lists_applied_and_pending(empty_db_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", empty_db_url)
    before = CliRunner().invoke(app, ["migrate", "--status"])
    assert before.exit_code == 0
    assert "pending  01_tickets_schema.sql" in before.output
    CliRunner().invoke(app, ["migrate"])
    after = CliRunner().invoke(app, ["migrate", "--status"])
    assert "applied  10_ingest_merge.sql" in after.output
    assert after.output.strip().endswith(f"{len(migrate.discover())} applied, 0 pending")


def test_edited_applied_file_is_refused_before_anything_runs(empty_db_url, tmp_path):
    folder = copy_migrations(tmp_path)
    migrate.migrate(empty_db_url, quiet(), folder)
    sla = folder / "08_inc_open_sla_view.sql"
    sla.write_text(sla.read_text() + "\n-- an innocent edit\n")
    (folder / "99_new.sql").write_text("CREATE TABLE tickets.should_not_exist (x int);")
    with pytest.raises(MigrationError, match=r"08_inc_open_sla_view\.sql has been edited"):
        migrate.migrate(empty_db_url, quiet(), folder)
    with psycopg.connect(empty_db_url) as c:
        assert c.execute("SELECT to_regclass('tickets.should_not_exist')").fetchone()[0] is None


def test_same_file_with_crlf_endings_is_not_an_edit(empty_db_url, tmp_path):
    folder = copy_migrations(tmp_path)
    migrate.migrate(empty_db_url, quiet(), folder)
    for path in folder.glob("*.sql"):
        path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert migrate.migrate(empty_db_url, quiet(), folder).applied == []


def test_failing_file_rolls_back_alone(empty_db_url, tmp_path):
    folder = copy_migrations(tmp_path)
    (folder / "98_half.sql").write_text("CREATE TABLE tickets.half (x int);\nSELECT no_such_function();\n")
    with pytest.raises(MigrationError, match=r"98_half\.sql failed.*no_such_function"):
        migrate.migrate(empty_db_url, quiet(), folder)
    rows = ledger(empty_db_url)
    # everything before it stays applied; the repeatable files, which come after, did not run
    assert [r[1] for r in rows] == [m.script for m in migrate.discover() if not m.repeatable]
    with psycopg.connect(empty_db_url) as c:
        assert c.execute("SELECT to_regclass('tickets.half')").fetchone()[0] is None


def test_cli_failure_is_one_line_naming_the_file(empty_db_url, tmp_path, monkeypatch):
    folder = copy_migrations(tmp_path)
    (folder / "98_bad.sql").write_text("SELEC 1;")
    monkeypatch.setattr(migrate, "migrations_dir", lambda: folder)
    monkeypatch.setenv("DATABASE_URL", empty_db_url)
    result = CliRunner().invoke(app, ["migrate"])
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("error: migration 98_bad.sql failed and was rolled back: syntax error")


def test_applied_file_missing_here_is_refused(empty_db_url, tmp_path):
    folder = copy_migrations(tmp_path)
    migrate.migrate(empty_db_url, quiet(), folder)
    (folder / "10_ingest_merge.sql").unlink()
    with pytest.raises(MigrationError, match=r"10_ingest_merge\.sql, which is not in"):
        migrate.migrate(empty_db_url, quiet(), folder)


def test_two_concurrent_runners_apply_each_file_once(empty_db_url):
    start = threading.Barrier(2)
    results, errors = [], []

    def run() -> None:
        start.wait()
        try:
            results.append(migrate.migrate(empty_db_url, quiet()))
        except Exception as e:  # pragma: no cover - the assertion below reports it
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(len(r.applied) for r in results) == [0, len(migrate.discover())]
    assert len(ledger(empty_db_url)) == len(migrate.discover())


def test_a_role_without_superuser_migrates_once_a_superuser_made_postgis(pg_admin, databases):
    """The plain-host prerequisites in the README, and nothing more: the job's role owns its database."""
    role, password = f"fleettickets_test_role_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    pg_admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    try:
        name = databases.create()
        pg_admin.execute(f"ALTER DATABASE {name} OWNER TO {role}")
        params = psycopg.conninfo.conninfo_to_dict(database_url(name))
        url = psycopg.conninfo.make_conninfo(**{**params, "user": role, "password": password})

        with pytest.raises(MigrationError, match="only a superuser can create PostGIS"):
            migrate.migrate(url, quiet())
        with psycopg.connect(database_url(name), autocommit=True) as superuser:
            superuser.execute("CREATE EXTENSION postgis")
        result = migrate.migrate(url, quiet())
        assert len(result.applied) == len(migrate.discover())
    finally:
        databases.drop_all()
        pg_admin.execute(f"DROP ROLE IF EXISTS {role}")


def test_a_database_ahead_of_this_release_is_left_alone(empty_db_url, tmp_path):
    """A rolled-back image, or the old container's task during a deploy: a newer release applied a
    versioned file and changed a repeatable one. This release applies nothing (its definitions are
    older), and the database still counts as current, so the hourly job goes on."""
    ours = copy_migrations(tmp_path)
    newer = tmp_path / "newer"
    shutil.copytree(ours, newer)
    (newer / "99_next.sql").write_text("CREATE TABLE tickets.newer (x integer);\n")
    (newer / "R__70_map.sql").write_text((ours / "R__70_map.sql").read_text() + "\n-- a newer definition\n")
    migrate.migrate(empty_db_url, quiet(), newer)

    result = migrate.migrate(empty_db_url, quiet(), ours)

    assert result.applied == []
    with psycopg.connect(empty_db_url) as c:
        status = migrate.read_status(c, migrate.discover(ours))
        assert (status.future, status.pending, status.missing, status.changed) == (["99_next.sql"], [], [], [])
        recorded = c.execute(
            "SELECT checksum FROM tickets.schema_migrations WHERE script = 'R__70_map.sql'"
        ).fetchone()[0]
        assert recorded == migrate.checksum((newer / "R__70_map.sql").read_bytes())  # not put back
        migrate.ensure_current(c)  # raises if the job would refuse to run


def test_a_database_error_outside_the_files_is_one_line(pg_admin, databases):
    """A role that may not create a schema in its database: one line, not psycopg's traceback."""
    role, password = f"fleettickets_test_role_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    pg_admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    try:
        name = databases.create()
        params = psycopg.conninfo.conninfo_to_dict(database_url(name))
        url = psycopg.conninfo.make_conninfo(**{**params, "user": role, "password": password})
        with pytest.raises(MigrationError, match=r"^cannot migrate: permission denied for database fleettickets_test_"):
            migrate.migrate(url, quiet())
    finally:
        databases.drop_all()
        pg_admin.execute(f"DROP ROLE IF EXISTS {role}")
