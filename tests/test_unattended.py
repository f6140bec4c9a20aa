"""Unattended runs: freshness that means the feed, no run stuck or racing, the old-CSV guard,
store stream failures in one line. Real PostgreSQL (through a stalling TCP proxy where needed),
moto's S3 server, a local HTTP server that cuts a download short."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
import pytest
from typer.testing import CliRunner

from fleettickets import db, ingest
from fleettickets.bucket import Bucket
from fleettickets.cli import app
from fleettickets.config import load_settings
from fleettickets.snapshot import EAT
from tests.conftest import CONTRACT_NAMES
from tests.helpers import INC_PREFIX as PREFIX
from tests.helpers import csv_text, one, quiet, record


def stamp(hours_ago: float) -> str:
    return (datetime.now(EAT) - timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H-%M-%S")


def run(args: list[str], env: dict[str, str]):
    return CliRunner().invoke(app, args, env=env)


def fetch(url: str, sql: str) -> list[tuple]:
    with psycopg.connect(url) as c:
        return c.execute(sql).fetchall()


# --- freshness ---------------------------------------------------------------------------------


def test_an_unchanged_hour_is_a_check_of_a_live_feed_without_rewriting_anything(store, db_url):
    body = csv_text([record("WOT1"), record("WOT2")])
    store.put(PREFIX + stamp(5) + ".csv", body)
    assert run(["ingest", "--from-bucket", "--apply"], store.env(db_url)).exit_code == 0
    with psycopg.connect(db_url) as c:  # the load was long ago: a day of byte-identical exports since
        c.execute("UPDATE tickets.import_meta SET ingested_at = now() - interval '30 hours'")
        c.execute("UPDATE tickets.feed_check SET checked_at = now() - interval '30 hours'")
    before = fetch(db_url, "SELECT ticket_id, xmin::text, ingested_at FROM tickets.inc ORDER BY 1")
    meta = fetch(db_url, "SELECT source_key, snapshot_at, ingested_at, metadata FROM tickets.import_meta")
    fresh = PREFIX + stamp(0.5) + ".csv"
    store.put(fresh, body)  # the exporter re-emits the same bytes
    result = run(["ingest", "--from-bucket", "--apply", "--max-age-hours", "2"], store.env(db_url))
    assert result.exit_code == 0, result.output
    assert "unchanged" in result.stdout
    assert fetch(db_url, "SELECT ticket_id, xmin::text, ingested_at FROM tickets.inc ORDER BY 1") == before
    assert fetch(db_url, "SELECT source_key, snapshot_at, ingested_at, metadata FROM tickets.import_meta") == meta
    check = fetch(db_url, "SELECT outcome, newest_key, now() - checked_at < '1 minute' FROM tickets.feed_check")
    assert check == [("unchanged", fresh, True)]
    status = run(["status", "--max-age-hours", "2"], {"DATABASE_URL": db_url})
    assert status.exit_code == 0, status.output  # the feed is alive, though nothing was loaded for 30 h
    lines = status.stdout.splitlines()
    assert lines[0].startswith("last check    ") and lines[0].endswith("(0.0 h ago): unchanged")
    assert lines[1].startswith(f"newest snap.  {fresh[len(PREFIX) : -4]} EAT (0.5 h old)")
    assert lines[2].startswith("last load     ")


def test_nothing_new_is_a_check_too_and_the_newest_stamp_never_goes_back(store, db_url):
    store.put(PREFIX + stamp(1) + ".csv", csv_text([record("WOT1")]))
    assert run(["ingest", "--from-bucket", "--apply"], store.env(db_url)).exit_code == 0
    newest = fetch(db_url, "SELECT newest_key, newest_at FROM tickets.feed_check")
    with psycopg.connect(db_url) as c:
        c.execute("UPDATE tickets.feed_check SET checked_at = now() - interval '2 hours'")
    result = run(["ingest", "--from-bucket", "--apply"], store.env(db_url))
    assert result.exit_code == 0 and "no-snapshot" in result.stdout
    assert fetch(db_url, "SELECT newest_key, newest_at FROM tickets.feed_check") == newest
    assert fetch(db_url, "SELECT outcome, now() - checked_at < interval '1 minute' FROM tickets.feed_check") == [
        ("no-snapshot", True)
    ]


@pytest.mark.parametrize(("age", "limit", "stale"), [(5, 3, True), (5, 6, False)])
def test_ingest_and_status_max_age_measure_the_same_thing(store, db_url, age, limit, stale):
    store.put(PREFIX + stamp(age) + ".csv", csv_text([record("WOT1")]))
    ingested = run(["ingest", "--from-bucket", "--apply", "--max-age-hours", str(limit)], store.env(db_url))
    status = run(["status", "--max-age-hours", str(limit)], {"DATABASE_URL": db_url})
    assert (ingested.exit_code, status.exit_code) == ((1, 1) if stale else (0, 0)), ingested.output + status.output
    if stale:
        assert f"is {age:.1f} h old, more than --max-age-hours {limit}" in ingested.stderr
        assert f"the newest snapshot is {age:.1f} h old, more than {limit} h" in status.stderr
    again = run(["ingest", "--from-bucket", "--apply", "--max-age-hours", str(limit)], store.env(db_url))
    assert again.exit_code == ingested.exit_code  # nothing new: still measured from the newest stamp


def test_status_json_has_the_freshness_as_plain_numbers(store, db_url):
    store.put(PREFIX + stamp(1) + ".csv", csv_text([record("WOT1")]))
    assert run(["ingest", "--from-bucket", "--apply"], store.env(db_url)).exit_code == 0
    report = json.loads(run(["status", "--json"], {"DATABASE_URL": db_url}).stdout)
    assert report["last_check"]["outcome"] == "ingested" and isinstance(report["last_check"]["age_hours"], float)
    assert 0.9 < report["newest_snapshot"]["age_hours"] < 1.1


# --- the old CSV -------------------------------------------------------------------------------


def test_an_older_csv_loads_only_what_is_newer_and_rolls_nothing_back(db_url, tmp_path):
    """The version rule replaces the old whole-file refusal: WOT1's stored row is newer (same updated_at,
    a later file), so the old file's WOT1 is stale; WOT2 is new to the database, so it is loaded."""
    newer, older = tmp_path / "2026-06-15T09-00-00.csv", tmp_path / "2026-06-15T07-00-00.csv"
    newer.write_text(csv_text([record("WOT1", normalized_status="closed", is_actionable="false")]))
    older.write_text(csv_text([record("WOT1"), record("WOT2")]))
    assert run(["ingest", "--csv", str(newer), "--apply"], {"DATABASE_URL": db_url}).exit_code == 0
    before = fetch(db_url, "SELECT raw, ingested_at FROM tickets.inc WHERE ticket_id = 'WOT1'")
    result = run(["ingest", "--csv", str(older), "--apply"], {"DATABASE_URL": db_url})
    assert result.exit_code == 0, result.output
    assert "inserted=1 updated=0 unchanged=0 stale=1 events=1" in result.stdout
    assert fetch(db_url, "SELECT raw, ingested_at FROM tickets.inc WHERE ticket_id = 'WOT1'") == before
    # no false reopen of WOT1: its only events are its creation (closed) ...
    assert fetch(db_url, "SELECT ticket_id, kind FROM tickets.inc_events ORDER BY event_id") == [
        ("WOT1", "created"),
        ("WOT2", "created"),
    ]
    # ... and --force, which once loaded such a file whole, now only says it is not needed
    forced = run(["ingest", "--csv", str(older), "--apply", "--force"], {"DATABASE_URL": db_url})
    assert forced.exit_code == 0 and "--force is no longer needed" in forced.stdout
    assert "stale=1" in forced.stdout and fetch(db_url, "SELECT count(*) FROM tickets.inc_events") == [(2,)]


