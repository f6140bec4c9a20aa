"""The live shape (CONTRACT 1b, issue 27): change files applied exactly once in stamp order, a load
history that decides, no ticket ever rolled back, CRQ on the same engine. Real parts: moto's S3
HTTP server, the suite's PostgreSQL, the CLI in a child process where a run is killed."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from devtools.feed import Feed, change_stream, write_csv
from fleettickets import db, ingest
from fleettickets.bucket import Bucket
from fleettickets.cli import app
from fleettickets.errors import ArchiveError, StoreError
from tests.conftest import CONTRACT_NAMES
from tests.helpers import CRQ_PREFIX, INC_PREFIX, csv_text, quiet, record

REPO = Path(__file__).resolve().parent.parent
INC, CRQ = INC_PREFIX, CRQ_PREFIX
SNAPSHOT = INC + "2026-06-15T07-00-00.csv"
BOM = "\ufeff"  # the same rows under another ETag: the exporter may or may not write one


def change(stamp: str, prefix: str = INC) -> str:
    return f"{prefix}changes/2026-06-15T{stamp}.csv"


def run(args: list[str], env: dict[str, str]):
    return CliRunner().invoke(app, args, env=env)


def fetch(url: str, sql: str) -> list[tuple]:
    with psycopg.connect(url) as c:
        return c.execute(sql).fetchall()


def end_state(url: str) -> tuple[str, list[tuple]]:
    """The checksum of every ticket's raw, and the event history without its ids and clock."""
    with psycopg.connect(url) as c:
        raw = c.execute("SELECT md5(string_agg(ticket_id || raw::text, ',' ORDER BY ticket_id)) FROM tickets.inc")
        events = c.execute(
            "SELECT ticket_id, observed_at, source_key, kind, old_status, new_status, is_open, changed"
            " FROM tickets.inc_events ORDER BY ticket_id, observed_at, kind"
        )
        return raw.fetchone()[0], events.fetchall()


def owners(url: str) -> dict[str, str]:
    return dict(fetch(url, "SELECT ticket_id, raw ->> 'owner' FROM tickets.inc"))


# --- change files, in order, once ----------------------------------------------------------------


def test_change_files_apply_once_in_stamp_order_then_go_to_processed_changes(store, db_url):
    # uploaded out of order: LastModified means nothing, the stamp in the name decides
    store.put(change("07-40-00"), csv_text([record("WOT1", owner="second", updated_at="2026-06-15 07:40:00")]))
    store.put(change("07-20-00"), csv_text([record("WOT1", owner="first", updated_at="2026-06-15 07:20:00")]))
    at_seven = {"updated_at": "2026-06-15 07:00:00"}
    store.put(
        SNAPSHOT, csv_text([record("WOT1", owner="snapshot", **at_seven), record("WOT2", **at_seven)], sentinel=True)
    )
    store.put(change("08-00-00"), csv_text([]))  # nothing changed: a valid change file
    store.put(CRQ + "changes/2026-06-15T07-20-00.csv", "another dataset's")

    result = run(["ingest", "--from-bucket", "--apply"], store.env(db_url))

    assert result.exit_code == 0, result.output
    summary = result.stdout.strip().splitlines()[-1]
    assert summary.startswith(f"ingested {change('08-00-00')} read=5 kept=4 alarms=0 sentinel=1 malformed=0 ")
    assert "inserted=2 updated=2 unchanged=0 stale=0 events=4 snapshots=1 changes=3 archived=4" in summary
    applied = [line.split(":")[0] for line in result.stdout.splitlines() if line.startswith("cleaned ")]
    assert applied == [
        "cleaned 2026-06-15T07-00-00.csv",
        "cleaned changes/2026-06-15T07-20-00.csv",
        "cleaned changes/2026-06-15T07-40-00.csv",
        "cleaned changes/2026-06-15T08-00-00.csv",
    ]
    assert owners(db_url) == {"WOT1": "second", "WOT2": "J. Mwangi"}
    assert fetch(
        db_url, "SELECT kind, source_key FROM tickets.inc_events WHERE ticket_id = 'WOT1' ORDER BY event_id"
    ) == [
        ("created", SNAPSHOT),
        ("updated", change("07-20-00")),
        ("updated", change("07-40-00")),
    ]
    assert store.keys() == sorted(
        [
            CRQ + "changes/2026-06-15T07-20-00.csv",  # an INC run never touches another dataset's files
            INC + "processed/2026-06-15T07-00-00.csv",
            INC + "processed/changes/2026-06-15T07-20-00.csv",
            INC + "processed/changes/2026-06-15T07-40-00.csv",
            INC + "processed/changes/2026-06-15T08-00-00.csv",
        ]
    )
    history = fetch(
        db_url, "SELECT kind, source_key, outcome, archived_at IS NOT NULL FROM tickets.loads ORDER BY stamp"
    )
    assert history == [
        ("snapshot", SNAPSHOT, "applied", True),
        ("change", change("07-20-00"), "applied", True),
        ("change", change("07-40-00"), "applied", True),
        ("change", change("08-00-00"), "applied", True),
    ]
    listing = run(["loads", "--format", "csv"], {"DATABASE_URL": db_url})
    assert (
        listing.exit_code == 0
        and listing.stdout.count("\n") == 5
        and "changes/2026-06-15T08-00-00.csv" in listing.stdout
    )


