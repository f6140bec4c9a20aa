"""Which bucket keys are snapshots, which is newest, and where each is archived (CONTRACT section 1)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

PREFIX = "automations/inc/"
PROCESSED_PREFIX = PREFIX + "processed/"
EAT = timezone(timedelta(hours=3), "EAT")  # Africa/Nairobi: UTC+3, no daylight saving
# An exporter's clock a little ahead is tolerated; a stamp further ahead is a clock error or a typo,
# and taken as the newest it would silence the freshness alarm and make every real file look old.
FUTURE_TOLERANCE = timedelta(hours=1)

# ASCII digits only: Python's \d (and int()) also take Arabic-Indic or full-width digits, which would
# let a look-alike name pass for the newest snapshot.
_STAMP = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d)-(\d\d)-(\d\d)\.csv", re.ASCII)


@dataclass(frozen=True)
class Snapshot:
    key: str
    stamp: datetime  # aware, EAT
    etag: str | None = None
    size: int | None = None

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]


def parse_stamp(name: str) -> datetime | None:
    """The EAT moment in a snapshot file name `YYYY-MM-DDTHH-mm-ss.csv`, or None if it is not one."""
    match = _STAMP.fullmatch(name)
    if not match:
        return None
    try:
        return datetime(*(int(g) for g in match.groups()), tzinfo=EAT)
    except ValueError:  # 2026-02-30, hour 25, ...
        return None


def snapshot_from_key(
    key: str, etag: str | None = None, size: int | None = None, prefix: str = PREFIX
) -> Snapshot | None:
    """A Snapshot if `key` is a stamped file directly under `prefix` (the INC prefix, or processed/ for
    the history rebuild); anything else is ignored."""
    if not key.startswith(prefix):
        return None
    name = key[len(prefix) :]
    if "/" in name:  # processed/, changes/, any other sub-prefix
        return None
    stamp = parse_stamp(name)
    return Snapshot(key, stamp, etag.strip('"') if etag else etag, size) if stamp else None


def in_future(stamp: datetime, now: datetime) -> bool:
    """Stamped more than FUTURE_TOLERANCE ahead of `now`: never the newest snapshot, never loaded."""
    return stamp > now + FUTURE_TOLERANCE


def newest(snapshots: list[Snapshot]) -> Snapshot | None:
    """The latest by the stamp in its name (never by LastModified)."""
    return max(snapshots, key=lambda s: s.stamp, default=None)


def archive_key(key: str) -> str:
    return PROCESSED_PREFIX + key.rsplit("/", 1)[-1]
