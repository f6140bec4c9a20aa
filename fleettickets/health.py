"""The container's health check (`python -m fleettickets.health`): can this worker do its job?

Healthy = the start-up migration is done (fleettickets.worker's state file, when there is one),
the configuration is valid, and the database answers. Nothing about the data: a new database with
no ticket yet is healthy, and a stale feed is the scheduled task's alarm (`ingest
--max-age-hours`, non-zero exit) and `status`'s, not a reason to roll a deploy back.
Imports little, so a check every few seconds costs little. Prints one line; exit 0 or 1.
"""

from __future__ import annotations

import sys

from fleettickets import db
from fleettickets.config import load_settings, redact, state_file
from fleettickets.errors import FleetError


def check() -> str | None:
    """Why this worker cannot do its job, or None."""
    path = state_file()
    if path.is_file():
        state, _, detail = path.read_text(encoding="utf-8").partition("\n")
        if state == "failed":
            return f"start-up failed: {detail.strip()}"
        if state != "ready":
            return f"starting: {detail.strip()}"
    try:
        settings = load_settings()
        url = settings.require_database()
        settings.require_store()
        with db.connect(url, connect_timeout=5, deadline_seconds=5) as conn:
            conn.execute("SELECT 1")
    except FleetError as e:
        return str(e)
    return None


def main() -> None:
    problem = check()
    print(redact(f"unhealthy: {problem}" if problem else "healthy"), flush=True)
    sys.exit(1 if problem else 0)


if __name__ == "__main__":
    main()
