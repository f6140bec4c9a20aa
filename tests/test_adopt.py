"""Taking over the earlier loader's database (`fleettickets adopt`) on seed-era databases of our own
(tests/seed_era.py): nothing lost, the fresh schema exactly, other tenants' objects respected, the
way back. The plan's rules alone: test_adopt_plan.py; other shapes of the loader's database:
test_adopt_shapes.py; the checks, locks and data fixes: test_adopt_checks.py."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import psycopg
import pytest

from fleettickets import migrate
from fleettickets.adopt.apply import adopt
from fleettickets.errors import MigrationError
from fleettickets.ingest import ingest_bucket
from tests.conftest import CONTRACT_NAMES, database_url
from tests.helpers import csv_text, one, quiet, record
from tests.pgcluster import PG_BIN
from tests.seed_era import Seed, build, catalog_and_counts, fleettickets, kept_in

REPO = Path(__file__).resolve().parent.parent
KEPT = "tickets_adopted_"


# --- never migrated silently ---------------------------------------------------------------------


@pytest.mark.parametrize("ledger", ["file_name", "version", "none"])
def test_migrate_refuses_a_seed_era_database_in_one_line_and_writes_nothing(seed_era, ledger):
    url = seed_era(Seed(ledger=ledger, tickets=50))
    before = catalog_and_counts(url)

    result = fleettickets(url, "migrate")

    assert result.exit_code == 1
    line = result.output.strip()
    assert "\n" not in line and line.startswith(
        "error: the database holds tickets.crq, tickets.geo_clusters, tickets.geo_locations"
    )
    expected = {"none": "and no migration ledger", "file_name": "(tickets.schema_migrations: filename, applied_at)",
                "version": "(tickets.schema_migrations: version, applied_at)"}  # fmt: skip
    assert expected[ledger] in line
    assert line.endswith("take it over with `fleettickets adopt plan` (alias `fleettickets migrate --adopt --dry-run`)")
    assert catalog_and_counts(url) == before
    assert fleettickets(url, "migrate", "--status").exit_code == 1


def test_the_worker_and_run_ingest_sh_refuse_it_too(seed_era, tmp_path):
    url = seed_era(Seed(tickets=10))
    before = catalog_and_counts(url)
    env = {
        **{k: v for k, v in os.environ.items() if k not in CONTRACT_NAMES},
        "DATABASE_URL": url,
        "RUSTFS_ENDPOINT": "http://127.0.0.1:9",
        "RUSTFS_ACCESS_KEY": "a",
        "RUSTFS_SECRET_KEY": "s",
        "FLEETTICKETS_STATE_FILE": str(tmp_path / "state"),
    }
    task = subprocess.run([str(REPO / "run_ingest.sh")], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert task.returncode == 1
    assert task.stderr.strip().startswith("error: the database holds tickets.crq, tickets.geo_clusters")
    assert len(task.stderr.strip().splitlines()) == 1

    code = "import fleettickets.worker as w; w.start()"
    subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, check=True, capture_output=True, timeout=60)
    state = (tmp_path / "state").read_text().splitlines()
    assert state[0] == "failed" and state[1].startswith("the database holds tickets.crq, tickets.geo_clusters")
    assert catalog_and_counts(url) == before


def test_an_empty_tickets_schema_migrates_as_today(empty_db_url):
    with psycopg.connect(empty_db_url, autocommit=True) as c:
        c.execute("CREATE SCHEMA tickets")
    assert len(migrate.migrate(empty_db_url, quiet()).applied) == len(migrate.discover())


# --- adoption ------------------------------------------------------------------------------------


@pytest.mark.parametrize("ledger", ["file_name", "version", "none"])
def test_adopt_keeps_every_row_and_every_verified_point(seed_era, ledger):
    url = seed_era(Seed(ledger=ledger, tickets=400, crq=7))
    with psycopg.connect(url) as c:
        old_points = c.execute(
            "SELECT place, cluster, ST_AsText(geom), status FROM tickets.geo_locations WHERE verified ORDER BY 1, 2"
        ).fetchall()
        old_clusters = c.execute("SELECT cluster, ST_AsText(geom) FROM tickets.geo_clusters WHERE verified").fetchall()
        old_tickets = c.execute(
            "SELECT ticket_id, raw, ST_AsText(geom), geo_source, ingested_at FROM tickets.inc ORDER BY 1"
        ).fetchall()
        old_crq = c.execute("SELECT ticket_id, raw, ingested_at FROM tickets.crq ORDER BY 1").fetchall()
        old_meta = c.execute(
            "SELECT dataset, source_key, snapshot_at, ingested_at, metadata FROM tickets.import_meta"
        ).fetchall()

    result = fleettickets(url, "adopt", "apply")

    assert result.exit_code == 0, result.output
    summary = result.output.strip().splitlines()[-1]
    assert summary.startswith("adopted: tickets.crq 7 -> 7, tickets.geo_clusters 20 -> 20")
    assert "tickets.geo_locations 280 -> 280" in summary and "tickets.inc 400 -> 400" in summary
    with psycopg.connect(url) as c:
        assert (
            c.execute(
                "SELECT place, cluster, ST_AsText(geom), status FROM tickets.geo_locations WHERE verified ORDER BY 1, 2"
            ).fetchall()
            == old_points
        )
        assert len(old_points) == 280 // 3
        assert (
            c.execute("SELECT cluster, ST_AsText(geom) FROM tickets.geo_clusters WHERE verified").fetchall()
            == old_clusters
        )
        assert (
            c.execute(
                "SELECT ticket_id, raw, ST_AsText(geom), geo_source, ingested_at FROM tickets.inc ORDER BY 1"
            ).fetchall()
            == old_tickets
        )
        assert c.execute("SELECT ticket_id, raw, ingested_at FROM tickets.crq ORDER BY 1").fetchall() == old_crq
        meta = c.execute("SELECT dataset, source_key, snapshot_at, ingested_at, metadata FROM tickets.import_meta")
        # the ETag bare, as this package compares it (boto3 gave the loader the quoted form)
        assert meta.fetchall() == [(*m[:4], {**m[4], "source_etag": m[4]["source_etag"].strip('"')}) for m in old_meta]
        # this package's keys, so a geocoding run finds them cached
        assert (
            one(
                c,
                "SELECT count(*) FROM tickets.geo_locations WHERE query = lower(place || ', ' || cluster || ', kenya')",
            )
            == 280
        )
        adoption = c.execute("SELECT kept_in, old_ledger, row_counts FROM tickets.adoptions").fetchone()
        assert adoption[0].startswith(KEPT)
        assert len(adoption[1]) == (0 if ledger == "none" else 8)
        assert adoption[2]["tickets.inc"] == {"before": 400, "after": 400}
        # the old objects, whole, in the kept schema: the way back
        assert one(c, f"SELECT count(*) FROM {adoption[0]}.inc") == 400
    assert migrate.migrate(url, quiet()).applied == []  # ours now


def test_a_verified_point_is_never_overwritten_by_a_geocoding_run_after_adoption(seed_era):
    url = seed_era(Seed(tickets=50))
    assert fleettickets(url, "adopt", "apply").exit_code == 0
    with psycopg.connect(url) as c:
        query, point = c.execute(
            "SELECT query, ST_AsText(geom) FROM tickets.geo_locations WHERE verified AND status = 'ok' LIMIT 1"
        ).fetchone()
        saved = one(
            c,
            "SELECT tickets.save_location(%s, 'x', 'y', 'locationiq', 'ok', 'elsewhere', 37.0, -1.0, 1.0, NULL,"
            " ARRAY[]::text[], 2::smallint)",
            (query,),
        )
        assert saved is False
        assert one(c, "SELECT ST_AsText(geom) FROM tickets.geo_locations WHERE query = %s", (query,)) == point


def test_the_next_hourly_run_on_the_same_snapshot_is_unchanged(seed_era, store):
    body = csv_text([record("WOT0000001")])
    key = "automations/inc/2026-12-01T08-00-00.csv"
    store.put(key, body)
    url = seed_era(Seed(tickets=20))
    etag = store.client.head_object(Bucket=store.name, Key=key)["ETag"]
    with psycopg.connect(url) as c:  # the earlier loader ingested exactly this file last
        c.execute("UPDATE tickets.import_meta SET metadata = jsonb_build_object('source_etag', %s::text)", (etag,))
    assert fleettickets(url, "adopt", "apply").exit_code == 0

    result = ingest_bucket(store.with_db(url), quiet(), apply=True)

    assert result.outcome == "unchanged"


def test_adopted_and_fresh_end_in_the_same_schema(databases, seed_era, template_db):
    url = seed_era(Seed(tickets=30, foreign_view=True))
    assert fleettickets(url, "adopt", "apply").exit_code == 0
    fresh = database_url(databases.create(template=template_db))

    def dump(u: str) -> str:
        params = psycopg.conninfo.conninfo_to_dict(u)
        out = subprocess.run(
            [str(PG_BIN / "pg_dump"), "--schema-only", "--no-owner", "--no-privileges", f"--exclude-schema={KEPT}*",
             "--exclude-table=reporting.v_dispatch_board", "-h", params["host"], "-p", str(params["port"]),
             "-U", params["user"], params["dbname"]],
            env={"PGPASSWORD": params["password"], "PATH": os.defpath}, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        text = "\n".join(line for line in out.splitlines() if not line.startswith(("\\restrict", "\\unrestrict")))
        # pg_dump orders objects of a kind by age too: the loader's SLA view, kept for the tenant's
        # view that reads it, is older than its neighbours. The same objects, the same text.
        return sorted(text.split("\n--\n-- Name: "))

    assert dump(url) == dump(fresh)
    with psycopg.connect(url) as a, psycopg.connect(fresh) as b:
        ledger = "SELECT version, type, script, checksum FROM tickets.schema_migrations ORDER BY version, script"
        assert a.execute(ledger).fetchall() == b.execute(ledger).fetchall()


def test_the_map_answers_before_during_and_after_with_the_same_tickets_positioned(seed_era):
    url = seed_era(Seed(tickets=3000))

    def positioned(c: psycopg.Connection, open_only: bool) -> set[str]:
        doc = one(c, "SELECT reporting.fn_tickets_for_map(p_open_only := %s)", (open_only,))
        return {f["id"] for f in doc["features"] if f["geometry"]}

    with psycopg.connect(url) as c:
        before = (positioned(c, True), positioned(c, False), one(c, "SELECT reporting.fn_tickets_for_map()"))
    answers: list[int] = []
    errors: list[str] = []
    done = threading.Event()

    def read() -> None:
        with psycopg.connect(url, autocommit=True) as c:
            while not done.is_set():
                try:
                    answers.append(len(one(c, "SELECT reporting.fn_tickets_for_map()")["features"]))
                except psycopg.Error as e:
                    errors.append(str(e))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        adopt(url, quiet(), apply=True)
    finally:
        done.set()
        reader.join()
    assert errors == [] and len(answers) >= 1 and set(answers) <= {len(before[0])}
    with psycopg.connect(url) as c:
        assert (positioned(c, True), positioned(c, False)) == before[:2]
        assert len(before[1]) == 3000 and len(before[2]["features"]) == len(before[0])


def test_a_foreign_view_on_the_sla_view_keeps_working_on_the_new_tickets(seed_era, tmp_path):
    url = seed_era(Seed(tickets=100, foreign_view=True))
    with psycopg.connect(url) as c:
        board = c.execute("SELECT * FROM reporting.v_dispatch_board ORDER BY 1, 2").fetchall()
    result = fleettickets(url, "adopt", "apply")
    assert result.exit_code == 0, result.output
    assert "reporting.v_dispatch_board reads tickets.inc_open_sla: kept working" in result.output
    with psycopg.connect(url) as c:
        assert [r[:3] for r in c.execute("SELECT * FROM reporting.v_dispatch_board ORDER BY 1, 2")] == [
            r[:3] for r in board
        ]
        c.execute("DELETE FROM tickets.inc")  # the view reads the new table, not the kept one
        assert c.execute("SELECT count(*) FROM reporting.v_dispatch_board").fetchone()[0] == 0
        c.rollback()
        kept = one(c, "SELECT kept_in FROM tickets.adoptions")
        assert one(c, f"SELECT count(*) FROM {kept}.inc_open_sla") == 75  # the old definition, on the old rows


REFUSALS = {
    "a foreign view on the table": (
        "CREATE VIEW reporting.v_raw AS SELECT ticket_id FROM tickets.inc",
        "reporting.v_raw depends on tickets.inc: it would break or keep reading the old table",
    ),
    "a foreign function on the map function": (
        "CREATE VIEW reporting.v_map AS SELECT reporting.fn_tickets_for_map() AS doc",
        "reporting.v_map depends on reporting.fn_tickets_for_map(boolean)",
    ),
    "raw renamed": ("ALTER TABLE tickets.inc RENAME COLUMN raw TO raw_json", "tickets.inc: no column raw"),
    "an extra column with values": (
        "ALTER TABLE tickets.inc ADD COLUMN notes text DEFAULT 'call first'",
        "tickets.inc.notes (text) holds 40 value(s)",
    ),
    "an unknown table": ("CREATE TABLE tickets.notes (id int)", "tickets.notes is not a table of the earlier loader"),
    "an odd status": (
        "UPDATE tickets.geo_clusters SET status = 'failed' WHERE cluster = 'Cluster 1'",
        "tickets.geo_clusters.status has values fleettickets does not know: failed",
    ),
    "a taken name": (
        "CREATE VIEW reporting.inc_map AS SELECT 1 AS x",
        "reporting.inc_map exists and is not the earlier",
    ),
    "a geometry of another SRID": (
        "ALTER TABLE tickets.geo_locations ALTER COLUMN geom TYPE geometry(Point, 3857) USING ST_Transform(geom, 3857)",
        "tickets.geo_locations: column geom is geometry(Point,3857), which cannot become geometry(Point,4326)",
    ),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_every_refusal_is_one_line_exit_1_and_the_database_as_before(seed_era, case):
    change, message = REFUSALS[case]
    url = seed_era(Seed(tickets=40, foreign_view=True))
    with psycopg.connect(url, autocommit=True) as c:
        c.execute(change)
    before = catalog_and_counts(url)

    for args in (("adopt", "plan"), ("adopt", "apply"), ("migrate", "--adopt", "--dry-run"), ("migrate", "--adopt")):
        result = fleettickets(url, *args)
        assert result.exit_code == 1, result.output
        error = [line for line in result.output.splitlines() if line.startswith("error: ")]
        assert len(error) == 1 and error[0].startswith("error: cannot adopt: ") and "nothing was changed" in error[0]
        assert message in result.output
        assert catalog_and_counts(url) == before


def test_a_dry_run_prints_the_plan_and_changes_nothing(seed_era):
    url = seed_era(Seed(tickets=40, foreign_view=True))
    before = catalog_and_counts(url)
    result = fleettickets(url, "adopt", "plan")
    assert result.exit_code == 0, result.output
    assert "tickets.inc: 40 row(s) to carry over" in result.output
    assert result.output.strip().splitlines()[-1].startswith("dry run: would adopt tickets.crq 0 -> 0")
    assert catalog_and_counts(url) == before
    assert fleettickets(url, "migrate", "--dry-run").exit_code == 2  # only with --adopt


CONTRADICTIONS = [
    (("--status", "--adopt"), "--status and --adopt do not go together: give one of them"),
    (("--adopt", "--dry-run", "--status"), "--status and --adopt do not go together"),
    (("--adopt", "--undo-adopt", "x"), "--adopt and --undo-adopt do not go together"),
    (("--drop-adopted", "x", "--undo-adopt", "y"), "--drop-adopted and --undo-adopt do not go together"),
    (("--status", "--drop-adopted", "x"), "--status and --drop-adopted do not go together"),
    (("--undo-adopt", "x", "--dry-run"), "--dry-run goes with --adopt"),
]


@pytest.mark.parametrize(("flags", "message"), CONTRADICTIONS)
def test_contradictory_migrate_flags_are_refused_in_one_line_and_change_nothing(seed_era, flags, message):
    """`migrate --status --adopt` used to adopt, silently: the listing's flag was ignored."""
    url = seed_era(Seed(tickets=10))
    before = catalog_and_counts(url)
    result = fleettickets(url, "migrate", *flags)
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {message}") and len(result.output.strip().splitlines()) == 1
    assert catalog_and_counts(url) == before


