"""The ingest, end to end: moto's S3 HTTP server, a real PostgreSQL, the CLI as users run it."""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from fleettickets import db, ingest
from fleettickets.bucket import Bucket
from fleettickets.clean import HEADER
from fleettickets.cli import app
from fleettickets.errors import ArchiveError, DatabaseError, StoreError
from tests.helpers import INC_PREFIX as PREFIX
from tests.helpers import csv_text, quiet, record

INC = PREFIX
FIRST = INC + "2026-06-15T07-00-00.csv"
SECOND = INC + "2026-06-15T08-00-00.csv"


def rows(url: str, sql: str = "SELECT ticket_id, raw->>'owner' FROM tickets.inc ORDER BY 1") -> list[tuple]:
    with psycopg.connect(url) as c:
        return c.execute(sql).fetchall()


def run(args: list[str], env: dict[str, str]):
    return CliRunner().invoke(app, args, env=env)


def three_tickets(**changes: dict[str, str]) -> str:
    base = {"WOT1": {}, "WOT2": {}, "WOT3": {"is_alarm": "true"}}
    base.update(changes)
    return csv_text([record(tid, **values) for tid, values in base.items()], sentinel=True)


# --- local CSV -------------------------------------------------------------------------------


def test_csv_dry_run_without_a_database_parses_only(tmp_path):
    path = tmp_path / "2026-06-15T07-00-00.csv"
    path.write_text(three_tickets())
    result = run(["ingest", "--csv", str(path)], {})
    assert result.exit_code == 0, result.output
    assert "no DATABASE_URL: dry run parses the file only" in result.stdout
    assert (
        result.stdout.strip()
        .splitlines()[-1]
        .startswith(f"dry-run {path} read=4 kept=2 alarms=1 sentinel=1 malformed=0 archived=0")
    )


def test_csv_dry_run_counts_what_apply_would_do_and_writes_nothing(tmp_path, db_url):
    path = tmp_path / "s.csv"
    path.write_text(three_tickets())
    result = run(["ingest", "--csv", str(path)], {"DATABASE_URL": db_url})
    assert result.exit_code == 0, result.output
    assert "would merge: 2 inserted, 0 updated, 0 unchanged" in result.stdout
    assert rows(db_url) == [] and rows(db_url, "SELECT * FROM tickets.import_meta") == []


def test_csv_apply_then_reapply_rewrites_nothing(tmp_path, db_url):
    path = tmp_path / "2026-06-15T07-00-00.csv"
    path.write_text(three_tickets())
    first = run(["ingest", "--csv", str(path), "--apply"], {"DATABASE_URL": db_url})
    assert first.exit_code == 0, first.output
    assert "inserted=2 updated=0 unchanged=0" in first.stdout
    before = rows(db_url, "SELECT ticket_id, xmin::text, ingested_at FROM tickets.inc ORDER BY 1")
    second = run(["ingest", "--csv", str(path), "--apply"], {"DATABASE_URL": db_url})
    assert "inserted=0 updated=0 unchanged=2" in second.stdout
    assert rows(db_url, "SELECT ticket_id, xmin::text, ingested_at FROM tickets.inc ORDER BY 1") == before
    meta = rows(db_url, "SELECT source_key, snapshot_at, metadata FROM tickets.import_meta")[0]
    assert meta[0] == str(path) and meta[1].isoformat() == "2026-06-15T04:00:00+00:00"
    assert {
        k: meta[2][k]
        for k in (
            "rows_read",
            "rows_kept",
            "alarms_dropped",
            "sentinel_dropped",
            "malformed",
            "inserted",
            "updated",
            "unchanged",
        )
    } == {
        "rows_read": 4,
        "rows_kept": 2,
        "alarms_dropped": 1,
        "sentinel_dropped": 1,
        "malformed": 0,
        "inserted": 0,
        "updated": 0,
        "unchanged": 2,
    }