def test_a_header_only_snapshot_is_still_refused_and_left_in_place_while_the_stream_goes_on(store, db_url):
    store.put(SNAPSHOT, csv_text([]))
    store.put(change("07-20-00"), csv_text([record("WOT1", updated_at="2026-06-15 07:20:00")]))
    result = run(["ingest", "--from-bucket", "--apply"], store.env(db_url))
    assert result.exit_code == 1
    assert result.stderr == (
        "error: 2026-06-15T07-00-00.csv was refused (no valid data rows (0 read)) and left in place: fix or remove it\n"
    )
    assert "refused=1" in result.stdout and owners(db_url) == {"WOT1": "J. Mwangi"}
    assert store.keys(INC) == [SNAPSHOT, INC + "processed/changes/2026-06-15T07-20-00.csv"]
    assert fetch(db_url, "SELECT source_key FROM tickets.loads") == [(change("07-20-00"),)]


def test_a_file_applied_but_not_archived_is_archived_next_run_and_never_applied_again(store, db_url, monkeypatch):
    settings = store.with_db(db_url)
    store.put(change("07-20-00"), csv_text([record("WOT1", updated_at="2026-06-15 07:20:00")]))
    original = Bucket.archive
    monkeypatch.setattr(Bucket, "archive", lambda self, f, t: (_ for _ in ()).throw(StoreError("archive: boom")))
    with pytest.raises(ArchiveError, match=r"the data is committed.*the next run archives the rest"):
        ingest.ingest_bucket(settings, quiet(), apply=True)
    monkeypatch.setattr(Bucket, "archive", original)
    again = ingest.ingest_bucket(settings, quiet(), apply=True)
    assert (again.outcome, again.archived, again.counts) == ("unchanged", 1, None)
    assert fetch(db_url, "SELECT count(*), count(archived_at) FROM tickets.loads") == [(1, 1)]
    assert fetch(db_url, "SELECT count(*) FROM tickets.inc_events") == [(1,)]
    assert store.keys(INC) == [INC + "processed/changes/2026-06-15T07-20-00.csv"]


def test_a_rewritten_file_is_applied_again_under_the_version_rule(store, db_url):
    settings = store.with_db(db_url)
    key = change("07-20-00")
    store.put(key, csv_text([record("WOT1", owner="first", updated_at="2026-06-15 07:20:00")]))
    ingest.ingest_bucket(settings, quiet(), apply=True)
    # the exporter rewrites the same key (a new ETag): another file, applied; same version, same stamp: it wins
    store.put(key, csv_text([record("WOT1", owner="corrected", updated_at="2026-06-15 07:20:00")]))
    rewritten = ingest.ingest_bucket(settings, quiet(), apply=True)
    assert (rewritten.outcome, rewritten.counts.updated) == ("ingested", 1) and owners(db_url) == {"WOT1": "corrected"}
    # the same rows again under yet another ETag (other line ends): applied, and changes nothing
    store.put(key, csv_text([record("WOT1", owner="corrected", updated_at="2026-06-15 07:20:00")], crlf=True))
    same = ingest.ingest_bucket(settings, quiet(), apply=True)
    assert (same.counts.unchanged, same.counts.events) == (1, 0)
    with psycopg.connect(db_url) as c:
        etags = c.execute("SELECT count(*), count(DISTINCT etag) FROM tickets.loads WHERE source_key = %s", (key,))
        assert etags.fetchall() == [(3, 3)]


