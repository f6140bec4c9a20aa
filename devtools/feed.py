"""Realistic generated INC snapshots, for the demo, the benchmarks and the tests.

A feed is a population of tickets whose lives are fixed by a seed: each is created at some hour,
maybe closes some hours later, and ~32 % are alarms. snapshot(hour) is the full current state
at that hour, as the exporter writes it: the sentinel line first, 32 columns, EAT timestamps,
location names wrapped in network codes, and the quirks real files have (quoted commas,
quotes and newlines inside values, mixed-case region/status). Cost is linear in rows and
nothing is kept in memory: rows are produced one at a time.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TextIO

from fleettickets.clean import HEADER
from fleettickets.geocode.places import strip_codes

SENTINEL = "EXPORT STOPPED DUE TO EXCESSIVE SIZE - PLEASE NARROW THE DATE RANGE"

# A dozen Kenyan clusters: (region, lng, lat, places within a few km: (name, lng, lat)).
Clusters = dict[str, tuple[str, float, float, tuple[tuple[str, float, float], ...]]]
CLUSTERS: Clusters = {
    "Nairobi West": (
        "Nairobi",
        36.7800,
        -1.3100,
        (
            ("Kileleshwa", 36.7830, -1.2810),
            ("Lavington", 36.7690, -1.2790),
            ("Kilimani", 36.7870, -1.2900),
            ("Karen", 36.7120, -1.3190),
            ("Lang'ata", 36.7640, -1.3470),
        ),
    ),
    "Nairobi East": (
        "Nairobi",
        36.8900,
        -1.2800,
        (
            ("Donholm", 36.8930, -1.2960),
            ("Buruburu", 36.8770, -1.2860),
            ("Embakasi", 36.9010, -1.3120),
            ("Umoja", 36.8980, -1.2800),
            ("Kayole", 36.9150, -1.2760),
        ),
    ),
    "Nairobi North": (
        "Nairobi",
        36.8300,
        -1.2300,
        (
            ("Ruaka Town", 36.7780, -1.2080),
            ("Runda", 36.8110, -1.2180),
            ("Kasarani", 36.8980, -1.2230),
            ("Roysambu", 36.8830, -1.2190),
            ("Muthaiga", 36.8380, -1.2450),
        ),
    ),
    "Kiambu": (
        "Central",
        36.8350,
        -1.1710,
        (("Kiambu Town", 36.8350, -1.1710), ("Ndumberi", 36.8210, -1.1450), ("Tinganga", 36.8030, -1.1580)),
    ),
    "Thika": (
        "Central",
        37.0690,
        -1.0330,
        (("Makongeni", 37.0870, -1.0440), ("Section 9", 37.0750, -1.0370), ("Landless", 37.0580, -1.0510)),
    ),
    "Mombasa": (
        "Coast",
        39.6680,
        -4.0430,
        (
            ("Nyali", 39.7060, -4.0430),
            ("Bamburi", 39.7280, -3.9980),
            ("Tudor", 39.6740, -4.0360),
            ("Mtwapa", 39.7480, -3.9410),
        ),
    ),
    "Kisumu": (
        "Nyanza",
        34.7680,
        -0.0920,
        (("Milimani", 34.7570, -0.1010), ("Nyalenda", 34.7700, -0.1130), ("Mamboleo", 34.7930, -0.0700)),
    ),
    "Nakuru": (
        "Rift Valley",
        36.0800,
        -0.3030,
        (("Milimani", 36.0740, -0.2930), ("Lanet", 36.1370, -0.2960), ("Section 58", 36.0900, -0.2880)),
    ),
    "Eldoret": (
        "Rift Valley",
        35.2700,
        0.5140,
        (("Elgon View", 35.2850, 0.5080), ("Langas", 35.2750, 0.4850), ("Kapsoya", 35.3000, 0.5250)),
    ),
    "Machakos": ("Eastern", 37.2630, -1.5170, (("Mjini", 37.2630, -1.5200), ("Katoloni", 37.2490, -1.5000))),
    "Nyeri": ("Central", 36.9520, -0.4200, (("Ruring'u", 36.9480, -0.4340), ("Skuta", 36.9390, -0.4110))),
    "Kakamega": ("Western", 34.7520, 0.2830, (("Amalemba", 34.7600, 0.2750), ("Milimani", 34.7450, 0.2880))),
}

# How the field crews wrap a place name in network codes: stripped back to the place at geocoding.
CODE_PATTERNS = (
    "NW_{place}_FDT_{n:02d}",
    "ADR_MNT_{place} SDUS{n}",
    "{place} FDT{n}",
    "NW_{place} SDUS {n}",
    "{place}_FDT_{n:02d}",
    "ADR_MNT_{place}",
    "NW_{place}",
    "{place}",
)
TEAMS = ("Alpha Fibre", "Bravo Splicing", "Charlie Field", "Delta Maintenance", "Echo Install")
OWNERS = ("J. Mwangi", "A. Otieno", "F. Wanjiru", "P. Kiprop", "M. Achieng", 'S. "Sam" Njoroge', "M. Achieng\n(acting)")
STATUSES_OPEN = (("In Progress", "in_progress"), ("assigned", "assigned"), ("Pending Parts", "pending"))
EPOCH = datetime(2026, 6, 15, 0, 0)  # hour 0 of a feed, EAT wall clock


def stamp_name(hour: int, start: datetime = EPOCH) -> str:
    """The bucket file name of the snapshot taken `hour` hours after `start`."""
    return (start + timedelta(hours=hour)).strftime("%Y-%m-%dT%H-%M-%S") + ".csv"


@dataclass(frozen=True)
class Ticket:
    """A ticket's whole life, fixed at generation."""

    index: int
    region: str
    created: float  # hours after EPOCH (negative: before the feed starts)
    closes: float | None  # hours after EPOCH, None if it stays open
    alarm: bool
    cluster: str
    place: str
    pattern: str
    code: int
    team: str | None
    owner: str
    status: tuple[str, str]
    has_service_clock: bool

    @property
    def ticket_id(self) -> str:
        return f"WOT{self.index:07d}"

    def location_name(self) -> str:
        if not strip_codes(self.place):  # a label of codes alone (a cabinet) is written as it is
            return self.place
        return self.pattern.format(place=self.place, n=self.code)

    def is_open(self, hour: int) -> bool:
        return not self.alarm and (self.closes is None or self.closes > hour)

    def record(self, hour: int, start: datetime = EPOCH) -> dict[str, str]:
        """The ticket as snapshot(hour) shows it; `start` is hour 0 (EAT wall clock)."""
        region = self.region
        created = start + timedelta(hours=self.created)
        open_now = self.is_open(hour)
        closed_at = (
            None if open_now else start + timedelta(hours=self.closes if self.closes is not None else self.created)
        )
        last_change = closed_at or created
        raw_status, normalized = self.status if open_now else ("Closed", "closed")
        mttr = "" if open_now else f"{max(self.closes - self.created, 0.1) if self.closes else 0.5:.2f}"
        return {
            "ticket_id": self.ticket_id,
            "raw_status": raw_status if self.index % 5 else raw_status.upper(),
            "normalized_status": normalized,
            "bucket": "pending" if open_now else "closed",
            "is_actionable": "true" if open_now else "false",
            "is_alarm": "true" if self.alarm else "false",
            "is_auto_created": "false",
            "is_auto_closed": "true" if self.alarm else "false",
            "cluster": self.cluster,
            "region": region.upper() if self.index % 3 else region,
            "location_name": self.location_name(),
            "assigned_team": self.team or "",
            "owner": self.owner,
            "sla_status": "Compliant" if open_now or (self.closes or 0) - self.created < 48 else "Breached",
            "mttr": mttr,
            "latitude": "",
            "longitude": "",
            "created_at_service": _eat(created) if self.has_service_clock else "",
            "scheduled_at": _eat(created + timedelta(hours=4)),
            "closed_at": _eat(closed_at) if closed_at else "",
            "first_seen_at": _eat(created + timedelta(minutes=20)),
            "last_seen_at": _eat(last_change),
            "created_at": _eat(created + timedelta(minutes=5)),
            "updated_at": _eat(last_change),
            "week_start": (created - timedelta(days=created.weekday())).strftime("%Y-%m-%d"),
            "week_end": (created + timedelta(days=6 - created.weekday())).strftime("%Y-%m-%d"),
            "source_s3_bucket": "n8n-exports",
            "source_s3_key": f"wm_task/{created:%Y%m%d}.xlsx",
            "source_snapshot_id": f"snap-{created:%Y%m%d}",
            "department": "Field Ops",
            "source_type": "wm_task",
            "service_type": "inc",
        }