def test_the_old_spellings_are_aliases_of_the_adopt_commands(seed_era):
    url = seed_era(Seed(tickets=30))
    assert fleettickets(url, "migrate", "--adopt", "--dry-run").output == fleettickets(url, "adopt", "plan").output
    assert fleettickets(url, "adopt", "--help").exit_code == 0
    assert "Old spelling of `adopt apply`" in fleettickets(url, "migrate", "--help").output


def test_a_role_without_superuser_adopts_and_the_tenant_keeps_its_view_and_map(pg_admin, databases):
    """The README's privileges, and no more: the loader's role owns its objects and may create
    schemas in the database; the tenant has its own view and read grants."""
    suffix = uuid.uuid4().hex[:8]
    loader, tenant, password = (
        f"fleettickets_test_loader_{suffix}",
        f"fleettickets_test_tenant_{suffix}",
        uuid.uuid4().hex,
    )
    for role in (loader, tenant):
        pg_admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    try:
        name = databases.create()
        admin = database_url(name)
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute("CREATE EXTENSION postgis")
            c.execute(f"GRANT CREATE ON DATABASE {name} TO {loader}")
            c.execute(f"CREATE SCHEMA reporting AUTHORIZATION {tenant}")  # the other tenant's schema
            c.execute(f"GRANT USAGE, CREATE ON SCHEMA reporting TO {loader}")
        params = psycopg.conninfo.conninfo_to_dict(admin)
        as_loader = psycopg.conninfo.make_conninfo(**{**params, "user": loader, "password": password})
        as_tenant = psycopg.conninfo.make_conninfo(**{**params, "user": tenant, "password": password})
        build(as_loader, Seed(tickets=60))
        with psycopg.connect(as_loader, autocommit=True) as c:
            c.execute(f"GRANT USAGE ON SCHEMA tickets TO {tenant}")
            c.execute(f"GRANT SELECT ON tickets.inc, tickets.import_meta, tickets.inc_open_sla TO {tenant}")
        with psycopg.connect(as_tenant, autocommit=True) as c:
            c.execute(
                "CREATE VIEW reporting.v_dispatch_board AS SELECT cluster, count(*) AS open FROM tickets.inc_open_sla"
                " GROUP BY cluster"
            )
            board = c.execute("SELECT * FROM reporting.v_dispatch_board ORDER BY 1").fetchall()

        result = fleettickets(as_loader, "migrate", "--adopt")

        assert result.exit_code == 0, result.output
        with psycopg.connect(as_tenant) as c:
            assert c.execute("SELECT * FROM reporting.v_dispatch_board ORDER BY 1").fetchall() == board
            assert len(one(c, "SELECT reporting.fn_tickets_for_map(p_open_only := false)")["features"]) == 60
        assert migrate.migrate(as_loader, quiet()).applied == []

        undone = fleettickets(as_loader, "migrate", "--undo-adopt", kept_in(as_loader))  # the way back needs no more
        assert undone.exit_code == 0, undone.output
        with psycopg.connect(as_tenant) as c:
            assert c.execute("SELECT * FROM reporting.v_dispatch_board ORDER BY 1").fetchall() == board
            assert len(one(c, "SELECT reporting.fn_tickets_for_map(p_open_only := false)")["features"]) == 60
    finally:
        databases.drop_all()
        for role in (tenant, loader):
            pg_admin.execute(f"DROP ROLE IF EXISTS {role}")