def test_a_late_file_rolls_no_ticket_back_and_writes_no_false_event(store, db_url):
    settings = store.with_db(db_url)
    store.put(change("07-40-00"), csv_text([record("WOT1", owner="newer", updated_at="2026-06-15 07:40:00")]))
    ingest.ingest_bucket(settings, quiet(), apply=True)
    closed = {"is_actionable": "false", "normalized_status": "closed", "updated_at": "2026-06-15 07:50:00"}
    store.put(change("07-50-00"), csv_text([record("WOT2", **closed)]))
    ingest.ingest_bucket(settings, quiet(), apply=True)
    # arriving late: WOT1 at 07:20 (older than stored: stale), WOT2 still open at 07:20 (older: no false reopen),
    # WOT3 never seen (new: loaded)
    at = {"updated_at": "2026-06-15 07:20:00"}
    late = [record("WOT1", owner="older", **at), record("WOT2", **at), record("WOT3", **at)]
    store.put(change("07-20-00"), csv_text(late))
    result = ingest.ingest_bucket(settings, quiet(), apply=True)
    assert (result.counts.stale, result.counts.inserted, result.counts.updated) == (2, 1, 0)
    assert owners(db_url)["WOT1"] == "newer"
    assert fetch(db_url, "SELECT is_actionable FROM tickets.inc WHERE ticket_id = 'WOT2'") == [(False,)]
    assert fetch(db_url, "SELECT ticket_id, kind FROM tickets.inc_events ORDER BY event_id") == [
        ("WOT1", "created"),
        ("WOT2", "created"),
        ("WOT3", "created"),
    ]


@pytest.mark.parametrize(
    ("arrivals", "stale", "owner"),
    [
        # a late file is older than the stored row: its stamp is its version
        ((("07-40-00", "at 07:40"), ("07-20-00", "at 07:20"), ("08-00-00", "at 08:00")), [0, 1, 0], "at 08:00"),
        # 08:00 carrying 07:20's row unchanged confirms it at 08:00: 07:40's, arriving late, is older
        ((("07-20-00", "X"), ("08-00-00", "X"), ("07-40-00", "Y")), [0, 0, 1], "X"),
    ],
)
def test_a_row_without_updated_at_takes_its_files_stamp_as_its_version(store, db_url, arrivals, stale, owner):
    settings = store.with_db(db_url)
    seen = []
    for stamp, name in arrivals:
        store.put(change(stamp), csv_text([record("WOT1", owner=name, updated_at="")]))
        seen.append(ingest.ingest_bucket(settings, quiet(), apply=True).counts.stale)
    assert (seen, owners(db_url)) == (stale, {"WOT1": owner})
    assert fetch(db_url, "SELECT row_stamp FROM tickets.inc") == fetch(db_url, "SELECT max(stamp) FROM tickets.loads")


def test_an_updated_at_far_ahead_of_its_file_cannot_freeze_a_ticket(store, db_url):
    """A typo (2062) is believed only up to an hour past its file's stamp (the stamps' own tolerance)."""
    settings = store.with_db(db_url)
    store.put(change("07-20-00"), csv_text([record("WOT1", owner="typo", updated_at="2062-06-15 07:20:00")]))
    ingest.ingest_bucket(settings, quiet(), apply=True)
    store.put(change("09-00-00"), csv_text([record("WOT1", owner="fixed", updated_at="2026-06-15 09:00:00")]))
    result = ingest.ingest_bucket(settings, quiet(), apply=True)
    assert (result.counts.updated, owners(db_url)) == (1, {"WOT1": "fixed"})


def test_the_tolerance_for_a_rows_version_is_the_stamps_own(conn):
    from fleettickets.snapshot import FUTURE_TOLERANCE

    stamp = "2026-06-15 07:20:00+03"
    ahead = conn.execute(
        "SELECT tickets.row_version(%s::timestamptz + interval '1 day', %s) - %s::timestamptz", (stamp, stamp, stamp)
    ).fetchone()[0]
    assert ahead == FUTURE_TOLERANCE