def test_csv_without_a_stamp_in_its_name_is_not_checked(db_url, tmp_path):
    stamped, plain = tmp_path / "2026-06-15T09-00-00.csv", tmp_path / "export.csv"
    stamped.write_text(csv_text([record("WOT1")]))
    plain.write_text(csv_text([record("WOT2")]))
    assert run(["ingest", "--csv", str(stamped), "--apply"], {"DATABASE_URL": db_url}).exit_code == 0
    assert run(["ingest", "--csv", str(plain), "--apply"], {"DATABASE_URL": db_url}).exit_code == 0
    assert fetch(db_url, "SELECT newest_at FROM tickets.feed_check")[0][0] == datetime(2026, 6, 15, 6, tzinfo=UTC)


# --- the list/lock race ------------------------------------------------------------------------


def test_a_run_starting_while_another_finishes_lists_only_under_the_lock(store, db_url, monkeypatch):
    """Run A starts; run B, already under way, loads and archives; A must not act on what it saw
    before B was done (the same file looks unchanged, then cannot be archived: exit 1)."""
    key = PREFIX + stamp(1) + ".csv"
    store.put(key, csv_text([record("WOT1"), record("WOT2")]))
    settings = store.with_db(db_url)
    original = Bucket.list_files
    calls = []

    def list_then_let_b_finish(self, *args, **kwargs):
        found = original(self, *args, **kwargs)
        if not calls:
            calls.append("A")
            calls.append(ingest.ingest_bucket(settings, quiet(), apply=True).outcome)  # run B, start to end
        return found

    monkeypatch.setattr(Bucket, "list_files", list_then_let_b_finish)
    result = ingest.ingest_bucket(settings, quiet(), apply=True)  # run A
    assert calls == ["A", "locked"]  # B found A holding the lock: A lists only once it is its turn
    assert result.outcome == "ingested" and result.archived == 1
    assert store.keys(PREFIX) == [PREFIX + "processed/" + key[len(PREFIX) :]]
    assert one(psycopg.connect(db_url), "SELECT count(*) FROM tickets.inc") == 2


