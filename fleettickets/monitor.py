"""An optional push monitor (healthchecks.io, Uptime Kuma's push monitor): the scheduled ingest
reports each run, so a scheduler that stops running is noticed, not only a run that fails.

The convention is healthchecks.io's: GET the URL after a successful run, GET URL/fail after a failed
one; the monitor alarms when neither arrives in time. Off unless FLEETTICKETS_PUSH_URL_<DATASET> is
set. The URL is the monitor's secret (anyone holding it can report for us): it is never printed,
and a monitor that does not answer is one line that does not fail the run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from fleettickets.config import Settings
from fleettickets.console import Reporter

TIMEOUT_SECONDS = 10


@contextmanager
def pushed(settings: Settings, dataset: str, reporter: Reporter) -> Iterator[None]:
    """Report the block's outcome to the dataset's push monitor, if it has one."""
    url = settings.push_urls.get(dataset)
    if not url:
        yield
        return
    try:
        yield
    except BaseException as e:
        _ping(url, getattr(e, "exit_code", 1) == 0, dataset, reporter)  # the CLI's exit(0) is a success
        raise
    _ping(url, True, dataset, reporter)


def _ping(url: str, ok: bool, dataset: str, reporter: Reporter) -> None:
    target = url if ok else url.rstrip("/") + "/fail"
    try:
        httpx.get(target, timeout=TIMEOUT_SECONDS).raise_for_status()
    except httpx.HTTPStatusError as e:
        reporter.step(f"warning: the {dataset} push monitor answered HTTP {e.response.status_code}")
    except httpx.HTTPError as e:
        reporter.step(f"warning: the {dataset} push monitor did not answer ({type(e).__name__})")
