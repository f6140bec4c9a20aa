"""The container's PID 1 (`python -m fleettickets.worker`): apply pending migrations, then wait.

The ingest runs as a scheduled task (`docker exec`) in this container; this process only keeps
the container up, and it makes a deploy migrate the database without a manual step:

* on start it runs `migrate` (idempotent, under the migration advisory lock). An unreachable
  database or a busy lock is retried every RETRY_SECONDS; a failing migration is one line in the
  log and is not retried (it would fail again). The outcome goes to the state file that the
  health check (fleettickets.health) reads: the container is unhealthy, visibly, instead of
  exiting and being restarted in a loop that buries the message.
* it exits at once on SIGTERM or SIGINT (`docker stop` takes well under a second) and reaps any
  orphaned process, as an init must: a PID 1 without handlers ignores SIGTERM.
"""

from __future__ import annotations

import os
import signal
import sys
import time

from fleettickets.config import load_settings, redact, state_file
from fleettickets.console import Reporter
from fleettickets.db import first_line
from fleettickets.errors import DatabaseError, FleetError, MigrationBusy
from fleettickets.migrate import migrate

RETRY_SECONDS = 10


class Stop(BaseException):
    """SIGTERM/SIGINT: leave whatever is running (a migration rolls back) and exit 0."""


def _stop(signum: int, frame: object) -> None:
    raise Stop


def _reap(signum: int, frame: object) -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


def write_state(state: str, detail: str = "") -> None:
    path = state_file()
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{state}\n{detail}\n", encoding="utf-8")
    tmp.replace(path)  # atomic: the health check never reads half a file


def say(text: str) -> None:
    print(f"fleettickets worker: {redact(text)}", flush=True)


def fail(reason: str) -> None:
    write_state("failed", redact(reason))
    say(f"error: {reason} (the container stays up, unhealthy; fix it and redeploy)")


def start() -> None:
    """Migrate until it succeeds or fails for good; record which in the state file."""
    write_state("starting", "applying migrations")
    while True:
        try:
            settings = load_settings()
            url = settings.require_database()
            settings.require_store()
            result = migrate(url, Reporter())
        except (DatabaseError, MigrationBusy) as e:  # not reachable yet, or busy: worth another try
            write_state("starting", f"waiting: {redact(str(e))}")
            say(f"{e}; retrying in {RETRY_SECONDS} s")
            time.sleep(RETRY_SECONDS)
            continue
        except FleetError as e:  # a missing setting, a failing or edited migration: fix and redeploy
            fail(str(e))
            return
        except Exception as e:  # anything unforeseen: still one line and a visible failure, no crash loop
            fail(f"{type(e).__name__}: {first_line(e)}")
            return
        write_state("ready", f"{len(result.applied)} migration(s) applied")
        say(f"ready: {len(result.applied)} migration(s) applied, {result.already_applied} already applied")
        return


def main() -> None:
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGCHLD, _reap)
    try:
        start()
        while True:
            signal.pause()
    except Stop:
        say("stopping")
    sys.exit(0)


if __name__ == "__main__":
    main()