def test_changed_snapshot_updates_inserts_and_keeps_vanished_rows(tmp_path, db_url):
    settings = ingest.Settings(database_url=db_url)
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text(csv_text([record("WOT1"), record("WOT2"), record("WOT3")]))
    second.write_text(
        csv_text(
            [
                record("WOT1"),
                record("WOT2", is_actionable="false", bucket="closed", closed_at="2026-06-16 09:00:00", mttr="25"),
                record("WOT4"),
            ]
        )
    )
    ingest.ingest_csv(settings, first, quiet(), apply=True)
    xmin_before = dict(rows(db_url, "SELECT ticket_id, xmin::text FROM tickets.inc"))
    result = ingest.ingest_csv(settings, second, quiet(), apply=True)
    assert (result.counts.inserted, result.counts.updated, result.counts.unchanged) == (1, 1, 1)
    assert rows(db_url, "SELECT ticket_id, is_actionable, mttr FROM tickets.inc ORDER BY 1") == [
        ("WOT1", True, None),
        ("WOT2", False, 1500),
        ("WOT3", True, None),
        ("WOT4", True, None),
    ]
    xmin_after = dict(rows(db_url, "SELECT ticket_id, xmin::text FROM tickets.inc"))
    assert xmin_after["WOT1"] == xmin_before["WOT1"]  # unchanged: no new row version
    assert xmin_after["WOT2"] != xmin_before["WOT2"]


def test_in_file_duplicates_last_wins(tmp_path, db_url):
    path = tmp_path / "d.csv"
    path.write_text(csv_text([record("WOT1", owner="first"), record("WOT2"), record("WOT1", owner="last")]))
    result = ingest.ingest_csv(ingest.Settings(database_url=db_url), path, quiet(), apply=True)
    assert rows(db_url)[0] == ("WOT1", "last")
    assert (result.counts.rows_staged, result.counts.tickets, result.counts.inserted) == (3, 2, 2)


def test_bom_crlf_and_embedded_newlines_load_exactly(tmp_path, db_url):
    path = tmp_path / "b.csv"
    text = csv_text([record("WOT1", owner="M. Achieng\n(acting)", location_name='Ruaka, "B"')], crlf=True)
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    ingest.ingest_csv(ingest.Settings(database_url=db_url), path, quiet(), apply=True)
    assert rows(db_url, "SELECT raw->>'owner', location_name, region FROM tickets.inc") == [
        ("M. Achieng\n(acting)", 'Ruaka, "B"', "nairobi")
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('"id","x"\n"1","2"\n', "no ticket_id column in the header"),
        (csv_text([record("WOT1", is_alarm="true")], sentinel=True), "no valid data rows"),
        (csv_text([record(f"W{i}") for i in range(50)]) + '"bad"\n', "1 of 51 rows are malformed"),
        ("", "the file is empty"),
    ],
)
def test_refused_files_write_nothing_and_exit_1(tmp_path, db_url, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    result = run(["ingest", "--csv", str(path), "--apply"], {"DATABASE_URL": db_url})
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert result.stderr.count("\n") == 1  # one line, no traceback
    assert rows(db_url) == [] and rows(db_url, "SELECT * FROM tickets.import_meta") == []


def test_rejects_file_traces_every_row_left_out(tmp_path, db_url):
    path, rejects = tmp_path / "r.csv", tmp_path / "rejects.csv"
    bad = '"WOT9","only","three"\n'
    path.write_text(
        csv_text([record(f"W{i}", is_alarm="true" if i == 3 else "false") for i in range(120)], sentinel=True) + bad
    )
    result = run(["ingest", "--csv", str(path), "--apply", "--rejects", str(rejects)], {"DATABASE_URL": db_url})
    assert result.exit_code == 0, result.output
    assert "malformed rows skipped: line 123: expected 32 fields, found 3" in result.stdout
    import csv

    lines = list(csv.reader(rejects.open(newline="")))
    assert lines[0] == ["line", "reason", "record", "file"]
    assert [(r[0], r[1], r[3]) for r in lines[1:]] == [
        ("2", "sentinel row", "r.csv"),
        ("6", "alarm (is_alarm true)", "r.csv"),
        ("123", "expected 32 fields, found 3", "r.csv"),
    ]
    assert lines[3][2] == bad


def test_missing_file_and_unapplied_migrations(tmp_path, empty_db_url):
    missing = run(["ingest", "--csv", str(tmp_path / "nope.csv")], {})
    assert missing.exit_code == 1 and "nope.csv: no such file" in missing.stderr
    path = tmp_path / "s.csv"
    path.write_text(three_tickets())
    result = run(["ingest", "--csv", str(path), "--apply"], {"DATABASE_URL": empty_db_url})
    assert result.exit_code == 1
    assert "run `fleettickets migrate` first" in result.stderr


def test_source_must_be_named_once(tmp_path):
    assert run(["ingest"], {}).exit_code == 2
    assert run(["ingest", "--from-bucket", "--csv", "x.csv"], {}).exit_code == 2


def test_connection_killed_mid_load_leaves_nothing(tmp_path, db_url, monkeypatch):
    path = tmp_path / "big.csv"
    path.write_text(csv_text([record(f"W{i:05d}") for i in range(3000)]))
    original = ingest.clean_rows

    def killing(*args, **kwargs):
        for n, row in enumerate(original(*args, **kwargs)):
            if n == 1500:
                with psycopg.connect(db_url, autocommit=True) as admin:
                    # the load's own backend only: this test's database, never the server's others
                    admin.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND application_name = 'fleettickets'"
                        " AND pid <> pg_backend_pid()"
                    )
            yield row

    monkeypatch.setattr(ingest, "clean_rows", killing)
    with pytest.raises(DatabaseError, match="nothing was written"):
        ingest.ingest_csv(ingest.Settings(database_url=db_url), path, quiet(), apply=True)
    assert rows(db_url) == []


