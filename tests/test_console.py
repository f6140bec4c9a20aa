"""What a run shows: on a terminal a rich progress bar that clears itself; off one (cron, Coolify,
pipes) a plain line at most every interval, on a fake clock here. The core never knows which."""

from __future__ import annotations

import io
import os
import pty
from types import SimpleNamespace

from fleettickets import console
from fleettickets.console import Reporter


def read_all(fd: int) -> str:
    """Everything written to a pty whose other end is closed."""
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the other end is closed and all is read
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks).decode()


def test_on_a_terminal_progress_is_a_bar_that_clears_itself(monkeypatch):
    monkeypatch.setenv("TERM", "xterm-256color")
    master, slave = pty.openpty()
    try:
        with os.fdopen(slave, "w", encoding="utf-8") as terminal:
            reporter = Reporter(terminal)
            assert reporter.interactive
            with reporter.progress("reading snap.csv", 1000) as advance:
                advance(250)
                advance(750)
            reporter.step("cleaned snap.csv")
        shown = read_all(master)
    finally:
        os.close(master)
    assert "reading snap.csv" in shown and "━━━━" in shown and "100%" in shown and "1,000/1,000" in shown
    assert "reading snap.csv:" not in shown  # not the plain line
    # the cursor is hidden while the bar draws, then the bar's line is erased before the next step
    assert shown.startswith("\x1b[?25l") and shown.endswith("\x1b[?25h\r\x1b[1A\x1b[2Kcleaned snap.csv\r\n")


def test_a_dumb_terminal_gets_the_plain_lines(monkeypatch):
    """TERM=dumb (an editor's shell, a CI log viewer): rich would draw no bar, so nothing would show."""
    monkeypatch.setenv("TERM", "dumb")
    master, slave = pty.openpty()
    try:
        with os.fdopen(slave, "w", encoding="utf-8") as terminal:
            assert not Reporter(terminal).interactive
    finally:
        os.close(master)


def test_off_a_terminal_progress_is_a_plain_line_at_most_every_interval(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(console, "time", SimpleNamespace(monotonic=lambda: now[0]))
    out = io.StringIO()
    reporter = Reporter(out, plain_interval=30)
    assert not reporter.interactive
    with reporter.progress("reading snap.csv", 1000) as advance:
        for at, n in ((0, 100), (29.9, 100), (30, 50), (45, 250), (60.5, 500)):
            now[0] = 1000.0 + at
            advance(n)
    reporter.step("cleaned snap.csv")
    assert out.getvalue().splitlines() == [
        "reading snap.csv: 250/1,000 (25%)",  # 30 s in
        "reading snap.csv: 1,000/1,000 (100%)",  # 30.5 s after that line; the one at 45 s was too soon
        "cleaned snap.csv",
    ]


def test_off_a_terminal_progress_without_a_total_counts():
    out = io.StringIO()
    with Reporter(out, plain_interval=0).progress("replaying snapshots", None) as advance:
        advance(1)
        advance(1)
    assert out.getvalue().splitlines() == ["replaying snapshots: 1", "replaying snapshots: 2"]
