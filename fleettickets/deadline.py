"""A run's overall deadline: a run that is not done in time is stopped, whatever it waits on.

Socket timeouts bound each call, but a peer that is alive and silent (a stalled proxy, a frozen
server) or a slow trickle can keep a run going for ever while it holds the ingest lock. At the
deadline every open database session is cut (db.cut_all), so nothing can wait on it any more, and
RunDeadline is raised in the run: its transaction is rolled back, nothing after the last commit is
kept. Should unwinding still hang, the process ends itself GRACE_SECONDS later.

SIGALRM belongs to the main thread: elsewhere (a test's threads) the deadline is not armed.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from fleettickets import db
from fleettickets.errors import RunDeadline

GRACE_SECONDS = 10.0


@contextmanager
def run_deadline(seconds: float) -> Iterator[None]:
    """Stop the block after `seconds`. Nested blocks keep the outer deadline."""
    if threading.current_thread() is not threading.main_thread() or signal.getitimer(signal.ITIMER_REAL)[0] > 0:
        yield
        return
    message = (
        f"the run passed its deadline of {seconds / 60:g} min (FLEETTICKETS_RUN_DEADLINE_MINUTES) and was stopped: "
        "nothing after its last commit was kept; is the database or the store stalled?"
    )

    def give_up(signum: int, frame: object) -> None:
        print(f"error: {message} (and it did not stop within {GRACE_SECONDS:g} s)", file=sys.stderr, flush=True)
        os._exit(1)

    def expired(signum: int, frame: object) -> None:
        db.cut_all()
        # unwinding now fails to roll back on the cut sessions, as expected: psycopg need not say so
        logging.getLogger("psycopg").setLevel(logging.ERROR)
        signal.signal(signal.SIGALRM, give_up)
        signal.setitimer(signal.ITIMER_REAL, GRACE_SECONDS)
        raise RunDeadline(message)

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