def test_a_late_file_leaves_the_freshness_record_where_it_was_and_says_the_history_skips_it(store, db_url):
    settings = store.with_db(db_url)
    store.put(change("07-40-00"), csv_text([record("WOT1", owner="newer", updated_at="2026-06-15 07:40:00")]))
    ingest.ingest_bucket(settings, quiet(), apply=True)
    store.put(change("07-20-00"), csv_text([record("WOT1", owner="older", updated_at="2026-06-15 07:20:00")]))
    reporter = quiet()
    ingest.ingest_bucket(settings, reporter, apply=True)
    assert fetch(db_url, "SELECT source_key FROM tickets.import_meta") == [(change("07-40-00"),)]
    assert (
        "2026-06-15T07-20-00.csv came after files stamped later: its 1 stale row(s) were never the stored state,"
        " so the event history skips them; `fleettickets history rebuild --apply` replays the archive in stamp order"
    ) in reporter.out.getvalue()


# --- exactly once, whatever arrives when ------------------------------------------------------------


def stream_files(files: int = 12) -> list[tuple[str, str]]:
    """A snapshot of 200-odd tickets at 00:00 EAT and `files` change files of 30 rows after it."""
    feed = Feed(400, seed=7)
    import io

    out = io.StringIO()
    write_csv(out, feed.snapshot(0))
    found = [(INC + "2026-06-15T00-00-00.csv", out.getvalue())]
    for c in change_stream(feed, files, 30):
        found.append((INC + "changes/" + c.name, csv_text(c.records)))
    return found


def test_applying_every_file_again_in_any_order_changes_nothing(store, db_url):
    settings = store.with_db(db_url)
    files = stream_files()
    for key, body in files:
        store.put(key, body)
    first = ingest.ingest_bucket(settings, quiet(), apply=True)
    assert (first.files["snapshot"], first.files["change"]) == (1, 12)
    once = end_state(db_url)

    # replayed: the same bytes at the same keys are the files the load history holds
    for key, body in files:
        store.put(key, body)
    replay = ingest.ingest_bucket(settings, quiet(), apply=True)
    assert (replay.outcome, replay.archived, replay.counts) == ("unchanged", len(files), None)
    assert end_state(db_url) == once

    # re-uploaded with new ETags (a byte-order mark before the same rows), in a shuffled order, over three runs
    shuffled = files[:]
    random.Random(3).shuffle(shuffled)
    rows = 0
    for part in (shuffled[:4], shuffled[4:9], shuffled[9:]):
        for key, body in part:
            store.put(key, BOM + body)
        again = ingest.ingest_bucket(settings, quiet(), apply=True)
        assert (again.counts.inserted, again.counts.updated, again.counts.events) == (0, 0, 0)
        rows += again.counts.stale + again.counts.unchanged
    assert rows > 0 and end_state(db_url) == once
    assert fetch(db_url, "SELECT count(*) FROM tickets.loads") == [(2 * len(files),)]


def test_files_arriving_in_any_order_end_in_the_same_tickets(store, db_url, databases, template_db):
    """No ticket rolled back: the rows with the newest versions win whatever the order of arrival."""
    from tests.conftest import database_url

    files = stream_files(8)
    for key, body in files:
        store.put(key, body)
    ingest.ingest_bucket(store.with_db(db_url), quiet(), apply=True)
    in_order = end_state(db_url)[0]

    other = database_url(databases.create(template=template_db))
    late_first = files[:]
    random.Random(5).shuffle(late_first)
    for key, body in late_first:  # one file a run, in the shuffled order
        store.put(key, BOM + body)
        ingest.ingest_bucket(store.with_db(other), quiet(), apply=True)
    assert end_state(other)[0] == in_order


# --- a run killed anywhere ------------------------------------------------------------------------------

KILLER = """
import os, signal, sys
import fleettickets.bucket, fleettickets.load, fleettickets.loads
owner, name, at, how = sys.argv[1], sys.argv[2], int(sys.argv[3]), getattr(signal, sys.argv[4])
target = {"archive": fleettickets.bucket.Bucket, "stage": fleettickets.load, "record": fleettickets.loads}[owner]
original, calls = getattr(target, name), [0]
def killed(*args, **kwargs):
    calls[0] += 1
    if calls[0] == at:
        os.kill(os.getpid(), how)
    return original(*args, **kwargs)
setattr(target, name, killed)
from fleettickets.cli import app
app(sys.argv[5:], prog_name="fleettickets")
"""


