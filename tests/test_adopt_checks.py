"""What guards the take-over: the checks it makes before it commits (each made to fail here), the
migrations' data fixes it runs on the rows it carries, the locks it waits for, and the database it
finds empty. A refusal is one line, exit 1, and the database exactly as it was."""

from __future__ import annotations

import shutil

import psycopg
import pytest

from fleettickets import catalog, db, migrate
from tests.helpers import one, quiet
from tests.seed_era import ETAG, Seed, catalog_and_counts, fleettickets

# Carry-outs that lose something, each through a trigger set on this package's table as soon as
# the adoption has built it (the carry-out inserts through it): (table, PL/pgSQL body, the reason).
LOSSES = {
    "a row": (
        "inc",
        "IF NEW.ticket_id = 'WOT0000007' THEN RETURN NULL; END IF;",
        "cannot adopt: tickets.inc: 40 row(s) before, 39 after; nothing was changed",
    ),
    # NOT (n.geom = o.geom) is NULL, not true, for a position lost: the check must count it anyway.
    "a ticket's position": (
        "inc",
        "IF NEW.ticket_id = 'WOT0000001' THEN NEW.geom := NULL; NEW.geo_source := 'none'; END IF;",
        "cannot adopt: positioned tickets of tickets.inc: 1 would change; nothing was changed",
    ),
    "a CRQ row": (
        "crq",
        "IF NEW.ticket_id = 'CRQ2' THEN RETURN NULL; END IF;",
        "cannot adopt: tickets.crq: 5 row(s) before, 4 after; nothing was changed",
    ),
    "a CRQ ticket's position": (  # CRQ tickets are positioned by the same rule (CONTRACT 1b)
        "crq",
        "IF NEW.ticket_id = 'CRQ1' THEN NEW.geom := NULL; NEW.geo_source := 'none'; END IF;",
        "cannot adopt: positioned tickets of tickets.crq: 1 would change; nothing was changed",
    ),
    "a cluster's verification": (
        "geo_clusters",
        "IF NEW.cluster = 'Cluster 3' THEN NEW.verified := false; END IF;",
        "cannot adopt: verified points of tickets.geo_clusters: 1 would change; nothing was changed",
    ),
    "a verified location's point": (
        "geo_locations",
        "IF NEW.place = 'Place 3' THEN NEW.geom := NULL; NEW.status := 'not_found'; END IF;",
        "cannot adopt: verified points of tickets.geo_locations: 1 would change; nothing was changed",
    ),
}


@pytest.mark.parametrize("loss", list(LOSSES))
def test_each_check_refuses_a_carry_out_that_loses_something(seed_era, monkeypatch, loss):
    table, body, reason = LOSSES[loss]
    url = seed_era(Seed(tickets=40, crq=5, foreign_view=True))
    before = catalog_and_counts(url)
    build = migrate.apply_all

    def build_then_lose(conn: psycopg.Connection, *args: object) -> migrate.MigrateResult:
        built = build(conn, *args)
        conn.execute(
            f"CREATE FUNCTION tickets.lose() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body} RETURN NEW; END $$"
        )
        conn.execute(
            f"CREATE TRIGGER lose BEFORE INSERT ON tickets.{table} FOR EACH ROW EXECUTE FUNCTION tickets.lose()"
        )
        return built

    monkeypatch.setattr(migrate, "apply_all", build_then_lose)
    result = fleettickets(url, "migrate", "--adopt")  # the old spelling: main had it too

    assert result.exit_code == 1
    assert [line for line in result.output.splitlines() if line.startswith("error: ")] == [f"error: {reason}"]
    assert catalog_and_counts(url) == before


def test_a_future_stamped_freshness_record_is_repaired_and_the_alarm_speaks(seed_era):
    """Issue 25: the loader once loaded a file stamped in the future; adopted, its freshness record
    stayed "newest" forever and `status --max-age-hours` never spoke. Migration 25's data fix now
    runs on the carried rows."""
    future = "automations/inc/2062-06-15T08-00-00.csv"
    url = seed_era(Seed(tickets=20))
    with psycopg.connect(url) as c:
        c.execute("UPDATE tickets.import_meta SET source_key = %s, snapshot_at = '2062-06-15 08:00+03'", (future,))

    assert fleettickets(url, "migrate", "--adopt").exit_code == 0
    status = fleettickets(url, "status", "--max-age-hours", "3")

    assert status.exit_code == 1
    assert f"{future} is stamped 2062-06-15T08-00-00 EAT, ahead of the clock" in status.output
    assert "no snapshot has been seen yet: is the exporter running?" in status.output


