"""The facts a plan is made of, read from the loader's database before anything is written."""

from __future__ import annotations

import psycopg

from fleettickets import catalog
from fleettickets import migrate as migrations
from fleettickets.adopt.plan import SEED_MAP_FUNCTION, SEED_TABLES, Facts


def read_facts(conn: psycopg.Connection) -> Facts:
    tables = catalog.tables(conn, "tickets")
    filled: dict[tuple[str, str], int] = {}
    for table, fields in SEED_TABLES.items():
        known = {f.name for f in fields}
        extra = [c.name for c in tables.get(table, []) if c.name not in known and not c.generated]
        filled |= {(table, c): n for c, n in catalog.filled(conn, "tickets", table, extra).items()}
    location_keys: list[tuple[str, str, str]] = []
    if {"query", "place", "cluster"} <= {c.name for c in tables.get("geo_locations", [])}:
        location_keys = conn.execute(
            "SELECT query::text, place::text, cluster::text FROM tickets.geo_locations"
        ).fetchall()
    ours = catalog.reporting_names(migrations.migrations_dir())
    return Facts(
        tables=tables,
        rows={t: catalog.row_count(conn, "tickets", t) for t in tables},
        filled=filled,
        other_objects=catalog.loose_objects(conn, "tickets"),
        dependants=catalog.foreign_dependants(conn, ["tickets"], ours),
        taken_names=catalog.named_like(conn, "reporting", ours, but=SEED_MAP_FUNCTION),
        extensions=catalog.extensions_in(conn, "tickets"),
        location_keys=location_keys,
    )