# --- the bucket --------------------------------------------------------------------------------


def test_bucket_apply_ingests_newest_by_stamp_and_archives(store, db_url):
    store.put(SECOND, three_tickets(WOT1={"owner": "newest"}))  # uploaded first: LastModified is older
    store.put(FIRST, three_tickets(WOT1={"owner": "older"}))
    store.put(INC + "notes.txt", "not a snapshot")
    store.put("automations/crq/2026-06-15T09-00-00.csv", "another dataset's")
    result = run(["ingest", "--from-bucket", "--apply"], store.env(db_url))
    assert result.exit_code == 0, result.output
    summary = result.stdout.strip().splitlines()[-1]
    assert summary.startswith(f"ingested {SECOND} read=4 kept=2 alarms=1 sentinel=1 malformed=0 inserted=2")
    assert "archived=2" in summary
    assert rows(db_url)[0] == ("WOT1", "newest")
    assert store.keys() == sorted(
        [
            "automations/crq/2026-06-15T09-00-00.csv",
            INC + "notes.txt",
            INC + "processed/2026-06-15T07-00-00.csv",
            INC + "processed/2026-06-15T08-00-00.csv",
        ]
    )
    etag = store.client.head_object(Bucket=store.name, Key=INC + "processed/2026-06-15T08-00-00.csv")["ETag"]
    assert rows(db_url, "SELECT metadata->>'source_etag', source_key FROM tickets.import_meta") == [
        (etag.strip('"'), SECOND)
    ]


def test_bucket_dry_run_writes_and_moves_nothing(store, db_url):
    store.put(FIRST, three_tickets())
    result = run(["ingest", "--from-bucket"], store.env(db_url))
    assert result.exit_code == 0, result.output
    assert "dry run: would apply 1 file(s); would archive 1 file(s) to processed/" in result.stdout
    assert result.stdout.strip().splitlines()[-1].startswith(f"dry-run {FIRST} ")
    assert rows(db_url) == [] and store.keys() == [FIRST]


def test_same_etag_is_skipped_but_still_archived(store, db_url):
    settings = store.with_db(db_url)
    store.put(FIRST, three_tickets())
    ingest.ingest_bucket(settings, quiet(), apply=True)
    store.put(SECOND, three_tickets())  # byte-identical export an hour later
    result = ingest.ingest_bucket(settings, quiet(), apply=True)
    assert result.outcome == "unchanged" and result.archived == 1 and result.stats is None
    assert store.keys(INC) == [INC + "processed/2026-06-15T07-00-00.csv", INC + "processed/2026-06-15T08-00-00.csv"]


