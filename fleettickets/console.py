"""What a run tells its user: one line per step on stdout, a progress display on a terminal, and
tables (reports, dispatch) as a grid, JSON or CSV.

The core calls Reporter.step() and Reporter.progress(); it never knows whether a bar is shown.
Off a terminal (cron, Coolify, pipes) progress is a plain line at most every 30 seconds. A query
returns a Table (its data alone); how it is written is decided here, in one place.
"""

from __future__ import annotations

import csv
import io
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal, TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table as RichTable

from fleettickets import jsonout

Advance = Callable[[float], None]
Format = Literal["table", "json", "csv"]
# Left-aligned in a grid; every other column is a figure, right-aligned.
TEXT_COLUMNS = frozenset(
    {"day", "week", "cluster", "team", "owner", "measure", "ticket_id", "location_name", "sla_state", "geo_source"}
)


@dataclass(frozen=True)
class Table:
    """A query's result: column names and rows, as the database returned them."""

    columns: list[str]
    rows: list[tuple]

    def as_json(self) -> str:
        return jsonout.dumps([dict(zip(self.columns, row, strict=True)) for row in self.rows])

    def as_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self.columns)
        writer.writerows(self.rows)
        return out.getvalue()


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):  # before int: a bool is an int
        return "yes" if value else "no"
    return f"{value:,}" if isinstance(value, int) else str(value)


class Reporter:
    def __init__(
        self, out: TextIO | None = None, *, interactive: bool | None = None, plain_interval: float = 30.0
    ) -> None:
        self.out = out or sys.stdout
        if interactive is None:
            # A bar only where rich draws one: a terminal that is not TERM=dumb (there rich draws
            # nothing, so the plain lines stand in).
            console = Console(file=self.out)
            interactive = console.is_terminal and not console.is_dumb_terminal
        self.interactive = interactive
        self.plain_interval = plain_interval

    def step(self, message: str) -> None:
        print(message, file=self.out, flush=True)

    @contextmanager
    def progress(self, description: str, total: float | None) -> Iterator[Advance]:
        if self.interactive:
            columns = [
                TextColumn("{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TextColumn("{task.completed:,.0f}/{task.total:,.0f}"),
                TimeRemainingColumn(),
            ]
            with Progress(*columns, console=Console(file=self.out), transient=True) as bar:
                task = bar.add_task(description, total=total)
                yield lambda n: bar.advance(task, n)
            return
        done = 0.0
        last = time.monotonic()

        def advance(n: float) -> None:
            nonlocal done, last
            done += n
            if time.monotonic() - last >= self.plain_interval:
                last = time.monotonic()
                share = f" ({done / total:.0%})" if total else ""
                self.step(f"{description}: {done:,.0f}{f'/{total:,.0f}' if total else ''}{share}")

        yield advance

    def table(self, table: Table, fmt: Format, title: str) -> None:
        """A table as JSON, CSV, or a grid titled `title` followed by its row count."""
        if fmt == "json":
            print(table.as_json(), file=self.out)
        elif fmt == "csv":
            print(table.as_csv(), end="", file=self.out)
        else:
            grid = RichTable(title=title, title_justify="left")
            for column in table.columns:
                grid.add_column(column, justify="left" if column in TEXT_COLUMNS else "right")
            for row in table.rows:
                grid.add_row(*(_cell(v) for v in row))
            # off a terminal rich assumes 80 columns and would cut values short: give it room
            Console(file=self.out, width=None if self.out.isatty() else 200).print(grid)
            print(f"{len(table.rows)} row(s)", file=self.out)
