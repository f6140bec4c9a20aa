"""What adoption checks before it commits: nothing lost. Every table's rows, every verified point,
every positioned ticket, compared with the old rows as the plan carries them. Each check counts
with IS DISTINCT FROM and outer joins, so a value turned NULL or a row gone counts too; any count
refuses the whole adoption in one line."""

from __future__ import annotations

import psycopg
from psycopg import sql

from fleettickets.adopt.plan import RESOLVED, TICKET_TABLES, Plan
from fleettickets.adopt.session import ADOPT_REFUSED, AdoptRefused

# Gazetteer -> its key in this package's table, and the old row's value for it.
GAZETTEER_KEYS = {"geo_clusters": "cluster", "geo_locations": "query"}


def check(conn: psycopg.Connection, p: Plan, before: dict[str, int], after: dict[str, int]) -> None:
    for table, rows in before.items():
        if after.get(table) != rows:
            raise AdoptRefused(
                f"{ADOPT_REFUSED}: {table}: {rows:,} row(s) before, {after.get(table)} after; nothing was changed"
            )
    for what, query in queries(p):
        lost = conn.execute(query).fetchone()[0]
        if lost:
            raise AdoptRefused(f"{ADOPT_REFUSED}: {what}: {lost:,} would change; nothing was changed")


def queries(p: Plan) -> list[tuple[str, sql.Composable]]:
    """(what, the query that counts each one lost or changed)."""
    kept = sql.Identifier(p.kept_in)
    found = []
    for table in TICKET_TABLES:
        select = p.selects.get(table, {})
        if select.get("geom", RESOLVED) == RESOLVED:
            continue  # no position was stored: it is resolved afresh
        found.append(
            (
                f"positioned tickets of tickets.{table}",
                sql.SQL(
                    "SELECT count(*) FROM {kept}.{t} o LEFT JOIN tickets.{t} n ON n.ticket_id = {id}"
                    " WHERE {geom} IS NOT NULL AND n.geom IS DISTINCT FROM {geom}"
                ).format(
                    kept=kept, t=sql.Identifier(table), id=sql.SQL(select["ticket_id"]), geom=sql.SQL(select["geom"])
                ),
            )
        )
    for table, key in GAZETTEER_KEYS.items():
        select = p.selects.get(table)
        if select is None or key not in select:
            continue
        found.append(
            (
                f"verified points of tickets.{table}",
                sql.SQL(
                    "SELECT count(*) FROM {kept}.{t} o {join} LEFT JOIN tickets.{t} n ON n.{key} = {old_key}"
                    " WHERE {verified} AND (n.verified, n.geom) IS DISTINCT FROM (true, {geom})"
                ).format(
                    kept=kept,
                    t=sql.Identifier(table),
                    join=sql.SQL(p.joins.get(table, "")),
                    key=sql.Identifier(key),
                    old_key=sql.SQL(select[key]),
                    verified=sql.SQL(select["verified"]),
                    geom=sql.SQL(select["geom"]),
                ),
            )
        )
    return found
