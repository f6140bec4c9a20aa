"""What a run tells its user: one line per step on stdout, and a progress display on a terminal.

The core calls Reporter.step() and Reporter.progress(); it never knows whether a bar is shown.
Off a terminal (cron, Coolify, pipes) progress is a plain line at most every 30 seconds.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

Advance = Callable[[float], None]


class Reporter:
    def __init__(
        self, out: TextIO | None = None, *, interactive: bool | None = None, plain_interval: float = 30.0
    ) -> None:
        self.out = out or sys.stdout
        self.interactive = self.out.isatty() if interactive is None else interactive
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
