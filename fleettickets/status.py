"""`fleettickets status`: the pipeline's health in one look (figures from reporting.fn_pipeline_status)."""

from __future__ import annotations

from typing import Any

import psycopg

from fleettickets import migrate


def read(conn: psycopg.Connection) -> dict[str, Any]:
    state = migrate.read_status(conn, migrate.discover())
    report: dict[str, Any] = {}
    if state.applied and conn.execute("SELECT to_regprocedure('reporting.fn_pipeline_status()')").fetchone()[0]:
        report = conn.execute("SELECT reporting.fn_pipeline_status()").fetchone()[0]
    report["migrations"] = {
        "applied": len(state.applied),
        "pending": [m.script for m in state.pending],
        "changed": state.changed,
    }
    return report


def problems(report: dict[str, Any], max_age_hours: float | None) -> list[str]:
    """What makes the pipeline unhealthy: pending migrations, and with a limit, a stale or missing ingest."""
    found = [f"applied migration {name} has been edited since it ran" for name in report["migrations"]["changed"]]
    pending = report["migrations"]["pending"]
    if pending:
        found.append(f"{len(pending)} migration(s) pending (next: {pending[0]}): run `fleettickets migrate`")
    if max_age_hours is not None:
        last = report.get("last_ingest")
        if not last:
            found.append("no snapshot has been ingested yet")
        elif float(last["age_hours"]) > max_age_hours:
            found.append(f"the last ingest was {float(last['age_hours']):.1f} h ago, more than {max_age_hours:g} h")
    return found


def lines(report: dict[str, Any]) -> list[str]:
    """The report for a person."""
    out = []
    last = report.get("last_ingest")
    if last:
        out.append(f"last ingest   {last['source_key']} (stamp {last['snapshot_at']}, etag {last.get('source_etag')})")
        out.append(
            f"              at {last['ingested_at']}, {float(last['age_hours']):.1f} h ago: read "
            f"{last.get('rows_read', 0):,}, kept {last.get('rows_kept', 0):,}, inserted "
            f"{last.get('inserted', 0):,}, updated {last.get('updated', 0):,}, unchanged "
            f"{last.get('unchanged', 0):,}, malformed {last.get('malformed', 0):,}"
        )
    else:
        out.append("last ingest   none yet")
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
    return out


def _counts(values: dict[str, int], order: tuple[str, ...]) -> str:
    return ", ".join(f"{k} {int(values.get(k, 0)):,}" for k in order)