# --- a lock held: who, since when, and past the deadline an alarm ------------------------------


@pytest.fixture
def held_lock(db_url) -> Iterator[int]:
    """Another session holding the ingest lock; yields its server pid."""
    with psycopg.connect(db_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (db.LOCK_INGEST,))
        yield one(holder, "SELECT pg_backend_pid()")


def test_a_lock_held_within_the_deadline_names_its_holder_and_exits_0(store, db_url, held_lock):
    store.put(PREFIX + stamp(1) + ".csv", csv_text([record("WOT1")]))
    result = run(["ingest", "--from-bucket", "--apply"], store.env(db_url))
    assert result.exit_code == 0, result.output
    assert f"another ingest is running: server pid {held_lock} (user " in result.stdout
    assert " EAT (0 min): nothing to do" in result.stdout
    assert store.keys(PREFIX)[0].endswith(".csv") and "processed" not in store.keys(PREFIX)[0]  # not even listed


def test_a_lock_held_past_the_deadline_is_an_alarm(store, db_url, held_lock, monkeypatch):
    # The holder's session (the real one, found by the real query) is taken to have begun two
    # hours ago, as a stuck run's would: past a one-hour deadline at once. A tiny deadline and a
    # sleep instead raced the run's own deadline, which a loaded machine could reach first.
    real = db.lock_holder

    def began_two_hours_ago(conn: psycopg.Connection, key: int) -> db.LockHolder | None:
        holder = real(conn, key)
        return holder and replace(holder, since=holder.since - timedelta(hours=2))

    monkeypatch.setattr(db, "lock_holder", began_two_hours_ago)
    env = {**store.env(db_url), "FLEETTICKETS_RUN_DEADLINE_MINUTES": "60"}
    result = run(["ingest", "--from-bucket", "--apply"], env)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"error: the ingest lock has been held by server pid {held_lock} (user ")
    alarm = " EAT (120 min), longer than the run deadline (60 min, FLEETTICKETS_RUN_DEADLINE_MINUTES): a stuck run?"
    assert alarm in result.stderr
    assert f"pg_terminate_backend({held_lock})" in result.stderr and result.stderr.count("\n") == 1


# --- a stalled database ------------------------------------------------------------------------


