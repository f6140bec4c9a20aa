"""Cleaning a feed file, streaming: CSV text in, (line, ticket_id, raw json) rows out (CONTRACT 2-3).

Also the file's two ends that every reader of snapshots shares (the ingest, the history rebuild):
its bytes decoded as text (text_stream), and the rows left out written as CSV (rejects_writer).
Nothing is held but the current record, so memory stays flat however big the file. Counts and
rejects are gathered as rows go by; CleanStats.refusal() decides at the end whether the file as a
whole may be loaded (the loader only commits after asking).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import orjson

from fleettickets.errors import RefusedFile

# The 32 columns of the contract's file (CONTRACT 2), in the exporter's order. Cleaning does not need
# them all (order is free, new columns pass into raw): the tests and the feed generator write them.
HEADER = (
    "ticket_id",
    "raw_status",
    "normalized_status",
    "bucket",
    "is_actionable",
    "is_alarm",
    "is_auto_created",
    "is_auto_closed",
    "cluster",
    "region",
    "location_name",
    "assigned_team",
    "owner",
    "sla_status",
    "mttr",
    "latitude",
    "longitude",
    "created_at_service",
    "scheduled_at",
    "closed_at",
    "first_seen_at",
    "last_seen_at",
    "created_at",
    "updated_at",
    "week_start",
    "week_end",
    "source_s3_bucket",
    "source_s3_key",
    "source_snapshot_id",
    "department",
    "source_type",
    "service_type",
)

REMOVED_KEYS = frozenset(
    {"week_start", "week_end", "source_s3_bucket", "source_s3_key", "source_snapshot_id", "department", "source_type"}
)
SENTINEL_PREFIX = "EXPORT STOPPED"
MAX_MALFORMED_SHARE = 0.01
TRUE_WORDS = frozenset({"true", "t", "1", "yes"})  # the same spellings as tickets.to_bool in SQL
LOGGED_MALFORMED = 5
# Columns that become index keys (tickets.inc's primary key, the gazetteers, the daily backlog). A
# btree entry cannot exceed ~2,700 bytes, so one absurd value would fail the whole file's insert;
# a row with a longer value is rejected on its own instead. 256 characters is 1 KB at most in UTF-8.
INDEXED_COLUMNS = ("cluster", "location_name", "assigned_team")
MAX_KEY_LENGTH = 256

csv.field_size_limit(16 * 1024 * 1024)  # a runaway quote is a malformed row, not a crash


@dataclass(frozen=True)
class Cleaning:
    """What a dataset's cleaning does beyond dropping the export's artefacts (the sentinel row,
    malformed rows, the empty string as a value), which every dataset's does."""

    removed_keys: frozenset[str] = frozenset()
    lowercase: tuple[str, ...] = ()
    uppercase: tuple[str, ...] = ()  # trimmed too
    drop_alarms: bool = False


INC_CLEANING = Cleaning(REMOVED_KEYS, lowercase=("region",), uppercase=("raw_status",), drop_alarms=True)  # CONTRACT 3
AS_SENT = Cleaning()  # CRQ: rows as the export sent them (CONTRACT 1b)


@dataclass(frozen=True)
class Reject:
    line: int
    reason: str
    text: str  # the record as it stood in the file


@dataclass
class CleanStats:
    rows_read: int = 0  # data rows after the header, blank lines aside
    rows_kept: int = 0
    alarms_dropped: int = 0
    sentinel_dropped: int = 0
    malformed: int = 0
    first_malformed: list[tuple[int, str]] = field(default_factory=list)

    def count_malformed(self, line: int, reason: str) -> None:
        self.malformed += 1
        if len(self.first_malformed) < LOGGED_MALFORMED:
            self.first_malformed.append((line, reason))

    def refusal(self, *, empty_ok: bool = False) -> str | None:
        """Why the whole file must not be loaded, or None. `empty_ok`: a file with no rows to keep is
        valid (a change file: nothing changed), where a snapshot with none is refused."""
        if self.rows_read and self.malformed / self.rows_read > MAX_MALFORMED_SHARE:
            return (
                f"{self.malformed:,} of {self.rows_read:,} rows are malformed "
                f"({self.malformed / self.rows_read:.1%}, limit {MAX_MALFORMED_SHARE:.0%}): "
                f"truncated or corrupt file? first: {self.describe_malformed()}"
            )
        if self.rows_kept == 0 and not empty_ok:
            return f"no valid data rows ({self.rows_read:,} read)"
        return None

    def check(self, *, empty_ok: bool = False) -> None:
        """Raise RefusedFile if the whole file must not be loaded."""
        refusal = self.refusal(empty_ok=empty_ok)
        if refusal:
            raise RefusedFile(refusal)

    def describe_malformed(self) -> str:
        return "; ".join(f"line {line}: {reason}" for line, reason in self.first_malformed)

    def add(self, other: CleanStats) -> None:
        """Count `other`'s rows in too (a run's total over its files)."""
        self.rows_read += other.rows_read
        self.rows_kept += other.rows_kept
        self.alarms_dropped += other.alarms_dropped
        self.sentinel_dropped += other.sentinel_dropped
        self.malformed += other.malformed

    def as_dict(self) -> dict[str, int]:
        return {
            "rows_read": self.rows_read,
            "rows_kept": self.rows_kept,
            "alarms_dropped": self.alarms_dropped,
            "sentinel_dropped": self.sentinel_dropped,
            "malformed": self.malformed,
        }


