"""The feed generator that the demo, the benchmarks and several tests rely on."""

from __future__ import annotations

import io
from datetime import datetime

from devtools.feed import SENTINEL, Feed, stamp_name, write_csv
from fleettickets.clean import HEADER, CleanStats, clean_rows


def test_snapshots_are_deterministic_and_evolve_by_the_hour():
    feed = Feed(2000, seed=7)
    morning, evening = list(feed.snapshot(7)), list(feed.snapshot(19))
    assert morning == list(Feed(2000, seed=7).snapshot(7))
    assert {r["ticket_id"] for r in morning} <= {r["ticket_id"] for r in evening}  # tickets arrive, never vanish
    later = {r["ticket_id"]: r for r in evening}
    closed_later = [
        m for m in morning if m["is_actionable"] == "true" and later[m["ticket_id"]]["is_actionable"] == "false"
    ]
    assert closed_later  # some open tickets close during the day
    assert all(r["is_actionable"] == "false" for r in morning if r["is_alarm"] == "true")


def test_start_moves_every_timestamp():
    a = next(Feed(10).snapshot(0))
    b = next(Feed(10, start=datetime(2030, 1, 1)).snapshot(0))
    assert a["ticket_id"] == b["ticket_id"] and a["first_seen_at"] != b["first_seen_at"]
    assert stamp_name(7, datetime(2030, 1, 1)) == "2030-01-01T07-00-00.csv"


def test_written_snapshot_reads_back_clean():
    out = io.StringIO()
    written = write_csv(out, Feed(500).snapshot(0))
    out.seek(0)
    stats = CleanStats()
    rows = list(clean_rows(out, stats))
    assert out.getvalue().startswith('"' + '","'.join(HEADER) + '"\n"' + SENTINEL)
    assert stats.rows_read == written and stats.malformed == 0 and stats.sentinel_dropped == 1
    assert stats.rows_kept + stats.alarms_dropped + 1 == written and len(rows) == stats.rows_kept