def test_newer_file_arriving_mid_run_is_left_alone(store, db_url, monkeypatch):
    store.put(FIRST, three_tickets())
    original = Bucket.open

    def open_and_race(self, snapshot):
        store.put(SECOND, three_tickets(WOT1={"owner": "newer"}))
        return original(self, snapshot)

    monkeypatch.setattr(Bucket, "open", open_and_race)
    result = ingest.ingest_bucket(store.with_db(db_url), quiet(), apply=True)
    assert result.outcome == "ingested" and result.archived == 1
    assert store.keys(INC) == [SECOND, INC + "processed/2026-06-15T07-00-00.csv"]


def test_a_file_rewritten_between_the_read_and_the_archive_is_left_for_the_next_run(store, db_url, monkeypatch):
    settings = store.with_db(db_url)
    store.put(FIRST, three_tickets(WOT1={"owner": "read"}))
    original = Bucket.archive
    sent: list[dict] = []

    def rewrite_then_archive(self, file, target):
        store.put(FIRST, three_tickets(WOT1={"owner": "rewritten"}))  # the exporter rewrites the key
        self.client.meta.events.register(
            "before-send.s3.*", lambda request, **_: sent.append({"method": request.method, **request.headers})
        )
        return original(self, file, target)

    monkeypatch.setattr(Bucket, "archive", rewrite_then_archive)
    result = run(["ingest", "--from-bucket", "--apply"], store.env(db_url))
    assert result.exit_code == 0, result.output
    assert "2026-06-15T07-00-00.csv changed after it was read (no longer ETag " in result.stdout
    assert "archived=0" in result.stdout.strip().splitlines()[-1]
    assert FIRST in store.keys(INC)  # the rewritten bytes are still there, unread
    # Both requests carry the ETag that was read; moto honours only the delete's (bucket.py).
    etag = rows(db_url, "SELECT metadata->>'source_etag' FROM tickets.import_meta")[0][0]
    quoted = f'"{etag}"'.encode()
    assert [h.get("x-amz-copy-source-if-match") for h in sent if "x-amz-copy-source" in h] == [quoted]
    assert [h.get("If-Match") for h in sent if h["method"] == "DELETE"] == [quoted]

    monkeypatch.setattr(Bucket, "archive", original)
    again = ingest.ingest_bucket(settings, quiet(), apply=True)
    assert again.outcome == "ingested" and again.archived == 1
    assert rows(db_url)[0] == ("WOT1", "rewritten")
    assert store.keys(INC) == [INC + "processed/2026-06-15T07-00-00.csv"]


def test_a_snapshot_stamped_in_the_future_is_refused_and_the_newest_real_one_taken(store, db_url):
    typo = INC + "2062-06-15T08-00-00.csv"  # 2026 typed as 2062: "newest" for decades
    store.put(FIRST, three_tickets(WOT1={"owner": "real"}))
    store.put(typo, three_tickets(WOT1={"owner": "typo"}))
    result = run(["ingest", "--from-bucket", "--apply"], store.env(db_url))
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("error: 2062-06-15T08-00-00.csv is stamped more than 1 h ahead of now (")
    assert "refused, not archived; the files not in the future were taken" in result.stderr
    assert "listed" in result.stdout and "2 snapshot(s), 0 change file(s), 1 stamped ahead of now" in result.stdout
    assert result.stdout.strip().splitlines()[-1].startswith(f"ingested {FIRST} ")
    assert rows(db_url)[0] == ("WOT1", "real")
    assert store.keys(INC) == [typo, INC + "processed/2026-06-15T07-00-00.csv"]  # left in place
    assert rows(db_url, "SELECT newest_key, future_key FROM tickets.feed_check") == [(FIRST, typo)]

    status = run(["status"], {"DATABASE_URL": db_url})
    assert status.exit_code == 1
    assert f"future snap.  2062-06-15T08-00-00 EAT: {typo} (refused: stamped ahead of the clock)" in status.stdout
    assert f"error: {typo} is stamped 2062-06-15T08-00-00 EAT, ahead of the clock" in status.stderr

    store.client.delete_object(Bucket=store.name, Key=typo)  # the operator removes it
    store.put(SECOND, three_tickets(WOT1={"owner": "next"}))
    again = run(["ingest", "--from-bucket", "--apply", "--max-age-hours", "100000"], store.env(db_url))
    assert again.exit_code == 0, again.output
    assert rows(db_url)[0] == ("WOT1", "next")
    assert run(["status"], {"DATABASE_URL": db_url}).exit_code == 0