class StallingProxy:
    """A TCP proxy to the database that, once the client sends `trigger`, stops forwarding in both
    directions but keeps both sockets open: a peer that is alive but silent (keepalives answer)."""

    def __init__(self, host: str, port: int, trigger: bytes) -> None:
        self.target, self.trigger = (host, port), trigger
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.stalled = threading.Event()
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            self.sockets += [client, server]
            threading.Thread(target=self._pipe, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        try:
            while data := source.recv(65536):
                if from_client and self.trigger in data:
                    self.stalled.set()
                if self.stalled.is_set():
                    return  # hold everything: neither side hears from the other again
                sink.sendall(data)
        except OSError:
            return

    def close(self) -> None:
        self.listener.close()
        for s in self.sockets:
            s.close()


def test_a_stalled_database_cannot_hang_a_run_past_its_deadline(store, db_url, tmp_path):
    params = psycopg.conninfo.conninfo_to_dict(db_url)
    proxy = StallingProxy(params.get("host", "127.0.0.1"), int(params.get("port", 5432)), b"COPY stage")
    try:
        store.put(PREFIX + stamp(1) + ".csv", csv_text([record(f"W{i}") for i in range(50)]))
        url = psycopg.conninfo.make_conninfo(db_url, host="127.0.0.1", port=str(proxy.port))
        env = {
            **{k: v for k, v in os.environ.items() if k not in CONTRACT_NAMES},
            **store.env(url),
            # 12 s: what the run does before its COPY (about 0.5 s here, idle or loaded) must not
            # meet the deadline first, however loaded the machine
            "FLEETTICKETS_RUN_DEADLINE_MINUTES": "0.2",
        }
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "fleettickets", "ingest", "--from-bucket", "--apply"],
            env=env,
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=120,  # a hang guard, not a speed check: without a deadline this never ends
        )
        assert proxy.stalled.is_set()
        assert result.returncode == 1, result.stdout + result.stderr
        assert "error: the run passed its deadline of 0.2 min (FLEETTICKETS_RUN_DEADLINE_MINUTES)" in result.stderr
        assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1
        # The server ends the stalled session by its own timeout: the lock is free again, nothing kept.
        while time.monotonic() - started < 120:  # a hang guard
            with psycopg.connect(db_url, autocommit=True) as c:
                if one(c, "SELECT pg_try_advisory_lock(%s)", (db.LOCK_INGEST,)):
                    break
            time.sleep(0.5)
        else:
            pytest.fail("the stalled run's lock was never released")
        assert fetch(db_url, "SELECT count(*) FROM tickets.inc") == [(0,)]
        assert not [k for k in store.keys(PREFIX) if "processed/" in k]
    finally:
        proxy.close()


def test_sessions_carry_keepalives_and_timeouts(db_url):
    settings = load_settings({"DATABASE_URL": db_url, "FLEETTICKETS_RUN_DEADLINE_MINUTES": "30"})
    with db.connect(settings.database_url, deadline_seconds=settings.run_deadline_seconds) as conn:
        shown = {
            name: one(conn, f"SHOW {name}")
            for name in ("statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout")
        }
        assert shown == {
            "statement_timeout": "30min",
            "lock_timeout": "1min",
            "idle_in_transaction_session_timeout": "30min",
        }
        params = conn.info.get_parameters()
        assert (params["keepalives"], params["keepalives_idle"], params["tcp_user_timeout"]) == ("1", "30", "60000")


# --- the store cut mid-download ----------------------------------------------------------------


class CuttingStore(BaseHTTPRequestHandler):
    """Lists one snapshot; serves its object with a Content-Length larger than what it sends."""

    KEY = PREFIX + "2026-06-15T07-00-00.csv"

    def do_GET(self) -> None:
        if "list-type=2" in self.path:
            body = (
                '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>tickets</Name>'
                f"<Prefix>{PREFIX}</Prefix><KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>"
                f"<Contents><Key>{self.KEY}</Key><ETag>&quot;abc&quot;</ETag><Size>5000</Size>"
                "<LastModified>2026-06-15T04:00:00.000Z</LastModified></Contents></ListBucketResult>"
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        self.send_header("Content-Length", "5000")
        self.send_header("ETag", '"abc"')
        self.end_headers()
        self.wfile.write(csv_text([record("WOT1")]).encode()[:300])
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


def test_a_download_cut_short_is_one_line_that_says_what_to_do():
    server = ThreadingHTTPServer(("127.0.0.1", 0), CuttingStore)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {
            "RUSTFS_ENDPOINT": f"http://127.0.0.1:{server.server_address[1]}",
            "RUSTFS_ACCESS_KEY": "test-access",
            "RUSTFS_SECRET_KEY": "test-secret-key",
        }
        result = run(["ingest", "--from-bucket"], env)
    finally:
        server.shutdown()
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"error: reading s3://tickets/{CuttingStore.KEY} at http://127.0.0.1:")
    assert "stopped after 300 bytes (the connection was cut: " in result.stderr
    assert result.stderr.rstrip().endswith("nothing was written; the next run will read it again")
    assert "unexpected" not in result.stderr and result.stderr.count("\n") == 1