@pytest.mark.parametrize(
    ("where", "name", "at", "how"),
    [
        ("stage", "stage", 3, "SIGKILL"),  # the third file's COPY has not begun: it is not applied
        ("record", "record", 2, "SIGKILL"),  # the second file is merged, not committed: rolled back with the session
        ("archive", "archive", 4, "SIGKILL"),  # the fourth file is committed, not archived: archived next run
        ("record", "record", 5, "SIGTERM"),  # a stop (docker stop, a scheduler's timeout) in the same place
    ],
)
def test_a_run_stopped_anywhere_leaves_each_file_applied_and_recorded_or_not_at_all(
    store, db_url, databases, template_db, where, name, at, how
):
    from tests.conftest import database_url

    files = stream_files(5)
    for key, body in files:
        store.put(key, body)
    env = {**{k: v for k, v in os.environ.items() if k not in CONTRACT_NAMES}, **store.env(db_url)}
    args = ["ingest", "--from-bucket", "--apply"]
    killed = subprocess.run([sys.executable, "-c", KILLER, where, name, str(at), how, *args], env=env, cwd=REPO)
    assert killed.returncode == -getattr(signal, how)
    rerun = run(args, store.env(db_url))
    assert rerun.exit_code == 0, rerun.output

    reference = database_url(databases.create(template=template_db))  # the same files, never interrupted
    for key, body in files:
        store.put(key, body)  # the same bytes: the same ETags
    ingest.ingest_bucket(store.with_db(reference), quiet(), apply=True)
    assert end_state(db_url) == end_state(reference)
    assert fetch(db_url, "SELECT count(*), count(DISTINCT source_key) FROM tickets.loads") == [(6, 6)]


# --- the archive, and a delete whose first answer was lost --------------------------------------------


def test_a_retried_delete_answered_412_for_a_key_already_gone_is_archived(store, db_url):
    """RustFS answers 412 to a conditional delete of a key that is gone: what a retry meets when the
    first attempt succeeded and its answer was lost. Stand-in: the first attempt's delete goes through
    (unconditionally, as the lost attempt did), and the client is handed RustFS's 412 (moto answers a
    delete of a missing key with 204, whatever its If-Match)."""
    from botocore.awsrequest import AWSResponse

    settings = store.with_db(db_url)
    store.put(SNAPSHOT, csv_text([record("WOT1")]))
    bucket = Bucket(settings)
    original_init = Bucket.__init__

    def lossy(self, s):
        original_init(self, s)

        def first_attempt_succeeds_answer_lost(request, **_):
            if request.method == "DELETE":
                store.client.delete_object(Bucket=store.name, Key=SNAPSHOT)
                body = (
                    b"<Error><Code>PreconditionFailed</Code><Message>At least one precondition failed</Message></Error>"
                )
                return AWSResponse(request.url, 412, {"content-type": "application/xml"}, _Raw(body))
            return None

        self.client.meta.events.register("before-send.s3.DeleteObject", first_attempt_succeeds_answer_lost)

    Bucket.__init__ = lossy
    try:
        reporter = quiet()
        result = ingest.ingest_bucket(settings, reporter, apply=True)
    finally:
        Bucket.__init__ = original_init
    assert (result.outcome, result.archived) == ("ingested", 1)
    assert "left in place" not in reporter.out.getvalue()
    assert store.keys(INC) == [INC + "processed/2026-06-15T07-00-00.csv"]
    del bucket


