"""History capture: events in the ingest transaction, the daily backlog, the rebuild from processed/."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta

import psycopg
import pytest

from devtools.feed import Feed, stamp_name, write_snapshot
from fleettickets.config import Settings
from fleettickets.history import rebuild
from fleettickets.ingest import ingest_bucket, ingest_csv
from fleettickets.snapshot import EAT
from tests.helpers import csv_text, quiet, record


def events(url: str, columns: str = "ticket_id, kind, old_status, new_status, is_open, changed") -> list[tuple]:
    with psycopg.connect(url) as c:
        return c.execute(f"SELECT {columns} FROM tickets.inc_events ORDER BY observed_at, ticket_id").fetchall()


def load(url: str, tmp_path, name: str, records: list[dict]) -> None:
    path = tmp_path / name
    path.write_text(csv_text(records))
    ingest_csv(Settings(database_url=url), path, quiet(), apply=True)


def test_one_event_per_ticket_per_change_and_none_for_unchanged_rows(db_url, tmp_path):
    closed = {"is_actionable": "false", "bucket": "closed", "normalized_status": "closed"}
    load(
        db_url, tmp_path, "2026-06-15T07-00-00.csv", [record("T1"), record("T2"), record("T3", **closed), record("T5")]
    )
    assert [e[:2] for e in events(db_url)] == [
        ("T1", "created"),
        ("T2", "created"),
        ("T3", "created"),
        ("T5", "created"),
    ]
    load(
        db_url, tmp_path, "2026-06-15T08-00-00.csv", [record("T1"), record("T2"), record("T3", **closed), record("T5")]
    )
    assert len(events(db_url)) == 4  # the same content again adds nothing
    load(
        db_url,
        tmp_path,
        "2026-06-15T09-00-00.csv",
        [
            record("T1", **closed, closed_at="2026-06-15 08:40:00"),
            record("T2", normalized_status="pending", raw_status="Pending Parts"),
            record("T3"),  # reopened
            record("T4"),
            record("T5", owner="A. Otieno"),
        ],
    )
    later = events(db_url)[4:]
    assert [(e[0], e[1], e[2], e[3], e[4]) for e in later] == [
        ("T1", "closed", "in_progress", "closed", False),
        ("T2", "status_changed", "in_progress", "pending", True),
        ("T3", "reopened", "closed", "in_progress", True),
        ("T4", "created", None, "in_progress", True),
        ("T5", "updated", "in_progress", "in_progress", True),
    ]
    assert later[4][5] == {"owner": "A. Otieno"}  # only the changed key, not two copies of the record
    assert later[0][5] == {
        "is_actionable": "false",
        "bucket": "closed",
        "normalized_status": "closed",
        "closed_at": "2026-06-15 08:40:00",
    }
    assert later[3][5] == {}
    with psycopg.connect(db_url) as c:
        observed = c.execute(
            "SELECT DISTINCT observed_at, source_key FROM tickets.inc_events WHERE ticket_id = 'T4'"
        ).fetchall()
    assert observed == [(datetime(2026, 6, 15, 9, tzinfo=EAT), str(tmp_path / "2026-06-15T09-00-00.csv"))]


def truth(feed: Feed, hours: list[int]) -> tuple[Counter, dict]:
    """From the generator alone: the events a replay must produce, and per EAT day the open count,
    openings, closures and breaches at the end of the day (the last snapshot of the day)."""
    kinds: Counter = Counter()
    days: dict = {}
    state: dict[str, bool] = {}
    tickets = [t for t in feed.population() if not t.alarm]
    for hour in hours:
        moment = feed.start + timedelta(hours=hour)
        day = days.setdefault(moment.date(), {"open": 0, "opened": 0, "closed": 0, "breached": 0})
        now = {t.ticket_id: t.is_open(hour) for t in tickets if t.created <= hour}
        for tid, is_open in now.items():
            was = state.get(tid)
            if was is None:
                kinds["created"] += 1
                day["opened"] += is_open
            elif was and not is_open:
                kinds["closed"] += 1
                day["closed"] += 1
            elif not was and is_open:
                kinds["reopened"] += 1
                day["opened"] += 1
        state.update(now)
        end = datetime.combine(moment.date() + timedelta(days=1), datetime.min.time())
        clock = {
            t.ticket_id: feed.start
            + timedelta(hours=t.created)
            + (timedelta(0) if t.has_service_clock else timedelta(minutes=20))
            for t in tickets
        }
        day["open"] = sum(state.values())
        day["breached"] = sum(1 for tid, o in state.items() if o and end - clock[tid] >= timedelta(hours=48))
    return kinds, days


def test_a_week_of_snapshots_matches_the_generators_ground_truth(db_url, tmp_path):
    feed = Feed(150, seed=3, hours=24 * 7)
    hours = list(range(24 * 7))  # a week of hourly snapshots
    for hour in hours:
        path = tmp_path / stamp_name(hour)
        write_snapshot(path, feed, hour)
        ingest_csv(Settings(database_url=db_url), path, quiet(), apply=True)
    expected_kinds, expected_days = truth(feed, hours)
    with psycopg.connect(db_url) as c:
        kinds = Counter(
            dict(
                c.execute(
                    "SELECT kind, count(*) FROM tickets.inc_events WHERE kind IN"
                    " ('created', 'closed', 'reopened') GROUP BY 1"
                ).fetchall()
            )
        )
        backlog = {
            row[0]: dict(zip(("open", "opened", "closed", "breached"), row[1:], strict=True))
            for row in c.execute(
                "SELECT day, open, opened, closed, breached FROM reporting.fn_backlog(%s, %s)",
                (min(expected_days), max(expected_days)),
            )
        }
    assert kinds == expected_kinds
    assert backlog == expected_days


def test_rebuild_from_processed_replays_the_same_history(store, db_url):
    settings = store.with_db(db_url)
    feed = Feed(300, seed=5, hours=48)
    for hour in range(0, 48, 8):
        path_body = csv_body(feed, hour)
        store.put("automations/inc/" + stamp_name(hour), path_body)
        ingest_bucket(settings, quiet(), apply=True)
    live = history_rows(db_url)
    live_backlog = backlog_rows(db_url)
    assert live and len(store.keys("automations/inc/processed/")) == 6
    result = rebuild(settings, quiet(), apply=True)
    assert (result.outcome, result.files, result.events) == ("rebuilt", 6, len(live))
    assert history_rows(db_url) == live and backlog_rows(db_url) == live_backlog
    again = rebuild(settings, quiet(), apply=True)  # idempotent
    assert again.events == len(live) and history_rows(db_url) == live


def test_rebuild_dry_run_changes_nothing(store, db_url):
    store.put("automations/inc/processed/" + stamp_name(0), csv_body(Feed(20), 0))
    result = rebuild(store.with_db(db_url), quiet(), apply=False)
    assert (result.outcome, result.files, result.events) == ("dry-run", 1, 0)
    assert history_rows(db_url) == []


def csv_body(feed: Feed, hour: int) -> str:
    import io

    from devtools.feed import write_csv

    out = io.StringIO()
    write_csv(out, feed.snapshot(hour))
    return out.getvalue()


def history_rows(url: str) -> list[tuple]:
    return events(url, "ticket_id, kind, observed_at, source_key, changed")


def backlog_rows(url: str) -> list[tuple]:
    with psycopg.connect(url) as c:
        return c.execute("SELECT * FROM reporting.inc_daily_backlog ORDER BY 1, 2, 3").fetchall()


@pytest.mark.parametrize("history", [True, False])
def test_history_can_be_left_out_by_the_merge(db_url, history):
    with psycopg.connect(db_url) as c:
        c.execute("SELECT tickets.begin_stage()")
        c.execute("""INSERT INTO stage VALUES (1, 'T1', '{"is_actionable": "true"}')""")
        counts = c.execute(
            "SELECT inserted, events FROM tickets.merge_stage('inc', true, p_history := %s)", (history,)
        ).fetchone()
    assert counts == (1, 1 if history else 0)


def test_an_older_snapshot_loaded_late_rebuilds_the_days_it_touches(db_url, tmp_path):
    """A --csv ingest of an older stamped file: its day (and the days after it) come from the events."""
    load(db_url, tmp_path, "2026-06-17T09-00-00.csv", [record("T1"), record("T2")])
    load(db_url, tmp_path, "2026-06-15T09-00-00.csv", [record("T1"), record("T3")])
    with psycopg.connect(db_url) as c:
        backlog = c.execute("SELECT day, open, opened FROM reporting.fn_backlog('2026-06-15', '2026-06-17')").fetchall()
    # the events say: the 15th saw T3 created (T1 and T2 not yet), the 17th saw T1 and T2 created
    assert backlog == [(date(2026, 6, 15), 1, 1), (date(2026, 6, 16), 1, 0), (date(2026, 6, 17), 3, 2)]


def test_rebuild_skips_a_refused_archived_file_and_says_so_once(store, db_url):
    store.put("automations/inc/processed/" + stamp_name(0), csv_body(Feed(20), 0))
    store.put("automations/inc/processed/" + stamp_name(1), '"id","cluster"\n"1","x"\n')  # not an INC snapshot
    reporter = quiet()
    result = rebuild(store.with_db(db_url), reporter, apply=True)
    assert (result.files, result.skipped) == (2, 1) and result.events > 0
    lines = reporter.out.getvalue().splitlines()
    skipped = [line for line in lines if line.startswith("skipped ")]
    assert skipped == [f"skipped {stamp_name(1)}: no ticket_id column in the header (2 columns): not a ticket export?"]
