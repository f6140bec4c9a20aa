"""Moving objects between schemas, as adoption and the way back do: the loader's map function, a
view that another tenant's view reads (the object itself stays, its definition changes), and the
grants other roles had."""

from __future__ import annotations

import psycopg
from psycopg import sql

from fleettickets import catalog

# A role that read a table reads what this package derives from it too: the map function reads the
# map layer and the feed checks, not tickets.inc and tickets.import_meta alone.
DERIVED_READS = {"inc": ("reporting", "inc_map"), "import_meta": ("tickets", "feed_check")}


def move_functions(conn: psycopg.Connection, schema: str, name: str, to: str) -> None:
    for signature in catalog.functions(conn, schema, name):
        conn.execute(sql.SQL("ALTER FUNCTION {} SET SCHEMA {}").format(sql.SQL(signature), sql.Identifier(to)))


def take_place(conn: psycopg.Connection, holder: str, view: str) -> None:
    """The view `holder.view` (the object a tenant's view depends on) takes the definition and the
    place of `tickets.view`, which is dropped."""
    name = sql.Identifier(view)
    definition = catalog.view_definition(conn, f"tickets.{view}")
    conn.execute(
        sql.SQL("CREATE OR REPLACE VIEW {}.{} AS {}").format(sql.Identifier(holder), name, sql.SQL(definition))
    )
    conn.execute(sql.SQL("DROP VIEW tickets.{}").format(name))
    conn.execute(sql.SQL("ALTER VIEW {}.{} SET SCHEMA tickets").format(sql.Identifier(holder), name))


def grant_again(conn: psycopg.Connection, grants: list[catalog.Grant], function_schema: str) -> None:
    """The grants other roles had on the loader's schema, tables, views and map function: the same
    privileges on the objects of the same name here (the owner's own are implicit)."""
    for g in grants:
        role = sql.SQL("PUBLIC") if g.grantee is None else sql.Identifier(g.grantee)
        option = sql.SQL(" WITH GRANT OPTION") if g.grantable else sql.SQL("")
        if g.kind == "SCHEMA":
            targets = [sql.SQL("SCHEMA tickets")]
        elif g.kind == "TABLE":
            if conn.execute("SELECT to_regclass(%s)", (f"tickets.{g.name}",)).fetchone()[0] is None:
                continue
            relations = [("tickets", g.name)]
            if g.privilege == "SELECT" and g.name in DERIVED_READS:
                relations.append(DERIVED_READS[g.name])
            targets = [sql.SQL("TABLE {}.{}").format(sql.Identifier(s), sql.Identifier(n)) for s, n in relations]
        else:
            targets = [
                sql.SQL("FUNCTION {}").format(sql.SQL(f)) for f in catalog.functions(conn, function_schema, str(g.name))
            ]
        for target in targets:
            conn.execute(sql.SQL("GRANT {} ON {} TO {}{}").format(sql.SQL(g.privilege), target, role, option))