class _Raw:
    """A raw HTTP body for a hand-made botocore response."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_):
        yield self.body

    def read(self, *_):
        return self.body


# --- CRQ on the same engine -----------------------------------------------------------------------------


def test_crq_is_loaded_as_the_export_sent_it_into_its_own_table(store, db_url):
    rows = [
        record("CRQ1", region="NAIROBI", raw_status="  new request ", is_alarm="true", department="Installs"),
        record("CRQ2", owner=""),
    ]
    store.put(CRQ + "2026-06-15T07-00-00.csv", csv_text(rows, sentinel=True))
    store.put(
        CRQ + "changes/2026-06-15T07-20-00.csv",
        csv_text([record("CRQ2", owner="late", updated_at="2026-06-15 09:00:00")]),
    )
    store.put(SNAPSHOT, csv_text([record("WOT1")]))

    result = run(["ingest", "--from-bucket", "--apply", "--dataset", "crq"], store.env(db_url))

    assert result.exit_code == 0, result.output
    assert "alarms=0 sentinel=1" in result.stdout and "snapshots=1 changes=1" in result.stdout
    raw = dict(fetch(db_url, "SELECT ticket_id, raw FROM tickets.crq"))
    # artefacts dropped (the sentinel row, '' as no value); nothing else: no alarm drop, no column drop, no case change
    assert raw["CRQ1"]["region"] == "NAIROBI" and raw["CRQ1"]["raw_status"] == "  new request "
    assert raw["CRQ1"]["is_alarm"] == "true" and raw["CRQ1"]["department"] == "Installs"
    assert raw["CRQ2"]["owner"] == "late"
    assert fetch(db_url, "SELECT count(*) FROM tickets.inc") == [(0,)]
    assert fetch(db_url, "SELECT count(*) FROM tickets.inc_events") == [(0,)]  # the event history is INC's
    assert store.keys(INC) == [SNAPSHOT]  # a CRQ run never touches INC's files
    assert store.keys(CRQ + "processed/") == [
        CRQ + "processed/2026-06-15T07-00-00.csv",
        CRQ + "processed/changes/2026-06-15T07-20-00.csv",
    ]
    assert fetch(db_url, "SELECT dataset, count(*) FROM tickets.loads GROUP BY 1") == [("crq", 2)]

    local = Path(store.name + "-crq.csv")
    local.write_text(csv_text([record("CRQ3")]))
    csv = run(["ingest", "--csv", str(local), "--apply", "--dataset", "crq"], {"DATABASE_URL": db_url})
    assert csv.exit_code == 0 and fetch(db_url, "SELECT count(*) FROM tickets.crq") == [(3,)]


def test_inc_and_crq_runs_go_side_by_side(store, db_url):
    store.put(CRQ + "2026-06-15T07-00-00.csv", csv_text([record("CRQ1")]))
    store.put(SNAPSHOT, csv_text([record("WOT1")]))
    with psycopg.connect(db_url, autocommit=True) as other:  # an INC run in progress
        other.execute("SELECT pg_advisory_lock(%s)", (db.LOCK_INGEST,))
        crq = run(["ingest", "--from-bucket", "--apply", "--dataset", "crq"], store.env(db_url))
        inc = run(["ingest", "--from-bucket", "--apply"], store.env(db_url))
    assert crq.exit_code == 0 and crq.stdout.strip().splitlines()[-1].startswith("ingested ")
    assert inc.exit_code == 0 and "another ingest is running" in inc.stdout
    assert store.keys(INC) == [SNAPSHOT]


def test_each_dataset_has_its_freshness_and_its_own_alarm(store, db_url):
    store.put(SNAPSHOT, csv_text([record("WOT1")]))
    store.put(CRQ + "2026-06-15T07-00-00.csv", csv_text([record("CRQ1")]))
    assert run(["ingest", "--from-bucket", "--apply"], store.env(db_url)).exit_code == 0
    assert run(["ingest", "--from-bucket", "--apply", "--dataset", "crq"], store.env(db_url)).exit_code == 0
    with psycopg.connect(db_url) as c:  # INC's exporter alive an hour ago, CRQ's silent for 30 hours
        c.execute("UPDATE tickets.feed_check SET newest_at = now() - interval '1 hour' WHERE dataset = 'inc'")
        c.execute("UPDATE tickets.feed_check SET newest_at = now() - interval '30 hours' WHERE dataset = 'crq'")
    status = run(["status", "--max-age-hours", "26"], {"DATABASE_URL": db_url})
    assert status.exit_code == 1
    assert status.stderr == "error: the newest crq file is 30.0 h old, more than 26 h: is the exporter running?\n"
    assert "crq:" in status.stdout and "\n  last load     automations/crq/2026-06-15T07-00-00.csv" in status.stdout
    crq = run(["ingest", "--from-bucket", "--apply", "--dataset", "crq", "--max-age-hours", "26"], store.env(db_url))
    assert crq.exit_code == 1 and "the newest crq file (" in crq.stderr
    inc = run(["ingest", "--from-bucket", "--apply", "--max-age-hours", "26"], store.env(db_url))
    assert inc.exit_code == 0, inc.output


# --- the push monitor -----------------------------------------------------------------------------------


@pytest.fixture
def monitor():
    """A stand-in healthchecks.io: records the paths it is asked for."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"OK")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/ping/5b2c-secret-uuid", seen
    server.shutdown()


