"""Which keys are a dataset's files, which is newest, where each is archived (CONTRACT sections 1 and 1b)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fleettickets.config import Settings
from fleettickets.datasets import dataset
from fleettickets.snapshot import EAT, FeedFile, feed_file, in_future, newest, parse_stamp

INC = dataset(Settings(), "inc")


def snapshot_from_key(key: str, etag: str | None = None, size: int | None = None) -> FeedFile | None:
    return feed_file(key, etag, size, prefix=INC.prefix)


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


@pytest.mark.parametrize(
    ("key", "is_change"),
    [
        ("automations/inc/changes/2026-06-15T17-20-00.csv", True),
        ("automations/inc/2026-06-15T17-20-00.csv", False),
        ("automations/inc/processed/changes/2026-06-15T17-20-00.csv", False),
        ("automations/inc/changes/deeper/2026-06-15T17-20-00.csv", False),
        ("automations/inc/changes/latest.csv", False),
        ("automations/crq/changes/2026-06-15T17-20-00.csv", False),
    ],
)
def test_only_direct_stamped_children_of_changes_are_change_files(key, is_change):
    assert (feed_file(key, '"abc"', 10, prefix=INC.changes_prefix, kind="change") is not None) is is_change


def test_archive_keys_by_kind():
    snap = snapshot_from_key("automations/inc/2026-06-15T17-00-00.csv")
    change = feed_file("automations/inc/changes/2026-06-15T17-20-00.csv", prefix=INC.changes_prefix, kind="change")
    assert snap.name == "2026-06-15T17-00-00.csv"
    assert INC.archive_key(snap) == "automations/inc/processed/2026-06-15T17-00-00.csv"
    assert INC.archive_key(change) == "automations/inc/processed/changes/2026-06-15T17-20-00.csv"


def test_another_layout_is_configuration():
    crq = dataset(Settings(crq_prefix="exports/crq-v2/", changes_dir="delta/"), "crq")
    change = feed_file("exports/crq-v2/delta/2026-06-15T17-20-00.csv", prefix=crq.changes_prefix, kind="change")
    assert crq.archive_key(change) == "exports/crq-v2/processed/delta/2026-06-15T17-20-00.csv"


def test_files_apply_in_stamp_order_a_snapshot_before_a_change_of_the_same_stamp():
    stamp = parse_stamp("2026-06-15T17-00-00.csv")
    change = FeedFile("automations/inc/changes/2026-06-15T17-00-00.csv", stamp, kind="change")
    snap = FeedFile("automations/inc/2026-06-15T17-00-00.csv", stamp)
    earlier = FeedFile(
        "automations/inc/changes/2026-06-15T16-40-00.csv", parse_stamp("2026-06-15T16-40-00.csv"), kind="change"
    )
    assert sorted([change, snap, earlier], key=lambda f: f.order) == [earlier, snap, change]


NOW = datetime(2026, 6, 15, 12, 0, tzinfo=EAT)


@pytest.mark.parametrize(
    ("name", "ahead"),
    [
        ("2026-06-15T12-00-00.csv", False),  # now
        ("2026-06-15T13-00-00.csv", False),  # an exporter's clock an hour fast: tolerated
        ("2026-06-15T13-00-01.csv", True),
        ("2026-06-16T12-00-00.csv", True),  # a day ahead
        ("2062-06-15T12-00-00.csv", True),  # a typo in the year
        ("2026-06-14T12-00-00.csv", False),
    ],
)
def test_a_stamp_more_than_an_hour_ahead_is_in_the_future(name, ahead):
    assert in_future(parse_stamp(name), NOW) is ahead
    assert in_future(parse_stamp(name), NOW.astimezone(UTC)) is ahead  # the same moment in UTC