def test_adoption_runs_every_data_fix_of_the_migrations_in_order(seed_era, monkeypatch, tmp_path):
    """A later migration's data fix (tickets.data_fix_NN_name(), docs/migrations.md) runs on the
    carried rows too, without the take-over knowing it."""
    folder = tmp_path / "migrations"
    shutil.copytree(migrate.migrations_dir(), folder)
    (folder / "99_a_later_fix.sql").write_text(
        "CREATE TABLE tickets.fixes_seen (n serial, seen text);\n"
        "CREATE FUNCTION tickets.data_fix_99_a_later_fix() RETURNS void LANGUAGE sql AS $$\n"
        "    INSERT INTO tickets.fixes_seen (seen)\n"
        "    SELECT count(*) || ' ticket(s), ' || count(f.dataset) || ' feed check(s)' FROM tickets.inc\n"
        "      LEFT JOIN tickets.feed_check f ON f.dataset = 'inc' AND f.checked_at IS NOT NULL\n"
        "$$;\n"
        "SELECT tickets.data_fix_99_a_later_fix();\n"
    )
    monkeypatch.setattr(migrate, "migrations_dir", lambda: folder)
    url = seed_era(Seed(tickets=20))

    result = fleettickets(url, "adopt", "apply")

    assert result.exit_code == 0, result.output
    assert (
        "ran the migrations' data fixes on the rows carried: tickets.data_fix_18_feed_check,"
        " tickets.data_fix_25_future_snapshots, tickets.data_fix_40_loads_from_import_meta,"
        " tickets.data_fix_99_a_later_fix" in result.output.splitlines()
    )
    with psycopg.connect(url) as c:  # once as the schema was built, once on the rows (after 18's)
        assert c.execute("SELECT seen FROM tickets.fixes_seen ORDER BY n").fetchall() == [
            ("0 ticket(s), 0 feed check(s)",),
            ("20 ticket(s), 20 feed check(s)",),
        ]


def test_the_data_fixes_bare_the_loaders_quoted_etag_and_change_nothing_when_run_again(seed_era):
    """The loader kept the ETag as boto3 gives it, in quotes; migration 40's data fix, not the
    take-over's Python, strips them (one place, for migrate and adoption alike). Each fix may run
    again on rows it fixed (docs/migrations.md): a second run changes nothing."""
    url = seed_era(Seed(tickets=20))
    assert fleettickets(url, "adopt", "apply").exit_code == 0
    with psycopg.connect(url) as c:
        assert c.execute("SELECT metadata ->> 'source_etag' FROM tickets.import_meta").fetchall() == [
            (ETAG.strip('"'),)
        ]
        assert c.execute("SELECT etag, counts ->> 'source_etag' FROM tickets.loads").fetchall() == [
            (ETAG.strip('"'), ETAG.strip('"'))
        ]
    before = catalog_and_counts(url)

    with psycopg.connect(url) as c:
        for fix in catalog.data_fixes(c):
            c.execute(f"SELECT {fix}()")

    assert catalog_and_counts(url) == before


def test_a_database_that_ran_the_data_fixes_inline_gets_their_functions_on_migrate(db_url):
    """18 and 25 ran their data fixes inline before they became functions (a reviewed edit): such
    a database records the edit and gets the functions, so it ends with a fresh database's schema."""
    with psycopg.connect(db_url) as c:
        for script in migrate.APPLIED_AGAIN:
            old = next(checksum for name, checksum in migrate.SUPERSEDED if name == script)
            c.execute("UPDATE tickets.schema_migrations SET checksum = %s WHERE script = %s", (old, script))
        c.execute("DROP FUNCTION tickets.data_fix_18_feed_check(), tickets.data_fix_25_future_snapshots()")

    assert migrate.migrate(db_url, quiet()).applied == []

    with psycopg.connect(db_url) as c:
        assert one(c, "SELECT count(*) FROM pg_proc WHERE starts_with(proname, 'data_fix_')") == 3  # 18, 25, 40
        assert c.execute(
            "SELECT script, checksum FROM tickets.schema_migrations WHERE version IN (18, 25)"
        ).fetchall() == [(m.script, m.checksum()) for m in migrate.discover() if m.version in (18, 25)]


@pytest.mark.parametrize("lock", [db.LOCK_INGEST, db.LOCK_INGEST_CRQ, db.LOCK_GEOCODE, db.LOCK_MIGRATE])
def test_adoption_waits_for_a_run_holding_its_lock_then_says_so_in_one_line(seed_era, monkeypatch, lock):
    """Issue 25: adoption while a run held its lock ended in `unexpected error ... --verbose`."""
    url = seed_era(Seed(tickets=20))
    before = catalog_and_counts(url)
    monkeypatch.setattr(db, "LOCK_TIMEOUT_SECONDS", 1)  # the lock timeout of every session this test opens
    line = f"error: {migrate.HOLDERS[lock]} for over 1 s: nothing was changed; try again once it is done"
    with psycopg.connect(url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (lock,))

        for args in (("adopt", "apply"), ("adopt", "plan"), ("migrate", "--adopt")):
            result = fleettickets(url, *args)
            assert result.exit_code == 1
            assert result.output.strip() == line
        if lock == db.LOCK_MIGRATE:
            assert fleettickets(url, "migrate").output.strip() == line  # the same wait, the same line

    assert catalog_and_counts(url) == before


def test_adopting_an_empty_database_says_there_is_nothing_to_adopt(empty_db_url):
    """Issue 25: it said `error: unexpected InvalidSchemaName: schema "tickets" does not exist`."""
    for args in (("adopt", "plan"), ("adopt", "apply"), ("migrate", "--adopt")):
        result = fleettickets(empty_db_url, *args)
        assert result.exit_code == 1
        assert result.output.strip() == (
            "error: there is nothing to adopt: the database holds no tables of the earlier loader (no tickets schema,"
            " or an empty one); `fleettickets migrate` builds this package's schema in it"
        )
    with psycopg.connect(empty_db_url) as c:
        assert one(c, "SELECT to_regnamespace('tickets')") is None