def test_the_push_monitor_hears_each_run_and_its_url_is_never_printed(store, db_url, monitor):
    url, seen = monitor
    env = {**store.env(db_url), "FLEETTICKETS_PUSH_URL_INC": url}
    store.put(SNAPSHOT, csv_text([record("WOT1")]))
    ok = run(["ingest", "--from-bucket", "--apply"], env)
    store.put(INC + "2026-06-15T08-00-00.csv", "not, a, snapshot\n")
    failed = run(["ingest", "--from-bucket", "--apply"], env)
    dry = run(["ingest", "--from-bucket"], env)  # a dry run is not the scheduled job: no report
    assert (ok.exit_code, failed.exit_code, dry.exit_code) == (0, 1, 1)
    assert seen == ["/ping/5b2c-secret-uuid", "/ping/5b2c-secret-uuid/fail"]
    for result in (ok, failed, dry):
        assert "5b2c-secret-uuid" not in result.output


def test_a_push_monitor_that_does_not_answer_does_not_fail_the_run(store, db_url):
    env = {**store.env(db_url), "FLEETTICKETS_PUSH_URL_INC": "http://127.0.0.1:9/ping/closed-port-secret"}
    store.put(SNAPSHOT, csv_text([record("WOT1")]))
    result = run(["ingest", "--from-bucket", "--apply"], env)
    assert result.exit_code == 0, result.output
    assert "warning: the inc push monitor did not answer (ConnectError)" in result.stdout
    assert "closed-port-secret" not in result.output


# --- the scheduled task of each dataset ------------------------------------------------------------------


def test_run_ingest_sh_takes_the_dataset(store, empty_db_url, tmp_path):
    store.put(CRQ + "changes/2026-06-15T07-20-00.csv", csv_text([record("CRQ1")]))
    env = {
        **{k: v for k, v in os.environ.items() if k not in CONTRACT_NAMES},
        **store.env(empty_db_url),
        "FLEETTICKETS_MAX_AGE_HOURS": "",
    }
    crq = subprocess.run([str(REPO / "run_ingest.sh"), "crq"], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert crq.returncode == 0, crq.stderr
    assert f"ingested {CRQ}changes/2026-06-15T07-20-00.csv" in crq.stdout
    assert fetch(empty_db_url, "SELECT count(*) FROM tickets.crq") == [(1,)]
    bad = subprocess.run([str(REPO / "run_ingest.sh"), "xyz"], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert (
        bad.returncode == 2 and bad.stderr == "run_ingest.sh: error: no dataset 'xyz': the datasets are inc and crq\n"
    )


def test_crq_rows_are_positioned_like_inc_and_their_places_geocoded_on_request(store, db_url):
    from devtools.geocoder import DevGeocoder

    store.put(CRQ + "2026-06-15T07-00-00.csv", csv_text([record("CRQ1"), record("CRQ2", location_name="NW_Lavington")]))
    assert run(["ingest", "--from-bucket", "--apply", "--dataset", "crq"], store.env(db_url)).exit_code == 0
    assert fetch(db_url, "SELECT DISTINCT geo_source FROM tickets.crq") == [("none",)]
    with DevGeocoder() as provider:
        env = {
            "DATABASE_URL": db_url,
            "GEOCODER_API_KEY": "k",
            "GEOCODER_BASE_URL": provider.url,
            "GEOCODER_RATE": "100",
        }
        assert run(["geocode", "clusters", "--apply"], env).exit_code == 0  # the clusters of both datasets
        assert fetch(db_url, "SELECT DISTINCT geo_source FROM tickets.crq") == [("cluster",)]
        inc = run(["geocode", "locations", "--apply"], env)
        crq = run(["geocode", "locations", "--apply", "--dataset", "crq"], env)
    assert "distinct=0" in inc.stdout.strip().splitlines()[-1]  # INC has no open ticket naming a place
    assert "distinct=2" in crq.stdout.strip().splitlines()[-1] and "tickets_moved=2" in crq.stdout
    assert fetch(db_url, "SELECT DISTINCT geo_source FROM tickets.crq") == [("location",)]


def test_a_file_is_never_loaded_inside_another_transaction(db_url):
    """Each file commits on its own: inside an open transaction its load would be a savepoint of it,
    and a run stopped later would take every file before with it."""
    from fleettickets.clean import CleanStats
    from fleettickets.config import Settings
    from fleettickets.datasets import dataset
    from fleettickets.load import load
    from fleettickets.loads import Source

    with psycopg.connect(db_url) as c:
        c.execute("SELECT 1")  # a transaction left open
        with pytest.raises(RuntimeError, match="a transaction of its own"):
            load(c, dataset(Settings(), "inc"), Source("inc", "change", "k"), iter(()), CleanStats(), apply=True)
