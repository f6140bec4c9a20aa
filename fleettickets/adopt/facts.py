"""The facts a plan is made of, read from the loader's database before anything is written."""

from __future__ import annotations

import psycopg
from psycopg import sql

from fleettickets import catalog
from fleettickets import migrate as migrations
from fleettickets.adopt.plan import JSONB, SEED_MAP_FUNCTION, SEED_TABLES, TICKET_TABLES, Facts, cast
from fleettickets.catalog import Column


def read_facts(conn: psycopg.Connection) -> Facts:
    tables = catalog.tables(conn, "tickets")
    filled: dict[tuple[str, str], int] = {}
    for table, fields in SEED_TABLES.items():
        known = {f.name for f in fields}
        extra = [c.name for c in tables.get(table, []) if c.name not in known and not c.generated]
        filled |= {(table, c): n for c, n in catalog.filled(conn, "tickets", table, extra).items()}
    ours = catalog.reporting_names(migrations.migrations_dir())
    return Facts(
        tables=tables,
        rows={t: catalog.row_count(conn, "tickets", t) for t in tables},
        filled=filled,
        other_objects=catalog.loose_objects(conn, "tickets"),
        dependants=catalog.foreign_dependants(conn, ["tickets"], ours),
        taken_names=catalog.named_like(conn, "reporting", ours, but=SEED_MAP_FUNCTION),
        extensions=catalog.extensions_in(conn, "tickets"),
        locations=_locations(conn, tables.get("geo_locations", [])),
        labels=_labels(conn, tables),
        clusters=_clusters(conn, tables.get("geo_clusters", [])),
    )


def _text(columns: list[Column], name: str) -> sql.Composable:
    """The column as text, or NULL where the table lacks it."""
    return sql.SQL("{}::text").format(sql.Identifier(name)) if any(c.name == name for c in columns) else sql.NULL


def _locations(conn: psycopg.Connection, columns: list[Column]) -> list[tuple[str, str | None, str | None]]:
    if not any(c.name == "query" for c in columns):
        return []
    query = sql.SQL("SELECT query::text, {}, {} FROM tickets.geo_locations").format(
        _text(columns, "place"), _text(columns, "cluster")
    )
    return conn.execute(query).fetchall()


def _labels(conn: psycopg.Connection, tables: dict[str, list[Column]]) -> list[tuple[str, str]]:
    """The distinct (location_name, cluster) of INC's and CRQ's tickets, from raw as this package
    will store it: the loader's cache may hold places only a CRQ ticket names, and this package
    positions CRQ's tickets by the same rule. A table that is absent adds none."""
    raws = [
        sql.SQL("SELECT {} AS r FROM tickets.{} o").format(sql.SQL(raw), sql.Identifier(table))
        for table in TICKET_TABLES
        if (raw := next((cast(JSONB, c) for c in tables.get(table, []) if c.name == "raw"), None))
    ]
    if not raws:
        return []
    query = sql.SQL(
        "SELECT DISTINCT r ->> 'location_name', r ->> 'cluster' FROM ({}) t"
        " WHERE r ->> 'location_name' IS NOT NULL AND r ->> 'cluster' IS NOT NULL"
    ).format(sql.SQL(" UNION ALL ").join(raws))
    return conn.execute(query).fetchall()


def _clusters(conn: psycopg.Connection, columns: list[Column]) -> list[str]:
    if not any(c.name == "cluster" for c in columns):
        return []
    return [r[0] for r in conn.execute("SELECT cluster::text FROM tickets.geo_clusters")]