def record_cleaner(header: list[str], cleaning: Cleaning) -> Callable[[list[str]], dict[str, str | None]]:
    """For one file's header, the function from a row's fields to its raw record: '' -> None, and
    the dataset's cleaning (INC: the removed keys gone, region lower-cased, raw_status trimmed and
    upper-cased). The kept columns are worked out once per file, not once per row."""
    kept = [(at, name) for at, name in enumerate(header) if name not in cleaning.removed_keys]
    lower = [name for name in cleaning.lowercase if name in header]
    upper = [name for name in cleaning.uppercase if name in header]

    def clean(fields: list[str]) -> dict[str, str | None]:
        raw = {name: fields[at] or None for at, name in kept}
        for name in lower:
            if raw[name] is not None:
                raw[name] = raw[name].lower()
        for name in upper:
            if raw[name] is not None:
                raw[name] = raw[name].strip().upper() or None
        return raw

    return clean


def read_header(reader: Iterator[list[str]], key: str = "ticket_id") -> list[str]:
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise RefusedFile("the file is empty (no header row)") from None
    if key not in header:
        raise RefusedFile(f"no {key} column in the header ({len(header)} columns): not a ticket export?")
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise RefusedFile(f"the header names {', '.join(duplicated)} more than once")
    return header


def clean_rows(
    lines: Iterable[str],
    stats: CleanStats,
    on_reject: Callable[[Reject], None] | None = None,
    *,
    cleaning: Cleaning = INC_CLEANING,
    key: str = "ticket_id",
) -> Iterator[tuple[int, str, str]]:
    """Yield (line, ticket id, raw json) for every row to load; count and report the rest. `key`
    is the column that identifies a ticket (its value, trimmed, is the row's ticket_id).

    `lines` is text as from open(..., newline=''): RFC 4180 values may span lines.
    """
    record_lines: list[str] = []  # the physical lines of the current record, for rejects

    def tap() -> Iterator[str]:
        count = 0
        try:
            for physical in lines:
                count += 1
                record_lines.append(physical)
                yield physical
        except UnicodeDecodeError as e:
            raise RefusedFile(f"the file is not valid UTF-8 (line {count + 1}: {e.reason})") from None

    reader = csv.reader(tap())
    header = read_header(reader, key)
    width = len(header)
    clean_record = record_cleaner(header, cleaning)
    at_id = header.index(key)
    at_alarm = header.index("is_alarm") if cleaning.drop_alarms and "is_alarm" in header else None
    keys = [(header.index(name), name) for name in (key, *INDEXED_COLUMNS) if name in header]
    next_line = reader.line_num + 1

    def drop(line: int, reason: str, malformed: bool) -> None:
        if malformed:
            stats.count_malformed(line, reason)
        if on_reject:
            on_reject(Reject(line, reason, "".join(record_lines)))

    while True:
        record_lines.clear()
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            stats.rows_read += 1
            drop(next_line, f"unreadable CSV: {e}", malformed=True)
            next_line = reader.line_num + 1
            continue
        line, next_line = next_line, reader.line_num + 1
        if not fields:  # a blank line is not a row
            continue
        stats.rows_read += 1
        if len(fields) != width:
            drop(line, f"expected {width} fields, found {len(fields)}", malformed=True)
            continue
        if not record_lines[-1].endswith(("\n", "\r")) and "".join(record_lines).count('"') % 2:
            # The last record may lack a final newline (RFC 4180); it is complete unless the file
            # ends inside a quoted value (an odd number of quote characters).
            drop(line, "the file ends inside this row (truncated upload?)", malformed=True)
            continue
        ticket_id = fields[at_id].strip()
        if not ticket_id:
            drop(line, f"empty {key}", malformed=True)
            continue
        if ticket_id.startswith(SENTINEL_PREFIX):
            stats.sentinel_dropped += 1
            drop(line, "sentinel row", malformed=False)
            continue
        if at_alarm is not None and fields[at_alarm].strip().lower() in TRUE_WORDS:
            stats.alarms_dropped += 1
            drop(line, "alarm (is_alarm true)", malformed=False)
            continue
        fields[at_id] = ticket_id
        too_long = next((name for at, name in keys if len(fields[at]) > MAX_KEY_LENGTH), None)
        if too_long:
            drop(line, f"{too_long} is longer than {MAX_KEY_LENGTH} characters", malformed=True)
            continue
        record = clean_record(fields)
        raw = orjson.dumps(record).decode()
        # PostgreSQL text and jsonb cannot hold NUL. The JSON text is searched first (cheap); it also
        # matches a value holding the six characters \u0000, so the values themselves decide.
        if "\\u0000" in raw and any(value and "\x00" in value for value in record.values()):
            drop(line, "a value contains a NUL character", malformed=True)
            continue
        stats.rows_kept += 1
        yield line, ticket_id, raw


class _CountingReader(io.RawIOBase):
    """Passes bytes through, telling `advance` how many went by (for the progress display)."""

    def __init__(self, source: BinaryIO, advance: Callable[[float], None]) -> None:
        self.source, self.advance = source, advance

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.source.read(len(buffer))
        buffer[: len(data)] = data
        self.advance(len(data))
        return len(data)


def text_stream(stream: BinaryIO, advance: Callable[[float], None] = lambda n: None) -> io.TextIOWrapper:
    """A snapshot's bytes as text: UTF-8 with or without BOM, line ends left to the CSV reader."""
    return io.TextIOWrapper(
        io.BufferedReader(_CountingReader(stream, advance), 1 << 20), encoding="utf-8-sig", newline=""
    )


Rejects = Callable[[str], Callable[[Reject], None] | None]  # file name -> where its rejects go


@contextmanager
def rejects_writer(path: Path | None) -> Iterator[Rejects]:
    """--rejects FILE: every row a run left out, as CSV (line, reason, the record verbatim, and the
    file it is in: a run may apply many files)."""
    if path is None:
        yield lambda name: None
        return
    with open(path, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["line", "reason", "record", "file"])
        yield lambda name: lambda r: writer.writerow([r.line, r.reason, r.text, name])
