"""Which keys are snapshots, which is newest, where each is archived (CONTRACT section 1)."""

from __future__ import annotations

from datetime import datetime

import pytest

from fleettickets.snapshot import EAT, Snapshot, archive_key, newest, parse_stamp, snapshot_from_key


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("2026-06-15T17-00-00.csv", datetime(2026, 6, 15, 17, 0, 0, tzinfo=EAT)),
        ("2026-12-31T23-59-59.csv", datetime(2026, 12, 31, 23, 59, 59, tzinfo=EAT)),
        ("2024-02-29T07-15-00.csv", datetime(2024, 2, 29, 7, 15, tzinfo=EAT)),
        ("2026-02-30T07-15-00.csv", None),
        ("2026-06-15T25-00-00.csv", None),
        ("2026-06-15T17:00:00.csv", None),
        ("2026-06-15T17-00-00.CSV", None),
        ("2026-06-15T17-00-00.csv.tmp", None),
        ("latest.json", None),
        ("x2026-06-15T17-00-00.csv", None),
        ("2026-06-15 17-00-00.csv", None),
    ],
)
def test_parse_stamp(name, expected):
    assert parse_stamp(name) == expected


@pytest.mark.parametrize(
    ("key", "is_snapshot"),
    [
        ("automations/inc/2026-06-15T17-00-00.csv", True),
        ("automations/inc/processed/2026-06-15T17-00-00.csv", False),
        ("automations/inc/changes/2026-06-15T17-00-00.csv", False),
        ("automations/inc/any/deeper/2026-06-15T17-00-00.csv", False),
        ("automations/crq/2026-06-15T17-00-00.csv", False),
        ("automations/inc/latest.json", False),
        ("automations/inc/", False),
        ("automations/inc2026-06-15T17-00-00.csv", False),
    ],
)
def test_only_direct_stamped_children_are_snapshots(key, is_snapshot):
    assert (snapshot_from_key(key, '"abc"', 10) is not None) is is_snapshot


def test_etag_loses_its_quotes():
    assert snapshot_from_key("automations/inc/2026-06-15T17-00-00.csv", '"d41d8cd9"').etag == "d41d8cd9"


def test_newest_is_by_stamp():
    keys = [
        "automations/inc/2026-06-15T09-00-00.csv",
        "automations/inc/2026-06-15T17-00-00.csv",
        "automations/inc/2026-06-14T23-00-00.csv",
    ]
    snapshots = [snapshot_from_key(k) for k in keys]
    assert newest(snapshots).key == "automations/inc/2026-06-15T17-00-00.csv"
    assert newest([]) is None


def test_archive_key():
    assert archive_key("automations/inc/2026-06-15T17-00-00.csv") == "automations/inc/processed/2026-06-15T17-00-00.csv"
    assert Snapshot("automations/inc/2026-06-15T17-00-00.csv", parse_stamp("2026-06-15T17-00-00.csv")).name == (
        "2026-06-15T17-00-00.csv"
    )
