"""What a run does with what it lists (fleettickets.pending): table-driven, no database, no store."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fleettickets.pending import plan_run
from fleettickets.snapshot import FeedFile, parse_stamp

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)  # 15:00 EAT


def snap(hhmm: str, etag: str = "") -> FeedFile:
    name = f"2026-06-15T{hhmm[:2]}-{hhmm[2:]}-00.csv"
    return FeedFile(f"automations/inc/{name}", parse_stamp(name), etag or f"s{hhmm}")


def change(hhmm: str, etag: str = "") -> FeedFile:
    name = f"2026-06-15T{hhmm[:2]}-{hhmm[2:]}-00.csv"
    return FeedFile(f"automations/inc/changes/{name}", parse_stamp(name), etag or f"c{hhmm}", kind="change")


def keys(files: list[FeedFile]) -> list[str]:
    return [f.key.removeprefix("automations/inc/") for f in files]


@pytest.mark.parametrize(
    ("listed", "applied", "last_etag", "apply", "done", "superseded", "unchanged"),
    [
        # nothing there
        ([], set(), None, [], [], [], None),
        # the newest snapshot and every change file, in stamp order across both kinds
        (
            [change("0740"), snap("0700"), change("0720"), snap("0600")],
            set(),
            None,
            ["2026-06-15T07-00-00.csv", "changes/2026-06-15T07-20-00.csv", "changes/2026-06-15T07-40-00.csv"],
            [],
            ["2026-06-15T06-00-00.csv"],
            None,
        ),
        # a snapshot and a change file of the same stamp: the snapshot first
        (
            [change("0700"), snap("0700")],
            set(),
            None,
            ["2026-06-15T07-00-00.csv", "changes/2026-06-15T07-00-00.csv"],
            [],
            [],
            None,
        ),
        # applied before (the archive failed): archived, never applied again
        (
            [change("0720"), change("0740")],
            {("automations/inc/changes/2026-06-15T07-20-00.csv", "c0720")},
            None,
            ["changes/2026-06-15T07-40-00.csv"],
            ["changes/2026-06-15T07-20-00.csv"],
            [],
            None,
        ),
        # the same key with a new ETag (a rewrite) is another file: applied
        (
            [change("0720", etag="rewritten")],
            {("automations/inc/changes/2026-06-15T07-20-00.csv", "c0720")},
            None,
            ["changes/2026-06-15T07-20-00.csv"],
            [],
            [],
            None,
        ),
        # the newest snapshot re-sent byte for byte (the last snapshot's ETag): unchanged, not loaded
        ([snap("0800", etag="same")], set(), "same", [], [], [], "2026-06-15T08-00-00.csv"),
        # a change file's ETag equal to the last snapshot's means nothing: it is applied
        ([change("0820", etag="same")], set(), "same", ["changes/2026-06-15T08-20-00.csv"], [], [], None),
        # the newest snapshot already applied: archived; older ones superseded
        (
            [snap("0800"), snap("0700")],
            {("automations/inc/2026-06-15T08-00-00.csv", "s0800")},
            "s0800",
            [],
            ["2026-06-15T08-00-00.csv"],
            ["2026-06-15T07-00-00.csv"],
            None,
        ),
    ],
)
def test_plan(listed, applied, last_etag, apply, done, superseded, unchanged):
    plan = plan_run(listed, applied, last_etag, None, NOW)
    assert keys(plan.apply) == apply
    assert keys(plan.done) == done
    assert keys(plan.superseded) == superseded
    assert (plan.unchanged and keys([plan.unchanged])[0]) == unchanged


def test_files_stamped_ahead_of_the_clock_are_refused_and_never_the_newest():
    typo = snap("0700")
    typo = FeedFile(typo.key.replace("2026", "2062"), typo.stamp.replace(year=2062), "typo")
    ahead = change("1630")  # 16:30 EAT: an hour and a half ahead of 15:00 EAT
    plan = plan_run([typo, ahead, snap("0600"), change("1550")], set(), None, None, NOW)
    assert keys(plan.future) == ["changes/2026-06-15T16-30-00.csv", "2062-06-15T07-00-00.csv"]
    assert keys(plan.apply) == ["2026-06-15T06-00-00.csv", "changes/2026-06-15T15-50-00.csv"]  # 50 min ahead: tolerated
    assert keys([plan.newest]) == ["changes/2026-06-15T15-50-00.csv"]


def test_a_file_stamped_before_the_newest_applied_arrives_late():
    newest_applied = parse_stamp("2026-06-15T07-40-00.csv")
    plan = plan_run(
        [change("0720"), change("0740", etag="rewritten"), change("0800")], set(), None, newest_applied, NOW
    )
    assert keys(sorted(plan.late, key=lambda f: f.order)) == ["changes/2026-06-15T07-20-00.csv"]