def test_drop_adopted_waits_for_the_last_dependant_then_removes_the_kept_objects(seed_era):
    url = seed_era(Seed(tickets=20))
    assert fleettickets(url, "adopt", "apply").exit_code == 0
    kept = kept_in(url)
    with psycopg.connect(url, autocommit=True) as c:
        c.execute(f"CREATE VIEW public.v_old AS SELECT ticket_id FROM {kept}.inc")

    refused = fleettickets(url, "migrate", "--drop-adopted", kept)
    assert refused.exit_code == 1
    assert (
        refused.output.strip() == f"error: cannot drop {kept}: public.v_old depends on {kept}.inc; nothing was dropped"
    )

    with psycopg.connect(url, autocommit=True) as c:
        c.execute("DROP VIEW public.v_old")
    assert fleettickets(url, "adopt", "drop", kept).exit_code == 0
    with psycopg.connect(url) as c:
        assert one(c, "SELECT to_regnamespace(%s)", (kept,)) is None
        assert one(c, "SELECT dropped_at IS NOT NULL FROM tickets.adoptions") is True
        assert one(c, "SELECT count(*) FROM tickets.inc") == 20
    assert fleettickets(url, "adopt", "drop", "public").exit_code == 1


def handed_back(url: str) -> tuple[list[tuple], dict[str, int]]:
    """The catalog and counts but for what the way back sets aside and the sessions' temp schemas."""
    objects, counts = catalog_and_counts(url)
    aside = ("tickets_replaced_", "pg_temp_", "pg_toast_temp_")
    return [o for o in objects if not o[0].startswith(aside)], counts


