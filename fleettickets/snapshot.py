"""Which bucket keys are the feed's files, what each one's stamp is, and the order they apply in
(CONTRACT sections 1 and 1b).

A dataset's prefix holds full snapshots as its direct children and change files under its
`changes/` sub-prefix, both named by their EAT stamp `YYYY-MM-DDTHH-mm-ss.csv`; anything else is
ignored. Where each dataset's files are, and where they are archived: fleettickets.datasets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Literal

EAT = timezone(timedelta(hours=3), "EAT")  # Africa/Nairobi: UTC+3, no daylight saving
# An exporter's clock a little ahead is tolerated; a stamp further ahead is a clock error or a typo,
# and taken as the newest it would silence the freshness alarm and make every real file look old.
FUTURE_TOLERANCE = timedelta(hours=1)

# ASCII digits only: Python's \d (and int()) also take Arabic-Indic or full-width digits, which would
# let a look-alike name pass for the newest snapshot.
_STAMP = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d)-(\d\d)-(\d\d)\.csv", re.ASCII)

Kind = Literal["snapshot", "change"]
# At the same stamp a snapshot applies before a change file: the change is the more recent word.
_KIND_ORDER = {"snapshot": 0, "change": 1}


@dataclass(frozen=True)
class FeedFile:
    key: str
    stamp: datetime  # aware, EAT
    etag: str | None = None
    size: int | None = None
    kind: Kind = "snapshot"

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    @property
    def order(self) -> tuple[datetime, int, str]:
        """Files apply in stamp order, across both kinds."""
        return self.stamp, _KIND_ORDER[self.kind], self.key


def parse_stamp(name: str) -> datetime | None:
    """The EAT moment in a file name `YYYY-MM-DDTHH-mm-ss.csv`, or None if it is not one."""
    match = _STAMP.fullmatch(name)
    if not match:
        return None
    try:
        return datetime(*(int(g) for g in match.groups()), tzinfo=EAT)
    except ValueError:  # 2026-02-30, hour 25, ...
        return None


def feed_file(
    key: str, etag: str | None = None, size: int | None = None, *, prefix: str, kind: Kind = "snapshot"
) -> FeedFile | None:
    """A FeedFile if `key` is a stamped file directly under `prefix`; anything else (processed/,
    another sub-prefix, another name) is None."""
    if not key.startswith(prefix):
        return None
    name = key[len(prefix) :]
    if "/" in name:
        return None
    stamp = parse_stamp(name)
    return FeedFile(key, stamp, etag.strip('"') if etag else etag, size, kind) if stamp else None


def in_future(stamp: datetime, now: datetime) -> bool:
    """Stamped more than FUTURE_TOLERANCE ahead of `now`: never the newest file, never loaded."""
    return stamp > now + FUTURE_TOLERANCE


def newest(files: list[FeedFile]) -> FeedFile | None:
    """The latest by the stamp in its name (never by LastModified)."""
    return max(files, key=lambda f: f.order, default=None)