def test_a_future_stamp_loaded_before_the_rule_no_longer_blocks_real_files(store, db_url):
    settings = store.with_db(db_url)
    store.put(FIRST, three_tickets())
    ingest.ingest_bucket(settings, quiet(), apply=True)
    with psycopg.connect(db_url) as c:  # what an earlier release left: a future file loaded as newest
        c.execute("UPDATE tickets.import_meta SET snapshot_at = '2062-06-15 08:00+03'")
        c.execute("UPDATE tickets.feed_check SET newest_at = '2062-06-15 08:00+03'")
    migration = (Path(ingest.__file__).parent.parent / "migrations" / "25_future_snapshots.sql").read_text()
    with psycopg.connect(db_url) as c:
        c.execute(migration)  # idempotent: its data fix, run again here
        assert c.execute("SELECT newest_at FROM tickets.feed_check").fetchone()[0] is None  # no real stamp known
    store.put(SECOND, three_tickets(WOT1={"owner": "next"}))
    result = ingest.ingest_bucket(settings, quiet(), apply=True, max_age_hours=100000)
    assert result.outcome == "ingested" and result.alert is None
    assert rows(db_url)[0] == ("WOT1", "next")


def test_a_csv_stamped_in_the_future_is_refused_before_anything_is_read(tmp_path, db_url):
    path = tmp_path / "2062-06-15T08-00-00.csv"
    path.write_text(three_tickets())
    result = run(["ingest", "--csv", str(path), "--apply", "--force"], {"DATABASE_URL": db_url})
    assert result.exit_code == 1
    assert result.stderr.startswith("error: 2062-06-15T08-00-00.csv is stamped more than 1 h ahead of now")
    assert rows(db_url) == []


def test_a_snapshot_older_than_the_stored_rows_rolls_nothing_back(store, db_url):
    settings = store.with_db(db_url)
    store.put(SECOND, three_tickets(WOT1={"owner": "new"}))
    ingest.ingest_bucket(settings, quiet(), apply=True)
    store.put(FIRST, three_tickets(WOT1={"owner": "old"}))  # left behind by an interrupted archive
    result = ingest.ingest_bucket(settings, quiet(), apply=True)
    # its WOT1 row has the same updated_at from an older file: stale; WOT2 is the same: unchanged
    assert (result.outcome, result.counts.stale, result.counts.unchanged, result.archived) == ("ingested", 1, 1, 1)
    assert rows(db_url)[0] == ("WOT1", "new")


def test_more_than_1000_keys_are_paginated(store, db_url):
    for i in range(1005):
        store.put(
            f"{INC}2026-05-{1 + i // 48:02d}T{(i % 48) // 2:02d}-{(i % 2) * 30:02d}-00.csv",
            three_tickets(WOT1={"owner": f"v{i}"}),
        )
    result = ingest.ingest_bucket(store.with_db(db_url), quiet(), apply=True)
    assert result.source == f"{INC}2026-05-21T22-00-00.csv" and result.archived == 1005
    assert rows(db_url)[0] == ("WOT1", "v1004")
    assert len(store.keys(INC + "processed/")) == 1005


def test_archive_failure_after_commit_keeps_the_data_and_the_retry_is_cheap(store, db_url, monkeypatch):
    settings = store.with_db(db_url)
    store.put(FIRST, three_tickets())
    original = Bucket.archive
    monkeypatch.setattr(Bucket, "archive", lambda self, f, t: (_ for _ in ()).throw(StoreError("archive s3: boom")))
    with pytest.raises(ArchiveError, match="the data is committed"):
        ingest.ingest_bucket(settings, quiet(), apply=True)
    assert len(rows(db_url)) == 2 and store.keys(INC) == [FIRST]
    monkeypatch.setattr(Bucket, "archive", original)
    retry = ingest.ingest_bucket(settings, quiet(), apply=True)
    assert retry.outcome == "unchanged" and retry.archived == 1