def test_undo_adopt_gives_the_earlier_loader_its_database_back_as_it_was(seed_era):
    url = seed_era(Seed(tickets=60, crq=5, foreign_view=True))
    before = handed_back(url)
    with psycopg.connect(url) as c:
        map_before = one(c, "SELECT reporting.fn_tickets_for_map(p_open_only := false)")
        board = c.execute("SELECT * FROM reporting.v_dispatch_board ORDER BY 1, 2").fetchall()
    assert fleettickets(url, "adopt", "apply").exit_code == 0
    kept = kept_in(url)

    result = fleettickets(url, "adopt", "undo", kept)
    assert result.exit_code == 0, result.output
    assert re.search(r"undone: this package's objects are set aside in tickets_replaced_\d{8} \(60 ", result.output)
    assert handed_back(url) == before  # every object of the loader's, by oid and definition; every row
    with psycopg.connect(url) as c:
        assert one(c, "SELECT reporting.fn_tickets_for_map(p_open_only := false)") == map_before
        assert [r[:3] for r in c.execute("SELECT * FROM reporting.v_dispatch_board ORDER BY 1, 2")] == [
            r[:3] for r in board
        ]
        c.execute("DELETE FROM tickets.inc")  # the tenant's view reads the loader's table again
        assert one(c, "SELECT count(*) FROM reporting.v_dispatch_board") == 0
        c.rollback()
        aside = one(c, "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, 'tickets_replaced_')")
        assert one(c, f"SELECT count(*) FROM {aside}.inc") == 60  # this package's, kept whole
        assert one(c, f"SELECT kept_in FROM {aside}.adoptions") == kept

    refused = fleettickets(url, "migrate")  # the safety net holds again: no silent migrate of the loader's database
    assert refused.exit_code == 1 and "`fleettickets adopt plan`" in refused.output
    assert fleettickets(url, "adopt", "apply").exit_code == 0  # and the way forward is open again
    assert fleettickets(url, "adopt", "undo", "tickets").exit_code == 1


