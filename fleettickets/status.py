"""`fleettickets status`: the pipeline's health in one look (figures from reporting.fn_pipeline_status)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

from fleettickets import migrate
from fleettickets.datasets import newest_word
from fleettickets.snapshot import EAT


def read(conn: psycopg.Connection) -> dict[str, Any]:
    state = migrate.read_status(conn, migrate.discover())
    report: dict[str, Any] = {}
    if state.applied and conn.execute("SELECT to_regprocedure('reporting.fn_pipeline_status()')").fetchone()[0]:
        report = conn.execute("SELECT reporting.fn_pipeline_status()").fetchone()[0]
    report["migrations"] = {
        "applied": len(state.applied),
        "pending": [m.script for m in state.pending],
        "changed": state.changed,
        "missing": state.missing,
    }
    return report


def problems(report: dict[str, Any], max_age_hours: float | None) -> list[str]:
    """What makes the pipeline unhealthy: pending migrations, a file the last check refused as
    stamped in the future, and with a limit, a feed whose newest file is older than that (the same
    measure as `ingest --max-age-hours`): INC's always, another dataset's once it has been seen (a
    stale CRQ feed is an alarm of its own)."""
    found = [f"applied migration {name} has been edited since it ran" for name in report["migrations"]["changed"]]
    found += [f"applied migration {name} is missing from this release" for name in report["migrations"]["missing"]]
    pending = report["migrations"]["pending"]
    if pending:
        found.append(f"{len(pending)} migration(s) pending (next: {pending[0]}): run `fleettickets migrate`")
    for name, data in _datasets(report):
        future = data.get("future_snapshot")
        if future:
            found.append(
                f"{future['key']} is stamped {_eat(future['snapshot_at'], '%Y-%m-%dT%H-%M-%S')}, ahead of the clock:"
                " the last check refused it; fix the exporter's clock or rename the file"
            )
        if max_age_hours is None:
            continue
        newest = data.get("newest_snapshot")
        what = newest_word(name)
        if not newest:
            if name == "inc":
                found.append("no snapshot has been seen yet: is the exporter running?")
        elif float(newest["age_hours"]) > max_age_hours:
            found.append(
                f"the newest {what} is {float(newest['age_hours']):.1f} h old, more than {max_age_hours:g} h: "
                "is the exporter running?"
            )
    return found


def _datasets(report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(name, freshness) of each dataset in the report, INC first (the top level of a report from
    before CRQ was loaded)."""
    found = dict(report.get("datasets") or {})
    inc = found.pop("inc", report)
    return [("inc", inc), *sorted(found.items())]


def _eat(moment: str | None, pattern: str = "%Y-%m-%d %H:%M") -> str:
    """A timestamp from the report (ISO text) in EAT, as the exporter and the operators read it."""
    if not moment:
        return "-"
    return f"{datetime.fromisoformat(moment).astimezone(EAT).strftime(pattern)} EAT"


def lines(report: dict[str, Any]) -> list[str]:
    """The report for a person: INC's freshness, each other dataset's under its name, INC's tickets,
    the migrations, and the last files loaded."""
    datasets = _datasets(report)
    out = _freshness(datasets[0][1])
    for name, data in datasets[1:]:
        out += [f"{name}:"] + ["  " + line for line in _freshness(data)]
    if "tickets" in report:
        t = report["tickets"]
        out.append(f"tickets       {t['total']:,} ({t['open']:,} open, {t['closed']:,} closed)")
        out.append("positions     " + _counts(report["positions"], ("location", "cluster", "feed", "none")))
        for kind in ("cluster", "location"):
            g = report["gazetteer"].get(kind, {})
            out.append(
                f"gazetteer     {kind + 's':<10}" + _counts(g, ("ok", "not_found", "rejected", "error", "unverified"))
            )
        out.append("open by SLA   " + _counts(report["open_by_sla_state"], ("breached", "at_risk", "ok", "unknown")))
    m = report["migrations"]
    out.append(f"migrations    {m['applied']} applied, {len(m['pending'])} pending")
    for f in report.get("last_files") or []:  # the load history, newest first
        where = "local file" if f["kind"] == "csv" else "archived" if f["archived"] else "not archived yet"
        out.append(
            f"loaded        {_eat(f['loaded_at'])} {f['dataset']} {f['kind']:<8} {f['outcome']:<9} {f['key']} ({where})"
        )
    return out


def _freshness(data: dict[str, Any]) -> list[str]:
    """A dataset's last check of the bucket, the newest file seen, one refused as stamped ahead, its last load."""
    out = []
    check = data.get("last_check")
    if check:
        out.append(
            f"last check    {_eat(check['checked_at'])} ({float(check['age_hours']):.1f} h ago): {check['outcome']}"
        )
    else:
        out.append("last check    none yet")
    newest = data.get("newest_snapshot")
    if newest:
        out.append(
            f"newest snap.  {_eat(newest['snapshot_at'], '%Y-%m-%dT%H-%M-%S')} "
            f"({float(newest['age_hours']):.1f} h old): {newest['key']}"
        )
    else:
        out.append("newest snap.  none seen yet")
    future = data.get("future_snapshot")
    if future:
        out.append(
            f"future snap.  {_eat(future['snapshot_at'], '%Y-%m-%dT%H-%M-%S')}: {future['key']}"
            " (refused: stamped ahead of the clock)"
        )
    return out + _last_load(data.get("last_ingest"))


def _last_load(last: dict[str, Any] | None) -> list[str]:
    if not last:
        return ["last load     none yet"]
    return [
        f"last load     {last['source_key']} (etag {last.get('source_etag')})",
        f"              at {_eat(last['ingested_at'])}, {float(last['age_hours']):.1f} h ago: read "
        f"{last.get('rows_read', 0):,}, kept {last.get('rows_kept', 0):,}, inserted "
        f"{last.get('inserted', 0):,}, updated {last.get('updated', 0):,}, unchanged "
        f"{last.get('unchanged', 0):,}, stale {last.get('stale', 0):,}, malformed {last.get('malformed', 0):,}",
    ]


def _counts(values: dict[str, int], order: tuple[str, ...]) -> str:
    return ", ".join(f"{k} {int(values.get(k, 0)):,}" for k in order)