def _eat(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class Feed:
    """`tickets` tickets; those created by hour h appear in snapshot(h)."""

    tickets: int
    seed: int = 1
    hours: int = 24  # the span over which new tickets keep arriving
    start: datetime = EPOCH  # hour 0, EAT wall clock
    clusters: Clusters | None = None  # where tickets are (default CLUSTERS); the first ones get the most

    def population(self) -> Iterator[Ticket]:
        rng = random.Random(self.seed)
        table = self.clusters or CLUSTERS
        clusters = list(table)
        for index in range(1, self.tickets + 1):
            cluster = clusters[int(rng.random() ** 1.6 * len(clusters))]  # Nairobi-heavy, like the real feed
            places = table[cluster][3]
            # most tickets predate the feed; a few percent arrive during it
            created = rng.uniform(0, self.hours) if rng.random() < 0.04 else -rng.uniform(1, 24 * 21)
            duration = rng.expovariate(1 / 30)
            yield Ticket(
                index=index,
                region=table[cluster][0],
                created=round(created, 3),
                closes=None if rng.random() < 0.12 else round(created + duration, 3),
                alarm=rng.random() < 0.32,
                cluster=cluster,
                place=places[rng.randrange(len(places))][0],
                pattern=CODE_PATTERNS[rng.randrange(len(CODE_PATTERNS))],
                code=rng.randrange(1, 30),
                team=None if rng.random() < 0.34 else TEAMS[rng.randrange(len(TEAMS))],
                owner=OWNERS[rng.randrange(len(OWNERS))],
                status=STATUSES_OPEN[rng.randrange(len(STATUSES_OPEN))],
                has_service_clock=rng.random() >= 0.30,
            )

    def snapshot(self, hour: int = 0) -> Iterator[dict[str, str]]:
        for ticket in self.population():
            if ticket.created <= hour:
                yield ticket.record(hour, self.start)


def write_csv(
    out: TextIO,
    records: Iterator[dict[str, str]],
    *,
    sentinel: bool = True,
    crlf: bool = False,
    columns: list[str] | tuple[str, ...] = HEADER,
) -> int:
    """Write records as the exporter does (every value double-quoted); returns the data rows written."""
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n" if crlf else "\n")
    writer.writerow(columns)
    count = 0
    if sentinel:
        writer.writerow([SENTINEL] + [""] * (len(columns) - 1))
        count += 1
    for record in records:
        writer.writerow([record.get(c, "") for c in columns])
        count += 1
    return count


def write_snapshot(path: Path, feed: Feed, hour: int = 0, *, bom: bool = False, crlf: bool = False) -> int:
    with open(path, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as out:
        return write_csv(out, feed.snapshot(hour), crlf=crlf)


@dataclass(frozen=True)
class ChangeFile:
    stamp: datetime  # EAT wall clock
    records: list[dict[str, str]]

    @property
    def name(self) -> str:
        return self.stamp.strftime("%Y-%m-%dT%H-%M-%S") + ".csv"


def change_stream(
    feed: Feed, files: int, rows: int, *, every_minutes: int = 20, hour: int = 0, seed: int = 2
) -> Iterator[ChangeFile]:
    """The incremental stream after snapshot(hour): `files` change files, one every `every_minutes`,
    each holding the export rows of `rows` tickets that changed since the file before (a status
    move, a new owner or team, or a closure), each stamped with updated_at = its file's time, so a
    ticket's versions grow along the stream. Alarm tickets never change (they are dropped anyway)."""
    rng = random.Random(seed)
    state = {r["ticket_id"]: r for r in feed.snapshot(hour) if r["is_alarm"] == "false"}
    ids = sorted(state)
    start = feed.start + timedelta(hours=hour)
    for n in range(1, files + 1):
        stamp = start + timedelta(minutes=every_minutes * n)
        changed = []
        for ticket_id in rng.sample(ids, min(rows, len(ids))):
            record = dict(state[ticket_id])
            if record["is_actionable"] == "true" and rng.random() < 0.2:
                created = datetime.strptime(record["created_at"], "%Y-%m-%d %H:%M:%S")
                hours = max((stamp - created).total_seconds() / 3600, 0.1)
                record.update(
                    raw_status="Closed",
                    normalized_status="closed",
                    bucket="closed",
                    is_actionable="false",
                    closed_at=_eat(stamp),
                    mttr=f"{hours:.2f}",
                    sla_status="Compliant" if hours < 48 else "Breached",
                )
            elif record["is_actionable"] == "true":
                raw_status, normalized = STATUSES_OPEN[rng.randrange(len(STATUSES_OPEN))]
                record.update(
                    raw_status=raw_status, normalized_status=normalized, owner=OWNERS[rng.randrange(len(OWNERS))]
                )
            else:
                record.update(assigned_team=TEAMS[rng.randrange(len(TEAMS))])
            record.update(updated_at=_eat(stamp), last_seen_at=_eat(stamp))
            state[ticket_id] = record
            changed.append(record)
        yield ChangeFile(stamp, changed)