def test_undo_adopt_is_refused_while_a_tenant_reads_this_packages_objects(seed_era):
    url = seed_era(Seed(tickets=20))
    assert fleettickets(url, "adopt", "apply").exit_code == 0
    kept = kept_in(url)
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("CREATE VIEW public.v_positions AS SELECT ticket_id FROM reporting.inc_map")
    before = catalog_and_counts(url)
    result = fleettickets(url, "adopt", "undo", kept)
    assert result.exit_code == 1
    assert result.output.strip() == (
        "error: cannot undo the adoption: public.v_positions depends on reporting.inc_map; nothing was changed"
    )
    assert catalog_and_counts(url) == before


# --- a citizen of a shared database ---------------------------------------------------------------


def test_a_migration_that_would_break_a_tenants_view_names_it_and_changes_nothing(db_url, tmp_path):
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute("CREATE VIEW public.v_board AS SELECT cluster, count(*) FROM tickets.inc_open_sla GROUP BY 1")
    directory = tmp_path / "migrations"
    directory.mkdir()
    for m in migrate.discover():
        (directory / m.script).write_bytes(m.path.read_bytes())
    (directory / "99_drop_sla_view.sql").write_text("DROP VIEW tickets.inc_open_sla;\n")

    with pytest.raises(MigrationError) as failure:
        migrate.migrate(db_url, quiet(), directory)

    assert str(failure.value) == (
        "migration 99_drop_sla_view.sql was rolled back: public.v_board depends on tickets.inc_open_sla: "
        "ask their owner to drop them, migrate, then create them again"
    )
    with psycopg.connect(db_url) as c:
        assert one(c, "SELECT count(*) FROM public.v_board") == 0


def test_no_migration_drops_with_cascade():
    for m in migrate.discover():
        text = re.sub(r"--[^\n]*", "", m.sql()).upper().replace("ON DELETE CASCADE", "")
        assert "CASCADE" not in text, m.script