def test_another_run_holding_the_lock_means_exit_0_and_nothing_touched(store, db_url):
    store.put(FIRST, three_tickets())
    with psycopg.connect(db_url, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (db.LOCK_INGEST,))
        result = run(["ingest", "--from-bucket", "--apply"], store.env(db_url))
    assert result.exit_code == 0, result.output
    assert "another ingest is running" in result.stdout
    assert rows(db_url) == [] and store.keys(INC) == [FIRST]


def test_two_concurrent_runs_load_once(store, db_url):
    store.put(FIRST, csv_text([record(f"W{i:05d}") for i in range(3000)]))
    results = []
    start = threading.Barrier(2)

    def go() -> None:
        start.wait()
        results.append(ingest.ingest_bucket(store.with_db(db_url), quiet(), apply=True).outcome)

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) in (["ingested", "locked"], ["ingested", "unchanged"])
    assert rows(db_url, "SELECT count(*) FROM tickets.inc") == [(3000,)]


def test_empty_prefix_is_not_a_failure_unless_stale(store, db_url):
    ok = run(["ingest", "--from-bucket", "--apply"], store.env(db_url))
    assert ok.exit_code == 0 and "no file to ingest" in ok.stdout
    stale = run(["ingest", "--from-bucket", "--apply", "--max-age-hours", "2"], store.env(db_url))
    assert stale.exit_code == 1 and "no snapshot has ever been seen" in stale.stderr
    store.put(FIRST, three_tickets())
    old = run(["ingest", "--from-bucket", "--apply", "--max-age-hours", "2"], store.env(db_url))
    assert old.exit_code == 1 and "h old, more than --max-age-hours 2" in old.stderr
    assert len(rows(db_url)) == 2  # the data still loads; the exit status raises the alarm


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"RUSTFS_BUCKET": "no-such-bucket"}, "bucket 'no-such-bucket' does not exist (RUSTFS_BUCKET)"),
        ({"RUSTFS_ENDPOINT": "http://127.0.0.1:9"}, "cannot list s3://"),
        ({"RUSTFS_ENDPOINT": ""}, "RUSTFS_ENDPOINT not set"),
    ],
)
def test_store_misconfiguration_is_one_line(store, db_url, change, message):
    result = run(["ingest", "--from-bucket", "--apply"], {**store.env(db_url), **change})
    assert result.exit_code == 1
    assert message in result.stderr and result.stderr.count("\n") == 1
    assert "test-secret-key" not in result.output


def test_unreachable_database_is_one_line_without_the_password(store):
    url = "postgresql://fleet:sup3rsecret@127.0.0.1:9/tickets"
    store.put(FIRST, three_tickets())
    result = run(["ingest", "--from-bucket", "--apply"], store.env(url))
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot connect to the database at postgresql://fleet:***@127.0.0.1:9/")
    assert "sup3rsecret" not in result.output
    assert store.keys(INC) == [FIRST]


def test_kept_as_written(tmp_path: Path) -> None:
    """Guard: the fixture data has every contract column (a change there would weaken the tests)."""
    assert len(HEADER) == 32 and set(record("x")) == set(HEADER)


def test_a_file_replaced_between_listing_and_reading_is_not_loaded(store, db_url, monkeypatch):
    store.put(FIRST, three_tickets())
    original = Bucket.list_files

    def list_then_replace(self, *args):
        found = original(self, *args)
        store.put(FIRST, three_tickets(WOT1={"owner": "rewritten"}))  # the exporter rewrites it meanwhile
        return found

    monkeypatch.setattr(Bucket, "list_files", list_then_replace)
    with pytest.raises(StoreError, match="changed after it was listed"):
        ingest.ingest_bucket(store.with_db(db_url), quiet(), apply=True)
    assert rows(db_url) == [] and store.keys(INC) == [FIRST]
