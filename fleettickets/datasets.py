"""The datasets the engine loads, each declared once (CONTRACT 1b): its name, where its files are,
its table, its key column, its cleaning, and what else it keeps.

`inc` (incidents) is the map's and the SLA view's; `crq` (installation requests) is loaded by the
same engine into tickets.crq, its rows as the export sent them. Each has its own ingest lock, so
the two Scheduled Tasks run side by side, and its own freshness records (tickets.import_meta,
tickets.feed_check, tickets.loads, all keyed by the dataset's name). An exporter with another
layout is followed by configuration (FLEETTICKETS_INC_PREFIX, FLEETTICKETS_CRQ_PREFIX,
FLEETTICKETS_CHANGES_DIR), not by code.
"""

from __future__ import annotations

from dataclasses import dataclass

from fleettickets import db
from fleettickets.clean import AS_SENT, INC_CLEANING, Cleaning
from fleettickets.config import Settings
from fleettickets.errors import ConfigError
from fleettickets.snapshot import FeedFile, Kind

PROCESSED_DIR = "processed/"


@dataclass(frozen=True)
class Dataset:
    name: str
    prefix: str  # its full snapshots are the stamped files directly under it
    table: str  # tickets.<table>
    key: str  # the export's column that identifies a ticket: the table's ticket_id
    cleaning: Cleaning
    history: bool  # its changes are events (tickets.inc_events) and the daily backlog
    lock: int  # its ingest lock (db.LOCK_*)
    changes_dir: str = "changes/"  # its change files: <prefix><changes_dir><stamp>.csv

    @property
    def changes_prefix(self) -> str:
        return self.prefix + self.changes_dir

    def prefix_of(self, kind: Kind) -> str:
        return self.changes_prefix if kind == "change" else self.prefix

    def processed_prefix(self, kind: Kind) -> str:
        """processed/ for snapshots, processed/changes/ for change files."""
        return self.prefix + PROCESSED_DIR + (self.changes_dir if kind == "change" else "")

    def archive_key(self, file: FeedFile) -> str:
        return self.processed_prefix(file.kind) + file.name


NAMES = ("inc", "crq")


def declared(settings: Settings) -> dict[str, Dataset]:
    changes = settings.changes_dir
    return {
        "inc": Dataset("inc", settings.inc_prefix, "inc", "ticket_id", INC_CLEANING, True, db.LOCK_INGEST, changes),
        "crq": Dataset("crq", settings.crq_prefix, "crq", "ticket_id", AS_SENT, False, db.LOCK_INGEST_CRQ, changes),
    }


def dataset(settings: Settings, name: str) -> Dataset:
    found = declared(settings).get(name)
    if found is None:
        raise ConfigError(f"no dataset {name!r}: the datasets are {', '.join(NAMES)}")
    return found


def newest_word(name: str) -> str:
    """What the freshness alarm calls a dataset's newest file: INC's words from before change files
    (operators' alerts match them), another dataset's file by its name."""
    return "snapshot" if name == "inc" else f"{name} file"
